//! Debounced firings: held back per rule and key until their deadline, then admitted.

use super::*;

impl Engine {
    /// Holds a firing until its key has been quiet for the window; a newer firing replaces it.
    pub(super) fn debounce(
        &mut self,
        index: u32,
        rule: &Rule,
        debounce: &Rate,
        origin: &Origin,
        firing: Firing,
        chain: Chain,
    ) -> Verdict {
        let key = match self.rate_key(rule, debounce, &origin.event, &firing, "debounce.key") {
            Ok(key) => key,
            Err(miss) => return Verdict::Stopped { miss },
        };
        let slot = (index, key.clone().unwrap_or_default());
        if let Some(old) = self.debounce.debounced.remove(&slot) {
            self.debounce.deadlines.remove(&(old.deadline, old.ticket));
        } else if self
            .debounce
            .debounced
            .keys()
            .filter(|(r, _)| *r == index)
            .count()
            >= MAX_RATE_KEYS
        {
            return Verdict::Suppressed {
                why: Suppressed::TooManyKeys,
            };
        }
        let deadline = crate::engine::run::deadline_after(Instant::now(), debounce.duration);
        let ticket = self.debounce.next_ticket;
        self.debounce.next_ticket += 1;
        self.debounce
            .deadlines
            .insert((deadline, ticket), slot.clone());
        self.debounce.debounced.insert(
            slot,
            Debounced {
                deadline,
                ticket,
                origin: origin.clone(),
                firing,
                chain,
            },
        );
        Verdict::Debounced {
            key,
            wait_ms: debounce.duration.as_millis() as u64,
        }
    }

    /// Admits every debounced firing whose window has passed.
    pub(super) fn fire_debounced(&mut self) {
        let now = Instant::now();
        while let Some(entry) = self.debounce.deadlines.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let slot = entry.remove();
            let Some(due) = self.debounce.debounced.remove(&slot) else {
                continue;
            };
            let rule = self.rules.rule(slot.0).clone();
            let verdict =
                self.admit_now(slot.0, &rule, &due.origin.event, due.firing, due.chain, now);
            let at = now.saturating_duration_since(self.history.epoch);
            self.decided(&due.origin, slot.0, verdict, at);
        }
    }
}
