//! Colour preservation by luminance-only transfer (Gatys, Bethge, Hertzmann & Shechtman 2016,
//! "Preserving Color in Neural Artistic Style Transfer"): the transfer runs on luminance images
//! (the style's luminance matched to the content's mean and spread), and the result keeps the
//! content's chroma.
//!
//! Luminance is BT.601 `Y = 0.299 R + 0.587 G + 0.114 B`. The weights sum to 1, so adding the same
//! value to R, G and B moves Y by that value and leaves the chroma (`R - Y`, `B - Y`) unchanged:
//! putting a new luminance under the content's colours is `content + (Y_new - Y_content)`.

use burn::prelude::*;

const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// `[1, 3, H, W]` RGB -> `[1, 1, H, W]` luminance.
pub fn luminance(rgb: Tensor<4>) -> Tensor<4> {
    let device = rgb.device();
    let w = Tensor::<1>::from_data(TensorData::new(LUMA.to_vec(), [3]), &device).reshape([1, 3, 1, 1]);
    (rgb * w).sum_dim(1)
}

/// The luminance of `rgb` as a grey RGB image (Y in all three channels), for VGG.
pub fn grey(rgb: Tensor<4>) -> Tensor<4> {
    luminance(rgb).repeat_dim(1, 3)
}

/// The style's grey image with its luminance shifted and scaled to the content's mean and
/// standard deviation (the paper's luminance histogram matching, to first and second moments).
pub fn matched_grey(style: Tensor<4>, content: Tensor<4>) -> Tensor<4> {
    let (ys, yc) = (luminance(style), luminance(content));
    let (ms, ss) = moments(ys.clone());
    let (mc, sc) = moments(yc);
    let y = (ys - ms) * (sc / ss.max(1e-3)) + mc;
    y.clamp(0.0, 255.0).repeat_dim(1, 3)
}

/// Mean and standard deviation of all values.
fn moments(y: Tensor<4>) -> (f32, f32) {
    let v = facestyle_nn::pretrained::values(y);
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, var.sqrt() as f32)
}

/// The luminance of `generated` under the colours of `content` (same size), clamped to 0-255.
pub fn with_colours_of(generated: Tensor<4>, content: Tensor<4>) -> Tensor<4> {
    let shift = luminance(generated) - luminance(content.clone());
    (content + shift).clamp(0.0, 255.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use facestyle_nn::pretrained::values;

    fn rgb(v: Vec<f32>, h: usize, w: usize) -> Tensor<4> {
        Tensor::from_data(TensorData::new(v, [1, 3, h, w]), &Device::flex())
    }

    #[test]
    fn the_result_has_the_new_luminance_and_the_content_chroma() {
        // Two pixels: a saturated orange and a muted blue (content); a grey ramp (generated).
        let content = rgb(vec![220.0, 60.0, 140.0, 150.0, 80.0, 120.0], 1, 2);
        let generated = rgb(vec![90.0, 200.0, 90.0, 200.0, 90.0, 200.0], 1, 2);
        let out = with_colours_of(generated.clone(), content.clone());
        let (y_out, y_gen) = (values(luminance(out.clone())), values(luminance(generated)));
        for (a, b) in y_out.iter().zip(&y_gen) {
            assert!((a - b).abs() < 1e-3, "luminance {y_out:?} vs {y_gen:?}");
        }
        let (o, c) = (values(out), values(content.clone()));
        let yc = values(luminance(content));
        for p in 0..2 {
            for ch in [0, 2] {
                let chroma_out = o[ch * 2 + p] - y_out[p];
                let chroma_content = c[ch * 2 + p] - yc[p];
                assert!((chroma_out - chroma_content).abs() < 1e-3, "pixel {p} channel {ch}");
            }
        }
    }

    #[test]
    fn matched_grey_takes_the_content_moments() {
        let style = rgb((0..12).map(|i| i as f32 * 20.0).collect(), 2, 2);
        let content =
            rgb(vec![100.0, 120.0, 110.0, 130.0, 90.0, 100.0, 95.0, 105.0, 80.0, 85.0, 90.0, 95.0], 2, 2);
        let g = matched_grey(style, content.clone());
        let v = values(g.clone());
        assert_eq!(v[0..4], v[4..8], "grey: equal channels");
        let (mg, sg) = moments(luminance(g));
        let (mc, sc) = moments(luminance(content));
        assert!((mg - mc).abs() < 1e-3 && (sg - sc).abs() < 1e-3, "{mg} {sg} vs {mc} {sc}");
    }
}
