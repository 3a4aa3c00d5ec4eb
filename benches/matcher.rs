//! Matcher and evaluation benchmarks.
//!
//! `matcher/N`: the trigger index over N rules (10 … 10,000) whose URIs are drawn from the real
//! LCU schema (`benches/data/lcu-paths.txt`), some turned into `{param}`, `*` and `**` patterns,
//! over a mix of 1,000 events shaped like a real session (ready check, gameflow, champion select,
//! chat, lobby, and URIs that no rule watches). Reported per event.
//!
//! `evaluate/*`: a full evaluation of a shipped rule on a real-sized event: match, named values,
//! conditions and the rendering of the request it sends.
//!
//! Run: `cargo bench --bench matcher`.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

use lcu_rules::event::{Event, EventType};
use lcu_rules::language::Scope;
use lcu_rules::language::load;
use lcu_rules::language::{Decision, RuleSet, Step};

/// A small deterministic generator, so every run measures the same rule sets and events.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }
}

fn schema_paths() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/data/lcu-paths.txt");
    std::fs::read_to_string(path)
        .expect("benches/data/lcu-paths.txt")
        .lines()
        .filter(|l| l.starts_with('/'))
        .map(str::to_string)
        .collect()
}

/// A rule pattern from a schema path: mostly the path itself, sometimes with its last segment
/// as `*` or its tail as `**`.
fn pattern_from(path: &str, choice: usize) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    match choice % 10 {
        0 if segments.len() > 3 => format!("{}/*", segments[..segments.len() - 1].join("/")),
        1 if segments.len() > 3 => format!("{}/**", segments[..3].join("/")),
        _ => path.to_string(),
    }
}

