//! `act(conv(x) + bias)` in one call for inference: [`crate::fused_conv`] registered as a burn
//! backend extension on the Flex CPU backend (without autodiff). Under autodiff (training) and
//! on other devices the same layer runs as burn's convolution followed by PReLU, so a network
//! written with [`forward`] stays trainable and portable.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::prelu;

use crate::conv_op::square_geometry;
use crate::flex_slices::{bias_or_zeros, contiguous, f32s, inference_f32, tensor};
use crate::fused_conv;
use crate::im2col::Geometry;
use crate::patch_conv::PatchConv;
use crate::pointwise;

#[backend_extension(Flex)]
pub trait ConvActBackend: Backend {
    /// `prelu(conv(x, weight) + bias, slope)`: `x` `[n, ci, h, w]`, `weight` `[co, ci / groups,
    /// k, k]`, `bias` and `slope` `[co]`; `groups` is 1 or `ci` (depthwise).
    #[allow(clippy::too_many_arguments)]
    fn conv_act2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        slope: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        groups: usize,
    ) -> FloatTensor<Self>;

    /// `prelu(conv1x1(x) + bias, slope)` with the weights packed by [`pack_pointwise`]:
    /// `x` `[n, ci, h, w]`, `co` output channels.
    fn conv1x1_act_packed(
        x: FloatTensor<Self>,
        panels: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        slope: FloatTensor<Self>,
        co: usize,
    ) -> FloatTensor<Self>;
}

impl ConvActBackend for Flex {
    fn conv_act2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        slope: FlexTensor,
        stride: usize,
        padding: usize,
        groups: usize,
    ) -> FlexTensor {
        let (x, weight, bias, slope) =
            (contiguous(x), contiguous(weight), contiguous(bias), contiguous(slope));
        let s = x.layout().shape();
        let ws = weight.layout().shape();
        let g = Geometry { n: s[0], ci: s[1], h: s[2], w: s[3], co: ws[0], k: ws[2], stride, padding };
        let (x, w, b, a) = (f32s(&x), f32s(&weight), f32s(&bias), f32s(&slope));
        let y = if groups == 1 {
            fused_conv::dense(&g, x, w, b, a)
        } else {
            assert!(groups == g.ci && g.co == g.ci, "conv_act2d: groups must be 1 or the channel count");
            fused_conv::depthwise(&g, x, w, b, a)
        };
        tensor(y, [g.n, g.co, g.out_h(), g.out_w()])
    }

    fn conv1x1_act_packed(
        x: FlexTensor,
        panels: FlexTensor,
        bias: FlexTensor,
        slope: FlexTensor,
        co: usize,
    ) -> FlexTensor {
        let (x, panels, bias, slope) =
            (contiguous(x), contiguous(panels), contiguous(bias), contiguous(slope));
        let s = x.layout().shape();
        let g = Geometry { n: s[0], ci: s[1], h: s[2], w: s[3], co, k: 1, stride: 1, padding: 0 };
        let y = pointwise::forward(&g, f32s(&x), f32s(&panels), f32s(&bias), f32s(&slope));
        tensor(y, [g.n, co, g.h, g.w])
    }
}

/// What follows the convolution.
#[derive(Debug, Clone)]
pub enum Act<'a> {
    Identity,
    Relu,
    /// PReLU with one slope per output channel.
    Prelu(&'a Tensor<1>),
}

impl Act<'_> {
    fn apply(&self, y: Tensor<4>) -> Tensor<4> {
        match self {
            Act::Identity => y,
            Act::Relu => burn::tensor::activation::relu(y),
            Act::Prelu(slope) => prelu(y, (*slope).clone()),
        }
    }

    fn slopes(&self, channels: usize, device: &Device) -> Tensor<1> {
        match self {
            Act::Identity => Tensor::ones([channels], device),
            Act::Relu => Tensor::zeros([channels], device),
            Act::Prelu(slope) => (*slope).clone(),
        }
    }
}

/// `(stride, padding)` when the fused kernels take the layer: a square geometry (see
/// [`square_geometry`]) with groups 1 or depthwise. `None` for anything else.
fn fused_geometry(conv: &Conv2d, channels_in: usize) -> Option<(usize, usize)> {
    let co = conv.weight.dims()[0];
    let groups_ok = conv.groups == 1 || (conv.groups == channels_in && co == channels_in);
    square_geometry(conv).filter(|_| groups_ok)
}

