//! `lcu-rules-tray`: `lcu-rules run --tray` without a console window, for the login start and
//! desktop shortcuts on Windows. `lcu-rules` itself is a console program (so `check` and `test`
//! print where they were typed), and Windows opens a console window for every console program
//! it starts outside a terminal; this launcher is a windowed program that starts it with no
//! window and passes its exit code on. Elsewhere it simply runs `lcu-rules run --tray`.

#![cfg_attr(windows, windows_subsystem = "windows")]

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let program = match std::env::current_exe() {
        Ok(own) => own.with_file_name(if cfg!(windows) {
            "lcu-rules.exe"
        } else {
            "lcu-rules"
        }),
        Err(_) => return ExitCode::from(2),
    };
    let mut command = Command::new(program);
    command
        .args(["run", "--tray"])
        .args(std::env::args_os().skip(1));
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt as _;
        /// `CREATE_NO_WINDOW`: the console program gets no console window.
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        command.creation_flags(CREATE_NO_WINDOW);
    }
    match command.status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8),
        // There is no console to say it on; the log file shows whether lcu-rules ran.
        Err(_) => ExitCode::from(2),
    }
}
