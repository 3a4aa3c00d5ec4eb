//! The live connection through the real network path (TLS, the WAMP websocket, HTTP) against the
//! simulated client: auto-accept, restarts, dropped sockets, untrusted certificates, wrong tokens,
//! a slow client, and a whole session at trace level without the token appearing anywhere.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use lcu_rules::client::Discovery;
use lcu_rules::client::Trust;
use lcu_rules::client::{LiveOptions, Status};
use lcu_rules::engine::EngineConfig;
use lcu_rules::engine::trace::{Trace, Verdict};
use lcu_rules::event::EventType;
use lcu_rules::language::RuleSet;
use lcu_rules::language::load;
use lcu_rules::offline::Collector;
use lcu_rules::service::Service;
use lcu_rules::sim::SimClient;
use lcu_rules::sim::{READY_CHECK, ready_check};

use crate::util::{Dir, Home, rules_dir};

const ACCEPT: &str = "/lol-matchmaking/v1/ready-check/accept";
const WAIT: Duration = Duration::from_secs(10);

fn accept_rules() -> Arc<RuleSet> {
    let loaded = load(&[rules_dir().join("accept-ready-check.yaml")]);
    assert!(!loaded.has_errors());
    Arc::new(loaded.rule_set())
}

fn options(sim: &SimClient) -> LiveOptions {
    let mut options = LiveOptions::new(
        Discovery::Lockfile(sim.lockfile()),
        Trust::riot_and_file(&sim.ca_file()).expect("sim CA"),
        Vec::new(),
    );
    options.poll_interval = Duration::from_millis(50);
    options.backoff_min = Duration::from_millis(20);
    options.backoff_max = Duration::from_millis(200);
    options
}

fn start(sim: &SimClient, rules: Arc<RuleSet>) -> (Service, Arc<Collector>) {
    let collector = Arc::new(Collector::default());
    let service = Service::start(
        rules,
        options(sim),
        collector.clone(),
        EngineConfig::default(),
    );
    (service, collector)
}

/// A ready check pops; the accept arrives, through TLS, the websocket and HTTP.
#[tokio::test]
async fn auto_accept_end_to_end() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    let (mut service, _) = start(&sim, accept_rules());
    assert!(
        service.wait_connected(1, WAIT).await,
        "never connected: {:?}",
        *service.status.borrow()
    );
    assert!(sim.wait_for_sockets(1, WAIT).await);

    pop_ready_check(&sim);
    let index = sim
        .wait_for_request("POST", ACCEPT, 0, WAIT)
        .await
        .expect("accept sent");
    let request = &sim.requests()[index];
    assert_eq!(request.body, None);
    assert_eq!(
        sim.resource(READY_CHECK).unwrap()["playerResponse"],
        "Accepted"
    );
    let report = service.stop().await;
    assert_eq!(report.runs_completed, 1);
}

/// 20 client restarts, each with a new port and token, each followed by a ready check: all 20
/// are accepted (credentials are rediscovered every time).
#[tokio::test]
async fn twenty_restarts_twenty_accepts() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    let (mut service, _) = start(&sim, accept_rules());
    let mut ports = std::collections::HashSet::new();
    for round in 1..=20u64 {
        assert!(
            service.wait_connected(round, WAIT).await,
            "round {round}: {:?}",
            *service.status.borrow()
        );
        ports.insert(sim.port());
        let before = sim.requests().len();
        pop_ready_check(&sim);
        assert!(
            sim.wait_for_request("POST", ACCEPT, before, WAIT)
                .await
                .is_some(),
            "round {round}: no accept"
        );
        sim.change(READY_CHECK, None);
        sim.restart().await.unwrap();
    }
    assert_eq!(sim.count_requests("POST", ACCEPT), 20);
    assert_eq!(ports.len(), 20, "every restart used a new port");
    service.stop().await;
}

/// The socket drops and the ready check pops while it is down: the resync after reconnecting
/// reads it and the rule accepts it.
#[tokio::test]
async fn resync_accepts_a_ready_check_missed_while_disconnected() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    let (mut service, collector) = start(&sim, accept_rules());
    assert!(service.wait_connected(1, WAIT).await);
    sim.drop_connections();
    sim.set_quietly(READY_CHECK, Some(ready_check("InProgress", "None", 0.0)));
    assert!(
        service.wait_connected(2, WAIT).await,
        "{:?}",
        *service.status.borrow()
    );
    assert!(accepted(&sim, 0).await);
    let snapshot_fired = collector.traces().iter().any(|t| matches!(t, lcu_rules::engine::trace::Trace::Event { event, .. } if event.snapshot && event.uri == READY_CHECK));
    assert!(snapshot_fired, "the ready check came from the resync");
    service.stop().await;
}

