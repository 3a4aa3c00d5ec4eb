//! The service's log file: one file a day in the log folder, a week of them kept, written through
//! a memory buffer that is flushed a moment after each burst of lines. Logging so costs neither a
//! helper thread nor a system call per line (a helper thread woken for every line was measured to
//! slow the accept on a 2-core machine). [`Tee`] writes one formatted line to both standard error
//! and the file, for when both want the same text; standard error is buffered the same way when
//! it is not a terminal (a pipe, a file or the service manager reads it, not a person).
//! With the line format of `logfmt.rs` it saves 7-8 % of the CPU time on the realistic load
//! (`cargo bench --bench e2e -- --realistic`, against an unbuffered writer and the stock format).

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::fmt::MakeWriter;

use crate::secrets::RedactingWriter;

/// How long a written line may wait in memory before it reaches the file.
pub(crate) const FLUSH_DELAY: Duration = Duration::from_millis(250);
/// Daily files kept.
const KEEP_FILES: usize = 7;
/// Bytes buffered before a write reaches the file regardless of the delay.
const BUFFER: usize = 16 * 1024;

/// The daily log file.
pub struct LogFile {
    out: Mutex<Buffered>,
    /// Woken by the first line after a flush.
    pending: Notify,
}

struct Buffered {
    writer: BufWriter<RollingFileAppender>,
    /// Lines for standard error, when it is buffered too.
    stderr: Option<BufWriter<Box<dyn Write + Send>>>,
    /// Whether anything was written since the last flush.
    dirty: bool,
}

impl LogFile {
    /// Opens (creating the folder if needed) today's `lcu-rules.<date>.log` in `dir`.
    pub(crate) fn open(dir: &Path) -> std::io::Result<Arc<LogFile>> {
        std::fs::create_dir_all(dir)?;
        let appender = RollingFileAppender::builder()
            .rotation(Rotation::DAILY)
            .filename_prefix("lcu-rules")
            .filename_suffix("log")
            .max_log_files(KEEP_FILES)
            .build(dir)
            .map_err(std::io::Error::other)?;
        Ok(Arc::new(LogFile {
            out: Mutex::new(Buffered {
                writer: BufWriter::with_capacity(BUFFER, appender),
                stderr: None,
                dirty: false,
            }),
            pending: Notify::new(),
        }))
    }

    /// From now on, the lines a [`Tee`] writes to standard error wait in memory with the file's
    /// and are written to `stderr` on the same flushes.
    pub(crate) fn buffer_stderr(&self, stderr: Box<dyn Write + Send>) {
        if let Ok(mut out) = self.out.lock() {
            out.stderr = Some(BufWriter::with_capacity(BUFFER, stderr));
        }
    }

    /// Writes what is buffered to the file (and standard error) now.
    pub fn flush(&self) {
        if let Ok(mut out) = self.out.lock() {
            let _ = out.writer.flush();
            if let Some(stderr) = &mut out.stderr {
                let _ = stderr.flush();
            }
            out.dirty = false;
        }
    }

    /// Flushes [`FLUSH_DELAY`] after the first line of every burst, forever; run it on the
    /// service's runtime. It sleeps while nothing is logged.
    pub(crate) async fn flush_in_background(self: Arc<Self>) {
        loop {
            self.pending.notified().await;
            tokio::time::sleep(FLUSH_DELAY).await;
            self.flush();
        }
    }

    /// Buffers `line` for the file and, with `to_stderr`, for standard error (written at once
    /// when that is not buffered).
    fn write_line(&self, line: &[u8], to_stderr: bool) -> std::io::Result<()> {
        let Ok(mut out) = self.out.lock() else {
            return Ok(());
        };
        if to_stderr {
            // A closed or full standard error must not stop the file from getting the line.
            let _ = match &mut out.stderr {
                Some(stderr) => stderr.write_all(line),
                None => std::io::stderr().write_all(line),
            };
        }
        out.writer.write_all(line)?;
        if !out.dirty {
            out.dirty = true;
            self.pending.notify_one();
        }
        Ok(())
    }
}

/// Makes redacting writers into the log file, for `tracing_subscriber`.
#[derive(Clone)]
pub(crate) struct FileSink(pub Arc<LogFile>);

impl<'a> MakeWriter<'a> for FileSink {
    type Writer = RedactingWriter<LineTo<'a>>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(LineTo {
            file: Some(&self.0),
            stderr: false,
        })
    }
}

/// Makes redacting writers into standard error and, if there is one, the log file: the line is
/// formatted and redacted once for both.
#[derive(Clone)]
pub(crate) struct Tee(pub Option<Arc<LogFile>>);

impl<'a> MakeWriter<'a> for Tee {
    type Writer = RedactingWriter<LineTo<'a>>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(LineTo {
            file: self.0.as_deref(),
            stderr: true,
        })
    }
}

/// Where one formatted line goes.
pub(crate) struct LineTo<'a> {
    file: Option<&'a LogFile>,
    stderr: bool,
}

impl Write for LineTo<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.file {
            Some(file) => file.write_line(buf, self.stderr)?,
            None if self.stderr => std::io::stderr().write_all(buf)?,
            None => {}
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_text(dir: &Path) -> String {
        let mut text = String::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            text.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
        text
    }

    /// Lines wait in memory, reach the file once flushed, and secrets never reach it.
    #[test]
    fn lines_reach_the_file_on_flush_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let file = LogFile::open(dir.path()).unwrap();
        crate::secrets::register("log-file-secret-42");
        let sink = FileSink(file.clone());
        sink.make_writer()
            .write_all(b"token log-file-secret-42 seen\n")
            .unwrap();
        assert_eq!(log_text(dir.path()), "");
        file.flush();
        assert_eq!(log_text(dir.path()), "token <redacted> seen\n");
    }

    /// Buffered standard error gets each line once, redacted, on the file's flush and not before.
    #[test]
    fn buffered_stderr_gets_the_lines_on_flush() {
        let dir = tempfile::tempdir().unwrap();
        let file = LogFile::open(dir.path()).unwrap();
        let stderr = crate::service::logfmt::tests::Captured::default();
        file.buffer_stderr(Box::new(stderr.clone()));
        crate::secrets::register("stderr-secret-77");
        let tee = Tee(Some(file.clone()));
        tee.make_writer()
            .write_all(b"one stderr-secret-77\n")
            .unwrap();
        tee.make_writer().write_all(b"two\n").unwrap();
        assert!(stderr.0.lock().unwrap().is_empty());
        file.flush();
        assert_eq!(&*stderr.0.lock().unwrap(), b"one <redacted>\ntwo\n");
        assert_eq!(log_text(dir.path()), "one <redacted>\ntwo\n");
    }

    /// The background flusher writes a burst out shortly after its first line, without being
    /// asked.
    #[tokio::test]
    async fn a_burst_is_flushed_after_the_delay() {
        let dir = tempfile::tempdir().unwrap();
        let file = LogFile::open(dir.path()).unwrap();
        let flusher = tokio::spawn(file.clone().flush_in_background());
        let sink = FileSink(file.clone());
        for n in 0..3 {
            sink.make_writer()
                .write_all(format!("line {n}\n").as_bytes())
                .unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while log_text(dir.path()) != "line 0\nline 1\nline 2\n" {
            assert!(tokio::time::Instant::now() < deadline, "never flushed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        flusher.abort();
    }
}
