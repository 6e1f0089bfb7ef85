//! Deterministic test inputs and a tolerance check shared by the layer tests.

use burn::prelude::*;

use crate::conv_ref::conv_nd_naive;
use crate::im2col::Geometry;

/// `n` values spread over [-1, 1], a different order for each `seed`.
pub fn ramp(n: usize, seed: usize) -> Vec<f32> {
    (0..n).map(|i| (((i * 7919 + seed * 104729) % 2001) as f32 - 1000.0) / 1000.0).collect()
}

/// Elementwise `|a - b| < 1e-4 (1 + |b|)`, naming the first index that differs.
pub fn assert_close<const D: usize>(a: Tensor<D>, b: Tensor<D>, what: &str) {
    let (a, b) = (a.into_data().try_to_vec::<f32>().unwrap(), b.into_data().try_to_vec::<f32>().unwrap());
    assert_close_values(&a, &b, what);
}

/// [`assert_close`] on plain values.
pub fn assert_close_values(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: length");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() < 1e-4 * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
    }
}

/// The naive convolution (f64, `conv_ref`) of every image and group of `x` (`[n, ci, h, w]`)
/// with `w` (`[co, ci / groups, k, k]`) -> `[n, co, oh, ow]`.
pub fn naive_conv2d(g: &Geometry, groups: usize, x: &[f32], w: &[f32]) -> Vec<f64> {
    let (cig, cog) = (g.ci / groups, g.co / groups);
    let wlen = cog * cig * g.k * g.k;
    let mut out = Vec::new();
    for i in 0..g.n {
        for grp in 0..groups {
            let xs = &x[i * g.in_image() + grp * cig * g.h * g.w..][..cig * g.h * g.w];
            let xi: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
            let wi: Vec<f64> = w[grp * wlen..][..wlen].iter().map(|&v| v as f64).collect();
            let shape = [cog, cig, g.k, g.k];
            let (y, _) = conv_nd_naive(&xi, &[cig, g.h, g.w], &wi, &shape, None, g.stride, g.padding);
            out.extend(y);
        }
    }
    out
}

/// [`naive_conv2d`] with `bias` added and PReLU (`slope` per output channel) applied.
pub fn naive_conv_act(
    g: &Geometry,
    groups: usize,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    slope: &[f32],
) -> Vec<f32> {
    let plane = g.out_plane();
    let y = naive_conv2d(g, groups, x, w);
    y.chunks(plane)
        .enumerate()
        .flat_map(|(r, row)| {
            let c = r % g.co;
            row.iter().map(move |&v| {
                let v = v as f32 + bias[c];
                if v < 0.0 { v * slope[c] } else { v }
            })
        })
        .collect()
}

/// Slopes 0 (ReLU), 1 (identity) and in between, biases of both signs.
pub fn per_channel(co: usize) -> (Vec<f32>, Vec<f32>) {
    ((0..co).map(|c| c as f32 * 0.3 - 1.0).collect(), (0..co).map(|c| [0.0, 1.0, 0.25][c % 3]).collect())
}
