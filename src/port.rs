//! The port to the outside world: the one trait through which runs send requests to the client.
//! The engine and runs never do IO themselves; `test` plugs in a recording port, the live service
//! plugs in the HTTPS client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::spec::MethodName;

/// A request a run wants sent to the connected client.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HttpRequest {
    /// The rule that sends it (what lets the engine recognise its own writes later).
    pub rule: Arc<str>,
    /// The method.
    pub method: MethodName,
    /// The path, already encoded, with its query string if any.
    pub path: String,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

/// The client's answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// The body as JSON (`null` when empty; a string when it was not JSON).
    pub body: Value,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PortError {
    /// There is no connected client.
    #[error("not connected to the League client")]
    NotConnected,
    /// The connection failed while sending or receiving.
    #[error("request failed: {0}")]
    Transport(String),
}

/// A boxed future answering one request.
pub type PortFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, PortError>> + Send>>;

/// Sends requests to the client. Implementations must be cheap to call concurrently.
pub trait ClientPort: Send + Sync + 'static {
    /// Sends one request; the caller applies the timeout.
    fn send(&self, request: HttpRequest) -> PortFuture;
}
