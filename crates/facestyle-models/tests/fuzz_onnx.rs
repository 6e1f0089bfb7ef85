//! Fuzzing the ONNX reader (property tests on stable Rust): small valid models (quantized
//! weights through DequantizeLinear + Reshape, Constant, Identity, FLOAT16 / DOUBLE / uint8 /
//! int32 tensors, attributes of every kind) mutated byte-wise, and models generated from parts
//! (tensors of every type and odd shapes, the folded operators and others reading any of
//! them, their attributes, subgraph attributes). Property: `from_bytes`,
//! `fold_constants`, the weight accessors and the summary return (a model or an error) and
//! never panic, and memory stays bounded.
//!
//! The default run is short and deterministic; `-- --ignored` runs `FACESTYLE_FUZZ_CASES`
//! cases per seed (default 1000000) from a random seed. Inputs that once failed are kept in
//! `tests/fuzz-corpus/onnx/` and replayed by every run.

use std::path::Path;

use facestyle_models::onnx::encode::{self, Data};
use facestyle_models::onnx::wire::Writer;
use facestyle_models::onnx::{OnnxModel, data_type};
use facestyle_models::testing::{fuzz_cases, mutate, peak_rss_bytes};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const SHORT_CASES: u32 = 20_000;

/// A quantized model shaped like the real ones.
fn quantized() -> Vec<u8> {
    let inits = [
        encode::i8_tensor("w_q", &[2, 4], &[1, 2, 3, 4, -1, -2, -3, -4]),
        encode::f32_tensor("w_scale", &[2, 2], &[0.5, 0.25, 1.0, 2.0]),
        encode::i8_tensor("w_zp", &[2, 2], &[1, 0, 0, -1]),
        encode::i64_tensor("w_shape", &[4], &[0, -1, 1, 1]),
        encode::tensor("b_q", &[2], data_type::INT8, Data::Int32s(&[10, -20])),
        encode::f32_tensor("b_scale", &[], &[0.5]),
        encode::tensor("gamma", &[2], data_type::FLOAT, Data::Floats(&[3.0, 4.0])),
    ];
    let c = encode::tensor("", &[], data_type::FLOAT, Data::Floats(&[0.4]));
    let nodes = [
        encode::node(
            "dq_w",
            "DequantizeLinear",
            &["w_q", "w_scale", "w_zp"],
            &["w_dq"],
            &[encode::attr_int("block_size", 2), encode::attr_int("axis", 1)],
        ),
        encode::node(
            "dq_b",
            "DequantizeLinear",
            &["b_q", "b_scale", ""],
            &["b"],
            &[encode::attr_int("axis", 0)],
        ),
        encode::node("rs_w", "Reshape", &["w_dq", "w_shape"], &["w"], &[]),
        encode::node(
            "conv",
            "Conv",
            &["input", "w", "b"],
            &["y"],
            &[encode::attr_ints("pads", &[0, 0, 0, 0])],
        ),
        encode::node("", "Constant", &[], &["c"], &[encode::attr_tensor("value", &c)]),
        encode::node("id", "Identity", &["gamma"], &["gamma_id"], &[]),
        encode::node("mul", "Mul", &["y", "c", "gamma_id"], &["out"], &[encode::attr_string("mode", "x")]),
    ];
    let graph = encode::graph("q", &nodes, &inits, &["input", "gamma"], &["out"]);
    encode::model(8, 21, "fuzz", &graph)
}

