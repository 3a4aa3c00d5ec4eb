//! The HTTPS side of a connection to the client: one long-lived keep-alive `reqwest` client per
//! connection (a peer tool ran out of local ports opening one per request), Basic auth on every
//! request, pinned trust, and a bound on requests in flight so a burst queues instead of opening
//! hundreds of sockets. [`LivePort`] is the engine's port: it follows whichever connection is
//! current and answers "not connected" in between.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::client::discovery::Credentials;
use crate::client::tls::{TlsError, Trust};
use crate::engine::port::{
    ClientPort, HttpRequest, HttpResponse, PortError, PortFuture, Reservation, ReserveFuture,
};
use crate::language::spec::MethodName;

/// How many requests may be in flight on one connection at once.
pub(crate) const MAX_IN_FLIGHT: usize = 8;
/// The longest a request may take, from connecting to the last byte of its answer: the client
/// answers in milliseconds, so a request still open after this is a client that will not answer.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest response body read (the biggest the client sends, its full game-data lists, are a
/// few MiB).
pub(crate) const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Request paths whose URL is kept parsed (rules send to a few paths over and over).
const KEPT_URLS: usize = 256;

/// An HTTPS client bound to one client instance (one port and token).
pub(crate) struct LcuHttp {
    client: reqwest::Client,
    /// `https://127.0.0.1:<port>/`, parsed once: each request only sets its path and query.
    base: reqwest::Url,
    /// The URLs of recent request paths: setting a path on `base` costs more than the rest of
    /// building the request.
    urls: Mutex<rustc_hash::FxHashMap<Box<str>, reqwest::Url>>,
    permits: Arc<Semaphore>,
}

