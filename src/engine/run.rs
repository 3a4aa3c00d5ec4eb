//! One run of a rule: its steps in order, each request rendered, sent through the port with a
//! timeout, checked against the expected status and retried with backoff. A run never panics on
//! what the client answers; a failed step ends the run with an error that names the step.

use std::sync::Arc;
use std::time::Duration;

use handlebars::Handlebars;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::engine::guard::{Chain, WriteLog};
use crate::engine::port::{ClientPort, HttpRequest, HttpResponse};
use crate::engine::trace::{Observer, RunOutcome, Trace};
use crate::event::Event;
use crate::language::rule::{DelayStep, Firing, RequestStep, Rule, Step};
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
        let mut saved: Map<String, Value> = Map::new();
        let rule = self.rule.clone();
        for (index, step) in rule.steps.iter().enumerate() {
            let result = match step {
                Step::Delay(delay) => self.wait(delay, index, &saved).await,
                Step::Log(template) => self.log(template, &saved).map_err(StepEnd::from),
                Step::Request(request) => self
                    .request(request, &mut saved)
                    .await
                    .map_err(StepEnd::from),
            };
            match result {
                Ok(()) => {}
                Err(StepEnd::Failed(error)) => return RunOutcome::Failed { step: index, error },
                Err(StepEnd::Abandoned(reason)) => return RunOutcome::Abandoned { reason },
            }
        }
        RunOutcome::Completed
    }

    /// A delay; with `while` conditions, every newer event on the triggering URI is checked
    /// against them as it arrives, and the first that breaks one ends the run.
    async fn wait(
        &mut self,
        delay: &DelayStep,
        index: usize,
        saved: &Map<String, Value>,
    ) -> Result<(), StepEnd> {
        let wait = delay
            .duration
            .resolve(&self.scope(saved), &self.registry)
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
                if let Err(reason) = self.still_holds(delay, &latest, index) {
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

    fn still_holds(&self, delay: &DelayStep, event: &Event, index: usize) -> Result<(), String> {
        let scope = Scope {
            event,
            params: &self.firing.params,
            bindings: &self.firing.bindings,
            binding_names: &self.rule.binding_names,
            steps: None,
            item: None,
            vars: Some(&self.vars),
        };
        for condition in &delay.hold {
            if let Err(miss) = condition.check(&scope, &self.registry) {
                return Err(format!(
                    "step {} (delay): {} event on {}: {miss}",
                    index + 1,
                    event.event_type.as_str(),
                    event.uri
                ));
            }
        }
        Ok(())
    }

    fn scope<'a>(&'a self, saved: &'a Map<String, Value>) -> Scope<'a> {
        Scope {
            event: &self.event,
            params: &self.firing.params,
            bindings: &self.firing.bindings,
            binding_names: &self.rule.binding_names,
            steps: Some(saved),
            item: None,
            vars: Some(&self.vars),
        }
    }

    fn log(
        &self,
        template: &crate::language::template::Template,
        saved: &Map<String, Value>,
    ) -> Result<(), String> {
        let message = template
            .render_string(&self.scope(saved), &self.registry)
            .map_err(|e| e.to_string())?;
        self.observer.observe(Trace::Log {
            at: self.epoch.elapsed(),
            run: self.run,
            rule: self.rule_id.clone(),
            message,
        });
        Ok(())
    }

    fn render(
        &self,
        step: &RequestStep,
        saved: &Map<String, Value>,
    ) -> Result<HttpRequest, String> {
        render_request(step, &self.scope(saved), &self.registry, &self.rule_id)
            .map_err(|e| e.to_string())
    }

    async fn request(
        &mut self,
        step: &RequestStep,
        saved: &mut Map<String, Value>,
    ) -> Result<(), String> {
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
                        saved.insert(name.clone(), Value::Object(entry));
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
