//! The first hour of a new user, through the built binary in a private home: the rules folder
//! `init` sets up and every command defaults to, the schema beside the rules, every mistake in
//! one pass, no silent failure, a quiet exit on a closed pipe, one JSON shape, completions and
//! the man page, and tests that assert what `log` steps wrote.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Dir, Home, Running, lcu_rules, rules_dir};

/// The user's rules folder of `home`.
fn user_rules(home: &Home) -> PathBuf {
    PathBuf::from(home.paths()["rules_dir"].as_str().unwrap())
}

/// Parses a command's JSON output and checks the shared envelope.
fn envelope(stdout: &str, command: &str) -> Value {
    let value: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(value["version"], 1, "{value:#}");
    assert_eq!(value["command"], command, "{value:#}");
    value
}

/// Without paths, `check`, `test` and `explain` use the service's rules folder and say so; before
/// `init` there is none, and they say how to make it.
#[test]
fn commands_default_to_the_services_rules_folder() {
    let home = Home::new();
    let before = home.lcu_rules(&["check"]);
    assert_eq!(before.code, 2, "{}", before.stderr);
    assert!(
        before.stderr.contains("lcu-rules init"),
        "{}",
        before.stderr
    );

    assert_eq!(home.lcu_rules(&["init"]).code, 0);
    let folder = user_rules(&home);
    let check = home.lcu_rules(&["check"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check
            .stderr
            .contains(&format!("rules: {} (your rules folder)", folder.display())),
        "{}",
        check.stderr
    );
    let test = home.lcu_rules(&["test"]);
    assert_eq!(test.code, 0, "{}{}", test.stdout, test.stderr);
    assert!(
        test.stdout
            .contains(&folder.join("accept-ready-check.yaml").display().to_string())
    );
    let events = rules_dir().join("fixtures/champ-select-rez-20251208.jsonl");
    let explain = home.lcu_rules(&["explain", "--events", events.to_str().unwrap()]);
    assert_eq!(explain.code, 0, "{}", explain.stderr);
    assert!(
        explain.stdout.contains("rule accept-ready-check"),
        "{}",
        explain.stdout
    );

    // A config that names other folders wins, as it does for `run`.
    let config = PathBuf::from(home.paths()["config_file"].as_str().unwrap());
    let mine = config.parent().unwrap().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("only.yaml"), accept_rule_text()).unwrap();
    std::fs::write(&config, "rules: [mine]\n").unwrap();
    let check = home.lcu_rules(&["check", "--format", "json"]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check.stderr.contains(&format!("rules: {}", mine.display())),
        "{}",
        check.stderr
    );
    let report = envelope(&check.stdout, "check");
    assert_eq!(report["summary"]["files"], 1, "{report:#}");
}

fn accept_rule_text() -> String {
    std::fs::read_to_string(rules_dir().join("accept-ready-check.yaml")).unwrap()
}

