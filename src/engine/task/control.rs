//! Commands from outside the engine (status, pause, reset, switch off) and the status report.

use super::*;

impl Engine {
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::ResetBreaker { rule, reply } => {
                let mut reset = Vec::new();
                for (index, state) in self.per_rule.states.iter_mut().enumerate() {
                    let id = &self.per_rule.rule_ids[index];
                    if rule.as_deref().is_none_or(|r| r == &**id) && state.breaker.tripped() {
                        state.breaker.reset();
                        reset.push(id.to_string());
                    }
                }
                if !reset.is_empty() {
                    tracing::info!(rules = %reset.join(", "), "circuit breaker reset");
                }
                let _ = reply.send(reset);
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Replace { rules, reply } => {
                let _ = reply.send(self.replace(rules));
            }
            Command::Pause(paused) => {
                if self.per_rule.paused != paused {
                    tracing::info!(
                        paused,
                        "{}",
                        if paused {
                            "all rules paused"
                        } else {
                            "rules resumed"
                        }
                    );
                }
                self.per_rule.paused = paused;
            }
            Command::Trigger { rule, data, reply } => {
                let answer = self.trigger(&rule, data);
                let _ = reply.send(answer);
            }
            Command::Switch { rule, on } => {
                tracing::info!(rule = %rule, on, "rule switched {}", if on { "on" } else { "off" });
                if on {
                    self.per_rule.switched_off.remove(&rule);
                } else {
                    self.per_rule.switched_off.insert(rule);
                }
                let on = rules_on(&self.rules, &self.per_rule.switched_off);
                lock(&self.history.memory).rules_on(on);
            }
        }
    }

    /// Hands a manual rule the event of its trigger.
    fn trigger(&mut self, rule: &str, data: serde_json::Value) -> Result<(), String> {
        let Some(found) = self.rules.find(rule) else {
            return Err(format!("no rule `{rule}` is loaded"));
        };
        if !found.is_manual() {
            return Err(format!(
                "`{rule}` does not run when asked: give it `on: manual` (alone or among its triggers)"
            ));
        }
        let uri = format!("{}{rule}", crate::language::rule::MANUAL_PREFIX);
        self.on_event(Event::new(&uri, EventType::Update, data));
        Ok(())
    }

    /// The engine's state and per-rule counters.
    pub(super) fn status(&self) -> EngineStatus {
        let rules = self
            .rules
            .rules
            .iter()
            .zip(&self.per_rule.states)
            .enumerate()
            .map(|(index, (rule, state))| RuleStatus {
                id: rule.id.clone(),
                enabled: rule.enabled,
                fired: state.fired,
                suppressed: state.suppressed,
                active_runs: state.active.len(),
                queued: state.queue.len(),
                debouncing: self
                    .debounce
                    .debounced
                    .keys()
                    .filter(|(r, _)| *r as usize == index)
                    .count(),
                tripped: state.breaker.tripped(),
                switched_off: self.per_rule.switched_off.contains(&rule.id),
                last_fired_ms_ago: state.last_fired.map(|at| at.elapsed().as_millis() as u64),
                manual: rule.is_manual(),
            })
            .collect();
        EngineStatus {
            events: self.report.events,
            phase: self.per_rule.phase.as_deref().map(str::to_string),
            active_runs: self.runs.active_total,
            paused: self.per_rule.paused,
            rules,
            state: lock(&self.history.memory).remembered(Instant::now()),
        }
    }

    pub(super) fn active_runs(&self) -> usize {
        self.runs.active_total
    }
}
