//! `facestyle serve`: the HTTP service and web page (see the facestyle-serve crate).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use facestyle_serve::state::ServeConfig;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The SQLite gallery (created on the first enrolment).
    #[arg(long)]
    pub gallery: PathBuf,
    /// Address to listen on. Off loopback, FACESTYLE_TOKEN must be set.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Largest request body, in MiB.
    #[arg(long, default_value_t = 20)]
    pub body_limit_mb: usize,
    /// Seconds before a request is answered 503.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Style jobs that may wait (beyond: 429).
    #[arg(long, default_value_t = 4)]
    pub queue: usize,
}

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    if a.body_limit_mb == 0 || a.timeout == 0 || a.queue == 0 {
        bail!("--body-limit-mb, --timeout and --queue must be at least 1");
    }
    let mut config = ServeConfig::new(a.addr, a.gallery, std::env::var("FACESTYLE_TOKEN").ok());
    config.body_limit = a.body_limit_mb << 20;
    config.request_timeout = Duration::from_secs(a.timeout);
    config.queue = a.queue;
    config.check().map_err(anyhow::Error::msg)?;
    // The command line restores SIGPIPE's default (to stop quietly under `| head`); a server
    // must not die when a client goes away mid-answer.
    #[cfg(unix)]
    // SAFETY: setting a signal disposition before the runtime's threads start.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(facestyle_serve::serve(config)).map_err(anyhow::Error::msg)
}
