//! The 2D convolution our networks call: [`crate::gemm_conv`] registered as a burn backend
//! extension on the Flex CPU backend, with its own backward step under autodiff, and burn's
//! own `conv2d` everywhere else (CUDA, dilation, groups, unequal strides or paddings).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::ops::ConvOptions;

use crate::flex_slices::{contiguous, f32s, on_flex, tensor};
use crate::gemm_conv;
use crate::im2col::Geometry;

#[backend_extension(Flex, Autodiff)]
pub trait GemmConvBackend: Backend {
    /// Convolution without bias: `x` `[n, ci, h, w]`, `weight` `[co, ci, k, k]`.
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let shape = t.layout().shape();
    [shape[0], shape[1], shape[2], shape[3]]
}

fn geometry(x: &FlexTensor, weight: &FlexTensor, stride: usize, padding: usize) -> Geometry {
    let [n, ci, h, w] = dims4(x);
    let [co, wci, k, k2] = dims4(weight);
    assert!(wci == ci && k == k2, "gemm_conv2d: weight {:?} for input {:?}", dims4(weight), dims4(x));
    Geometry { n, ci, h, w, co, k, stride, padding }
}

impl GemmConvBackend for Flex {
    fn gemm_conv2d(x: FlexTensor, weight: FlexTensor, stride: usize, padding: usize) -> FlexTensor {
        let (x, weight) = (contiguous(x), contiguous(weight));
        let g = geometry(&x, &weight, stride, padding);
        tensor(gemm_conv::forward(&g, f32s(&x), f32s(&weight)), [g.n, g.co, g.out_h(), g.out_w()])
    }
}

#[derive(Debug)]
struct GemmConvBackward;

impl Backward<Flex, 2> for GemmConvBackward {
    type State = (FlexTensor, FlexTensor, usize, usize);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let (x, weight, stride, padding) = ops.state;
        let g = geometry(&x, &weight, stride, padding);
        if let Some(node) = node_x {
            let dx = gemm_conv::input_grad(&g, f32s(&weight), f32s(&dy));
            grads.register::<Flex>(node.id, tensor(dx, [g.n, g.ci, g.h, g.w]));
        }
        if let Some(node) = node_weight {
            let dw = gemm_conv::weight_grad(&g, f32s(&x), f32s(&dy));
            grads.register::<Flex>(node.id, tensor(dw, [g.co, g.ci, g.k, g.k]));
        }
    }
}

impl<C: CheckpointStrategy> GemmConvBackend for Autodiff<Flex, C> {
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        match GemmConvBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let xp = contiguous(x.primitive().clone());
                let wp = contiguous(weight.primitive().clone());
                let y = Flex::gemm_conv2d(xp.clone(), wp.clone(), stride, padding);
                prep.finish((xp, wp, stride, padding), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::gemm_conv2d(x.into_primitive(), weight.into_primitive(), stride, padding))
            }
        }
    }
}

/// `conv2d(x, weight) + bias` with square kernel, equal stride and zero padding on both axes.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    let [_, _, kh, kw] = weight.dims();
    if !on_flex(&x.device()) || x.dtype() != DType::F32 || kh != kw {
        let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], 1);
        return burn::tensor::module::conv2d(x, weight, bias, options);
    }
    let y = Tensor::from_dispatch(<Dispatch as GemmConvBackend>::gemm_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        stride,
        padding,
    ));
    match bias {
        Some(b) => {
            let channels = b.dims()[0];
            y + b.reshape([1, channels, 1, 1])
        }
        None => y,
    }
}

/// [`Conv2d::forward`], through [`conv2d`] when the layer's geometry allows it.
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    match square_geometry(conv) {
        Some((stride, padding)) if conv.groups == 1 => {
            conv2d(x, conv.weight.val(), conv.bias.as_ref().map(|b| b.val()), stride, padding)
        }
        _ => conv.forward(x),
    }
}

/// `(stride, padding)` of a layer with a square kernel, the same stride on both axes, the
/// same zero padding on all four sides and no dilation (groups are not looked at); `None`
/// otherwise.
pub(crate) fn square_geometry(conv: &Conv2d) -> Option<(usize, usize)> {
    let [kh, kw] = conv.kernel_size;
    let padding = match conv.padding {
        PaddingConfig2d::Valid => 0,
        PaddingConfig2d::Explicit(t, l, b, r) if t == l && l == b && b == r => t,
        PaddingConfig2d::Same if kh % 2 == 1 && conv.stride == [1, 1] => kh / 2,
        _ => return None,
    };
    (kh == kw && conv.stride[0] == conv.stride[1] && conv.dilation == [1, 1])
        .then_some((conv.stride[0], padding))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::{assert_close, ramp};
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::TensorData;

    /// Values and gradients (input, weight, bias) agree with burn's own Conv2d.
    #[test]
    fn matches_burn_conv2d_forward_and_backward() {
        let device = Device::flex().autodiff();
        for (stride, padding, k) in [(1, 1, 3), (2, 1, 3), (2, 0, 1), (1, 0, 1)] {
            let conv = Conv2dConfig::new([3, 4], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding))
                .init(&device);
            let x = Tensor::<4>::from_data(TensorData::new(ramp(2 * 3 * 9 * 8, 1), [2, 3, 9, 8]), &device)
                .require_grad();
            let r = Tensor::<4>::from_data(
                TensorData::new(
                    ramp(conv.forward(x.clone()).shape().num_elements(), 2),
                    conv.forward(x.clone()).dims(),
                ),
                &device,
            );
            let ours = forward(&conv, x.clone());
            let theirs = conv.forward(x.clone());
            assert_close(ours.clone(), theirs.clone(), "y");
            let g1 = (ours * r.clone()).sum().backward();
            let g2 = (theirs * r).sum().backward();
            assert_close(x.grad(&g1).unwrap(), x.grad(&g2).unwrap(), "dx");
            let w = &conv.weight;
            assert_close(w.grad(&g1).unwrap(), w.grad(&g2).unwrap(), "dw");
            let b = conv.bias.as_ref().unwrap();
            let (b1, b2) = (b.grad(&g1).unwrap(), b.grad(&g2).unwrap());
            assert_close(b1.reshape([1, 4, 1, 1]), b2.reshape([1, 4, 1, 1]), "db");
        }
    }

    #[test]
    fn runs_without_autodiff() {
        let device = Device::flex();
        let conv = Conv2dConfig::new([2, 3], [3, 3]).with_padding(PaddingConfig2d::Same).init(&device);
        let x = Tensor::<4>::from_data(TensorData::new(ramp(2 * 6 * 5, 3), [1, 2, 6, 5]), &device);
        assert_close(forward(&conv, x.clone()), conv.forward(x), "y");
    }
}
