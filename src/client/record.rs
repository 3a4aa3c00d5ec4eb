//! `lcu-rules record`: the client's event stream written as it comes, one capture entry per line
//! (`{"timestamp", "rawData": [8, topic, {data, eventType, uri}]}`, the shape `test --events`,
//! `explain --events` and the simulated client read). With `--redact`, personal data is replaced
//! by stable pseudonyms: the same value always becomes the same pseudonym, in payloads and URIs
//! alike, so a shared capture still replays the same way.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::client::http::LivePort;
use crate::client::live::{FIREHOSE, LiveOptions, Status, maintain};
use crate::event::{Event, format_rfc3339_ms};

/// What a recording wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// Events written.
    pub events: u64,
    /// Distinct personal values replaced (with `--redact`).
    pub pseudonyms: usize,
}

/// Records every event of the client found through `options` to `out` until `stop`; each line
/// is flushed as it is written, so an interrupted recording loses nothing.
pub async fn record<W: Write + Send + 'static>(
    mut options: LiveOptions,
    mut out: W,
    redact: bool,
    stop: CancellationToken,
) -> std::io::Result<RecordSummary> {
    options.interest = None;
    options.resync = Vec::new();
    let (events_tx, mut events) = mpsc::channel(1024);
    let (status_tx, _status) = watch::channel(Status::Waiting);
    let connection = tokio::spawn(maintain(
        options,
        Arc::new(LivePort::default()),
        events_tx,
        status_tx,
        stop.clone(),
    ));
    let mut redactor = redact.then(Redactor::default);
    let mut summary = RecordSummary::default();
    while let Some(event) = events.recv().await {
        let event = match &mut redactor {
            Some(redactor) => redactor.event(event),
            None => event,
        };
        let line = capture_line(&event, now_ms());
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()?;
        summary.events += 1;
    }
    let _ = connection.await;
    summary.pseudonyms = redactor.map(|r| r.replaced()).unwrap_or_default();
    Ok(summary)
}

/// One capture entry for `event` at `ms` since the Unix epoch.
pub(crate) fn capture_line(event: &Event, ms: i64) -> String {
    json!({
        "timestamp": format_rfc3339_ms(ms),
        "rawData": [8, FIREHOSE, {
            "data": event.data,
            "eventType": event.event_type.as_str(),
            "uri": event.uri,
        }],
    })
    .to_string()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// What kind of personal value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// A name people see (summoner name, Riot ID game name, display name).
    Name,
    /// A Riot ID tag line.
    Tag,
    /// An opaque id (PUUID, summoner id, account id, chat id).
    Id,
    /// A credential (auth, id and access tokens, passwords, cookies): never kept in any form.
    Secret,
    /// What a player wrote (chat messages, notes, status messages).
    Text,
    /// The account's login name or e-mail address.
    Login,
}

/// The kind of personal value a field named `key` holds, if any.
fn personal_field(key: &str) -> Option<Kind> {
    let key = key.to_ascii_lowercase();
    let key = key.as_str();
    if [
        "token",
        "password",
        "secret",
        "cookie",
        "authorization",
        "jwt",
        "credential",
    ]
    .iter()
    .any(|word| key.contains(word))
    {
        return Some(Kind::Secret);
    }
    if matches!(
        key,
        "body" | "note" | "notes" | "statusmessage" | "message" | "text"
    ) {
        return Some(Kind::Text);
    }
    if matches!(key, "username" | "login" | "email" | "emailaddress") {
        return Some(Kind::Login);
    }
    if key.contains("puuid")
        || matches!(
            key,
            "summonerid"
                | "accountid"
                | "playerid"
                | "currentaccountid"
                | "obfuscatedsummonerid"
                | "obfuscatedaccountid"
                | "pid"
                | "id_token"
        )
    {
        return Some(Kind::Id);
    }
    if matches!(key, "tagline" | "gametag" | "riotidtagline") {
        return Some(Kind::Tag);
    }
    if matches!(
        key,
        "summonername"
            | "gamename"
            | "displayname"
            | "internalname"
            | "riotidgamename"
            | "riotid"
            | "playername"
            | "lol.gamename"
    ) {
        return Some(Kind::Name);
    }
    None
}

