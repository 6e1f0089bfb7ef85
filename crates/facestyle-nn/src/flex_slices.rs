//! Plain f32 slices in and out of Flex tensors, for the kernels registered as backend
//! extensions (`conv_op.rs`, `batch_norm_op.rs`, `conv_act_op.rs`, `pool_op.rs`, `linear_op.rs`,
//! `upsample_op.rs`).

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
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

#[backend_extension(Flex)]
pub trait CopyOutBackend: Backend {
    /// Appends `x`'s values (row-major) to `out` and hands `x` back.
    fn copy_f32_into(x: FloatTensor<Self>, out: &mut Vec<f32>) -> FloatTensor<Self>;
}

impl CopyOutBackend for Flex {
    fn copy_f32_into(x: FlexTensor, out: &mut Vec<f32>) -> FlexTensor {
        let x = contiguous(x);
        out.extend_from_slice(f32s(&x));
        x
    }
}

/// The values of an inference f32 tensor on [`plain_flex`] as one copy of its memory; `None`
/// for any other. (burn's `into_data` takes about 5 ns a value: 0.27 ms for SFace's 50176
/// inputs to its last layer.)
pub(crate) fn read_f32<const D: usize>(t: &Tensor<D>) -> Option<Vec<f32>> {
    if !inference_f32(t) {
        return None;
    }
    let mut out = Vec::with_capacity(t.shape().num_elements());
    let _ = <Dispatch as CopyOutBackend>::copy_f32_into(t.clone().into_dispatch(), &mut out);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::ramp;

    #[test]
    fn read_f32_equals_into_data_and_declines_autodiff() {
        let device = Device::flex();
        let t = Tensor::<4>::from_data(TensorData::new(ramp(2 * 3 * 5 * 7, 1), [2, 3, 5, 7]), &device);
        // A non-contiguous view (transposed) as well.
        for t in [
            t.clone(),
            t.clone().swap_dims(1, 3),
            t.clone().reshape([6, 35]).slice([1..4, 2..30]).reshape([1, 1, 3, 28]),
        ] {
            let want = t.clone().into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
            assert_eq!(read_f32(&t), Some(want));
        }
        let ad = Tensor::<4>::from_data(t.to_data(), &device.autodiff());
        assert_eq!(read_f32(&ad), None);
    }
}
