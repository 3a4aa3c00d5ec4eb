//! What the engine is told and what it tells: its settings ([`EngineConfig`]), the commands it
//! takes while running ([`Command`]), and what it reports ([`EngineReport`], [`EngineStatus`],
//! [`ReloadSummary`]).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;

use crate::engine::guard::{DEFAULT_BREAKER, DEFAULT_ECHO_WINDOW, DEFAULT_MAX_DEPTH};
use crate::language::rule::{Breaker, RuleSet};

/// How long in-flight runs may go on after shutdown is asked before they are cancelled.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How many runs may be active at once across all rules by default.
pub const DEFAULT_MAX_ACTIVE_RUNS: usize = 128;
/// Keys a rule may track at once for its throttle or debounce (beyond, the oldest throttle keys
/// are forgotten and new debounce keys are refused).
pub const MAX_RATE_KEYS: usize = 1024;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Grace period for in-flight runs at shutdown.
    pub shutdown_grace: Duration,
    /// Runs active at once across all rules. At the cap the engine takes no new event until a
    /// run ends: the bounded event queue fills and the socket reader waits, so a burst slows the
    /// stream down instead of growing memory without bound (and a stall long enough to leave the
    /// rules behind the client is coalesced, see [`StreamStats`](crate::client::live::StreamStats)).
    pub max_active_runs: usize,
    /// How many rules may trigger each other through their writes in one chain.
    pub max_depth: usize,
    /// The circuit breaker of rules that do not set their own (`None`: off).
    pub breaker: Option<Breaker>,
    /// How long after a write an event on the written URI counts as its echo.
    pub echo_window: Duration,
    /// The seed of the random choices rules make (`take: random`, `take: shuffled`); `None`
    /// draws one. `test` and `explain` fix it, so a replay chooses the same every time.
    pub seed: Option<u64>,
    /// Where `forever` values are kept across restarts (`None`: in memory only, as `test` and
    /// `explain` keep them).
    pub state_file: Option<std::path::PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            max_active_runs: DEFAULT_MAX_ACTIVE_RUNS,
            max_depth: DEFAULT_MAX_DEPTH,
            breaker: Some(DEFAULT_BREAKER),
            echo_window: DEFAULT_ECHO_WINDOW,
            seed: None,
            state_file: None,
        }
    }
}

/// What the engine did over its lifetime.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineReport {
    /// Events consumed.
    pub events: u64,
    /// Runs started.
    pub runs_started: u64,
    /// Runs that completed every step.
    pub runs_completed: u64,
    /// Runs that ended on a failed step.
    pub runs_failed: u64,
    /// Runs given up (a delay's `while` broke, or the rule's phase was left).
    pub runs_abandoned: u64,
    /// Triggers held back (mode, cooldown, throttle, phase, guards).
    pub suppressed: u64,
    /// How many times the engine paused taking events because `max_active_runs` were active.
    pub saturated: u64,
    /// Runs cancelled (restart mode, or still running when the grace period ran out), as
    /// `(rule id, run number)`.
    pub cancelled: Vec<(String, u64)>,
}

/// A request to a running engine (from the control channel or the tray).
#[derive(Debug)]
pub enum Command {
    /// Closes tripped circuit breakers: one rule's, or every rule's; answers with the rules
    /// whose breaker was open.
    ResetBreaker {
        /// The rule, or all.
        rule: Option<String>,
        /// Where the answer goes.
        reply: oneshot::Sender<Vec<String>>,
    },
    /// Asks for the engine's state.
    Status(oneshot::Sender<EngineStatus>),
    /// Pauses (`true`) or resumes every rule: while paused, nothing fires.
    Pause(bool),
    /// Switches one rule off (`false`) or back on until the service stops (reloads keep it).
    Switch {
        /// The rule's id.
        rule: String,
        /// On or off.
        on: bool,
    },
    /// Runs a rule whose trigger is `manual` now, on an event carrying `data`; answers with
    /// why not if the rule has no manual trigger.
    Trigger {
        /// The rule's id.
        rule: String,
        /// The event's payload (`{}` when none is given).
        data: serde_json::Value,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Swaps in a new rule set (already validated). Unchanged rules keep their runs, mode state,
    /// cooldown and rate limits; changed and removed rules' runs are cancelled, or left to finish
    /// if the rule says `on_reload: finish`. Every circuit breaker closes.
    Replace {
        /// The new rules.
        rules: Arc<RuleSet>,
        /// Where the summary goes.
        reply: oneshot::Sender<ReloadSummary>,
    },
}

/// What a reload changed, by rule id.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ReloadSummary {
    /// Rules that are new.
    pub added: Vec<String>,
    /// Rules whose definition changed.
    pub changed: Vec<String>,
    /// Rules that are gone.
    pub removed: Vec<String>,
    /// Rules left as they were (their state kept).
    pub unchanged: Vec<String>,
    /// Runs cancelled because their rule changed or went.
    pub cancelled_runs: usize,
}

/// The engine's state, as `status` shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EngineStatus {
    /// Events consumed.
    pub events: u64,
    /// The gameflow phase, when the engine follows it.
    pub phase: Option<String>,
    /// Runs active across all rules.
    pub active_runs: usize,
    /// Whether every rule is paused.
    pub paused: bool,
    /// Each rule.
    pub rules: Vec<RuleStatus>,
    /// The values rules remember (`set` steps), oldest first.
    pub state: Vec<crate::language::memory::Remembered>,
}

/// One rule's state and counters.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleStatus {
    /// The rule (`rule` in JSON, as everywhere else a rule id is written).
    #[serde(rename = "rule")]
    pub id: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Runs started or queued.
    pub fired: u64,
    /// Firings held back.
    pub suppressed: u64,
    /// Runs active now.
    pub active_runs: usize,
    /// Runs waiting (`queued`).
    pub queued: usize,
    /// Keys waiting on the debounce.
    pub debouncing: usize,
    /// Whether its circuit breaker is open.
    pub tripped: bool,
    /// Whether it was switched off while running (tray).
    pub switched_off: bool,
    /// How long ago it last fired, in milliseconds.
    pub last_fired_ms_ago: Option<u64>,
    /// Whether it runs when asked (`on: manual`: `lcu-rules trigger`, the tray's Run entries).
    pub manual: bool,
}
