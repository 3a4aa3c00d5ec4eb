//! Hostile input, as an attacker or a careless user would send it: rule files that would exhaust
//! `check` or crash the service are refused at file:line:col within their limits; a client that
//! never answers cannot hold up shutdown; an oversize body is refused with a clear error; a
//! certificate that does not verify is backed off from; data in a request path cannot change
//! the path's shape, and what is sent is what was captured. (SECURITY.md lists the limits.)

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use lcu_rules::client::Discovery;
use lcu_rules::client::Trust;
use lcu_rules::client::{LiveOptions, Status};
use lcu_rules::engine::EngineConfig;
use lcu_rules::event::EventType;
use lcu_rules::language::RuleSet;
use lcu_rules::language::load;
use lcu_rules::offline::Collector;
use lcu_rules::service::Service;
use lcu_rules::sim::{Faults, READY_CHECK, SimClient};

use crate::util::{Dir, lcu_rules, rules_dir};

const WAIT: Duration = Duration::from_secs(10);

/// A rule file with one rule on the gameflow phase whose one step logs `template`.
fn logging(template: &str) -> String {
    format!(
        "rules:\n  - id: r\n    on: /lol-gameflow/v1/gameflow-phase\n    do:\n      - log: '{template}'\n"
    )
}

/// `check --format json` of one file: its exit code and diagnostics.
fn check(text: &str) -> (i32, Vec<Value>) {
    let dir = Dir::new();
    let file = dir.file("hostile.yaml", text);
    let output = lcu_rules(&[
        "check",
        "--no-api-checks",
        "--format",
        "json",
        file.to_str().unwrap(),
    ]);
    let parsed: Value =
        serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", output.stdout));
    (
        output.code,
        parsed["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    )
}

/// Asserts that `check` exits 1 on `text` with an error of `code` at `line`:`column` whose
/// message contains `says`.
fn refused(name: &str, text: &str, code: &str, line: u64, column: u64, says: &str) {
    let (exit, found) = check(text);
    assert_eq!(exit, 1, "{name}: {found:#?}");
    let error = found
        .iter()
        .find(|d| d["severity"] == "error")
        .unwrap_or_else(|| panic!("{name}: no error in {found:#?}"));
    assert_eq!(
        (
            error["code"].as_str().unwrap_or(""),
            error["line"].as_u64().unwrap_or(0),
            error["column"].as_u64().unwrap_or(0)
        ),
        (code, line, column),
        "{name}: {error:#?}"
    );
    let message = error["message"].as_str().unwrap_or("");
    assert!(message.contains(says), "{name}: {message}");
}

/// Templates that recursed in Handlebars (stack overflow: the process died) are refused by
/// `check`, each at the template's position.
#[test]
fn templates_that_could_recurse_are_refused() {
    refused(
        "self-recursive inline partial",
        &logging(r#"{{#*inline "p"}}{{> p}}{{/inline}}{{> p}}"#),
        "E203",
        5,
        15,
        "inline partials",
    );
    refused(
        "partial",
        &logging("{{> header}}"),
        "E203",
        5,
        15,
        "partials",
    );
    let subexpressions = format!(
        "{{{{{}data{}}}}}",
        "(lookup ".repeat(1000),
        " \"x\")".repeat(1000)
    );
    refused(
        "subexpressions 1000 deep",
        &logging(&subexpressions),
        "E203",
        5,
        15,
        "subexpressions nest 1000 deep",
    );
    let blocks = format!("{}x{}", "{{#if data}}".repeat(200), "{{/if}}".repeat(200));
    refused(
        "200 nested blocks",
        &logging(&blocks),
        "E203",
        5,
        15,
        "blocks nest 17 deep",
    );
    let long = format!("{{{{data.a}}}}{}", "x".repeat(20_000));
    refused(
        "a 20 kB template",
        &logging(&long),
        "E203",
        5,
        15,
        "templates are limited to 16384 bytes",
    );
}

/// YAML that expands without bound is refused: an alias bomb of under 400 bytes (it took
/// gigabytes), nesting deeper than the limit, and a file bigger than the limit.
#[test]
fn yaml_that_expands_without_bound_is_refused() {
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (name, previous) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let aliases = vec![format!("*{previous}"); 9].join(",");
        bomb.push_str(&format!("{name}: &{name} [{aliases}]\n"));
    }
    bomb.push_str("rules: *i\n");
    refused(
        "alias bomb",
        &bomb,
        "E100",
        7,
        8,
        "more than 1000000 YAML nodes",
    );
    let deep = format!("rules: {}1{}\n", "[".repeat(100), "]".repeat(100));
    refused("100 levels", &deep, "E100", 1, 71, "nest more than 64 deep");
    let (exit, found) = check(&format!("rules: []\n# {}\n", "x".repeat(9 * 1024 * 1024)));
    assert_eq!(exit, 1, "{found:#?}");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("larger than the limit of 8 MiB"),
        "{found:#?}"
    );
}

/// Ten thousand rules, on one URI the client does not know or on ten thousand: `check`
/// finishes, with every warning and a bounded number of "did you mean" hints. (How long it
/// takes is measured by hand: see SECURITY.md.)
#[test]
fn a_pack_of_ten_thousand_rules_is_checked() {
    let mut text = String::from("rules:\n");
    for n in 0..10_000 {
        text.push_str(&format!(
            "  - id: r{n}\n    on: /lol-matchmaking{n}/v1/ready-check\n    do:\n      - request: POST /lol-matchmaking{n}/v1/ready-check/accept\n"
        ));
    }
    let dir = Dir::new();
    let file = dir.file("pack.yaml", &text);
    let output = lcu_rules(&["check", "--format", "json", file.to_str().unwrap()]);
    assert_eq!(output.code, 0);
    let output: Value = serde_json::from_str(&output.stdout).unwrap();
    let found = output["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(found.len(), 20_000);
    let hinted = found
        .iter()
        .filter(|d| d["hint"].as_str().unwrap_or("").contains("did you mean"))
        .count();
    assert_eq!(hinted, 100);
}

fn accept_rules() -> Arc<RuleSet> {
    let loaded = load(&[rules_dir().join("accept-ready-check.yaml")]);
    assert!(!loaded.has_errors());
    Arc::new(loaded.rule_set())
}

fn options(sim: &SimClient, trust: Trust) -> LiveOptions {
    let mut options = LiveOptions::new(Discovery::Lockfile(sim.lockfile()), trust, Vec::new());
    options.poll_interval = Duration::from_millis(50);
    options.backoff_min = Duration::from_millis(20);
    options.backoff_max = Duration::from_millis(200);
    options
}

fn start(sim: &SimClient, rules: Arc<RuleSet>, trust: Trust) -> Service {
    Service::start(
        rules,
        options(sim, trust),
        Arc::new(Collector::default()),
        EngineConfig::default(),
    )
}

fn sim_trust(sim: &SimClient) -> Trust {
    Trust::riot_and_file(&sim.ca_file()).expect("sim CA")
}

/// A client that takes every request and answers none: the service waits, and stopping it
/// still ends at once (it used to hang for good, deaf to SIGINT).
#[tokio::test]
async fn a_client_that_never_answers_cannot_hold_up_shutdown() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    sim.set_faults(Faults {
        slow: Some(("/".into(), Duration::from_secs(3600))),
        ..Faults::default()
    });
    let service = start(&sim, accept_rules(), sim_trust(&sim));
    let deadline = tokio::time::Instant::now() + WAIT;
    while sim.requests().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no request made");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(matches!(
        *service.status.borrow(),
        Status::Connecting { .. }
    ));
    tokio::time::timeout(WAIT, service.stop())
        .await
        .expect("shutdown waited on a request the client never answers");
}

