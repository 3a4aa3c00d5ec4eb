//! The background service as a user runs it: the real `lcu-rules run` process against the
//! simulated client, in a private home. The control channel (`status`, `explain --live`,
//! `reset`, `reload`) and who may use it, one instance at a time, hot reload that never loses
//! working rules, start at login, and the tray icon on a private D-Bus session.

use std::path::Path;
#[cfg(target_os = "linux")]
use std::process::{Child, Stdio};
use std::time::Duration;

use lcu_rules::service::control::{self, Request};
use lcu_rules::sim::SimClient;
use lcu_rules::sim::{READY_CHECK, ready_check};

use crate::util::{Dir, Home, Running, rules_dir};

const ACCEPT: &str = "/lol-matchmaking/v1/ready-check/accept";
const WAIT: Duration = Duration::from_secs(15);

/// `lcu-rules run` in `home`, connecting to `sim`, its output going to `log`: add arguments, then
/// spawn it.
fn run_command(home: &Home, sim: &SimClient, log: &Path) -> std::process::Command {
    let file = std::fs::File::create(log).unwrap();
    let mut command = home.command();
    command
        .arg("run")
        .arg("--lockfile")
        .arg(sim.lockfile())
        .arg("--ca")
        .arg(sim.ca_file())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    command
}

/// A `run` process in `home` on `rules`, its output going to `log`.
fn spawn_run(home: &Home, sim: &SimClient, rules: &Path, extra: &[&str], log: &Path) -> Running {
    run_command(home, sim, log)
        .arg("--rules")
        .arg(rules)
        .args(extra)
        .spawn()
        .map(Running)
        .unwrap()
}

/// Asks the service until it answers `status` with a connected client.
async fn wait_until_connected(control: &Path) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(reply) = control::request(control, &Request::Status).await
            && reply.data["connection"]
                .as_str()
                .is_some_and(|c| c.starts_with("connected"))
        {
            return reply.data;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the service never reported a connection"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stop(child: Running) -> std::process::ExitStatus {
    child.interrupt()
}

fn rule_dir_with(files: &[(&str, &str)]) -> Dir {
    let dir = Dir::new();
    for (name, text) in files {
        dir.file(name, text);
    }
    dir
}

fn accept_rule() -> String {
    std::fs::read_to_string(rules_dir().join("accept-ready-check.yaml")).unwrap()
}

