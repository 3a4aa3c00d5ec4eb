//! The live service: the engine and the client connection started together, wired by a bounded
//! event channel, and stopped together; its [`ServiceHandle`] is what reloads, the control channel
//! and the tray use to reach it. `run`, `demo` and the integration tests all use this.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::http::LivePort;
use crate::client::live::{LiveOptions, Status, maintain};
use crate::engine::journal::{Fanout, SharedJournal};
use crate::engine::trace::Observer;
use crate::engine::{Command, Engine, EngineConfig, EngineReport, EngineStatus, ReloadSummary};
use crate::language::rule::RuleSet;
use crate::service::control::{Handler, Reply, Request};

/// Events waiting between the socket reader and the engine. When full, the reader waits (and
/// the client's socket with it), up to the lag limit of the overflow policy described at
/// [`StreamStats`](crate::client::live::StreamStats).
pub(crate) const EVENT_QUEUE: usize = 256;

/// A running service.
pub struct Service {
    shutdown: CancellationToken,
    engine: JoinHandle<EngineReport>,
    connection: JoinHandle<()>,
    /// The connection's status.
    pub status: watch::Receiver<Status>,
    /// The port requests go through.
    pub port: Arc<LivePort>,
    handle: ServiceHandle,
}

/// A cheap, cloneable way to reach a running service.
#[derive(Clone)]
pub struct ServiceHandle {
    rules: Arc<ArcSwap<RuleSet>>,
    commands: mpsc::UnboundedSender<Command>,
    journal: Arc<SharedJournal>,
    status: watch::Receiver<Status>,
    started: std::time::Instant,
    stream: Arc<crate::client::live::StreamStats>,
}

impl Service {
    /// Starts the engine over `rules` and the connection described by `options`.
    pub fn start(
        rules: Arc<RuleSet>,
        mut options: LiveOptions,
        observer: Arc<dyn Observer>,
        config: EngineConfig,
    ) -> Service {
        let current = Arc::new(ArcSwap::new(rules.clone()));
        if options.interest.is_none() {
            options.interest = Some(current.clone());
        }
        let journal = SharedJournal::live(&rules);
        let stream = options.stats.clone();
        let observer: Arc<dyn Observer> = Arc::new(Fanout(vec![observer, journal.clone()]));
        let port = Arc::new(LivePort::default());
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (status_tx, status) = watch::channel(Status::Waiting);
        let shutdown = CancellationToken::new();
        let mut engine = Engine::new(rules, port.clone(), observer, config);
        let commands = engine.commands();
        let engine = tokio::spawn(engine.run(events_rx, shutdown.clone()));
        let connection = tokio::spawn(maintain(
            options,
            port.clone(),
            events_tx,
            status_tx,
            shutdown.clone(),
        ));
        Service {
            shutdown,
            engine,
            connection,
            status: status.clone(),
            port,
            handle: ServiceHandle {
                rules: current,
                commands,
                journal,
                status,
                started: std::time::Instant::now(),
                stream,
            },
        }
    }

    /// A handle to reach the service from elsewhere.
    pub fn handle(&self) -> ServiceHandle {
        self.handle.clone()
    }

    /// Waits until the connection reports `Connected` with at least `connections` connections
    /// made so far; `false` on timeout.
    pub async fn wait_connected(&mut self, connections: u64, timeout: Duration) -> bool {
        let wait = self.status.wait_for(
            |s| matches!(s, Status::Connected { connections: n, .. } if *n >= connections),
        );
        matches!(tokio::time::timeout(timeout, wait).await, Ok(Ok(_)))
    }

    /// Stops the connection and the engine (in-flight runs get the engine's grace period) and
    /// returns the engine's report.
    pub async fn stop(self) -> EngineReport {
        self.shutdown.cancel();
        let _ = self.connection.await;
        self.engine.await.unwrap_or_default()
    }
}

