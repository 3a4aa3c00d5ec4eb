//! The simulated League client: a real HTTPS + WSS server on `127.0.0.1:<random port>` with its
//! own CA and a leaf certificate for `IP:127.0.0.1`, Basic auth with a random token, a lockfile
//! in the real format, the WAMP 1.0 event stream, and a state machine for the flows the rules
//! need. It records every request it receives and can inject faults (drop sockets, restart with
//! a new port and token, answer with errors, answer slowly, stop listening). `demo` and the
//! integration tests use it; it is part of the product, not a mock.
//!
//! The simulator's surface (start, faults, publishing, the requests it saw) in one file, so that
//! a test author finds every knob in one place; serving is in `server.rs`, flows in `state.rs`.

pub(crate) mod script;
mod server;
pub(crate) mod state;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::discovery::AuthToken;
use crate::event::{Event, EventType};
pub use script::play_sessions;
pub use server::topic_of;
use state::{Answer, SimState};
pub use state::{READY_CHECK, ready_check};

/// How many events a slow websocket reader may fall behind before it misses some.
const EVENT_BUFFER: usize = 16_384;

/// A request the simulated client received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// Method.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// JSON body, if any.
    pub body: Option<Value>,
    /// When it arrived.
    pub at: Instant,
    /// When it was answered.
    pub answered_at: Option<Instant>,
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer this status instead of the real answer.
    pub fail_status: Option<u16>,
    /// How many requests to fail (0: all while `fail_status` is set).
    pub fail_count: u32,
    /// Delay answers to paths starting with this prefix.
    pub slow: Option<(String, Duration)>,
    /// Answer paths starting with this prefix with a JSON string body of this many bytes.
    pub huge_body: Option<(String, usize)>,
}

/// An event as published: its payload serialised once, and when a socket first carried it.
#[derive(Debug)]
pub struct Published {
    /// Sequence number.
    pub seq: u64,
    /// The URI.
    pub uri: String,
    /// `{"data":...,"eventType":...,"uri":...}`.
    pub payload: String,
    handed: OnceLock<Instant>,
}

impl Published {
    fn mark_handed(&self) {
        let _ = self.handed.set(Instant::now());
    }

    /// When the frame was handed to a client socket (written and flushed), if it was.
    pub fn handed_at(&self) -> Option<Instant> {
        self.handed.get().copied()
    }
}

struct Listening {
    port: u16,
    token: AuthToken,
    auth_header: String,
    stop: CancellationToken,
}

struct Inner {
    dir: PathBuf,
    leaf: Leaf,
    acceptor_config: Mutex<Option<Arc<rustls::ServerConfig>>>,
    issuer: Mutex<Option<CertAuthority>>,
    state: Mutex<SimState>,
    events: broadcast::Sender<Arc<Published>>,
    listening: Mutex<Option<Listening>>,
    /// Cancelled to drop every open connection; replaced by a fresh one each time.
    connections: Mutex<CancellationToken>,
    requests: Mutex<Vec<RecordedRequest>>,
    request_arrived: Notify,
    faults: Mutex<Faults>,
    failures_left: Mutex<u32>,
    seq: AtomicU64,
    unauthorized: AtomicU64,
    lagged: AtomicU64,
    sockets: AtomicU64,
    socket_change: Notify,
    tls_attempts: AtomicU64,
}

