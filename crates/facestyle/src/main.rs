//! `facestyle`: the command-line front end. Each subcommand group lives in `cmd/`.
//!
//! Exit codes: 0 success, 1 usage error (bad flags or arguments), 2 input error (a file that
//! cannot be read, a model that cannot be fetched, an impossible shape ...).

mod cmd;
mod log;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = match cmd::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Rust ignores SIGPIPE, which turns `facestyle ... | head` into a panic; a command-line tool
/// should simply stop when its reader goes away.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to its default at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
