//! A compact embedding CNN to train from scratch with the triplet loss (`facestyle face train`).
//!
//! Same interface as SFace: aligned 112x112 RGB crops (0-255) in, a 128-d embedding out. The
//! crop is averaged 2x2 down to 56x56 and scaled to about [-1, 1]; then a 3x3 stem and three
//! residual stages that halve the resolution and double the width (56 -> 28 -> 14 -> 7), each
//! two 3x3 convolutions with batch norm and ReLU plus a 1x1 strided shortcut; the 7x7 map is
//! flattened (keeping where on the face each feature is, as SFace does) into a linear layer.
//! At width 32 that is about 0.14 GMAC per face (SFace: about 0.9).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use facestyle_nn::{batch_norm_op, conv_op};
use serde::{Deserialize, Serialize};

use crate::sface::{DIM, INPUT};

/// Architecture hyper-parameters, stored with the weights in `model.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactConfig {
    /// Channels of the stem; the stages have 2x, 4x and 8x this.
    pub width: usize,
    /// Embedding size.
    pub dim: usize,
}

impl Default for CompactConfig {
    fn default() -> Self {
        CompactConfig { width: 32, dim: DIM }
    }
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
        .with_bias(false)
        .init(device)
}

/// Convolution + batch norm (+ ReLU where the caller applies it).
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    fn new(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Self {
        ConvBn { conv: conv(cin, cout, k, stride, device), bn: BatchNormConfig::new(cout).init(device) }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        batch_norm_op::forward(&self.bn, conv_op::forward(&self.conv, x))
    }
}

/// `relu(bn(conv(relu(bn(conv_s2(x))))) + shortcut(x))`.
#[derive(Module, Debug)]
pub struct Stage {
    a: ConvBn,
    b: ConvBn,
    shortcut: ConvBn,
}

impl Stage {
    fn new(cin: usize, cout: usize, device: &Device) -> Self {
        Stage {
            a: ConvBn::new(cin, cout, 3, 2, device),
            b: ConvBn::new(cout, cout, 3, 1, device),
            shortcut: ConvBn::new(cin, cout, 1, 2, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.b.forward(relu(self.a.forward(x.clone())));
        relu(y + self.shortcut.forward(x))
    }
}

#[derive(Module, Debug)]
pub struct CompactNet {
    stem: ConvBn,
    stages: Vec<Stage>,
    fc: Linear,
}

/// Side of the last feature map.
const LAST: usize = INPUT / 16;

impl CompactNet {
    /// A freshly initialised network (Kaiming-uniform convolutions, unit batch norms).
    pub fn new(config: CompactConfig, device: &Device) -> Self {
        let w = config.width;
        CompactNet {
            stem: ConvBn::new(3, w, 3, 1, device),
            stages: vec![
                Stage::new(w, 2 * w, device),
                Stage::new(2 * w, 4 * w, device),
                Stage::new(4 * w, 8 * w, device),
            ],
            fc: LinearConfig::new(8 * w * LAST * LAST, config.dim).init(device),
        }
    }

    /// Embeddings `[N, dim]` (not normalised) of a `[N, 3, 112, 112]` RGB 0-255 batch.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = avg_pool2d(x, AvgPoolOptions::new([2, 2]));
        let mut x = relu(self.stem.forward((x - 127.5) / 128.0));
        for s in &self.stages {
            x = s.forward(x);
        }
        let [n, c, h, w] = x.dims();
        self.fc.forward(x.reshape([n, c * h * w]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_batch_independence_in_eval_mode() {
        let device = Device::flex();
        let net = CompactNet::new(CompactConfig { width: 4, dim: 8 }, &device);
        let x = Tensor::<4>::random(
            [3, 3, INPUT, INPUT],
            burn::tensor::Distribution::Uniform(0.0, 255.0),
            &device,
        );
        let all = net.forward(x.clone());
        assert_eq!(all.dims(), [3, 8]);
        // Without autodiff the batch norms use their running statistics: a face's embedding
        // does not depend on the rest of the batch.
        let one = net.forward(x.narrow(0, 1, 1));
        let diff: f32 = (all.narrow(0, 1, 1) - one).abs().max().into_scalar();
        assert!(diff < 1e-4, "{diff}");
    }
}
