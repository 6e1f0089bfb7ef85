//! Deterministic test inputs and a tolerance check shared by the layer tests.

use burn::prelude::*;

/// `n` values spread over [-1, 1], a different order for each `seed`.
pub fn ramp(n: usize, seed: usize) -> Vec<f32> {
    (0..n).map(|i| (((i * 7919 + seed * 104729) % 2001) as f32 - 1000.0) / 1000.0).collect()
}

/// Elementwise `|a - b| < 1e-4 (1 + |b|)`, naming the first index that differs.
pub fn assert_close<const D: usize>(a: Tensor<D>, b: Tensor<D>, what: &str) {
    let (a, b) = (a.into_data().try_to_vec::<f32>().unwrap(), b.into_data().try_to_vec::<f32>().unwrap());
    assert_eq!(a.len(), b.len(), "{what}: length");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!((x - y).abs() < 1e-4 * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
    }
}
