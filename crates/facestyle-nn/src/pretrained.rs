//! Building burn layers from pretrained weights held as plain `f32` buffers (the model crate
//! reads ONNX / HDF5 / tfjs files into such buffers; this file turns them into parameters).

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PaddingConfig2d};
use burn::prelude::*;

/// A float tensor of `shape` from row-major `data` (panics if the lengths differ: callers
/// check shapes against the network definition first and report the file).
pub fn tensor<const D: usize>(data: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    assert_eq!(data.len(), shape.iter().product::<usize>(), "tensor data does not fit shape {shape:?}");
    Tensor::from_data(TensorData::new(data.to_vec(), shape), device)
}

/// Geometry of a 2D convolution: square kernel, same stride and padding on both axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub stride: usize,
    pub padding: usize,
    pub groups: usize,
}

/// A burn [`Conv2d`] with the given OIHW `weight` (`[out, in/groups, k, k]`) and bias.
pub fn conv2d_from(
    weight: &[f32],
    shape: [usize; 4],
    bias: Option<&[f32]>,
    geometry: ConvGeometry,
    device: &Device,
) -> Conv2d {
    let ConvGeometry { stride, padding, groups } = geometry;
    Conv2d {
        weight: Param::from_tensor(tensor(weight, shape, device)),
        bias: bias.map(|b| Param::from_tensor(tensor(b, [shape[0]], device))),
        stride: [stride, stride],
        kernel_size: [shape[2], shape[3]],
        dilation: [1, 1],
        groups,
        padding: PaddingConfig2d::Explicit(padding, padding, padding, padding),
    }
}

/// A burn [`Linear`] computing `x W^T + b` from a PyTorch/ONNX-layout weight `[out, in]`.
pub fn linear_from(weight_out_in: &[f32], out: usize, inp: usize, bias: &[f32], device: &Device) -> Linear {
    let mut w = vec![0f32; out * inp];
    for o in 0..out {
        for i in 0..inp {
            w[i * out + o] = weight_out_in[o * inp + i];
        }
    }
    Linear {
        weight: Param::from_tensor(tensor(&w, [inp, out], device)),
        bias: Some(Param::from_tensor(tensor(bias, [out], device))),
    }
}

/// Folds an inference-mode batch normalisation `gamma (x - mean) / sqrt(var + eps) + beta`
/// into per-channel `(scale, shift)`.
pub fn batch_norm_affine(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
) -> (Vec<f32>, Vec<f32>) {
    let scale: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| g / (v + eps).sqrt()).collect();
    let shift = beta.iter().zip(mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
    (scale, shift)
}

/// Applies a per-output-channel affine map after a convolution by rewriting its weights:
/// `scale * (w * x + b) + shift`.
pub fn fold_affine_into_conv(weight: &mut [f32], bias: &mut Vec<f32>, scale: &[f32], shift: &[f32]) {
    let out = scale.len();
    let per = weight.len() / out;
    if bias.is_empty() {
        bias.resize(out, 0.0);
    }
    for o in 0..out {
        weight[o * per..(o + 1) * per].iter_mut().for_each(|w| *w *= scale[o]);
        bias[o] = bias[o] * scale[o] + shift[o];
    }
}

/// A tensor's values as a row-major `Vec<f32>` (reads back from the device).
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    if let Some(v) = crate::flex_slices::read_f32(&t) {
        return v;
    }
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("converted to f32 just above")
}