/// A body over the 32 MiB cap is an error that says so; it is not read into memory.
#[tokio::test]
async fn an_oversize_body_is_refused_with_a_clear_error() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    sim.set_faults(Faults {
        huge_body: Some((READY_CHECK.into(), 33 * 1024 * 1024)),
        ..Faults::default()
    });
    let service = start(&sim, accept_rules(), sim_trust(&sim));
    let mut status = service.status.clone();
    let reason = tokio::time::timeout(
        WAIT,
        status.wait_for(|s| matches!(s, Status::Retrying { .. })),
    )
    .await
    .expect("a failed attempt")
    .expect("status")
    .clone();
    let Status::Retrying { reason } = reason else {
        unreachable!()
    };
    assert!(reason.contains(READY_CHECK), "{reason}");
    assert!(reason.contains("32 MiB"), "{reason}");
    service.stop().await;
}

/// A certificate that does not verify is retried with the same growing backoff as any failed
/// connection (it was retried every 100 ms), and no request is sent.
#[tokio::test]
async fn a_refused_certificate_is_backed_off_from() {
    let dir = Dir::new();
    let sim = SimClient::start(dir.path()).await.unwrap();
    let service = start(&sim, accept_rules(), Trust::riot());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let attempts = sim.tls_attempts();
    service.stop().await;
    // 20 ms doubling to a 200 ms cap (±20 %) allows about 13 attempts in two seconds; at a
    // fixed 20 ms it would be about 100.
    assert!((3..=25).contains(&attempts), "{attempts} attempts");
    assert!(sim.requests().is_empty());
}

