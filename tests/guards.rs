//! Loop and flood protection against the simulated client, through TLS, the websocket and HTTP:
//! the echo guard, the causal-depth limit, the circuit breaker, and a flood the service survives
//! with bounded memory and an exact count of what it let go.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use lcu_rules::client::Discovery;
use lcu_rules::client::LiveOptions;
use lcu_rules::client::Trust;
use lcu_rules::engine::EngineConfig;
use lcu_rules::engine::trace::{Suppressed, Trace, Verdict};
use lcu_rules::language::RuleSet;
use lcu_rules::language::load;
use lcu_rules::offline::Collector;
use lcu_rules::service::Service;
use lcu_rules::sim::SimClient;

use crate::util::Dir;

const WAIT: Duration = Duration::from_secs(10);
const ME: &str = "/lol-chat/v1/me";

fn rules(yaml: &str) -> Arc<RuleSet> {
    let dir = Dir::new();
    let file = dir.file("rules.yaml", yaml);
    let loaded = load(&[file]);
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    Arc::new(loaded.rule_set())
}

async fn start(sim: &SimClient, rules: Arc<RuleSet>) -> (Service, Arc<Collector>) {
    let mut options = LiveOptions::new(
        Discovery::Lockfile(sim.lockfile()),
        Trust::riot_and_file(&sim.ca_file()).expect("sim CA"),
        Vec::new(),
    );
    options.poll_interval = Duration::from_millis(50);
    let collector = Arc::new(Collector::default());
    let mut service = Service::start(rules, options, collector.clone(), EngineConfig::default());
    assert!(service.wait_connected(1, WAIT).await);
    assert!(sim.wait_for_sockets(1, WAIT).await);
    (service, collector)
}

