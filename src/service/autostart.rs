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
        .ok_or_else(|| AutostartError("the program's path is not valid UTF-8".into()))?;
    // auto-launch writes the path into the entry as it is given; an install folder with a space
    // in its name would split it into two words at login.
    let exe = if cfg!(windows) {
        windows_quoted(exe)
    } else if cfg!(target_os = "linux") {
        desktop_exec_quoted(exe)
    } else {
        // A LaunchAgent lists the program as one plist string: no quoting there.
        exe.to_string()
    };
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

/// A path as one argument of a desktop entry's `Exec=` key (freedesktop.org Desktop Entry
/// Specification, "The Exec key"): in double quotes, with `"`, `` ` ``, `$` and `\` escaped by a
/// backslash and `%` doubled; the key is also a string value, whose own escaping applies first,
/// so each of those backslashes is written twice.
fn desktop_exec_quoted(path: &str) -> String {
    let mut quoted = String::with_capacity(path.len() + 2);
    quoted.push('"');
    for c in path.chars() {
        match c {
            '"' | '`' | '$' => {
                quoted.push_str("\\\\");
                quoted.push(c);
            }
            '\\' => quoted.push_str("\\\\\\\\"),
            '%' => quoted.push_str("%%"),
            _ => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A path as the program of a Windows command line: in double quotes (a Windows path cannot
/// contain one).
fn windows_quoted(path: &str) -> String {
    format!("\"{path}\"")
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

#[cfg(test)]
mod quoting_tests {
    use super::*;

    #[test]
    fn desktop_entry_paths_stay_one_argument() {
        assert_eq!(
            desktop_exec_quoted("/home/a b/lcu-rules"),
            "\"/home/a b/lcu-rules\""
        );
        assert_eq!(
            desktop_exec_quoted("/opt/x$y`z\"/100%/back\\slash"),
            r#""/opt/x\\$y\\`z\\"/100%%/back\\\\slash""#
        );
    }

    #[test]
    fn windows_paths_are_quoted() {
        assert_eq!(
            windows_quoted(r"C:\Program Files\lcu-rules\lcu-rules-tray.exe"),
            r#""C:\Program Files\lcu-rules\lcu-rules-tray.exe""#
        );
    }
}
