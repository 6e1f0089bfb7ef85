//! `/healthz`: 200 when the server can do its work, 503 with the reasons when it cannot (the
//! face models failed to load, the style worker stopped). VGG19 not loaded (the style model
//! missing) leaves faces working: `degraded`, still 200.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::{AppState, lock};

pub async fn healthz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
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
        (false, _) => "unhealthy",
        (true, false) => "degraded",
        (true, true) => "ok",
    };
    let code = if problems.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        code,
        Json(json!({
            "status": status, "problems": problems, "face_models": faces, "style_worker": worker,
            "vgg19": if vgg { "loaded" } else { "not loaded" },
            "work_permits_free": state.work.available_permits(),
            "style_jobs": {"queued": queued, "running": running},
        })),
    )
}
