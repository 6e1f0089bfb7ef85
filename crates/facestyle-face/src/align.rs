//! Face alignment: a least-squares similarity transform (rotation, uniform scale, translation;
//! Umeyama 1991, no reflection) maps the detector's 5 landmarks onto the 112x112 ArcFace
//! template, then a bilinear warp cuts out the aligned crop that the embedding network reads.

use image::RgbImage;

/// Side of the aligned crop in pixels.
pub const CROP: u32 = 112;

/// Where the 5 landmarks land in the 112x112 crop: the eye on the image's left, the other eye,
/// nose tip, mouth corner on the image's left, the other corner (YuNet's order).
pub const TEMPLATE: [[f32; 2]; 5] =
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

/// A 2x3 affine matrix `[[a, b, tx], [c, d, ty]]` mapping source points to destination points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine(pub [[f64; 3]; 2]);

impl Affine {
    pub fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        let m = &self.0;
        [m[0][0] * p[0] + m[0][1] * p[1] + m[0][2], m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]]
    }

    /// The inverse map, or `None` when the matrix is singular (all landmarks on one point).
    pub fn inverse(&self) -> Option<Affine> {
        let [[a, b, tx], [c, d, ty]] = self.0;
        let det = a * d - b * c;
        if det.abs() < 1e-12 {
            return None;
        }
        let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
        Some(Affine([[ia, ib, -(ia * tx + ib * ty)], [ic, id, -(ic * tx + id * ty)]]))
    }
}

/// The similarity transform `y = s R x + t` minimising `sum |y_i - (s R x_i + t)|^2`.
///
/// In 2D the optimum has a closed form on centred points: with `S = sum |x|^2`,
/// `a = sum x.y / S` and `b = sum x cross y / S`, the map is `[[a, -b], [b, a]]` plus the
/// translation that matches the centroids. This is Umeyama's solution restricted to rotations.
pub fn similarity(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Affine {
    assert_eq!(src.len(), dst.len(), "similarity: point lists differ in length");
    let n = src.len() as f64;
    let mean = |pts: &[[f32; 2]]| {
        let (sx, sy) = pts.iter().fold((0.0, 0.0), |(sx, sy), p| (sx + p[0] as f64, sy + p[1] as f64));
        [sx / n, sy / n]
    };
    let (ms, md) = (mean(src), mean(dst));
    let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (x0, x1) = (s[0] as f64 - ms[0], s[1] as f64 - ms[1]);
        let (y0, y1) = (d[0] as f64 - md[0], d[1] as f64 - md[1]);
        dot += x0 * y0 + x1 * y1;
        cross += x0 * y1 - x1 * y0;
        norm += x0 * x0 + x1 * x1;
    }
    let (a, b) = if norm > 0.0 { (dot / norm, cross / norm) } else { (0.0, 0.0) };
    let tx = md[0] - (a * ms[0] - b * ms[1]);
    let ty = md[1] - (b * ms[0] + a * ms[1]);
    Affine([[a, -b, tx], [b, a, ty]])
}

/// Warps `img` by `m` (source -> destination) into a `w` x `h` image with bilinear sampling;
/// pixels that fall outside the source are black (as OpenCV's `warpAffine` default border).
pub fn warp_affine(img: &RgbImage, m: &Affine, w: u32, h: u32) -> RgbImage {
    let mut out = RgbImage::new(w, h);
    let Some(inv) = m.inverse() else { return out };
    // Compiled for AVX2 where the CPU has it (the crate's baseline target is SSE2): the floors
    // and roundings become single instructions, 0.32 vs 0.39 ms per crop; the same operations
    // in the same order (no fused multiply-adds), so the same pixels.
    facestyle_nn::isa::autovectorized(
        #[inline(always)]
        || warp(img, &inv, &mut out),
    );
    out
}

