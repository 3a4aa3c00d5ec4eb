//! Offline replay: embedded test cases and recorded sessions run through the real engine with a
//! recording port, in virtual time (tokio's paused clock), so a replay of minutes of events is
//! instant and always gives the same result. Also renders the resulting timeline.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::port::{ClientPort, HttpRequest, HttpResponse, PortFuture};
use crate::engine::trace::{Observer, RunOutcome, Trace, Verdict};
use crate::engine::{Engine, EngineConfig, EngineReport};
use crate::event::TimedEvent;
use crate::event::duration::human;
use crate::language::cases::{CannedResponse, ExpectedLog, ExpectedRequest, LogText, TestCase};
use crate::language::condition::{json_eq, short_json};
use crate::language::rule::RuleSet;

/// A request the recording port saw.
#[derive(Debug, Clone, PartialEq)]
pub struct SentRequest {
    /// When, from the start of the replay.
    pub at: Duration,
    /// The request.
    pub request: HttpRequest,
}

/// A port that records every request and answers from canned responses (200 `{}` otherwise).
pub(crate) struct RecordingPort {
    epoch: Instant,
    responses: Vec<CannedResponse>,
    sent: Mutex<Vec<SentRequest>>,
}

impl RecordingPort {
    /// A port whose clock starts now.
    pub(crate) fn new(responses: Vec<CannedResponse>) -> RecordingPort {
        RecordingPort {
            epoch: Instant::now(),
            responses,
            sent: Mutex::new(Vec::new()),
        }
    }

    /// Everything sent so far.
    pub(crate) fn sent(&self) -> Vec<SentRequest> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl ClientPort for RecordingPort {
    fn send(&self, request: HttpRequest) -> PortFuture {
        let path_only = request.path.split('?').next().unwrap_or("").to_string();
        let response = self
            .responses
            .iter()
            .find(|r| r.method == request.method && (r.path == request.path || r.path == path_only))
            .map(|r| HttpResponse {
                status: r.status,
                body: r.body.clone(),
            })
            .unwrap_or(HttpResponse {
                status: 200,
                body: Value::Object(Default::default()),
            });
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(SentRequest {
                at: self.epoch.elapsed(),
                request,
            });
        }
        Box::pin(async move { Ok(response) })
    }
}

/// An observer that keeps every trace.
#[derive(Default)]
pub struct Collector {
    traces: Mutex<Vec<Trace>>,
}

impl Collector {
    /// Everything observed so far.
    pub fn traces(&self) -> Vec<Trace> {
        self.traces.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

impl Observer for Collector {
    fn observe(&self, trace: Trace) {
        if let Ok(mut traces) = self.traces.lock() {
            traces.push(trace);
        }
    }
}

/// What a replay produced.
pub struct Replay {
    /// Requests sent, in order.
    pub sent: Vec<SentRequest>,
    /// Everything the engine reported.
    pub traces: Vec<Trace>,
    /// The engine's totals.
    pub report: EngineReport,
}

/// Replays events through the engine in virtual time and returns what happened.
pub fn replay(
    rules: Arc<RuleSet>,
    events: Vec<TimedEvent>,
    responses: Vec<CannedResponse>,
) -> std::io::Result<Replay> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    Ok(runtime.block_on(async move {
        let port = Arc::new(RecordingPort::new(responses));
        let collector = Arc::new(Collector::default());
        let engine = Engine::new(
            rules,
            port.clone(),
            collector.clone(),
            EngineConfig {
                seed: Some(REPLAY_SEED),
                ..EngineConfig::default()
            },
        );
        let start = Instant::now();
        let (tx, rx) = mpsc::channel(64);
        let engine_task = tokio::spawn(engine.run(rx, CancellationToken::new()));
        for timed in events {
            tokio::time::sleep_until(start + timed.at).await;
            if tx.send(timed.event).await.is_err() {
                break;
            }
        }
        drop(tx);
        let report = engine_task.await.unwrap_or_default();
        Replay {
            sent: port.sent(),
            traces: collector.traces(),
            report,
        }
    }))
}

/// The outcome of one test case.
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// `None` if it passed; otherwise what differs.
    pub failure: Option<String>,
    /// The replay's timeline.
    pub timeline: String,
    /// How many requests were sent.
    pub requests: usize,
    /// The lines `log` steps wrote, in order.
    pub logs: Vec<String>,
}

/// A line a `log` step wrote during a replay.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WrittenLog {
    at: Duration,
    rule: Arc<str>,
    message: String,
}

/// The seed of random choices in a replay: a test case chooses the same every run.
pub(crate) const REPLAY_SEED: u64 = 20;