/// A concrete URI from a schema path (parameters filled in).
fn uri_from(path: &str, n: usize) -> String {
    path.split('/')
        .map(|s| {
            if s.starts_with('{') {
                (n % 97).to_string()
            } else {
                s.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn rule_set(count: usize, paths: &[String]) -> (RuleSet, tempfile::TempDir) {
    let mut rng = Lcg(count as u64);
    let mut yaml = String::from("rules:\n");
    for index in 0..count {
        let path = &paths[rng.next() % paths.len()];
        let pattern = pattern_from(path, rng.next());
        yaml.push_str(&format!(
            "  - id: r{index}\n    on: \"{pattern}\"\n    when: [{{path: $.data.state, equals: S{index}}}]\n    do: [{{log: x}}]\n"
        ));
    }
    load_rules_text(&yaml)
}

/// Loads rules written as YAML text (through a temporary file, as users' files are read).
fn load_rules_text(yaml: &str) -> (RuleSet, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, yaml).expect("write rules");
    let loaded = load(&[file]);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics.first());
    (loaded.rule_set(), dir)
}

/// Reports how many rules match an average event, then benchmarks matching the whole mix.
fn bench_index(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    label: &str,
    count: usize,
    rules: &RuleSet,
    events: &[(String, EventType)],
) {
    let mut hits = Vec::new();
    let total: usize = events
        .iter()
        .map(|(uri, event_type)| {
            rules.candidates(uri, *event_type, &mut hits);
            hits.len()
        })
        .sum();
    eprintln!(
        "{label}/{count}: {:.2} matching rules per event on average",
        total as f64 / events.len() as f64
    );
    group.bench_with_input(BenchmarkId::from_parameter(count), &count, |b, _| {
        b.iter(|| {
            let mut total = 0;
            for (uri, event_type) in events {
                rules.candidates(black_box(uri), *event_type, &mut hits);
                total += hits.len();
            }
            total
        })
    });
}

/// The URIs a session's events mostly carry.
fn hot_uris() -> Vec<&'static str> {
    vec![
        "/lol-matchmaking/v1/ready-check",
        "/lol-gameflow/v1/gameflow-phase",
        "/lol-gameflow/v1/session",
        "/lol-champ-select/v1/session",
        "/lol-lobby/v2/lobby",
        "/lol-matchmaking/v1/search",
        "/lol-chat/v1/conversations/abc@champ-select.pvp.net/messages/17",
        "/lol-chat/v1/friends/4f1c",
        "/lol-end-of-game/v1/eog-stats-block",
        "/lol-summoner/v1/current-summoner",
    ]
}

/// 1,000 event URIs: the hot URIs of a session, schema URIs, and URIs nobody watches.
fn event_mix(paths: &[String]) -> Vec<(String, EventType)> {
    let hot = hot_uris();
    let mut rng = Lcg(7);
    (0..1000)
        .map(|i| {
            let uri = match rng.next() % 10 {
                0..=4 => hot[rng.next() % hot.len()].to_string(),
                5..=8 => uri_from(&paths[rng.next() % paths.len()], i),
                _ => format!("/riot-messaging-service/v1/message/{i}/unwatched"),
            };
            let event_type = [
                EventType::Update,
                EventType::Update,
                EventType::Create,
                EventType::Delete,
            ][rng.next() % 4];
            (uri, event_type)
        })
        .collect()
}

fn bench_matcher(c: &mut Criterion) {
    let paths = schema_paths();
    let events = event_mix(&paths);
    let mut group = c.benchmark_group("matcher");
    group.throughput(Throughput::Elements(events.len() as u64));
    for count in [10, 100, 1_000, 10_000] {
        let (rules, _dir) = rule_set(count, &paths);
        bench_index(&mut group, "matcher", count, &rules, &events);
    }
    group.finish();
}

/// The same index cost question with the output held constant: the 10 rules that can match sit
/// on the session's hot URIs; every other rule sits on a schema path that no event touches.
fn bench_matcher_fixed_output(c: &mut Criterion) {
    let paths = schema_paths();
    // Split the schema by plugin (first segment) so no filler pattern can match a watched URI.
    let hot = hot_uris();
    let plugin = |path: &str| path.split('/').nth(1).unwrap_or("").to_string();
    let hot_plugins: Vec<String> = hot.iter().map(|u| plugin(u)).collect();
    let mut plugins: Vec<String> = paths.iter().map(|p| plugin(p)).collect();
    plugins.sort();
    plugins.dedup();
    let watched_plugins: Vec<&String> = plugins
        .iter()
        .enumerate()
        .filter(|(i, p)| i % 2 == 0 || hot_plugins.contains(p))
        .map(|(_, p)| p)
        .collect();
    let (watched, filler): (Vec<String>, Vec<String>) = paths
        .iter()
        .cloned()
        .partition(|p| watched_plugins.contains(&&plugin(p)));
    let mut rng = Lcg(11);
    let events: Vec<(String, EventType)> = (0..1000)
        .map(|i| {
            let uri = match rng.next() % 10 {
                0..=5 => hot[rng.next() % hot.len()].to_string(),
                _ => uri_from(&watched[rng.next() % watched.len()], i),
            };
            (uri, EventType::Update)
        })
        .collect();
    let mut group = c.benchmark_group("matcher-fixed-output");
    group.throughput(Throughput::Elements(events.len() as u64));
    for count in [10usize, 100, 1_000, 10_000] {
        let mut yaml = String::from("rules:\n");
        for (index, uri) in hot.iter().copied().enumerate().chain(
            (0..count.saturating_sub(hot.len()))
                .map(|i| (hot.len() + i, filler[i % filler.len()].as_str())),
        ) {
            yaml.push_str(&format!(
                "  - id: r{index}\n    on: \"{uri}\"\n    do: [{{log: x}}]\n"
            ));
        }
        let (rules, _dir) = load_rules_text(&yaml);
        bench_index(&mut group, "matcher-fixed-output", count, &rules, &events);
    }
    group.finish();
}

fn shipped_rules() -> lcu_rules::language::Loaded {
    let loaded = load(&[PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")]);
    assert!(!loaded.has_errors());
    loaded
}

/// Match, evaluate, and render the first request of `rule_id` for `event`.
fn full_evaluation(
    rules: &RuleSet,
    event: &Event,
    hits: &mut Vec<lcu_rules::language::Hit>,
) -> usize {
    rules.candidates(&event.uri, event.event_type, hits);
    let mut sent = 0;
    for hit in hits.iter() {
        let rule = rules.rule(hit.rule);
        let Decision::Fire(firing) = rule.evaluate(
            event,
            hit.trigger as usize,
            &rules.registry,
            &serde_json::Value::Null,
            None,
        ) else {
            continue;
        };
        if let Some(Step::Request(step)) = rule.steps.first() {
            let scope = Scope {
                event,
                params: &firing.params,
                bindings: &firing.bindings,
                binding_names: &rule.binding_names,
                steps: None,
                item: None,
                vars: None,
                memory: None,
            };
            let id: Arc<str> = Arc::from(rule.id.as_str());
            let request = lcu_rules::engine::render_request(step, &scope, &rules.registry, &id)
                .expect("renders");
            sent += request.path.len();
        }
    }
    sent
}

fn bench_evaluation(c: &mut Criterion) {
    let loaded = shipped_rules();
    let all = RuleSet::new(
        loaded.rules().cloned().collect(),
        loaded.registry.clone(),
        true,
    );
    let mut group = c.benchmark_group("evaluate");

    // The real `readyCheck` object of a /lol-matchmaking/v1/search payload (see the rule file).
    let ready_check = Event::new(
        "/lol-matchmaking/v1/ready-check",
        EventType::Update,
        json!({"declinerIds": [], "dodgeWarning": "None", "playerResponse": "None", "state": "InProgress", "suppressUx": false, "timer": 0.0}),
    );
    let mut hits = Vec::new();
    assert_eq!(
        full_evaluation(&all, &ready_check, &mut hits),
        "/lol-matchmaking/v1/ready-check/accept".len()
    );
    group.bench_function("accept-ready-check", |b| {
        b.iter(|| full_evaluation(&all, black_box(&ready_check), &mut hits))
    });

    // The real champion-select frame on which the pick rule fires (about 10 KB).
    let capture = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("rules/fixtures/champ-select-rez-20251208.jsonl"),
    )
    .expect("fixture");
    let frame = capture.lines().nth(35).expect("frame 36");
    let pick_turn = lcu_rules::event::parse_recorded_line(frame)
        .expect("parses")
        .expect("an event")
        .event;
    assert!(full_evaluation(&all, &pick_turn, &mut hits) > 0);
    group.bench_function("pick-champion-10kb-frame", |b| {
        b.iter(|| full_evaluation(&all, black_box(&pick_turn), &mut hits))
    });

    // The ready check's frame as the client sends it, read from the wire.
    let ready_frame = serde_json::json!([8, "OnJsonApiEvent", {"data": ready_check.data.value(), "eventType": "Update", "uri": ready_check.uri}]).to_string();
    group.bench_function("parse-ready-check-frame", |b| {
        b.iter(|| lcu_rules::client::parse_frame(black_box(&ready_frame)))
    });

    // Parsing that frame from the wire, for scale.
    let raw: Value = serde_json::from_str(frame).expect("json");
    let wire = raw["rawData"].to_string();
    group.bench_function("parse-10kb-frame", |b| {
        b.iter(|| lcu_rules::client::parse_frame(black_box(&wire)))
    });
    group.finish();
}

/// What the API checks add to `check`: parsing the shipped index, and checking the examples with
/// and without it.
fn bench_api_checks(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/lcu-api-index.json"),
    )
    .expect("index");
    group.bench_function("parse-api-index", |b| {
        b.iter(|| lcu_rules::language::ApiIndex::from_json(black_box(&text)).expect("index"))
    });
    let index = lcu_rules::language::ApiIndex::from_json(&text).expect("index");
    let rules = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules")];
    group.bench_function("examples-without-api-checks", |b| {
        b.iter(|| lcu_rules::language::load_with(black_box(&rules), None))
    });
    group.bench_function("examples-with-api-checks", |b| {
        b.iter(|| lcu_rules::language::load_with(black_box(&rules), Some(&index)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench_matcher, bench_matcher_fixed_output, bench_evaluation, bench_api_checks
}
criterion_main!(benches);
