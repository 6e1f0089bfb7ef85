//! A gallery for Python: the CLI's galleries (a SQLite file or a PostgreSQL URL, same format,
//! same checks), enrolled and searched through a face engine.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use facestyle_face::gallery::ann::Search;
use facestyle_face::gallery::store::{self, Location, Store};
use facestyle_face::gallery::{self, NewEmbedding};
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
    inner: Mutex<Box<dyn Store>>,
    engine: Py<Engine>,
    location: String,
}

/// Progress of a SQLite gallery's approximate index build, on one line of stderr.
fn index_progress(done: usize, total: usize) {
    eprint!("\rbuilding the approximate index: {done}/{total}");
    if done == total {
        eprintln!();
    }
}

impl Gallery {
    fn lock(&self) -> MutexGuard<'_, Box<dyn Store>> {
        // A panic while the lock was held cannot leave the database half-written (every
        // change is a transaction), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl Gallery {
    /// Opens the gallery at `location` (a SQLite file, or a `postgres://` URL) for `engine`'s
    /// embedding model, creating an empty one when `create` and there is none. `search`
    /// (`auto`, `exact`, `approximate`) is how a SQLite gallery is searched, as the CLI's
    /// `--search`; building its approximate index shows progress on stderr.
    #[new]
    #[pyo3(signature = (location, engine, create = true, search = "auto"))]
    fn new(
        py: Python<'_>,
        location: PathBuf,
        engine: Py<Engine>,
        create: bool,
        search: &str,
    ) -> PyResult<Gallery> {
        let search = Search::parse(search).map_err(|e| errors::argument("search", e))?;
        let at = Location::parse(&location.to_string_lossy());
        let mut inner = py.detach(|| {
            let e = &engine.get().inner;
            store::open(&at, &e.model_id, &e.model_version, create).map_err(errors::face)
        })?;
        inner.set_search(search, Some(Box::new(index_progress)));
        Ok(Gallery { location: inner.location(), inner: Mutex::new(inner), engine })
    }

    /// Where the gallery is (a URL without its password).
    #[getter]
    fn location(&self) -> &str {
        &self.location
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
                    image_sha256: p.sha256().to_string(),
                    image_path: p.name.clone(),
                    bbox: found.face.bbox,
                    vector: found.embedding,
                });
            }
            let done = self.lock().enroll(&name, &rows).map_err(errors::face)?;
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
            let found: Vec<_> = pictures.iter().map(|p| engine.inner.analyze(&p.get().image)).collect();
            // One search for the faces of every picture (a SQLite gallery is read once).
            let queries: Vec<&[f32]> = found.iter().flatten().map(|f| f.embedding.as_slice()).collect();
            let mut answers =
                self.lock().identify(&queries, top, &verifier).map_err(errors::face)?.into_iter();
            Ok(found
                .iter()
                .map(|faces| {
                    faces
                        .iter()
                        .zip(answers.by_ref())
                        .map(|(f, who)| {
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
