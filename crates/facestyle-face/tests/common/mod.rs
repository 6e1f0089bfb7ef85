//! Shared by the integration tests: fixture paths and the engine built from cached models.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use facestyle_face::detect::DetectConfig;
use facestyle_face::engine::FaceEngine;
use facestyle_models::testing::cached_model;

pub const YUNET: &str = "face_detection_yunet_2023mar_int8bq.onnx";
pub const SFACE: &str = "face_recognition_sface_2021dec_int8bq.onnx";

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// The pipeline on the cached pretrained models; `None` (with a notice) when they are not
/// cached, a panic when `FACESTYLE_REQUIRE_MODELS=1` (CI).
pub fn engine() -> Option<&'static FaceEngine> {
    static ENGINE: OnceLock<Option<FaceEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let (y, s) = (cached_model(YUNET)?, cached_model(SFACE)?);
            let device = facestyle_nn::device::default_device();
            Some(
                FaceEngine::from_files(&y, &s, "test", DetectConfig::default(), device).expect("models load"),
            )
        })
        .as_ref()
}

/// LFW under ../shared/data, when this checkout has it.
pub fn lfw_dir() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/lfw");
    root.join("images_deepfunneled").is_dir().then_some(root)
}
