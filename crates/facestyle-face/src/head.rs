//! Verification as binary classification over a pair of stored embeddings:
//! `y = sigma(sum_k w_k x_k + b)` on a pair feature vector `x`, trained by gradient descent
//! (full batch, Adam, logistic loss with a small L2 penalty on `w`).
//!
//! Pair features, per component k of the two unit-length embeddings `f_i`, `f_j`:
//! - `abs-diff`: `|f_ik - f_jk|`;
//! - `chi-square`: `(f_ik - f_jk)^2 / (|f_ik| + |f_jk| + eps)`. The chi-square form is meant
//!   for non-negative histograms, where the denominator is `f_ik + f_jk`; embedding components
//!   are signed, so the denominator uses their magnitudes (the same value when both are
//!   non-negative) and `eps = 1e-6` keeps it away from zero.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{FaceError, Result};

pub const CHI_EPS: f32 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairFeature {
    AbsDiff,
    ChiSquare,
}

impl PairFeature {
    pub fn compute(self, a: &[f32], b: &[f32]) -> Vec<f32> {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| match self {
                PairFeature::AbsDiff => (x - y).abs(),
                PairFeature::ChiSquare => (x - y).powi(2) / (x.abs() + y.abs() + CHI_EPS),
            })
            .collect()
    }
}

/// A trained head, with the embedding model it was trained for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Head {
    pub feature: PairFeature,
    pub weights: Vec<f32>,
    pub bias: f32,
    pub model_id: String,
    pub model_version: String,
    /// How it was trained (pairs, iterations, training accuracy ...).
    #[serde(default)]
    pub training: serde_json::Value,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Head {
    /// Probability that the two embeddings show the same person.
    pub fn probability(&self, a: &[f32], b: &[f32]) -> f32 {
        let x = self.feature.compute(a, b);
        let z: f64 =
            self.weights.iter().zip(&x).map(|(&w, &v)| w as f64 * v as f64).sum::<f64>() + self.bias as f64;
        sigmoid(z) as f32
    }

    pub fn read(path: &Path) -> Result<Head> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| FaceError::dataset(path, format!("cannot read: {e}")))?;
        let head: Head = serde_json::from_str(&text)
            .map_err(|e| FaceError::dataset(path, format!("not a verification head file: {e}")))?;
        if head.weights.is_empty() || head.weights.iter().any(|w| !w.is_finite()) || !head.bias.is_finite() {
            return Err(FaceError::dataset(path, "the head's weights are empty or not finite"));
        }
        Ok(head)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("serialisable");
        std::fs::write(path, text).map_err(|e| FaceError::dataset(path, format!("cannot write: {e}")))
    }

    /// Refuses embeddings of another model than the head was trained on.
    pub fn check_model(&self, path: &Path, model_id: &str, model_version: &str, dim: usize) -> Result<()> {
        if self.model_id != model_id || self.model_version != model_version {
            return Err(FaceError::dataset(
                path,
                format!(
                    "this head was trained on {} {} embeddings, not {model_id} {model_version}",
                    self.model_id, self.model_version
                ),
            ));
        }
        if self.weights.len() != dim {
            return Err(FaceError::dataset(
                path,
                format!("{} weights for {dim}-d embeddings", self.weights.len()),
            ));
        }
        Ok(())
    }
}

