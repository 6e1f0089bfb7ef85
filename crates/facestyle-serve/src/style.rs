//! Style routes: submit a job (202 + id, 429 when the queue is full), poll it, fetch the PNG;
//! and the worker thread that runs the jobs. A job that panics is failed and the worker goes
//! on with the next.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use facestyle_style::StyleConfig;
use facestyle_style::picture::{
    DEFAULT_SIZE, MIN_SIDE, check_side, check_size, scaled_dims, to_image, to_tensor,
};
use facestyle_style::quality;
use facestyle_style::transfer::{levels, transfer};
use image::RgbImage;
use image::imageops::{FilterType, resize};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::faces::{form, limits, work};
use crate::form::{File, check_budget, decode};
use crate::jobs::{JobState, JobStatus, StyleRequest};
use crate::state::AppState;

/// The form of `POST /v1/style`.
#[derive(ToSchema)]
pub struct StyleForm {
    /// The picture whose structure is kept.
    #[schema(value_type = String, format = Binary)]
    pub content: Vec<u8>,
    /// The picture whose style is carried over.
    #[schema(value_type = String, format = Binary)]
    pub style: Vec<u8>,
    /// Long side of the result in pixels (at most the server's `--style-max-size`).
    #[schema(default = json!(facestyle_style::picture::DEFAULT_SIZE), minimum = 16)]
    pub size: Option<u32>,
    /// Iterations at full size (at most the server's `--style-max-iterations`).
    #[schema(default = json!(facestyle_style::StyleConfig::default().iterations), minimum = 1)]
    pub iterations: Option<usize>,
}

/// The answer of `POST /v1/style`: the job and where to follow it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Submitted {
    pub id: String,
    /// The job's progress: `/v1/jobs/{id}`.
    pub status: String,
    /// The finished picture: `/v1/jobs/{id}/result.png`.
    pub result: String,
}

/// Queues a style transfer with the library's default settings (the fast preset: L-BFGS
/// from the content image, a coarse pass at a smaller size, then `iterations` at full size).
#[utoipa::path(
    post,
    path = "/v1/style",
    tag = "style",
    security(("bearer" = [])),
    request_body(content = StyleForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Queued", body = Submitted),
        (status = 400, description = "A field is missing or out of range", body = ErrorBody),
        (status = 413, description = "The pictures are over the limits", body = ErrorBody),
        (status = 429, description = "The queue is full", body = ErrorBody),
    )
)]
pub async fn submit(
    State(state): State<Arc<AppState>>,
    m: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Submitted>)> {
    let form = form(&state, m).await?;
    let size: u32 = form.number("size", DEFAULT_SIZE)?;
    let iterations: usize = form.number("iterations", StyleConfig::default().iterations)?;
    let c = &state.config;
    check_size(size, MIN_SIDE, c.style_max_size).map_err(|e| ApiError::bad_request(format!("size: {e}")))?;
    if !(1..=c.style_max_iterations).contains(&iterations) {
        return Err(ApiError::bad_request(format!(
            "iterations {iterations}: expected 1 to {}",
            c.style_max_iterations
        )));
    }
    let (content, style) = (form.file("content")?, form.file("style")?);
    check_budget([&content, &style], &limits(&state))?;
    // Decoded and shrunk to the job's size before queueing: a waiting job holds two small
    // pictures, not two full-resolution photos.
    let picture = move |f: &File| -> ApiResult<RgbImage> {
        let u = decode(f)?;
        check_side(&u.image, size).map_err(|e| ApiError::bad_request(format!("{}: {e}", u.filename)))?;
        Ok(shrink(u.image, size))
    };
    let (content, style) = work(&state, move |_| Ok((picture(&content)?, picture(&style)?))).await?;
    match state.jobs.submit(content, style, size, iterations) {
        Some(id) => Ok((
            StatusCode::ACCEPTED,
            Json(Submitted {
                status: format!("/v1/jobs/{id}"),
                result: format!("/v1/jobs/{id}/result.png"),
                id,
            }),
        )),
        None => Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "the style queue is full: try again later")),
    }
}

/// `img` scaled down (never up) to the long side `size`, as the transfer will see it.
fn shrink(img: RgbImage, size: u32) -> RgbImage {
    if img.width().max(img.height()) <= size {
        return img;
    }
    let (w, h) = scaled_dims(&img, size);
    resize(&img, w, h, FilterType::Triangle)
}

/// A style job's progress: its state, steps done of all levels' steps, the loss; once done,
/// `ssim` (structure kept) and `style_ratio` (style carried).
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "style",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id from `POST /v1/style`")),
    responses(
        (status = 200, description = "The job's progress", body = JobStatus),
        (status = 404, description = "No such job (or no longer kept)", body = ErrorBody),
    )
)]
pub async fn status(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobStatus>> {
    state.jobs.status(&id).map(Json).ok_or_else(|| ApiError::not_found("no such job"))
}

/// The finished picture of a style job.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/result.png",
    tag = "style",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id from `POST /v1/style`")),
    responses(
        (status = 200, description = "The picture", content_type = "image/png", body = Vec<u8>),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is not done", body = ErrorBody),
    )
)]
pub async fn result(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<Response> {
    let s = state.jobs.status(&id).ok_or_else(|| ApiError::not_found("no such job"))?;
    match (s.state, s.result_png) {
        (JobState::Done, Some(png)) => {
            Ok(([(header::CONTENT_TYPE, "image/png")], png.to_vec()).into_response())
        }
        (state, _) => Err(ApiError::new(StatusCode::CONFLICT, format!("the job is {state:?}, not done"))),
    }
}

/// The latest intermediate picture of a style job: a new one every few steps while it runs
/// (`PREVIEW_EVERY`), the result once done; 409 before the first one.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/preview.png",
    tag = "style",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id from `POST /v1/style`")),
    responses(
        (status = 200, description = "The latest picture", content_type = "image/png", body = Vec<u8>),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "No picture yet", body = ErrorBody),
    )
)]
pub async fn preview(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<Response> {
    let s = state.jobs.status(&id).ok_or_else(|| ApiError::not_found("no such job"))?;
    match s.result_png.or(s.preview_png) {
        Some(png) => {
            Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "no-store")], png.to_vec())
                .into_response())
        }
        None => Err(ApiError::new(StatusCode::CONFLICT, format!("the job is {:?}, no picture yet", s.state))),
    }
}

