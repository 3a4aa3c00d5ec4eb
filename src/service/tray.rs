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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::client::live::Status;
use crate::engine::EngineStatus;
use crate::service::ServiceHandle;
use crate::service::paths::Paths;
use crate::service::reload::{ReloadListener, ReloadOutcome, Reloader};

/// What the icon's look says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrayState {
    /// No client (yet), or reconnecting.
    Waiting,
    /// Connected; rules fire.
    Connected,
    /// Every rule is paused.
    Paused,
    /// The last edit of the rules has errors (the previous rules are still in force), or a
    /// circuit breaker is open.
    RuleError,
}

/// What the model is computed from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// The connection.
    pub connection: Status,
    /// The engine.
    pub engine: EngineStatus,
    /// Errors of the last rejected reload (0 when the last reload went through).
    pub reload_errors: usize,
    /// Whether lcu-rules starts at login.
    pub autostart: bool,
}

/// How a menu entry looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A plain item.
    Action,
    /// A checkbox, checked or not.
    Check(bool),
    /// A line between groups.
    Separator,
}

/// One entry of the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MenuEntry {
    /// Stable id (what a click reports).
    pub id: String,
    /// What it says.
    pub label: String,
    /// Its kind.
    pub kind: EntryKind,
    /// Whether it can be clicked.
    pub enabled: bool,
}

/// Everything the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrayView {
    /// The icon's state.
    pub state: TrayState,
    /// The one-line status under the pointer.
    pub tooltip: String,
    /// The menu, top to bottom.
    pub entries: Vec<MenuEntry>,
}

/// What a click asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TrayAction {
    /// Pause every rule.
    Pause,
    /// Resume.
    Resume,
    /// Switch a rule on or off.
    Switch {
        /// The rule.
        rule: String,
        /// On or off.
        on: bool,
    },
    /// Reload the rule files.
    Reload,
    /// Open the rules folder.
    OpenRules,
    /// Open the log file.
    OpenLog,
    /// Turn start at login on or off.
    Autostart(bool),
    /// Stop lcu-rules.
    Quit,
}

const RULE_PREFIX: &str = "rule:";

/// What the tray shows for `snapshot`.
pub(crate) fn view(snapshot: &Snapshot) -> TrayView {
    let engine = &snapshot.engine;
    let tripped: Vec<&str> = engine
        .rules
        .iter()
        .filter(|r| r.tripped)
        .map(|r| r.id.as_str())
        .collect();
    let state = if snapshot.reload_errors > 0 || !tripped.is_empty() {
        TrayState::RuleError
    } else if engine.paused {
        TrayState::Paused
    } else if matches!(snapshot.connection, Status::Connected { .. }) {
        TrayState::Connected
    } else {
        TrayState::Waiting
    };
    let active = engine
        .rules
        .iter()
        .filter(|r| r.enabled && !r.switched_off)
        .count();
    let mut parts = vec![
        match (&snapshot.connection, engine.paused) {
            (_, true) => "Paused".to_string(),
            (Status::Connected { .. }, false) => "Connected".to_string(),
            _ => "Waiting for the League client".to_string(),
        },
        format!("{active} rule{}", if active == 1 { "" } else { "s" }),
    ];
    if let Some(last) = engine
        .rules
        .iter()
        .filter_map(|r| r.last_fired_ms_ago.map(|ago| (ago, r.id.as_str())))
        .min()
    {
        parts.push(format!("last: {} {} ago", last.1, ago_text(last.0)));
    }
    if snapshot.reload_errors > 0 {
        parts.push(format!(
            "rule error: {} in the last edit (previous rules active)",
            snapshot.reload_errors
        ));
    }
    if !tripped.is_empty() {
        parts.push(format!("breaker open: {}", tripped.join(", ")));
    }
    let mut entries = vec![entry(
        "pause",
        if engine.paused {
            "Resume all rules"
        } else {
            "Pause all rules"
        },
        EntryKind::Action,
    )];
    entries.push(separator(1));
    for rule in &engine.rules {
        let label = if rule.enabled {
            rule.id.clone()
        } else {
            format!("{} (disabled in its file)", rule.id)
        };
        entries.push(MenuEntry {
            id: format!("{RULE_PREFIX}{}", rule.id),
            label,
            kind: EntryKind::Check(rule.enabled && !rule.switched_off),
            enabled: rule.enabled,
        });
    }
    entries.push(separator(2));
    entries.push(entry("reload", "Reload rules", EntryKind::Action));
    entries.push(entry("open-rules", "Open rules folder", EntryKind::Action));
    entries.push(entry("open-log", "Open log file", EntryKind::Action));
    entries.push(entry(
        "autostart",
        "Start at login",
        EntryKind::Check(snapshot.autostart),
    ));
    entries.push(separator(3));
    entries.push(entry("quit", "Quit", EntryKind::Action));
    TrayView {
        state,
        tooltip: parts.join(" · "),
        entries,
    }
}