/// `init` writes the schema, a README, the examples (only the accept enabled) and the VS Code
/// mapping; each example's modeline names a schema that is there; a second `init` writes
/// nothing and names what is in the way; `--force` overwrites.
#[test]
fn init_sets_up_the_folder_and_never_overwrites_unasked() {
    let home = Home::new();
    let output = home.lcu_rules(&["init"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let folder = user_rules(&home);
    for file in [
        "rules.schema.json",
        "README.md",
        ".vscode/settings.json",
        "accept-ready-check.yaml",
    ] {
        assert!(folder.join(file).is_file(), "{file}");
        assert!(
            output
                .stdout
                .contains(&PathBuf::from(file).display().to_string()),
            "{}",
            output.stdout
        );
    }
    let schema = std::fs::read_to_string(folder.join("rules.schema.json")).unwrap();
    assert_eq!(schema, lcu_rules(&["schema"]).stdout);
    assert_eq!(
        std::fs::read_to_string(folder.join("README.md"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join(".vscode/settings.json")).unwrap(),
    )
    .unwrap();
    let mapped = &settings["yaml.schemas"]["./rules.schema.json"];
    assert!(
        mapped.as_array().unwrap().iter().any(|g| g == "*.yaml"),
        "{settings:#}"
    );
    let mut examples = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            examples += 1;
            assert_eq!(
                modeline_target(&path),
                Some(folder.join("rules.schema.json")),
                "{}",
                path.display()
            );
        }
    }
    assert_eq!(examples, 5);
    let loaded = lcu_rules::language::load(std::slice::from_ref(&folder));
    let enabled: Vec<&str> = loaded
        .rules()
        .filter(|r| r.enabled)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(enabled, ["accept-ready-check"]);

    let mine = folder.join("play-again.yaml");
    std::fs::write(&mine, "# my own\n").unwrap();
    let again = home.lcu_rules(&["init"]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("`play-again.yaml`") && again.stderr.contains("--force"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "# my own\n");
    assert_eq!(home.lcu_rules(&["init", "--force"]).code, 0);
    assert_ne!(std::fs::read_to_string(&mine).unwrap(), "# my own\n");
}

/// The file a `# yaml-language-server: $schema=` modeline names, resolved as the YAML language
/// server resolves it (relative to the file).
fn modeline_target(file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(file).ok()?;
    let target = text
        .lines()
        .next()?
        .strip_prefix("# yaml-language-server: $schema=")?;
    Some(file.parent()?.join(target)).filter(|p| p.is_file())
}

/// `run` rewrites a stale schema in the user's folder (an upgrade changed the format), and says
/// "waiting for the League client" once, at INFO, with the local time to the second.
#[test]
fn run_keeps_the_schema_current_and_waits_quietly() {
    let home = Home::new();
    assert_eq!(home.lcu_rules(&["init"]).code, 0);
    let folder = user_rules(&home);
    std::fs::write(folder.join("rules.schema.json"), "{}").unwrap();
    let dir = Dir::new();
    let log = dir.path().join("run.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = home
        .command()
        .args(["run", "--no-watch", "--lockfile"])
        .arg(dir.path().join("no-such-lockfile"))
        .env("TZ", "Asia/Kolkata")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .map(Running)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("waiting for the League client")
    {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(2500));
    let status = child.interrupt();
    assert!(status.success(), "{status}");
    let text = std::fs::read_to_string(&log).unwrap();
    let schema = std::fs::read_to_string(folder.join("rules.schema.json")).unwrap();
    assert_eq!(
        schema,
        lcu_rules(&["schema"]).stdout,
        "the schema was brought up to date"
    );
    assert!(text.contains("updated the rule schema in"), "{text}");
    let waiting: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("waiting for the League client"))
        .collect();
    assert_eq!(
        waiting.len(),
        1,
        "said once, though it polls every second: {text}"
    );
    assert!(waiting[0].contains(" INFO "), "{}", waiting[0]);
    // `2026-12-04 23:05:01  INFO ...`: local time (India, UTC+5:30, no daylight saving), seconds.
    let stamp = &waiting[0][..19];
    let utc = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let shown = seconds_of(stamp).unwrap_or_else(|| panic!("not a local time: {stamp}"));
    let skew = shown - (utc + 5 * 3600 + 1800);
    assert!(
        (-60..=5).contains(&skew),
        "{stamp} is not UTC+5:30 ({skew} s off)"
    );
}

/// Seconds since the epoch of `YYYY-MM-DD HH:MM:SS` read as UTC.
fn seconds_of(stamp: &str) -> Option<i64> {
    let (date, time) = stamp.split_once(' ')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2])
}

/// A file with five different mistakes, shape and compile errors mixed.
pub(crate) const FIVE_MISTAKES: &str = "\
rules:
  - id: accept
    on: /lol-matchmaking/v1/ready-check
    mod: single
    do:
      - request: {method: POST, path: /lol-matchmaking/v1/ready-check/accept, retries: many}
  - id: phase
    on: /lol-gameflow/v1/gameflow-phase
    cooldown: soon
    do:
      - log: \"phase {{data}}\"
  - id: honor
    on: /lol-honor-v2/v1/ballot
    mode: sometimes
    do:
      - request: POST /lol-honor-v2/v1/honor-player
tests:
  - name: accepts
    event:
      - uri: /lol-matchmaking/v1/ready-check
    expect: []
";

