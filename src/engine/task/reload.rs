//! Replacing the rule set while runs are in flight: which runs carry on, which are cancelled.

use super::*;

impl Engine {
    /// Swaps in a new rule set; see [`Command::Replace`].
    pub(super) fn replace(&mut self, rules: Arc<RuleSet>) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let mut old: HashMap<String, (u32, RuleState)> = HashMap::new();
        for (index, state) in std::mem::take(&mut self.per_rule.states)
            .into_iter()
            .enumerate()
        {
            old.insert(
                self.per_rule.rule_ids[index].to_string(),
                (index as u32, state),
            );
        }
        let mut moved: HashMap<u32, u32> = HashMap::new();
        let mut states = Vec::with_capacity(rules.rules.len());
        for (index, rule) in rules.rules.iter().enumerate() {
            match old.remove(&rule.id) {
                Some((old_index, mut state))
                    if self.rules.rule(old_index).fingerprint == rule.fingerprint =>
                {
                    state.breaker.reset();
                    for active in &state.active {
                        self.runs.owners.insert(active.run, index as u32);
                    }
                    moved.insert(old_index, index as u32);
                    summary.unchanged.push(rule.id.clone());
                    states.push(state);
                }
                Some((old_index, state)) => {
                    summary.cancelled_runs += self.retire(old_index, state, "changed");
                    summary.changed.push(rule.id.clone());
                    states.push(RuleState::default());
                }
                None => {
                    summary.added.push(rule.id.clone());
                    states.push(RuleState::default());
                }
            }
        }
        let mut removed: Vec<(String, (u32, RuleState))> = old.into_iter().collect();
        removed.sort_by_key(|(_, (index, _))| *index);
        for (id, (old_index, state)) in removed {
            summary.cancelled_runs += self.retire(old_index, state, "removed");
            summary.removed.push(id);
        }
        let debounced = std::mem::take(&mut self.debounce.debounced);
        self.debounce.deadlines.clear();
        for ((rule, key), pending) in debounced {
            if let Some(&index) = moved.get(&rule) {
                self.debounce
                    .deadlines
                    .insert((pending.deadline, pending.ticket), (index, key.clone()));
                self.debounce.debounced.insert((index, key), pending);
            }
        }
        self.per_rule.rule_ids = rules
            .rules
            .iter()
            .map(|r| Arc::from(r.id.as_str()))
            .collect();
        self.per_rule.states = states;
        self.per_rule.solo_chains = solo_chains(&rules);
        lock(&self.history.memory).rules_on(rules_on(&rules, &self.per_rule.switched_off));
        self.rules = rules;
        self.matching.recent = None;
        summary
    }

    /// Lets go of a changed or removed rule's runs: cancelled, or left to finish on their own if
    /// the rule says so. Returns how many were cancelled.
    pub(super) fn retire(&mut self, old_index: u32, state: RuleState, why: &str) -> usize {
        let finish =
            self.rules.rule(old_index).on_reload == crate::language::spec::OnReload::Finish;
        let mut cancelled = 0;
        for active in state.active {
            self.runs.owners.remove(&active.run);
            if finish {
                self.runs.orphans.push(active);
            } else {
                let _ = active
                    .abandon
                    .set(format!("its rule was {why} by a reload"));
                active.cancel();
                cancelled += 1;
            }
        }
        cancelled
    }
}
