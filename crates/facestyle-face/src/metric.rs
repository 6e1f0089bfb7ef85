//! Distances between face embeddings. Both metrics work on L2-normalised embeddings, and both
//! are "smaller is more alike": verification says "same person" when `d <= tau`.

use serde::{Deserialize, Serialize};

use crate::error::FaceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The verification decision: a metric and its threshold tau. Two faces are the same person
/// when `d <= tau`; everything that decides "same" or "unknown" goes through this type.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verifier {
    pub metric: Metric,
    pub threshold: f32,
}

/// One verification: the distance between two embeddings and the decision on it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verdict {
    pub metric: Metric,
    pub distance: f32,
    pub threshold: f32,
    pub same: bool,
}

impl Verifier {
    /// A verifier with an explicit threshold, which must be a finite number >= 0.
    pub fn new(metric: Metric, threshold: f32) -> Result<Self, FaceError> {
        if !threshold.is_finite() || threshold < 0.0 {
            return Err(FaceError::Threshold { value: threshold });
        }
        Ok(Verifier { metric, threshold })
    }

    /// The metric with its threshold for the pretrained SFace pipeline
    /// ([`Metric::default_threshold`]).
    pub fn standard(metric: Metric) -> Self {
        Verifier { metric, threshold: metric.default_threshold() }
    }

    /// The threshold in force: the one asked for, else the trained model's validation
    /// threshold (when a model directory is used), else the pretrained pipeline's.
    pub fn resolve(
        metric: Metric,
        asked: Option<f32>,
        model: Option<&crate::model_dir::ModelInfo>,
    ) -> Result<Self, FaceError> {
        match asked.or_else(|| model.and_then(|m| m.threshold(metric))) {
            Some(t) => Verifier::new(metric, t),
            None => Ok(Verifier::standard(metric)),
        }
    }

    /// `d <= tau`.
    pub fn same(&self, distance: f32) -> bool {
        distance <= self.threshold
    }

    /// Distance between two L2-normalised embeddings and the decision on it.
    pub fn verdict(&self, a: &[f32], b: &[f32]) -> Verdict {
        self.judge(self.metric.distance(a, b))
    }

    /// The decision on a distance measured with this verifier's metric.
    pub fn judge(&self, distance: f32) -> Verdict {
        Verdict { metric: self.metric, distance, threshold: self.threshold, same: self.same(distance) }
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
    }

    #[test]
    fn verifier_decides_at_the_threshold_and_refuses_bad_ones() {
        let v = Verifier::new(Metric::SqL2, 1.0).unwrap();
        assert!(v.same(1.0) && v.same(0.2) && !v.same(1.0001));
        let (a, b) = ([1.0, 0.0], [0.0, 1.0]);
        let verdict = v.verdict(&a, &b);
        assert_eq!((verdict.distance, verdict.same), (2.0, false));
        let json = serde_json::to_value(verdict).unwrap();
        assert_eq!(json["metric"], "sq-l2");
        assert_eq!(json["same"], false);
        for bad in [f32::NAN, f32::INFINITY, -0.5] {
            assert!(matches!(Verifier::new(Metric::Cosine, bad), Err(FaceError::Threshold { .. })), "{bad}");
        }
        assert_eq!(
            Verifier::resolve(Metric::Cosine, None, None).unwrap(),
            Verifier::standard(Metric::Cosine)
        );
        assert_eq!(Verifier::resolve(Metric::Cosine, Some(0.3), None).unwrap().threshold, 0.3);
        assert_eq!(Metric::parse("manhattan"), None);
    }
}
