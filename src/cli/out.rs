//! Standard output for every command. A reader that goes away (`lcu-rules test | head`) ends the
//! process quietly with success, where `println!` would panic; SIGPIPE stays ignored (Rust's
//! default) because `demo` and the control client write to sockets, where a closed peer must be
//! an error to handle, not a signal that kills the process.

use std::io::Write as _;

/// Writes `text` to standard output; a closed pipe exits quietly.
pub(crate) fn write(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    if let Err(error) = result {
        closed(&error);
    }
}

/// What to do when standard output fails: quiet success for a closed pipe, a message otherwise.
fn closed(error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to standard output: {error}");
    std::process::exit(2);
}

/// `println!` through [`write`].
macro_rules! outln {
    () => { $crate::cli::out::write("\n") };
    ($($arg:tt)*) => { $crate::cli::out::write(&format!("{}\n", format_args!($($arg)*))) };
}

/// `print!` through [`write`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::out::write(&format!($($arg)*)) };
}

pub(crate) use {out, outln};

/// Standard output as an `io::Write` for code that writes as it goes (the demo's timeline, the
/// simulator's log): the same quiet exit on a closed pipe.
pub(crate) struct Stdout;

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::io::stdout().write(buf) {
            Err(error) => closed(&error),
            ok => ok,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match std::io::stdout().flush() {
            Err(error) => closed(&error),
            ok => ok,
        }
    }
}

/// The version of the JSON output's shape: every `--format json` object carries it, and it
/// changes only when a field changes meaning or goes away.
pub(crate) const JSON_VERSION: u32 = 1;

/// Prints the JSON output of `command`: `{"version", "command", ...body}` (the body's fields
/// follow; a body that is not an object goes under `data`).
pub(crate) fn json(command: &str, body: serde_json::Value) {
    let mut object = serde_json::Map::new();
    object.insert("version".into(), JSON_VERSION.into());
    object.insert("command".into(), command.into());
    match body {
        serde_json::Value::Object(fields) => object.extend(fields),
        other => {
            object.insert("data".into(), other);
        }
    }
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(object)).unwrap_or_default();
    write(&format!("{text}\n"));
}
