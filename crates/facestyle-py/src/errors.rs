//! The library's errors as Python exceptions: bad input is a `ValueError` naming the problem,
//! a photo without a face a `NoFaceError` (a `ValueError`), model weights that cannot be
//! fetched or read a `ModelError`, a gallery that cannot be used a `GalleryError`.

use facestyle_face::FaceError;
use facestyle_style::StyleError;
use facestyle_viz::VizError;
use pyo3::PyErr;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError, PyRuntimeError, PyValueError};

create_exception!(
    facestyle,
    ModelError,
    PyException,
    "Model weights that cannot be fetched, verified or read."
);
create_exception!(facestyle, NoFaceError, PyValueError, "A photo in which the detector found no face.");
create_exception!(
    facestyle,
    GalleryError,
    PyException,
    "A gallery that cannot be opened, read or written, or that holds another model's embeddings."
);

pub fn face(e: FaceError) -> PyErr {
    let text = e.to_string();
    match e {
        FaceError::Image { .. }
        | FaceError::Name { .. }
        | FaceError::Threshold { .. }
        | FaceError::Setting { .. } => PyValueError::new_err(text),
        FaceError::NoFace { .. } => NoFaceError::new_err(text),
        FaceError::Gallery { .. } => GalleryError::new_err(text),
        FaceError::Model(_) | FaceError::ModelDir { .. } => ModelError::new_err(text),
        FaceError::Dataset { .. } | FaceError::Other(_) => PyRuntimeError::new_err(text),
    }
}

pub fn style(e: StyleError) -> PyErr {
    match e {
        StyleError::Model(m) => ModelError::new_err(m.to_string()),
        StyleError::WeightCount(_) | StyleError::KernelShape { .. } | StyleError::BiasShape { .. } => {
            ModelError::new_err(e.to_string())
        }
        other => PyValueError::new_err(other.to_string()),
    }
}

pub fn viz(e: VizError) -> PyErr {
    match e {
        VizError::Face(f) => face(f),
        VizError::Write { .. } | VizError::Save { .. } => PyOSError::new_err(e.to_string()),
        other => PyValueError::new_err(other.to_string()),
    }
}

/// A `ValueError` naming the argument: `"size: long side 9 px: expected ..."`.
pub fn argument(name: &str, problem: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("{name}: {problem}"))
}
