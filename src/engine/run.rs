//! One run of a rule: its steps in order, each request rendered, sent through the port with a
//! timeout, checked against the expected status and retried with backoff; `if` branches,
//! `for_each` loops and `set` steps reported as flow traces. A run never panics on what the
//! client answers; a failed step ends the run with an error that names the step.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use handlebars::Handlebars;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::engine::guard::{Chain, WriteLog};
use crate::engine::port::{ClientPort, HttpRequest, HttpResponse};
use crate::engine::trace::{Observer, RunOutcome, Trace};
use crate::event::Event;
use crate::language::condition::short_json;
use crate::language::memory::{MAX_STATE_VALUE_BYTES, Memory};
use crate::language::rule::{
    DelayStep, Firing, ForEachStep, IfStep, RequestStep, Rule, SetStep, Step,
};
use crate::language::scope::Scope;
use crate::language::template::RenderError;

/// Everything a run needs; owned, so the run can live on its own task.
pub(crate) struct RunContext {
    /// The rule.
    pub rule: Arc<Rule>,
    /// The rule's id, shared.
    pub rule_id: Arc<str>,
    /// The triggering event.
    pub event: Arc<Event>,
    /// Captures and named values.
    pub firing: Firing,
    /// Templates.
    pub registry: Arc<Handlebars<'static>>,
    /// Where requests go.
    pub port: Arc<dyn ClientPort>,
    /// Where traces go.
    pub observer: Arc<dyn Observer>,
    /// The run's number.
    pub run: u64,
    /// When the engine started (trace times are relative to it).
    pub epoch: Instant,
    /// The rules (by index) whose writes led to this run, this rule last.
    pub chain: Chain,
    /// Where the run records its writes (for echo and loop detection).
    pub writes: Arc<WriteLog>,
    /// Newer events on the triggering URI, for delays with `while` conditions.
    pub updates: Option<tokio::sync::watch::Receiver<Arc<Event>>>,
    /// Room taken for the first request before the run started, if any.
    pub reservation: Option<crate::engine::port::Reservation>,
    /// The event that broke a `while` and gave the run up: the engine offers it to the rule
    /// again, since it was held back while this run was active.
    pub broken_by: Option<Arc<Event>>,
    /// The rule set's `vars`.
    pub vars: Arc<Value>,
    /// What the engine remembers, shared with it and every run.
    pub memory: Arc<Mutex<Memory>>,
    /// Inside a loop: the rule's named values' names and the loop values' (parallel to
    /// `firing.bindings`); empty outside loops, where the rule's own names serve.
    pub loop_names: Vec<String>,
    /// Where `cancel` steps ask the engine to give up another rule's runs.
    pub cancels: tokio::sync::mpsc::UnboundedSender<CancelAsked>,
    /// Where `forever` values are written, if anywhere.
    pub state_file: Option<Arc<std::path::Path>>,
}

/// A `cancel` step's request to the engine.
#[derive(Debug)]
pub(crate) struct CancelAsked {
    /// The rule whose runs are given up.
    pub rule: String,
    /// What they report.
    pub reason: String,
}

/// A run's nested steps, boxed: a step list holds steps that hold step lists.
type Block<'s> = Pin<Box<dyn Future<Output = Result<(), StepEnd>> + Send + 's>>;

/// Locks the memory; a run that panicked while holding it left nothing half-written that
/// matters more than going on (every write is one map operation).
pub(crate) fn lock(memory: &Mutex<Memory>) -> std::sync::MutexGuard<'_, Memory> {
    memory
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a step ended the run early.
enum StepEnd {
    /// It failed.
    Failed(String),
    /// A `while` condition stopped holding.
    Abandoned(String),
}

impl From<String> for StepEnd {
    fn from(error: String) -> StepEnd {
        StepEnd::Failed(error)
    }
}

