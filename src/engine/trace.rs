//! Traces: what the engine reports as it works (decisions, requests, logs, finished runs), for the
//! timeline of `test`, the log of the live service and, later, `explain`. Observers must not block.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::event::Event;
use crate::language::condition::Miss;
use crate::language::spec::MethodName;

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
    /// Throttled: it fired for this key less than a window ago.
    Throttled {
        /// The key, when the throttle is per key.
        key: Option<String>,
        /// Time left, in milliseconds.
        remaining_ms: u64,
    },
    /// Outside the gameflow phases the rule is scoped to.
    Phase {
        /// The current phase, if known.
        phase: Option<String>,
    },
    /// The event is the client's echo of this rule's own write.
    Echo,
    /// The event came from a chain of rules triggering each other this deep.
    Depth {
        /// The rules of the chain, oldest first.
        chain: Vec<String>,
    },
    /// The rule's circuit breaker is open: it fired too often.
    Breaker {
        /// Whether this very firing tripped it.
        tripped_now: bool,
    },
    /// Too many keys are waiting on the rule's debounce.
    TooManyKeys,
    /// Every rule is paused.
    Paused,
    /// The rule was switched off while the service runs.
    SwitchedOff,
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
    /// Conditions held; the run starts once the trigger is quiet for the debounce window.
    Debounced {
        /// The key, when the debounce is per key.
        key: Option<String>,
        /// How long until it fires if nothing else arrives, in milliseconds.
        wait_ms: u64,
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
    /// The run was given up: a delay's `while` condition stopped holding, or the rule's phase
    /// was left.
    Abandoned {
        /// Why.
        reason: String,
    },
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
        /// The rule whose request this event is the client's echo of, if any.
        caused_by: Option<Arc<str>>,
    },
    /// A rule's trigger matched an event; this is what came of it.
    Decision {
        /// Since the engine started.
        at: Duration,
        /// The event's sequence number.
        seq: u64,
        /// The event (for a debounced firing, the one that started its window).
        event: Arc<Event>,
        /// When the event entered the engine, since the engine started.
        event_at: Duration,
        /// The rule whose request the event is the client's echo of, if any.
        caused_by: Option<Arc<str>>,
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
    /// Which branch an `if` took and why, a `for_each`'s values, a `set`'s value: how a run
    /// went, for `explain` and the timeline.
    Flow {
        /// Since the engine started.
        at: Duration,
        /// The run.
        run: u64,
        /// The rule.
        rule: Arc<str>,
        /// What happened, in words.
        text: String,
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

    /// Looks at a trace that others receive too. Observers that only read a trace implement
    /// this, so that a [`Fanout`](crate::engine::journal::Fanout) need not copy it for them.
    fn inspect(&self, trace: &Trace) {
        self.observe(trace.clone());
    }
}

/// An observer that drops everything.
pub struct Discard;

impl Observer for Discard {
    fn observe(&self, _trace: Trace) {}
}

/// Why a trigger was held back, in words.
pub(crate) fn suppressed_text(why: &Suppressed) -> String {
    use Suppressed;
    match why {
        Suppressed::Busy => "single mode: a run is active".into(),
        Suppressed::QueueFull => "queued mode: the queue is full".into(),
        Suppressed::MaxRuns => "parallel mode: max runs active".into(),
        Suppressed::Cooldown { remaining_ms } => format!(
            "cooldown: {} left",
            crate::event::duration::human(Duration::from_millis(*remaining_ms))
        ),
        Suppressed::Throttled { key, remaining_ms } => format!(
            "throttled{}: {} left",
            key.as_deref()
                .map(|k| format!(" (key {k})"))
                .unwrap_or_default(),
            crate::event::duration::human(Duration::from_millis(*remaining_ms))
        ),
        Suppressed::Phase { phase } => format!(
            "outside its phases (the phase is {})",
            phase.as_deref().unwrap_or("not known yet")
        ),
        Suppressed::Echo => "the event is the echo of this rule's own request".into(),
        Suppressed::Depth { chain } => format!(
            "rules triggering each other too deep: {}",
            chain.join(" -> ")
        ),
        Suppressed::Breaker { tripped_now: true } => {
            "circuit breaker tripped just now: it fired too often; off until reload or reset".into()
        }
        Suppressed::Breaker { tripped_now: false } => {
            "circuit breaker open: off until reload or reset".into()
        }
        Suppressed::TooManyKeys => "too many keys waiting on the debounce".into(),
        Suppressed::Paused => "all rules are paused".into(),
        Suppressed::SwitchedOff => "switched off while running".into(),
    }
}
