//! Secrets that must never reach a log: every auth token the process learns registers itself
//! here (as is, and in its Basic-auth form), and the log writer replaces them with `<redacted>`.
//! This covers what our own code never prints anyway and, crucially, what libraries print at
//! trace level (tungstenite logs the raw websocket handshake, `Authorization` header included).

use std::borrow::Cow;
use std::io::Write;
use std::sync::RwLock;

/// How many secrets are remembered (oldest forgotten first); a client restart adds one token.
const MAX_SECRETS: usize = 64;

/// A secret and a searcher for it, built once (a plain `contains` rebuilds one on every call).
struct Secret {
    text: String,
    finder: memchr::memmem::Finder<'static>,
}

static SECRETS: RwLock<Vec<Secret>> = RwLock::new(Vec::new());

/// Registers a secret text (ignored if shorter than 4 characters: too likely to match noise).
pub(crate) fn register(secret: &str) {
    if secret.len() < 4 {
        return;
    }
    if let Ok(mut secrets) = SECRETS.write() {
        if secrets.iter().any(|s| s.text == secret) {
            return;
        }
        if secrets.len() >= MAX_SECRETS {
            secrets.remove(0);
        }
        secrets.push(Secret {
            text: secret.to_string(),
            finder: memchr::memmem::Finder::new(secret.as_bytes()).into_owned(),
        });
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.text.len()));
    }
}

/// `text` with every registered secret replaced by `<redacted>`.
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    let Ok(secrets) = SECRETS.read() else {
        return Cow::Borrowed(text);
    };
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if secret.finder.find(out.as_bytes()).is_some() {
            out = Cow::Owned(out.replace(secret.text.as_str(), "<redacted>"));
        }
    }
    out
}

/// A writer that redacts secrets from everything written through it. tracing's formatter writes
/// each event in one call, so a secret is never split across writes.
pub(crate) struct RedactingWriter<W: Write>(pub W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(redact(text).as_bytes())?,
            Err(_) => self
                .0
                .write_all(redact(&String::from_utf8_lossy(buf)).as_bytes())?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Makes [`RedactingWriter`]s around standard error, for `tracing_subscriber`.
#[derive(Clone, Copy, Default)]
pub(crate) struct RedactingStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter<std::io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(std::io::stderr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Registered secrets are replaced wherever they appear; other text is untouched.
    #[test]
    fn secrets_are_redacted() {
        register("hunter2-token");
        register("aHVudGVyMi10b2tlbg==");
        assert_eq!(
            redact("auth: Basic aHVudGVyMi10b2tlbg== and hunter2-token"),
            "auth: Basic <redacted> and <redacted>"
        );
        assert!(matches!(redact("nothing secret"), Cow::Borrowed(_)));
        let mut out = Vec::new();
        RedactingWriter(&mut out)
            .write_all(b"token=hunter2-token\n")
            .unwrap();
        assert_eq!(out, b"token=<redacted>\n");
    }
}
