//! One error type for reading model files: it always names the file and the problem.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its content is not what the reader expects
    /// (truncated, wrong format, wrong hash, unsupported feature ...).
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    /// An ONNX file that cannot be decoded or folded.
    #[error("{path}: {source}")]
    Onnx {
        path: PathBuf,
        #[source]
        source: Box<crate::onnx::OnnxError>,
    },
    /// Fetching a model through its package client failed.
    #[error("fetching {model}: {problem}")]
    Fetch { model: String, problem: String },
}

impl ModelError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    pub fn onnx(path: &Path, source: crate::onnx::OnnxError) -> Self {
        Self::Onnx { path: path.to_path_buf(), source: Box::new(source) }
    }

    pub fn invalid(path: &Path, problem: impl Into<String>) -> Self {
        Self::Invalid { path: path.to_path_buf(), problem: problem.into() }
    }
}

pub type Result<T> = std::result::Result<T, ModelError>;
