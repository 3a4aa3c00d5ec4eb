//! Finding the running client and its credentials: the `LeagueClientUx` process's command line
//! (parsed as argv, never as one flattened string), else its lockfile, else an explicit port and
//! token. The token is an [`AuthToken`], which never prints itself.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;

/// The client's auth token. `Debug` and `Display` print `<redacted>`; only [`AuthToken::expose`]
/// and the Basic header reveal it, and neither is ever logged.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(String);

impl AuthToken {
    /// Wraps a token, and registers it (and its Basic-auth form) as a secret that logs redact.
    pub fn new(token: impl Into<String>) -> AuthToken {
        let token = AuthToken(token.into());
        crate::secrets::register(&token.0);
        let header = token.basic_auth_header();
        crate::secrets::register(header.trim_start_matches("Basic "));
        token
    }

    /// The token itself, for the few places that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `Authorization` header value: `Basic base64("riot:<token>")`.
    pub fn basic_auth_header(&self) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("riot:{}", self.0));
        format!("Basic {encoded}")
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

impl fmt::Display for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where credentials were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The process command line (with its pid).
    CommandLine(u32),
    /// A lockfile.
    Lockfile(PathBuf),
    /// Given explicitly (`--port` and the token variable).
    Explicit,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CommandLine(pid) => write!(f, "the command line of process {pid}"),
            Origin::Lockfile(path) => write!(f, "the lockfile {}", path.display()),
            Origin::Explicit => f.write_str("the port given with --port"),
        }
    }
}

/// How to reach the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    /// The HTTPS/WSS port on 127.0.0.1.
    pub port: u16,
    /// The auth token.
    pub token: AuthToken,
    /// The client's process id, when known.
    pub pid: Option<u32>,
    /// Where they came from.
    pub origin: Origin,
}

/// Why no credentials could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DiscoveryError {
    /// No client process and no lockfile.
    #[error("the League client is not running")]
    NotRunning,
    /// The process exists but its command line cannot be read (typically: the client runs as
    /// administrator and lcu-rules does not), and no lockfile was found either.
    #[error(
        "found the League client (pid {pid}) but cannot read its command line (is it running as administrator?) and found no lockfile; run lcu-rules with the same rights, or give --lockfile <install dir>/lockfile"
    )]
    CommandLineUnreadable {
        /// The client's pid.
        pid: u32,
    },
    /// A lockfile that cannot be read or parsed.
    #[error("cannot use the lockfile `{path}`: {reason}")]
    Lockfile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The fields of a lockfile, `name:pid:port:password:protocol`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lockfile {
    /// Process name, e.g. `LeagueClient`.
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// Port.
    pub port: u16,
    /// Token.
    pub password: AuthToken,
    /// Protocol, `https`.
    pub protocol: String,
}

/// Parses lockfile text. The password may itself contain `:`; the protocol is the last field.
pub(crate) fn parse_lockfile(text: &str) -> Result<Lockfile, String> {
    let text = text.trim();
    let mut head = text.splitn(4, ':');
    let name = head
        .next()
        .filter(|s| !s.is_empty())
        .ok_or("empty lockfile")?;
    let pid = head.next().ok_or("no pid field")?;
    let port = head.next().ok_or("no port field")?;
    let rest = head.next().ok_or("no password field")?;
    let (password, protocol) = rest.rsplit_once(':').ok_or("no protocol field")?;
    Ok(Lockfile {
        name: name.to_string(),
        pid: pid
            .parse()
            .map_err(|_| format!("pid `{pid}` is not a number"))?,
        port: port
            .parse()
            .map_err(|_| format!("port `{port}` is not a port number"))?,
        password: AuthToken::new(password),
        protocol: protocol.to_string(),
    })
}

/// Reads and parses a lockfile.
pub(crate) fn read_lockfile(path: &Path) -> Result<Credentials, DiscoveryError> {
    let error = |reason: String| DiscoveryError::Lockfile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let lockfile = parse_lockfile(&text).map_err(error)?;
    Ok(Credentials {
        port: lockfile.port,
        token: lockfile.password,
        pid: Some(lockfile.pid),
        origin: Origin::Lockfile(path.to_path_buf()),
    })
}

/// What the client's command line says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct CommandLine {
    /// `--app-port=`.
    pub port: Option<u16>,
    /// `--remoting-auth-token=`.
    pub token: Option<AuthToken>,
    /// `--app-pid=`.
    pub pid: Option<u32>,
    /// `--install-directory=`.
    pub install_dir: Option<PathBuf>,
}

/// Reads the flags lcu-rules needs from an argv. Each argument is one flag; a value keeps every
/// `=` after the first (tokens may contain `=`), and surrounding quotes are removed.
pub(crate) fn parse_command_line<S: AsRef<str>>(args: &[S]) -> CommandLine {
    let mut found = CommandLine::default();
    for arg in args {
        let Some((flag, value)) = arg.as_ref().split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match flag.trim() {
            "--app-port" => found.port = value.parse().ok(),
            "--remoting-auth-token" => found.token = Some(AuthToken::new(value)),
            "--app-pid" => found.pid = value.parse().ok(),
            "--install-directory" => found.install_dir = Some(PathBuf::from(value)),
            _ => {}
        }
    }
    found
}

