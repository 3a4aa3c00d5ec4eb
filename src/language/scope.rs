//! What conditions, paths and templates can see while a rule is evaluated or run: the event, the
//! URI captures, the named values, earlier steps' responses, the shared `vars`, the remembered
//! `state` and (inside `where`) the candidate.
//!
//! JSONPaths and templates address one namespace: `$.data.x` and `{{data.x}}` name the same
//! value. Paths are compiled once at load into a [`CompiledPath`] whose first segment picks the
//! root, so an event is never copied to be queried.

use std::borrow::Cow;

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde_json::{Map, Value};

use crate::event::{Event, PathKey, walk_tree};

/// Names a template or a path may start with, besides named values.
pub(crate) const BUILTIN_ROOTS: [&str; 6] = ["data", "uri", "eventType", "params", "vars", "steps"];

/// Everything visible to one evaluation or one run.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// The event that triggered the rule.
    pub event: &'a Event,
    /// URI captures, by name.
    pub params: &'a [(String, String)],
    /// Values of the named values computed so far (parallel to the first names of
    /// `binding_names`).
    pub bindings: &'a [Value],
    /// The rule's named values, in order.
    pub binding_names: &'a [String],
    /// Responses saved by earlier steps, an object by name (runs only).
    pub steps: Option<&'a Value>,
    /// The candidate being filtered by a `where` (bindings only).
    pub item: Option<&'a Value>,
    /// The rule set's `vars` (an object), where there are any.
    pub vars: Option<&'a Value>,
    /// What the engine remembers (`$.state`, and the payloads `let ... uri:` reads).
    pub memory: Option<&'a crate::language::memory::Memory>,
}

/// What `$.state` reads when nothing is remembered.
static NO_STATE: Value = Value::Null;

impl<'a> Scope<'a> {
    /// What a condition on `event` alone sees: no captures, named values or steps.
    pub(crate) fn of_event(
        event: &'a Event,
        vars: Option<&'a Value>,
        memory: Option<&'a crate::language::memory::Memory>,
    ) -> Scope<'a> {
        Scope {
            event,
            params: &[],
            bindings: &[],
            binding_names: &[],
            steps: None,
            item: None,
            vars,
            memory,
        }
    }

    /// A scope inside a `where` filter, with `item` as `$`.
    pub(crate) fn with_item(self, item: &'a Value) -> Scope<'a> {
        Scope {
            item: Some(item),
            ..self
        }
    }

    /// The value of a root name, if it exists in this scope.
    pub(crate) fn root(&self, root: &Root) -> Option<Cow<'a, Value>> {
        Some(match root {
            Root::Data => Cow::Borrowed(&self.event.data),
            Root::Uri => Cow::Owned(Value::String(self.event.uri.clone())),
            Root::EventType => Cow::Owned(Value::String(self.event.event_type.as_str().into())),
            Root::Params => Cow::Owned(Value::Object(
                self.params
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )),
            Root::Binding(index) => Cow::Borrowed(self.bindings.get(*index)?),
            Root::Steps => Cow::Borrowed(self.steps?),
            Root::Vars => Cow::Borrowed(self.vars?),
            Root::State => Cow::Borrowed(self.memory.map_or(&NO_STATE, |m| m.state())),
            Root::Rules => Cow::Borrowed(self.memory.map_or(&NO_STATE, |m| m.rules())),
            Root::Item => Cow::Borrowed(self.item?),
        })
    }

    /// The whole namespace as one JSON object, for Handlebars (which renders from a `Value`).
    pub(crate) fn to_json(self) -> Value {
        let mut object = Map::new();
        object.insert("uri".into(), Value::String(self.event.uri.clone()));
        object.insert(
            "eventType".into(),
            Value::String(self.event.event_type.as_str().into()),
        );
        object.insert("data".into(), self.event.data.value().clone());
        if let Some(Cow::Owned(params)) = self.root(&Root::Params) {
            object.insert("params".into(), params);
        }
        for (name, value) in self.binding_names.iter().zip(self.bindings) {
            object.insert(name.clone(), value.clone());
        }
        if let Some(steps) = self.steps {
            object.insert("steps".into(), steps.clone());
        }
        if let Some(vars) = self.vars {
            object.insert("vars".into(), vars.clone());
        }
        if let Some(memory) = self.memory {
            if !self.binding_names.iter().any(|n| n == "state") {
                object.insert("state".into(), memory.state().clone());
            }
            if !self.binding_names.iter().any(|n| n == "rules") {
                object.insert("rules".into(), memory.rules().clone());
            }
        }
        if let Some(item) = self.item {
            // `this` is Handlebars' own word for the context, so templates name the candidate
            // `item`; the key `this` stays for `{{this.x}}` written before.
            object.insert("item".into(), item.clone());
            object.insert("this".into(), item.clone());
        }
        Value::Object(object)
    }
}

