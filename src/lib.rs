//! lcu-rules: automate the League of Legends client with small YAML rules.
//!
//! Data flows one way. Rule files are read by [`loader`] (YAML through [`yaml`], into the types of
//! [`spec`]) and compiled by [`compile`] into a [`rule::RuleSet`]: rules plus the [`matcher`]
//! index over their trigger [`pattern`]s, with [`condition`]s, [`scope`]d JSONPaths and
//! [`template`]s compiled once. The [`engine`] takes [`event::Event`]s one at a time, asks the rule
//! set which rules fire, and spawns each admitted [`run`] as its own task; runs reach the client
//! only through a [`port::ClientPort`], and everything the engine does is reported as a
//! [`trace::Trace`]. [`testing`] drives the same engine offline with a recording port in virtual
//! time. [`diag`] renders every problem with its file, line, column and code.

pub mod api;
pub mod autostart;
pub mod compile;
pub mod condition;
pub mod config;
pub mod control;
pub mod demo;
pub mod diag;
pub mod discovery;
pub mod engine;
pub mod event;
pub mod explain;
pub mod guard;
pub mod http;
pub mod live;
pub mod loader;
pub mod logfile;
pub mod logfmt;
pub mod matcher;
pub mod paths;
pub mod pattern;
pub mod port;
pub mod rawjson;
pub mod record;
pub mod reload;
pub mod rule;
pub mod run;
pub mod scope;
pub mod secrets;
pub mod service;
pub mod sim;
pub mod spec;
pub mod template;
pub mod testing;
pub mod tls;
pub mod trace;
pub mod tray;
pub mod watch;
pub mod yaml;
pub mod yielding;
