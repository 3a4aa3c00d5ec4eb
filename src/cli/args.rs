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
    about = "Automate the League of Legends client with small YAML rules"
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
    Run(RunArgs),
    /// Record the client's event stream, with timestamps, to a file that `test --events`,
    /// `explain --events` and the simulated client replay (Ctrl-C to stop).
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
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Make the running service reload its rule files now.
    Reload,
    /// Close the circuit breaker of a rule (or of every rule) in the running service.
    Reset {
        /// The rule (default: every rule whose breaker is open).
        rule: Option<String>,
    },
    /// Start lcu-rules (with its tray icon) when you log in, or stop doing so.
    Autostart {
        #[command(subcommand)]
        action: AutostartAction,
    },
    /// Print where lcu-rules keeps its config, rules, logs and control channel.
    Paths {
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Start the simulated League client on its own and play one session after another on it,
    /// so that `run`, the tray icon, `status` and `explain --live` can be tried without League
    /// (Ctrl-C to stop). It prints the `run` command that connects to it.
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
    Demo {
        /// Rule files or folders (default: rules/, or the built-in examples).
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Scale the pauses between the session's steps (0.1 = ten times faster).
        #[arg(long, default_value_t = 1.0)]
        pace: f64,
    },
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
    /// Log level (overrides the config; `RUST_LOG` overrides both).
    #[arg(long, value_name = "LEVEL")]
    pub(crate) log_level: Option<String>,
    /// Terminal log format.
    #[arg(long, value_enum)]
    pub(crate) log_format: Option<LogFormat>,
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
}
