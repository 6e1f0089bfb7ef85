//! Face routes: verify, identify, enroll, people, forget. Inference runs on the blocking pool,
//! off the async runtime threads.

use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use facestyle_face::engine::FaceEmbedding;
use facestyle_face::gallery::NewEmbedding;
use facestyle_face::metric::Metric;
use facestyle_face::search::name_or_unknown;
use facestyle_face::sface::DIM;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::form::{Form, Upload, image, images};
use crate::state::AppState;

/// Runs `f` on the blocking pool.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}

pub async fn form(m: Result<Multipart, MultipartRejection>) -> ApiResult<Form> {
    let m = m.map_err(|e| {
        ApiError::new(e.status(), format!("expected a multipart/form-data body: {}", e.body_text()))
    })?;
    Form::read(m).await
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
    let form = form(m).await?;
    let (metric, threshold) = metric_and_threshold(&form)?;
    let (a, b) = (image(&form, "a")?, image(&form, "b")?);
    blocking(move || {
        let (fa, na) = largest(&state, &a)?;
        let (fb, nb) = largest(&state, &b)?;
        let d = metric.distance(&fa.embedding, &fb.embedding);
        Ok(Json(json!({
            "distance": d, "threshold": threshold, "same": d <= threshold, "metric": metric.name(),
            "a": {"image": a.filename, "faces": na, "bbox": fa.face.bbox},
            "b": {"image": b.filename, "faces": nb, "bbox": fb.face.bbox},
        })))
    })
    .await
}

pub async fn identify(
    State(state): State<Arc<AppState>>,
    m: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Value>> {
    let form = form(m).await?;
    let (metric, threshold) = metric_and_threshold(&form)?;
    let top: usize = form.number("top", 3)?;
    if top == 0 {
        return Err(ApiError::bad_request("top must be at least 1"));
    }
    let img = image(&form, "image")?;
    blocking(move || {
        let gallery = state.gallery(false)?;
        let (index, names) = gallery.load_index(DIM).map_err(|e| ApiError::internal(e.to_string()))?;
        let found = state.engine()?.analyze(&img.image);
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
                json!({"bbox": f.face.bbox, "score": f.face.score, "name": name,
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
    let form = form(m).await?;
    let name = form.required_text("name")?.to_string();
    if name.len() > 200 {
        return Err(ApiError::bad_request("name is longer than 200 characters"));
    }
    let photos = images(&form, "image")?;
    blocking(move || {
        // Every photo is checked before the gallery is touched: all or nothing.
        let mut rows = Vec::new();
        for p in &photos {
            let (found, _) = largest(&state, p)?;
            rows.push(NewEmbedding {
                image_sha256: p.sha256.clone(),
                image_path: p.filename.clone(),
                bbox: found.face.bbox,
                vector: found.embedding,
            });
        }
        let _writer = state.gallery_write.lock().map_err(|_| ApiError::internal("gallery lock poisoned"))?;
        let mut gallery = state.gallery(true)?;
        let total = gallery.enroll(&name, &rows).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(Json(json!({"name": name, "added": rows.len(), "embeddings": total})))
    })
    .await
}

pub async fn people(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    blocking(move || {
        if !state.config.gallery.exists() {
            return Ok(Json(json!({"people": []})));
        }
        let people = state.gallery(false)?.people().map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Json(json!({ "people": people })))
    })
    .await
}

pub async fn forget(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    blocking(move || {
        let _writer = state.gallery_write.lock().map_err(|_| ApiError::internal("gallery lock poisoned"))?;
        let removed = state.gallery(false)?.forget(&name).map_err(|e| ApiError::internal(e.to_string()))?;
        if !removed {
            return Err(ApiError::not_found(format!("no one named '{name}' in the gallery")));
        }
        Ok(Json(json!({"forgotten": name})))
    })
    .await
}
