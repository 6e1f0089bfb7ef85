//! `facestyle`: the command-line front end. Each subcommand group lives in `cmd/`.
//!
//! Exit codes: 0 success, 1 usage error (bad flags or arguments), 2 input error (a file that
//! cannot be read, a model that cannot be fetched, an impossible shape ...).

#![forbid(unsafe_code)]

mod cmd;
mod log;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, which turns `facestyle ... | head` into a panic; a command-line
    // tool should simply stop when its reader goes away.
    facestyle_nn::os::restore_default_sigpipe();
    if let Err(e) = facestyle_nn::isa::from_env() {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
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
