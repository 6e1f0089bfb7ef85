//! Distances between face embeddings. Both metrics work on L2-normalised embeddings, and both
//! are "smaller is more alike": verification says "same person" when `d <= tau`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// `d = ||f(x1) - f(x2)||^2` on unit vectors, in [0, 4] (the course's distance).
    SqL2,
    /// `d = 1 - cos(f(x1), f(x2))`, in [0, 2]. On unit vectors this is exactly `sq-l2 / 2`.
    Cosine,
}

impl Metric {
    /// Default decision threshold tau, chosen on LFW View 1 pairsDevTrain with the pretrained
    /// SFace pipeline (`facestyle face eval lfw` prints the threshold it selects).
    pub fn default_threshold(self) -> f32 {
        match self {
            Metric::SqL2 => SQ_L2_THRESHOLD,
            Metric::Cosine => SQ_L2_THRESHOLD / 2.0,
        }
    }

    /// Distance between two L2-normalised embeddings.
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        let sq: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        match self {
            Metric::SqL2 => sq,
            Metric::Cosine => 1.0 - dot(a, b),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::SqL2 => "sq-l2",
            Metric::Cosine => "cosine",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        match s {
            "sq-l2" | "sql2" | "l2" => Some(Metric::SqL2),
            "cosine" | "cos" => Some(Metric::Cosine),
            _ => None,
        }
    }
}

/// The sq-l2 threshold selected on pairsDevTrain (see [`Metric::default_threshold`]).
pub const SQ_L2_THRESHOLD: f32 = 1.307;

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Scales `v` to unit length (left unchanged if it is all zeros).
pub fn l2_normalize(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_is_half_sq_l2_on_unit_vectors() {
        let mut a = vec![1.0, 2.0, -0.5, 3.0];
        let mut b = vec![-1.0, 0.5, 2.0, 1.0];
        l2_normalize(&mut a);
        l2_normalize(&mut b);
        let (sq, cos) = (Metric::SqL2.distance(&a, &b), Metric::Cosine.distance(&a, &b));
        assert!((sq - 2.0 * cos).abs() < 1e-6, "{sq} {cos}");
        assert!(Metric::SqL2.distance(&a, &a).abs() < 1e-7);
        let neg: Vec<f32> = a.iter().map(|x| -x).collect();
        assert!((Metric::SqL2.distance(&a, &neg) - 4.0).abs() < 1e-5);
        assert_eq!(Metric::parse("cosine"), Some(Metric::Cosine));
        assert_eq!(Metric::parse("manhattan"), None);
    }
}