impl RunContext {
    /// Runs every step in order.
    pub(crate) async fn execute(&mut self) -> RunOutcome {
        let mut saved = Value::Object(Map::new());
        let rule = self.rule.clone();
        self.trace_reads();
        for (index, step) in rule.steps.iter().enumerate() {
            let label = (index + 1).to_string();
            match self.step(step, &label, &mut saved).await {
                Ok(()) => {}
                Err(StepEnd::Failed(error)) => return RunOutcome::Failed { step: index, error },
                Err(StepEnd::Abandoned(reason)) => return RunOutcome::Abandoned { reason },
            }
        }
        RunOutcome::Completed
    }

    /// Says which other URIs' latest payloads the run started from (`let ... uri:`), for
    /// `explain`: what the rule read besides its event.
    fn trace_reads(&self) {
        let rule = self.rule.clone();
        for (binding, value) in rule.bindings.iter().zip(&self.firing.bindings) {
            if let crate::language::condition::Source::Latest(uri) = &binding.source {
                self.flow(format!(
                    "read {} from {uri}: {}",
                    binding.name,
                    short_json(value)
                ));
            }
        }
    }

    /// Runs one step; `label` says where it is (`2`, `2.then.1`), for errors and traces.
    async fn step(&mut self, step: &Step, label: &str, saved: &mut Value) -> Result<(), StepEnd> {
        match step {
            Step::Delay(delay) => match self.wait(delay, label, saved).await {
                Err(StepEnd::Abandoned(reason)) if !delay.otherwise.is_empty() => {
                    self.flow(format!("{reason}: running its `else` steps"));
                    // The `else` steps read the event that broke the `while` as `data`.
                    let triggering = match self.broken_by.clone() {
                        Some(breaking) => std::mem::replace(&mut self.event, breaking),
                        None => self.event.clone(),
                    };
                    let done = self
                        .block(&delay.otherwise, format!("{label}.else."), saved)
                        .await;
                    self.event = triggering;
                    done?;
                    Err(StepEnd::Abandoned(reason))
                }
                other => other,
            },
            Step::Cancel(cancel) => {
                self.flow(format!(
                    "step {label} (cancel): giving up the runs of {}",
                    cancel.rule
                ));
                let _ = self.cancels.send(CancelAsked {
                    rule: cancel.rule.clone(),
                    reason: format!("cancelled by {}'s step {label}", self.rule_id),
                });
                Ok(())
            }
            Step::Log(template) => self.log(template, saved).map_err(StepEnd::from),
            Step::Request(request) => self.request(request, saved).await.map_err(StepEnd::from),
            Step::Set(set) => self.set(set, label, saved).map_err(StepEnd::from),
            Step::If(branch) => {
                let (name, steps) = self.choose(branch, label, saved);
                self.block(steps, format!("{label}.{name}."), saved).await
            }
            Step::ForEach(each) => self.repeat(each, label, saved).await,
        }
    }