/// Steps between two preview pictures.
pub const PREVIEW_EVERY: usize = 5;

fn png_bytes(img: &RgbImage) -> Result<Vec<u8>, String> {
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).map_err(|e| e.to_string())?;
    Ok(png)
}

/// What runs one job: the PNG, `None` when cancelled, or the reason it failed.
pub type Runner = fn(&AppState, &StyleRequest) -> Result<Option<Vec<u8>>, String>;

/// The worker: runs queued jobs one at a time until shutdown (kept in `state.worker`).
pub fn spawn_worker(state: Arc<AppState>) {
    spawn_worker_with(state, run_transfer)
}

/// [`spawn_worker`] with another way to run a job.
pub fn spawn_worker_with(state: Arc<AppState>, runner: Runner) {
    let Some(rx) = state.jobs.take_receiver() else { return };
    let s = state.clone();
    let handle = std::thread::spawn(move || {
        loop {
            if s.jobs.cancel.load(Ordering::SeqCst) {
                break;
            }
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(req) => run(&s, req, runner),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    *crate::state::lock(&state.worker) = Some(handle);
}

/// Waits for the worker to stop (after [`crate::jobs::Jobs::shutdown`]).
pub fn join_worker(state: &AppState) {
    let handle = crate::state::lock(&state.worker).take();
    if let Some(h) = handle {
        let _ = h.join();
    }
}

fn run(state: &AppState, req: StyleRequest, runner: Runner) {
    let jobs = &state.jobs;
    if jobs.cancel.load(Ordering::SeqCst) {
        jobs.update(&req.id, |s| s.state = JobState::Cancelled);
        return;
    }
    jobs.update(&req.id, |s| s.state = JobState::Running);
    let outcome = catch_unwind(AssertUnwindSafe(|| runner(state, &req))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!("internal error: the style transfer panicked ({what})"))
    });
    jobs.update(&req.id, |s| match outcome {
        Ok(Some(png)) => {
            s.state = JobState::Done;
            s.result_png = Some(Arc::new(png));
        }
        Ok(None) => {
            s.state = JobState::Cancelled;
            s.error = Some("the server shut down".into());
        }
        Err(e) => {
            s.state = JobState::Failed;
            s.error = Some(e);
        }
    });
}

/// A job's settings: the library's defaults (the fast preset) with the job's iterations.
pub fn job_config(iterations: usize) -> StyleConfig {
    StyleConfig { iterations, ..StyleConfig::default() }
}

/// The style transfer itself, with [`job_config`].
fn run_transfer(state: &AppState, req: &StyleRequest) -> Result<Option<Vec<u8>>, String> {
    let jobs = &state.jobs;
    let vgg = state.vgg()?;
    let device = facestyle_nn::device::training_device();
    let content = to_tensor(&req.content, req.size, &device);
    let style = to_tensor(&req.style, req.size, &device);
    let config = job_config(req.iterations);
    let [_, _, h, w] = content.dims();
    let steps: usize = levels(&config, h, w).iter().map(|l| l.1).sum();
    jobs.update(&req.id, |s| s.steps = steps);
    let styles = [(style, 1.0)];
    let out = transfer(&vgg, content.clone(), &styles, &config, &mut |c, g| {
        let preview = (c.step % PREVIEW_EVERY == 0)
            .then(|| png_bytes(&to_image(g.clone().detach())).ok())
            .flatten()
            .map(Arc::new);
        jobs.update(&req.id, |s| {
            s.step = c.step + 1;
            s.loss = Some(c.total);
            s.evaluations = c.evals;
            if let Some(p) = preview {
                s.preview_png = Some(p);
                s.preview_step = Some(c.step);
            }
        });
        !jobs.cancel.load(Ordering::SeqCst)
    });
    if out.stopped {
        return Ok(None);
    }
    let q = quality::measure(&vgg, out.image.clone(), content, &styles, &config);
    jobs.update(&req.id, |s| {
        s.ssim = Some(q.ssim);
        s.style_ratio = Some(q.style_ratio);
    });
    Ok(Some(png_bytes(&to_image(out.image))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_runs_the_library_defaults() {
        assert_eq!(job_config(StyleConfig::default().iterations), StyleConfig::default());
        let c = job_config(3);
        assert_eq!(c.iterations, 3);
        assert_eq!(
            StyleConfig { iterations: StyleConfig::default().iterations, ..c },
            StyleConfig::default()
        );
    }
}
