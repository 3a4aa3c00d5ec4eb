//! Entry points for the fuzz targets in `fuzz/`: each takes bytes as an outside party would send
//! them (a rule file, a template and the data it renders, a websocket frame, a lockfile, the
//! client's command line, a control-channel request line) and drives the same code the program
//! runs on them. Each must return, without panicking, hanging or growing without bound, whatever
//! the bytes; the fuzzer is what checks that. Hidden from the documentation: it is a test
//! harness, not an API. It may use every stage; no stage may use it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::event::{Event, EventType, TimedEvent};

/// The rule loader: bytes → compiled rules and diagnostics, each diagnostic rendered as `check`
/// prints it.
pub fn rule_file(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let loaded = crate::language::loader::load_text(Path::new("fuzz.yaml"), &text);
    for diagnostic in &loaded.diagnostics {
        let _ = diagnostic.render();
    }
    let _ = loaded.rule_set();
}

/// Template rendering: the first line is a template (used in a `log` step and in a request
/// path), the rest the JSON payload of the event it renders for (text when it is not JSON).
/// A template `check` accepts is rendered through the engine in virtual time.
pub fn template(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let (template, data) = text.split_once('\n').unwrap_or((&text, ""));
    let quoted = serde_json::Value::String(template.to_string()).to_string();
    let rules = format!(
        "rules:\n  - id: fuzz\n    on: /fuzz/{{id}}\n    do:\n      - log: {quoted}\n      - request: {{method: PUT, path: {path}, body: {{value: {quoted}}}}}\n",
        path = serde_json::Value::String(format!("/fuzz/{{{{params.id}}}}/{template}")),
    );
    let loaded = crate::language::loader::load_text(Path::new("fuzz.yaml"), &rules);
    if loaded.has_errors() {
        return;
    }
    let data = serde_json::from_str(data).unwrap_or_else(|_| serde_json::Value::from(data));
    let event = TimedEvent {
        at: Duration::ZERO,
        event: Event::new("/fuzz/a%2Fb", EventType::Update, data),
    };
    let _ = crate::offline::replay(Arc::new(loaded.rule_set()), vec![event], Vec::new());
}

/// The websocket frame parser, as the reader runs it on every frame.
pub fn wamp_frame(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = crate::client::wamp::parse_frame(text);
    }
}

/// The lockfile parser.
pub fn lockfile(bytes: &[u8]) {
    let _ = crate::client::discovery::parse_lockfile(&String::from_utf8_lossy(bytes));
}

/// The parser of the client's process arguments (NUL-separated, as `/proc/PID/cmdline`).
pub fn command_line(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let args: Vec<&str> = text.split('\0').collect();
    let _ = crate::client::discovery::parse_command_line(&args);
}

/// The control channel's request line, checked against a token.
pub fn control_request(bytes: &[u8]) {
    let line = String::from_utf8_lossy(bytes);
    let _ = crate::service::control::parse_request(&line, "fuzz-token");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One entry point.
    type Target = fn(&[u8]);

    /// Each entry point runs on its committed seeds (`fuzz/seeds/`), so the harness itself is
    /// tested by `cargo test`.
    #[test]
    fn seeds_run() {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        let targets: [(&str, Target); 6] = [
            ("rule_file", rule_file),
            ("template", template),
            ("wamp_frame", wamp_frame),
            ("lockfile", lockfile),
            ("command_line", command_line),
            ("control_request", control_request),
        ];
        for (name, target) in targets {
            let dir = seeds.join(name);
            let mut count = 0;
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                target(&bytes);
                count += 1;
            }
            assert!(count > 0, "no seeds for {name}");
        }
    }
}
