//! The ONNX reader through its public API, on files generated with `onnx::encode` and on
//! files that are not ONNX models at all.

use std::io::Write;

use facestyle_models::ModelError;
use facestyle_models::onnx::encode::{self, Data};
use facestyle_models::onnx::{OnnxModel, TensorValues, data_type};

/// A model with the less common encodings: FLOAT16 and DOUBLE weights, a per-axis uint8
/// DequantizeLinear, an int32 per-tensor one, a Reshape with 0 and -1, `value_float`
/// Constant.
fn generated_model() -> Vec<u8> {
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
        encode::node("op", "Custom", &["x", "w", "bias", "k", "half", "double"], &["y"], &[]),
    ];
    let graph = encode::graph("generated", &nodes, &inits, &["x"], &["y"]);
    encode::model(9, 21, "onnx_generated", &graph)
}

#[test]
fn onnx_generated_file_loads_and_folds() {
    let mut file = tempfile::NamedTempFile::new().expect("tempfile");
    file.write_all(&generated_model()).expect("write");
    let mut model = OnnxModel::load(file.path()).expect("load");
    assert_eq!(model.initializers["half"].values, TensorValues::F32(vec![1.0, -2.0]));
    assert_eq!(model.fold_constants().expect("fold"), 4);
    assert_eq!(model.nodes.len(), 1);
    let names: Vec<String> = model.weights().into_iter().map(|w| w.name).collect();
    assert_eq!(names, vec!["bias", "double", "half", "k", "w"]);
    let w = model.expect_weight("w", &[3, 2, 1]).expect("w");
    assert_eq!(w.data, vec![-128.0, 127.0, 0.0, 0.5, 2.5, 5.0]);
    assert_eq!(model.expect_weight("bias", &[2]).expect("bias").data, vec![-0.5, 2.0]);
    assert_eq!(model.expect_weight("k", &[]).expect("k").data, vec![1.5]);
    assert_eq!(model.expect_weight("double", &[1, 2]).expect("double").data, vec![0.25, -8.0]);
}

fn invalid_problem(err: ModelError, file: &std::path::Path) -> String {
    match err {
        ModelError::Onnx { path, source } => {
            assert_eq!(path, file);
            source.to_string()
        }
        other => panic!("expected an Onnx error, got {other:?}"),
    }
}

#[test]
fn onnx_not_a_model_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Deterministic pseudo-random bytes (xorshift).
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let cases: [(&str, &[u8]); 4] = [
        ("random.onnx", &random),
        ("notes.onnx", b"this is a text file, not a model\n"),
        ("empty.onnx", b""),
        ("json.onnx", b"{\"graph\": []}"),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let err = OnnxModel::load(&path).expect_err(name);
        let message = err.to_string();
        assert!(message.starts_with(&path.display().to_string()), "{message}");
        assert!(invalid_problem(err, &path).starts_with("not a valid ONNX model"), "{message}");
    }
    let missing = dir.path().join("missing.onnx");
    match OnnxModel::load(&missing) {
        Err(ModelError::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected an Io error, got {other:?}"),
    }
}

#[test]
fn onnx_external_data_is_a_clear_error() {
    let mut t = encode::tensor("big_weight", &[4], data_type::FLOAT, Data::Raw(&[]));
    t.varint(14, 1);
    let bytes = encode::model(9, 21, "", &encode::graph("g", &[], &[t], &[], &[]));
    let err = OnnxModel::from_bytes(&bytes, "ext.onnx").expect_err("external data");
    assert!(err.to_string().contains("tensor 'big_weight': external data not supported"), "{err}");
}