/// Fills `out` with `img` sampled at `inv` (destination -> source) of each output pixel.
#[inline(always)]
fn warp(img: &RgbImage, inv: &Affine, out: &mut RgbImage) {
    let w = out.width();
    let (sw, sh) = (img.width() as i64, img.height() as i64);
    let raw = img.as_raw();
    let at = |x: i64, y: i64| (y as usize * sw as usize + x as usize) * 3;
    let px = |x: i64, y: i64| -> [f64; 3] {
        if x < 0 || y < 0 || x >= sw || y >= sh {
            [0.0; 3]
        } else {
            let i = at(x, y);
            [raw[i] as f64, raw[i + 1] as f64, raw[i + 2] as f64]
        }
    };
    for (v, row) in out.chunks_exact_mut(w as usize * 3).enumerate() {
        for (u, rgb) in row.chunks_exact_mut(3).enumerate() {
            let [sx, sy] = inv.apply([u as f64, v as f64]);
            let (x0, y0) = (floor(sx), floor(sy));
            let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
            // All four neighbours inside (nearly every pixel of a crop): two reads of two
            // adjacent pixels, no bounds test per neighbour.
            let (p00, p10, p01, p11) = if x0 >= 0 && y0 >= 0 && x0 + 1 < sw && y0 + 1 < sh {
                let (i, j) = (at(x0, y0), at(x0, y0 + 1));
                let f = |k: usize| [raw[k] as f64, raw[k + 1] as f64, raw[k + 2] as f64];
                (f(i), f(i + 3), f(j), f(j + 3))
            } else {
                (px(x0, y0), px(x0 + 1, y0), px(x0, y0 + 1), px(x0 + 1, y0 + 1))
            };
            for c in 0..3 {
                let top = p00[c] * (1.0 - fx) + p10[c] * fx;
                let bottom = p01[c] * (1.0 - fx) + p11[c] * fx;
                rgb[c] = round(top * (1.0 - fy) + bottom * fy).clamp(0, 255) as u8;
            }
        }
    }
}

/// `x.floor()` as an integer, without the library call that `floor` is on baseline x86-64
/// (the crate's target; five such calls per pixel were most of the warp's time).
#[inline(always)]
fn floor(x: f64) -> i64 {
    let t = x as i64; // towards zero
    t - i64::from((t as f64) > x)
}

/// `x.round()` (half away from zero) as an integer, without a library call.
#[inline(always)]
fn round(x: f64) -> i64 {
    let t = x as i64;
    let frac = x - t as f64; // exact: |frac| < 1
    // Without branches (the fraction is data, its branches mispredict half the time).
    t + i64::from(frac >= 0.5) - i64::from(frac <= -0.5)
}

