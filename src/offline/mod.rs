//! Offline tools: the engine run in virtual time, without a client.
//!
//! Owns replay with a recording port and the embedded test cases' verdicts ([`testing`]), the
//! timelines `test --events` prints, and `lcu-rules explain --events` ([`explain`]).
//!
//! May use: [`crate::engine`], [`crate::language`], [`crate::event`]. Must never: open a socket
//! or read the clock of the real world (everything runs on tokio's paused clock).

pub(crate) mod explain;
pub(crate) mod testing;

pub use explain::explain;
pub use testing::{Collector, default_rule_paths, render_timeline, replay, run_case};
