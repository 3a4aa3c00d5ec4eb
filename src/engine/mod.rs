//! The engine: one task that takes events in order, asks the rule set which rules fire, admits
//! each firing (modes, cooldowns, guards) and spawns every admitted [`run`] as its own tracked
//! task.
//!
//! Owns the engine loop ([`task`], with its parts: admission, debounce, room on the port,
//! reload, control, shutdown), its settings, commands and reports ([`interface`]), runs and their steps ([`run`]), loop and flood protection
//! ([`guard`]), what it reports ([`trace`], and the per-rule decision records of [`journal`]) and
//! the one door to the outside, the [`port::ClientPort`] trait.
//!
//! May use: [`crate::language`], [`crate::event`]. Must never: do IO of its own (requests leave
//! through the port, everything else is a trace), await a run from the event loop, or know how
//! the client is reached.

pub(crate) mod guard;
pub(crate) mod interface;
pub(crate) mod journal;
pub mod port;
pub(crate) mod run;
pub(crate) mod state_file;
pub(crate) mod task;

pub use task::Engine;
pub mod trace;

pub use interface::{
    Command, DEFAULT_MAX_ACTIVE_RUNS, DEFAULT_SHUTDOWN_GRACE, EngineConfig, EngineReport,
    EngineStatus, MAX_RATE_KEYS, ReloadSummary, RuleStatus,
};
pub use journal::{RuleExplanation, render};
pub use run::render_request;
