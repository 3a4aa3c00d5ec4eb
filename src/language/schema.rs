//! The JSON Schema of the rule file format, generated from [`crate::language::spec`]'s types and
//! completed with the trigger URIs the API index knows (editor completion for `on:`). Kept apart
//! from the format so the format knows nothing of the API index.
//!
//! The schema is valid under a strict draft 2020-12 validator (`.ci/schema-check` runs ajv in
//! strict mode): schemars' Rust-only `format`s (`uint16`, `uint32`) become `minimum`/`maximum`,
//! and defaults that mean "none" (`null`, `0`) are left out so editors do not offer them.

use serde_json::Value;

use crate::language::spec::RuleFile;

/// The JSON Schema of the rule file format, as committed in `schemas/rules.schema.json`. Trigger
/// URIs complete from the URIs the client is known to send events for (the API index's
/// resources and topics); any other pattern stays valid.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RuleFile);
    let mut value = serde_json::to_value(&schema).unwrap_or_default();
    make_strict(&mut value);
    add_known_event_uris(&mut value);
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// The trigger URIs a rule is most likely to want, offered first (each is a resource of the API
/// index that the client sends events for).
const RULE_URIS: [&str; 12] = [
    "/lol-matchmaking/v1/ready-check",
    "/lol-gameflow/v1/gameflow-phase",
    "/lol-gameflow/v1/session",
    "/lol-champ-select/v1/session",
    "/lol-lobby/v2/lobby",
    "/lol-matchmaking/v1/search",
    "/lol-lobby/v2/received-invitations",
    "/lol-honor-v2/v1/ballot",
    "/lol-pre-end-of-game/v1/currentSequenceEvent",
    "/lol-end-of-game/v1/eog-stats-block",
    "/lol-summoner/v1/current-summoner",
    "/lol-chat/v1/me",
];

/// The URIs editors offer for `on:`: [`RULE_URIS`], then every websocket topic of the API index
/// and every resource below one (the URIs the client is known to send events for), sorted. They
/// are `examples`, not an `enum`: any pattern starting with `/` is valid.
pub(crate) fn event_uri_examples() -> Vec<String> {
    let index = crate::language::api::ApiIndex::embedded();
    let under_topic = |uri: &str| {
        index.topics.iter().any(|topic| {
            uri.strip_prefix(topic.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    };
    let mut rest: Vec<&str> = index
        .topics
        .iter()
        .map(String::as_str)
        .chain(
            index
                .resources
                .keys()
                .map(String::as_str)
                .filter(|u| under_topic(u)),
        )
        .filter(|uri| !RULE_URIS.contains(uri))
        .collect();
    rest.sort_unstable();
    rest.dedup();
    RULE_URIS
        .iter()
        .copied()
        .chain(rest)
        .map(String::from)
        .collect()
}

/// Rewrites what schemars writes that a strict validator refuses or an editor would offer wrongly.
fn make_strict(node: &mut Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(format)) = map.get("format") {
                let maximum = match format.as_str() {
                    "uint8" => Some(u64::from(u8::MAX)),
                    "uint16" => Some(u64::from(u16::MAX)),
                    "uint32" => Some(u64::from(u32::MAX)),
                    "uint64" | "uint" => Some(u64::MAX),
                    _ => None,
                };
                if maximum.is_some()
                    || format.starts_with("int")
                    || format.starts_with("double")
                    || format.starts_with("float")
                {
                    map.remove("format");
                }
                if let Some(maximum) = maximum {
                    map.insert("minimum".into(), 0.into());
                    map.insert("maximum".into(), maximum.into());
                }
            }
            if matches!(map.get("default"), Some(Value::Null))
                || map.get("default") == Some(&Value::from(0))
            {
                map.remove("default");
            }
            map.values_mut().for_each(make_strict);
        }
        Value::Array(items) => items.iter_mut().for_each(make_strict),
        _ => {}
    }
}

/// Adds `$defs/EventUri` and uses it wherever a trigger URI is written.
fn add_known_event_uris(schema: &mut Value) {
    let uri_schema = serde_json::json!({"$ref": "#/$defs/EventUri"});
    let known = serde_json::json!({
        "description": "A URI pattern: literal segments, `{name}`, `*`, and a final `**`; or `manual` (the rule runs when asked). The examples are the URIs the League client is known to send events for (schemas/lcu-api-index.json), the most used first.",
        "type": "string",
        "pattern": "^(/|manual$)",
        "examples": event_uri_examples(),
    });
    let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) else {
        return;
    };
    defs.insert("EventUri".into(), known);
    if let Some(branches) = defs
        .get_mut("Trigger")
        .and_then(|t| t.get_mut("anyOf"))
        .and_then(Value::as_array_mut)
        && let Some(first) = branches.first_mut()
    {
        let description = first.get("description").cloned();
        *first = uri_schema.clone();
        if let Some(description) = description {
            first["description"] = description;
        }
    }
    if let Some(uri) = defs
        .get_mut("TriggerFields")
        .and_then(|t| t.pointer_mut("/properties/uri"))
    {
        let description = uri.get("description").cloned();
        *uri = uri_schema;
        if let Some(description) = description {
            uri["description"] = description;
        }
    }
}
