//! How good a style transfer is, in two numbers:
//!
//! - structure kept: SSIM (Wang, Bovik, Sheikh & Simoncelli 2004) of the BT.601 luminance
//!   (0-255) of the result and of the content image at the same size, with the standard
//!   settings: an 11x11 Gaussian window of sigma 1.5, `K1 = 0.01`, `K2 = 0.03`, the mean of the
//!   SSIM map over every position where the window fits;
//! - style carried: the style cost `J_style` of the result divided by the style cost of the
//!   content image itself, with the same style images, layers and weights as the run (1 means
//!   no style at all, 0 the style's statistics exactly).
//!
//! The bar a picture should meet: SSIM at least [`SSIM_BAR`] and style ratio at most
//! [`STYLE_RATIO_BAR`].

use burn::prelude::*;
use image::RgbImage;

use crate::transfer::{StyleConfig, style_grams, style_loss};
use crate::vgg::Vgg19;

/// Lowest SSIM of luminance that keeps the content's structure recognisable.
pub const SSIM_BAR: f64 = 0.3;
/// Highest style ratio at which the style is clearly carried.
pub const STYLE_RATIO_BAR: f64 = 0.05;

/// The two figures of [`measure`] with the style costs they come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// SSIM of luminance between the result and the content.
    pub ssim: f64,
    /// `style_result / style_content`.
    pub style_ratio: f64,
    pub style_result: f64,
    pub style_content: f64,
}

impl Quality {
    /// Both figures within the bar.
    pub fn meets_bar(&self) -> bool {
        self.ssim >= SSIM_BAR && self.style_ratio <= STYLE_RATIO_BAR
    }
}

const LUMA: [f64; 3] = [0.299, 0.587, 0.114];

/// BT.601 luminance (0-255) of every pixel, row by row.
pub fn luma(img: &RgbImage) -> Vec<f64> {
    img.pixels().map(|p| (0..3).map(|c| LUMA[c] * p.0[c] as f64).sum()).collect()
}