/// What a rule puts in a request path reaches the client as captured: an encoded capture is
/// decoded once and sent as the id it is (`%40` had become `%2540`; `@` needs no escape in a
/// path), a `/` in data stays inside its segment, and a `..` from data is never sent.
#[tokio::test]
async fn data_in_a_path_keeps_its_shape() {
    let dir = Dir::new();
    let rules = dir.file(
        "paths.yaml",
        "rules:\n  - id: reply\n    on: /lol-chat/v1/conversations/{id}/messages\n    mode: parallel\n    do:\n      - request: 'POST /lol-chat/v1/conversations/{{params.id}}/messages'\n  - id: note\n    on: /lol-chat/v1/conversations/{id}/messages\n    mode: parallel\n    do:\n      - request: 'PUT /lol-chat/v1/conversations/{{data.name}}/notes'\n",
    );
    let sim = SimClient::start(&dir.path().join("sim")).await.unwrap();
    let mut service = start(&sim, Arc::new(load(&[rules]).rule_set()), sim_trust(&sim));
    assert!(service.wait_connected(1, WAIT).await);
    sim.publish(
        "/lol-chat/v1/conversations/abc%40pvp.net/messages",
        EventType::Create,
        json!({"name": "a/b"}),
    );
    let sent = sim
        .wait_for_request("PUT", "/lol-chat/v1/conversations/a%2Fb/notes", 0, WAIT)
        .await;
    assert!(sent.is_some(), "{:?}", paths(&sim));
    assert_eq!(
        sim.count_requests("POST", "/lol-chat/v1/conversations/abc@pvp.net/messages"),
        1,
        "{:?}",
        paths(&sim)
    );
    sim.clear_requests();
    for name in ["..", "."] {
        sim.publish(
            "/lol-chat/v1/conversations/x/messages",
            EventType::Create,
            json!({ "name": name }),
        );
    }
    sim.wait_for_request("POST", "/lol-chat/v1/conversations/x/messages", 1, WAIT)
        .await
        .expect("both events handled");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let puts: Vec<String> = paths(&sim)
        .into_iter()
        .filter(|p| p.starts_with("PUT"))
        .collect();
    assert!(puts.is_empty(), "a dot segment was sent: {puts:?}");
    service.stop().await;
}

fn paths(sim: &SimClient) -> Vec<String> {
    sim.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}
