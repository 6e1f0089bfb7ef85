//! Server configuration and the state every handler shares: the models (loaded once), the
//! gallery path with a lock that serialises writers, metrics and the style jobs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use burn::module::Module;
use facestyle_face::detect::DetectConfig;
use facestyle_face::engine::{FaceEngine, MODEL_ID};
use facestyle_face::gallery::Gallery;
use facestyle_style::vgg::Vgg19;

use crate::error::{ApiError, ApiResult};
use crate::jobs::Jobs;
use crate::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub gallery: PathBuf,
    /// Bearer token for the write routes; required unless `addr` is a loopback address.
    pub token: Option<String>,
    /// Largest request body in bytes.
    pub body_limit: usize,
    pub request_timeout: Duration,
    /// Style jobs waiting at most (beyond it: 429).
    pub queue: usize,
    pub style_max_size: u32,
    pub style_max_iterations: usize,
}

impl ServeConfig {
    pub fn new(addr: SocketAddr, gallery: PathBuf, token: Option<String>) -> Self {
        ServeConfig {
            addr,
            gallery,
            token: token.filter(|t| !t.is_empty()),
            body_limit: 20 << 20,
            request_timeout: Duration::from_secs(60),
            queue: 4,
            style_max_size: 512,
            style_max_iterations: 500,
        }
    }

    /// Refuses to serve write routes openly beyond this machine.
    pub fn check(&self) -> Result<(), String> {
        if self.token.is_none() && !self.addr.ip().is_loopback() {
            return Err(format!(
                "refusing to listen on {} without a token: set FACESTYLE_TOKEN (write routes need it \
                 off loopback)",
                self.addr
            ));
        }
        Ok(())
    }
}

type Loaded<T> = OnceLock<Result<Arc<T>, String>>;

pub struct AppState {
    pub config: ServeConfig,
    engine: Loaded<FaceEngine>,
    vgg: Loaded<Vgg19>,
    /// Held while writing the gallery, so concurrent enrolments queue instead of failing on a
    /// busy database.
    pub gallery_write: Mutex<()>,
    pub metrics: Metrics,
    pub jobs: Jobs,
}

impl AppState {
    pub fn new(config: ServeConfig) -> Arc<Self> {
        let jobs = Jobs::new(config.queue);
        Arc::new(AppState {
            config,
            engine: OnceLock::new(),
            vgg: OnceLock::new(),
            gallery_write: Mutex::new(()),
            metrics: Metrics::default(),
            jobs,
        })
    }

    /// YuNet + SFace, loaded on first use (the server loads them at start-up).
    pub fn engine(&self) -> ApiResult<Arc<FaceEngine>> {
        self.engine
            .get_or_init(|| {
                FaceEngine::load(DetectConfig::default(), facestyle_nn::device::default_device())
                    .map(Arc::new)
                    .map_err(|e| format!("face models: {e}"))
            })
            .clone()
            .map_err(ApiError::internal)
    }

    /// VGG19 on the gradient-recording device, for style jobs.
    pub fn vgg(&self) -> Result<Arc<Vgg19>, String> {
        self.vgg
            .get_or_init(|| {
                Vgg19::load_cached(&facestyle_nn::device::training_device())
                    .map(|v| Arc::new(v.no_grad()))
                    .map_err(|e| format!("VGG19: {e}"))
            })
            .clone()
    }

    /// The gallery, opened for this request (created on first enrolment).
    pub fn gallery(&self, create: bool) -> ApiResult<Gallery> {
        let version =
            facestyle_face::engine::model_version().map_err(|e| ApiError::internal(e.to_string()))?;
        let path = &self.config.gallery;
        let opened = if create {
            Gallery::open_or_create(path, MODEL_ID, &version)
        } else if path.exists() {
            Gallery::open(path, MODEL_ID, &version)
        } else {
            return Err(ApiError::not_found("the gallery is empty: enroll someone first"));
        };
        opened.map_err(|e| ApiError::internal(e.to_string()))
    }
}
