//! From a model's verified files to its weights, with the reader its format needs.

use std::path::PathBuf;

use crate::error::{ModelError, Result};
use crate::registry::ModelSpec;
use crate::tensor::WeightTensor;
use crate::{h5, onnx, tfjs};

/// Reads a model's weights with the reader its file format needs.
pub fn read_weights(spec: &ModelSpec, files: &[PathBuf]) -> Result<Vec<WeightTensor>> {
    let first = files
        .first()
        .ok_or_else(|| ModelError::Fetch { model: spec.name.to_string(), problem: "no files".into() })?;
    let name = first.to_string_lossy();
    if name.ends_with(".onnx") {
        Ok(onnx::OnnxModel::load_folded(first)?.into_weights())
    } else if name.ends_with(".h5") {
        h5::load_vgg19(first)
    } else if name.ends_with(".json") {
        tfjs::load_tfjs(first)
    } else {
        Err(ModelError::invalid(first, "no reader for this file type"))
    }
}
