//! The command line's words: every subcommand, its flags and their help text (clap's derive).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use lcu_rules::client::Trust;
use lcu_rules::client::{AuthToken, Discovery};

#[derive(Parser)]
#[command(
    name = "lcu-rules",
    version,
    about = "Automate the League of Legends client with small YAML rules",
    after_help = "Start with `lcu-rules init` (your rules folder, with the examples), then `lcu-rules run`.\nEach command's --help has examples."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Format {
    Human,
    Json,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Set up your rules folder: the example rules (only the ready-check accept enabled), the
    /// schema for editor completion, a VS Code setting and a short README.
    #[command(
        after_help = "Examples:\n  lcu-rules init\n  lcu-rules init --force        # overwrite the files it writes\n  lcu-rules init --dir my-rules"
    )]
    Init {
        /// Set up this folder instead of the service's rules folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Overwrite files that are already there.
        #[arg(long)]
        force: bool,
    },
    /// Check rule files and report every problem with file:line:col.
    #[command(
        after_help = "Examples:\n  lcu-rules check                    # the service's rules folder\n  lcu-rules check my-rule.yaml --verbose\n  lcu-rules check --format json rules/"
    )]
    Check {
        /// Rule files or folders (default: the service's rules folder, as `run` uses).
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
        /// Also show the long notes (every allowed key or value).
        #[arg(long, short)]
        verbose: bool,
    },
    /// List the client's endpoints (with their methods) and event URIs whose path contains FILTER.
    #[command(
        after_help = "Examples:\n  lcu-rules endpoints ready-check\n  lcu-rules endpoints champ-select --format json"
    )]
    Endpoints {
        /// Part of a path, e.g. `ready-check` (default: everything).
        filter: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Run the test cases embedded in rule files, or replay a recorded session.
    #[command(
        after_help = "Examples:\n  lcu-rules test                     # the service's rules folder\n  lcu-rules test accept.yaml --verbose\n  lcu-rules test --events session.jsonl --why"
    )]
    Test {
        /// Rule files or folders (default: the service's rules folder, as `run` uses).
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
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Print the JSON Schema of the rule file format.
    #[command(after_help = "Example:\n  lcu-rules schema > rules.schema.json")]
    Schema,
    /// Explain, over a recorded session, why each rule did or did not fire: every event that
    /// reached a rule's trigger and what came of it (disabled rules are shown too).
    #[command(
        after_help = "Examples:\n  lcu-rules explain --events session.jsonl\n  lcu-rules explain --events session.jsonl --rule accept-ready-check\n  lcu-rules explain --live --rule accept-ready-check   # ask the running service"
    )]
    Explain {
        /// Rule files or folders (default: the service's rules folder, as `run` uses).
        paths: Vec<PathBuf>,
        /// The recorded session (JSONL, as `test --events` reads).
        #[arg(long, value_name = "FILE", required_unless_present = "live")]
        events: Option<PathBuf>,
        /// Ask the running service for its recent decisions instead.
        #[arg(long, conflicts_with_all = ["events", "paths"])]
        live: bool,
        /// Only this rule.
        #[arg(long, value_name = "ID")]
        rule: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Connect to the running League client and fire the rules (Ctrl-C to stop). Rule files
    /// are watched and reloaded when saved.
    #[command(
        after_help = "Examples:\n  lcu-rules run\n  lcu-rules run --tray\n  lcu-rules run --rules my-rules/ --log-level debug"
    )]
    Run(RunArgs),
    /// Record the client's event stream, with timestamps, to a file that `test --events`,
    /// `explain --events` and the simulated client replay (Ctrl-C to stop).
    #[command(
        after_help = "Examples:\n  lcu-rules record -o session.jsonl\n  lcu-rules record -o bug-report.jsonl --redact"
    )]
    Record {
        /// Where to write the session (JSON lines).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace personal data (Riot IDs, summoner names, PUUIDs and other ids, account and
        /// summoner ids) with stable pseudonyms, so the file can be shared in a bug report.
        #[arg(long)]
        redact: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Show the running service's state: connection, phase, rules and their counters.
    #[command(after_help = "Examples:\n  lcu-rules status\n  lcu-rules status --format json")]
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Make the running service reload its rule files now.
    #[command(after_help = "Example:\n  lcu-rules reload")]
    Reload,
    /// Close the circuit breaker of a rule (or of every rule) in the running service.
    #[command(
        after_help = "Examples:\n  lcu-rules reset                    # every open breaker\n  lcu-rules reset accept-ready-check"
    )]
    Reset {
        /// The rule (default: every rule whose breaker is open).
        rule: Option<String>,
    },
    /// Run a rule whose trigger is `manual` now, in the running service.
    #[command(
        after_help = "Examples:\n  lcu-rules trigger arm-dodge\n  lcu-rules trigger say --data '{\"text\": \"gl hf\"}'"
    )]
    Trigger {
        /// The rule.
        rule: String,
        /// The event's payload, as JSON (the rule reads it as `data`; default `{}`).
        #[arg(long)]
        data: Option<String>,
    },
    /// Start lcu-rules (with its tray icon) when you log in, or stop doing so.
    #[command(after_help = "Examples:\n  lcu-rules autostart enable\n  lcu-rules autostart status")]
    Autostart {
        #[command(subcommand)]
        action: AutostartAction,
    },
    /// Print where lcu-rules keeps its config, rules, logs and control channel.
    #[command(after_help = "Examples:\n  lcu-rules paths\n  lcu-rules paths --format json")]
    Paths {
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Start the simulated League client on its own and play one session after another on it,
    /// so that `run`, the tray icon, `status` and `explain --live` can be tried without League
    /// (Ctrl-C to stop). It prints the `run` command that connects to it.
    #[command(
        after_help = "Examples:\n  lcu-rules sim\n  lcu-rules sim --dir /tmp/sim --pace 0.5 --sessions 3"
    )]
    Sim {
        /// Where to put its lockfile and CA certificate (default: a temporary folder).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Scale the pauses between the session's steps (0.5 = twice as fast).
        #[arg(long, default_value_t = 1.0)]
        pace: f64,
        /// Stop after this many sessions.
        #[arg(long, value_name = "N")]
        sessions: Option<u32>,
    },
    /// Run the rules against a built-in simulated client through the real network path and print
    /// the timeline of a scripted session (lobby, queue, ready check, champion select, game).
    #[command(
        after_help = "Examples:\n  lcu-rules demo\n  lcu-rules demo --rules my-rules/ --pace 0.1"
    )]
    Demo {
        /// Rule files or folders (default: rules/, or the built-in examples).
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Scale the pauses between the session's steps (0.1 = ten times faster).
        #[arg(long, default_value_t = 1.0)]
        pace: f64,
    },
    /// Print a shell completion script for lcu-rules.
    #[command(
        after_help = "Examples:\n  lcu-rules completions bash > ~/.local/share/bash-completion/completions/lcu-rules\n  lcu-rules completions zsh > ~/.zfunc/_lcu-rules\n  lcu-rules completions fish > ~/.config/fish/completions/lcu-rules.fish\n  lcu-rules completions powershell >> $PROFILE"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), for `man`.
    #[command(after_help = "Example:\n  lcu-rules man > lcu-rules.1 && man ./lcu-rules.1")]
    Man,
}

