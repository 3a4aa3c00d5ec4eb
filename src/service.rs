//! The live service: the engine and the client connection started together, wired by a bounded
//! event channel, and stopped together. `run`, `demo` and the integration tests all use this.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, EngineConfig, EngineReport};
use crate::http::LivePort;
use crate::live::{LiveOptions, Status, maintain};
use crate::rule::RuleSet;
use crate::trace::Observer;

/// Events waiting between the socket reader and the engine. When full, the reader waits (and
/// the client's socket with it): nothing is dropped and memory stays bounded.
pub const EVENT_QUEUE: usize = 256;

/// A running service.
pub struct Service {
    shutdown: CancellationToken,
    engine: JoinHandle<EngineReport>,
    connection: JoinHandle<()>,
    /// The connection's status.
    pub status: watch::Receiver<Status>,
    /// The port requests go through.
    pub port: Arc<LivePort>,
}

impl Service {
    /// Starts the engine over `rules` and the connection described by `options`.
    pub fn start(
        rules: Arc<RuleSet>,
        mut options: LiveOptions,
        observer: Arc<dyn Observer>,
        config: EngineConfig,
    ) -> Service {
        if options.resync.is_empty() {
            options.resync = rules.literal_trigger_uris();
        }
        if options.interest.is_none() {
            options.interest = Some(rules.clone());
        }
        let port = Arc::new(LivePort::default());
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (status_tx, status) = watch::channel(Status::Waiting);
        let shutdown = CancellationToken::new();
        let engine = Engine::new(rules, port.clone(), observer, config);
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
            status,
            port,
        }
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
