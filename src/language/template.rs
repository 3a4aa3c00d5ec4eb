//! Templates: Handlebars text with HTML escaping off and strict mode on, compiled once at load.
//!
//! A template that is exactly one `{{path}}` is resolved directly against the scope and keeps the
//! JSON type of its value (this is what makes typed bodies work: `championId: "{{pick}}"` sends a
//! number). Everything else renders through Handlebars as text. Paths are built segment by segment
//! and every rendered segment is percent-encoded, so no event value can add a segment, a query
//! string or `..` to a request path. A missing variable is an error of that run, never an empty
//! string.
//!
//! One file: compiling, rendering and the segment-encoded paths share the template type and its
//! render errors; about a quarter of its length is tests.

use std::borrow::Cow;

use handlebars::template::{HelperTemplate, Parameter, Template as HbTemplate, TemplateElement};
use handlebars::{Handlebars, PathSeg};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::Value;

use crate::language::scope::{Root, RootRules, Scope};

/// Characters percent-encoded in a rendered path segment: everything that could end the segment
/// or the path (`/ ? #`), `%` itself, and what URLs never carry raw.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Helpers that ship with Handlebars; a bare name that is one of these is not a variable.
const BUILTIN_HELPERS: [&str; 17] = [
    "if", "unless", "each", "with", "lookup", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and",
    "or", "not", "len", "raw",
];

/// Why a template could not be compiled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TemplateError {
    /// What is wrong.
    pub message: String,
    /// Whether it names an unknown variable (rather than being malformed).
    pub unknown_variable: bool,
}

/// Why a render failed at run time.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderError {
    /// A variable or field that is not there.
    #[error("`{{{{{expression}}}}}` has no value: `{missing}` is missing")]
    Missing {
        /// The expression as written.
        expression: String,
        /// The first part of it that was not found.
        missing: String,
    },
    /// A value that cannot go where it was put (an object in a path, say).
    #[error("`{{{{{expression}}}}}` is {found}, which cannot be used in {place}")]
    Unusable {
        /// The expression as written.
        expression: String,
        /// What the value was.
        found: &'static str,
        /// Where it was used.
        place: &'static str,
    },
    /// Handlebars refused to render (strict mode, a helper error).
    #[error("{0}")]
    Handlebars(String),
    /// A path segment rendered to nothing, `.` or `..`, which would change the path's shape.
    #[error(
        "a segment of the path `{expression}` rendered to `{value}`, which is not a path segment"
    )]
    BadSegment {
        /// The path as written.
        expression: String,
        /// What the segment rendered to.
        value: String,
    },
}

/// A compiled template.
#[derive(Debug, Clone)]
pub enum Template {
    /// No expressions at all.
    Static(String),
    /// Exactly one `{{path}}`: resolved directly, keeps its JSON type.
    Expr(Expr),
    /// Exactly one `{{default A B ...}}` over paths and literals: resolved directly, the first
    /// that has a value (not missing, not null), keeping its JSON type (a list stays a list).
    Default(Vec<Fallback>),
    /// Anything else: rendered by Handlebars under this registered name.
    Text {
        /// The name it is registered under.
        name: String,
        /// The text as written.
        source: String,
        /// Whether it is exactly one call to a helper that returns a number
        /// ([`crate::language::helpers`]): its value is then that number, not text.
        number: bool,
    },
}

/// One argument of a [`Template::Default`].
#[derive(Debug, Clone)]
pub enum Fallback {
    /// A path.
    Expr(Expr),
    /// A literal (`"none"`, `0`).
    Literal(Value),
}

impl Fallback {
    fn value<'a>(&'a self, scope: &Scope<'a>) -> Option<Cow<'a, Value>> {
        match self {
            Fallback::Expr(expr) => expr.resolve(scope).ok(),
            Fallback::Literal(value) => Some(Cow::Borrowed(value)),
        }
        .filter(|value| !value.is_null())
    }
}

