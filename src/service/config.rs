//! The service's config file (`config.yaml` in the OS config folder): rule folders, log level and
//! format, the tray, and the engine's limits. Read with the same YAML reader as rules, so an
//! unknown key or a bad value is an error that names file:line:col. Command-line flags override
//! what it says.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::engine::EngineConfig;
use crate::event::parse_duration;
use crate::language::diag::{Diagnostic, Sink};
use crate::language::rule::Breaker;
use crate::language::yaml::{self, Span, Spanned};

/// The config file as written. Every key is optional.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    /// Rule files or folders to load (default: the user's rules folder). Relative paths are
    /// relative to the config file's folder; `~/` is the home folder.
    #[serde(default)]
    pub rules: Option<Vec<String>>,
    /// Log level: `error`, `warn`, `info` (default), `debug` or `trace` (`RUST_LOG` overrides).
    #[serde(default)]
    pub log_level: Option<Spanned<String>>,
    /// Log format on the terminal: `text` (default) or `json`.
    #[serde(default)]
    pub log_format: Option<Spanned<String>>,
    /// Show the system-tray icon when running (default `false`; `run --tray` turns it on).
    #[serde(default)]
    pub tray: bool,
    /// Watch the rule folders and reload on every saved change (default `true`).
    #[serde(default = "default_true")]
    pub watch: bool,
    /// The engine's limits.
    #[serde(default)]
    pub engine: EngineSection,
}

fn default_true() -> bool {
    true
}

/// The engine's limits as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EngineSection {
    /// Runs active at once across all rules (default 128).
    #[serde(default)]
    pub max_active_runs: Option<Spanned<u32>>,
    /// Rules that may trigger each other through their writes in one chain (default 5).
    #[serde(default)]
    pub max_depth: Option<Spanned<u32>>,
    /// How long after a write an event on the written URI counts as its echo (default `2s`).
    #[serde(default)]
    pub echo_window: Option<Spanned<String>>,
    /// The circuit breaker of rules that set none: `{max, within}` (default 20 within 10s).
    #[serde(default)]
    pub breaker: Option<BreakerSection>,
    /// Grace period for runs at shutdown (default `2s`).
    #[serde(default)]
    pub shutdown_grace: Option<Spanned<String>>,
    /// How far behind the client the rules may fall before only the newest event of each URI
    /// is kept (default `250ms`; see "Safety limits" in the README).
    #[serde(default)]
    pub max_lag: Option<Spanned<String>>,
}

/// The default circuit breaker as written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BreakerSection {
    /// Firings allowed within the window.
    pub max: Spanned<u32>,
    /// The window (e.g. `10s`).
    pub within: Spanned<String>,
}

/// The config in force.
#[derive(Debug, Clone)]
pub struct Config {
    /// Rule files or folders, resolved.
    pub rules: Option<Vec<PathBuf>>,
    /// Log level filter.
    pub log_level: String,
    /// Whether terminal logs are JSON.
    pub log_json: bool,
    /// Whether to show the tray icon.
    pub tray: bool,
    /// Whether to watch the rule folders.
    pub watch: bool,
    /// Engine settings.
    pub engine: EngineConfig,
    /// The socket reader's lag limit.
    pub max_lag: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rules: None,
            log_level: "info".into(),
            log_json: false,
            tray: false,
            watch: true,
            engine: EngineConfig::default(),
            max_lag: crate::client::live::MAX_LAG,
        }
    }
}

/// The starting config file written on first run.
pub(crate) const STARTER: &str = "\
# lcu-rules configuration. Every key is optional; command-line flags override these.
# Reference: `lcu-rules paths` shows where this file and the rules live.

# Rule files or folders (default: the `rules` folder beside this file).
# rules: [rules]

# error, warn, info, debug or trace
log_level: info

# text or json (terminal output; the log file is always text)
log_format: text

# Show the system-tray icon (`lcu-rules run --tray` does too).
tray: false

# Reload the rules whenever a rule file is saved.
watch: true

# engine:
#   max_active_runs: 128
#   max_depth: 5
#   echo_window: 2s
#   breaker: {max: 20, within: 10s}
#   shutdown_grace: 2s
#   max_lag: 1s
";

/// Reads the config file at `path`; a missing file is the default config. Errors name
/// file:line:col.
pub fn read(path: &Path) -> Result<Config, Vec<Diagnostic>> {
    let source = match std::fs::read_to_string(path) {
        Ok(source) => source,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Config::default());
        }
        Err(error) => {
            let mut sink = Sink::new(path, "");
            sink.report(
                crate::language::diag::Code::Io,
                Span::new(1, 1, 1),
                format!("cannot read the config file: {error}"),
                None,
            );
            return Err(sink.diagnostics);
        }
    };
    parse(path, &source)
}