/// What clicking the entry `id` of `view` asks for.
pub(crate) fn action(view: &TrayView, id: &str) -> Option<TrayAction> {
    let entry = view.entries.iter().find(|e| e.id == id)?;
    if !entry.enabled {
        return None;
    }
    let checked = matches!(entry.kind, EntryKind::Check(true));
    Some(match id {
        "pause" if view.state == TrayState::Paused => TrayAction::Resume,
        "pause" if entry.label.starts_with("Resume") => TrayAction::Resume,
        "pause" => TrayAction::Pause,
        "reload" => TrayAction::Reload,
        "open-rules" => TrayAction::OpenRules,
        "open-log" => TrayAction::OpenLog,
        "autostart" => TrayAction::Autostart(!checked),
        "quit" => TrayAction::Quit,
        other => TrayAction::Switch {
            rule: other.strip_prefix(RULE_PREFIX)?.to_string(),
            on: !checked,
        },
    })
}

fn entry(id: &str, label: &str, kind: EntryKind) -> MenuEntry {
    MenuEntry {
        id: id.into(),
        label: label.into(),
        kind,
        enabled: true,
    }
}

fn separator(n: u32) -> MenuEntry {
    MenuEntry {
        id: format!("separator-{n}"),
        label: String::new(),
        kind: EntryKind::Separator,
        enabled: false,
    }
}

fn ago_text(ms: u64) -> String {
    match ms / 1000 {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

/// The icon's pixels: a filled circle whose colour says the state (RGBA, `size` × `size`).
pub(crate) fn icon_pixels(state: TrayState, size: u32) -> Vec<u8> {
    let colour: [u8; 3] = match state {
        TrayState::Waiting => [0x8a, 0x8f, 0x98],
        TrayState::Connected => [0x2e, 0xb8, 0x5c],
        TrayState::Paused => [0xf0, 0xa0, 0x20],
        TrayState::RuleError => [0xe0, 0x3c, 0x31],
    };
    let centre = (size as f32 - 1.0) / 2.0;
    let radius = size as f32 / 2.0 - 1.0;
    let mut pixels = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let distance = ((x as f32 - centre).powi(2) + (y as f32 - centre).powi(2)).sqrt();
            let alpha = (radius + 0.5 - distance).clamp(0.0, 1.0);
            pixels.extend_from_slice(&colour);
            pixels.push((alpha * 255.0) as u8);
        }
    }
    pixels
}

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
        Ok(Ok(Ok(()))) => tracing::info!("tray icon shown"),
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
                    tracing::info!(?action, "tray");
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

mod platform {
    //! The icon's loop: owns the icon and its menu, applies new views, reports clicks, and pumps
    //! the platform's events where the platform needs that (Windows, macOS).

    use std::sync::mpsc::{Receiver, RecvTimeoutError};
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;
    use tray_icon::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
    use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

    use super::{EntryKind, TrayAction, TrayView, action, icon_pixels};

    const ICON_SIZE: u32 = 32;

