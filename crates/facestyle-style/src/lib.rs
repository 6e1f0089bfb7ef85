//! Neural style transfer (Gatys et al.): VGG19 features, content and style costs, and the
//! pixel optimisation that minimises `J(G) = alpha J_content + beta J_style`.

#![forbid(unsafe_code)]

pub mod colour;
pub mod config;
pub mod cost;
pub mod error;
pub mod gram;
pub mod inputs;
pub mod picture;
pub mod quality;
pub mod transfer;
pub mod vgg;

pub use config::StyleConfig;
pub use error::StyleError;