/// Every mistake of the file in one run, in file order, each with its code and position, each
/// message on one line.
#[test]
fn every_mistake_is_reported_in_one_run() {
    let dir = Dir::new();
    let file = dir.file("five.yaml", FIVE_MISTAKES);
    let output = lcu_rules(&["check", "--format", "json", file.to_str().unwrap()]);
    assert_eq!(output.code, 1);
    let report = envelope(&output.stdout, "check");
    let found: Vec<(String, u64, u64)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let message = d["message"].as_str().unwrap();
            assert!(!message.contains('\n'), "{message}");
            (
                d["code"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("E102", 4, 5),
        ("E103", 6, 88),
        ("E205", 9, 15),
        ("E103", 14, 11),
        ("E102", 19, 5),
    ];
    let expected: Vec<(String, u64, u64)> = expected
        .iter()
        .map(|(c, l, col)| (c.to_string(), *l, *col))
        .collect();
    assert_eq!(found, expected);
    let human = lcu_rules(&["check", file.to_str().unwrap()]);
    assert!(human.stdout.contains("5 error(s)"), "{}", human.stdout);
    assert!(
        human
            .stderr
            .contains("expected a whole number, 0 or more, found the text `many`"),
        "{}",
        human.stderr
    );
}

/// A key with no close match gets a one-line hint; the full list of keys is behind `--verbose`.
#[test]
fn long_lists_wait_for_verbose() {
    let dir = Dir::new();
    let file = dir.file(
        "r.yaml",
        "rules:\n  - id: r\n    on: /a\n    zzzzzz: 1\n    do:\n      - log: x\n",
    );
    let short = lcu_rules(&["check", "--no-api-checks", file.to_str().unwrap()]);
    assert!(
        short.stderr.contains("= hint: none of the"),
        "{}",
        short.stderr
    );
    assert!(!short.stderr.contains("`throttle`"), "{}", short.stderr);
    assert!(short.stderr.contains("--verbose"), "{}", short.stderr);
    for line in short.stderr.lines() {
        assert!(line.chars().count() <= 100, "a long line: {line}");
    }
    let long = lcu_rules(&[
        "check",
        "--verbose",
        "--no-api-checks",
        file.to_str().unwrap(),
    ]);
    assert!(
        long.stderr
            .contains("= note: allowed keys: `id`, `description`"),
        "{}",
        long.stderr
    );
    assert!(long.stderr.contains("`throttle`"), "{}", long.stderr);
}

/// Mistakes on the command line are errors with a reason, never ignored.
#[test]
fn nothing_on_the_command_line_fails_silently() {
    let home = Home::new();
    let level = home.lcu_rules(&["run", "--log-level", "verbose"]);
    assert_eq!(level.code, 2, "{}", level.stderr);
    assert!(level.stderr.contains("--log-level"), "{}", level.stderr);
    assert!(
        level.stderr.contains("error, warn, info, debug or trace"),
        "{}",
        level.stderr
    );
    let typo = home.lcu_rules(&["run", "--log-level", "debgu"]);
    assert!(
        typo.stderr.contains("did you mean `debug`?"),
        "{}",
        typo.stderr
    );
    let config = home.lcu_rules(&["run", "--config", "/no/such/config.yaml"]);
    assert_eq!(config.code, 2, "{}", config.stderr);
    assert!(
        config
            .stderr
            .contains("the config file /no/such/config.yaml does not exist"),
        "{}",
        config.stderr
    );
}

/// `| head` closes the pipe early: every command then stops quietly, with success.
#[test]
fn a_closed_pipe_ends_quietly() {
    let rules = rules_dir();
    let events = rules.join("fixtures/champ-select-rez-20251208.jsonl");
    let commands: [Vec<&str>; 4] = [
        vec!["test", rules.to_str().unwrap()],
        vec![
            "test",
            "--events",
            events.to_str().unwrap(),
            "--include-disabled",
            "--why",
            rules.to_str().unwrap(),
        ],
        vec!["schema"],
        vec!["completions", "bash"],
    ];
    for args in commands {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lcu-rules"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the first line is written.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// Every JSON output has `version` and `command`, and names things alike: `file` and `line` for
/// places, `rule` for a rule id, `rule_paths` for what was loaded.
#[test]
fn json_outputs_share_one_shape() {
    let rules = rules_dir();
    let rules_arg = rules.to_str().unwrap();
    let check = envelope(
        &lcu_rules(&["check", "--format", "json", rules_arg]).stdout,
        "check",
    );
    assert!(check["rule_paths"].is_array() && check["summary"]["rules"].as_u64() > Some(0));
    let test = envelope(
        &lcu_rules(&["test", "--format", "json", rules_arg]).stdout,
        "test",
    );
    let case = &test["cases"][0];
    assert!(
        case["file"].is_string() && case["line"].is_u64() && case["passed"] == true,
        "{case:#}"
    );
    assert_eq!(test["summary"]["failed"], 0);
    let events = rules.join("fixtures/champ-select-rez-20251208.jsonl");
    let explain = envelope(
        &lcu_rules(&[
            "explain",
            "--format",
            "json",
            "--rule",
            "pick-champion-by-priority",
            "--events",
            events.to_str().unwrap(),
            rules_arg,
        ])
        .stdout,
        "explain",
    );
    let row = &explain["rules"][0]["rows"][0];
    assert!(explain["rules"][0]["rule"].is_string());
    assert!(
        row["event_type"].is_string() && row.get("eventType").is_none(),
        "{row:#}"
    );
    let endpoints = envelope(
        &lcu_rules(&["endpoints", "ready-check", "--format", "json"]).stdout,
        "endpoints",
    );
    let accept = endpoints["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/lol-matchmaking/v1/ready-check/accept")
        .expect("the accept endpoint");
    assert_eq!(accept["methods"], serde_json::json!(["POST"]));
    let home = Home::new();
    let paths = envelope(
        &home.lcu_rules(&["paths", "--format", "json"]).stdout,
        "paths",
    );
    assert!(paths["rules_dir"].is_string());
}

/// Completions for the four shells and a man page, generated from the same command line; every
/// subcommand's help shows an example.
#[test]
fn completions_man_page_and_examples_in_help() {
    for (shell, marker) in [
        ("bash", "COMPREPLY"),
        ("zsh", "#compdef lcu-rules"),
        ("fish", "complete -c lcu-rules"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let output = lcu_rules(&["completions", shell]);
        assert_eq!(output.code, 0, "{shell}: {}", output.stderr);
        assert!(
            output.stdout.contains(marker),
            "{shell}: {}",
            &output.stdout[..output.stdout.len().min(300)]
        );
        assert!(
            output.stdout.contains("init") && output.stdout.contains("explain"),
            "{shell}"
        );
    }
    let man = lcu_rules(&["man"]);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH lcu-rules"),
        "{}",
        &man.stdout[..200]
    );
    assert!(man.stdout.contains("init"));
    let help = lcu_rules(&["--help"]).stdout;
    let subcommands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(subcommands.len() >= 17, "{subcommands:?}");
    for subcommand in subcommands {
        let output = lcu_rules(&[subcommand, "--help"]);
        assert!(
            output.stdout.contains("Example"),
            "`{subcommand} --help` has no example:\n{}",
            output.stdout
        );
    }
}

/// A rule whose only action is a log line can be tested: `logs:` lists what must be written.
#[test]
fn tests_can_assert_what_log_steps_wrote() {
    let rule = "\
rules:
  - id: say-phase
    on: /lol-gameflow/v1/gameflow-phase
    do:
      - log: \"now {{data}}\"
tests:
  - name: says each phase
    events:
      - {uri: /lol-gameflow/v1/gameflow-phase, data: Lobby}
      - {uri: /lol-gameflow/v1/gameflow-phase, data: ReadyCheck, at: 3s}
    expect: []
    logs:
      - now Lobby
      - {contains: Ready, rule: say-phase, at: 3s}
";
    let dir = Dir::new();
    let good = dir.file("good.yaml", rule);
    let output = lcu_rules(&["test", good.to_str().unwrap()]);
    assert_eq!(output.code, 0, "{}", output.stdout);
    assert!(output.stdout.contains("2 log line(s)"), "{}", output.stdout);
    let bad = dir.file("bad.yaml", &rule.replace("- now Lobby\n", "- now Lobby!\n"));
    let output = lcu_rules(&["test", bad.to_str().unwrap()]);
    assert_eq!(output.code, 1, "{}", output.stdout);
    assert!(output.stdout.contains("log lines:"), "{}", output.stdout);
    assert!(
        output.stdout.contains("expected: \"now Lobby!\""),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("written:  \"now Lobby\" (rule say-phase) at 0ms"),
        "{}",
        output.stdout
    );
}
