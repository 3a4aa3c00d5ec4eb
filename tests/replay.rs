//! Offline replay: `lcu-rules test` as a user runs it, the embedded tests of every example (so
//! `cargo test` fails when an example rule breaks), and the real champion-select capture.

use std::sync::Arc;

use serde_json::json;

use lcu_rules::engine::trace::{Trace, Verdict};
use lcu_rules::event::{read_recording, timed};
use lcu_rules::language::RuleSet;
use lcu_rules::language::load;
use lcu_rules::offline::{replay, run_case};

use crate::util::{Dir, lcu_rules, rules_dir};

/// Every embedded test case of every file in `rules/` passes.
#[test]
fn embedded_tests_of_every_example_pass() {
    let loaded = load(&[rules_dir()]);
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    let mut cases = 0;
    for file in &loaded.files {
        let rules = Arc::new(loaded.file_rule_set(file));
        for case in &file.tests {
            let result = run_case(rules.clone(), case).unwrap();
            assert!(
                result.failure.is_none(),
                "{} / {}:\n{}\n{}",
                file.path.display(),
                case.name,
                result.failure.unwrap(),
                result.timeline
            );
            cases += 1;
        }
    }
    assert!(cases >= 9, "only {cases} cases found");
}

/// `lcu-rules test rules` passes and says how many cases ran.
#[test]
fn test_command_passes_on_the_examples() {
    let output = lcu_rules(&["test", "rules"]);
    assert_eq!(output.code, 0, "{}{}", output.stdout, output.stderr);
    assert!(
        output.stdout.contains(" passed, 0 failed"),
        "{}",
        output.stdout
    );
}

