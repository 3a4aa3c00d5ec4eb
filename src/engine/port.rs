//! The port to the outside world: the one trait through which runs send requests to the client.
//! The engine and runs never do IO themselves; `test` plugs in a recording port, the live service
//! plugs in the HTTPS client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::language::spec::MethodName;

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

/// Room for one request in flight, taken before the run that sends it starts: a run that would
/// only wait for room is not started until there is some (see [`ClientPort::try_reserve`]).
pub struct Reservation(Option<Box<dyn std::any::Any + Send>>);

impl Reservation {
    /// A reservation of a port without a bound on requests in flight.
    pub fn unbounded() -> Reservation {
        Reservation(None)
    }

    /// A reservation holding `room` (the port's own type).
    pub fn holding(room: Box<dyn std::any::Any + Send>) -> Reservation {
        Reservation(Some(room))
    }

    /// What the port put in it.
    pub(crate) fn into_room(self) -> Option<Box<dyn std::any::Any + Send>> {
        self.0
    }
}

/// A boxed future answering with a reservation once there is room.
pub type ReserveFuture = Pin<Box<dyn Future<Output = Reservation> + Send>>;

/// Sends requests to the client. Implementations must be cheap to call concurrently.
pub trait ClientPort: Send + Sync + 'static {
    /// Sends one request; the caller applies the timeout.
    fn send(&self, request: HttpRequest) -> PortFuture;

    /// Room for one request now, if there is some.
    fn try_reserve(&self) -> Option<Reservation> {
        Some(Reservation::unbounded())
    }

    /// Room for one request, once there is some.
    fn reserve(&self) -> ReserveFuture {
        Box::pin(std::future::ready(Reservation::unbounded()))
    }

    /// Sends one request in room reserved before.
    fn send_reserved(&self, request: HttpRequest, reservation: Reservation) -> PortFuture {
        drop(reservation);
        self.send(request)
    }
}