/// Replaces personal data with stable pseudonyms: by field name, every UUID wherever it appears,
/// and every value already known wherever it appears again (URIs, other strings).
#[derive(Default)]
pub(crate) struct Redactor {
    /// Original text → pseudonym, for strings and numbers (as text).
    known: HashMap<String, String>,
    counts: HashMap<Kind, usize>,
}

impl Redactor {
    /// The event with its personal data replaced.
    pub(crate) fn event(&mut self, mut event: Event) -> Event {
        self.learn(&event.data, None);
        for segment in event.uri.split('/') {
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            self.learn_ids_in(&decoded);
        }
        event.data = self.replace(event.data.into_value(), None).into();
        event.uri = event
            .uri
            .split('/')
            .map(|segment| {
                let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
                let replaced = self.replace_text(&decoded);
                if replaced == decoded {
                    segment.to_string()
                } else if segment.contains("%40") {
                    // A chat address, written encoded as the client writes it.
                    replaced.replace('@', "%40")
                } else {
                    replaced
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        event
    }

    /// How many distinct values were replaced.
    pub(crate) fn replaced(&self) -> usize {
        self.known.len()
    }

    /// Registers the personal values of `value` (found under `key`).
    fn learn(&mut self, value: &Value, kind: Option<Kind>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    self.learn(inner, personal_field(key));
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.learn(item, kind);
                }
            }
            Value::String(text) if !text.is_empty() => {
                if let Some(kind) = kind {
                    self.pseudonym(text, kind);
                } else if is_jwt(text) {
                    self.pseudonym(text, Kind::Secret);
                } else {
                    self.learn_ids_in(text);
                }
            }
            Value::Number(number) => {
                if let Some(kind) = kind
                    && number.as_i64().is_some_and(|n| n != 0)
                {
                    self.pseudonym(&number.to_string(), kind);
                }
            }
            _ => {}
        }
    }

    /// Registers `text` as an id when it is one (a UUID or a PUUID), or the part of a chat
    /// address before its `@` when that is.
    fn learn_ids_in(&mut self, text: &str) {
        let local = text.split_once('@').map_or(text, |(local, _)| local);
        for candidate in [text, local] {
            if is_uuid(candidate) || is_opaque_id(candidate) {
                self.pseudonym(candidate, Kind::Id);
            }
        }
    }

    fn pseudonym(&mut self, original: &str, kind: Kind) -> String {
        if let Some(known) = self.known.get(original) {
            return known.clone();
        }
        let count = self.counts.entry(kind).or_insert(0);
        *count += 1;
        let n = *count;
        let pseudonym = match kind {
            Kind::Name => format!("Player{n}"),
            Kind::Tag => format!("TAG{n}"),
            Kind::Id if is_uuid(original) => format!("00000000-0000-4000-8000-{n:012}"),
            Kind::Id if original.bytes().all(|b| b.is_ascii_digit()) => (1_000_000 + n).to_string(),
            Kind::Id => format!("id-{n}"),
            Kind::Secret => format!("redacted-secret-{n}"),
            Kind::Text => format!("redacted-text-{n}"),
            Kind::Login => format!("login-{n}"),
        };
        self.known.insert(original.to_string(), pseudonym.clone());
        pseudonym
    }

