//! The engine: one task that takes events in order, asks the rule set which rules fire, and
//! spawns every admitted run as its own tracked task. The loop never awaits a run: a slow request
//! can never delay the next event. Modes (`single`, `restart`, `queued`, `parallel`) and cooldowns
//! are enforced here, per rule. The engine does no IO: requests leave through the
//! [`ClientPort`](crate::port::ClientPort) and everything it does is reported to an
//! [`Observer`](crate::trace::Observer).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::event::Event;
use crate::matcher::Hit;
use crate::port::ClientPort;
use crate::rule::{Decision, Firing, RuleSet};
use crate::run::RunContext;
use crate::spec::Mode;
use crate::trace::{Observer, RunOutcome, Suppressed, Trace, Verdict};

/// How long in-flight runs may go on after shutdown is asked before they are cancelled.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How many runs may be active at once across all rules by default.
pub const DEFAULT_MAX_ACTIVE_RUNS: usize = 128;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Grace period for in-flight runs at shutdown.
    pub shutdown_grace: Duration,
    /// Runs active at once across all rules. At the cap the engine takes no new event until a
    /// run ends: the bounded event queue fills and the socket reader waits, so a flood slows the
    /// stream down instead of dropping events or growing memory without bound.
    pub max_active_runs: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            max_active_runs: DEFAULT_MAX_ACTIVE_RUNS,
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
    /// Triggers held back by a mode or cooldown.
    pub suppressed: u64,
    /// How many times the engine paused taking events because `max_active_runs` were active.
    pub saturated: u64,
    /// Runs cancelled (restart mode, or still running when the grace period ran out), as
    /// `(rule id, run number)`.
    pub cancelled: Vec<(String, u64)>,
}

/// A run waiting in a `queued` rule.
struct Pending {
    run: u64,
    event: Arc<Event>,
    firing: Firing,
}

/// Per-rule mode state.
#[derive(Default)]
struct RuleState {
    /// Active runs and their cancellation tokens.
    active: Vec<(u64, CancellationToken)>,
    /// Runs waiting (`queued` mode).
    queue: VecDeque<Pending>,
    /// When the rule last fired (for the cooldown).
    last_fired: Option<Instant>,
}

/// A run's end, sent back to the loop.
struct RunDone {
    rule: u32,
    run: u64,
    outcome: RunOutcome,
}

