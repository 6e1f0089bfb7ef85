//! Server configuration and the state every handler shares: the models (loaded once), the
//! gallery path with a lock that serialises writers, the cached search index, the work
//! permits, metrics and the style jobs.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use burn::module::Module;
use facestyle_face::detect::DetectConfig;
use facestyle_face::engine::{FaceEngine, MODEL_ID};
use facestyle_face::gallery::Gallery;
use facestyle_face::gallery::ann::Search;
use facestyle_face::gallery::store::{self, Location, Store};
use facestyle_face::metric::Verifier;
use facestyle_face::search::Identified;
use facestyle_face::sface::DIM;
use facestyle_style::vgg::Vgg19;
use tokio::sync::Semaphore;

use crate::auth::{Failures, MIN_TOKEN_LEN, Token};
use crate::error::{ApiError, ApiResult};
use crate::gallery_cache::IndexCache;
use crate::jobs::Jobs;
use crate::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub gallery: Location,
    /// How a SQLite gallery is searched: exact, through its approximate index, or by size.
    pub search: Search,
    /// The bearer token set by the operator (`FACESTYLE_TOKEN` or `--token-file`). With one,
    /// every `/v1` route needs it; without one, the server makes a token at start-up that the
    /// write and job routes need, and reads stay open on loopback.
    pub token: Option<String>,
    /// Host names (besides IP literals and `localhost`) accepted in the `Host` header.
    pub allowed_hosts: Vec<String>,
    /// `/metrics` without the token even when one is configured.
    pub public_metrics: bool,
    /// Plain HTTP on a non-loopback address (behind a TLS-terminating proxy on a trusted
    /// network); refused unless set.
    pub allow_plain_http: bool,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Image files one form may carry.
    pub max_files: usize,
    /// Largest image, in pixels (checked from the header before decoding).
    pub max_pixels: u64,
    /// Bytes the decoded images of one request may take, estimated from their headers.
    pub max_decoded_bytes: u64,
    /// Requests decoding or running the networks at once (the rest wait their turn).
    pub max_inflight: usize,
    /// Faces of one image that are embedded (the largest kept).
    pub max_faces: usize,
    /// Open connections at once; beyond it new connections wait in the listen backlog.
    pub max_connections: usize,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    /// Style jobs waiting at most (beyond it: 429).
    pub queue: usize,
    pub style_max_size: u32,
    pub style_max_iterations: usize,
}

impl ServeConfig {
    pub fn new(addr: SocketAddr, gallery: impl Into<Location>, token: Option<String>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServeConfig {
            addr,
            gallery: gallery.into(),
            search: Search::Auto,
            token: token.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
            allowed_hosts: Vec::new(),
            public_metrics: false,
            allow_plain_http: false,
            body_limit: 20 << 20,
            max_files: 16,
            max_pixels: 40_000_000,
            max_decoded_bytes: 512 << 20,
            max_inflight: cores.max(2),
            max_faces: 100,
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            queue: 4,
            style_max_size: 512,
            style_max_iterations: 500,
        }
    }

    /// Refuses set-ups that would expose the gallery: an open address without a token or
    /// over plain HTTP, a short token, limits of zero.
    pub fn check(&self) -> Result<(), String> {
        let loopback = self.addr.ip().is_loopback();
        if self.token.is_none() && !loopback {
            return Err(format!(
                "refusing to listen on {} without a token: set FACESTYLE_TOKEN or --token-file \
                 (every route needs it off loopback)",
                self.addr
            ));
        }
        if let Some(t) = &self.token
            && t.len() < MIN_TOKEN_LEN
        {
            return Err(format!(
                "the token is {} bytes long; use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32`)",
                t.len()
            ));
        }
        if !loopback && !self.allow_plain_http {
            return Err(format!(
                "refusing to serve plain HTTP on {}: the token would cross the network in clear. \
                 Listen on 127.0.0.1 behind a TLS-terminating reverse proxy (docs/serve.md), or pass \
                 --allow-plain-http on a network you trust",
                self.addr
            ));
        }
        let zero = [
            ("body limit", self.body_limit == 0),
            ("max files", self.max_files == 0),
            ("max pixels", self.max_pixels == 0),
            ("max decoded bytes", self.max_decoded_bytes == 0),
            ("max in flight", self.max_inflight == 0),
            ("max faces", self.max_faces == 0),
            ("max connections", self.max_connections == 0),
            ("queue", self.queue == 0),
        ];
        if let Some((what, _)) = zero.iter().find(|(_, z)| *z) {
            return Err(format!("{what} must be at least 1"));
        }
        Ok(())
    }
}

