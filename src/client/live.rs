//! The live connection: finds the client, waits until it answers, opens the WAMP websocket,
//! subscribes to the `OnJsonApiEvent` firehose, reads the current state of every URI the rules
//! trigger on (resync, fed to the engine as snapshot events), then hands every event frame to the
//! engine. When the socket closes or the client goes away it rediscovers the credentials (port and
//! token change on every client start) and reconnects with capped, jittered backoff. The reader
//! only frames and parses; it never waits on an action. Repeated problems are logged once.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::{SinkExt, StreamExt};
use indexmap::IndexMap;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use crate::client::discovery::{Credentials, Discovery};
use crate::client::http::{LcuHttp, LivePort, error_chain};
use crate::client::tls::Trust;
use crate::client::wamp::{parse_frame, parse_frame_if};
use crate::engine::port::PortError;
use crate::event::{Event, EventType};

mod reader;
use reader::Reader;

/// The firehose topic: every JSON API change.
pub(crate) const FIREHOSE: &str = "OnJsonApiEvent";
/// The URI read first after connecting (also the readiness probe).
pub(crate) use crate::language::rule::GAMEFLOW_PHASE;
/// Largest accepted websocket message (champion-select payloads are large).
pub(crate) const MAX_FRAME: usize = 32 << 20;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Where to find the client.
    pub discovery: Discovery,
    /// What certificates to trust.
    pub trust: Trust,
    /// How often to look for a client that is not there.
    pub poll_interval: Duration,
    /// First wait before reconnecting after a failure.
    pub backoff_min: Duration,
    /// Longest wait between attempts.
    pub backoff_max: Duration,
    /// How long to wait for a client that accepts connections but is not ready yet.
    pub ready_timeout: Duration,
    /// URIs to read after every (re)connect; the gameflow phase is always read first. When
    /// empty, the literal trigger URIs of the rules in `interest` at the time of connecting.
    pub resync: Vec<String>,
    /// The rules in force (swapped by reloads), when only the events they can match need to be
    /// parsed and passed on (frames no trigger matches are dropped after reading their URI).
    /// `None` passes everything on.
    pub interest: Option<Arc<ArcSwap<crate::language::rule::RuleSet>>>,
    /// What the reader counted (shared with whoever reports it).
    pub stats: Arc<StreamStats>,
    /// How far behind the client the rules may fall before the reader stops waiting for them
    /// (see [`StreamStats`]).
    pub max_lag: Duration,
}

/// How far behind the client the rules may fall before the socket reader stops waiting for them
/// (see [`StreamStats`]).
pub(crate) const MAX_LAG: Duration = Duration::from_secs(1);
/// URIs held at most while the rules are behind (see [`StreamStats`]).
pub(crate) const MAX_BACKLOG: usize = 1024;

/// What the socket reader counted.
///
/// The overflow policy. The engine's queue is bounded. While it is full the reader waits for
/// room, and nothing is lost: a burst only slows the stream down. But it waits only while the
/// oldest queued event is younger than [`MAX_LAG`]: once the rules are further behind than that
/// (runs stuck on a slow client, say), the reader keeps reading and holds only the newest event
/// of each URI until the engine has caught up. An LCU event carries the whole state of its
/// resource, so the newest one supersedes the ones before it; each superseded event, and the
/// oldest held one when more than [`MAX_BACKLOG`] URIs are waiting, is dropped and counted in
/// `dropped`. So memory stays bounded, the rules never act on state older than they must, and
/// every event read is either passed on or counted: `events == passed + dropped` once the
/// backlog is drained.
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Text frames read.
    pub frames: AtomicU64,
    /// Events a rule can react to.
    pub events: AtomicU64,
    /// Events no rule reacts to (read no further than their URI).
    pub ignored: AtomicU64,
    /// Frames that could not be read.
    pub malformed: AtomicU64,
    /// Events handed to the engine.
    pub passed: AtomicU64,
    /// Events dropped because a newer event of the same URI superseded them (or the backlog
    /// was full) while the rules were behind.
    pub dropped: AtomicU64,
    /// The most events held at once.
    pub backlog_peak: AtomicU64,
    /// How many times the rules fell more than [`MAX_LAG`] behind.
    pub lag_episodes: AtomicU64,
}

/// A copy of [`StreamStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct StreamCounts {
    /// Text frames read.
    pub frames: u64,
    /// Events a rule can react to.
    pub events: u64,
    /// Events no rule reacts to.
    pub ignored: u64,
    /// Frames that could not be read.
    pub malformed: u64,
    /// Events handed to the engine.
    pub passed: u64,
    /// Events dropped (superseded while the rules were behind).
    pub dropped: u64,
    /// The most events held at once.
    pub backlog_peak: u64,
    /// How many times the rules fell more than [`MAX_LAG`] behind.
    pub lag_episodes: u64,
}

