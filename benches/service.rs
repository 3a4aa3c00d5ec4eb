//! The background service's figures, each from the real `lcu-rules run` process (or the library's
//! reloader) against the simulated client:
//!
//! - reload latency: from a rule file saved (written to a temporary file and renamed over, as
//!   editors do) to the new rule being in force, watcher debounce included; 50 saves;
//! - idle RSS of `run` after connecting, without and with the tray icon (on a private D-Bus
//!   session, when `dbus-daemon` is installed);
//! - a flood of 1,000,000 events as fast as the simulated client sends them: events no rule
//!   reacts to, then events every one of which fires a rule (1,000 URIs, 128 runs at most), then
//!   the same with the client answering each request after 50 ms, so that the rules fall behind
//!   and the overflow policy drops what newer events supersede: the rate read, what was dropped,
//!   and the peak RSS.
//!
//! Run: `cargo bench --bench service` (`-- --quick` floods 100,000 events).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use lcu_rules::client::Discovery;
use lcu_rules::client::LiveOptions;
use lcu_rules::client::Trust;
use lcu_rules::engine::EngineConfig;
use lcu_rules::engine::trace::Discard;
use lcu_rules::event::{Event, EventType};
use lcu_rules::language::load;
use lcu_rules::service::Reloader;
use lcu_rules::service::Service;
use lcu_rules::service::control::{self, Request};
use lcu_rules::sim::SimClient;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    lcu_rules::client::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        reload_latency().await;
        idle_rss().await;
        flood(if quick { 100_000 } else { 1_000_000 }).await;
    });
}

const RULE: &str = "rules:\n  - id: accept-ready-check\n    on: /lol-matchmaking/v1/ready-check\n    do:\n      - request: POST /lol-matchmaking/v1/ready-check/accept\n";

/// Saves a rule file 50 times, each save adding a rule with a new id, and times how long until
/// the service has it.
async fn reload_latency() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = SimClient::start(&dir.path().join("sim"))
        .await
        .expect("sim");
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir_all(&rules_dir).expect("rules dir");
    std::fs::write(rules_dir.join("base.yaml"), RULE).expect("rule");
    let loaded = load(std::slice::from_ref(&rules_dir));
    let options = LiveOptions::new(
        Discovery::Lockfile(sim.lockfile()),
        Trust::riot_and_file(&sim.ca_file()).expect("CA"),
        Vec::new(),
    );
    let mut service = Service::start(
        Arc::new(loaded.rule_set()),
        options,
        Arc::new(Discard),
        EngineConfig::default(),
    );
    assert!(service.wait_connected(1, Duration::from_secs(30)).await);
    let handle = service.handle();
    let reloader = Reloader::new(vec![rules_dir.clone()], handle.clone());
    let stop = tokio_util::sync::CancellationToken::new();
    let _watcher = reloader.watch(stop.clone()).expect("watcher");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut samples = Vec::new();
    for n in 0..50 {
        let id = format!("extra-{n}");
        let text = format!(
            "rules:\n  - id: {id}\n    on: /lol-gameflow/v1/gameflow-phase\n    do:\n      - log: 'phase {{{{data}}}}'\n"
        );
        let temporary = rules_dir.join(".extra.yaml.tmp");
        std::fs::write(&temporary, text).expect("write");
        let saved = Instant::now();
        std::fs::rename(&temporary, rules_dir.join("extra.yaml")).expect("rename");
        loop {
            if handle.rules().find(&id).is_some() {
                samples.push(saved.elapsed());
                break;
            }
            assert!(saved.elapsed() < Duration::from_secs(5), "never reloaded");
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    stop.cancel();
    service.stop().await;
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "reload latency, save to rule in force ({} saves): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms (watcher debounce {} ms; target <= 100 ms)",
        samples.len(),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 95 / 100]),
        ms(samples[samples.len() - 1]),
        lcu_rules::service::WATCH_DEBOUNCE.as_millis()
    );
}

/// A `run` process in a private home.
struct Run {
    child: Child,
    home: tempfile::TempDir,
}