/// `act(conv(x))`, fused into one pass on the Flex CPU backend without autodiff.
pub fn forward(conv: &Conv2d, x: Tensor<4>, act: &Act<'_>) -> Tensor<4> {
    let device = x.device();
    let geometry = fused_geometry(conv, x.dims()[1]);
    match geometry {
        Some((stride, padding)) if inference_f32(&x) => {
            let co = conv.weight.dims()[0];
            let bias = bias_or_zeros(&conv.bias, co, &device);
            fused(x, conv.weight.val(), bias, act.slopes(co, &device), stride, padding, conv.groups)
        }
        _ => act.apply(conv.forward(x)),
    }
}

/// A 1x1 layer's weights packed for [`forward_packed`]: `Some` for a 1x1, stride 1, unpadded,
/// ungrouped convolution on the Flex backend (without autodiff) on a CPU with AVX2 + FMA.
///
/// The packed copy is a snapshot: pack again after the weights change (a network keeps these
/// in an inference plan built from its current weights, e.g. `SFace::plan`).
pub fn pack_pointwise(conv: &Conv2d) -> Option<Tensor<1>> {
    let w = conv.weight.val();
    let [co, ci, k, _] = w.dims();
    let pointwise_layer = k == 1 && conv.groups == 1 && square_geometry(conv) == Some((1, 0));
    if !pointwise_layer || !pointwise::available() || !inference_f32(&w) {
        return None;
    }
    let device = w.device();
    let values = crate::pretrained::values(w);
    let panels = pointwise::pack(&values, co, ci);
    Some(Tensor::from_data(TensorData::new(panels, [pointwise::packed_len(co, ci)]), &device))
}

/// [`forward`] with the weights packed by [`pack_pointwise`] (from this layer's current
/// weights) when given and the input is an inference f32 tensor; [`forward`] otherwise.
pub fn forward_packed(conv: &Conv2d, packed: Option<&Tensor<1>>, x: Tensor<4>, act: &Act<'_>) -> Tensor<4> {
    let Some(panels) = packed.filter(|_| inference_f32(&x)) else { return forward(conv, x, act) };
    let device = x.device();
    let co = conv.weight.dims()[0];
    let bias = bias_or_zeros(&conv.bias, co, &device);
    Tensor::from_dispatch(<Dispatch as ConvActBackend>::conv1x1_act_packed(
        x.into_dispatch(),
        panels.clone().into_dispatch(),
        bias.into_dispatch(),
        act.slopes(co, &device).into_dispatch(),
        co,
    ))
}

/// `act(patch_conv(x))`: the same, for a [`PatchConv`] (its weight reordered to OIHW).
pub fn forward_patch(conv: &PatchConv, x: Tensor<4>, act: &Act<'_>) -> Tensor<4> {
    if !inference_f32(&x) {
        return act.apply(conv.forward(x));
    }
    let device = x.device();
    let (k, ci) = (conv.kernel, x.dims()[1]);
    let [co, _, _, _] = conv.mix.weight.dims();
    // [co, (ky, kx, c)] -> [co, c, ky, kx]
    let weight = conv.mix.weight.val().reshape([co, k, k, ci]).permute([0, 3, 1, 2]);
    let bias = bias_or_zeros(&conv.mix.bias, co, &device);
    fused(x, weight, bias, act.slopes(co, &device), conv.stride, conv.padding, 1)
}

