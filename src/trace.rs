//! Traces: what the engine reports as it works (decisions, requests, logs, finished runs), for the
//! timeline of `test`, the log of the live service and, later, `explain`. Observers must not block.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::condition::Miss;
use crate::event::Event;
use crate::spec::MethodName;

/// Why a rule whose conditions held did not start a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Suppressed {
    /// `single` mode and a run is active.
    Busy,
    /// `queued` mode and the queue is full.
    QueueFull,
    /// `parallel` mode and `max` runs are active.
    MaxRuns,
    /// Within the cooldown; this much is left.
    Cooldown {
        /// Time left, in milliseconds.
        remaining_ms: u64,
    },
}

/// The outcome of evaluating a rule whose trigger matched an event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Verdict {
    /// A run started.
    Fired {
        /// The run's number.
        run: u64,
    },
    /// A run was queued behind the active one.
    Queued {
        /// The run's number.
        run: u64,
    },
    /// Conditions did not hold.
    Stopped {
        /// Where and why.
        miss: Miss,
    },
    /// Conditions held but the mode or cooldown held it back.
    Suppressed {
        /// Why.
        why: Suppressed,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every step ran.
    Completed,
    /// A step failed; later steps did not run.
    Failed {
        /// The step's index.
        step: usize,
        /// What went wrong.
        error: String,
    },
    /// The run was cancelled (restart mode, shutdown).
    Cancelled,
}

/// One thing the engine did.
#[derive(Debug, Clone, PartialEq)]
pub enum Trace {
    /// An event entered the engine.
    Event {
        /// Since the engine started.
        at: Duration,
        /// Its sequence number.
        seq: u64,
        /// The event.
        event: Arc<Event>,
    },
    /// A rule's trigger matched an event; this is what came of it.
    Decision {
        /// Since the engine started.
        at: Duration,
        /// The event's sequence number.
        seq: u64,
        /// The rule.
        rule: Arc<str>,
        /// The outcome.
        verdict: Verdict,
    },
    /// A run sent a request and got this.
    Request {
        /// When it was sent, since the engine started.
        at: Duration,
        /// The run.
        run: u64,
        /// The rule.
        rule: Arc<str>,
        /// Method.
        method: MethodName,
        /// Path as sent.
        path: String,
        /// Body as sent.
        body: Option<Value>,
        /// The status, or the error.
        result: Result<u16, String>,
        /// How long it took.
        elapsed: Duration,
        /// Which attempt (0 is the first).
        attempt: u32,
    },
    /// A `log` step.
    Log {
        /// Since the engine started.
        at: Duration,
        /// The run.
        run: u64,
        /// The rule.
        rule: Arc<str>,
        /// The rendered message.
        message: String,
    },
    /// A run ended.
    RunFinished {
        /// Since the engine started.
        at: Duration,
        /// The run.
        run: u64,
        /// The rule.
        rule: Arc<str>,
        /// How.
        outcome: RunOutcome,
    },
}

/// Receives traces. Called from the engine loop and from runs: it must return quickly.
pub trait Observer: Send + Sync + 'static {
    /// Takes one trace.
    fn observe(&self, trace: Trace);
}

/// An observer that drops everything.
pub struct Discard;

impl Observer for Discard {
    fn observe(&self, _trace: Trace) {}
}

/// An observer that writes each trace to `tracing` as one key/value line.
pub struct LogObserver;

impl Observer for LogObserver {
    fn observe(&self, trace: Trace) {
        match trace {
            Trace::Event { .. } => {}
            Trace::Decision { rule, verdict, .. } => match verdict {
                Verdict::Fired { run } => tracing::debug!(rule = %rule, run, "rule fired"),
                Verdict::Queued { run } => tracing::debug!(rule = %rule, run, "rule queued"),
                Verdict::Stopped { miss } => tracing::debug!(rule = %rule, %miss, "rule not fired"),
                Verdict::Suppressed { why } => {
                    tracing::info!(rule = %rule, ?why, "rule suppressed")
                }
            },
            Trace::Request {
                rule,
                run,
                method,
                path,
                result,
                elapsed,
                attempt,
                ..
            } => {
                // Display (`%`) rather than Debug: Debug escapes strings character by character.
                let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
                let method = method.as_str();
                match (result, attempt) {
                    (Ok(status), 0) => {
                        tracing::info!(rule = %rule, run, method, path = %path, status, elapsed_ms, "request")
                    }
                    (Ok(status), _) => {
                        tracing::info!(rule = %rule, run, method, path = %path, status, elapsed_ms, attempt, "request retried")
                    }
                    (Err(error), _) => {
                        tracing::warn!(rule = %rule, run, method, path = %path, %error, elapsed_ms, attempt, "request failed")
                    }
                }
            }
            Trace::Log {
                rule, run, message, ..
            } => tracing::info!(rule = %rule, run, "{message}"),
            Trace::RunFinished {
                rule, run, outcome, ..
            } => match outcome {
                RunOutcome::Failed { step, error } => {
                    tracing::warn!(rule = %rule, run, step, %error, "run failed")
                }
                other => tracing::debug!(rule = %rule, run, ?other, "run finished"),
            },
        }
    }
}
