//! Validation on verification pairs of people the network never trained on
//! (`pairsDevTest.txt`): embeddings of the cached crops, squared L2 distances, and
//! accuracy by ten-fold cross-validation over the pairs (threshold chosen on nine tenths,
//! measured on the tenth, averaged), so no threshold is ever fitted on the pairs it scores.

use burn::prelude::*;
use facestyle_face::embedder::Embedder;
use facestyle_face::lfw::PairsFile;
use facestyle_face::metric::{Metric, l2_normalize};
use facestyle_face::roc::{Scored, accuracy, auc, best_threshold};
use facestyle_nn::pretrained::values;

use crate::augment::{Augment, batch_tensor};
use crate::crops::Crops;

/// A pair as two crop indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropPair {
    pub a: usize,
    pub b: usize,
    pub same: bool,
}

/// The pairs of `file` whose two images are both in `crops`, and how many were not.
pub fn crop_pairs(file: &PairsFile, crops: &Crops) -> (Vec<CropPair>, usize) {
    let mut out = Vec::new();
    let mut missing = 0;
    for p in file.all() {
        match (crops.get(&p.a), crops.get(&p.b)) {
            (Some(a), Some(b)) => out.push(CropPair { a, b, same: p.same }),
            _ => missing += 1,
        }
    }
    (out, missing)
}

/// Unit-length embeddings of the crops `items` with an evaluation-mode network, 64 a batch.
pub fn embed(net: &Embedder, crops: &Crops, items: &[usize], device: &Device) -> Vec<Vec<f32>> {
    let mut rng = rand::rng();
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(64) {
        let x = batch_tensor(crops, chunk, Augment::NONE, &mut rng, device);
        let e = net.forward(x);
        let dim = e.dims()[1];
        for v in values(e).chunks(dim) {
            let mut v = v.to_vec();
            l2_normalize(&mut v);
            out.push(v);
        }
    }
    out
}

/// A network's validation result; the model directory records it (its threshold becomes the
/// model's default).
pub use facestyle_face::model_dir::Validation;

/// Accuracy by `k`-fold cross-validation: pair `i` is in fold `i mod k`.
pub fn cv_accuracy(scored: &[Scored], k: usize) -> f64 {
    let mut total = 0.0;
    for f in 0..k {
        let fold = |keep: bool| -> Vec<Scored> {
            scored.iter().enumerate().filter(|(i, _)| (i % k == f) == keep).map(|(_, s)| *s).collect()
        };
        let (test, rest) = (fold(true), fold(false));
        total += accuracy(&test, best_threshold(&rest));
    }
    total / k as f64
}

/// Scores pairs given each crop's embedding (`emb[crop index]`).
pub fn score(pairs: &[CropPair], emb: &dyn Fn(usize) -> Vec<f32>) -> Vec<Scored> {
    pairs
        .iter()
        .map(|p| Scored { distance: Metric::SqL2.distance(&emb(p.a), &emb(p.b)), same: p.same })
        .collect()
}

/// Validates `net` (evaluation mode) on `pairs`.
pub fn validate(net: &Embedder, crops: &Crops, pairs: &[CropPair], device: &Device) -> Validation {
    let mut items: Vec<usize> = pairs.iter().flat_map(|p| [p.a, p.b]).collect();
    items.sort_unstable();
    items.dedup();
    let embs = embed(net, crops, &items, device);
    let lookup = |i: usize| embs[items.binary_search(&i).expect("embedded")].clone();
    let scored = score(pairs, &lookup);
    Validation { accuracy: cv_accuracy(&scored, 10), auc: auc(&scored), threshold: best_threshold(&scored) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_validation_never_scores_a_fold_with_its_own_threshold() {
        // Perfectly separable: 1.0. One same pair far away: it costs exactly its fold 1/2 of
        // its 2 pairs... here 20 pairs, 2 per fold: that fold scores 1/2, the mean 0.95.
        let mut s: Vec<Scored> = (0..20)
            .map(|i| Scored { distance: if i % 2 == 0 { 0.1 } else { 1.0 }, same: i % 2 == 0 })
            .collect();
        assert_eq!(cv_accuracy(&s, 10), 1.0);
        s[4].distance = 5.0;
        assert!((cv_accuracy(&s, 10) - 0.95).abs() < 1e-12, "{}", cv_accuracy(&s, 10));
    }
}
