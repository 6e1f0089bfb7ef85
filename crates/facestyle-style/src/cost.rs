//! The costs of neural style transfer, each in its own function:
//!
//! - content: `J_content = 1/2 ||a[l](C) - a[l](G)||^2` at one layer;
//! - style at layer l: `J_style[l] = 1 / (2 nH nW nC)^2 ||G(S) - G(G)||_F^2` on Gram matrices,
//!   computed as `1 / (2 nC)^2 ||g(S) - g(G)||_F^2` on Gram matrices averaged over positions
//!   (`g = G / (nH nW)`): the same number when S and G have the same size, and a style picture
//!   of another size or shape sets the same target as one of G's size;
//! - style over layers: `J_style = sum_l lambda[l] J_style[l]`;
//! - total variation (optional smoothness): sum of squared differences of neighbouring pixels;
//! - luminance texture (optional): the mean over pixels of the squared differences of
//!   neighbouring pixels of the luminance the transfer adds, `Y(G) - Y(C)`;
//! - total: `J(G) = alpha J_content + beta J_style + tv_weight J_tv + luma_weight J_luma`.

use burn::prelude::*;

use crate::colour::luminance;
use crate::gram::mean_gram;

/// `1/2 ||a_c - a_g||^2` summed over every activation.
pub fn content_cost(a_c: Tensor<4>, a_g: Tensor<4>) -> Tensor<1> {
    (a_c - a_g).powi_scalar(2).sum() * 0.5
}

/// `||g_s - mean_gram(a_g)||_F^2 / (2 nC)^2` with the style image's [`mean_gram`]
/// precomputed. Averaging over positions matters when the style picture's map has more or
/// fewer positions than G's: summed Gram matrices would ask G's fewer (or more) positions for
/// the style's total energy, too strong (or too weak) features at every position.
pub fn style_layer_cost(gram_s: Tensor<2>, a_g: Tensor<4>) -> Tensor<1> {
    let [_, c, _, _] = a_g.dims();
    let norm = (2.0 * c as f64).powi(2);
    (gram_s - mean_gram(a_g)).powi_scalar(2).sum() / norm
}

/// `sum_l lambda_l J_style[l]` over (precomputed style Gram, generated activation, lambda).
pub fn style_cost(layers: Vec<(Tensor<2>, Tensor<4>, f32)>) -> Tensor<1> {
    let mut total: Option<Tensor<1>> = None;
    for (gs, ag, lambda) in layers {
        let j = style_layer_cost(gs, ag) * lambda;
        total = Some(match total {
            Some(t) => t + j,
            None => j,
        });
    }
    total.expect("at least one style layer")
}

/// Total variation `sum (g[y+1,x] - g[y,x])^2 + (g[y,x+1] - g[y,x])^2` of `[N, C, H, W]` pixels.
pub fn tv_cost(g: Tensor<4>) -> Tensor<1> {
    let [n, c, h, w] = g.dims();
    let dy = g.clone().slice([0..n, 0..c, 1..h, 0..w]) - g.clone().slice([0..n, 0..c, 0..h - 1, 0..w]);
    let dx = g.clone().slice([0..n, 0..c, 0..h, 1..w]) - g.slice([0..n, 0..c, 0..h, 0..w - 1]);
    dy.powi_scalar(2).sum() + dx.powi_scalar(2).sum()
}

