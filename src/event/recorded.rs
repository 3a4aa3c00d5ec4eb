//! Recorded sessions: JSONL files of events, one per line, as `record` writes them and as captures
//! from other tools store them; and the replay clock their times are placed on.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{Event, EventType, FrameError};

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
        Value::Array(_) => Ok(super::frame::from_value(value)?.map(|event| RecordedEvent {
            time_ms: None,
            event,
        })),
        Value::Object(mut object) => {
            let time_ms = match object.remove("timestamp").or_else(|| object.remove("time")) {
                None | Some(Value::Null) => None,
                Some(stamp) => Some(parse_timestamp(&stamp)?),
            };
            if let Some(raw) = object.remove("rawData") {
                return Ok(
                    super::frame::from_value(raw)?.map(|event| RecordedEvent { time_ms, event })
                );
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

/// An event at a moment of a replay.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedEvent {
    /// From the start of the replay.
    pub at: Duration,
    /// The event.
    pub event: Event,
}

/// Reads a JSONL recording; the error names the file and line.
pub fn read_recording(path: &Path) -> Result<Vec<RecordedEvent>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    parse_recording(&text).map_err(|(line, error)| format!("{}:{line}: {error}", path.display()))
}

/// Places recorded events on the replay clock, starting at `start`: times are kept relative to
/// the first timed event; an event without a time happens with the one before it.
pub fn timed(recorded: Vec<RecordedEvent>, start: Duration) -> Vec<TimedEvent> {
    let first = recorded.iter().find_map(|r| r.time_ms);
    let mut clock = start;
    recorded
        .into_iter()
        .map(|r| {
            if let (Some(t), Some(t0)) = (r.time_ms, first) {
                clock = start + Duration::from_secs_f64(((t - t0).max(0.0)) / 1000.0);
            }
            TimedEvent {
                at: clock,
                event: r.event,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