impl ServiceHandle {
    /// The rules in force.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.rules.load_full()
    }

    /// Swaps in a new, already validated rule set (see [`Command::Replace`]); `None` when the
    /// engine has stopped.
    pub(crate) async fn replace(&self, rules: Arc<RuleSet>) -> Option<ReloadSummary> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Replace {
                rules: rules.clone(),
                reply,
            })
            .ok()?;
        let summary = answer.await.ok()?;
        self.rules.store(rules.clone());
        self.journal.retarget(&rules);
        Some(summary)
    }

    /// The engine's state; `None` when it has stopped.
    pub async fn engine_status(&self) -> Option<EngineStatus> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Status(reply)).ok()?;
        answer.await.ok()
    }

    /// Closes tripped breakers (of `rule`, or all); the rules that were reset.
    pub async fn reset_breakers(&self, rule: Option<String>) -> Option<Vec<String>> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::ResetBreaker { rule, reply })
            .ok()?;
        answer.await.ok()
    }

    /// Runs a manual rule now (see [`Command::Trigger`]).
    pub(crate) async fn trigger(
        &self,
        rule: String,
        data: serde_json::Value,
    ) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Trigger { rule, data, reply })
            .map_err(|_| "the engine has stopped".to_string())?;
        answer
            .await
            .unwrap_or_else(|_| Err("the engine has stopped".to_string()))
    }

    /// Pauses or resumes every rule.
    pub(crate) fn pause(&self, paused: bool) {
        let _ = self.commands.send(Command::Pause(paused));
    }

    /// Switches a rule off or on.
    pub(crate) fn switch(&self, rule: &str, on: bool) {
        let _ = self.commands.send(Command::Switch {
            rule: rule.to_string(),
            on,
        });
    }

    /// The connection's status.
    pub(crate) fn connection(&self) -> Status {
        self.status.borrow().clone()
    }

    /// The recent decision records.
    pub(crate) fn journal(&self) -> &SharedJournal {
        &self.journal
    }

    /// What the socket reader counted.
    pub(crate) fn stream(&self) -> crate::client::live::StreamCounts {
        self.stream.counts()
    }

    /// How long the service has been up.
    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// What reloads the rule files when asked through the control channel.
pub trait Reload: Send + Sync + 'static {
    /// Reloads now; the reply says what changed, or why nothing did.
    fn reload(&self) -> Pin<Box<dyn Future<Output = Reply> + Send + '_>>;
}

/// Answers the control channel's requests for a running service.
pub struct ServiceControl {
    /// The service.
    pub handle: ServiceHandle,
    /// What reloads its rules, if reloading is possible.
    pub reloader: Option<Arc<dyn Reload>>,
}

impl Handler for ServiceControl {
    fn handle(&self, request: Request) -> Pin<Box<dyn Future<Output = Reply> + Send + '_>> {
        Box::pin(async move {
            match request {
                Request::Ping => Reply::ok(
                    format!(
                        "lcu-rules {} is running (pid {})",
                        env!("CARGO_PKG_VERSION"),
                        std::process::id()
                    ),
                    json!({"pid": std::process::id(), "version": env!("CARGO_PKG_VERSION")}),
                ),
                Request::Status => match self.handle.engine_status().await {
                    Some(engine) => {
                        let connection = self.handle.connection();
                        let stream = self.handle.stream();
                        let text =
                            render_status(&connection, &engine, &stream, self.handle.uptime());
                        Reply::ok(
                            text,
                            json!({
                                "pid": std::process::id(),
                                "uptime_s": self.handle.uptime().as_secs(),
                                "connection": describe_connection(&connection),
                                "stream": stream,
                                "engine": engine,
                            }),
                        )
                    }
                    None => Reply::error("the engine has stopped"),
                },
                Request::Explain { rule } => {
                    if let Some(unknown) = self.unknown_rule(rule.as_deref()) {
                        return unknown;
                    }
                    let explanations = self.handle.journal().explanations(rule.as_deref());
                    Reply::ok(
                        crate::engine::journal::render(&explanations),
                        json!({"rules": explanations}),
                    )
                }
                Request::Reset { rule } => {
                    if let Some(unknown) = self.unknown_rule(rule.as_deref()) {
                        return unknown;
                    }
                    self.reset(rule).await
                }
                Request::Trigger { rule, data } => {
                    if let Some(unknown) = self.unknown_rule(Some(&rule)) {
                        return unknown;
                    }
                    match self.handle.trigger(rule.clone(), data).await {
                        Ok(()) => Reply::ok(format!("{rule}: triggered"), json!({"rule": rule})),
                        Err(why) => Reply::error(why),
                    }
                }
                Request::Reload => match &self.reloader {
                    Some(reloader) => reloader.reload().await,
                    None => Reply::error("this service cannot reload its rules"),
                },
            }
        })
    }
}

