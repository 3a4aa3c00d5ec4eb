//! Where lcu-rules keeps its files: the config file, the user's rules folder, the logs, and the
//! control channel of the running service, in the operating system's usual places.

use std::path::{Path, PathBuf};

/// The folders and files lcu-rules uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Paths {
    /// The config file (`config.yaml` in the OS config folder).
    pub config_file: PathBuf,
    /// The user's rules folder (beside the config file).
    pub rules_dir: PathBuf,
    /// Where the rolling log files go.
    pub log_dir: PathBuf,
    /// Where the running service's control socket (or port) and token live; only the user can
    /// read it.
    pub control_dir: PathBuf,
    /// Where rules' `forever` values are kept across restarts.
    pub state_file: PathBuf,
}

/// The OS gave no home folder to derive paths from.
#[derive(Debug, thiserror::Error)]
#[error("cannot find the home folder to keep lcu-rules' files in (set HOME)")]
pub struct NoHome;

impl Paths {
    /// The usual places for this user on this OS (XDG folders on Linux, `Library` on macOS,
    /// `AppData` on Windows).
    pub fn discover() -> Result<Paths, NoHome> {
        let dirs = directories::ProjectDirs::from("", "", "lcu-rules").ok_or(NoHome)?;
        let config = dirs.config_dir();
        Ok(Paths {
            config_file: config.join("config.yaml"),
            rules_dir: config.join("rules"),
            log_dir: dirs.data_local_dir().join("logs"),
            state_file: dirs.data_local_dir().join("state.json"),
            control_dir: dirs
                .runtime_dir()
                .unwrap_or_else(|| dirs.data_local_dir())
                .join("control"),
        })
    }
}

/// Creates `dir` (and its parents) readable by the current user only.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `text` to `path` readable by the current user only (created so from the start: the
/// file is never readable by others, not even for a moment).
pub(crate) fn write_private_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
