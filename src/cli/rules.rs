//! The commands that work on rule files without a client: `init`, `check`, `endpoints`, `test`
//! and `explain --events`. Without paths they use the rules folders `run` uses (the config's
//! `rules`, else the user's rules folder) and say which.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::json;

use lcu_rules::engine::render;
use lcu_rules::event::{read_recording, timed};
use lcu_rules::language::ApiIndex;
use lcu_rules::language::MethodName;
use lcu_rules::language::RuleSet;
use lcu_rules::language::{Loaded, Severity, closest};
use lcu_rules::language::{load, load_with};
use lcu_rules::offline::explain;
use lcu_rules::offline::{render_timeline, replay, run_case};
use lcu_rules::service::Paths;

use crate::cli::args::Format;
use crate::cli::out::{self, out, outln};

/// The rule paths given; without any, the service's rules folders (the config's `rules`, or the
/// user's rules folder), named on stderr so nobody checks the wrong files unawares.
pub(crate) fn rule_paths(paths: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    if !paths.is_empty() {
        return Ok(paths);
    }
    let (folders, whose) = service_rule_paths()?;
    if let Some(missing) = folders.iter().find(|p| !p.exists()) {
        anyhow::bail!(
            "there is no rules folder at {} yet: `lcu-rules init` sets it up with the example rules, or name rule files (`lcu-rules check my-rules/`)",
            missing.display()
        );
    }
    eprintln!("rules: {} ({whose})", display_list(&folders));
    Ok(folders)
}

/// The folders `run` loads when given none, and where that choice comes from.
fn service_rule_paths() -> anyhow::Result<(Vec<PathBuf>, String)> {
    let paths = Paths::discover()?;
    if paths.config_file.exists() {
        let config = lcu_rules::service::read_config(&paths.config_file).map_err(|errors| {
            for error in &errors {
                eprintln!("{}", error.render());
            }
            anyhow::anyhow!("the config file {} has errors", paths.config_file.display())
        })?;
        if let Some(rules) = config.rules {
            return Ok((rules, format!("from {}", paths.config_file.display())));
        }
    }
    Ok((vec![paths.rules_dir], "your rules folder".to_string()))
}

