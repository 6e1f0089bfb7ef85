//! A k x k convolution over few input channels computed as "patches, then a 1x1 convolution":
//! the k*k shifted (and strided) views of the padded input are stacked along channels and one
//! pointwise convolution (a matrix product) mixes them. Same arithmetic as the direct
//! convolution, and trainable, but under burn (training, autodiff) it runs on the fast
//! matrix-product path; burn's direct path is slow for first layers (3 input channels, large
//! images). At inference `conv_act_op::forward_patch` hands the layer, reordered to OIHW, to
//! the fused kernels (`direct3x3.rs` for 3x3 layers over few channels).

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::Slice;
use burn::tensor::ops::PadMode;

use crate::pretrained::{ConvGeometry, conv2d_from};

#[derive(Module, Debug)]
pub struct PatchConv {
    /// 1x1 convolution over `k * k * channels_in` stacked inputs, ordered (ky, kx, channel).
    pub mix: Conv2d,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl PatchConv {
    /// From an OIHW weight `[out, in, k, k]` (groups = 1).
    pub fn from_oihw(
        weight: &[f32],
        shape: [usize; 4],
        bias: Option<&[f32]>,
        stride: usize,
        padding: usize,
        device: &Device,
    ) -> Self {
        let [out, inp, k, k2] = shape;
        assert_eq!(k, k2, "square kernels only");
        let mut w = vec![0f32; out * inp * k * k];
        for o in 0..out {
            for c in 0..inp {
                for ky in 0..k {
                    for kx in 0..k {
                        w[o * inp * k * k + (ky * k + kx) * inp + c] =
                            weight[((o * inp + c) * k + ky) * k + kx];
                    }
                }
            }
        }
        let geometry = ConvGeometry { stride: 1, padding: 0, groups: 1 };
        PatchConv {
            mix: conv2d_from(&w, [out, inp * k * k, 1, 1], bias, geometry, device),
            kernel: k,
            stride,
            padding,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        let x = if p > 0 { x.pad((p, p, p, p), PadMode::Constant(0.0)) } else { x };
        let [n, c, h, w] = x.dims();
        let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1);
        let mut parts = Vec::with_capacity(k * k);
        for ky in 0..k {
            for kx in 0..k {
                let rows = Slice::new(ky as isize, Some((ky + s * (oh - 1) + 1) as isize), s as isize);
                let cols = Slice::new(kx as isize, Some((kx + s * (ow - 1) + 1) as isize), s as isize);
                parts.push(x.clone().slice([Slice::from(0..n), Slice::from(0..c), rows, cols]));
            }
        }
        self.mix.forward(Tensor::cat(parts, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_direct_convolution() {
        let device = Device::flex();
        let (out, inp, k) = (5, 3, 3);
        let weight: Vec<f32> = (0..out * inp * k * k).map(|i| ((i * 37 % 17) as f32 - 8.0) / 10.0).collect();
        let bias: Vec<f32> = (0..out).map(|i| i as f32 * 0.1).collect();
        let data: Vec<f32> = (0..2 * inp * 11 * 9).map(|i| ((i * 13 % 23) as f32 - 11.0) / 7.0).collect();
        let x = Tensor::<4>::from_data(TensorData::new(data, [2, inp, 11, 9]), &device);
        for stride in [1, 2] {
            let direct = conv2d_from(
                &weight,
                [out, inp, k, k],
                Some(&bias),
                ConvGeometry { stride, padding: 1, groups: 1 },
                &device,
            );
            let patch = PatchConv::from_oihw(&weight, [out, inp, k, k], Some(&bias), stride, 1, &device);
            let (a, b) = (direct.forward(x.clone()), patch.forward(x.clone()));
            assert_eq!(a.dims(), b.dims());
            let diff = crate::pretrained::values((a - b).abs().max());
            assert!(diff[0] < 1e-4, "stride {stride}: {diff:?}");
        }
    }
}