/// Where the client is looked for.
#[derive(Debug, Clone)]
pub enum Discovery {
    /// The process list, then lockfiles (the install directory, then the default locations).
    Auto,
    /// This lockfile only.
    Lockfile(PathBuf),
    /// A port given on the command line and a token taken from the environment.
    Explicit {
        /// The port.
        port: u16,
        /// The token.
        token: AuthToken,
    },
}

impl Discovery {
    /// Looks for the client once.
    pub(crate) fn find(&self) -> Result<Credentials, DiscoveryError> {
        match self {
            Discovery::Lockfile(path) => read_lockfile(path),
            Discovery::Explicit { port, token } => Ok(Credentials {
                port: *port,
                token: token.clone(),
                pid: None,
                origin: Origin::Explicit,
            }),
            Discovery::Auto => find_automatically(),
        }
    }
}

/// Whether a process is the client's UX process: by name, executable or first argument (on
/// Linux under Wine the name may be truncated or different, e.g. `CrBrowserMain`).
fn is_client_process(name: &str, exe: Option<&Path>, argv0: Option<&str>) -> bool {
    let is_ux = |text: &str| {
        let file = text
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(text)
            .to_ascii_lowercase();
        file == "leagueclientux.exe" || file == "leagueclientux"
    };
    let lower = name.to_ascii_lowercase();
    lower == "leagueclientux.exe"
        || lower == "leagueclientux"
        || exe.and_then(|p| p.to_str()).is_some_and(is_ux)
        || argv0.is_some_and(is_ux)
}

fn find_automatically() -> Result<Credentials, DiscoveryError> {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

    let mut unreadable: Option<(u32, Option<PathBuf>)> = None;
    if let Ok(mut system) = System::new() {
        let kind = ProcessRefreshKind::nothing()
            .with_cmd(UpdateKind::OnlyIfNotSet)
            .with_exe(UpdateKind::OnlyIfNotSet);
        system.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
        for (pid, process) in system.processes() {
            let argv: Vec<String> = process
                .cmd()
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let name = process.name().to_string_lossy();
            if !is_client_process(&name, process.exe(), argv.first().map(String::as_str)) {
                continue;
            }
            let flags = parse_command_line(&argv);
            if let (Some(port), Some(token)) = (flags.port, flags.token.clone()) {
                return Ok(Credentials {
                    port,
                    token,
                    pid: flags.pid.or(Some(pid.as_u32())),
                    origin: Origin::CommandLine(pid.as_u32()),
                });
            }
            let dir = flags
                .install_dir
                .or_else(|| process.exe().and_then(Path::parent).map(Path::to_path_buf));
            unreadable = Some((pid.as_u32(), dir));
        }
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some((_, Some(dir))) = &unreadable {
        candidates.push(dir.join("lockfile"));
    }
    candidates.extend(default_lockfiles());
    for path in candidates {
        if path.is_file() {
            return read_lockfile(&path);
        }
    }
    match unreadable {
        Some((pid, _)) => Err(DiscoveryError::CommandLineUnreadable { pid }),
        None => Err(DiscoveryError::NotRunning),
    }
}

/// The lockfile's usual places on this operating system: the folder the Riot Client's install
/// record names, then the default install folder.
pub(crate) fn default_lockfiles() -> Vec<PathBuf> {
    let mut places: Vec<PathBuf> = install_record_path()
        .and_then(|record| read_install_record(&record))
        .map(|dir| dir.join("lockfile"))
        .into_iter()
        .collect();
    places.extend(default_install_lockfiles());
    places
}

/// Longest install record read; real ones are well under a kilobyte.
const MAX_INSTALL_RECORD: u64 = 64 * 1024;

/// The Riot Client's record of where League (the live patchline) is installed: a small YAML
/// file whose `product_install_full_path` is the install folder. It is how League is found when
/// it is not in the default folder (another drive, say).
fn install_record_path() -> Option<PathBuf> {
    const RECORD: &str =
        "Riot Games/Metadata/league_of_legends.live/league_of_legends.live.product_settings.yaml";
    if cfg!(windows) {
        let data = std::env::var_os("ProgramData")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
        Some(data.join(RECORD.replace('/', "\\")))
    } else if cfg!(target_os = "macos") {
        Some(Path::new("/Users/Shared").join(RECORD))
    } else {
        None
    }
}

/// The install folder an install record names, if the file is there and says so.
pub(crate) fn read_install_record(path: &Path) -> Option<PathBuf> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_INSTALL_RECORD)
        .read_to_string(&mut text)
        .ok()?;
    install_dir_from_record(&text)
}

/// The two keys of an install record that lcu-rules reads; every other key is ignored.
#[derive(serde::Deserialize)]
struct InstallRecord {
    product_install_full_path: Option<String>,
    product_install_root: Option<String>,
}

