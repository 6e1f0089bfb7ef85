//! `/healthz`: 200 when the server can do its work, 503 with the reasons when it cannot (the
//! face models failed to load, the style worker stopped). VGG19 not loaded (the style model
//! missing) leaves faces working: `degraded`, still 200.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::{AppState, lock};

/// Whether the server can do its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Faces and style transfer work.
    Ok,
    /// Faces work; style transfer waits for VGG19.
    Degraded,
    /// Something the server needs has failed (see `problems`).
    Unhealthy,
}

/// Style jobs waiting and running.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobCounts {
    pub queued: usize,
    pub running: usize,
}

/// The answer of `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: Status,
    /// What is wrong, when unhealthy.
    pub problems: Vec<String>,
    /// `loaded`, `failed` or `not loaded yet`.
    pub face_models: String,
    /// `running`, `stopped` or `not started`.
    pub style_worker: String,
    /// `loaded` or `not loaded`.
    pub vgg19: String,
    /// Requests that may start decoding now.
    pub work_permits_free: usize,
    pub style_jobs: JobCounts,
}

/// Health: the models loaded, the style worker running.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "server",
    responses(
        (status = 200, description = "ok or degraded", body = Health),
        (status = 503, description = "unhealthy, with the problems", body = Health),
    )
)]
pub async fn healthz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
    let mut problems = Vec::new();
    let faces = match state.engine_status() {
        Some(Ok(())) => "loaded".to_string(),
        Some(Err(e)) => {
            problems.push(format!("face models: {e}"));
            "failed".to_string()
        }
        None => "not loaded yet".to_string(),
    };
    let worker = match lock(&state.worker).as_ref() {
        None => "not started",
        Some(h) if h.is_finished() => {
            problems.push("the style worker has stopped".to_string());
            "stopped"
        }
        Some(_) => "running",
    };
    let vgg = state.vgg_loaded();
    let (queued, running) = state.jobs.counts();
    let status = match (problems.is_empty(), vgg) {
        (false, _) => Status::Unhealthy,
        (true, false) => Status::Degraded,
        (true, true) => Status::Ok,
    };
    let code = if problems.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        code,
        Json(Health {
            status,
            problems,
            face_models: faces,
            style_worker: worker.to_string(),
            vgg19: if vgg { "loaded" } else { "not loaded" }.to_string(),
            work_permits_free: state.work.available_permits(),
            style_jobs: JobCounts { queued, running },
        }),
    )
}
