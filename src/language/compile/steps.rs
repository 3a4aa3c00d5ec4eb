//! The steps of a rule: requests (method, path, query, body, retries), delays with their
//! `while`, and durations. Each mistake becomes a diagnostic and compiling goes on.

use super::*;

impl RuleCompiler<'_, '_> {
    pub(super) fn steps(
        &mut self,
        specs: &[Spanned<StepSpec>],
        roots: &RootRules<'_>,
    ) -> Vec<Step> {
        let mut saved: Vec<String> = roots.steps.to_vec();
        self.block(specs, roots, &mut saved)
    }

    /// Compiles a list of steps; `saved` holds the names saved so far and gains this list's
    /// (a name saved inside a branch or a loop is visible after it, possibly missing).
    fn block(
        &mut self,
        specs: &[Spanned<StepSpec>],
        roots: &RootRules<'_>,
        saved: &mut Vec<String>,
    ) -> Vec<Step> {
        let mut steps = Vec::new();
        for spec in specs {
            let visible = saved.clone();
            let step_roots = RootRules {
                steps: &visible,
                ..*roots
            };
            let step = match &spec.value {
                StepSpec::Delay(delay) => self.delay(delay, roots, saved).map(Step::Delay),
                StepSpec::Cancel(rule) => Some(Step::Cancel(Box::new(CancelStep {
                    rule: rule.value.clone(),
                    unknown: Box::new(self.sink.make(
                        Code::InvalidValue,
                        rule.span,
                        format!("`cancel: {}` names no rule", rule.value),
                        None,
                    )),
                }))),
                StepSpec::Log(text) => self
                    .template(&text.value, text.span, &step_roots)
                    .map(Step::Log),
                StepSpec::Request(request) => self
                    .request(request, &step_roots)
                    .map(|r| Step::Request(Box::new(r))),
                StepSpec::Set(set) => self.set(set, &step_roots).map(|s| Step::Set(Box::new(s))),
                StepSpec::If(branch) => self
                    .branch(branch, &step_roots, saved)
                    .map(|b| Step::If(Box::new(b))),
                StepSpec::ForEach(each) => self
                    .for_each(each, &step_roots, saved)
                    .map(|e| Step::ForEach(Box::new(e))),
            };
            if let StepSpec::Request(request) = &spec.value
                && let Some(name) = &request.fields.save_as
            {
                if !is_identifier(&name.value) {
                    self.sink.report(
                        Code::InvalidRequest,
                        name.span,
                        format!(
                            "`save_as: {}` must be a plain name (letters, digits, `_`)",
                            name.value
                        ),
                        None,
                    );
                }
                saved.push(name.value.clone());
            }
            steps.extend(step);
        }
        steps
    }

    fn branch(
        &mut self,
        spec: &Spanned<IfSpec>,
        roots: &RootRules<'_>,
        saved: &mut Vec<String>,
    ) -> Option<IfStep> {
        let written = &spec.conditions.0;
        let conditions: Vec<Condition> = written
            .iter()
            .enumerate()
            .filter_map(|(i, c)| self.condition(c, format!("if[{i}]"), roots))
            .collect();
        if spec.then.is_empty() {
            self.sink.report(
                Code::InvalidValue,
                spec.span,
                "an `if` step with no steps under `then`",
                Some("list the steps to run when the conditions hold under `then:`".into()),
            );
        }
        let then = self.block(&spec.then, roots, saved);
        let otherwise = self.block(&spec.otherwise, roots, saved);
        let complete = conditions.len() == written.len()
            && then.len() == spec.then.len()
            && otherwise.len() == spec.otherwise.len();
        complete.then_some(IfStep {
            conditions,
            then,
            otherwise,
        })
    }

    fn for_each(
        &mut self,
        spec: &Spanned<ForEachSpec>,
        roots: &RootRules<'_>,
        saved: &mut Vec<String>,
    ) -> Option<ForEachStep> {
        let items = self.path(&spec.for_each.value, spec.for_each.span, roots);
        let name = &spec.name;
        let named = is_identifier(&name.value)
            && !BUILTIN_ROOTS.contains(&name.value.as_str())
            && name.value != "this";
        if !named {
            self.sink.report(
                Code::InvalidBinding,
                name.span,
                format!("`as: {}` cannot name the loop's value", name.value),
                Some("use letters, digits and `_`, and not a built-in name like `data`".into()),
            );
        }
        let max = match &spec.max {
            Some(max) if max.value == 0 || max.value > FOR_EACH_MAX => {
                self.sink.report(
                    Code::InvalidValue,
                    max.span,
                    format!("`max: {}` is out of range", max.value),
                    Some(format!("a loop runs 1 to {FOR_EACH_MAX} times")),
                );
                None
            }
            Some(max) => Some(max.value),
            None => Some(FOR_EACH_DEFAULT_MAX),
        };
        if spec.steps.is_empty() {
            self.sink.report(
                Code::InvalidValue,
                spec.span,
                "a `for_each` step with no steps under `do`",
                None,
            );
        }
        let mut names = roots.bindings.to_vec();
        names.push(name.value.clone());
        let inner = RootRules {
            bindings: &names,
            ..*roots
        };
        let steps = self.block(&spec.steps, &inner, saved);
        let complete = named && steps.len() == spec.steps.len();
        Some(ForEachStep {
            items: items?,
            name: name.value.clone(),
            max: max? as usize,
            steps,
        })
        .filter(|_| complete)
    }

