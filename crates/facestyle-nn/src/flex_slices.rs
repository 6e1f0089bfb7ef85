//! Plain f32 slices in and out of Flex tensors, for the kernels registered as backend
//! extensions (`conv_op.rs`, `batch_norm_op.rs`, `conv_act_op.rs`, `pool_op.rs`, `linear_op.rs`,
//! `upsample_op.rs`).

use burn::backend::flex::FlexTensor;
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::{DType, Shape, TensorData};

/// Whether `device` is the Flex CPU backend (with or without autodiff).
pub(crate) fn on_flex(device: &Device) -> bool {
    *device == Device::flex() || *device == Device::flex().autodiff()
}

/// Whether `device` is the Flex backend itself, not autodiff over it (device equality ignores
/// autodiff): where the inference-only extensions run.
pub(crate) fn plain_flex(device: &Device) -> bool {
    *device == Device::flex() && !device.is_autodiff()
}

/// Whether the inference-only extensions take `x`: f32 values on [`plain_flex`].
pub(crate) fn inference_f32<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && plain_flex(&x.device())
}

/// A layer's bias, or `n` zeros on `device` when it has none.
pub(crate) fn bias_or_zeros(bias: &Option<Param<Tensor<1>>>, n: usize, device: &Device) -> Tensor<1> {
    bias.as_ref().map(|b| b.val()).unwrap_or_else(|| Tensor::zeros([n], device))
}

/// `t` itself when its f32 values are one contiguous slice, else a contiguous copy.
pub(crate) fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() { t } else { t.to_contiguous() }
}

/// The values of a tensor passed through [`contiguous`].
pub(crate) fn f32s(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

/// A tensor of `values` with `shape`.
pub(crate) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}
