//! Tests of the whole reader on small models generated with [`super::encode`].

use super::encode::{self, Data};
use super::tensor::data_type;
use super::*;

/// A tiny quantized model shaped like the real ones: a blocked DequantizeLinear + Reshape
/// weight, a per-tensor DequantizeLinear bias, a Constant, an Identity, a stale graph input,
/// an unused shape initializer, a stale input naming no initializer.
fn tiny_model() -> Vec<u8> {
    let inits = [
        encode::i8_tensor("w_q", &[2, 4], &[1, 2, 3, 4, -1, -2, -3, -4]),
        encode::f32_tensor("w_scale", &[2, 2], &[0.5, 0.25, 1.0, 2.0]),
        encode::i8_tensor("w_zp", &[2, 2], &[1, 0, 0, -1]),
        encode::i64_tensor("w_shape", &[4], &[0, -1, 1, 1]),
        encode::tensor("b_q", &[2], data_type::INT8, Data::Int32s(&[10, -20])),
        encode::f32_tensor("b_scale", &[], &[0.5]),
        encode::tensor("gamma", &[2], data_type::FLOAT, Data::Floats(&[3.0, 4.0])),
        encode::i64_tensor("stale_shape", &[1], &[2]),
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
        encode::node("mul1", "Mul", &["y", "c"], &["m"], &[]),
        encode::node("mul2", "Mul", &["m", "gamma_id"], &["out"], &[]),
    ];
    let graph = encode::graph("tiny", &nodes, &inits, &["input", "gamma", "old_w"], &["out"]);
    encode::model(8, 21, "facestyle-test", &graph)
}

#[test]
fn tiny_model_loads() {
    let m = OnnxModel::from_bytes(&tiny_model(), "tiny.onnx").unwrap();
    assert_eq!(
        (m.ir_version, m.producer_name.as_str(), m.graph_name.as_str()),
        (8, "facestyle-test", "tiny")
    );
    assert_eq!(m.opsets, vec![Opset { domain: String::new(), version: 21 }]);
    assert_eq!(m.opset("ai.onnx"), Some(21));
    assert_eq!(m.nodes.len(), 8);
    assert_eq!(m.initializers.len(), 8);
    assert_eq!(m.graph_inputs, vec!["input", "gamma", "old_w"]);
    assert_eq!(m.runtime_inputs(), vec!["input", "old_w"]);
    assert_eq!(m.graph_outputs, vec!["out"]);
    assert_eq!(m.nodes[0].attr("block_size"), Some(&Attr::Int(2)));
    assert_eq!(m.nodes[1].inputs, vec!["b_q", "b_scale", ""]);
    assert_eq!(m.op_counts()["DequantizeLinear"], 2);
    // Before folding only the plain float initializers are weights.
    let names: Vec<String> = m.weights().into_iter().map(|w| w.name).collect();
    assert_eq!(names, vec!["b_scale", "gamma", "w_scale"]);
}

#[test]
fn tiny_model_folds() {
    let mut m = OnnxModel::from_bytes(&tiny_model(), "tiny.onnx").unwrap();
    assert_eq!(m.fold_constants().unwrap(), 5);
    let ops: Vec<&str> = m.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, vec!["Conv", "Mul", "Mul"]);
    assert_eq!(m.initializers.keys().collect::<Vec<_>>(), vec!["b", "c", "gamma_id", "w"]);
    assert_eq!(m.graph_inputs, vec!["input"], "unused inputs dropped");
    let w = m.weights();
    assert_eq!(w.len(), 4);
    assert_eq!((w[0].name.as_str(), &w[0].shape, &w[0].data), ("b", &vec![2], &vec![5.0, -10.0]));
    assert_eq!((w[1].name.as_str(), w[1].shape.len(), &w[1].data), ("c", 0, &vec![0.4]));
    assert_eq!(w[2].data, vec![3.0, 4.0]);
    let conv = m.expect_weight("w", &[2, 4, 1, 1]).unwrap();
    assert_eq!(conv.data, vec![0.0, 0.5, 0.75, 1.0, -1.0, -2.0, -4.0, -6.0]);
    // Folding again is a no-op.
    assert_eq!(m.fold_constants().unwrap(), 0);
    assert_eq!(m.clone().into_weights(), w);
    let summary = m.summary();
    assert!(summary.contains("nodes: 3 (Conv 1, Mul 2)"), "{summary}");
    assert!(summary.contains("weights: 4 float tensors, 13 values"), "{summary}");
    assert!(summary.contains("  w [2, 4, 1, 1]"), "{summary}");
}