impl ServiceControl {
    /// The error reply for a rule id that no loaded rule has, with the closest id.
    fn unknown_rule(&self, rule: Option<&str>) -> Option<Reply> {
        let id = rule?;
        let rules = self.handle.rules();
        if rules.find(id).is_some() {
            return None;
        }
        let hint = crate::language::closest(id, rules.rules.iter().map(|r| r.id.as_str()))
            .map(|best| format!("; did you mean `{best}`?"))
            .unwrap_or_default();
        Some(Reply::error(format!("no rule `{id}` is loaded{hint}")))
    }

    /// Closes the open breakers of `rule` (or of every rule).
    async fn reset(&self, rule: Option<String>) -> Reply {
        match self.handle.reset_breakers(rule).await {
            Some(reset) if reset.is_empty() => {
                Reply::ok("no circuit breaker was open", json!({"reset": reset}))
            }
            Some(reset) => Reply::ok(
                format!("circuit breaker closed again: {}", reset.join(", ")),
                json!({"reset": reset}),
            ),
            None => Reply::error("the engine has stopped"),
        }
    }
}

/// The connection status in words.
pub(crate) fn describe_connection(status: &Status) -> String {
    match status {
        Status::Waiting => "waiting for the League client".into(),
        Status::Connecting { port } => format!("connecting to the client on port {port}"),
        Status::Connected { port, connections } => {
            format!("connected to the client on port {port} (connection {connections})")
        }
        Status::Retrying { reason } => format!("retrying: {reason}"),
        Status::Stopped => "stopped".into(),
    }
}

/// `lcu-rules status` as text.
pub(crate) fn render_status(
    connection: &Status,
    engine: &EngineStatus,
    stream: &crate::client::live::StreamCounts,
    uptime: Duration,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lcu-rules {} (pid {}), up {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        crate::event::duration::human(Duration::from_secs(uptime.as_secs()))
    );
    let _ = writeln!(out, "client: {}", describe_connection(connection));
    if let Some(phase) = &engine.phase {
        let _ = writeln!(out, "phase:  {phase}");
    }
    let _ = writeln!(
        out,
        "stream: {} frames, {} events for the rules, {} ignored, {} malformed, {} dropped (superseded while the rules were behind)",
        stream.frames, stream.events, stream.ignored, stream.malformed, stream.dropped
    );
    if engine.paused {
        let _ = writeln!(out, "PAUSED: no rule fires until resumed");
    }
    let enabled = engine.rules.iter().filter(|r| r.enabled).count();
    let _ = writeln!(
        out,
        "events: {}, runs active: {}, rules: {enabled} enabled of {}",
        engine.events,
        engine.active_runs,
        engine.rules.len()
    );
    let width = engine.rules.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for rule in &engine.rules {
        let mut notes = Vec::new();
        if !rule.enabled {
            notes.push("disabled".to_string());
        }
        if rule.active_runs > 0 {
            notes.push(format!("{} running", rule.active_runs));
        }
        if rule.queued > 0 {
            notes.push(format!("{} queued", rule.queued));
        }
        if rule.debouncing > 0 {
            notes.push(format!("{} debouncing", rule.debouncing));
        }
        if rule.tripped {
            notes.push(format!(
                "CIRCUIT BREAKER OPEN (lcu-rules reset {})",
                rule.id
            ));
        }
        let _ = writeln!(
            out,
            "  {:<width$}  fired {:>4}  held back {:>4}  {}",
            rule.id,
            rule.fired,
            rule.suppressed,
            notes.join(", ")
        );
    }
    if !engine.state.is_empty() {
        let _ = writeln!(out, "state:");
        for kept in &engine.state {
            let expires = kept
                .expires_in_ms
                .map(|ms| {
                    format!(
                        ", {} left",
                        crate::event::duration::human(std::time::Duration::from_millis(ms))
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {} = {}  ({:?}{expires})",
                kept.name,
                crate::language::condition::short_json(&kept.value),
                kept.scope
            );
        }
    }
    out
}