/// Where a path or expression starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Root {
    /// `data`: the event payload.
    Data,
    /// `uri`: the event URI.
    Uri,
    /// `eventType`.
    EventType,
    /// `params`: the URI captures.
    Params,
    /// A named value, by index.
    Binding(usize),
    /// `steps`: saved responses.
    Steps,
    /// `vars`: the values every rule file can define and every rule read.
    Vars,
    /// `state`: the values `set` steps remember.
    State,
    /// `rules`: which rules are on (`rules.on`).
    Rules,
    /// `$` inside `where`: the candidate.
    Item,
}

/// Which roots a path or template may use where it is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RootRules<'a> {
    /// Named values defined so far (a `let` can only see earlier ones).
    pub bindings: &'a [String],
    /// Saved step names visible here (none in conditions and `let`): `steps` resolves only
    /// where an earlier step saved a response.
    pub steps: &'a [String],
    /// URI capture names available from every trigger (not yet checked against either).
    #[allow(dead_code)]
    pub params: &'a [String],
    /// Whether `$` is a `where` candidate.
    pub item: bool,
}

impl RootRules<'_> {
    /// Resolves a root name, or explains why it is not available.
    pub(crate) fn resolve(&self, name: &str) -> Result<Root, String> {
        match name {
            "data" => return Ok(Root::Data),
            "uri" => return Ok(Root::Uri),
            "eventType" => return Ok(Root::EventType),
            "params" => return Ok(Root::Params),
            "vars" => return Ok(Root::Vars),
            "steps" if !self.steps.is_empty() => return Ok(Root::Steps),
            "steps" => {
                return Err(
                    "unknown variable `steps`: it holds the responses earlier steps saved with `save_as`, and none did before this point (conditions and `let` come before every step)"
                        .to_string(),
                );
            }
            _ => {}
        }
        if let Some(index) = self.bindings.iter().rposition(|b| b == name) {
            return Ok(Root::Binding(index));
        }
        // After the named values: a rule written before `state` existed may name a value so.
        if name == "state" {
            return Ok(Root::State);
        }
        if name == "rules" {
            return Ok(Root::Rules);
        }
        if name == "item" && self.item {
            return Ok(Root::Item);
        }
        let visible = || {
            BUILTIN_ROOTS
                .iter()
                .copied()
                .chain(["state", "rules"])
                .filter(|root| *root != "steps" || !self.steps.is_empty())
                .chain(self.bindings.iter().map(String::as_str))
        };
        let hint = match crate::language::diag::closest(name, visible()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!(
                "available: {}",
                visible()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Err(format!("unknown variable `{name}`; {hint}"))
    }
}

/// A JSONPath compiled once at load.
#[derive(Debug, Clone)]
pub struct CompiledPath {
    /// The text as written.
    pub text: std::sync::Arc<str>,
    root: Root,
    rest: Rest,
}

/// One step of a plain path, as [`CompiledPath::data_steps`] gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathStep<'a> {
    /// A field name.
    Key(&'a str),
    /// A list index.
    Index,
}

#[derive(Debug, Clone)]
enum Rest {
    /// Only names and indexes: walked directly, without the JSONPath engine.
    Simple(Vec<Step>),
    /// Anything else (wildcards, filters, slices, descendants).
    Query(JpQuery),
    /// A query whose filters name `$` themselves (`[?@.cellId != $.data.localPlayerCellId]`):
    /// run, root segment included, against the whole namespace, so that `$` in the filter is the
    /// same root as the path's own `$` (RFC 9535). It costs a copy of the namespace per
    /// evaluation, so only such paths take it.
    NamespaceQuery(JpQuery),
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(i64),
}

/// Why a path did not compile: a message and an optional hint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PathError {
    /// What is wrong.
    pub message: String,
    /// A suggestion.
    pub hint: Option<String>,
    /// Whether the path parsed but names an unknown variable.
    pub unknown_variable: bool,
}