/// The less common encodings.
fn encodings() -> Vec<u8> {
    let inits = [
        encode::tensor("half", &[2], data_type::FLOAT16, Data::Raw(&[0x00, 0x3c, 0x00, 0xc0])),
        encode::tensor("double", &[1, 2], data_type::DOUBLE, Data::Doubles(&[0.25, -8.0])),
        encode::tensor("u", &[3, 2], data_type::UINT8, Data::Raw(&[0, 255, 128, 129, 10, 20])),
        encode::f32_tensor("u_scale", &[3], &[1.0, 0.5, 0.25]),
        encode::tensor("u_zp", &[3], data_type::UINT8, Data::Int32s(&[128, 128, 0])),
        encode::tensor("acc", &[2], data_type::INT32, Data::Raw(&[0xff, 0xff, 0xff, 0xff, 4, 0, 0, 0])),
        encode::f32_tensor("acc_scale", &[], &[0.5]),
        encode::tensor("shape", &[3], data_type::INT64, Data::Int64s(&[0, -1, 1])),
    ];
    let nodes = [
        encode::node(
            "dq_u",
            "DequantizeLinear",
            &["u", "u_scale", "u_zp"],
            &["u_f"],
            &[encode::attr_int("axis", 0)],
        ),
        encode::node("rs", "Reshape", &["u_f", "shape"], &["w"], &[]),
        encode::node("dq_acc", "DequantizeLinear", &["acc", "acc_scale"], &["bias"], &[]),
        encode::node("k", "Constant", &[], &["k"], &[encode::attr_float("value_float", 1.5)]),
        encode::node("ks", "Constant", &[], &["ks"], &[encode::attr_ints("value_ints", &[1, 2, 3])]),
        encode::node(
            "op",
            "Custom",
            &["x", "w", "bias", "k", "ks", "half", "double"],
            &["y"],
            &[encode::attr_floats("f", &[1.0])],
        ),
    ];
    let graph = encode::graph("e", &nodes, &inits, &["x"], &["y"]);
    encode::model(9, 21, "fuzz", &graph)
}

/// The property: reading, folding and every accessor return without panicking. Returns how
/// far the input got: 0 refused, 1 read, 2 folded.
fn check(bytes: &[u8]) -> usize {
    let Ok(mut m) = OnnxModel::from_bytes(bytes, "fuzz.onnx") else { return 0 };
    let _ = m.summary();
    let names: Vec<String> = m.initializers.keys().cloned().collect();
    for n in &names {
        let _ = m.block_quantized(n);
    }
    for n in m.nodes.iter().flat_map(|n| n.outputs.clone()).collect::<Vec<_>>() {
        let _ = m.block_quantized(&n);
    }
    let _ = m.runtime_inputs();
    if m.fold_constants().is_err() {
        return 1;
    }
    let _ = m.summary();
    for n in &names {
        let _ = m.weight(n);
    }
    let _ = m.into_weights();
    2
}

const NAMES: [&str; 6] = ["a", "b", "c", "d", "", "x"];
const OPS: [&str; 8] = ["Identity", "Reshape", "DequantizeLinear", "Constant", "Conv", "Gemm", "Mul", "If"];
/// (data type, bytes per value) of generated tensors; BOOL (9) is refused by the reader.
const TYPES: [(i32, usize); 8] = [
    (data_type::FLOAT, 4),
    (data_type::INT8, 1),
    (data_type::UINT8, 1),
    (data_type::INT32, 4),
    (data_type::INT64, 8),
    (data_type::FLOAT16, 2),
    (data_type::DOUBLE, 8),
    (9, 1),
];

/// A tensor of a random type and shape (small dimensions, now and then a huge or negative
/// one), its raw data mostly of the right length.
fn tensor(name: &'static str) -> impl Strategy<Value = Writer> {
    let dim = prop_oneof![8 => 0i64..4, 1 => Just(-1i64), 1 => Just(1i64 << 40)];
    (
        prop::collection::vec(dim, 0..4),
        0..TYPES.len(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..8),
    )
        .prop_flat_map(move |(dims, t, exact, junk)| {
            let (code, width) = TYPES[t];
            let count =
                dims.iter().try_fold(1usize, |n, &d| usize::try_from(d).ok().and_then(|d| n.checked_mul(d)));
            let len = match count {
                Some(c) if exact && c <= 64 => c * width,
                _ => junk.len(),
            };
            prop::collection::vec(any::<u8>(), len)
                .prop_map(move |data| encode::tensor(name, &dims, code, Data::Raw(&data)))
        })
}