impl StreamStats {
    /// The counters now.
    pub(crate) fn counts(&self) -> StreamCounts {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StreamCounts {
            frames: read(&self.frames),
            events: read(&self.events),
            ignored: read(&self.ignored),
            malformed: read(&self.malformed),
            passed: read(&self.passed),
            dropped: read(&self.dropped),
            backlog_peak: read(&self.backlog_peak),
            lag_episodes: read(&self.lag_episodes),
        }
    }

    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl LiveOptions {
    /// Defaults for a real client.
    pub fn new(discovery: Discovery, trust: Trust, resync: Vec<String>) -> LiveOptions {
        LiveOptions {
            discovery,
            trust,
            poll_interval: Duration::from_secs(2),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            ready_timeout: Duration::from_secs(60),
            resync,
            interest: None,
            stats: Arc::default(),
            max_lag: MAX_LAG,
        }
    }
}

/// What the connection is doing, for status displays and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// No client found yet.
    Waiting,
    /// Found a client; connecting.
    Connecting {
        /// Its port.
        port: u16,
    },
    /// Subscribed and resynced; events flow.
    Connected {
        /// Its port.
        port: u16,
        /// How many times a connection was made so far (1 for the first).
        connections: u64,
    },
    /// The last attempt failed; retrying.
    Retrying {
        /// Why it failed.
        reason: String,
    },
    /// Shut down.
    Stopped,
}

/// Why a connection attempt or session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LiveError {
    /// No usable credentials.
    #[error("{0}")]
    Discovery(#[from] crate::client::discovery::DiscoveryError),
    /// The client refused the token.
    #[error("the client refused the credentials (HTTP 401); the token may be stale")]
    Unauthorized,
    /// TLS failed (an untrusted certificate, typically).
    #[error("TLS failed: {0}")]
    Tls(String),
    /// The client was not ready in time.
    #[error("the client accepted connections but was not ready within {0:?}")]
    NotReady(Duration),
    /// The client is not listening (gone, or restarting).
    #[error("connection refused (the client is not listening on port {0})")]
    Refused(u16),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

enum SessionEnd {
    Shutdown,
    Closed(String),
}

/// Keeps a connection to the client until `shutdown`, feeding events into `events`.
pub(crate) async fn maintain(
    options: LiveOptions,
    port: Arc<LivePort>,
    events: mpsc::Sender<Event>,
    status: watch::Sender<Status>,
    shutdown: CancellationToken,
) {
    let mut reporter = Reporter::default();
    let mut failures: u32 = 0;
    let mut connections: u64 = 0;
    let mut jitter = Jitter::seeded();
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let credentials = match options.discovery.find() {
            Ok(credentials) => credentials,
            Err(error) => {
                // The normal state until League starts: said once, at INFO.
                reporter.waiting(&format!("waiting for the League client ({error})"));
                let _ = status.send(Status::Waiting);
                if sleep_or_shutdown(options.poll_interval, &shutdown).await {
                    break;
                }
                continue;
            }
        };
        let _ = status.send(Status::Connecting {
            port: credentials.port,
        });
        match session(
            &options,
            &credentials,
            &port,
            &events,
            &status,
            &shutdown,
            &mut connections,
            &mut reporter,
        )
        .await
        {
            Ok(SessionEnd::Shutdown) => break,
            Ok(SessionEnd::Closed(reason)) => {
                tracing::info!(reason = %reason, "connection to the League client closed; reconnecting");
                failures = 0;
                if sleep_or_shutdown(options.backoff_min, &shutdown).await {
                    break;
                }
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let reason = error.to_string();
                reporter.problem(&reason);
                let _ = status.send(Status::Retrying { reason });
                let wait = jitter.backoff(options.backoff_min, options.backoff_max, failures);
                if sleep_or_shutdown(wait, &shutdown).await {
                    break;
                }
            }
        }
    }
    port.set(None);
    let _ = status.send(Status::Stopped);
}

/// Runs one step of connecting unless shutdown comes first (`Ok(None)`): shutdown must win over
/// a client that accepts a request and never answers it.
async fn until_shutdown<T>(
    step: impl std::future::Future<Output = Result<T, LiveError>>,
    shutdown: &CancellationToken,
) -> Result<Option<T>, LiveError> {
    tokio::select! {
        biased;
        _ = shutdown.cancelled() => Ok(None),
        result = step => result.map(Some),
    }
}

