//! lcu-rules as a Windows program: the cross-built `lcu-rules.exe` run under Wine against the
//! simulated client, which runs here natively and is reached over loopback through the real
//! TLS, websocket and HTTPS path. What only Windows has is exercised on Windows code: finding
//! the client by a `LeagueClientUx.exe` process's command line, the lockfile in the default
//! install folder and through the Riot Client's install record, the `HKCU\...\Run` value of
//! start at login, the control channel over loopback TCP, the `notify` watcher, and the tray.
//!
//! `tests/windows/build` puts the executables and a throw-away Wine prefix in `target/wine/`.
//! Without them (or without Wine) these tests skip and say why; `LCU_RULES_REQUIRE_WINE=1`
//! (set by `.ci/run`) turns a skip into a failure. The tests share one prefix and one process
//! list, so they take turns.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use lcu_rules::sim::{READY_CHECK, SimClient, ready_check};

use crate::util::{Dir, Output, Running, rules_dir};

const ACCEPT: &str = "/lol-matchmaking/v1/ready-check/accept";
const WAIT: Duration = Duration::from_secs(60);
/// Where Debian's `wine64` package puts the loader (there is no `wine` wrapper on the path).
const WINE: &str = "/usr/lib/wine/wine64";
const WINESERVER: &str = "/usr/lib/wine/wineserver";
const RUN_KEY: &str = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run";

static TURN: Mutex<()> = Mutex::new(());

/// The Windows build and its prefix, held for one test; dropping it ends every process the test
/// left in the prefix.
struct Wine {
    bin: PathBuf,
    prefix: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

/// The Windows build, or `None` (after saying why) when it is not there.
fn wine() -> Option<Wine> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/wine");
    let missing = [
        (
            Path::new(WINE).to_path_buf(),
            "Wine (Debian package wine64)",
        ),
        (bin.join("lcu-rules.exe"), "the Windows build"),
        (bin.join("prefix/system.reg"), "the Wine prefix"),
    ]
    .into_iter()
    .find(|(path, _)| !path.exists());
    if let Some((path, what)) = missing {
        let reason = format!(
            "skipped: {what} is missing ({}); run tests/windows/build",
            path.display()
        );
        assert!(
            std::env::var_os("LCU_RULES_REQUIRE_WINE").is_none(),
            "LCU_RULES_REQUIRE_WINE is set but {reason}"
        );
        eprintln!("{reason}");
        return None;
    }
    let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let wine = Wine {
        prefix: bin.join("prefix"),
        bin,
        _turn: turn,
    };
    wine.end_every_process();
    Some(wine)
}

impl Wine {
    /// A Windows program from the build folder, in the crate's folder, with Wine quiet.
    fn command(&self, exe: &str) -> Command {
        let mut command = Command::new(WINE);
        command
            .arg(self.bin.join(exe))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        command
    }

    /// Runs `lcu-rules.exe` with `args` and waits for it (at most two minutes).
    fn lcu_rules(&self, args: &[&str]) -> Output {
        let mut command = self.command("lcu-rules.exe");
        command.args(args);
        finish(command)
    }

    /// Runs Wine's `reg.exe` with `args`.
    fn reg(&self, args: &[&str]) -> Output {
        let mut command = Command::new(WINE);
        command
            .arg("reg")
            .args(args)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all");
        finish(command)
    }

    /// `lcu-rules.exe run` on `rules`, trusting the simulated client's CA, its output in `log`.
    fn spawn_run(&self, sim: &SimClient, rules: &Path, extra: &[&str], log: &Path) -> Running {
        let file = std::fs::File::create(log).expect("log file");
        self.command("lcu-rules.exe")
            .args(["run", "--rules", &windows_path(rules)])
            .args(["--ca", &windows_path(&sim.ca_file())])
            .args(extra)
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .map(Running)
            .expect("start lcu-rules.exe run")
    }

    /// The prefix's `C:` drive.
    fn drive_c(&self) -> PathBuf {
        self.prefix.join("drive_c")
    }

    /// Where a `C:\...` path of the prefix is on this machine.
    fn unix_path(&self, windows: &str) -> PathBuf {
        let rest = windows
            .strip_prefix("C:\\")
            .or_else(|| windows.strip_prefix("c:\\"))
            .unwrap_or_else(|| panic!("not on drive C: {windows}"));
        self.drive_c().join(rest.replace('\\', "/"))
    }

