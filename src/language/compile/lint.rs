//! The API lint of a rule: its trigger, conditions, requests and bodies checked against the
//! client's API index (unknown URIs and fields, values outside an enum, bodies of the wrong
//! type), and conditions that contradict each other. Warnings only: a rule the lint doubts still
//! loads.

use std::collections::HashMap;

use super::*;

impl RuleCompiler<'_, '_> {
    /// Follows a `$.data...` condition through the payload's type: warns about a field the type
    /// does not have (W405), and about compared values outside the field's enum (W406).
    pub(super) fn lint_condition(
        &mut self,
        path: &CompiledPath,
        spec: &ConditionSpec,
        path_span: Span,
    ) {
        let (Some(api), Some(mut current)) = (self.api, self.data_type.clone()) else {
            return;
        };
        let Some(steps) = path.data_steps() else {
            return;
        };
        for step in steps {
            match step {
                crate::language::scope::PathStep::Key(key) => match api.field(&current, key) {
                    crate::language::api::FieldLookup::Found(field_type) => current = field_type,
                    crate::language::api::FieldLookup::Missing { type_name, fields } => {
                        let (hint, detail) = closest_or_listed(key, &fields, "fields");
                        self.sink.report_detailed(
                            Code::UnknownApiField,
                            self.inner_span(path_span, 0, path.text.chars().count()),
                            format!("`{key}` is not a field of {type_name} (the payload of this rule's trigger)"),
                            Some(hint),
                            Some(detail),
                        );
                        return;
                    }
                    crate::language::api::FieldLookup::Unknown => return,
                },
                crate::language::scope::PathStep::Index => {
                    match current.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                        Some(item) => current = item.to_string(),
                        None => return,
                    }
                }
            }
        }
        let Some(values) = api.enum_values(&current) else {
            return;
        };
        let operands = [
            &spec.equals,
            &spec.not_equals,
            &spec.one_of,
            &spec.not_one_of,
        ];
        for operand in operands.into_iter().flatten() {
            let written: Vec<&str> = match &operand.value {
                Value::String(text) if !text.contains("{{") => vec![text.as_str()],
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|t| !t.contains("{{"))
                    .collect(),
                _ => continue,
            };
            for value in written {
                if values.iter().any(|v| v == value) {
                    continue;
                }
                let (hint, detail) = closest_or_listed(value, values, "values");
                self.sink.report_detailed(
                    Code::UnknownEnumValue,
                    operand.span,
                    format!("`{value}` is not a value of {current}"),
                    Some(hint),
                    Some(detail),
                );
            }
        }
    }

    /// Checks a literal body against the endpoint's body type: fields it does not have (W407),
    /// and literal values of the wrong JSON type (W408). Templated values are not checked.
    pub(super) fn lint_body(
        &mut self,
        method: crate::language::spec::MethodName,
        path: &PathTemplate,
        body: &Spanned<Value>,
    ) {
        let Some(api) = self.api else { return };
        let Some(endpoint) = api.endpoint_path(method, &path.shape()) else {
            return;
        };
        let Some(body_type) = api.body_type(method, endpoint) else {
            return;
        };
        let Value::Object(fields) = &body.value else {
            return;
        };
        for (key, value) in fields {
            let at = self.key_span(body.span, key);
            match api.field(body_type, key) {
                crate::language::api::FieldLookup::Missing { type_name, fields } => {
                    let (hint, detail) = closest_or_listed(key, &fields, "fields");
                    self.sink.report_detailed(
                        Code::UnknownBodyField,
                        at,
                        format!("the body field `{key}` is not a field of {type_name} (the body of {} {endpoint})", method.as_str()),
                        Some(hint),
                        Some(detail),
                    );
                }
                crate::language::api::FieldLookup::Found(field_type) => {
                    if let Some(expected) = wrong_json_type(api, &field_type, value) {
                        self.sink.report(
                            Code::BodyFieldType,
                            at,
                            format!(
                                "the body field `{key}` is {expected} in {body_type}, not `{}`",
                                crate::language::condition::short_json(value)
                            ),
                            Some(format!("write {expected}, e.g. {}", example_of(expected))),
                        );
                    } else if let Some(source_type) = self.data_expression_type(value)
                        && let Some(expected) = incompatible(api, &field_type, &source_type)
                    {
                        self.sink.report(
                            Code::BodyFieldType,
                            at,
                            format!(
                                "the body field `{key}` is {expected} in {body_type}, but `{}` gives {source_type}",
                                crate::language::condition::short_json(value)
                            ),
                            Some(format!("use a value that is {expected}")),
                        );
                    }
                }
                crate::language::api::FieldLookup::Unknown => {}
            }
        }
    }

    /// Where `key` is written in the body that starts at `body`: the body's value keeps no
    /// positions of its own, so the source is searched, from the body on, for the key followed by
    /// `:`. The body's position when it is not found (a key spelt with escapes, say).
    fn key_span(&self, body: Span, key: &str) -> Span {
        let len = u32::try_from(key.chars().count()).unwrap_or(1);
        for line_number in body.line..body.line.saturating_add(200) {
            let Some(line) = self.sink.line(line_number) else {
                break;
            };
            let start = if line_number == body.line {
                line.char_indices()
                    .nth(body.col.saturating_sub(1) as usize)
                    .map_or(line.len(), |(i, _)| i)
            } else {
                0
            };
            for (offset, _) in line[start..].match_indices(key) {
                let at = start + offset;
                let before = line[..at].chars().next_back();
                let after = line[at + key.len()..]
                    .trim_start_matches(['"', '\''])
                    .trim_start();
                let starts_key = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                if starts_key && after.starts_with(':') {
                    let col = u32::try_from(line[..at].chars().count() + 1).unwrap_or(1);
                    return Span::new(line_number, col, len);
                }
            }
        }
        body
    }

    /// Warns (W409) when two top-level conditions can never hold together.
    pub(super) fn lint_contradictions(
        &mut self,
        conditions: &[Condition],
        specs: &[Spanned<ConditionSpec>],
    ) {
        for (later, condition) in conditions.iter().enumerate() {
            for (earlier, other) in conditions[..later].iter().enumerate() {
                if let Some(why) = crate::language::condition::contradiction(other, condition) {
                    self.sink.report(
                        Code::NeverFires,
                        specs[later].span,
                        format!("this rule can never fire: {why}"),
                        Some(format!(
                            "see when[{earlier}] at line {}",
                            specs[earlier].span.line
                        )),
                    );
                    return;
                }
            }
        }
    }

    /// The API type of a body value written as exactly one `{{data.a.b}}` expression, followed
    /// through the rule's payload type (the one case where a template's type is knowable).
    pub(super) fn data_expression_type(&self, value: &Value) -> Option<String> {
        let api = self.api?;
        let text = value.as_str()?.trim();
        let inner = text.strip_prefix("{{")?.strip_suffix("}}")?.trim();
        let mut keys = inner.split('.');
        if keys.next()? != "data" {
            return None;
        }
        let mut current = self.data_type.clone()?;
        for key in keys {
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            match api.field(&current, key) {
                crate::language::api::FieldLookup::Found(field_type) => current = field_type,
                _ => return None,
            }
        }
        Some(current)
    }

    /// Warns about a trigger no event of the client's can match.
    pub(super) fn lint_trigger(&mut self, pattern: &UriPattern, span: Span) {
        let Some(api) = self.api else { return };
        if api.knows_events_for(pattern) {
            return;
        }
        let nearest = self
            .suggestions
            .find(&pattern.text, || api.nearest_to_pattern(pattern));
        let hint = did_you_mean(
            &nearest,
            "`lcu-rules endpoints <word>` lists the URIs the client has",
        );
        self.sink.report(
            Code::UnknownEventUri,
            self.inner_span(span, 0, pattern.text.chars().count()),
            format!(
                "no event the client is known to send matches `{}`",
                pattern.text
            ),
            Some(hint),
        );
    }

    /// Warns about a request to an endpoint the client does not have, or with a method it does
    /// not take.
    pub(super) fn lint_request(
        &mut self,
        method: crate::language::spec::MethodName,
        path: &PathTemplate,
        span: Span,
    ) {
        let Some(api) = self.api else { return };
        match api.check_request(method, &path.shape()) {
            crate::language::api::RequestCheck::Known => {}
            crate::language::api::RequestCheck::UnknownPath => {
                let shape = path.shape();
                let suggestions = self
                    .suggestions
                    .find(&path.source, || api.nearest_to_request(&shape));
                let hint = did_you_mean(
                    &suggestions,
                    "`lcu-rules endpoints <word>` lists the client's endpoints",
                );
                self.sink.report(
                    Code::UnknownEndpoint,
                    span,
                    format!("the client has no endpoint `{}`", path.source),
                    Some(hint),
                );
            }
            crate::language::api::RequestCheck::WrongMethod {
                path: known,
                allowed,
            } => self.sink.report(
                Code::MethodNotAllowed,
                span,
                format!("`{known}` does not take {}", method.as_str()),
                Some(format!("it takes {}", allowed.join(", "))),
            ),
        }
    }
}

