//! Start at login, for the current user only and without administrator rights: a per-user Run
//! key on Windows, a LaunchAgent on macOS, an XDG autostart `.desktop` entry on Linux. The login
//! start runs `lcu-rules run --tray`; on Windows through `lcu-rules-tray.exe`, which starts it
//! without a console window.

use auto_launch::{AutoLaunch, AutoLaunchBuilder, LinuxLaunchMode, MacOSLaunchMode};

/// The name of the login entry.
const APP_NAME: &str = "lcu-rules";

/// The OS refused, or the program's own path is unknown.
#[derive(Debug, thiserror::Error)]
#[error("start at login: {0}")]
pub struct AutostartError(String);

fn launcher() -> Result<AutoLaunch, AutostartError> {
    let exe = std::env::current_exe().map_err(|e| AutostartError(e.to_string()))?;
    let (exe, args): (_, &[&str]) = if cfg!(windows) {
        let tray = exe.with_file_name("lcu-rules-tray.exe");
        if !tray.exists() {
            return Err(AutostartError(format!(
                "{} is missing: it starts lcu-rules at login without a console window",
                tray.display()
            )));
        }
        (tray, &[])
    } else {
        (exe, &["run", "--tray"])
    };
    let exe = exe
        .to_str()
        .ok_or_else(|| AutostartError("the program's path is not valid UTF-8".into()))?
        .to_string();
    AutoLaunchBuilder::new()
        .set_app_name(APP_NAME)
        .set_app_path(&exe)
        .set_args(args)
        .set_linux_launch_mode(LinuxLaunchMode::XdgAutostart)
        .set_macos_launch_mode(MacOSLaunchMode::LaunchAgent)
        .set_windows_enable_mode(auto_launch::WindowsEnableMode::CurrentUser)
        .build()
        .map_err(|e| AutostartError(e.to_string()))
}

/// Starts lcu-rules at login from now on.
pub fn enable() -> Result<(), AutostartError> {
    launcher()?
        .enable()
        .map_err(|e| AutostartError(e.to_string()))
}

/// No longer starts lcu-rules at login.
pub fn disable() -> Result<(), AutostartError> {
    let launcher = launcher()?;
    if !is_enabled_with(&launcher)? {
        return Ok(());
    }
    launcher
        .disable()
        .map_err(|e| AutostartError(e.to_string()))
}

/// Whether lcu-rules starts at login.
pub fn is_enabled() -> Result<bool, AutostartError> {
    is_enabled_with(&launcher()?)
}

fn is_enabled_with(launcher: &AutoLaunch) -> Result<bool, AutostartError> {
    launcher
        .is_enabled()
        .map_err(|e| AutostartError(e.to_string()))
}

/// Turns start at login on or off.
pub fn set(on: bool) -> Result<(), AutostartError> {
    if on { enable() } else { disable() }
}