    /// Where `lcu-rules paths` says a kind of file is, on this machine.
    fn path_of(&self, kind: &str) -> PathBuf {
        let output = self.lcu_rules(&["paths", "--format", "json"]);
        assert_eq!(output.code, 0, "{}", output.stderr);
        let paths: Value = serde_json::from_str(&output.stdout).expect("paths as JSON");
        self.unix_path(paths[kind].as_str().expect("a path"))
    }

    /// Asks the service for its status until the client is connected.
    fn wait_until_connected(&self, log: &Path) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let output = self.lcu_rules(&["status", "--format", "json"]);
            if output.code == 0
                && let Ok(status) = serde_json::from_str::<Value>(&output.stdout)
                && status["connection"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("connected"))
            {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the service never reported a connection; its log:\n{}",
                read(log)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Ends every process of the prefix and waits until they are gone.
    fn end_every_process(&self) {
        for flag in ["-k", "-w"] {
            let _ = Command::new(WINESERVER)
                .arg(flag)
                .env("WINEPREFIX", &self.prefix)
                .status();
        }
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        self.end_every_process();
    }
}

/// Runs `command` to its end, killing it after two minutes. Its output goes through files, not
/// pipes: the `wineserver` that the first Wine program of a test starts inherits that program's
/// output, and a pipe it holds open would never reach its end.
fn finish(mut command: Command) -> Output {
    let out = tempfile::tempfile().expect("a file for stdout");
    let err = tempfile::tempfile().expect("a file for stderr");
    let mut child = command
        .stdout(out.try_clone().expect("stdout file"))
        .stderr(err.try_clone().expect("stderr file"))
        .spawn()
        .expect("start under Wine");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        code: status.and_then(|status| status.code()).unwrap_or(-1),
        stdout: read_from_start(out),
        stderr: read_from_start(err),
    }
}

