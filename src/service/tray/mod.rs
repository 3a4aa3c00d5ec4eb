//! The system-tray icon. A pure model ([`view`], [`action`]) says what the icon, tooltip and menu
//! show for a state of the service and what each menu item does; a thread of its own owns the
//! platform icon (tray icons are not `Send`) and talks to the service's runtime through channels
//! only, so neither can block the other.
//!
//! Backends: Linux uses `tray-icon`'s pure-Rust StatusNotifierItem backend over D-Bus (no C
//! libraries); Windows pumps its messages on the icon's thread. macOS keeps the menu bar on the
//! main thread's run loop: there `run` moves the service to a thread of its own and gives the
//! main thread to the icon's loop ([`ICON_ON_MAIN_THREAD`], [`IconLoop`]), which pumps AppKit's
//! events as an accessory application.

mod model;
mod platform;

use model::{Snapshot, TrayAction, TrayView, view};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::service::ServiceHandle;
use crate::service::paths::Paths;
use crate::service::reload::{ReloadListener, ReloadOutcome, Reloader};

/// The running tray; [`TrayHandle::close`] removes the icon.
pub(crate) struct TrayHandle {
    stop: CancellationToken,
}

impl TrayHandle {
    /// Removes the icon.
    pub(crate) fn close(&self) {
        self.stop.cancel();
    }
}

/// Remembers whether the last reload was rejected, for the icon.
struct ReloadErrors(AtomicUsize);

impl ReloadListener for ReloadErrors {
    fn reloaded(&self, outcome: &ReloadOutcome) {
        let errors = match outcome {
            ReloadOutcome::Rejected { errors } => errors.len(),
            _ => 0,
        };
        self.0.store(errors, Ordering::Relaxed);
    }
}

/// The icon's half of the tray: its loop, which owns the platform icon and must run on the
/// thread the platform wants (the main thread on macOS; a thread of its own elsewhere).
pub(crate) struct IconLoop {
    views: std::sync::mpsc::Receiver<TrayView>,
    actions: mpsc::UnboundedSender<TrayAction>,
    ready: tokio::sync::oneshot::Sender<Result<(), String>>,
    stop: CancellationToken,
}

impl IconLoop {
    /// Shows the icon and runs its loop until the service closes it (or goes away).
    pub(crate) fn run(self) {
        platform::run(self.views, self.actions, self.ready, self.stop);
    }
}

/// The service's half of the tray: what [`attach`] feeds views into and takes clicks from.
pub(crate) struct TrayFeed {
    views: std::sync::mpsc::Sender<TrayView>,
    actions: mpsc::UnboundedReceiver<TrayAction>,
    ready: tokio::sync::oneshot::Receiver<Result<(), String>>,
    stop: CancellationToken,
}

/// Whether the icon's loop must run on the process's main thread (macOS: the menu bar belongs
/// to the main thread's run loop).
pub(crate) const ICON_ON_MAIN_THREAD: bool = cfg!(target_os = "macos");

/// The two halves of a tray, joined by channels.
pub(crate) fn channels() -> (TrayFeed, IconLoop) {
    let (views_tx, views_rx) = std::sync::mpsc::channel::<TrayView>();
    let (actions_tx, actions_rx) = mpsc::unbounded_channel::<TrayAction>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let stop = CancellationToken::new();
    (
        TrayFeed {
            views: views_tx,
            actions: actions_rx,
            ready: ready_rx,
            stop: stop.clone(),
        },
        IconLoop {
            views: views_rx,
            actions: actions_tx,
            ready: ready_tx,
            stop,
        },
    )
}

/// Starts the icon's loop on a thread of its own and returns its feed for [`attach`]; `None`
/// (with a warning) when the thread cannot start. Where the icon must live on the main thread
/// ([`ICON_ON_MAIN_THREAD`]), run an [`IconLoop`] there instead.
pub(crate) fn spawn_icon() -> Option<TrayFeed> {
    let (feed, icon) = channels();
    let spawned = std::thread::Builder::new()
        .name("lcu-rules-tray".into())
        .spawn(move || icon.run());
    if let Err(error) = spawned {
        tracing::warn!(%error, "no tray icon: cannot start its thread");
        return None;
    }
    Some(feed)
}

