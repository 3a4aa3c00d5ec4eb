//! Conditions and named values, compiled, and their evaluation. A failed evaluation says where
//! it stopped and with what value (a [`Miss`]); this is what `explain` and the test timeline
//! print, so it is built only on failure and costs nothing when a rule passes.
//!
//! One file on purpose: the operators, their evaluation and the `Miss` each one reports are one
//! table read side by side when an operator is added; split, each change would touch three files.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use handlebars::Handlebars;
use regex::Regex;
use serde_json::Value;

use crate::language::scope::{CompiledPath, Scope};
use crate::language::spec::Take;
use crate::language::template::Template;

/// Where a rule's evaluation stopped, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Miss {
    /// Which condition or named value, e.g. `when[1]` or `let.action.where[0]`.
    pub at: Arc<str>,
    /// The JSONPath it read (empty for combinators).
    pub path: Arc<str>,
    /// What it wanted, e.g. `equals "InProgress"`.
    pub expected: Arc<str>,
    /// What it found.
    pub actual: Actual,
}

/// What a path found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Actual {
    /// The path selected nothing.
    Nothing,
    /// One value.
    One(Value),
    /// Several values (the first few).
    Many(Vec<Value>),
    /// A template operand could not be rendered.
    Error(String),
    /// Not a single value (combinators).
    Summary(String),
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(
                f,
                "{}: expected {}, but {}",
                self.at, self.expected, self.actual
            )
        } else {
            write!(
                f,
                "{}: `{}` {}, expected {}",
                self.at, self.path, self.actual, self.expected
            )
        }
    }
}

impl fmt::Display for Actual {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actual::Nothing => f.write_str("selected nothing"),
            Actual::One(value) => write!(f, "was {}", short_json(value)),
            Actual::Many(values) => write!(
                f,
                "selected [{}]",
                values.iter().map(short_json).collect::<Vec<_>>().join(", ")
            ),
            Actual::Error(error) => write!(f, "could not be compared: {error}"),
            Actual::Summary(text) => f.write_str(text),
        }
    }
}

/// JSON text cut to a readable length.
pub(crate) fn short_json(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 80 {
        text
    } else {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    }
}

/// A right-hand side: a literal, or a template (typed when it is exactly one `{{path}}`).
#[derive(Debug, Clone)]
pub enum Operand {
    /// Written as is.
    Literal(Value),
    /// Rendered against the scope each time.
    Template(Template),
}

impl Operand {
    fn value<'s>(
        &'s self,
        scope: &Scope<'_>,
        registry: &Handlebars<'_>,
    ) -> Result<Cow<'s, Value>, String> {
        match self {
            Operand::Literal(value) => Ok(Cow::Borrowed(value)),
            Operand::Template(template) => template
                .render_value(scope, registry)
                .map(Cow::Owned)
                .map_err(|e| e.to_string()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Operand::Literal(value) => short_json(value),
            Operand::Template(Template::Expr(expr)) => format!("{{{{{}}}}}", expr.text),
            Operand::Template(Template::Text { source, .. }) => format!("\"{source}\""),
            Operand::Template(Template::Default(_)) => "a `default`".to_string(),
            Operand::Template(Template::Static(text)) => format!("\"{text}\""),
        }
    }
}

/// A comparison operator with its operand.
#[derive(Debug, Clone)]
pub enum Op {
    /// Any selected value equals.
    Equals(Operand),
    /// No selected value equals.
    NotEquals(Operand),
    /// Any selected value is in the list.
    OneOf(Operand),
    /// No selected value is in the list.
    NotOneOf(Operand),
    /// Something is (true) or nothing is (false) selected.
    Exists(bool),
    /// Any selected string matches.
    Matches(Regex),
    /// Any selected number is greater.
    Gt(Operand),
    /// Any selected number is greater or equal.
    Gte(Operand),
    /// Any selected number is less.
    Lt(Operand),
    /// Any selected number is less or equal.
    Lte(Operand),
    /// Any selected string/list/object contains the operand.
    Contains(Operand),
}

