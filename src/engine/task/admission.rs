//! Admission: whether a rule's firing may run now (mode, cooldown, rate limit, guards).

use super::*;

impl Engine {
    /// The guards that apply before any rate limit: breaker, phase, echo, causal depth; then the
    /// debounce, or admission right away.
    pub(super) fn admit(
        &mut self,
        index: u32,
        rule: &Arc<Rule>,
        origin: &Origin,
        firing: Firing,
        cause: Option<&Chain>,
    ) -> Verdict {
        let suppressed = |why| Verdict::Suppressed { why };
        if self.per_rule.paused {
            return suppressed(Suppressed::Paused);
        }
        if !self.per_rule.switched_off.is_empty() && self.per_rule.switched_off.contains(&rule.id) {
            return suppressed(Suppressed::SwitchedOff);
        }
        if self.per_rule.states[index as usize].breaker.tripped() {
            return suppressed(Suppressed::Breaker { tripped_now: false });
        }
        if !rule.applies_in(self.per_rule.phase.as_deref()) {
            return suppressed(Suppressed::Phase {
                phase: self.per_rule.phase.as_deref().map(str::to_string),
            });
        }
        let chain: Chain = match cause {
            None => self.per_rule.solo_chains[index as usize].clone(),
            Some(cause) => {
                if cause.last() == Some(&index) && !rule.allow_echo {
                    return suppressed(Suppressed::Echo);
                }
                if cause.len() >= self.config.max_depth {
                    let mut names: Vec<String> = cause
                        .iter()
                        .map(|r| self.per_rule.rule_ids[*r as usize].to_string())
                        .collect();
                    names.push(rule.id.clone());
                    return suppressed(Suppressed::Depth { chain: names });
                }
                cause.iter().copied().chain([index]).collect()
            }
        };
        match &rule.debounce {
            Some(debounce) => self.debounce(index, rule, debounce, origin, firing, chain),
            None => self.admit_now(index, rule, &origin.event, firing, chain, origin.now),
        }
    }

    /// Applies the cooldown, the throttle, the mode and the breaker as of `now`, then starts or
    /// queues the run.
    pub(super) fn admit_now(
        &mut self,
        index: u32,
        rule: &Rule,
        event: &Arc<Event>,
        firing: Firing,
        chain: Chain,
        now: Instant,
    ) -> Verdict {
        let throttle_key = match &rule.throttle {
            Some(throttle) => match self.rate_key(rule, throttle, event, &firing, "throttle.key") {
                Ok(key) => Some((key, throttle.duration)),
                Err(miss) => return Verdict::Stopped { miss },
            },
            None => None,
        };
        let breaker = match rule.breaker {
            BreakerSetting::Default => self.config.breaker,
            BreakerSetting::Off => None,
            BreakerSetting::Limits(limits) => Some(limits),
        };
        let state = &mut self.per_rule.states[index as usize];
        if let (Some(cooldown), Some(last)) = (rule.cooldown, state.last_fired) {
            let until = last + cooldown;
            if now < until {
                return Verdict::Suppressed {
                    why: Suppressed::Cooldown {
                        remaining_ms: (until - now).as_millis() as u64,
                    },
                };
            }
        }
        if let Some((key, window)) = &throttle_key
            && let Some(last) = state.throttled.get(key.as_deref().unwrap_or_default())
            && now < *last + *window
        {
            return Verdict::Suppressed {
                why: Suppressed::Throttled {
                    key: key.clone(),
                    remaining_ms: (*last + *window - now).as_millis() as u64,
                },
            };
        }
        let busy = !state.active.is_empty();
        let held_back = match rule.mode {
            Mode::Single if busy => Some(Suppressed::Busy),
            Mode::Parallel if state.active.len() >= rule.max as usize => Some(Suppressed::MaxRuns),
            Mode::Queued if busy && state.queue.len() >= rule.max as usize => {
                Some(Suppressed::QueueFull)
            }
            _ => None,
        };
        if let Some(why) = held_back {
            return Verdict::Suppressed { why };
        }
        if let Some(limits) = breaker
            && state.breaker.fire(now, limits)
        {
            state.queue.clear();
            return Verdict::Suppressed {
                why: Suppressed::Breaker { tripped_now: true },
            };
        }
        state.last_fired = Some(now);
        if let Some((key, window)) = throttle_key {
            if state.throttled.len() >= MAX_RATE_KEYS {
                state.throttled.retain(|_, last| now < *last + window);
            }
            state.throttled.insert(key.unwrap_or_default(), now);
        }
        let run = self.runs.next_run;
        self.runs.next_run += 1;
        match rule.mode {
            Mode::Queued if busy => {
                state.queue.push_back(Pending {
                    run,
                    event: event.clone(),
                    firing,
                    chain,
                });
                Verdict::Queued { run }
            }
            Mode::Restart => {
                for active in &state.active {
                    active.cancel();
                }
                self.start(index, run, event.clone(), firing, chain);
                Verdict::Fired { run }
            }
            _ => {
                self.start(index, run, event.clone(), firing, chain);
                Verdict::Fired { run }
            }
        }
    }

    /// The key a rate limit applies to for this firing (`None`: the whole rule).
    pub(super) fn rate_key(
        &self,
        rule: &Rule,
        rate: &Rate,
        event: &Event,
        firing: &Firing,
        at: &str,
    ) -> Result<Option<String>, Miss> {
        let Some(template) = &rate.key else {
            return Ok(None);
        };
        let scope = Scope {
            event,
            params: &firing.params,
            bindings: &firing.bindings,
            binding_names: &rule.binding_names,
            steps: None,
            item: None,
            vars: Some(&self.rules.vars),
            memory: None,
        };
        template
            .render_string(&scope, &self.rules.registry)
            .map(Some)
            .map_err(|error| Miss {
                at: Arc::from(at),
                path: Arc::from(""),
                expected: Arc::from("a key"),
                actual: Actual::Error(error.to_string()),
            })
    }
}
