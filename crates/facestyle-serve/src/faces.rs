//! Face routes: verify, identify, enroll, people, forget. The form is read on the async
//! threads (bytes only) and checked against the limits; decoding and the networks run on the
//! blocking pool, at most `max_inflight` requests at a time.

use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use facestyle_face::FaceError;
use facestyle_face::detect::Fallback;
use facestyle_face::engine::FaceEmbedding;
use facestyle_face::gallery::store::Location;
use facestyle_face::gallery::{Enrolled, EnrolledPhoto, NewEmbedding, Person};
use facestyle_face::metric::{Metric, Verdict, Verifier};
use facestyle_face::search::{Identified, NamedFace};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorBody};
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

/// The form of `POST /v1/verify`.
#[derive(ToSchema)]
pub struct VerifyForm {
    /// The first photo (its largest face is compared).
    #[schema(value_type = String, format = Binary)]
    pub a: Vec<u8>,
    /// The second photo.
    #[schema(value_type = String, format = Binary)]
    pub b: Vec<u8>,
    /// `sq-l2` (default) or `cosine`.
    pub metric: Option<Metric>,
    /// Same person when the distance is at most this (default: the metric's threshold for
    /// SFace).
    #[schema(minimum = 0.0)]
    pub threshold: Option<f32>,
}

/// The form of `POST /v1/identify`.
#[derive(ToSchema)]
pub struct IdentifyForm {
    /// The photo whose faces are named.
    #[schema(value_type = String, format = Binary)]
    pub image: Vec<u8>,
    /// Candidates listed per face (default 3).
    #[schema(minimum = 1, maximum = 100)]
    pub top: Option<usize>,
    /// `sq-l2` (default) or `cosine`.
    pub metric: Option<Metric>,
    /// A face is named when its closest person is at most this far (default: the metric's
    /// threshold for SFace).
    #[schema(minimum = 0.0)]
    pub threshold: Option<f32>,
}

/// The form of `POST /v1/enroll`.
#[derive(ToSchema)]
pub struct EnrollForm {
    /// Who the photos show.
    pub name: String,
    /// One or more photos, each with one face (the largest is taken); all or none are
    /// stored.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub image: Vec<Vec<u8>>,
}

/// The face of one photo that a verification compared.
#[derive(Debug, Serialize, ToSchema)]
pub struct Compared {
    /// The photo's file name.
    pub image: String,
    /// Faces found in the photo.
    pub faces: usize,
    /// `[x, y, width, height]` of the largest face, the one compared.
    pub bbox: [f32; 4],
    /// How the face was found when the detector's pass at its threshold found none.
    pub fallback: Option<Fallback>,
}

/// The answer of `POST /v1/verify`: the verdict and the two faces compared.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    #[serde(flatten)]
    pub verdict: Verdict,
    pub a: Compared,
    pub b: Compared,
}

/// The answer of `POST /v1/identify`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Identification {
    /// The photo's file name.
    pub image: String,
    pub width: u32,
    pub height: u32,
    pub metric: Metric,
    pub threshold: f32,
    /// Every face found, named or `unknown`.
    pub faces: Vec<NamedFace>,
}

/// The answer of `POST /v1/enroll`: what was stored, and how each photo's face was found.
#[derive(Debug, Serialize, ToSchema)]
pub struct Enrollment {
    #[serde(flatten)]
    pub enrolled: Enrolled,
    pub photos: Vec<EnrolledPhoto>,
}

/// The answer of `GET /v1/people`.
#[derive(Debug, Serialize, ToSchema)]
pub struct People {
    pub people: Vec<Person>,
}

/// The answer of `DELETE /v1/people/{name}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Forgotten {
    /// The name of the person removed.
    pub forgotten: String,
}

