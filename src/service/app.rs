//! `lcu-rules run` wired together: the rules loaded, the service started, the control channel,
//! the rule-file watch and the tray attached, and everything stopped in order on Ctrl-C,
//! SIGTERM or the tray's Quit. Also the runtime and the logging every command starts with.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::client::discovery::Discovery;
use crate::client::live::LiveOptions;
use crate::client::tls::Trust;
use crate::language::diag::Severity;
use crate::language::loader::{Loaded, load_with};
use crate::service::config::Config;
use crate::service::control::{self, ControlError, ControlServer, Request};
use crate::service::logfile::{FileSink, LogFile, Tee};
use crate::service::logfmt::KeyValue;
use crate::service::logfmt::LogObserver;
use crate::service::paths::Paths;
use crate::service::reload::Reloader;
use crate::service::{Service, ServiceControl, tray};

/// Why the service could not start or stop cleanly (problems it can report and carry on from are
/// logged instead).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A file or folder the first run needs could not be written.
    #[error("cannot {what} {}: {source}", path.display())]
    Write {
        /// What was being done, e.g. `write the config file`.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The async runtime or the service's thread could not be started.
    #[error("cannot start the {what}: {source}")]
    Start {
        /// `async runtime` or `service's thread`.
        what: &'static str,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The service's thread panicked.
    #[error("the service's thread panicked")]
    Panicked,
}

/// Everything `run` needs once the command line and the config are read.
pub struct ServiceSetup {
    /// The rule files and folders.
    pub rules: Vec<PathBuf>,
    /// How to find the client.
    pub discovery: Discovery,
    /// Which certificates to accept from it.
    pub trust: Trust,
    /// The config, with the command line's overrides applied.
    pub settings: Config,
    /// Where files live.
    pub paths: Paths,
    /// The log file, when one could be opened.
    pub log_file: Option<Arc<LogFile>>,
}

/// Runs the service until Ctrl-C, SIGTERM or Quit, with the tray's icon loop on the main
/// thread where the platform wants it there (macOS).
pub fn run(setup: ServiceSetup) -> Result<ExitCode, AppError> {
    if setup.settings.tray && tray::ICON_ON_MAIN_THREAD {
        run_with_icon_on_main_thread(setup)
    } else {
        runtime()?.block_on(run_service(setup, None))
    }
}

/// `run --tray` where the icon must live on the main thread (macOS): the service runs on a
/// thread of its own and the main thread runs the icon's loop until the service closes it.
fn run_with_icon_on_main_thread(setup: ServiceSetup) -> Result<ExitCode, AppError> {
    let (feed, icon) = tray::channels();
    let service = std::thread::Builder::new()
        .name("lcu-rules-service".into())
        .spawn(move || runtime()?.block_on(run_service(setup, Some(feed))))
        .map_err(|source| AppError::Start {
            what: "service's thread",
            source,
        })?;
    icon.run();
    service.join().map_err(|_| AppError::Panicked)?
}

/// The runtime of the service and of every command: one thread. Measured with
/// `cargo bench --bench e2e`, two workers cut flat-out throughput by a quarter on a 2-core
/// machine (cross-thread wake-ups) and used more memory; the client's real event rate is a few
/// events per second.
pub fn runtime() -> Result<tokio::runtime::Runtime, AppError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| AppError::Start {
            what: "async runtime",
            source,
        })
}

/// Runs the service until Ctrl-C, SIGTERM or Quit. `tray_feed` is the service's half of a tray
/// whose icon loop runs on the main thread (macOS); otherwise `--tray` starts one of its own.
async fn run_service(
    setup: ServiceSetup,
    tray_feed: Option<tray::TrayFeed>,
) -> Result<ExitCode, AppError> {
    crate::client::tls::install_crypto_provider();
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
    let folders: Vec<String> = setup
        .rules
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    tracing::info!(rules = %enabled.join(", "), from = %folders.join(", "), "rules loaded");
    let mut options = LiveOptions::new(setup.discovery, setup.trust, Vec::new());
    options.max_lag = setup.settings.max_lag;
    let service = Service::start(
        rules,
        options,
        Arc::new(LogObserver),
        crate::engine::EngineConfig {
            state_file: Some(setup.paths.state_file.clone()),
            ..setup.settings.engine.clone()
        },
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
        true => tray_feed.or_else(tray::spawn_icon),
        false => None,
    };
    let tray = match feed {
        Some(feed) => {
            tray::attach(
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

/// Prints a load's errors (warnings are `check`'s business); whether there were any.
pub fn print_load_errors(loaded: &Loaded) -> bool {
    for diagnostic in &loaded.diagnostics {
        if diagnostic.severity == Severity::Error {
            eprintln!("{}", diagnostic.render());
        }
    }
    loaded.has_errors()
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
pub async fn wait_for_stop_signal() {
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

/// On first run, writes the starter config and sets up the user's rules folder (`userdir::init`);
/// later, keeps the folder's schema current. Returns what was done, to log.
pub fn prepare_first_run(
    paths: &Paths,
    config_file: &Path,
    default_rules: bool,
) -> Result<Option<String>, AppError> {
    let mut done = Vec::new();
    if !config_file.exists() && *config_file == paths.config_file {
        if let Some(dir) = config_file.parent() {
            std::fs::create_dir_all(dir).map_err(|source| AppError::Write {
                what: "create",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(config_file, crate::service::config::STARTER).map_err(|source| {
            AppError::Write {
                what: "write",
                path: config_file.to_path_buf(),
                source,
            }
        })?;
        done.push(format!(
            "first run: wrote the config file {}",
            config_file.display()
        ));
    }
    if default_rules && !paths.rules_dir.exists() {
        crate::service::userdir::init(&paths.rules_dir, false).map_err(|error| {
            AppError::Write {
                what: "set up the rules folder",
                path: paths.rules_dir.clone(),
                source: std::io::Error::other(error.to_string()),
            }
        })?;
        done.push(format!(
            "set up the rules folder {} (the example rules, only the ready-check accept enabled, and the schema for editors)",
            paths.rules_dir.display()
        ));
    } else if crate::service::userdir::refresh_schema(&paths.rules_dir).unwrap_or(false) {
        // An upgrade changed the format: editors see the new one.
        done.push(format!(
            "updated the rule schema in {}",
            paths.rules_dir.display()
        ));
    }
    Ok((!done.is_empty()).then(|| done.join("; ")))
}

/// Logs to the terminal; `RUST_LOG` overrides the default level.
pub fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .event_format(KeyValue)
        .with_writer(crate::secrets::RedactingStderr)
        .try_init();
}

/// The service's logs: the terminal (text or JSON) and a daily log file in the log folder, both
/// redacted. When the terminal wants the file's plain text (no colours, not JSON), each line is
/// formatted once for both. The returned file must be flushed before the process exits.
pub fn init_service_logging(settings: &Config, log_dir: &Path) -> Option<Arc<LogFile>> {
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
