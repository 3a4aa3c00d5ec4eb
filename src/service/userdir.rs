//! The user's rules folder as lcu-rules sets it up: `lcu-rules init` (and the first `run`) write
//! the rule schema, a short README, the example rules (only the ready-check accept enabled), the
//! capture their tests replay, and a VS Code setting that maps `*.yaml` there to the schema.
//! Each example's modeline names the schema beside it, so completion works in the folder itself.
//! `run` keeps the schema current after an upgrade ([`refresh_schema`]).
//!
//! May use: [`crate::language`] for the schema, [`crate::service::demo`] for the examples.

use std::path::{Path, PathBuf};

/// The schema's file name inside a rules folder.
pub const SCHEMA_FILE: &str = "rules.schema.json";

/// The modeline the repository's examples carry (the schema one folder up) and the one they get
/// in a user's folder (the schema beside them).
const REPO_MODELINE: &str = "# yaml-language-server: $schema=../schemas/rules.schema.json";
const USER_MODELINE: &str = "# yaml-language-server: $schema=rules.schema.json";

/// The one example that starts enabled.
const FLAGSHIP: &str = "accept-ready-check.yaml";

const README: &str = "\
Your lcu-rules rules. Every `*.yaml` file here is loaded, and a saved change takes effect at once.
Only `accept-ready-check.yaml` is on; set `enabled: true` in another file to use it.
Check them with `lcu-rules check`, test them with `lcu-rules test`; the reference is README.md at https://github.com/lcu-rules/lcu-rules.
";

/// The folder's `.vscode/settings.json`: every YAML file there uses the schema beside it. The YAML
/// extension matches `*.yaml` against the whole path, and its globs skip folders whose names start
/// with a dot, so a folder under `~/.config` also gets a pattern naming it outright.
fn vscode_settings(dir: &Path) -> String {
    let mut patterns = vec!["*.yaml".to_string(), "*.yml".to_string()];
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let under_dot_folder = absolute.components().any(|c| {
        matches!(c, std::path::Component::Normal(name) if name.to_string_lossy().starts_with('.'))
    });
    if under_dot_folder {
        let folder = absolute.to_string_lossy().replace('\\', "/");
        let folder = folder.trim_end_matches('/');
        patterns.push(format!("{folder}/*.yaml"));
        patterns.push(format!("{folder}/*.yml"));
    }
    let settings = serde_json::json!({"yaml.schemas": {"./rules.schema.json": patterns}});
    let mut text = serde_json::to_string_pretty(&settings).unwrap_or_default();
    text.push('\n');
    text
}

/// Why the folder could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// Files are there already and `--force` was not given.
    #[error("{} already holds {}; nothing was written (`--force` overwrites them)", dir.display(), list(existing))]
    Exists {
        /// The folder.
        dir: PathBuf,
        /// The files that would be overwritten, relative to it.
        existing: Vec<PathBuf>,
    },
    /// Writing failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| format!("`{}`", p.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every file of a set-up rules folder `dir`, by path inside it, with its text.
pub fn files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = vec![
        (PathBuf::from(SCHEMA_FILE), crate::language::json_schema()),
        (PathBuf::from("README.md"), README.to_string()),
        (
            PathBuf::from(".vscode").join("settings.json"),
            vscode_settings(dir),
        ),
    ];
    for (name, text) in crate::service::demo::EXAMPLES {
        let text = if name.ends_with(".yaml") {
            let text = text.replacen(REPO_MODELINE, USER_MODELINE, 1);
            if name == FLAGSHIP {
                text
            } else {
                disabled(&text)
            }
        } else {
            text.to_string()
        };
        files.push((PathBuf::from(name), text));
    }
    files
}

/// The example with every rule that does not say `enabled:` switched off, on the line after its
/// `- id:`.
fn disabled(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len() + 256);
    for (index, line) in lines.iter().enumerate() {
        out.push_str(line);
        out.push('\n');
        let Some(indent) = line
            .strip_suffix(line.trim_start())
            .filter(|_| line.trim_start().starts_with("- id:"))
        else {
            continue;
        };
        let field_indent = format!("{indent}  ");
        let says_enabled = lines[index + 1..]
            .iter()
            .take_while(|next| next.starts_with(&field_indent))
            .any(|next| next.trim_start().starts_with("enabled:"));
        if !says_enabled {
            out.push_str(&format!(
                "{field_indent}enabled: false  # off until you turn it on\n"
            ));
        }
    }
    out
}

/// Sets up `dir` as a rules folder and returns the files written (inside `dir`). Without `force`
/// nothing is written when any of them exists already.
pub fn init(dir: &Path, force: bool) -> Result<Vec<PathBuf>, InitError> {
    let files = files(dir);
    if !force {
        let existing: Vec<PathBuf> = files
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| dir.join(name).exists())
            .collect();
        if !existing.is_empty() {
            return Err(InitError::Exists {
                dir: dir.to_path_buf(),
                existing,
            });
        }
    }
    for (name, text) in &files {
        let path = dir.join(name);
        write(&path, text).map_err(|source| InitError::Write { path, source })?;
    }
    Ok(files.into_iter().map(|(name, _)| name).collect())
}

/// Writes the current schema into `dir` when it is missing or differs (an upgrade changed the
/// format). Returns whether it wrote; a folder that does not exist is left alone.
pub fn refresh_schema(dir: &Path) -> std::io::Result<bool> {
    if !dir.is_dir() {
        return Ok(false);
    }
    let path = dir.join(SCHEMA_FILE);
    let schema = crate::language::json_schema();
    if std::fs::read_to_string(&path).is_ok_and(|text| text == schema) {
        return Ok(false);
    }
    std::fs::write(&path, schema)?;
    Ok(true)
}

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each example names the schema written beside it.
    #[test]
    fn every_modeline_resolves_in_the_folder() {
        for (name, text) in files(Path::new("rules")) {
            if name.extension().is_some_and(|e| e == "yaml") {
                assert!(text.starts_with(USER_MODELINE), "{}", name.display());
            }
        }
    }

    /// A folder under a dot-folder is named outright in the VS Code mapping; others are not.
    #[test]
    fn the_vscode_mapping_reaches_folders_under_dot_folders() {
        let hidden: serde_json::Value = serde_json::from_str(&vscode_settings(Path::new(
            "/home/me/.config/lcu-rules/rules",
        )))
        .unwrap();
        assert_eq!(
            hidden["yaml.schemas"]["./rules.schema.json"],
            serde_json::json!([
                "*.yaml",
                "*.yml",
                "/home/me/.config/lcu-rules/rules/*.yaml",
                "/home/me/.config/lcu-rules/rules/*.yml"
            ])
        );
        let plain: serde_json::Value = serde_json::from_str(&vscode_settings(Path::new(
            "/Users/me/Library/Application Support/lcu-rules/rules",
        )))
        .unwrap();
        assert_eq!(
            plain["yaml.schemas"]["./rules.schema.json"],
            serde_json::json!(["*.yaml", "*.yml"])
        );
    }

    /// A stale schema is rewritten; a current one is left alone.
    #[test]
    fn refresh_rewrites_only_a_stale_schema() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SCHEMA_FILE), "{}").unwrap();
        assert!(refresh_schema(dir.path()).unwrap());
        assert!(!refresh_schema(dir.path()).unwrap());
        assert!(!refresh_schema(&dir.path().join("missing")).unwrap());
    }
}
