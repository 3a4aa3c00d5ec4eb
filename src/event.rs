//! Client events: the `{uri, eventType, data}` triple the League client publishes, read from WAMP
//! frames on the wire and from recorded JSONL sessions. A bad frame or line is an error that names
//! it; it never panics and never stops the stream.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

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
    pub fn bit(self) -> u8 {
        match self {
            EventType::Create => 1,
            EventType::Update => 2,
            EventType::Delete => 4,
        }
    }

    /// The name as the client writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Create => "Create",
            EventType::Update => "Update",
            EventType::Delete => "Delete",
        }
    }
}

impl From<crate::spec::EventTypeName> for EventType {
    fn from(name: crate::spec::EventTypeName) -> EventType {
        match name {
            crate::spec::EventTypeName::Create => EventType::Create,
            crate::spec::EventTypeName::Update => EventType::Update,
            crate::spec::EventTypeName::Delete => EventType::Delete,
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
    pub fn contains(self, event_type: EventType) -> bool {
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

/// An event's payload. It stays the client's JSON text until something needs it as a tree
/// (`Deref` builds the tree once, on first use): the conditions of most rules read a field or
/// two, which [`Payload::select`] finds in the text directly, and building a tree of every
/// payload would cost more than everything else the engine does with the event.
#[derive(Clone, Default)]
pub struct Payload {
    /// Valid JSON text: checked by serde_json or by [`crate::rawjson::checked_value`].
    raw: Option<Box<str>>,
    tree: OnceLock<Value>,
    /// Where the top-level members are in `raw`, as the frame checker found them.
    members: Option<Vec<Member>>,
    /// The same, found on first use when the checker did not (rules usually read several). Kept
    /// apart because filling a `OnceLock` costs a call into its `Once`, even at construction.
    members_found_on_use: OnceLock<Vec<Member>>,
}

/// A top-level member of a payload's text: where its name (between the quotes) and its value
/// start, and how long they are, in bytes (`u32`: a frame is at most 32 MiB).
#[derive(Debug, Clone, Copy)]
struct Member {
    name_at: u32,
    name_len: u32,
    value_at: u32,
    value_len: u32,
    escaped: bool,
}

impl Member {
    /// The member `name: value` of the object whose text starts at `base`; both are slices of
    /// the same text.
    fn new(base: &str, name: crate::rawjson::Name<'_>, value: &str) -> Member {
        let offset = |part: &str| (part.as_ptr() as usize - base.as_ptr() as usize) as u32;
        Member {
            name_at: offset(name.raw),
            name_len: name.raw.len() as u32,
            value_at: offset(value),
            value_len: value.len() as u32,
            escaped: name.escaped,
        }
    }

    fn name<'t>(&self, text: &'t str) -> &'t str {
        let at = self.name_at as usize;
        text.get(at..at + self.name_len as usize)
            .unwrap_or_default()
    }

    fn value<'t>(&self, text: &'t str) -> &'t str {
        let at = self.value_at as usize;
        text.get(at..at + self.value_len as usize)
            .unwrap_or_default()
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

impl Payload {
    /// A payload kept as JSON text (`None`: `null`). The text must be valid JSON, as a
    /// deserialized `RawValue` is.
    pub fn from_raw(raw: Option<Box<RawValue>>) -> Payload {
        Payload {
            raw: raw.map(Into::into),
            tree: OnceLock::new(),
            members: None,
            members_found_on_use: OnceLock::new(),
        }
    }

    /// A payload of checked text whose top-level members the checker already found.
    fn from_checked(text: &str, members: Option<Vec<Member>>) -> Payload {
        Payload {
            raw: (text != "null").then(|| text.into()),
            tree: OnceLock::new(),
            members,
            members_found_on_use: OnceLock::new(),
        }
    }

    /// Whether the tree has been built (or the payload was given as one).
    pub fn has_tree(&self) -> bool {
        self.tree.get().is_some()
    }

    /// The payload as a tree (built on first use).
    pub fn value(&self) -> &Value {
        self.tree.get_or_init(|| match &self.raw {
            // A `RawValue` is valid JSON; only a number beyond `f64` could still fail here.
            Some(raw) => serde_json::from_str(raw).unwrap_or(Value::Null),
            None => Value::Null,
        })
    }

    /// The payload as an owned tree.
    pub fn into_value(self) -> Value {
        match self.tree.into_inner() {
            Some(value) => value,
            None => match self.raw {
                Some(raw) => serde_json::from_str(&raw).unwrap_or(Value::Null),
                None => Value::Null,
            },
        }
    }

    /// The value at a plain path, read from the text when no tree was built yet.
    pub fn select<'a>(&self, path: impl IntoIterator<Item = PathKey<'a>>) -> Option<Value> {
        match self.tree.get() {
            Some(tree) => walk_tree(tree, path).cloned(),
            None => serde_json::from_str(self.select_text(path)?).ok(),
        }
    }

    /// The JSON text of the value at a plain path, read from the payload's text (`null` when the
    /// payload is `null`). Before the tree is built this costs no allocation.
    pub fn select_text<'a>(&self, path: impl IntoIterator<Item = PathKey<'a>>) -> Option<&str> {
        let Some(text) = self.raw.as_deref() else {
            return walk_tree(&Value::Null, path).map(|_| "null");
        };
        let mut steps = path.into_iter();
        let mut at = match steps.next() {
            None => text,
            Some(PathKey::Key(key)) => self.top_member(text, key)?,
            Some(PathKey::Index(index)) => crate::rawjson::element(text, index)?,
        };
        for step in steps {
            at = match step {
                PathKey::Key(key) => crate::rawjson::member(at, key)?,
                PathKey::Index(index) => crate::rawjson::element(at, index)?,
            };
        }
        Some(at)
    }
}

