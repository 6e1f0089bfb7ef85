//! Training-mode batch normalisation in one pass per channel (statistics, then output; in the
//! backward pass, two sums, then the input gradient), registered as a burn backend extension
//! on Flex. burn's default `batch_norm_train` transposes the activation to `[C, N*H*W]` twice
//! forward and three times backward, plus about ten elementwise passes.
//!
//! Same definition as burn's: biased batch variance, `y = gamma (x - mean) / sqrt(var + eps) +
//! beta`, running statistics updated with the layer's momentum.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

use crate::flex_slices::{contiguous, f32s, on_flex, tensor};

type Stats<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

#[backend_extension(Flex, Autodiff)]
pub trait BatchNormBackend: Backend {
    /// `(output, batch mean, batch variance)` of `x` `[n, c, h, w]`.
    fn batch_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// `[n, c, plane]` of an NCHW tensor.
fn layout(x: &FlexTensor) -> (usize, usize, usize) {
    let s = x.layout().shape();
    (s[0], s[1], s.num_elements() / (s[0] * s[1]))
}

/// Batch mean and biased variance per channel (two passes: mean, then squared deviations).
fn moments(x: &[f32], (n, c, plane): (usize, usize, usize)) -> (Vec<f32>, Vec<f32>) {
    let count = (n * plane) as f64;
    let planes = |ch: usize| (0..n).map(move |i| &x[(i * c + ch) * plane..][..plane]);
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let sum: f64 = planes(ch).map(|p| p.iter().map(|&v| v as f64).sum::<f64>()).sum();
            let mean = sum / count;
            let sq: f64 = planes(ch).map(|p| p.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>()).sum();
            (mean as f32, (sq / count) as f32)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .unzip()
}

/// `out[i, ch, :] = f(ch, x[i, ch, :], other[i, ch, :])` for every image and channel.
fn map_planes(
    x: &[f32],
    other: &[f32],
    (_, c, plane): (usize, usize, usize),
    f: impl Fn(usize, &[f32], &[f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(plane)
        .enumerate()
        .for_each(|(k, o)| f(k % c, &x[k * plane..][..plane], &other[k * plane..][..plane], o));
    out
}

fn inv_std(var: &[f32], epsilon: f64) -> Vec<f32> {
    var.iter().map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32).collect()
}

impl BatchNormBackend for Flex {
    fn batch_norm_fused(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, epsilon: f64) -> Stats<Flex> {
        let x = contiguous(x);
        let dims = layout(&x);
        let (mean, var) = moments(f32s(&x), dims);
        let inv = inv_std(&var, epsilon);
        let (gamma, beta) = (contiguous(gamma), contiguous(beta));
        let (g, b) = (f32s(&gamma), f32s(&beta));
        let xs = f32s(&x);
        let y = map_planes(xs, xs, dims, |ch, xp, _, o| {
            let (scale, m) = (g[ch] * inv[ch], mean[ch]);
            for (o, v) in o.iter_mut().zip(xp) {
                *o = (v - m) * scale + b[ch];
            }
        });
        let y = tensor(y, x.layout().shape().clone());
        (y, tensor(mean, [dims.1]), tensor(var, [dims.1]))
    }
}

#[derive(Debug)]
struct BatchNormFusedBackward;

impl Backward<Flex, 3> for BatchNormFusedBackward {
    /// Input, gamma, batch mean and variance, epsilon.
    type State = (FlexTensor, FlexTensor, FlexTensor, FlexTensor, f64);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let (x, gamma, mean, var, epsilon) = ops.state;
        let dims = layout(&x);
        let (xs, dys, g, mean) = (f32s(&x), f32s(&dy), f32s(&gamma), f32s(&mean));
        let inv = inv_std(f32s(&var), epsilon);
        // Per channel: sum(dy) (= dbeta) and sum(dy * xhat) (= dgamma).
        let sums: Vec<(f64, f64)> = (0..dims.1)
            .into_par_iter()
            .map(|ch| {
                let (mut s, mut sx) = (0f64, 0f64);
                for i in 0..dims.0 {
                    let at = (i * dims.1 + ch) * dims.2;
                    for (d, v) in dys[at..at + dims.2].iter().zip(&xs[at..at + dims.2]) {
                        s += *d as f64;
                        sx += (*d as f64) * ((v - mean[ch]) * inv[ch]) as f64;
                    }
                }
                (s, sx)
            })
            .collect();
        if let Some(node) = node_x {
            let count = (dims.0 * dims.2) as f64;
            let dx = map_planes(xs, dys, dims, |ch, xp, dp, o| {
                let (s, sx) = sums[ch];
                let (mean_dy, mean_dy_xhat) = ((s / count) as f32, (sx / count) as f32);
                let scale = g[ch] * inv[ch];
                for ((o, v), d) in o.iter_mut().zip(xp).zip(dp) {
                    let xhat = (v - mean[ch]) * inv[ch];
                    *o = scale * (d - mean_dy - xhat * mean_dy_xhat);
                }
            });
            grads.register::<Flex>(node.id, tensor(dx, x.layout().shape().clone()));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(sums.iter().map(|s| s.1 as f32).collect(), [dims.1]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(sums.iter().map(|s| s.0 as f32).collect(), [dims.1]));
        }
    }
}

impl<C: CheckpointStrategy> BatchNormBackend for Autodiff<Flex, C> {
    fn batch_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> Stats<Self> {
        let prepared =
            BatchNormFusedBackward.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound();
        let xp = contiguous(x.primitive().clone());
        let gp = contiguous(gamma.primitive().clone());
        let (y, mean, var) = Flex::batch_norm_fused(xp.clone(), gp.clone(), beta.into_primitive(), epsilon);
        let y = match prepared.stateful() {
            OpsKind::Tracked(prep) => prep.finish((xp, gp, mean.clone(), var.clone(), epsilon), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        let constant = |t| Constant.prepare::<C>([]).compute_bound().stateless(t);
        (y, constant(mean), constant(var))
    }
}

/// An output without parents: no gradient flows through the batch statistics.
#[derive(Debug)]
struct Constant;

impl Backward<Flex, 0> for Constant {
    type State = ();

    fn backward(self, _: Ops<(), 0>, _: &mut Gradients, _: &mut Checkpointer) {}
}

/// [`BatchNorm::forward`] for 4D activations: the fused version when the layer trains on the
/// Flex backend (updating the running statistics exactly as burn does), burn's otherwise.
pub fn forward(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let training = device.is_autodiff() && bn.training.is_enabled();
    if !training || !on_flex(&device) || x.dtype() != DType::F32 {
        return bn.forward(x);
    }
    let (y, mean, var) = <Dispatch as BatchNormBackend>::batch_norm_fused(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
    );
    let (mean, var) = (Tensor::<1>::from_dispatch(mean), Tensor::<1>::from_dispatch(var));
    let m = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean.update(running_mean.mul_scalar(1.0 - m).add(mean.detach().mul_scalar(m)).detach());
    bn.running_var.update(running_var.mul_scalar(1.0 - m).add(var.detach().mul_scalar(m)).detach());
    Tensor::from_dispatch(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::assert_close;
    use burn::nn::BatchNormConfig;
    use burn::tensor::TensorData;

    /// Values over [-1.7, 2.3]: a batch mean away from 0 and a variance away from 1.
    fn ramp(n: usize, seed: usize) -> Vec<f32> {
        crate::test_values::ramp(n, seed).into_iter().map(|v| 2.0 * v + 0.3).collect()
    }

    /// Output, gradients (input, gamma, beta) and running statistics agree with burn's BatchNorm.
    #[test]
    fn matches_burn_batch_norm_in_training() {
        let device = Device::flex().autodiff();
        let ours = BatchNormConfig::new(3).init(&device);
        let theirs = BatchNormConfig::new(3).init(&device);
        let x = Tensor::<4>::from_data(TensorData::new(ramp(4 * 3 * 5 * 6, 1), [4, 3, 5, 6]), &device)
            .require_grad();
        let r = Tensor::<4>::from_data(TensorData::new(ramp(4 * 3 * 5 * 6, 2), [4, 3, 5, 6]), &device);
        // gamma and beta away from 1 and 0, through the gradient of a first step
        let (y1, y2) = (forward(&ours, x.clone()), theirs.forward(x.clone()));
        assert_close(y1.clone(), y2.clone(), "y");
        let (g1, g2) = ((y1 * r.clone()).sum().backward(), (y2 * r).sum().backward());
        assert_close(x.grad(&g1).unwrap(), x.grad(&g2).unwrap(), "dx");
        assert_close(ours.gamma.grad(&g1).unwrap(), theirs.gamma.grad(&g2).unwrap(), "dgamma");
        assert_close(ours.beta.grad(&g1).unwrap(), theirs.beta.grad(&g2).unwrap(), "dbeta");
        assert_close(ours.running_mean.value(), theirs.running_mean.value(), "running mean");
        assert_close(ours.running_var.value(), theirs.running_var.value(), "running var");
    }

    #[test]
    fn inference_uses_the_running_statistics() {
        let device = Device::flex();
        let bn = BatchNormConfig::new(2).init(&device);
        let x = Tensor::<4>::from_data(TensorData::new(ramp(2 * 2 * 3 * 3, 3), [2, 2, 3, 3]), &device);
        assert_close(forward(&bn, x.clone()), bn.forward(x), "y");
    }
}
