//! The face pipeline in one object: detect (YuNet) -> align (5-point similarity) -> embed
//! (SFace), with the pretrained weights fetched into the model cache on first use.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use facestyle_models::{cache, fetch, registry};
use facestyle_nn::pretrained::values;
use image::RgbImage;

use crate::align::align_face;
use crate::detect::{DetectConfig, Detector, Face, largest};
use crate::embedder::Embedder;
use crate::error::{FaceError, Result};
use crate::metric::l2_normalize;
use crate::photo::{Order, to_planes};
use crate::sface::{INPUT, SFace, SFacePlan};
use crate::yunet::YuNet;

/// Identifies the embedding model in galleries and embedding files: embeddings of different
/// models are never compared.
pub const MODEL_ID: &str = "sface-2021dec-int8bq";

/// Aligned crops embedded per network batch: many faces are embedded a batch at a time, so
/// the batch (and the network's activations) stays small however many faces a photo holds.
pub const EMBED_BATCH: usize = 16;

/// A face found in an image, with its aligned crop's unit-length embedding.
#[derive(Debug, Clone)]
pub struct FaceEmbedding {
    pub face: Face,
    pub embedding: Vec<f32>,
}

pub struct FaceEngine {
    pub detector: Detector,
    embedder: Embedder,
    /// The embedder's packed weights, made from them at load (they never change after).
    plan: Option<SFacePlan>,
    device: Device,
    /// Embedding model identity: [`MODEL_ID`] (or a trained model's id, see
    /// [`crate::model_dir`]) and the weights file's sha256 prefix.
    pub model_id: String,
    pub model_version: String,
}

/// The identity `(model id, version)` of the pretrained SFace or of a trained model directory,
/// read without loading any network.
pub fn model_identity(model: Option<&Path>) -> Result<(String, String)> {
    match model {
        None => Ok((MODEL_ID.to_string(), model_version()?)),
        Some(dir) => {
            let info = crate::model_dir::read_info(dir)?;
            Ok((info.model_id(), info.model_version()))
        }
    }
}

/// The embedding model's version, as galleries and embedding files record it: the pinned
/// sha256 prefix of the SFace weights (known without loading or fetching anything).
pub fn model_version() -> Result<String> {
    let spec = registry::model("sface").map_err(FaceError::Other)?;
    Ok(spec.files[0].sha256[..12].to_string())
}

/// Path of one registry model's (first) file in the model cache, fetched when missing.
pub fn model_file(name: &str) -> Result<PathBuf> {
    let spec = registry::model(name).map_err(FaceError::Other)?;
    Ok(fetch::ensure(spec, &cache::models_dir())?.remove(0))
}

/// Paths of the detector and embedding model files in the model cache, fetched when missing.
pub fn model_files() -> Result<(PathBuf, PathBuf)> {
    Ok((model_file("yunet")?, model_file("sface")?))
}

impl FaceEngine {
    /// Loads both networks from the model cache (fetching them first if needed).
    pub fn load(config: DetectConfig, device: Device) -> Result<Self> {
        let (yunet, sface) = model_files()?;
        Self::from_files(&yunet, &sface, &model_version()?, config, device)
    }

    /// Like [`FaceEngine::load`], embedding with the trained model in `model` when given.
    pub fn load_with(config: DetectConfig, device: Device, model: Option<&Path>) -> Result<Self> {
        let Some(dir) = model else { return Self::load(config, device) };
        let (embedder, info) = crate::model_dir::load(dir, || model_file("sface"), &device)?;
        let yunet = model_file("yunet")?;
        let detector = Detector::new(YuNet::load(&yunet, &device)?, config, device.clone());
        Ok(Self::assemble(detector, embedder, device, info.model_id(), info.model_version()))
    }

    pub fn from_files(
        yunet: &Path,
        sface: &Path,
        version: &str,
        config: DetectConfig,
        device: Device,
    ) -> Result<Self> {
        let detector = Detector::new(YuNet::load(yunet, &device)?, config, device.clone());
        let embedder = Embedder::SFace(SFace::load(sface, &device)?);
        Ok(Self::assemble(detector, embedder, device, MODEL_ID.to_string(), version.to_string()))
    }

    /// The engine of loaded networks, with the embedder's inference plan made from its weights.
    fn assemble(
        detector: Detector,
        embedder: Embedder,
        device: Device,
        model_id: String,
        model_version: String,
    ) -> Self {
        FaceEngine { detector, plan: embedder.plan(), embedder, device, model_id, model_version }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The embedding network (read-only: the engine's packed weights were made from it).
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// All faces in `img`, best score first.
    pub fn detect(&self, img: &RgbImage) -> Vec<Face> {
        self.detector.detect(img)
    }

    /// Unit-length embeddings of aligned 112x112 RGB crops, computed [`EMBED_BATCH`] crops at
    /// a time.
    pub fn embed_crops(&self, crops: &[RgbImage]) -> Vec<Vec<f32>> {
        crops.chunks(EMBED_BATCH).flat_map(|batch| self.embed_batch(batch)).collect()
    }

    /// Unit-length embeddings of aligned 112x112 RGB crops, computed in one network batch of
    /// them all (memory grows with the number of crops; [`FaceEngine::embed_crops`] bounds it).
    pub fn embed_batch(&self, crops: &[RgbImage]) -> Vec<Vec<f32>> {
        if crops.is_empty() {
            return vec![];
        }
        let plane = INPUT * INPUT * 3;
        let mut data = Vec::with_capacity(crops.len() * plane);
        for c in crops {
            assert_eq!(c.dimensions(), (INPUT as u32, INPUT as u32), "embed_crops needs 112x112 crops");
            data.extend(to_planes(c, Order::Rgb, INPUT, INPUT));
        }
        let x = Tensor::<4>::from_data(TensorData::new(data, [crops.len(), 3, INPUT, INPUT]), &self.device);
        let out = self.embedder.forward_planned(x, self.plan.as_ref());
        let dim = out.dims()[1];
        let flat = values(out);
        flat.chunks(dim)
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

    /// Every face in `img` (at most the detector's `max_faces`) with its embedding, best
    /// detection score first; aligned and embedded [`EMBED_BATCH`] faces at a time.
    pub fn analyze(&self, img: &RgbImage) -> Vec<FaceEmbedding> {
        let faces = self.detect(img);
        let mut out = Vec::with_capacity(faces.len());
        for batch in faces.chunks(EMBED_BATCH) {
            let crops: Vec<RgbImage> = batch.iter().map(|f| align_face(img, &f.landmarks)).collect();
            let embs = self.embed_batch(&crops);
            out.extend(
                batch.iter().cloned().zip(embs).map(|(face, embedding)| FaceEmbedding { face, embedding }),
            );
        }
        out
    }
}