impl Payload {
    /// The text of top-level member `key` (the last, if it repeats), through the member index.
    fn top_member<'t>(&self, text: &'t str, key: &str) -> Option<&'t str> {
        let members = self.members.as_ref().unwrap_or_else(|| {
            self.members_found_on_use.get_or_init(|| {
                // Most payloads have a handful of members: one allocation, no growth.
                let mut members = Vec::with_capacity(16);
                members.extend(
                    crate::rawjson::members(text)
                        .map(|(name, value)| Member::new(text, name, value)),
                );
                members
            })
        });
        members
            .iter()
            .rfind(|member| {
                crate::rawjson::Name {
                    raw: member.name(text),
                    escaped: member.escaped,
                }
                .is(key)
            })
            .map(|member| member.value(text))
    }
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
        self.value()
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Payload {
        Payload {
            raw: None,
            tree: OnceLock::from(value),
            members: None,
            members_found_on_use: OnceLock::new(),
        }
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        match (self.tree.get(), other.tree.get(), &self.raw, &other.raw) {
            (None, None, Some(a), Some(b)) if a == b => true,
            _ => self.value() == other.value(),
        }
    }
}

impl PartialEq<Value> for Payload {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value(), f)
    }
}

impl serde::Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self.tree.get(), &self.raw) {
            (Some(tree), _) => tree.serialize(serializer),
            // Written as received; the text is valid JSON, so this cannot fail.
            (None, Some(raw)) => match RawValue::from_string(raw.to_string()) {
                Ok(raw) => raw.serialize(serializer),
                Err(_) => self.value().serialize(serializer),
            },
            (None, None) => serializer.serialize_unit(),
        }
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
    pub fn kind(&self) -> &'static str {
        match self {
            FrameError::Json(_) => "json",
            FrameError::Shape(_) => "shape",
            FrameError::Timestamp(_) => "timestamp",
        }
    }
}

/// The payload of a WAMP EVENT frame.
#[derive(Deserialize)]
struct WirePayload {
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(rename = "eventType")]
    event_type: EventType,
    uri: String,
}

/// A WAMP frame: an EVENT (opcode 8) or anything else, whose content is skipped.
enum WireFrame {
    Event(Event),
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
                    data: Payload::from_raw(payload.data),
                    snapshot: false,
                }))
            }
        }

        deserializer.deserialize_seq(FrameVisitor)
    }
}

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
pub fn peek_event_uri(text: &str) -> Option<&str> {
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
pub fn parse_frame_if(
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
        data: Payload::from_raw(payload.data.map(RawValue::to_owned)),
        snapshot: false,
    }))
}

