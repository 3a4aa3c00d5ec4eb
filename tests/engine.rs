//! The engine's behaviour in virtual time (tokio's paused clock): a slow action never delays the
//! next event, the four modes and the cooldown behave as documented, retries back off, failures
//! stop a run, and shutdown cancels what outlives the grace period.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use lcu_rules::engine::port::{
    ClientPort, HttpRequest, HttpResponse, PortFuture, Reservation, ReserveFuture,
};
use lcu_rules::engine::trace::{RunOutcome, Suppressed, Trace, Verdict};
use lcu_rules::engine::{Engine, EngineConfig, EngineReport};
use lcu_rules::event::{Event, EventType};
use lcu_rules::language::RuleSet;
use lcu_rules::language::load;
use lcu_rules::offline::Collector;

use crate::util::Dir;

/// A port whose answers are scripted per path: a delay, and statuses to answer in turn.
#[derive(Default)]
struct ScriptedPort {
    epoch: Option<Instant>,
    delays: HashMap<String, Duration>,
    statuses: Arc<Mutex<HashMap<String, Vec<u16>>>>,
    sent: Arc<Mutex<Vec<(Duration, String)>>>,
    /// A bound on requests in flight, as the live port has.
    room: Option<Arc<tokio::sync::Semaphore>>,
}

impl ScriptedPort {
    fn new() -> ScriptedPort {
        ScriptedPort {
            epoch: Some(Instant::now()),
            ..Default::default()
        }
    }

    fn delay(mut self, path: &str, delay: Duration) -> Self {
        self.delays.insert(path.into(), delay);
        self
    }

    fn room(mut self, in_flight: usize) -> Self {
        self.room = Some(Arc::new(tokio::sync::Semaphore::new(in_flight)));
        self
    }

    fn statuses(self, path: &str, statuses: &[u16]) -> Self {
        self.statuses
            .lock()
            .unwrap()
            .insert(path.into(), statuses.to_vec());
        self
    }
}

impl ClientPort for ScriptedPort {
    fn send(&self, request: HttpRequest) -> PortFuture {
        // Without reserved room, the request waits for some here, as on the live port.
        let Some(room) = self.room.clone() else {
            return self.answer(request);
        };
        let port = self.clone_script();
        Box::pin(async move {
            let _room = room.acquire_owned().await.unwrap();
            port.answer(request).await
        })
    }

    fn try_reserve(&self) -> Option<Reservation> {
        match &self.room {
            Some(room) => room
                .clone()
                .try_acquire_owned()
                .ok()
                .map(|room| Reservation::holding(Box::new(room))),
            None => Some(Reservation::unbounded()),
        }
    }

    fn reserve(&self) -> ReserveFuture {
        let room = self.room.clone();
        Box::pin(async move {
            match room {
                Some(room) => Reservation::holding(Box::new(room.acquire_owned().await.unwrap())),
                None => Reservation::unbounded(),
            }
        })
    }

    fn send_reserved(&self, request: HttpRequest, reservation: Reservation) -> PortFuture {
        let answer = self.answer(request);
        Box::pin(async move {
            let answer = answer.await;
            drop(reservation);
            answer
        })
    }
}

impl ScriptedPort {
    /// A port sharing this one's script and record, for a request that outlives the borrow.
    fn clone_script(&self) -> ScriptedPort {
        ScriptedPort {
            epoch: self.epoch,
            delays: self.delays.clone(),
            statuses: self.statuses.clone(),
            sent: self.sent.clone(),
            room: None,
        }
    }

    fn answer(&self, request: HttpRequest) -> PortFuture {
        let at = self.epoch.unwrap().elapsed();
        self.sent.lock().unwrap().push((at, request.path.clone()));
        let delay = self.delays.get(&request.path).copied().unwrap_or_default();
        let status = {
            let mut statuses = self.statuses.lock().unwrap();
            match statuses.get_mut(&request.path) {
                Some(list) if !list.is_empty() => list.remove(0),
                _ => 200,
            }
        };
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Ok(HttpResponse {
                status,
                body: json!({"message": "scripted"}),
            })
        })
    }
}

fn rules(yaml: &str) -> Arc<RuleSet> {
    let dir = Dir::new();
    let file = dir.file("rules.yaml", yaml);
    let loaded = load(&[file]);
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    Arc::new(loaded.rule_set())
}

struct Outcome {
    report: EngineReport,
    traces: Vec<Trace>,
    sent: Vec<(Duration, String)>,
}

