//! The errors of style transfer: weights that do not fit VGG19, pictures too small for it, and
//! settings out of range. Each message names the setting or tensor and the problem.

use crate::picture::MIN_SIDE;
use crate::vgg::LAYERS;

#[derive(Debug, thiserror::Error)]
pub enum StyleError {
    /// The VGG19 weights cannot be fetched or read.
    #[error(transparent)]
    Model(#[from] facestyle_models::ModelError),
    /// Not the tensors of VGG19's convolutions.
    #[error("VGG19 needs 32 tensors (16 kernels + 16 biases), got {0}")]
    WeightCount(usize),
    /// A kernel that is not `[k, k, in, out]`.
    #[error("{name}: kernel is not 4-D square: {shape:?}")]
    KernelShape { name: String, shape: Vec<usize> },
    /// A bias that does not match its kernel's output channels.
    #[error("{name}: kernel {kernel:?} with bias {bias:?}")]
    BiasShape { name: String, kernel: Vec<usize>, bias: Vec<usize> },
    /// A picture whose short side falls below [`MIN_SIDE`] at the requested long side.
    #[error(
        "{width}x{height} scaled to a long side of {size} px is {scaled_width}x{scaled_height}; \
         VGG19 needs at least {MIN_SIDE} px on each side"
    )]
    TooSmall { width: u32, height: u32, size: u32, scaled_width: u32, scaled_height: u32 },
    /// A long side outside the range allowed.
    #[error("long side {size} px: expected {min} to {max} pixels")]
    Size { size: u32, min: u32, max: u32 },
    /// A layer name that is not one of VGG19's convolutions.
    #[error("unknown layer '{0}' (VGG19 layers: {layers})", layers = LAYERS.join(", "))]
    UnknownLayer(String),
    /// No style layer at all.
    #[error("no style layers")]
    NoStyleLayers,
    /// A weight (alpha, beta, tv_weight, a layer's lambda, a style image's blend weight) that
    /// is negative or not a number.
    #[error("{name} must be a non-negative number, got {value}")]
    Weight { name: String, value: f32 },
    /// A setting that must be above zero (learning rate, style scale).
    #[error("{name} must be a positive number, got {value}")]
    NotPositive { name: &'static str, value: f64 },
    /// Text where a number was expected.
    #[error("{what}: '{text}' is not a number")]
    NotANumber { what: &'static str, text: String },
    /// A start that is not `noise`, `content` or `blend:R`.
    #[error("init '{0}': expected noise, content or blend:R with R in [0, 1]")]
    Init(String),
    /// A list of coarse-level iterations that does not parse.
    #[error("'{0}' is not a number of iterations")]
    Coarse(String),
    /// Not one blend weight per style image.
    #[error("{weights} blend weights for {styles} style images")]
    BlendCount { weights: usize, styles: usize },
    /// No style image.
    #[error("no style image")]
    NoStyle,
}

impl StyleError {
    /// The [`StyleConfig`](crate::StyleConfig) setting a
    /// [`validate`](crate::StyleConfig::validate) error is about (`alpha`, `beta`,
    /// `tv_weight`, `luma_weight`, `lr`, `content_layer` or `style_layers`), for callers that
    /// name it in their own terms (a flag, a keyword argument).
    pub fn setting(&self) -> &'static str {
        match self {
            StyleError::Weight { name, .. } if name == "alpha" => "alpha",
            StyleError::Weight { name, .. } if name == "beta" => "beta",
            StyleError::Weight { name, .. } if name == "tv_weight" => "tv_weight",
            StyleError::Weight { name, .. } if name == "luma_weight" => "luma_weight",
            StyleError::NotPositive { name: "lr", .. } => "lr",
            StyleError::UnknownLayer(_) => "content_layer",
            _ => "style_layers",
        }
    }
}

pub type Result<T> = std::result::Result<T, StyleError>;