/// Sleeps; returns whether shutdown was asked meanwhile.
async fn sleep_or_shutdown(duration: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(duration) => false,
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    options: &LiveOptions,
    credentials: &Credentials,
    port: &Arc<LivePort>,
    events: &mpsc::Sender<Event>,
    status: &watch::Sender<Status>,
    shutdown: &CancellationToken,
    connections: &mut u64,
    reporter: &mut Reporter,
) -> Result<SessionEnd, LiveError> {
    // One configuration, so one verifier, for the HTTPS client and the websocket alike.
    let tls = options
        .trust
        .rustls_config()
        .map_err(|e| LiveError::Tls(e.to_string()))?;
    let http =
        Arc::new(LcuHttp::new(credentials, &tls).map_err(|e| LiveError::Tls(e.to_string()))?);
    if options.trust.is_insecure() {
        tracing::warn!(
            "certificate verification is OFF (--insecure): anyone on this machine could impersonate the client"
        );
    }
    let Some(phase) = until_shutdown(
        wait_until_ready(&http, credentials.port, options.ready_timeout, shutdown),
        shutdown,
    )
    .await?
    else {
        return Ok(SessionEnd::Shutdown);
    };
    let Some(mut socket) = until_shutdown(open_socket(credentials, tls), shutdown).await? else {
        return Ok(SessionEnd::Shutdown);
    };
    socket
        .send(Message::text(format!("[5,\"{FIREHOSE}\"]")))
        .await
        .map_err(|e| LiveError::Other(format!("cannot subscribe: {e}")))?;
    port.set(Some(http.clone()));
    let end = async {
        let uris = match (&options.interest, options.resync.is_empty()) {
            (Some(rules), true) => rules.load().literal_trigger_uris(),
            _ => options.resync.clone(),
        };
        match until_shutdown(resync(&http, phase, &uris, events), shutdown).await? {
            Some(true) => {}
            Some(false) | None => return Ok(SessionEnd::Shutdown),
        }
        *connections += 1;
        reporter.clear();
        tracing::info!(
            port = credentials.port,
            pid = ?credentials.pid,
            "connected to the League client, found by {}",
            credentials.origin
        );
        let _ = status.send(Status::Connected {
            port: credentials.port,
            connections: *connections,
        });
        let mut reader = Reader::new(events, &options.stats, options.max_lag);
        let end = reader
            .read_frames(&mut socket, options.interest.as_deref(), shutdown)
            .await;
        if !matches!(end, Ok(SessionEnd::Shutdown)) {
            reader.flush(shutdown).await;
        }
        end
    }
    .await;
    port.set(None);
    if let Ok(SessionEnd::Shutdown) = end {
        let _ = socket.close(None).await;
    }
    end
}

/// Polls the gameflow phase until the client answers it: connection refused and 404 ("Invalid
/// function", plugins still loading) mean "not yet". Returns the phase response for the resync.
async fn wait_until_ready(
    http: &LcuHttp,
    port: u16,
    timeout: Duration,
    shutdown: &CancellationToken,
) -> Result<Option<serde_json::Value>, LiveError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut refused_once = false;
    loop {
        match http.get(GAMEFLOW_PHASE).await {
            Ok(response) if response.status == 401 || response.status == 403 => {
                return Err(LiveError::Unauthorized);
            }
            Ok(response) if (200..300).contains(&response.status) => {
                return Ok(Some(response.body));
            }
            Ok(_) => {}
            Err(PortError::Transport(message)) if message.contains("certificate") => {
                return Err(LiveError::Tls(message));
            }
            Err(PortError::Transport(message)) if message.starts_with("connection refused") => {
                // A client that just exited: rediscover rather than wait for it.
                if !refused_once {
                    refused_once = true;
                } else {
                    return Err(LiveError::Refused(port));
                }
            }
            Err(error) => return Err(LiveError::Other(error.to_string())),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(LiveError::NotReady(timeout));
        }
        if sleep_or_shutdown(Duration::from_millis(250), shutdown).await {
            return Ok(None);
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The longest the TLS and websocket handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn open_socket(
    credentials: &Credentials,
    tls: Arc<rustls::ClientConfig>,
) -> Result<Socket, LiveError> {
    let mut request = format!("wss://127.0.0.1:{}/", credentials.port)
        .into_client_request()
        .map_err(|e| LiveError::Other(e.to_string()))?;
    let mut auth = tungstenite::http::HeaderValue::from_str(&credentials.token.basic_auth_header())
        .map_err(|_| LiveError::Other("the token is not valid header text".into()))?;
    auth.set_sensitive(true);
    request
        .headers_mut()
        .insert(tungstenite::http::header::AUTHORIZATION, auth);
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME))
        // tungstenite zero-fills the whole read buffer before every read: a TLS record's worth
        // (16 KiB) keeps that cheap while still taking many small frames per read.
        .read_buffer_size(16 * 1024);
    let connector = tokio_tungstenite::Connector::Rustls(tls);
    let tcp = match tokio::net::TcpStream::connect(("127.0.0.1", credentials.port)).await {
        Ok(tcp) => tcp,
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(LiveError::Refused(credentials.port));
        }
        Err(error) => return Err(LiveError::Other(format!("websocket: {error}"))),
    };
    // Nagle's delay would hold back the subscribe and the answers to pings.
    let _ = tcp.set_nodelay(true);
    let handshake = tokio_tungstenite::client_async_tls_with_config(
        request,
        tcp,
        Some(config),
        Some(connector),
    );
    let Ok(handshake) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await else {
        return Err(LiveError::Other(format!(
            "websocket: no handshake within {HANDSHAKE_TIMEOUT:?}"
        )));
    };
    match handshake {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) if response.status().as_u16() == 401 => {
            Err(LiveError::Unauthorized)
        }
        Err(tungstenite::Error::Tls(error)) => Err(LiveError::Tls(
            crate::client::verifier::find_refusal(&error)
                .map_or_else(|| error.to_string(), |refusal| refusal.to_string()),
        )),
        Err(tungstenite::Error::Io(error))
            if crate::client::verifier::find_refusal(&error).is_some() =>
        {
            Err(LiveError::Tls(
                crate::client::verifier::find_refusal(&error)
                    .map_or_else(|| error.to_string(), |refusal| refusal.to_string()),
            ))
        }
        Err(tungstenite::Error::Io(error))
            if error.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            Err(LiveError::Refused(credentials.port))
        }
        Err(error) => Err(LiveError::Other(format!(
            "websocket: {}",
            error_chain(&error)
        ))),
    }
}

