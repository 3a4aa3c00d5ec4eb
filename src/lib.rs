//! lcu-rules: automate the League of Legends client with small YAML rules.
//!
//! The folders are the path an event walks, from the bottom up:
//!
//! - [`event`]: what the client publishes (an [`event::Event`]) and recorded sessions of it.
//! - [`language`]: rule files, loaded and compiled into an immutable [`language::rule::RuleSet`].
//! - [`engine`]: the one task that matches each event against the rule set and spawns the runs.
//! - [`client`]: the real connection: discovery, pinned TLS, HTTPS, the WAMP websocket.
//! - [`offline`]: the same engine in virtual time, for `test` and `explain`.
//! - [`service`]: `lcu-rules run`: the engine and the connection together, reloads, control
//!   channel, tray, logs.
//! - [`sim`]: the simulated client the demo, the tests and the benchmarks talk to.
//!
//! Arrows point down only: `service`, `offline`, `client` → `engine` → `language` → `event`.
//! A test in `tests/` keeps it so.

#![warn(unreachable_pub)]
// The stages' opening comments name their crate-private files for the next maintainer
// (`cargo doc --document-private-items` shows them); the public pages keep those names as text.
#![allow(rustdoc::private_intra_doc_links)]

pub mod client;
pub mod engine;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod language;
pub mod offline;
pub(crate) mod secrets;
pub mod service;
pub mod sim;
