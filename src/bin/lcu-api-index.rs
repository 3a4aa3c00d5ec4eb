//! Regenerates `schemas/lcu-api-index.json` from a dump of the client's API:
//!
//! ```sh
//! cargo run --bin lcu-api-index -- <swagger.json> <event-names.txt> > schemas/lcu-api-index.json
//! ```
//!
//! `swagger.json` is the LCU's own Swagger 2.0 output (`/swagger/v2/swagger.json` of a running
//! client, or a published dump); `event-names.txt` lists websocket topic names, one per line.
//! The output is deterministic: the same inputs give the same bytes.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [swagger, events] = args.as_slice() else {
        eprintln!(
            "usage: lcu-api-index <swagger.json> <event-names.txt> > schemas/lcu-api-index.json"
        );
        return ExitCode::from(2);
    };
    match generate(Path::new(swagger), Path::new(events)) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

fn generate(swagger: &Path, events: &Path) -> Result<String, String> {
    let swagger_text = std::fs::read_to_string(swagger)
        .map_err(|e| format!("cannot read `{}`: {e}", swagger.display()))?;
    let events_text = std::fs::read_to_string(events)
        .map_err(|e| format!("cannot read `{}`: {e}", events.display()))?;
    let value: serde_json::Value = serde_json::from_str(&swagger_text)
        .map_err(|e| format!("`{}` is not JSON: {e}", swagger.display()))?;
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let source = format!(
        "paths and methods from {}, websocket topics from {}; regenerate with `cargo run --bin lcu-api-index`",
        name(swagger),
        name(events)
    );
    let index = lcu_rules::language::ApiIndex::from_dump(&value, &events_text, &source)?;
    Ok(index.to_json())
}