/// The aligned 112x112 crop for a face with these 5 landmarks.
pub fn align_face(img: &RgbImage, landmarks: &[[f32; 2]; 5]) -> RgbImage {
    warp_affine(img, &similarity(landmarks, &TEMPLATE), CROP, CROP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn recovers_a_known_similarity() {
        // y = 0.8 * R(30 deg) x + (5, -3)
        let (s, th) = (0.8f64, 30f64.to_radians());
        let (a, b) = (s * th.cos(), s * th.sin());
        let src: Vec<[f32; 2]> = vec![[10.0, 20.0], [40.0, 22.0], [25.0, 35.0], [12.0, 50.0], [38.0, 52.0]];
        let dst: Vec<[f32; 2]> = src
            .iter()
            .map(|p| {
                let (x, y) = (p[0] as f64, p[1] as f64);
                [(a * x - b * y + 5.0) as f32, (b * x + a * y - 3.0) as f32]
            })
            .collect();
        let m = similarity(&src, &dst);
        assert!((m.0[0][0] - a).abs() < 1e-5 && (m.0[1][0] - b).abs() < 1e-5, "{m:?}");
        assert!((m.0[0][2] - 5.0).abs() < 1e-4 && (m.0[1][2] + 3.0).abs() < 1e-4, "{m:?}");
        for (p, q) in src.iter().zip(&dst) {
            let r = m.apply([p[0] as f64, p[1] as f64]);
            assert!((r[0] - q[0] as f64).abs() < 1e-3 && (r[1] - q[1] as f64).abs() < 1e-3);
        }
    }

    #[test]
    fn template_maps_onto_itself_and_inverse_round_trips() {
        let m = similarity(&TEMPLATE, &TEMPLATE);
        assert!((m.0[0][0] - 1.0).abs() < 1e-9 && m.0[1][0].abs() < 1e-9 && m.0[0][2].abs() < 1e-6);
        let m = Affine([[0.5, -0.2, 3.0], [0.2, 0.5, -7.0]]);
        let inv = m.inverse().unwrap();
        let p = inv.apply(m.apply([13.0, -4.0]));
        assert!((p[0] - 13.0).abs() < 1e-9 && (p[1] + 4.0).abs() < 1e-9);
        assert!(Affine([[0.0; 3]; 2]).inverse().is_none());
    }

    /// The warp as first written (`get_pixel` / `put_pixel`, bounds tested per neighbour).
    fn warp_reference(img: &RgbImage, m: &Affine, w: u32, h: u32) -> RgbImage {
        let mut out = RgbImage::new(w, h);
        let Some(inv) = m.inverse() else { return out };
        let (sw, sh) = (img.width() as i64, img.height() as i64);
        let px = |x: i64, y: i64| -> [f64; 3] {
            if x < 0 || y < 0 || x >= sw || y >= sh {
                return [0.0; 3];
            }
            img.get_pixel(x as u32, y as u32).0.map(f64::from)
        };
        for v in 0..h {
            for u in 0..w {
                let [sx, sy] = inv.apply([u as f64, v as f64]);
                let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
                let (fx, fy) = (sx - sx.floor(), sy - sy.floor());
                let (p00, p10, p01, p11) = (px(x0, y0), px(x0 + 1, y0), px(x0, y0 + 1), px(x0 + 1, y0 + 1));
                let rgb = std::array::from_fn(|c| {
                    let top = p00[c] * (1.0 - fx) + p10[c] * fx;
                    let bottom = p01[c] * (1.0 - fx) + p11[c] * fx;
                    (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8
                });
                out.put_pixel(u, v, Rgb(rgb));
            }
        }
        out
    }

    #[test]
    fn floor_and_round_match_the_library() {
        for x in [
            -2.5,
            -1.5,
            -0.5,
            -0.49999999999999994,
            -0.0,
            0.0,
            0.3,
            0.5,
            0.49999999999999994,
            1.5,
            2.5,
            254.5,
            -7.25,
            1e9 + 0.5,
        ] {
            assert_eq!(floor(x), x.floor() as i64, "floor {x}");
            assert_eq!(round(x), x.round() as i64, "round {x}");
        }
    }

    #[test]
    fn warp_equals_the_per_pixel_reference_inside_and_across_the_border() {
        let img =
            RgbImage::from_fn(40, 30, |x, y| Rgb([(x * 6) as u8, (y * 8) as u8, ((x * y) % 251) as u8]));
        // Inside; rotated and scaled, partly outside; shifted past every border.
        for m in [
            Affine([[1.3, 0.2, -5.0], [-0.2, 1.3, -4.0]]),
            Affine([[0.7, -0.6, 10.0], [0.6, 0.7, -8.0]]),
            Affine([[1.0, 0.0, 7.5], [0.0, 1.0, -6.25]]),
        ] {
            assert_eq!(warp_affine(&img, &m, 28, 33), warp_reference(&img, &m, 28, 33), "{m:?}");
        }
    }

    #[test]
    fn warp_by_a_shift_moves_pixels_and_fills_black() {
        let mut img = RgbImage::new(8, 8);
        img.put_pixel(3, 4, Rgb([200, 100, 50]));
        // destination = source + (2, 1)
        let m = Affine([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]]);
        let out = warp_affine(&img, &m, 8, 8);
        assert_eq!(out.get_pixel(5, 5).0, [200, 100, 50]);
        assert_eq!(out.get_pixel(3, 4).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(0, 0).0, [0, 0, 0]); // from outside the source
        // Half-pixel shift: bilinear averages two neighbours.
        let m = Affine([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]);
        let out = warp_affine(&img, &m, 8, 8);
        assert_eq!(out.get_pixel(3, 4).0, [100, 50, 25]);
    }
}
