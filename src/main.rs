//! The `lcu-rules` command line: a thin layer over the library that maps results to output and
//! exit codes (0 fine, 1 problems found or tests failed, 2 could not run).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use lcu_rules::api::ApiIndex;
use lcu_rules::control::{self, ControlError, ControlServer, Request};
use lcu_rules::diag::Severity;
use lcu_rules::discovery::{AuthToken, Discovery};
use lcu_rules::live::LiveOptions;
use lcu_rules::loader::{Loaded, load, load_with};
use lcu_rules::logfile::{FileSink, LogFile, Tee};
use lcu_rules::logfmt::KeyValue;
use lcu_rules::paths::Paths;
use lcu_rules::reload::Reloader;
use lcu_rules::rule::RuleSet;
use lcu_rules::service::Service;
use lcu_rules::service::ServiceControl;
use lcu_rules::testing::{read_recording, render_timeline, replay, run_case, timed};
use lcu_rules::tls::Trust;
use lcu_rules::trace::LogObserver;
use tokio_util::sync::CancellationToken;

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
    Run {
        /// Rule files or folders (repeatable; default: the config's, or the user's rules folder).
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Read this config file instead of the one in the OS config folder.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Show the system-tray icon.
        #[arg(long)]
        tray: bool,
        /// Do not watch the rule files for changes.
        #[arg(long)]
        no_watch: bool,
        /// Log level (overrides the config; `RUST_LOG` overrides both).
        #[arg(long, value_name = "LEVEL")]
        log_level: Option<String>,
        /// Terminal log format.
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
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
struct ConnectArgs {
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
}

impl ConnectArgs {
    fn discovery(&self) -> anyhow::Result<Discovery> {
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

    fn trust(&self) -> anyhow::Result<Trust> {
        Ok(match (self.insecure, &self.ca) {
            (true, _) => Trust::Insecure,
            (false, Some(ca)) => Trust::riot_and_file(ca)?,
            (false, None) => Trust::riot(),
        })
    }
}

#[derive(Subcommand, Clone, Copy)]
enum AutostartAction {
    /// Start `lcu-rules run --tray` at login (current user only).
    Enable,
    /// No longer start at login.
    Disable,
    /// Say whether it starts at login.
    Status,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

/// The environment variable `run --port` reads the token from.
const TOKEN_VARIABLE: &str = "LCU_RULES_TOKEN";

/// mimalloc rather than the system allocator: glibc's malloc and free took 12 % of the CPU time
/// of each accept under load (callgrind on `cargo bench --bench e2e -- --profile`), mimalloc
/// about half that. Built as v2 without transparent huge pages, which otherwise grew the idle
/// RSS from 11.5 MB to 19 MB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
            live: true,
            rule,
            format,
            ..
        } => ask_service(Request::Explain { rule }, format),
        Command::Explain {
            paths,
            events: Some(events),
            rule,
            format,
            ..
        } => explain_session(&or_default(paths), &events, rule.as_deref(), format),
        Command::Explain { .. } => anyhow::bail!("give --events FILE or --live"),
        Command::Status { format } => ask_service(Request::Status, format),
        Command::Record {
            output,
            redact,
            connect,
        } => {
            init_logging("info");
            let options = LiveOptions::new(connect.discovery()?, connect.trust()?, Vec::new());
            let file = std::fs::File::create(&output)
                .with_context(|| format!("cannot create {}", output.display()))?;
            let summary = service_runtime()?.block_on(async {
                let stop = CancellationToken::new();
                let recording = tokio::spawn(lcu_rules::record::record(
                    options,
                    std::io::BufWriter::new(file),
                    redact,
                    stop.clone(),
                ));
                wait_for_stop_signal().await;
                stop.cancel();
                recording.await
            })?;
            let summary = summary.with_context(|| format!("writing {}", output.display()))?;
            eprintln!(
                "recorded {} event(s) to {}{}",
                summary.events,
                output.display(),
                if redact {
                    format!(
                        " ({} personal value(s) replaced by pseudonyms)",
                        summary.pseudonyms
                    )
                } else {
                    String::new()
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Autostart { action } => {
            use lcu_rules::autostart;
            match action {
                AutostartAction::Enable => {
                    autostart::enable()?;
                    println!("lcu-rules will start at login (`lcu-rules run --tray`)");
                }
                AutostartAction::Disable => {
                    autostart::disable()?;
                    println!("lcu-rules will not start at login");
                }
                AutostartAction::Status => println!(
                    "start at login: {}",
                    if autostart::is_enabled()? {
                        "on"
                    } else {
                        "off"
                    }
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reload => ask_service(Request::Reload, Format::Human),
        Command::Reset { rule } => ask_service(Request::Reset { rule }, Format::Human),
        Command::Paths { format } => {
            let paths = Paths::discover()?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&paths)?),
                Format::Human => {
                    println!("config:  {}", paths.config_file.display());
                    println!("rules:   {}", paths.rules_dir.display());
                    println!("logs:    {}", paths.log_dir.display());
                    println!("control: {}", paths.control_dir.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
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
            config,
            tray,
            no_watch,
            log_level,
            log_format,
            connect,
        } => {
            let paths = Paths::discover()?;
            let config_file = config.unwrap_or_else(|| paths.config_file.clone());
            let first_run = prepare_first_run(&paths, &config_file, rules.is_empty())?;
            let mut settings = match lcu_rules::config::read(&config_file) {
                Ok(settings) => settings,
                Err(errors) => {
                    for error in errors {
                        eprintln!("{}", error.render());
                    }
                    return Ok(ExitCode::from(1));
                }
            };
            if let Some(level) = log_level {
                settings.log_level = level;
            }
            if let Some(format) = log_format {
                settings.log_json = format == LogFormat::Json;
            }
            settings.tray |= tray;
            settings.watch &= !no_watch;
            let log_file = init_service_logging(&settings, &paths.log_dir);
            if let Some(note) = first_run {
                tracing::info!("{note}");
            }
            let rule_paths = if !rules.is_empty() {
                rules
            } else {
                settings
                    .rules
                    .clone()
                    .unwrap_or_else(|| vec![paths.rules_dir.clone()])
            };
            let setup = ServiceSetup {
                rules: rule_paths,
                discovery: connect.discovery()?,
                trust: connect.trust()?,
                settings,
                paths,
                log_file: log_file.clone(),
            };
            let outcome = if setup.settings.tray && lcu_rules::tray::ICON_ON_MAIN_THREAD {
                run_with_icon_on_main_thread(setup)
            } else {
                service_runtime()?.block_on(run_service(setup, None))
            };
            if let Some(file) = log_file {
                file.flush();
            }
            outcome
        }
        Command::Sim {
            dir,
            pace,
            sessions,
        } => {
            init_logging("warn");
            runtime()?.block_on(run_sim(dir, pace.max(0.0), sessions))
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

/// `run --tray` where the icon must live on the main thread (macOS): the service runs on a
/// thread of its own and the main thread runs the icon's loop until the service closes it.
fn run_with_icon_on_main_thread(setup: ServiceSetup) -> anyhow::Result<ExitCode> {
    let (feed, icon) = lcu_rules::tray::channels();
    let service = std::thread::Builder::new()
        .name("lcu-rules-service".into())
        .spawn(move || service_runtime()?.block_on(run_service(setup, Some(feed))))
        .context("cannot start the service's thread")?;
    icon.run();
    service
        .join()
        .map_err(|_| anyhow::anyhow!("the service's thread panicked"))?
}

/// `lcu-rules sim`: the simulated client and its session loop, until Ctrl-C.
async fn run_sim(
    dir: Option<PathBuf>,
    pace: f64,
    sessions: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let temporary = dir.is_none();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("lcu-rules-sim-{}", std::process::id()))
    });
    let sim = lcu_rules::sim::SimClient::start(&dir)
        .await
        .with_context(|| format!("cannot start the simulated client in {}", dir.display()))?;
    println!(
        "simulated League client on 127.0.0.1:{}\nconnect to it with:\n  lcu-rules run --lockfile {} --ca {}\n",
        sim.port(),
        sim.lockfile().display(),
        sim.ca_file().display()
    );
    let recorded = lcu_rules::event::parse_recording(lcu_rules::demo::CHAMP_SELECT)
        .map_err(|(line, error)| anyhow::anyhow!("capture line {line}: {error}"))?;
    let champ_select = lcu_rules::testing::timed(recorded, std::time::Duration::ZERO);
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stopper.cancel();
    });
    let mut out = std::io::stdout();
    lcu_rules::sim::script::play_sessions(&sim, &champ_select, pace, sessions, &mut out, &stop)
        .await;
    sim.stop();
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(ExitCode::SUCCESS)
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
        .with_ansi(std::io::stderr().is_terminal())
        .event_format(KeyValue)
        .with_writer(lcu_rules::secrets::RedactingStderr)
        .try_init();
}

/// Everything `run` needs once the command line and the config are read.
struct ServiceSetup {
    rules: Vec<PathBuf>,
    discovery: Discovery,
    trust: Trust,
    settings: lcu_rules::config::Config,
    paths: Paths,
    log_file: Option<Arc<LogFile>>,
}

/// Runs the service until Ctrl-C, SIGTERM or Quit. `tray_feed` is the service's half of a tray
/// whose icon loop runs on the main thread (macOS); otherwise `--tray` starts one of its own.
async fn run_service(
    setup: ServiceSetup,
    tray_feed: Option<lcu_rules::tray::TrayFeed>,
) -> anyhow::Result<ExitCode> {
    lcu_rules::tls::install_crypto_provider();
    if let Some(file) = &setup.log_file {
        tokio::spawn(file.clone().flush_in_background());
    }
    let control_dir = setup.paths.control_dir.clone();
    if let Ok(reply) = control::request(&control_dir, &Request::Ping).await {
        let pid = reply.data["pid"].as_u64().unwrap_or_default() as u32;
        eprintln!("error: {}", ControlError::AlreadyRunning { pid });
        return Ok(ExitCode::from(1));
    }
    // The checks against the client's API only warn; the service skips them and never holds the
    // index in memory (`check` shows them).
    let loaded = load_with(&setup.rules, None);
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
    let mut options = LiveOptions::new(setup.discovery, setup.trust, Vec::new());
    options.max_lag = setup.settings.max_lag;
    let service = Service::start(
        rules,
        options,
        Arc::new(LogObserver),
        setup.settings.engine.clone(),
    );
    let reloader = Reloader::new(setup.rules.clone(), service.handle());
    let handler = Arc::new(ServiceControl {
        handle: service.handle(),
        reloader: Some(reloader.clone()),
    });
    let control = match ControlServer::start(&control_dir, handler).await {
        Ok(control) => Some(control),
        Err(error @ ControlError::AlreadyRunning { .. }) => {
            eprintln!("error: {error}");
            service.stop().await;
            return Ok(ExitCode::from(1));
        }
        Err(error) => {
            tracing::warn!(%error, "no control channel: `status`, `reload` and `explain --live` will not reach this service");
            None
        }
    };
    let shutdown = CancellationToken::new();
    let _watcher = if setup.settings.watch {
        match reloader.watch(shutdown.clone()) {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                tracing::warn!(%error, "cannot watch the rule files; use `lcu-rules reload` after editing");
                None
            }
        }
    } else {
        None
    };
    let feed = match setup.settings.tray {
        true => tray_feed.or_else(lcu_rules::tray::spawn_icon),
        false => None,
    };
    let tray = match feed {
        Some(feed) => {
            lcu_rules::tray::attach(
                feed,
                service.handle(),
                reloader.clone(),
                setup.paths.clone(),
                setup.rules.clone(),
                shutdown.clone(),
            )
            .await
        }
        None => None,
    };
    wait_for_stop(&reloader, &shutdown).await;
    tracing::info!("stopping");
    shutdown.cancel();
    if let Some(tray) = tray {
        tray.close();
    }
    drop(control);
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

/// Waits for Ctrl-C, SIGTERM or a quit from the tray (`shutdown`); SIGHUP reloads the rules.
async fn wait_for_stop(reloader: &Reloader, shutdown: &CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut terminate), Ok(mut hangup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => return,
                    _ = terminate.recv() => return,
                    _ = shutdown.cancelled() => return,
                    _ = hangup.recv() => {
                        tracing::info!("SIGHUP: reloading the rules");
                        reloader.reload_now().await;
                    }
                }
            }
        }
    }
    let _ = reloader;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = shutdown.cancelled() => {}
    }
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

