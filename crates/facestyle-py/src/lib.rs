//! `facestyle._native`: the compiled half of the `facestyle` Python package. It holds the
//! decoded pictures, the face engine, galleries, style transfer and the top-patches scan; the
//! Python half (python/facestyle) turns every input type into a [`picture::Picture`] and every
//! answer into numpy arrays and dataclasses. Every call that computes releases the GIL.

#![deny(unsafe_code)]

mod errors;
mod faces;
mod gallery;
mod picture;
mod style;
mod viz;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ModelError", py.get_type::<errors::ModelError>())?;
    m.add("NoFaceError", py.get_type::<errors::NoFaceError>())?;
    m.add("GalleryError", py.get_type::<errors::GalleryError>())?;
    m.add_class::<picture::Picture>()?;
    m.add_class::<faces::Engine>()?;
    m.add_class::<gallery::Gallery>()?;
    m.add_function(wrap_pyfunction!(picture::image_files, m)?)?;
    m.add_function(wrap_pyfunction!(style::style_transfer, m)?)?;
    m.add_function(wrap_pyfunction!(viz::top_patches, m)?)?;
    m.add("MAX_PIXELS", facestyle_face::photo::MAX_PIXELS)?;
    m.add("EMBEDDING_SIZE", facestyle_face::sface::DIM)?;
    m.add("ALIGNED_SIZE", facestyle_face::sface::INPUT)?;
    Ok(())
}
