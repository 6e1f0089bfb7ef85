//! Face routes: verify, identify, enroll, people, forget. The form is read on the async
//! threads (bytes only) and checked against the limits; decoding and the networks run on the
//! blocking pool, at most `max_inflight` requests at a time.

use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use facestyle_face::FaceError;
use facestyle_face::engine::FaceEmbedding;
use facestyle_face::gallery::NewEmbedding;
use facestyle_face::metric::Metric;
use facestyle_face::search::name_or_unknown;
use facestyle_face::sface::DIM;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::form::{File, Form, ImageLimits, Upload, check_budget, decode};
use crate::state::AppState;

/// Runs `f` with the state on the blocking pool once one of the server's work permits is
/// free.
pub async fn work<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&AppState) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let permit =
        state.work.clone().acquire_owned().await.map_err(|_| ApiError::internal("the server is stopping"))?;
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let out = f(&state);
        drop(permit);
        out
    })
    .await
    .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}

pub async fn form(state: &AppState, m: Result<Multipart, MultipartRejection>) -> ApiResult<Form> {
    let m = m.map_err(|e| {
        ApiError::new(e.status(), format!("expected a multipart/form-data body: {}", e.body_text()))
    })?;
    Form::read(m, state.config.max_files).await
}

/// The server's limits on decoded images.
pub fn limits(state: &AppState) -> ImageLimits {
    ImageLimits { max_pixels: state.config.max_pixels, max_decoded_bytes: state.config.max_decoded_bytes }
}

fn largest(state: &AppState, u: &Upload) -> ApiResult<(FaceEmbedding, usize)> {
    state.engine()?.largest_face(&u.image).ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{}: no face found", u.filename))
    })
}

fn metric_and_threshold(form: &Form) -> ApiResult<(Metric, f32)> {
    let metric = match form.text("metric") {
        None => Metric::SqL2,
        Some(m) => Metric::parse(m)
            .ok_or_else(|| ApiError::bad_request(format!("metric '{m}': expected sq-l2 or cosine")))?,
    };
    let threshold: f32 = form.number("threshold", metric.default_threshold())?;
    if !threshold.is_finite() {
        return Err(ApiError::bad_request("threshold must be a finite number"));
    }
    Ok((metric, threshold))
}

pub async fn verify(
    State(state): State<Arc<AppState>>,
    m: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Value>> {
    let form = form(&state, m).await?;
    let (metric, threshold) = metric_and_threshold(&form)?;
    let (a, b) = (form.file("a")?, form.file("b")?);
    check_budget([&a, &b], &limits(&state))?;
    work(&state, move |s| {
        let (a, b) = (decode(&a)?, decode(&b)?);
        let (fa, na) = largest(s, &a)?;
        let (fb, nb) = largest(s, &b)?;
        let d = metric.distance(&fa.embedding, &fb.embedding);
        Ok(Json(json!({
            "distance": d, "threshold": threshold, "same": d <= threshold, "metric": metric.name(),
            "a": {"image": a.filename, "faces": na, "bbox": fa.face.bbox, "fallback": fa.face.fallback},
            "b": {"image": b.filename, "faces": nb, "bbox": fb.face.bbox, "fallback": fb.face.fallback},
        })))
    })
    .await
}

pub async fn identify(
    State(state): State<Arc<AppState>>,
    m: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Value>> {
    let form = form(&state, m).await?;
    let (metric, threshold) = metric_and_threshold(&form)?;
    let top: usize = form.number("top", 3)?;
    if !(1..=100).contains(&top) {
        return Err(ApiError::bad_request("top must be 1 to 100"));
    }
    let file = form.file("image")?;
    check_budget([&file], &limits(&state))?;
    work(&state, move |s| {
        let img = decode(&file)?;
        let (index, names) = s.index.get(&s.config.gallery, || {
            s.gallery(false)?.load_index(DIM).map_err(|e| ApiError::internal(e.to_string()))
        })?;
        let found = s.engine()?.analyze(&img.image);
        let faces: Vec<Value> = found
            .iter()
            .map(|f| {
                let hits = index.search(&f.embedding, top, metric);
                let best = hits.first().copied();
                let name = name_or_unknown(best.as_ref(), &names, threshold);
                let candidates: Vec<Value> = hits
                    .iter()
                    .map(|h| json!({"name": names[h.owner as usize], "distance": h.distance}))
                    .collect();
                json!({"bbox": f.face.bbox, "score": f.face.score, "fallback": f.face.fallback, "name": name,
                    "distance": best.map(|h| h.distance), "candidates": candidates})
            })
            .collect();
        Ok(Json(json!({"image": img.filename, "width": img.image.width(), "height": img.image.height(),
            "metric": metric.name(), "threshold": threshold, "faces": faces})))
    })
    .await
}

pub async fn enroll(
    State(state): State<Arc<AppState>>,
    m: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Value>> {
    let form = form(&state, m).await?;
    let name = facestyle_face::gallery::check_name(form.required_text("name")?)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let files: Vec<File> = form.files("image")?;
    check_budget(&files, &limits(&state))?;
    work(&state, move |s| {
        // Every photo is checked before the gallery is touched: all or nothing.
        let (mut rows, mut photos) = (Vec::new(), Vec::new());
        for f in &files {
            let p = decode(f)?;
            let (found, _) = largest(s, &p)?;
            photos.push(json!({"image": p.filename, "fallback": found.face.fallback}));
            rows.push(NewEmbedding {
                image_sha256: p.sha256.clone(),
                image_path: p.filename.clone(),
                bbox: found.face.bbox,
                vector: found.embedding,
            });
        }
        let _writer = s.write_lock();
        let mut gallery = s.gallery(true)?;
        let done = gallery.enroll_report(&name, &rows).map_err(write_error);
        s.index.changed();
        let done = done?;
        Ok(Json(json!({"name": done.name, "added": done.added, "already_present": done.already_present,
            "embeddings": done.total, "photos": photos})))
    })
    .await
}

/// A failed gallery write: the caller's mistake (400), the storage refusing it for now
/// (read-only, full: 503; the transaction left the gallery as it was), or the server's (500).
fn write_error(e: FaceError) -> ApiError {
    match &e {
        FaceError::Name { .. } => ApiError::bad_request(e.to_string()),
        FaceError::Gallery { problem, .. }
            if problem.contains("cannot write") || problem.contains("cannot be written") =>
        {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("the gallery {problem}"))
        }
        _ => ApiError::internal(e.to_string()),
    }
}

pub async fn people(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    work(&state, move |s| {
        if !s.config.gallery.exists() {
            return Ok(Json(json!({"people": []})));
        }
        let people = s.gallery(false)?.people().map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Json(json!({ "people": people })))
    })
    .await
}

pub async fn forget(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    work(&state, move |s| {
        let _writer = s.write_lock();
        let removed = s.gallery(false)?.forget(&name).map_err(write_error)?;
        s.index.changed();
        if !removed {
            return Err(ApiError::not_found(format!("no one named '{name}' in the gallery")));
        }
        Ok(Json(json!({"forgotten": name})))
    })
    .await
}
