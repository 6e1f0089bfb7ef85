//! One error type for the face pipeline: every variant names the file (image, model or
//! gallery) and says what is wrong with it.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// An input image that cannot be used: unreadable, not an image, truncated, too large.
    #[error("{path}: {problem}")]
    Image { path: PathBuf, problem: String },
    /// The detector found no face in an image where one was required.
    #[error("{path}: no face found (score threshold {threshold})")]
    NoFace { path: PathBuf, threshold: f32 },
    /// The gallery database cannot be opened, read or written, or holds other models' data.
    #[error("gallery {path}: {problem}")]
    Gallery { path: PathBuf, problem: String },
    /// A person's name the gallery does not take (see `gallery::check_name`).
    #[error("invalid person name: {problem}")]
    Name { problem: String },
    /// A dataset file (pairs list, people list) that cannot be parsed.
    #[error("{path}: {problem}")]
    Dataset { path: PathBuf, problem: String },
    /// A setting out of its range (`name` is the setting's name in the library, for callers
    /// to name it their way: a flag, a keyword argument).
    #[error("{name} {problem}")]
    Setting { name: &'static str, problem: String },
    /// A verification threshold that is not a finite number >= 0.
    #[error("threshold {value}: must be a finite number >= 0")]
    Threshold { value: f32 },
    /// A trained model directory (`facestyle face train`'s output) that cannot be used.
    #[error("model directory {path}: {problem}")]
    ModelDir { path: PathBuf, problem: String },
    /// Model weights that cannot be fetched or read, or that do not fit the network.
    #[error(transparent)]
    Model(#[from] facestyle_models::ModelError),
    #[error("{0}")]
    Other(String),
}

impl FaceError {
    pub fn image(path: &Path, problem: impl Into<String>) -> Self {
        Self::Image { path: path.to_path_buf(), problem: problem.into() }
    }

    pub fn gallery(path: &Path, problem: impl std::fmt::Display) -> Self {
        Self::Gallery { path: path.to_path_buf(), problem: problem.to_string() }
    }

    pub fn dataset(path: &Path, problem: impl Into<String>) -> Self {
        Self::Dataset { path: path.to_path_buf(), problem: problem.into() }
    }
}

pub type Result<T> = std::result::Result<T, FaceError>;
