//! Pretrained weights for facestyle: where they come from, where they are cached, and how
//! their files are read into plain f32 tensors.
//!
//! No tensor library here on purpose: readers return [`WeightTensor`]s that the network
//! crates turn into burn parameters.

#![forbid(unsafe_code)]

pub mod cache;
pub mod error;
pub mod fetch;
pub mod h5;
pub mod load;
pub mod onnx;
pub mod registry;
pub mod tensor;
pub mod testing;
pub mod tfjs;

pub use error::{ModelError, Result};
pub use tensor::WeightTensor;
