//! `facestyle serve`: the HTTP service and web page (see the facestyle-serve crate).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use facestyle_serve::state::ServeConfig;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The gallery: a SQLite file (created on the first enrolment) or a PostgreSQL URL
    /// (`postgres://user@host/db`).
    #[arg(long)]
    pub gallery: facestyle_face::gallery::store::Location,
    /// How a SQLite gallery is searched: `exact`, `approximate` (an HNSW index kept beside the
    /// file, candidates re-ranked exactly) or `auto` (approximate from 200,000 embeddings).
    #[arg(long, default_value = "auto", value_parser = facestyle_face::gallery::ann::Search::parse)]
    pub search: facestyle_face::gallery::ann::Search,
    /// Address to listen on. Off loopback a token is needed (FACESTYLE_TOKEN or --token-file).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// A file holding the bearer token (first line); FACESTYLE_TOKEN also sets it. Without
    /// either, a token is made at start-up and printed.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// A host name clients may use in the Host header, besides IP addresses and localhost
    /// (repeat for several).
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Serve /metrics without the token even when one is set.
    #[arg(long)]
    pub public_metrics: bool,
    /// Allow plain HTTP on a non-loopback address (a trusted network, or a TLS-terminating
    /// proxy on another machine).
    #[arg(long)]
    pub allow_plain_http: bool,
    /// Largest request body, in MiB.
    #[arg(long, default_value_t = 20)]
    pub body_limit_mb: usize,
    /// Largest image, in megapixels.
    #[arg(long, default_value_t = 40)]
    pub max_megapixels: u64,
    /// MiB the decoded images of one request may take.
    #[arg(long, default_value_t = 512)]
    pub max_decoded_mb: u64,
    /// Faces of one image that are embedded (the largest kept).
    #[arg(long, default_value_t = 100)]
    pub max_faces: usize,
    /// Open connections at once.
    #[arg(long, default_value_t = 256)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers.
    #[arg(long, default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds before a request is answered 503.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Style jobs that may wait (beyond: 429).
    #[arg(long, default_value_t = 4)]
    pub queue: usize,
}

/// The operator's token: `--token-file`, else FACESTYLE_TOKEN, else none.
fn token(a: &ServeArgs) -> anyhow::Result<Option<String>> {
    match &a.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--token-file {}: cannot read", path.display()))?;
            let t = text.lines().next().unwrap_or("").trim().to_string();
            anyhow::ensure!(!t.is_empty(), "--token-file {}: the first line is empty", path.display());
            Ok(Some(t))
        }
        None => Ok(std::env::var("FACESTYLE_TOKEN").ok()),
    }
}

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.timeout > 0 && a.header_timeout > 0,
        "--timeout and --header-timeout must be at least 1"
    );
    let mut config = ServeConfig::new(a.addr, a.gallery.clone(), token(&a)?);
    config.allowed_hosts = a.allow_hosts.clone();
    config.search = a.search;
    config.public_metrics = a.public_metrics;
    config.allow_plain_http = a.allow_plain_http;
    config.body_limit = a.body_limit_mb << 20;
    config.max_pixels = a.max_megapixels.saturating_mul(1_000_000);
    config.max_decoded_bytes = a.max_decoded_mb << 20;
    config.max_faces = a.max_faces;
    config.max_connections = a.max_connections;
    config.header_timeout = Duration::from_secs(a.header_timeout);
    config.request_timeout = Duration::from_secs(a.timeout);
    config.queue = a.queue;
    config.check().map_err(anyhow::Error::msg)?;
    // The command line restores SIGPIPE's default (to stop quietly under `| head`); a server
    // must not die when a client goes away mid-answer.
    facestyle_nn::os::ignore_sigpipe();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(facestyle_serve::serve(config)).map_err(anyhow::Error::msg)
}
