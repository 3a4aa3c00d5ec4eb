//! Why each rule did or did not fire: decision records. A [`Journal`] turns the engine's traces into decision
//! records per rule: fired (with the requests its run sent and how the run ended), held back
//! (mode, cooldown, rate limit, phase, guard), or stopped at a named condition with the value
//! found there. `lcu-rules explain --events` fills one from a replayed session; the live service
//! keeps one, bounded, for `explain --live` and `status`.

use std::collections::{HashMap, VecDeque};

use rustc_hash::FxHashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::engine::trace::{Observer, RunOutcome, Trace, Verdict};
use crate::event::Event;
use crate::language::rule::RuleSet;

/// Decision records kept per rule and kind by the live service: the last runs and holds, and,
/// separately, the last near-misses, so a stream of events that stop at a condition can never
/// push real runs out.
pub(crate) const LIVE_RECORDS_PER_RULE: usize = 50;

/// One event that reached a rule's trigger, and what came of it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// The event's number in the session (1-based).
    pub seq: u64,
    /// When, from the start of the session, in milliseconds.
    pub at_ms: u64,
    /// The event's type.
    pub event_type: &'static str,
    /// The event's URI.
    pub uri: String,
    /// Whether it was read after connecting rather than pushed by the client.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub snapshot: bool,
    /// The rule whose request this event echoes, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<String>,
    /// The decision.
    pub decision: Verdict,
    /// The requests the run sent, if it fired, in order (retries included).
    pub requests: Vec<RequestRecord>,
    /// How the run went: branches taken and why, loop values, remembered values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flow: Vec<FlowRecord>,
    /// How the run ended, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<RunOutcome>,
}

impl Row {
    /// A row to fill in.
    fn empty() -> Row {
        Row {
            seq: 0,
            at_ms: 0,
            event_type: "",
            uri: String::new(),
            snapshot: false,
            caused_by: None,
            // Overwritten before the row is kept.
            decision: Verdict::Suppressed {
                why: crate::engine::trace::Suppressed::Busy,
            },
            requests: Vec::new(),
            flow: Vec::new(),
            outcome: None,
        }
    }
}

/// One line of how a run went (see [`Trace::Flow`]).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlowRecord {
    /// How many of the row's requests came before it.
    pub after_requests: usize,
    /// What happened.
    pub text: String,
}

/// One request a run sent, and what came of it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RequestRecord {
    /// The method.
    pub method: &'static str,
    /// The path as sent.
    pub path: String,
    /// The client's status, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why there was no answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub elapsed_ms: f64,
    /// Which attempt (0 is the first).
    pub attempt: u32,
}

impl std::fmt::Display for RequestRecord {
    /// `POST /path -> 204 (2.3 ms)`, with the attempt when it was a retry.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} -> ", self.method, self.path)?;
        match (&self.status, &self.error) {
            (Some(status), _) => write!(f, "{status}")?,
            (None, Some(error)) => write!(f, "error: {error}")?,
            (None, None) => f.write_str("no answer")?,
        }
        write!(f, " ({:.1} ms", self.elapsed_ms)?;
        if self.attempt > 0 {
            write!(f, ", retry {}", self.attempt)?;
        }
        f.write_str(")")
    }
}

/// Everything one rule decided.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleExplanation {
    /// The rule.
    pub rule: String,
    /// Whether it is enabled (offline, disabled rules are evaluated too, to show what they
    /// would do).
    pub enabled: bool,
    /// The events that reached its trigger, in order (live: the most recent ones).
    pub rows: Vec<Row>,
}

/// One rule's records: acts (fired, queued, held back, debounced) and misses, kept apart.
#[derive(Default)]
struct RuleRecords {
    acts: VecDeque<Row>,
    misses: VecDeque<Row>,
}

/// Decision records per rule, built from traces; bounded per rule when `limit` is set.
pub(crate) struct Journal {
    rules: Vec<(String, bool)>,
    records: Vec<RuleRecords>,
    index: FxHashMap<String, usize>,
    /// Where each live run's row is: rule index.
    runs: FxHashMap<u64, usize>,
    limit: Option<usize>,
}