fn display_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `lcu-rules init`: sets up `dir` (default: the user's rules folder) and lists what it wrote.
pub(crate) fn init(dir: Option<PathBuf>, force: bool) -> anyhow::Result<ExitCode> {
    let dir = match dir {
        Some(dir) => dir,
        None => Paths::discover()?.rules_dir,
    };
    let written = lcu_rules::service::userdir::init(&dir, force)?;
    outln!("set up {}:", dir.display());
    for file in &written {
        outln!("  {}", file.display());
    }
    outln!(
        "\nonly accept-ready-check.yaml is enabled. Open the folder in VS Code (with the YAML extension) for completion;\n`lcu-rules check` checks it, `lcu-rules run` runs it."
    );
    Ok(ExitCode::SUCCESS)
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

/// Lists endpoints and topics whose path contains `filter`.
pub(crate) fn list_endpoints(filter: &str, format: Format) {
    let index = ApiIndex::embedded();
    let endpoints = index.search(filter);
    let topics = index.search_topics(filter);
    let body_of =
        |method: &str, path: &str| MethodName::parse(method).and_then(|m| index.body_type(m, path));
    if format == Format::Json {
        let endpoints: Vec<_> = endpoints
            .iter()
            .map(|e| {
                let bodies: serde_json::Map<String, serde_json::Value> = e
                    .methods
                    .iter()
                    .filter_map(|m| Some((m.clone(), json!(body_of(m, &e.path)?))))
                    .collect();
                json!({"path": e.path, "methods": e.methods, "bodies": bodies})
            })
            .collect();
        out::json(
            "endpoints",
            json!({"source": index.source, "endpoints": endpoints, "event_topics": topics}),
        );
        return;
    }
    for endpoint in &endpoints {
        let bodies: Vec<String> = endpoint
            .methods
            .iter()
            .filter_map(|m| Some(format!("{m} body: {}", body_of(m, &endpoint.path)?)))
            .collect();
        let bodies = if bodies.is_empty() {
            String::new()
        } else {
            format!("  ({})", bodies.join("; "))
        };
        outln!(
            "{:<24} {}{bodies}",
            endpoint.methods.join(","),
            endpoint.path
        );
    }
    if !topics.is_empty() {
        outln!("\nevent topics (events for these URIs and those below them):");
        for topic in &topics {
            outln!("  {topic}");
        }
    }
    outln!(
        "\n{} endpoint(s), {} event topic(s) ({})",
        endpoints.len(),
        topics.len(),
        index.source
    );
}

/// How `check` reports.
pub(crate) struct CheckOptions {
    pub format: Format,
    pub deny_warnings: bool,
    pub verbose: bool,
}

pub(crate) fn check(paths: &[PathBuf], options: &CheckOptions, api: Option<&ApiIndex>) -> ExitCode {
    let mut loaded = load_with(paths, api);
    if options.deny_warnings {
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
    // As written: a file, rule or test with a mistake still counts.
    let lcu_rules::language::Written {
        files,
        rules,
        tests,
    } = loaded.written;
    match options.format {
        Format::Json => out::json(
            "check",
            json!({
                "rule_paths": paths,
                "summary": {"files": files, "rules": rules, "tests": tests, "errors": errors, "warnings": warnings},
                "diagnostics": loaded.diagnostics,
            }),
        ),
        Format::Human => {
            for diagnostic in &loaded.diagnostics {
                eprintln!("{}", diagnostic.render_with(options.verbose));
            }
            // Worth saying only where the hint could not name the likely word.
            let more = loaded.diagnostics.iter().any(|d| {
                d.detail.is_some()
                    && !d
                        .hint
                        .as_deref()
                        .is_some_and(|h| h.starts_with("did you mean"))
            });
            if more && !options.verbose {
                eprintln!("(`--verbose` adds the full lists of allowed keys and values)");
            }
            outln!(
                "{files} file(s), {rules} rule(s), {tests} test case(s): {errors} error(s), {warnings} warning(s)"
            );
        }
    }
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints a load's errors (and its warnings) to stderr; true if it has errors.
fn refuse_on_errors(loaded: &Loaded) -> bool {
    lcu_rules::service::app::print_load_errors(loaded)
}

pub(crate) fn run_tests(
    paths: &[PathBuf],
    verbose: bool,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let loaded = load(paths);
    if refuse_on_errors(&loaded) {
        eprintln!("the rules have errors; fix them first (see `lcu-rules check`)");
        return Ok(ExitCode::from(1));
    }
    let human = format == Format::Human;
    let (mut passed, mut failed) = (0, 0);
    let mut cases = Vec::new();
    for file in &loaded.files {
        if file.tests.is_empty() {
            continue;
        }
        if human {
            outln!("{}", file.path.display());
        }
        let rules = Arc::new(loaded.file_rule_set(file));
        for case in &file.tests {
            let result =
                run_case(rules.clone(), case).context("could not start the replay runtime")?;
            match &result.failure {
                None => passed += 1,
                Some(_) => failed += 1,
            }
            if !human {
                cases.push(json!({
                    "file": file.path, "line": case.span.line, "name": result.name,
                    "passed": result.failure.is_none(), "requests": result.requests,
                    "logs": result.logs, "failure": result.failure,
                }));
                continue;
            }
            match &result.failure {
                None if result.logs.is_empty() => {
                    outln!("  ok    {} ({} request(s))", result.name, result.requests)
                }
                None => outln!(
                    "  ok    {} ({} request(s), {} log line(s))",
                    result.name,
                    result.requests,
                    result.logs.len()
                ),
                Some(diff) => {
                    outln!(
                        "  FAIL  {} ({}:{})",
                        result.name,
                        file.path.display(),
                        case.span.line
                    );
                    out!("{diff}");
                }
            }
            if verbose || result.failure.is_some() {
                outln!("    timeline:");
                out!("{}", result.timeline);
            }
        }
    }
    if human {
        outln!("\n{passed} passed, {failed} failed");
    } else {
        out::json(
            "test",
            json!({"rule_paths": paths, "summary": {"passed": passed, "failed": failed}, "cases": cases}),
        );
    }
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
    if refuse_on_errors(&loaded) {
        return Ok(ExitCode::from(1));
    }
    if let Some(id) = rule
        && !loaded.rules().any(|r| r.id == id)
    {
        let ids: Vec<&str> = loaded.rules().map(|r| r.id.as_str()).collect();
        let hint = closest(id, ids.iter().copied())
            .map(|b| format!("; did you mean `{b}`?"))
            .unwrap_or_default();
        anyhow::bail!("no rule `{id}` in {}{hint}", display_list(paths));
    }
    let recorded = read_recording(events).map_err(anyhow::Error::msg)?;
    let rules = RuleSet::new(
        loaded.rules().cloned().collect(),
        loaded.registry.clone(),
        true,
    )
    .with_vars(loaded.vars.clone());
    let explanations = explain(Arc::new(rules), timed(recorded, Default::default()), rule)
        .context("could not start the replay runtime")?;
    match format {
        Format::Json => out::json(
            "explain",
            json!({"rule_paths": paths, "events_file": events, "rules": explanations}),
        ),
        Format::Human => out!("{}", render(&explanations)),
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn replay_session(
    paths: &[PathBuf],
    events: &Path,
    include_disabled: bool,
    why: bool,
) -> anyhow::Result<ExitCode> {
    let loaded = load(paths);
    if refuse_on_errors(&loaded) {
        return Ok(ExitCode::from(1));
    }
    let recorded = read_recording(events).map_err(anyhow::Error::msg)?;
    let rules: Vec<_> = loaded.rules().cloned().collect();
    let rule_set = RuleSet::new(rules, loaded.registry.clone(), include_disabled)
        .with_vars(loaded.vars.clone());
    let result = replay(
        Arc::new(rule_set),
        timed(recorded, Default::default()),
        Vec::new(),
    )
    .context("could not start the replay runtime")?;
    out!("{}", render_timeline(&result.traces, why));
    let report = &result.report;
    outln!(
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
