//! The triplet loss `L(A, P, N) = max(||f(A) - f(P)||^2 - ||f(A) - f(N)||^2 + alpha, 0)` on
//! L2-normalised embeddings, averaged over the selected triplets of a batch (mean, not sum, so
//! the learning rate does not depend on how many triplets a batch yields), and the selection
//! of triplets from a batch of P identities x K images:
//!
//! - `Random`: every (anchor, positive) pair with one random negative;
//! - `SemiHard` (FaceNet): for every (anchor, positive) pair, the closest negative that is still
//!   farther than the positive, `d(A,P) < d(A,N) < d(A,P) + alpha`; pairs without one are left out;
//! - `BatchHard`: for every anchor, its farthest positive and its closest negative.

use burn::prelude::*;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mining {
    Random,
    SemiHard,
    BatchHard,
}

/// Squared Euclidean distances between all rows of `[N, D]` embeddings: `[N, N]`.
pub fn pairwise_sq_dist(e: Tensor<2>) -> Tensor<2> {
    let sq = e.clone().powi_scalar(2).sum_dim(1); // [N, 1]
    let gram = e.clone().matmul(e.transpose());
    (sq.clone() + sq.transpose() - gram * 2.0).clamp_min(0.0)
}

/// (anchor, positive, negative) index triplets chosen from the detached distances `d`
/// (`n x n`, row-major) for the batch `labels`.
pub fn select(d: &[f32], labels: &[usize], mining: Mining, alpha: f32, seed: u64) -> Vec<[usize; 3]> {
    let n = labels.len();
    assert_eq!(d.len(), n * n, "distance matrix size");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let negatives = |a: usize| (0..n).filter(move |&j| labels[j] != labels[a]);
    let mut out = Vec::new();
    for a in 0..n {
        let positives: Vec<usize> = (0..n).filter(|&j| j != a && labels[j] == labels[a]).collect();
        if positives.is_empty() || negatives(a).next().is_none() {
            continue;
        }
        match mining {
            Mining::BatchHard => {
                let p =
                    *positives.iter().max_by(|&&x, &&y| d[a * n + x].total_cmp(&d[a * n + y])).expect("some");
                let neg = negatives(a).min_by(|&x, &y| d[a * n + x].total_cmp(&d[a * n + y])).expect("some");
                out.push([a, p, neg]);
            }
            Mining::SemiHard => {
                for &p in &positives {
                    let dap = d[a * n + p];
                    let neg = negatives(a)
                        .filter(|&j| d[a * n + j] > dap && d[a * n + j] < dap + alpha)
                        .min_by(|&x, &y| d[a * n + x].total_cmp(&d[a * n + y]));
                    if let Some(neg) = neg {
                        out.push([a, p, neg]);
                    }
                }
            }
            Mining::Random => {
                let negs: Vec<usize> = negatives(a).collect();
                for &p in &positives {
                    out.push([a, p, negs[rng.random_range(0..negs.len())]]);
                }
            }
        }
    }
    out
}

