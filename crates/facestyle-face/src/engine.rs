//! The face pipeline in one object: detect (YuNet) -> align (5-point similarity) -> embed
//! (SFace), with the pretrained weights fetched into the model cache on first use.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use facestyle_models::{cache, fetch, registry};
use facestyle_nn::pretrained::values;
use image::RgbImage;

use crate::align::align_face;
use crate::detect::{DetectConfig, Detector, Face, largest};
use crate::error::{FaceError, Result};
use crate::metric::l2_normalize;
use crate::photo::to_chw;
use crate::sface::{DIM, INPUT, SFace};
use crate::yunet::YuNet;

/// Identifies the embedding model in galleries and embedding files: embeddings of different
/// models are never compared.
pub const MODEL_ID: &str = "sface-2021dec-int8bq";

/// A face found in an image, with its aligned crop's unit-length embedding.
#[derive(Debug, Clone)]
pub struct FaceEmbedding {
    pub face: Face,
    pub embedding: Vec<f32>,
}

pub struct FaceEngine {
    pub detector: Detector,
    pub sface: SFace,
    device: Device,
    /// Embedding model identity: [`MODEL_ID`] plus the weights file's sha256 prefix.
    pub model_version: String,
}

/// The embedding model's version, as galleries and embedding files record it: the pinned
/// sha256 prefix of the SFace weights (known without loading or fetching anything).
pub fn model_version() -> Result<String> {
    let spec = registry::model("sface").map_err(FaceError::Other)?;
    Ok(spec.files[0].sha256[..12].to_string())
}

/// Paths of the detector and embedding model files in the model cache, fetched when missing.
pub fn model_files() -> Result<(PathBuf, PathBuf)> {
    let dir = cache::models_dir();
    let get = |name: &str| -> Result<PathBuf> {
        let spec = registry::model(name).map_err(FaceError::Other)?;
        Ok(fetch::ensure(spec, &dir)?.remove(0))
    };
    Ok((get("yunet")?, get("sface")?))
}

impl FaceEngine {
    /// Loads both networks from the model cache (fetching them first if needed).
    pub fn load(config: DetectConfig, device: Device) -> Result<Self> {
        let (yunet, sface) = model_files()?;
        Self::from_files(&yunet, &sface, &model_version()?, config, device)
    }

    pub fn from_files(
        yunet: &Path,
        sface: &Path,
        version: &str,
        config: DetectConfig,
        device: Device,
    ) -> Result<Self> {
        let detector = Detector::new(YuNet::load(yunet, &device)?, config, device.clone());
        let sface = SFace::load(sface, &device)?;
        Ok(FaceEngine { detector, sface, device, model_version: version.to_string() })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// All faces in `img`, best score first.
    pub fn detect(&self, img: &RgbImage) -> Vec<Face> {
        self.detector.detect(img)
    }

    /// Unit-length embeddings of aligned 112x112 RGB crops, computed in one batch.
    pub fn embed_crops(&self, crops: &[RgbImage]) -> Vec<Vec<f32>> {
        if crops.is_empty() {
            return vec![];
        }
        let plane = INPUT * INPUT * 3;
        let mut data = Vec::with_capacity(crops.len() * plane);
        for c in crops {
            assert_eq!(c.dimensions(), (INPUT as u32, INPUT as u32), "embed_crops needs 112x112 crops");
            data.extend(to_chw(c, [0, 1, 2]));
        }
        let x = Tensor::<4>::from_data(TensorData::new(data, [crops.len(), 3, INPUT, INPUT]), &self.device);
        let flat = values(self.sface.forward(x));
        flat.chunks(DIM)
            .map(|e| {
                let mut e = e.to_vec();
                l2_normalize(&mut e);
                e
            })
            .collect()
    }

    /// The largest face in `img` with its embedding, and how many faces were found.
    pub fn largest_face(&self, img: &RgbImage) -> Option<(FaceEmbedding, usize)> {
        let faces = self.detect(img);
        let face = largest(&faces)?.clone();
        let embedding = self.embed_crops(&[align_face(img, &face.landmarks)]).remove(0);
        Some((FaceEmbedding { face, embedding }, faces.len()))
    }

    /// Every face in `img` with its embedding, best detection score first.
    pub fn analyze(&self, img: &RgbImage) -> Vec<FaceEmbedding> {
        let faces = self.detect(img);
        let crops: Vec<RgbImage> = faces.iter().map(|f| align_face(img, &f.landmarks)).collect();
        let embs = self.embed_crops(&crops);
        faces.into_iter().zip(embs).map(|(face, embedding)| FaceEmbedding { face, embedding }).collect()
    }
}
