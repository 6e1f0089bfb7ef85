//! A gallery for Python: the CLI's SQLite gallery (same file format, same checks), enrolled
//! and searched through a face engine.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use facestyle_face::gallery::{self, NewEmbedding};
use facestyle_face::sface::DIM;
use pyo3::prelude::*;

use crate::errors;
use crate::faces::{Engine, FaceTuple, decimal, face_tuple};
use crate::picture::Picture;

/// One enrolment: name as stored, faces added, faces already there, the person's count after,
/// and each picture's detector fallback.
type EnrolledTuple = (String, usize, usize, usize, Vec<Option<&'static str>>);

/// One identified face: the face, the name (or `unknown`), its distance, the candidates.
type IdentifiedTuple = (FaceTuple, String, Option<f64>, Vec<(String, f64)>);

#[pyclass(frozen, module = "facestyle._native")]
pub struct Gallery {
    inner: Mutex<gallery::Gallery>,
    engine: Py<Engine>,
    path: PathBuf,
}

impl Gallery {
    fn lock(&self) -> MutexGuard<'_, gallery::Gallery> {
        // A panic while the lock was held cannot leave the database half-written (every
        // change is a transaction), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl Gallery {
    /// Opens the gallery at `path` for `engine`'s embedding model, creating an empty one when
    /// `create` and the file does not exist.
    #[new]
    #[pyo3(signature = (path, engine, create = true))]
    fn new(py: Python<'_>, path: PathBuf, engine: Py<Engine>, create: bool) -> PyResult<Gallery> {
        let text = path.to_string_lossy();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Err(errors::argument(
                "path",
                "PostgreSQL galleries are not available in this package; give the path of a SQLite file",
            ));
        }
        let inner = py.detach(|| {
            let e = &engine.get().inner;
            if create {
                gallery::Gallery::open_or_create(&path, &e.model_id, &e.model_version)
            } else {
                gallery::Gallery::open(&path, &e.model_id, &e.model_version)
            }
            .map_err(errors::face)
        })?;
        Ok(Gallery { inner: Mutex::new(inner), engine, path })
    }

    #[getter]
    fn path(&self) -> &std::path::Path {
        &self.path
    }

    #[getter]
    fn engine(&self, py: Python<'_>) -> Py<Engine> {
        self.engine.clone_ref(py)
    }

    /// Adds the largest face of each picture to person `name`, all in one transaction: a
    /// picture without a face, or a bad name, changes nothing. A picture the person already
    /// has (same sha256) is not stored again.
    fn enroll(&self, py: Python<'_>, name: &str, pictures: Vec<Py<Picture>>) -> PyResult<EnrolledTuple> {
        let name = gallery::check_name(name).map_err(errors::face)?;
        if pictures.is_empty() {
            return Err(errors::argument("images", "no picture given (one is enough)"));
        }
        py.detach(|| {
            let engine = self.engine.get();
            let mut rows = Vec::with_capacity(pictures.len());
            let mut fallbacks = Vec::with_capacity(pictures.len());
            for p in &pictures {
                let p = p.get();
                let (found, _) = engine.largest_face(p)?;
                fallbacks.push(found.face.fallback.map(|f| f.name()));
                rows.push(NewEmbedding {
                    image_sha256: p.sha256.clone(),
                    image_path: p.name.clone(),
                    bbox: found.face.bbox,
                    vector: found.embedding,
                });
            }
            let done = self.lock().enroll_report(&name, &rows).map_err(errors::face)?;
            Ok((done.name, done.added, done.already_present, done.total, fallbacks))
        })
    }

    /// Every face of each picture, identified against the gallery: the closest person when
    /// the verifier calls them the same, else `unknown`, with the `top` closest people.
    #[pyo3(signature = (pictures, top = 1, metric = "sq-l2", threshold = None))]
    fn identify(
        &self,
        py: Python<'_>,
        pictures: Vec<Py<Picture>>,
        top: usize,
        metric: &str,
        threshold: Option<f32>,
    ) -> PyResult<Vec<Vec<IdentifiedTuple>>> {
        let engine = self.engine.get();
        let verifier = engine.verifier(metric, threshold)?;
        if top == 0 {
            return Err(errors::argument("top", "must be at least 1"));
        }
        py.detach(|| {
            let (index, names) = self.lock().load_index(DIM).map_err(errors::face)?;
            Ok(pictures
                .iter()
                .map(|p| {
                    engine
                        .inner
                        .analyze(&p.get().image)
                        .iter()
                        .map(|f| {
                            let who = index.identify(&f.embedding, top, &verifier, &names);
                            let candidates =
                                who.candidates.into_iter().map(|c| (c.name, decimal(c.distance))).collect();
                            (face_tuple(&f.face), who.name, who.distance.map(decimal), candidates)
                        })
                        .collect()
                })
                .collect())
        })
    }

    /// `(name, embeddings, created_at)` of every person, by name.
    fn people(&self, py: Python<'_>) -> PyResult<Vec<(String, usize, String)>> {
        let people = py.detach(|| self.lock().people()).map_err(errors::face)?;
        Ok(people.into_iter().map(|p| (p.name, p.embeddings, p.created_at)).collect())
    }

    /// Removes a person and their embeddings; `False` when there is no such person.
    fn forget(&self, py: Python<'_>, name: &str) -> PyResult<bool> {
        py.detach(|| self.lock().forget(name)).map_err(errors::face)
    }
}