impl CompiledPath {
    /// Compiles `text` (RFC 9535 JSONPath). Outside `where` the first segment must name a root
    /// (`$.data...`); inside `where`, `$` is the candidate.
    pub(crate) fn compile(text: &str, roots: &RootRules<'_>) -> Result<CompiledPath, PathError> {
        crate::language::limits::check_path(text).map_err(|message| PathError {
            message,
            hint: None,
            unknown_variable: false,
        })?;
        let query = jsonpath_rust::parser::parse_json_path(text).map_err(|e| PathError {
            message: format!("invalid JSONPath `{text}`: {}", first_line(&e.to_string())),
            hint: Some(
                "a path looks like `$.data.state` or `$.data.actions[*][?@.isInProgress == true]`"
                    .into(),
            ),
            unknown_variable: false,
        })?;
        let mut segments = query.segments;
        let filter_names_root = text.get(1..).is_some_and(|rest| rest.contains('$'));
        let whole = segments.clone();
        let root = if roots.item {
            Root::Item
        } else {
            let first_name = match segments.first() {
                Some(Segment::Selector(Selector::Name(name))) => Some(unquote(name)),
                _ => None,
            };
            let Some(name) = first_name else {
                return Err(PathError {
                    message: format!("`{text}` must start at a named root such as `$.data`"),
                    hint: Some("write `$.data...`, `$.uri`, `$.eventType`, `$.params.<name>` or `$.<named value>`".into()),
                    unknown_variable: false,
                });
            };
            let root = roots.resolve(&name).map_err(|message| PathError {
                message: format!("in `{text}`: {message}"),
                hint: None,
                unknown_variable: true,
            })?;
            segments.remove(0);
            root
        };
        let simple: Option<Vec<Step>> = segments
            .iter()
            .map(|segment| match segment {
                Segment::Selector(Selector::Name(name)) => Some(Step::Key(unquote(name))),
                Segment::Selector(Selector::Index(index)) => Some(Step::Index(*index)),
                _ => None,
            })
            .collect();
        let rest = match simple {
            Some(steps) => Rest::Simple(steps),
            None if filter_names_root && !roots.item => Rest::NamespaceQuery(JpQuery::new(whole)),
            None => Rest::Query(JpQuery::new(segments)),
        };
        Ok(CompiledPath {
            text: text.into(),
            root,
            rest,
        })
    }

    /// The nodes the path selects (possibly none).
    pub(crate) fn select<'a>(&self, scope: &Scope<'a>) -> Vec<Cow<'a, Value>> {
        let Some(root) = scope.root(&self.root) else {
            return Vec::new();
        };
        match (&self.rest, root) {
            (Rest::Simple(steps), Cow::Borrowed(value)) => walk_tree(value, path_keys(steps))
                .map(Cow::Borrowed)
                .into_iter()
                .collect(),
            (Rest::Simple(steps), Cow::Owned(value)) => walk_tree(&value, path_keys(steps))
                .map(|v| Cow::Owned(v.clone()))
                .into_iter()
                .collect(),
            (Rest::Query(query), Cow::Borrowed(value)) => {
                jsonpath_rust::query::js_path_process(query, value)
                    .map(|refs| refs.into_iter().map(|r| Cow::Borrowed(r.val())).collect())
                    .unwrap_or_default()
            }
            (Rest::Query(query), Cow::Owned(value)) => query_owned(query, &value),
            (Rest::NamespaceQuery(query), _) => query_owned(query, &scope.to_json()),
        }
    }

    /// Whether the path can select at most one node (a plain chain of names and indexes).
    pub(crate) fn selects_at_most_one(&self) -> bool {
        matches!(self.rest, Rest::Simple(_))
    }

    /// The steps after `$.data` when the path starts there and is a plain chain of names and
    /// indexes (what the API checks can follow through the client's types).
    pub(crate) fn data_steps(&self) -> Option<Vec<PathStep<'_>>> {
        let (Root::Data, Rest::Simple(steps)) = (&self.root, &self.rest) else {
            return None;
        };
        Some(
            steps
                .iter()
                .map(|s| match s {
                    Step::Key(key) => PathStep::Key(key),
                    Step::Index(_) => PathStep::Index,
                })
                .collect(),
        )
    }
}

