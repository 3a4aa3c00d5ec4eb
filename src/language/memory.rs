//! What rules know beyond the event in hand: the latest payload of each URI a rule reads with
//! `let: NAME: {uri: ...}`, and the values `set` steps remember, each with its scope and expiry.
//!
//! The engine owns one [`Memory`], shares it with its runs, and tells it when the gameflow phase
//! or the connection changes; conditions and templates read it through
//! [`Scope`](crate::language::scope::Scope). It is here, beside the scope, because what a rule
//! can see is the language's business; when things are forgotten is decided by the calls the
//! engine makes. Uses only `spec` (for the scopes).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::language::spec::StateScope;

/// The most names `set` steps may hold at once (SECURITY.md): a rule that sets a name per event
/// cannot grow the service without bound. Setting one more forgets the oldest.
pub(crate) const MAX_STATE_VALUES: usize = 1_000;

/// The most bytes one remembered value may take as JSON (SECURITY.md).
pub(crate) const MAX_STATE_VALUE_BYTES: usize = 64 * 1024;

/// What rules remember and what they last saw of the URIs they read.
#[derive(Debug)]
pub struct Memory {
    /// The latest payload per URI that a rule reads.
    latest: HashMap<String, Value>,
    /// The remembered values, one JSON object: what `$.state` and `{{state}}` read.
    values: Value,
    /// How long each remembered value lasts.
    kept: HashMap<String, Kept>,
    /// The order names were set in, oldest first (for [`MAX_STATE_VALUES`]).
    order: Vec<String>,
    /// The current gameflow phase, as the engine last said.
    phase: Option<String>,
    /// What `$.rules` reads: `{on: [ids of the rules that are on]}`.
    rules: Value,
    /// Where `take: random` and `take: shuffled` draw from (fastrand's wyrand: the same seed
    /// draws the same on every platform).
    rng: std::cell::RefCell<fastrand::Rng>,
}

#[derive(Debug, Clone)]
struct Kept {
    scope: StateScope,
    expires: Option<Instant>,
    /// For `game`: whether champion select (or a later phase) has been seen since it was set.
    game_seen: bool,
}

/// One remembered value as `status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Remembered {
    /// The name.
    pub name: String,
    /// The value.
    pub value: Value,
    /// Its scope.
    pub scope: StateScope,
    /// How long until it expires, in milliseconds, if it has an expiry.
    pub expires_in_ms: Option<u64>,
}

impl Default for Memory {
    fn default() -> Memory {
        Memory::seeded(None)
    }
}

/// Phases from champion select on: a `game` value set before them lasts through them.
fn is_game_phase(phase: &str) -> bool {
    !matches!(phase, "None" | "Lobby" | "Matchmaking" | "ReadyCheck")
}

