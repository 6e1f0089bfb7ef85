//! Forms built to exhaust memory are refused before decoding, with the process's peak memory
//! as the witness: a few KB of 1-bit PNG decode to hundreds of MB each. This file holds one
//! test so that the peak (VmHWM) is this test's own.

mod common;

use axum::http::{Method, StatusCode};
use common::{bilevel_png, call, form, server};
use facestyle_models::testing::peak_rss_bytes;
use facestyle_serve::client::Part;

/// Peak resident memory of this process, in MiB (Linux).
fn peak_mib() -> Option<u64> {
    peak_rss_bytes().map(|b| b >> 20)
}

#[tokio::test]
async fn decompression_bombs_stay_within_a_memory_ceiling() {
    let Some(before) = peak_mib() else {
        eprintln!("skipping: /proc/self/status has no VmHWM on this system");
        return;
    };
    let s = server(None, |_| {});
    let t = s.token();
    // 6000x6000 at 1 bit a pixel: ~5 KB on the wire, 144 MB decoded (grey + RGB).
    let bomb = bilevel_png(6000, 6000);
    assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
    // 600 copies in one field of /v1/verify (a 3 MB body).
    let copies: Vec<(&str, Part)> = (0..600).map(|_| ("a", Part::File("a.png", &bomb))).collect();
    let (status, _) = call(&s.app, Method::POST, "/v1/verify", None, form(&copies)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // As many as a form may carry, in an enrolment: 16 x 144 MB.
    let mut parts: Vec<(&str, Part)> = vec![("name", Part::Text("Bomb"))];
    parts.extend((0..16).map(|_| ("image", Part::File("b.png", &bomb))));
    let (status, _) = call(&s.app, Method::POST, "/v1/enroll", t, form(&parts)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // One 8000x8000 image (64 MP, above the 40 MP limit).
    let one = bilevel_png(8000, 8000);
    let (status, _) =
        call(&s.app, Method::POST, "/v1/identify", None, form(&[("image", Part::File("c.png", &one))])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let after = peak_mib().unwrap();
    assert!(after < before + 200, "peak memory went from {before} to {after} MiB");
}
