//! The engine: one task that takes events in order, asks the rule set which rules fire, and
//! spawns every admitted run as its own tracked task. The loop never awaits a run: a slow request
//! can never delay the next event. Everything that decides whether a firing may run is enforced
//! here, per rule: modes (`single`, `restart`, `queued`, `parallel`), cooldown, throttle, debounce,
//! phase scope, the echo and causal-depth guards and the circuit breaker. The engine does no IO:
//! requests leave through the
//! [`ClientPort`](crate::engine::port::ClientPort) and everything it does is reported to an
//! [`Observer`](crate::engine::trace::Observer).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustc_hash::FxHashMap;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::guard::{
    BreakerState, Chain, DEFAULT_BREAKER, DEFAULT_ECHO_WINDOW, DEFAULT_MAX_DEPTH, WriteLog,
};
use crate::engine::port::{ClientPort, Reservation, ReserveFuture};
use crate::engine::run::RunContext;
use crate::engine::trace::{Observer, RunOutcome, Suppressed, Trace, Verdict};
use crate::event::{Event, EventType};
use crate::language::condition::{Actual, Miss};
use crate::language::matcher::Hit;
use crate::language::rule::{
    Breaker, BreakerSetting, Decision, Firing, GAMEFLOW_PHASE, Rate, Rule, RuleSet, Step,
};
use crate::language::scope::Scope;
use crate::language::spec::Mode;

/// How long in-flight runs may go on after shutdown is asked before they are cancelled.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How many runs may be active at once across all rules by default.
pub const DEFAULT_MAX_ACTIVE_RUNS: usize = 128;
/// At most one "run limit reached" warning this often.
const SATURATION_NOTICE: Duration = Duration::from_secs(10);
/// How many already-queued events (or finished runs) one turn of the loop takes at most, so that
/// a command or shutdown waits for no more than this many.
const BATCH: usize = 32;
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
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            max_active_runs: DEFAULT_MAX_ACTIVE_RUNS,
            max_depth: DEFAULT_MAX_DEPTH,
            breaker: Some(DEFAULT_BREAKER),
            echo_window: DEFAULT_ECHO_WINDOW,
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
}

/// One rule's state and counters.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleStatus {
    /// The rule.
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
}

/// A run waiting in a `queued` rule.
struct Pending {
    run: u64,
    event: Arc<Event>,
    firing: Firing,
    chain: Chain,
}

/// A run in progress.
struct ActiveRun {
    run: u64,
    /// How the run is ended.
    stop: Stop,
    /// Set before `stop` is used when the run is given up rather than cancelled.
    abandon: Arc<OnceLock<String>>,
}

/// How an active run is ended.
enum Stop {
    /// Aborting its task; its [`RunEnd`] then reports it cancelled (or abandoned).
    Task(AbortHandle),
    /// It waits for room on the port and has no task yet: flagged, it is dropped from the wait
    /// (see [`Engine::drop_cancelled_waits`]) and its [`RunEnd`] reports the same way.
    Waiting(Arc<AtomicBool>),
}

impl ActiveRun {
    fn cancel(&self) {
        match &self.stop {
            Stop::Task(task) => task.abort(),
            Stop::Waiting(cancelled) => cancelled.store(true, Ordering::Relaxed),
        }
    }
}

/// A run whose first step is a request, made and waiting for room on the port.
struct WaitingRun {
    context: RunContext,
    end: RunEnd,
    cancelled: Arc<AtomicBool>,
}

/// Room on the port, asked for once and kept asked for across turns of the loop (a fresh ask
/// per turn would join and leave the port's queue each time).
async fn next_room(asking: &mut Option<ReserveFuture>, port: &Arc<dyn ClientPort>) -> Reservation {
    let room = asking.get_or_insert_with(|| port.reserve()).await;
    *asking = None;
    room
}

/// Reports a run's end however its task ends: with the outcome it returned, or, when the task
/// was aborted (or a step panicked), as cancelled or abandoned. Made before the task starts and
/// moved into it, so that even a task aborted before its first poll reports.
struct RunEnd {
    run: u64,
    rule: Arc<str>,
    epoch: Instant,
    outcome: Option<RunOutcome>,
    abandon: Arc<OnceLock<String>>,
    observer: Arc<dyn Observer>,
    done: mpsc::UnboundedSender<RunDone>,
}

impl RunEnd {
    /// How the run ended, for the report made when the guard drops.
    fn report(&mut self, outcome: RunOutcome) {
        self.outcome = Some(outcome);
    }
}

impl Drop for RunEnd {
    fn drop(&mut self) {
        let outcome = self
            .outcome
            .take()
            .unwrap_or_else(|| match self.abandon.get() {
                Some(reason) => RunOutcome::Abandoned {
                    reason: reason.clone(),
                },
                None => RunOutcome::Cancelled,
            });
        self.observer.observe(Trace::RunFinished {
            at: self.epoch.elapsed(),
            run: self.run,
            rule: self.rule.clone(),
            outcome: outcome.clone(),
        });
        let _ = self.done.send(RunDone {
            rule_id: self.rule.clone(),
            run: self.run,
            outcome,
        });
    }
}

