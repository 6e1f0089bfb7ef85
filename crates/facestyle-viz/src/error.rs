//! The errors of the visualisations: each names the setting, layer or file and the problem.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// A layer name the network does not have.
    #[error("unknown layer '{name}' (layers: {known})")]
    UnknownLayer { name: String, known: String },
    /// A face engine whose embedder is not SFace.
    #[error("model {0} is not an SFace network")]
    NotSFace(String),
    /// The detector found no face in a picture that needs one.
    #[error("no face found")]
    NoFace,
    /// A picture too small for the deeper layers once scaled.
    #[error("{width}x{height} at long side {size} is below {min} px on a side")]
    TooSmall { width: u32, height: u32, size: u32, min: u32 },
    /// A long side outside the range the scan takes.
    #[error("long side {size} px: expected {min} to {max} pixels")]
    Size { size: u32, min: u32, max: u32 },
    /// A count (units, patches per unit) of zero.
    #[error("{name} must be at least 1")]
    Zero { name: &'static str },
    /// A patch cell outside the range drawn.
    #[error("cell {size} px: expected {min} to {max} pixels")]
    Cell { size: u32, min: u32, max: u32 },
    /// The blocks layout with a number of patches per unit that is not a square.
    #[error("{0} patches per unit: the blocks layout needs a square number (1, 4, 9, 16 ...)")]
    NotSquare(usize),
    /// A unit choice that is not `first`, `active`, `random` or `random:SEED`.
    #[error("pick '{0}': expected first, active, random or random:SEED")]
    Pick(String),
    /// A layout that is not `blocks` or `strip`.
    #[error("layout '{0}': expected blocks or strip")]
    Layout(String),
    /// A picture that cannot be read or decoded, or a face network that cannot be loaded.
    #[error(transparent)]
    Face(#[from] facestyle_face::FaceError),
    /// VGG19's weights that cannot be fetched or read.
    #[error(transparent)]
    Style(#[from] facestyle_style::StyleError),
    /// An `.onnx` file that is not an SFace-architecture network.
    #[error("{path}: not an SFace-architecture ONNX file: {source}")]
    NotSFaceOnnx {
        path: PathBuf,
        #[source]
        source: facestyle_face::FaceError,
    },
    /// A network name that is not one the probes know.
    #[error(
        "model '{0}': expected vgg19, sface, a trained model directory or the path of an \
         SFace-architecture .onnx file"
    )]
    Model(String),
    /// The network view of one file failed (no face, say).
    #[error("{path}: {source}")]
    View {
        path: PathBuf,
        #[source]
        source: Box<VizError>,
    },
    /// An output folder or file that cannot be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A picture that cannot be encoded or written.
    #[error("{path}: cannot write: {source}")]
    Save {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
}

pub type Result<T> = std::result::Result<T, VizError>;
