//! Style routes: submit a job (202 + id, 429 when the queue is full), poll it, fetch the PNG;
//! and the worker thread that runs the jobs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use facestyle_style::picture::{check_side, to_image, to_tensor};
use facestyle_style::transfer::{Init, Method, StyleConfig, transfer};
use facestyle_style::vgg::{Pooling, layer_index};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::faces::form;
use crate::form::image;
use crate::jobs::{JobState, StyleRequest};
use crate::state::AppState;

pub async fn submit(
    State(state): State<Arc<AppState>>,
    m: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let form = form(m).await?;
    let size: u32 = form.number("size", 256)?;
    let iterations: usize = form.number("iterations", 100)?;
    let c = &state.config;
    if !(16..=c.style_max_size).contains(&size) {
        return Err(ApiError::bad_request(format!(
            "size {size}: expected 16 to {} pixels",
            c.style_max_size
        )));
    }
    if !(1..=c.style_max_iterations).contains(&iterations) {
        return Err(ApiError::bad_request(format!(
            "iterations {iterations}: expected 1 to {}",
            c.style_max_iterations
        )));
    }
    let (content, style) = (image(&form, "content")?, image(&form, "style")?);
    for u in [&content, &style] {
        check_side(&u.image, size).map_err(|e| ApiError::bad_request(format!("{}: {e}", u.filename)))?;
    }
    match state.jobs.submit(content.image, style.image, size, iterations) {
        Some(id) => Ok((
            StatusCode::ACCEPTED,
            Json(
                json!({"id": id, "status": format!("/v1/jobs/{id}"), "result": format!("/v1/jobs/{id}/result.png")}),
            ),
        )),
        None => Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "the style queue is full: try again later")),
    }
}

pub async fn status(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let s = state.jobs.status(&id).ok_or_else(|| ApiError::not_found(format!("no job '{id}'")))?;
    Ok(Json(serde_json::to_value(&s).expect("serialisable")))
}

pub async fn result(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<Response> {
    let s = state.jobs.status(&id).ok_or_else(|| ApiError::not_found(format!("no job '{id}'")))?;
    match (s.state, s.result_png) {
        (JobState::Done, Some(png)) => {
            Ok(([(header::CONTENT_TYPE, "image/png")], png.to_vec()).into_response())
        }
        (state, _) => Err(ApiError::new(StatusCode::CONFLICT, format!("job '{id}' is {state:?}, not done"))),
    }
}

/// The worker: runs queued jobs one at a time until shutdown.
pub fn spawn_worker(state: Arc<AppState>) -> Option<std::thread::JoinHandle<()>> {
    let rx = state.jobs.take_receiver()?;
    Some(std::thread::spawn(move || {
        loop {
            if state.jobs.cancel.load(Ordering::SeqCst) {
                break;
            }
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(req) => run(&state, req),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    }))
}

fn run(state: &AppState, req: StyleRequest) {
    let jobs = &state.jobs;
    if jobs.cancel.load(Ordering::SeqCst) {
        jobs.update(&req.id, |s| s.state = JobState::Cancelled);
        return;
    }
    jobs.update(&req.id, |s| s.state = JobState::Running);
    let outcome = (|| -> Result<Option<Vec<u8>>, String> {
        let vgg = state.vgg()?;
        let device = facestyle_nn::device::training_device();
        let content = to_tensor(&req.content, req.size, &device);
        let style = to_tensor(&req.style, req.size, &device);
        let config = StyleConfig {
            method: Method::Adam,
            content_layer: layer_index("conv4_2").expect("a VGG19 layer"),
            style_layers: ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
                .iter()
                .map(|l| (layer_index(l).expect("a VGG19 layer"), 0.2))
                .collect(),
            alpha: 1.0,
            beta: 1e3,
            tv_weight: 0.0,
            iterations: req.iterations,
            lr: 5.0,
            pooling: Pooling::Max,
            init: Init::Content,
            seed: 1,
        };
        let out = transfer(&vgg, content, &[(style, 1.0)], &config, &mut |c, _| {
            jobs.update(&req.id, |s| {
                s.step = c.step + 1;
                s.loss = Some(c.total);
            });
            !jobs.cancel.load(Ordering::SeqCst)
        });
        if out.stopped {
            return Ok(None);
        }
        let mut png = Vec::new();
        to_image(out.image)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| e.to_string())?;
        Ok(Some(png))
    })();
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
