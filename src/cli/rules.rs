//! The commands that work on rule files without a client: `check`, `endpoints`, `test` and
//! `explain --events`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use lcu_rules::engine::render;
use lcu_rules::event::{read_recording, timed};
use lcu_rules::language::ApiIndex;
use lcu_rules::language::MethodName;
use lcu_rules::language::RuleSet;
use lcu_rules::language::{Severity, closest};
use lcu_rules::language::{load, load_with};
use lcu_rules::offline::explain;
use lcu_rules::offline::{render_timeline, replay, run_case};
use lcu_rules::service::app::print_load_errors;

use crate::cli::args::Format;

/// The rule paths given, or the default ones when none were.
pub(crate) fn or_default(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        lcu_rules::offline::default_rule_paths()
    } else {
        paths
    }
}

pub(crate) fn read_api_dump(swagger: &Path, events: Option<&Path>) -> anyhow::Result<ApiIndex> {
    let text = std::fs::read_to_string(swagger)
        .with_context(|| format!("cannot read `{}`", swagger.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("`{}` is not JSON", swagger.display()))?;
    let topics = match events {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}`", path.display()))?,
        None => String::new(),
    };
    ApiIndex::from_dump(&value, &topics, &swagger.display().to_string()).map_err(anyhow::Error::msg)
}

/// Lists endpoints and topics; stops quietly when the reader goes away (`| head`).
pub(crate) fn list_endpoints(filter: &str) {
    use std::io::Write as _;
    let index = ApiIndex::embedded();
    let endpoints = index.search(filter);
    let topics = index.search_topics(filter);
    let mut out = std::io::stdout().lock();
    let mut write = || -> std::io::Result<()> {
        for endpoint in &endpoints {
            let bodies: Vec<String> = endpoint
                .methods
                .iter()
                .filter_map(|m| {
                    let method = MethodName::parse(m)?;
                    Some(format!(
                        "{m} body: {}",
                        index.body_type(method, &endpoint.path)?
                    ))
                })
                .collect();
            let bodies = if bodies.is_empty() {
                String::new()
            } else {
                format!("  ({})", bodies.join("; "))
            };
            writeln!(
                out,
                "{:<24} {}{bodies}",
                endpoint.methods.join(","),
                endpoint.path
            )?;
        }
        if !topics.is_empty() {
            writeln!(
                out,
                "\nevent topics (events for these URIs and those below them):"
            )?;
            for topic in &topics {
                writeln!(out, "  {topic}")?;
            }
        }
        writeln!(
            out,
            "\n{} endpoint(s), {} event topic(s) ({})",
            endpoints.len(),
            topics.len(),
            index.source
        )
    };
    let _ = write();
}

pub(crate) fn check(
    paths: &[PathBuf],
    format: Format,
    deny_warnings: bool,
    api: Option<&ApiIndex>,
) -> ExitCode {
    let mut loaded = load_with(paths, api);
    if deny_warnings {
        for diagnostic in &mut loaded.diagnostics {
            diagnostic.severity = Severity::Error;
        }
    }
    let errors = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = loaded.diagnostics.len() - errors;
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&loaded.diagnostics).unwrap_or_default()
        ),
        Format::Human => {
            for diagnostic in &loaded.diagnostics {
                eprintln!("{}", diagnostic.render());
            }
            let rules = loaded.rules().count();
            let files = loaded.files.len();
            let tests: usize = loaded.files.iter().map(|f| f.tests.len()).sum();
            println!(
                "{files} file(s), {rules} rule(s), {tests} test case(s): {errors} error(s), {warnings} warning(s)"
            );
        }
    }
    if errors > 0 || (deny_warnings && warnings > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

pub(crate) fn run_tests(paths: &[PathBuf], verbose: bool) -> anyhow::Result<ExitCode> {
    let loaded = load(paths);
    if print_load_errors(&loaded) {
        eprintln!("the rules have errors; fix them first (see `lcu-rules check`)");
        return Ok(ExitCode::from(1));
    }
    let (mut passed, mut failed) = (0, 0);
    for file in &loaded.files {
        if file.tests.is_empty() {
            continue;
        }
        println!("{}", file.path.display());
        let rules = Arc::new(loaded.file_rule_set(file));
        for case in &file.tests {
            let result =
                run_case(rules.clone(), case).context("could not start the replay runtime")?;
            match &result.failure {
                None => {
                    passed += 1;
                    println!("  ok    {} ({} request(s))", result.name, result.requests);
                }
                Some(diff) => {
                    failed += 1;
                    println!(
                        "  FAIL  {} ({}:{})",
                        result.name,
                        file.path.display(),
                        case.span.line
                    );
                    print!("{diff}");
                }
            }
            if verbose || result.failure.is_some() {
                println!("    timeline:");
                print!("{}", result.timeline);
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) fn explain_session(
    paths: &[PathBuf],
    events: &Path,
    rule: Option<&str>,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let loaded = load(paths);
    if print_load_errors(&loaded) {
        return Ok(ExitCode::from(1));
    }
    if let Some(id) = rule
        && !loaded.rules().any(|r| r.id == id)
    {
        let ids: Vec<&str> = loaded.rules().map(|r| r.id.as_str()).collect();
        let hint = closest(id, ids.iter().copied())
            .map(|b| format!("; did you mean `{b}`?"))
            .unwrap_or_default();
        anyhow::bail!(
            "no rule `{id}` in {}{hint}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let recorded = read_recording(events).map_err(anyhow::Error::msg)?;
    let rules = RuleSet::new(
        loaded.rules().cloned().collect(),
        loaded.registry.clone(),
        true,
    );
    let explanations = explain(Arc::new(rules), timed(recorded, Default::default()), rule)
        .context("could not start the replay runtime")?;
    use std::io::Write as _;
    let text = match format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&explanations).unwrap_or_default()
        ),
        Format::Human => render(&explanations),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn replay_session(
    paths: &[PathBuf],
    events: &Path,
    include_disabled: bool,
    why: bool,
) -> anyhow::Result<ExitCode> {
    let loaded = load(paths);
    if print_load_errors(&loaded) {
        return Ok(ExitCode::from(1));
    }
    let recorded = read_recording(events).map_err(anyhow::Error::msg)?;
    let rules: Vec<_> = loaded.rules().cloned().collect();
    let rule_set = RuleSet::new(rules, loaded.registry.clone(), include_disabled);
    let result = replay(
        Arc::new(rule_set),
        timed(recorded, Default::default()),
        Vec::new(),
    )
    .context("could not start the replay runtime")?;
    print!("{}", render_timeline(&result.traces, why));
    let report = &result.report;
    println!(
        "\n{} event(s), {} run(s) started, {} completed, {} failed, {} held back, {} request(s) sent",
        report.events,
        report.runs_started,
        report.runs_completed,
        report.runs_failed,
        report.suppressed,
        result.sent.len()
    );
    Ok(ExitCode::SUCCESS)
}
