//! `lcu-rules explain --events`: a recorded session replayed through the rules, and each rule's
//! decisions collected in a [`Journal`](crate::engine::journal::Journal).

use std::sync::Arc;

use crate::engine::journal::{Journal, RuleExplanation};
use crate::event::TimedEvent;
use crate::language::rule::RuleSet;
use crate::offline::testing::replay;

/// Replays `events` through `rules` (every rule, disabled ones included) and explains each rule's
/// decisions; `only` limits the output to one rule id.
pub fn explain(
    rules: Arc<RuleSet>,
    events: Vec<TimedEvent>,
    only: Option<&str>,
) -> std::io::Result<Vec<RuleExplanation>> {
    let mut journal = Journal::new(&rules, None);
    let result = replay(rules, events, Vec::new())?;
    for trace in &result.traces {
        journal.record(trace.clone());
    }
    Ok(journal.explanations(only))
}