/// A ready check already showing when lcu-rules first connects is accepted too.
#[tokio::test]
async fn a_ready_check_showing_before_connecting_is_accepted() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    sim.set_quietly(READY_CHECK, Some(ready_check("InProgress", "None", 3.0)));
    let (mut service, _) = start(&sim, accept_rules());
    assert!(service.wait_connected(1, WAIT).await);
    assert!(accepted(&sim, 0).await);
    service.stop().await;
}

/// A server whose certificate is not signed by a trusted root is refused, with a clear reason,
/// and nothing is sent to it.
#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    let mut options = options(&sim);
    options.trust = Trust::riot();
    let service = Service::start(
        accept_rules(),
        options,
        Arc::new(Collector::default()),
        EngineConfig::default(),
    );
    let mut status = service.status.clone();
    let reason = tokio::time::timeout(
        WAIT,
        status.wait_for(|s| matches!(s, Status::Retrying { .. })),
    )
    .await
    .expect("a failed attempt")
    .expect("status")
    .clone();
    let Status::Retrying { reason } = reason else {
        unreachable!()
    };
    assert!(
        reason.contains("certificate is not signed by a trusted root"),
        "{reason}"
    );
    assert!(reason.contains("(unknown issuer)"), "{reason}");
    assert!(sim.requests().is_empty());
    service.stop().await;
}