/// How many different paths one load searches the API for "did you mean" answers: each search
/// compares the path with every endpoint the client has (about a millisecond), and a rule pack
/// of thousands of unknown URIs must not stall `check` or a reload. Past it, the hint is the
/// general one.
const MAX_SUGGESTION_SEARCHES: usize = 100;

/// The "did you mean" answers of one load, by the path written: a path written many times is
/// searched once.
#[derive(Default)]
pub(crate) struct Suggestions {
    found: HashMap<String, Vec<String>>,
}

impl Suggestions {
    /// The answer for `written`: found before, searched now by `search`, or none once
    /// [`MAX_SUGGESTION_SEARCHES`] paths have been searched.
    fn find(&mut self, written: &str, search: impl FnOnce() -> Vec<String>) -> Vec<String> {
        if let Some(found) = self.found.get(written) {
            return found.clone();
        }
        if self.found.len() >= MAX_SUGGESTION_SEARCHES {
            return Vec::new();
        }
        let found = search();
        self.found.insert(written.to_string(), found.clone());
        found
    }
}

/// What a literal value should have been, if it cannot be of `type_ref` (templates are never
/// judged: their type is known only when they run).
fn wrong_json_type(
    api: &crate::language::api::ApiIndex,
    type_ref: &str,
    value: &Value,
) -> Option<&'static str> {
    if matches!(value, Value::String(text) if text.contains("{{")) || value.is_null() {
        return None;
    }

    match type_ref {
        "integer" => (value.as_i64().is_none() && value.as_u64().is_none()).then_some("an integer"),
        "number" => (!value.is_number()).then_some("a number"),
        "string" => (!value.is_string()).then_some("a string"),
        "boolean" => (!value.is_boolean()).then_some("a boolean"),
        list if list.starts_with('[') => (!value.is_array()).then_some("a list"),
        "object" | "any" => None,
        name if api.enum_values(name).is_some() => (!value.is_string()).then_some("a string"),
        _ => (!value.is_object()).then_some("an object"),
    }
}