/// Runs one test case against a rule set.
pub fn run_case(rules: Arc<RuleSet>, case: &TestCase) -> std::io::Result<CaseResult> {
    let result = replay(rules, case.events.clone(), case.responses.clone())?;
    let written: Vec<WrittenLog> = result
        .traces
        .iter()
        .filter_map(|trace| match trace {
            Trace::Log {
                at, rule, message, ..
            } => Some(WrittenLog {
                at: *at,
                rule: rule.clone(),
                message: message.clone(),
            }),
            _ => None,
        })
        .collect();
    let requests = compare(&case.expect, &result.sent);
    let logs = case
        .logs
        .as_ref()
        .and_then(|expected| compare_logs(expected, &written));
    let failed_runs = compare_failures(&case.failures, &failed_runs(&result.traces));
    let failure = match (requests, logs, failed_runs) {
        (None, None, None) => None,
        (requests, logs, failed_runs) => Some(format!(
            "{}{}{}",
            requests.unwrap_or_default(),
            logs.map(|d| format!("    log lines:\n{d}"))
                .unwrap_or_default(),
            failed_runs
                .map(|d| format!("    failed runs (a test expects them under `failures:`):\n{d}"))
                .unwrap_or_default()
        )),
    };
    Ok(CaseResult {
        name: case.name.clone(),
        failure,
        timeline: render_timeline(&result.traces, false),
        requests: result.sent.len(),
        logs: written.into_iter().map(|log| log.message).collect(),
    })
}

/// Every run that failed, as `rule: failed at step N: error`.
fn failed_runs(traces: &[Trace]) -> Vec<String> {
    traces
        .iter()
        .filter_map(|trace| match trace {
            Trace::RunFinished {
                rule,
                outcome: RunOutcome::Failed { step, error },
                ..
            } => Some(format!("{rule}: failed at step {}: {error}", step + 1)),
            _ => None,
        })
        .collect()
}

/// Compares the failures a test expects (text each must contain) with the runs that failed.
fn compare_failures(expected: &[String], failed: &[String]) -> Option<String> {
    let lines = differences(
        expected,
        failed,
        |e, f| f.contains(e.as_str()),
        |e| format!("containing {e:?}"),
        |f| f.clone(),
    )?;
    Some(lines.replace("        sent:     ", "        failed:   "))
}

fn log_matches(expected: &ExpectedLog, written: &WrittenLog) -> bool {
    let text_ok = match &expected.text {
        LogText::Exact(text) => *text == written.message,
        LogText::Contains(part) => written.message.contains(part.as_str()),
    };
    text_ok
        && expected.rule.as_deref().is_none_or(|r| r == &*written.rule)
        && expected
            .at
            .is_none_or(|at| at.abs_diff(written.at) <= Duration::from_millis(1))
}

fn describe_expected_log(expected: &ExpectedLog) -> String {
    let mut text = match &expected.text {
        LogText::Exact(text) => format!("{text:?}"),
        LogText::Contains(part) => format!("containing {part:?}"),
    };
    if let Some(rule) = &expected.rule {
        let _ = write!(text, " (rule {rule})");
    }
    if let Some(at) = expected.at {
        let _ = write!(text, " at {}", human(at));
    }
    text
}

fn describe_written_log(written: &WrittenLog) -> String {
    format!(
        "{:?} (rule {}) at {}",
        written.message,
        written.rule,
        human(written.at)
    )
}

/// Compares expected and written log lines in order; `None` when they agree.
fn compare_logs(expected: &[ExpectedLog], written: &[WrittenLog]) -> Option<String> {
    let lines = differences(
        expected,
        written,
        log_matches,
        describe_expected_log,
        describe_written_log,
    )?;
    Some(lines.replace("        sent:     ", "        written:  "))
}

fn describe_expected(expected: &ExpectedRequest) -> String {
    let mut text = format!("{} {}", expected.method.as_str(), expected.path);
    if let Some(body) = &expected.body {
        let _ = write!(text, " {}", short_json(body));
    }
    if let Some(rule) = &expected.rule {
        let _ = write!(text, " (rule {rule})");
    }
    if let Some(at) = expected.at {
        let _ = write!(text, " at {}", human(at));
    }
    text
}

fn describe_sent(sent: &SentRequest) -> String {
    let mut text = format!("{} {}", sent.request.method.as_str(), sent.request.path);
    if let Some(body) = &sent.request.body {
        let _ = write!(text, " {}", short_json(body));
    }
    let _ = write!(text, " (rule {}) at {}", sent.request.rule, human(sent.at));
    text
}

fn matches_expected(expected: &ExpectedRequest, sent: &SentRequest) -> bool {
    let body_ok = match (&expected.body, &sent.request.body) {
        (None, None) => true,
        (Some(a), Some(b)) => json_eq(a, b),
        _ => false,
    };
    expected.method == sent.request.method
        && expected.path == sent.request.path
        && body_ok
        && expected
            .rule
            .as_deref()
            .is_none_or(|r| r == &*sent.request.rule)
        && expected
            .at
            .is_none_or(|at| at.abs_diff(sent.at) <= Duration::from_millis(1))
}