fn read_from_start(mut file: std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut bytes = Vec::new();
    file.rewind().expect("rewind");
    file.read_to_end(&mut bytes).expect("read the output");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A path of this machine as Windows programs under Wine see it (drive `Z:` is `/`).
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits until the log at `path` says `text` (the service writes it in its own time), and
/// returns the log.
fn wait_for_log(path: &Path, text: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = read(path);
        if log.contains(text) {
            return log;
        }
        assert!(Instant::now() < deadline, "`{text}` never logged:\n{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Pops a ready check and waits for lcu-rules to accept it.
async fn accepts_a_ready_check(sim: &SimClient, log: &Path) {
    assert!(
        sim.wait_for_sockets(1, WAIT).await,
        "no websocket; the log:\n{}",
        read(log)
    );
    let from = sim.requests().len();
    sim.change(READY_CHECK, Some(ready_check("InProgress", "None", 0.0)));
    let accepted = sim.wait_for_request("POST", ACCEPT, from, WAIT).await;
    assert!(
        accepted.is_some(),
        "the ready check was not accepted; the log:\n{}",
        read(log)
    );
}

/// The lockfile text that points at the simulated client.
fn lockfile_text(sim: &SimClient) -> String {
    std::fs::read_to_string(sim.lockfile()).expect("the simulated client's lockfile")
}

fn accept_rules() -> PathBuf {
    rules_dir().join("accept-ready-check.yaml")
}

/// `check`, `test` and `demo` (the simulated client and the engine in one Windows process, over
/// real TLS) work on Windows as they do here.
#[test]
fn check_test_and_demo_run_on_windows() {
    let Some(wine) = wine() else { return };
    let version = wine.lcu_rules(&["--version"]);
    assert_eq!(version.code, 0, "{}", version.stderr);
    println!("--version: {}", version.stdout.trim());

    let check = wine.lcu_rules(&["check", "rules"]);
    println!("check rules:\n{}{}", check.stdout, check.stderr);
    assert_eq!(check.code, 0);
    assert!(check.stdout.contains("0 error(s)"), "{}", check.stdout);

    let bad = Dir::new();
    let file = bad.file("bad.yaml", "rules:\n  - id: x\n    on: /lol-gameflow/v1/gameflow-phase\n    do:\n      - request: 'POST /x/{{#if}}'\n");
    let refused = wine.lcu_rules(&["check", &windows_path(&file)]);
    println!("check bad.yaml:\n{}{}", refused.stdout, refused.stderr);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("bad.yaml:5:24"),
        "{}",
        refused.stderr
    );

    let test = wine.lcu_rules(&["test", "rules"]);
    println!("test rules:\n{}", test.stdout);
    assert_eq!(test.code, 0, "{}", test.stderr);
    assert!(test.stdout.contains(" 0 failed"), "{}", test.stdout);

    let demo = wine.lcu_rules(&["demo", "--pace", "0.05"]);
    println!("demo:\n{}", demo.stdout);
    assert_eq!(demo.code, 0, "{}", demo.stderr);
    assert!(
        demo.stdout
            .contains("demo finished: the ready check was accepted"),
        "{}",
        demo.stdout
    );
}

/// A `LeagueClientUx.exe` process whose command line carries the port and the token is found
/// in the process list, and the client it names gets its ready check accepted; the token never
/// reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_is_found_by_its_command_line() {
    let Some(wine) = wine() else { return };
    let dir = Dir::new();
    let sim = SimClient::start(&dir.path().join("sim")).await.unwrap();
    let token = sim.token().expose().to_string();
    let _client = wine
        .command("LeagueClientUx.exe")
        .arg(format!("--app-port={}", sim.port()))
        .arg(format!("--remoting-auth-token={token}"))
        .arg("--app-pid=4242")
        .arg("--install-directory=C:\\Nowhere\\League of Legends")
        .spawn()
        .map(Running)
        .expect("the stand-in client");
    let log = dir.path().join("run.log");
    let _run = wine.spawn_run(&sim, &accept_rules(), &["--no-watch"], &log);
    accepts_a_ready_check(&sim, &log).await;
    let status = wine.wait_until_connected(&log);
    println!("status: {status:#}");
    let text = wait_for_log(&log, "found by the command line of process");
    println!("run's log:\n{text}");
    assert!(!text.contains(&token), "the token was logged");
}

/// Without a client process, the lockfile is found in the default install folder, and else in
/// the folder the Riot Client's install record names (League on another drive).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lockfile_is_found_in_the_install_folder_and_through_the_install_record() {
    let Some(wine) = wine() else { return };
    let dir = Dir::new();
    let sim = SimClient::start(&dir.path().join("sim")).await.unwrap();
    let default = wine.drive_c().join("Riot Games/League of Legends");
    let record_dir = wine
        .drive_c()
        .join("ProgramData/Riot Games/Metadata/league_of_legends.live");
    let elsewhere = wine.drive_c().join("Games/LoL live");
    let _ = std::fs::remove_dir_all(&default);
    let _ = std::fs::remove_dir_all(&record_dir);

    std::fs::create_dir_all(&default).unwrap();
    std::fs::write(default.join("lockfile"), lockfile_text(&sim)).unwrap();
    let log = dir.path().join("default.log");
    let run = wine.spawn_run(&sim, &accept_rules(), &["--no-watch"], &log);
    accepts_a_ready_check(&sim, &log).await;
    let text = wait_for_log(
        &log,
        "found by the lockfile C:\\Riot Games\\League of Legends\\lockfile",
    );
    println!("run's log, default folder:\n{text}");
    drop(run);
    wine.end_every_process();
    std::fs::remove_dir_all(&default).unwrap();

    std::fs::create_dir_all(&record_dir).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(
        record_dir.join("league_of_legends.live.product_settings.yaml"),
        "\u{feff}auto_patching_enabled_by_player: true\nproduct_install_full_path: \"C:/Games/LoL live\"\nproduct_install_root: \"C:/Games\"\n",
    )
    .unwrap();
    std::fs::write(elsewhere.join("lockfile"), lockfile_text(&sim)).unwrap();
    let log = dir.path().join("record.log");
    let run = wine.spawn_run(&sim, &accept_rules(), &["--no-watch"], &log);
    accepts_a_ready_check(&sim, &log).await;
    let text = wait_for_log(&log, "found by the lockfile C:/Games/LoL live");
    println!("run's log, install record:\n{text}");
    drop(run);
    std::fs::remove_dir_all(&record_dir).unwrap();
    std::fs::remove_dir_all(&elsewhere).unwrap();
}

/// `autostart enable` writes the current user's Run value, quoted so that a path with spaces
/// stays one program; `disable` removes it.
#[test]
fn autostart_writes_and_removes_the_run_value() {
    let Some(wine) = wine() else { return };
    let enabled = wine.lcu_rules(&["autostart", "enable"]);
    println!("autostart enable: {}{}", enabled.stdout, enabled.stderr);
    assert_eq!(enabled.code, 0);
    let query = wine.reg(&["query", RUN_KEY]);
    println!("reg query {RUN_KEY}:\n{}", query.stdout);
    let line = query
        .stdout
        .lines()
        .find(|line| line.contains("lcu-rules"))
        .unwrap_or_else(|| panic!("no Run value: {}", query.stdout));
    assert!(line.contains("REG_SZ"), "{line}");
    assert!(line.contains("\"Z:\\"), "the path is not quoted: {line}");
    assert!(line.contains("lcu-rules-tray.exe\""), "{line}");

    let status = wine.lcu_rules(&["autostart", "status"]);
    println!("autostart status: {}", status.stdout);
    assert_eq!(status.code, 0);

    let disabled = wine.lcu_rules(&["autostart", "disable"]);
    println!("autostart disable: {}{}", disabled.stdout, disabled.stderr);
    assert_eq!(disabled.code, 0);
    let query = wine.reg(&["query", RUN_KEY]);
    assert!(!query.stdout.contains("lcu-rules"), "{}", query.stdout);
}

