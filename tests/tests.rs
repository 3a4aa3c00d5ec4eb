//! The integration tests: one binary (it links once), one module per feature.

mod check;
mod cli;
mod engine;
mod guards;
mod hostile;
mod live;
mod record;
mod replay;
mod schema;
mod service;
mod structure;
mod trust;
mod util;
mod wine;