/// Reads the install folder from an install record's text (which may start with a byte-order
/// mark): the full path, else the install root.
pub(crate) fn install_dir_from_record(text: &str) -> Option<PathBuf> {
    let text = text.trim_start_matches('\u{feff}');
    let record: InstallRecord = crate::language::yaml::from_str(text).ok()?;
    record
        .product_install_full_path
        .or(record.product_install_root)
        .filter(|dir| !dir.trim().is_empty())
        .map(PathBuf::from)
}

/// The default install folder's lockfile on this operating system.
fn default_install_lockfiles() -> Vec<PathBuf> {
    if cfg!(windows) {
        vec![PathBuf::from(r"C:\Riot Games\League of Legends\lockfile")]
    } else if cfg!(target_os = "macos") {
        vec![PathBuf::from(
            "/Applications/League of Legends.app/Contents/LoL/lockfile",
        )]
    } else {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        vec![
            home.join("Games/league-of-legends/drive_c/Riot Games/League of Legends/lockfile"),
            home.join(".wine/drive_c/Riot Games/League of Legends/lockfile"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens keep their `=` and `:`; the protocol is the last field.
    #[test]
    fn lockfile_fields() {
        let lock = parse_lockfile("LeagueClient:13440:27491:oL1A:Bk=jI0:https\n").unwrap();
        assert_eq!(
            (
                lock.pid,
                lock.port,
                lock.password.expose(),
                lock.protocol.as_str()
            ),
            (13440, 27491, "oL1A:Bk=jI0", "https")
        );
        assert!(
            parse_lockfile("LeagueClient:x:1:a:https")
                .unwrap_err()
                .contains("pid")
        );
        assert!(
            parse_lockfile("LeagueClient:1:99999:a:https")
                .unwrap_err()
                .contains("port")
        );
        assert!(parse_lockfile("").is_err());
    }

    /// Flags are read per argument: tokens with `=`, quoted paths with spaces.
    #[test]
    fn command_line_flags() {
        let argv = [
            "C:/Riot Games/League of Legends/LeagueClientUx.exe",
            "--riotclient-auth-token=other",
            "--remoting-auth-token=ab=cd==",
            "--app-port=50123",
            "--app-pid=4242",
            "--install-directory=\"C:/Riot Games/League of Legends\"",
        ];
        let found = parse_command_line(&argv);
        assert_eq!(found.port, Some(50123));
        assert_eq!(found.token.unwrap().expose(), "ab=cd==");
        assert_eq!(found.pid, Some(4242));
        assert_eq!(
            found.install_dir,
            Some(PathBuf::from("C:/Riot Games/League of Legends"))
        );
    }

    /// The process is recognised by name, executable or argv[0] (Wine).
    #[test]
    fn client_process_recognition() {
        assert!(is_client_process("LeagueClientUx.exe", None, None));
        assert!(is_client_process("LeagueClientUx", None, None));
        assert!(is_client_process(
            "CrBrowserMain",
            None,
            Some("C:\\Riot Games\\League of Legends\\LeagueClientUx.exe")
        ));
        assert!(is_client_process(
            "wine64",
            Some(Path::new("/games/lol/LeagueClientUx.exe")),
            None
        ));
        assert!(!is_client_process(
            "LeagueClient.exe",
            None,
            Some("LeagueClient.exe")
        ));
    }

    /// The install record's full path is the install folder; the root stands in without it;
    /// other keys, a byte-order mark and quoting do not matter; nonsense gives nothing.
    #[test]
    fn install_record_names_the_install_folder() {
        let record = "\u{feff}auto_patching_enabled_by_player: true\ndependencies:\n  Direct X 9:\n    hash: \"\"\n    phase: \"Imported\"\n    version: \"1.0.0\"\nproduct_install_full_path: \"D:/Games/Riot Games/League of Legends\"\nproduct_install_root: \"D:/Games/Riot Games\"\nshortcut_name: League of Legends.lnk\n";
        assert_eq!(
            install_dir_from_record(record),
            Some(PathBuf::from("D:/Games/Riot Games/League of Legends"))
        );
        assert_eq!(
            install_dir_from_record("product_install_root: E:/Riot\n"),
            Some(PathBuf::from("E:/Riot"))
        );
        assert_eq!(
            install_dir_from_record("product_install_full_path: ''\n"),
            None
        );
        assert_eq!(install_dir_from_record("- a list\n"), None);
        assert_eq!(install_dir_from_record("{{{"), None);
    }

    /// The token never prints, in any form but the header.
    #[test]
    fn token_is_redacted() {
        let token = AuthToken::new("s3cr3t");
        assert_eq!(
            format!("{token} {token:?}"),
            "<redacted> AuthToken(<redacted>)"
        );
        assert_eq!(token.basic_auth_header(), "Basic cmlvdDpzM2NyM3Q=");
        let creds = Credentials {
            port: 1,
            token,
            pid: None,
            origin: Origin::Explicit,
        };
        assert!(!format!("{creds:?}").contains("s3cr3t"));
    }
}