/// `status`, `reload` and `reset` reach the running service over its loopback channel, and a
/// rule file saved into the watched folder is in force without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_channel_and_the_watcher_work() {
    let Some(wine) = wine() else { return };
    let dir = Dir::new();
    let sim = SimClient::start(&dir.path().join("sim")).await.unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::copy(accept_rules(), rules.join("accept.yaml")).unwrap();
    let log = dir.path().join("run.log");
    let lockfile = windows_path(&sim.lockfile());
    let _run = wine.spawn_run(&sim, &rules, &["--lockfile", &lockfile], &log);
    let status = wine.wait_until_connected(&log);
    assert_eq!(status["engine"]["rules"][0]["rule"], "accept-ready-check");
    accepts_a_ready_check(&sim, &log).await;

    let text = wine.lcu_rules(&["status"]);
    println!("status:\n{}", text.stdout);
    assert!(
        text.stdout.contains("accept-ready-check  fired    1"),
        "{}",
        text.stdout
    );

    std::fs::write(
        rules.join("phase.yaml"),
        "rules:\n  - id: log-phase\n    on: /lol-gameflow/v1/gameflow-phase\n    do:\n      - log: 'phase {{data}}'\n",
    )
    .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let output = wine.lcu_rules(&["status", "--format", "json"]);
        let status: Value = serde_json::from_str(&output.stdout).unwrap_or_default();
        let ids: Vec<&str> = status["engine"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|rule| rule["rule"].as_str())
            .collect();
        if ids.contains(&"log-phase") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watcher did not load the new file: {ids:?}; the log:\n{}",
            read(&log)
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let reload = wine.lcu_rules(&["reload"]);
    println!("reload: {}{}", reload.stdout, reload.stderr);
    assert_eq!(reload.code, 0);
    let reset = wine.lcu_rules(&["reset"]);
    println!("reset: {}{}", reset.stdout, reset.stderr);
    assert_eq!(reset.code, 0);
    println!("run's log:\n{}", read(&log));
}

/// `lcu-rules-tray.exe`, the windowless launcher start at login uses, starts `run --tray`: the
/// icon comes up in Wine's system tray and the service accepts ready checks. Wine's tray on a
/// virtual display cannot be clicked from here, so the menu itself is tested on Linux only
/// (`service::the_tray_menu_drives_the_service`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_launcher_starts_the_service_with_its_icon() {
    let Some(wine) = wine() else { return };
    if std::env::var_os("DISPLAY").is_none() {
        let reason = "skipped: the tray needs an X display under Wine (run under xvfb-run)";
        assert!(
            std::env::var_os("LCU_RULES_REQUIRE_WINE").is_none(),
            "LCU_RULES_REQUIRE_WINE is set but {reason}"
        );
        eprintln!("{reason}");
        return;
    }
    let dir = Dir::new();
    let sim = SimClient::start(&dir.path().join("sim")).await.unwrap();
    let logs = wine.path_of("log_dir");
    let _ = std::fs::remove_dir_all(&logs);
    let _tray = wine
        .command("lcu-rules-tray.exe")
        .args(["--rules", &windows_path(&accept_rules())])
        .args(["--lockfile", &windows_path(&sim.lockfile())])
        .args(["--ca", &windows_path(&sim.ca_file())])
        .spawn()
        .map(Running)
        .expect("start lcu-rules-tray.exe");
    let log = logs.join("lcu-rules.log");
    let status = wine.wait_until_connected(&log);
    println!("status: {status:#}");
    accepts_a_ready_check(&sim, &log).await;
    let deadline = Instant::now() + WAIT;
    while !logged_in(&logs).contains("tray icon shown") {
        assert!(
            Instant::now() < deadline,
            "no tray icon; the log:\n{}",
            logged_in(&logs)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    println!("the service's log file:\n{}", logged_in(&logs));
}

/// Everything the service wrote to its log folder.
fn logged_in(logs: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(logs).into_iter().flatten().flatten() {
        text.push_str(&read(&entry.path()));
    }
    text
}