/// A wrong token gives a clear authentication error, logged once while at least four retries go
/// on quietly; once the credentials are right the service connects. (The real binary, so that
/// its own log output is what is counted.)
#[tokio::test]
async fn a_wrong_token_is_reported_once_and_retried() {
    let dir = Dir::new();
    let sim = SimClient::start(&dir.path().join("sim")).await.unwrap();
    let wrong = dir.file(
        "lockfile",
        &format!("LeagueClient:1:{}:not-the-token:https", sim.port()),
    );
    let log_path = dir.path().join("run.log");
    let home = Home::new();
    let child = spawn_run(&home, &wrong, &sim.ca_file(), "info", &log_path);
    let retried = tokio::time::timeout(WAIT, async {
        while sim.unauthorized_requests() < 4 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    retried.await.expect("the service kept retrying");
    std::fs::copy(sim.lockfile(), &wrong).unwrap();
    assert!(
        sim.wait_for_sockets(1, WAIT).await,
        "connected once the token was right"
    );
    // An accept proves the connection is fully up (resynced, events flowing).
    pop_ready_check(&sim);
    assert!(accepted(&sim, 0).await);
    interrupt(child).await;
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(
        text.matches("refused the credentials (HTTP 401)").count(),
        1,
        "{text}"
    );
    let seen: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        text.contains("connected to the League client"),
        "{text}\nsim saw: {seen:?}"
    );
}

/// A slow answer to one rule's request does not delay the next event: the accept for a later
/// ready check arrives while the slow request is still unanswered.
#[tokio::test]
async fn a_slow_client_answer_does_not_delay_the_next_event() {
    let dir = Dir::new();
    let rules = dir.file(
        "slow.yaml",
        "rules:\n  - id: slow\n    on: /lol-lobby/v2/lobby\n    do: [{request: {method: POST, path: /lol-lobby/v2/slow, expect_status: [404]}}]\n",
    );
    let loaded = load(&[rules, rules_dir().join("accept-ready-check.yaml")]);
    let sim = SimClient::start(&dir.path().join("sim")).await.unwrap();
    sim.set_faults(lcu_rules::sim::Faults {
        slow: Some(("/lol-lobby/v2/slow".into(), Duration::from_secs(3))),
        ..Default::default()
    });
    let (mut service, _) = start(&sim, Arc::new(loaded.rule_set()));
    assert!(service.wait_connected(1, WAIT).await);
    sim.publish(
        "/lol-lobby/v2/lobby",
        EventType::Update,
        json!({"gameConfig": {}}),
    );
    let slow = sim
        .wait_for_request("POST", "/lol-lobby/v2/slow", 0, WAIT)
        .await
        .unwrap();
    pop_ready_check(&sim);
    let accept = sim.wait_for_request("POST", ACCEPT, 0, WAIT).await.unwrap();
    let requests = sim.requests();
    assert!(
        requests[slow].answered_at.is_none(),
        "the slow request is still pending when the accept arrives"
    );
    assert!(requests[accept].at > requests[slow].at);
    let report = service.stop().await;
    assert!(report.runs_completed >= 1);
}

/// `lcu-rules run` with logging at trace level through a whole session (connect, resync, a ready
/// check, the accept, Ctrl-C): the token appears nowhere in its output, neither as is nor inside
/// the Basic auth header; and it shuts down cleanly on SIGINT.
#[tokio::test]
async fn the_token_never_appears_in_trace_logs() {
    let dir = Dir::new();
    let sim = SimClient::start(&dir.path().join("sim")).await.unwrap();
    let log_path = dir.path().join("run.log");
    let home = Home::new();
    let child = spawn_run(&home, &sim.lockfile(), &sim.ca_file(), "trace", &log_path);
    assert!(sim.wait_for_sockets(1, WAIT).await, "run never connected");
    pop_ready_check(&sim);
    assert!(accepted(&sim, 0).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    interrupt(child).await;

    let output = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        output.lines().count() > 50,
        "trace logging was on:\n{output}"
    );
    assert!(output.contains("rule fired"), "{output}");
    assert!(
        output.contains("POST") && output.contains(ACCEPT),
        "{output}"
    );
    assert!(output.contains("stopped"), "{output}");
    let token = sim.token();
    let header = token.basic_auth_header();
    let encoded = header.trim_start_matches("Basic ");
    assert!(!output.contains(token.expose()), "the token leaked");
    // tungstenite traces the raw handshake: the header line is there, with its secret removed.
    assert!(
        output.contains("authorization: Basic <redacted>"),
        "{output}"
    );
    let leak: Vec<&str> = output.lines().filter(|l| l.contains(encoded)).collect();
    assert!(leak.is_empty(), "the Basic auth value leaked: {leak:#?}");

    // The rolling log file got the same lines, through the same redaction.
    let log_dir = std::path::PathBuf::from(home.paths()["log_dir"].as_str().unwrap());
    let files: Vec<_> = std::fs::read_dir(&log_dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "one log file in {}", log_dir.display());
    let file_log = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(file_log.contains("rule fired"), "{file_log}");
    assert!(file_log.contains("authorization: Basic <redacted>"));
    assert!(!file_log.contains(token.expose()) && !file_log.contains(encoded));
}

/// Malformed frames are skipped (and logged once per kind); the stream goes on and the next
/// ready check is accepted.
#[tokio::test]
async fn malformed_frames_are_skipped_not_fatal() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    let (mut service, _) = start(&sim, accept_rules());
    assert!(service.wait_connected(1, WAIT).await);
    assert!(sim.wait_for_sockets(1, WAIT).await);
    for garbage in [
        "[8,\"OnJsonApiEvent\",{\"uri\":",
        "not json",
        "[8,\"OnJsonApiEvent\",{\"uri\":42}]",
        "{\"a\":1}",
    ] {
        sim.publish_text(garbage);
    }
    pop_ready_check(&sim);
    assert!(accepted(&sim, 0).await);
    assert!(
        matches!(
            &*service.status.borrow(),
            Status::Connected { connections: 1, .. }
        ),
        "the socket stayed up"
    );
    service.stop().await;
}

/// Injected server errors are retried with backoff until the request succeeds.
#[tokio::test]
async fn server_errors_are_retried() {
    let dir = Dir::new();
    let rules = dir.file(
        "retry.yaml",
        "rules:\n  - id: accept\n    on: /lol-matchmaking/v1/ready-check\n    when: [{path: $.data.playerResponse, equals: None}]\n    do:\n      - request: {method: POST, path: /lol-matchmaking/v1/ready-check/accept, retries: 3, backoff: 10ms}\n",
    );
    let sim = SimClient::start(&dir.path().join("sim")).await.unwrap();
    let (mut service, _) = start(&sim, Arc::new(load(&[rules]).rule_set()));
    assert!(service.wait_connected(1, WAIT).await);
    sim.set_faults(lcu_rules::sim::Faults {
        fail_status: Some(500),
        fail_count: 2,
        ..Default::default()
    });
    pop_ready_check(&sim);
    let deadline = tokio::time::Instant::now() + WAIT;
    while sim.resource(READY_CHECK).unwrap()["playerResponse"] != "Accepted"
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        sim.count_requests("POST", ACCEPT),
        3,
        "two failures, then success: {seen:?}"
    );
    assert_eq!(
        sim.resource(READY_CHECK).unwrap()["playerResponse"],
        "Accepted"
    );
    service.stop().await;
}

