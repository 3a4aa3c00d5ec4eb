//! The `lcu-rules` command line: a thin layer over the library that maps results to output and
//! exit codes (0 fine, 1 problems found or tests failed, 2 could not run).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use lcu_rules::diag::Severity;
use lcu_rules::loader::{Loaded, load};
use lcu_rules::rule::RuleSet;
use lcu_rules::testing::{read_recording, render_timeline, replay, run_case, timed};

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
}

fn main() -> ExitCode {
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
        } => Ok(check(&or_default(paths), format, deny_warnings)),
        Command::Test {
            paths,
            events: Some(events),
            include_disabled,
            why,
            ..
        } => replay_session(&or_default(paths), &events, include_disabled, why),
        Command::Test { paths, verbose, .. } => run_tests(&or_default(paths), verbose),
        Command::Schema => {
            print!("{}", lcu_rules::spec::json_schema());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn or_default(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        lcu_rules::testing::default_rule_paths()
    } else {
        paths
    }
}

fn check(paths: &[PathBuf], format: Format, deny_warnings: bool) -> ExitCode {
    let loaded = load(paths);
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
