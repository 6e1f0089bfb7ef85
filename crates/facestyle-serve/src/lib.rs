//! `facestyle serve`: the face pipeline and style transfer over HTTP (axum + hyper + tokio),
//! with a plain HTML page at `/`. Every request passes the guard (Host allow-list, same-origin
//! rule for state-changing requests, bearer token; see [`auth`]); forms are checked against
//! the limits before any image is decoded ([`form`]); decoding and inference run on the
//! blocking pool behind a fixed number of permits; style jobs run one at a time on their own
//! thread behind a bounded queue. docs/security.md has the threat model.

#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod error;
pub mod faces;
pub mod form;
pub mod gallery_cache;
pub mod health;
pub mod jobs;
pub mod listen;
pub mod metrics;
pub mod openapi;
pub mod state;
pub mod style;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, ServeConfig};

const PAGE: &str = include_str!("../web/index.html");

/// One route: its method, its path (axum's syntax, which is OpenAPI's) and its handler.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub handler: MethodRouter<Arc<AppState>>,
}

fn at<H: Handler<T, Arc<AppState>>, T: 'static>(method: Method, path: &'static str, handler: H) -> Route {
    let filter = MethodFilter::try_from(method.clone()).expect("a method axum routes");
    Route { method, path, handler: on(filter, handler) }
}

/// Every route the server answers. [`router`] is built from this list, and the tests check
/// that the OpenAPI document ([`openapi::doc`]) describes each one.
pub fn routes() -> Vec<Route> {
    vec![
        at(Method::GET, "/", page),
        at(Method::GET, "/healthz", health::healthz),
        at(Method::GET, "/metrics", metrics),
        at(Method::GET, "/openapi.json", openapi::serve),
        at(Method::POST, "/v1/verify", faces::verify),
        at(Method::POST, "/v1/identify", faces::identify),
        at(Method::GET, "/v1/people", faces::people),
        at(Method::GET, "/v1/jobs/{id}", style::status),
        at(Method::GET, "/v1/jobs/{id}/result.png", style::result),
        at(Method::GET, "/v1/jobs/{id}/preview.png", style::preview),
        at(Method::POST, "/v1/enroll", faces::enroll),
        at(Method::DELETE, "/v1/people/{name}", faces::forget),
        at(Method::POST, "/v1/style", style::submit),
    ]
}

/// All routes, behind the guard, the body limit, the request timeout and the metrics.
pub fn router(state: Arc<AppState>) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |r, route| r.route(route.path, route.handler))
        .fallback(|| async { ApiError::not_found("no such route (see /openapi.json)") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route (see /openapi.json)",
            )
        })
        .layer(from_fn_with_state(state.clone(), timeout))
        .layer(from_fn_with_state(state.clone(), auth::guard))
        .layer(from_fn_with_state(state.clone(), record))
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .with_state(state)
}

/// The web page: verify, identify, enroll and style from a browser.
#[utoipa::path(
    get,
    path = "/",
    tag = "server",
    responses((status = 200, description = "The page", content_type = "text/html", body = String))
)]
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// Prometheus metrics: requests by route and status, latencies, the style queue and the work
/// permits. Needs the operator's token unless the server runs with `--public-metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "server",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String),
        (status = 401, description = "The token is missing or wrong", body = ErrorBody),
    )
)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let (queued, running) = state.jobs.counts();
    let body = state.metrics.render(&[
        ("facestyle_style_jobs_queued", "Style jobs waiting.", queued as f64),
        ("facestyle_style_jobs_running", "Style jobs running.", running as f64),
        (
            "facestyle_work_permits_free",
            "Requests that may start decoding now.",
            state.work.available_permits() as f64,
        ),
    ]);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn timeout(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the request timed out").into_response(),
    }
}

/// Counts and times every request, gives it an id (the `x-request-id` answer header) and
/// logs it (target `facestyle::http`: method, route, status, milliseconds, id, client).
async fn record(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let method = req.method().clone();
    let client = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let id = format!("{:016x}", rand::random::<u64>());
    let t = Instant::now();
    let mut r = next.run(req).await;
    let seconds = t.elapsed().as_secs_f64();
    let status = r.status().as_u16();
    state.metrics.record(&route, status, seconds);
    tracing::info!(target: "facestyle::http", %method, route, status, ms = seconds * 1000.0, id, client = ?client);
    if let Ok(v) = HeaderValue::from_str(&id) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

/// Loads the models, starts the style worker, serves until SIGINT/SIGTERM, then stops taking
/// requests, lets the ones in flight finish, cancels style jobs and waits for the worker.
pub async fn serve(config: ServeConfig) -> Result<(), String> {
    config.check()?;
    let listener = std::net::TcpListener::bind(config.addr)
        .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
    serve_on(config, listener, shutdown_signal()).await
}

/// [`serve`] on a bound listener, until `stop` completes.
pub async fn serve_on(
    config: ServeConfig,
    listener: std::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let state = AppState::new(config.clone());
    eprintln!("loading the face models ...");
    state.engine().map_err(|e| e.message)?;
    eprintln!("loading VGG19 for style transfer ...");
    if let Err(e) = state.vgg() {
        eprintln!("warning: style transfer unavailable until VGG19 loads ({e}); faces work");
    }
    style::spawn_worker(state.clone());
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if state.token.configured {
        eprintln!("every /v1 route needs the token (Authorization: Bearer <token>)");
    } else {
        eprintln!(
            "token for enrolling, forgetting and style jobs (made at start-up; set FACESTYLE_TOKEN \
             or --token-file to choose one): {}",
            state.token.value()
        );
        eprintln!("web page with the token filled in: http://{addr}/#token={}", state.token.value());
    }
    eprintln!("listening on http://{addr} (gallery {})", config.gallery);
    let jobs = state.clone();
    let limits = listen::ConnLimits {
        max_connections: config.max_connections,
        header_timeout: config.header_timeout,
        drain: config.request_timeout,
    };
    listen::serve(listener, router(state.clone()), limits, async move {
        stop.await;
        eprintln!("shutting down: finishing requests, cancelling style jobs");
        jobs.jobs.shutdown();
    })
    .await;
    state.jobs.shutdown();
    let s = state.clone();
    let _ = tokio::task::spawn_blocking(move || style::join_worker(&s)).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
