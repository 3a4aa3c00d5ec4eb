//! The rule language: what a rule file may say and what it compiles to.
//!
//! Owns the file format ([`spec`], with the JSON Schema generated from it), YAML loading with
//! positions ([`yaml`]), diagnostics ([`diag`]), compiling ([`compile`]) into the immutable
//! [`rule::RuleSet`] (rules, their [`matcher`] index over URI [`pattern`]s, [`condition`]s,
//! [`scope`]d JSONPaths and [`template`]s), the embedded test cases ([`cases`]), the client's API
//! index and its lint ([`api`]), and the [`loader`] that turns files and folders into all of that.
//!
//! May use: [`crate::event`]. Must never: do network IO, spawn tasks, or know the engine, the
//! client or the service. The compiled set lives here (not in `engine/`) because the compiler
//! builds it, index included; the engine only reads it.

pub mod api;
pub(crate) mod cases;
pub(crate) mod compile;
pub(crate) mod condition;
pub mod diag;
pub mod loader;
pub mod matcher;
pub(crate) mod pattern;
pub mod rule;
pub mod schema;
pub mod scope;
pub mod spec;
pub(crate) mod suggest;
pub(crate) mod template;
pub(crate) mod yaml;
