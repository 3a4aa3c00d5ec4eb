//! The socket reader: frames and parses each message, hands events to the engine through a
//! bounded queue, and when the engine falls too far behind holds the newest event per URI
//! instead of blocking (logging such episodes at most once a minute). It never waits on an action.

use super::*;

/// The socket reader's side of the event queue: what it hands on, what it holds while the engine
/// is too far behind, and when it handed on what is still queued.
pub(super) struct Reader<'a> {
    events: &'a mpsc::Sender<Event>,
    stats: &'a StreamStats,
    /// The newest waiting event of each URI, in the order they arrived.
    backlog: IndexMap<String, Event>,
    /// When each of the last events (as many as the queue holds) was handed on: the oldest one
    /// still queued tells how far behind the client the engine is.
    handed: VecDeque<Instant>,
    /// Lag episodes, for logging them without flooding the log.
    episodes: Episodes,
    max_lag: Duration,
}

impl<'a> Reader<'a> {
    pub(super) fn new(
        events: &'a mpsc::Sender<Event>,
        stats: &'a StreamStats,
        max_lag: Duration,
    ) -> Reader<'a> {
        Reader {
            events,
            stats,
            max_lag,
            backlog: IndexMap::new(),
            handed: VecDeque::with_capacity(events.max_capacity()),
            episodes: Episodes::default(),
        }
    }

    /// Reads frames until the socket ends or shutdown; hands each event on.
    pub(super) async fn read_frames(
        &mut self,
        socket: &mut Socket,
        interest: Option<&ArcSwap<crate::language::rule::RuleSet>>,
        shutdown: &CancellationToken,
    ) -> Result<SessionEnd, LiveError> {
        let mut malformed: HashMap<&'static str, u64> = HashMap::new();
        let mut watched = LastWatched::default();
        // Made once, and polled last (see the engine's loop): tokio's cooperative budget makes a
        // socket read return `Pending` after a bounded run of ready reads, so a flood cannot
        // hide a shutdown.
        let stop = shutdown.cancelled();
        tokio::pin!(stop);
        loop {
            let message = tokio::select! {
                biased;
                permit = self.events.reserve(), if !self.backlog.is_empty() => {
                    let Ok(permit) = permit else {
                        return Ok(SessionEnd::Shutdown);
                    };
                    if let Some((_, event)) = self.backlog.shift_remove_index(0) {
                        permit.send(event);
                        self.note_handed();
                    }
                    if self.backlog.is_empty() {
                        self.note_caught_up();
                    }
                    continue;
                }
                message = socket.next() => message,
                _ = &mut stop => return Ok(SessionEnd::Shutdown),
            };
            let text = match message {
                None => return Ok(SessionEnd::Closed("the client closed the socket".into())),
                Some(Err(error)) => {
                    return Ok(SessionEnd::Closed(format!("socket error: {error}")));
                }
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    return Ok(SessionEnd::Closed(format!(
                        "the client closed the socket ({frame:?})"
                    )));
                }
                Some(Ok(_)) => continue,
            };
            StreamStats::add(&self.stats.frames);
            let parsed = match interest.map(ArcSwap::load) {
                Some(rules) => parse_frame_if(
                    text.as_str(),
                    |uri| watched.watches_uri(&rules, uri),
                    |uri, event_type| rules.watches(uri, event_type),
                ),
                None => parse_frame(text.as_str()),
            };
            match parsed {
                Ok(Some(event)) => {
                    StreamStats::add(&self.stats.events);
                    if !self.hand_on(event, shutdown).await {
                        return Ok(SessionEnd::Shutdown);
                    }
                }
                Ok(None) => StreamStats::add(&self.stats.ignored),
                Err(error) => {
                    StreamStats::add(&self.stats.malformed);
                    let count = malformed.entry(error.kind()).or_insert(0);
                    *count += 1;
                    let start: String = text.as_str().chars().take(120).collect();
                    if *count == 1 {
                        tracing::warn!(kind = error.kind(), %error, frame = %start, "skipped a malformed frame");
                    } else {
                        tracing::debug!(kind = error.kind(), count = *count, frame = %start, "skipped a malformed frame");
                    }
                }
            }
        }
    }

    /// Hands an event to the engine. While the queue is full the reader waits for room (nothing
    /// is lost), but only until the oldest queued event is [`MAX_LAG`] old; from then until the
    /// backlog is drained, events are held in it (see [`StreamStats`]). `false` when the engine
    /// has gone.
    async fn hand_on(&mut self, event: Event, shutdown: &CancellationToken) -> bool {
        if !self.backlog.is_empty() {
            self.hold(event);
            return true;
        }
        let event = match self.events.try_send(event) {
            Ok(()) => {
                self.note_handed();
                return true;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
            Err(mpsc::error::TrySendError::Full(event)) => event,
        };
        let too_late = self.oldest_queued_at() + self.max_lag;
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return false,
            permit = self.events.reserve() => {
                let Ok(permit) = permit else { return false };
                permit.send(event);
                self.note_handed();
                return true;
            }
            _ = tokio::time::sleep_until(too_late) => {}
        }
        self.note_fell_behind();
        self.hold(event);
        true
    }

    /// Keeps `event` as its URI's newest waiting event; what it supersedes (or the oldest held
    /// event, past [`MAX_BACKLOG`] URIs) is dropped and counted.
    fn hold(&mut self, event: Event) {
        if self.backlog.shift_remove(&event.uri).is_some() {
            StreamStats::add(&self.stats.dropped);
        }
        self.backlog.insert(event.uri.clone(), event);
        if self.backlog.len() > MAX_BACKLOG {
            self.backlog.shift_remove_index(0);
            StreamStats::add(&self.stats.dropped);
        }
        self.stats
            .backlog_peak
            .fetch_max(self.backlog.len() as u64, Ordering::Relaxed);
    }

    fn note_fell_behind(&mut self) {
        let dropped = self.stats.dropped.load(Ordering::Relaxed);
        let was_behind = self.episodes.behind;
        let logged = self.episodes.fell_behind(dropped, Instant::now());
        if !was_behind {
            StreamStats::add(&self.stats.lag_episodes);
        }
        if let Some(earlier) = logged {
            tracing::warn!(
                max_lag_ms = self.max_lag.as_millis() as u64,
                earlier_episodes = earlier.episodes,
                earlier_superseded = earlier.superseded,
                "the rules are falling behind the client: keeping only the newest event of each URI until they catch up"
            );
        }
    }

    fn note_caught_up(&mut self) {
        let dropped = self.stats.dropped.load(Ordering::Relaxed);
        if let Some(superseded) = self.episodes.caught_up(dropped) {
            tracing::info!(superseded, "the rules caught up with the client");
        }
    }

    fn note_handed(&mut self) {
        StreamStats::add(&self.stats.passed);
        if self.handed.len() == self.events.max_capacity() {
            self.handed.pop_front();
        }
        self.handed.push_back(Instant::now());
    }

    /// When the oldest event still in the queue was handed on (events queued before this reader
    /// started, the resync's, count as handed now).
    fn oldest_queued_at(&self) -> Instant {
        let queued = self.events.max_capacity() - self.events.capacity();
        match self.handed.len().checked_sub(queued) {
            Some(index) => self.handed.get(index).copied().unwrap_or_else(Instant::now),
            None => Instant::now(),
        }
    }

    /// Hands on whatever is still held (the socket ended; the events are real), unless shutdown
    /// comes first.
    pub(super) async fn flush(&mut self, shutdown: &CancellationToken) {
        for (_, event) in self.backlog.drain(..) {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                sent = self.events.send(event) => if sent.is_err() { return },
            }
            StreamStats::add(&self.stats.passed);
        }
    }
}