/// Waits until a decision of `rule` matches `wanted`, and returns it.
async fn wait_for_decision(
    collector: &Collector,
    rule: &str,
    wanted: impl Fn(&Verdict) -> bool,
) -> Verdict {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = collector.traces().into_iter().find_map(|t| match t {
            Trace::Decision {
                rule: r, verdict, ..
            } if &*r == rule && wanted(&verdict) => Some(verdict),
            _ => None,
        });
        if let Some(verdict) = found {
            return verdict;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no such decision of {rule}: {:#?}",
            collector.traces()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A rule that writes to the URI it triggers on fires once: the client's echo of its write is
/// recognised and does not trigger it again (without the guard it would loop forever).
#[tokio::test]
async fn the_echo_guard_stops_a_rule_writing_its_own_trigger() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    let (service, collector) = start(
        &sim,
        rules(
            "rules:\n  - id: away-message\n    on: {uri: /lol-chat/v1/me, types: [Create, Update]}\n    when:\n      - {path: $.data.availability, equals: away}\n    do:\n      - request: {method: PUT, path: /lol-chat/v1/me, body: {availability: away, statusMessage: brb}}\n",
        ),
    )
    .await;
    sim.change(
        ME,
        Some(json!({"availability": "away", "statusMessage": ""})),
    );
    let echo = wait_for_decision(&collector, "away-message", |v| {
        matches!(v, Verdict::Suppressed { .. })
    })
    .await;
    assert_eq!(
        echo,
        Verdict::Suppressed {
            why: Suppressed::Echo
        }
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.count_requests("PUT", ME), 1);
    let echoed = collector.traces().into_iter().any(|t| {
        matches!(t, Trace::Event { caused_by: Some(rule), event, .. }
            if &*rule == "away-message" && event.uri == ME)
    });
    assert!(
        echoed,
        "the event is marked as caused by the rule's request"
    );
    service.stop().await;
}

/// Two rules that trigger each other through their writes are stopped at the depth limit (5),
/// with the chain named.
#[tokio::test]
async fn a_ping_pong_pair_is_stopped_at_the_depth_limit() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    let settings = "/lol-settings/v2/account/LCUPreferences/lol-mirror";
    let yaml = format!(
        "rules:\n  - id: ping\n    on: {ME}\n    mode: parallel\n    do:\n      - request: {{method: PUT, path: {settings}, body: {{data: {{n: 1}}, schemaVersion: 1}}}}\n  - id: pong\n    on: {settings}\n    mode: parallel\n    do:\n      - request: {{method: PUT, path: {ME}, body: {{availability: chat}}}}\n"
    );
    let (service, collector) = start(&sim, rules(&yaml)).await;
    sim.change(ME, Some(json!({"availability": "online"})));
    let stopped = wait_for_decision(&collector, "pong", |v| {
        matches!(v, Verdict::Suppressed { .. })
    })
    .await;
    assert_eq!(
        stopped,
        Verdict::Suppressed {
            why: Suppressed::Depth {
                chain: ["ping", "pong", "ping", "pong", "ping", "pong"]
                    .map(String::from)
                    .to_vec()
            }
        }
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.count_requests("PUT", ME), 2);
    assert_eq!(sim.count_requests("PUT", settings), 3);
    service.stop().await;
}

/// A flapping rule (the client toggles a value 30 times in a burst) trips the breaker on its
/// 21st firing; it stays off, and the service reports it in the rule's status.
#[tokio::test]
async fn a_flapping_rule_trips_the_breaker() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    let (service, collector) = start(
        &sim,
        rules(
            "rules:\n  - id: mirror-status\n    on: /lol-chat/v1/me\n    mode: parallel\n    max: 50\n    do:\n      - request: {method: POST, path: /lol-chat/v1/conversations/mirror/messages, body: {body: '{{data.statusMessage}}'}}\n",
        ),
    )
    .await;
    let handle = service.handle();
    for n in 0..30 {
        sim.change(ME, Some(json!({"statusMessage": format!("flap {n}")})));
    }
    wait_for_decision(&collector, "mirror-status", |v| {
        *v == Verdict::Suppressed {
            why: Suppressed::Breaker { tripped_now: true },
        }
    })
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let held_back = loop {
        let status = handle.engine_status().await.unwrap();
        if status.events >= 31 {
            break status.rules[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{status:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(held_back.tripped);
    assert_eq!((held_back.fired, held_back.suppressed), (20, 10));
    let path = "/lol-chat/v1/conversations/mirror/messages";
    let deadline = tokio::time::Instant::now() + WAIT;
    while sim.count_requests("POST", path) < 20 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sim.count_requests("POST", path), 20);
    assert_eq!(
        handle.reset_breakers(None).await.unwrap(),
        vec!["mirror-status".to_string()]
    );
    service.stop().await;
}

/// A flood into a stuck engine (one run at a time, each request answered after 10 ms, so the
/// rules fall far more than `MAX_LAG` behind): the real `run` process keeps reading, holds at most
/// one waiting event per URI, and counts exactly what it dropped; its memory grows by less than
/// 8 MB over 40 MB of events, and it stays responsive.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_flood_is_coalesced_with_an_exact_drop_count() {
    use lcu_rules::event::{Event, EventType};
    use lcu_rules::service::control::{self, Request};
    use lcu_rules::sim::Faults;

    const FLOOD: u64 = 20_000;
    const URIS: u64 = 100;
    let home = crate::util::Home::new();
    let config = home.paths()["config_file"].as_str().unwrap().to_string();
    std::fs::create_dir_all(std::path::Path::new(&config).parent().unwrap()).unwrap();
    std::fs::write(&config, "engine:\n  max_active_runs: 1\n").unwrap();
    let dir = Dir::new();
    let rules = dir.file(
        "flood.yaml",
        "rules:\n  - id: slow-sink\n    on: /flood/{n}\n    mode: parallel\n    max: 1000\n    breaker: off\n    do:\n      - request: 'POST /slow/{{params.n}}'\n",
    );
    let sim = SimClient::start(&dir.path().join("sim")).await.unwrap();
    sim.set_faults(Faults {
        slow: Some(("/slow".into(), Duration::from_millis(10))),
        ..Faults::default()
    });
    let log = std::fs::File::create(dir.path().join("run.log")).unwrap();
    let child = home
        .command()
        .arg("run")
        .arg("--rules")
        .arg(&rules)
        .arg("--lockfile")
        .arg(sim.lockfile())
        .arg("--ca")
        .arg(sim.ca_file())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .map(crate::util::Running)
        .unwrap();
    assert!(sim.wait_for_sockets(1, WAIT).await, "run never connected");
    let control = home.control_dir();

    // 2 KB payloads: 20,000 of them kept would be 40 MB; what the policy holds is under 1 MB.
    let blob = "x".repeat(2048);
    let events: Vec<Event> = (0..URIS)
        .map(|n| {
            Event::new(
                format!("/flood/{n}"),
                EventType::Update,
                json!({"n": n, "blob": blob}),
            )
        })
        .collect();
    let before_kb = memory_kb(child.id(), "VmRSS:");
    // Resets the peak (VmHWM) to the current size.
    std::fs::write(format!("/proc/{}/clear_refs", child.id()), "5").unwrap();
    for i in 0..FLOOD {
        while sim.backlog() > 4096 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        sim.publish_raw(&events[(i % URIS) as usize]);
    }
    assert_eq!(
        sim.lagged_events(),
        0,
        "the simulator itself dropped nothing"
    );

    // Quiet again: every event read, handed on or dropped, and taken by the engine.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (stream, engine_events) = loop {
        let reply = control::request(&control, &Request::Status).await.unwrap();
        let stream = reply.data["stream"].clone();
        let engine_events = reply.data["engine"]["events"].as_u64().unwrap();
        let count = |k: &str| stream[k].as_u64().unwrap();
        if count("events") == FLOOD
            && count("passed") + count("dropped") == FLOOD
            && engine_events == count("passed") + 1
        {
            break (stream, engine_events);
        }
        assert!(tokio::time::Instant::now() < deadline, "{reply:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let dropped = stream["dropped"].as_u64().unwrap();
    assert!(
        dropped > 0,
        "the rules fell behind: something was superseded"
    );
    assert!(stream["lag_episodes"].as_u64().unwrap() >= 1);
    assert!(stream["backlog_peak"].as_u64().unwrap() <= URIS);
    assert_eq!(
        engine_events,
        FLOOD - dropped + 1,
        "the phase snapshot, and what was passed"
    );
    let peak_kb = memory_kb(child.id(), "VmHWM:");
    assert!(
        peak_kb < before_kb + 8 * 1024,
        "peak RSS {peak_kb} kB, {before_kb} kB before the flood"
    );

    let exit = tokio::task::spawn_blocking(move || child.interrupt())
        .await
        .unwrap();
    assert!(exit.success());
    // The single run slot filled again after every run, thousands of times: the log says so a
    // few times, not once per time.
    let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap();
    let warnings = log.matches("run limit reached").count();
    assert!(
        (1..=10).contains(&warnings),
        "{warnings} run-limit warnings"
    );
}

/// A size from `/proc/<pid>/status`, in kB.
#[cfg(target_os = "linux")]
fn memory_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}
