//! The engine: one task that takes events in order, asks the rule set which rules fire, and
//! spawns every admitted run as its own tracked task. The loop never awaits a run: a slow request
//! can never delay the next event. Everything that decides whether a firing may run is enforced
//! here, per rule: modes (`single`, `restart`, `queued`, `parallel`), cooldown, throttle, debounce,
//! phase scope, the echo and causal-depth guards and the circuit breaker. The engine does no IO:
//! requests leave through the
//! [`ClientPort`](crate::engine::port::ClientPort) and everything it does is reported to an
//! [`Observer`](crate::engine::trace::Observer).
//!
//! The loop itself, kept whole so that its order of steps reads top to bottom; each part it calls
//! lives in `task/`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustc_hash::FxHashMap;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::guard::{BreakerState, Chain, WriteLog};
use crate::engine::interface::{
    Command, EngineConfig, EngineReport, EngineStatus, MAX_RATE_KEYS, ReloadSummary, RuleStatus,
};
use crate::engine::port::{ClientPort, Reservation, ReserveFuture};
use crate::engine::run::{CancelAsked, RunContext, lock};
use crate::engine::trace::{Observer, RunOutcome, Suppressed, Trace, Verdict};
use crate::event::{Event, EventType};
use crate::language::condition::{Actual, Miss};
use crate::language::matcher::Hit;
use crate::language::memory::Memory;
use crate::language::rule::{
    BreakerSetting, Decision, Firing, GAMEFLOW_PHASE, GAMEFLOW_SESSION, Rate, Rule, RuleSet, Step,
};
use crate::language::scope::Scope;
use crate::language::spec::Mode;

mod admission;
mod control;
mod debounce;
mod reload;
mod room;
mod shutdown;