/// Decides what to log when the engine falls behind and when it catches up: at most one pair of
/// lines a minute, the "caught up" line only for an episode whose start was logged (under a
/// flood on a slow machine episodes come many times a second), and the episodes in between
/// summed up in the next "falling behind" line.
#[derive(Default)]
struct Episodes {
    behind: bool,
    /// Whether the current episode's start was logged.
    logged: bool,
    dropped_before: u64,
    last_logged: Option<Instant>,
    /// Episodes ended since the last logged one, and what they dropped.
    unlogged: Unlogged,
}

/// Episodes of falling behind that were not logged, and the events they dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Unlogged {
    episodes: u64,
    superseded: u64,
}

/// How often at most the reader says it fell behind.
const EPISODE_LOG_INTERVAL: Duration = Duration::from_secs(60);

impl Episodes {
    /// An episode starts (`dropped`: the drop count so far); `Some` with the unlogged episodes
    /// before it when this one is to be logged.
    fn fell_behind(&mut self, dropped: u64, now: Instant) -> Option<Unlogged> {
        if self.behind {
            return None;
        }
        self.behind = true;
        self.dropped_before = dropped;
        self.logged = self
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= EPISODE_LOG_INTERVAL);
        if !self.logged {
            return None;
        }
        self.last_logged = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }

    /// The episode ends; `Some` with what it dropped when its start was logged.
    fn caught_up(&mut self, dropped: u64) -> Option<u64> {
        if !self.behind {
            return None;
        }
        self.behind = false;
        let superseded = dropped.saturating_sub(self.dropped_before);
        if self.logged {
            return Some(superseded);
        }
        self.unlogged.episodes += 1;
        self.unlogged.superseded += superseded;
        None
    }
}

