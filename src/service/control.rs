//! The local control channel: how `status`, `explain --live`, `reset`, `reload` and `trigger` reach the
//! running service, and how a second `run` finds the first. One JSON line each way per
//! connection. Nobody else on the machine may use it: on Unix it is a socket in a folder only the
//! user can open, the peer's user id must be ours, and every request carries a random token read
//! from a file only the user can read; elsewhere it is a loopback TCP port with the same token.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};
use tokio_util::sync::CancellationToken;

use crate::service::paths::{create_private_dir, write_private_file};

/// The token file's name in the control folder.
const TOKEN_FILE: &str = "control.token";
/// The socket's name in the control folder (Unix).
#[cfg(unix)]
const SOCKET_FILE: &str = "control.sock";
/// The file holding the loopback port (other systems).
#[cfg(not(unix))]
const PORT_FILE: &str = "control.port";
/// Longest request line accepted.
const MAX_LINE: usize = 64 * 1024;
/// How long a caller may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What a caller asks the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// Is it running? (Answers with its pid and version.)
    Ping,
    /// Connection state, loaded rules and per-rule counters.
    Status,
    /// The recent decision records, of every rule or one.
    Explain {
        /// Only this rule.
        #[serde(default)]
        rule: Option<String>,
    },
    /// Closes tripped circuit breakers (one rule's, or all).
    Reset {
        /// Only this rule.
        #[serde(default)]
        rule: Option<String>,
    },
    /// Reloads the rule files now.
    Reload,
    /// Runs a rule whose trigger is `manual` now.
    Trigger {
        /// The rule.
        rule: String,
        /// The event's payload.
        #[serde(default = "empty_object")]
        data: Value,
    },
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A request as sent: with the token.
#[derive(Serialize, Deserialize)]
struct Envelope {
    token: String,
    #[serde(flatten)]
    request: Request,
}

/// The service's answer: text for people, data for machines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the request was carried out.
    pub ok: bool,
    /// The answer in words.
    pub text: String,
    /// The answer as data.
    #[serde(default)]
    pub data: Value,
}

impl Reply {
    /// A successful answer.
    pub(crate) fn ok(text: impl Into<String>, data: Value) -> Reply {
        Reply {
            ok: true,
            text: text.into(),
            data,
        }
    }

    /// A refusal or failure.
    pub(crate) fn error(text: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            text: text.into(),
            data: Value::Null,
        }
    }
}

/// What answers requests (the live service).
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, request: Request) -> Pin<Box<dyn Future<Output = Reply> + Send + '_>>;
}

/// Why the channel could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another service answers on the channel.
    #[error(
        "lcu-rules is already running (pid {pid}); use `lcu-rules status`, `reload` or `explain --live` to talk to it"
    )]
    AlreadyRunning {
        /// Its process id.
        pid: u32,
    },
    /// No service is running (no channel to connect to).
    #[error("lcu-rules is not running (no control channel in {0})")]
    NotRunning(PathBuf),
    /// The service refused the request.
    #[error("the service refused: {0}")]
    Refused(String),
    /// Files or sockets failed.
    #[error("control channel in {path}: {source}")]
    Io {
        /// The control folder.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The answer was not understood.
    #[error("the service's answer could not be read: {0}")]
    Protocol(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ControlError + '_ {
    move |source| ControlError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The open channel; closes (and removes its files) when dropped or stopped.
pub struct ControlServer {
    stop: CancellationToken,
    dir: PathBuf,
}

impl ControlServer {
    /// Opens the channel in `dir` and answers requests with `handler` until stopped. Fails with
    /// [`ControlError::AlreadyRunning`] when another service answers there.
    pub(crate) async fn start(
        dir: &Path,
        handler: Arc<dyn Handler>,
    ) -> Result<ControlServer, ControlError> {
        if let Ok(reply) = request(dir, &Request::Ping).await {
            let pid = reply.data["pid"].as_u64().unwrap_or_default() as u32;
            return Err(ControlError::AlreadyRunning { pid });
        }
        create_private_dir(dir).map_err(io_error(dir))?;
        let token = random_token().map_err(io_error(dir))?;
        let stop = CancellationToken::new();
        let listener = listen(dir).await?;
        write_private_file(&dir.join(TOKEN_FILE), &token).map_err(io_error(dir))?;
        let token: Arc<str> = Arc::from(token);
        tokio::spawn(accept_loop(listener, handler, token, stop.clone()));
        Ok(ControlServer {
            stop,
            dir: dir.to_path_buf(),
        })
    }

    /// Closes the channel.
    pub(crate) fn stop(&self) {
        if !self.stop.is_cancelled() {
            self.stop.cancel();
            let _ = std::fs::remove_file(self.dir.join(TOKEN_FILE));
            #[cfg(unix)]
            let _ = std::fs::remove_file(self.dir.join(SOCKET_FILE));
            #[cfg(not(unix))]
            let _ = std::fs::remove_file(self.dir.join(PORT_FILE));
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends one request to the service whose channel is in `dir` and returns its reply; a reply
/// with `ok: false` is returned as it is.
pub async fn request(dir: &Path, request: &Request) -> Result<Reply, ControlError> {
    let token = std::fs::read_to_string(dir.join(TOKEN_FILE))
        .map_err(|_| ControlError::NotRunning(dir.to_path_buf()))?;
    let line = serde_json::to_string(&Envelope {
        token: token.trim().to_string(),
        request: request.clone(),
    })
    .map_err(|e| ControlError::Protocol(e.to_string()))?;
    send_line(dir, &line).await
}

/// Sends a raw line (tests use this to send a request without the token).
pub async fn send_line(dir: &Path, line: &str) -> Result<Reply, ControlError> {
    let stream = connect(dir).await?;
    let (read, mut write) = tokio::io::split(stream);
    write
        .write_all(format!("{line}\n").as_bytes())
        .await
        .map_err(io_error(dir))?;
    let mut answer = String::new();
    BufReader::new(read)
        .read_line(&mut answer)
        .await
        .map_err(io_error(dir))?;
    serde_json::from_str(&answer).map_err(|e| ControlError::Protocol(e.to_string()))
}

#[cfg(unix)]
type Listener = tokio::net::UnixListener;
#[cfg(not(unix))]
type Listener = tokio::net::TcpListener;

#[cfg(unix)]
async fn listen(dir: &Path) -> Result<Listener, ControlError> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(SOCKET_FILE);
    // Nobody answered the ping: whatever is there is left over from a crash.
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).map_err(io_error(dir))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(io_error(dir))?;
    Ok(listener)
}

#[cfg(not(unix))]
async fn listen(dir: &Path) -> Result<Listener, ControlError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(io_error(dir))?;
    let port = listener.local_addr().map_err(io_error(dir))?.port();
    write_private_file(&dir.join(PORT_FILE), &port.to_string()).map_err(io_error(dir))?;
    Ok(listener)
}

#[cfg(unix)]
async fn connect(dir: &Path) -> Result<tokio::net::UnixStream, ControlError> {
    tokio::net::UnixStream::connect(dir.join(SOCKET_FILE))
        .await
        .map_err(|_| ControlError::NotRunning(dir.to_path_buf()))
}

#[cfg(not(unix))]
async fn connect(dir: &Path) -> Result<tokio::net::TcpStream, ControlError> {
    let port: u16 = std::fs::read_to_string(dir.join(PORT_FILE))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| ControlError::NotRunning(dir.to_path_buf()))?;
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|_| ControlError::NotRunning(dir.to_path_buf()))
}