/// A client that stops listening for a while (and comes back with a new token) is reconnected
/// to, and rules keep working.
#[tokio::test]
async fn refused_connections_are_recovered_from() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    let (mut service, _) = start(&sim, accept_rules());
    assert!(service.wait_connected(1, WAIT).await);
    sim.refuse_connections_for(Duration::from_millis(400))
        .await
        .unwrap();
    assert!(
        service.wait_connected(2, WAIT).await,
        "{:?}",
        *service.status.borrow()
    );
    pop_ready_check(&sim);
    assert!(accepted(&sim, 0).await);
    service.stop().await;
}

/// The simulated client speaks WAMP like the real one: an empty frame answers a subscribe, a
/// per-URI topic receives only its URI with the topic echoed, and the firehose receives all.
#[tokio::test]
async fn simulated_client_speaks_wamp_like_the_real_one() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    let trust = Trust::riot_and_file(&sim.ca_file()).unwrap();
    let mut request = format!("wss://127.0.0.1:{}/", sim.port())
        .into_client_request()
        .unwrap();
    let unauthorized = tokio_tungstenite::connect_async_tls_with_config(
        request.clone(),
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(
            trust.rustls_config().unwrap(),
        )),
    )
    .await;
    assert!(
        matches!(unauthorized, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401)
    );
    request.headers_mut().insert(
        "authorization",
        sim.token().basic_auth_header().parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(
            trust.rustls_config().unwrap(),
        )),
    )
    .await
    .unwrap();
    let topic = lcu_rules::sim::topic_of(READY_CHECK);
    assert_eq!(topic, "OnJsonApiEvent_lol-matchmaking_v1_ready-check");
    socket
        .send(Message::text(format!("[5,\"{topic}\"]")))
        .await
        .unwrap();
    assert_eq!(socket.next().await.unwrap().unwrap(), Message::text(""));
    sim.publish(
        "/lol-gameflow/v1/gameflow-phase",
        EventType::Update,
        json!("Lobby"),
    );
    pop_ready_check(&sim);
    let Message::Text(frame) = socket.next().await.unwrap().unwrap() else {
        panic!("text frame")
    };
    let frame: serde_json::Value = serde_json::from_str(frame.as_str()).unwrap();
    assert_eq!(frame[0], 8);
    assert_eq!(frame[1], topic.as_str());
    assert_eq!(frame[2]["uri"], READY_CHECK);
    assert_eq!(frame[2]["eventType"], "Create");
    socket
        .send(Message::text(format!("[6,\"{topic}\"]")))
        .await
        .unwrap();
    socket
        .send(Message::text("[5,\"OnJsonApiEvent\"]"))
        .await
        .unwrap();
    assert_eq!(socket.next().await.unwrap().unwrap(), Message::text(""));
    sim.publish(
        "/lol-gameflow/v1/gameflow-phase",
        EventType::Update,
        json!("Matchmaking"),
    );
    let Message::Text(frame) = socket.next().await.unwrap().unwrap() else {
        panic!("text frame")
    };
    assert!(
        frame
            .as_str()
            .starts_with("[8,\"OnJsonApiEvent\",{\"data\":\"Matchmaking\""),
        "{}",
        frame.as_str()
    );
}

/// `lcu-rules demo` runs the scripted session against the built-in client and succeeds.
#[test]
fn demo_runs_a_whole_session() {
    let output = crate::util::lcu_rules(&["demo", "--pace", "0.05"]);
    assert_eq!(output.code, 0, "{}{}", output.stdout, output.stderr);
    for expected in [
        "connected (TLS pinned to the simulated client's CA, WAMP firehose subscribed)",
        "rule accept-ready-check fired",
        "→ POST /lol-matchmaking/v1/ready-check/accept → 204",
        "→ POST /lol-lobby/v2/play-again → 204",
        "disabled (not run): pick-champion-by-priority",
        "demo finished: the ready check was accepted",
    ] {
        assert!(
            output.stdout.contains(expected),
            "missing `{expected}` in:\n{}",
            output.stdout
        );
    }
}