/// At most one "run limit reached" warning this often.
const SATURATION_NOTICE: Duration = Duration::from_secs(10);
/// How many already-queued events (or finished runs) one turn of the loop takes at most, so that
/// a command or shutdown waits for no more than this many.
const BATCH: usize = 32;

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
    /// See [`RunContext::broken_by`].
    broken_by: Option<Arc<Event>>,
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
            broken_by: self.broken_by.take(),
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
    /// The last event held back because a run was active (`single` mode): if that run then gives
    /// up because this very event broke its `while`, the event is offered to the rule again.
    held_busy: Option<Origin>,
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
    /// The event that broke the run's `while`, if that is how it ended.
    broken_by: Option<Arc<Event>>,
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
    /// `cancel` steps asking for another rule's runs to be given up.
    cancel_tx: mpsc::UnboundedSender<CancelAsked>,
    cancel_rx: mpsc::UnboundedReceiver<CancelAsked>,
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
    /// What rules remember and the latest payloads they read; kept across reloads.
    memory: Arc<std::sync::Mutex<Memory>>,
    /// Whether the last event was a snapshot: the first snapshot after live events starts a new
    /// connection to the client.
    in_resync: bool,
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
        let (cancel_tx, cancel_rx) = mpsc::unbounded_channel();
        let states = rules.rules.iter().map(|_| RuleState::default()).collect();
        let rule_ids = rules
            .rules
            .iter()
            .map(|r| Arc::from(r.id.as_str()))
            .collect();
        let writes = Arc::new(WriteLog::new(config.echo_window));
        let mut memory = Memory::seeded(config.seed);
        if let Some(path) = &config.state_file {
            crate::engine::state_file::load(path, &mut memory);
        }
        memory.rules_on(rules_on(&rules, &std::collections::HashSet::new()));
        let memory = Arc::new(std::sync::Mutex::new(memory));
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
                cancel_tx,
                cancel_rx,
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
                memory,
                in_resync: false,
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
                Some(asked) = self.runs.cancel_rx.recv() => self.cancel_asked(asked),
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
        if self.rules.tracks_phase() {
            match event.uri.as_str() {
                GAMEFLOW_PHASE => self.follow_phase(event.data.as_str()),
                GAMEFLOW_SESSION => {
                    if let Some(phase) = event.data.get("phase").and_then(serde_json::Value::as_str)
                    {
                        self.follow_phase(Some(phase));
                    }
                }
                _ => {}
            }
        }
        self.remember(&event);
        if self.rules.has_cancel_triggers() {
            self.cancel_on(&event);
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
            let verdict = self.decide(*hit, &rule, &origin, cause.as_ref());
            self.decided(&origin, hit.rule, verdict, at);
        }
        self.matching.hits = hits;
    }

    /// Keeps what the memory follows of `event`: a new connection, the payload of a URI a rule
    /// reads. (The phase is followed in [`Self::follow_phase`].)
    fn remember(&mut self, event: &Event) {
        let new_session = event.snapshot && !self.history.in_resync;
        self.history.in_resync = event.snapshot;
        let reads = self.rules.reads(&event.uri);
        if !new_session && !reads {
            return;
        }
        let mut memory = lock(&self.history.memory);
        if new_session {
            memory.new_session();
        }
        if reads {
            let data = (event.event_type != EventType::Delete).then(|| event.data.value());
            memory.saw(&event.uri, data);
        }
    }

    /// Books and reports `rule`'s verdict on the event of `origin`, reached `at` (since the engine
    /// started).
    fn decided(&mut self, origin: &Origin, rule: u32, verdict: Verdict, at: Duration) {
        match &verdict {
            Verdict::Fired { .. } | Verdict::Queued { .. } => {
                self.per_rule.states[rule as usize].fired += 1
            }
            Verdict::Suppressed { why } => {
                let state = &mut self.per_rule.states[rule as usize];
                state.suppressed += 1;
                if matches!(why, Suppressed::Busy) {
                    state.held_busy = Some(origin.clone());
                }
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

    /// Follows the gameflow phase; leaving a rule's phases gives up its runs, queued runs and
    /// debounced firings.
    fn follow_phase(&mut self, phase: Option<&str>) {
        let phase: Option<Arc<str>> = phase.map(Arc::from);
        if phase == self.per_rule.phase {
            return;
        }
        lock(&self.history.memory).phase_changed(phase.as_deref());
        let left = std::mem::replace(&mut self.per_rule.phase, phase.clone());
        let now = phase.as_deref().unwrap_or("unknown");
        let leaving: Vec<usize> = (self.rules.rules.iter().enumerate())
            .filter(|(_, rule)| rule.phases.is_some() && !rule.applies_in(phase.as_deref()))
            .map(|(index, _)| index)
            .collect();
        for index in leaving {
            let reason = format!(
                "left phase {} (now {now})",
                left.as_deref().unwrap_or("unknown")
            );
            self.give_up(index, &reason);
        }
    }

    /// Gives up a rule's runs (delays included), queued runs and debounced firings, each run
    /// reporting `reason`.
    fn give_up(&mut self, index: usize, reason: &str) {
        let state = &mut self.per_rule.states[index];
        for active in &state.active {
            let _ = active.abandon.set(reason.to_string());
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

    /// Gives up the runs of every rule whose `cancel_on` matches `event` (its conditions held).
    fn cancel_on(&mut self, event: &Event) {
        let mut hits = Vec::new();
        self.rules
            .cancel_candidates(&event.uri, event.event_type, &mut hits);
        for hit in hits {
            let index = hit.rule as usize;
            let state = &self.per_rule.states[index];
            let debouncing = self.debounce.debounced.keys().any(|(r, _)| *r == hit.rule);
            if state.active.is_empty() && state.queue.is_empty() && !debouncing {
                continue;
            }
            let rule = self.rules.rule(hit.rule).clone();
            let Some(cancel) = rule.cancel_on.get(hit.trigger as usize) else {
                continue;
            };
            let holds = {
                let mut memory = lock(&self.history.memory);
                memory.forget_expired();
                let scope = Scope::of_event(event, Some(&self.rules.vars), Some(&memory));
                cancel
                    .conditions
                    .iter()
                    .all(|c| c.check(&scope, &self.rules.registry).is_ok())
            };
            if holds {
                let reason = format!(
                    "cancel_on[{}]: {} event on {}",
                    hit.trigger,
                    event.event_type.as_str(),
                    event.uri
                );
                self.give_up(index, &reason);
            }
        }
    }

    /// A `cancel` step of a run asks for the runs of rule `id` to be given up.
    pub(super) fn cancel_asked(&mut self, asked: CancelAsked) {
        match self.rules.rules.iter().position(|r| r.id == asked.rule) {
            Some(index) => self.give_up(index, &asked.reason),
            None => {
                tracing::warn!(rule = %asked.rule, "a cancel step names a rule that is not loaded")
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
            broken_by: None,
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
            broken_by: None,
            vars: self.rules.vars.clone(),
            memory: self.history.memory.clone(),
            loop_names: Vec::new(),
            cancels: self.runs.cancel_tx.clone(),
            state_file: self.config.state_file.clone().map(Arc::from),
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
                end.broken_by = context.broken_by.take();
                end.report(outcome);
            })
            .abort_handle()
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
        let state = &mut self.per_rule.states[rule as usize];
        if let Some(breaking) = done.broken_by
            && state.active.is_empty()
            && state
                .held_busy
                .as_ref()
                .is_some_and(|held| Arc::ptr_eq(&held.event, &breaking))
            && let Some(held) = state.held_busy.take()
        {
            self.offer_again(rule, held);
        }
    }

    /// Decides `rule` on an event it was held back from, now that the run that held it gave up:
    /// the event that broke a `while` is acted on at once, not at the next event.
    fn offer_again(&mut self, rule: u32, origin: Origin) {
        let mut hits = Vec::new();
        self.candidates(&origin.event.uri, origin.event.event_type, &mut hits);
        let Some(hit) = hits.iter().find(|hit| hit.rule == rule) else {
            return;
        };
        let hit = *hit;
        let spec = self.rules.rule(rule).clone();
        let at = self.history.epoch.elapsed();
        let cause = self.history.writes.cause_of(&origin.event.uri, origin.now);
        let verdict = self.decide(hit, &spec, &origin, cause.as_ref());
        self.decided(&origin, rule, verdict, at);
    }

    /// Evaluates `rule` (the rule of `hit`) on the event of `origin`, and admits it if it fires.
    fn decide(
        &mut self,
        hit: Hit,
        rule: &Arc<Rule>,
        origin: &Origin,
        cause: Option<&Chain>,
    ) -> Verdict {
        let decision = {
            let mut memory = lock(&self.history.memory);
            memory.forget_expired();
            rule.evaluate(
                &origin.event,
                hit.trigger as usize,
                &self.rules.registry,
                &self.rules.vars,
                Some(&memory),
            )
        };
        match decision {
            Decision::Stop(miss) => Verdict::Stopped { miss: *miss },
            Decision::Fire(firing) => self.admit(hit.rule, rule, origin, firing, cause),
        }
    }
}

/// The ids of the rules of `rules` that are on: taking part, and not switched off.
pub(super) fn rules_on(rules: &RuleSet, off: &std::collections::HashSet<String>) -> Vec<String> {
    rules
        .taking_part()
        .filter(|r| !off.contains(&r.id))
        .map(|r| r.id.clone())
        .collect()
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
