//! The commands that reach a client or the running service: `run`, `record`, `status`,
//! `reload`, `reset`, `explain --live`, `autostart`, `paths`, `sim` and `demo`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use lcu_rules::client::LiveOptions;
use lcu_rules::service::Paths;
use lcu_rules::service::app::{self, ServiceSetup, init_logging, runtime};
use lcu_rules::service::control::{self, Request};

use crate::cli::args::{AutostartAction, ConnectArgs, Format, LogFormat, RunArgs};
use crate::cli::out::{self, out, outln};

/// `lcu-rules run`: reads the config, applies the command line over it and runs the service.
pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let paths = Paths::discover()?;
    if let Some(config) = &args.config
        && !config.is_file()
    {
        anyhow::bail!(
            "the config file {} does not exist (without --config, `run` reads {})",
            config.display(),
            paths.config_file.display()
        );
    }
    let config_file = args.config.unwrap_or_else(|| paths.config_file.clone());
    let first_run = app::prepare_first_run(&paths, &config_file, args.rules.is_empty())?;
    let mut settings = match lcu_rules::service::read_config(&config_file) {
        Ok(settings) => settings,
        Err(errors) => {
            for error in errors {
                eprintln!("{}", error.render());
            }
            return Ok(ExitCode::from(1));
        }
    };
    if let Some(level) = args.log_level {
        settings.log_level = level;
    }
    if let Some(format) = args.log_format {
        settings.log_json = format == LogFormat::Json;
    }
    settings.tray |= args.tray;
    settings.watch &= !args.no_watch;
    let log_file = app::init_service_logging(&settings, &paths.log_dir);
    if let Some(note) = first_run {
        tracing::info!("{note}");
    }
    let rules = if !args.rules.is_empty() {
        args.rules
    } else {
        settings
            .rules
            .clone()
            .unwrap_or_else(|| vec![paths.rules_dir.clone()])
    };
    let setup = ServiceSetup {
        rules,
        discovery: args.connect.discovery()?,
        trust: args.connect.trust()?,
        settings,
        paths,
        log_file: log_file.clone(),
    };
    let outcome = app::run(setup);
    if let Some(file) = log_file {
        file.flush();
    }
    Ok(outcome?)
}

/// `lcu-rules record`: the client's events written to `output` until Ctrl-C.
pub(crate) fn record(
    output: PathBuf,
    redact: bool,
    connect: ConnectArgs,
) -> anyhow::Result<ExitCode> {
    init_logging("info");
    let options = LiveOptions::new(connect.discovery()?, connect.trust()?, Vec::new());
    let file = create_owner_only(&output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    let summary = runtime()?.block_on(async {
        let stop = CancellationToken::new();
        let recording = tokio::spawn(lcu_rules::client::record(
            options,
            std::io::BufWriter::new(file),
            redact,
            stop.clone(),
        ));
        app::wait_for_stop_signal().await;
        stop.cancel();
        recording.await
    })?;
    let summary = summary.with_context(|| format!("writing {}", output.display()))?;
    let pseudonyms = if redact {
        format!(
            " ({} personal value(s) replaced by pseudonyms)",
            summary.pseudonyms
        )
    } else {
        String::new()
    };
    eprintln!(
        "recorded {} event(s) to {}{pseudonyms}",
        summary.events,
        output.display(),
    );
    Ok(ExitCode::SUCCESS)
}

/// `lcu-rules autostart enable|disable|status`.
pub(crate) fn autostart(action: AutostartAction) -> anyhow::Result<ExitCode> {
    use lcu_rules::service::autostart;
    match action {
        AutostartAction::Enable => {
            autostart::enable()?;
            outln!("lcu-rules will start at login (`lcu-rules run --tray`)");
        }
        AutostartAction::Disable => {
            autostart::disable()?;
            outln!("lcu-rules will not start at login");
        }
        AutostartAction::Status => outln!(
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

/// `lcu-rules paths`.
pub(crate) fn paths(format: Format) -> anyhow::Result<ExitCode> {
    let paths = Paths::discover()?;
    match format {
        Format::Json => out::json("paths", serde_json::to_value(&paths)?),
        Format::Human => {
            outln!("config:  {}", paths.config_file.display());
            outln!("rules:   {}", paths.rules_dir.display());
            outln!("logs:    {}", paths.log_dir.display());
            outln!("control: {}", paths.control_dir.display());
            outln!("state:   {}", paths.state_file.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends one request to the running service and prints its answer (JSON: the reply's data in
/// the envelope of `command`). A refused request is an error on stderr and exit code 1.
pub(crate) fn ask_service(
    command: &str,
    request: Request,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let paths = Paths::discover()?;
    let reply = runtime()?.block_on(control::request(&paths.control_dir, &request));
    match reply {
        Ok(reply) if !reply.ok => {
            eprintln!("error: {}", reply.text.trim_end());
            Ok(ExitCode::from(1))
        }
        Ok(reply) => {
            match format {
                Format::Json => out::json(command, reply.data),
                Format::Human => out!("{}", with_newline(&reply.text)),
            }
            Ok(ExitCode::SUCCESS)
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

/// `lcu-rules demo`: the rules against the in-process simulated client.
pub(crate) fn demo(rules: &[PathBuf], pace: f64) -> anyhow::Result<ExitCode> {
    init_logging("warn");
    let stdout: Box<dyn std::io::Write + Send> = Box::new(out::Stdout);
    match runtime()?.block_on(lcu_rules::service::run_demo(rules, pace.max(0.0), stdout)) {
        Ok(summary) => {
            outln!(
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

/// `lcu-rules sim`: the simulated client on its own.
pub(crate) fn sim(
    dir: Option<PathBuf>,
    pace: f64,
    sessions: Option<u32>,
) -> anyhow::Result<ExitCode> {
    init_logging("warn");
    runtime()?.block_on(play(dir, pace.max(0.0), sessions))
}

/// The simulated client and its session loop, until Ctrl-C.
async fn play(dir: Option<PathBuf>, pace: f64, sessions: Option<u32>) -> anyhow::Result<ExitCode> {
    let temporary = dir.is_none();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("lcu-rules-sim-{}", std::process::id()))
    });
    let sim = lcu_rules::sim::SimClient::start(&dir)
        .await
        .with_context(|| format!("cannot start the simulated client in {}", dir.display()))?;
    outln!(
        "simulated League client on 127.0.0.1:{}\nconnect to it with:\n  lcu-rules run --lockfile {} --ca {}\n",
        sim.port(),
        sim.lockfile().display(),
        sim.ca_file().display()
    );
    let recorded = lcu_rules::event::parse_recording(lcu_rules::service::CHAMP_SELECT)
        .map_err(|(line, error)| anyhow::anyhow!("capture line {line}: {error}"))?;
    let champ_select = lcu_rules::event::timed(recorded, std::time::Duration::ZERO);
    let stop = CancellationToken::new();
    let stopper = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stopper.cancel();
    });
    let mut stdout = out::Stdout;
    lcu_rules::sim::play_sessions(&sim, &champ_select, pace, sessions, &mut stdout, &stop).await;
    sim.stop();
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates (or truncates) a recording readable and writable by its owner only: even redacted,
/// it is the player's session. (On Windows a new file takes the ACL of the user's folder.)
fn create_owner_only(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        // `mode` applies only to a new file; an older one keeps its own.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}
