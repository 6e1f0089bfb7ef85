//! A trained embedding model on disk (`facestyle face train --out DIR`, used by every face
//! command with `--model DIR`): `model.json` (architecture, weights checksum, how it was
//! trained) and `weights.bpk` (burnpack parameters).
//!
//! Embeddings of different models are never compared: a model directory's identity in
//! galleries and embedding files is its architecture plus the sha256 prefix of its weights.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compact::{CompactConfig, CompactNet};
use crate::embedder::Embedder;
use crate::error::{FaceError, Result};
use crate::sface::SFace;

pub const INFO_FILE: &str = "model.json";
pub const WEIGHTS_FILE: &str = "weights.bpk";
const FORMAT: &str = "facestyle-model/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// [`CompactNet`] trained from scratch.
    Compact,
    /// SFace's architecture (fine-tuned from the pretrained weights).
    Sface,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    pub format: String,
    pub arch: Arch,
    /// Present for [`Arch::Compact`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact: Option<CompactConfig>,
    pub weights_sha256: String,
    /// How the model was trained.
    #[serde(default)]
    pub training: Training,
}

/// How a model directory's network was trained, as the trainer records it in `model.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// The epoch whose network this is (the best on validation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<usize>,
    /// How that network did on the validation pairs; its threshold is the model's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Validation>,
    /// The rest of the record (training configuration, data), kept as written.
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// A network's result on validation pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Ten-fold cross-validated accuracy.
    pub accuracy: f64,
    pub auc: f64,
    /// Squared-L2 threshold chosen on all the pairs (reported, not used for the accuracy).
    pub threshold: f32,
}

impl ModelInfo {
    /// Model id as recorded in galleries and embedding files.
    pub fn model_id(&self) -> String {
        match self.arch {
            Arch::Compact => "trained-compact".into(),
            Arch::Sface => "trained-sface".into(),
        }
    }

    pub fn model_version(&self) -> String {
        self.weights_sha256.chars().take(12).collect()
    }

    /// The decision threshold found at validation (squared L2 on unit vectors), in `metric`'s
    /// units (cosine distance is half of it).
    pub fn threshold(&self, metric: crate::metric::Metric) -> Option<f32> {
        let t = self.training.validation?.threshold;
        Some(match metric {
            crate::metric::Metric::SqL2 => t,
            crate::metric::Metric::Cosine => t / 2.0,
        })
    }
}

fn bad(dir: &Path, problem: impl Into<String>) -> FaceError {
    FaceError::ModelDir { path: dir.to_path_buf(), problem: problem.into() }
}

pub fn read_info(dir: &Path) -> Result<ModelInfo> {
    let path = dir.join(INFO_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| bad(dir, format!("cannot read {INFO_FILE} ({e}); not a trained model directory")))?;
    let info: ModelInfo =
        serde_json::from_str(&text).map_err(|e| bad(dir, format!("{INFO_FILE} is not valid: {e}")))?;
    if info.format != FORMAT {
        return Err(bad(dir, format!("{INFO_FILE} has format '{}', expected '{FORMAT}'", info.format)));
    }
    if info.arch == Arch::Compact && info.compact.is_none() {
        return Err(bad(dir, format!("{INFO_FILE}: a compact model needs its `compact` settings")));
    }
    Ok(info)
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    Ok(hex::encode(Sha256::digest(std::fs::read(path)?)))
}

/// Loads a model directory. `sface_onnx` is the pretrained SFace file, whose structure a
/// fine-tuned SFace is built on before its weights are replaced.
pub fn load(
    dir: &Path,
    sface_onnx: impl FnOnce() -> Result<PathBuf>,
    device: &Device,
) -> Result<(Embedder, ModelInfo)> {
    let info = read_info(dir)?;
    let weights = dir.join(WEIGHTS_FILE);
    let sha = sha256_file(&weights).map_err(|e| bad(dir, format!("cannot read {WEIGHTS_FILE}: {e}")))?;
    if sha != info.weights_sha256 {
        return Err(bad(
            dir,
            format!("{WEIGHTS_FILE} does not match the checksum in {INFO_FILE} (damaged or replaced)"),
        ));
    }
    let net = match info.arch {
        Arch::Compact => Embedder::Compact(CompactNet::new(info.compact.expect("checked"), device)),
        Arch::Sface => Embedder::SFace(SFace::load(&sface_onnx()?, device)?),
    };
    let net = net
        .try_load_file(&weights)
        .map_err(|e| bad(dir, format!("{WEIGHTS_FILE} does not fit the network: {e}")))?;
    Ok((net, info))
}

