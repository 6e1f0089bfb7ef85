//! The routes, called in-process: the spec matches the routes, routes need the token as
//! documented, bad input is a 4xx JSON error, the style queue answers 429 when full, and with
//! the real models: enroll -> identify -> verify -> forget, and a style job to its PNG.

mod common;

use axum::http::{Method, StatusCode};
use common::{Server, TOKEN, call, face_models, json, multipart, photo, png, server};
use facestyle_models::testing::cached_model;
use facestyle_serve::client::Part;
use facestyle_serve::state::ServeConfig;
use serde_json::Value;

#[tokio::test]
async fn every_route_in_the_spec_is_served() {
    let s = server(None, |_| {});
    let (status, body) = call(&s.app, Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let spec = json(&body);
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            let uri = path.replace("{name}", "nobody").replace("{id}", "job-999");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, body) = call(&s.app, m, &uri, None, None).await;
            let text = String::from_utf8_lossy(&body);
            assert!(
                !text.contains("no such route") && !text.contains("method not allowed"),
                "{method} {uri}: {text}"
            );
            assert!(status != StatusCode::INTERNAL_SERVER_ERROR, "{method} {uri}: {text}");
        }
    }
    let (status, body) = call(&s.app, Method::GET, "/nowhere", None, None).await;
    assert_eq!((status, json(&body)["error"].is_string()), (StatusCode::NOT_FOUND, true));
    let (status, _) = call(&s.app, Method::PUT, "/v1/people", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, body) = call(&s.app, Method::GET, "/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("<h1>facestyle</h1>"));
    let (_, body) = call(&s.app, Method::GET, "/metrics", None, None).await;
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("facestyle_http_requests_total{route=\"/openapi.json\",status=\"200\"} 2"),
        "{text}"
    );
    assert!(text.contains("facestyle_style_jobs_queued 0"));
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    use tower::ServiceExt;
    let s = server(None, |_| {});
    let mut ids = Vec::new();
    for uri in ["/healthz", "/nowhere", "/v1/jobs/x"] {
        let req = common::request(Method::GET, uri, None, None);
        let mut req = req;
        req.headers_mut().insert("host", "127.0.0.1".parse().unwrap());
        let r = s.app.clone().oneshot(req).await.unwrap();
        let id = r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string());
        let id = id.unwrap_or_else(|| panic!("{uri}: no x-request-id"));
        assert!(id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        ids.push(id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

#[tokio::test]
async fn routes_need_the_token_as_documented() {
    // The operator's token: every /v1 route and /metrics need it.
    let enroll = || Some(multipart(&[("name", Part::Text("X")), ("image", Part::File("x.png", &png(8, 8)))]));
    for token in [None, Some("wrong")] {
        // A server each, below the back-off's count of wrong tokens.
        let s = server(Some(TOKEN), |_| {});
        let (status, body) = call(&s.app, Method::POST, "/v1/enroll", token, enroll()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(json(&body)["error"].as_str().unwrap().contains("Bearer"));
        for (m, uri) in [
            (Method::DELETE, "/v1/people/X"),
            (Method::POST, "/v1/style"),
            (Method::GET, "/v1/people"),
            (Method::POST, "/v1/identify"),
            (Method::POST, "/v1/verify"),
            (Method::GET, "/v1/jobs/job-1"),
            (Method::GET, "/metrics"),
        ] {
            let (status, _) = call(&s.app, m, uri, token, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        }
    }
    let s = server(Some(TOKEN), |_| {});
    let (status, body) = call(&s.app, Method::GET, "/v1/people", Some(TOKEN), None).await;
    assert_eq!((status, json(&body)["people"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
    // The right token gets past the check (here to the form checks).
    let (status, body) = call(&s.app, Method::POST, "/v1/style", Some(TOKEN), Some(multipart(&[]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&body));
    for public in ["/", "/healthz", "/openapi.json"] {
        let (status, _) = call(&s.app, Method::GET, public, None, None).await;
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{public}");
    }
    let open_metrics = server(Some(TOKEN), |c| c.public_metrics = true);
    let (status, _) = call(&open_metrics.app, Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);

    // No operator token: the server makes one; writes and jobs need it, reads stay open.
    let s = server(None, |_| {});
    let made = s.state.token.value().to_string();
    assert!(made.len() >= 32 && !s.state.token.configured);
    let (status, _) = call(&s.app, Method::POST, "/v1/enroll", None, enroll()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "writes need a token even on loopback");
    let (status, _) = call(&s.app, Method::DELETE, "/v1/people/X", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&s.app, Method::GET, "/v1/jobs/job-1", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&s.app, Method::GET, "/v1/people", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&s.app, Method::DELETE, "/v1/people/X", Some(&made), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let at = |addr: &str, token: Option<&str>| {
        ServeConfig::new(addr.parse().unwrap(), "g.db", token.map(str::to_string)).check()
    };
    assert!(at("0.0.0.0:8080", None).unwrap_err().contains("FACESTYLE_TOKEN"));
    assert!(at("127.0.0.1:8080", Some("short")).unwrap_err().contains("at least 16"));
    assert!(at("0.0.0.0:8080", Some(TOKEN)).unwrap_err().contains("plain HTTP"));
    let mut behind_proxy = ServeConfig::new("0.0.0.0:8080".parse().unwrap(), "g.db", Some(TOKEN.into()));
    behind_proxy.allow_plain_http = true;
    assert!(behind_proxy.check().is_ok());
    assert!(at("127.0.0.1:8080", None).is_ok());
}

#[tokio::test]
async fn bad_input_is_a_4xx_json_error() {
    let s = server(None, |c| c.body_limit = 64 << 10);
    let cases: Vec<(&str, Option<Vec<u8>>, StatusCode, &str)> = vec![
        (
            "/v1/verify",
            Some(multipart(&[
                ("a", Part::File("notes.jpg", b"hello")),
                ("b", Part::File("b.png", &png(8, 8))),
            ])),
            StatusCode::BAD_REQUEST,
            "notes.jpg",
        ),
        (
            "/v1/verify",
            Some(multipart(&[("a", Part::File("a.png", &png(8, 8)))])),
            StatusCode::BAD_REQUEST,
            "'b'",
        ),
        ("/v1/verify", None, StatusCode::BAD_REQUEST, "multipart"),
        (
            "/v1/identify",
            Some(multipart(&[("top", Part::Text("many"))])),
            StatusCode::BAD_REQUEST,
            "not a number",
        ),
        (
            "/v1/enroll",
            Some(multipart(&[("image", Part::File("a.png", &png(8, 8)))])),
            StatusCode::BAD_REQUEST,
            "'name'",
        ),
        (
            "/v1/verify",
            Some(multipart(&[("a", Part::File("big.bin", &vec![7u8; 200 << 10]))])),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
        (
            "/v1/style",
            Some(multipart(&[("size", Part::Text("0")), ("content", Part::File("c.png", &png(8, 8)))])),
            StatusCode::BAD_REQUEST,
            "expected 16 to",
        ),
        (
            "/v1/style",
            Some(multipart(&[("iterations", Part::Text("100000"))])),
            StatusCode::BAD_REQUEST,
            "iterations",
        ),
        (
            "/v1/style",
            Some(multipart(&[
                ("content", Part::File("c.png", &png(200, 8))),
                ("style", Part::File("s.png", &png(64, 64))),
            ])),
            StatusCode::BAD_REQUEST,
            "c.png: 200x8",
        ),
    ];
    for (uri, body, want, text) in cases {
        let (status, bytes) = call(&s.app, Method::POST, uri, s.token(), body).await;
        let v = json(&bytes);
        assert_eq!(status, want, "{uri}: {v}");
        assert!(v["error"].as_str().unwrap().contains(text), "{uri}: expected '{text}' in {v}");
    }
    assert!(!s.state.config.gallery.file().unwrap().exists(), "no gallery was created");
}

#[tokio::test]
async fn a_request_past_the_timeout_is_a_503_json_error() {
    // Zero timeout: anything that waits on the blocking pool is cut off.
    let s = server(None, |c| c.request_timeout = std::time::Duration::ZERO);
    let body =
        multipart(&[("a", Part::File("a.png", &png(32, 32))), ("b", Part::File("b.png", &png(32, 32)))]);
    let (status, bytes) = call(&s.app, Method::POST, "/v1/verify", None, Some(body)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(json(&bytes)["error"].as_str().unwrap().contains("timed out"));
}

#[tokio::test]
async fn a_full_style_queue_answers_429_and_shutdown_cancels() {
    // No worker: jobs stay queued.
    let s = server(None, |c| c.queue = 1);
    let job = || {
        Some(multipart(&[
            ("content", Part::File("c.png", &png(40, 32))),
            ("style", Part::File("s.png", &png(32, 32))),
            ("size", Part::Text("32")),
        ]))
    };
    let t = s.token();
    let (status, body) = call(&s.app, Method::POST, "/v1/style", t, job()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&body));
    let id = json(&body)["id"].as_str().unwrap().to_string();
    let (status, body) = call(&s.app, Method::POST, "/v1/style", t, job()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(json(&body)["error"].as_str().unwrap().contains("queue is full"));
    let (_, body) = call(&s.app, Method::GET, &format!("/v1/jobs/{id}"), t, None).await;
    assert_eq!(json(&body)["state"], "queued");
    let (status, _) = call(&s.app, Method::GET, &format!("/v1/jobs/{id}/result.png"), t, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    s.state.jobs.shutdown();
    let (_, body) = call(&s.app, Method::GET, &format!("/v1/jobs/{id}"), t, None).await;
    assert_eq!(json(&body)["state"], "cancelled");
    let (status, _) = call(&s.app, Method::POST, "/v1/style", t, job()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "no new jobs after shutdown");
}

#[tokio::test]
async fn enroll_identify_verify_forget() {
    if !face_models() {
        return;
    }
    enroll_identify_verify_forget_on(server(Some(TOKEN), |_| {})).await;
}

#[tokio::test]
async fn the_same_on_a_postgresql_gallery() {
    if !face_models() {
        return;
    }
    let Some(pg) = facestyle_face::pgtest::Cluster::start() else { return };
    let url = pg.database("faces");
    let s = server(Some(TOKEN), |c| c.gallery = url.as_str().into());
    // Nothing enrolled yet: an empty list, not an error.
    let (status, body) = call(&s.app, Method::GET, "/v1/people", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    enroll_identify_verify_forget_on(s).await;
}

/// Enrolment (all or nothing, retried), identification, verification and forgetting through
/// the routes, on the server `s`'s gallery.
async fn enroll_identify_verify_forget_on(s: Server) {
    let t = Some(TOKEN);
    // A photo without a face spoils the whole enrolment: nothing is written.
    let bad = multipart(&[
        ("name", Part::Text("Gul")),
        ("image", Part::File("Abdullah_Gul_0001.jpg", &photo("Abdullah_Gul_0001.jpg"))),
        ("image", Part::File("blank.png", &png(64, 64))),
    ]);
    let (status, body) = call(&s.app, Method::POST, "/v1/enroll", t, Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(json(&body)["error"].as_str().unwrap().contains("blank.png: no face"));
    let (_, body) = call(&s.app, Method::GET, "/v1/people", t, None).await;
    assert_eq!(json(&body)["people"].as_array().unwrap().len(), 0);

    let good = multipart(&[
        ("name", Part::Text("Gul")),
        ("image", Part::File("g1.jpg", &photo("Abdullah_Gul_0001.jpg"))),
    ]);
    let (status, body) = call(&s.app, Method::POST, "/v1/enroll", t, Some(good.clone())).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["embeddings"], 1);
    // A retried enrolment (the client timed out, say) adds nothing.
    let (status, body) = call(&s.app, Method::POST, "/v1/enroll", t, Some(good)).await;
    assert_eq!(status, StatusCode::OK);
    let v = json(&body);
    assert_eq!(
        (v["added"].as_u64(), v["already_present"].as_u64(), v["embeddings"].as_u64()),
        (Some(0), Some(1), Some(1)),
        "{v}"
    );

    let q = multipart(&[("image", Part::File("g8.png", &photo("Abdullah_Gul_0008.png")))]);
    let (status, body) = call(&s.app, Method::POST, "/v1/identify", t, Some(q)).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<String> = json(&body)["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 3);
    assert_eq!(names.iter().filter(|n| *n == "Gul").count(), 1, "{names:?}");
    assert_eq!(names.iter().filter(|n| *n == "unknown").count(), 2, "{names:?}");

    for (other, same) in [("Abdullah_Gul_0008.png", true), ("Colin_Powell_0001.jpg", false)] {
        let v = multipart(&[
            ("a", Part::File("g1.jpg", &photo("Abdullah_Gul_0001.jpg"))),
            ("b", Part::File(other, &photo(other))),
        ]);
        let (status, body) = call(&s.app, Method::POST, "/v1/verify", t, Some(v)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json(&body)["same"], same, "{other}: {}", json(&body));
    }

    let (status, _) = call(&s.app, Method::DELETE, "/v1/people/Gul", t, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&s.app, Method::DELETE, "/v1/people/Gul", t, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(json(&body)["error"].as_str().unwrap().contains("no one named 'Gul'"));
}

/// Submits a style job of 40x32 noise in the style of 32x32 noise at 32 px, `iterations`
/// long; returns its id.
async fn submit_style_job(s: &Server, t: Option<&str>, iterations: usize) -> String {
    let iterations = iterations.to_string();
    let job = multipart(&[
        ("content", Part::File("c.png", &png(40, 32))),
        ("style", Part::File("s.png", &png(32, 32))),
        ("size", Part::Text("32")),
        ("iterations", Part::Text(&iterations)),
    ]);
    let (status, body) = call(&s.app, Method::POST, "/v1/style", t, Some(job)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    json(&body)["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_style_job_runs_to_its_picture() {
    if cached_model("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5").is_none() {
        return;
    }
    let s = server(None, |_| {});
    facestyle_serve::style::spawn_worker(s.state.clone());
    let t = s.token();
    let id = submit_style_job(&s, t, 3).await;
    let mut last = Value::Null;
    for _ in 0..600 {
        let (_, body) = call(&s.app, Method::GET, &format!("/v1/jobs/{id}"), t, None).await;
        last = json(&body);
        if last["state"] == "done" || last["state"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(last["state"], "done", "{last}");
    assert_eq!(last["step"], 3);
    let (status, png_bytes) = call(&s.app, Method::GET, &format!("/v1/jobs/{id}/result.png"), t, None).await;
    assert_eq!(status, StatusCode::OK);
    let img = image::load_from_memory(&png_bytes).unwrap();
    assert_eq!((img.width(), img.height()), (32, 26));
    s.state.jobs.shutdown();
    facestyle_serve::style::join_worker(&s.state);
}

#[tokio::test]
async fn a_running_style_job_shows_its_picture_as_it_forms() {
    if cached_model("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5").is_none() {
        return;
    }
    let s = server(None, |_| {});
    let t = s.token();
    let id = submit_style_job(&s, t, 60).await;
    let preview = format!("/v1/jobs/{id}/preview.png");
    // Queued (no worker yet): no picture.
    let (status, body) = call(&s.app, Method::GET, &preview, t, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{}", String::from_utf8_lossy(&body));
    facestyle_serve::style::spawn_worker(s.state.clone());
    // While it runs: the latest picture, at the size of the level being optimised.
    let mut seen = None;
    for _ in 0..1200 {
        let (_, body) = call(&s.app, Method::GET, &format!("/v1/jobs/{id}"), t, None).await;
        let v = json(&body);
        if v["state"] == "running" && v["preview_step"].is_u64() {
            let (status, png_bytes) = call(&s.app, Method::GET, &preview, t, None).await;
            assert_eq!(status, StatusCode::OK);
            let img = image::load_from_memory(&png_bytes).unwrap();
            seen = Some((v["preview_step"].as_u64().unwrap(), img.width(), img.height()));
            break;
        }
        assert!(v["state"] == "queued" || v["state"] == "running", "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (step, w, h) = seen.expect("a preview while the job ran");
    assert_eq!(step % facestyle_serve::style::PREVIEW_EVERY as u64, 0);
    assert!((w, h) == (32, 26) || (w, h) == (16, 13), "{w}x{h}");
    s.state.jobs.shutdown();
    facestyle_serve::style::join_worker(&s.state);
}