impl Journal {
    /// A journal for `rules`, keeping at most `limit` records per rule and kind (`None`: all).
    pub(crate) fn new(rules: &RuleSet, limit: Option<usize>) -> Journal {
        let list: Vec<(String, bool)> = rules
            .rules
            .iter()
            .map(|r| (r.id.clone(), r.enabled))
            .collect();
        let index = list
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.clone(), i))
            .collect();
        Journal {
            records: list.iter().map(|_| RuleRecords::default()).collect(),
            rules: list,
            index,
            runs: FxHashMap::default(),
            limit,
        }
    }

    /// Follows a reload: records of rules that are still there are kept, new rules start empty.
    pub(crate) fn retarget(&mut self, rules: &RuleSet) {
        let run_ids: Vec<(u64, String)> = self
            .runs
            .drain()
            .map(|(run, rule)| (run, self.rules[rule].0.clone()))
            .collect();
        let mut old: HashMap<String, RuleRecords> = self
            .rules
            .drain(..)
            .map(|(id, _)| id)
            .zip(self.records.drain(..))
            .collect();
        self.rules = rules
            .rules
            .iter()
            .map(|r| (r.id.clone(), r.enabled))
            .collect();
        self.records = self
            .rules
            .iter()
            .map(|(id, _)| old.remove(id).unwrap_or_default())
            .collect();
        self.index = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.clone(), i))
            .collect();
        for (run, id) in run_ids {
            if let Some(&index) = self.index.get(&id) {
                self.runs.insert(run, index);
            }
        }
    }

    /// Takes one trace into account.
    pub(crate) fn record(&mut self, trace: Trace) {
        match trace {
            Trace::Event { .. } | Trace::Log { .. } => {}
            Trace::Flow { run, text, .. } => {
                if let Some(row) = self.run_row(run) {
                    let after_requests = row.requests.len();
                    row.flow.push(FlowRecord {
                        after_requests,
                        text,
                    });
                }
            }
            Trace::Decision {
                seq,
                event,
                event_at,
                caused_by,
                rule,
                verdict,
                ..
            } => self.decision(seq, &event, event_at, caused_by.as_deref(), &rule, verdict),
            Trace::Request {
                run,
                method,
                path,
                result,
                elapsed,
                attempt,
                ..
            } => {
                let Some(row) = self.run_row(run) else {
                    return;
                };
                let (status, error) = match result {
                    Ok(status) => (Some(status), None),
                    Err(error) => (None, Some(error)),
                };
                row.requests.push(RequestRecord {
                    method: method.as_str(),
                    path,
                    status,
                    error,
                    elapsed_ms: (elapsed.as_secs_f64() * 10_000.0).round() / 10.0,
                    attempt,
                });
            }
            Trace::RunFinished { run, outcome, .. } => {
                if let Some(row) = self.run_row(run) {
                    row.outcome = Some(outcome);
                }
                self.runs.remove(&run);
            }
        }
    }

    fn decision(
        &mut self,
        seq: u64,
        event: &Event,
        at: Duration,
        caused_by: Option<&str>,
        rule: &str,
        verdict: Verdict,
    ) {
        let Some(&index) = self.index.get(rule) else {
            return;
        };
        if let Verdict::Fired { run } | Verdict::Queued { run } = verdict {
            self.runs.insert(run, index);
        }
        let records = &mut self.records[index];
        let list = match verdict {
            Verdict::Stopped { .. } => &mut records.misses,
            _ => &mut records.acts,
        };
        // A full list's oldest row makes way for the new one, and lends it its buffers.
        let mut row = match self.limit {
            Some(limit) if list.len() >= limit => list.pop_front(),
            _ => None,
        }
        .unwrap_or_else(Row::empty);
        if let Verdict::Fired { run } | Verdict::Queued { run } = row.decision {
            self.runs.remove(&run);
        }
        row.seq = seq;
        row.at_ms = at.as_millis() as u64;
        row.event_type = event.event_type.as_str();
        row.uri.clone_from(&event.uri);
        row.snapshot = event.snapshot;
        row.caused_by = caused_by.map(str::to_string);
        row.decision = verdict;
        row.requests.clear();
        row.flow.clear();
        row.outcome = None;
        list.push_back(row);
    }

    fn run_row(&mut self, run: u64) -> Option<&mut Row> {
        let index = *self.runs.get(&run)?;
        self.records[index].acts.iter_mut().rev().find(|row| {
            matches!(row.decision, Verdict::Fired { run: r } | Verdict::Queued { run: r } if r == run)
        })
    }

    /// The records of every rule (or of `only`), each rule's rows in event order.
    pub(crate) fn explanations(&self, only: Option<&str>) -> Vec<RuleExplanation> {
        self.rules
            .iter()
            .zip(&self.records)
            .filter(|((id, _), _)| only.is_none_or(|o| o == id))
            .map(|((id, enabled), records)| {
                let mut rows: Vec<Row> = records
                    .acts
                    .iter()
                    .chain(&records.misses)
                    .cloned()
                    .collect();
                rows.sort_by_key(|row| row.seq);
                RuleExplanation {
                    rule: id.clone(),
                    enabled: *enabled,
                    rows,
                }
            })
            .collect()
    }
}

/// A [`Journal`] shared with the engine as an observer (the live service's decision buffers).
pub(crate) struct SharedJournal(pub Mutex<Journal>);

impl SharedJournal {
    /// A bounded journal for the live service.
    pub(crate) fn live(rules: &RuleSet) -> Arc<SharedJournal> {
        Arc::new(SharedJournal(Mutex::new(Journal::new(
            rules,
            Some(LIVE_RECORDS_PER_RULE),
        ))))
    }

    /// Follows a reload (see [`Journal::retarget`]).
    pub(crate) fn retarget(&self, rules: &RuleSet) {
        if let Ok(mut journal) = self.0.lock() {
            journal.retarget(rules);
        }
    }

    /// The current records.
    pub(crate) fn explanations(&self, only: Option<&str>) -> Vec<RuleExplanation> {
        match self.0.lock() {
            Ok(journal) => journal.explanations(only),
            Err(_) => Vec::new(),
        }
    }
}

