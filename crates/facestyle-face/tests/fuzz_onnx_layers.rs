//! Fuzzing the path of a user-supplied `.onnx` into the networks (property tests on stable
//! Rust): a small model of the layer kinds the networks read (a block-int8 Conv through
//! DequantizeLinear + Reshape, BatchNormalization, PRelu, a block-int8 Gemm, named
//! constants), and the cached pretrained YuNet and SFace files when present, mutated
//! byte-wise. Property: reading the layer records, taking them with the network's shapes and
//! building YuNet / SFace return (layers or an error) and never panic.
//!
//! The default run is short and deterministic; `-- --ignored` runs `FACESTYLE_FUZZ_CASES`
//! cases on the small model (default 200000), a tenth of that on YuNet and a thousandth on
//! SFace's 10 MB file, from a random seed. Inputs
//! that once failed are kept in `tests/fuzz-corpus/onnx_layers/` and replayed by every run.

mod common;

use std::path::Path;

use facestyle_face::onnx_layers::OnnxLayers;
use facestyle_face::sface::SFace;
use facestyle_face::yunet::YuNet;
use facestyle_models::onnx::data_type;
use facestyle_models::onnx::encode::{self, Data};
use facestyle_models::testing::{cached_model, fuzz_cases, mutate, peak_rss_bytes};
use facestyle_nn::pretrained::ConvGeometry;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const SHORT_CASES: u32 = 20_000;

/// Conv 2 -> 4 (3x3, block-int8 weights), batch norm, PReLU, flatten, Gemm 36 -> 3 (block-int8
/// weights, blocks of 8), two named constants.
fn layer_model() -> Vec<u8> {
    let q: Vec<i8> = (0..72).map(|i| (i % 11) as i8 - 5).collect();
    let gq: Vec<i8> = (0..108).map(|i| (i % 7) as i8 - 3).collect();
    let inits = [
        encode::i8_tensor("w_q", &[4, 18], &q),
        encode::f32_tensor("w_s", &[4, 3], &[0.5; 12]),
        encode::i8_tensor("w_z", &[4, 3], &[0; 12]),
        encode::i64_tensor("w_shape", &[4], &[4, 2, 3, 3]),
        encode::f32_tensor("bias", &[4], &[0.1, 0.2, 0.3, 0.4]),
        encode::f32_tensor("gamma", &[4], &[1.0; 4]),
        encode::f32_tensor("beta", &[4], &[0.0; 4]),
        encode::f32_tensor("mean", &[4], &[0.5; 4]),
        encode::f32_tensor("var", &[4], &[2.0; 4]),
        encode::tensor("slope", &[4, 1, 1], data_type::FLOAT, Data::Floats(&[0.25; 4])),
        encode::i8_tensor("g_q", &[3, 36], &gq),
        encode::f32_tensor("g_s", &[3, 5], &[0.125; 15]),
        encode::i8_tensor("g_z", &[3, 5], &[1; 15]),
        encode::f32_tensor("g_b", &[3], &[1.0, 2.0, 3.0]),
        encode::f32_tensor("scalar_op1", &[1], &[127.5]),
        encode::f32_tensor("scalar_op2", &[1], &[0.0078125]),
    ];
    let block = |n: i64| [encode::attr_int("axis", 1), encode::attr_int("block_size", n)];
    let nodes = [
        encode::node("sub", "Sub", &["x", "scalar_op1"], &["x0"], &[]),
        encode::node("mul", "Mul", &["x0", "scalar_op2"], &["x1"], &[]),
        encode::node("dq_w", "DequantizeLinear", &["w_q", "w_s", "w_z"], &["w_f"], &block(8)),
        encode::node("rs_w", "Reshape", &["w_f", "w_shape"], &["w"], &[]),
        encode::node(
            "conv",
            "Conv",
            &["x1", "w", "bias"],
            &["c"],
            &[
                encode::attr_ints("strides", &[1, 1]),
                encode::attr_ints("pads", &[1, 1, 1, 1]),
                encode::attr_int("group", 1),
            ],
        ),
        encode::node(
            "bn",
            "BatchNormalization",
            &["c", "gamma", "beta", "mean", "var"],
            &["n"],
            &[encode::attr_float("epsilon", 1e-5)],
        ),
        encode::node("prelu", "PRelu", &["n", "slope"], &["p"], &[]),
        encode::node("flat", "Flatten", &["p"], &["f"], &[encode::attr_int("axis", 1)]),
        encode::node("dq_g", "DequantizeLinear", &["g_q", "g_s", "g_z"], &["g_w"], &block(8)),
        encode::node("fc", "Gemm", &["f", "g_w", "g_b"], &["y"], &[encode::attr_int("transB", 1)]),
    ];
    let graph = encode::graph("layers", &nodes, &inits, &["x"], &["y"]);
    encode::model(8, 21, "fuzz", &graph)
}

