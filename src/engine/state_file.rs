//! The `forever` values of rules' memory on disk: read when the engine starts, written after
//! each `set` of a `forever` value. One small JSON file (`state.json`); a missing, unreadable or
//! malformed file is reported and the engine starts with nothing remembered, never fails.
//!
//! serde_json and a rename do the whole job (no crate for a key-value store is needed for a
//! thousand names written now and then).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::language::memory::Memory;

/// The largest state file read (SECURITY.md): 1,000 names of 64 KiB would be 64 MiB, but a file
/// past this is not a file lcu-rules wrote in normal use.
pub(crate) const MAX_STATE_FILE_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    values: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    name: String,
    value: Value,
    /// When it expires, in milliseconds since 1970 (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at_ms: Option<u64>,
}

/// Reads the state file into `memory`; a problem is logged and leaves `memory` as it was.
pub(crate) fn load(path: &Path, memory: &mut Memory) {
    match read(path) {
        Ok(Some(values)) => {
            let count = values.len();
            memory.restore(values);
            tracing::debug!(path = %path.display(), values = count, "remembered values read");
        }
        Ok(None) => {}
        Err(error) => tracing::warn!(
            path = %path.display(),
            %error,
            "the remembered values could not be read; starting without them"
        ),
    }
}

type Values = Vec<(String, Value, Option<SystemTime>)>;

fn read(path: &Path) -> Result<Option<Values>, String> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(file, MAX_STATE_FILE_BYTES + 1),
        &mut text,
    )
    .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_STATE_FILE_BYTES {
        return Err(format!(
            "larger than {} MiB",
            MAX_STATE_FILE_BYTES / (1024 * 1024)
        ));
    }
    let file: StateFile = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(Some(
        file.values
            .into_iter()
            .map(|e| {
                let expires = e
                    .expires_at_ms
                    .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
                (e.name, e.value, expires)
            })
            .collect(),
    ))
}

/// Writes the `forever` values of `memory` (to a temporary file first, then renamed over the
/// old one, so a crash never leaves half a file); a failure is logged.
pub(crate) fn save(path: &Path, memory: &Memory) {
    let values = memory
        .lasting()
        .into_iter()
        .map(|(name, value, expires)| Entry {
            name,
            value,
            expires_at_ms: expires
                .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as u64),
        })
        .collect();
    let written = serde_json::to_vec_pretty(&StateFile { version: 1, values })
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let temporary = path.with_extension("json.tmp");
            std::fs::write(&temporary, bytes)?;
            std::fs::rename(&temporary, path)
        });
    if let Err(error) = written {
        tracing::warn!(path = %path.display(), %error, "the remembered values could not be written");
    }
}
