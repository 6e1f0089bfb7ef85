//! The face engine for Python: detect, align, embed, verify and cluster, each call with the GIL
//! released (the engine is shared by every thread that calls it).

use std::path::{Path, PathBuf};

use facestyle_face::align::align_face;
use facestyle_face::cluster::chinese_whispers;
use facestyle_face::detect::{DetectConfig, Face};
use facestyle_face::engine::{FaceEmbedding, FaceEngine};
use facestyle_face::metric::{Metric, Verifier};
use facestyle_face::sface::INPUT;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors;
use crate::picture::Picture;

/// A face as Python receives it: box `[x, y, w, h]`, score, 5 landmarks, fallback name.
pub type FaceTuple = ([f64; 4], f64, [[f64; 2]; 5], Option<&'static str>);

/// An f32 as the Python float that prints as it does (`1.307`, not `1.3070000410079956`): the
/// shortest decimal that reads back as the same f32, so order and equality are kept.
pub fn decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

pub fn face_tuple(f: &Face) -> FaceTuple {
    (f.bbox.map(decimal), decimal(f.score), f.landmarks.map(|p| p.map(decimal)), f.fallback.map(|x| x.name()))
}

/// Embeddings as native-endian f32 bytes, row after row (numpy reads them without a copy).
pub fn embedding_bytes<'py>(py: Python<'py>, rows: &[&[f32]]) -> Bound<'py, PyBytes> {
    let mut out = Vec::with_capacity(rows.iter().map(|r| r.len() * 4).sum());
    for r in rows {
        for x in *r {
            out.extend_from_slice(&x.to_ne_bytes());
        }
    }
    PyBytes::new(py, &out)
}

/// The faces of one picture with their embeddings.
type Analysed<'py> = (Vec<FaceTuple>, Bound<'py, PyBytes>);

fn analysed<'py>(py: Python<'py>, found: &[FaceEmbedding]) -> Analysed<'py> {
    let rows: Vec<&[f32]> = found.iter().map(|f| f.embedding.as_slice()).collect();
    (found.iter().map(|f| face_tuple(&f.face)).collect(), embedding_bytes(py, &rows))
}

