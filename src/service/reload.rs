//! Reloading rules while the service runs. The whole rule set is loaded and validated to the side
//! and swapped in only when it has no error: a broken edit never unloads working rules. The rule
//! folders are watched (folders, not files: editors save through temporary files and renames),
//! and every saved change of a `.yaml`/`.yml` file triggers a reload (`watch.rs`).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::engine::ReloadSummary;
use crate::language::diag::Severity;
use crate::language::loader::load_with;
use crate::service::ServiceHandle;
use crate::service::control::Reply;
use crate::service::lifecycle::Reload;
use crate::service::watch::RuleChanges;

/// How long the watcher waits for a burst of file events (a save is often several) to settle.
pub const WATCH_DEBOUNCE: Duration = Duration::from_millis(40);

/// What a reload did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReloadOutcome {
    /// The new rules are in force.
    Applied(ReloadSummary),
    /// The new rules have errors; the previous ones stay in force.
    Rejected {
        /// The errors, rendered as `check` prints them.
        errors: Vec<String>,
    },
    /// The service has stopped.
    Stopped,
}

/// A reload's outcome, for whoever shows it (log, tray).
pub(crate) trait ReloadListener: Send + Sync + 'static {
    /// Called after every reload attempt.
    fn reloaded(&self, outcome: &ReloadOutcome);
}

/// Reloads a running service's rules from their files.
pub struct Reloader {
    paths: Vec<PathBuf>,
    handle: ServiceHandle,
    /// One reload at a time (the watcher and `lcu-rules reload` may ask together).
    busy: tokio::sync::Mutex<()>,
    listeners: Mutex<Vec<Arc<dyn ReloadListener>>>,
}

impl Reloader {
    /// A reloader of the rules under `paths` into the service behind `handle`.
    pub fn new(paths: Vec<PathBuf>, handle: ServiceHandle) -> Arc<Reloader> {
        Arc::new(Reloader {
            paths,
            handle,
            busy: tokio::sync::Mutex::new(()),
            listeners: Mutex::new(Vec::new()),
        })
    }

    /// Also tells `listener` about every reload.
    pub(crate) fn listen(&self, listener: Arc<dyn ReloadListener>) {
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.push(listener);
        }
    }

    /// Loads every rule file to the side and, if nothing has an error, swaps the new rules in.
    pub(crate) async fn reload_now(&self) -> ReloadOutcome {
        let _one_at_a_time = self.busy.lock().await;
        let paths = self.paths.clone();
        // API checks only warn: skipped here, as at start (`check` shows them).
        let loaded = match tokio::task::spawn_blocking(move || load_with(&paths, None)).await {
            Ok(loaded) => loaded,
            Err(_) => return ReloadOutcome::Stopped,
        };
        let outcome = if loaded.has_errors() {
            let errors: Vec<String> = loaded
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| d.render())
                .collect();
            tracing::error!(
                errors = errors.len(),
                "the edited rules have errors; the previous rules stay in force\n{}",
                errors.join("\n")
            );
            ReloadOutcome::Rejected { errors }
        } else {
            match self.handle.replace(Arc::new(loaded.rule_set())).await {
                Some(summary) => {
                    tracing::info!(
                        added = %summary.added.join(", "),
                        changed = %summary.changed.join(", "),
                        removed = %summary.removed.join(", "),
                        unchanged = summary.unchanged.len(),
                        cancelled_runs = summary.cancelled_runs,
                        "rules reloaded"
                    );
                    ReloadOutcome::Applied(summary)
                }
                None => ReloadOutcome::Stopped,
            }
        };
        let listeners = self.listeners.lock().map(|l| l.clone()).unwrap_or_default();
        for listener in listeners {
            listener.reloaded(&outcome);
        }
        outcome
    }

    /// Watches the rule folders and reloads after every change until `shutdown` or until the
    /// returned watcher is dropped.
    ///
    /// Folders are watched, not files: editors save by writing a temporary file and renaming it
    /// over, or by deleting and re-creating. Only the folders' own `*.yaml`/`*.yml` files count
    /// (a folder is not read recursively either). A burst of changes is settled here, on the
    /// runtime, [`WATCH_DEBOUNCE`] after its last event: notify's own debouncers poll on a thread
    /// every few milliseconds for as long as the service runs, and stat every file they see.
    pub fn watch(self: &Arc<Self>, shutdown: CancellationToken) -> std::io::Result<RuleWatcher> {
        let mut changes = RuleChanges::watch(&watched_dirs(&self.paths))?;
        let stop = shutdown.child_token();
        let guard = stop.clone().drop_guard();
        let reloader = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    change = changes.next() => if change.is_none() { return },
                }
                // Settle: wait until the folder has been quiet for the debounce time.
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(WATCH_DEBOUNCE) => break,
                        change = changes.next() => if change.is_none() { return },
                    }
                }
                reloader.reload_now().await;
            }
        });
        Ok(RuleWatcher { _stop: guard })
    }
}

/// Keeps the file watcher alive: dropping it stops the watch.
pub struct RuleWatcher {
    _stop: DropGuard,
}

impl Reload for Reloader {
    fn reload(&self) -> Pin<Box<dyn Future<Output = Reply> + Send + '_>> {
        Box::pin(async move {
            match self.reload_now().await {
                ReloadOutcome::Applied(summary) => Reply::ok(
                    describe_summary(&summary),
                    serde_json::to_value(&summary).unwrap_or_default(),
                ),
                ReloadOutcome::Rejected { errors } => Reply {
                    ok: false,
                    text: format!(
                        "the rules have {} error(s); the previous rules stay in force\n{}",
                        errors.len(),
                        errors.join("\n")
                    ),
                    data: json!({ "errors": errors }),
                },
                ReloadOutcome::Stopped => Reply::error("the service has stopped"),
            }
        })
    }
}

/// A reload's summary in words.
pub(crate) fn describe_summary(summary: &ReloadSummary) -> String {
    let part = |label: &str, ids: &[String]| {
        (!ids.is_empty()).then(|| format!("{label} {}", ids.join(", ")))
    };
    let parts: Vec<String> = [
        part("added", &summary.added),
        part("changed", &summary.changed),
        part("removed", &summary.removed),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        format!(
            "rules reloaded: nothing changed ({} rule(s))",
            summary.unchanged.len()
        )
    } else {
        format!("rules reloaded: {}", parts.join("; "))
    }
}

/// The folders to watch: each folder given, and the folder of each file given.
fn watched_dirs(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = paths
        .iter()
        .filter_map(|p| {
            if p.is_dir() {
                Some(p.clone())
            } else {
                p.parent()
                    .map(|d| {
                        if d.as_os_str().is_empty() {
                            Path::new(".")
                        } else {
                            d
                        }
                    })
                    .map(Path::to_path_buf)
            }
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}