impl Memory {
    /// An empty memory whose random choices follow `seed` (`None`: a seed drawn now).
    pub fn seeded(seed: Option<u64>) -> Memory {
        Memory {
            latest: HashMap::new(),
            values: Value::Object(Map::new()),
            kept: HashMap::new(),
            order: Vec::new(),
            phase: None,
            rules: serde_json::json!({"on": []}),
            rng: std::cell::RefCell::new(
                seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed),
            ),
        }
    }

    /// Says which rules are on (enabled and not switched off), in load order: `$.rules.on`.
    pub(crate) fn rules_on(&mut self, ids: Vec<String>) {
        self.rules = serde_json::json!({ "on": ids });
    }

    /// What `$.rules` reads.
    pub(crate) fn rules(&self) -> &Value {
        &self.rules
    }

    /// Puts `items` in a random order.
    pub(crate) fn shuffle<T>(&self, items: &mut [T]) {
        self.rng.borrow_mut().shuffle(items);
    }

    /// The latest payload seen on `uri`, if a rule reads it and it has been seen.
    pub(crate) fn latest(&self, uri: &str) -> Option<&Value> {
        self.latest.get(uri)
    }

    /// Keeps `data` as the latest payload of `uri` (a `Delete` event forgets it).
    pub(crate) fn saw(&mut self, uri: &str, data: Option<&Value>) {
        match data {
            Some(data) => {
                if let Some(kept) = self.latest.get_mut(uri) {
                    kept.clone_from(data);
                } else {
                    self.latest.insert(uri.to_string(), data.clone());
                }
            }
            None => {
                self.latest.remove(uri);
            }
        }
    }

    /// The remembered values, one object: what `$.state` reads. Call
    /// [`Self::forget_expired`] first.
    pub(crate) fn state(&self) -> &Value {
        &self.values
    }

    /// Remembers `value` as `name`; `null` forgets it. Returns what was forgotten to make room.
    pub(crate) fn set(
        &mut self,
        name: &str,
        value: Value,
        scope: StateScope,
        expires: Option<Instant>,
    ) -> Option<String> {
        self.order.retain(|n| n != name);
        let Value::Object(values) = &mut self.values else {
            return None;
        };
        if value.is_null() {
            values.remove(name);
            self.kept.remove(name);
            return None;
        }
        values.insert(name.to_string(), value);
        let game_seen = self.phase.as_deref().is_some_and(is_game_phase);
        self.kept.insert(
            name.to_string(),
            Kept {
                scope,
                expires,
                game_seen,
            },
        );
        self.order.push(name.to_string());
        if self.order.len() > MAX_STATE_VALUES {
            let oldest = self.order.remove(0);
            values.remove(&oldest);
            self.kept.remove(&oldest);
            return Some(oldest);
        }
        None
    }

    /// Follows the gameflow phase: leaving champion select forgets `select` values; coming back
    /// before champion select after a game forgets `game` values.
    pub(crate) fn phase_changed(&mut self, phase: Option<&str>) {
        if self.phase.as_deref() == phase {
            return;
        }
        self.phase = phase.map(str::to_string);
        let in_game = phase.is_some_and(is_game_phase);
        let in_select = phase == Some("ChampSelect");
        self.forget_where(|kept| match kept.scope {
            StateScope::Select => !in_select,
            StateScope::Game => kept.game_seen && !in_game,
            StateScope::Session | StateScope::Service | StateScope::Forever => false,
        });
        if in_game {
            for kept in self.kept.values_mut() {
                kept.game_seen = true;
            }
        }
    }

    /// A new connection to the client: `session` values and the latest payloads are forgotten
    /// (the resync after connecting reads the payloads again).
    pub(crate) fn new_session(&mut self) {
        self.latest.clear();
        self.forget_where(|kept| kept.scope == StateScope::Session);
    }

    /// Whether `name` holds a `forever` value (forgetting it changes the state file).
    pub(crate) fn is_lasting(&self, name: &str) -> bool {
        self.kept
            .get(name)
            .is_some_and(|k| k.scope == StateScope::Forever)
    }

    /// The `forever` values, with their expiry as a wall-clock time (for the state file).
    pub(crate) fn lasting(&self) -> Vec<(String, Value, Option<std::time::SystemTime>)> {
        let (now, wall) = (Instant::now(), std::time::SystemTime::now());
        self.order
            .iter()
            .filter_map(|name| {
                let kept = self
                    .kept
                    .get(name)
                    .filter(|k| k.scope == StateScope::Forever)?;
                let expires = kept
                    .expires
                    .map(|at| wall + at.saturating_duration_since(now));
                Some((name.clone(), self.values.get(name)?.clone(), expires))
            })
            .collect()
    }

    /// Remembers `forever` values read back from the state file (expired ones are left out).
    pub(crate) fn restore(&mut self, values: Vec<(String, Value, Option<std::time::SystemTime>)>) {
        let (now, wall) = (Instant::now(), std::time::SystemTime::now());
        for (name, value, expires) in values {
            let expires = match expires {
                Some(at) => match at.duration_since(wall) {
                    Ok(left) => now.checked_add(left),
                    Err(_) => continue,
                },
                None => None,
            };
            self.set(&name, value, StateScope::Forever, expires);
        }
    }

    /// Every remembered value, for `status`.
    pub(crate) fn remembered(&mut self, now: Instant) -> Vec<Remembered> {
        self.forget_expired_at(now);
        self.order
            .iter()
            .filter_map(|name| {
                let kept = self.kept.get(name)?;
                Some(Remembered {
                    name: name.clone(),
                    value: self.values.get(name)?.clone(),
                    scope: kept.scope,
                    expires_in_ms: kept
                        .expires
                        .map(|at| at.saturating_duration_since(now).as_millis() as u64),
                })
            })
            .collect()
    }

    /// Forgets the values whose expiry has passed (reading the clock only if one has one).
    pub(crate) fn forget_expired(&mut self) {
        if self.kept.values().any(|k| k.expires.is_some()) {
            self.forget_expired_at(Instant::now());
        }
    }

    fn forget_expired_at(&mut self, now: Instant) {
        if self
            .kept
            .values()
            .any(|k| k.expires.is_some_and(|at| at <= now))
        {
            self.forget_where(|kept| kept.expires.is_some_and(|at| at <= now));
        }
    }

    fn forget_where(&mut self, gone: impl Fn(&Kept) -> bool) {
        let names: Vec<String> = self
            .kept
            .iter()
            .filter(|(_, kept)| gone(kept))
            .map(|(name, _)| name.clone())
            .collect();
        if names.is_empty() {
            return;
        }
        if let Value::Object(values) = &mut self.values {
            for name in &names {
                values.remove(name);
                self.kept.remove(name);
            }
        }
        self.order.retain(|n| !names.contains(n));
    }
}