/// The reader's answer for the last event URI it looked up, and for which rule set: the client
/// sends runs of events on one URI, and the answer holds until the URI or the rules change.
#[derive(Default)]
struct LastWatched {
    uri: String,
    /// Held, not just compared by address: a new rule set could otherwise reuse a freed one's.
    rules: Option<Arc<crate::language::rule::RuleSet>>,
    watched: bool,
}

impl LastWatched {
    fn watches_uri(&mut self, rules: &Arc<crate::language::rule::RuleSet>, uri: &str) -> bool {
        let same_rules = self.rules.as_ref().is_some_and(|r| Arc::ptr_eq(r, rules));
        if !same_rules || self.uri != uri {
            self.watched = rules.watches_uri(uri);
            self.rules = Some(rules.clone());
            self.uri.clear();
            self.uri.push_str(uri);
        }
        self.watched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_set(dir: &tempfile::TempDir, uri: &str) -> Arc<crate::language::rule::RuleSet> {
        let path = dir.path().join(format!("rules{}.yaml", uri.len()));
        std::fs::write(
            &path,
            format!("rules:\n  - id: r\n    on: {uri}\n    do: [{{log: hi}}]\n"),
        )
        .unwrap();
        let loaded = crate::language::loader::load(&[path]);
        assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
        Arc::new(loaded.rule_set())
    }

    /// The reader's kept answer follows the URI and the rule set, never outliving a reload.
    #[test]
    fn last_watched_follows_the_uri_and_the_rules() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (rule_set(&dir, "/x"), rule_set(&dir, "/yy"));
        let mut last = LastWatched::default();
        assert!(last.watches_uri(&first, "/x"));
        assert!(last.watches_uri(&first, "/x"));
        assert!(!last.watches_uri(&first, "/yy"));
        assert!(!last.watches_uri(&second, "/x"));
        assert!(last.watches_uri(&second, "/yy"));
    }

    /// Falling behind and catching up are logged as a pair at most once a minute; the episodes
    /// in between are summed up in the next logged one, never logged on their own.
    #[test]
    fn lag_episodes_are_logged_in_pairs_at_most_once_a_minute() {
        let start = Instant::now();
        let mut episodes = Episodes::default();
        assert_eq!(episodes.fell_behind(0, start), Some(Unlogged::default()));
        assert_eq!(
            episodes.fell_behind(5, start),
            None,
            "still the same episode"
        );
        assert_eq!(episodes.caught_up(7), Some(7));
        assert_eq!(episodes.caught_up(7), None, "not behind");
        for n in 1..=3u64 {
            let at = start + Duration::from_secs(n);
            assert_eq!(episodes.fell_behind(10 * n, at), None);
            assert_eq!(
                episodes.caught_up(10 * n + 2),
                None,
                "episode {n} was not logged"
            );
        }
        let later = start + EPISODE_LOG_INTERVAL;
        assert_eq!(
            episodes.fell_behind(40, later),
            Some(Unlogged {
                episodes: 3,
                superseded: 6
            })
        );
        assert_eq!(episodes.caught_up(41), Some(1));
    }
}
