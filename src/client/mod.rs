//! The client connection: everything that touches the League client's sockets.
//!
//! Owns discovery of the running client and its credentials ([`discovery`]), trust in its
//! certificate ([`tls`]), the HTTPS side ([`http`], including the engine's live port), the WAMP
//! websocket session with reconnect and resync ([`live`]) and its frame format ([`wamp`]), and
//! `lcu-rules record` ([`record`]).
//!
//! May use: [`crate::engine`] (the port trait it implements), [`crate::language`] (which URIs the
//! rules watch), [`crate::event`], [`crate::secrets`]. Must never: decide what a rule does, or
//! let the auth token reach a log line, an error or a file.

pub mod discovery;
pub(crate) mod http;
pub mod live;
pub mod record;
pub mod tls;
pub mod wamp;
pub(crate) mod yielding;
