//! The JSON shape of a WAMP EVENT frame, `[8, topic, {data, eventType, uri}]`: what the client
//! sends on its websocket and what recordings and captures store. Any other opcode is a frame
//! without an event.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;

use super::{Event, EventType, FrameError, Payload};

/// The payload of a WAMP EVENT frame.
#[derive(Deserialize)]
struct WirePayload {
    #[serde(default)]
    data: Option<Value>,
    #[serde(rename = "eventType")]
    event_type: EventType,
    uri: String,
}

/// A WAMP frame: an EVENT (opcode 8) or anything else, whose content is skipped.
pub(crate) enum WireFrame {
    /// An EVENT frame.
    Event(Event),
    /// Any other opcode.
    Other,
}

impl<'de> Deserialize<'de> for WireFrame {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FrameVisitor;

        impl<'de> Visitor<'de> for FrameVisitor {
            type Value = WireFrame;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a WAMP frame `[opcode, ...]`")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WireFrame, A::Error> {
                let opcode: u64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("empty frame array"))?;
                if opcode != 8 {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    return Ok(WireFrame::Other);
                }
                let _topic: IgnoredAny = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("EVENT frame without a topic"))?;
                let payload: WirePayload = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("EVENT frame without a payload"))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(WireFrame::Event(Event {
                    uri: payload.uri,
                    event_type: payload.event_type,
                    data: Payload::from(payload.data.unwrap_or(Value::Null)),
                    snapshot: false,
                }))
            }
        }

        deserializer.deserialize_seq(FrameVisitor)
    }
}

/// Reads a frame's text: `Ok(None)` for a frame that carries no event.
pub(crate) fn parse_text(text: &str) -> Result<Option<Event>, FrameError> {
    match serde_json::from_str::<WireFrame>(text) {
        Ok(WireFrame::Event(event)) => Ok(Some(event)),
        Ok(WireFrame::Other) => Ok(None),
        Err(error) if error.is_syntax() || error.is_eof() => {
            Err(FrameError::Json(error.to_string()))
        }
        Err(error) => Err(FrameError::Shape(error.to_string())),
    }
}

/// Reads a frame already parsed as JSON (a recording's `rawData`).
pub(crate) fn from_value(value: Value) -> Result<Option<Event>, FrameError> {
    match serde_json::from_value::<WireFrame>(value) {
        Ok(WireFrame::Event(event)) => Ok(Some(event)),
        Ok(WireFrame::Other) => Ok(None),
        Err(error) => Err(FrameError::Shape(error.to_string())),
    }
}
