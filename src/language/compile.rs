//! Turns parsed rule specs into executable rules. Every JSONPath, template, regex, URI pattern and
//! duration is compiled here, once; every mistake becomes a diagnostic at the position it was
//! written, and compilation goes on so that one pass reports them all.
//!
//! The rule compiler's core (triggers, conditions, scope); its steps and its API checks are in
//! `compile/`.

use std::path::Path;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;

use crate::event::{EventTypeMask, parse_duration};
use crate::language::condition::{Binding, Condition, Op, Operand, Source, Subject};
use crate::language::diag::{Code, Sink};
use crate::language::pattern::UriPattern;
use crate::language::rule::{
    Breaker, BreakerSetting, CancelStep, CancelTrigger, DelayStep, FOR_EACH_DEFAULT_MAX,
    FOR_EACH_MAX, ForEachStep, IfStep, MANUAL_PREFIX, Rate, RequestStep, Rule, SetStep, Step,
    Trigger,
};
use crate::language::scope::{BUILTIN_ROOTS, CompiledPath, RootRules};
use crate::language::spec::{
    BindingSpec, BreakerSpec, ConditionSpec, DelaySpec, ForEachSpec, IfSpec, Mode, RateSpec,
    RequestSpec, RuleSpec, SetSpec, StepSpec, TriggerSpec,
};
use crate::language::template::{BodyTemplate, PathTemplate, Template, TemplateCompiler};
use crate::language::yaml::{Span, Spanned};

mod lint;
mod steps;

pub(crate) use lint::Suggestions;

/// Default per-attempt timeout of a request step.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default wait before the first retry.
pub(crate) const DEFAULT_BACKOFF: Duration = Duration::from_millis(250);
/// Default `max` for `queued` and `parallel` (Home Assistant's).
pub(crate) const DEFAULT_MAX: u32 = 10;
/// The client's type of gameflow phases.
const PHASE_TYPE: &str = "LolGameflowGameflowPhase";

/// Compiles rules of one file into a shared template registry, reporting into a sink.
pub(crate) struct RuleCompiler<'c, 's> {
    /// The shared template compiler.
    pub templates: &'c mut TemplateCompiler,
    /// Where diagnostics go.
    pub sink: &'c mut Sink<'s>,
    /// The "did you mean" answers found so far in this load, and what is left of its budget.
    pub suggestions: &'c mut Suggestions,
    /// The client's API, to check requests and triggers against (`None`: no API checks).
    pub api: Option<&'c crate::language::api::ApiIndex>,
    /// The type of the current rule's event payload, when the API index knows it.
    pub data_type: Option<String>,
}

