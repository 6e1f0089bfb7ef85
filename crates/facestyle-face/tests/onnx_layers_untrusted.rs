//! A user-supplied `.onnx` whose nodes lack inputs the layer reader needs gets an error that
//! names the file, never a panic.

use facestyle_face::onnx_layers::OnnxLayers;
use facestyle_models::onnx::encode;
use facestyle_models::onnx::wire::Writer;

fn write(dir: &std::path::Path, nodes: &[Writer], inits: &[Writer]) -> std::path::PathBuf {
    let path = dir.join("user.onnx");
    let graph = encode::graph("g", nodes, inits, &["x"], &["y"]);
    std::fs::write(&path, encode::model(8, 21, "test", &graph)).unwrap();
    path
}

#[test]
fn a_gemm_without_weights_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for inputs in [&["x"][..], &[][..], &["x", ""][..]] {
        let path = write(dir.path(), &[encode::node("fc", "Gemm", inputs, &["y"], &[])], &[]);
        let layers = OnnxLayers::load(&path).unwrap();
        let err = layers.gemm().expect_err("no weight input").to_string();
        assert!(err.contains("user.onnx") && err.contains("Gemm"), "{inputs:?}: {err}");
    }
    let w = encode::f32_tensor("w", &[2, 2], &[1.0; 4]);
    let path = write(dir.path(), &[encode::node("fc", "Gemm", &["x", "w"], &["y"], &[])], &[w]);
    let err = OnnxLayers::load(&path).unwrap().gemm().expect_err("no bias input").to_string();
    assert!(err.contains("user.onnx") && err.contains("input 2"), "{err}");
}

#[test]
fn layers_without_their_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (op, inputs) in [
        ("Conv", &["x"][..]),
        ("Conv", &[][..]),
        ("BatchNormalization", &["x", "g"][..]),
        ("PRelu", &["x"][..]),
        ("PRelu", &["x", ""][..]),
    ] {
        let g = encode::f32_tensor("g", &[1], &[1.0]);
        let path = write(dir.path(), &[encode::node("n", op, inputs, &["y"], &[])], &[g]);
        let err = OnnxLayers::load(&path).err().expect(op).to_string();
        assert!(err.contains("user.onnx"), "{op} {inputs:?}: {err}");
    }
}

#[test]
fn a_convolution_without_a_bias_has_a_zero_bias() {
    use facestyle_nn::pretrained::ConvGeometry;
    let dir = tempfile::tempdir().unwrap();
    let w = encode::f32_tensor("w", &[2, 1, 3, 3], &[0.5; 18]);
    let conv = encode::node("c", "Conv", &["x", "w"], &["y"], &[encode::attr_ints("pads", &[1, 1, 1, 1])]);
    let path = write(dir.path(), &[conv], &[w]);
    let mut layers = OnnxLayers::load(&path).unwrap();
    let c = layers.next_conv(2, 1, 3, ConvGeometry { stride: 1, padding: 1, groups: 1 }).unwrap();
    assert_eq!(c.bias, vec![0.0, 0.0]);
}