/// Reads one text frame from the client's websocket. `Ok(None)` for frames that carry no event
/// (the empty frame after a subscribe, WELCOME, and other opcodes).
pub fn parse_frame(text: &str) -> Result<Option<Event>, FrameError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    if let Some(event) = scan_event_frame(text) {
        return Ok(Some(event));
    }
    match serde_json::from_str::<WireFrame>(text) {
        Ok(WireFrame::Event(event)) => Ok(Some(event)),
        Ok(WireFrame::Other) => Ok(None),
        Err(error) if error.is_syntax() || error.is_eof() => {
            Err(FrameError::Json(error.to_string()))
        }
        Err(error) => Err(FrameError::Shape(error.to_string())),
    }
}

/// An EVENT frame `[8, topic, {data, eventType, uri}]` read in one checking pass, which also finds
/// the members of an object payload (rules read them next). `None` for any other frame and for
/// anything the checker leaves to serde_json (escaped names, a repeated field, unusual numbers
/// of elements): [`parse_frame`] then reads it with serde_json, which also words the errors.
fn scan_event_frame(text: &str) -> Option<Event> {
    use crate::rawjson::{checked_object, checked_string, checked_value, skip_ws};
    let bytes = text.as_bytes();
    let expect =
        |at: usize, byte: u8| (bytes.get(at) == Some(&byte)).then(|| skip_ws(bytes, at + 1));
    let mut at = expect(skip_ws(bytes, 0), b'[')?;
    // The opcode, exactly `8` (not `80`, not `8.0`).
    at = expect(at, b'8')?;
    at = expect(at, b',')?;
    at = skip_ws(bytes, checked_string(bytes, at)?.0);
    at = expect(at, b',')?;
    let (mut data, mut event_type, mut uri) = (None, None, None);
    let end = checked_object(text, at, 1, |name, start| {
        if name.escaped {
            return None;
        }
        match name.raw {
            "data" if data.is_none() => {
                let (end, members) = if bytes.get(start) == Some(&b'{') {
                    let object = &text[start..];
                    // Most payloads have a handful of members: one allocation, no growth.
                    let mut members = Vec::with_capacity(16);
                    let end = checked_object(text, start, 2, |name, at| {
                        let end = checked_value(text, at, 3)?;
                        members.push(Member::new(object, name, &text[at..end]));
                        Some(end)
                    })?;
                    (end, Some(members))
                } else {
                    (checked_value(text, start, 2)?, None)
                };
                data = Some((&text[start..end], members));
                Some(end)
            }
            "eventType" | "uri" => {
                let (end, escaped) = checked_string(bytes, start)?;
                if escaped {
                    return None;
                }
                let value = &text[start + 1..end - 1];
                if name.raw == "uri" && uri.is_none() {
                    uri = Some(value);
                } else if name.raw == "eventType" && event_type.is_none() {
                    event_type = Some(match value {
                        "Create" => EventType::Create,
                        "Update" => EventType::Update,
                        "Delete" => EventType::Delete,
                        _ => return None,
                    });
                } else {
                    return None;
                }
                Some(end)
            }
            "data" => None,
            _ => checked_value(text, start, 2),
        }
    })?;
    at = expect(skip_ws(bytes, end), b']')?;
    if at != bytes.len() {
        return None;
    }
    let (data, members) = data.unwrap_or(("null", None));
    Some(Event {
        uri: uri?.to_owned(),
        event_type: event_type?,
        data: Payload::from_checked(data, members),
        snapshot: false,
    })
}

/// An event read from a recording, with the time it happened (milliseconds since the Unix epoch,
/// or since the start of the recording) if the recording says.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// When, in milliseconds, if known.
    pub time_ms: Option<f64>,
    /// The event.
    pub event: Event,
}

/// Reads one line of a recorded session. Three shapes are accepted: a WAMP frame
/// `[8, topic, {data, eventType, uri}]`; an object `{uri, eventType, data}` with an optional
/// `timestamp` or `time`; and a capture entry `{timestamp, rawData: [8, ...]}`. Timestamps are
/// RFC 3339 text or milliseconds. Returns `Ok(None)` for frames that carry no event.
pub fn parse_recorded_line(line: &str) -> Result<Option<RecordedEvent>, FrameError> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| FrameError::Json(without_line(&e)))?;
    match value {
        Value::Array(_) => Ok(frame_from_value(value)?.map(|event| RecordedEvent {
            time_ms: None,
            event,
        })),
        Value::Object(mut object) => {
            let time_ms = match object.remove("timestamp").or_else(|| object.remove("time")) {
                None | Some(Value::Null) => None,
                Some(stamp) => Some(parse_timestamp(&stamp)?),
            };
            if let Some(raw) = object.remove("rawData") {
                return Ok(frame_from_value(raw)?.map(|event| RecordedEvent { time_ms, event }));
            }
            let uri = match object.remove("uri") {
                Some(Value::String(uri)) => uri,
                _ => return Err(FrameError::Shape("missing string field `uri`".into())),
            };
            let event_type = match object.remove("eventType") {
                None | Some(Value::Null) => EventType::Update,
                Some(value) => serde_json::from_value(value)
                    .map_err(|e| FrameError::Shape(format!("bad `eventType`: {e}")))?,
            };
            let data = object.remove("data").unwrap_or(Value::Null);
            Ok(Some(RecordedEvent {
                time_ms,
                event: Event::new(uri, event_type, data),
            }))
        }
        _ => Err(FrameError::Shape(
            "expected a frame array or an event object".into(),
        )),
    }
}