impl Observer for SharedJournal {
    fn observe(&self, trace: Trace) {
        if let Ok(mut journal) = self.0.lock() {
            journal.record(trace);
        }
    }
}

/// Sends every trace to each of several observers, in order.
pub(crate) struct Fanout(pub Vec<Arc<dyn Observer>>);

impl Observer for Fanout {
    fn observe(&self, trace: Trace) {
        if let Some((last, rest)) = self.0.split_last() {
            for observer in rest {
                observer.inspect(&trace);
            }
            last.observe(trace);
        }
    }
}

/// One line saying what was decided.
pub(crate) fn describe(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Fired { run } => format!("fired (run {run})"),
        Verdict::Queued { run } => format!("queued (run {run})"),
        Verdict::Debounced { key, wait_ms } => format!(
            "debounced{}: fires in {} unless triggered again",
            key.as_deref()
                .map(|k| format!(" (key {k})"))
                .unwrap_or_default(),
            crate::event::duration::human(Duration::from_millis(*wait_ms))
        ),
        Verdict::Suppressed { why } => {
            format!("held back: {}", crate::engine::trace::suppressed_text(why))
        }
        Verdict::Stopped { miss } => format!("not fired: {miss}"),
    }
}

/// How a run ended, in words (`None` when it completed: nothing to add).
pub(crate) fn describe_outcome(outcome: &RunOutcome) -> Option<String> {
    match outcome {
        RunOutcome::Completed => None,
        RunOutcome::Failed { step, error } => Some(format!("failed at step {}: {error}", step + 1)),
        RunOutcome::Cancelled => Some("cancelled".into()),
        RunOutcome::Abandoned { reason } => Some(format!("given up: {reason}")),
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
            let origin = match (&row.caused_by, row.snapshot) {
                (Some(rule), _) => format!(" [echo of {rule}'s request]"),
                (None, true) => " [snapshot]".to_string(),
                (None, false) => String::new(),
            };
            let _ = writeln!(
                out,
                "  #{:<4} {at:>10}  {} {}{origin}  {}",
                row.seq,
                row.event_type,
                row.uri,
                describe(&row.decision)
            );
            let mut flow = row.flow.iter().peekable();
            for (index, request) in row.requests.iter().enumerate() {
                while let Some(line) = flow.next_if(|f| f.after_requests <= index) {
                    let _ = writeln!(out, "  {:>17}  .. {}", "", line.text);
                }
                let _ = writeln!(out, "  {:>17}  -> {request}", "");
            }
            for line in flow {
                let _ = writeln!(out, "  {:>17}  .. {}", "", line.text);
            }
            if let Some(ending) = row.outcome.as_ref().and_then(describe_outcome) {
                let _ = writeln!(out, "  {:>17}  -> {ending}", "");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventType;

    fn one_rule() -> RuleSet {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.yaml");
        std::fs::write(
            &path,
            "rules:\n  - id: r\n    on: /x\n    do: [{request: POST /y}]\n",
        )
        .unwrap();
        let loaded = crate::language::loader::load(&[path]);
        assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
        loaded.rule_set()
    }

    fn fired(run: u64, uri: &str) -> Trace {
        Trace::Decision {
            at: Duration::from_millis(run),
            seq: run,
            event: Arc::new(Event::new(uri, EventType::Update, serde_json::json!({}))),
            event_at: Duration::from_millis(run),
            caused_by: None,
            rule: Arc::from("r"),
            verdict: Verdict::Fired { run },
        }
    }

    fn request(run: u64, status: u16) -> Trace {
        Trace::Request {
            at: Duration::ZERO,
            run,
            rule: Arc::from("r"),
            method: crate::language::spec::MethodName::POST,
            path: format!("/y/{run}"),
            body: None,
            result: Ok(status),
            elapsed: Duration::ZERO,
            attempt: 0,
        }
    }

    /// A bounded journal keeps the newest rows; a row that makes way for a newer one takes
    /// nothing of its own (requests, outcome, URI) into it, and its run is forgotten.
    #[test]
    fn a_full_journal_drops_its_oldest_rows_whole() {
        let mut journal = Journal::new(&one_rule(), Some(2));
        journal.record(fired(1, "/x/long-first-uri"));
        journal.record(request(1, 204));
        journal.record(Trace::RunFinished {
            at: Duration::ZERO,
            run: 1,
            rule: Arc::from("r"),
            outcome: RunOutcome::Completed,
        });
        journal.record(fired(2, "/x/2"));
        journal.record(fired(3, "/x/3"));
        // Run 1's row is gone: what it sends now has no row to land in.
        journal.record(request(1, 500));
        journal.record(request(3, 201));
        let rows = &journal.explanations(None)[0].rows;
        let summary: Vec<(u64, &str, Vec<Option<u16>>, bool)> = rows
            .iter()
            .map(|row| {
                let statuses = row.requests.iter().map(|r| r.status).collect();
                (row.seq, row.uri.as_str(), statuses, row.outcome.is_some())
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (2, "/x/2", vec![], false),
                (3, "/x/3", vec![Some(201)], false),
            ]
        );
    }
}