/// Feeds `(ms, uri, data)` events at their times; cancels the engine at `cancel_at` if given.
async fn drive(
    rules: Arc<RuleSet>,
    port: ScriptedPort,
    events: &[(u64, &str, Value)],
    cancel_at: Option<Duration>,
) -> Outcome {
    let sent = port.sent.clone();
    let collector = Arc::new(Collector::default());
    let config = EngineConfig {
        shutdown_grace: Duration::from_secs(2),
        max_active_runs: 3,
        ..EngineConfig::default()
    };
    let engine = Engine::new(rules, Arc::new(port), collector.clone(), config);
    let start = Instant::now();
    let (tx, rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(engine.run(rx, shutdown.clone()));
    for (ms, uri, data) in events {
        tokio::time::sleep_until(start + Duration::from_millis(*ms)).await;
        tx.send(Event::new(*uri, EventType::Update, data.clone()))
            .await
            .unwrap();
    }
    if let Some(at) = cancel_at {
        tokio::time::sleep_until(start + at).await;
        shutdown.cancel();
    }
    drop(tx);
    let report = task.await.unwrap();
    let sent = sent.lock().unwrap().clone();
    Outcome {
        report,
        traces: collector.traces(),
        sent,
    }
}

/// An engine running with the default limits, for tests that send it commands.
struct Running {
    commands: mpsc::UnboundedSender<lcu_rules::engine::Command>,
    events: mpsc::Sender<Event>,
    task: tokio::task::JoinHandle<EngineReport>,
}

fn start(rules: Arc<RuleSet>, port: ScriptedPort, collector: Arc<Collector>) -> Running {
    let mut engine = Engine::new(rules, Arc::new(port), collector, EngineConfig::default());
    let commands = engine.commands();
    let (events, rx) = mpsc::channel(16);
    let task = tokio::spawn(engine.run(rx, CancellationToken::new()));
    Running {
        commands,
        events,
        task,
    }
}

/// Swaps `rules` into the running engine and waits for its summary.
async fn replace_rules(
    commands: &mpsc::UnboundedSender<lcu_rules::engine::Command>,
    rules: Arc<RuleSet>,
) -> lcu_rules::engine::ReloadSummary {
    let (reply, answer) = tokio::sync::oneshot::channel();
    commands
        .send(lcu_rules::engine::Command::Replace { rules, reply })
        .unwrap();
    answer.await.unwrap()
}

fn times(sent: &[(Duration, String)]) -> Vec<u64> {
    sent.iter().map(|(at, _)| at.as_millis() as u64).collect()
}

fn suppressed(traces: &[Trace]) -> Vec<Suppressed> {
    traces
        .iter()
        .filter_map(|t| match t {
            Trace::Decision {
                verdict: Verdict::Suppressed { why },
                ..
            } => Some(why.clone()),
            _ => None,
        })
        .collect()
}

const DELAYED: &str = "rules:\n  - id: r\n    on: /e\n    MODE\n    do:\n      - delay: 5s\n      - request: POST /x\n";

fn delayed_rule(mode: &str) -> Arc<RuleSet> {
    rules(&DELAYED.replace("MODE", mode))
}

/// The point the project was seeded with: a request that takes 4 s to answer does not delay
/// the handling of the next event (its rule fires and sends 1 ms later, not 4 s later).
#[tokio::test(start_paused = true)]
async fn a_slow_action_never_delays_the_next_event() {
    let rules = rules(
        "rules:\n  - id: slow\n    on: /slow\n    do: [{request: POST /slow-call}]\n  - id: fast\n    on: /fast\n    do: [{request: POST /fast-call}]\n",
    );
    let port = ScriptedPort::new().delay("/slow-call", Duration::from_secs(4));
    let out = drive(
        rules,
        port,
        &[(0, "/slow", json!({})), (1, "/fast", json!({}))],
        None,
    )
    .await;
    assert_eq!(
        out.sent,
        vec![
            (Duration::ZERO, "/slow-call".into()),
            (Duration::from_millis(1), "/fast-call".into())
        ]
    );
    assert_eq!(out.report.runs_completed, 2, "{:?}", out.report);
}

/// `single` ignores triggers while a run is active.
#[tokio::test(start_paused = true)]
async fn single_mode_ignores_triggers_while_running() {
    let events = [
        (0, "/e", json!(1)),
        (1000, "/e", json!(2)),
        (2000, "/e", json!(3)),
        (6000, "/e", json!(4)),
    ];
    let out = drive(
        delayed_rule("mode: single"),
        ScriptedPort::new(),
        &events,
        None,
    )
    .await;
    assert_eq!(times(&out.sent), vec![5000, 11000]);
    assert_eq!(
        suppressed(&out.traces),
        vec![Suppressed::Busy, Suppressed::Busy]
    );
}

/// `restart` cancels the active run and starts again.
#[tokio::test(start_paused = true)]
async fn restart_mode_cancels_and_restarts() {
    let events = [
        (0, "/e", json!(1)),
        (1000, "/e", json!(2)),
        (2000, "/e", json!(3)),
    ];
    let out = drive(
        delayed_rule("mode: restart"),
        ScriptedPort::new(),
        &events,
        None,
    )
    .await;
    assert_eq!(times(&out.sent), vec![7000]);
    assert_eq!(
        out.report.cancelled,
        vec![("r".to_string(), 1), ("r".to_string(), 2)]
    );
}

/// `queued` runs one after another, up to `max` waiting.
#[tokio::test(start_paused = true)]
async fn queued_mode_runs_in_turn_up_to_max() {
    let events = [
        (0, "/e", json!(1)),
        (1000, "/e", json!(2)),
        (2000, "/e", json!(3)),
    ];
    let out = drive(
        delayed_rule("mode: queued\n    max: 1"),
        ScriptedPort::new(),
        &events,
        None,
    )
    .await;
    assert_eq!(times(&out.sent), vec![5000, 10000]);
    assert_eq!(suppressed(&out.traces), vec![Suppressed::QueueFull]);
}

/// `parallel` runs alongside, up to `max` at once.
#[tokio::test(start_paused = true)]
async fn parallel_mode_runs_alongside_up_to_max() {
    let events = [
        (0, "/e", json!(1)),
        (1000, "/e", json!(2)),
        (2000, "/e", json!(3)),
    ];
    let out = drive(
        delayed_rule("mode: parallel\n    max: 2"),
        ScriptedPort::new(),
        &events,
        None,
    )
    .await;
    assert_eq!(times(&out.sent), vec![5000, 6000]);
    assert_eq!(suppressed(&out.traces), vec![Suppressed::MaxRuns]);
}

/// After firing, a rule ignores triggers for its cooldown.
#[tokio::test(start_paused = true)]
async fn cooldown_holds_back_triggers() {
    let rules =
        rules("rules:\n  - id: r\n    on: /e\n    cooldown: 3s\n    do: [{request: POST /x}]\n");
    let events = [
        (0, "/e", json!(1)),
        (1000, "/e", json!(2)),
        (3500, "/e", json!(3)),
    ];
    let out = drive(rules, ScriptedPort::new(), &events, None).await;
    assert_eq!(times(&out.sent), vec![0, 3500]);
    assert_eq!(
        suppressed(&out.traces),
        vec![Suppressed::Cooldown { remaining_ms: 2000 }]
    );
}

/// Failed attempts are retried with doubling backoff.
#[tokio::test(start_paused = true)]
async fn retries_back_off() {
    let rules = rules(
        "rules:\n  - id: r\n    on: /e\n    do:\n      - request: {method: POST, path: /x, retries: 2, backoff: 100ms}\n",
    );
    let port = ScriptedPort::new().statuses("/x", &[500, 500, 204]);
    let out = drive(rules, port, &[(0, "/e", json!(1))], None).await;
    assert_eq!(times(&out.sent), vec![0, 100, 300]);
    assert_eq!(out.report.runs_completed, 1);
}

/// An unexpected status fails the run at that step; later steps do not run.
#[tokio::test(start_paused = true)]
async fn a_failed_step_ends_the_run() {
    let rules = rules(
        "rules:\n  - id: r\n    on: /e\n    do:\n      - request: POST /x\n      - request: POST /y\n",
    );
    let port = ScriptedPort::new().statuses("/x", &[404]);
    let out = drive(rules, port, &[(0, "/e", json!(1))], None).await;
    assert_eq!(out.sent.len(), 1);
    let failure = out.traces.iter().find_map(|t| match t {
        Trace::RunFinished {
            outcome: RunOutcome::Failed { step, error },
            ..
        } => Some((*step, error.clone())),
        _ => None,
    });
    assert_eq!(
        failure,
        Some((0, "POST /x: unexpected status 404: scripted".to_string()))
    );
}

/// A value missing at run time fails the run with a message naming it; nothing is sent.
#[tokio::test(start_paused = true)]
async fn a_missing_value_fails_the_run_not_the_engine() {
    let rules =
        rules("rules:\n  - id: r\n    on: /e\n    do:\n      - request: POST /x/{{data.id}}\n");
    let out = drive(
        rules,
        ScriptedPort::new(),
        &[(0, "/e", json!({})), (10, "/e", json!({"id": 7}))],
        None,
    )
    .await;
    assert_eq!(
        out.sent,
        vec![(Duration::from_millis(10), "/x/7".to_string())]
    );
    assert_eq!(out.report.runs_failed, 1);
}

/// Shutdown gives runs the grace period, then cancels them and says which.
#[tokio::test(start_paused = true)]
async fn shutdown_cancels_runs_after_the_grace_period() {
    let rules = rules(
        "rules:\n  - id: long\n    on: /e\n    do: [{delay: 60s}, {request: POST /never}]\n  - id: short\n    on: /e\n    do: [{delay: 1500ms}, {request: POST /soon}]\n",
    );
    let started = Instant::now();
    let out = drive(
        rules,
        ScriptedPort::new(),
        &[(0, "/e", json!(1))],
        Some(Duration::from_secs(1)),
    )
    .await;
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(times(&out.sent), vec![1500]);
    assert_eq!(out.report.cancelled, vec![("long".to_string(), 1)]);
}

/// Query values are templates, percent-encoded as query text.
#[tokio::test(start_paused = true)]
async fn query_values_are_encoded() {
    let rules = rules(
        "rules:\n  - id: r\n    on: /e\n    do:\n      - request: {method: GET, path: /x, query: {name: \"{{data.n}}\", page: \"2\"}}\n",
    );
    let out = drive(
        rules,
        ScriptedPort::new(),
        &[(0, "/e", json!({"n": "a b&c=d/é"}))],
        None,
    )
    .await;
    assert_eq!(
        out.sent,
        vec![(
            Duration::ZERO,
            "/x?name=a%20b%26c%3Dd%2F%C3%A9&page=2".to_string()
        )]
    );
}

/// At the global run limit the engine takes no new event until a run ends: later triggers wait
/// (none is dropped) and each starts as an earlier run ends.
#[tokio::test(start_paused = true)]
async fn the_run_limit_delays_events_instead_of_dropping_them() {
    let rules = rules(
        "rules:\n  - id: r\n    on: /e\n    mode: parallel\n    max: 100\n    do: [{delay: 10s}, {request: POST /x}]\n",
    );
    let events: Vec<(u64, &str, Value)> = (0..5).map(|i| (i, "/e", json!(i))).collect();
    let out = drive(rules, ScriptedPort::new(), &events, None).await;
    assert_eq!(
        times(&out.sent),
        vec![10_000, 10_001, 10_002, 20_000, 20_001]
    );
    assert_eq!(out.report.runs_completed, 5);
    assert_eq!(out.report.suppressed, 0);
    assert!(out.report.saturated >= 1);
}

fn outcomes(traces: &[Trace]) -> Vec<RunOutcome> {
    traces
        .iter()
        .filter_map(|t| match t {
            Trace::RunFinished { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .collect()
}

/// `debounce` fires once, with the latest event, after the trigger has been quiet for the
/// window; with a `key`, each key is debounced on its own.
#[tokio::test(start_paused = true)]
async fn debounce_fires_once_after_quiet_per_key() {
    let yaml = "rules:\n  - id: d\n    on: /items/{id}\n    mode: parallel\n    debounce: {duration: 500ms, key: '{{params.id}}'}\n    do:\n      - request: {method: PUT, path: '/out/{{params.id}}', body: {n: '{{data.n}}'}}\n";
    let events = [
        (0, "/items/a", json!({"n": 1})),
        (300, "/items/a", json!({"n": 2})),
        (400, "/items/b", json!({"n": 7})),
        (600, "/items/a", json!({"n": 3})),
        (3000, "/items/a", json!({"n": 4})),
    ];
    let out = drive(rules(yaml), ScriptedPort::new(), &events, None).await;
    assert_eq!(
        out.sent,
        vec![
            (Duration::from_millis(900), "/out/b".into()),
            (Duration::from_millis(1100), "/out/a".into()),
            (Duration::from_millis(3500), "/out/a".into()),
        ]
    );
    let debounced = out
        .traces
        .iter()
        .filter(|t| {
            matches!(
                t,
                Trace::Decision {
                    verdict: Verdict::Debounced { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(debounced, 5);
}

/// `throttle` with a key lets each key fire at most once per window, independently.
#[tokio::test(start_paused = true)]
async fn throttle_per_key() {
    let yaml = "rules:\n  - id: t\n    on: /items/{id}\n    mode: parallel\n    throttle: {duration: 1s, key: '{{params.id}}'}\n    do:\n      - request: 'POST /out/{{params.id}}'\n";
    let events = [
        (0, "/items/a", json!({})),
        (500, "/items/a", json!({})),
        (600, "/items/b", json!({})),
        (1000, "/items/a", json!({})),
    ];
    let out = drive(rules(yaml), ScriptedPort::new(), &events, None).await;
    assert_eq!(
        out.sent,
        vec![
            (Duration::ZERO, "/out/a".into()),
            (Duration::from_millis(600), "/out/b".into()),
            (Duration::from_millis(1000), "/out/a".into()),
        ]
    );
    assert_eq!(
        suppressed(&out.traces),
        vec![Suppressed::Throttled {
            key: Some("a".into()),
            remaining_ms: 500
        }]
    );
}

/// A phase-scoped rule fires only in its phases, and leaving the phase gives up its delayed
/// run before the request is sent.
#[tokio::test(start_paused = true)]
async fn phase_scope_and_leaving_the_phase() {
    let yaml = "rules:\n  - id: p\n    on: /e\n    phases: [ChampSelect]\n    do:\n      - delay: 5s\n      - request: POST /x\n";
    let phase = "/lol-gameflow/v1/gameflow-phase";
    let events = [
        (0, "/e", json!(1)),
        (10, phase, json!("ChampSelect")),
        (100, "/e", json!(2)),
        (2000, phase, json!("InProgress")),
        (3000, "/e", json!(3)),
        (4000, phase, json!("ChampSelect")),
        (4100, "/e", json!(4)),
    ];
    let out = drive(rules(yaml), ScriptedPort::new(), &events, None).await;
    assert_eq!(times(&out.sent), vec![9100]);
    assert_eq!(
        suppressed(&out.traces),
        vec![
            Suppressed::Phase { phase: None },
            Suppressed::Phase {
                phase: Some("InProgress".into())
            }
        ]
    );
    assert_eq!(
        outcomes(&out.traces),
        vec![
            RunOutcome::Abandoned {
                reason: "left phase ChampSelect (now InProgress)".into()
            },
            RunOutcome::Completed
        ]
    );
    assert_eq!(out.report.runs_abandoned, 1);
}

const GRACE_ACCEPT: &str = "rules:\n  - id: accept\n    on: /lol-matchmaking/v1/ready-check\n    when:\n      - {path: $.data.state, equals: InProgress}\n      - {path: $.data.playerResponse, equals: None}\n    do:\n      - delay:\n          for: 3s\n          while:\n            - {path: $.data.state, equals: InProgress}\n            - {path: $.data.playerResponse, equals: None}\n      - request: POST /lol-matchmaking/v1/ready-check/accept\n";

/// A delay with `while` gives the run up when a newer event breaks a condition (the player
/// declined by hand), and otherwise lets it go on.
#[tokio::test(start_paused = true)]
async fn delay_while_gives_up_when_the_condition_breaks() {
    let uri = "/lol-matchmaking/v1/ready-check";
    let pending = json!({"state": "InProgress", "playerResponse": "None"});
    let declined = json!({"state": "InProgress", "playerResponse": "Declined"});
    let out = drive(
        rules(GRACE_ACCEPT),
        ScriptedPort::new(),
        &[(0, uri, pending.clone()), (1000, uri, declined)],
        None,
    )
    .await;
    assert!(out.sent.is_empty(), "{:?}", out.sent);
    assert_eq!(
        outcomes(&out.traces),
        vec![RunOutcome::Abandoned {
            reason: "step 1 (delay): Update event on /lol-matchmaking/v1/ready-check: while[1]: `$.data.playerResponse` was \"Declined\", expected equals \"None\"".into()
        }]
    );

    let unchanged = drive(
        rules(GRACE_ACCEPT),
        ScriptedPort::new(),
        &[(0, uri, pending.clone()), (1000, uri, pending)],
        None,
    )
    .await;
    assert_eq!(
        unchanged.sent,
        vec![(
            Duration::from_secs(3),
            "/lol-matchmaking/v1/ready-check/accept".into()
        )]
    );
}

/// The circuit breaker: the 21st firing within 10 s trips it and the rule stays off, however
/// slowly events come afterwards, until a reset command.
#[tokio::test(start_paused = true)]
async fn breaker_trips_and_resets() {
    let rules = rules("rules:\n  - id: flap\n    on: /e\n    do: [{request: POST /x}]\n");
    let port = ScriptedPort::new();
    let sent = port.sent.clone();
    let collector = Arc::new(Collector::default());
    let Running {
        commands,
        events: tx,
        task,
    } = start(rules, port, collector.clone());
    for n in 0..25 {
        tx.send(Event::new("/e", EventType::Update, json!(n)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    tx.send(Event::new("/e", EventType::Update, json!("late")))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(sent.lock().unwrap().len(), 20);
    let (reply, answer) = tokio::sync::oneshot::channel();
    commands
        .send(lcu_rules::engine::Command::Status(reply))
        .unwrap();
    let status = answer.await.unwrap();
    assert!(status.rules[0].tripped);
    assert_eq!((status.rules[0].fired, status.rules[0].suppressed), (20, 6));

    let (reply, answer) = tokio::sync::oneshot::channel();
    commands
        .send(lcu_rules::engine::Command::ResetBreaker { rule: None, reply })
        .unwrap();
    assert_eq!(answer.await.unwrap(), vec!["flap".to_string()]);
    tx.send(Event::new("/e", EventType::Update, json!("after reset")))
        .await
        .unwrap();
    drop(tx);
    task.await.unwrap();
    assert_eq!(sent.lock().unwrap().len(), 21);
    let trips: Vec<Suppressed> = suppressed(&collector.traces());
    assert_eq!(trips[0], Suppressed::Breaker { tripped_now: true });
    assert!(
        trips[1..]
            .iter()
            .all(|s| *s == Suppressed::Breaker { tripped_now: false })
    );
}

/// A rule that writes to the URI it triggers on is not re-triggered by the echo of its write
/// (within the echo window), unless it opts in with `allow_echo`.
#[tokio::test(start_paused = true)]
async fn echo_of_own_write_does_not_retrigger() {
    let yaml = "rules:\n  - id: me\n    on: /lol-chat/v1/me\n    do: [{request: {method: PUT, path: /lol-chat/v1/me, body: {}}}]\n";
    let events = [
        (0, "/lol-chat/v1/me", json!(1)),
        (5, "/lol-chat/v1/me", json!(2)),
        (5000, "/lol-chat/v1/me", json!(3)),
    ];
    let out = drive(rules(yaml), ScriptedPort::new(), &events, None).await;
    assert_eq!(times(&out.sent), vec![0, 5000]);
    assert_eq!(suppressed(&out.traces), vec![Suppressed::Echo]);

    let opted_in = yaml.replace("    do:", "    allow_echo: true\n    do:");
    let out = drive(rules(&opted_in), ScriptedPort::new(), &events, None).await;
    assert_eq!(times(&out.sent), vec![0, 5, 5000]);
}

/// A reload swaps rules without losing state: an unchanged rule keeps its in-flight run and its
/// cooldown; a changed rule's run is given up; a new rule is added; a changed rule that says
/// `on_reload: finish` keeps its run going.
#[tokio::test(start_paused = true)]
async fn a_reload_keeps_unchanged_rules_and_gives_up_changed_ones() {
    let keep = "  - id: keep\n    on: /a\n    cooldown: 30s\n    do:\n      - delay: 5s\n      - request: POST /a\n";
    let change =
        "  - id: change\n    on: /b\n    do:\n      - delay: 5s\n      - request: POST /b\n";
    let finish = "  - id: finish\n    on: /c\n    on_reload: finish\n    do:\n      - delay: 5s\n      - request: POST /c\n";
    let before = rules(&format!("rules:\n{keep}{change}{finish}"));
    let after = rules(&format!(
        "rules:\n{keep}{}{}  - id: new\n    on: /d\n    do: [{{request: POST /d}}]\n",
        change.replace("5s", "6s"),
        finish.replace("POST /c", "POST /c2")
    ));
    let port = ScriptedPort::new();
    let sent = port.sent.clone();
    let collector = Arc::new(Collector::default());
    let Running {
        commands,
        events: tx,
        task,
    } = start(before, port, collector.clone());
    for uri in ["/a", "/b", "/c"] {
        tx.send(Event::new(uri, EventType::Update, json!({})))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let summary = replace_rules(&commands, after).await;
    assert_eq!(summary.unchanged, vec!["keep"]);
    assert_eq!(summary.changed, vec!["change", "finish"]);
    assert_eq!(summary.added, vec!["new"]);
    assert!(summary.removed.is_empty());
    assert_eq!(summary.cancelled_runs, 1);

    tokio::time::sleep(Duration::from_secs(9)).await;
    tx.send(Event::new("/a", EventType::Update, json!({})))
        .await
        .unwrap();
    tx.send(Event::new("/d", EventType::Update, json!({})))
        .await
        .unwrap();
    drop(tx);
    let report = task.await.unwrap();
    let sent = sent.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![
            (Duration::from_secs(5), "/a".to_string()),
            (Duration::from_secs(5), "/c".to_string()),
            (Duration::from_secs(10), "/d".to_string()),
        ]
    );
    assert_eq!(
        suppressed(&collector.traces()),
        vec![Suppressed::Cooldown {
            remaining_ms: 20_000
        }]
    );
    assert_eq!(
        outcomes(&collector.traces())
            .into_iter()
            .filter(|o| matches!(o, RunOutcome::Abandoned { .. }))
            .collect::<Vec<_>>(),
        vec![RunOutcome::Abandoned {
            reason: "its rule was changed by a reload".into()
        }]
    );
    assert_eq!(report.runs_completed, 3);
}

/// The engine keeps the matcher's answer for the last URI; a reload must not leave it answering
/// with the old rule set's rule numbers.
#[tokio::test(start_paused = true)]
async fn a_reload_rematches_the_last_uri() {
    let before = rules("rules:\n  - id: a\n    on: /same\n    do: [{request: POST /a}]\n");
    let after = rules(
        "rules:\n  - id: b\n    on: /other\n    do: [{request: POST /b}]\n  - id: c\n    on: /same\n    do: [{request: POST /c}]\n",
    );
    let port = ScriptedPort::new();
    let sent = port.sent.clone();
    let Running {
        commands,
        events: tx,
        task,
    } = start(before, port, Arc::new(Collector::default()));
    tx.send(Event::new("/same", EventType::Update, json!({})))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    replace_rules(&commands, after).await;
    tx.send(Event::new("/same", EventType::Update, json!({})))
        .await
        .unwrap();
    drop(tx);
    task.await.unwrap();
    let paths: Vec<String> = sent
        .lock()
        .unwrap()
        .iter()
        .map(|(_, p)| p.clone())
        .collect();
    assert_eq!(paths, vec!["/a", "/c"]);
}

const ACCEPT_ANY: &str = "rules:\n  - id: accept\n    on: /e\n    mode: parallel\n    max: 10\n    do:\n      - request: {method: POST, path: /accept, timeout: 1500ms}\n  - id: note\n    on: /n\n    do:\n      - log: noted\n";

/// With room for one request at a time, runs that start with a request wait for room in the
/// order they fired, and their timeout counts from sending, not from waiting: each answer takes
/// 1 s, the third run waits 2 s and still succeeds within its 1.5 s.
#[tokio::test(start_paused = true)]
async fn runs_wait_for_room_on_the_port_in_turn() {
    let port = ScriptedPort::new()
        .room(1)
        .delay("/accept", Duration::from_secs(1));
    let events = [
        (0, "/e", json!(1)),
        (1, "/e", json!(2)),
        (2, "/e", json!(3)),
    ];
    let out = drive(rules(ACCEPT_ANY), port, &events, None).await;
    assert_eq!(times(&out.sent), vec![0, 1000, 2000]);
    assert_eq!(out.report.runs_completed, 3, "{:?}", out.report);
    assert_eq!(out.report.runs_failed, 0, "{:?}", out.report);
}

/// While a run waits for room, the engine takes no new event (the stream waits, nothing is
/// lost): the event behind it is handled once the run could start.
#[tokio::test(start_paused = true)]
async fn a_run_waiting_for_room_holds_the_stream_back_without_losing_it() {
    let port = ScriptedPort::new()
        .room(1)
        .delay("/accept", Duration::from_secs(1));
    let events = [
        (0, "/e", json!(1)),
        (1, "/e", json!(2)),
        (2, "/n", json!(3)),
    ];
    let out = drive(rules(ACCEPT_ANY), port, &events, None).await;
    let logged: Vec<Duration> = out
        .traces
        .iter()
        .filter_map(|t| match t {
            Trace::Log { at, .. } => Some(*at),
            _ => None,
        })
        .collect();
    assert_eq!(logged.len(), 1, "{:?}", out.traces);
    assert!(logged[0] >= Duration::from_secs(1), "{logged:?}");
    assert_eq!(out.report.runs_completed, 3, "{:?}", out.report);
}

/// Shutdown starts no run still waiting for room: it ends cancelled, its request never sent,
/// even when room frees up during the grace period (the run in flight times out after 1.5 s).
#[tokio::test(start_paused = true)]
async fn shutdown_cancels_runs_waiting_for_room() {
    let port = ScriptedPort::new()
        .room(1)
        .delay("/accept", Duration::from_secs(10));
    let events = [(0, "/e", json!(1)), (1, "/e", json!(2))];
    let out = drive(
        rules(ACCEPT_ANY),
        port,
        &events,
        Some(Duration::from_millis(100)),
    )
    .await;
    assert_eq!(times(&out.sent), vec![0]);
    let ends = outcomes(&out.traces);
    assert_eq!(ends.len(), 2, "{ends:?}");
    assert_eq!(ends[0], RunOutcome::Cancelled);
    assert!(matches!(ends[1], RunOutcome::Failed { .. }), "{ends:?}");
    assert_eq!(out.report.cancelled.len(), 1, "{:?}", out.report);
}

/// A reload that changes the rule of a run waiting for room gives the run up before it sends.
#[tokio::test(start_paused = true)]
async fn a_reload_gives_up_a_run_waiting_for_room() {
    let port = ScriptedPort::new()
        .room(1)
        .delay("/accept", Duration::from_secs(3));
    let sent = port.sent.clone();
    let collector = Arc::new(Collector::default());
    let Running {
        commands,
        events: tx,
        task,
    } = start(rules(ACCEPT_ANY), port, collector.clone());
    for n in 0..2 {
        tx.send(Event::new("/e", EventType::Update, json!(n)))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let summary = replace_rules(&commands, rules(&ACCEPT_ANY.replace("max: 10", "max: 9"))).await;
    assert_eq!(summary.changed, vec!["accept"]);
    drop(tx);
    let report = task.await.unwrap();
    assert_eq!(times(&sent.lock().unwrap()), vec![0]);
    assert_eq!(
        outcomes(&collector.traces()),
        vec![
            RunOutcome::Abandoned {
                reason: "its rule was changed by a reload".into()
            },
            RunOutcome::Abandoned {
                reason: "its rule was changed by a reload".into()
            },
        ]
    );
    assert_eq!(report.runs_abandoned, 2, "{report:?}");
}

/// A remembered value outlives the rule set that set it (a reload keeps the engine's memory),
/// and `status` lists it with its scope and what is left of its expiry.
#[tokio::test(start_paused = true)]
async fn remembered_values_survive_a_reload_and_show_in_status() {
    let before = rules(
        "rules:\n  - id: remember\n    on: /set\n    do:\n      - set: {name: pick, value: \"{{data.champion}}\", scope: service, for: 1m}\n",
    );
    let after = rules(
        "rules:\n  - id: use\n    on: /use\n    when:\n      - {path: $.state.pick, equals: 103}\n    do:\n      - request: POST /picked/{{state.pick}}\n",
    );
    let port = ScriptedPort::new();
    let sent = port.sent.clone();
    let Running {
        commands,
        events: tx,
        task,
    } = start(before, port, Arc::new(Collector::default()));
    tx.send(Event::new(
        "/set",
        EventType::Update,
        json!({"champion": 103}),
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    replace_rules(&commands, after).await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    let (reply, answer) = tokio::sync::oneshot::channel();
    commands
        .send(lcu_rules::engine::Command::Status(reply))
        .unwrap();
    let status = answer.await.unwrap();
    assert_eq!(status.state.len(), 1);
    assert_eq!(
        (
            &status.state[0].name,
            &status.state[0].value,
            status.state[0].scope
        ),
        (
            &"pick".to_string(),
            &json!(103),
            lcu_rules::language::StateScope::Service
        )
    );
    assert_eq!(status.state[0].expires_in_ms, Some(50_000));
    tx.send(Event::new("/use", EventType::Update, json!({})))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    tx.send(Event::new("/use", EventType::Update, json!({})))
        .await
        .unwrap();
    drop(tx);
    task.await.unwrap();
    let sent = sent.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![(Duration::from_secs(10), "/picked/103".to_string())],
        "read after the reload, forgotten after its minute"
    );
}

/// `forever` values outlive the engine: the first engine writes them to its state file, a new
/// engine on the same file reads them back (an expired one is left out); a malformed file is
/// reported and ignored, never fatal.
#[tokio::test(start_paused = true)]
async fn forever_values_are_kept_on_disk_across_restarts() {
    let dir = Dir::new();
    let state = dir.path().join("state.json");
    let rules = rules(
        "rules:\n  - id: remember\n    on: /set\n    do:\n      - set: {name: main, value: \"{{data.champion}}\", scope: forever}\n      - set: {name: brief, value: 1, scope: forever, for: 1s}\n  - id: use\n    on: /use\n    when:\n      - {path: $.state.brief, exists: false}\n    do:\n      - request: POST /main/{{state.main}}\n",
    );
    let config = || EngineConfig {
        state_file: Some(state.clone()),
        ..EngineConfig::default()
    };
    let first = Engine::new(
        rules.clone(),
        Arc::new(ScriptedPort::new()),
        Arc::new(Collector::default()),
        config(),
    );
    let (tx, rx) = mpsc::channel(4);
    let task = tokio::spawn(first.run(rx, CancellationToken::new()));
    tx.send(Event::new(
        "/set",
        EventType::Update,
        json!({"champion": 516}),
    ))
    .await
    .unwrap();
    drop(tx);
    task.await.unwrap();
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(written["values"][0]["name"], "main");
    assert_eq!(written["values"][0]["value"], 516);
    assert!(written["values"][1]["expires_at_ms"].is_u64());

    // A second later (wall clock: the paused test clock does not move it), `brief` is gone.
    std::thread::sleep(Duration::from_millis(1100));
    let port = ScriptedPort::new();
    let sent = port.sent.clone();
    let second = Engine::new(
        rules.clone(),
        Arc::new(port),
        Arc::new(Collector::default()),
        config(),
    );
    let (tx, rx) = mpsc::channel(4);
    let task = tokio::spawn(second.run(rx, CancellationToken::new()));
    tx.send(Event::new("/use", EventType::Update, json!({})))
        .await
        .unwrap();
    drop(tx);
    task.await.unwrap();
    assert_eq!(sent.lock().unwrap().len(), 1);
    assert_eq!(sent.lock().unwrap()[0].1, "/main/516");

    std::fs::write(&state, "{not json").unwrap();
    let third = Engine::new(
        rules,
        Arc::new(ScriptedPort::new()),
        Arc::new(Collector::default()),
        config(),
    );
    let (tx, rx) = mpsc::channel(4);
    let task = tokio::spawn(third.run(rx, CancellationToken::new()));
    drop(tx);
    task.await.unwrap();
}

/// `$.rules.on` lists the rules that are on: a rule switched off (the tray) leaves the list,
/// and a disabled one is never in it.
#[tokio::test(start_paused = true)]
async fn rules_on_follows_switches() {
    let rules = rules(
        "rules:\n  - id: say\n    on: /say\n    do:\n      - log: \"{{#each rules.on}}{{this}} {{/each}}\"\n  - id: other\n    on: /other\n    do: [{log: x}]\n  - id: off\n    enabled: false\n    on: /off\n    do: [{log: x}]\n",
    );
    let collector = Arc::new(Collector::default());
    let Running {
        commands,
        events: tx,
        task,
    } = start(rules, ScriptedPort::new(), collector.clone());
    tx.send(Event::new("/say", EventType::Update, json!({})))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    commands
        .send(lcu_rules::engine::Command::Switch {
            rule: "other".into(),
            on: false,
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    tx.send(Event::new("/say", EventType::Update, json!({})))
        .await
        .unwrap();
    drop(tx);
    task.await.unwrap();
    let logs: Vec<String> = collector
        .traces()
        .into_iter()
        .filter_map(|t| match t {
            Trace::Log { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(logs, vec!["say other ".to_string(), "say ".to_string()]);
}