/// Writes `net` into `dir` (created if needed): weights first, then `model.json` with their
/// checksum, each through a temporary file and a rename, so a reader never sees a mix.
pub fn save(
    dir: &Path,
    net: &Embedder,
    compact: Option<CompactConfig>,
    training: Training,
) -> Result<ModelInfo> {
    std::fs::create_dir_all(dir).map_err(|e| bad(dir, format!("cannot create: {e}")))?;
    let tmp = dir.join(format!("{WEIGHTS_FILE}.tmp"));
    net.clone().save_file(&tmp).map_err(|e| bad(dir, format!("cannot write weights: {e}")))?;
    let sha = sha256_file(&tmp).map_err(|e| bad(dir, format!("cannot read back weights: {e}")))?;
    std::fs::rename(&tmp, dir.join(WEIGHTS_FILE))
        .map_err(|e| bad(dir, format!("cannot write weights: {e}")))?;
    let arch = match net {
        Embedder::Compact(_) => Arch::Compact,
        Embedder::SFace(_) => Arch::Sface,
    };
    let info = ModelInfo { format: FORMAT.into(), arch, compact, weights_sha256: sha, training };
    let text = serde_json::to_string_pretty(&info).expect("serialisable");
    let tmp = dir.join(format!("{INFO_FILE}.tmp"));
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, dir.join(INFO_FILE)))
        .map_err(|e| bad(dir, format!("cannot write {INFO_FILE}: {e}")))?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_detection() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        let cfg = CompactConfig { width: 4, dim: 8 };
        let net = Embedder::Compact(CompactNet::new(cfg, &device));
        let info =
            save(dir.path(), &net, Some(cfg), Training { epoch: Some(1), ..Training::default() }).unwrap();
        assert_eq!(info.model_id(), "trained-compact");
        let no_sface = || -> Result<PathBuf> { panic!("a compact model needs no SFace file") };
        let (back, read) = load(dir.path(), no_sface, &device).unwrap();
        assert_eq!(read.weights_sha256, info.weights_sha256);
        let x = Tensor::<4>::ones([1, 3, 112, 112], &device) * 100.0;
        let diff: f32 = (net.forward(x.clone()) - back.forward(x)).abs().max().into_scalar();
        assert_eq!(diff, 0.0);

        // A changed weights file is refused, naming the directory and the problem.
        let w = dir.path().join(WEIGHTS_FILE);
        let mut bytes = std::fs::read(&w).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&w, bytes).unwrap();
        let e = load(dir.path(), no_sface, &device).unwrap_err().to_string();
        assert!(
            e.contains("does not match the checksum") && e.contains(&dir.path().display().to_string()),
            "{e}"
        );
        // Not a model directory at all.
        let e = load(&dir.path().join("nope"), no_sface, &device).unwrap_err().to_string();
        assert!(e.contains("cannot read model.json"), "{e}");
    }

    #[test]
    fn validation_threshold_is_the_models_default() {
        use crate::metric::{Metric, Verifier};
        let dir = tempfile::tempdir().unwrap();
        let text = |threshold: &str| {
            format!(
                r#"{{"format": "{FORMAT}", "arch": "sface", "weights_sha256": "00",
                "training": {{"epoch": 3, "validation": {{"accuracy": 0.9, "auc": 0.95, "threshold": {threshold}}},
                "config": {{"lr": 0.001}}}}}}"#
            )
        };
        std::fs::write(dir.path().join(INFO_FILE), text("1.1")).unwrap();
        let info = read_info(dir.path()).unwrap();
        assert_eq!(info.training.epoch, Some(3));
        assert_eq!(info.training.details["config"]["lr"], 0.001);
        assert_eq!(info.threshold(Metric::Cosine), Some(0.55));
        let v = Verifier::resolve(Metric::SqL2, None, Some(&info)).unwrap();
        assert_eq!(v.threshold, 1.1);
        assert_eq!(Verifier::resolve(Metric::SqL2, Some(0.9), Some(&info)).unwrap().threshold, 0.9);
        // A threshold that is not a number is refused when the file is read, naming the file.
        std::fs::write(dir.path().join(INFO_FILE), text("\"high\"")).unwrap();
        let e = read_info(dir.path()).unwrap_err().to_string();
        assert!(e.contains("model.json is not valid") && e.contains("expected f32"), "{e}");
    }
}