    fn replace(&self, value: Value, key: Option<&str>) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = self.replace(v, Some(&k));
                        (k, v)
                    })
                    .collect::<Map<String, Value>>(),
            ),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.replace(v, key)).collect())
            }
            Value::String(text) => Value::String(self.replace_text(&text)),
            Value::Number(number) => {
                let personal = key.and_then(personal_field).is_some();
                match self.known.get(&number.to_string()) {
                    Some(pseudonym) if personal => pseudonym
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::String(pseudonym.clone())),
                    _ => Value::Number(number),
                }
            }
            other => other,
        }
    }

    /// The text with every known value in it replaced (whole values, and known names or ids
    /// inside longer strings such as `name#tag` or chat ids).
    fn replace_text(&self, text: &str) -> String {
        if let Some(pseudonym) = self.known.get(text) {
            return pseudonym.clone();
        }
        // A Riot ID written whole: tags are too short to look for inside other text.
        if let Some((name, tag)) = text.split_once('#')
            && let (Some(name), Some(tag)) = (self.known.get(name), self.known.get(tag))
        {
            return format!("{name}#{tag}");
        }
        let mut out = text.to_string();
        // Longest first, so that an id is not half-replaced through a shorter one inside it.
        let mut known: Vec<(&String, &String)> = self.known.iter().collect();
        known.sort_by_key(|(original, _)| std::cmp::Reverse(original.len()));
        for (original, pseudonym) in known {
            if original.len() >= 4
                && !original.bytes().all(|b| b.is_ascii_digit())
                && out.contains(original.as_str())
            {
                out = out.replace(original.as_str(), pseudonym);
            }
        }
        out
    }
}