/// The span of a value written inside a shorthand (its own span is unset there).
fn or_outer(inner: Span, outer: Span) -> Span {
    if inner.line == 0 { outer } else { inner }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl RuleCompiler<'_, '_> {
    /// A span to a spot in a string value, for errors inside it (past the opening quote when
    /// the value is quoted).
    fn inner_span(&self, span: Span, offset: usize, len: usize) -> Span {
        let quote = self
            .sink
            .line(span.line)
            .and_then(|line| line.chars().nth((span.col as usize).saturating_sub(1)))
            .is_some_and(|c| c == '"' || c == '\'');
        span.shifted(offset as u32 + u32::from(quote), len as u32)
    }

    /// Compiles one rule; `None` when it has errors (all of which are reported).
    pub(crate) fn rule(&mut self, spec: &Spanned<RuleSpec>, file: &Path) -> Option<Rule> {
        let errors_before = self.error_count();
        let rule = &spec.value;
        let id_ok = !rule.id.is_empty()
            && rule
                .id
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && rule
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !id_ok {
            self.sink.report(
                Code::InvalidValue,
                rule.id.span,
                format!(
                    "rule id `{}` may only use letters, digits, `_`, `.` and `-`",
                    rule.id.value
                ),
                Some("e.g. `accept-ready-check`".into()),
            );
        }
        let triggers = self.triggers(&rule.on.0, spec.span, Some(&rule.id.value));
        let cancel_on = match &rule.cancel_on {
            Some(specs) => self.cancel_triggers(&specs.0, spec.span),
            None => Vec::new(),
        };
        let params = common_captures(&triggers);
        self.data_type = self.payload_type(&triggers);

        let mut binding_names: Vec<String> = Vec::new();
        let mut bindings = Vec::new();
        for (name, binding) in &rule.bindings {
            if let Some(compiled) = self.binding(name, binding, &binding_names, &params) {
                bindings.push(compiled);
            }
            binding_names.push(name.value.clone());
        }

        let roots = RootRules {
            bindings: &binding_names,
            steps: &[],
            params: &params,
            item: false,
        };
        let conditions: Vec<Condition> = rule
            .when
            .iter()
            .enumerate()
            .filter_map(|(i, c)| self.condition(c, format!("when[{i}]"), &roots))
            .collect();

        if rule.steps.is_empty() {
            self.sink.report(
                Code::InvalidValue,
                spec.span,
                format!("rule `{}` has no steps under `do`", rule.id.value),
                Some("add at least one `- request: ...`, `- delay: ...` or `- log: ...`".into()),
            );
        }
        let steps = self.steps(&rule.steps, &roots);
        let (max, cooldown) = self.mode_settings(rule);
        let debounce = rule
            .debounce
            .as_ref()
            .and_then(|r| self.rate(r, "debounce", &roots));
        let throttle = rule
            .throttle
            .as_ref()
            .and_then(|r| self.rate(r, "throttle", &roots));
        let phases = rule.phases.as_ref().map(|p| self.phases(&p.0));
        let breaker = self.breaker(rule.breaker.as_ref());
        if conditions.len() == rule.when.len() {
            self.lint_contradictions(&conditions, &rule.when);
        }

        if self.error_count() > errors_before {
            return None;
        }
        Some(Rule {
            id: rule.id.value.clone(),
            description: rule.description.clone(),
            enabled: rule.enabled,
            snapshots: rule.snapshots,
            file: file.to_path_buf(),
            span: spec.span,
            triggers,
            cancel_on,
            bindings,
            binding_names,
            conditions,
            steps,
            mode: rule.mode,
            max,
            cooldown,
            debounce,
            throttle,
            phases,
            allow_echo: rule.allow_echo,
            breaker,
            on_reload: rule.on_reload,
            fingerprint: 0,
        })
    }

    fn error_count(&self) -> usize {
        self.sink
            .diagnostics
            .iter()
            .filter(|d| d.severity == crate::language::diag::Severity::Error)
            .count()
    }

    /// A rule's `cancel_on`: triggers, each with its own conditions (which see the event, the
    /// `vars` and the `state`, not the rule's named values).
    fn cancel_triggers(
        &mut self,
        specs: &[Spanned<TriggerSpec>],
        rule_span: Span,
    ) -> Vec<CancelTrigger> {
        let triggers = self.triggers(specs, rule_span, None);
        if triggers.len() != specs.len() {
            return Vec::new();
        }
        let roots = RootRules {
            bindings: &[],
            steps: &[],
            params: &[],
            item: false,
        };
        triggers
            .into_iter()
            .zip(specs)
            .enumerate()
            .map(|(index, (trigger, spec))| CancelTrigger {
                trigger,
                conditions: spec
                    .when
                    .iter()
                    .enumerate()
                    .filter_map(|(i, c)| {
                        self.condition(c, format!("cancel_on[{index}].when[{i}]"), &roots)
                    })
                    .collect(),
            })
            .collect()
    }

    /// `on` (with the rule's id, which names its manual trigger) or `cancel_on` (`None`).
    fn triggers(
        &mut self,
        specs: &[Spanned<TriggerSpec>],
        rule_span: Span,
        rule_id: Option<&str>,
    ) -> Vec<Trigger> {
        if specs.is_empty() {
            self.sink
                .report(Code::InvalidValue, rule_span, "`on` lists no trigger", None);
        }
        let mut triggers = Vec::new();
        for spec in specs {
            let uri_span = or_outer(spec.uri.span, spec.span);
            if let (Some(first), Some(_)) = (spec.when.first(), rule_id) {
                self.sink.report(
                    Code::InvalidValue,
                    first.span,
                    "a trigger in `on` takes no `when`",
                    Some("put the conditions in the rule's `when`; a trigger's `when` is for `cancel_on`".into()),
                );
                continue;
            }
            if spec.uri.value == "manual" {
                match rule_id {
                    Some(id) => {
                        // An id that makes no URI segment is already an error of its own.
                        if let Ok(pattern) = UriPattern::parse(&format!("{MANUAL_PREFIX}{id}")) {
                            triggers.push(Trigger {
                                pattern,
                                types: EventTypeMask::ALL,
                            });
                        }
                    }
                    None => self.sink.report(
                        Code::InvalidUriPattern,
                        uri_span,
                        "`manual` starts a rule; it cannot cancel one",
                        Some("cancel from another rule with a `cancel: ID` step".into()),
                    ),
                }
                continue;
            }
            match UriPattern::parse(&spec.uri.value) {
                Ok(pattern) => {
                    let types = if spec.types.is_empty() {
                        EventTypeMask::ALL
                    } else {
                        EventTypeMask(
                            spec.types
                                .iter()
                                .fold(0, |mask, t| mask | crate::event::EventType::from(*t).bit()),
                        )
                    };
                    self.lint_trigger(&pattern, uri_span);
                    triggers.push(Trigger { pattern, types });
                }
                Err(error) => self.sink.report(
                    Code::InvalidUriPattern,
                    self.inner_span(uri_span, error.offset, error.len),
                    format!(
                        "invalid URI pattern `{}`: {}",
                        spec.uri.value, error.message
                    ),
                    Some("segments are literal text, `{name}`, `*`, or a final `**`".into()),
                ),
            }
        }
        triggers
    }

    /// The type every trigger's events carry, if the API index knows one and they agree.
    fn payload_type(&self, triggers: &[Trigger]) -> Option<String> {
        let api = self.api?;
        let mut types = triggers.iter().map(|t| api.resource_type(&t.pattern));
        let first = types.next()??;
        types.all(|t| t == Some(first)).then(|| first.to_string())
    }

    fn binding(
        &mut self,
        name: &Spanned<String>,
        spec: &Spanned<BindingSpec>,
        earlier: &[String],
        params: &[String],
    ) -> Option<Binding> {
        let fields = &spec.fields;
        let mut ok = true;
        if !is_identifier(&name.value)
            || BUILTIN_ROOTS.contains(&name.value.as_str())
            || name.value == "this"
        {
            ok = false;
            self.sink.report(
                Code::InvalidBinding,
                name.span,
                format!("`{}` cannot name a value", name.value),
                Some(format!(
                    "use letters, digits and `_`, and none of {}",
                    BUILTIN_ROOTS
                        .iter()
                        .map(|r| format!("`{r}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
        let roots = RootRules {
            bindings: earlier,
            steps: &[],
            params,
            item: false,
        };
        let source = match (&fields.path, &fields.from, &fields.uri) {
            (Some(path), None, None) => {
                let span = or_outer(path.span, spec.span);
                Some(Source::Path(self.path(&path.value, span, &roots)?))
            }
            (None, Some(list), None) if list.value.iter().any(holds_template) => {
                self.refuse_template(name, "from", list.span);
                None
            }
            (None, Some(list), None) => Some(Source::List(list.value.clone())),
            (None, None, Some(uri)) => self.read_uri(uri),
            _ => {
                self.sink.report(
                    Code::InvalidBinding,
                    spec.span,
                    format!(
                        "`{}` needs exactly one of `path`, `from` and `uri`",
                        name.value
                    ),
                    None,
                );
                None
            }
        };
        let item_roots = RootRules {
            item: true,
            ..roots
        };
        let filter: Vec<Condition> = fields
            .filter
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                self.condition(c, format!("let.{}.where[{i}]", name.value), &item_roots)
            })
            .collect();
        if fields.default.as_ref().is_some_and(holds_template) {
            self.refuse_template(name, "default", spec.span);
            return None;
        }
        if filter.len() != fields.filter.len() || !ok {
            return None;
        }
        Some(Binding {
            name: name.value.clone(),
            source: source?,
            filter,
            take: fields.take,
            default: fields.default.clone(),
        })
    }

    /// A `let`'s `uri`: a literal URI (the engine keeps the latest payload of each one named),
    /// checked against the API like a trigger.
    fn read_uri(&mut self, uri: &Spanned<String>) -> Option<Source> {
        match UriPattern::parse(&uri.value) {
            Ok(pattern) if pattern.is_literal() => {
                self.lint_trigger(&pattern, uri.span);
                Some(Source::Latest(uri.value.clone()))
            }
            Ok(_) => {
                self.sink.report(
                    Code::InvalidUriPattern,
                    uri.span,
                    format!("`uri: {}` must name one URI, without `{{...}}` or `*`", uri.value),
                    Some("the engine keeps the latest payload of each URI a rule reads; read one resource, e.g. `/lol-chat/v1/me`".into()),
                );
                None
            }
            Err(error) => {
                self.sink.report(
                    Code::InvalidUriPattern,
                    self.inner_span(uri.span, error.offset, error.len),
                    format!("invalid URI `{}`: {}", uri.value, error.message),
                    None,
                );
                None
            }
        }
    }

    /// A `let`'s `from` or `default` is a literal: `{{...}}` there would be kept as text.
    fn refuse_template(&mut self, name: &Spanned<String>, key: &str, span: Span) {
        self.sink.report(
            Code::InvalidBinding,
            span,
            format!(
                "`{}`'s `{key}` is a literal value: templates are not filled in there",
                name.value
            ),
            Some("read a value of the event with `path:` (e.g. `path: $.data.timer`)".into()),
        );
    }

    fn path(&mut self, text: &str, span: Span, roots: &RootRules<'_>) -> Option<CompiledPath> {
        match CompiledPath::compile(text, roots) {
            Ok(path) => {
                self.lint_filter_paths(text, span, roots);
                Some(path)
            }
            Err(error) => {
                let code = if error.unknown_variable {
                    Code::UnknownVariable
                } else {
                    Code::InvalidJsonPath
                };
                let span = self.inner_span(span, 0, text.chars().count());
                self.sink.report(code, span, error.message, error.hint);
                None
            }
        }
    }

    /// W411: each `$.name...` a filter compares with must name a root or named value, and,
    /// under `$.data`, fields the trigger's payload type has; otherwise the filter silently
    /// selects nothing.
    fn lint_filter_paths(&mut self, text: &str, span: Span, roots: &RootRules<'_>) {
        let Some(inner) = text
            .get(1..)
            .filter(|rest| rest.contains('$') && !roots.item)
        else {
            return;
        };
        static ROOTED: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
        let rooted = ROOTED.get_or_init(|| {
            Regex::new(r"\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)").unwrap_or_else(|_| unreachable!())
        });
        for found in rooted.captures_iter(inner) {
            let Some(chain) = found.get(1) else { continue };
            let mut names = chain.as_str().split('.').filter(|n| !n.is_empty());
            let Some(first) = names.next() else { continue };
            let problem = match roots.resolve(first) {
                Err(message) => Some(message),
                Ok(crate::language::scope::Root::Data) => self.missing_data_field(names),
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                let at = found.get(0).map_or(0, |m| m.start() + 1);
                let len = found.get(0).map_or(1, |m| m.as_str().chars().count());
                self.sink.report(
                    Code::FilterPathMissing,
                    self.inner_span(span, at, len),
                    format!(
                        "the filter compares with `${}`, which cannot exist: {problem}",
                        chain.as_str()
                    ),
                    Some("the filter would select nothing; fix the name".into()),
                );
            }
        }
    }

    /// Why the fields `names` cannot be in the trigger's payload, if the API index says so.
    fn missing_data_field<'n>(&self, names: impl Iterator<Item = &'n str>) -> Option<String> {
        let (api, mut current) = (self.api?, self.data_type.clone()?);
        for name in names {
            match api.field(&current, name) {
                crate::language::api::FieldLookup::Found(field_type) => current = field_type,
                crate::language::api::FieldLookup::Missing { type_name, fields } => {
                    let hint =
                        crate::language::diag::closest(name, fields.iter().map(String::as_str))
                            .map(|best| format!(" (did you mean `{best}`?)"))
                            .unwrap_or_default();
                    return Some(format!("`{name}` is not a field of {type_name}{hint}"));
                }
                crate::language::api::FieldLookup::Unknown => return None,
            }
        }
        None
    }

    fn template(&mut self, text: &str, span: Span, roots: &RootRules<'_>) -> Option<Template> {
        match self.templates.compile(text, roots) {
            Ok(template) => Some(template),
            Err(error) => {
                let code = if error.unknown_variable {
                    Code::UnknownVariable
                } else {
                    Code::InvalidTemplate
                };
                let span = self.inner_span(span, 0, text.chars().count());
                self.sink.report(code, span, error.message, None);
                None
            }
        }
    }

    fn operand(&mut self, value: &Spanned<Value>, roots: &RootRules<'_>) -> Option<Operand> {
        match &value.value {
            Value::String(text) if text.contains("{{") => self
                .template(text, value.span, roots)
                .map(Operand::Template),
            other => Some(Operand::Literal(other.clone())),
        }
    }

    fn condition(
        &mut self,
        spec: &Spanned<ConditionSpec>,
        at: String,
        roots: &RootRules<'_>,
    ) -> Option<Condition> {
        let c = &spec.value;
        let operators: Vec<&str> = [
            ("equals", c.equals.is_some()),
            ("not_equals", c.not_equals.is_some()),
            ("one_of", c.one_of.is_some()),
            ("not_one_of", c.not_one_of.is_some()),
            ("exists", c.exists.is_some()),
            ("matches", c.matches.is_some()),
            ("gt", c.gt.is_some()),
            ("gte", c.gte.is_some()),
            ("lt", c.lt.is_some()),
            ("lte", c.lte.is_some()),
            ("contains", c.contains.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect();
        let combinators: Vec<&str> = [
            ("all", c.all.is_some()),
            ("any", c.any.is_some()),
            ("not", c.not.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name)
        .collect();

        if !combinators.is_empty() {
            if combinators.len() > 1
                || !operators.is_empty()
                || c.path.is_some()
                || c.value.is_some()
            {
                self.sink.report(
                    Code::InvalidCondition,
                    spec.span,
                    format!("`{}` must stand alone in its condition", combinators[0]),
                    Some("put other tests inside its list, or in a separate condition".into()),
                );
                return None;
            }
            let compile_list = |this: &mut Self,
                                list: &[Spanned<ConditionSpec>],
                                name: &str|
             -> Option<Vec<Condition>> {
                let items: Vec<Condition> = list
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        this.condition(item, format!("{at}.{name}[{i}]"), roots)
                    })
                    .collect();
                (items.len() == list.len()).then_some(items)
            };
            return match (&c.all, &c.any, &c.not) {
                (Some(list), _, _) => Some(Condition::All {
                    items: compile_list(self, list, "all")?,
                    at: at.into(),
                }),
                (_, Some(list), _) => Some(Condition::Any {
                    items: compile_list(self, list, "any")?,
                    at: at.into(),
                }),
                (_, _, Some(inner)) => {
                    let item = self.condition(inner, format!("{at}.not"), roots)?;
                    Some(Condition::Not {
                        at: at.into(),
                        item: Box::new(item),
                    })
                }
                _ => None,
            };
        }

        let path_spec = match (&c.path, &c.value) {
            (Some(path), None) => path,
            (None, Some(value)) if operators.len() == 1 => {
                let template = self.template(&value.value, value.span, roots);
                let op = self.operator(c, roots)?;
                return Some(Condition::on(
                    at,
                    Subject::Value(value.value.as_str().into(), template?),
                    op,
                ));
            }
            (None, Some(value)) => value,
            (Some(_), Some(_)) => {
                self.sink.report(
                    Code::InvalidCondition,
                    spec.span,
                    "a condition has a `path` or a `value`, not both",
                    None,
                );
                return None;
            }
            (None, None) => {
                self.sink.report(
                    Code::InvalidCondition,
                    spec.span,
                    "a condition needs a `path` or a `value` (or is one of `all`, `any`, `not`)",
                    Some("e.g. `- path: $.data.state` with `equals: InProgress`".into()),
                );
                return None;
            }
        };
        if operators.len() != 1 {
            let message = if operators.is_empty() {
                format!("the condition on `{}` has no operator", path_spec.value)
            } else {
                format!(
                    "the condition on `{}` has {} operators ({}); write one per condition",
                    path_spec.value,
                    operators.len(),
                    operators.join(", ")
                )
            };
            self.sink.report(
                Code::InvalidCondition,
                spec.span,
                message,
                Some("operators: equals, not_equals, one_of, not_one_of, exists, matches, gt, gte, lt, lte, contains".into()),
            );
            return None;
        }
        let path = self.path(&path_spec.value, path_spec.span, roots);
        if let Some(compiled) = &path
            && !roots.item
        {
            self.lint_condition(compiled, c, path_spec.span);
        }
        let op = self.operator(c, roots)?;
        Some(Condition::test(at, path?, op))
    }

    fn operator(&mut self, c: &ConditionSpec, roots: &RootRules<'_>) -> Option<Op> {
        if let Some(exists) = &c.exists {
            return Some(Op::Exists(exists.value));
        }
        if let Some(pattern) = &c.matches {
            return match Regex::new(&pattern.value) {
                Ok(regex) => Some(Op::Matches(regex)),
                Err(error) => {
                    self.sink.report(
                        Code::InvalidRegex,
                        pattern.span,
                        format!("invalid regular expression `{}`", pattern.value),
                        Some(
                            error
                                .to_string()
                                .lines()
                                .last()
                                .unwrap_or_default()
                                .trim()
                                .to_string(),
                        ),
                    );
                    None
                }
            };
        }
        type Make = fn(Operand) -> Op;
        let (value, make, kind): (&Spanned<Value>, Make, &str) = if let Some(v) = &c.equals {
            (v, Op::Equals, "any")
        } else if let Some(v) = &c.not_equals {
            (v, Op::NotEquals, "any")
        } else if let Some(v) = &c.one_of {
            (v, Op::OneOf, "list")
        } else if let Some(v) = &c.not_one_of {
            (v, Op::NotOneOf, "list")
        } else if let Some(v) = &c.gt {
            (v, Op::Gt, "number")
        } else if let Some(v) = &c.gte {
            (v, Op::Gte, "number")
        } else if let Some(v) = &c.lt {
            (v, Op::Lt, "number")
        } else if let Some(v) = &c.lte {
            (v, Op::Lte, "number")
        } else if let Some(v) = &c.contains {
            (v, Op::Contains, "any")
        } else {
            return None;
        };
        let operand = self.operand(value, roots)?;
        let wrong = match (&operand, kind) {
            (Operand::Literal(v), "list") if !v.is_array() => {
                Some("a list, e.g. `[Lobby, Matchmaking]`")
            }
            (Operand::Literal(v), "number") if !v.is_number() => Some("a number"),
            _ => None,
        };
        if let Some(wanted) = wrong {
            self.sink.report(
                Code::InvalidCondition,
                value.span,
                format!(
                    "this operator compares with {wanted}, not `{}`",
                    crate::language::condition::short_json(&value.value)
                ),
                None,
            );
            return None;
        }
        Some(make(operand))
    }

    fn rate(
        &mut self,
        spec: &Spanned<RateSpec>,
        name: &str,
        roots: &RootRules<'_>,
    ) -> Option<Rate> {
        let fields = &spec.value.fields;
        let text = Spanned::new(
            or_outer(fields.duration.span, spec.span),
            fields.duration.value.clone(),
        );
        let duration = self.duration(&text)?;
        if duration.is_zero() {
            self.sink.report(
                Code::InvalidDuration,
                text.span,
                format!("`{name}` must be longer than zero"),
                None,
            );
            return None;
        }
        let key = match &fields.key {
            Some(key) => Some(self.template(&key.value, key.span, roots)?),
            None => None,
        };
        Some(Rate { duration, key })
    }

    /// Phase names, checked against the client's enum when the API index is loaded.
    fn phases(&mut self, specs: &[Spanned<String>]) -> Vec<String> {
        let known = self
            .api
            .and_then(|api| api.enum_values(PHASE_TYPE))
            .map(<[String]>::to_vec);
        for phase in specs {
            if let Some(known) = &known
                && !known.contains(&phase.value)
            {
                let hint =
                    crate::language::diag::closest(&phase.value, known.iter().map(String::as_str))
                        .map(|c| format!("did you mean `{c}`?"))
                        .unwrap_or_else(|| format!("phases are {}", list(known, 12)));
                self.sink.report(
                    Code::UnknownEnumValue,
                    phase.span,
                    format!("`{}` is not a gameflow phase of the client", phase.value),
                    Some(hint),
                );
            }
        }
        specs.iter().map(|p| p.value.clone()).collect()
    }

    fn breaker(&mut self, spec: Option<&Spanned<BreakerSpec>>) -> BreakerSetting {
        match spec.map(|s| &s.value) {
            None => BreakerSetting::Default,
            Some(BreakerSpec::Off) => BreakerSetting::Off,
            Some(BreakerSpec::Limits(fields)) => {
                if fields.max.value == 0 {
                    self.sink.report(
                        Code::InvalidValue,
                        fields.max.span,
                        "`breaker.max` must be at least 1",
                        Some("write `breaker: off` to disable the breaker".into()),
                    );
                }
                match self.duration(&fields.within) {
                    Some(within) => BreakerSetting::Limits(Breaker {
                        max: fields.max.value.max(1),
                        within,
                    }),
                    None => BreakerSetting::Default,
                }
            }
        }
    }

    fn mode_settings(&mut self, rule: &RuleSpec) -> (u32, Option<Duration>) {
        let max = match &rule.max {
            Some(max) if max.value == 0 => {
                self.sink.report(
                    Code::InvalidValue,
                    max.span,
                    "`max` must be at least 1",
                    None,
                );
                DEFAULT_MAX
            }
            Some(max) if matches!(rule.mode, Mode::Single | Mode::Restart) => {
                self.sink.report(
                    Code::IneffectiveSetting,
                    max.span,
                    "`max` has no effect in `single` or `restart` mode",
                    Some("set `mode: queued` or `mode: parallel`, or remove `max`".into()),
                );
                max.value
            }
            Some(max) => max.value,
            None => DEFAULT_MAX,
        };
        let cooldown = rule.cooldown.as_ref().and_then(|c| self.duration(c));
        (max, cooldown)
    }
}

/// Whether a literal value holds `{{...}}`: text that only a template would fill in.
fn holds_template(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("{{"),
        Value::Array(items) => items.iter().any(holds_template),
        Value::Object(map) => map.values().any(holds_template),
        _ => false,
    }
}

/// The hint for `written`, which is not one of `items`: the closest item, or the list when it is
/// short, or how many there are; and the whole list, for `--verbose`.
fn closest_or_listed(written: &str, items: &[String], noun: &str) -> (String, String) {
    let shown = list(items, items.len());
    let hint = match crate::language::diag::closest(written, items.iter().map(String::as_str)) {
        Some(best) => format!("did you mean `{best}`?"),
        None if shown.len() <= 60 => format!("its {noun}: {shown}"),
        None => format!("none of its {} {noun} is close", items.len()),
    };
    (hint, format!("its {noun}: {shown}"))
}

/// Items as `` `a`, `b`, ... `` (at most `most`, then how many more).
fn list(items: &[String], most: usize) -> String {
    let shown: Vec<String> = items.iter().take(most).map(|i| format!("`{i}`")).collect();
    match items.len().saturating_sub(most) {
        0 => shown.join(", "),
        more => format!("{}, and {more} more", shown.join(", ")),
    }
}

/// The capture names every trigger provides (a template can rely only on those).
fn common_captures(triggers: &[Trigger]) -> Vec<String> {
    let Some(first) = triggers.first() else {
        return Vec::new();
    };
    first
        .pattern
        .capture_names()
        .filter(|name| {
            triggers
                .iter()
                .all(|t| t.pattern.capture_names().any(|n| n == *name))
        })
        .map(str::to_string)
        .collect()
}