/// serde_json's message with its position given as a column only: a recorded line is one line.
fn without_line(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(cut) => format!("{} at column {}", &text[..cut], error.column()),
        None => text,
    }
}

fn frame_from_value(value: Value) -> Result<Option<Event>, FrameError> {
    match serde_json::from_value::<WireFrame>(value) {
        Ok(WireFrame::Event(event)) => Ok(Some(event)),
        Ok(WireFrame::Other) => Ok(None),
        Err(error) => Err(FrameError::Shape(error.to_string())),
    }
}

fn parse_timestamp(stamp: &Value) -> Result<f64, FrameError> {
    match stamp {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| FrameError::Timestamp(n.to_string())),
        Value::String(text) => {
            parse_rfc3339_ms(text).ok_or_else(|| FrameError::Timestamp(text.clone()))
        }
        other => Err(FrameError::Timestamp(other.to_string())),
    }
}

/// Milliseconds since the Unix epoch of an RFC 3339 date-time such as
/// `2025-12-08T13:30:22.9212001+11:00` (any number of fraction digits, `Z` or an offset).
pub fn parse_rfc3339_ms(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') || bytes[16] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let mut rest = &text[19..];
    let mut fraction = 0.0;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        fraction = format!("0.{}", &after_dot[..digits]).parse::<f64>().ok()?;
        rest = &after_dot[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours = rest.get(1..3)?.parse::<i64>().ok()?;
            let minutes = rest.get(4..6)?.parse::<i64>().ok()?;
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (hours * 60 + minutes)
        }
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds as f64 * 1000.0 + fraction * 1000.0)
}

/// An RFC 3339 UTC date-time with milliseconds for `ms` since the Unix epoch, e.g.
/// `2025-12-08T02:28:40.873Z` (what `record` writes).
pub fn format_rfc3339_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Reads a whole recorded session. Lines that are blank are skipped; a bad line is an error that
/// names its 1-based line number.
pub fn parse_recording(text: &str) -> Result<Vec<RecordedEvent>, (usize, FrameError)> {
    let mut events = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(event) = parse_recorded_line(line).map_err(|e| (index + 1, e))? {
            events.push(event);
        }
    }
    Ok(events)
}

