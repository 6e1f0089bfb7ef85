//! The server under attack, in-process: requests for other host names (DNS rebinding),
//! cross-site form posts, token guessing, forms built to exhaust memory, guessable job ids,
//! a panicking style job, a poisoned gallery lock, and `/healthz` while work runs.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{TOKEN, bilevel_png, call, form, json, png, send, server};
use facestyle_serve::client::{BOUNDARY, Part};

fn post(uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Request<Body> {
    let mut r = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn other_host_names_are_refused() {
    let s = server(None, |c| c.allowed_hosts = vec!["faces.example.org".into()]);
    let get =
        |host: &str| Request::builder().uri("/v1/people").header("host", host).body(Body::empty()).unwrap();
    // A rebound name reaching the loopback server.
    let (status, body) = send(&s.app, get("attacker.example:8080")).await;
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    assert!(json(&body)["error"].as_str().unwrap().contains("--allow-host attacker.example"));
    for ok in
        ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "10.1.2.3", "FACES.example.org", "localhost."]
    {
        let (status, body) = send(&s.app, get(ok)).await;
        assert_eq!(status, StatusCode::OK, "{ok}: {}", String::from_utf8_lossy(&body));
    }
}

#[tokio::test]
async fn cross_site_posts_are_refused_even_with_the_token() {
    let s = server(None, |_| {});
    let auth = format!("Bearer {}", s.state.token.value());
    let body = || common::multipart(&[("name", Part::Text("X"))]);
    for headers in [
        vec![("origin", "http://attacker.example")],
        vec![("origin", "null")],
        vec![("origin", "http://127.0.0.1:9999")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
    ] {
        let mut h = headers.clone();
        h.push(("authorization", &auth));
        for uri in ["/v1/enroll", "/v1/identify", "/v1/verify"] {
            let (status, bytes) = send(&s.app, post(uri, &h, body())).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{uri} {headers:?}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }
    // The server's own page: same origin, past the check (to the form's own complaint).
    let h =
        [("origin", "http://127.0.0.1:8080"), ("sec-fetch-site", "same-origin"), ("authorization", &auth)];
    let (status, bytes) = send(&s.app, post("/v1/enroll", &h, body())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(&bytes));
    assert!(json(&bytes)["error"].as_str().unwrap().contains("image"));
}

#[tokio::test]
async fn guessing_the_token_is_cut_off() {
    let s = server(Some(TOKEN), |_| {});
    for i in 0..facestyle_serve::auth::MAX_FAILURES {
        let (status, _) = call(&s.app, Method::GET, "/v1/people", Some(&format!("guess-{i}")), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = call(&s.app, Method::GET, "/v1/people", Some("one-more-guess"), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(json(&body)["error"].as_str().unwrap().contains("try again in"));
    // Public routes are not affected.
    let (status, _) = call(&s.app, Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn forms_are_checked_before_anything_is_decoded() {
    let s = server(None, |c| {
        c.max_files = 4;
        c.max_pixels = 10_000_000;
        c.max_decoded_bytes = 64 << 20;
    });
    let t = s.token();
    let small = png(8, 8);
    // A field repeated where one image is expected.
    let twice = form(&[
        ("a", Part::File("a1.png", &small)),
        ("a", Part::File("a2.png", &small)),
        ("b", Part::File("b.png", &small)),
    ]);
    let (status, body) = call(&s.app, Method::POST, "/v1/verify", None, twice).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json(&body)["error"].as_str().unwrap().contains("field 'a' takes one image, got 2"));
    // More files than a form may carry.
    let many: Vec<(&str, Part)> = (0..5).map(|_| ("image", Part::File("x.png", &small))).collect();
    let (status, body) = call(&s.app, Method::POST, "/v1/verify", None, form(&many)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(json(&body)["error"].as_str().unwrap().contains("more than 4 files"));
    // A text field given twice.
    let dup = form(&[("name", Part::Text("A")), ("name", Part::Text("B"))]);
    let (status, body) = call(&s.app, Method::POST, "/v1/enroll", t, dup).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json(&body)["error"].as_str().unwrap().contains("'name' given twice"));
    // An image above the pixel limit (a few KB on the wire).
    let huge = bilevel_png(4000, 4000);
    assert!(huge.len() < 64 << 10);
    let big = form(&[("image", Part::File("huge.png", &huge))]);
    let (status, body) = call(&s.app, Method::POST, "/v1/identify", None, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(json(&body)["error"].as_str().unwrap().contains("huge.png: image is 4000x4000"));
    // Images each below the pixel limit that together would take more than the request may.
    let wide = bilevel_png(3000, 3000); // 9 MP: 36 MB decoded
    let parts: Vec<(&str, Part)> = [("name", Part::Text("X"))]
        .into_iter()
        .chain((0..2).map(|_| ("image", Part::File("w.png", &wide))))
        .collect();
    let (status, body) = call(&s.app, Method::POST, "/v1/enroll", t, form(&parts)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{}", String::from_utf8_lossy(&body));
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("would take 68 MiB decoded, above this server's limit of 64 MiB")
    );
}

/// A small style job's form.
fn style_job() -> Option<Vec<u8>> {
    form(&[
        ("content", Part::File("c.png", &png(40, 32))),
        ("style", Part::File("s.png", &png(32, 32))),
        ("size", Part::Text("32")),
    ])
}

#[tokio::test]
async fn job_ids_cannot_be_guessed() {
    let s = server(None, |_| {});
    let t = s.token();
    let job = style_job;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, body) = call(&s.app, Method::POST, "/v1/style", t, job()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&body));
        ids.push(json(&body)["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let hex = id.strip_prefix("job-").unwrap();
        assert!(hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        let (status, _) = call(&s.app, Method::GET, &format!("/v1/jobs/{id}"), None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a job's status needs the token");
    }
    assert_ne!(ids[0], ids[1]);
    let (status, _) = call(&s.app, Method::GET, "/v1/jobs/job-1", t, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.state.jobs.shutdown();
}

#[tokio::test]
async fn a_panicking_style_job_fails_and_the_worker_goes_on() {
    let s = server(None, |c| c.queue = 1);
    fn boom(
        _: &facestyle_serve::state::AppState,
        _: &facestyle_serve::jobs::StyleRequest,
    ) -> Result<Option<Vec<u8>>, String> {
        panic!("boom")
    }
    facestyle_serve::style::spawn_worker_with(s.state.clone(), boom);
    let t = s.token();
    let job = style_job;
    // Each job fails on its own; the queue (one place) keeps taking jobs.
    for _ in 0..3 {
        let (status, body) = call(&s.app, Method::POST, "/v1/style", t, job()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&body));
        let id = json(&body)["id"].as_str().unwrap().to_string();
        let mut last = serde_json::Value::Null;
        for _ in 0..100 {
            let (_, body) = call(&s.app, Method::GET, &format!("/v1/jobs/{id}"), t, None).await;
            last = json(&body);
            if last["state"] == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(last["state"], "failed", "{last}");
        assert!(last["error"].as_str().unwrap().contains("panicked (boom)"), "{last}");
    }
    let (status, body) = call(&s.app, Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["style_worker"], "running");
    // A stopped worker is reported, not hidden behind "ok".
    s.state.jobs.shutdown();
    tokio::task::spawn_blocking({
        let st = s.state.clone();
        move || {
            while !st.worker.lock().unwrap().as_ref().unwrap().is_finished() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    })
    .await
    .unwrap();
    let (status, body) = call(&s.app, Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(&body)["style_worker"], "stopped");
}

#[tokio::test]
async fn a_poisoned_gallery_lock_is_taken_over() {
    let s = server(None, |_| {});
    let st = s.state.clone();
    let _ = std::thread::spawn(move || {
        let _held = st.write_lock();
        panic!("a writer fails while holding the lock");
    })
    .join();
    let (status, body) = call(&s.app, Method::DELETE, "/v1/people/Nobody", s.token(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test(flavor = "current_thread")]
async fn healthz_answers_while_work_runs() {
    // One runtime thread and one work permit, held by a request decoding two large images:
    // were the decoding done on the runtime's thread, nothing else could answer meanwhile.
    let s = server(None, |c| c.max_inflight = 1);
    let big = common::encode(&image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        5000,
        5000,
        image::Rgb([90, 120, 200]),
    )));
    let body = form(&[("a", Part::File("a.png", &big)), ("b", Part::File("b.png", &big))]);
    let app = s.app.clone();
    let work = tokio::spawn(async move { call(&app, Method::POST, "/v1/verify", None, body).await });
    let t = std::time::Instant::now();
    while s.state.work.available_permits() > 0 {
        assert!(t.elapsed() < Duration::from_secs(30), "the request never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, body) = call(&s.app, Method::GET, "/healthz", None, None).await;
    assert!(!work.is_finished(), "/healthz waited for the decoding");
    assert!(status.is_success(), "{}", String::from_utf8_lossy(&body));
    assert_eq!(json(&body)["work_permits_free"], 0);
    let _ = work.await;
}

#[tokio::test]
async fn names_are_checked_before_any_work() {
    let s = server(None, |_| {});
    for (name, want) in [
        ("unknown", "match nobody"),
        ("Un\u{202E}known", "format characters"),
        ("a\u{7}b", "control characters"),
        (&"é".repeat(101), "bytes"),
    ] {
        let body = form(&[("name", Part::Text(name)), ("image", Part::File("x.png", &png(8, 8)))]);
        let (status, bytes) = call(&s.app, Method::POST, "/v1/enroll", s.token(), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}");
        let msg = json(&bytes)["error"].as_str().unwrap().to_string();
        assert!(msg.contains(want), "{name:?}: {msg}");
    }
    assert!(!s.state.config.gallery.file().unwrap().exists());
}