type Loaded<T> = OnceLock<Result<Arc<T>, String>>;

pub struct AppState {
    pub config: ServeConfig,
    pub token: Token,
    /// Failed token checks per client, for the back-off.
    pub failures: Failures,
    engine: Loaded<FaceEngine>,
    /// VGG19, loaded at start-up by the server; a failed load is retried on the next job.
    vgg: Mutex<Option<Arc<Vgg19>>>,
    /// Held while writing the gallery, so concurrent enrolments queue instead of failing on a
    /// busy database.
    gallery_write: Mutex<()>,
    /// Idle PostgreSQL gallery connections (at most one per request handled at once).
    connections: Mutex<Vec<Box<dyn Store>>>,
    pub index: IndexCache,
    /// The SQLite gallery connection that holds its approximate index between requests.
    reader: Mutex<Option<Gallery>>,
    /// Permits to decode images or run the networks; `config.max_inflight` of them.
    pub work: Arc<Semaphore>,
    pub metrics: Metrics,
    pub jobs: Jobs,
    /// The style worker, once started (`/healthz` reports it when it has stopped).
    pub worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl AppState {
    pub fn new(config: ServeConfig) -> Arc<Self> {
        let jobs = Jobs::new(config.queue);
        let token = Token::resolve(config.token.clone());
        Arc::new(AppState {
            work: Arc::new(Semaphore::new(config.max_inflight.max(1))),
            token,
            failures: Failures::default(),
            engine: OnceLock::new(),
            vgg: Mutex::new(None),
            gallery_write: Mutex::new(()),
            connections: Mutex::new(Vec::new()),
            index: IndexCache::default(),
            reader: Mutex::new(None),
            metrics: Metrics::default(),
            jobs,
            worker: Mutex::new(None),
            config,
        })
    }

    /// YuNet + SFace, loaded on first use (the server loads them at start-up).
    pub fn engine(&self) -> ApiResult<Arc<FaceEngine>> {
        self.engine
            .get_or_init(|| {
                let detect = DetectConfig { max_faces: self.config.max_faces, ..DetectConfig::default() };
                FaceEngine::load(detect, facestyle_nn::device::default_device())
                    .map(Arc::new)
                    .map_err(|e| format!("face models: {e}"))
            })
            .clone()
            .map_err(ApiError::internal)
    }

    /// Whether the face models loaded: `None` before the first try.
    pub fn engine_status(&self) -> Option<Result<(), String>> {
        self.engine.get().map(|r| r.as_ref().map(|_| ()).map_err(Clone::clone))
    }

    /// VGG19 on the gradient-recording device, for style jobs. A failure is not remembered:
    /// the next call tries again (after the model is fetched, say).
    pub fn vgg(&self) -> Result<Arc<Vgg19>, String> {
        let mut slot = lock(&self.vgg);
        if let Some(v) = slot.as_ref() {
            return Ok(v.clone());
        }
        let v = Vgg19::load_cached(&facestyle_nn::device::training_device())
            .map(|v| Arc::new(v.no_grad()))
            .map_err(|e| format!("VGG19: {e}"))?;
        *slot = Some(v.clone());
        Ok(v)
    }

    /// True once VGG19 is in memory.
    pub fn vgg_loaded(&self) -> bool {
        lock(&self.vgg).is_some()
    }

    /// The gallery writer's lock. A panic while it was held leaves nothing half-written
    /// (each write is one SQLite transaction), so a poisoned lock is taken over.
    pub fn write_lock(&self) -> MutexGuard<'_, ()> {
        lock(&self.gallery_write)
    }