/// Logistic regression by full-batch gradient descent (Adam, lr 0.05, epsilon 1e-8) on
/// pair features `x` (rows) and labels `y` (same person = true), with `l2 * ||w||^2` added to
/// the mean log loss. Returns `(w, b)` and the loss after each iteration.
pub fn fit_logistic(x: &[Vec<f32>], y: &[bool], iterations: usize, l2: f64) -> (Vec<f32>, f32, Vec<f64>) {
    assert_eq!(x.len(), y.len());
    let n = x.len().max(1) as f64;
    let d = x.first().map_or(0, Vec::len);
    let mut w = vec![0f64; d + 1]; // last: bias
    let (mut m, mut v) = (vec![0f64; d + 1], vec![0f64; d + 1]);
    let (lr, b1, b2, eps) = (0.05, 0.9, 0.999, 1e-8);
    let mut losses = Vec::with_capacity(iterations);
    for t in 1..=iterations {
        let mut g = vec![0f64; d + 1];
        let mut loss = 0.0;
        for (xi, &yi) in x.iter().zip(y) {
            let z: f64 = xi.iter().zip(&w).map(|(&a, &b)| a as f64 * b).sum::<f64>() + w[d];
            let p = sigmoid(z);
            let target = if yi { 1.0 } else { 0.0 };
            // log(1 + e^-|z|) + max(z, 0) - z * target: the stable form of the log loss.
            loss += (1.0 + (-z.abs()).exp()).ln() + z.max(0.0) - z * target;
            let r = p - target;
            for k in 0..d {
                g[k] += r * xi[k] as f64;
            }
            g[d] += r;
        }
        loss /= n;
        for k in 0..d {
            g[k] = g[k] / n + 2.0 * l2 * w[k];
            loss += l2 * w[k] * w[k];
        }
        g[d] /= n;
        losses.push(loss);
        for k in 0..=d {
            m[k] = b1 * m[k] + (1.0 - b1) * g[k];
            v[k] = b2 * v[k] + (1.0 - b2) * g[k] * g[k];
            let mh = m[k] / (1.0 - b1.powi(t as i32));
            let vh = v[k] / (1.0 - b2.powi(t as i32));
            w[k] -= lr * mh / (vh.sqrt() + eps);
        }
    }
    let b = w.pop().unwrap_or(0.0) as f32;
    (w.into_iter().map(|x| x as f32).collect(), b, losses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_by_hand() {
        let (a, b) = ([0.6f32, -0.8, 0.0], [0.0f32, -0.6, 0.8]);
        let abs = PairFeature::AbsDiff.compute(&a, &b);
        for (c, w) in abs.iter().zip([0.6, 0.2, 0.8]) {
            assert!((c - w).abs() < 1e-6, "{abs:?}");
        }
        let chi = PairFeature::ChiSquare.compute(&a, &b);
        let want = [0.36 / (0.6 + 1e-6), 0.04 / (1.4 + 1e-6), 0.64 / (0.8 + 1e-6)];
        for (c, w) in chi.iter().zip(want) {
            assert!((c - w).abs() < 1e-6, "{chi:?}");
        }
        // Identical vectors: zero features, never a division by zero.
        assert_eq!(PairFeature::ChiSquare.compute(&[0.0, 1.0], &[0.0, 1.0]), vec![0.0, 0.0]);
    }

    /// Same pairs differ little in components 3 and 4 (< 0.1), different pairs a lot (> 0.2);
    /// components 1 and 2 are noise in both: the head weighs 3 and 4 negatively and separates
    /// the two (linearly separable, so at least 99% right).
    #[test]
    fn logistic_head_learns_which_components_matter() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (mut x, mut y) = (vec![], vec![]);
        for i in 0..400 {
            let same = i % 2 == 0;
            let row: Vec<f32> = (0..4)
                .map(|k| match (same, k >= 2) {
                    (true, true) => rng.random_range(0.0..0.1),
                    (false, true) => rng.random_range(0.2..1.0),
                    _ => rng.random_range(0.0..1.0),
                })
                .collect();
            x.push(row);
            y.push(same);
        }
        let (w, b, losses) = fit_logistic(&x, &y, 2000, 1e-4);
        assert!(losses[1999] < 0.5 * losses[0], "{} -> {}", losses[0], losses[1999]);
        assert!(w[2] < -1.0 && w[3] < -1.0 && w[0].abs() < w[2].abs(), "{w:?}");
        let head = Head {
            feature: PairFeature::AbsDiff,
            weights: w,
            bias: b,
            model_id: "m".into(),
            model_version: "v".into(),
            training: serde_json::Value::Null,
        };
        let correct = x
            .iter()
            .zip(&y)
            .filter(|(r, s)| {
                let z: f32 = head.weights.iter().zip(r.iter()).map(|(a, b)| a * b).sum::<f32>() + head.bias;
                (z > 0.0) == **s
            })
            .count();
        assert!(correct >= 390, "{correct}/400");
        // The probability of a pair of embeddings goes through the same features.
        let p_same = head.probability(&[0.5, 0.5, 0.5, 0.5], &[0.9, 0.1, 0.5, 0.5]);
        let p_diff = head.probability(&[0.5, 0.5, 0.0, 0.0], &[0.5, 0.5, 1.0, 1.0]);
        assert!(p_same > 0.5 && p_diff < 0.5, "{p_same} {p_diff}");
    }

    #[test]
    fn head_files_name_their_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("head.json");
        std::fs::write(&p, "{}").unwrap();
        assert!(Head::read(&p).unwrap_err().to_string().contains("not a verification head"));
        let h = Head {
            feature: PairFeature::ChiSquare,
            weights: vec![1.0; 3],
            bias: 0.0,
            model_id: "a".into(),
            model_version: "1".into(),
            training: serde_json::Value::Null,
        };
        h.write(&p).unwrap();
        let back = Head::read(&p).unwrap();
        assert!(back.check_model(&p, "a", "1", 3).is_ok());
        let e = back.check_model(&p, "b", "1", 3).unwrap_err().to_string();
        assert!(e.contains("head.json") && e.contains("trained on a 1"), "{e}");
    }
}