/// Compares expected and sent requests in order; `None` when they agree.
pub(crate) fn compare(expected: &[ExpectedRequest], sent: &[SentRequest]) -> Option<String> {
    differences(
        expected,
        sent,
        matches_expected,
        describe_expected,
        describe_sent,
    )
}

/// Lines `expected` and `actual` pairwise, marking with `!` each pair that does not match;
/// `None` when they all match and neither list is longer.
fn differences<E, A>(
    expected: &[E],
    actual: &[A],
    matches: impl Fn(&E, &A) -> bool,
    describe_expected: impl Fn(&E) -> String,
    describe_actual: impl Fn(&A) -> String,
) -> Option<String> {
    let agree =
        expected.len() == actual.len() && expected.iter().zip(actual).all(|(e, a)| matches(e, a));
    if agree {
        return None;
    }
    let mut diff = String::new();
    for index in 0..expected.len().max(actual.len()) {
        let e = expected.get(index);
        let a = actual.get(index);
        let same = matches!((e, a), (Some(e), Some(a)) if matches(e, a));
        let mark = if same { " " } else { "!" };
        let _ = writeln!(diff, "    {mark} #{}", index + 1);
        let _ = writeln!(
            diff,
            "        expected: {}",
            e.map(&describe_expected)
                .unwrap_or_else(|| "(nothing)".into())
        );
        let _ = writeln!(
            diff,
            "        sent:     {}",
            a.map(&describe_actual)
                .unwrap_or_else(|| "(nothing)".into())
        );
    }
    Some(diff)
}

/// Renders traces as a readable timeline. With `all_decisions`, rules whose conditions did not
/// hold are shown too (with where they stopped).
pub fn render_timeline(traces: &[Trace], all_decisions: bool) -> String {
    let mut out = String::new();
    for trace in traces {
        let _ = match trace {
            Trace::Event {
                at,
                seq,
                event,
                caused_by,
            } => writeln!(
                out,
                "  {:>9}  #{seq} {} {}{}{}",
                clock(*at),
                event.event_type.as_str(),
                event.uri,
                if event.snapshot { " (snapshot)" } else { "" },
                caused_by
                    .as_ref()
                    .map(|r| format!(" (echo of {r}'s request)"))
                    .unwrap_or_default()
            ),
            Trace::Decision { rule, verdict, .. } => match verdict {
                Verdict::Fired { run } => writeln!(out, "             {rule}: fired (run {run})"),
                Verdict::Queued { run } => writeln!(out, "             {rule}: queued (run {run})"),
                Verdict::Debounced { .. } => writeln!(
                    out,
                    "             {rule}: {}",
                    crate::engine::journal::describe(verdict)
                ),
                Verdict::Suppressed { why } => writeln!(
                    out,
                    "             {rule}: held back ({})",
                    crate::engine::trace::suppressed_text(why)
                ),
                Verdict::Stopped { miss } if all_decisions => {
                    writeln!(out, "             {rule}: not fired, {miss}")
                }
                Verdict::Stopped { .. } => Ok(()),
            },
            Trace::Request {
                at,
                run,
                method,
                path,
                body,
                result,
                attempt,
                ..
            } => {
                let body = body
                    .as_ref()
                    .map(|b| format!(" {}", short_json(b)))
                    .unwrap_or_default();
                let retry = if *attempt > 0 {
                    format!(" (retry {attempt})")
                } else {
                    String::new()
                };
                let answer = match result {
                    Ok(status) => status.to_string(),
                    Err(error) => format!("error: {error}"),
                };
                writeln!(
                    out,
                    "  {:>9}    run {run}: {} {path}{body} -> {answer}{retry}",
                    clock(*at),
                    method.as_str()
                )
            }
            Trace::Log {
                at, run, message, ..
            } => writeln!(out, "  {:>9}    run {run}: log: {message}", clock(*at)),
            Trace::Flow { at, run, text, .. } => {
                writeln!(out, "  {:>9}    run {run}: {text}", clock(*at))
            }
            Trace::RunFinished {
                at, run, outcome, ..
            } => match outcome {
                RunOutcome::Completed => Ok(()),
                RunOutcome::Failed { step, error } => writeln!(
                    out,
                    "  {:>9}    run {run}: failed at step {}: {error}",
                    clock(*at),
                    step + 1
                ),
                RunOutcome::Cancelled => {
                    writeln!(out, "  {:>9}    run {run}: cancelled", clock(*at))
                }
                RunOutcome::Abandoned { reason } => {
                    writeln!(out, "  {:>9}    run {run}: given up: {reason}", clock(*at))
                }
            },
        };
    }
    out
}

fn clock(at: Duration) -> String {
    format!("+{:.3}s", at.as_secs_f64())
}

/// The paths a `test` or `check` run loads when none is given.
pub fn default_rule_paths() -> Vec<PathBuf> {
    vec![PathBuf::from("rules")]
}