/// The normalised 1-D Gaussian of `n` taps and deviation `sigma`.
fn gaussian(n: usize, sigma: f64) -> Vec<f64> {
    let mid = (n as f64 - 1.0) / 2.0;
    let w: Vec<f64> = (0..n).map(|i| (-((i as f64 - mid).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|x| x / s).collect()
}

/// `v` (`w` x `h`, row-major) filtered by the separable window `k`, only where it fits:
/// `(w - n + 1) x (h - n + 1)` values.
fn filter_valid(v: &[f64], w: usize, h: usize, k: &[f64]) -> Vec<f64> {
    let n = k.len();
    let (ow, oh) = (w + 1 - n, h + 1 - n);
    let mut rows = vec![0f64; ow * h];
    for y in 0..h {
        for x in 0..ow {
            rows[y * ow + x] = k.iter().enumerate().map(|(i, kv)| kv * v[y * w + x + i]).sum();
        }
    }
    let mut out = vec![0f64; ow * oh];
    for y in 0..oh {
        for x in 0..ow {
            out[y * ow + x] = k.iter().enumerate().map(|(i, kv)| kv * rows[(y + i) * ow + x]).sum();
        }
    }
    out
}

/// Mean SSIM of two grey images of `w` x `h` values (0-255). The window is 11 px (smaller, odd,
/// when a side is shorter than that).
pub fn ssim_grey(a: &[f64], b: &[f64], w: usize, h: usize) -> f64 {
    assert_eq!(a.len(), w * h, "ssim: first image is not {w}x{h}");
    assert_eq!(b.len(), w * h, "ssim: second image is not {w}x{h}");
    let mut n = 11.min(w).min(h);
    if n % 2 == 0 {
        n -= 1;
    }
    assert!(n >= 1, "ssim: empty image");
    let k = gaussian(n, 1.5);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let prod = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).collect::<Vec<_>>();
    let mu_a = filter_valid(a, w, h, &k);
    let mu_b = filter_valid(b, w, h, &k);
    let aa = filter_valid(&prod(a, a), w, h, &k);
    let bb = filter_valid(&prod(b, b), w, h, &k);
    let ab = filter_valid(&prod(a, b), w, h, &k);
    let total: f64 = (0..mu_a.len())
        .map(|i| {
            let (ma, mb) = (mu_a[i], mu_b[i]);
            let (va, vb, cov) = (aa[i] - ma * ma, bb[i] - mb * mb, ab[i] - ma * mb);
            ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
        })
        .sum();
    total / mu_a.len() as f64
}

/// SSIM of the luminance of two pictures of the same size.
pub fn ssim_luma(result: &RgbImage, content: &RgbImage) -> f64 {
    assert_eq!(result.dimensions(), content.dimensions(), "ssim: the pictures differ in size");
    let (w, h) = result.dimensions();
    ssim_grey(&luma(result), &luma(content), w as usize, h as usize)
}

/// Both figures for a result (RGB 0-255 `[1, 3, H, W]`, as saved: rounded to 8 bits) against
/// the content image (same size) and the run's style images and weights under `config`'s
/// layers and pooling.
pub fn measure(
    vgg: &Vgg19,
    result: Tensor<4>,
    content: Tensor<4>,
    styles: &[(Tensor<4>, f32)],
    config: &StyleConfig,
) -> Quality {
    let (r_img, c_img) =
        (crate::picture::to_image(result.clone()), crate::picture::to_image(content.clone()));
    let ssim = ssim_luma(&r_img, &c_img);
    let grams = style_grams(vgg, styles, config);
    let device = result.device();
    let style_result = style_loss(vgg, &grams, crate::picture::rgb_tensor(&r_img, &device), config) as f64;
    let style_content = style_loss(vgg, &grams, content, config) as f64;
    let style_ratio = if style_content > 0.0 { style_result / style_content } else { f64::NAN };
    Quality { ssim, style_ratio, style_result, style_content }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(w: usize, h: usize) -> Vec<f64> {
        (0..w * h).map(|i| ((i * 37 + (i / w) * 11) % 256) as f64).collect()
    }

    #[test]
    fn identical_images_give_one() {
        let a = pattern(32, 20);
        assert!((ssim_grey(&a, &a, 32, 20) - 1.0).abs() < 1e-12);
        let img = RgbImage::from_fn(24, 17, |x, y| image::Rgb([(x * 9) as u8, (y * 13) as u8, 200]));
        assert!((ssim_luma(&img, &img) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn flat_images_give_the_luminance_term() {
        // Constant 100 vs constant 150: no variance, so SSIM is the mean term alone,
        // (2 * 100 * 150 + C1) / (100^2 + 150^2 + C1) with C1 = (0.01 * 255)^2.
        let (a, b) = (vec![100.0; 16 * 16], vec![150.0; 16 * 16]);
        let c1 = (0.01f64 * 255.0).powi(2);
        let want = (2.0 * 100.0 * 150.0 + c1) / (100.0f64.powi(2) + 150.0f64.powi(2) + c1);
        assert!((ssim_grey(&a, &b, 16, 16) - want).abs() < 1e-12);
    }

    #[test]
    fn a_negative_is_anticorrelated_and_noise_lowers_ssim() {
        let a = pattern(40, 40);
        let neg: Vec<f64> = a.iter().map(|v| 255.0 - v).collect();
        assert!(ssim_grey(&a, &neg, 40, 40) < -0.5);
        let noisy: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(i, v)| (v + if i % 3 == 0 { 30.0 } else { -15.0 }).clamp(0.0, 255.0))
            .collect();
        let s = ssim_grey(&a, &noisy, 40, 40);
        assert!(s > 0.5 && s < 1.0, "{s}");
        // Symmetric.
        assert!((s - ssim_grey(&noisy, &a, 40, 40)).abs() < 1e-12);
    }

    #[test]
    fn luma_is_bt601() {
        let img = RgbImage::from_fn(1, 1, |_, _| image::Rgb([100, 200, 50]));
        assert!((luma(&img)[0] - (29.9 + 117.4 + 5.7)).abs() < 1e-9);
    }
}
