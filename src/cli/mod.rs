//! The command line: its words ([`args`]) and one function per subcommand, grouped by what they
//! work on ([`rules`]: rule files offline; [`service`]: the client and the running service).
//! `anyhow` lives here and in `main.rs` only: the library's errors are typed.

pub(crate) mod args;
pub(crate) mod out;
pub(crate) mod rules;
pub(crate) mod service;