impl LcuHttp {
    /// A client for these credentials, trusting `trust`.
    pub(crate) fn new(
        credentials: &Credentials,
        tls: &rustls::ClientConfig,
    ) -> Result<LcuHttp, TlsError> {
        crate::client::tls::install_crypto_provider();
        let mut auth = HeaderValue::from_str(&credentials.token.basic_auth_header())
            .map_err(|_| TlsError::Client("the token is not valid header text".into()))?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let builder = reqwest::Client::builder()
            .default_headers(headers)
            .http1_only()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(Duration::from_secs(3))
            .timeout(REQUEST_TIMEOUT);
        let client = Trust::apply(builder, tls)
            .build()
            .map_err(|e| TlsError::Client(error_chain(&e)))?;
        let base = reqwest::Url::parse(&format!("https://127.0.0.1:{}/", credentials.port))
            .map_err(|e| TlsError::Client(e.to_string()))?;
        Ok(LcuHttp {
            client,
            base,
            urls: Mutex::default(),
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    /// Sends a request and reads the whole answer.
    pub(crate) async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, PortError> {
        let permit = self.reserve().await.ok_or(PortError::NotConnected)?;
        self.send_holding(request, permit).await
    }

    /// Room for one request now, if there is some.
    pub(crate) fn try_reserve(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Room for one request, once there is some; `None` once this connection is replaced.
    pub(crate) async fn reserve(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().acquire_owned().await.ok()
    }

    /// Sends a request in room reserved before and reads the whole answer.
    pub(crate) async fn send_holding(
        &self,
        request: &HttpRequest,
        permit: OwnedSemaphorePermit,
    ) -> Result<HttpResponse, PortError> {
        let _permit = permit;
        // Boxed: a request waiting for a permit (in a burst, most of them) holds only a small
        // future, and the exchange's state, several hundred bytes, exists only for the few in
        // flight. Fewer bytes per waiting run keep the runs that are moving in the CPU's caches.
        Box::pin(self.exchange(request)).await
    }

    /// Sends `request` and reads the whole answer, holding a permit.
    async fn exchange(&self, request: &HttpRequest) -> Result<HttpResponse, PortError> {
        let url = self.url(&request.path);
        let method = match request.method {
            MethodName::GET => reqwest::Method::GET,
            MethodName::POST => reqwest::Method::POST,
            MethodName::PUT => reqwest::Method::PUT,
            MethodName::PATCH => reqwest::Method::PATCH,
            MethodName::DELETE => reqwest::Method::DELETE,
        };
        let mut builder = self.client.request(method, url);
        if let Some(body) = &request.body {
            let bytes =
                serde_json::to_vec(body).map_err(|e| PortError::Transport(e.to_string()))?;
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| PortError::Transport(describe_request_error(&e)))?;
        let status = response.status().as_u16();
        let bytes = read_capped(response).await?;
        Ok(HttpResponse {
            status,
            body: parse_body(&bytes),
        })
    }

    /// The URL of `path` (with its query, if any) on this client.
    fn url(&self, path: &str) -> reqwest::Url {
        let Ok(mut kept) = self.urls.lock() else {
            return self.parse_url(path);
        };
        if let Some(url) = kept.get(path) {
            return url.clone();
        }
        let url = self.parse_url(path);
        if kept.len() >= KEPT_URLS {
            kept.clear();
        }
        kept.insert(path.into(), url.clone());
        url
    }

    fn parse_url(&self, path: &str) -> reqwest::Url {
        let mut url = self.base.clone();
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        url.set_path(path);
        url.set_query(query);
        url
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Result<HttpResponse, PortError> {
        self.send(&HttpRequest {
            rule: Arc::from("lcu-rules"),
            method: MethodName::GET,
            path: path.to_string(),
            body: None,
        })
        .await
    }
}

/// Reads a body up to [`MAX_BODY_BYTES`]: a bigger one is an error of the request, read no
/// further, so a client that answers with gigabytes costs no more than the limit.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, PortError> {
    let too_big = || {
        PortError::Transport(format!(
            "the response body is larger than the limit of {} MiB; it was not read",
            MAX_BODY_BYTES / (1024 * 1024)
        ))
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| PortError::Transport(describe_request_error(&e)))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A response body as JSON: `null` when empty, a string when it is not JSON.
fn parse_body(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// An error with its causes, one after another (reqwest's own message alone says only "error
/// sending request").
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The certificate policy's reason, when that is why a request failed.
fn certificate_refusal(error: &reqwest::Error) -> Option<crate::client::verifier::Refusal> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(refusal) = crate::client::verifier::find_refusal(cause) {
            return Some(refusal);
        }
        source = cause.source();
    }
    None
}

/// A request error in words a player can act on.
fn describe_request_error(error: &reqwest::Error) -> String {
    let chain = error_chain(error);
    if let Some(refusal) = certificate_refusal(error) {
        refusal.to_string()
    } else if chain.contains("Connection refused") || chain.contains("connection refused") {
        "connection refused (the client is not listening on that port)".to_string()
    } else {
        chain
    }
}

/// The engine's port in the live service: sends through the current connection, if any.
#[derive(Default)]
pub struct LivePort {
    current: RwLock<Option<Arc<LcuHttp>>>,
}

impl LivePort {
    /// Makes `http` the connection requests go through (`None`: disconnected). Requests still
    /// waiting for room on the previous connection fail as not connected, and a wait for room
    /// ends, so that runs go on with the new connection rather than a dead one.
    pub(crate) fn set(&self, http: Option<Arc<LcuHttp>>) {
        let Ok(mut current) = self.current.write() else {
            return;
        };
        let previous = std::mem::replace(&mut *current, http);
        if let Some(previous) = previous
            && !current
                .as_ref()
                .is_some_and(|now| Arc::ptr_eq(now, &previous))
        {
            previous.permits.close();
        }
    }

    /// The current connection.
    pub(crate) fn current(&self) -> Option<Arc<LcuHttp>> {
        self.current.read().ok().and_then(|c| c.clone())
    }
}

/// Room on one connection.
struct Room {
    http: Arc<LcuHttp>,
    permit: OwnedSemaphorePermit,
}

impl ClientPort for LivePort {
    fn send(&self, request: HttpRequest) -> PortFuture {
        let http = self.current();
        Box::pin(async move {
            match http {
                Some(http) => http.send(&request).await,
                None => Err(PortError::NotConnected),
            }
        })
    }

    fn try_reserve(&self) -> Option<Reservation> {
        // Disconnected: the run may start, and fail at once.
        let Some(http) = self.current() else {
            return Some(Reservation::unbounded());
        };
        let permit = http.try_reserve()?;
        Some(Reservation::holding(Box::new(Room { http, permit })))
    }

    fn reserve(&self) -> ReserveFuture {
        let http = self.current();
        Box::pin(async move {
            let Some(http) = http else {
                return Reservation::unbounded();
            };
            match http.reserve().await {
                Some(permit) => Reservation::holding(Box::new(Room { http, permit })),
                None => Reservation::unbounded(),
            }
        })
    }

    fn send_reserved(&self, request: HttpRequest, reservation: Reservation) -> PortFuture {
        match reservation.into_room().map(|room| room.downcast::<Room>()) {
            Some(Ok(room)) => Box::pin(async move {
                let Room { http, permit } = *room;
                http.send_holding(&request, permit).await
            }),
            _ => self.send(request),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::discovery::{AuthToken, Origin};
    use crate::client::tls::Trust;

    fn connection(port: u16) -> Arc<LcuHttp> {
        let credentials = Credentials {
            port,
            token: AuthToken::new("reservation-test-token"),
            pid: None,
            origin: Origin::Explicit,
        };
        let tls = Trust::riot().rustls_config().unwrap();
        Arc::new(LcuHttp::new(&credentials, &tls).unwrap())
    }

    /// Room is taken up to the bound; a wait for room on a connection that is replaced ends,
    /// so that the run goes on (with whatever connection is current) instead of waiting for a
    /// dead one.
    #[tokio::test]
    async fn room_follows_the_current_connection() {
        let port = LivePort::default();
        port.set(Some(connection(1)));
        let held: Vec<Reservation> = (0..MAX_IN_FLIGHT)
            .map(|_| port.try_reserve().expect("room"))
            .collect();
        assert!(port.try_reserve().is_none(), "room beyond the bound");
        let waiting = tokio::spawn(port.reserve());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "room while all is held");
        port.set(Some(connection(2)));
        let room = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the wait did not end with the connection")
            .unwrap();
        assert!(
            room.into_room().is_none(),
            "room on the replaced connection"
        );
        assert!(
            port.try_reserve().is_some(),
            "no room on the new connection"
        );
        drop(held);
    }
}