fn attr() -> impl Strategy<Value = Writer> {
    prop_oneof![
        (-3i64..4).prop_map(|v| encode::attr_int("axis", v)),
        (-1i64..5).prop_map(|v| encode::attr_int("block_size", v)),
        (0i64..2).prop_map(|v| encode::attr_int("allowzero", v)),
        tensor("").prop_map(|t| encode::attr_tensor("value", &t)),
        any::<f32>().prop_map(|v| encode::attr_float("value_float", v)),
        prop::collection::vec(-2i64..5, 0..4).prop_map(|v| encode::attr_ints("value_ints", &v)),
        prop::collection::vec(any::<f32>(), 0..3).prop_map(|v| encode::attr_floats("value_floats", &v)),
        Just(encode::attr_string("mode", "x")),
        Just({
            let mut graph = Writer::new();
            graph.string(1, "then_branch").varint(20, 5);
            graph
        }),
    ]
}

/// Models generated from parts: initializers of every type, nodes of the folded operators
/// (and others) reading any of them, with the attributes folding looks at.
fn generated() -> impl Strategy<Value = Vec<u8>> {
    let inits = prop::collection::vec((0..4usize).prop_flat_map(|i| tensor(NAMES[i])), 0..5);
    let node = (
        0..OPS.len(),
        prop::collection::vec(0..NAMES.len(), 0..4),
        0..NAMES.len(),
        prop::collection::vec(attr(), 0..3),
    );
    let nodes = prop::collection::vec(node, 0..7);
    (inits, nodes, prop::collection::vec(0..NAMES.len(), 0..3)).prop_map(|(inits, nodes, outputs)| {
        let nodes: Vec<Writer> = nodes
            .into_iter()
            .map(|(op, inputs, output, attrs)| {
                let inputs: Vec<&str> = inputs.iter().map(|&i| NAMES[i]).collect();
                encode::node("", OPS[op], &inputs, &[NAMES[output]], &attrs)
            })
            .collect();
        let outputs: Vec<&str> = outputs.iter().map(|&i| NAMES[i]).collect();
        encode::model(8, 21, "fuzz", &encode::graph("g", &nodes, &inits, &["x"], &outputs))
    })
}

fn edits() -> impl Strategy<Value = Vec<(u8, u32, u32)>> {
    prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1..6)
}

fn run(cases: u32, deterministic: bool) {
    for (name, seed) in [("quantized", quantized()), ("encodings", encodings())] {
        check(&seed);
        let config = Config { cases, failure_persistence: None, ..Config::default() };
        let mut runner = if deterministic {
            TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
        } else {
            TestRunner::new(config)
        };
        let start = std::time::Instant::now();
        let reached = std::cell::RefCell::new([0usize; 3]);
        if let Err(e) = runner.run(&edits(), |e| {
            reached.borrow_mut()[check(&mutate(&seed, &e))] += 1;
            Ok(())
        }) {
            panic!("{name}: {e}");
        }
        let [refused, read, folded] = reached.into_inner();
        eprintln!(
            "fuzz onnx {name}: {cases} cases in {:.1} s ({refused} refused, {read} read but not folded, {folded} folded)",
            start.elapsed().as_secs_f64()
        );
    }
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = if deterministic {
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
    } else {
        TestRunner::new(config)
    };
    let start = std::time::Instant::now();
    let reached = std::cell::RefCell::new([0usize; 3]);
    if let Err(e) = runner.run(&generated(), |bytes| {
        reached.borrow_mut()[check(&bytes)] += 1;
        Ok(())
    }) {
        panic!("generated models: {e}");
    }
    let [refused, read, folded] = reached.into_inner();
    eprintln!(
        "fuzz onnx generated: {cases} cases in {:.1} s ({refused} refused, {read} read but not folded, {folded} folded)",
        start.elapsed().as_secs_f64()
    );
    let peak = peak_rss_bytes().unwrap_or(0);
    assert!(peak < 2 << 30, "peak memory {} MB", peak >> 20);
}

#[test]
fn mutated_models_never_panic() {
    run(SHORT_CASES, true);
}

#[test]
#[ignore = "long fuzz run: --ignored, FACESTYLE_FUZZ_CASES cases per seed"]
fn mutated_models_never_panic_long() {
    run(fuzz_cases(1_000_000), false);
}

#[test]
fn corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus/onnx");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "onnx") {
            check(&std::fs::read(&path).unwrap());
        }
    }
}
