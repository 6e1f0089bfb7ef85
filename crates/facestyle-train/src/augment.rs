//! Training-time augmentation of aligned crops: a random horizontal flip and a small random
//! shift (crop jitter, edges repeated), applied while the batch tensor is filled.

use burn::prelude::*;
use facestyle_face::sface::INPUT;
use rand::Rng;

use crate::crops::Crops;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augment {
    pub flip: bool,
    /// Largest shift in pixels, each direction.
    pub jitter: usize,
}

impl Augment {
    pub const NONE: Augment = Augment { flip: false, jitter: 0 };
}

/// Writes one HWC RGB crop into `out` (CHW, 3 x 112 x 112, values 0-255), mirrored when
/// `flip` and shifted by (dx, dy): output pixel (x, y) reads input (x - dx, y - dy), clamped.
pub fn fill(pixels: &[u8], out: &mut [f32], flip: bool, dx: i32, dy: i32) {
    let n = INPUT as i32;
    for y in 0..n {
        let sy = (y - dy).clamp(0, n - 1);
        for x in 0..n {
            let sx = (x - dx).clamp(0, n - 1);
            let sx = if flip { n - 1 - sx } else { sx };
            let src = ((sy * n + sx) * 3) as usize;
            for c in 0..3 {
                out[c * (n * n) as usize + (y * n + x) as usize] = pixels[src + c] as f32;
            }
        }
    }
}

/// `[N, 3, 112, 112]` batch of the crops `items`, augmented with `aug` (none: as stored).
pub fn batch_tensor(
    crops: &Crops,
    items: &[usize],
    aug: Augment,
    rng: &mut impl Rng,
    device: &Device,
) -> Tensor<4> {
    let plane = 3 * INPUT * INPUT;
    let mut data = vec![0f32; items.len() * plane];
    for (k, &i) in items.iter().enumerate() {
        let flip = aug.flip && rng.random_bool(0.5);
        let j = aug.jitter as i32;
        let (dx, dy) = if j > 0 { (rng.random_range(-j..=j), rng.random_range(-j..=j)) } else { (0, 0) };
        fill(crops.pixels(i), &mut data[k * plane..(k + 1) * plane], flip, dx, dy);
    }
    Tensor::from_data(TensorData::new(data, [items.len(), 3, INPUT, INPUT]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flip_and_shift_move_pixels_where_expected() {
        let n = INPUT;
        // Red channel = x, green = y, blue = 7.
        let mut px = vec![0u8; n * n * 3];
        for y in 0..n {
            for x in 0..n {
                px[(y * n + x) * 3] = x as u8;
                px[(y * n + x) * 3 + 1] = y as u8;
                px[(y * n + x) * 3 + 2] = 7;
            }
        }
        let mut out = vec![0f32; 3 * n * n];
        let at = |o: &[f32], c: usize, x: usize, y: usize| o[c * n * n + y * n + x];
        fill(&px, &mut out, false, 0, 0);
        assert_eq!((at(&out, 0, 5, 9), at(&out, 1, 5, 9), at(&out, 2, 5, 9)), (5.0, 9.0, 7.0));
        fill(&px, &mut out, true, 0, 0);
        assert_eq!((at(&out, 0, 0, 3), at(&out, 0, n - 1, 3)), ((n - 1) as f32, 0.0));
        fill(&px, &mut out, false, 3, -2);
        assert_eq!((at(&out, 0, 10, 10), at(&out, 1, 10, 10)), (7.0, 12.0));
        // Edges repeat: the first 3 columns all read column 0; the last 2 rows read row 111.
        assert_eq!((at(&out, 0, 0, 50), at(&out, 0, 2, 50)), (0.0, 0.0));
        assert_eq!(at(&out, 1, 40, n - 1), (n - 1) as f32);
    }
}