/// The nodes `query` selects in `value`, copied out of it (it does not outlive the call).
fn query_owned<'a>(query: &JpQuery, value: &Value) -> Vec<Cow<'a, Value>> {
    jsonpath_rust::query::js_path_process(query, value)
        .map(|refs| {
            refs.into_iter()
                .map(|r| Cow::Owned(r.val().clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// A plain path's steps as the payload and tree walkers take them.
fn path_keys(steps: &[Step]) -> impl Iterator<Item = PathKey<'_>> {
    steps.iter().map(|step| match step {
        Step::Key(key) => PathKey::Key(key),
        Step::Index(index) => PathKey::Index(*index),
    })
}

/// jsonpath-rust keeps the quotes of bracketed names (`$['a']`); a name is the same either way.
fn unquote(name: &str) -> String {
    let bytes = name.as_bytes();
    if bytes.len() >= 2
        && ((bytes[0] == b'\'' && bytes[bytes.len() - 1] == b'\'')
            || (bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"'))
    {
        name[1..name.len() - 1].to_string()
    } else {
        name.to_string()
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventType;
    use serde_json::json;

    fn rules<'a>(bindings: &'a [String]) -> RootRules<'a> {
        RootRules {
            bindings,
            steps: &[],
            params: &[],
            item: false,
        }
    }

    fn select(path: &str, event: &Event, bindings: &[Value], names: &[String]) -> Vec<Value> {
        let compiled = CompiledPath::compile(path, &rules(names)).unwrap();
        let scope = Scope {
            event,
            params: &[("id".into(), "17".into())],
            bindings,
            binding_names: names,
            steps: None,
            item: None,
            vars: None,
            memory: None,
        };
        compiled
            .select(&scope)
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    /// Roots dispatch to the event parts and named values; simple and full paths agree.
    #[test]
    fn roots_and_queries() {
        let event = Event::new(
            "/x",
            EventType::Update,
            json!({"state": "InProgress", "list": [{"a": 1}, {"a": 2}]}),
        );
        let names = vec!["me".to_string()];
        let bindings = vec![json!({"cell": 3})];
        assert_eq!(
            select("$.data.state", &event, &bindings, &names),
            vec![json!("InProgress")]
        );
        assert_eq!(
            select("$['data']['state']", &event, &bindings, &names),
            vec![json!("InProgress")]
        );
        assert_eq!(
            select("$.data.list[-1].a", &event, &bindings, &names),
            vec![json!(2)]
        );
        assert_eq!(
            select("$.data.list[*].a", &event, &bindings, &names),
            vec![json!(1), json!(2)]
        );
        assert_eq!(
            select("$.data.list[?@.a > 1]", &event, &bindings, &names),
            vec![json!({"a": 2})]
        );
        assert_eq!(
            select("$.uri", &event, &bindings, &names),
            vec![json!("/x")]
        );
        assert_eq!(
            select("$.eventType", &event, &bindings, &names),
            vec![json!("Update")]
        );
        assert_eq!(
            select("$.params.id", &event, &bindings, &names),
            vec![json!("17")]
        );
        assert_eq!(
            select("$.me.cell", &event, &bindings, &names),
            vec![json!(3)]
        );
        assert!(select("$.data.missing", &event, &bindings, &names).is_empty());
    }

    /// Unknown roots and malformed paths are refused at compile time, with hints.
    #[test]
    fn compile_errors() {
        let names = vec!["action".to_string()];
        let error = CompiledPath::compile("$.dat.state", &rules(&names)).unwrap_err();
        assert!(error.unknown_variable);
        assert!(
            error.message.contains("did you mean `data`?"),
            "{}",
            error.message
        );
        let error = CompiledPath::compile("$.data[", &rules(&names)).unwrap_err();
        assert!(!error.unknown_variable);
        assert!(CompiledPath::compile("$..state", &rules(&names)).is_err());
        assert!(CompiledPath::compile("$.steps.x", &rules(&names)).is_err());
    }
}
