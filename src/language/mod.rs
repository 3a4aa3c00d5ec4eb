//! The rule language: what a rule file may say and what it compiles to.
//!
//! Owns the file format ([`spec`], with the JSON Schema generated from it in [`schema`]), YAML
//! loading with positions ([`yaml`]), diagnostics ([`diag`]), compiling ([`compile`]) into the
//! immutable [`RuleSet`] (rules, their [`matcher`] index over URI [`pattern`]s, [`condition`]s,
//! [`scope`]d JSONPaths and [`template`]s), the embedded test cases ([`cases`]), the client's API
//! index and its lint ([`api`]), and the [`loader`] that turns files and folders into all of that.
//!
//! May use: [`crate::event`]. Must never: do network IO, spawn tasks, or know the engine, the
//! client or the service. The compiled set lives here (not in `engine/`) because the compiler
//! builds it, index included; the engine only reads it.

pub(crate) mod api;
pub(crate) mod cases;
pub(crate) mod compile;
pub(crate) mod condition;
pub(crate) mod diag;
pub(crate) mod helpers;
pub(crate) mod limits;
pub(crate) mod loader;
pub(crate) mod matcher;
pub(crate) mod memory;
pub(crate) mod pattern;
pub(crate) mod rule;
pub(crate) mod schema;
pub(crate) mod scope;
pub(crate) mod spec;
pub(crate) mod suggest;
pub(crate) mod template;
pub(crate) mod yaml;

pub use api::ApiIndex;
pub use diag::{Diagnostic, Severity, closest};
pub use loader::{Loaded, Written, load, load_with};
pub use matcher::Hit;
pub use memory::{Memory, Remembered};
pub use rule::{Decision, Rule, RuleSet, Step};
pub use schema::json_schema;
pub use scope::Scope;
pub use spec::{MethodName, StateScope};
