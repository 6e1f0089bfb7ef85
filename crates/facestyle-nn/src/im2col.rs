//! im2col and col2im for one image of a 2D convolution (square kernel, equal stride and zero
//! padding on both axes), the data movement that turns a convolution into a matrix product.
//!
//! A column matrix for output positions `[p0, p1)` (row-major over the output plane) has
//! `ci * k * k` rows ordered (channel, ky, kx), the order of an OIHW weight's inner three
//! axes, and `p1 - p0` columns: `col[r, j] = x[c, oy*s + ky - p, ox*s + kx - p]` (0 outside).

/// Shapes of one convolution: input `[n, ci, h, w]`, weight `[co, ci, k, k]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub n: usize,
    pub ci: usize,
    pub h: usize,
    pub w: usize,
    pub co: usize,
    pub k: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Geometry {
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.padding - self.k) / self.stride + 1
    }
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.padding - self.k) / self.stride + 1
    }
    /// Output positions per image and channel.
    pub fn out_plane(&self) -> usize {
        self.out_h() * self.out_w()
    }
    /// Input values per image.
    pub fn in_image(&self) -> usize {
        self.ci * self.h * self.w
    }
    /// Rows of the column matrix (= columns of the flattened weight).
    pub fn patch(&self) -> usize {
        self.ci * self.k * self.k
    }
}

/// Fills `col` (`patch() x (p1 - p0)`, row-major) from one image `x` (`[ci, h, w]`).
pub fn im2col(g: &Geometry, x: &[f32], p0: usize, p1: usize, col: &mut [f32]) {
    im2col_strided(g, x, p0, p1, col, p1 - p0)
}

/// [`im2col`] into the first `p1 - p0` columns of a matrix whose rows are `row_stride` apart
/// (to place several images side by side).
pub fn im2col_strided(g: &Geometry, x: &[f32], p0: usize, p1: usize, col: &mut [f32], row_stride: usize) {
    let (ow, t) = (g.out_w(), p1 - p0);
    let (s, pad) = (g.stride as isize, g.padding as isize);
    for c in 0..g.ci {
        let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ky in 0..g.k {
            for kx in 0..g.k {
                let row = &mut col[((c * g.k + ky) * g.k + kx) * row_stride..][..t];
                let mut pos = p0;
                while pos < p1 {
                    let (oy, ox0) = (pos / ow, pos % ow);
                    let ox1 = ow.min(ox0 + p1 - pos);
                    let dst = &mut row[pos - p0..pos - p0 + ox1 - ox0];
                    let iy = oy as isize * s + ky as isize - pad;
                    if iy < 0 || iy >= g.h as isize {
                        dst.fill(0.0);
                    } else {
                        let src = &plane[iy as usize * g.w..][..g.w];
                        let off = kx as isize - pad;
                        // Outputs whose input column ox*s + off lies inside [0, w).
                        let lo = ((-off).max(0) as usize).div_ceil(g.stride).clamp(ox0, ox1);
                        let hi = ((g.w as isize - off).max(0) as usize).div_ceil(g.stride).clamp(lo, ox1);
                        dst[..lo - ox0].fill(0.0);
                        dst[hi - ox0..].fill(0.0);
                        let inside = &mut dst[lo - ox0..hi - ox0];
                        let first = (lo as isize * s + off) as usize;
                        if g.stride == 1 {
                            inside.copy_from_slice(&src[first..first + inside.len()]);
                        } else {
                            for (d, v) in inside.iter_mut().zip(src[first..].iter().step_by(g.stride)) {
                                *d = *v;
                            }
                        }
                    }
                    pos += ox1 - ox0;
                }
            }
        }
    }
}

/// Adds a full column matrix (`patch() x out_plane()`) back onto one image `dx` (`[ci, h, w]`,
/// overwritten): the transpose of [`im2col`].
pub fn col2im(g: &Geometry, col: &[f32], dx: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (s, pad) = (g.stride as isize, g.padding as isize);
    dx.fill(0.0);
    for c in 0..g.ci {
        let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ky in 0..g.k {
            for kx in 0..g.k {
                let row = &col[((c * g.k + ky) * g.k + kx) * oh * ow..][..oh * ow];
                for oy in 0..oh {
                    let iy = oy as isize * s + ky as isize - pad;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let dst = &mut plane[iy as usize * g.w..][..g.w];
                    for (ox, v) in row[oy * ow..(oy + 1) * ow].iter().enumerate() {
                        let ix = ox as isize * s + kx as isize - pad;
                        if ix >= 0 && ix < g.w as isize {
                            dst[ix as usize] += v;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(stride: usize, padding: usize) -> Geometry {
        Geometry { n: 1, ci: 2, h: 5, w: 4, co: 1, k: 3, stride, padding }
    }

    #[test]
    fn a_tile_is_the_same_slice_of_the_full_matrix() {
        for (s, p) in [(1, 1), (2, 1), (1, 0), (2, 0)] {
            let g = geometry(s, p);
            let x: Vec<f32> = (0..g.in_image()).map(|i| i as f32 + 1.0).collect();
            let n = g.out_plane();
            let mut full = vec![f32::NAN; g.patch() * n];
            im2col(&g, &x, 0, n, &mut full);
            for (p0, p1) in [(0, 1), (1, n), (n / 2, n), (2, n - 1)].into_iter().filter(|(a, b)| a < b) {
                let mut tile = vec![f32::NAN; g.patch() * (p1 - p0)];
                im2col(&g, &x, p0, p1, &mut tile);
                for r in 0..g.patch() {
                    assert_eq!(tile[r * (p1 - p0)..][..p1 - p0], full[r * n + p0..r * n + p1], "s{s} p{p}");
                }
            }
        }
    }

    #[test]
    fn entries_are_shifted_inputs_or_zero_padding() {
        let g = geometry(1, 1);
        let x: Vec<f32> = (0..g.in_image()).map(|i| i as f32 + 1.0).collect();
        let n = g.out_plane();
        let mut col = vec![0.0; g.patch() * n];
        im2col(&g, &x, 0, n, &mut col);
        // channel 1, ky 0, kx 2 at output (0, 0): input (1, -1, 1) is padding; at (1, 0): x[1, 0, 1].
        let (channel, ky, kx) = (1, 0, 2);
        let row = (channel * 3 + ky) * 3 + kx;
        assert_eq!(col[row * n], 0.0);
        assert_eq!(col[row * n + g.out_w()], x[20 + 1]);
    }

    #[test]
    fn col2im_is_the_transpose_of_im2col() {
        // <im2col(x), c> == <x, col2im(c)> for arbitrary x and c.
        for (s, p) in [(1, 1), (2, 1), (2, 0)] {
            let g = geometry(s, p);
            let n = g.out_plane();
            let x: Vec<f32> = (0..g.in_image()).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
            let c: Vec<f32> = (0..g.patch() * n).map(|i| ((i * 5) % 13) as f32 - 6.0).collect();
            let mut col = vec![0.0; g.patch() * n];
            im2col(&g, &x, 0, n, &mut col);
            let mut back = vec![0.0; g.in_image()];
            col2im(&g, &c, &mut back);
            let lhs: f32 = col.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f32 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert_eq!(lhs, rhs, "s{s} p{p}");
        }
    }
}