/// The first of `args` that has a value, or null.
fn first_present(args: &[Fallback], scope: &Scope<'_>) -> Value {
    args.iter()
        .find_map(|arg| arg.value(scope))
        .map_or(Value::Null, Cow::into_owned)
}

/// A path expression resolved against a scope.
#[derive(Debug, Clone)]
pub struct Expr {
    /// The expression as written.
    pub text: String,
    root: Root,
    keys: Vec<String>,
}

impl Expr {
    /// The value, or which part is missing.
    pub(crate) fn resolve<'a>(&self, scope: &Scope<'a>) -> Result<Cow<'a, Value>, RenderError> {
        let missing = |part: &str| RenderError::Missing {
            expression: self.text.clone(),
            missing: part.to_string(),
        };
        let root_name = self.text.split(['.', '/']).next().unwrap_or(&self.text);
        let mut value = scope.root(&self.root).ok_or_else(|| missing(root_name))?;
        for key in &self.keys {
            let next = match value {
                Cow::Borrowed(v) => lookup(v, key).map(Cow::Borrowed),
                Cow::Owned(v) => lookup(&v, key).cloned().map(Cow::Owned),
            };
            value = next.ok_or_else(|| missing(key))?;
        }
        Ok(value)
    }
}

fn lookup<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => items.get(key.parse::<usize>().ok()?),
        _ => None,
    }
}

/// Compiles templates into one shared Handlebars registry.
pub(crate) struct TemplateCompiler {
    registry: Handlebars<'static>,
    counter: usize,
}

impl Default for TemplateCompiler {
    fn default() -> Self {
        let mut registry = Handlebars::new();
        registry.register_escape_fn(handlebars::no_escape);
        registry.set_strict_mode(true);
        crate::language::helpers::register(&mut registry);
        TemplateCompiler {
            registry,
            counter: 0,
        }
    }
}

impl TemplateCompiler {
    /// Compiles `source`, checking that every variable it names exists under `roots`.
    pub(crate) fn compile(
        &mut self,
        source: &str,
        roots: &RootRules<'_>,
    ) -> Result<Template, TemplateError> {
        if !source.contains("{{") {
            return Ok(Template::Static(source.to_string()));
        }
        crate::language::limits::check_template(source).map_err(|message| TemplateError {
            message,
            unknown_variable: false,
        })?;
        let parsed = HbTemplate::compile(source).map_err(|e| TemplateError {
            message: format!("invalid template `{source}`: {}", e.reason()),
            unknown_variable: false,
        })?;
        check_helpers(&parsed.elements)?;
        check_variables(&parsed.elements, roots)?;
        if let [TemplateElement::Expression(helper)] = parsed.elements.as_slice()
            && helper.params.is_empty()
            && helper.hash.is_empty()
            && let Parameter::Path(handlebars::Path::Relative((segments, raw))) = &helper.name
            && let Some(expr) = plain_expr(segments, raw, roots)
        {
            return Ok(Template::Expr(expr));
        }
        if let [TemplateElement::Expression(helper)] = parsed.elements.as_slice()
            && matches!(&helper.name, Parameter::Name(n) if n == "default")
            && helper.hash.is_empty()
            && helper.params.len() >= 2
            && let Some(args) = helper
                .params
                .iter()
                .map(|param| match param {
                    Parameter::Path(handlebars::Path::Relative((segments, raw))) => {
                        plain_expr(segments, raw, roots).map(Fallback::Expr)
                    }
                    Parameter::Literal(value) => Some(Fallback::Literal(value.clone())),
                    _ => None,
                })
                .collect::<Option<Vec<Fallback>>>()
        {
            return Ok(Template::Default(args));
        }
        let number = matches!(
            parsed.elements.as_slice(),
            [TemplateElement::Expression(helper)]
                if matches!(&helper.name, Parameter::Name(n) if crate::language::helpers::returns_number(n))
        );
        self.counter += 1;
        let name = format!("t{}", self.counter);
        self.registry
            .register_template_string(&name, source)
            .map_err(|e| TemplateError {
                message: format!("invalid template `{source}`: {}", e.reason()),
                unknown_variable: false,
            })?;
        Ok(Template::Text {
            name,
            number,
            source: source.to_string(),
        })
    }

