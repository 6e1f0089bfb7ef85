//! Folding a hostile model: a small file whose many `Identity`, `Reshape` or
//! `DequantizeLinear` nodes all read one large initializer must not materialise a copy per
//! node (gigabytes from megabytes); folding stops with an error instead. Chains that only
//! pass a tensor along move it and cost nothing.

use facestyle_models::onnx::OnnxModel;
use facestyle_models::onnx::data_type;
use facestyle_models::onnx::encode::{self, Data};
use facestyle_models::onnx::wire::Writer;

const BIG: usize = 1 << 20;

fn big_f32() -> encode::Data<'static> {
    static RAW: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    Data::Raw(RAW.get_or_init(|| (0..BIG).flat_map(|i| (i as f32).to_le_bytes()).collect()))
}

fn model(nodes: &[Writer], inits: &[Writer], outputs: &[&str]) -> Vec<u8> {
    encode::model(8, 21, "budget", &encode::graph("g", nodes, inits, &["x"], outputs))
}

fn fold(bytes: &[u8]) -> Result<OnnxModel, String> {
    let mut m = OnnxModel::from_bytes(bytes, "hostile.onnx").map_err(|e| e.to_string())?;
    m.fold_constants().map_err(|e| e.to_string())?;
    Ok(m)
}

#[test]
fn fan_out_of_copies_is_refused() {
    let w = encode::tensor("w", &[BIG as i64], data_type::FLOAT, big_f32());
    let shape = encode::i64_tensor("shape", &[2], &[-1, 1024]);
    let names: Vec<String> = (0..300).map(|i| format!("y{i}")).collect();
    let outs: Vec<&str> = names.iter().map(String::as_str).collect();
    for op in ["Identity", "Reshape"] {
        let nodes: Vec<_> = names
            .iter()
            .map(|n| {
                let inputs: &[&str] = if op == "Identity" { &["w"] } else { &["w", "shape"] };
                encode::node(n, op, inputs, &[n.as_str()], &[])
            })
            .collect();
        let err = fold(&model(&nodes, &[w.clone(), shape.clone()], &outs)).expect_err(op);
        assert!(err.contains("hostile.onnx: folding") && err.contains("bytes"), "{op}: {err}");
    }
    let q = encode::tensor("q", &[BIG as i64], data_type::INT8, Data::Raw(&vec![1u8; BIG]));
    let s = encode::f32_tensor("s", &[], &[0.5]);
    let nodes: Vec<_> =
        names.iter().map(|n| encode::node(n, "DequantizeLinear", &["q", "s"], &[n.as_str()], &[])).collect();
    let err = fold(&model(&nodes, &[q, s], &outs)).expect_err("DequantizeLinear");
    assert!(err.contains("folding") && err.contains("bytes"), "{err}");
}

#[test]
fn chains_move_the_tensor_along() {
    let w = encode::tensor("w", &[BIG as i64], data_type::FLOAT, big_f32());
    let shapes = [encode::i64_tensor("s0", &[2], &[-1, 1024]), encode::i64_tensor("s1", &[1], &[-1])];
    let mut nodes = Vec::new();
    let mut prev = "w".to_string();
    for i in 0..300 {
        let next = format!("t{i}");
        nodes.push(match i % 3 {
            0 => encode::node("", "Identity", &[&prev], &[&next], &[]),
            1 => encode::node("", "Reshape", &[&prev, "s0"], &[&next], &[]),
            _ => encode::node("", "Reshape", &[&prev, "s1"], &[&next], &[]),
        });
        prev = next;
    }
    nodes.push(encode::node("use", "Relu", &["x", &prev], &["y"], &[]));
    let inits = [w, shapes[0].clone(), shapes[1].clone()];
    let m = fold(&model(&nodes, &inits, &["y"])).unwrap();
    let t = m.weight(&prev).unwrap();
    assert_eq!(t.shape, vec![BIG]);
    assert_eq!((t.data[0], t.data[BIG - 1]), (0.0, (BIG - 1) as f32));
    assert_eq!(m.initializers.len(), 1, "only the chain's end is left");
}
