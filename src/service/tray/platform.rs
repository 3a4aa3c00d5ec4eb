//! The icon's loop: owns the icon and its menu, applies new views, reports clicks, and pumps
//! the platform's events where the platform needs that (Windows, macOS).

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tray_icon::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{Icon, TrayIcon, TrayIconBuilder};

use super::model::{EntryKind, TrayAction, TrayView, action, icon_pixels};

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
            state: Vec::new(),
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
    while let Some(event) =
        app.nextEventMatchingMask_untilDate_inMode_dequeue(NSEventMask::Any, Some(&now), mode, true)
    {
        app.sendEvent(&event);
    }
}

/// Whether something on the session bus shows status icons (a StatusNotifierWatcher). The icon
/// registers either way (ksni assumes a host), so without one it would silently show nowhere.
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub(super) async fn tray_host_present() -> bool {
    let asked = async {
        let bus = zbus::Connection::session().await?;
        let names = zbus::fdo::DBusProxy::new(&bus).await?;
        let watcher = zbus::names::BusName::try_from("org.kde.StatusNotifierWatcher")?;
        names
            .name_has_owner(watcher)
            .await
            .map_err(zbus::Error::from)
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), asked).await {
        Ok(Ok(present)) => present,
        _ => false,
    }
}

/// Elsewhere the system tray is always there.
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
pub(super) async fn tray_host_present() -> bool {
    true
}