/// See [`Engine::candidates`].
struct RecentMatch {
    uri: String,
    event_type: EventType,
    hits: Vec<Hit>,
}

/// Per-rule state: mode, rate limits, breaker, counters.
#[derive(Default)]
struct RuleState {
    active: VecDeque<ActiveRun>,
    queue: VecDeque<Pending>,
    /// When the rule last fired (for the cooldown).
    last_fired: Option<Instant>,
    /// When each throttle key last fired.
    throttled: HashMap<String, Instant>,
    breaker: BreakerState,
    fired: u64,
    suppressed: u64,
}

/// A firing waiting for its debounce window to pass quietly.
struct Debounced {
    deadline: Instant,
    ticket: u64,
    origin: Origin,
    firing: Firing,
    chain: Chain,
}

/// The event a decision is about, as its trace reports it.
#[derive(Clone)]
struct Origin {
    seq: u64,
    /// When it entered the engine.
    now: Instant,
    event: Arc<Event>,
    /// The rule whose write it echoes, if any.
    caused_by: Option<Arc<str>>,
}

/// A run's end, sent back to the loop.
struct RunDone {
    rule_id: Arc<str>,
    run: u64,
    outcome: RunOutcome,
}

/// The engine; build it, then [`Engine::run`] it on a task.
pub struct Engine {
    rules: Arc<RuleSet>,
    port: Arc<dyn ClientPort>,
    observer: Arc<dyn Observer>,
    config: EngineConfig,
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    report: EngineReport,
    /// What the engine keeps per rule of the current set, and across all of them.
    per_rule: PerRule,
    /// Runs waiting for room on the port (see [`Engine::start`]).
    room: Room,
    /// The runs in flight: their tasks, how they report back, who owns them.
    runs: Runs,
    /// Firings held back by a debounce, and when each is due.
    debounce: Debounces,
    /// The matcher's reused answer buffers.
    matching: Matching,
    /// What the engine has seen: when it started, how events are numbered, the runs' writes, and
    /// the latest events that guarded delays watch.
    history: History,
}

/// What the engine keeps per rule of the current set, and across all of them.
struct PerRule {
    states: Vec<RuleState>,
    rule_ids: Vec<Arc<str>>,
    /// Each rule's chain when nothing caused its firing (made once: a firing needs one).
    solo_chains: Vec<Chain>,
    /// Rules switched off by id (kept across reloads).
    switched_off: std::collections::HashSet<String>,
    /// Whether every rule is paused.
    paused: bool,
    /// The gameflow phase, when some rule is scoped to phases.
    phase: Option<Arc<str>>,
}

/// Runs waiting for room on the port (see [`Engine::start`]).
struct Room {
    /// Runs that start with a request and wait for room on the port, oldest first. While one
    /// waits, the engine takes no new event: see [`Engine::start`].
    waiting: VecDeque<WaitingRun>,
    /// The port's answer to "room for one more", while runs wait.
    asking: Option<ReserveFuture>,
}

/// The runs in flight: their tasks, how they report back, who owns them.
struct Runs {
    tracker: TaskTracker,
    done_tx: mpsc::UnboundedSender<RunDone>,
    done_rx: mpsc::UnboundedReceiver<RunDone>,
    /// Active runs across all rules.
    active_total: usize,
    /// The rule (by index in the current set) each active run belongs to; runs of rules a
    /// reload changed or removed are no longer here.
    owners: FxHashMap<u64, u32>,
    /// Runs of rules a reload changed or removed that were left to finish.
    orphans: Vec<ActiveRun>,
    next_run: u64,
}

/// Firings held back by a debounce, and when each is due.
struct Debounces {
    /// Firings waiting on debounces, by rule and key.
    debounced: HashMap<(u32, String), Debounced>,
    /// Their deadlines, earliest first.
    deadlines: BTreeMap<(Instant, u64), (u32, String)>,
    next_ticket: u64,
}

/// The matcher's reused answer buffers.
struct Matching {
    hits: Vec<Hit>,
    /// The matcher's answer for the last URI and event type: the client sends runs of events
    /// on one URI. Cleared when the rules are replaced.
    recent: Option<RecentMatch>,
}

/// What the engine has seen: when it started, how events are numbered, the runs' writes, and
/// the latest events that guarded delays watch.
struct History {
    epoch: Instant,
    next_seq: u64,
    /// The runs' writes, for echo and causal-chain detection.
    writes: Arc<WriteLog>,
    /// The latest event per URI that a run's guarded delay watches.
    updates: HashMap<String, watch::Sender<Arc<Event>>>,
}

