//! Shared by the serve crate's tests: an in-process server, requests through the router, and
//! small images.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use facestyle_models::testing::cached_model;
use facestyle_serve::client::{self, BOUNDARY, Part};
use facestyle_serve::router;
use facestyle_serve::state::{AppState, ServeConfig};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// The operator's token in tests that set one.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// The request body of a form (the client's multipart writer).
pub fn multipart(parts: &[(&str, Part)]) -> Vec<u8> {
    client::multipart(parts).1
}

pub struct Server {
    pub app: Router,
    pub state: Arc<AppState>,
    pub _dir: tempfile::TempDir,
}

impl Server {
    /// The token the server asks for (the operator's, or the one it made).
    pub fn token(&self) -> Option<&str> {
        Some(self.state.token.value())
    }
}

/// A server on a temporary gallery; `token` is the operator's (None: one is made).
pub fn server(token: Option<&str>, tweak: impl FnOnce(&mut ServeConfig)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        ServeConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("g.db"), token.map(str::to_string));
    tweak(&mut config);
    let state = AppState::new(config);
    Server { app: router(state.clone()), state, _dir: dir }
}

/// Sends `req` (with `Host: 127.0.0.1:8080` unless it has one, or an `x-no-host` header)
/// and returns status and body.
pub async fn send(app: &Router, mut req: Request<Body>) -> (StatusCode, Vec<u8>) {
    if !req.headers().contains_key("host") && !req.headers().contains_key("x-no-host") {
        req.headers_mut().insert("host", "127.0.0.1:8080".parse().unwrap());
    }
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    (status, r.into_body().collect().await.unwrap().to_bytes().to_vec())
}

/// A request with an optional bearer token and multipart body.
pub fn request(method: Method, uri: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    match body {
        Some(b) => req
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(Body::from(b)),
        None => req.body(Body::empty()),
    }
    .unwrap()
}

pub async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> (StatusCode, Vec<u8>) {
    send(app, request(method, uri, token, body)).await
}

pub fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

pub fn photo(name: &str) -> Vec<u8> {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../facestyle-face/tests/fixtures/photos").join(name);
    std::fs::read(p).unwrap()
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
    encode(&image::DynamicImage::ImageRgb8(img))
}

/// A 1-bit black PNG of `w` x `h`: a few KB that decode to `w * h * 4` bytes (grey + RGB).
pub fn bilevel_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::One);
    enc.set_compression(png::Compression::High);
    let mut writer = enc.write_header().unwrap();
    let row = (w as usize).div_ceil(8);
    {
        let mut stream = writer.stream_writer().unwrap();
        let zeros = vec![0u8; row];
        for _ in 0..h {
            std::io::Write::write_all(&mut stream, &zeros).unwrap();
        }
        stream.finish().unwrap();
    }
    drop(writer);
    out
}

pub fn encode(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// True when YuNet and SFace are cached (panics in CI when they are not).
pub fn face_models() -> bool {
    cached_model("face_detection_yunet_2023mar_int8bq.onnx").is_some()
        && cached_model("face_recognition_sface_2021dec_int8bq.onnx").is_some()
}

/// Writes `part` fields as a multipart form.
pub fn form(parts: &[(&str, Part)]) -> Option<Vec<u8>> {
    Some(multipart(parts))
}
