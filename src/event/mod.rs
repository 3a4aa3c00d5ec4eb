//! Client events: the `{uri, eventType, data}` triple the League client publishes, whether it
//! comes from the websocket, a recorded session or a test case. Every stage uses these types,
//! so this module sits at the bottom and uses nothing else of the crate.
//!
//! Also here, because recordings carry them too: the JSON shape of a WAMP EVENT frame
//! ([`frame`]), recorded sessions ([`recorded`]) and durations as rules write them
//! ([`duration`]). Reading frames off the socket (filtering before parsing) is the client's
//! business (`client/wamp.rs`).

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

pub(crate) mod duration;
pub(crate) mod frame;
pub(crate) mod recorded;

pub use duration::parse_duration;
pub use recorded::{
    RecordedEvent, TimedEvent, format_rfc3339_ms, parse_recorded_line, parse_recording,
    parse_rfc3339_ms, read_recording, timed,
};

/// The three kinds of change the client reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
pub enum EventType {
    /// A resource appeared.
    Create,
    /// A resource changed.
    Update,
    /// A resource went away.
    Delete,
}

impl EventType {
    /// This type's bit in an [`EventTypeMask`].
    pub(crate) fn bit(self) -> u8 {
        match self {
            EventType::Create => 1,
            EventType::Update => 2,
            EventType::Delete => 4,
        }
    }

    /// The name as the client writes it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Create => "Create",
            EventType::Update => "Update",
            EventType::Delete => "Delete",
        }
    }
}

/// A set of event types, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTypeMask(pub u8);

impl EventTypeMask {
    /// Every type.
    pub const ALL: EventTypeMask = EventTypeMask(7);

    /// Whether `event_type` is in the set.
    pub(crate) fn contains(self, event_type: EventType) -> bool {
        self.0 & event_type.bit() != 0
    }
}

/// One event from the client.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    /// The resource's URI, e.g. `/lol-matchmaking/v1/ready-check`.
    pub uri: String,
    /// What happened to it.
    #[serde(rename = "eventType")]
    pub event_type: EventType,
    /// The resource's new state (`null` on `Delete`).
    pub data: Payload,
    /// Whether this is not a change but the state read after (re)connecting.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub snapshot: bool,
}

impl Event {
    /// An event of `event_type` on `uri` carrying `data`.
    pub fn new(uri: impl Into<String>, event_type: EventType, data: Value) -> Event {
        Event {
            uri: uri.into(),
            event_type,
            data: Payload::from(data),
            snapshot: false,
        }
    }
}

/// An event's payload: the client's JSON as a tree.
#[derive(Clone, Default, PartialEq)]
pub struct Payload(Value);

impl Payload {
    /// The payload as a tree.
    pub fn value(&self) -> &Value {
        &self.0
    }

    /// The payload as an owned tree.
    pub(crate) fn into_value(self) -> Value {
        self.0
    }
}

/// One step of a plain path into a payload.
#[derive(Debug, Clone, Copy)]
pub enum PathKey<'a> {
    /// A field of an object.
    Key(&'a str),
    /// An element of a list (negative: from the end).
    Index(i64),
}

/// The node at a plain path in a tree.
pub fn walk_tree<'a, 'v>(
    mut value: &'v Value,
    path: impl IntoIterator<Item = PathKey<'a>>,
) -> Option<&'v Value> {
    for step in path {
        value = match step {
            PathKey::Key(key) => value.as_object()?.get(key)?,
            PathKey::Index(index) => {
                let array = value.as_array()?;
                array.get(resolve_index(index, array.len())?)?
            }
        };
    }
    Some(value)
}

fn resolve_index(index: i64, len: usize) -> Option<usize> {
    if index < 0 {
        len.checked_sub(index.unsigned_abs() as usize)
    } else {
        Some(index as usize)
    }
}

impl std::ops::Deref for Payload {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Payload {
        Payload(value)
    }
}

impl PartialEq<Value> for Payload {
    fn eq(&self, other: &Value) -> bool {
        self.0 == *other
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl serde::Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Why a frame or a recorded line could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    /// Not JSON at all.
    #[error("not valid JSON: {0}")]
    Json(String),
    /// JSON, but not a WAMP frame or an event object.
    #[error("not an event: {0}")]
    Shape(String),
    /// A timestamp that cannot be read.
    #[error("bad timestamp `{0}`")]
    Timestamp(String),
}

impl FrameError {
    /// A short name of the kind of error, for counting malformed frames by kind.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            FrameError::Json(_) => "json",
            FrameError::Shape(_) => "shape",
            FrameError::Timestamp(_) => "timestamp",
        }
    }
}