/// Mean triplet loss over `triplets` from the (autodiff) distance matrix `d`, and the fraction
/// of triplets with a non-zero loss (the "active" ones that still teach something).
pub fn triplet_loss(d: Tensor<2>, triplets: &[[usize; 3]], alpha: f32) -> (Tensor<1>, f32) {
    let device = d.device();
    let n = d.dims()[0];
    let flat = d.reshape([n * n]);
    // Flat indices of d(anchor, t[k]).
    let idx = |k: usize| {
        let v: Vec<i64> = triplets.iter().map(|t| (t[0] * n + t[k]) as i64).collect();
        Tensor::<1, Int>::from_data(TensorData::new(v, [triplets.len()]), &device)
    };
    if triplets.is_empty() {
        return (flat.sum() * 0.0, 0.0);
    }
    let d_ap = flat.clone().select(0, idx(1));
    let d_an = flat.select(0, idx(2));
    let per = (d_ap - d_an + alpha).clamp_min(0.0);
    let active = facestyle_nn::pretrained::values(per.clone().detach()).iter().filter(|&&v| v > 0.0).count();
    (per.mean(), active as f32 / triplets.len() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use facestyle_nn::pretrained::values;

    fn t2(v: Vec<f32>, r: usize, c: usize) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, [r, c]), &Device::flex())
    }

    #[test]
    fn distances_and_the_loss_by_hand() {
        // Points on a line: 0, 1, 3 (labels 0, 0, 1).
        let e = t2(vec![0.0, 1.0, 3.0], 3, 1);
        let d = pairwise_sq_dist(e);
        assert_eq!(values(d.clone()), vec![0.0, 1.0, 9.0, 1.0, 0.0, 4.0, 9.0, 4.0, 0.0]);
        // (0, 1, 2): max(1 - 9 + 0.2, 0) = 0; (1, 0, 2): max(1 - 4 + 0.2, 0) = 0; with alpha 5:
        // 1 - 9 + 5 < 0 -> 0 and 1 - 4 + 5 = 2 -> mean 1, half active.
        let (l, active) = triplet_loss(d.clone(), &[[0, 1, 2], [1, 0, 2]], 0.2);
        assert_eq!((values(l)[0], active), (0.0, 0.0));
        let (l, active) = triplet_loss(d, &[[0, 1, 2], [1, 0, 2]], 5.0);
        assert_eq!((values(l)[0], active), (1.0, 0.5));
    }

    #[test]
    fn selection_rules() {
        // Labels 0,0,1,1; distances chosen by hand (symmetric).
        let labels = [0, 0, 1, 1];
        #[rustfmt::skip]
        let d = vec![
            0.0, 1.0, 1.5, 3.0,
            1.0, 0.0, 0.5, 2.0,
            1.5, 0.5, 0.0, 1.0,
            3.0, 2.0, 1.0, 0.0,
        ];
        let hard = select(&d, &labels, Mining::BatchHard, 0.2, 0);
        assert_eq!(hard, vec![[0, 1, 2], [1, 0, 2], [2, 3, 1], [3, 2, 1]]);
        // Semi-hard with alpha 1: anchor 0, positive 1 (d 1.0): negatives in (1.0, 2.0) -> 2 (1.5).
        // Anchor 1, positive 0 (1.0): negatives 2 (0.5, too close), 3 (2.0, not < 2.0) -> none.
        // Anchor 2, positive 3 (1.0): negatives 0 (1.5) -> 0. Anchor 3, positive 2 (1.0):
        // negatives 0 (3.0), 1 (2.0) -> none.
        assert_eq!(select(&d, &labels, Mining::SemiHard, 1.0, 0), vec![[0, 1, 2], [2, 3, 0]]);
        let random = select(&d, &labels, Mining::Random, 0.2, 7);
        assert_eq!(random.len(), 4);
        assert!(random.iter().all(|t| labels[t[0]] == labels[t[1]] && labels[t[0]] != labels[t[2]]));
    }

    /// A linear embedding of noisy points from 4 classes, trained with batch-hard triplets and
    /// Adam: the loss falls and fewer triplets stay active.
    #[test]
    fn a_tiny_embedding_learns() {
        use burn::nn::LinearConfig;
        use burn::optim::{AdamConfig, GradientsParams};
        // A margin no random projection meets (with 0.2 one sometimes did: nothing to learn).
        const ALPHA: f32 = 1.0;
        let device = Device::flex().autodiff();
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let (classes, per, dim) = (4, 6, 8);
        let centres: Vec<Vec<f32>> =
            (0..classes).map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect()).collect();
        let labels: Vec<usize> = (0..classes * per).map(|i| i / per).collect();
        let x: Vec<f32> = labels
            .iter()
            .flat_map(|&c| {
                centres[c].iter().map(|v| v + 0.3 * rng.random_range(-1.0..1.0)).collect::<Vec<f32>>()
            })
            .collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [labels.len(), dim]), &device);
        let mut net = LinearConfig::new(dim, 4).init(&device);
        let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
        let mut history = Vec::new();
        for step in 0..60 {
            let e = net.forward(x.clone());
            let norm = e.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-6);
            let d = pairwise_sq_dist(e / norm);
            let triplets = select(&values(d.clone().detach()), &labels, Mining::BatchHard, ALPHA, step);
            let (loss, active) = triplet_loss(d, &triplets, ALPHA);
            history.push((values(loss.clone().detach())[0], active));
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(0.05, net, grads);
        }
        let (first, last) = (history[0], history[history.len() - 1]);
        assert!(last.0 < 0.5 * first.0, "loss {first:?} -> {last:?}");
        assert!(last.1 <= first.1, "active fraction {first:?} -> {last:?}");
    }
}