/// On first run, writes the starter config and fills the user's rules folder with the examples
/// (those that automate champion select ship disabled); returns what was done, to log.
fn prepare_first_run(
    paths: &Paths,
    config_file: &Path,
    default_rules: bool,
) -> anyhow::Result<Option<String>> {
    let mut done = Vec::new();
    if !config_file.exists() && *config_file == paths.config_file {
        if let Some(dir) = config_file.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(config_file, lcu_rules::config::STARTER)
            .with_context(|| format!("cannot write {}", config_file.display()))?;
        done.push(format!("wrote the config file {}", config_file.display()));
    }
    if default_rules && !paths.rules_dir.exists() {
        lcu_rules::demo::write_examples(&paths.rules_dir).with_context(|| {
            format!(
                "cannot copy the example rules to {}",
                paths.rules_dir.display()
            )
        })?;
        done.push(format!(
            "copied the example rules to {}",
            paths.rules_dir.display()
        ));
    }
    Ok((!done.is_empty()).then(|| format!("first run: {}", done.join("; "))))
}

/// Sends one request to the running service and prints its answer.
fn ask_service(request: Request, format: Format) -> anyhow::Result<ExitCode> {
    let paths = Paths::discover()?;
    let reply = runtime()?.block_on(control::request(&paths.control_dir, &request));
    match reply {
        Ok(reply) => {
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&reply.data).unwrap_or_default()
                ),
                Format::Human => print!("{}", with_newline(&reply.text)),
            }
            Ok(if reply.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(error) => {
            eprintln!("error: {error}");
            Ok(ExitCode::from(1))
        }
    }
}