    pub(super) fn run(
        views: Receiver<TrayView>,
        actions: tokio::sync::mpsc::UnboundedSender<TrayAction>,
        ready: tokio::sync::oneshot::Sender<Result<(), String>>,
        stop: CancellationToken,
    ) {
        if let Err(error) = prepare() {
            let _ = ready.send(Err(error));
            return;
        }
        // Shown at once as "waiting"; the service's first view follows within a tick.
        let mut current = super::view(&super::Snapshot {
            connection: crate::client::live::Status::Waiting,
            engine: crate::engine::EngineStatus {
                events: 0,
                phase: None,
                active_runs: 0,
                paused: false,
                rules: Vec::new(),
            },
            reload_errors: 0,
            autostart: false,
        });
        let tray = match build(&current) {
            Ok(tray) => tray,
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        let clicks = MenuEvent::receiver();
        while !stop.is_cancelled() {
            pump_messages();
            while let Ok(click) = clicks.try_recv() {
                if let Some(action) = action(&current, click.id().as_ref())
                    && actions.send(action).is_err()
                {
                    return;
                }
            }
            match views.recv_timeout(Duration::from_millis(50)) {
                Ok(next) => {
                    apply(&tray, &current, &next);
                    current = next;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn build(view: &TrayView) -> Result<TrayIcon, String> {
        TrayIconBuilder::new()
            .with_id("lcu-rules")
            .with_title("lcu-rules")
            .with_tooltip(&view.tooltip)
            .with_icon(icon(view)?)
            .with_menu(Box::new(menu(view)?))
            .build()
            .map_err(|e| e.to_string())
    }

    fn apply(tray: &TrayIcon, shown: &TrayView, next: &TrayView) {
        if shown.state != next.state
            && let Ok(icon) = icon(next)
        {
            let _ = tray.set_icon(Some(icon));
        }
        if shown.tooltip != next.tooltip {
            let _ = tray.set_tooltip(Some(&next.tooltip));
        }
        if shown.entries != next.entries
            && let Ok(menu) = menu(next)
        {
            tray.set_menu(Some(Box::new(menu)));
        }
    }

    fn icon(view: &TrayView) -> Result<Icon, String> {
        Icon::from_rgba(icon_pixels(view.state, ICON_SIZE), ICON_SIZE, ICON_SIZE)
            .map_err(|e| e.to_string())
    }

    fn menu(view: &TrayView) -> Result<Menu, String> {
        let menu = Menu::new();
        for entry in &view.entries {
            let appended = match entry.kind {
                EntryKind::Separator => menu.append(&PredefinedMenuItem::separator()),
                EntryKind::Action => menu.append(&MenuItem::with_id(
                    entry.id.as_str(),
                    &entry.label,
                    entry.enabled,
                    None,
                )),
                EntryKind::Check(checked) => menu.append(&CheckMenuItem::with_id(
                    entry.id.as_str(),
                    &entry.label,
                    entry.enabled,
                    checked,
                    None,
                )),
            };
            appended.map_err(|e| e.to_string())?;
        }
        Ok(menu)
    }

    /// Windows delivers the icon's clicks as window messages to this thread.
    #[cfg(target_os = "windows")]
    fn pump_messages() {
        use windows_sys::Win32::UI::WindowsAndMessaging::{
            DispatchMessageW, MSG, PM_REMOVE, PeekMessageW, TranslateMessage,
        };
        // SAFETY: a zeroed MSG is a valid out-parameter; the calls only read and write it.
        unsafe {
            let mut message: MSG = std::mem::zeroed();
            while PeekMessageW(&mut message, std::ptr::null_mut(), 0, 0, PM_REMOVE) != 0 {
                TranslateMessage(&message);
                DispatchMessageW(&message);
            }
        }
    }

    /// The D-Bus backend runs its own worker thread: nothing to pump.
    #[cfg(not(any(target_os = "windows", target_os = "macos")))]
    fn pump_messages() {}

    /// Nothing to set up before the icon exists.
    #[cfg(not(target_os = "macos"))]
    fn prepare() -> Result<(), String> {
        Ok(())
    }

    /// The menu bar belongs to the main thread's run loop: the loop must run there, as an
    /// accessory application (no Dock icon, no menu of its own).
    #[cfg(target_os = "macos")]
    fn prepare() -> Result<(), String> {
        use objc2::MainThreadMarker;
        use objc2_app_kit::{NSApplication, NSApplicationActivationPolicy};
        let Some(main_thread) = MainThreadMarker::new() else {
            return Err("the macOS menu bar can only be used from the main thread".into());
        };
        let app = NSApplication::sharedApplication(main_thread);
        app.setActivationPolicy(NSApplicationActivationPolicy::Accessory);
        app.finishLaunching();
        Ok(())
    }

    /// Hands every pending event (clicks on the status item, its menu) to AppKit.
    #[cfg(target_os = "macos")]
    fn pump_messages() {
        use objc2::MainThreadMarker;
        use objc2_app_kit::{NSApplication, NSEventMask};
        use objc2_foundation::{NSDate, NSDefaultRunLoopMode};
        let Some(main_thread) = MainThreadMarker::new() else {
            return;
        };
        let app = NSApplication::sharedApplication(main_thread);
        // SAFETY: reading an immutable `NSString` constant that AppKit defines.
        let mode = unsafe { NSDefaultRunLoopMode };
        let now = NSDate::distantPast();
        while let Some(event) = app.nextEventMatchingMask_untilDate_inMode_dequeue(
            NSEventMask::Any,
            Some(&now),
            mode,
            true,
        ) {
            app.sendEvent(&event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RuleStatus;

    fn rule(id: &str) -> RuleStatus {
        RuleStatus {
            id: id.into(),
            enabled: true,
            fired: 0,
            suppressed: 0,
            active_runs: 0,
            queued: 0,
            debouncing: 0,
            tripped: false,
            switched_off: false,
            last_fired_ms_ago: None,
        }
    }

    fn snapshot(connection: Status) -> Snapshot {
        let mut disabled = rule("pick-champion");
        disabled.enabled = false;
        let mut accept = rule("accept-ready-check");
        accept.last_fired_ms_ago = Some(12_400);
        Snapshot {
            connection,
            engine: EngineStatus {
                events: 3,
                phase: None,
                active_runs: 0,
                paused: false,
                rules: vec![accept, rule("play-again"), disabled],
            },
            reload_errors: 0,
            autostart: false,
        }
    }

    const CONNECTED: Status = Status::Connected {
        port: 1,
        connections: 1,
    };

    /// Each engine state has its icon state and tooltip.
    #[test]
    fn states_and_tooltips() {
        let waiting = view(&snapshot(Status::Waiting));
        assert_eq!(waiting.state, TrayState::Waiting);
        assert_eq!(
            waiting.tooltip,
            "Waiting for the League client · 2 rules · last: accept-ready-check 12s ago"
        );
        let connected = view(&snapshot(CONNECTED));
        assert_eq!(connected.state, TrayState::Connected);
        assert!(connected.tooltip.starts_with("Connected · 2 rules"));

        let mut paused = snapshot(CONNECTED);
        paused.engine.paused = true;
        let paused = view(&paused);
        assert_eq!(paused.state, TrayState::Paused);
        assert_eq!(paused.entries[0].label, "Resume all rules");

        let mut broken = snapshot(CONNECTED);
        broken.reload_errors = 2;
        let broken = view(&broken);
        assert_eq!(broken.state, TrayState::RuleError);
        assert!(broken.tooltip.contains("rule error: 2 in the last edit"));

        let mut tripped = snapshot(CONNECTED);
        tripped.engine.rules[1].tripped = true;
        let tripped = view(&tripped);
        assert_eq!(tripped.state, TrayState::RuleError);
        assert!(tripped.tooltip.contains("breaker open: play-again"));
    }

    /// The menu: pause, one checkbox per rule (disabled-in-file rules greyed out), reload, open
    /// folder and log, start at login, quit; each item maps to its action.
    #[test]
    fn menu_items_and_actions() {
        let shown = view(&snapshot(CONNECTED));
        let labels: Vec<&str> = shown
            .entries
            .iter()
            .filter(|e| e.kind != EntryKind::Separator)
            .map(|e| e.label.as_str())
            .collect();
        assert_eq!(
            labels,
            vec![
                "Pause all rules",
                "accept-ready-check",
                "play-again",
                "pick-champion (disabled in its file)",
                "Reload rules",
                "Open rules folder",
                "Open log file",
                "Start at login",
                "Quit"
            ]
        );
        assert_eq!(action(&shown, "pause"), Some(TrayAction::Pause));
        assert_eq!(
            action(&shown, "rule:play-again"),
            Some(TrayAction::Switch {
                rule: "play-again".into(),
                on: false
            })
        );
        assert_eq!(action(&shown, "rule:pick-champion"), None);
        assert_eq!(action(&shown, "reload"), Some(TrayAction::Reload));
        assert_eq!(
            action(&shown, "autostart"),
            Some(TrayAction::Autostart(true))
        );
        assert_eq!(action(&shown, "quit"), Some(TrayAction::Quit));
        assert_eq!(action(&shown, "separator-1"), None);

        let mut off = snapshot(CONNECTED);
        off.engine.rules[1].switched_off = true;
        off.engine.paused = true;
        let off = view(&off);
        assert_eq!(
            action(&off, "rule:play-again"),
            Some(TrayAction::Switch {
                rule: "play-again".into(),
                on: true
            })
        );
        assert_eq!(action(&off, "pause"), Some(TrayAction::Resume));
    }

    /// The icon is a circle: opaque in the middle, transparent in the corners.
    #[test]
    fn icon_is_a_circle() {
        let pixels = icon_pixels(TrayState::Connected, 16);
        assert_eq!(pixels.len(), 16 * 16 * 4);
        assert_eq!(pixels[3], 0);
        let middle = ((8 * 16 + 8) * 4) as usize;
        assert_eq!(&pixels[middle..middle + 4], &[0x2e, 0xb8, 0x5c, 255]);
    }
}
