//! The committed JSON Schema and the editor modeline of every example.

use crate::util::rules_dir;

/// `schemas/rules.schema.json` is exactly what the code generates; regenerate it with
/// `cargo run -- schema > schemas/rules.schema.json` after changing the rule types.
#[test]
fn committed_schema_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/rules.schema.json");
    let committed = std::fs::read_to_string(path).expect("schemas/rules.schema.json exists");
    assert!(
        committed == lcu_rules::language::json_schema(),
        "schemas/rules.schema.json is stale: run `cargo run -- schema > schemas/rules.schema.json`"
    );
}

/// Every example starts with the modeline that gives VS Code completion.
#[test]
fn every_example_has_the_schema_modeline() {
    for entry in std::fs::read_dir(rules_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with("# yaml-language-server: $schema=../schemas/rules.schema.json\n"),
                "{} lacks the modeline",
                path.display()
            );
        }
    }
}

/// Trigger URIs complete from the URIs the client sends events for, the flagship's first, as
/// examples (any pattern stays valid); the schema holds nothing a strict validator refuses
/// (`.ci/schema-check` runs ajv) and offers no default that means "none".
#[test]
fn trigger_uris_complete_from_the_uris_with_events() {
    let schema: serde_json::Value =
        serde_json::from_str(&lcu_rules::language::json_schema()).unwrap();
    let uri = &schema["$defs"]["EventUri"];
    assert_eq!(uri["pattern"], "^(/|manual$)", "a URI, or `manual`");
    assert!(
        uri.get("enum").is_none(),
        "URIs are examples, not a closed list"
    );
    let examples = uri["examples"].as_array().unwrap();
    assert_eq!(examples[0], "/lol-matchmaking/v1/ready-check");
    assert!(examples.iter().any(|u| u == "/lol-champ-select/v1/session"));
    // The index has about 1,500 resources and topics; only those with events are offered.
    assert!(examples.len() < 1200, "{} URIs offered", examples.len());
    let index = lcu_rules::language::ApiIndex::embedded();
    for example in examples.iter().take(12) {
        let example = example.as_str().unwrap();
        assert!(
            index.resources.contains_key(example),
            "{example} is a resource of the client"
        );
    }
    let on = &schema["$defs"]["TriggerFields"]["properties"]["uri"];
    assert_eq!(on["$ref"], "#/$defs/EventUri");
    let text = lcu_rules::language::json_schema();
    assert!(!text.contains("\"format\": \"uint"), "no Rust-only formats");
    assert!(
        !text.contains("\"default\": null") && !text.contains("\"default\": 0"),
        "no defaults that mean none"
    );
}
