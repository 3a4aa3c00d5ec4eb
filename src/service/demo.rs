//! `lcu-rules demo`: the simulated client started in-process, the rules run against it through
//! exactly the network path `run` uses (discovery by lockfile, pinned TLS, the websocket, HTTP),
//! and a scripted session driven through it: lobby, queue, ready check, a real champion select,
//! the game, the end of game. It prints a timeline and checks that the ready check was accepted
//! and play-again was sent.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::client::discovery::Discovery;
use crate::client::live::LiveOptions;
use crate::client::tls::Trust;
use crate::engine::trace::{Observer, RunOutcome, Trace, Verdict};
use crate::engine::{EngineConfig, EngineReport};
use crate::event::parse_recording;
use crate::language::condition::short_json;
use crate::language::loader::{Loaded, load};
use crate::service::Service;
use crate::sim::SimClient;
use crate::sim::state::{CHAMP_SELECT_SESSION, GAMEFLOW_PHASE, READY_CHECK, ready_check};

/// The example rule files and the capture their tests replay, by path inside a rules folder:
/// what `demo` uses when no `rules/` folder is at hand and what a first `run` copies into the
/// user's rules folder.
pub(crate) const EXAMPLES: [(&str, &str); 6] = [
    (
        "accept-ready-check.yaml",
        include_str!("../../rules/accept-ready-check.yaml"),
    ),
    ("log-phase.yaml", include_str!("../../rules/log-phase.yaml")),
    (
        "pick-champion.yaml",
        include_str!("../../rules/pick-champion.yaml"),
    ),
    (
        "play-again.yaml",
        include_str!("../../rules/play-again.yaml"),
    ),
    (
        "respect-manual-decline.yaml",
        include_str!("../../rules/respect-manual-decline.yaml"),
    ),
    ("fixtures/champ-select-rez-20251208.jsonl", CHAMP_SELECT),
];

/// The real champion-select capture the demo replays.
pub const CHAMP_SELECT: &str = include_str!("../../rules/fixtures/champ-select-rez-20251208.jsonl");

/// Writes the [`EXAMPLES`] into `dir`.
pub(crate) fn write_examples(dir: &std::path::Path) -> std::io::Result<()> {
    for (name, text) in EXAMPLES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// Why the demo could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Setting up failed.
    #[error("{0}")]
    Setup(String),
    /// The rules have errors.
    #[error("the rules have errors (see `lcu-rules check`)")]
    Rules,
    /// Something the demo expected did not happen.
    #[error("{0}")]
    Expectation(String),
}

/// What the demo saw.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// The engine's totals.
    pub report: EngineReport,
    /// Time from the ready-check frame reaching the socket to the accept arriving.
    pub accept_latency: Duration,
    /// Requests the simulated client received.
    pub requests: usize,
}

/// Prints traces as timeline lines.
struct Printer {
    start: Instant,
    out: Mutex<Box<dyn Write + Send>>,
    /// The last event, printed with the first decision about it (events no rule watches are not
    /// shown).
    pending: Mutex<Option<(u64, String)>>,
}

impl Printer {
    fn line(&self, text: &str) {
        let elapsed = self.start.elapsed().as_secs_f64();
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{elapsed:>7.3}s  {text}");
            let _ = out.flush();
        }
    }
}

impl Printer {
    fn event_line(&self, seq: u64) {
        let pending = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.take_if(|(s, _)| *s == seq));
        if let Some((_, text)) = pending {
            self.line(&text);
        }
    }
}

