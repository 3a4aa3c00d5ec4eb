//! Helpers: a temporary folder of rule files, and running the `lcu-rules` binary on it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A temporary folder that holds rule files for one test.
pub struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Writes `name` with `text` and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The output of one run of the binary.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `lcu-rules` with `args` in the crate's folder.
pub fn lcu_rules(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_lcu-rules"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run lcu-rules");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The crate's `rules/` folder.
pub fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules")
}

/// A private home for `lcu-rules` processes: their config, rules, logs and control channel all
/// live under a temporary folder (HOME and the XDG folders point into it).
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("temp home"),
        }
    }

    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The binary, with this home in its environment, in the crate's folder.
    pub fn command(&self) -> Command {
        let root = self.dir.path();
        let runtime = root.join("runtime");
        let _ = std::fs::create_dir_all(&runtime);
        let mut command = Command::new(env!("CARGO_BIN_EXE_lcu-rules"));
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("HOME", root)
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("XDG_DATA_HOME", root.join("data"))
            .env("XDG_STATE_HOME", root.join("state"))
            .env("XDG_CACHE_HOME", root.join("cache"))
            .env("XDG_RUNTIME_DIR", runtime)
            .env_remove("RUST_LOG");
        command
    }

    /// Runs the binary with `args` in this home and waits for it.
    pub fn lcu_rules(&self, args: &[&str]) -> Output {
        let output = self.command().args(args).output().expect("run lcu-rules");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Where `lcu-rules paths` says the files are.
    pub fn paths(&self) -> serde_json::Value {
        let output = self.lcu_rules(&["paths", "--format", "json"]);
        assert_eq!(output.code, 0, "{}", output.stderr);
        serde_json::from_str(&output.stdout).expect("paths as JSON")
    }

    /// The control channel's folder.
    pub fn control_dir(&self) -> PathBuf {
        PathBuf::from(self.paths()["control_dir"].as_str().expect("control_dir"))
    }
}

/// A child process that is killed if the test ends (or fails) while it still runs.
pub struct Running(pub std::process::Child);

impl Running {
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Sends SIGINT (what Ctrl-C sends) and waits for the exit.
    pub fn interrupt(mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        self.0.wait().expect("wait")
    }

    /// Waits for the process to end on its own.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.0.wait().expect("wait")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
