//! The `lcu-rules` command line: parses the arguments and calls one function per subcommand,
//! mapping results to exit codes (0 fine, 1 problems found or tests failed, 2 could not run).

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use cli::args::{Cli, Command, Format};
use cli::{out, rules, service};
use lcu_rules::language::ApiIndex;
use lcu_rules::service::control::Request;

fn main() -> ExitCode {
    lcu_rules::client::install_crypto_provider();
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init { dir, force } => rules::init(dir, force),
        Command::Check {
            paths,
            format,
            deny_warnings,
            lcu_schema,
            lcu_events,
            no_api_checks,
            verbose,
        } => {
            let index = match (&lcu_schema, no_api_checks) {
                (Some(swagger), _) => Some(rules::read_api_dump(swagger, lcu_events.as_deref())?),
                (None, true) => None,
                (None, false) => Some(ApiIndex::embedded().clone()),
            };
            let paths = rules::rule_paths(paths)?;
            let options = rules::CheckOptions {
                format,
                deny_warnings,
                verbose,
            };
            Ok(rules::check(&paths, &options, index.as_ref()))
        }
        Command::Endpoints { filter, format } => {
            rules::list_endpoints(filter.as_deref().unwrap_or(""), format);
            Ok(ExitCode::SUCCESS)
        }
        Command::Test {
            paths,
            events: Some(events),
            include_disabled,
            why,
            ..
        } => rules::replay_session(&rules::rule_paths(paths)?, &events, include_disabled, why),
        Command::Test {
            paths,
            verbose,
            format,
            ..
        } => rules::run_tests(&rules::rule_paths(paths)?, verbose, format),
        Command::Schema => {
            out::write(&lcu_rules::language::json_schema());
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            live: true,
            rule,
            format,
            ..
        } => service::ask_service("explain", Request::Explain { rule }, format),
        Command::Explain {
            paths,
            events: Some(events),
            rule,
            format,
            ..
        } => rules::explain_session(&rules::rule_paths(paths)?, &events, rule.as_deref(), format),
        Command::Explain { .. } => anyhow::bail!("give --events FILE or --live"),
        Command::Run(args) => service::run(args),
        Command::Record {
            output,
            redact,
            connect,
        } => service::record(output, redact, connect),
        Command::Status { format } => service::ask_service("status", Request::Status, format),
        Command::Reload => service::ask_service("reload", Request::Reload, Format::Human),
        Command::Reset { rule } => {
            service::ask_service("reset", Request::Reset { rule }, Format::Human)
        }
        Command::Trigger { rule, data } => {
            let data = match data {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("--data is not JSON: {e}"))?,
                None => serde_json::json!({}),
            };
            service::ask_service("trigger", Request::Trigger { rule, data }, Format::Human)
        }
        Command::Autostart { action } => service::autostart(action),
        Command::Paths { format } => service::paths(format),
        Command::Sim {
            dir,
            pace,
            sessions,
        } => service::sim(dir, pace, sessions),
        Command::Demo { rules, pace } => service::demo(&rules, pace),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "lcu-rules", &mut script);
            out::write(&String::from_utf8_lossy(&script));
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            out::write(&String::from_utf8_lossy(&page));
            Ok(ExitCode::SUCCESS)
        }
    }
}