fn pop_ready_check(sim: &SimClient) {
    sim.change(READY_CHECK, Some(ready_check("InProgress", "None", 0.0)));
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `status`, `explain --live` and `reset` answer from the running service; a request without the
/// token, or with a wrong one, is refused; the channel's files are the user's only; a second
/// `run` refuses to start; Ctrl-C removes the channel.
#[tokio::test]
async fn control_channel_answers_the_user_only() {
    let home = Home::new();
    let sim_dir = Dir::new();
    let sim = SimClient::start(sim_dir.path()).await.unwrap();
    let rules = rule_dir_with(&[("accept.yaml", &accept_rule())]);
    let log = sim_dir.path().join("run.log");
    let child = spawn_run(&home, &sim, rules.path(), &[], &log);
    let control = home.control_dir();
    wait_until_connected(&control).await;

    pop_ready_check(&sim);
    sim.wait_for_request("POST", ACCEPT, 0, WAIT)
        .await
        .expect("accepted");

    let status = home.lcu_rules(&["status", "--format", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let accept = &status["engine"]["rules"][0];
    assert_eq!(accept["rule"], "accept-ready-check");
    assert_eq!(accept["fired"], 1, "{status:#}");
    let text = home.lcu_rules(&["status"]).stdout;
    assert!(text.contains("client: connected to the client"), "{text}");
    assert!(text.contains("accept-ready-check  fired    1"), "{text}");

    let explained = home.lcu_rules(&["explain", "--live", "--rule", "accept-ready-check"]);
    assert_eq!(explained.code, 0, "{}", explained.stderr);
    assert!(
        explained
            .stdout
            .contains("Create /lol-matchmaking/v1/ready-check  fired (run 1)"),
        "{}",
        explained.stdout
    );
    assert!(
        explained
            .stdout
            .contains("-> POST /lol-matchmaking/v1/ready-check/accept -> 204"),
        "{}",
        explained.stdout
    );
    let unknown = home.lcu_rules(&["explain", "--live", "--rule", "nope"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("no rule `nope` is loaded"),
        "{}",
        unknown.stderr
    );
    let reset = home.lcu_rules(&["reset"]);
    assert_eq!(reset.stdout, "no circuit breaker was open\n");
    // Resetting a rule that is not loaded is an error, not a quiet "nothing was open".
    let misspelt = home.lcu_rules(&["reset", "accept-ready-chek"]);
    assert_eq!(misspelt.code, 1, "{}", misspelt.stdout);
    assert!(
        misspelt
            .stderr
            .contains("no rule `accept-ready-chek` is loaded; did you mean `accept-ready-check`?"),
        "{}",
        misspelt.stderr
    );

    // Without the token, or with another, nothing is answered.
    for line in [
        r#"{"command":"status"}"#,
        r#"{"token":"guess","command":"status"}"#,
        "not json",
    ] {
        let reply = control::send_line(&control, line).await.unwrap();
        assert!(!reply.ok, "{line}: {reply:?}");
        assert!(reply.data.is_null());
    }
    #[cfg(unix)]
    {
        assert_eq!(mode(&control), 0o700);
        assert_eq!(mode(&control.join("control.sock")), 0o600);
        assert_eq!(mode(&control.join("control.token")), 0o600);
        another_user_is_refused(&control);
    }

    let second = home
        .command()
        .args(["run", "--rules"])
        .arg(rules.path())
        .arg("--lockfile")
        .arg(sim.lockfile())
        .arg("--ca")
        .arg(sim.ca_file())
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains(&format!(
            "lcu-rules is already running (pid {})",
            child.id()
        )),
        "{said}"
    );

    assert!(stop(child).success());
    assert!(!control.join("control.sock").exists());
    let gone = home.lcu_rules(&["status"]);
    assert_eq!(gone.code, 1);
    assert!(
        gone.stderr.contains("lcu-rules is not running"),
        "{}",
        gone.stderr
    );
}

/// A caller running as another user is refused even when the folder and socket are opened up
/// and it presents the right token (the peer's user id is checked). Needs root to act as
/// another user; skipped otherwise.
#[cfg(unix)]
fn another_user_is_refused(control: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let has_setpriv = std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok();
    let python = Path::new("/usr/bin/python3");
    if !is_root || !has_setpriv || !python.exists() {
        eprintln!("skipped: acting as another user needs root, setpriv and /usr/bin/python3");
        return;
    }
    let token = std::fs::read_to_string(control.join("control.token")).unwrap();
    let socket = control.join("control.sock");
    let open = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let mut opened = vec![control.to_path_buf()];
    let mut parent = control.parent();
    while let Some(dir) = parent {
        opened.push(dir.to_path_buf());
        parent = dir.parent();
    }
    let before: Vec<u32> = opened.iter().map(|p| mode(p)).collect();
    for dir in &opened {
        open(dir, mode(dir) | 0o011);
    }
    open(&socket, 0o666);
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_UNIX)\ns.connect({socket:?})\ntry:\n    s.sendall(b'{{\"token\":\"{token}\",\"command\":\"status\"}}\\n')\n    data=s.recv(4096)\nexcept (ConnectionResetError, BrokenPipeError):\n    data=b''\nprint(repr(data))\n",
        socket = socket.to_string_lossy(),
        token = token.trim()
    );
    let output = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    for (dir, mode) in opened.iter().zip(before) {
        open(dir, mode);
    }
    open(&socket, 0o600);
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(said.trim(), "b''", "another user got an answer: {said}");
}

/// A broken edit never unloads working rules: the previous rules keep firing, `reload` reports
/// the error with file:line:col; the next good save is picked up by the watcher on its own, and
/// the log says what changed.
#[tokio::test]
async fn a_broken_edit_keeps_the_working_rules() {
    let home = Home::new();
    let sim_dir = Dir::new();
    let sim = SimClient::start(sim_dir.path()).await.unwrap();
    let rules = rule_dir_with(&[("accept.yaml", &accept_rule())]);
    let log = sim_dir.path().join("run.log");
    let child = spawn_run(&home, &sim, rules.path(), &[], &log);
    let control = home.control_dir();
    wait_until_connected(&control).await;

    let broken = accept_rule().replace("equals: InProgress", "equals: [InProgress");
    std::fs::write(rules.path().join("accept.yaml"), &broken).unwrap();
    let reload = home.lcu_rules(&["reload"]);
    assert_eq!(reload.code, 1, "{}", reload.stderr);
    assert!(
        reload.stderr.contains("the previous rules stay in force"),
        "{}",
        reload.stderr
    );
    let line = broken
        .lines()
        .position(|l| l.contains("path: $.data.playerResponse"))
        .unwrap()
        + 1;
    assert!(
        reload.stderr.contains(&format!("accept.yaml:{line}:13")),
        "{}",
        reload.stderr
    );

    pop_ready_check(&sim);
    sim.wait_for_request("POST", ACCEPT, 0, WAIT)
        .await
        .expect("the previous rules still accept");

    // A good save: a second rule appears, and the watcher loads it without being asked.
    let good = format!(
        "{}\n  - id: log-ready-check\n    on: /lol-matchmaking/v1/ready-check\n    do:\n      - log: 'ready check {{{{data.state}}}}'\n",
        accept_rule().split("\ntests:").next().unwrap()
    );
    std::fs::write(rules.path().join("accept.yaml"), &good).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = control::request(&control, &Request::Status).await.unwrap();
        let ids: Vec<&str> = status.data["engine"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["rule"].as_str())
            .collect();
        if ids == ["accept-ready-check", "log-ready-check"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reloaded: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stop(child).success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("the edited rules have errors; the previous rules stay in force"),
        "{text}"
    );
    assert!(text.contains("rules reloaded"), "{text}");
    assert!(text.contains("added=log-ready-check"), "{text}");
}

/// A hostile save (a template of subexpressions 1,000 deep, which overflowed the reload
/// thread's stack and killed the service) is refused by the live reload as by `check`: the
/// service keeps running on the previous rules, both when the watcher sees the save and when
/// `reload` is asked for.
#[tokio::test]
async fn a_hostile_save_keeps_the_service_and_its_rules() {
    let home = Home::new();
    let sim_dir = Dir::new();
    let sim = SimClient::start(sim_dir.path()).await.unwrap();
    let rules = rule_dir_with(&[("accept.yaml", &accept_rule())]);
    let log = sim_dir.path().join("run.log");
    let child = spawn_run(&home, &sim, rules.path(), &[], &log);
    let control = home.control_dir();
    wait_until_connected(&control).await;

    let hostile = format!(
        "rules:\n  - id: hostile\n    on: /lol-gameflow/v1/gameflow-phase\n    do:\n      - log: '{{{{{}data{}}}}}'\n",
        "(lookup ".repeat(1000),
        " \"x\")".repeat(1000)
    );
    std::fs::write(rules.path().join("hostile.yaml"), &hostile).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("the previous rules stay in force")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watcher never refused the save"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reload = home.lcu_rules(&["reload"]);
    assert_eq!(reload.code, 1, "{}", reload.stderr);
    assert!(
        reload.stderr.contains("hostile.yaml:5:15"),
        "{}",
        reload.stderr
    );
    assert!(
        reload.stderr.contains("subexpressions nest 1000 deep"),
        "{}",
        reload.stderr
    );

    pop_ready_check(&sim);
    sim.wait_for_request("POST", ACCEPT, 0, WAIT)
        .await
        .expect("the previous rules still accept");
    let status = control::request(&control, &Request::Status).await.unwrap();
    let ids: Vec<&str> = status.data["engine"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert_eq!(ids, ["accept-ready-check"]);
    assert!(stop(child).success());
}

/// `autostart enable` writes the XDG autostart entry that runs `run --tray`; `status` reports
/// it; `disable` removes it.
#[cfg(target_os = "linux")]
#[test]
fn autostart_writes_and_removes_the_login_entry() {
    let home = Home::new();
    let entry = home.path().join(".config/autostart/lcu-rules.desktop");
    assert_eq!(
        home.lcu_rules(&["autostart", "status"]).stdout,
        "start at login: off\n"
    );
    assert_eq!(home.lcu_rules(&["autostart", "enable"]).code, 0);
    let text = std::fs::read_to_string(&entry).unwrap();
    assert!(text.starts_with("[Desktop Entry]\n"), "{text}");
    assert!(
        text.contains(&format!(
            "Exec=\"{}\" run --tray",
            env!("CARGO_BIN_EXE_lcu-rules")
        )),
        "{text}"
    );
    assert_eq!(
        home.lcu_rules(&["autostart", "status"]).stdout,
        "start at login: on\n"
    );
    assert_eq!(home.lcu_rules(&["autostart", "disable"]).code, 0);
    assert!(!entry.exists());
    assert_eq!(
        home.lcu_rules(&["autostart", "status"]).stdout,
        "start at login: off\n"
    );
}

#[cfg(target_os = "linux")]
/// A private D-Bus session bus for the tray test; killed when dropped.
struct SessionBus {
    daemon: Child,
    address: String,
}

#[cfg(target_os = "linux")]
impl SessionBus {
    fn start() -> Option<SessionBus> {
        std::process::Command::new("gdbus")
            .arg("help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        let mut daemon = std::process::Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut address = String::new();
        let stdout = daemon.stdout.take()?;
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut address).ok()?;
        Some(SessionBus {
            daemon,
            address: address.trim().to_string(),
        })
    }

    fn gdbus(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("gdbus")
            .args(["call", "--session"])
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .expect("gdbus");
        assert!(output.status.success(), "gdbus {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

#[cfg(target_os = "linux")]
impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// `run --tray` on a private D-Bus session: the status item registers with the rules in its
/// menu; clicking Pause (the menu's own D-Bus call) pauses every rule, and clicking Quit ends the
/// process cleanly. Without dbus-daemon the test says so and passes, unless
/// `LCU_RULES_REQUIRE_DBUS` is set (as CI does).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn tray_registers_and_its_menu_drives_the_service() {
    let Some(bus) = SessionBus::start() else {
        // CI installs dbus-daemon and gdbus and sets this, so the test can never skip there.
        assert!(
            std::env::var_os("LCU_RULES_REQUIRE_DBUS").is_none(),
            "dbus-daemon is needed for the tray test"
        );
        eprintln!(
            "skipped: the tray test needs dbus-daemon and gdbus (Debian: dbus-daemon, libglib2.0-bin)"
        );
        return;
    };
    let home = Home::new();
    let sim_dir = Dir::new();
    let sim = SimClient::start(sim_dir.path()).await.unwrap();
    let rules = rule_dir_with(&[("accept.yaml", &accept_rule())]);
    let log = sim_dir.path().join("run.log");
    let child = run_command(&home, &sim, &log)
        .args(["--tray", "--rules"])
        .arg(rules.path())
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .spawn()
        .map(Running)
        .unwrap();
    let control = home.control_dir();
    wait_until_connected(&control).await;

    let item = format!("org.kde.StatusNotifierItem-{}-1", child.id());
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let names = bus.gdbus(&[
            "--dest",
            "org.freedesktop.DBus",
            "--object-path",
            "/org/freedesktop/DBus",
            "--method",
            "org.freedesktop.DBus.ListNames",
        ]);
        if names.contains(&item) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no status item {item} on the bus: {names}\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let tooltip = wait_for(&bus, &item, "ToolTip", "Connected · 1 rule");
    assert!(tooltip.contains("Connected · 1 rule"), "{tooltip}");

    let layout = bus.gdbus(&[
        "--dest",
        &item,
        "--object-path",
        "/MenuBar",
        "--method",
        "com.canonical.dbusmenu.GetLayout",
        "--",
        "0",
        "-1",
        "[]",
    ]);
    for label in [
        "Pause all rules",
        "accept-ready-check",
        "Reload rules",
        "Open rules folder",
        "Open log file",
        "Start at login",
        "Quit",
    ] {
        assert!(
            layout.contains(&format!("'label': <'{label}'>")),
            "{label}: {layout}"
        );
    }
    click(&bus, &item, &layout, "Pause all rules");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = control::request(&control, &Request::Status).await.unwrap();
        if status.data["engine"]["paused"] == true {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never paused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for(&bus, &item, "ToolTip", "Paused · 1 rule");

    // Paused: a ready check is left alone.
    pop_ready_check(&sim);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.count_requests("POST", ACCEPT), 0);

    let layout = bus.gdbus(&[
        "--dest",
        &item,
        "--object-path",
        "/MenuBar",
        "--method",
        "com.canonical.dbusmenu.GetLayout",
        "--",
        "0",
        "-1",
        "[]",
    ]);
    click(&bus, &item, &layout, "Quit");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}");
    let text = std::fs::read_to_string(&log).unwrap();
    // The private bus has no StatusNotifierWatcher: the icon works over D-Bus, but nothing on
    // such a desktop would show it, and the service says so once.
    assert_eq!(
        text.matches("WARN no tray host on this desktop").count(),
        1,
        "{text}"
    );
    assert!(text.contains("all rules paused"), "{text}");
    assert!(text.contains("stopped"), "{text}");
}

#[cfg(target_os = "linux")]
/// Reads a property of the status item until it contains `expected`; returns it.
fn wait_for(bus: &SessionBus, item: &str, property: &str, expected: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let value = bus.gdbus(&[
            "--dest",
            item,
            "--object-path",
            "/StatusNotifierItem",
            "--method",
            "org.freedesktop.DBus.Properties.Get",
            "org.kde.StatusNotifierItem",
            property,
        ]);
        if value.contains(expected) {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{property} never showed {expected:?}: {value}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(target_os = "linux")]
/// Clicks the menu item labelled `label`, as the desktop's tray does: a dbusmenu `Event`.
fn click(bus: &SessionBus, item: &str, layout: &str, label: &str) {
    let pattern = regex::Regex::new(&format!(
        r"\((\d+), \{{[^}}]*'label': <'{}'>",
        regex::escape(label)
    ))
    .unwrap();
    let id = pattern
        .captures(layout)
        .and_then(|c| c.get(1))
        .unwrap_or_else(|| panic!("no item {label} in {layout}"))
        .as_str()
        .to_string();
    bus.gdbus(&[
        "--dest",
        item,
        "--object-path",
        "/MenuBar",
        "--method",
        "com.canonical.dbusmenu.Event",
        "--",
        &id,
        "clicked",
        "<int32 0>",
        "0",
    ]);
}

/// A first `run` with no rules given writes the starter config, copies the examples (with the
/// capture their tests replay) into the user's rules folder, starts from them and accepts a ready
/// check; the copied folder checks clean and the champion-select rule in it stays disabled.
/// Regression: the capture was not copied, so a new user's first `run` refused to start.
#[tokio::test]
async fn a_first_run_starts_from_the_copied_examples() {
    let home = Home::new();
    let sim_dir = Dir::new();
    let sim = SimClient::start(sim_dir.path()).await.unwrap();
    let log = sim_dir.path().join("run.log");
    let child = run_command(&home, &sim, &log).spawn().map(Running).unwrap();
    let control = home.control_dir();
    let status = wait_until_connected(&control).await;
    let loaded: Vec<&str> = status["engine"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["enabled"] == true)
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert!(loaded.contains(&"accept-ready-check"), "{loaded:?}");
    assert!(!loaded.contains(&"pick-champion-by-priority"), "{loaded:?}");
    pop_ready_check(&sim);
    sim.wait_for_request("POST", ACCEPT, 0, WAIT)
        .await
        .expect("the copied accept rule accepted");
    assert!(stop(child).success());

    let paths = home.paths();
    let rules = paths["rules_dir"].as_str().unwrap();
    assert!(Path::new(rules).join("fixtures").is_dir());
    let check = home.lcu_rules(&["check", "--deny-warnings", rules]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    let tests = home.lcu_rules(&["test", rules]);
    assert_eq!(tests.code, 0, "{}{}", tests.stdout, tests.stderr);
    assert!(
        std::fs::read_to_string(paths["config_file"].as_str().unwrap())
            .unwrap()
            .contains("log_level: info")
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("first run: wrote the config file"), "{text}");
}

/// `lcu-rules sim` on its own, with `run` pointed at it by the command it prints: the session it
/// plays gets its ready check accepted and play-again asked for, and it says so.
#[tokio::test]
async fn the_standalone_simulator_plays_a_session_for_run() {
    let home = Home::new();
    let dir = Dir::new();
    let sim_dir = dir.path().join("sim");
    let sim_log = dir.path().join("sim.log");
    let sim = home
        .command()
        .args(["sim", "--pace", "0.05", "--sessions", "1", "--dir"])
        .arg(&sim_dir)
        .stdout(std::fs::File::create(&sim_log).unwrap())
        .spawn()
        .map(Running)
        .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let printed = loop {
        let text = std::fs::read_to_string(&sim_log).unwrap_or_default();
        if text.contains("--ca ") {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "sim printed: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let command = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("lcu-rules "))
        .expect("the run command");
    let run_log = dir.path().join("run.log");
    let file = std::fs::File::create(&run_log).unwrap();
    let run = home
        .command()
        .args(command.split_whitespace())
        .args(["--rules"])
        .arg(rules_dir())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .map(Running)
        .unwrap();
    let exit = tokio::task::spawn_blocking(move || sim.wait())
        .await
        .unwrap();
    assert!(exit.success());
    assert!(stop(run).success());
    let text = std::fs::read_to_string(&sim_log).unwrap();
    assert!(
        text.contains("ready check answered: POST /lol-matchmaking/v1/ready-check/accept"),
        "{text}\n{}",
        std::fs::read_to_string(&run_log).unwrap()
    );
    assert!(text.contains("play-again was asked for"), "{text}");
}

/// `lcu-rules trigger` runs a manual rule in the running service, through the control channel,
/// the engine and the client's HTTPS: the rule's request reaches the simulated client with the
/// `--data` it was given. A rule that is not manual, or not loaded, is refused with exit 1; and
/// `status` lists what the run remembered.
#[tokio::test]
async fn trigger_runs_a_manual_rule_in_the_service() {
    let home = Home::new();
    let sim_dir = Dir::new();
    let sim = SimClient::start(sim_dir.path()).await.unwrap();
    let manual = "rules:\n  - id: say\n    on: manual\n    do:\n      - set: {name: said, value: \"{{data.text}}\", scope: session}\n      - request:\n          method: POST\n          path: /lol-chat/v1/conversations/lobby/messages\n          body: {body: \"{{data.text}}\", type: chat}\n";
    let rules = rule_dir_with(&[("accept.yaml", &accept_rule()), ("say.yaml", manual)]);
    let log = sim_dir.path().join("run.log");
    let child = spawn_run(&home, &sim, rules.path(), &[], &log);
    wait_until_connected(&home.control_dir()).await;

    let said = home.lcu_rules(&["trigger", "say", "--data", r#"{"text": "gl hf"}"#]);
    assert_eq!(said.code, 0, "{}{}", said.stdout, said.stderr);
    assert_eq!(said.stdout, "say: triggered\n");
    let path = "/lol-chat/v1/conversations/lobby/messages";
    let index = sim
        .wait_for_request("POST", path, 0, WAIT)
        .await
        .expect("the manual rule's request arrived");
    assert_eq!(
        sim.requests()[index].body,
        Some(serde_json::json!({"body": "gl hf", "type": "chat"}))
    );
    let status = home.lcu_rules(&["status"]).stdout;
    assert!(status.contains("said = \"gl hf\"  (Session)"), "{status}");

    let not_manual = home.lcu_rules(&["trigger", "accept-ready-check"]);
    assert_eq!(not_manual.code, 1);
    assert!(
        not_manual
            .stderr
            .contains("does not run when asked: give it `on: manual`"),
        "{}",
        not_manual.stderr
    );
    let unknown = home.lcu_rules(&["trigger", "sya"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("did you mean `say`?"),
        "{}",
        unknown.stderr
    );
    let bad = home.lcu_rules(&["trigger", "say", "--data", "{nope"]);
    assert_eq!(bad.code, 2, "a usage error");
    assert!(bad.stderr.contains("--data is not JSON"), "{}", bad.stderr);
    assert!(stop(child).success());
}