/// "did you mean `a` or `b`?", or `fallback` when there is nothing to suggest.
fn did_you_mean(suggestions: &[String], fallback: &str) -> String {
    if suggestions.is_empty() {
        return fallback.to_string();
    }
    let quoted: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
    format!("did you mean {}?", quoted.join(" or "))
}

/// An example literal of a JSON type named as [`wrong_json_type`] names it.
fn example_of(expected: &str) -> &'static str {
    match expected {
        "an integer" => "`42`",
        "a number" => "`1.5`",
        "a string" => "`\"text\"`",
        "a boolean" => "`true`",
        "a list" => "`[1, 2]`",
        _ => "`{key: value}`",
    }
}

/// Whether a value of API type `source` cannot go where `target` is expected; what was
/// expected, if so. Only clear mismatches between primitive kinds count.
fn incompatible(
    api: &crate::language::api::ApiIndex,
    target: &str,
    source: &str,
) -> Option<&'static str> {
    let kind = |t: &str| -> Option<&'static str> {
        Some(match t {
            "integer" => "an integer",
            "number" => "a number",
            "string" => "a string",
            "boolean" => "a boolean",
            list if list.starts_with('[') => "a list",
            name if api.enum_values(name).is_some() => "a string",
            _ => return None,
        })
    };
    let (want, have) = (kind(target)?, kind(source)?);
    let compatible = want == have || (want == "a number" && have == "an integer");
    (!compatible).then_some(want)
}