/// Locks a mutex, recovering from poisoning (a panicking test must not wedge the simulator).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    fn connection_token(&self) -> CancellationToken {
        lock(&self.connections).clone()
    }

    fn expected_auth(&self) -> String {
        lock(&self.listening)
            .as_ref()
            .map(|l| l.auth_header.clone())
            .unwrap_or_default()
    }

    fn record(&self, request: RecordedRequest) -> usize {
        let mut requests = lock(&self.requests);
        requests.push(request);
        self.request_arrived.notify_waiters();
        requests.len() - 1
    }

    fn mark_answered(&self, index: usize) {
        if let Some(request) = lock(&self.requests).get_mut(index) {
            request.answered_at = Some(Instant::now());
        }
    }

    fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// Whether this request should fail (counting down a limited number of failures).
    fn take_failure(&self) -> bool {
        let limited = lock(&self.faults).fail_count > 0;
        if !limited {
            return true;
        }
        let mut left = lock(&self.failures_left);
        if *left == 0 {
            return false;
        }
        *left -= 1;
        true
    }

    fn apply(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let (answer, changes) = lock(&self.state).handle(method, path, body);
        for change in changes {
            self.publish(change.uri, change.event_type, change.data);
        }
        answer
    }

    fn publish(&self, uri: String, event_type: EventType, data: Value) -> Arc<Published> {
        let payload =
            serde_json::json!({"data": data, "eventType": event_type.as_str(), "uri": uri})
                .to_string();
        let published = Arc::new(Published {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            uri,
            payload,
            handed: OnceLock::new(),
        });
        let _ = self.events.send(published.clone());
        published
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.events.subscribe()
    }

    fn lagged(&self, missed: u64) {
        self.lagged.fetch_add(missed, Ordering::Relaxed);
    }

    fn socket_opened(&self) {
        self.sockets.fetch_add(1, Ordering::SeqCst);
        self.socket_change.notify_waiters();
    }

    fn socket_closed(&self) {
        self.sockets.fetch_sub(1, Ordering::SeqCst);
        self.socket_change.notify_waiters();
    }
}

/// The simulated client's CA.
struct CertAuthority {
    key: rcgen::KeyPair,
    params: rcgen::CertificateParams,
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Certificates could not be made.
    #[error("cannot create certificates: {0}")]
    Certificates(String),
    /// A file could not be written, or a port bound.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A running simulated client.
#[derive(Clone)]
pub struct SimClient {
    inner: Arc<Inner>,
}

impl SimClient {
    /// Starts a client whose lockfile and CA certificate are written into `dir`.
    pub async fn start(dir: &Path) -> Result<SimClient, SimError> {
        SimClient::start_with(dir, Leaf::default()).await
    }