/// Parses a duration such as `250ms`, `2s`, `1.5s`, `3m` or `1h`. A bare number is refused: the
/// unit is always written, so `5` can never mean five milliseconds by surprise.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{text}` has no unit: write e.g. `{text}s` or `{text}ms`"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: expected e.g. `500ms`, `2s`, `1m`"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use ms, s, m or h"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn raw_payload(text: &str) -> Payload {
        Payload::from_raw(Some(
            RawValue::from_string(text.to_string()).expect("valid JSON"),
        ))
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            "[a-c\\\\\"é \u{1f}]{0,4}|[a-z\\\\é]{6,24}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
                prop::collection::vec(("[a-c\\\\\"]{0,3}", inner), 0..5)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    fn arb_path() -> impl Strategy<Value = Vec<(Option<String>, i64)>> {
        prop::collection::vec((prop::option::of("[a-c\\\\\"]{0,3}"), -3i64..4), 0..4)
    }

    fn keys(path: &[(Option<String>, i64)]) -> Vec<PathKey<'_>> {
        path.iter()
            .map(|(key, index)| match key {
                Some(key) => PathKey::Key(key),
                None => PathKey::Index(*index),
            })
            .collect()
    }

    proptest! {
        /// Reading a plain path from the payload's text finds exactly what walking its tree
        /// finds, for any JSON (escaped keys and strings, whitespace included) and any path,
        /// present or not.
        #[test]
        fn text_lookup_agrees_with_the_tree(value in arb_json(), path in arb_path()) {
            for text in [value.to_string(), serde_json::to_string_pretty(&value).unwrap()] {
                let tree: Value = serde_json::from_str(&text).unwrap();
                let from_text = raw_payload(&text).select(keys(&path));
                let from_tree = walk_tree(&tree, keys(&path)).cloned();
                prop_assert_eq!(from_text, from_tree);
            }
        }
    }

    /// The frame the one-pass checker reads with serde_json alone, for comparison.
    fn serde_frame(text: &str) -> Option<Event> {
        match serde_json::from_str::<WireFrame>(text) {
            Ok(WireFrame::Event(event)) => Some(event),
            _ => None,
        }
    }

    fn arb_frame() -> impl Strategy<Value = String> {
        (
            arb_json(),
            prop::sample::select(vec!["Create", "Update", "Delete"]),
            "/[a-z/-]{0,12}",
            any::<bool>(),
        )
            .prop_map(|(data, event_type, uri, pretty)| {
                let payload = json!({"data": data, "eventType": event_type, "uri": uri});
                let frame = json!([8, "OnJsonApiEvent", payload]);
                match pretty {
                    true => serde_json::to_string_pretty(&frame).unwrap(),
                    false => frame.to_string(),
                }
            })
    }

    proptest! {
        /// The one-pass checker reads every frame of the client's shape (pretty-printed too),
        /// and gives the event serde_json gives; the members it found on the way lead each plain
        /// path where the tree does.
        #[test]
        fn frame_checker_agrees_with_serde(frame in arb_frame(), path in arb_path()) {
            let scanned = scan_event_frame(&frame);
            prop_assert!(scanned.is_some(), "the checker left a client frame to serde: {}", frame);
            let scanned = scanned.unwrap();
            let expected = serde_frame(&frame).unwrap();
            prop_assert_eq!(&scanned.uri, &expected.uri);
            prop_assert_eq!(scanned.event_type, expected.event_type);
            let from_text = scanned.data.select(keys(&path));
            prop_assert_eq!(from_text, walk_tree(expected.data.value(), keys(&path)).cloned());
            prop_assert_eq!(scanned.data.value(), expected.data.value());
        }

        /// A frame the checker accepts, however mangled, is one serde_json reads the same way:
        /// it never lets through what serde_json would reject.
        #[test]
        fn frame_checker_accepts_only_what_serde_reads(
            frame in arb_frame(),
            cuts in prop::collection::vec((any::<prop::sample::Index>(), "[\\[\\]{}\",:0-9eE.+\\-tfnul \\\\\u{1}xé]{0,2}"), 1..4),
        ) {
            let mut text = frame;
            for (at, insert) in cuts {
                let mut at = at.index(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let end = (at + 1..=text.len()).find(|&e| text.is_char_boundary(e)).unwrap_or(text.len());
                text.replace_range(at..end, &insert);
            }
            if let Some(scanned) = scan_event_frame(&text) {
                let expected = serde_frame(&text);
                prop_assert!(expected.is_some(), "the checker accepted what serde rejects: {}", text);
                let expected = expected.unwrap();
                prop_assert_eq!(&scanned.uri, &expected.uri);
                prop_assert_eq!(scanned.data.value(), expected.data.value());
            }
        }
    }

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

    /// Frames of other shapes are left to serde_json, which reads or rejects them as before.
    #[test]
    fn frame_checker_leaves_other_shapes_to_serde() {
        for frame in [
            r#"[80,"t",{"eventType":"Update","uri":"/a"}]"#,
            r#"[8.0,"t",{"eventType":"Update","uri":"/a"}]"#,
            r#"[8,"t",{"eventType":"Update","uri":"/a"},1]"#,
            r#"[8,"t",{"eventType":"Update","uri":"/a\/b"}]"#,
            r#"[8,"t",{"eventType":"Update","uri":"/a","uri":"/b"}]"#,
            r#"[8,"t",{"data":1,"data":2,"eventType":"Update","uri":"/a"}]"#,
            r#"[8,"t",{"d\u0061ta":1,"eventType":"Update","uri":"/a"}]"#,
            r#"[8,"t",{"data":"\ud83d\ude00","eventType":"Update","uri":"/a"}]"#,
            r#"[8,"t",{"eventType":"Updated","uri":"/a"}]"#,
            r#"[8,"t",{"data":01,"eventType":"Update","uri":"/a"}]"#,
            r#"[8,"t",{"data":"a	b","eventType":"Update","uri":"/a"}]"#,
        ] {
            assert!(scan_event_frame(frame).is_none(), "{frame}");
        }
        let ok = r#" [ 8 , "t" , { "data" : { "a" : [ 1 , -2.5e+3 , true , null ] } , "eventType" : "Delete" , "uri" : "/a" } ] "#;
        let event = scan_event_frame(ok).unwrap();
        assert_eq!(event.data, json!({"a": [1, -2500.0, true, null]}));
        assert_eq!(event.event_type, EventType::Delete);
        assert_eq!(
            parse_frame(r#"[8,"t",{"eventType":"Update","uri":"/a\/b"}]"#)
                .unwrap()
                .unwrap()
                .uri,
            "/a/b"
        );
    }

    /// A payload read as text stays text until the tree is asked for; the last of repeated keys
    /// wins in both; a missing payload is `null`.
    #[test]
    fn payload_builds_its_tree_only_when_asked() {
        let text = r#"{"state":"InProgress","a":{"k":1},"a":{"k":2},"list":[1,2,3]}"#;
        let payload = Payload::from_raw(Some(RawValue::from_string(text.into()).unwrap()));
        assert_eq!(
            payload.select([PathKey::Key("state")]),
            Some(json!("InProgress"))
        );
        assert_eq!(
            payload.select([PathKey::Key("a"), PathKey::Key("k")]),
            Some(json!(2))
        );
        assert_eq!(
            payload.select([PathKey::Key("list"), PathKey::Index(-1)]),
            Some(json!(3))
        );
        assert!(!payload.has_tree());
        assert_eq!(payload["a"]["k"], json!(2));
        assert!(payload.has_tree());
        assert_eq!(Payload::from_raw(None), Value::Null);
        assert_eq!(
            serde_json::to_string(&payload).unwrap(),
            r#"{"state":"InProgress","a":{"k":2},"list":[1,2,3]}"#
        );
        let untouched = Payload::from_raw(Some(RawValue::from_string(text.into()).unwrap()));
        assert_eq!(serde_json::to_string(&untouched).unwrap(), text);
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

    /// All three recorded-line shapes read, with their timestamps.
    #[test]
    fn recorded_lines_in_every_shape() {
        let plain =
            parse_recorded_line(r#"{"uri":"/a","eventType":"Create","data":1,"time":1500}"#)
                .unwrap()
                .unwrap();
        assert_eq!(plain.time_ms, Some(1500.0));
        assert_eq!(plain.event.event_type, EventType::Create);
        let capture = parse_recorded_line(
            r#"{"timestamp":"1970-01-01T00:00:01.5Z","rawData":[8,"t",{"data":2,"eventType":"Update","uri":"/b"}]}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(capture.time_ms, Some(1500.0));
        assert_eq!(capture.event.uri, "/b");
        let untyped = parse_recorded_line(r#"{"uri":"/c","eventType":null,"data":{}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(untyped.event.event_type, EventType::Update);
    }

    /// RFC 3339 with offsets and long fractions converts to epoch milliseconds.
    #[test]
    fn rfc3339_round_trip() {
        for ms in [0i64, 1_765_160_920_873, 951_782_400_000, 4_102_444_799_999] {
            let text = format_rfc3339_ms(ms);
            assert_eq!(parse_rfc3339_ms(&text), Some(ms as f64), "{text}");
        }
        assert_eq!(
            format_rfc3339_ms(1_765_160_920_873),
            "2025-12-08T02:28:40.873Z"
        );
    }

    #[test]
    fn rfc3339_with_offset() {
        let a = parse_rfc3339_ms("2025-12-08T13:30:22.9212001+11:00").unwrap();
        let b = parse_rfc3339_ms("2025-12-08T02:30:22.9212001Z").unwrap();
        assert!((a - b).abs() < 1e-6);
        assert_eq!(
            parse_rfc3339_ms("2000-01-01T00:00:00Z"),
            Some(946_684_800_000.0)
        );
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    /// Durations need a unit.
    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("5 parsecs").is_err());
    }
}