fn verifier(form: &Form) -> ApiResult<Verifier> {
    let metric = match form.text("metric") {
        None => Metric::SqL2,
        Some(m) => Metric::parse(m)
            .ok_or_else(|| ApiError::bad_request(format!("metric '{m}': expected sq-l2 or cosine")))?,
    };
    let threshold: f32 = form.number("threshold", metric.default_threshold())?;
    Verifier::new(metric, threshold).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Distance between the largest faces of two photos.
#[utoipa::path(
    post,
    path = "/v1/verify",
    tag = "faces",
    security(("bearer" = [])),
    request_body(content = VerifyForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The distance, the threshold and the decision", body = Verified),
        (status = 400, description = "A field is missing or malformed", body = ErrorBody),
        (status = 413, description = "The photos are over the limits", body = ErrorBody),
        (status = 422, description = "A photo has no face", body = ErrorBody),
    )
)]
pub async fn verify(
    State(state): State<Arc<AppState>>,
    m: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Verified>> {
    let form = form(&state, m).await?;
    let verifier = verifier(&form)?;
    let (a, b) = (form.file("a")?, form.file("b")?);
    check_budget([&a, &b], &limits(&state))?;
    work(&state, move |s| {
        let (a, b) = (decode(&a)?, decode(&b)?);
        let (fa, na) = largest(s, &a)?;
        let (fb, nb) = largest(s, &b)?;
        let compared = |u: Upload, f: &FaceEmbedding, faces: usize| Compared {
            image: u.filename,
            faces,
            bbox: f.face.bbox,
            fallback: f.face.fallback,
        };
        Ok(Json(Verified {
            verdict: verifier.verdict(&fa.embedding, &fb.embedding),
            a: compared(a, &fa, na),
            b: compared(b, &fb, nb),
        }))
    })
    .await
}

/// A name (or `unknown`) for every face of a photo, with the closest people.
#[utoipa::path(
    post,
    path = "/v1/identify",
    tag = "faces",
    security(("bearer" = [])),
    request_body(content = IdentifyForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Every face found, with its name and candidates", body = Identification),
        (status = 400, description = "A field is missing or malformed", body = ErrorBody),
        (status = 413, description = "The photo is over the limits", body = ErrorBody),
    )
)]
pub async fn identify(
    State(state): State<Arc<AppState>>,
    m: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Identification>> {
    let form = form(&state, m).await?;
    let verifier = verifier(&form)?;
    let top: usize = form.number("top", 3)?;
    if !(1..=100).contains(&top) {
        return Err(ApiError::bad_request("top must be 1 to 100"));
    }
    let file = form.file("image")?;
    check_budget([&file], &limits(&state))?;
    work(&state, move |s| {
        let img = decode(&file)?;
        let found = s.engine()?.analyze(&img.image);
        let named: Vec<Identified> = match &s.config.gallery {
            Location::File(path) => {
                let queries: Vec<&[f32]> = found.iter().map(|f| f.embedding.as_slice()).collect();
                s.identify_sqlite(path, &queries, top, &verifier)?
            }
            Location::Postgres(_) | Location::Sharded(_) => {
                let queries: Vec<&[f32]> = found.iter().map(|f| f.embedding.as_slice()).collect();
                s.with_gallery(false, |g| {
                    g.identify(&queries, top, &verifier).map_err(|e| ApiError::internal(e.to_string()))
                })?
            }
        };
        let faces = found.iter().zip(named).map(|(f, who)| NamedFace::new(&f.face, who)).collect();
        Ok(Json(Identification {
            width: img.image.width(),
            height: img.image.height(),
            image: img.filename,
            metric: verifier.metric,
            threshold: verifier.threshold,
            faces,
        }))
    })
    .await
}

/// Enrolls a person from one or more photos, in one transaction.
#[utoipa::path(
    post,
    path = "/v1/enroll",
    tag = "faces",
    security(("bearer" = [])),
    request_body(content = EnrollForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Enrolled", body = Enrollment),
        (status = 400, description = "A field is missing or the name is not allowed", body = ErrorBody),
        (status = 413, description = "The photos are over the limits", body = ErrorBody),
        (status = 422, description = "A photo has no face (nothing was stored)", body = ErrorBody),
        (status = 503, description = "The gallery cannot be written now (nothing was stored)", body = ErrorBody),
    )
)]
pub async fn enroll(
    State(state): State<Arc<AppState>>,
    m: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<Enrollment>> {
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
            photos.push(EnrolledPhoto { image: p.filename.clone(), fallback: found.face.fallback });
            rows.push(NewEmbedding {
                image_sha256: p.sha256.clone(),
                image_path: p.filename.clone(),
                bbox: found.face.bbox,
                vector: found.embedding,
            });
        }
        let _writer = s.write_lock();
        let done = s.with_gallery(true, |g| g.enroll(&name, &rows).map_err(write_error));
        s.index.changed();
        Ok(Json(Enrollment { enrolled: done?, photos }))
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

/// The enrolled people.
#[utoipa::path(
    get,
    path = "/v1/people",
    tag = "faces",
    security(("bearer" = [])),
    responses((status = 200, description = "Everyone in the gallery", body = People))
)]
pub async fn people(State(state): State<Arc<AppState>>) -> ApiResult<Json<People>> {
    work(&state, move |s| {
        if let Location::File(path) = &s.config.gallery
            && !path.exists()
        {
            return Ok(Json(People { people: Vec::new() }));
        }
        let people = s.with_gallery(false, |g| g.people().map_err(|e| ApiError::internal(e.to_string())))?;
        Ok(Json(People { people }))
    })
    .await
}

/// Forgets a person: every embedding of theirs is removed.
#[utoipa::path(
    delete,
    path = "/v1/people/{name}",
    tag = "faces",
    security(("bearer" = [])),
    params(("name" = String, Path, description = "The person's name as enrolled")),
    responses(
        (status = 200, description = "Forgotten", body = Forgotten),
        (status = 404, description = "No one of that name", body = ErrorBody),
    )
)]
pub async fn forget(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Forgotten>> {
    work(&state, move |s| {
        let _writer = s.write_lock();
        let removed = s.with_gallery(false, |g| g.forget(&name).map_err(write_error))?;
        s.index.changed();
        if !removed {
            return Err(ApiError::not_found(format!("no one named '{name}' in the gallery")));
        }
        Ok(Json(Forgotten { forgotten: name }))
    })
    .await
}