    /// The registry holding every `Text` template compiled so far.
    pub(crate) fn finish(self) -> Handlebars<'static> {
        self.registry
    }
}

fn plain_expr(segments: &[PathSeg], raw: &str, roots: &RootRules<'_>) -> Option<Expr> {
    let mut names = segments.iter().map(|s| match s {
        PathSeg::Named(name) => Some(name.clone()),
        _ => None,
    });
    let first = names.next()??;
    let keys: Option<Vec<String>> = names.collect();
    let root = roots.resolve(&first).ok()?;
    Some(Expr {
        text: raw.to_string(),
        root,
        keys: keys?,
    })
}

/// Checks the first name of every top-level expression and helper argument. Inside blocks
/// (`#each`, `#with`) the context changes, so only the block's own arguments are checked.
fn check_variables(
    elements: &[TemplateElement],
    roots: &RootRules<'_>,
) -> Result<(), TemplateError> {
    for element in elements {
        let Some((helper, is_helper_call)) = expression_of(element) else {
            continue;
        };
        let mut to_check: Vec<&Parameter> = helper.params.iter().collect();
        to_check.extend(helper.hash.values());
        if !is_helper_call {
            to_check.push(&helper.name);
        }
        for parameter in to_check {
            let first = match parameter {
                Parameter::Path(handlebars::Path::Relative((segments, _))) => {
                    match segments.first() {
                        Some(PathSeg::Named(name)) => name.as_str(),
                        _ => continue,
                    }
                }
                Parameter::Name(name) if !BUILTIN_HELPERS.contains(&name.as_str()) => name.as_str(),
                _ => continue,
            };
            if first == "this" && roots.item {
                continue;
            }
            roots.resolve(first).map_err(|message| TemplateError {
                message,
                unknown_variable: true,
            })?;
        }
        if let TemplateElement::HelperBlock(h) = element {
            // The `else` branch keeps the outer context.
            if let Some(inverse) = &h.inverse {
                check_variables(&inverse.elements, roots)?;
            }
            if matches!(&h.name, Parameter::Name(n) if n == "if" || n == "unless")
                && let Some(body) = &h.template
            {
                check_variables(&body.elements, roots)?;
            }
        }
    }
    Ok(())
}

/// The expression an element holds (`{{x}}`, `{{{x}}}`, `{{#block}}`), and whether it calls a
/// helper (it has arguments or is a block) rather than naming a value.
fn expression_of(element: &TemplateElement) -> Option<(&HelperTemplate, bool)> {
    let helper = match element {
        TemplateElement::Expression(h)
        | TemplateElement::HtmlExpression(h)
        | TemplateElement::HelperBlock(h) => h,
        _ => return None,
    };
    let is_helper_call = !helper.params.is_empty() || !helper.hash.is_empty() || helper.block;
    Some((helper, is_helper_call))
}

/// Checks that every helper the template calls exists, in blocks and subexpressions too.
fn check_helpers(elements: &[TemplateElement]) -> Result<(), TemplateError> {
    for element in elements {
        let Some((helper, is_helper_call)) = expression_of(element) else {
            continue;
        };
        if is_helper_call && let Parameter::Name(name) = &helper.name {
            check_helper(name)?;
        }
        for parameter in helper.params.iter().chain(helper.hash.values()) {
            if let Parameter::Subexpression(sub) = parameter {
                check_helpers(std::slice::from_ref(&*sub.element))?;
            }
        }
        for body in [&helper.template, &helper.inverse].into_iter().flatten() {
            check_helpers(&body.elements)?;
        }
    }
    Ok(())
}

