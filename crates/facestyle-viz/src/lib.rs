//! What ConvNets learn (Zeiler & Fergus): for each unit of a layer, the image patches that
//! activate it most, found in one streaming pass over a collection with bounded memory, cut at
//! the unit's exact receptive field and rendered per layer; and the feature maps of one image.

#![forbid(unsafe_code)]

pub mod error;
pub mod probe;
pub mod receptive;
pub mod render;
pub mod report;
pub mod scan;
pub mod topk;

pub use error::VizError;