impl Engine {
    /// An engine over `rules`, sending through `port` and reporting to `observer`.
    pub fn new(
        rules: Arc<RuleSet>,
        port: Arc<dyn ClientPort>,
        observer: Arc<dyn Observer>,
        config: EngineConfig,
    ) -> Engine {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let states = rules.rules.iter().map(|_| RuleState::default()).collect();
        let rule_ids = rules
            .rules
            .iter()
            .map(|r| Arc::from(r.id.as_str()))
            .collect();
        let writes = Arc::new(WriteLog::new(config.echo_window));
        let solo_chains = solo_chains(&rules);
        Engine {
            rules,
            port,
            observer,
            config,
            commands: None,
            report: EngineReport::default(),
            per_rule: PerRule {
                states,
                rule_ids,
                solo_chains,
                switched_off: std::collections::HashSet::new(),
                paused: false,
                phase: None,
            },
            room: Room {
                waiting: VecDeque::new(),
                asking: None,
            },
            runs: Runs {
                tracker: TaskTracker::new(),
                done_tx,
                done_rx,
                active_total: 0,
                owners: FxHashMap::default(),
                orphans: Vec::new(),
                next_run: 1,
            },
            debounce: Debounces {
                debounced: HashMap::new(),
                deadlines: BTreeMap::new(),
                next_ticket: 1,
            },
            matching: Matching {
                hits: Vec::with_capacity(8),
                recent: None,
            },
            history: History {
                epoch: Instant::now(),
                next_seq: 1,
                writes,
                updates: HashMap::new(),
            },
        }
    }