    /// Runs a nested list of steps, labelled `prefix` and their number.
    fn block<'s>(
        &'s mut self,
        steps: &'s [Step],
        prefix: String,
        saved: &'s mut Value,
    ) -> Block<'s> {
        Box::pin(async move {
            for (index, step) in steps.iter().enumerate() {
                self.step(step, &format!("{prefix}{}", index + 1), saved)
                    .await?;
            }
            Ok(())
        })
    }

    /// Which branch of an `if` runs, traced with why.
    fn choose<'s>(
        &self,
        branch: &'s IfStep,
        label: &str,
        saved: &Value,
    ) -> (&'static str, &'s [Step]) {
        let miss = self.with_scope(saved, |scope| {
            branch
                .conditions
                .iter()
                .find_map(|c| c.check(scope, &self.registry).err())
        });
        let (name, steps, why) = match miss {
            None => ("then", &branch.then, "every condition held".to_string()),
            Some(miss) => ("else", &branch.otherwise, miss.to_string()),
        };
        let runs = if steps.is_empty() { " (no steps)" } else { "" };
        self.flow(format!("step {label} (if): {name}{runs}: {why}"));
        (name, steps)
    }

    /// A `for_each`: the steps once per selected value, the value bound to the loop's name.
    async fn repeat(
        &mut self,
        each: &ForEachStep,
        label: &str,
        saved: &mut Value,
    ) -> Result<(), StepEnd> {
        let mut items = self.with_scope(saved, |scope| {
            let selected = each.items.select(scope);
            match selected.as_slice() {
                [one] if one.is_array() => one.as_array().cloned().unwrap_or_default(),
                _ => selected
                    .into_iter()
                    .map(std::borrow::Cow::into_owned)
                    .collect(),
            }
        });
        let total = items.len();
        items.truncate(each.max);
        let left_out = if total > each.max {
            format!(" ({} left out: max {})", total - each.max, each.max)
        } else {
            String::new()
        };
        self.flow(format!(
            "step {label} (for_each): {} value(s) of `{}`{left_out}",
            items.len(),
            each.items.text
        ));
        if self.loop_names.is_empty() {
            self.loop_names = self.rule.binding_names.clone();
        }
        let count = items.len();
        for (index, item) in items.into_iter().enumerate() {
            self.flow(format!(
                "step {label} (for_each) {} of {count}: {} = {}",
                index + 1,
                each.name,
                short_json(&item)
            ));
            self.firing.bindings.push(item);
            self.loop_names.push(each.name.clone());
            let done = self
                .block(&each.steps, format!("{label}.do[{}].", index + 1), saved)
                .await;
            self.firing.bindings.pop();
            self.loop_names.pop();
            done?;
        }
        Ok(())
    }

    /// A `set`: the value rendered and remembered.
    fn set(&self, set: &SetStep, label: &str, saved: &Value) -> Result<(), String> {
        let value = self
            .with_scope(saved, |scope| set.value.render(scope, &self.registry))
            .map_err(|e| format!("step {label} (set): {e}"))?;
        let size = serde_json::to_vec(&value).map_or(usize::MAX, |bytes| bytes.len());
        if size > MAX_STATE_VALUE_BYTES {
            return Err(format!(
                "step {label} (set): the value of `{}` takes {size} bytes, more than the {MAX_STATE_VALUE_BYTES} a remembered value may",
                set.name
            ));
        }
        let forgets = value.is_null();
        let shown = short_json(&value);
        let expires = crate::language::memory::expiry(Instant::now(), set.expires);
        let dropped = {
            let mut memory = lock(&self.memory);
            let was_lasting = memory.is_lasting(&set.name);
            let dropped = memory.set(&set.name, value, set.scope, expires);
            if let Some(path) = &self.state_file
                && (set.scope == crate::language::spec::StateScope::Forever || was_lasting)
            {
                crate::engine::state_file::save(path, &memory);
            }
            dropped
        };
        let scope = serde_json::to_value(set.scope)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let lasting = set
            .expires
            .map(|d| format!(", for {}", crate::event::duration::human(d)))
            .unwrap_or_default();
        let dropped = dropped
            .map(|name| format!("; forgot `{name}`, the oldest, to make room"))
            .unwrap_or_default();
        self.flow(if forgets {
            format!("step {label} (set): state.{} forgotten", set.name)
        } else {
            format!(
                "step {label} (set): state.{} = {shown} ({scope}{lasting}){dropped}",
                set.name
            )
        });
        Ok(())
    }

    fn flow(&self, text: String) {
        self.observer.observe(Trace::Flow {
            at: self.epoch.elapsed(),
            run: self.run,
            rule: self.rule_id.clone(),
            text,
        });
    }

    /// A delay; with `while` conditions, every newer event on the triggering URI is checked
    /// against them as it arrives, and the first that breaks one ends the run.
    async fn wait(&mut self, delay: &DelayStep, label: &str, saved: &Value) -> Result<(), StepEnd> {
        let wait = self
            .with_scope(saved, |scope| delay.duration.resolve(scope, &self.registry))
            .map_err(StepEnd::Failed)?;
        let deadline = deadline_after(Instant::now(), wait);
        let Some(mut updates) = self.updates.take().filter(|_| !delay.hold.is_empty()) else {
            tokio::time::sleep_until(deadline).await;
            return Ok(());
        };
        // `changed()` marks what it reports as seen, so the check follows it directly; the
        // first check covers events that arrived before the delay began.
        let mut unseen = updates.has_changed().unwrap_or(false);
        let outcome = loop {
            if unseen {
                let latest = updates.borrow_and_update().clone();
                if let Err(reason) = self.still_holds(delay, &latest, label) {
                    self.broken_by = Some(latest);
                    break Err(StepEnd::Abandoned(reason));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break Ok(()),
                changed = updates.changed() => match changed {
                    Ok(()) => unseen = true,
                    Err(_) => {
                        tokio::time::sleep_until(deadline).await;
                        break Ok(());
                    }
                },
            }
        };
        self.updates = Some(updates);
        outcome
    }

    fn still_holds(&self, delay: &DelayStep, event: &Event, label: &str) -> Result<(), String> {
        let memory = lock(&self.memory);
        let scope = Scope {
            event,
            params: &self.firing.params,
            bindings: &self.firing.bindings,
            binding_names: self.names(),
            steps: None,
            item: None,
            vars: Some(&self.vars),
            memory: Some(&memory),
        };
        for condition in &delay.hold {
            if let Err(miss) = condition.check(&scope, &self.registry) {
                return Err(format!(
                    "step {label} (delay): {} event on {}: {miss}",
                    event.event_type.as_str(),
                    event.uri
                ));
            }
        }
        Ok(())
    }

    /// The names of the values in `firing.bindings`.
    fn names(&self) -> &[String] {
        if self.loop_names.is_empty() {
            &self.rule.binding_names
        } else {
            &self.loop_names
        }
    }

    /// Calls `f` with what the run sees now (the memory locked meanwhile: `f` must not wait).
    fn with_scope<R>(&self, saved: &Value, f: impl FnOnce(&Scope<'_>) -> R) -> R {
        let mut memory = lock(&self.memory);
        memory.forget_expired();
        f(&Scope {
            event: &self.event,
            params: &self.firing.params,
            bindings: &self.firing.bindings,
            binding_names: self.names(),
            steps: Some(saved),
            item: None,
            vars: Some(&self.vars),
            memory: Some(&memory),
        })
    }

    fn log(
        &self,
        template: &crate::language::template::Template,
        saved: &Value,
    ) -> Result<(), String> {
        let message = self
            .with_scope(saved, |scope| template.render_string(scope, &self.registry))
            .map_err(|e| e.to_string())?;
        self.observer.observe(Trace::Log {
            at: self.epoch.elapsed(),
            run: self.run,
            rule: self.rule_id.clone(),
            message,
        });
        Ok(())
    }

    fn render(&self, step: &RequestStep, saved: &Value) -> Result<HttpRequest, String> {
        self.with_scope(saved, |scope| {
            render_request(step, scope, &self.registry, &self.rule_id)
        })
        .map_err(|e| e.to_string())
    }

    async fn request(&mut self, step: &RequestStep, saved: &mut Value) -> Result<(), String> {
        let request = self.render(step, saved)?;
        // One clock reading per attempt sets its start, its timeout and its trace time.
        let mut started = Instant::now();
        if request.method != crate::language::spec::MethodName::GET {
            // Recorded before sending: the client can publish the change before it answers.
            self.writes
                .record(&request.path, self.chain.clone(), started);
        }
        let mut attempt = 0;
        loop {
            let sending = match self.reservation.take() {
                Some(room) => self.port.send_reserved(request.clone(), room),
                None => self.port.send(request.clone()),
            };
            let deadline = deadline_after(started, step.timeout);
            let answer = match tokio::time::timeout_at(deadline, sending).await {
                Ok(Ok(response)) => check_status(step, response),
                Ok(Err(error)) => Err((None, error.to_string())),
                Err(_) => Err((
                    None,
                    format!(
                        "no answer within {}",
                        crate::event::duration::human(step.timeout)
                    ),
                )),
            };
            self.observer.observe(Trace::Request {
                at: started.saturating_duration_since(self.epoch),
                run: self.run,
                rule: self.rule_id.clone(),
                method: request.method,
                path: request.path.clone(),
                body: request.body.clone(),
                result: match &answer {
                    Ok(response) => Ok(response.status),
                    Err((Some(status), _)) => Ok(*status),
                    Err((None, error)) => Err(error.clone()),
                },
                elapsed: started.elapsed(),
                attempt,
            });
            match answer {
                Ok(response) => {
                    if let Some(name) = &step.save_as {
                        let mut entry = Map::new();
                        entry.insert("status".into(), Value::from(response.status));
                        entry.insert("body".into(), response.body);
                        if let Value::Object(saved) = saved {
                            saved.insert(name.clone(), Value::Object(entry));
                        }
                    }
                    return Ok(());
                }
                Err((_, error)) if attempt >= step.retries => {
                    return Err(format!(
                        "{} {}: {error}",
                        request.method.as_str(),
                        request.path
                    ));
                }
                Err(_) => {
                    tokio::time::sleep(step.backoff.saturating_mul(1 << attempt.min(16))).await;
                    attempt += 1;
                    started = Instant::now();
                }
            }
        }
    }
}

/// Renders a request step against a scope: the path segment by segment, the query, the body.
pub fn render_request(
    step: &RequestStep,
    scope: &Scope<'_>,
    registry: &Handlebars<'_>,
    rule: &Arc<str>,
) -> Result<HttpRequest, RenderError> {
    let mut path = step.path.render(scope, registry)?;
    if !step.query.is_empty() {
        let mut query = String::new();
        for (key, template) in &step.query {
            let value = template.render_string(scope, registry)?;
            if !query.is_empty() {
                query.push('&');
            }
            query.extend(percent_encoding::utf8_percent_encode(key, QUERY));
            query.push('=');
            query.extend(percent_encoding::utf8_percent_encode(&value, QUERY));
        }
        path.push('?');
        path.push_str(&query);
    }
    let body = match &step.body {
        Some(body) => Some(body.render(scope, registry)?),
        None => None,
    };
    Ok(HttpRequest {
        rule: rule.clone(),
        method: step.method,
        path,
        body,
    })
}

/// Characters encoded in query keys and values.
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

type Answer = Result<HttpResponse, (Option<u16>, String)>;

fn check_status(step: &RequestStep, response: HttpResponse) -> Answer {
    let accepted = match &step.expect_status {
        Some(statuses) => statuses.contains(&response.status),
        None => (200..300).contains(&response.status),
    };
    if accepted {
        Ok(response)
    } else {
        let detail = match &response.body {
            Value::Object(map) => map
                .get("message")
                .and_then(Value::as_str)
                .map(|m| format!(": {m}"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        Err((
            Some(response.status),
            format!("unexpected status {}{detail}", response.status),
        ))
    }
}

/// `after` from `from`, or a moment decades away when that is past what an instant can hold (a
/// rule may ask for an absurd delay or timeout; adding it would panic).
pub(crate) fn deadline_after(from: Instant, after: Duration) -> Instant {
    from.checked_add(after)
        .or_else(|| from.checked_add(FAR_FUTURE))
        .unwrap_or(from)
}

/// What [`deadline_after`] waits for instead of an unrepresentable moment: thirty years.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    /// A delay or timeout too long for an instant waits decades instead of panicking; an
    /// ordinary one is exact.
    #[test]
    fn deadlines_past_what_an_instant_holds_saturate() {
        let now = Instant::now();
        assert_eq!(
            deadline_after(now, Duration::from_millis(1500)),
            now + Duration::from_millis(1500)
        );
        for absurd in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
            let deadline = deadline_after(now, absurd);
            assert!(deadline >= now + Duration::from_secs(29 * 365 * 24 * 3600));
        }
    }
}