/// A helper name that Handlebars does not have would fail every run that renders it: refused at
/// load instead, with the closest helper.
fn check_helper(name: &str) -> Result<(), TemplateError> {
    if BUILTIN_HELPERS.contains(&name) || crate::language::helpers::NAMES.contains(&name) {
        return Ok(());
    }
    let known = BUILTIN_HELPERS
        .iter()
        .chain(crate::language::helpers::NAMES.iter())
        .copied();
    let hint = match crate::language::suggest::closest(name, known) {
        Some(best) => format!("did you mean `{best}`?"),
        None => "the helpers are Handlebars' own (`if`, `each`, `lookup`, `eq`, ...) and `add`, `sub`, `min`, `max`, `clamp`, `index_of`, ...".to_string(),
    };
    Err(TemplateError {
        message: format!("unknown helper `{name}`; {hint}"),
        unknown_variable: false,
    })
}

impl Template {
    /// Renders to a JSON value: `Expr` keeps its type, the rest are strings.
    pub(crate) fn render_value(
        &self,
        scope: &Scope<'_>,
        registry: &Handlebars<'_>,
    ) -> Result<Value, RenderError> {
        match self {
            Template::Static(text) => Ok(Value::String(text.clone())),
            Template::Expr(expr) => Ok(expr.resolve(scope)?.into_owned()),
            Template::Default(args) => Ok(first_present(args, scope)),
            Template::Text {
                name, number: true, ..
            } => {
                let text = render_text(name, scope, registry)?;
                let value = text
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| RenderError::Handlebars(format!("`{text}` is not a number")))?;
                Ok(crate::language::helpers::json_number(value))
            }
            Template::Text { name, .. } => render_text(name, scope, registry).map(Value::String),
        }
    }

    /// Renders to text; a non-string value is written as JSON.
    pub(crate) fn render_string(
        &self,
        scope: &Scope<'_>,
        registry: &Handlebars<'_>,
    ) -> Result<String, RenderError> {
        match self {
            Template::Static(text) => Ok(text.clone()),
            Template::Expr(expr) => Ok(match expr.resolve(scope)?.as_ref() {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            }),
            Template::Default(args) => Ok(match first_present(args, scope) {
                Value::String(text) => text,
                Value::Null => String::new(),
                other => other.to_string(),
            }),
            Template::Text { name, .. } => render_text(name, scope, registry),
        }
    }
}

fn render_text(
    name: &str,
    scope: &Scope<'_>,
    registry: &Handlebars<'_>,
) -> Result<String, RenderError> {
    let mut out = Capped(Vec::new());
    let rendered = registry.render_to_write(name, &scope.to_json(), &mut out);
    if out.0.len() > MAX_RENDERED_BYTES {
        return Err(RenderError::Handlebars(format!(
            "the rendered text is over {MAX_RENDERED_BYTES} bytes long"
        )));
    }
    rendered.map_err(|e| match e.reason() {
        // Handlebars names its internal template and position; the rule's author wants the
        // variable.
        handlebars::RenderErrorReason::MissingVariable(Some(path)) => RenderError::Missing {
            expression: path.clone(),
            missing: path.clone(),
        },
        _ => RenderError::Handlebars(e.to_string()),
    })?;
    String::from_utf8(out.0).map_err(|e| RenderError::Handlebars(e.to_string()))
}

/// The most text one template may render, in bytes: past it the rendering stops with an error.
pub(crate) const MAX_RENDERED_BYTES: usize = 1024 * 1024;