impl Observer for Printer {
    fn observe(&self, trace: Trace) {
        match trace {
            Trace::Event { seq, event, .. } => {
                let snapshot = if event.snapshot {
                    " (state read after connecting)"
                } else {
                    ""
                };
                let text = format!(
                    "event {} {} {}{snapshot}",
                    event.event_type.as_str(),
                    event.uri,
                    short_json(&event.data)
                );
                if let Ok(mut pending) = self.pending.lock() {
                    *pending = Some((seq, text));
                }
            }
            Trace::Decision {
                seq,
                rule,
                verdict: Verdict::Fired { run },
                ..
            } => {
                self.event_line(seq);
                self.line(&format!("  rule {rule} fired (run {run})"));
            }
            Trace::Decision {
                seq,
                rule,
                verdict: Verdict::Queued { run },
                ..
            } => {
                self.event_line(seq);
                self.line(&format!("  rule {rule} queued (run {run})"));
            }
            Trace::Decision {
                seq,
                rule,
                verdict: Verdict::Suppressed { why },
                ..
            } => {
                self.event_line(seq);
                self.line(&format!("  rule {rule} held back: {why:?}"));
            }
            Trace::Request {
                method,
                path,
                body,
                result,
                elapsed,
                ..
            } => {
                let body = body
                    .map(|b| format!(" {}", short_json(&b)))
                    .unwrap_or_default();
                let answer = match result {
                    Ok(status) => format!("{status}"),
                    Err(error) => format!("error: {error}"),
                };
                self.line(&format!(
                    "  → {} {path}{body} → {answer} ({:.1} ms)",
                    method.as_str(),
                    elapsed.as_secs_f64() * 1000.0
                ));
            }
            Trace::Log { rule, message, .. } => self.line(&format!("  [{rule}] {message}")),
            Trace::RunFinished {
                rule,
                outcome: RunOutcome::Failed { error, .. },
                ..
            } => self.line(&format!("  rule {rule} failed: {error}")),
            _ => {}
        }
    }
}

/// Loads `paths`, or the embedded examples when `paths` is empty and there is no `rules/`.
fn demo_rules(paths: &[PathBuf], scratch: &std::path::Path) -> Result<Loaded, DemoError> {
    let paths: Vec<PathBuf> = if !paths.is_empty() {
        paths.to_vec()
    } else if std::path::Path::new("rules").is_dir() {
        vec![PathBuf::from("rules")]
    } else {
        let dir = scratch.join("rules");
        write_examples(&dir).map_err(|e| DemoError::Setup(e.to_string()))?;
        vec![dir]
    };
    let loaded = load(&paths);
    if loaded.has_errors() {
        for diagnostic in &loaded.diagnostics {
            eprintln!("{}", diagnostic.render());
        }
        return Err(DemoError::Rules);
    }
    Ok(loaded)
}

