//! The JSON Schema of the rule file format, generated from [`crate::language::spec`]'s types and
//! completed with the trigger URIs the API index knows (editor completion for `on:`). Kept apart
//! from the format so the format knows nothing of the API index.

use serde_json::Value;

use crate::language::spec::RuleFile;

/// The JSON Schema of the rule file format, as committed in `schemas/rules.schema.json`. Trigger
/// URIs complete from the URIs the client is known to send events for (the API index's
/// resources and topics); any other pattern stays valid.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RuleFile);
    let mut value = serde_json::to_value(&schema).unwrap_or_default();
    add_known_event_uris(&mut value);
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// Adds `$defs/KnownEventUri` and offers it wherever a trigger URI is written.
fn add_known_event_uris(schema: &mut Value) {
    let index = crate::language::api::ApiIndex::embedded();
    let mut uris: Vec<&str> = index
        .resources
        .keys()
        .map(String::as_str)
        .chain(index.topics.iter().map(String::as_str))
        .collect();
    uris.sort_unstable();
    uris.dedup();
    let known = serde_json::json!({
        "description": "A URI the League client is known to send events for (from the LCU schema and topic list in schemas/lcu-api-index.json).",
        "enum": uris,
    });
    let uri_schema = serde_json::json!({
        "anyOf": [
            {"$ref": "#/$defs/KnownEventUri"},
            {"type": "string", "pattern": "^/", "description": "Any URI pattern: literal segments, `{name}`, `*`, and a final `**`."}
        ]
    });
    let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) else {
        return;
    };
    defs.insert("KnownEventUri".into(), known);
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
