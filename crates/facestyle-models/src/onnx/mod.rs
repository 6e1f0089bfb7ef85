//! ONNX reader: decodes a `.onnx` file's graph and initializers without protobuf codegen or
//! an ONNX runtime, and folds the `DequantizeLinear`/`Reshape` chains of quantized models so
//! that their weights come out as plain f32 [`WeightTensor`](crate::WeightTensor)s.
//!
//! ```no_run
//! # fn main() -> facestyle_models::Result<()> {
//! use facestyle_models::onnx::OnnxModel;
//! let model = OnnxModel::load_folded("face_detection_yunet_2023mar_int8bq.onnx")?;
//! println!("{}", model.summary());
//! let conv = model.expect_weight("420_reshaped", &[16, 3, 3, 3])?;
//! let all = model.into_weights(); // every float initializer, sorted by name
//! # Ok(()) }
//! ```
//!
//! Modules: [`wire`] (protobuf wire format), [`encode`] (builders for test fixtures), the
//! model/node/tensor decoders, `quant` and `fold` (constant folding), `summary`.

mod blocked;
pub mod encode;
pub mod error;
mod fold;
mod model;
mod node;
mod quant;
mod summary;
mod tensor;
pub mod wire;

pub use blocked::BlockQuantized;
pub use error::{OnnxError, Part};
pub use fold::FOLDABLE_OPS;
pub use model::{OnnxModel, Opset};
pub use node::{Attr, Node};
pub use tensor::{Tensor, TensorValues, data_type, f16_to_f32};

#[cfg(test)]
mod tests;