/// The light-dark texture G adds to C: the total variation of `Y(G) - Y(C)` (BT.601
/// luminance) divided by the pixel count, so that a weight means the same at every size. The
/// content's own edges cost nothing, and neither does texture in colour alone.
pub fn luma_texture_cost(g: Tensor<4>, c: Tensor<4>) -> Tensor<1> {
    let [_, _, h, w] = g.dims();
    tv_cost(luminance(g - c)) / (h * w) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gram::gram;
    use facestyle_nn::pretrained::values;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                (((i as u32).wrapping_mul(2654435761u32).wrapping_add(seed * 97)) % 1000) as f32 / 500.0 - 1.0
            })
            .collect()
    }

    /// Checks the autodiff gradient of `f` at `x0` against central finite differences (f64 sums
    /// are not available in f32 tensors, so the step is large and the tolerance relative).
    fn check_gradient(shape: [usize; 4], f: impl Fn(Tensor<4>) -> Tensor<1>) {
        let device = facestyle_nn::device::training_device();
        let n: usize = shape.iter().product();
        let x0 = data(n, 1);
        let x = Tensor::<4>::from_data(TensorData::new(x0.clone(), shape), &device).require_grad();
        let grads = f(x.clone()).backward();
        let g = values(x.grad(&grads).expect("gradient"));
        let eps = 1e-2f32;
        for i in (0..n).step_by(n.div_ceil(12)) {
            let at = |delta: f32| {
                let mut v = x0.clone();
                v[i] += delta;
                values(f(Tensor::<4>::from_data(TensorData::new(v, shape), &device)))[0] as f64
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            let tol = 2e-2 * fd.abs().max(g[i].abs() as f64).max(1e-3);
            assert!(
                (fd - g[i] as f64).abs() <= tol,
                "element {i}: autodiff {} vs finite difference {fd}",
                g[i]
            );
        }
    }

    #[test]
    fn content_cost_value_and_gradient() {
        let device = Device::flex();
        let a = Tensor::<4>::from_data(TensorData::new(vec![1.0, 2.0, 3.0, 4.0], [1, 1, 2, 2]), &device);
        let b = Tensor::<4>::from_data(TensorData::new(vec![1.0, 0.0, 3.0, 7.0], [1, 1, 2, 2]), &device);
        assert_eq!(values(content_cost(a, b)), vec![0.5 * (4.0 + 9.0)]);
        let device = facestyle_nn::device::training_device();
        let target = Tensor::<4>::from_data(TensorData::new(data(2 * 3 * 4, 9), [1, 2, 3, 4]), &device);
        check_gradient([1, 2, 3, 4], |x| content_cost(target.clone(), x));
    }

    #[test]
    fn style_layer_cost_value_and_gradient() {
        let device = Device::flex();
        // One channel, 1x2 map [1, 2]: G = 5; a style of the same size with Gram 3 ->
        // (3-5)^2 / (2*2*1)^2 = 4/16; averaged over the 2 positions: (1.5-2.5)^2 / (2*1)^2.
        let a = Tensor::<4>::from_data(TensorData::new(vec![1.0, 2.0], [1, 1, 1, 2]), &device);
        let gs = Tensor::<2>::from_data(TensorData::new(vec![1.5], [1, 1]), &device);
        assert_eq!(values(style_layer_cost(gs, a)), vec![0.25]);
        let device = facestyle_nn::device::training_device();
        let s = Tensor::<4>::from_data(TensorData::new(data(3 * 2 * 3, 5), [1, 3, 2, 3]), &device);
        let gs = mean_gram(s);
        check_gradient([1, 3, 2, 3], |x| style_layer_cost(gs.clone(), x));
        check_gradient([1, 3, 2, 3], |x| {
            style_cost(vec![(gs.clone(), x.clone(), 0.7), (gs.clone(), x * 2.0, 0.3)])
        });
    }

    #[test]
    fn a_style_of_another_size_with_the_same_statistics_costs_nothing() {
        let device = Device::flex();
        // The style picture is G tiled 2x2: four times the positions (twice the height, twice
        // the width), the same statistics. Summed Gram matrices differ by 4x there.
        let (c, h, w) = (2, 3, 4);
        let g: Vec<f32> = data(c * h * w, 3);
        let a_g = Tensor::<4>::from_data(TensorData::new(g.clone(), [1, c, h, w]), &device);
        let tiled: Vec<f32> = g
            .chunks(h * w)
            .flat_map(|channel| {
                let rows: Vec<f32> =
                    channel.chunks(w).flat_map(|row| row.iter().chain(row).copied()).collect();
                [rows.clone(), rows].concat()
            })
            .collect();
        let a_s = Tensor::<4>::from_data(TensorData::new(tiled, [1, c, 2 * h, 2 * w]), &device);
        let cost = values(style_layer_cost(mean_gram(a_s.clone()), a_g.clone()))[0];
        assert!(cost.abs() < 1e-9, "cost {cost}");
        let summed = values((gram(a_s) - gram(a_g)).powi_scalar(2).sum())[0];
        assert!(summed > 1.0, "the summed Grams differ: {summed}");
    }

    #[test]
    fn tv_cost_value_and_gradient() {
        let device = Device::flex();
        let g = Tensor::<4>::from_data(TensorData::new(vec![0.0, 1.0, 3.0, 3.0], [1, 1, 2, 2]), &device);
        // vertical: (3-0)^2 + (3-1)^2 = 13; horizontal: (1-0)^2 + (3-3)^2 = 1.
        assert_eq!(values(tv_cost(g)), vec![14.0]);
        check_gradient([1, 2, 3, 4], tv_cost);
    }

    #[test]
    fn luma_texture_counts_added_light_dark_texture_only() {
        let device = Device::flex();
        let rgb = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, 3, 1, 2]), &device);
        // The content's own edge costs nothing when G keeps it.
        let c = rgb(vec![0.0, 100.0, 0.0, 100.0, 0.0, 100.0]);
        assert_eq!(values(luma_texture_cost(c.clone(), c.clone())), vec![0.0]);
        // An added edge of 10 in every channel: luminance change 0 -> 10, (10)^2 over 2 pixels.
        let g = c.clone() + rgb(vec![0.0, 10.0, 0.0, 10.0, 0.0, 10.0]);
        assert!((values(luma_texture_cost(g, c.clone()))[0] - 50.0).abs() < 1e-3);
        // Red up and green down by the luminance-neutral amounts: colour texture only.
        let g = c.clone() + rgb(vec![0.0, 0.587, 0.0, -0.299, 0.0, 0.0]);
        assert!(values(luma_texture_cost(g, c))[0].abs() < 1e-6);
        check_gradient([1, 3, 3, 4], |g| {
            let c = Tensor::<4>::from_data(TensorData::new(data(36, 5), [1, 3, 3, 4]), &g.device());
            luma_texture_cost(g, c)
        });
    }
}