fn with_newline(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// The service's logs: the terminal (text or JSON) and a daily log file in the log folder, both
/// redacted. When the terminal wants the file's plain text (no colours, not JSON), each line is
/// formatted once for both. The returned file must be flushed before the process exits.
fn init_service_logging(
    settings: &lcu_rules::config::Config,
    log_dir: &Path,
) -> Option<Arc<LogFile>> {
    use std::io::IsTerminal as _;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log_level));
    let file = match LogFile::open(log_dir) {
        Ok(file) => Some(file),
        Err(error) => {
            eprintln!("warning: no log file in {}: {error}", log_dir.display());
            None
        }
    };
    let colours = std::io::stderr().is_terminal();
    if !colours && let Some(file) = &file {
        // Nobody watches it line by line: one write per burst instead of one per line.
        file.buffer_stderr(Box::new(std::io::stderr()));
    }
    let layers = if !settings.log_json && !colours {
        tracing_subscriber::fmt::layer()
            .event_format(KeyValue)
            .with_ansi(false)
            .with_writer(Tee(file.clone()))
            .boxed()
    } else {
        let terminal = if settings.log_json {
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_writer(Tee(None))
                .json()
                .flatten_event(true)
                .boxed()
        } else {
            tracing_subscriber::fmt::layer()
                .event_format(KeyValue)
                .with_ansi(true)
                .with_writer(Tee(None))
                .boxed()
        };
        let file_layer = file.clone().map(|file| {
            tracing_subscriber::fmt::layer()
                .event_format(KeyValue)
                .with_ansi(false)
                .with_writer(FileSink(file))
        });
        terminal.and_then(file_layer).boxed()
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init();
    file
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