    fn set(&mut self, spec: &Spanned<SetSpec>, roots: &RootRules<'_>) -> Option<SetStep> {
        let spec: &SetSpec = &spec.value;
        let name = &spec.name;
        let named = is_identifier(&name.value);
        if !named {
            self.sink.report(
                Code::InvalidValue,
                name.span,
                format!(
                    "`name: {}` must be a plain name (letters, digits, `_`)",
                    name.value
                ),
                None,
            );
        }
        let value = match BodyTemplate::compile(&spec.value.value, self.templates, roots) {
            Ok(value) => Some(value),
            Err(error) => {
                let code = if error.unknown_variable {
                    Code::UnknownVariable
                } else {
                    Code::InvalidTemplate
                };
                self.sink.report(code, spec.value.span, error.message, None);
                None
            }
        };
        let expires = match &spec.expires {
            Some(text) => Some(self.duration(text)?),
            None => None,
        };
        Some(SetStep {
            name: name.value.clone(),
            value: value?,
            scope: spec.scope,
            expires,
        })
        .filter(|_| named)
    }

    pub(super) fn request(
        &mut self,
        spec: &Spanned<RequestSpec>,
        roots: &RootRules<'_>,
    ) -> Option<RequestStep> {
        let fields = &spec.fields;
        let path_span = if spec.short {
            let method_len = fields.method.value.as_str().len() + 1;
            self.inner_span(spec.span, method_len, fields.path.value.chars().count())
        } else {
            fields.path.span
        };
        let path = match PathTemplate::compile(&fields.path.value, self.templates, roots) {
            Ok(path) => {
                if let Some(body) = &fields.body {
                    self.lint_body(fields.method.value, &path, body);
                }
                let lint_span = if spec.short {
                    path_span
                } else {
                    self.inner_span(path_span, 0, fields.path.value.chars().count())
                };
                self.lint_request(fields.method.value, &path, lint_span);
                Some(path)
            }
            Err(error) => {
                let code = if error.unknown_variable {
                    Code::UnknownVariable
                } else {
                    Code::InvalidRequest
                };
                let span = if spec.short {
                    path_span
                } else {
                    self.inner_span(path_span, 0, fields.path.value.chars().count())
                };
                self.sink.report(code, span, error.message, None);
                None
            }
        };
        let query: Vec<(String, Template)> = fields
            .query
            .iter()
            .filter_map(|(key, value)| {
                Some((key.clone(), self.template(&value.value, value.span, roots)?))
            })
            .collect();
        let body = match &fields.body {
            None => None,
            Some(body) => match BodyTemplate::compile(&body.value, self.templates, roots) {
                Ok(compiled) => Some(compiled),
                Err(error) => {
                    let code = if error.unknown_variable {
                        Code::UnknownVariable
                    } else {
                        Code::InvalidTemplate
                    };
                    self.sink.report(code, body.span, error.message, None);
                    return None;
                }
            },
        };
        if body.is_some() && fields.method.value == crate::language::spec::MethodName::GET {
            self.sink.report(
                Code::IneffectiveSetting,
                fields.method.span,
                "a GET request with a body: the client ignores it",
                None,
            );
        }
        let timeout = fields
            .timeout
            .as_ref()
            .map_or(Some(DEFAULT_TIMEOUT), |t| self.duration(t));
        let backoff = fields
            .backoff
            .as_ref()
            .map_or(Some(DEFAULT_BACKOFF), |t| self.duration(t));
        if query.len() != fields.query.len() {
            return None;
        }
        Some(RequestStep {
            method: fields.method.value,
            path: path?,
            query,
            body,
            timeout: timeout?,
            expect_status: fields.expect_status.as_ref().map(|s| s.0.clone()),
            retries: fields.retries,
            backoff: backoff?,
            save_as: fields.save_as.as_ref().map(|s| s.value.clone()),
        })
    }

    pub(super) fn duration(&mut self, text: &Spanned<String>) -> Option<Duration> {
        match parse_duration(&text.value) {
            Ok(duration) => Some(duration),
            Err(message) => {
                self.sink.report(
                    Code::InvalidDuration,
                    text.span,
                    message,
                    Some("durations look like `250ms`, `2s`, `1.5s`, `1m`".into()),
                );
                None
            }
        }
    }

    pub(super) fn delay(
        &mut self,
        spec: &Spanned<DelaySpec>,
        roots: &RootRules<'_>,
        saved: &mut Vec<String>,
    ) -> Option<DelayStep> {
        let fields = &spec.value.fields;
        let text = Spanned::new(
            or_outer(fields.duration.span, spec.span),
            fields.duration.value.clone(),
        );
        let duration = if text.value.contains("{{") {
            self.template(&text.value, text.span, roots)
                .map(crate::language::rule::Wait::Computed)
        } else {
            self.duration(&text).map(crate::language::rule::Wait::Fixed)
        };
        let hold: Vec<Condition> = fields
            .hold
            .iter()
            .enumerate()
            .filter_map(|(i, c)| self.condition(c, format!("while[{i}]"), roots))
            .collect();
        if !fields.otherwise.is_empty() && fields.hold.is_empty() {
            self.sink.report(
                Code::IneffectiveSetting,
                spec.span,
                "a delay's `else` runs only when a `while` condition breaks, and this delay has none",
                Some("add `while:` conditions, or move the steps after the delay".into()),
            );
        }
        let visible = saved.clone();
        let else_roots = RootRules {
            steps: &visible,
            ..*roots
        };
        let otherwise = self.block(&fields.otherwise, &else_roots, saved);
        let complete = hold.len() == fields.hold.len() && otherwise.len() == fields.otherwise.len();
        Some(DelayStep {
            duration: duration?,
            hold,
            otherwise,
        })
        .filter(|_| complete)
    }
}