impl Op {
    /// The operator's name as written in rules.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Equals(_) => "equals",
            Op::NotEquals(_) => "not_equals",
            Op::OneOf(_) => "one_of",
            Op::NotOneOf(_) => "not_one_of",
            Op::Exists(_) => "exists",
            Op::Matches(_) => "matches",
            Op::Gt(_) => "gt",
            Op::Gte(_) => "gte",
            Op::Lt(_) => "lt",
            Op::Lte(_) => "lte",
            Op::Contains(_) => "contains",
        }
    }

    /// The operand, for operators that have one.
    fn operand(&self) -> Option<&Operand> {
        match self {
            Op::Equals(o)
            | Op::NotEquals(o)
            | Op::OneOf(o)
            | Op::NotOneOf(o)
            | Op::Gt(o)
            | Op::Gte(o)
            | Op::Lt(o)
            | Op::Lte(o)
            | Op::Contains(o) => Some(o),
            Op::Exists(_) | Op::Matches(_) => None,
        }
    }

    /// Whether the operand is a template (whose value belongs in a miss's description).
    fn has_template(&self) -> bool {
        matches!(self.operand(), Some(Operand::Template(_)))
    }

    /// Like `describe`, with a template operand's current value appended.
    fn describe_in(&self, scope: &Scope<'_>, registry: &Handlebars<'_>) -> String {
        match self.operand() {
            Some(Operand::Template(template)) => match template.render_value(scope, registry) {
                Ok(value) => format!("{} (= {})", self.describe(), short_json(&value)),
                Err(_) => self.describe(),
            },
            _ => self.describe(),
        }
    }

    fn describe(&self) -> String {
        match (self, self.operand()) {
            (Op::Exists(true), _) => "to exist".into(),
            (Op::Exists(false), _) => "to be missing".into(),
            (Op::Matches(regex), _) => format!("matches /{}/", regex.as_str()),
            (_, Some(operand)) => format!("{} {}", self.name(), operand.describe()),
            (_, None) => self.name().into(),
        }
    }
}

/// What a condition tests: the nodes a JSONPath selects, or one value a template computes.
#[derive(Debug, Clone)]
pub enum Subject {
    /// `path:`.
    Path(CompiledPath),
    /// `value:` (e.g. `"{{len data.members}}"`), with its text.
    Value(Arc<str>, Template),
}

impl Subject {
    /// As written.
    pub(crate) fn text(&self) -> &Arc<str> {
        match self {
            Subject::Path(path) => &path.text,
            Subject::Value(text, _) => text,
        }
    }

    /// The path, for a `path:` subject.
    pub(crate) fn as_path(&self) -> Option<&CompiledPath> {
        match self {
            Subject::Path(path) => Some(path),
            Subject::Value(..) => None,
        }
    }

    /// The nodes tested: a path's selection, or the one value a template renders to.
    fn select<'a>(
        &self,
        scope: &Scope<'a>,
        registry: &Handlebars<'_>,
    ) -> Result<Vec<Cow<'a, Value>>, String> {
        match self {
            Subject::Path(path) => Ok(path.select(scope)),
            Subject::Value(_, template) => template
                .render_value(scope, registry)
                .map(|value| vec![Cow::Owned(value)])
                .map_err(|e| e.to_string()),
        }
    }
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Condition {
    /// A path (or computed value) and an operator.
    Test {
        /// Where it was written, for messages (`when[0]`).
        at: Arc<str>,
        /// What it reads.
        path: Subject,
        /// How it compares.
        op: Op,
        /// `op` described once, for misses (`equals "InProgress"`).
        expected: Arc<str>,
    },
    /// All must hold.
    All {
        /// Where it was written.
        at: Arc<str>,
        /// The conditions.
        items: Vec<Condition>,
    },
    /// At least one must hold.
    Any {
        /// Where it was written.
        at: Arc<str>,
        /// The conditions.
        items: Vec<Condition>,
    },
    /// Must not hold.
    Not {
        /// Where it was written.
        at: Arc<str>,
        /// The condition.
        item: Box<Condition>,
    },
}