#[test]
fn block_quantized_weights_read_as_stored() {
    let mut m = OnnxModel::from_bytes(&tiny_model(), "tiny.onnx").unwrap();
    let q = m.block_quantized("w_dq").expect("a blocked int8 DequantizeLinear");
    assert_eq!((q.rows, q.cols, q.block), (2, 4, 2));
    assert_eq!(q.values, vec![1, 2, 3, 4, -1, -2, -3, -4]);
    assert_eq!((&q.zero_points[..], &q.scales[..]), (&[1, 0, 0, -1][..], &[0.5, 0.25, 1.0, 2.0][..]));
    // (q - zero point) * scale is what folding computes.
    let w: Vec<f32> =
        (0..8).map(|i| (q.values[i] as f32 - q.zero_points[i / 2] as f32) * q.scales[i / 2]).collect();
    assert_eq!(w, vec![0.0, 0.5, 0.75, 1.0, -1.0, -2.0, -4.0, -6.0]);
    // Not blocked (the bias: per tensor, no zero point), not a DequantizeLinear output, folded.
    assert_eq!(m.block_quantized("b"), None);
    assert_eq!(m.block_quantized("w"), None);
    m.fold_constants().unwrap();
    assert_eq!(m.block_quantized("w_dq"), None);
}

#[test]
fn weight_lookup_errors_are_clear() {
    let m = OnnxModel::from_bytes(&tiny_model(), "tiny.onnx").unwrap();
    let err = m.expect_weight("nope", &[1]).unwrap_err().to_string();
    assert_eq!(err, "tiny.onnx: no initializer named 'nope'");
    let err = m.expect_weight("w_q", &[2, 4]).unwrap_err().to_string();
    assert!(err.contains("tiny.onnx: initializer 'w_q' holds i8 values, not floats"), "{err}");
    let err = m.expect_weight("gamma", &[3]).unwrap_err().to_string();
    assert_eq!(err, "tiny.onnx: initializer 'gamma' has shape [2], expected [3]");
}

#[test]
fn every_truncated_prefix_is_an_error() {
    let bytes = tiny_model();
    assert!(OnnxModel::from_bytes(&bytes, "t.onnx").is_ok());
    for n in 0..bytes.len() {
        let err = OnnxModel::from_bytes(&bytes[..n], "t.onnx").expect_err(&format!("prefix of {n} bytes"));
        assert!(err.to_string().starts_with("t.onnx: not a valid ONNX model: "), "{err}");
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    // Flip every byte in turn: any result is fine as long as nothing panics or hangs.
    let bytes = tiny_model();
    for i in 0..bytes.len() {
        for flip in [0x80u8, 0xff, 0x01] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            if let Ok(mut m) = OnnxModel::from_bytes(&b, "c.onnx") {
                let _ = m.fold_constants();
            }
        }
    }
}

#[test]
fn fold_errors_name_the_node() {
    let inits = [
        encode::i8_tensor("q", &[2, 3], &[0; 6]),
        encode::f32_tensor("s", &[2, 2], &[1.0; 4]),
        encode::i64_tensor("shape", &[1], &[5]),
    ];
    let nodes =
        [encode::node("dq", "DequantizeLinear", &["q", "s"], &["y"], &[encode::attr_int("block_size", 1)])];
    let bytes = encode::model(8, 21, "", &encode::graph("g", &nodes, &inits, &[], &["y"]));
    let err = OnnxModel::from_bytes(&bytes, "bad.onnx").unwrap().fold_constants().unwrap_err().to_string();
    assert!(err.starts_with("bad.onnx: folding DequantizeLinear node 'dq': blocked scale 's' has shape [2, 2], expected [2, 3]"), "{err}");

    let nodes = [encode::node("rs", "Reshape", &["q", "shape"], &["y"], &[])];
    let bytes = encode::model(8, 21, "", &encode::graph("g", &nodes, &inits, &[], &["y"]));
    let err = OnnxModel::from_bytes(&bytes, "bad.onnx").unwrap().fold_constants().unwrap_err().to_string();
    assert!(err.contains("folding Reshape node 'rs': cannot reshape 'q' of shape [2, 3]"), "{err}");
}

#[test]
fn structural_errors() {
    let g = encode::graph(
        "g",
        &[],
        &[encode::f32_tensor("a", &[1], &[1.0]), encode::f32_tensor("a", &[1], &[2.0])],
        &[],
        &[],
    );
    let err = OnnxModel::from_bytes(&encode::model(8, 21, "", &g), "d.onnx").unwrap_err().to_string();
    assert!(err.contains("initializer 'a' given twice"), "{err}");

    let g = encode::graph("g", &[], &[encode::tensor("b", &[1], 9, Data::Raw(&[1]))], &[], &[]);
    let err = OnnxModel::from_bytes(&encode::model(8, 21, "", &g), "d.onnx").unwrap_err().to_string();
    assert!(err.contains("initializer #0: tensor 'b': data type 9 (BOOL) not supported"), "{err}");

    let mut w = wire::Writer::new();
    w.int64(1, 8);
    let err = OnnxModel::from_bytes(w.as_bytes(), "d.onnx").unwrap_err().to_string();
    assert!(err.contains("no graph"), "{err}");

    // Old IR versions may lack opset_import.
    let mut w = wire::Writer::new();
    w.int64(1, 2).message(7, &encode::graph("g", &[], &[], &[], &[]));
    assert!(OnnxModel::from_bytes(w.as_bytes(), "old.onnx").is_ok());
}