/// When a value set now with `expires` is forgotten.
pub(crate) fn expiry(now: Instant, expires: Option<Duration>) -> Option<Instant> {
    expires.and_then(|after| now.checked_add(after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(memory: &mut Memory) -> Vec<String> {
        memory
            .remembered(Instant::now())
            .into_iter()
            .map(|r| r.name)
            .collect()
    }

    /// A `game` value set in the lobby lasts through the game after it and is forgotten when
    /// the client is back in the lobby; a `select` value ends with champion select.
    #[test]
    fn scopes_follow_the_phase() {
        let mut memory = Memory::default();
        memory.phase_changed(Some("Lobby"));
        memory.set("armed", json!(true), StateScope::Game, None);
        memory.phase_changed(Some("Matchmaking"));
        memory.phase_changed(Some("ChampSelect"));
        memory.set("hovered", json!(103), StateScope::Select, None);
        memory.set("kept", json!(1), StateScope::Session, None);
        assert_eq!(names(&mut memory), ["armed", "hovered", "kept"]);
        memory.phase_changed(Some("InProgress"));
        assert_eq!(names(&mut memory), ["armed", "kept"]);
        memory.phase_changed(Some("Lobby"));
        assert_eq!(names(&mut memory), ["kept"]);
        memory.new_session();
        assert!(names(&mut memory).is_empty());
    }

    /// Expired values are gone from what rules read; `null` forgets; the oldest name makes
    /// room past the limit.
    #[test]
    fn expiry_null_and_the_limit() {
        let mut memory = Memory::default();
        let now = Instant::now();
        memory.set(
            "soon",
            json!(1),
            StateScope::Service,
            Some(now + Duration::from_secs(1)),
        );
        memory.set("gone", json!(2), StateScope::Service, None);
        memory.set("gone", Value::Null, StateScope::Service, None);
        memory.forget_expired_at(now);
        assert_eq!(memory.state(), &json!({"soon": 1}));
        memory.forget_expired_at(now + Duration::from_secs(2));
        assert_eq!(memory.state(), &json!({}));
        for n in 0..=MAX_STATE_VALUES {
            memory.set(&format!("n{n}"), json!(n), StateScope::Service, None);
        }
        assert_eq!(
            memory.state().as_object().map(Map::len),
            Some(MAX_STATE_VALUES)
        );
        assert!(memory.state().get("n0").is_none());
    }
}
