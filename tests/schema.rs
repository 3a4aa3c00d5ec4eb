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

/// Trigger URIs complete from the URIs the client sends events for, and any pattern stays valid.
#[test]
fn trigger_uris_complete_from_the_clients_api() {
    let schema: serde_json::Value =
        serde_json::from_str(&lcu_rules::language::json_schema()).unwrap();
    let known = schema["$defs"]["KnownEventUri"]["enum"].as_array().unwrap();
    for uri in [
        "/lol-matchmaking/v1/ready-check",
        "/lol-gameflow/v1/gameflow-phase",
        "/lol-champ-select/v1/session",
    ] {
        assert!(known.iter().any(|u| u == uri), "{uri} is offered");
    }
    let branches = schema["$defs"]["TriggerFields"]["properties"]["uri"]["anyOf"]
        .as_array()
        .unwrap();
    assert_eq!(branches[0]["$ref"], "#/$defs/KnownEventUri");
    assert_eq!(branches[1]["pattern"], "^/");
}
