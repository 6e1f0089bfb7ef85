//! 3D: locate a blob in a noisy 14x14x14 volume with a small Conv3d network.
//!
//! Each volume holds one Gaussian blob (the target) and one bright rod along a random axis (a
//! distractor) in strong noise. The network outputs a score per voxel; training is a softmax
//! cross-entropy over all voxels with the blob's centre as the class. Metric: fraction of
//! held-out volumes whose best voxel is within one voxel of the blob centre. Baseline: the
//! brightest voxel of the raw volume.

use burn::nn::conv::Conv3d;
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, relu};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{DemoConfig, DemoReport, train_adam, values};
use crate::conv::conv3d;

/// Voxels per side (the seed's 14x14x14x1 volume).
pub const SIDE: usize = 14;
const VOXELS: usize = SIDE * SIDE * SIDE;

/// One synthetic volume (z, y, x order) and its blob centre.
pub fn synth_volume(rng: &mut StdRng) -> (Vec<f32>, [usize; 3]) {
    let centre = [0; 3].map(|_: usize| rng.random_range(2..SIDE - 2));
    let axis = rng.random_range(0..3);
    let rod = [0; 3].map(|_: usize| rng.random_range(2..SIDE - 2) as f32);
    let mut v = vec![0.0f32; VOXELS];
    for z in 0..SIDE {
        for y in 0..SIDE {
            for x in 0..SIDE {
                let p = [z as f32, y as f32, x as f32];
                let d2: f32 = (0..3).map(|i| (p[i] - centre[i] as f32).powi(2)).sum();
                let r2: f32 = (0..3).filter(|&i| i != axis).map(|i| (p[i] - rod[i]).powi(2)).sum();
                let noise = rng.random_range(-0.6f32..0.6);
                v[(z * SIDE + y) * SIDE + x] =
                    (-d2 / (2.0 * 1.3f32.powi(2))).exp() + 1.1 * (-r2 / (2.0 * 0.7f32.powi(2))).exp() + noise;
            }
        }
    }
    (v, centre)
}

/// Conv3d(1->8, 5) -> ReLU -> Conv3d(8->1, 5), "same" padding: a learned matched filter.
#[derive(Module, Debug)]
pub struct BlobNet {
    c1: Conv3d,
    c2: Conv3d,
}

impl BlobNet {
    pub fn new(device: &Device) -> Self {
        Self { c1: conv3d(1, 8, 5, 1, 2, device), c2: conv3d(8, 1, 5, 1, 2, device) }
    }

    /// `[batch, 1, 14, 14, 14]` -> scores `[batch, 14^3]`.
    pub fn forward(&self, x: Tensor<5>) -> Tensor<2> {
        let [b, ..] = x.dims();
        self.c2.forward(relu(self.c1.forward(x))).reshape([b, VOXELS])
    }
}

fn batch(rng: &mut StdRng, n: usize, device: &Device) -> (Tensor<5>, Tensor<2>, Vec<[usize; 3]>) {
    let mut xs = Vec::with_capacity(n * VOXELS);
    let mut onehot = vec![0.0f32; n * VOXELS];
    let mut centres = Vec::new();
    for b in 0..n {
        let (v, c) = synth_volume(rng);
        xs.extend(v);
        onehot[b * VOXELS + (c[0] * SIDE + c[1]) * SIDE + c[2]] = 1.0;
        centres.push(c);
    }
    let x = Tensor::from_data(TensorData::new(xs, [n, 1, SIDE, SIDE, SIDE]), device);
    (x, Tensor::from_data(TensorData::new(onehot, [n, VOXELS]), device), centres)
}

/// Fraction of volumes whose highest score lies within one voxel (Chebyshev) of the centre.
pub fn hit_rate(scores: &[f32], centres: &[[usize; 3]]) -> f32 {
    let hits = centres
        .iter()
        .enumerate()
        .filter(|(b, c)| {
            let s = &scores[b * VOXELS..(b + 1) * VOXELS];
            let best = (0..VOXELS).max_by(|&i, &j| s[i].total_cmp(&s[j])).unwrap_or(0);
            let at = [best / (SIDE * SIDE), (best / SIDE) % SIDE, best % SIDE];
            (0..3).all(|i| at[i].abs_diff(c[i]) <= 1)
        })
        .count();
    hits as f32 / centres.len().max(1) as f32
}

/// Trains the locator and reports the held-out hit rate; `on_step(step, loss)` after each step.
pub fn run(config: DemoConfig, device: &Device, on_step: &mut dyn FnMut(usize, f32)) -> DemoReport {
    let device = device.clone().autodiff();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut eval_rng = StdRng::seed_from_u64(config.seed ^ 0x5eed);
    let held_out = 200;
    let (ex, _, ecentres) = batch(&mut eval_rng, held_out, &device);
    // The initial weights come from the device's generator: seeded, so a run repeats.
    device.seed(config.seed);
    let net = BlobNet::new(&device);
    let score = |net: &BlobNet| hit_rate(&values(net.forward(ex.clone()).detach()), &ecentres);
    let before = score(&net);
    let (net, losses) = train_adam(net, &config, on_step, |net| {
        let (x, onehot, _) = batch(&mut rng, config.batch, &device);
        (log_softmax(net.forward(x), 1) * onehot).sum_dim(1).mean().neg()
    });
    DemoReport {
        name: "3d: blob location in noisy volumes (Conv3d)",
        steps: config.steps,
        losses,
        metric: "hit rate (best voxel within 1 of the blob centre)",
        baseline_name: "brightest raw voxel",
        baseline: hit_rate(&values(ex.clone().reshape([held_out, VOXELS]).detach()), &ecentres),
        before,
        after: score(&net),
        held_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rate_by_hand() {
        let mut s = vec![0.0f32; 2 * VOXELS];
        s[(3 * SIDE + 4) * SIDE + 5] = 1.0; // volume 0: best at (3,4,5)
        s[VOXELS + (10 * SIDE + 10) * SIDE + 10] = 1.0; // volume 1: best at (10,10,10)
        assert_eq!(hit_rate(&s, &[[4, 5, 6], [2, 2, 2]]), 0.5);
    }
}