impl Condition {
    /// A text that is the same for conditions that test the same thing (without their place).
    pub(crate) fn signature(&self) -> String {
        match self {
            Condition::Test { path, expected, .. } => format!("{} {expected}", path.text()),
            Condition::All { items, .. } => format!(
                "all({})",
                items
                    .iter()
                    .map(Condition::signature)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Condition::Any { items, .. } => format!(
                "any({})",
                items
                    .iter()
                    .map(Condition::signature)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Condition::Not { item, .. } => format!("not({})", item.signature()),
        }
    }

    /// A path-and-operator condition.
    pub(crate) fn test(at: impl Into<Arc<str>>, path: CompiledPath, op: Op) -> Condition {
        Condition::on(at, Subject::Path(path), op)
    }

    /// A condition on what `subject` reads.
    pub(crate) fn on(at: impl Into<Arc<str>>, subject: Subject, op: Op) -> Condition {
        let expected = op.describe().into();
        Condition::Test {
            at: at.into(),
            path: subject,
            op,
            expected,
        }
    }

    /// Evaluates the condition; `Err` says where and why it failed.
    pub(crate) fn check(
        &self,
        scope: &Scope<'_>,
        registry: &Handlebars<'_>,
    ) -> Result<(), Box<Miss>> {
        match self {
            Condition::Test {
                at,
                path,
                op,
                expected,
            } => check_test(at, path, op, expected, scope, registry),
            Condition::All { items, .. } => items.iter().try_for_each(|c| c.check(scope, registry)),
            Condition::Any { at, items } => {
                let mut first_miss = None;
                for item in items {
                    match item.check(scope, registry) {
                        Ok(()) => return Ok(()),
                        Err(miss) => {
                            first_miss.get_or_insert(miss);
                        }
                    }
                }
                Err(Box::new(Miss {
                    at: at.clone(),
                    path: "".into(),
                    expected: format!("any of {} conditions to hold", items.len()).into(),
                    actual: Actual::Summary(match first_miss {
                        Some(miss) => format!("none did (first: {miss})"),
                        None => "the list is empty".into(),
                    }),
                }))
            }
            Condition::Not { at, item } => match item.check(scope, registry) {
                Err(_) => Ok(()),
                Ok(()) => Err(Box::new(Miss {
                    at: at.clone(),
                    path: "".into(),
                    expected: "the inner condition to fail".into(),
                    actual: Actual::Summary("it held".into()),
                })),
            },
        }
    }
}

fn check_test(
    at: &Arc<str>,
    path: &Subject,
    op: &Op,
    expected: &Arc<str>,
    scope: &Scope<'_>,
    registry: &Handlebars<'_>,
) -> Result<(), Box<Miss>> {
    let miss = |actual: Actual| {
        Box::new(Miss {
            at: at.clone(),
            path: path.text().clone(),
            expected: match op.has_template() {
                true => op.describe_in(scope, registry).into(),
                false => expected.clone(),
            },
            actual,
        })
    };
    let selected = path
        .select(scope, registry)
        .map_err(|e| miss(Actual::Error(e)))?;
    let operand_of = |operand| operand_value(operand, scope, registry, &miss);
    let any = |test: &dyn Fn(&Value) -> bool| selected.iter().any(|v| test(v));
    let passed = match op {
        Op::Exists(want) => selected.is_empty() != *want,
        Op::Equals(operand) => {
            let operand = operand_of(operand)?;
            any(&|v| json_eq(v, &operand))
        }
        Op::NotEquals(operand) => {
            let operand = operand_of(operand)?;
            !any(&|v| json_eq(v, &operand))
        }
        Op::OneOf(operand) => {
            let operand = operand_of(operand)?;
            let list = as_list(&operand);
            any(&|v| list.iter().any(|item| json_eq(v, item)))
        }
        Op::NotOneOf(operand) => {
            let operand = operand_of(operand)?;
            let list = as_list(&operand);
            !any(&|v| list.iter().any(|item| json_eq(v, item)))
        }
        Op::Matches(regex) => any(&|v| v.as_str().is_some_and(|s| regex.is_match(s))),
        Op::Gt(o) | Op::Gte(o) | Op::Lt(o) | Op::Lte(o) => {
            let operand = operand_of(o)?;
            let Some(bound) = operand.as_f64() else {
                return Err(miss(Actual::Error(format!(
                    "the operand {} is not a number",
                    short_json(&operand)
                ))));
            };
            any(&|v| {
                v.as_f64().is_some_and(|n| match op {
                    Op::Gt(_) => n > bound,
                    Op::Gte(_) => n >= bound,
                    Op::Lt(_) => n < bound,
                    _ => n <= bound,
                })
            })
        }
        Op::Contains(operand) => {
            let operand = operand_of(operand)?;
            any(&|v| contains(v, &operand))
        }
    };
    if passed {
        return Ok(());
    }
    Err(miss(match selected.len() {
        0 => Actual::Nothing,
        1 => Actual::One(selected[0].clone().into_owned()),
        _ => Actual::Many(
            selected
                .iter()
                .take(5)
                .map(|v| v.clone().into_owned())
                .collect(),
        ),
    }))
}

fn operand_value<'o>(
    operand: &'o Operand,
    scope: &Scope<'_>,
    registry: &Handlebars<'_>,
    miss: &dyn Fn(Actual) -> Box<Miss>,
) -> Result<Cow<'o, Value>, Box<Miss>> {
    operand
        .value(scope, registry)
        .map_err(|e| miss(Actual::Error(e)))
}