/// One verification as Python receives it: metric, distance, threshold, same, faces in a,
/// faces in b.
type VerdictTuple = (&'static str, f64, f64, bool, usize, usize);

#[pyclass(frozen, module = "facestyle._native")]
pub struct Engine {
    pub inner: FaceEngine,
    /// The trained model directory used instead of SFace, if any.
    model: Option<PathBuf>,
}

impl Engine {
    /// The verification decision: `threshold` if given, else the model's validation
    /// threshold, else the pretrained pipeline's.
    pub fn verifier(&self, metric: &str, threshold: Option<f32>) -> PyResult<Verifier> {
        let metric = Metric::parse(metric)
            .ok_or_else(|| errors::argument("metric", format!("'{metric}': expected 'sq-l2' or 'cosine'")))?;
        let info = self
            .model
            .as_deref()
            .map(facestyle_face::model_dir::read_info)
            .transpose()
            .map_err(errors::face)?;
        Verifier::resolve(metric, threshold, info.as_ref()).map_err(errors::face)
    }

    /// The largest face of `pic` with its embedding and the number of faces, or `NoFaceError`.
    pub fn largest_face(&self, pic: &Picture) -> PyResult<(FaceEmbedding, usize)> {
        self.inner.largest_face(&pic.image).ok_or_else(|| {
            errors::face(facestyle_face::FaceError::NoFace {
                path: PathBuf::from(&pic.name),
                threshold: self.inner.detector.config.score_threshold,
            })
        })
    }
}

#[pymethods]
impl Engine {
    /// Loads the detector and the embedder (fetching the pinned weights into the model cache
    /// on first use).
    #[new]
    #[pyo3(signature = (score_threshold = 0.9, max_side = 640, fallback = true, model = None))]
    fn new(
        py: Python<'_>,
        score_threshold: f32,
        max_side: u32,
        fallback: bool,
        model: Option<PathBuf>,
    ) -> PyResult<Engine> {
        let config = DetectConfig::with(score_threshold, max_side, fallback).map_err(errors::face)?;
        py.detach(|| {
            let device = facestyle_nn::device::default_device();
            let inner = FaceEngine::load_with(config, device, model.as_deref()).map_err(errors::face)?;
            Ok(Engine { inner, model })
        })
    }

    #[getter]
    fn model_id(&self) -> &str {
        &self.inner.model_id
    }

    #[getter]
    fn model_version(&self) -> &str {
        &self.inner.model_version
    }

    #[getter]
    fn model_dir(&self) -> Option<&Path> {
        self.model.as_deref()
    }

    #[getter]
    fn score_threshold(&self) -> f32 {
        self.inner.detector.config.score_threshold
    }

    /// The threshold in force for `metric`: `threshold` when given (checked), else the
    /// model's validation threshold, else the pretrained pipeline's.
    #[pyo3(signature = (metric, threshold = None))]
    fn resolve_threshold(&self, metric: &str, threshold: Option<f32>) -> PyResult<f64> {
        Ok(decimal(self.verifier(metric, threshold)?.threshold))
    }

    /// Every face of each picture, best score first.
    fn detect(&self, py: Python<'_>, pictures: Vec<Py<Picture>>) -> Vec<Vec<FaceTuple>> {
        py.detach(|| {
            pictures
                .iter()
                .map(|p| self.inner.detect(&p.get().image).iter().map(face_tuple).collect())
                .collect()
        })
    }

    /// Every face of each picture with its unit-length embedding, best score first.
    fn analyze<'py>(&self, py: Python<'py>, pictures: Vec<Py<Picture>>) -> Vec<Analysed<'py>> {
        let found: Vec<Vec<FaceEmbedding>> =
            py.detach(|| pictures.iter().map(|p| self.inner.analyze(&p.get().image)).collect());
        found.iter().map(|f| analysed(py, f)).collect()
    }

    /// The largest face of each picture with its embedding and the number of faces found;
    /// `NoFaceError` names the first picture without one.
    fn largest<'py>(
        &self,
        py: Python<'py>,
        pictures: Vec<Py<Picture>>,
    ) -> PyResult<Vec<(FaceTuple, Bound<'py, PyBytes>, usize)>> {
        let found =
            py.detach(|| pictures.iter().map(|p| self.largest_face(p.get())).collect::<PyResult<Vec<_>>>())?;
        Ok(found
            .iter()
            .map(|(f, n)| (face_tuple(&f.face), embedding_bytes(py, &[f.embedding.as_slice()]), *n))
            .collect())
    }

    /// The 112x112 crop of the face with these landmarks, aligned as the embedder sees it
    /// (RGB bytes, row after row).
    fn align<'py>(
        &self,
        py: Python<'py>,
        picture: Py<Picture>,
        landmarks: [[f32; 2]; 5],
    ) -> PyResult<Bound<'py, PyBytes>> {
        if landmarks.iter().flatten().any(|v| !v.is_finite()) {
            return Err(errors::argument("landmarks", "not finite numbers"));
        }
        let crop = py.detach(|| align_face(&picture.get().image, &landmarks));
        Ok(PyBytes::new(py, crop.as_raw()))
    }

    /// Embeddings of aligned 112x112 crops.
    fn embed_aligned<'py>(&self, py: Python<'py>, crops: Vec<Py<Picture>>) -> PyResult<Bound<'py, PyBytes>> {
        for c in &crops {
            let c = c.get();
            if c.image.dimensions() != (INPUT as u32, INPUT as u32) {
                return Err(errors::argument(
                    &c.name,
                    format!(
                        "an aligned crop is {INPUT}x{INPUT}, this is {}x{}",
                        c.image.width(),
                        c.image.height()
                    ),
                ));
            }
        }
        let embs = py.detach(|| {
            let images: Vec<_> = crops.iter().map(|c| c.get().image.clone()).collect();
            self.inner.embed_crops(&images)
        });
        let rows: Vec<&[f32]> = embs.iter().map(Vec::as_slice).collect();
        Ok(embedding_bytes(py, &rows))
    }

    /// Verifies each pair of pictures on their largest faces.
    #[pyo3(signature = (pairs, metric = "sq-l2", threshold = None))]
    fn verify(
        &self,
        py: Python<'_>,
        pairs: Vec<(Py<Picture>, Py<Picture>)>,
        metric: &str,
        threshold: Option<f32>,
    ) -> PyResult<Vec<VerdictTuple>> {
        let verifier = self.verifier(metric, threshold)?;
        py.detach(|| {
            pairs
                .iter()
                .map(|(a, b)| {
                    let (fa, na) = self.largest_face(a.get())?;
                    let (fb, nb) = self.largest_face(b.get())?;
                    let v = verifier.verdict(&fa.embedding, &fb.embedding);
                    Ok((v.metric.name(), decimal(v.distance), decimal(v.threshold), v.same, na, nb))
                })
                .collect()
        })
    }

    /// Groups every face of the pictures by identity (Chinese whispers on the graph of pairs
    /// the verifier calls the same). Returns `(picture index, face, label)` per face, labels
    /// numbered from the largest cluster.
    #[pyo3(signature = (pictures, metric = "sq-l2", threshold = None, iterations = 30, seed = 1))]
    fn cluster(
        &self,
        py: Python<'_>,
        pictures: Vec<Py<Picture>>,
        metric: &str,
        threshold: Option<f32>,
        iterations: usize,
        seed: u64,
    ) -> PyResult<Vec<(usize, FaceTuple, usize)>> {
        let verifier = self.verifier(metric, threshold)?;
        Ok(py.detach(|| {
            let mut faces = Vec::new();
            let mut embeddings = Vec::new();
            for (i, p) in pictures.iter().enumerate() {
                for f in self.inner.analyze(&p.get().image) {
                    faces.push((i, face_tuple(&f.face)));
                    embeddings.push(f.embedding);
                }
            }
            let labels = chinese_whispers(&embeddings, &verifier, iterations, seed);
            faces.into_iter().zip(labels).map(|((i, f), l)| (i, f, l)).collect()
        }))
    }
}
