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

/// A number in [-1, 1) from `seed` (splitmix64).
pub fn noise(seed: u64) -> f32 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

/// A synthetic unit embedding of a person (`who`) in one photo (`shot`): people point in
/// random directions, far apart; photos of one person are close.
pub fn face(who: u64, shot: u64) -> Vec<f32> {
    let mut v: Vec<f32> = (0..128u64)
        .map(|i| noise(who << 8 | i) + 0.1 * noise((who << 40) ^ (shot << 8) ^ i ^ 1 << 63))
        .collect();
    facestyle_face::metric::l2_normalize(&mut v);
    v
}

/// [`face`] as a gallery row, with an image hash of its own.
pub fn row(who: u64, shot: u64) -> facestyle_face::gallery::NewEmbedding {
    facestyle_face::gallery::NewEmbedding {
        image_sha256: format!("{who:032}{shot:032}"),
        image_path: format!("p{who}_{shot}.jpg"),
        bbox: [1.0, 2.0, 3.0, 4.0],
        vector: face(who, shot),
    }
}