/// Whether `text` looks like a PUUID as the client writes them (78 characters of URL-safe
/// base64): 40 or more such characters, letters and digits both.
fn is_opaque_id(text: &str) -> bool {
    text.len() >= 40
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && text.bytes().any(|b| b.is_ascii_digit())
        && text.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Whether `text` is a JSON Web Token (the client's id and access tokens).
fn is_jwt(text: &str) -> bool {
    text.starts_with("eyJ") && text.matches('.').count() == 2 && !text.contains(' ')
}

/// Whether `text` is a UUID (`8-4-4-4-12` hex digits).
fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventType;

    const PUUID: &str = "3f1c2a9e-7b4d-4c1e-9a2f-0d8e6b5c4a31";

    /// Names, tags, PUUIDs and numeric ids are replaced, the same way every time, in payloads,
    /// URIs and inside other strings; game data is left alone.
    #[test]
    fn stable_pseudonyms_everywhere() {
        let mut redactor = Redactor::default();
        let summoner = redactor.event(Event::new(
            "/lol-summoner/v1/current-summoner",
            EventType::Update,
            json!({"gameName": "Hide on bush", "tagLine": "KR1", "puuid": PUUID,
                   "summonerId": 4_512_001, "accountId": 2_001_337, "summonerLevel": 512,
                   "displayName": "Hide on bush"}),
        ));
        assert_eq!(
            summoner.data,
            json!({"gameName": "Player1", "tagLine": "TAG1",
                   "puuid": "00000000-0000-4000-8000-000000000001",
                   "summonerId": 1_000_002, "accountId": 1_000_003, "summonerLevel": 512,
                   "displayName": "Player1"})
        );
        let friend = redactor.event(Event::new(
            format!("/lol-chat/v1/friends/{PUUID}"),
            EventType::Update,
            json!({"id": format!("{PUUID}@eu1.pvp.net"), "note": "Hide on bush#KR1",
                   "championId": 4_512_001}),
        ));
        assert_eq!(
            friend.uri,
            "/lol-chat/v1/friends/00000000-0000-4000-8000-000000000001"
        );
        assert_eq!(
            friend.data,
            json!({"id": "00000000-0000-4000-8000-000000000001@eu1.pvp.net",
                   "note": "redacted-text-1", "championId": 4_512_001})
        );
        assert_eq!(redactor.replaced(), 6);
    }

    /// Credentials, what players write, the login name and the client's own 78-character PUUIDs
    /// (in payloads, URIs and chat addresses) leave no trace.
    #[test]
    fn tokens_chat_logins_and_opaque_puuids_are_removed() {
        let puuid =
            "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5zA7bC9dE1fG3hI5jK7lM9nO1pQ3rS5tU7vW9xY1zA3bC5";
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let mut redactor = Redactor::default();
        let login = redactor.event(Event::new(
            "/lol-login/v1/session",
            EventType::Update,
            json!({"username": "secret.player", "idToken": "abc.def.ghi",
                   "accessToken": {"token": "opaque-access-token"}, "puuid": puuid,
                   "state": "SUCCEEDED", "extra": jwt}),
        ));
        let message = redactor.event(Event::new(
            format!("/lol-chat/v1/conversations/{}%40pvp.net/messages", &puuid[..60]),
            EventType::Create,
            json!({"body": "meet me at 5, my number is 0123", "fromId": format!("{}@pvp.net", &puuid[..60]),
                   "type": "chat"}),
        ));
        let text = format!(
            "{} {} {} {}",
            serde_json::to_string(&login.data).unwrap(),
            login.uri,
            serde_json::to_string(&message.data).unwrap(),
            message.uri
        );
        for personal in [
            "secret.player",
            "abc.def.ghi",
            "opaque-access-token",
            puuid,
            &puuid[..60],
            jwt,
            "meet me",
        ] {
            assert!(!text.contains(personal), "{personal} left in {text}");
        }
        assert_eq!(login.data["state"], "SUCCEEDED");
        assert_eq!(message.data["type"], "chat");
        assert!(
            message.uri.starts_with("/lol-chat/v1/conversations/id-"),
            "{}",
            message.uri
        );
    }

    /// The real champion-select capture (`../shared/lcu-data`, where it is; CI has it): no
    /// player's PUUID, name, tag or summoner id and no chat token is left, and the game data is.
    #[test]
    fn a_real_capture_keeps_nothing_personal() {
        let capture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/lcu-data/events/champ-select-frames.rez-20251208_132711.jsonl");
        let Ok(text) = std::fs::read_to_string(&capture) else {
            assert!(
                std::env::var_os("LCU_RULES_REQUIRE_SCHEMA_DUMP").is_none(),
                "{capture:?} is missing"
            );
            return;
        };
        let mut redactor = Redactor::default();
        let mut personal: Vec<String> = Vec::new();
        let mut written = String::new();
        let mut champions = Vec::new();
        for line in text.lines() {
            let Ok(Some(event)) = crate::client::wamp::parse_frame(line) else {
                continue;
            };
            let data = event.data.value().clone();
            for team in ["myTeam", "theirTeam"] {
                for player in data[team].as_array().into_iter().flatten() {
                    for field in ["puuid", "gameName", "tagLine"] {
                        if let Some(value) = player[field].as_str().filter(|v| v.len() >= 2) {
                            personal.push(value.to_string());
                        }
                    }
                    if let Some(id) = player["summonerId"].as_i64().filter(|id| *id > 0) {
                        personal.push(format!("\"summonerId\":{id}"));
                    }
                }
            }
            if let Some(jwt) = data
                .pointer("/chatDetails/mucJwtDto/jwt")
                .and_then(Value::as_str)
            {
                personal.push(jwt.to_string());
            }
            champions.push(data["myTeam"][0]["championId"].clone());
            let redacted = redactor.event(event);
            assert_eq!(
                redacted.data["myTeam"][0]["championId"],
                *champions.last().unwrap()
            );
            written.push_str(&capture_line(&redacted, 0));
        }
        assert!(personal.len() > 10, "the capture has players");
        for value in &personal {
            assert!(
                !written.contains(value.as_str()),
                "{value} left in the recording"
            );
        }
    }

    #[test]
    fn capture_lines_read_back() {
        let event = Event::new("/x", EventType::Delete, Value::Null);
        let line = capture_line(&event, 1_765_160_920_873);
        let read = crate::event::parse_recorded_line(&line).unwrap().unwrap();
        assert_eq!(read.event.uri, "/x");
        assert_eq!(read.event.event_type, EventType::Delete);
        assert_eq!(read.time_ms, Some(1_765_160_920_873.0));
    }
}
