//! Which saves in the rule folders touched a rule file. On Linux an inotify descriptor read on
//! the runtime: a watcher thread alone made every system call of the service dearer (the kernel
//! and glibc take their multi-threaded paths), measured as 1-2 % of flat-out throughput. Elsewhere
//! notify's watcher, whose thread only forwards.

use std::io;
use std::path::{Path, PathBuf};

/// A watch of some folders (not recursive) for changes to their `*.yaml`/`*.yml` files.
pub struct RuleChanges(os::Changes);

impl RuleChanges {
    /// Starts watching `dirs`; fails (naming the folder) when one cannot be watched.
    pub fn watch(dirs: &[PathBuf]) -> io::Result<RuleChanges> {
        os::Changes::watch(dirs).map(RuleChanges)
    }

    /// Waits for the next change to a rule file; `None` once the watch has ended for good.
    pub async fn next(&mut self) -> Option<()> {
        self.0.next().await
    }
}

/// Whether a changed file is one the loader reads (editors' swap and backup files are not).
pub fn is_rule_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn naming(dir: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |error| io::Error::new(error.kind(), format!("{}: {error}", dir.display()))
}

#[cfg(target_os = "linux")]
mod os {
    use std::io;
    use std::path::{Path, PathBuf};

    use futures_util::StreamExt as _;
    use inotify::{EventMask, EventStream, Inotify, WatchMask};

    use super::{is_rule_file, naming};

    /// Room for a few dozen events per read (each is 16 bytes and its file name).
    const BUFFER: usize = 4096;

    pub struct Changes(EventStream<Vec<u8>>);

    impl Changes {
        pub fn watch(dirs: &[PathBuf]) -> io::Result<Changes> {
            let inotify = Inotify::init()?;
            // Writes in place, creations, deletions and both ends of a rename: every way an
            // editor saves. `ONLYDIR` refuses a path that is not a folder.
            let mask = WatchMask::CLOSE_WRITE
                | WatchMask::MODIFY
                | WatchMask::CREATE
                | WatchMask::DELETE
                | WatchMask::MOVED_FROM
                | WatchMask::MOVED_TO
                | WatchMask::ONLYDIR;
            let mut watches = inotify.watches();
            for dir in dirs {
                watches.add(dir, mask).map_err(naming(dir))?;
            }
            Ok(Changes(inotify.into_event_stream(vec![0; BUFFER])?))
        }

        pub async fn next(&mut self) -> Option<()> {
            loop {
                match self.0.next().await? {
                    // An overflow lost events: some may have been rule files.
                    Ok(event)
                        if event.mask.contains(EventMask::Q_OVERFLOW)
                            || event
                                .name
                                .as_deref()
                                .is_some_and(|name| is_rule_file(Path::new(name))) =>
                    {
                        return Some(());
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "the rule files are no longer watched; use `lcu-rules reload` after editing");
                        return None;
                    }
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    use std::io;
    use std::path::PathBuf;

    use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
    use tokio::sync::mpsc;

    use super::{is_rule_file, naming};

    pub struct Changes {
        rx: mpsc::UnboundedReceiver<()>,
        _watcher: RecommendedWatcher,
    }

    impl Changes {
        pub fn watch(dirs: &[PathBuf]) -> io::Result<Changes> {
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

        pub async fn next(&mut self) -> Option<()> {
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