impl Run {
    fn start(sim: &SimClient, rules: &Path, extra: &[&str], bus: Option<&str>) -> Run {
        let home = tempfile::tempdir().expect("home");
        let runtime = home.path().join("runtime");
        std::fs::create_dir_all(&runtime).expect("runtime dir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_lcu-rules"));
        command
            .args(["run", "--rules"])
            .arg(rules)
            .arg("--lockfile")
            .arg(sim.lockfile())
            .arg("--ca")
            .arg(sim.ca_file())
            .args(extra)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(address) = bus {
            command.env("DBUS_SESSION_BUS_ADDRESS", address);
        }
        Run {
            child: command.spawn().expect("lcu-rules"),
            home,
        }
    }

    fn control_dir(&self) -> PathBuf {
        self.home.path().join("runtime/lcu-rules/control")
    }

    fn kb(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Run {
    /// A benchmark that fails leaves no process behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn status(run: &Run) -> serde_json::Value {
    for _ in 0..600 {
        if let Ok(reply) = control::request(&run.control_dir(), &Request::Status).await {
            return reply.data;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the service never answered");
}

/// Idle RSS two seconds after connecting, without and with the tray.
async fn idle_rss() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("rule.yaml");
    std::fs::write(&rules, RULE).expect("rule");
    let sim = SimClient::start(&dir.path().join("sim"))
        .await
        .expect("sim");
    let plain = Run::start(&sim, &rules, &[], None);
    assert!(sim.wait_for_sockets(1, Duration::from_secs(30)).await);
    status(&plain).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "idle RSS of `run`, connected, no tray: {:.1} MB",
        plain.kb("VmRSS:") as f64 / 1024.0
    );
    plain.stop();

    let bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut bus) = bus else {
        println!("idle RSS of `run --tray`: skipped (no dbus-daemon)");
        return;
    };
    let mut address = String::new();
    bus.stderr.take();
    if let Some(out) = bus.stdout.take() {
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut address);
    }
    let sim = SimClient::start(&dir.path().join("sim2"))
        .await
        .expect("sim");
    let tray = Run::start(&sim, &rules, &["--tray"], Some(address.trim()));
    assert!(sim.wait_for_sockets(1, Duration::from_secs(30)).await);
    status(&tray).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "idle RSS of `run --tray`, connected, icon shown on a private D-Bus session: {:.1} MB",
        tray.kb("VmRSS:") as f64 / 1024.0
    );
    tray.stop();
    let _ = bus.kill();
    let _ = bus.wait();
}

/// One flood: `count` events cycling over `events`, published as fast as the simulated client's
/// buffer allows, requests to `/slow` answered after `slow`; returns when the service has read
/// them all.
async fn flood_round(
    label: &str,
    count: u64,
    events: &[Event],
    rules_text: &str,
    slow: Option<Duration>,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, rules_text).expect("rules");
    let sim = SimClient::start(&dir.path().join("sim"))
        .await
        .expect("sim");
    if let Some(slow) = slow {
        sim.set_faults(lcu_rules::sim::Faults {
            slow: Some(("/slow".into(), slow)),
            ..lcu_rules::sim::Faults::default()
        });
    }
    let run = Run::start(&sim, &rules, &[], None);
    assert!(sim.wait_for_sockets(1, Duration::from_secs(30)).await);
    status(&run).await;
    let _ = std::fs::write(format!("/proc/{}/clear_refs", run.child.id()), "5");
    let start = Instant::now();
    for i in 0..count {
        while sim.backlog() > 8192 {
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
        sim.publish_raw(&events[(i % events.len() as u64) as usize]);
    }
    let published = start.elapsed();
    let stream = loop {
        let data = status(&run).await;
        let stream = data["stream"].clone();
        let read = stream["events"].as_u64().unwrap_or(0) + stream["ignored"].as_u64().unwrap_or(0);
        if read >= count {
            break stream;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "flood not read");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = start.elapsed();
    let peak = run.kb("VmHWM:");
    let after = status(&run).await;
    println!(
        "flood, {label}: {count} events read in {:.2} s ({:.0} events/s; publishing took {:.2} s), {} dropped under the overflow policy, backlog peak {}, peak RSS {:.1} MB, engine took {} events, service still answering: {}",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        published.as_secs_f64(),
        stream["dropped"],
        stream["backlog_peak"],
        peak as f64 / 1024.0,
        after["engine"]["events"],
        after["connection"]
    );
    assert_eq!(sim.lagged_events(), 0, "the simulator dropped events");
    run.stop();
}

async fn flood(count: u64) {
    let unrelated: Vec<Event> = (0..1000)
        .map(|n| {
            Event::new(
                format!("/lol-chat/v1/conversations/{n}/messages"),
                EventType::Create,
                json!({"body": "gl hf", "id": n, "type": "groupchat"}),
            )
        })
        .collect();
    flood_round("no rule reacts", count, &unrelated, RULE, None).await;
    let relevant: Vec<Event> = (0..1000)
        .map(|n| {
            Event::new(
                format!("/flood/{n}"),
                EventType::Update,
                json!({"n": n, "state": "InProgress"}),
            )
        })
        .collect();
    let rules = "rules:\n  - id: react-to-everything\n    on: /flood/{n}\n    mode: parallel\n    max: 1000\n    breaker: off\n    do:\n      - request: 'POST /flood-sink/{{params.n}}'\n";
    flood_round(
        "every event fires a rule (1,000 URIs)",
        count,
        &relevant,
        rules,
        None,
    )
    .await;
    let stuck = "rules:\n  - id: react-slowly\n    on: /flood/{n}\n    mode: parallel\n    max: 1000\n    breaker: off\n    do:\n      - request: 'POST /slow/{{params.n}}'\n";
    flood_round(
        "every event fires a rule and the client answers each after 50 ms (the rules fall behind)",
        count,
        &relevant,
        stuck,
        Some(Duration::from_millis(50)),
    )
    .await;
}
