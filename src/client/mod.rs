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

pub(crate) mod discovery;
pub(crate) mod http;
pub(crate) mod live;
pub(crate) mod record;
pub(crate) mod tls;
pub(crate) mod verifier;
pub(crate) mod wamp;

pub use discovery::{AuthToken, Discovery};
pub use live::{LiveOptions, Status};
pub use record::record;
pub use tls::{RIOT_ROOT_PEM, Trust, install_crypto_provider};
pub use wamp::parse_frame;