    /// Starts a client that serves a certificate of this shape (to test the trust policy).
    pub async fn start_with(dir: &Path, leaf: Leaf) -> Result<SimClient, SimError> {
        crate::client::tls::install_crypto_provider();
        std::fs::create_dir_all(dir)?;
        let (authority, ca_pem) = new_authority()?;
        std::fs::write(dir.join("ca.pem"), &ca_pem)?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            leaf,
            acceptor_config: Mutex::new(None),
            issuer: Mutex::new(Some(authority)),
            state: Mutex::new(SimState::new()),
            events,
            listening: Mutex::new(None),
            connections: Mutex::new(CancellationToken::new()),
            requests: Mutex::new(Vec::new()),
            request_arrived: Notify::new(),
            faults: Mutex::new(Faults::default()),
            failures_left: Mutex::new(0),
            seq: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            lagged: AtomicU64::new(0),
            sockets: AtomicU64::new(0),
            socket_change: Notify::new(),
            tls_attempts: AtomicU64::new(0),
        });
        let sim = SimClient { inner };
        sim.listen(0).await?;
        Ok(sim)
    }

    /// Binds a port (0: a new random one) with a new token, and rewrites the lockfile.
    async fn listen(&self, port: u16) -> Result<(), SimError> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let token = AuthToken::new(random_token()?);
        let config = self.server_config()?;
        let stop = CancellationToken::new();
        tokio::spawn(server::serve(
            listener,
            tokio_rustls::TlsAcceptor::from(config),
            self.inner.clone(),
            stop.clone(),
        ));
        let lockfile = format!(
            "LeagueClient:{}:{port}:{}:https",
            std::process::id(),
            token.expose()
        );
        write_atomically(&self.lockfile(), &lockfile)?;
        let auth_header = token.basic_auth_header();
        *lock(&self.inner.listening) = Some(Listening {
            port,
            token,
            auth_header,
            stop,
        });
        Ok(())
    }

    fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, SimError> {
        if let Some(config) = lock(&self.inner.acceptor_config).clone() {
            return Ok(config);
        }
        let guard = lock(&self.inner.issuer);
        let authority = guard
            .as_ref()
            .ok_or_else(|| SimError::Certificates("no CA".into()))?;
        let config = leaf_config(authority, &self.inner.leaf)?;
        *lock(&self.inner.acceptor_config) = Some(config.clone());
        Ok(config)
    }

    /// The port it listens on now.
    pub fn port(&self) -> u16 {
        lock(&self.inner.listening)
            .as_ref()
            .map(|l| l.port)
            .unwrap_or(0)
    }

    /// The token it accepts now.
    pub fn token(&self) -> AuthToken {
        lock(&self.inner.listening)
            .as_ref()
            .map(|l| l.token.clone())
            .unwrap_or_else(|| AuthToken::new(""))
    }

    /// Its lockfile.
    pub fn lockfile(&self) -> PathBuf {
        self.inner.dir.join("lockfile")
    }

    /// The file holding its CA certificate (what `--ca` takes).
    pub fn ca_file(&self) -> PathBuf {
        self.inner.dir.join("ca.pem")
    }

    /// Stops listening and drops every connection, like a client that exits.
    pub fn stop(&self) {
        if let Some(listening) = lock(&self.inner.listening).take() {
            listening.stop.cancel();
        }
        self.drop_connections();
    }

    /// Exits and starts again with a new port and token (the lockfile is rewritten).
    pub async fn restart(&self) -> Result<(), SimError> {
        self.stop();
        self.listen(0).await
    }

    /// Stops listening for `pause` (connections are refused), then listens again on the same port
    /// with a new token.
    pub async fn refuse_connections_for(&self, pause: Duration) -> Result<(), SimError> {
        let port = self.port();
        self.stop();
        tokio::time::sleep(pause).await;
        self.listen(port).await
    }

    /// Drops every open connection (HTTP and websocket) but keeps listening.
    pub fn drop_connections(&self) {
        let mut generation = lock(&self.inner.connections);
        generation.cancel();
        *generation = CancellationToken::new();
    }

    /// Sets the faults to inject from now on.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.inner.failures_left) = faults.fail_count;
        *lock(&self.inner.faults) = faults;
    }

    /// Publishes an event (and records the resource's new state).
    pub fn publish(&self, uri: &str, event_type: EventType, data: Value) -> Arc<Published> {
        {
            let mut state = lock(&self.inner.state);
            match event_type {
                EventType::Delete => {
                    state.set(uri, None);
                }
                _ => {
                    state.set(uri, Some(data.clone()));
                }
            }
        }
        self.inner.publish(uri.to_string(), event_type, data)
    }

    /// Sends this exact text as a frame to every subscribed socket (for malformed-frame tests).
    pub fn publish_text(&self, text: &str) -> Arc<Published> {
        let published = Arc::new(Published {
            seq: self.inner.seq.fetch_add(1, Ordering::Relaxed) + 1,
            uri: String::new(),
            payload: text.to_string(),
            handed: OnceLock::new(),
        });
        let _ = self.inner.events.send(published.clone());
        published
    }

    /// Publishes an event exactly as given, without touching the served state (a replayed
    /// capture, unrelated traffic).
    pub fn publish_raw(&self, event: &Event) -> Arc<Published> {
        self.inner.publish(
            event.uri.clone(),
            event.event_type,
            event.data.value().clone(),
        )
    }

    /// Replays recorded events as this client's event stream, keeping their timing divided by
    /// `speed` (2.0 = twice as fast); each event also becomes the resource's served state.
    pub async fn replay(&self, events: &[crate::event::TimedEvent], speed: f64) {
        let start = Instant::now();
        let speed = if speed > 0.0 { speed } else { 1.0 };
        for timed in events {
            tokio::time::sleep_until(start + timed.at.div_f64(speed)).await;
            self.publish(
                &timed.event.uri,
                timed.event.event_type,
                timed.event.data.value().clone(),
            );
        }
    }

    /// Changes a resource without publishing (what changed while nobody was listening).
    pub fn set_quietly(&self, uri: &str, value: Option<Value>) {
        lock(&self.inner.state).set(uri, value);
    }

    /// Sets a resource and publishes the change as the client would (Create, Update, Delete).
    pub fn change(&self, uri: &str, value: Option<Value>) -> Arc<Published> {
        let change = lock(&self.inner.state).set(uri, value);
        self.inner
            .publish(change.uri, change.event_type, change.data)
    }

    /// The current value of a resource.
    pub fn resource(&self, uri: &str) -> Option<Value> {
        lock(&self.inner.state).resource(uri).cloned()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.inner.requests).clear();
    }

    /// Waits until a request with this method and path has arrived (counting from `from`, an
    /// index into [`SimClient::requests`]); returns its index.
    pub async fn wait_for_request(
        &self,
        method: &str,
        path: &str,
        from: usize,
        timeout: Duration,
    ) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.inner.request_arrived.notified();
            {
                let requests = lock(&self.inner.requests);
                if let Some(index) = requests
                    .iter()
                    .enumerate()
                    .skip(from)
                    .find(|(_, r)| r.method == method && r.path == path)
                    .map(|(i, _)| i)
                {
                    return Some(index);
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// How many requests with this method and path have arrived.
    pub fn count_requests(&self, method: &str, path: &str) -> usize {
        lock(&self.inner.requests)
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// Waits until at least `count` websocket sessions have subscribed to something (events
    /// published before a session subscribes never reach it, as with the real client).
    pub async fn wait_for_sockets(&self, count: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.inner.socket_change.notified();
            if self.inner.sockets.load(Ordering::SeqCst) >= count {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Requests refused for a wrong or missing token.
    pub fn unauthorized_requests(&self) -> u64 {
        self.inner.unauthorized.load(Ordering::Relaxed)
    }

    /// TLS handshakes begun so far, whether they succeeded or not.
    pub fn tls_attempts(&self) -> u64 {
        self.inner.tls_attempts.load(Ordering::Relaxed)
    }

    /// Events published but not yet taken by the slowest websocket session (what a publisher
    /// that must not outrun its readers waits on).
    pub fn backlog(&self) -> usize {
        self.inner.events.len()
    }

    /// Events a slow websocket reader missed.
    pub fn lagged_events(&self) -> u64 {
        self.inner.lagged.load(Ordering::Relaxed)
    }
}

fn random_token() -> Result<String, SimError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SimError::Certificates("no random source".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn new_authority() -> Result<(CertAuthority, String), SimError> {
    let error = |e: rcgen::Error| SimError::Certificates(e.to_string());
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(error)?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "lcu-rules simulated client CA");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let key = rcgen::KeyPair::generate().map_err(error)?;
    let cert = params.self_signed(&key).map_err(error)?;
    Ok((CertAuthority { key, params }, cert.pem()))
}

fn leaf_config(
    authority: &CertAuthority,
    leaf: &Leaf,
) -> Result<Arc<rustls::ServerConfig>, SimError> {
    let error = |e: rcgen::Error| SimError::Certificates(e.to_string());
    let mut params = rcgen::CertificateParams::new(leaf.dns_names.clone()).map_err(error)?;
    if leaf.ip_address {
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(std::net::IpAddr::V4(
                std::net::Ipv4Addr::LOCALHOST,
            )));
    }
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, leaf.common_name.as_str());
    if let Some((from, to)) = leaf.valid {
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
    }
    let key = rcgen::KeyPair::generate().map_err(error)?;
    let cert = match leaf.signer {
        Signer::TheCa => {
            let issuer = rcgen::Issuer::from_params(&authority.params, &authority.key);
            params.signed_by(&key, &issuer).map_err(error)?
        }
        Signer::AnotherCa => {
            let (other, _) = new_authority()?;
            let issuer = rcgen::Issuer::from_params(&other.params, &other.key);
            params.signed_by(&key, &issuer).map_err(error)?
        }
        Signer::Itself => params.self_signed(&key).map_err(error)?,
    };
    let key_der = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| SimError::Certificates(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SimError::Certificates(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key_der)
        .map_err(|e| SimError::Certificates(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The shape of the simulated client's certificate. The default is the real client's: signed
/// by the CA in `ca.pem`, subjectAltName DNS `localhost` and IP `127.0.0.1`, valid for decades.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// DNS subjectAltNames.
    pub dns_names: Vec<String>,
    /// Whether IP `127.0.0.1` is a subjectAltName.
    pub ip_address: bool,
    /// The subject's common name.
    pub common_name: String,
    /// Valid from, to; `None`: rcgen's default of decades.
    pub valid: Option<(Day, Day)>,
    /// Who signs it.
    pub signer: Signer,
}

impl Default for Leaf {
    fn default() -> Leaf {
        Leaf {
            dns_names: vec!["localhost".into()],
            ip_address: true,
            common_name: "127.0.0.1".into(),
            valid: None,
            signer: Signer::TheCa,
        }
    }
}

/// A calendar day: year, month, day.
pub type Day = (i32, u8, u8);

/// Who signs the simulated client's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// The CA written to `ca.pem`.
    TheCa,
    /// A CA nobody trusts.
    AnotherCa,
    /// The certificate itself.
    Itself,
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}
