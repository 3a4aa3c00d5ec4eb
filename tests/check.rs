//! `lcu-rules check` as a user runs it: the examples are clean, and every kind of mistake is
//! reported with its code, line and column (and hint), all of them in one pass.

use serde_json::Value;

use crate::util::{Dir, lcu_rules};

/// Runs `check --format json` on one file (with or without the API checks) and returns its
/// diagnostics.
fn diagnostics(text: &str, api_checks: bool) -> Vec<Value> {
    let dir = Dir::new();
    let file = dir.file("rule.yaml", text);
    let mut args = vec!["check", "--format", "json"];
    if !api_checks {
        args.push("--no-api-checks");
    }
    let path = file.to_str().unwrap();
    args.push(path);
    let output = lcu_rules(&args);
    let parsed: Value =
        serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", output.stdout));
    assert_eq!(parsed["version"], 1, "{parsed:#}");
    assert_eq!(parsed["command"], "check", "{parsed:#}");
    parsed["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Diagnostics of the rule format itself (no API checks).
fn diagnostics_of(text: &str) -> Vec<Value> {
    diagnostics(text, false)
}

/// Diagnostics with the checks against the client's API.
fn api_diagnostics(text: &str) -> Vec<Value> {
    diagnostics(text, true)
}

/// Asserts that `found` is exactly one diagnostic with this code and position, and returns it.
fn one(found: Vec<Value>, code: &str, line: u64, column: u64) -> Value {
    assert_eq!(found.len(), 1, "expected one diagnostic, got {found:#?}");
    let d = &found[0];
    assert_eq!(
        (
            d["code"].as_str().unwrap(),
            d["line"].as_u64().unwrap(),
            d["column"].as_u64().unwrap()
        ),
        (code, line, column),
        "{d:#?}"
    );
    d.clone()
}

/// `one` for a rule-format diagnostic of `text`.
fn check_one(text: &str, code: &str, line: u64, column: u64) -> Value {
    one(diagnostics_of(text), code, line, column)
}

fn hint(d: &Value) -> &str {
    d["hint"].as_str().unwrap_or("")
}

/// Every shipped example rule checks clean, warnings included.
#[test]
fn examples_are_clean() {
    let output = lcu_rules(&["check", "--deny-warnings", "rules"]);
    assert_eq!(output.code, 0, "{}{}", output.stdout, output.stderr);
    assert!(
        output.stdout.contains("0 error(s), 0 warning(s)"),
        "{}",
        output.stdout
    );
}

#[test]
fn e100_yaml_syntax() {
    check_one("rules: [\n", "E100", 2, 1);
}

#[test]
fn e101_duplicate_key() {
    let d = check_one(
        "rules:\n  - id: r\n    id: s\n    on: /a\n    do: [{log: hi}]\n",
        "E101",
        3,
        5,
    );
    assert_eq!(hint(&d), "it was already given at line 2; keep one of them");
}

#[test]
fn e102_unknown_field_suggests_the_right_one() {
    let d = check_one(
        "rules:\n  - id: r\n    on: /a\n    whne: []\n    do: [{log: hi}]\n",
        "E102",
        4,
        5,
    );
    assert_eq!(hint(&d), "did you mean `when`?");
    let d = check_one(
        "rules:\n  - id: r\n    on: /a\n    when:\n      - path: $.data.state\n        equal: InProgress\n    do: [{log: hi}]\n",
        "E102",
        6,
        9,
    );
    assert_eq!(hint(&d), "did you mean `equals`?");
}

#[test]
fn e103_invalid_value_lists_the_choices() {
    let d = check_one(
        "rules:\n  - id: r\n    on: {uri: /a, types: [Updated]}\n    do: [{log: hi}]\n",
        "E103",
        3,
        27,
    );
    assert!(hint(&d).starts_with("did you mean `Update`?"), "{d}");
    check_one(
        "rules:\n  - id: r\n    on: /a\n    do:\n      - request: FETCH /x\n",
        "E103",
        5,
        18,
    );
}

#[test]
fn e104_missing_field() {
    let d = check_one("rules:\n  - id: r\n    on: /a\n", "E104", 2, 5);
    assert!(d["message"].as_str().unwrap().contains("`do`"));
}

#[test]
fn e105_missing_file() {
    let output = lcu_rules(&["check", "--format", "json", "no/such/rules.yaml"]);
    assert_eq!(output.code, 1);
    assert!(output.stdout.contains("E105"), "{}", output.stdout);
}

#[test]
fn e200_duplicate_ids_across_files() {
    let dir = Dir::new();
    dir.file(
        "a.yaml",
        "rules:\n  - id: same\n    on: /a\n    do: [{log: a}]\n",
    );
    dir.file("b.yaml", "rules:\n  - id: other\n    on: /b\n    do: [{log: b}]\n  - id: same\n    on: /c\n    do: [{log: c}]\n");
    let output = lcu_rules(&[
        "check",
        "--no-api-checks",
        "--format",
        "json",
        dir.path().to_str().unwrap(),
    ]);
    let found: Value = serde_json::from_str(&output.stdout).unwrap();
    let found = found["diagnostics"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["code"], "E200");
    assert!(found[0]["file"].as_str().unwrap().ends_with("b.yaml"));
    assert_eq!(
        (found[0]["line"].as_u64(), found[0]["column"].as_u64()),
        (Some(5), Some(9))
    );
}

#[test]
fn e201_uri_pattern_points_at_the_segment() {
    let d = check_one(
        "rules:\n  - id: r\n    on: /a//b\n    do: [{log: hi}]\n",
        "E201",
        3,
        12,
    );
    assert!(d["message"].as_str().unwrap().contains("empty segment"));
}

#[test]
fn e202_invalid_jsonpath() {
    check_one(
        "rules:\n  - id: r\n    on: /a\n    when:\n      - path: $.data[\n        equals: 1\n    do: [{log: hi}]\n",
        "E202",
        5,
        15,
    );
}

#[test]
fn e203_invalid_template() {
    check_one(
        "rules:\n  - id: r\n    on: /a\n    do:\n      - log: \"{{#if data}}\"\n",
        "E203",
        5,
        15,
    );
}

#[test]
fn e204_invalid_regex() {
    check_one(
        "rules:\n  - id: r\n    on: /a\n    when:\n      - path: $.data.name\n        matches: \"([\"\n    do: [{log: hi}]\n",
        "E204",
        6,
        18,
    );
}

#[test]
fn e205_invalid_duration() {
    let d = check_one(
        "rules:\n  - id: r\n    on: /a\n    cooldown: 5\n    do: [{log: hi}]\n",
        "E205",
        4,
        15,
    );
    assert!(d["message"].as_str().unwrap().contains("no unit"));
}

#[test]
fn e206_unknown_variable_in_path_and_template() {
    let d = check_one(
        "rules:\n  - id: r\n    on: /a\n    when:\n      - path: $.dta.state\n        equals: 1\n    do: [{log: hi}]\n",
        "E206",
        5,
        15,
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `data`?")
    );
    let d = check_one(
        "rules:\n  - id: r\n    on: /a\n    let:\n      action: $.data.action\n    do:\n      - request: POST /x/{{acton.id}}\n",
        "E206",
        7,
        23,
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `action`?"),
        "{d}"
    );
}

#[test]
fn e207_malformed_conditions() {
    let d = check_one(
        "rules:\n  - id: r\n    on: /a\n    when:\n      - path: $.data.state\n        equals: a\n        not_equals: b\n    do: [{log: hi}]\n",
        "E207",
        5,
        9,
    );
    assert!(d["message"].as_str().unwrap().contains("2 operators"));
    check_one(
        "rules:\n  - id: r\n    on: /a\n    when:\n      - path: $.data.state\n        one_of: InProgress\n    do: [{log: hi}]\n",
        "E207",
        6,
        17,
    );
}

#[test]
fn e208_request_path_with_literal_query() {
    let d = check_one(
        "rules:\n  - id: r\n    on: /a\n    do:\n      - request: GET /x?y=1\n",
        "E208",
        5,
        22,
    );
    assert!(d["message"].as_str().unwrap().contains("query"));
}

#[test]
fn e209_reserved_binding_name() {
    check_one(
        "rules:\n  - id: r\n    on: /a\n    let:\n      data: $.data.x\n    do: [{log: hi}]\n",
        "E209",
        5,
        7,
    );
}

#[test]
fn e300_missing_events_file() {
    check_one(
        "rules:\n  - id: r\n    on: /a\n    do: [{log: hi}]\ntests:\n  - name: t\n    events_file: nope.jsonl\n",
        "E300",
        7,
        18,
    );
}

#[test]
fn w400_max_in_single_mode_is_a_warning() {
    let d = check_one(
        "rules:\n  - id: r\n    on: /a\n    max: 3\n    do: [{log: hi}]\n",
        "W400",
        4,
        10,
    );
    assert_eq!(d["severity"], "warning");
}

/// One pass reports every problem of every rule, and the exit code says so.
#[test]
fn every_problem_in_one_pass() {
    let dir = Dir::new();
    let file = dir.file(
        "many.yaml",
        "rules:\n  - id: a\n    on: /a//b\n    cooldown: soon\n    do: [{log: hi}]\n  - id: b\n    on: /b\n    when:\n      - path: $.dat.x\n        equals: 1\n    do: [{delay: forever}]\n",
    );
    let output = lcu_rules(&[
        "check",
        "--no-api-checks",
        "--format",
        "json",
        file.to_str().unwrap(),
    ]);
    assert_eq!(output.code, 1);
    let found: Value = serde_json::from_str(&output.stdout).unwrap();
    let codes: Vec<&str> = found["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["E201", "E205", "E206", "E205"]);
}

/// The human format shows the location, the line and a caret under the mistake.
#[test]
fn human_output_has_a_caret_snippet() {
    let dir = Dir::new();
    let file = dir.file(
        "r.yaml",
        "rules:\n  - id: r\n    on: /a\n    whne: []\n    do: [{log: hi}]\n",
    );
    let output = lcu_rules(&["check", file.to_str().unwrap()]);
    assert_eq!(output.code, 1);
    let expected = format!(
        "error[E102]: unknown field `whne`\n  --> {}:4:5\n   |\n 4 |     whne: []\n   |     ^^^^\n  = hint: did you mean `when`?\n",
        file.display()
    );
    assert!(output.stderr.contains(&expected), "{}", output.stderr);
}

/// `one` for a warning.
fn only(found: Vec<Value>, code: &str, line: u64, column: u64) -> Value {
    let d = one(found, code, line, column);
    assert_eq!(d["severity"], "warning");
    d
}

#[test]
fn w402_unknown_endpoint_suggests_the_real_one() {
    let d = only(
        api_diagnostics(
            "rules:\n  - id: r\n    on: /lol-matchmaking/v1/ready-check\n    do:\n      - request: POST /lol-matchmaking/v1/ready-check/acept\n",
        ),
        "W402",
        5,
        23,
    );
    assert!(
        hint(&d).starts_with("did you mean `/lol-matchmaking/v1/ready-check/accept`"),
        "{d}"
    );
    let d = only(
        api_diagnostics(
            "rules:\n  - id: r\n    on: /lol-champ-select/v1/session\n    do:\n      - request:\n          method: PATCH\n          path: /lol-champ-select/v1/session/action/{{data.id}}\n",
        ),
        "W402",
        7,
        17,
    );
    assert!(
        hint(&d).starts_with("did you mean `/lol-champ-select/v1/session/actions/{id}`"),
        "{d}"
    );
}

#[test]
fn w403_method_not_allowed_lists_the_methods() {
    let d = only(
        api_diagnostics(
            "rules:\n  - id: r\n    on: /lol-matchmaking/v1/ready-check\n    do:\n      - request: GET /lol-matchmaking/v1/ready-check/accept\n",
        ),
        "W403",
        5,
        22,
    );
    assert_eq!(hint(&d), "it takes POST");
}

#[test]
fn w404_trigger_on_uris_the_client_never_sends() {
    let d = only(
        api_diagnostics(
            "rules:\n  - id: r\n    on: /lol-matchmaking/v1/ready-chek\n    do: [{log: hi}]\n",
        ),
        "W404",
        3,
        9,
    );
    assert!(
        hint(&d).starts_with("did you mean `/lol-matchmaking/v1/ready-check`"),
        "{d}"
    );
    // Patterns, captures and topics count as known.
    for known in [
        "/lol-champ-select/**",
        "/lol-champ-select/v1/session/actions/{id}",
        "/lol-chat/v1/conversations/*/messages",
    ] {
        assert!(
            api_diagnostics(&format!(
                "rules:\n  - id: r\n    on: \"{known}\"\n    do: [{{log: hi}}]\n"
            ))
            .is_empty(),
            "{known}"
        );
    }
}

/// `--deny-warnings` turns the API warnings into errors and a failing exit code.
#[test]
fn deny_warnings_fails_on_api_warnings() {
    let dir = Dir::new();
    let file = dir.file(
        "r.yaml",
        "rules:\n  - id: r\n    on: /lol-nope/v1/x\n    do: [{log: hi}]\n",
    );
    let allowed = lcu_rules(&["check", file.to_str().unwrap()]);
    assert_eq!(allowed.code, 0);
    assert!(
        allowed.stderr.contains("warning[W404]"),
        "{}",
        allowed.stderr
    );
    let denied = lcu_rules(&["check", "--deny-warnings", file.to_str().unwrap()]);
    assert_eq!(denied.code, 1);
    assert!(denied.stderr.contains("error[W404]"), "{}", denied.stderr);
}

/// `lcu-rules endpoints` finds endpoints and their methods.
#[test]
fn endpoints_lists_what_the_client_has() {
    let output = lcu_rules(&["endpoints", "ready-check/accept"]);
    assert_eq!(output.code, 0);
    assert!(
        output
            .stdout
            .contains("POST                     /lol-matchmaking/v1/ready-check/accept"),
        "{}",
        output.stdout
    );
}

/// The generator, run on the schema dump in the shared data, reproduces the committed index byte
/// for byte. Without that dump beside the repository the test says so and passes, unless
/// `LCU_RULES_REQUIRE_SCHEMA_DUMP` is set (as CI does).
#[test]
fn generator_reproduces_the_committed_index() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dump = root.join("../shared/lcu-data/schema");
    let swagger = dump.join("lcu-swagger-v2.kebscs-25.24.json");
    let events = dump.join("lcu-event-names.hasagi-16.14.txt");
    if !swagger.exists() {
        assert!(
            std::env::var_os("LCU_RULES_REQUIRE_SCHEMA_DUMP").is_none(),
            "no schema dump at {}",
            dump.display()
        );
        eprintln!("skipped: no schema dump at {}", dump.display());
        return;
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lcu-api-index"))
        .arg(&swagger)
        .arg(&events)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let committed = std::fs::read(root.join("schemas/lcu-api-index.json")).unwrap();
    assert!(
        output.stdout == committed,
        "schemas/lcu-api-index.json differs from what the generator makes"
    );
}

#[test]
fn w405_unknown_field_of_the_payload_type() {
    let d = only(
        api_diagnostics(
            "rules:\n  - id: r\n    on: /lol-matchmaking/v1/ready-check\n    when:\n      - path: $.data.stat\n        equals: InProgress\n    do: [{log: hi}]\n",
        ),
        "W405",
        5,
        15,
    );
    assert_eq!(hint(&d), "did you mean `state`?");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("LolMatchmakingMatchmakingReadyCheckResource")
    );
}

#[test]
fn w406_value_outside_the_enum() {
    let d = only(
        api_diagnostics(
            "rules:\n  - id: r\n    on: /lol-matchmaking/v1/ready-check\n    when:\n      - path: $.data.state\n        equals: InProgres\n    do: [{log: hi}]\n",
        ),
        "W406",
        6,
        17,
    );
    assert_eq!(hint(&d), "did you mean `InProgress`?", "{d}");
    assert!(
        d["detail"]
            .as_str()
            .unwrap()
            .starts_with("its values: `Invalid`, `InProgress`"),
        "{d}"
    );
    // The gameflow phase is itself the enum; lists are checked item by item.
    only(
        api_diagnostics(
            "rules:\n  - id: r\n    on: /lol-gameflow/v1/gameflow-phase\n    when:\n      - path: $.data\n        one_of: [Lobby, EndOfGam]\n    do: [{log: hi}]\n",
        ),
        "W406",
        6,
        17,
    );
    // Templated values are not checked.
    assert!(api_diagnostics("rules:\n  - id: r\n    on: /lol-gameflow/v1/gameflow-phase\n    when:\n      - path: $.data\n        equals: \"{{uri}}\"\n    do: [{log: hi}]\n").is_empty());
}

#[test]
fn w407_unknown_body_field() {
    let d = only(
        api_diagnostics(
            "rules:\n  - id: r\n    on: /lol-champ-select/v1/session\n    do:\n      - request:\n          method: PATCH\n          path: /lol-champ-select/v1/session/actions/{{data.id}}\n          body: {championID: 516, completed: true}\n",
        ),
        "W407",
        8,
        18,
    );
    assert_eq!(hint(&d), "did you mean `championId`?");
}

#[test]
fn w408_body_value_of_the_wrong_type() {
    let d = only(
        api_diagnostics(
            "rules:\n  - id: r\n    on: /lol-champ-select/v1/session\n    do:\n      - request:\n          method: PATCH\n          path: /lol-champ-select/v1/session/actions/{{data.id}}\n          body: {championId: \"{{data.localPlayerCellId}}\", completed: \"yes\"}\n",
        ),
        "W408",
        8,
        60,
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("`completed` is a boolean"),
        "{d}"
    );
}

#[test]
fn w409_contradictory_conditions() {
    let cases = [
        (
            "equals: InProgress",
            "equals: Invalid",
            "cannot equal both \"InProgress\" and \"Invalid\"",
        ),
        (
            "equals: InProgress",
            "one_of: [Invalid, Error]",
            "equals \"InProgress\" but must be one of",
        ),
        (
            "equals: InProgress",
            "not_equals: InProgress",
            "cannot both equal and not equal",
        ),
        ("exists: false", "equals: InProgress", "must be missing"),
    ];
    for (first, second, why) in cases {
        let text = format!(
            "rules:\n  - id: r\n    on: /lol-matchmaking/v1/ready-check\n    when:\n      - path: $.data.state\n        {first}\n      - path: $.data.state\n        {second}\n    do: [{{log: hi}}]\n"
        );
        let d = only(api_diagnostics(&text), "W409", 7, 9);
        assert!(d["message"].as_str().unwrap().contains(why), "{d}");
        assert_eq!(hint(&d), "see when[0] at line 5");
    }
    // A path that selects several nodes may equal both values: no warning.
    let wildcard = "rules:\n  - id: r\n    on: /lol-champ-select/v1/session\n    when:\n      - {path: \"$.data.actions[*][*].type\", equals: pick}\n      - {path: \"$.data.actions[*][*].type\", equals: ban}\n    do: [{log: hi}]\n";
    assert!(api_diagnostics(wildcard).is_empty());
}

#[test]
fn w410_rules_that_fire_on_the_same_events() {
    let dir = Dir::new();
    let rule = |id: &str| {
        format!(
            "rules:\n  - id: {id}\n    on: /lol-gameflow/v1/gameflow-phase\n    when: [{{path: $.data, equals: Lobby}}]\n    do: [{{log: {id}}}]\n"
        )
    };
    dir.file("a.yaml", &rule("first"));
    dir.file("b.yaml", &rule("second"));
    let output = lcu_rules(&["check", "--format", "json", dir.path().to_str().unwrap()]);
    let found: Value = serde_json::from_str(&output.stdout).unwrap();
    let d = only(
        found["diagnostics"].as_array().cloned().unwrap(),
        "W410",
        2,
        5,
    );
    assert!(d["file"].as_str().unwrap().ends_with("b.yaml"));
    assert!(hint(&d).starts_with("`first` is at "), "{d}");
    // Different conditions, or a mode other than single: no warning.
    let parallel = "rules:\n  - id: one\n    on: /lol-gameflow/v1/gameflow-phase\n    mode: parallel\n    do: [{log: a}]\n  - id: two\n    on: /lol-gameflow/v1/gameflow-phase\n    mode: parallel\n    do: [{log: b}]\n";
    assert!(api_diagnostics(parallel).is_empty());
}

/// A body value written as one `{{data.x}}` has the type of `x` in the trigger's payload, so a
/// mismatch is caught too; a compatible one is not reported.
#[test]
fn w408_template_values_whose_type_is_knowable() {
    let rule = |value: &str| {
        format!(
            "rules:\n  - id: r\n    on: /lol-champ-select/v1/session\n    do:\n      - request:\n          method: PATCH\n          path: /lol-champ-select/v1/session/actions/{{{{data.localPlayerCellId}}}}\n          body: {{championId: \"{value}\"}}\n"
        )
    };
    let d = only(
        api_diagnostics(&rule("{{data.isSpectating}}")),
        "W408",
        8,
        18,
    );
    assert!(
        d["message"].as_str().unwrap().contains("gives boolean"),
        "{d}"
    );
    assert_eq!(hint(&d), "use a value that is an integer");
    assert!(api_diagnostics(&rule("{{data.localPlayerCellId}}")).is_empty());
}

/// `endpoints` shows the body type an endpoint takes.
#[test]
fn endpoints_show_body_types() {
    let output = lcu_rules(&["endpoints", "lol-champ-select/v1/session/actions"]);
    assert!(output.stdout.contains("/lol-champ-select/v1/session/actions/{id}  (PATCH body: TeamBuilderDirect-ChampSelectAction)"), "{}", output.stdout);
}

// Defects of the rule language found by writing the popular automations as rules (issue 20):
// each test failed before its fix.

/// `not_equals: null` compares with null; it is not "no operator" (serde read it as absent).
#[test]
fn a_null_operand_is_an_operand() {
    let rule = |op: &str| {
        format!(
            "rules:\n  - id: r\n    on: /a\n    when:\n      - path: $.data.x\n        {op}: null\n    do: [{{log: hi}}]\n"
        )
    };
    for op in ["not_equals", "equals"] {
        assert_eq!(diagnostics_of(&rule(op)), Vec::<Value>::new(), "{op}");
    }
}

/// A `when` on a step says how to make a step conditional, at the `when`.
#[test]
fn a_when_on_a_step_says_where_conditions_go() {
    let d = check_one(
        "rules:\n  - id: r\n    on: /a\n    do:\n      - log: hi\n        when:\n          - {path: $.data.x, equals: 1}\n",
        "E103",
        6,
        9,
    );
    assert_eq!(d["message"], "a step cannot have its own `when`");
    assert!(hint(&d).contains("use an `if` step"), "{d}");
}

/// A path with an empty segment is refused at load instead of being sent.
#[test]
fn an_empty_path_segment_is_refused() {
    for path in [
        "/lol-chat/v1/conversations//messages",
        "/lol-chat/v1/conversations/",
    ] {
        let d = check_one(
            &format!("rules:\n  - id: r\n    on: /a\n    do:\n      - request: POST {path}\n"),
            "E208",
            5,
            23,
        );
        assert!(
            d["message"].as_str().unwrap().contains("empty segment"),
            "{d}"
        );
    }
}

/// An unknown Handlebars helper is a `check` error, in blocks and subexpressions too.
#[test]
fn an_unknown_helper_is_refused() {
    for template in [
        "{{nohelper data.x}}",
        "{{#each data.xs}}{{upcase this}}{{/each}}",
        "{{#if (eqq data.x 1)}}y{{/if}}",
    ] {
        let d = check_one(
            &format!("rules:\n  - id: r\n    on: /a\n    do:\n      - log: \"{template}\"\n"),
            "E203",
            5,
            15,
        );
        assert!(
            d["message"].as_str().unwrap().contains("unknown helper"),
            "{template}: {d}"
        );
    }
    let d = check_one(
        "rules:\n  - id: r\n    on: /a\n    do:\n      - log: \"{{#if (eqq data.x 1)}}y{{/if}}\"\n",
        "E203",
        5,
        15,
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `eq`?"),
        "{d}"
    );
}

/// Templates in a `let`'s `from` and `default` would be kept as text: refused.
#[test]
fn templates_in_literal_values_are_refused() {
    let found = diagnostics_of(
        "rules:\n  - id: r\n    on: /a\n    let:\n      me:\n        from: [\"{{data.x}}\"]\n    do: [{log: \"{{me}}\"}]\n",
    );
    let d = one(found, "E209", 6, 15);
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("templates are not filled in"),
        "{d}"
    );
    let found = diagnostics_of(
        "rules:\n  - id: r\n    on: /a\n    let:\n      me:\n        path: $.data.x\n        default: \"{{data.y}}\"\n    do: [{log: \"{{me}}\"}]\n",
    );
    one(found, "E209", 6, 9);
}

/// `steps` holds saved responses: in a `let`'s `where` (before any step) it is an error, and the
/// hint of an unknown variable there does not offer it.
#[test]
fn steps_are_refused_before_any_step() {
    let d = check_one(
        "rules:\n  - id: r\n    on: /a\n    let:\n      mine:\n        path: $.data.xs[*]\n        where:\n          - {path: $.id, equals: \"{{steps.x.body}}\"}\n    do: [{log: \"{{mine}}\"}]\n",
        "E206",
        8,
        35,
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("none did before this point"),
        "{d}"
    );
    let d = check_one(
        "rules:\n  - id: r\n    on: /a\n    when:\n      - {path: $.zzz, exists: true}\n    do: [{log: hi}]\n",
        "E206",
        5,
        16,
    );
    assert!(!d["message"].as_str().unwrap().contains("`steps`"), "{d}");
}

/// A templated path segment means the endpoint's parameter there, not a literal sibling:
/// `PUT /lol-perks/v1/pages/{{data.id}}` is `pages/{id}`, not `pages/validate` (which warned on
/// every field). A field that is really unknown is pointed at, not the whole body.
#[test]
fn templated_segments_lint_against_the_parameter_endpoint() {
    let rule = |body: &str| {
        format!(
            "rules:\n  - id: r\n    on: /lol-perks/v1/currentpage\n    do:\n      - request:\n          method: PUT\n          path: /lol-perks/v1/pages/{{{{data.id}}}}\n          body: {body}\n"
        )
    };
    assert_eq!(
        api_diagnostics(&rule("{name: x, primaryStyleId: 8000}")),
        Vec::<Value>::new()
    );
    let d = only(
        api_diagnostics(&rule("{name: x, primaryStyleIdd: 8000}")),
        "W407",
        8,
        27,
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("LolPerksPerkPageResource"),
        "{d}"
    );
    assert_eq!(hint(&d), "did you mean `primaryStyleId`?");
}

/// The summary counts what is written: a file with a mistake is still a file, and its rules
/// and tests still count.
#[test]
fn the_summary_counts_what_is_written() {
    let dir = Dir::new();
    let file = dir.file(
        "r.yaml",
        "rules:\n  - id: a\n    on: /a\n    mod: single\n    do: [{log: hi}]\n  - id: b\n    on: /b\n    do: [{log: hi}]\ntests:\n  - {name: t, events: [], expect: []}\n",
    );
    let output = lcu_rules(&["check", "--no-api-checks", file.to_str().unwrap()]);
    assert!(
        output
            .stdout
            .contains("1 file(s), 2 rule(s), 1 test case(s): 1 error(s)"),
        "{}",
        output.stdout
    );
}

/// The second edition's constructs are checked at load: a `cancel` step naming no rule (with the
/// closest id), a `when` on a trigger of `on`, `manual` in `cancel_on`, a loop `max` out of
/// range, a loop name that is a built-in root, an `if` with nothing under `then`, and a delay's
/// `else` without `while`.
#[test]
fn conditional_loop_state_and_cancel_mistakes_are_reported() {
    let cancel = check_one(
        "rules:\n  - id: play-again\n    on: /a\n    do: [{log: x}]\n  - id: r\n    on: /b\n    do:\n      - cancel: play-agian\n",
        "E103",
        8,
        17,
    );
    assert_eq!(cancel["message"], "`cancel: play-agian` names no rule");
    assert_eq!(hint(&cancel), "did you mean `play-again`?");

    let when = check_one(
        "rules:\n  - id: r\n    on:\n      - uri: /a\n        when: [{path: $.data.x, equals: 1}]\n    do: [{log: x}]\n",
        "E103",
        5,
        16,
    );
    assert_eq!(when["message"], "a trigger in `on` takes no `when`");

    let manual = check_one(
        "rules:\n  - id: r\n    on: /a\n    cancel_on: manual\n    do: [{log: x}]\n",
        "E201",
        4,
        16,
    );
    assert!(hint(&manual).contains("`cancel: ID` step"), "{manual}");

    let max = check_one(
        "rules:\n  - id: r\n    on: /a\n    do:\n      - for_each: $.data.list\n        as: item\n        max: 1000\n        do: [{log: x}]\n",
        "E103",
        7,
        14,
    );
    assert_eq!(max["message"], "`max: 1000` is out of range");

    let name = check_one(
        "rules:\n  - id: r\n    on: /a\n    do:\n      - for_each: $.data.list\n        as: data\n        do: [{log: x}]\n",
        "E209",
        6,
        13,
    );
    assert_eq!(name["message"], "`as: data` cannot name the loop's value");

    let then = check_one(
        "rules:\n  - id: r\n    on: /a\n    do:\n      - if: [{path: $.data.x, equals: 1}]\n        then: []\n",
        "E103",
        5,
        9,
    );
    assert_eq!(then["message"], "an `if` step with no steps under `then`");

    let delay = one(
        diagnostics_of(
            "rules:\n  - id: r\n    on: /a\n    do:\n      - delay:\n          for: 1s\n          else: [{log: x}]\n",
        ),
        "W400",
        6,
        11,
    );
    assert!(
        delay["message"]
            .as_str()
            .unwrap()
            .contains("runs only when a `while` condition breaks"),
        "{delay}"
    );
}

/// W411: a filter that compares with a `$` path that cannot exist (a misspelt payload field, a
/// name that is no root or named value) is warned about, at that path; a correct one is not.
#[test]
fn a_filter_comparing_with_a_path_that_cannot_exist_is_warned_about() {
    let rule = |filter: &str| {
        format!(
            "rules:\n  - id: r\n    on: /lol-champ-select/v1/session\n    let:\n      mates: {{path: \"{filter}\", take: all}}\n    do: [{{log: x}}]\n"
        )
    };
    let field = one(
        api_diagnostics(&rule("$.data.myTeam[?@.cellId != $.data.localPlayerCelId]")),
        "W411",
        5,
        49,
    );
    assert!(
        field["message"]
            .as_str()
            .unwrap()
            .contains("`localPlayerCelId` is not a field of TeamBuilderDirect-ChampSelectSession (did you mean `localPlayerCellId`?)"),
        "{field}"
    );
    let name = one(
        api_diagnostics(&rule("$.data.myTeam[?@.cellId != $.mee.cellId]")),
        "W411",
        5,
        49,
    );
    assert!(
        name["message"]
            .as_str()
            .unwrap()
            .contains("unknown variable `mee`"),
        "{name}"
    );
    assert_eq!(
        api_diagnostics(&rule(
            "$.data.myTeam[?@.cellId != $.data.localPlayerCellId]"
        )),
        Vec::<Value>::new()
    );
}
