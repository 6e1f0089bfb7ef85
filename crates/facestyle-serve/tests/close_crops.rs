//! The face routes on a photo that is only a face (a grey close crop with no face at the
//! default score threshold): the detector's retry finds it and every answer says how.

mod common;

use std::path::PathBuf;

use axum::http::{Method, StatusCode};
use common::{TOKEN, call, face_models, json, multipart, photo, server};
use facestyle_serve::client::Part;

fn crop(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../facestyle-face/tests/fixtures/closecrops")
        .join(name);
    std::fs::read(p).unwrap()
}

#[tokio::test]
async fn verify_identify_and_enroll_report_the_fallback() {
    if !face_models() {
        return;
    }
    let s = server(Some(TOKEN), |_| {});
    let t = Some(TOKEN);
    let powell = crop("Colin_Powell_0001_56x56_grey.png");
    let enroll = multipart(&[("name", Part::Text("Powell")), ("image", Part::File("powell.png", &powell))]);
    let (status, body) = call(&s.app, Method::POST, "/v1/enroll", t, Some(enroll)).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let v = json(&body);
    assert_eq!(
        (v["photos"][0]["image"].as_str(), v["photos"][0]["fallback"].as_str()),
        (Some("powell.png"), Some("low_score")),
        "{v}"
    );

    let q = multipart(&[("image", Part::File("p.jpg", &photo("Colin_Powell_0001.jpg")))]);
    let (status, body) = call(&s.app, Method::POST, "/v1/identify", t, Some(q)).await;
    assert_eq!(status, StatusCode::OK);
    let v = json(&body);
    assert_eq!(v["faces"][0]["name"], "Powell", "{v}");
    assert!(v["faces"][0]["fallback"].is_null(), "{v}");
    let q = multipart(&[("image", Part::File("powell.png", &powell))]);
    let (_, body) = call(&s.app, Method::POST, "/v1/identify", t, Some(q)).await;
    let v = json(&body);
    assert_eq!(
        (v["faces"][0]["name"].as_str(), v["faces"][0]["fallback"].as_str()),
        (Some("Powell"), Some("low_score")),
        "{v}"
    );

    let q = multipart(&[
        ("a", Part::File("powell.png", &powell)),
        ("b", Part::File("p.jpg", &photo("Colin_Powell_0001.jpg"))),
    ]);
    let (status, body) = call(&s.app, Method::POST, "/v1/verify", t, Some(q)).await;
    assert_eq!(status, StatusCode::OK);
    let v = json(&body);
    assert_eq!((v["same"].as_bool(), v["a"]["fallback"].as_str()), (Some(true), Some("low_score")), "{v}");
    assert!(v["b"]["fallback"].is_null(), "{v}");
}