    /// A channel to send the running engine [`Command`]s through.
    pub fn commands(&mut self) -> mpsc::UnboundedSender<Command> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.commands = Some(rx);
        tx
    }

    /// Consumes events until the channel closes (then lets every run finish) or `shutdown` is
    /// cancelled (then gives runs the grace period and cancels the rest).
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        shutdown: CancellationToken,
    ) -> EngineReport {
        let cap = self.config.max_active_runs.max(1);
        let mut was_saturated = false;
        // Under a flood the limit is met again each time a run ends: one warning per
        // `SATURATION_NOTICE` says so, with how many times since the last.
        let mut warned_at: Option<Instant> = None;
        let mut unwarned = 0u64;
        // Made once: a fresh `cancelled()` per turn would register and unregister a waiter (under
        // a lock) for every event. It is polled last, only in turns where nothing else is ready
        // (a poll takes two locks); after shutdown the reader stops, so those turns come soon.
        let stop = shutdown.cancelled();
        tokio::pin!(stop);
        let cancelled = loop {
            self.drop_cancelled_waits();
            let saturated = self.runs.active_total >= cap;
            if saturated && !was_saturated {
                self.report.saturated += 1;
                unwarned += 1;
                if warned_at.is_none_or(|at| at.elapsed() >= SATURATION_NOTICE) {
                    tracing::warn!(
                        active_runs = self.runs.active_total,
                        times = unwarned,
                        "run limit reached: taking no new event until a run ends"
                    );
                    warned_at = Some(Instant::now());
                    unwarned = 0;
                }
            }
            was_saturated = saturated;
            let next_deadline = self.debounce.deadlines.keys().next().map(|(at, _)| *at);
            tokio::select! {
                biased;
                Some(done) = self.runs.done_rx.recv() => {
                    self.on_run_done(done);
                    self.take_finished_runs();
                }
                room = next_room(&mut self.room.asking, &self.port), if !self.room.waiting.is_empty() => {
                    self.start_waiting(room);
                }
                Some(command) = next_command(&mut self.commands) => self.on_command(command),
                _ = sleep_until_some(next_deadline), if next_deadline.is_some() => self.fire_debounced(),
                input = events.recv(), if !saturated && self.room.waiting.is_empty() => match input {
                    Some(event) => {
                        self.on_event(event);
                        self.take_queued_events(&mut events, cap);
                    }
                    None => break false,
                },
                _ = &mut stop => break true,
            }
        };
        if cancelled {
            self.shut_down().await;
        } else {
            self.drain(&shutdown).await;
        }
        self.report
    }

    /// Books the runs that have finished meanwhile, up to [`BATCH`]. Taking what is already
    /// queued in one turn keeps the engine's code and data in the CPU's caches across events,
    /// instead of going round the select (and the rest of the runtime) for each one.
    fn take_finished_runs(&mut self) {
        for _ in 1..BATCH {
            match self.runs.done_rx.try_recv() {
                Ok(done) => self.on_run_done(done),
                Err(_) => return,
            }
        }
    }

    /// Handles the events already queued, up to [`BATCH`], while the run limit allows (see
    /// [`Self::take_finished_runs`]).
    fn take_queued_events(&mut self, events: &mut mpsc::Receiver<Event>, cap: usize) {
        for _ in 1..BATCH {
            if self.runs.active_total >= cap || !self.room.waiting.is_empty() {
                return;
            }
            match events.try_recv() {
                Ok(event) => self.on_event(event),
                Err(_) => return,
            }
        }
    }

    /// The rules whose triggers match (see [`RuleSet::candidates`]), from `recent` when the URI
    /// and type are the last ones'.
    fn candidates(&mut self, uri: &str, event_type: EventType, out: &mut Vec<Hit>) {
        if let Some(recent) = &self.matching.recent
            && recent.event_type == event_type
            && recent.uri == uri
        {
            out.clear();
            out.extend_from_slice(&recent.hits);
            return;
        }
        self.rules.candidates(uri, event_type, out);
        // The last answer's buffers are reused for this one.
        let mut recent = self.matching.recent.take().unwrap_or(RecentMatch {
            uri: String::new(),
            event_type,
            hits: Vec::new(),
        });
        recent.uri.clear();
        recent.uri.push_str(uri);
        recent.event_type = event_type;
        recent.hits.clone_from(out);
        self.matching.recent = Some(recent);
    }

    /// Handles one event: match, evaluate, admit, spawn. Never awaits.
    fn on_event(&mut self, event: Event) {
        let seq = self.history.next_seq;
        self.history.next_seq += 1;
        self.report.events += 1;
        let event = Arc::new(event);
        // One clock reading for everything decided about this event: on a VM a reading costs
        // tens of nanoseconds, and an accept used to take fifteen.
        let now = Instant::now();
        let at = now.saturating_duration_since(self.history.epoch);
        let cause = self.history.writes.cause_of(&event.uri, now);
        let caused_by = cause
            .as_ref()
            .and_then(|c| c.last())
            .map(|r| self.per_rule.rule_ids[*r as usize].clone());
        self.observer.observe(Trace::Event {
            at,
            seq,
            event: event.clone(),
            caused_by: caused_by.clone(),
        });
        if self.rules.tracks_phase() && event.uri == GAMEFLOW_PHASE {
            self.follow_phase(&event);
        }
        if !self.history.updates.is_empty()
            && let Some(latest) = self.history.updates.get(&event.uri)
        {
            latest.send_replace(event.clone());
        }
        let mut hits = std::mem::take(&mut self.matching.hits);
        self.candidates(&event.uri, event.event_type, &mut hits);
        if hits.is_empty() {
            self.matching.hits = hits;
            return;
        }
        let origin = Origin {
            seq,
            now,
            event,
            caused_by,
        };
        for hit in &hits {
            let rule = self.rules.rule(hit.rule).clone();
            if origin.event.snapshot && !rule.snapshots {
                continue;
            }
            let verdict =
                match rule.evaluate(&origin.event, hit.trigger as usize, &self.rules.registry) {
                    Decision::Stop(miss) => Verdict::Stopped { miss: *miss },
                    Decision::Fire(firing) => {
                        self.admit(hit.rule, &rule, &origin, firing, cause.as_ref())
                    }
                };
            self.decided(&origin, hit.rule, verdict, at);
        }
        self.matching.hits = hits;
    }

    /// Books and reports `rule`'s verdict on the event of `origin`, reached `at` (since the engine
    /// started).
    fn decided(&mut self, origin: &Origin, rule: u32, verdict: Verdict, at: Duration) {
        match &verdict {
            Verdict::Fired { .. } | Verdict::Queued { .. } => {
                self.per_rule.states[rule as usize].fired += 1
            }
            Verdict::Suppressed { .. } => {
                self.per_rule.states[rule as usize].suppressed += 1;
                self.report.suppressed += 1;
            }
            Verdict::Stopped { .. } | Verdict::Debounced { .. } => {}
        }
        self.observer.observe(Trace::Decision {
            at,
            seq: origin.seq,
            event: origin.event.clone(),
            event_at: origin.now.saturating_duration_since(self.history.epoch),
            caused_by: origin.caused_by.clone(),
            rule: self.per_rule.rule_ids[rule as usize].clone(),
            verdict,
        });
    }

    /// The guards that apply before any rate limit: breaker, phase, echo, causal depth; then the
    /// debounce, or admission right away.
    fn admit(
        &mut self,
        index: u32,
        rule: &Arc<Rule>,
        origin: &Origin,
        firing: Firing,
        cause: Option<&Chain>,
    ) -> Verdict {
        let suppressed = |why| Verdict::Suppressed { why };
        if self.per_rule.paused {
            return suppressed(Suppressed::Paused);
        }
        if !self.per_rule.switched_off.is_empty() && self.per_rule.switched_off.contains(&rule.id) {
            return suppressed(Suppressed::SwitchedOff);
        }
        if self.per_rule.states[index as usize].breaker.tripped() {
            return suppressed(Suppressed::Breaker { tripped_now: false });
        }
        if !rule.applies_in(self.per_rule.phase.as_deref()) {
            return suppressed(Suppressed::Phase {
                phase: self.per_rule.phase.as_deref().map(str::to_string),
            });
        }
        let chain: Chain = match cause {
            None => self.per_rule.solo_chains[index as usize].clone(),
            Some(cause) => {
                if cause.last() == Some(&index) && !rule.allow_echo {
                    return suppressed(Suppressed::Echo);
                }
                if cause.len() >= self.config.max_depth {
                    let mut names: Vec<String> = cause
                        .iter()
                        .map(|r| self.per_rule.rule_ids[*r as usize].to_string())
                        .collect();
                    names.push(rule.id.clone());
                    return suppressed(Suppressed::Depth { chain: names });
                }
                cause.iter().copied().chain([index]).collect()
            }
        };
        match &rule.debounce {
            Some(debounce) => self.debounce(index, rule, debounce, origin, firing, chain),
            None => self.admit_now(index, rule, &origin.event, firing, chain, origin.now),
        }
    }

    /// Holds a firing until its key has been quiet for the window; a newer firing replaces it.
    fn debounce(
        &mut self,
        index: u32,
        rule: &Rule,
        debounce: &Rate,
        origin: &Origin,
        firing: Firing,
        chain: Chain,
    ) -> Verdict {
        let key = match self.rate_key(rule, debounce, &origin.event, &firing, "debounce.key") {
            Ok(key) => key,
            Err(miss) => return Verdict::Stopped { miss },
        };
        let slot = (index, key.clone().unwrap_or_default());
        if let Some(old) = self.debounce.debounced.remove(&slot) {
            self.debounce.deadlines.remove(&(old.deadline, old.ticket));
        } else if self
            .debounce
            .debounced
            .keys()
            .filter(|(r, _)| *r == index)
            .count()
            >= MAX_RATE_KEYS
        {
            return Verdict::Suppressed {
                why: Suppressed::TooManyKeys,
            };
        }
        let deadline = crate::engine::run::deadline_after(Instant::now(), debounce.duration);
        let ticket = self.debounce.next_ticket;
        self.debounce.next_ticket += 1;
        self.debounce
            .deadlines
            .insert((deadline, ticket), slot.clone());
        self.debounce.debounced.insert(
            slot,
            Debounced {
                deadline,
                ticket,
                origin: origin.clone(),
                firing,
                chain,
            },
        );
        Verdict::Debounced {
            key,
            wait_ms: debounce.duration.as_millis() as u64,
        }
    }

    /// Admits every debounced firing whose window has passed.
    fn fire_debounced(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.debounce.deadlines.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let slot = entry.remove();
            let Some(due) = self.debounce.debounced.remove(&slot) else {
                continue;
            };
            let rule = self.rules.rule(slot.0).clone();
            let verdict =
                self.admit_now(slot.0, &rule, &due.origin.event, due.firing, due.chain, now);
            let at = now.saturating_duration_since(self.history.epoch);
            self.decided(&due.origin, slot.0, verdict, at);
        }
    }

    /// Applies the cooldown, the throttle, the mode and the breaker as of `now`, then starts or
    /// queues the run.
    fn admit_now(
        &mut self,
        index: u32,
        rule: &Rule,
        event: &Arc<Event>,
        firing: Firing,
        chain: Chain,
        now: Instant,
    ) -> Verdict {
        let throttle_key = match &rule.throttle {
            Some(throttle) => match self.rate_key(rule, throttle, event, &firing, "throttle.key") {
                Ok(key) => Some((key, throttle.duration)),
                Err(miss) => return Verdict::Stopped { miss },
            },
            None => None,
        };
        let breaker = match rule.breaker {
            BreakerSetting::Default => self.config.breaker,
            BreakerSetting::Off => None,
            BreakerSetting::Limits(limits) => Some(limits),
        };
        let state = &mut self.per_rule.states[index as usize];
        if let (Some(cooldown), Some(last)) = (rule.cooldown, state.last_fired) {
            let until = last + cooldown;
            if now < until {
                return Verdict::Suppressed {
                    why: Suppressed::Cooldown {
                        remaining_ms: (until - now).as_millis() as u64,
                    },
                };
            }
        }
        if let Some((key, window)) = &throttle_key
            && let Some(last) = state.throttled.get(key.as_deref().unwrap_or_default())
            && now < *last + *window
        {
            return Verdict::Suppressed {
                why: Suppressed::Throttled {
                    key: key.clone(),
                    remaining_ms: (*last + *window - now).as_millis() as u64,
                },
            };
        }
        let busy = !state.active.is_empty();
        let held_back = match rule.mode {
            Mode::Single if busy => Some(Suppressed::Busy),
            Mode::Parallel if state.active.len() >= rule.max as usize => Some(Suppressed::MaxRuns),
            Mode::Queued if busy && state.queue.len() >= rule.max as usize => {
                Some(Suppressed::QueueFull)
            }
            _ => None,
        };
        if let Some(why) = held_back {
            return Verdict::Suppressed { why };
        }
        if let Some(limits) = breaker
            && state.breaker.fire(now, limits)
        {
            state.queue.clear();
            return Verdict::Suppressed {
                why: Suppressed::Breaker { tripped_now: true },
            };
        }
        state.last_fired = Some(now);
        if let Some((key, window)) = throttle_key {
            if state.throttled.len() >= MAX_RATE_KEYS {
                state.throttled.retain(|_, last| now < *last + window);
            }
            state.throttled.insert(key.unwrap_or_default(), now);
        }
        let run = self.runs.next_run;
        self.runs.next_run += 1;
        match rule.mode {
            Mode::Queued if busy => {
                state.queue.push_back(Pending {
                    run,
                    event: event.clone(),
                    firing,
                    chain,
                });
                Verdict::Queued { run }
            }
            Mode::Restart => {
                for active in &state.active {
                    active.cancel();
                }
                self.start(index, run, event.clone(), firing, chain);
                Verdict::Fired { run }
            }
            _ => {
                self.start(index, run, event.clone(), firing, chain);
                Verdict::Fired { run }
            }
        }
    }

    /// The key a rate limit applies to for this firing (`None`: the whole rule).
    fn rate_key(
        &self,
        rule: &Rule,
        rate: &Rate,
        event: &Event,
        firing: &Firing,
        at: &str,
    ) -> Result<Option<String>, Miss> {
        let Some(template) = &rate.key else {
            return Ok(None);
        };
        let scope = Scope {
            event,
            params: &firing.params,
            bindings: &firing.bindings,
            binding_names: &rule.binding_names,
            steps: None,
            item: None,
        };
        template
            .render_string(&scope, &self.rules.registry)
            .map(Some)
            .map_err(|error| Miss {
                at: Arc::from(at),
                path: Arc::from(""),
                expected: Arc::from("a key"),
                actual: Actual::Error(error.to_string()),
            })
    }

    /// Follows the gameflow phase; leaving a rule's phases gives up its runs, queued runs and
    /// debounced firings.
    fn follow_phase(&mut self, event: &Event) {
        let phase: Option<Arc<str>> = event.data.as_str().map(Arc::from);
        if phase == self.per_rule.phase {
            return;
        }
        let left = std::mem::replace(&mut self.per_rule.phase, phase.clone());
        let now = phase.as_deref().unwrap_or("unknown");
        for (index, rule) in self.rules.rules.iter().enumerate() {
            if rule.phases.is_none() || rule.applies_in(phase.as_deref()) {
                continue;
            }
            let state = &mut self.per_rule.states[index];
            let reason = format!(
                "left phase {} (now {now})",
                left.as_deref().unwrap_or("unknown")
            );
            for active in &state.active {
                let _ = active.abandon.set(reason.clone());
                active.cancel();
            }
            state.queue.clear();
            let slots: Vec<(u32, String)> = self
                .debounce
                .debounced
                .keys()
                .filter(|(r, _)| *r as usize == index)
                .cloned()
                .collect();
            for slot in slots {
                if let Some(gone) = self.debounce.debounced.remove(&slot) {
                    self.debounce
                        .deadlines
                        .remove(&(gone.deadline, gone.ticket));
                }
            }
        }
    }

    /// Spawns a run on the tracker.
    fn start(&mut self, rule: u32, run: u64, event: Arc<Event>, firing: Firing, chain: Chain) {
        let abandon = Arc::new(OnceLock::new());
        self.runs.active_total += 1;
        self.report.runs_started += 1;
        self.runs.owners.insert(run, rule);
        let rule_id = self.per_rule.rule_ids[rule as usize].clone();
        let spec = self.rules.rule(rule).clone();
        let updates = spec.has_guarded_delays().then(|| {
            let latest = self
                .history
                .updates
                .entry(event.uri.clone())
                .or_insert_with(|| watch::channel(event.clone()).0);
            let mut updates = latest.subscribe();
            updates.mark_changed();
            updates
        });
        let end = RunEnd {
            run,
            rule: rule_id.clone(),
            epoch: self.history.epoch,
            outcome: None,
            abandon: abandon.clone(),
            observer: self.observer.clone(),
            done: self.runs.done_tx.clone(),
        };
        let mut context = RunContext {
            rule: spec,
            rule_id,
            event,
            firing,
            registry: self.rules.registry.clone(),
            port: self.port.clone(),
            observer: self.observer.clone(),
            run,
            epoch: self.history.epoch,
            chain,
            writes: self.history.writes.clone(),
            updates,
            reservation: None,
        };
        // A run whose first step is a request starts with room for it on the port, or waits
        // for room here, behind the runs already waiting, instead of as a task queued inside
        // the port. Meanwhile the engine takes no new event: the stream waits in the bounded
        // queue and the socket, as at `max_active_runs`, and a flood keeps only the requests in
        // flight in memory rather than a run per queued request (measured with `cargo bench
        // --bench e2e -- --compare`: about 5 % more ready checks accepted per second flat out).
        if matches!(context.rule.steps.first(), Some(Step::Request(_))) {
            match self.room_now() {
                Some(room) => context.reservation = Some(room),
                None => return self.wait_for_room(rule, abandon, context, end),
            }
        }
        let task = self.spawn_run(context, end);
        self.per_rule.states[rule as usize]
            .active
            .push_back(ActiveRun {
                run,
                stop: Stop::Task(task),
                abandon,
            });
    }

    /// Starts a run's task. Ending the run is aborting it: no cancellation future is polled
    /// beside every run.
    fn spawn_run(&self, mut context: RunContext, mut end: RunEnd) -> AbortHandle {
        // The task works on `context` and `end` where it captured them: moving them into the
        // run's own future or into locals would store each twice in the task, which is copied
        // whole when spawned and waits, in a burst, among a hundred others.
        self.runs
            .tracker
            .spawn(async move {
                let outcome = context.execute().await;
                end.report(outcome);
            })
            .abort_handle()
    }

    /// Room on the port for a run that starts now: none while others wait for it (they go first).
    fn room_now(&self) -> Option<Reservation> {
        match self.room.waiting.is_empty() {
            true => self.port.try_reserve(),
            false => None,
        }
    }

    /// Books a run as active and puts it in the wait for room.
    fn wait_for_room(
        &mut self,
        rule: u32,
        abandon: Arc<OnceLock<String>>,
        context: RunContext,
        end: RunEnd,
    ) {
        let cancelled = Arc::new(AtomicBool::new(false));
        self.per_rule.states[rule as usize]
            .active
            .push_back(ActiveRun {
                run: context.run,
                stop: Stop::Waiting(cancelled.clone()),
                abandon,
            });
        self.room.waiting.push_back(WaitingRun {
            context,
            end,
            cancelled,
        });
    }

    /// Starts the oldest waiting run in `room`, and the next ones while the port has more.
    fn start_waiting(&mut self, room: Reservation) {
        let mut room = Some(room);
        while let Some(reserved) = room.take() {
            let Some(WaitingRun {
                mut context, end, ..
            }) = self.room.waiting.pop_front()
            else {
                return;
            };
            context.reservation = Some(reserved);
            let run = context.run;
            let task = self.spawn_run(context, end);
            // A reload may have moved the run's rule to another index, or left it an orphan.
            let active = match self.runs.owners.get(&run) {
                Some(&rule) => self.per_rule.states[rule as usize]
                    .active
                    .iter_mut()
                    .find(|a| a.run == run),
                None => self.runs.orphans.iter_mut().find(|a| a.run == run),
            };
            if let Some(active) = active {
                active.stop = Stop::Task(task);
            }
            if !self.room.waiting.is_empty() {
                room = self.port.try_reserve();
            }
        }
    }

    /// Drops the waiting runs that were cancelled: their [`RunEnd`]s report them.
    fn drop_cancelled_waits(&mut self) {
        if !self.room.waiting.is_empty() {
            self.room
                .waiting
                .retain(|waiting| !waiting.cancelled.load(Ordering::Relaxed));
        }
    }

    /// Books a finished run and starts the next queued one.
    fn on_run_done(&mut self, done: RunDone) {
        match &done.outcome {
            RunOutcome::Completed => self.report.runs_completed += 1,
            RunOutcome::Failed { .. } => self.report.runs_failed += 1,
            RunOutcome::Abandoned { .. } => self.report.runs_abandoned += 1,
            RunOutcome::Cancelled => self
                .report
                .cancelled
                .push((done.rule_id.to_string(), done.run)),
        }
        self.runs.active_total = self.runs.active_total.saturating_sub(1);
        if !self.history.updates.is_empty() {
            self.history
                .updates
                .retain(|_, latest| latest.receiver_count() > 0);
        }
        // A run whose rule a reload changed or removed has no owner any more.
        let Some(rule) = self.runs.owners.remove(&done.run) else {
            self.runs.orphans.retain(|orphan| orphan.run != done.run);
            return;
        };
        let state = &mut self.per_rule.states[rule as usize];
        // Runs mostly end in the order they started: the search and the shift are short.
        if let Some(at) = state
            .active
            .iter()
            .position(|active| active.run == done.run)
        {
            state.active.remove(at);
        }
        if state.active.is_empty()
            && let Some(next) = state.queue.pop_front()
        {
            self.start(rule, next.run, next.event, next.firing, next.chain);
        }
    }

    /// Swaps in a new rule set; see [`Command::Replace`].
    fn replace(&mut self, rules: Arc<RuleSet>) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let mut old: HashMap<String, (u32, RuleState)> = HashMap::new();
        for (index, state) in std::mem::take(&mut self.per_rule.states)
            .into_iter()
            .enumerate()
        {
            old.insert(
                self.per_rule.rule_ids[index].to_string(),
                (index as u32, state),
            );
        }
        let mut moved: HashMap<u32, u32> = HashMap::new();
        let mut states = Vec::with_capacity(rules.rules.len());
        for (index, rule) in rules.rules.iter().enumerate() {
            match old.remove(&rule.id) {
                Some((old_index, mut state))
                    if self.rules.rule(old_index).fingerprint == rule.fingerprint =>
                {
                    state.breaker.reset();
                    for active in &state.active {
                        self.runs.owners.insert(active.run, index as u32);
                    }
                    moved.insert(old_index, index as u32);
                    summary.unchanged.push(rule.id.clone());
                    states.push(state);
                }
                Some((old_index, state)) => {
                    summary.cancelled_runs += self.retire(old_index, state, "changed");
                    summary.changed.push(rule.id.clone());
                    states.push(RuleState::default());
                }
                None => {
                    summary.added.push(rule.id.clone());
                    states.push(RuleState::default());
                }
            }
        }
        let mut removed: Vec<(String, (u32, RuleState))> = old.into_iter().collect();
        removed.sort_by_key(|(_, (index, _))| *index);
        for (id, (old_index, state)) in removed {
            summary.cancelled_runs += self.retire(old_index, state, "removed");
            summary.removed.push(id);
        }
        let debounced = std::mem::take(&mut self.debounce.debounced);
        self.debounce.deadlines.clear();
        for ((rule, key), pending) in debounced {
            if let Some(&index) = moved.get(&rule) {
                self.debounce
                    .deadlines
                    .insert((pending.deadline, pending.ticket), (index, key.clone()));
                self.debounce.debounced.insert((index, key), pending);
            }
        }
        self.per_rule.rule_ids = rules
            .rules
            .iter()
            .map(|r| Arc::from(r.id.as_str()))
            .collect();
        self.per_rule.states = states;
        self.per_rule.solo_chains = solo_chains(&rules);
        self.rules = rules;
        self.matching.recent = None;
        summary
    }

    /// Lets go of a changed or removed rule's runs: cancelled, or left to finish on their own if
    /// the rule says so. Returns how many were cancelled.
    fn retire(&mut self, old_index: u32, state: RuleState, why: &str) -> usize {
        let finish =
            self.rules.rule(old_index).on_reload == crate::language::spec::OnReload::Finish;
        let mut cancelled = 0;
        for active in state.active {
            self.runs.owners.remove(&active.run);
            if finish {
                self.runs.orphans.push(active);
            } else {
                let _ = active
                    .abandon
                    .set(format!("its rule was {why} by a reload"));
                active.cancel();
                cancelled += 1;
            }
        }
        cancelled
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::ResetBreaker { rule, reply } => {
                let mut reset = Vec::new();
                for (index, state) in self.per_rule.states.iter_mut().enumerate() {
                    let id = &self.per_rule.rule_ids[index];
                    if rule.as_deref().is_none_or(|r| r == &**id) && state.breaker.tripped() {
                        state.breaker.reset();
                        reset.push(id.to_string());
                    }
                }
                if !reset.is_empty() {
                    tracing::info!(rules = %reset.join(", "), "circuit breaker reset");
                }
                let _ = reply.send(reset);
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Replace { rules, reply } => {
                let _ = reply.send(self.replace(rules));
            }
            Command::Pause(paused) => {
                if self.per_rule.paused != paused {
                    tracing::info!(
                        paused,
                        "{}",
                        if paused {
                            "all rules paused"
                        } else {
                            "rules resumed"
                        }
                    );
                }
                self.per_rule.paused = paused;
            }
            Command::Switch { rule, on } => {
                tracing::info!(rule = %rule, on, "rule switched {}", if on { "on" } else { "off" });
                if on {
                    self.per_rule.switched_off.remove(&rule);
                } else {
                    self.per_rule.switched_off.insert(rule);
                }
            }
        }
    }

    /// The engine's state and per-rule counters.
    fn status(&self) -> EngineStatus {
        let rules = self
            .rules
            .rules
            .iter()
            .zip(&self.per_rule.states)
            .enumerate()
            .map(|(index, (rule, state))| RuleStatus {
                id: rule.id.clone(),
                enabled: rule.enabled,
                fired: state.fired,
                suppressed: state.suppressed,
                active_runs: state.active.len(),
                queued: state.queue.len(),
                debouncing: self
                    .debounce
                    .debounced
                    .keys()
                    .filter(|(r, _)| *r as usize == index)
                    .count(),
                tripped: state.breaker.tripped(),
                switched_off: self.per_rule.switched_off.contains(&rule.id),
                last_fired_ms_ago: state.last_fired.map(|at| at.elapsed().as_millis() as u64),
            })
            .collect();
        EngineStatus {
            events: self.report.events,
            phase: self.per_rule.phase.as_deref().map(str::to_string),
            active_runs: self.runs.active_total,
            paused: self.per_rule.paused,
            rules,
        }
    }

    fn active_runs(&self) -> usize {
        self.runs.active_total
    }

    /// The event stream ended (a replayed session is over): let every run, queued run and
    /// debounced firing finish, unless shutdown is asked meanwhile.
    async fn drain(&mut self, shutdown: &CancellationToken) {
        while self.active_runs() > 0 || !self.debounce.deadlines.is_empty() {
            let next_deadline = self.debounce.deadlines.keys().next().map(|(at, _)| *at);
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return self.shut_down().await,
                Some(done) = self.runs.done_rx.recv() => self.on_run_done(done),
                room = next_room(&mut self.room.asking, &self.port), if !self.room.waiting.is_empty() => {
                    self.start_waiting(room);
                }
                _ = sleep_until_some(next_deadline), if next_deadline.is_some() => self.fire_debounced(),
            }
            self.drop_cancelled_waits();
        }
        self.runs.tracker.close();
        self.runs.tracker.wait().await;
    }

    /// Shutdown: no queued run starts, nor one still waiting for room on the port; active runs
    /// get the grace period, then are cancelled.
    async fn shut_down(&mut self) {
        for state in &mut self.per_rule.states {
            state.queue.clear();
        }
        self.room.asking = None;
        self.room.waiting.clear();
        let deadline = Instant::now() + self.config.shutdown_grace;
        while self.active_runs() > 0 {
            tokio::select! {
                Some(done) = self.runs.done_rx.recv() => self.on_run_done(done),
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        for active in self
            .per_rule
            .states
            .iter()
            .flat_map(|state| &state.active)
            .chain(&self.runs.orphans)
        {
            active.cancel();
        }
        while self.active_runs() > 0 {
            match self.runs.done_rx.recv().await {
                Some(done) => self.on_run_done(done),
                None => break,
            }
        }
        self.runs.tracker.close();
        self.runs.tracker.wait().await;
    }
}

/// One single-rule chain per rule of `rules`.
fn solo_chains(rules: &RuleSet) -> Vec<Chain> {
    (0..rules.rules.len() as u32)
        .map(|index| Chain::from([index]))
        .collect()
}

async fn next_command(commands: &mut Option<mpsc::UnboundedReceiver<Command>>) -> Option<Command> {
    match commands {
        Some(commands) => commands.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}
