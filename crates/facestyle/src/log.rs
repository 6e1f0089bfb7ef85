//! Messages on stderr through `tracing`: the command line's notes and warnings (`INFO`,
//! `WARN`), the server's request logs (with times and targets). `RUST_LOG` filters them, e.g.
//! `RUST_LOG=warn` keeps only warnings, `RUST_LOG=facestyle::http=off` silences request logs.
//! Results go to stdout, so `--json` output stays clean whatever the filter.

use tracing_subscriber::EnvFilter;

pub fn init(server: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false);
    let _ = if server { fmt.try_init() } else { fmt.without_time().with_target(false).try_init() };
}
