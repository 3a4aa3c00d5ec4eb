//! Which saves in the rule folders touched a rule file: `notify`'s watcher on every platform (its
//! thread only forwards a wake-up to the runtime through a non-blocking send).

use std::io;
use std::path::{Path, PathBuf};

/// A watch of some folders (not recursive) for changes to their `*.yaml`/`*.yml` files.
pub(crate) struct RuleChanges(os::Changes);

impl RuleChanges {
    /// Starts watching `dirs`; fails (naming the folder) when one cannot be watched.
    pub(crate) fn watch(dirs: &[PathBuf]) -> io::Result<RuleChanges> {
        os::Changes::watch(dirs).map(RuleChanges)
    }

    /// Waits for the next change to a rule file; `None` once the watch has ended for good.
    pub(crate) async fn next(&mut self) -> Option<()> {
        self.0.next().await
    }
}

/// Whether a changed file is one the loader reads (editors' swap and backup files are not).
pub(crate) fn is_rule_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn naming(dir: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |error| io::Error::new(error.kind(), format!("{}: {error}", dir.display()))
}

mod os {
    use std::io;
    use std::path::PathBuf;

    use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
    use tokio::sync::mpsc;

    use super::{is_rule_file, naming};

    pub(super) struct Changes {
        rx: mpsc::UnboundedReceiver<()>,
        _watcher: RecommendedWatcher,
    }

    impl Changes {
        pub(super) fn watch(dirs: &[PathBuf]) -> io::Result<Changes> {
            let (tx, rx) = mpsc::unbounded_channel();
            let mut watcher =
                notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
                    // Runs on notify's thread: only a non-blocking send.
                    if let Ok(event) = result
                        && !event.kind.is_access()
                        && event.paths.iter().any(|p| is_rule_file(p))
                    {
                        let _ = tx.send(());
                    }
                })
                .map_err(io::Error::other)?;
            for dir in dirs {
                watcher
                    .watch(dir, RecursiveMode::NonRecursive)
                    .map_err(|e| naming(dir)(io::Error::other(e)))?;
            }
            Ok(Changes {
                rx,
                _watcher: watcher,
            })
        }

        pub(super) async fn next(&mut self) -> Option<()> {
            self.rx.recv().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rule_files_count() {
        assert!(is_rule_file(Path::new("rules/a.yaml")));
        assert!(is_rule_file(Path::new("b.yml")));
        assert!(!is_rule_file(Path::new("rules/.a.yaml.swp")));
        assert!(!is_rule_file(Path::new("rules/4913")));
        assert!(!is_rule_file(Path::new("rules/a.yaml~")));
    }
}
