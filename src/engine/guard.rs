//! Loop and flood protection: which of the engine's own writes an event is the echo of, the causal
//! chain of rules behind it, and the per-rule circuit breaker. The engine consults these before
//! admitting a run; runs record their writes here.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustc_hash::FxHashMap;
use tokio::time::Instant;

use crate::language::rule::Breaker;

/// How long after a write an event on the written URI counts as its echo.
pub(crate) const DEFAULT_ECHO_WINDOW: Duration = Duration::from_secs(2);
/// How many rules may trigger each other through their writes before the chain is stopped.
pub(crate) const DEFAULT_MAX_DEPTH: usize = 5;
/// The breaker every rule gets unless it says otherwise: more than 20 firings within 10 s. A
/// loop fires at the pace of request round trips (hundreds a second) and trips it within a
/// fraction of a second; the busiest legitimate rule seen, auto-accept re-sending on each of a
/// ready check's once-a-second updates, stays near 12 per check.
pub(crate) const DEFAULT_BREAKER: Breaker = Breaker {
    max: 20,
    within: Duration::from_secs(10),
};
/// Writes remembered at most (older ones are forgotten first).
const MAX_WRITES: usize = 256;

/// The chain of rules (by index, oldest first) whose writes led to an event or a run.
pub(crate) type Chain = Arc<[u32]>;

/// The recent writes, by path (the newest per path) and in the order they were made (to forget
/// them when they age out), so looking an event's URI up costs one hash, not a scan.
#[derive(Default)]
struct Writes {
    by_path: FxHashMap<Arc<str>, (Chain, Instant)>,
    order: VecDeque<(Instant, Arc<str>)>,
}

impl Writes {
    /// Forgets the oldest write; the path's entry goes only if no newer write replaced it.
    fn forget_oldest(&mut self) {
        if let Some((at, path)) = self.order.pop_front()
            && self
                .by_path
                .get(&path)
                .is_some_and(|(_, newest)| *newest == at)
        {
            self.by_path.remove(&path);
        }
    }
}

/// The engine's recent writes, shared by the engine (reading) and its runs (recording).
pub(crate) struct WriteLog {
    writes: Mutex<Writes>,
    window: Duration,
    /// Lets the engine skip the lock entirely while nothing was written.
    any: AtomicBool,
}

impl WriteLog {
    /// A log whose writes count for echoes within `window`.
    pub(crate) fn new(window: Duration) -> WriteLog {
        WriteLog {
            writes: Mutex::new(Writes::default()),
            window,
            any: AtomicBool::new(false),
        }
    }

    /// Records that a run whose chain is `chain` wrote to `path` at `now` (the query, if any, is
    /// ignored).
    pub(crate) fn record(&self, path: &str, chain: Chain, now: Instant) {
        let path: Arc<str> = Arc::from(path.split('?').next().unwrap_or(path));
        let Ok(mut writes) = self.writes.lock() else {
            return;
        };
        if writes.order.len() >= MAX_WRITES {
            writes.forget_oldest();
        }
        writes.order.push_back((now, path.clone()));
        writes.by_path.insert(path, (chain, now));
        self.any.store(true, Ordering::Release);
    }

    /// The chain behind the newest write to `uri` within the window before `now`, if any: the
    /// event on `uri` is taken to be that write's echo.
    pub(crate) fn cause_of(&self, uri: &str, now: Instant) -> Option<Chain> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let mut writes = self.writes.lock().ok()?;
        while writes
            .order
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > self.window)
        {
            writes.forget_oldest();
        }
        if writes.order.is_empty() {
            self.any.store(false, Ordering::Release);
        }
        writes.by_path.get(uri).map(|(chain, _)| chain.clone())
    }
}

/// A rule's circuit breaker: the times it fired within the window, and whether it tripped.
#[derive(Debug, Default)]
pub(crate) struct BreakerState {
    fired: VecDeque<Instant>,
    /// When it tripped; it stays tripped until reset.
    pub tripped_at: Option<Instant>,
}

impl BreakerState {
    /// Counts a firing at `now`; `true` when this one goes over the limit (the breaker trips and
    /// the firing must not run).
    pub(crate) fn fire(&mut self, now: Instant, limits: Breaker) -> bool {
        while self
            .fired
            .front()
            .is_some_and(|at| now.duration_since(*at) >= limits.within)
        {
            self.fired.pop_front();
        }
        if self.fired.len() >= limits.max as usize {
            self.tripped_at = Some(now);
            self.fired.clear();
            return true;
        }
        self.fired.push_back(now);
        false
    }

    /// Whether it is tripped.
    pub(crate) fn tripped(&self) -> bool {
        self.tripped_at.is_some()
    }

    /// Closes the breaker again.
    pub(crate) fn reset(&mut self) {
        self.tripped_at = None;
        self.fired.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 21st firing within ten seconds trips the default breaker; firings spread out never
    /// do.
    #[tokio::test(start_paused = true)]
    async fn breaker_trips_past_the_limit_only() {
        let mut breaker = BreakerState::default();
        for _ in 0..20 {
            assert!(!breaker.fire(Instant::now(), DEFAULT_BREAKER));
            tokio::time::advance(Duration::from_millis(450)).await;
        }
        assert!(breaker.fire(Instant::now(), DEFAULT_BREAKER));
        assert!(breaker.tripped());
        breaker.reset();
        for _ in 0..60 {
            assert!(!breaker.fire(Instant::now(), DEFAULT_BREAKER));
            tokio::time::advance(Duration::from_millis(501)).await;
        }
    }

    /// An event is an echo of the newest write to its URI, within the window only; queries do
    /// not matter.
    #[tokio::test(start_paused = true)]
    async fn echo_lookup() {
        let log = WriteLog::new(Duration::from_secs(2));
        assert!(log.cause_of("/a", Instant::now()).is_none());
        log.record("/a?x=1", Arc::from([3u32]), Instant::now());
        log.record("/a", Arc::from([1u32, 2]), Instant::now());
        assert_eq!(
            log.cause_of("/a", Instant::now()).as_deref(),
            Some(&[1u32, 2][..])
        );
        assert!(log.cause_of("/b", Instant::now()).is_none());
        tokio::time::advance(Duration::from_millis(2001)).await;
        assert!(log.cause_of("/a", Instant::now()).is_none());
    }
}