/// How to find and trust the client.
#[derive(clap::Args)]
pub(crate) struct ConnectArgs {
    /// Use this lockfile instead of finding the client's process.
    #[arg(long, value_name = "FILE")]
    pub lockfile: Option<PathBuf>,
    /// Connect to this port; the token is read from the LCU_RULES_TOKEN environment variable
    /// (never pass a token on the command line: other programs can read it).
    #[arg(long, conflicts_with = "lockfile")]
    pub port: Option<u16>,
    /// Also trust this CA certificate (PEM), besides Riot's root.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Do not verify the client's certificate at all (logged loudly on every connect).
    #[arg(long, conflicts_with = "ca")]
    pub insecure: bool,
}

impl ConnectArgs {
    pub(crate) fn discovery(&self) -> anyhow::Result<Discovery> {
        Ok(match (&self.lockfile, self.port) {
            (Some(path), _) => Discovery::Lockfile(path.clone()),
            (None, Some(port)) => {
                let token = std::env::var(TOKEN_VARIABLE).with_context(|| {
                    format!("--port needs the client's token in the {TOKEN_VARIABLE} environment variable")
                })?;
                Discovery::Explicit {
                    port,
                    token: AuthToken::new(token),
                }
            }
            (None, None) => Discovery::Auto,
        })
    }

    pub(crate) fn trust(&self) -> anyhow::Result<Trust> {
        Ok(match (self.insecure, &self.ca) {
            (true, _) => Trust::Insecure,
            (false, Some(ca)) => Trust::riot_and_file(ca)?,
            (false, None) => Trust::riot(),
        })
    }
}

#[derive(Subcommand, Clone, Copy)]
pub(crate) enum AutostartAction {
    /// Start `lcu-rules run --tray` at login (current user only).
    Enable,
    /// No longer start at login.
    Disable,
    /// Say whether it starts at login.
    Status,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// The environment variable `run --port` reads the token from.
pub(crate) const TOKEN_VARIABLE: &str = "LCU_RULES_TOKEN";

/// What `run` is given: where the rules and config are, how to log, how to reach the client.
#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// Rule files or folders (repeatable; default: the config's, or the user's rules folder).
    #[arg(long = "rules", value_name = "PATH")]
    pub(crate) rules: Vec<PathBuf>,
    /// Read this config file instead of the one in the OS config folder.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Show the system-tray icon.
    #[arg(long)]
    pub(crate) tray: bool,
    /// Do not watch the rule files for changes.
    #[arg(long)]
    pub(crate) no_watch: bool,
    /// Log level: error, warn, info, debug or trace, or directives like `lcu_rules=debug`
    /// (overrides the config; `RUST_LOG` overrides both).
    #[arg(long, value_name = "LEVEL", value_parser = parse_log_level)]
    pub(crate) log_level: Option<String>,
    /// Terminal log format.
    #[arg(long, value_enum)]
    pub(crate) log_format: Option<LogFormat>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}

/// The levels a log filter directive may name.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A `--log-level`: a level, or comma-separated `target=level` directives. `tracing`'s own
/// parser takes any word as a target name, so `--log-level verbose` would silently log nothing.
fn parse_log_level(text: &str) -> Result<String, String> {
    let valid = text.split(',').all(|directive| {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        LEVELS.contains(&level.trim().to_ascii_lowercase().as_str())
    });
    if valid && tracing_subscriber::EnvFilter::try_new(text).is_ok() {
        return Ok(text.to_string());
    }
    let hint = lcu_rules::language::closest(text, LEVELS.iter().copied())
        .map(|best| format!("did you mean `{best}`? "))
        .unwrap_or_default();
    Err(format!(
        "{hint}use error, warn, info, debug or trace (or `target=level`)"
    ))
}
