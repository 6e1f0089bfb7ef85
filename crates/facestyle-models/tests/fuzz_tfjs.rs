//! Fuzzing the tfjs reader (property tests on stable Rust): manifests generated from parts
//! (shard paths among plain, nested, missing, absolute, `..` and directory names; shapes with
//! zero, small and overflowing dimensions; every dtype and quantization form, and invalid
//! ones) over shards of random bytes, and a valid manifest and shard mutated byte-wise.
//! Property: `load_tfjs` returns (weights or an error) and never panics, never reads outside
//! the manifest's directory, and memory stays bounded.
//!
//! The default run is short and deterministic; `-- --ignored` runs `FACESTYLE_FUZZ_CASES`
//! cases per harness (default 50000) from a random seed. Inputs that once failed are kept in
//! `tests/fuzz-corpus/tfjs/` (a `.json` manifest with the `.bin` shards it names) and
//! replayed by every run.

use std::path::Path;

use facestyle_models::testing::{fuzz_cases, mutate, peak_rss_bytes};
use facestyle_models::tfjs::load_tfjs;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

const SHORT_CASES: u32 = 500;

const PATHS: [&str; 11] = [
    "a.bin",
    "b.bin",
    "sub/c.bin",
    "../outside.bin",
    "/etc/hostname",
    "",
    ".",
    "sub/../a.bin",
    "missing.bin",
    "sub",
    "a.bin/",
];
const DTYPES: [&str; 7] = ["float32", "int32", "uint16", "float16", "uint8", "bool", "x"];

fn dim() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..6,
        1 => Just(u64::from(u32::MAX)),
        1 => Just(1u64 << 32),
        1 => Just(u64::MAX),
        1 => any::<u64>(),
    ]
}

fn entry() -> impl Strategy<Value = Value> {
    let quant =
        prop::option::of((0..DTYPES.len(), prop::option::of(-2.0f64..2.0), prop::option::of(-2.0f64..2.0)));
    (prop::collection::vec(dim(), 0..4), 0..DTYPES.len(), quant).prop_map(|(shape, dtype, quant)| {
        let mut e = json!({"name": "w", "shape": shape, "dtype": DTYPES[dtype]});
        if let Some((q, scale, min)) = quant {
            e["quantization"] = json!({"dtype": DTYPES[q], "scale": scale, "min": min});
        }
        e
    })
}

fn manifest() -> impl Strategy<Value = Value> {
    let group = (prop::collection::vec(0..PATHS.len(), 0..3), prop::collection::vec(entry(), 0..4))
        .prop_map(|(paths, weights)| json!({"paths": paths.iter().map(|&i| PATHS[i]).collect::<Vec<_>>(), "weights": weights}));
    prop::collection::vec(group, 0..3).prop_map(Value::Array)
}

/// Writes the shards every generated manifest may name (and one outside the directory).
fn shards(root: &Path, bytes: &[u8]) -> std::path::PathBuf {
    let dir = root.join("model");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let n = bytes.len();
    std::fs::write(dir.join("a.bin"), &bytes[..n / 3]).unwrap();
    std::fs::write(dir.join("b.bin"), &bytes[n / 3..2 * n / 3]).unwrap();
    std::fs::write(dir.join("sub/c.bin"), &bytes[2 * n / 3..]).unwrap();
    std::fs::write(root.join("outside.bin"), [0u8; 16]).unwrap();
    dir
}

/// The property: no panic, and weights (when read) hold as many values as their shapes say.
fn check(dir: &Path, manifest: &[u8]) {
    let path = dir.join("m-weights_manifest.json");
    std::fs::write(&path, manifest).unwrap();
    if let Ok(weights) = load_tfjs(&path) {
        for w in weights {
            let count = w.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            assert_eq!(count, Some(w.data.len()), "{}: {:?}", w.name, w.shape);
        }
    }
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
    let root = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let generated = (manifest(), prop::collection::vec(any::<u8>(), 0..96));
    runner(cases, deterministic)
        .run(&generated, |(manifest, bytes)| {
            let dir = shards(root.path(), &bytes);
            check(&dir, manifest.to_string().as_bytes());
            Ok(())
        })
        .unwrap_or_else(|e| panic!("generated manifests: {e}"));
    eprintln!("fuzz tfjs generated: {cases} cases in {:.1} s", start.elapsed().as_secs_f64());

    let seed = br#"[{"paths":["a.bin","b.bin"],"weights":[
        {"name":"a","shape":[2],"dtype":"float32"},
        {"name":"h","shape":[1,2],"dtype":"float16"},
        {"name":"q","shape":[3],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1.0}},
        {"name":"r","shape":[2],"dtype":"float32","quantization":{"dtype":"uint16","scale":0.5,"min":-1.0}}]},
        {"paths":["sub/c.bin"],"weights":[{"name":"i","shape":[1],"dtype":"int32"}]}]"#;
    let shard: Vec<u8> = (0..20u8).collect();
    let start = std::time::Instant::now();
    let edits = prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1..6);
    runner(cases, deterministic)
        .run(&(edits.clone(), edits), |(on_manifest, on_shards)| {
            let dir = shards(root.path(), &mutate(&shard, &on_shards));
            check(&dir, &mutate(seed, &on_manifest));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("mutated manifest and shards: {e}"));
    eprintln!("fuzz tfjs mutated: {cases} cases in {:.1} s", start.elapsed().as_secs_f64());
    let peak = peak_rss_bytes().unwrap_or(0);
    assert!(peak < 2 << 30, "peak memory {} MB", peak >> 20);
}

#[test]
fn generated_and_mutated_manifests_never_panic() {
    run(SHORT_CASES, true);
}

#[test]
#[ignore = "long fuzz run: --ignored, FACESTYLE_FUZZ_CASES cases per harness"]
fn generated_and_mutated_manifests_never_panic_long() {
    run(fuzz_cases(50_000), false);
}

#[test]
fn corpus_replays() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus/tfjs");
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let root = tempfile::tempdir().unwrap();
            let dir = shards(root.path(), &[]);
            for shard in std::fs::read_dir(&corpus).unwrap() {
                let shard = shard.unwrap().path();
                if shard.extension().is_some_and(|e| e == "bin") {
                    std::fs::copy(&shard, dir.join(shard.file_name().unwrap())).unwrap();
                }
            }
            check(&dir, &std::fs::read(&path).unwrap());
        }
    }
}
