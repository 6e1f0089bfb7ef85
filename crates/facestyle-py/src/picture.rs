//! A decoded picture: 8-bit RGB pixels, the name errors use, and the sha256 a gallery records.
//! Made from an encoded file's bytes (any format the CLI reads, EXIF orientation applied, the
//! pixel limit checked from the header) or from raw RGB rows (numpy arrays, PIL images).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use facestyle_face::photo::{MAX_PIXELS, decode_rgb};
use image::RgbImage;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sha2::{Digest, Sha256};

use crate::errors;

#[pyclass(frozen, module = "facestyle._native")]
pub struct Picture {
    pub image: RgbImage,
    pub name: String,
    /// The sha256 of the encoded file, known at decoding; for raw pixels it is computed
    /// from them when first asked for (a gallery records it; detection does not need it).
    sha: OnceLock<String>,
}

impl Picture {
    /// The sha256 a gallery records: of the encoded file, or of the raw RGB pixels.
    pub fn sha256(&self) -> &str {
        self.sha.get_or_init(|| hex::encode(Sha256::digest(self.image.as_raw())))
    }
}

#[pymethods]
impl Picture {
    /// Decodes an encoded image (JPEG, PNG, BMP, WebP, TIFF, GIF); `name` names it in errors.
    #[staticmethod]
    fn decode(py: Python<'_>, data: &[u8], name: String) -> PyResult<Picture> {
        py.detach(|| {
            let image = decode_rgb(data, Path::new(&name)).map_err(errors::face)?;
            Ok(Picture { image, sha: OnceLock::from(hex::encode(Sha256::digest(data))), name })
        })
    }

    /// A picture from `height` rows of `width` RGB pixels (3 bytes each, row after row).
    #[staticmethod]
    fn from_rgb(py: Python<'_>, data: &[u8], width: u32, height: u32, name: String) -> PyResult<Picture> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels == 0 {
            return Err(errors::argument(&name, format!("image has no pixels ({width}x{height})")));
        }
        if pixels > MAX_PIXELS {
            return Err(errors::argument(
                &name,
                format!("image is {width}x{height} = {pixels} pixels, above the limit of {MAX_PIXELS}"),
            ));
        }
        if data.len() as u64 != pixels * 3 {
            return Err(errors::argument(
                &name,
                format!("{} bytes for {width}x{height} RGB pixels (expected {})", data.len(), pixels * 3),
            ));
        }
        py.detach(|| {
            let image = RgbImage::from_raw(width, height, data.to_vec()).expect("length checked");
            Ok(Picture { image, sha: OnceLock::new(), name })
        })
    }

    #[getter]
    fn width(&self) -> u32 {
        self.image.width()
    }

    #[getter]
    fn height(&self) -> u32 {
        self.image.height()
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    #[getter(sha256)]
    fn sha256_hex(&self) -> &str {
        self.sha256()
    }

    /// The pixels, row after row, 3 bytes (R, G, B) each.
    fn rgb<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.image.as_raw())
    }
}

/// The image files under `folder` (recursively, sorted), as the CLI lists them.
#[pyfunction]
pub fn image_files(folder: PathBuf) -> PyResult<Vec<PathBuf>> {
    facestyle_face::photo::image_files(&folder).map_err(errors::face)
}
