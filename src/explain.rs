//! `lcu-rules explain`: why each rule did or did not fire over a recorded session. The session is
//! replayed through the engine (virtual time, recording port) and every decision the engine
//! reported is grouped by rule: fired (with the requests its run sent), held back by its mode or
//! cooldown, or stopped at a named condition with the value found there.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::rule::RuleSet;
use crate::testing::{TimedEvent, replay};
use crate::trace::{Trace, Verdict};

/// One event that reached a rule's trigger, and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The event's number in the session (1-based).
    pub seq: u64,
    /// When, from the start of the session, in milliseconds.
    pub at_ms: u64,
    /// The event's type.
    #[serde(rename = "eventType")]
    pub event_type: &'static str,
    /// The event's URI.
    pub uri: String,
    /// The decision.
    pub decision: Verdict,
    /// The requests the run sent, if it fired: `METHOD path -> status`.
    pub requests: Vec<String>,
}

/// Everything one rule decided over the session.
#[derive(Debug, Clone, Serialize)]
pub struct RuleExplanation {
    /// The rule.
    pub rule: String,
    /// Whether it is enabled (disabled rules are evaluated too, to show what they would do).
    pub enabled: bool,
    /// The events that reached its trigger, in order.
    pub rows: Vec<Row>,
}

/// Replays `events` through `rules` (every rule, disabled ones included) and explains each rule's
/// decisions; `only` limits the output to one rule id.
pub fn explain(
    rules: Arc<RuleSet>,
    events: Vec<TimedEvent>,
    only: Option<&str>,
) -> std::io::Result<Vec<RuleExplanation>> {
    let enabled: Vec<(String, bool)> = rules
        .rules
        .iter()
        .map(|r| (r.id.clone(), r.enabled))
        .collect();
    let result = replay(rules, events, Vec::new())?;
    let mut events_by_seq = std::collections::HashMap::new();
    let mut requests_by_run: std::collections::HashMap<u64, Vec<String>> =
        std::collections::HashMap::new();
    for trace in &result.traces {
        match trace {
            Trace::Event { seq, at, event } => {
                events_by_seq.insert(*seq, (*at, event.clone()));
            }
            Trace::Request {
                run,
                method,
                path,
                result,
                ..
            } => {
                let answer = match result {
                    Ok(status) => status.to_string(),
                    Err(error) => format!("error: {error}"),
                };
                requests_by_run
                    .entry(*run)
                    .or_default()
                    .push(format!("{} {path} -> {answer}", method.as_str()));
            }
            _ => {}
        }
    }
    let mut explanations: Vec<RuleExplanation> = enabled
        .iter()
        .filter(|(id, _)| only.is_none_or(|o| o == id))
        .map(|(id, enabled)| RuleExplanation {
            rule: id.clone(),
            enabled: *enabled,
            rows: Vec::new(),
        })
        .collect();
    for trace in &result.traces {
        let Trace::Decision {
            seq, rule, verdict, ..
        } = trace
        else {
            continue;
        };
        let Some(explanation) = explanations.iter_mut().find(|e| *e.rule == **rule) else {
            continue;
        };
        let Some((at, event)) = events_by_seq.get(seq) else {
            continue;
        };
        let requests = match verdict {
            Verdict::Fired { run } | Verdict::Queued { run } => {
                requests_by_run.get(run).cloned().unwrap_or_default()
            }
            _ => Vec::new(),
        };
        explanation.rows.push(Row {
            seq: *seq,
            at_ms: millis(*at),
            event_type: event.event_type.as_str(),
            uri: event.uri.clone(),
            decision: verdict.clone(),
            requests,
        });
    }
    Ok(explanations)
}

fn millis(at: Duration) -> u64 {
    at.as_millis() as u64
}

/// One line saying what was decided.
pub fn describe(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Fired { run } => format!("fired (run {run})"),
        Verdict::Queued { run } => format!("queued (run {run})"),
        Verdict::Suppressed { why } => {
            format!("held back: {}", crate::testing::suppressed_text(why))
        }
        Verdict::Stopped { miss } => format!("not fired: {miss}"),
    }
}

/// The explanations as a readable table per rule.
pub fn render(explanations: &[RuleExplanation]) -> String {
    let mut out = String::new();
    for explanation in explanations {
        let state = if explanation.enabled {
            ""
        } else {
            " (disabled: showing what it would do if enabled)"
        };
        let _ = writeln!(out, "rule {}{state}", explanation.rule);
        if explanation.rows.is_empty() {
            let _ = writeln!(out, "  no event reached its trigger\n");
            continue;
        }
        for row in &explanation.rows {
            let at = format!("+{:.3}s", row.at_ms as f64 / 1000.0);
            let _ = writeln!(
                out,
                "  #{:<4} {at:>10}  {} {}  {}",
                row.seq,
                row.event_type,
                row.uri,
                describe(&row.decision)
            );
            for request in &row.requests {
                let _ = writeln!(out, "  {:>17}  -> {request}", "");
            }
        }
        let fired = explanation
            .rows
            .iter()
            .filter(|r| matches!(r.decision, Verdict::Fired { .. } | Verdict::Queued { .. }))
            .count();
        let _ = writeln!(
            out,
            "  {} event(s) reached it, {fired} fired\n",
            explanation.rows.len()
        );
    }
    out
}
