//! Fuzzing the HTTP routes and the multipart form reader (property tests on stable Rust):
//! requests with random methods, paths, headers (Host, Origin, Sec-Fetch-Site, tokens,
//! content types and boundaries) and bodies, the bodies being random bytes or valid forms
//! (every route's fields, tiny images) mutated byte-wise. Property: every request gets an
//! answer, never a panic and never a 5xx other than the request deadline's 503.
//!
//! The default run is short and deterministic; `-- --ignored` runs `FACESTYLE_FUZZ_CASES`
//! cases (default 20000) from a random seed.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::{png, send, server};
use facestyle_models::testing::{fuzz_cases, mutate};
use facestyle_serve::client::{BOUNDARY, Part, multipart};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const SHORT_CASES: u32 = 3000;

const METHODS: [&str; 8] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW"];
const PATHS: [&str; 14] = [
    "/",
    "/healthz",
    "/metrics",
    "/openapi.json",
    "/v1/verify",
    "/v1/identify",
    "/v1/enroll",
    "/v1/people",
    "/v1/people/Ann%20Lee",
    "/v1/people/%FF%FE",
    "/v1/style",
    "/v1/jobs/job-00000000000000000000000000000000",
    "/v1/jobs/x/result.png",
    "/v1/../etc/passwd",
];
const HOSTS: [&str; 5] = ["127.0.0.1:8080", "localhost", "attacker.example", "", "[::1]"];
const ORIGINS: [&str; 4] = ["", "http://127.0.0.1:8080", "http://attacker.example", "null"];
const TYPES: [&str; 5] = [
    "multipart/form-data; boundary=facestyle-client-boundary",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "application/json",
    "",
];

/// Valid forms for every route, to be mutated.
fn seeds() -> Vec<Vec<u8>> {
    let img = png(12, 10);
    let forms: Vec<Vec<(&str, Part)>> = vec![
        vec![
            ("a", Part::File("a.png", &img)),
            ("b", Part::File("b.png", &img)),
            ("threshold", Part::Text("1.1")),
        ],
        vec![
            ("image", Part::File("i.png", &img)),
            ("top", Part::Text("3")),
            ("metric", Part::Text("cosine")),
        ],
        vec![("name", Part::Text("Ann Lee")), ("image", Part::File("i.png", &img))],
        vec![
            ("content", Part::File("c.png", &img)),
            ("style", Part::File("s.png", &img)),
            ("size", Part::Text("16")),
            ("iterations", Part::Text("1")),
        ],
    ];
    forms.iter().map(|f| multipart(f).1).collect()
}

#[derive(Debug, Clone)]
struct Case {
    method: usize,
    path: usize,
    host: usize,
    origin: usize,
    ctype: usize,
    token: u8,
    seed: Option<usize>,
    edits: Vec<(u8, u32, u32)>,
    raw: Vec<u8>,
    /// The client's address (IPv4), so that the token back-off applies per client.
    client: u32,
}

/// An index below `n`, `usual` most of the time (the request most routes expect).
fn mostly(usual: usize, n: usize) -> impl Strategy<Value = usize> {
    prop_oneof![4 => Just(usual), 1 => 0..n]
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            mostly(1, METHODS.len()),
            prop_oneof![1 => 0..PATHS.len(), 1 => 4usize..7, 1 => Just(10usize)],
            mostly(0, HOSTS.len()),
            prop_oneof![3 => Just(0usize), 1 => 0..ORIGINS.len()],
            mostly(0, TYPES.len()),
            prop_oneof![4 => Just(1u8), 1 => 0u8..3],
        ),
        prop::option::of(0usize..4),
        prop::collection::vec(any::<(u8, u32, u32)>(), 0..4),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<u32>(),
    )
        .prop_map(|((method, path, host, origin, ctype, token), seed, edits, raw, client)| Case {
            method,
            path,
            host,
            origin,
            ctype,
            token,
            seed,
            edits,
            raw,
            client,
        })
}

fn runner(cases: u32, deterministic: bool) -> TestRunner {
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    if deterministic {
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
    } else {
        TestRunner::new(config)
    }
}

fn run(cases: u32, deterministic: bool) {
    // No worker: style jobs stay queued (a queue of one), so the run stays fast.
    let s = server(None, |c| c.queue = 1);
    let token = s.state.token.value().to_string();
    let seeds = seeds();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let start = std::time::Instant::now();
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    runner(cases, deterministic)
        .run(&case(), |c| {
            let body = match c.seed {
                Some(i) => mutate(&seeds[i], &c.edits),
                None => c.raw.clone(),
            };
            let mut req = Request::builder().method(METHODS[c.method]).uri(PATHS[c.path]);
            if !HOSTS[c.host].is_empty() {
                req = req.header("host", HOSTS[c.host]);
            }
            if !ORIGINS[c.origin].is_empty() {
                req = req.header("origin", ORIGINS[c.origin]);
            }
            if !TYPES[c.ctype].is_empty() {
                req = req.header("content-type", TYPES[c.ctype]);
            }
            match c.token {
                1 => req = req.header("authorization", format!("Bearer {token}")),
                2 => req = req.header("authorization", "Bearer wrong-token"),
                _ => {}
            }
            let mut req = req.body(Body::from(body)).unwrap();
            let peer = std::net::SocketAddr::from((std::net::Ipv4Addr::from(c.client), 40000));
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            let (status, bytes) = rt.block_on(async {
                if HOSTS[c.host].is_empty() {
                    // `send` adds a Host header to requests without one; keep this one bare.
                    req.headers_mut().insert("x-no-host", "1".parse().unwrap());
                }
                send(&s.app, req).await
            });
            *statuses.borrow_mut().entry(status.as_u16()).or_default() += 1;
            prop_assert!(
                !status.is_server_error() || status.as_u16() == 503,
                "{c:?}: {status} {}",
                String::from_utf8_lossy(&bytes)
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("routes: {e}"));
    s.state.jobs.shutdown();
    eprintln!(
        "fuzz routes: {cases} cases in {:.1} s, answers by status {:?}",
        start.elapsed().as_secs_f64(),
        statuses.borrow()
    );
}

#[test]
fn random_requests_get_an_answer() {
    let _ = BOUNDARY;
    run(SHORT_CASES, true);
}

#[test]
#[ignore = "long fuzz run: --ignored, FACESTYLE_FUZZ_CASES cases"]
fn random_requests_get_an_answer_long() {
    run(fuzz_cases(20_000), false);
}