/// The simulated client replays a recorded capture as its event stream, in order, and serves
/// the last state it replayed.
#[tokio::test]
async fn the_simulated_client_replays_a_capture() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    let loaded = load(&[rules_dir().join("pick-champion.yaml")]);
    let rules = Arc::new(RuleSet::new(
        loaded.rules().cloned().collect(),
        loaded.registry.clone(),
        true,
    ));
    let (mut service, collector) = start(&sim, rules);
    assert!(service.wait_connected(1, WAIT).await);
    let recorded = lcu_rules::event::read_recording(
        &rules_dir().join("fixtures/champ-select-rez-20251208.jsonl"),
    )
    .unwrap();
    let events = lcu_rules::event::timed(recorded, Duration::ZERO);
    sim.replay(&events, 2000.0).await;
    let index = sim
        .wait_for_request("PATCH", "/lol-champ-select/v1/session/actions/17", 0, WAIT)
        .await
        .expect("the pick");
    assert_eq!(
        sim.requests()[index].body,
        Some(json!({"championId": 516, "completed": true}))
    );
    let seen = || {
        collector
            .traces()
            .iter()
            .filter(
                |t| matches!(t, lcu_rules::engine::trace::Trace::Event { event, .. } if !event.snapshot),
            )
            .count()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen() < 45 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        seen(),
        44 + 1,
        "44 replayed frames, and the client's echo of the PATCH"
    );
    service.stop().await;
}

/// Starts `lcu-rules run` with the accept rule on a lockfile, trusting the simulated client's CA,
/// with `RUST_LOG=level` and all its output in `log`.
fn spawn_run(
    home: &Home,
    lockfile: &std::path::Path,
    ca: &std::path::Path,
    level: &str,
    log: &std::path::Path,
) -> std::process::Child {
    let file = std::fs::File::create(log).unwrap();
    home.command()
        .args([
            "run",
            "--rules",
            "rules/accept-ready-check.yaml",
            "--lockfile",
        ])
        .arg(lockfile)
        .arg("--ca")
        .arg(ca)
        .env("RUST_LOG", level)
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap()
}

/// Stops a `run` process as Ctrl-C would, and checks that it exits cleanly.
async fn interrupt(mut child: std::process::Child) {
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

/// A ready check pops: in progress, not answered yet.
fn pop_ready_check(sim: &SimClient) {
    sim.change(READY_CHECK, Some(ready_check("InProgress", "None", 0.0)));
}

/// Whether an accept arrives within the test's wait, counting requests from index `from`.
async fn accepted(sim: &SimClient, from: usize) -> bool {
    sim.wait_for_request("POST", ACCEPT, from, WAIT)
        .await
        .is_some()
}

/// A rule that reads another URI's latest state (`let: ... uri:`) sees what the resync read at
/// connect, then every event on it: the ready check is held back while the chat status is
/// `away`, and accepted once the client says `chat`.
#[tokio::test]
async fn a_rule_reads_another_uris_latest_state_from_resync_and_events() {
    const ME: &str = "/lol-chat/v1/me";
    let dir = Dir::new();
    let file = dir.file(
        "away.yaml",
        "rules:\n  - id: accept-unless-away\n    on: /lol-matchmaking/v1/ready-check\n    let:\n      me: {uri: /lol-chat/v1/me}\n    when:\n      - {path: $.data.state, equals: InProgress}\n      - {path: $.me.availability, not_equals: away}\n    do:\n      - request: POST /lol-matchmaking/v1/ready-check/accept\n",
    );
    let loaded = load(&[file]);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let sim = SimClient::start(dir.path()).await.unwrap();
    sim.set_quietly(ME, Some(json!({"availability": "away"})));
    let (mut service, collector) = start(&sim, Arc::new(loaded.rule_set()));
    assert!(service.wait_connected(1, WAIT).await);
    assert!(sim.wait_for_sockets(1, WAIT).await);

    pop_ready_check(&sim);
    let held = tokio::time::timeout(WAIT, async {
        loop {
            let stopped = collector.traces().into_iter().any(|t| {
                matches!(&t, Trace::Decision { verdict: Verdict::Stopped { miss }, .. }
                    if miss.path.as_ref() == "$.me.availability")
            });
            if stopped {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(held.is_ok(), "the rule read `away` from the resync");
    assert_eq!(sim.count_requests("POST", ACCEPT), 0);

    sim.change(ME, Some(json!({"availability": "chat"})));
    sim.change(READY_CHECK, Some(ready_check("InProgress", "None", 1.0)));
    assert!(
        accepted(&sim, 0).await,
        "accepted once the status said chat"
    );
    service.stop().await;
}