/// Runs the demo, writing the timeline to `out`. `pace` scales the pauses between steps.
pub async fn run(
    rule_paths: &[PathBuf],
    pace: f64,
    out: Box<dyn Write + Send>,
) -> Result<DemoSummary, DemoError> {
    let scratch = std::env::temp_dir().join(format!("lcu-rules-demo-{}", std::process::id()));
    let result = run_in(rule_paths, pace, out, &scratch).await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

async fn run_in(
    rule_paths: &[PathBuf],
    pace: f64,
    out: Box<dyn Write + Send>,
    scratch: &std::path::Path,
) -> Result<DemoSummary, DemoError> {
    let loaded = demo_rules(rule_paths, scratch)?;
    let sim = SimClient::start(&scratch.join("client"))
        .await
        .map_err(|e| DemoError::Setup(e.to_string()))?;
    let printer = Arc::new(Printer {
        start: Instant::now(),
        out: Mutex::new(out),
        pending: Mutex::new(None),
    });
    printer.line(&format!(
        "simulated League client listening on 127.0.0.1:{} (lockfile {})",
        sim.port(),
        sim.lockfile().display()
    ));
    let enabled: Vec<String> = loaded
        .rules()
        .filter(|r| r.enabled)
        .map(|r| r.id.clone())
        .collect();
    let disabled: Vec<String> = loaded
        .rules()
        .filter(|r| !r.enabled)
        .map(|r| r.id.clone())
        .collect();
    printer.line(&format!("rules: {}", enabled.join(", ")));
    if !disabled.is_empty() {
        printer.line(&format!("disabled (not run): {}", disabled.join(", ")));
    }
    let trust =
        Trust::riot_and_file(&sim.ca_file()).map_err(|e| DemoError::Setup(e.to_string()))?;
    let options = LiveOptions::new(Discovery::Lockfile(sim.lockfile()), trust, Vec::new());
    let mut service = Service::start(
        Arc::new(loaded.rule_set()),
        options,
        printer.clone(),
        EngineConfig::default(),
    );
    if !service.wait_connected(1, Duration::from_secs(15)).await {
        return Err(DemoError::Expectation(format!(
            "could not connect to the simulated client: {:?}",
            *service.status.borrow()
        )));
    }
    printer.line("connected (TLS pinned to the simulated client's CA, WAMP firehose subscribed)");
    let pause = |ms: u64| tokio::time::sleep(Duration::from_secs_f64(ms as f64 / 1000.0 * pace));

    let step = |text: &str| printer.line(&format!("client: {text}"));
    step("lobby");
    sim.change(GAMEFLOW_PHASE, Some(json!("Lobby")));
    pause(400).await;
    step("searching for a match");
    sim.change(GAMEFLOW_PHASE, Some(json!("Matchmaking")));
    pause(600).await;

    step("match found: the ready check pops");
    sim.change(GAMEFLOW_PHASE, Some(json!("ReadyCheck")));
    let before = sim.requests().len();
    let popped = sim.change(READY_CHECK, Some(ready_check("InProgress", "None", 0.0)));
    let accept = sim
        .wait_for_request(
            "POST",
            "/lol-matchmaking/v1/ready-check/accept",
            before,
            Duration::from_secs(5),
        )
        .await
        .ok_or_else(|| DemoError::Expectation("the ready check was not accepted".into()))?;
    let accepted_at = sim.requests()[accept].at;
    let accept_latency = popped
        .handed_at()
        .map(|h| accepted_at.saturating_duration_since(h))
        .unwrap_or_default();
    printer.line(&format!(
        "ready check accepted {:.2} ms after its frame reached the socket",
        accept_latency.as_secs_f64() * 1000.0
    ));
    pause(300).await;
    step("everyone is ready");
    sim.change(
        READY_CHECK,
        Some(ready_check("EveryoneReady", "Accepted", 2.0)),
    );
    pause(300).await;

    step(
        "champion select (replaying a real captured session, 40× faster; the pick rule ships disabled)",
    );
    sim.change(READY_CHECK, None);
    sim.change(GAMEFLOW_PHASE, Some(json!("ChampSelect")));
    replay_champ_select(&sim, pace).await?;
    pause(300).await;

    step("game starts");
    sim.change(CHAMP_SELECT_SESSION, None);
    for phase in ["GameStart", "InProgress"] {
        sim.change(GAMEFLOW_PHASE, Some(json!(phase)));
        pause(300).await;
    }
    step("game over");
    for phase in ["WaitingForStats", "PreEndOfGame", "EndOfGame"] {
        sim.change(GAMEFLOW_PHASE, Some(json!(phase)));
        pause(300).await;
    }
    let play_again = sim
        .wait_for_request(
            "POST",
            "/lol-lobby/v2/play-again",
            before,
            Duration::from_secs(10),
        )
        .await
        .is_some();
    pause(200).await;
    let report = service.stop().await;
    sim.stop();
    let requests = sim.requests().len();
    printer.line(&format!(
        "done: {} events, {} runs ({} completed, {} failed), {} requests answered by the client",
        report.events, report.runs_started, report.runs_completed, report.runs_failed, requests
    ));
    if !play_again {
        return Err(DemoError::Expectation(
            "play-again was not sent after the game".into(),
        ));
    }
    Ok(DemoSummary {
        report,
        accept_latency,
        requests,
    })
}

/// Replays the real champion-select capture with its own timing, sped up 40×.
async fn replay_champ_select(sim: &SimClient, pace: f64) -> Result<(), DemoError> {
    let recorded = parse_recording(CHAMP_SELECT)
        .map_err(|(line, e)| DemoError::Setup(format!("capture line {line}: {e}")))?;
    let events = crate::event::timed(recorded, Duration::ZERO);
    let speed = if pace > 0.0 { 40.0 / pace } else { f64::MAX };
    sim.replay(&events, speed).await;
    Ok(())
}
