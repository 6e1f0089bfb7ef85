//! tfjs manifests are data: a hostile one cannot make the reader open files outside the
//! manifest's directory, nor overflow its size arithmetic.

use std::path::{Path, PathBuf};

use facestyle_models::tfjs::load_tfjs;

fn write_manifest(dir: &Path, manifest: &str) -> PathBuf {
    let path = dir.join("m-weights_manifest.json");
    std::fs::write(&path, manifest).unwrap();
    path
}

#[test]
fn shard_paths_leaving_the_manifest_directory_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let models = root.path().join("models");
    std::fs::create_dir(&models).unwrap();
    std::fs::write(root.path().join("outside.bin"), 1.5f32.to_le_bytes()).unwrap();
    std::fs::create_dir(models.join("sub")).unwrap();
    std::fs::write(models.join("sub/in.bin"), 2.5f32.to_le_bytes()).unwrap();
    let weights = r#""weights":[{"name":"a","shape":[1],"dtype":"float32"}]"#;
    let outside = root.path().join("outside.bin");
    for shard in ["../outside.bin", "sub/../../outside.bin", outside.to_str().unwrap(), "./sub/in.bin", ""] {
        let manifest = format!(r#"[{{"paths":[{}],{weights}}}]"#, serde_json::to_string(shard).unwrap());
        let err = load_tfjs(&write_manifest(&models, &manifest)).expect_err(shard).to_string();
        assert!(err.contains("shard path") && err.contains("m-weights_manifest.json"), "{shard:?}: {err}");
    }
    let manifest = format!(r#"[{{"paths":["sub/in.bin"],{weights}}}]"#);
    let w = load_tfjs(&write_manifest(&models, &manifest)).unwrap();
    assert_eq!(w[0].data, vec![2.5], "a plain relative path below the manifest is fine");
}

#[test]
fn shape_products_that_overflow_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.bin"), [0u8; 8]).unwrap();
    for (shape, dtype) in [
        ("[4294967296, 4294967296]", "float32"),
        ("[4611686018427387904]", "float32"),
        ("[2305843009213693952, 16]", "uint8"),
        ("[18446744073709551615, 2]", "float16"),
    ] {
        let manifest = format!(
            r#"[{{"paths":["m.bin"],"weights":[{{"name":"big","shape":{shape},"dtype":"{dtype}"}}]}}]"#
        );
        let err = load_tfjs(&write_manifest(dir.path(), &manifest)).expect_err(shape).to_string();
        assert!(err.contains("weight big") && err.contains("overflow"), "{shape}: {err}");
    }
}

#[test]
fn a_shard_listed_twice_or_not_a_regular_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("m.bin"), [0u8; 4]).unwrap();
    let weight = r#"{"name":"a","shape":[1],"dtype":"float32"}"#;
    let twice =
        format!(r#"[{{"paths":["m.bin"],"weights":[{weight}]}},{{"paths":["m.bin"],"weights":[{weight}]}}]"#);
    let err = load_tfjs(&write_manifest(dir.path(), &twice)).unwrap_err().to_string();
    assert!(err.contains("listed twice"), "{err}");
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.bin")).unwrap();
    let endless = r#"[{"paths":["zero.bin"],"weights":[]}]"#;
    let err = load_tfjs(&write_manifest(dir.path(), endless)).unwrap_err().to_string();
    assert!(err.contains("regular file"), "{err}");
}