async fn accept_loop(
    listener: Listener,
    handler: Arc<dyn Handler>,
    token: Arc<str>,
    stop: CancellationToken,
) {
    #[cfg(unix)]
    let own_uid = own_uid();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        #[cfg(unix)]
        if !same_user(stream.peer_cred().ok().map(|c| c.uid()), own_uid) {
            tracing::warn!("control channel: refused a caller running as another user");
            continue;
        }
        let handler = handler.clone();
        let token = token.clone();
        tokio::spawn(async move {
            if let Err(error) = serve(stream, handler, &token).await {
                tracing::debug!(%error, "control channel: connection failed");
            }
        });
    }
}

/// Answers one connection: one request line, one reply line.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    handler: Arc<dyn Handler>,
    token: &str,
) -> std::io::Result<()> {
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = BufReader::new(read).take(MAX_LINE as u64);
    let mut line = String::new();
    let reply = match tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line)).await {
        Err(_) => Reply::error("no request within 5s"),
        Ok(Err(error)) => Reply::error(format!("unreadable request: {error}")),
        Ok(Ok(_)) => match parse_request(&line, token) {
            Err(refusal) => refusal,
            Ok(request) => handler.handle(request).await,
        },
    };
    let mut text = serde_json::to_string(&reply).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await
}

/// One request line: the request it carries when its token is `token`, else the reply that
/// refuses it.
pub(crate) fn parse_request(line: &str, token: &str) -> Result<Request, Reply> {
    match serde_json::from_str::<Envelope>(line) {
        Err(error) => Err(Reply::error(format!("malformed request: {error}"))),
        Ok(envelope) if !same_secret(&envelope.token, token) => {
            tracing::warn!("control channel: refused a request without the right token");
            Err(Reply::error("wrong or missing token"))
        }
        Ok(envelope) => Ok(envelope.request),
    }
}

/// Compares secrets in time that does not depend on where they differ.
fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// Whether a peer (by user id) may use the channel.
#[cfg(unix)]
fn same_user(peer: Option<u32>, own: Option<u32>) -> bool {
    matches!((peer, own), (Some(peer), Some(own)) if peer == own)
}

/// This process's user id, read from the owner of what it creates (no `libc` needed).
#[cfg(unix)]
fn own_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .ok()
        .or_else(|| {
            let probe = std::env::temp_dir().join(format!("lcu-rules-uid-{}", std::process::id()));
            std::fs::write(&probe, b"").ok()?;
            let uid = std::fs::metadata(&probe).ok().map(|m| m.uid());
            let _ = std::fs::remove_file(&probe);
            uid
        })
}

fn random_token() -> std::io::Result<String> {
    use base64::Engine as _;
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| std::io::Error::other("no random source"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", "abc"));
    }

    /// Only a peer whose user id is known and equal to ours is let in.
    #[cfg(unix)]
    #[test]
    fn other_users_are_refused() {
        assert!(same_user(Some(1000), Some(1000)));
        assert!(!same_user(Some(0), Some(1000)));
        assert!(!same_user(None, Some(1000)));
        assert!(!same_user(Some(1000), None));
        assert!(own_uid().is_some());
    }
}