fn as_list(value: &Value) -> Cow<'_, [Value]> {
    match value {
        Value::Array(items) => Cow::Borrowed(items),
        other => Cow::Owned(vec![other.clone()]),
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match (haystack, needle) {
        (Value::String(text), Value::String(part)) => text.contains(part.as_str()),
        (Value::Array(items), _) => items.iter().any(|item| json_eq(item, needle)),
        (Value::Object(map), Value::String(key)) => map.contains_key(key),
        _ => false,
    }
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Why two top-level conditions can never hold together, if they cannot (both must select at
/// most one node and compare with literals).
pub(crate) fn contradiction(a: &Condition, b: &Condition) -> Option<String> {
    let (
        Condition::Test {
            path: pa, op: oa, ..
        },
        Condition::Test {
            path: pb, op: ob, ..
        },
    ) = (a, b)
    else {
        return None;
    };
    let (Some(pa), Some(pb)) = (pa.as_path(), pb.as_path()) else {
        return None;
    };
    if pa.text != pb.text || !pa.selects_at_most_one() {
        return None;
    }
    let literal = |o: &Operand| match o {
        Operand::Literal(v) => Some(v.clone()),
        Operand::Template(_) => None,
    };
    let list = |v: &Value| v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]);
    let inside = |v: &Value, l: &[Value]| l.iter().any(|x| json_eq(v, x));
    let path = &pa.text;
    let clash = |x: &Value, y: &Value| {
        format!(
            "`{path}` cannot equal both {} and {}",
            short_json(x),
            short_json(y)
        )
    };
    for (first, second) in [(oa, ob), (ob, oa)] {
        let found = match (first, second) {
            (Op::Equals(x), Op::Equals(y)) => {
                let (x, y) = (literal(x)?, literal(y)?);
                (!json_eq(&x, &y)).then(|| clash(&x, &y))
            }
            (Op::Equals(x), Op::NotEquals(y)) => {
                let (x, y) = (literal(x)?, literal(y)?);
                json_eq(&x, &y).then(|| {
                    format!(
                        "`{path}` cannot both equal and not equal {}",
                        short_json(&x)
                    )
                })
            }
            (Op::Equals(x), Op::OneOf(l)) => {
                let (x, l) = (literal(x)?, literal(l)?);
                (!inside(&x, &list(&l))).then(|| {
                    format!(
                        "`{path}` equals {} but must be one of {}",
                        short_json(&x),
                        short_json(&l)
                    )
                })
            }
            (Op::Equals(x), Op::NotOneOf(l)) => {
                let (x, l) = (literal(x)?, literal(l)?);
                inside(&x, &list(&l)).then(|| {
                    format!(
                        "`{path}` equals {} but must not be one of {}",
                        short_json(&x),
                        short_json(&l)
                    )
                })
            }
            (Op::OneOf(l1), Op::OneOf(l2)) => {
                let (l1, l2) = (list(&literal(l1)?), list(&literal(l2)?));
                (!l1.iter().any(|x| inside(x, &l2)))
                    .then(|| format!("`{path}` must be one of two lists with nothing in common"))
            }
            (Op::Exists(false), other)
                if !matches!(
                    other,
                    Op::Exists(false) | Op::NotEquals(_) | Op::NotOneOf(_)
                ) =>
            {
                Some(format!(
                    "`{path}` must be missing, but `{}` needs a value",
                    other.name()
                ))
            }
            (Op::Exists(true), Op::Exists(false)) => {
                Some(format!("`{path}` cannot both exist and be missing"))
            }
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Where a named value's candidates come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The nodes a path selects.
    Path(CompiledPath),
    /// A literal list.
    List(Vec<Value>),
    /// The latest payload seen on this literal URI (`uri:`), one candidate.
    Latest(String),
}

/// A compiled named value (`let`).
#[derive(Debug, Clone)]
pub struct Binding {
    /// Its name.
    pub name: String,
    /// Where candidates come from.
    pub source: Source,
    /// Conditions each candidate must pass (`$` is the candidate).
    pub filter: Vec<Condition>,
    /// First or all.
    pub take: Take,
    /// The value when nothing is selected.
    pub default: Option<Value>,
}

impl Binding {
    /// Computes the value, or says why the rule stops here.
    pub(crate) fn evaluate(
        &self,
        scope: &Scope<'_>,
        registry: &Handlebars<'_>,
    ) -> Result<Value, Box<Miss>> {
        let candidates: Vec<Cow<'_, Value>> = match &self.source {
            Source::Path(path) => path.select(scope),
            Source::List(items) => items.iter().map(Cow::Borrowed).collect(),
            Source::Latest(uri) => scope
                .memory
                .and_then(|memory| memory.latest(uri))
                .map(Cow::Borrowed)
                .into_iter()
                .collect(),
        };
        let total = candidates.len();
        // The candidate that passed the most filters explains a miss best.
        let mut best_miss: Option<(usize, Box<Miss>)> = None;
        let mut kept = Vec::new();
        for candidate in candidates {
            let item_scope = scope.with_item(&candidate);
            let failed = self.filter.iter().enumerate().find_map(|(index, c)| {
                c.check(&item_scope, registry)
                    .err()
                    .map(|miss| (index, miss))
            });
            match failed {
                None => {
                    if self.take == Take::First {
                        return Ok(candidate.into_owned());
                    }
                    kept.push(candidate.into_owned());
                }
                Some((index, miss)) => {
                    if best_miss.as_ref().is_none_or(|(best, _)| index > *best) {
                        best_miss = Some((index, miss));
                    }
                }
            }
        }
        let last_miss = best_miss.map(|(_, miss)| miss);
        if matches!(self.take, Take::Random | Take::Shuffled)
            && let Some(memory) = scope.memory
        {
            memory.shuffle(&mut kept);
        }
        match self.take {
            Take::All | Take::Shuffled => return Ok(Value::Array(kept)),
            Take::Random if !kept.is_empty() => return Ok(kept.swap_remove(0)),
            Take::First | Take::Random => {}
        }
        if let Some(default) = &self.default {
            return Ok(default.clone());
        }
        let path = match &self.source {
            Source::Path(path) => path.text.clone(),
            Source::List(_) => "".into(),
            Source::Latest(uri) => format!("uri: {uri}").into(),
        };
        Err(Box::new(Miss {
            at: format!("let.{}", self.name).into(),
            path,
            expected: if self.filter.is_empty() {
                "a value".into()
            } else {
                "a candidate passing `where`".into()
            },
            actual: match (total, last_miss) {
                (0, _) if matches!(self.source, Source::Latest(_)) => {
                    Actual::Summary("nothing has been seen on it yet".into())
                }
                (0, _) => Actual::Nothing,
                (n, Some(miss)) => {
                    Actual::Summary(format!("none of {n} candidates passed (closest: {miss})"))
                }
                (n, None) => Actual::Summary(format!("none of {n} candidates passed")),
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, EventType};
    use crate::language::scope::RootRules;
    use crate::language::template::TemplateCompiler;
    use serde_json::json;

    fn test(path: &str, op: Op) -> Condition {
        let rules = RootRules {
            bindings: &[],
            steps: &[],
            params: &[],
            item: false,
        };
        Condition::test("when[0]", CompiledPath::compile(path, &rules).unwrap(), op)
    }

    fn lit(value: Value) -> Operand {
        Operand::Literal(value)
    }

    fn eval(condition: &Condition, data: Value) -> Result<(), Box<Miss>> {
        check_on(condition, &Event::new("/x", EventType::Update, data))
    }

    fn check_on(condition: &Condition, event: &Event) -> Result<(), Box<Miss>> {
        condition.check(&Scope::of_event(event, None, None), &Handlebars::new())
    }

    /// A test on an event read from a frame reports the same miss as one on an event built here.
    #[test]
    fn a_miss_on_the_text_is_the_miss_on_the_tree() {
        let data =
            json!({"state": "InProgress", "playerResponse": "Accepted", "n": 7, "ok": false});
        let frame =
            format!(r#"[8,"OnJsonApiEvent",{{"data":{data},"eventType":"Update","uri":"/x"}}]"#);
        let on_text = crate::event::frame::parse_text(&frame).unwrap().unwrap();
        let on_tree = Event::new("/x", EventType::Update, data);
        let cases = [
            ("$.data.playerResponse", Op::Equals(lit(json!("None")))),
            ("$.data.state", Op::NotEquals(lit(json!("InProgress")))),
            ("$.data.n", Op::OneOf(lit(json!([1, 2])))),
            ("$.data.ok", Op::NotOneOf(lit(json!([false])))),
            ("$.data.missing", Op::Exists(true)),
            ("$.data.state", Op::Exists(false)),
        ];
        for (path, op) in cases {
            let condition = test(path, op);
            let (text_miss, tree_miss) = (
                check_on(&condition, &on_text),
                check_on(&condition, &on_tree),
            );
            assert!(text_miss.is_err(), "{path}");
            assert_eq!(text_miss, tree_miss, "{path}");
        }
    }

    /// Table of every operator against one, several and no selected nodes.
    #[test]
    fn every_operator() {
        let data = json!({"s": "InProgress", "n": 5, "f": 2.5, "list": [1, 2, 3], "obj": {"k": 1}, "many": [{"v": 1}, {"v": 2}]});
        let cases: Vec<(&str, Op, bool)> = vec![
            ("$.data.s", Op::Equals(lit(json!("InProgress"))), true),
            ("$.data.s", Op::Equals(lit(json!("Invalid"))), false),
            ("$.data.n", Op::Equals(lit(json!(5.0))), true),
            ("$.data.s", Op::NotEquals(lit(json!("Invalid"))), true),
            ("$.data.nope", Op::NotEquals(lit(json!("x"))), true),
            ("$.data.s", Op::OneOf(lit(json!(["A", "InProgress"]))), true),
            ("$.data.s", Op::OneOf(lit(json!(["A"]))), false),
            ("$.data.s", Op::NotOneOf(lit(json!(["A"]))), true),
            ("$.data.s", Op::NotOneOf(lit(json!(["InProgress"]))), false),
            ("$.data.s", Op::Exists(true), true),
            ("$.data.nope", Op::Exists(true), false),
            ("$.data.nope", Op::Exists(false), true),
            ("$.data.s", Op::Matches(Regex::new("^In").unwrap()), true),
            ("$.data.n", Op::Matches(Regex::new("5").unwrap()), false),
            ("$.data.n", Op::Gt(lit(json!(4))), true),
            ("$.data.n", Op::Gt(lit(json!(5))), false),
            ("$.data.n", Op::Gte(lit(json!(5))), true),
            ("$.data.f", Op::Lt(lit(json!(3))), true),
            ("$.data.f", Op::Lte(lit(json!(2.5))), true),
            ("$.data.s", Op::Gt(lit(json!(1))), false),
            ("$.data.s", Op::Contains(lit(json!("Prog"))), true),
            ("$.data.list", Op::Contains(lit(json!(2))), true),
            ("$.data.list", Op::Contains(lit(json!(9))), false),
            ("$.data.obj", Op::Contains(lit(json!("k"))), true),
            ("$.data.many[*].v", Op::Equals(lit(json!(2))), true),
            ("$.data.many[*].v", Op::NotEquals(lit(json!(2))), false),
            ("$.data.nope", Op::Equals(lit(json!(null))), false),
        ];
        for (path, op, expected) in cases {
            let name = format!("{path} {}", op.describe());
            let result = eval(&test(path, op), data.clone());
            assert_eq!(result.is_ok(), expected, "{name}: {result:?}");
        }
    }

    /// A failure names the condition, the path and the value found.
    #[test]
    fn misses_explain_themselves() {
        let condition = test("$.data.state", Op::Equals(lit(json!("InProgress"))));
        let miss = eval(&condition, json!({"state": "Invalid"})).unwrap_err();
        assert_eq!(
            miss.to_string(),
            "when[0]: `$.data.state` was \"Invalid\", expected equals \"InProgress\""
        );
        let miss = eval(&condition, json!({})).unwrap_err();
        assert_eq!(miss.actual, Actual::Nothing);
    }

    /// Combinators compose and report.
    #[test]
    fn combinators() {
        let yes = test("$.data.a", Op::Equals(lit(json!(1))));
        let no = test("$.data.a", Op::Equals(lit(json!(2))));
        let data = json!({"a": 1});
        let all = Condition::All {
            at: "a".into(),
            items: vec![yes.clone(), no.clone()],
        };
        let any = Condition::Any {
            at: "b".into(),
            items: vec![no.clone(), yes.clone()],
        };
        let none = Condition::Any {
            at: "c".into(),
            items: vec![no.clone()],
        };
        let not = Condition::Not {
            at: "d".into(),
            item: Box::new(no.clone()),
        };
        assert!(eval(&all, data.clone()).is_err());
        assert!(eval(&any, data.clone()).is_ok());
        assert!(
            eval(&none, data.clone())
                .unwrap_err()
                .to_string()
                .contains("none did")
        );
        assert!(eval(&not, data.clone()).is_ok());
    }

    /// A template operand compares with its typed value.
    #[test]
    fn template_operands_are_typed() {
        let names = vec!["me".to_string()];
        let rules = RootRules {
            bindings: &names,
            steps: &[],
            params: &[],
            item: true,
        };
        let mut compiler = TemplateCompiler::default();
        let operand = Operand::Template(compiler.compile("{{me}}", &rules).unwrap());
        let condition = Condition::test(
            "let.a.where[0]",
            CompiledPath::compile("$.actorCellId", &rules).unwrap(),
            Op::Equals(operand),
        );
        let event = Event::new("/x", EventType::Update, json!(null));
        let bindings = vec![json!(3)];
        let item = json!({"actorCellId": 3});
        let scope = Scope {
            event: &event,
            params: &[],
            bindings: &bindings,
            binding_names: &names,
            steps: None,
            item: Some(&item),
            vars: None,
            memory: None,
        };
        assert!(condition.check(&scope, &compiler.finish()).is_ok());
    }
}