/// Parses config text (named `path` in errors).
pub(crate) fn parse(path: &Path, source: &str) -> Result<Config, Vec<Diagnostic>> {
    let mut sink = Sink::new(path, source);
    let file: ConfigFile = if source.trim().is_empty() {
        ConfigFile::default()
    } else {
        match yaml::from_str::<Option<ConfigFile>>(source) {
            Ok(file) => file.unwrap_or_default(),
            Err(error) => {
                sink.report_yaml(error);
                return Err(sink.diagnostics);
            }
        }
    };
    let mut config = Config::default();
    let base = path.parent().unwrap_or(Path::new("."));
    config.rules = file
        .rules
        .map(|list| list.iter().map(|p| resolve(base, p)).collect());
    if let Some(level) = &file.log_level {
        const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];
        if LEVELS.contains(&level.value.as_str()) {
            config.log_level = level.value.clone();
        } else {
            invalid(&mut sink, level.span, "log_level", &level.value, &LEVELS);
        }
    }
    if let Some(format) = &file.log_format {
        match format.value.as_str() {
            "text" => config.log_json = false,
            "json" => config.log_json = true,
            other => invalid(
                &mut sink,
                format.span,
                "log_format",
                other,
                &["text", "json"],
            ),
        }
    }
    config.tray = file.tray;
    config.watch = file.watch;
    let engine = &file.engine;
    if let Some(max) = &engine.max_active_runs {
        config.engine.max_active_runs = at_least_one(&mut sink, max, "max_active_runs") as usize;
    }
    if let Some(depth) = &engine.max_depth {
        config.engine.max_depth = at_least_one(&mut sink, depth, "max_depth") as usize;
    }
    if let Some(window) = duration(&mut sink, engine.echo_window.as_ref()) {
        config.engine.echo_window = window;
    }
    if let Some(grace) = duration(&mut sink, engine.shutdown_grace.as_ref()) {
        config.engine.shutdown_grace = grace;
    }
    if let Some(lag) = duration(&mut sink, engine.max_lag.as_ref()) {
        config.max_lag = lag;
    }
    if let Some(breaker) = &engine.breaker {
        let max = at_least_one(&mut sink, &breaker.max, "breaker.max");
        if let Some(within) = duration(&mut sink, Some(&breaker.within)) {
            config.engine.breaker = Some(Breaker { max, within });
        }
    }
    if sink.has_errors() {
        Err(sink.diagnostics)
    } else {
        Ok(config)
    }
}

/// A path as written in the config: `~/` is the home folder, relative paths start at `base`.
fn resolve(base: &Path, written: &str) -> PathBuf {
    if let Some(rest) = written.strip_prefix("~/")
        && let Some(home) = directories::BaseDirs::new()
    {
        return home.home_dir().join(rest);
    }
    base.join(written)
}

fn invalid(sink: &mut Sink<'_>, span: Span, key: &str, value: &str, allowed: &[&str]) {
    sink.report(
        crate::language::diag::Code::InvalidValue,
        span,
        format!("`{key}: {value}` is not allowed"),
        Some(format!("use one of {}", allowed.join(", "))),
    );
}

fn at_least_one(sink: &mut Sink<'_>, value: &Spanned<u32>, key: &str) -> u32 {
    if value.value == 0 {
        sink.report(
            crate::language::diag::Code::InvalidValue,
            value.span,
            format!("`{key}` must be at least 1"),
            None,
        );
    }
    value.value.max(1)
}

fn duration(sink: &mut Sink<'_>, text: Option<&Spanned<String>>) -> Option<Duration> {
    let text = text?;
    match parse_duration(&text.value) {
        Ok(duration) => Some(duration),
        Err(message) => {
            sink.report(
                crate::language::diag::Code::InvalidDuration,
                text.span,
                message,
                Some("durations look like `250ms`, `2s`, `1m`".into()),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The starter file parses to the defaults.
    #[test]
    fn starter_is_valid() {
        let config = parse(Path::new("config.yaml"), STARTER).expect("starter parses");
        assert_eq!(config.log_level, "info");
        assert!(!config.tray && config.watch && config.rules.is_none());
    }

    /// An unknown key and a bad value are errors at their line and column.
    #[test]
    fn mistakes_name_line_and_column() {
        let errors = parse(
            Path::new("config.yaml"),
            "log_level: info\nengine:\n  max_depth: 3\n  breakr: {max: 1, within: 1s}\n",
        )
        .expect_err("unknown key");
        let rendered = errors[0].render();
        assert!(rendered.contains("config.yaml:4:3"), "{rendered}");
        assert!(rendered.contains("breakr"), "{rendered}");

        let errors = parse(Path::new("c.yaml"), "log_level: loud\n").expect_err("bad level");
        assert!(
            errors[0].render().contains("c.yaml:1:12"),
            "{}",
            errors[0].render()
        );
    }

    /// Values reach the engine's settings; relative rule paths start at the config's folder.
    #[test]
    fn values_apply() {
        let config = parse(
            Path::new("/cfg/config.yaml"),
            "rules: [mine, /abs]\nlog_format: json\nengine:\n  max_depth: 3\n  max_lag: 3s\n  breaker: {max: 4, within: 2s}\n",
        )
        .unwrap();
        assert_eq!(
            config.rules,
            Some(vec![PathBuf::from("/cfg/mine"), PathBuf::from("/abs")])
        );
        assert!(config.log_json);
        assert_eq!(config.engine.max_depth, 3);
        assert_eq!(config.max_lag, Duration::from_secs(3));
        assert_eq!(
            config.engine.breaker,
            Some(Breaker {
                max: 4,
                within: Duration::from_secs(2)
            })
        );
    }
}