/// The engine; build it, then [`Engine::run`] it on a task.
pub struct Engine {
    rules: Arc<RuleSet>,
    port: Arc<dyn ClientPort>,
    observer: Arc<dyn Observer>,
    config: EngineConfig,
    states: Vec<RuleState>,
    rule_ids: Vec<Arc<str>>,
    tracker: TaskTracker,
    done_tx: mpsc::UnboundedSender<RunDone>,
    done_rx: mpsc::UnboundedReceiver<RunDone>,
    next_run: u64,
    next_seq: u64,
    /// Active runs across all rules.
    active_total: usize,
    epoch: Instant,
    report: EngineReport,
    hits: Vec<Hit>,
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
        Engine {
            rules,
            port,
            observer,
            config,
            states,
            rule_ids,
            tracker: TaskTracker::new(),
            done_tx,
            done_rx,
            next_run: 1,
            next_seq: 1,
            active_total: 0,
            epoch: Instant::now(),
            report: EngineReport::default(),
            hits: Vec::with_capacity(8),
        }
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
        let cancelled = loop {
            let saturated = self.active_total >= cap;
            if saturated && !was_saturated {
                self.report.saturated += 1;
                tracing::warn!(
                    active_runs = self.active_total,
                    "run limit reached: taking no new event until a run ends"
                );
            }
            was_saturated = saturated;
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break true,
                Some(done) = self.done_rx.recv() => self.on_run_done(done),
                input = events.recv(), if !saturated => match input {
                    Some(event) => self.on_event(event),
                    None => break false,
                },
            }
        };
        if cancelled {
            self.shut_down().await;
        } else {
            self.drain(&shutdown).await;
        }
        self.report
    }

    /// Handles one event: match, evaluate, admit, spawn. Never awaits.
    fn on_event(&mut self, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.report.events += 1;
        let event = Arc::new(event);
        let at = self.epoch.elapsed();
        self.observer.observe(Trace::Event {
            at,
            seq,
            event: event.clone(),
        });
        let mut hits = std::mem::take(&mut self.hits);
        self.rules
            .candidates(&event.uri, event.event_type, &mut hits);
        for hit in &hits {
            let rule = self.rules.rule(hit.rule).clone();
            if event.snapshot && !rule.snapshots {
                continue;
            }
            let verdict = match rule.evaluate(&event, hit.trigger as usize, &self.rules.registry) {
                Decision::Stop(miss) => Verdict::Stopped { miss: *miss },
                Decision::Fire(firing) => self.admit(hit.rule, &event, firing),
            };
            self.observer.observe(Trace::Decision {
                at,
                seq,
                rule: self.rule_ids[hit.rule as usize].clone(),
                verdict,
            });
        }
        self.hits = hits;
    }

    /// Applies the cooldown and the rule's mode to a firing.
    fn admit(&mut self, rule: u32, event: &Arc<Event>, firing: Firing) -> Verdict {
        let spec = self.rules.rule(rule).clone();
        let now = Instant::now();
        let state = &mut self.states[rule as usize];
        if let (Some(cooldown), Some(last)) = (spec.cooldown, state.last_fired) {
            let until = last + cooldown;
            if now < until {
                self.report.suppressed += 1;
                return Verdict::Suppressed {
                    why: Suppressed::Cooldown {
                        remaining_ms: (until - now).as_millis() as u64,
                    },
                };
            }
        }
        let busy = !state.active.is_empty();
        let held_back = match spec.mode {
            Mode::Single if busy => Some(Suppressed::Busy),
            Mode::Parallel if state.active.len() >= spec.max as usize => Some(Suppressed::MaxRuns),
            Mode::Queued if busy && state.queue.len() >= spec.max as usize => {
                Some(Suppressed::QueueFull)
            }
            _ => None,
        };
        if let Some(why) = held_back {
            self.report.suppressed += 1;
            return Verdict::Suppressed { why };
        }
        state.last_fired = Some(now);
        let run = self.next_run;
        self.next_run += 1;
        match spec.mode {
            Mode::Queued if busy => {
                state.queue.push_back(Pending {
                    run,
                    event: event.clone(),
                    firing,
                });
                Verdict::Queued { run }
            }
            Mode::Restart => {
                for (_, token) in &state.active {
                    token.cancel();
                }
                self.start(rule, run, event.clone(), firing);
                Verdict::Fired { run }
            }
            _ => {
                self.start(rule, run, event.clone(), firing);
                Verdict::Fired { run }
            }
        }
    }

    /// Spawns a run on the tracker.
    fn start(&mut self, rule: u32, run: u64, event: Arc<Event>, firing: Firing) {
        let token = CancellationToken::new();
        self.states[rule as usize].active.push((run, token.clone()));
        self.active_total += 1;
        self.report.runs_started += 1;
        let rule_id = self.rule_ids[rule as usize].clone();
        let context = RunContext {
            rule: self.rules.rule(rule).clone(),
            rule_id: rule_id.clone(),
            event,
            firing,
            registry: self.rules.registry.clone(),
            port: self.port.clone(),
            observer: self.observer.clone(),
            run,
            epoch: self.epoch,
        };
        let observer = self.observer.clone();
        let done = self.done_tx.clone();
        let epoch = self.epoch;
        self.tracker.spawn(async move {
            let outcome = tokio::select! {
                outcome = context.execute() => outcome,
                _ = token.cancelled() => RunOutcome::Cancelled,
            };
            observer.observe(Trace::RunFinished {
                at: epoch.elapsed(),
                run,
                rule: rule_id,
                outcome: outcome.clone(),
            });
            let _ = done.send(RunDone { rule, run, outcome });
        });
    }

    /// Books a finished run and starts the next queued one.
    fn on_run_done(&mut self, done: RunDone) {
        match &done.outcome {
            RunOutcome::Completed => self.report.runs_completed += 1,
            RunOutcome::Failed { .. } => self.report.runs_failed += 1,
            RunOutcome::Cancelled => self
                .report
                .cancelled
                .push((self.rule_ids[done.rule as usize].to_string(), done.run)),
        }
        let state = &mut self.states[done.rule as usize];
        let before = state.active.len();
        state.active.retain(|(run, _)| *run != done.run);
        self.active_total -= before - state.active.len();
        if state.active.is_empty()
            && let Some(next) = state.queue.pop_front()
        {
            self.start(done.rule, next.run, next.event, next.firing);
        }
    }

    fn active_runs(&self) -> usize {
        self.active_total
    }

    /// The event stream ended: let every run (and every queued run) finish, unless shutdown is
    /// asked meanwhile.
    async fn drain(&mut self, shutdown: &CancellationToken) {
        while self.active_runs() > 0 {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return self.shut_down().await,
                Some(done) = self.done_rx.recv() => self.on_run_done(done),
            }
        }
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Shutdown: no queued run starts; active runs get the grace period, then are cancelled.
    async fn shut_down(&mut self) {
        for state in &mut self.states {
            state.queue.clear();
        }
        let deadline = Instant::now() + self.config.shutdown_grace;
        while self.active_runs() > 0 {
            tokio::select! {
                Some(done) = self.done_rx.recv() => self.on_run_done(done),
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        for state in &self.states {
            for (_, token) in &state.active {
                token.cancel();
            }
        }
        while self.active_runs() > 0 {
            match self.done_rx.recv().await {
                Some(done) => self.on_run_done(done),
                None => break,
            }
        }
        self.tracker.close();
        self.tracker.wait().await;
    }
}
