//! The background service: what `lcu-rules run` is once the command line is read.
//!
//! Owns starting and stopping the engine with the live connection ([`lifecycle`]), the wiring of
//! `run` ([`app`]), the config file ([`config`]), reloads and the rule-file watch ([`reload`],
//! [`watch`]), the local control channel ([`control`]), the tray ([`tray`]), start at login
//! ([`autostart`]), logging ([`logfmt`], [`logfile`]), where files live ([`paths`]), the user's rules folder
//! ([`userdir`]) and the in-process demo ([`demo`]).
//!
//! May use: every stage below it ([`crate::client`], [`crate::offline`], [`crate::engine`],
//! [`crate::language`], [`crate::event`]) and [`crate::sim`] for the demo. Must never: block the
//! runtime's thread (the tray's loop and the watcher live on threads of their own) or keep a rule
//! set that failed to load.

pub mod app;
pub mod autostart;
pub(crate) mod config;
pub mod control;
pub(crate) mod demo;
pub(crate) mod lifecycle;
pub(crate) mod logfile;
pub(crate) mod logfmt;
pub(crate) mod paths;
pub(crate) mod reload;
pub(crate) mod tray;
pub mod userdir;
pub(crate) mod watch;

pub use config::read as read_config;
pub use demo::{CHAMP_SELECT, run as run_demo};
pub use lifecycle::{Service, ServiceControl, ServiceHandle};
pub use logfmt::LogObserver;
pub use paths::Paths;
pub use reload::{Reloader, WATCH_DEBOUNCE};
