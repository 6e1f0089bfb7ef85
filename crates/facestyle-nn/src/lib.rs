//! Tensors and layers for facestyle, on burn (Flex CPU backend by default, CUDA with the
//! `cuda` feature).

// Unsafe code (SIMD kernels, raw output pointers shared by threads, two OS calls) lives in
// this crate only; each block says why it is sound.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub use burn;

pub mod batch_norm_op;
pub mod conv;
pub mod conv_act_op;
pub mod conv_op;
pub mod conv_ref;
pub mod conv_shape;
pub mod demo;
pub mod device;
pub mod direct3x3;
mod flex_slices;
pub mod fused_conv;
pub mod gemm_conv;
pub mod im2col;
pub mod isa;
pub mod linear_op;
pub mod os;
pub mod patch_conv;
pub mod pointwise;
pub mod pool_op;
pub mod pretrained;
pub mod q8_linear;
mod team;
#[cfg(test)]
mod test_values;
pub mod upsample_op;