/// A case whose expectation is wrong fails with a diff of expected and sent, and exit code 1.
#[test]
fn a_wrong_expectation_fails_with_a_diff() {
    let dir = Dir::new();
    let file = dir.file(
        "r.yaml",
        "rules:\n  - id: r\n    on: /lol-matchmaking/v1/ready-check\n    do: [{request: POST /lol-matchmaking/v1/ready-check/accept}]\ntests:\n  - name: wrong\n    events: [{uri: /lol-matchmaking/v1/ready-check, data: {}}]\n    expect: [POST /lol-matchmaking/v1/ready-check/decline]\n",
    );
    let output = lcu_rules(&["test", file.to_str().unwrap()]);
    assert_eq!(output.code, 1);
    assert!(output.stdout.contains("FAIL  wrong"), "{}", output.stdout);
    assert!(
        output
            .stdout
            .contains("expected: POST /lol-matchmaking/v1/ready-check/decline"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("sent:     POST /lol-matchmaking/v1/ready-check/accept (rule r) at 0ms"),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("0 passed, 1 failed"));
}

/// The real capture through the pick rule: exactly one PATCH, with the exact path and body,
/// triggered by the 36th frame, the first in which the local player's pick turn is in progress.
#[test]
fn real_champion_select_capture_gives_the_exact_pick() {
    let loaded = load(&[rules_dir().join("pick-champion.yaml")]);
    let file = &loaded.files[0];
    let rules = Arc::new(loaded.file_rule_set(file));
    let recorded =
        read_recording(&rules_dir().join("fixtures/champ-select-rez-20251208.jsonl")).unwrap();
    assert_eq!(recorded.len(), 44);
    let frames: Vec<_> = recorded.iter().map(|r| r.event.clone()).collect();
    let result = replay(rules, timed(recorded, Default::default()), Vec::new()).unwrap();

    assert_eq!(result.sent.len(), 1);
    let sent = &result.sent[0].request;
    assert_eq!(sent.method.as_str(), "PATCH");
    assert_eq!(sent.path, "/lol-champ-select/v1/session/actions/17");
    assert_eq!(
        sent.body,
        Some(json!({"championId": 516, "completed": true}))
    );

    let fired_by: Vec<u64> = result
        .traces
        .iter()
        .filter_map(|t| match t {
            Trace::Decision {
                seq,
                verdict: Verdict::Fired { .. },
                ..
            } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(fired_by, vec![36]);
    let trigger = &frames[35].data;
    assert_eq!(trigger["localPlayerCellId"], 3);
    let pick = trigger["actions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|turn| turn.as_array().unwrap())
        .find(|a| a["id"] == 17)
        .unwrap();
    assert_eq!(
        (
            pick["actorCellId"].clone(),
            pick["isInProgress"].clone(),
            pick["type"].clone()
        ),
        (json!(3), json!(true), json!("pick"))
    );
    let earlier_in_progress = frames[..35].iter().any(|f| {
        f.data["actions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| t.as_array().unwrap())
            .any(|a| a["id"] == 17 && a["isInProgress"] == true)
    });
    assert!(!earlier_in_progress);
}

/// `test --events` replays any session, in WAMP-frame or plain lines, and prints the timeline.
#[test]
fn replaying_a_session_prints_the_timeline() {
    let dir = Dir::new();
    let session = dir.file(
        "session.jsonl",
        concat!(
            r#"[8,"OnJsonApiEvent",{"data":"ReadyCheck","eventType":"Update","uri":"/lol-gameflow/v1/gameflow-phase"}]"#, "\n",
            r#"{"uri":"/lol-matchmaking/v1/ready-check","eventType":"Create","data":{"declinerIds":[],"dodgeWarning":"None","playerResponse":"None","state":"InProgress","suppressUx":false,"timer":0.0},"time":500}"#, "\n",
        ),
    );
    let output = lcu_rules(&[
        "test",
        "rules",
        "--events",
        session.to_str().unwrap(),
        "--why",
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output.stdout.contains("accept-ready-check: fired (run 2)"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("run 2: POST /lol-matchmaking/v1/ready-check/accept -> 200"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("run 1: log: Gameflow phase: ReadyCheck"),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("play-again: not fired, when[0]: `$.data` was \"ReadyCheck\", expected equals \"EndOfGame\""), "{}", output.stdout);
}

/// A malformed line in a session is an error naming the file and line.
#[test]
fn a_malformed_session_line_is_named() {
    let dir = Dir::new();
    let session = dir.file("bad.jsonl", "{\"uri\":\"/a\",\"data\":1}\n[8, \"x\"\n");
    let error = read_recording(&session).unwrap_err();
    assert!(
        error.ends_with("bad.jsonl:2: not valid JSON: EOF while parsing a list at column 7"),
        "{error}"
    );
    let output = lcu_rules(&["test", "rules", "--events", session.to_str().unwrap()]);
    assert_eq!(output.code, 2);
    assert!(output.stderr.contains("bad.jsonl:2:"), "{}", output.stderr);
}

/// Disabled rules do not take part in the live rule set.
#[test]
fn disabled_rules_are_not_indexed() {
    let loaded = load(&[rules_dir()]);
    let live: RuleSet = loaded.rule_set();
    let mut hits = Vec::new();
    live.candidates(
        "/lol-champ-select/v1/session",
        lcu_rules::event::EventType::Update,
        &mut hits,
    );
    assert!(hits.is_empty());
    assert!(
        live.find("pick-champion-by-priority")
            .is_some_and(|r| !r.enabled)
    );
}

/// `explain` on the real champion-select capture names, for every frame before the pick turn,
/// the exact condition that keeps the pick rule from firing; then the frame that fires it, with
/// its request, and the cooldown that holds back the next one.
#[test]
fn explain_names_the_condition_that_stops_each_frame() {
    let output = lcu_rules(&[
        "explain",
        "rules",
        "--events",
        "rules/fixtures/champ-select-rez-20251208.jsonl",
        "--rule",
        "pick-champion-by-priority",
        "--format",
        "json",
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let explained: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(
        (&explained["version"], &explained["command"]),
        (&1.into(), &"explain".into())
    );
    let rule = &explained["rules"][0];
    assert_eq!(rule["rule"], "pick-champion-by-priority");
    assert_eq!(rule["enabled"], false);
    let rows = rule["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 44, "every frame reached the trigger");
    for row in &rows[..35] {
        assert_eq!(row["decision"]["decision"], "stopped", "{row}");
        let miss = &row["decision"]["miss"];
        assert_eq!(miss["at"], "let.action");
        let closest = miss["actual"]["value"].as_str().unwrap();
        assert!(
            closest
                .contains("let.action.where[2]: `$.isInProgress` was false, expected equals true"),
            "frame {}: {closest}",
            row["seq"]
        );
    }
    assert_eq!(rows[35]["seq"], 36);
    assert_eq!(rows[35]["decision"]["decision"], "fired");
    assert_eq!(
        rows[35]["requests"],
        json!([{"method": "PATCH", "path": "/lol-champ-select/v1/session/actions/17",
                "status": 200, "elapsed_ms": 0.0, "attempt": 0}])
    );
    assert_eq!(rows[36]["decision"]["decision"], "suppressed");
    assert_eq!(rows[36]["decision"]["why"]["reason"], "cooldown");
}

/// The human table says the same, and an unknown rule id is refused with a suggestion.
#[test]
fn explain_table_and_unknown_rules() {
    let output = lcu_rules(&[
        "explain",
        "rules",
        "--events",
        "rules/fixtures/champ-select-rez-20251208.jsonl",
    ]);
    assert_eq!(output.code, 0);
    assert!(
        output.stdout.contains(
            "rule pick-champion-by-priority (disabled: showing what it would do if enabled)"
        ),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("44 event(s) reached it, 1 fired"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("rule accept-ready-check\n  no event reached its trigger"),
        "{}",
        output.stdout
    );
    let wrong = lcu_rules(&[
        "explain",
        "rules",
        "--events",
        "rules/fixtures/champ-select-rez-20251208.jsonl",
        "--rule",
        "pick-champion",
    ]);
    assert_eq!(wrong.code, 2);
    assert!(
        wrong.stderr.contains("no rule `pick-champion`"),
        "{}",
        wrong.stderr
    );
}

/// A run that fails fails its test case, even one that expects no requests, unless the case
/// lists the failure under `failures:` (issue 20: a failed run used to pass `expect: []`).
#[test]
fn a_failed_run_fails_its_test_unless_expected() {
    let dir = Dir::new();
    let file = dir.file(
        "e.yaml",
        "rules:\n  - id: e\n    on: /lol-gameflow/v1/session\n    do:\n      - log: \"{{data.nope}}\"\ntests:\n  - name: fails\n    events: [{uri: /lol-gameflow/v1/session, data: {phase: Lobby}}]\n    expect: []\n  - name: expected\n    events: [{uri: /lol-gameflow/v1/session, data: {phase: Lobby}}]\n    expect: []\n    failures: [\"`nope` is missing\"]\n",
    );
    let output = lcu_rules(&["test", file.to_str().unwrap()]);
    assert_eq!(output.code, 1, "{}", output.stdout);
    assert!(output.stdout.contains("FAIL  fails"), "{}", output.stdout);
    assert!(
        output
            .stdout
            .contains("failed:   e: failed at step 1: `{{data.nope}}` has no value"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("ok    expected"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("1 passed, 1 failed"),
        "{}",
        output.stdout
    );
}

/// A recording with gameflow session updates but no gameflow-phase event still has a phase:
/// a phase-scoped rule fires there (synthetic events; the real champion-select capture in
/// `../shared/lcu-data` has exactly this shape, four session updates and no phase event). Before,
/// every phase-scoped rule was held back as "outside its phases".
#[test]
fn the_phase_is_followed_from_session_updates() {
    let dir = Dir::new();
    let rules = dir.file(
        "r.yaml",
        "rules:\n  - id: in-champ-select\n    on: /lol-champ-select/v1/session\n    phases: [ChampSelect]\n    do:\n      - log: picking\n",
    );
    let events = dir.file(
        "s.jsonl",
        "{\"uri\": \"/lol-gameflow/v1/session\", \"eventType\": \"Update\", \"data\": {\"phase\": \"ChampSelect\"}, \"time\": 0}\n{\"uri\": \"/lol-champ-select/v1/session\", \"eventType\": \"Update\", \"data\": {\"timer\": {\"phase\": \"PLANNING\"}}, \"time\": 100}\n",
    );
    let output = lcu_rules(&[
        "explain",
        "--events",
        events.to_str().unwrap(),
        rules.to_str().unwrap(),
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(output.stdout.contains("fired (run 1)"), "{}", output.stdout);
    assert!(!output.stdout.contains("outside"), "{}", output.stdout);
}

/// `$` inside a filter is the same root as the path's own `$` (RFC 9535): "my teammates but me"
/// filters me out. Before, `$` there was the payload, `$.data...` selected nothing, and the
/// filter kept everyone (`[1, 2, 3]`). Synthetic payload, with the fields of a champion select.
#[test]
fn a_filter_compares_with_the_same_root() {
    let dir = Dir::new();
    let file = dir.file(
        "g.yaml",
        "rules:\n  - id: others\n    on: /lol-champ-select/v1/session\n    let:\n      others:\n        path: $.data.myTeam[?@.cellId != $.data.localPlayerCellId].cellId\n        take: all\n    do:\n      - log: \"others: {{others}}\"\ntests:\n  - name: leaves me out (synthetic)\n    events:\n      - {uri: /lol-champ-select/v1/session, data: {localPlayerCellId: 1, myTeam: [{cellId: 1}, {cellId: 2}, {cellId: 3}]}}\n    expect: []\n    logs: [\"others: [2, 3]\"]\n",
    );
    let output = lcu_rules(&["test", file.to_str().unwrap()]);
    assert_eq!(output.code, 0, "{}", output.stdout);
}

/// The event that breaks a delay's `while` was held back from the rule while the run waited
/// (`single` mode); once the run gives up, that event is offered to the rule again and acted on
/// at once. Before, the rule stayed silent until the next event came (seen 7 s late).
#[test]
fn the_event_that_breaks_a_wait_is_offered_again() {
    let dir = Dir::new();
    let file = dir.file(
        "w.yaml",
        "rules:\n  - id: follow\n    on: /x\n    let:\n      n: $.data.n\n    when:\n      - {path: $.data.n, gt: 0}\n    do:\n      - delay:\n          for: 10s\n          while:\n            - {path: $.data.n, equals: \"{{n}}\"}\n      - request: POST /done/{{n}}\ntests:\n  - name: acted on at once (synthetic)\n    events:\n      - {uri: /x, data: {n: 1}}\n      - {uri: /x, data: {n: 2}, at: 1s}\n    expect:\n      - {method: POST, path: /done/2, at: 11s}\n",
    );
    let output = lcu_rules(&["test", "-v", file.to_str().unwrap()]);
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert!(
        output.stdout.contains("run 1: given up"),
        "{}",
        output.stdout
    );
}

/// Computed values: arithmetic helpers (a number stays a number in a body), `index_of` for a
/// rank in a priority list, and a delay computed from the payload, clamped to a safe range
/// (issue 20, points 4 and 7). Synthetic payloads with the champion-select timer's field names.
#[test]
fn computed_values_and_delays() {
    let dir = Dir::new();
    let file = dir.file("t.yaml", "rules:\n  - id: late-pick\n    on: /lol-champ-select/v1/session\n    let:\n      prio:\n        from: [103, 238, 516]\n        take: all\n    when:\n      - path: $.data.timer.adjustedTimeLeftInPhase\n        gt: 0\n    do:\n      - delay: \"{{clamp (sub (div data.timer.adjustedTimeLeftInPhase 1000) 3) 0 30}}s\"\n      - log: \"rank of 516: {{index_of prio 516}}; next {{add data.n 1}}\"\n      - request:\n          method: PATCH\n          path: /lol-champ-select/v1/session/actions/{{data.n}}\n          body: {championId: \"{{add data.n 500}}\"}\ntests:\n  - name: waits until three seconds before the end (synthetic)\n    events:\n      - {uri: /lol-champ-select/v1/session, data: {n: 16, timer: {adjustedTimeLeftInPhase: 10000}}}\n    expect:\n      - {method: PATCH, path: /lol-champ-select/v1/session/actions/16, body: {championId: 516}, at: 7s}\n    logs: [\"rank of 516: 2; next 17\"]\n  - name: a huge timer is clamped (synthetic)\n    events:\n      - {uri: /lol-champ-select/v1/session, data: {n: 16, timer: {adjustedTimeLeftInPhase: 99999999}}}\n    expect:\n      - {method: PATCH, path: /lol-champ-select/v1/session/actions/16, body: {championId: 516}, at: 30s}\n");
    let output = lcu_rules(&["test", file.to_str().unwrap()]);
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert!(
        output.stdout.contains("2 passed, 0 failed"),
        "{}",
        output.stdout
    );
    let check = lcu_rules(&["check", "--deny-warnings", file.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
}

/// Settings shared across files (issue 20, point 9): one file's `vars` are read by another
/// file's rule, in paths, `where`, conditions, templates and a computed delay; a var defined
/// twice is an error naming the first definition.
#[test]
fn vars_are_shared_across_files() {
    let dir = Dir::new();
    dir.file(
        "vars.yaml",
        "vars:\n  greeting: \"gl hf\"\n  wait_s: 2\n  picks: [103, 238, 516]\n",
    );
    dir.file("greet.yaml", "rules:\n  - id: greet\n    on: /lol-champ-select/v1/session\n    let:\n      pick:\n        path: $.vars.picks[*]\n        where:\n          - {path: $, not_one_of: [103]}\n    when:\n      - {path: $.vars.wait_s, gt: 0}\n    do:\n      - delay: \"{{vars.wait_s}}\"\n      - log: \"{{vars.greeting}}: {{pick}} is choice {{add (index_of vars.picks pick) 1}}\"\ntests:\n  - name: reads the shared vars (synthetic)\n    events:\n      - {uri: /lol-champ-select/v1/session, data: {}}\n    expect: []\n    logs: [{message: \"gl hf: 238 is choice 2\", at: 2s}]\n");
    let folder = dir.path().to_str().unwrap();
    let output = lcu_rules(&["test", folder]);
    assert_eq!(output.code, 0, "{}{}", output.stdout, output.stderr);
    assert!(
        output.stdout.contains("1 passed, 0 failed"),
        "{}",
        output.stdout
    );
    dir.file("zz.yaml", "vars:\n  greeting: again\n");
    let output = lcu_rules(&["check", "--no-api-checks", folder]);
    assert_eq!(output.code, 1);
    assert!(
        output
            .stderr
            .contains("the var `greeting` is already defined"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("vars.yaml:2"), "{}", output.stderr);
}

/// Conditional steps, loops, remembered values, reads of other URIs and random choice (issue 20,
/// points 1, 2, 5 and 6): the embedded tests of `tests/language/` pass, and `check` finds
/// nothing to warn about there.
#[test]
fn the_second_edition_constructs_pass_their_tests() {
    let output = lcu_rules(&["test", "tests/language"]);
    assert_eq!(output.code, 0, "{}{}", output.stdout, output.stderr);
    assert!(
        output.stdout.contains("13 passed, 0 failed"),
        "{}",
        output.stdout
    );
    let check = lcu_rules(&["check", "--deny-warnings", "tests/language"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
}

/// `explain` shows what a run did inside: what it read of other URIs, the branch an `if` took
/// and why, each loop value, and each remembered value, in order among the requests.
#[test]
fn explain_shows_branches_loops_and_state() {
    let dir = Dir::new();
    let events = dir.file(
        "session.jsonl",
        "{\"uri\": \"/lol-summoner/v1/current-summoner\", \"eventType\": \"Update\", \"data\": {\"summonerId\": 7}}\n{\"uri\": \"/lol-honor-v2/v1/ballot\", \"eventType\": \"Update\", \"data\": {}}\n{\"uri\": \"/lol-champ-select/v1/session\", \"eventType\": \"Update\", \"data\": {\"localPlayerCellId\": 0, \"myTeam\": [{\"cellId\": 0, \"championId\": 103}]}}\n",
    );
    let output = lcu_rules(&[
        "explain",
        "tests/language",
        "--events",
        events.to_str().unwrap(),
    ]);
    assert_eq!(output.code, 0, "{}{}", output.stdout, output.stderr);
    let expected = [
        ".. read me from /lol-summoner/v1/current-summoner: {\"summonerId\":7}",
        "-> GET /lol-lobby/v2/lobby -> 200",
        ".. step 2 (if): then: every condition held",
        ".. step 2.then.1 (for_each): 0 value(s) of `$.steps.lobby.body.members`",
        ".. step 1 (for_each) 1 of 1: player = {\"cellId\":0,\"championId\":103}",
        ".. step 1 (set): state.hovered = 103 (select)",
        ".. step 3 (set): state.recent = 103 (service, for 5s)",
    ];
    for line in expected {
        assert!(output.stdout.contains(line), "{line}\n{}", output.stdout);
    }
}

/// The rule library (issue 20): every file in `rules/library/` checks clean with warnings
/// denied, and every embedded test case passes (champion-select rules included, though they
/// ship disabled).
#[test]
fn the_rule_library_checks_clean_and_passes_its_tests() {
    let check = lcu_rules(&["check", "--deny-warnings", "rules/library"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    let output = lcu_rules(&["test", "rules/library"]);
    assert_eq!(output.code, 0, "{}{}", output.stdout, output.stderr);
    assert!(
        output.stdout.contains(" passed, 0 failed"),
        "{}",
        output.stdout
    );
    let loaded = load(&[rules_dir().join("library")]);
    let disabled: Vec<&str> = loaded
        .files
        .iter()
        .flat_map(|f| &f.rules)
        .filter(|r| !r.enabled)
        .map(|r| r.id.as_str())
        .collect();
    for file in &loaded.files {
        let text = std::fs::read_to_string(&file.path).unwrap();
        // A rule acting in champion select: it triggers there and sends requests (a rule that
        // only reads the session and logs automates nothing).
        let automates_select = file.rules.iter().any(|r| {
            r.triggers
                .iter()
                .any(|t| t.pattern.text.starts_with("/lol-champ-select/"))
                && sends_requests(&r.steps)
        });
        if automates_select {
            assert!(
                text.contains("WARNING: TH") && text.contains("DISABLED"),
                "{} automates champion select without the warning",
                file.path.display()
            );
            for rule in &file.rules {
                assert!(
                    disabled.contains(&rule.id.as_str()),
                    "{} ships enabled",
                    rule.id
                );
            }
        }
    }
}

/// Whether any of `steps`, nested ones included, sends a request.
fn sends_requests(steps: &[lcu_rules::language::Step]) -> bool {
    use lcu_rules::language::Step;
    steps.iter().any(|step| match step {
        Step::Request(_) => true,
        Step::If(branch) => sends_requests(&branch.then) || sends_requests(&branch.otherwise),
        Step::ForEach(each) => sends_requests(&each.steps),
        Step::Delay(delay) => sends_requests(&delay.otherwise),
        _ => false,
    })
}