fn fused(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    slope: Tensor<1>,
    stride: usize,
    padding: usize,
    groups: usize,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConvActBackend>::conv_act2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        slope.into_dispatch(),
        stride,
        padding,
        groups,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretrained::{ConvGeometry, conv2d_from};
    use crate::test_values::{assert_close, ramp};
    use burn::tensor::TensorData;

    /// Fused values equal burn's convolution followed by the activation, for dense, pointwise
    /// and depthwise layers, with and without bias; and the fallback under autodiff agrees.
    #[test]
    fn matches_burn_conv_then_activation() {
        let device = Device::flex();
        let (ci, co) = (6, 6);
        let x = Tensor::<4>::from_data(TensorData::new(ramp(2 * ci * 9 * 8, 1), [2, ci, 9, 8]), &device);
        let slope = Tensor::<1>::from_data(TensorData::new(ramp(co, 5), [co]), &device);
        for (k, stride, padding, groups, bias) in
            [(3, 1, 1, 1, true), (3, 2, 1, 6, true), (1, 1, 0, 1, false), (3, 1, 1, 6, false)]
        {
            let w = ramp(co * (ci / groups) * k * k, 2);
            let b = ramp(co, 3);
            let g = ConvGeometry { stride, padding, groups };
            let conv = conv2d_from(&w, [co, ci / groups, k, k], bias.then_some(&b[..]), g, &device);
            for act in [Act::Identity, Act::Relu, Act::Prelu(&slope)] {
                let expected = act.apply(conv.forward(x.clone()));
                assert_close(
                    forward(&conv, x.clone(), &act),
                    expected,
                    &format!("k{k} s{stride} g{groups} {act:?}"),
                );
            }
            let ad = Device::flex().autodiff();
            let conv_ad = conv2d_from(&w, [co, ci / groups, k, k], bias.then_some(&b[..]), g, &ad);
            let xa = Tensor::<4>::from_data(x.to_data(), &ad);
            let fallback = forward(&conv_ad, xa, &Act::Relu);
            let expected = Act::Relu.apply(conv.forward(x.clone()));
            assert_close(
                Tensor::<4>::from_data(fallback.into_data(), &device),
                expected,
                "autodiff fallback",
            );
        }
    }

    /// The packed 1x1 path equals [`forward`] (several images, positions that are not whole
    /// stripes, output channels that are not whole panels); nothing is packed for other
    /// layers or under autodiff, where `forward_packed` falls back to `forward`.
    #[test]
    fn packed_pointwise_matches_forward() {
        let device = Device::flex();
        let (ci, co) = (20, 11);
        let x = Tensor::<4>::from_data(TensorData::new(ramp(2 * ci * 9 * 7, 1), [2, ci, 9, 7]), &device);
        let slope = Tensor::<1>::from_data(TensorData::new(ramp(co, 5), [co]), &device);
        let w = ramp(co * ci, 2);
        let b = ramp(co, 3);
        let g = ConvGeometry { stride: 1, padding: 0, groups: 1 };
        let conv = conv2d_from(&w, [co, ci, 1, 1], Some(&b), g, &device);
        let packed = pack_pointwise(&conv);
        assert_eq!(packed.is_some(), pointwise::available());
        for act in [Act::Identity, Act::Relu, Act::Prelu(&slope)] {
            let want = forward(&conv, x.clone(), &act);
            assert_close(forward_packed(&conv, packed.as_ref(), x.clone(), &act), want, &format!("{act:?}"));
        }
        let strided = conv2d_from(&w, [co, ci, 1, 1], Some(&b), ConvGeometry { stride: 2, ..g }, &device);
        assert!(pack_pointwise(&strided).is_none(), "stride 2 is not packed");
        let ad = Device::flex().autodiff();
        let conv_ad = conv2d_from(&w, [co, ci, 1, 1], Some(&b), g, &ad);
        assert!(pack_pointwise(&conv_ad).is_none(), "nothing packed under autodiff");
        let xa = Tensor::<4>::from_data(x.to_data(), &ad);
        let fallback = forward_packed(&conv_ad, packed.as_ref(), xa, &Act::Relu);
        assert_close(
            Tensor::<4>::from_data(fallback.into_data(), &device),
            forward(&conv, x.clone(), &Act::Relu),
            "autodiff input falls back",
        );
    }

    #[test]
    fn patch_conv_matches_its_own_forward() {
        let device = Device::flex();
        let w = ramp(5 * 3 * 9, 2);
        let b = ramp(5, 3);
        let x = Tensor::<4>::from_data(TensorData::new(ramp(3 * 10 * 12, 1), [1, 3, 10, 12]), &device);
        for stride in [1, 2] {
            let conv = PatchConv::from_oihw(&w, [5, 3, 3, 3], Some(&b), stride, 1, &device);
            let expected = Act::Relu.apply(conv.forward(x.clone()));
            assert_close(forward_patch(&conv, x.clone(), &Act::Relu), expected, &format!("stride {stride}"));
        }
    }
}