    /// The SQLite gallery at `path`, opened for this request (created on first enrolment).
    pub fn sqlite(&self, path: &Path, create: bool) -> ApiResult<Gallery> {
        let version =
            facestyle_face::engine::model_version().map_err(|e| ApiError::internal(e.to_string()))?;
        let opened = if create {
            Gallery::open_or_create(path, MODEL_ID, &version)
        } else if path.exists() {
            Gallery::open(path, MODEL_ID, &version)
        } else {
            return Err(ApiError::not_found("the gallery is empty: enroll someone first"));
        };
        opened.map_err(|e| ApiError::internal(e.to_string()))
    }

    /// Identifies `queries` in the SQLite gallery at `path`: through its approximate index
    /// when `config.search` calls for it (one long-lived connection holds the index and brings
    /// it up to date with the gallery's changes before each search), else through the cached
    /// exact index, which requests search in parallel.
    pub fn identify_sqlite(
        &self,
        path: &Path,
        queries: &[&[f32]],
        top: usize,
        verifier: &Verifier,
    ) -> ApiResult<Vec<Identified>> {
        let internal = |e: facestyle_face::FaceError| ApiError::internal(e.to_string());
        if self.config.search != Search::Exact {
            let mut reader = lock(&self.reader);
            if reader.is_none() {
                let mut g = self.sqlite(path, false)?;
                g.set_search(self.config.search);
                *reader = Some(g);
            }
            let g = reader.as_mut().expect("opened");
            if g.uses_approximate(DIM).map_err(internal)? {
                return g.identify(queries, top, verifier).map_err(internal);
            }
        }
        let (index, names) =
            self.index.get(path, || self.sqlite(path, false)?.load_index(DIM).map_err(internal))?;
        Ok(queries.iter().map(|q| index.identify(q, top, verifier, &names)).collect())
    }

    /// Runs `f` on the gallery (created first when `create`): a SQLite file opened for the
    /// request, or a PostgreSQL connection taken from the pool (and put back after a call that
    /// did not fail; a failed one may have lost its connection).
    pub fn with_gallery<T>(
        &self,
        create: bool,
        f: impl FnOnce(&mut dyn Store) -> ApiResult<T>,
    ) -> ApiResult<T> {
        if let Location::File(path) = &self.config.gallery {
            return f(&mut self.sqlite(path, create)?);
        }
        let pooled = lock(&self.connections).pop();
        let mut g = match pooled {
            Some(g) => g,
            None => {
                let version =
                    facestyle_face::engine::model_version().map_err(|e| ApiError::internal(e.to_string()))?;
                // Opened with `create`: the tables are made once, then every call finds them.
                store::open(&self.config.gallery, MODEL_ID, &version, true)
                    .map_err(|e| ApiError::internal(e.to_string()))?
            }
        };
        let out = f(g.as_mut());
        if out.is_ok() {
            let mut pool = lock(&self.connections);
            if pool.len() < self.config.max_inflight {
                pool.push(g);
            }
        }
        out
    }
}

impl Drop for AppState {
    /// Closes the pooled PostgreSQL connections on a thread of their own: each runs a small
    /// runtime that may not be dropped from inside the server's.
    fn drop(&mut self) {
        let connections = std::mem::take(&mut *lock(&self.connections));
        if !connections.is_empty() {
            let _ = std::thread::spawn(move || drop(connections)).join();
        }
    }
}

/// Locks `m`, taking over a lock poisoned by a panic elsewhere: every value the server keeps
/// behind a mutex stays consistent between statements (counters, maps, `()`).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
