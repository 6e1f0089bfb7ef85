//! The ONNX reader on the real quantized models (YuNet, SFace), compared with golden values
//! that ONNX's reference implementation computed (tools/onnx_golden.py).
//!
//! The models come from the model cache; without them the tests print a skip notice and
//! pass, unless `FACESTYLE_REQUIRE_MODELS=1`.

use std::collections::BTreeMap;

use facestyle_models::WeightTensor;
use facestyle_models::onnx::OnnxModel;
use serde::Deserialize;
use sha2::{Digest, Sha256};

const YUNET: &str = "face_detection_yunet_2023mar_int8bq.onnx";
const SFACE: &str = "face_recognition_sface_2021dec_int8bq.onnx";

use facestyle_models::testing::cached_model as real_model;

#[derive(Deserialize)]
struct Golden {
    models: BTreeMap<String, GoldenModel>,
}

#[derive(Deserialize)]
struct GoldenModel {
    sha256: String,
    folded_nodes: usize,
    weight_count: usize,
    weights: Vec<GoldenWeight>,
}

#[derive(Deserialize)]
struct GoldenWeight {
    name: String,
    shape: Vec<usize>,
    sum: f64,
    abs_sum: f64,
    first: Vec<f64>,
}

fn golden(file_name: &str) -> GoldenModel {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/onnx_golden.json");
    let text = std::fs::read_to_string(path).expect("golden file");
    let mut golden: Golden = serde_json::from_str(&text).expect("golden JSON");
    golden.models.remove(file_name).unwrap_or_else(|| panic!("{file_name} missing from {path}"))
}

fn close(ours: f64, theirs: f64, rel: f64) -> bool {
    (ours - theirs).abs() <= rel * theirs.abs().max(1e-12)
}

/// Loads, checks the file is the one the golden values came from, folds, and compares every
/// weight: count, names and shapes exactly, sums to relative 1e-5, first values to 1e-6.
fn check_against_golden(file_name: &str) -> Option<OnnxModel> {
    let path = real_model(file_name)?;
    let golden = golden(file_name);
    let bytes = std::fs::read(&path).expect("read model");
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        golden.sha256,
        "{} differs from the file the golden values were made from: re-run tools/onnx_golden.py",
        path.display()
    );
    let mut model = OnnxModel::from_bytes(&bytes, &path).expect("load");
    assert_eq!(model.fold_constants().expect("fold"), golden.folded_nodes);
    let weights: Vec<WeightTensor> = model.weights();
    assert_eq!(weights.len(), golden.weight_count);
    for (ours, theirs) in weights.iter().zip(&golden.weights) {
        assert_eq!(ours.name, theirs.name);
        assert_eq!(ours.shape, theirs.shape, "{}", ours.name);
        assert_eq!(ours.data.len(), ours.shape.iter().product::<usize>(), "{}", ours.name);
        let sum: f64 = ours.data.iter().map(|&v| f64::from(v)).sum();
        let abs_sum: f64 = ours.data.iter().map(|&v| f64::from(v).abs()).sum();
        assert!(close(sum, theirs.sum, 1e-5), "{}: sum {sum} vs {}", ours.name, theirs.sum);
        assert!(
            close(abs_sum, theirs.abs_sum, 1e-5),
            "{}: abs sum {abs_sum} vs {}",
            ours.name,
            theirs.abs_sum
        );
        assert_eq!(theirs.first.len(), ours.data.len().min(4), "{}", ours.name);
        for (k, (&a, &b)) in ours.data.iter().zip(&theirs.first).enumerate() {
            assert!((f64::from(a) - b).abs() <= 1e-6, "{}[{k}]: {a} vs {b}", ours.name);
        }
    }
    Some(model)
}

#[test]
fn onnx_real_yunet_structure() {
    let Some(path) = real_model(YUNET) else { return };
    let model = OnnxModel::load(&path).expect("load YuNet");
    assert_eq!(model.ir_version, 6);
    assert_eq!(model.opset(""), Some(21));
    assert_eq!(model.initializers.len(), 304);
    assert_eq!(model.runtime_inputs(), vec!["input"]);
    assert_eq!(model.graph_outputs.len(), 12);
    let ops = model.op_counts();
    assert_eq!(ops["DequantizeLinear"], 64);
    assert_eq!(ops["Conv"], 53);
    let dq = model.nodes.iter().find(|n| n.op_type == "DequantizeLinear").expect("a DequantizeLinear");
    assert_eq!(dq.attr("axis").and_then(|a| a.as_int()), Some(1));
    // The empty float initializer loads.
    assert_eq!(model.initializers["240"].dims, vec![0]);
}

#[test]
fn onnx_real_yunet_matches_golden() {
    let Some(model) = check_against_golden(YUNET) else { return };
    assert!(!model.nodes.iter().any(|n| n.op_type == "DequantizeLinear"));
    let first_conv = &model.nodes.iter().find(|n| n.op_type == "Conv").expect("a Conv").inputs;
    let w = model.expect_weight(&first_conv[1], &[16, 3, 3, 3]).expect("first conv weight");
    assert_eq!(w.numel(), 432);
    let summary = model.summary();
    assert!(summary.contains("weights: 109 float tensors"), "{summary}");
}

#[test]
fn onnx_real_sface_structure() {
    let Some(path) = real_model(SFACE) else { return };
    let model = OnnxModel::load(&path).expect("load SFace");
    assert_eq!(model.opset("ai.onnx"), Some(21));
    assert_eq!(model.initializers.len(), 261);
    assert_eq!(model.graph_inputs.len(), 175);
    let ops = model.op_counts();
    assert_eq!((ops["DequantizeLinear"], ops["Constant"], ops["Gemm"]), (29, 1, 1));
    // BatchNormalization parameters are stored as float_data.
    let bn = model.nodes.iter().find(|n| n.op_type == "BatchNormalization").expect("a BatchNormalization");
    assert!(model.initializers[&bn.inputs[1]].as_f32().is_some());
}

#[test]
fn onnx_real_sface_matches_golden() {
    let Some(model) = check_against_golden(SFACE) else { return };
    assert!(!model.nodes.iter().any(|n| matches!(n.op_type.as_str(), "DequantizeLinear" | "Constant")));
    assert_eq!(model.runtime_inputs(), vec!["data"]);
    let gemm = model.nodes.iter().find(|n| n.op_type == "Gemm").expect("Gemm");
    model.expect_weight(&gemm.inputs[1], &[128, 50176]).expect("pre_fc1 weight");
    model.expect_weight(&gemm.inputs[2], &[128]).expect("pre_fc1 bias");
}

#[test]
fn onnx_real_models_summary() {
    for file_name in [YUNET, SFACE] {
        let Some(path) = real_model(file_name) else { continue };
        let model = OnnxModel::load_folded(&path).expect("load");
        let summary = model.summary();
        assert!(summary.contains("opset ai.onnx 21"), "{summary}");
        assert!(summary.lines().count() > 100, "{summary}");
    }
}