/// A buffer that refuses to grow past [`MAX_RENDERED_BYTES`], so a template looping over a huge
/// list from the client stops there instead of filling memory.
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_RENDERED_BYTES {
            // One byte past the limit marks the buffer as overflowed for the caller.
            self.0.resize(MAX_RENDERED_BYTES + 1, 0);
            return Err(std::io::Error::other("rendered text too long"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A request path compiled segment by segment.
#[derive(Debug, Clone)]
pub struct PathTemplate {
    /// The text as written.
    pub source: String,
    segments: Vec<Template>,
}

impl PathTemplate {
    /// Compiles a path template. It must start with `/`, and its literal text may not carry a
    /// query string or fragment (use `query:`).
    pub(crate) fn compile(
        source: &str,
        compiler: &mut TemplateCompiler,
        roots: &RootRules<'_>,
    ) -> Result<PathTemplate, TemplateError> {
        let Some(body) = source.strip_prefix('/') else {
            return Err(TemplateError {
                message: format!("a request path starts with `/`: write `/{source}`"),
                unknown_variable: false,
            });
        };
        let literal = strip_expressions(body);
        if let Some(bad) = literal
            .chars()
            .find(|c| matches!(c, '?' | '#') || c.is_whitespace())
        {
            return Err(TemplateError {
                message: format!(
                    "the path `{source}` contains `{bad}`; put query parameters under `query:`"
                ),
                unknown_variable: false,
            });
        }
        let pieces = split_outside_expressions(body);
        // `//` or a trailing `/` would send an empty segment: the client answers 404 or worse.
        if pieces.len() > 1 && pieces.iter().any(|piece| piece.is_empty()) {
            return Err(TemplateError {
                message: format!(
                    "the path `{source}` has an empty segment (`//` or a `/` at the end)"
                ),
                unknown_variable: false,
            });
        }
        let segments = pieces
            .into_iter()
            .map(|segment| compiler.compile(segment, roots))
            .collect::<Result<_, _>>()?;
        Ok(PathTemplate {
            source: source.to_string(),
            segments,
        })
    }

    /// Renders the path. Each segment's value is percent-encoded so it stays exactly one segment.
    pub(crate) fn render(
        &self,
        scope: &Scope<'_>,
        registry: &Handlebars<'_>,
    ) -> Result<String, RenderError> {
        let mut out = String::with_capacity(self.source.len() + 8);
        for segment in &self.segments {
            out.push('/');
            let text = match segment {
                Template::Static(text) => {
                    out.push_str(text);
                    continue;
                }
                Template::Expr(expr) => match expr.resolve(scope)?.as_ref() {
                    Value::String(text) => text.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(RenderError::Unusable {
                            expression: expr.text.clone(),
                            found: kind_of(other),
                            place: "a path",
                        });
                    }
                },
                Template::Text { .. } | Template::Default(_) => {
                    segment.render_string(scope, registry)?
                }
            };
            push_encoded_segment(&mut out, &text, &self.source)?;
        }
        Ok(out)
    }

    /// The path's segments: the text of literal ones, `None` where a template fills a value.
    pub(crate) fn shape(&self) -> Vec<Option<&str>> {
        self.segments
            .iter()
            .map(|segment| match segment {
                Template::Static(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Appends one percent-encoded segment. A value of `.`, `..` or nothing would change the path's
/// shape (URL parsers resolve `.`, `..` and their encodings `%2E`, `%2E%2E` as steps up), so it
/// fails the render: what is logged and what is sent stay the same bytes.
fn push_encoded_segment(out: &mut String, text: &str, source: &str) -> Result<(), RenderError> {
    if matches!(text, "" | "." | "..") {
        return Err(RenderError::BadSegment {
            expression: source.to_string(),
            value: text.to_string(),
        });
    }
    out.extend(utf8_percent_encode(text, SEGMENT));
    Ok(())
}

/// The JSON kind of a value, for messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Splits on `/` except inside `{{ }}` (Handlebars paths may use `/`).
fn split_outside_expressions(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"{{") {
            depth += 1;
            i += 2;
        } else if bytes[i..].starts_with(b"}}") {
            depth = depth.saturating_sub(1);
            i += 2;
        } else {
            if bytes[i] == b'/' && depth == 0 {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            i += 1;
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The text outside `{{ }}`.
fn strip_expressions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        match rest[open..].find("}}") {
            Some(close) => rest = &rest[open + close + 2..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// A JSON body with templates in its string leaves.
#[derive(Debug, Clone)]
pub enum BodyTemplate {
    /// No templates anywhere below: sent as is.
    Literal(Value),
    /// A templated string leaf.
    Leaf(Template),
    /// A list with templates somewhere inside.
    Array(Vec<BodyTemplate>),
    /// An object with templates somewhere inside.
    Object(Vec<(String, BodyTemplate)>),
}

impl BodyTemplate {
    /// Compiles every string leaf that holds `{{`.
    pub(crate) fn compile(
        value: &Value,
        compiler: &mut TemplateCompiler,
        roots: &RootRules<'_>,
    ) -> Result<BodyTemplate, TemplateError> {
        if !has_template(value) {
            return Ok(BodyTemplate::Literal(value.clone()));
        }
        Ok(match value {
            Value::String(text) => BodyTemplate::Leaf(compiler.compile(text, roots)?),
            Value::Array(items) => BodyTemplate::Array(
                items
                    .iter()
                    .map(|item| BodyTemplate::compile(item, compiler, roots))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => BodyTemplate::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), BodyTemplate::compile(v, compiler, roots)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => BodyTemplate::Literal(other.clone()),
        })
    }

    /// Renders the body; it is always valid JSON because it is built as a value, never as text.
    pub(crate) fn render(
        &self,
        scope: &Scope<'_>,
        registry: &Handlebars<'_>,
    ) -> Result<Value, RenderError> {
        Ok(match self {
            BodyTemplate::Literal(value) => value.clone(),
            BodyTemplate::Leaf(template) => template.render_value(scope, registry)?,
            BodyTemplate::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.render(scope, registry))
                    .collect::<Result<_, _>>()?,
            ),
            BodyTemplate::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.render(scope, registry)?)))
                    .collect::<Result<_, RenderError>>()?,
            ),
        })
    }
}

fn has_template(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("{{"),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(map) => map.values().any(has_template),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, EventType};
    use proptest::prelude::*;
    use serde_json::json;

    const NAMES: [&str; 2] = ["me", "action"];

    fn names() -> Vec<String> {
        NAMES.iter().map(|s| s.to_string()).collect()
    }

    fn roots(names: &[String]) -> RootRules<'_> {
        RootRules {
            bindings: names,
            steps: &[],
            params: &[],
            item: false,
        }
    }

    fn scope<'a>(event: &'a Event, bindings: &'a [Value], names: &'a [String]) -> Scope<'a> {
        Scope {
            event,
            params: &[],
            bindings,
            binding_names: names,
            steps: None,
            item: None,
            vars: None,
            memory: None,
        }
    }

    /// `"{{x}}"` keeps the type of x; text around an expression makes a string.
    #[test]
    fn exact_expressions_keep_their_type() {
        let names = names();
        let mut compiler = TemplateCompiler::default();
        let body = json!({"championId": "{{action.championId}}", "completed": true, "label": "id {{action.id}}", "whole": "{{action}}"});
        let body = BodyTemplate::compile(&body, &mut compiler, &roots(&names)).unwrap();
        let registry = compiler.finish();
        let event = Event::new("/x", EventType::Update, json!({}));
        let bindings = vec![json!(3), json!({"id": 17, "championId": 516})];
        let rendered = body
            .render(&scope(&event, &bindings, &names), &registry)
            .unwrap();
        assert_eq!(
            rendered,
            json!({"championId": 516, "completed": true, "label": "id 17", "whole": {"id": 17, "championId": 516}})
        );
    }

    /// A missing field is a run error, not an empty string.
    #[test]
    fn missing_values_are_errors() {
        let names = names();
        let mut compiler = TemplateCompiler::default();
        let exact = compiler.compile("{{data.nope}}", &roots(&names)).unwrap();
        let text = compiler.compile("x {{data.nope}}", &roots(&names)).unwrap();
        let registry = compiler.finish();
        let event = Event::new("/x", EventType::Update, json!({}));
        let scope = scope(&event, &[], &names);
        assert!(matches!(
            exact.render_value(&scope, &registry),
            Err(RenderError::Missing { .. })
        ));
        // Inside text too, the error names the variable, not Handlebars' internal template.
        assert_eq!(
            text.render_string(&scope, &registry)
                .unwrap_err()
                .to_string(),
            "`{{data.nope}}` has no value: `data.nope` is missing"
        );
    }

    /// Unknown variables and malformed templates are refused at compile time.
    #[test]
    fn compile_time_checks() {
        let names = names();
        let mut compiler = TemplateCompiler::default();
        let error = compiler
            .compile("{{acton.id}}", &roots(&names))
            .unwrap_err();
        assert!(error.unknown_variable);
        assert!(
            error.message.contains("did you mean `action`?"),
            "{}",
            error.message
        );
        let error = compiler.compile("{{#if x}}", &roots(&names)).unwrap_err();
        assert!(!error.unknown_variable);
        assert!(
            compiler
                .compile("{{lookup data.list 0}}", &roots(&names))
                .is_ok()
        );
        assert!(
            compiler
                .compile("{{lookup dta.list 0}}", &roots(&names))
                .is_err()
        );
    }

    /// Paths reject literal query strings and render captured values as single segments.
    #[test]
    fn path_segments_are_encoded() {
        let names = names();
        let mut compiler = TemplateCompiler::default();
        assert!(PathTemplate::compile("/a?b=1", &mut compiler, &roots(&names)).is_err());
        assert!(PathTemplate::compile("a/b", &mut compiler, &roots(&names)).is_err());
        let path = PathTemplate::compile(
            "/lol/{{data.x}}/v-{{data.x}}",
            &mut compiler,
            &roots(&names),
        )
        .unwrap();
        let registry = compiler.finish();
        for (x, expected) in [
            (json!("a/b?c#d"), "/lol/a%2Fb%3Fc%23d/v-a%2Fb%3Fc%23d"),
            (json!("..."), "/lol/.../v-..."),
            (json!("a@pvp.net"), "/lol/a@pvp.net/v-a@pvp.net"),
            (json!(17), "/lol/17/v-17"),
        ] {
            let event = Event::new("/x", EventType::Update, json!({"x": x}));
            assert_eq!(
                path.render(&scope(&event, &[], &names), &registry).unwrap(),
                expected
            );
        }
        for unshaped in [json!({"a": 1}), json!(".."), json!("."), json!("")] {
            let event = Event::new("/x", EventType::Update, json!({"x": unshaped}));
            assert!(path.render(&scope(&event, &[], &names), &registry).is_err());
        }
    }

    proptest! {
        /// Whatever text an event carries, a rendered body is valid JSON that round-trips, and a
        /// rendered path has exactly the segments of its template.
        #[test]
        fn any_event_text_keeps_bodies_valid_and_paths_shaped(text in any::<String>()) {
            let names = names();
            let mut compiler = TemplateCompiler::default();
            let path = PathTemplate::compile("/a/{{data.s}}/b/x{{data.s}}y", &mut compiler, &roots(&names)).unwrap();
            let body = BodyTemplate::compile(
                &json!({"exact": "{{data.s}}", "mixed": "<{{data.s}}> & \"{{data.s}}\"", "list": ["{{data.s}}", 1]}),
                &mut compiler,
                &roots(&names),
            ).unwrap();
            let registry = compiler.finish();
            let event = Event::new("/x", EventType::Update, json!({"s": text.clone()}));
            let scope = scope(&event, &[], &names);

            let rendered = path.render(&scope, &registry);
            if matches!(text.as_str(), "" | "." | "..") {
                prop_assert!(rendered.is_err());
                return Ok(());
            }
            let rendered = rendered.unwrap();
            let segments: Vec<&str> = rendered.split('/').collect();
            prop_assert_eq!(segments.len(), 5);
            prop_assert_eq!(segments[0], "");
            prop_assert!(!rendered.contains('?') && !rendered.contains('#'));
            prop_assert!(segments[2] != "." && segments[2] != "..");
            let decoded = percent_encoding::percent_decode_str(segments[2]).decode_utf8().unwrap();
            prop_assert_eq!(decoded.as_ref(), text.as_str());

            let value = body.render(&scope, &registry).unwrap();
            let wire = serde_json::to_string(&value).unwrap();
            let back: Value = serde_json::from_str(&wire).unwrap();
            prop_assert_eq!(&back["exact"], &json!(text.clone()));
            prop_assert_eq!(&back["mixed"], &json!(format!("<{text}> & \"{text}\"")));
        }
    }
}
