//! The `lcu-rules` command line: a thin layer over the library that maps results to output and
//! exit codes (0 fine, 1 problems found or tests failed, 2 could not run).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use lcu_rules::api::ApiIndex;
use lcu_rules::diag::Severity;
use lcu_rules::discovery::{AuthToken, Discovery};
use lcu_rules::engine::EngineConfig;
use lcu_rules::live::LiveOptions;
use lcu_rules::loader::{Loaded, load, load_with};
use lcu_rules::rule::RuleSet;
use lcu_rules::service::Service;
use lcu_rules::testing::{read_recording, render_timeline, replay, run_case, timed};
use lcu_rules::tls::Trust;
use lcu_rules::trace::LogObserver;

#[derive(Parser)]
#[command(
    name = "lcu-rules",
    version,
    about = "Automate the League of Legends client with small YAML rules"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check rule files and report every problem with file:line:col.
    Check {
        /// Rule files or folders (default: rules/).
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Treat warnings as errors.
        #[arg(long)]
        deny_warnings: bool,
        /// Check requests and triggers against this Swagger dump of the client's API instead of
        /// the index shipped with lcu-rules (e.g. a newer client's `/swagger/v2/swagger.json`).
        #[arg(long, value_name = "SWAGGER_JSON")]
        lcu_schema: Option<PathBuf>,
        /// With --lcu-schema: the websocket topic names (one per line) that go with it.
        #[arg(long, value_name = "FILE", requires = "lcu_schema")]
        lcu_events: Option<PathBuf>,
        /// Do not check requests and triggers against the client's API.
        #[arg(long, conflicts_with = "lcu_schema")]
        no_api_checks: bool,
    },
    /// List the client's endpoints (with their methods) and event URIs whose path contains FILTER.
    Endpoints {
        /// Part of a path, e.g. `ready-check` (default: everything).
        filter: Option<String>,
    },
    /// Run the test cases embedded in rule files, or replay a recorded session.
    Test {
        /// Rule files or folders (default: rules/).
        paths: Vec<PathBuf>,
        /// Replay this JSONL session through the rules and print the timeline instead.
        #[arg(long)]
        events: Option<PathBuf>,
        /// With --events: also run disabled rules.
        #[arg(long)]
        include_disabled: bool,
        /// With --events: also show rules whose conditions did not hold, and why.
        #[arg(long)]
        why: bool,
        /// Print each case's timeline even when it passes.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Print the JSON Schema of the rule file format.
    Schema,
    /// Explain, over a recorded session, why each rule did or did not fire: every event that
    /// reached a rule's trigger and what came of it (disabled rules are shown too).
    Explain {
        /// Rule files or folders (default: rules/).
        paths: Vec<PathBuf>,
        /// The recorded session (JSONL, as `test --events` reads).
        #[arg(long, value_name = "FILE")]
        events: PathBuf,
        /// Only this rule.
        #[arg(long, value_name = "ID")]
        rule: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Connect to the running League client and fire the rules (Ctrl-C to stop).
    Run {
        /// Rule files or folders (repeatable; default: rules/).
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Use this lockfile instead of finding the client's process.
        #[arg(long, value_name = "FILE")]
        lockfile: Option<PathBuf>,
        /// Connect to this port; the token is read from the LCU_RULES_TOKEN environment variable
        /// (never pass a token on the command line: other programs can read it).
        #[arg(long, conflicts_with = "lockfile")]
        port: Option<u16>,
        /// Also trust this CA certificate (PEM), besides Riot's root.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Do not verify the client's certificate at all (logged loudly on every connect).
        #[arg(long, conflicts_with = "ca")]
        insecure: bool,
    },
    /// Run the rules against a built-in simulated client through the real network path and print
    /// the timeline of a scripted session (lobby, queue, ready check, champion select, game).
    Demo {
        /// Rule files or folders (default: rules/, or the built-in examples).
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Scale the pauses between the session's steps (0.1 = ten times faster).
        #[arg(long, default_value_t = 1.0)]
        pace: f64,
    },
}

/// The environment variable `run --port` reads the token from.
const TOKEN_VARIABLE: &str = "LCU_RULES_TOKEN";

fn main() -> ExitCode {
    lcu_rules::tls::install_crypto_provider();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check {
            paths,
            format,
            deny_warnings,
            lcu_schema,
            lcu_events,
            no_api_checks,
        } => {
            let index = match (&lcu_schema, no_api_checks) {
                (Some(swagger), _) => Some(read_api_dump(swagger, lcu_events.as_deref())?),
                (None, true) => None,
                (None, false) => Some(ApiIndex::embedded().clone()),
            };
            Ok(check(
                &or_default(paths),
                format,
                deny_warnings,
                index.as_ref(),
            ))
        }
        Command::Explain {
            paths,
            events,
            rule,
            format,
        } => explain_session(&or_default(paths), &events, rule.as_deref(), format),
        Command::Endpoints { filter } => {
            list_endpoints(filter.as_deref().unwrap_or(""));
            Ok(ExitCode::SUCCESS)
        }
        Command::Test {
            paths,
            events: Some(events),
            include_disabled,
            why,
            ..
        } => replay_session(&or_default(paths), &events, include_disabled, why),
        Command::Test { paths, verbose, .. } => run_tests(&or_default(paths), verbose),
        Command::Schema => {
            use std::io::Write as _;
            // A closed pipe (`| head`) ends the output quietly.
            let _ = std::io::stdout()
                .lock()
                .write_all(lcu_rules::spec::json_schema().as_bytes());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            rules,
            lockfile,
            port,
            ca,
            insecure,
        } => {
            init_logging("info");
            let discovery = match (lockfile, port) {
                (Some(path), _) => Discovery::Lockfile(path),
                (None, Some(port)) => {
                    let token = std::env::var(TOKEN_VARIABLE)
                        .with_context(|| format!("--port needs the client's token in the {TOKEN_VARIABLE} environment variable"))?;
                    Discovery::Explicit {
                        port,
                        token: AuthToken::new(token),
                    }
                }
                (None, None) => Discovery::Auto,
            };
            let trust = match (insecure, ca) {
                (true, _) => Trust::Insecure,
                (false, Some(ca)) => Trust::riot_and_file(&ca)?,
                (false, None) => Trust::riot(),
            };
            service_runtime()?.block_on(run_service(&or_default(rules), discovery, trust))
        }
        Command::Demo { rules, pace } => {
            init_logging("warn");
            let out: Box<dyn std::io::Write + Send> = Box::new(std::io::stdout());
            match runtime()?.block_on(lcu_rules::demo::run(&rules, pace.max(0.0), out)) {
                Ok(summary) => {
                    println!(
                        "\ndemo finished: the ready check was accepted {:.2} ms after it reached the socket, and play-again was sent after the game",
                        summary.accept_latency.as_secs_f64() * 1000.0
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    eprintln!("demo failed: {error}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// The service's runtime: one thread. Measured with `cargo bench --bench e2e`, two workers cut
/// flat-out throughput by a quarter on a 2-core machine (cross-thread wake-ups) and used more
/// memory; the client's real event rate is a few events per second.
fn service_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    runtime()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Logs to the terminal; `RUST_LOG` overrides the default level.
fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(lcu_rules::secrets::RedactingStderr)
        .try_init();
}

async fn run_service(
    paths: &[PathBuf],
    discovery: Discovery,
    trust: Trust,
) -> anyhow::Result<ExitCode> {
    lcu_rules::tls::install_crypto_provider();
    let loaded = load(paths);
    if print_load_errors(&loaded) {
        return Ok(ExitCode::from(1));
    }
    let rules = Arc::new(loaded.rule_set());
    let enabled: Vec<&str> = rules
        .rules
        .iter()
        .filter(|r| r.enabled)
        .map(|r| r.id.as_str())
        .collect();
    tracing::info!(rules = %enabled.join(", "), "rules loaded");
    let options = LiveOptions::new(discovery, trust, Vec::new());
    let service = Service::start(
        rules,
        options,
        Arc::new(LogObserver),
        EngineConfig::default(),
    );
    wait_for_stop_signal().await;
    tracing::info!("stopping");
    let report = service.stop().await;
    tracing::info!(
        events = report.events,
        runs = report.runs_started,
        completed = report.runs_completed,
        failed = report.runs_failed,
        cancelled = report.cancelled.len(),
        "stopped"
    );
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM on Unix.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn or_default(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        lcu_rules::testing::default_rule_paths()
    } else {
        paths
    }
}

fn read_api_dump(swagger: &Path, events: Option<&Path>) -> anyhow::Result<ApiIndex> {
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
fn list_endpoints(filter: &str) {
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
                    let method = lcu_rules::spec::MethodName::parse(m)?;
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

fn check(
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

fn print_load_errors(loaded: &Loaded) -> bool {
    for diagnostic in &loaded.diagnostics {
        if diagnostic.severity == Severity::Error {
            eprintln!("{}", diagnostic.render());
        }
    }
    loaded.has_errors()
}

fn run_tests(paths: &[PathBuf], verbose: bool) -> anyhow::Result<ExitCode> {
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

fn explain_session(
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
        let hint = lcu_rules::diag::closest(id, ids.iter().copied())
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
    let explanations =
        lcu_rules::explain::explain(Arc::new(rules), timed(recorded, Default::default()), rule)
            .context("could not start the replay runtime")?;
    use std::io::Write as _;
    let text = match format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&explanations).unwrap_or_default()
        ),
        Format::Human => lcu_rules::explain::render(&explanations),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

fn replay_session(
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