/// The property for the small model: every record taken with its own shapes, or an error.
/// Returns whether the layers were read.
fn check_layers(bytes: &[u8]) -> bool {
    let Ok(mut l) = OnnxLayers::from_bytes(bytes, Path::new("fuzz.onnx")) else { return false };
    let _ = l.constant("scalar_op1", 1);
    let _ = l.constant("scalar_op2", 1);
    let _ = l.take_gemm_quantized();
    let _ = l.gemm();
    let _ = l.next_conv(4, 2, 3, ConvGeometry { stride: 1, padding: 1, groups: 1 });
    let _ = l.next_bn(4);
    let _ = l.next_prelu(4);
    let _ = l.finish();
    let _ = l.next_conv(4, 2, 3, ConvGeometry { stride: 1, padding: 1, groups: 1 });
    true
}

/// The property for a pretrained file: the network builds or reports an error. Returns
/// whether it built.
fn check_network(bytes: &[u8], network: &str) -> bool {
    let device = facestyle_nn::device::default_device();
    let Ok(layers) = OnnxLayers::from_bytes(bytes, Path::new("fuzz.onnx")) else { return false };
    match network {
        "yunet" => YuNet::from_layers(layers, &device).is_ok(),
        _ => SFace::from_layers(layers, &device).is_ok(),
    }
}

fn edits() -> impl Strategy<Value = Vec<(u8, u32, u32)>> {
    prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1..6)
}

fn fuzz(name: &str, seed: &[u8], cases: u32, deterministic: bool, check: impl Fn(&[u8]) -> bool) {
    assert!(check(seed), "{name}: the unmutated seed is read");
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = if deterministic {
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
    } else {
        TestRunner::new(config)
    };
    let start = std::time::Instant::now();
    let built = std::cell::Cell::new(0);
    if let Err(e) = runner.run(&edits(), |e| {
        built.set(built.get() + usize::from(check(&mutate(seed, &e))));
        Ok(())
    }) {
        panic!("{name}: {e}");
    }
    eprintln!(
        "fuzz onnx layers {name}: {cases} cases in {:.1} s, {} read / built",
        start.elapsed().as_secs_f64(),
        built.get()
    );
}

fn run(cases: u32, deterministic: bool) {
    fuzz("layer model", &layer_model(), cases, deterministic, check_layers);
    if let Some(path) = cached_model(common::YUNET) {
        let seed = std::fs::read(path).unwrap();
        fuzz("yunet", &seed, (cases / 10).max(1), deterministic, |b| check_network(b, "yunet"));
    }
    if let Some(path) = cached_model(common::SFACE) {
        let seed = std::fs::read(path).unwrap();
        fuzz("sface", &seed, (cases / 1000).max(1), deterministic, |b| check_network(b, "sface"));
    }
    let peak = peak_rss_bytes().unwrap_or(0);
    assert!(peak < 3 << 30, "peak memory {} MB", peak >> 20);
}

#[test]
fn mutated_layer_models_never_panic() {
    run(SHORT_CASES, true);
}

#[test]
#[ignore = "long fuzz run: --ignored, FACESTYLE_FUZZ_CASES cases"]
fn mutated_layer_models_never_panic_long() {
    run(fuzz_cases(200_000), false);
}

#[test]
fn corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus/onnx_layers");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        match path.file_name().and_then(|n| n.to_str()).and_then(|n| n.split('-').next()) {
            Some("layers") => {
                let _ = check_layers(&bytes);
            }
            Some(net @ ("yunet" | "sface")) => {
                let _ = check_network(&bytes, net);
            }
            _ => {}
        }
    }
}