/// Shows the tray icon for the service behind `handle`: feeds the icon's loop (see
/// [`spawn_icon`], [`IconLoop`]) with the service's state and carries out its clicks. `None` (with
/// a warning) when this desktop has no tray to show it in. Quit cancels `shutdown`.
pub(crate) async fn attach(
    feed: TrayFeed,
    handle: ServiceHandle,
    reloader: Arc<Reloader>,
    paths: Paths,
    rule_paths: Vec<PathBuf>,
    shutdown: CancellationToken,
) -> Option<TrayHandle> {
    let TrayFeed {
        views: views_tx,
        actions: mut actions_rx,
        ready,
        stop,
    } = feed;
    match tokio::time::timeout(Duration::from_secs(10), ready).await {
        Ok(Ok(Ok(()))) if platform::tray_host_present().await => tracing::info!("tray icon shown"),
        Ok(Ok(Ok(()))) => tracing::warn!(
            "no tray host on this desktop (nothing provides org.kde.StatusNotifierWatcher; on GNOME, the AppIndicator extension does): the icon shows nowhere, and lcu-rules runs on without it; `lcu-rules status` shows its state"
        ),
        Ok(Ok(Err(error))) => {
            tracing::warn!(%error, "no tray icon; lcu-rules runs without it");
            return None;
        }
        Ok(Err(_)) => {
            tracing::warn!("no tray icon: its loop ended; lcu-rules runs without it");
            return None;
        }
        Err(_) => {
            tracing::warn!("no tray icon: it did not come up; lcu-rules runs without it");
            stop.cancel();
            return None;
        }
    }
    let errors = Arc::new(ReloadErrors(AtomicUsize::new(0)));
    reloader.listen(errors.clone());
    let task_stop = stop.clone();
    tokio::spawn(async move {
        let mut shown: Option<TrayView> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = task_stop.cancelled() => return,
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
                Some(action) = actions_rx.recv() => {
                    tracing::info!(clicked = %action, "tray");
                    perform(action, &handle, &reloader, &paths, &rule_paths, &shutdown).await;
                }
            }
            let Some(engine) = handle.engine_status().await else {
                return;
            };
            let snapshot = Snapshot {
                connection: handle.connection(),
                engine,
                reload_errors: errors.0.load(Ordering::Relaxed),
                autostart: crate::service::autostart::is_enabled().unwrap_or(false),
            };
            let next = view(&snapshot);
            if shown.as_ref() != Some(&next) {
                if views_tx.send(next.clone()).is_err() {
                    return;
                }
                shown = Some(next);
            }
        }
    });
    Some(TrayHandle { stop })
}

async fn perform(
    action: TrayAction,
    handle: &ServiceHandle,
    reloader: &Reloader,
    paths: &Paths,
    rule_paths: &[PathBuf],
    shutdown: &CancellationToken,
) {
    match action {
        TrayAction::Pause => handle.pause(true),
        TrayAction::Resume => handle.pause(false),
        TrayAction::Switch { rule, on } => handle.switch(&rule, on),
        TrayAction::Run(rule) => {
            if let Err(error) = handle.trigger(rule.clone(), serde_json::json!({})).await {
                tracing::warn!(rule = %rule, %error, "tray: the rule did not run");
            }
        }
        TrayAction::Reload => {
            reloader.reload_now().await;
        }
        TrayAction::OpenRules => {
            let folder = rule_paths
                .iter()
                .find(|p| p.is_dir())
                .cloned()
                .unwrap_or_else(|| paths.rules_dir.clone());
            open(&folder);
        }
        TrayAction::OpenLog => match newest_log(&paths.log_dir) {
            Some(file) => open(&file),
            None => open(&paths.log_dir),
        },
        TrayAction::Autostart(on) => {
            if let Err(error) = crate::service::autostart::set(on) {
                tracing::warn!(%error, "tray");
            }
        }
        TrayAction::Quit => shutdown.cancel(),
    }
}

/// The most recently written log file.
fn newest_log(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("lcu-rules"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

/// Opens a file or folder with the desktop's default program.
fn open(path: &Path) {
    let program = if cfg!(target_os = "windows") {
        "explorer"
    } else if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(error) = std::process::Command::new(program).arg(path).spawn() {
        tracing::warn!(%error, path = %path.display(), "cannot open");
    }
}