/// Feeds the current state of the watched URIs to the engine as snapshot events. `Ok(false)`
/// when the engine has gone (shutting down).
async fn resync(
    http: &LcuHttp,
    phase: Option<serde_json::Value>,
    uris: &[String],
    events: &mpsc::Sender<Event>,
) -> Result<bool, LiveError> {
    let mut snapshots = Vec::with_capacity(uris.len() + 1);
    if let Some(phase) = phase {
        snapshots.push((GAMEFLOW_PHASE.to_string(), phase));
    }
    for uri in uris.iter().filter(|u| u.as_str() != GAMEFLOW_PHASE) {
        match http.get(uri).await {
            Ok(response) if (200..300).contains(&response.status) => {
                snapshots.push((uri.clone(), response.body))
            }
            Ok(response) => {
                tracing::debug!(uri = %uri, status = response.status, "no current state to resync")
            }
            Err(error) => return Err(LiveError::Other(format!("resync of {uri} failed: {error}"))),
        }
    }
    let count = snapshots.len();
    for (uri, data) in snapshots {
        let mut event = Event::new(uri, EventType::Update, data);
        event.snapshot = true;
        if events.send(event).await.is_err() {
            return Ok(false);
        }
    }
    tracing::debug!(resources = count, "resynced the client's current state");
    Ok(true)
}

/// Logs a problem once, and again only when it changes.
#[derive(Default)]
struct Reporter {
    last: Option<String>,
}

impl Reporter {
    /// A failure, logged as a warning when it is new and at debug while it repeats.
    fn problem(&mut self, message: &str) {
        if self.is_repeat(message) {
            tracing::debug!(problem = %message, "still failing");
        } else {
            tracing::warn!("{message}");
        }
    }

    /// A state that is no failure (no client running yet), logged at info once.
    fn waiting(&mut self, message: &str) {
        if !self.is_repeat(message) {
            tracing::info!("{message}");
        }
    }

    /// Whether `message` is the last one reported; remembers it otherwise.
    fn is_repeat(&mut self, message: &str) -> bool {
        if self.last.as_deref() == Some(message) {
            return true;
        }
        self.last = Some(message.to_string());
        false
    }

    fn clear(&mut self) {
        self.last = None;
    }
}

/// Exponential backoff with ±20 % jitter, from a small generator seeded by the clock.
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Jitter {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(1);
        Jitter(nanos | 1)
    }

    fn backoff(&mut self, min: Duration, max: Duration, failures: u32) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let base = min
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(max);
        let factor = 0.8 + (self.0 % 4001) as f64 / 10_000.0;
        base.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// Backoff doubles from the minimum, stays within the cap (plus jitter) and jitters.
    #[test]
    fn backoff_grows_and_is_capped() {
        let mut jitter = Jitter(12345);
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        let waits: Vec<Duration> = (1..=12).map(|n| jitter.backoff(min, max, n)).collect();
        assert!(waits[0] >= Duration::from_millis(80) && waits[0] <= Duration::from_millis(120));
        assert!(waits[3] >= Duration::from_millis(640) && waits[3] <= Duration::from_millis(960));
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(6)));
        assert!(waits[10] != waits[11]);
    }
}
