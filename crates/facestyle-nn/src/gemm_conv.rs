//! 2D convolution and its two gradients as im2col + matrix products (the `gemm` crate, which
//! burn-flex also uses), on plain f32 slices in NCHW / OIHW layout.
//!
//! Why: burn-flex's own convolution converts layouts (NCHW <-> NHWC) around every call, and
//! its backward pass computes the weight gradient as a convolution whose kernel is the whole
//! output plane (a matrix product only 9 columns wide for a 3x3 kernel). Here each image is
//! cut into tiles of output positions; a tile's column matrix (about 512 KiB) stays in cache,
//! and tiles are shared out over the rayon threads:
//! - forward: `y_i[:, tile] = W (co x patch) * col_i(tile) (patch x t)`;
//! - weight gradient: `dW = sum over chunks of dy(chunk) * col(chunk)^T`, chunks of at least
//!   512 positions (tiles of an image, or several small images side by side), one partial
//!   sum per thread, added at the end;
//! - input gradient: with stride 1, a forward convolution of `dy` with the flipped and
//!   transposed kernel (padding `k - 1 - p`); otherwise `col = W^T dy_i` then col2im per image.
//!
//! `bench train` and `tools/bench_train.py` / `tools/bench_style.py` measure the effect.

use std::ops::Range;

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use crate::im2col::{Geometry, col2im, im2col, im2col_strided};
use crate::team;

/// Floats in one tile's column matrix (512 KiB).
const TILE_FLOATS: usize = 1 << 17;

fn tile_len(g: &Geometry) -> usize {
    (TILE_FLOATS / g.patch()).max(64).min(g.out_plane())
}

fn is_pointwise(g: &Geometry) -> bool {
    g.k == 1 && g.stride == 1 && g.padding == 0
}

/// A raw output pointer shared by threads that write disjoint parts.
#[derive(Clone, Copy)]
pub(crate) struct Out(pub(crate) *mut f32);
// SAFETY: `Out` only carries the address; each user writes through it to parts no other
// thread touches (every `unsafe` use states which part).
unsafe impl Send for Out {}
// SAFETY: as for `Send`: shared only to hand threads disjoint parts of one output.
unsafe impl Sync for Out {}

impl Out {
    /// # Safety
    /// `offset` must lie inside the allocation.
    pub(crate) unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: `offset` lies inside the allocation (the contract).
        unsafe { self.0.add(offset) }
    }
}

/// `c (m x n, row stride c_rs) (+)= a (m x k) * b (k x n)`, `a` and `b` given by pointer with
/// (row, column) strides.
///
/// # Safety
/// Every pointer must address the whole matrix its strides describe.
pub(crate) unsafe fn matmul(
    [m, n, k]: [usize; 3],
    c: *mut f32,
    c_rs: usize,
    accumulate: bool,
    (a, a_rs, a_cs): (*const f32, usize, usize),
    (b, b_rs, b_cs): (*const f32, usize, usize),
    parallelism: Parallelism,
) {
    // SAFETY: every pointer addresses the whole matrix its strides describe (the contract).
    unsafe {
        gemm(
            m,
            n,
            k,
            c,
            1,
            c_rs as isize,
            accumulate,
            a,
            a_cs as isize,
            a_rs as isize,
            b,
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Parts to cut `units` work items into (one a rayon thread, at most one an item), and
/// part `t`'s contiguous range of items.
fn parts(units: usize) -> (usize, impl Fn(usize) -> Range<usize>) {
    let parts = rayon::current_num_threads().clamp(1, units.max(1));
    (parts, move |t| units * t / parts..units * (t + 1) / parts)
}

/// Runs `f` on `units` work items split into one contiguous range per rayon thread.
pub(crate) fn per_thread<T: Send>(units: usize, f: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    let (n, range) = parts(units);
    (0..n).into_par_iter().map(|t| f(range(t))).collect()
}

/// Work (multiply-adds) below which an inference kernel runs on the calling thread alone:
/// waking the other threads costs more than they save on the face networks' small layers.
/// Measured in paired runs (60 LFW images and one crop, alternating in one process): with the
/// splits going through rayon from a worker thread, 2^18 took 0.95-0.97x the time of 2^21 to
/// detect and 0.97x to embed (2^22: 1.02-1.04x); on the helper team (`team.rs`), 2^12-2^16
/// took 0.99-1.02x the time of 2^18 to detect and 0.94-1.00x to embed, single runs (noise).
/// (With rayon called from outside its pool, each split a cold injection, 2^21 was best.)
pub(crate) const MIN_PARALLEL_MACS: usize = 1 << 18;

/// For inference kernels: [`per_thread`]'s split on the helper team (`team.rs`, threads that
/// stay awake between layers) when `work` (multiply-adds) reaches [`MIN_PARALLEL_MACS`],
/// else all `units` in one call on this thread.
pub(crate) fn per_thread_for<T: Send>(
    work: usize,
    units: usize,
    f: impl Fn(Range<usize>) -> T + Sync,
) -> Vec<T> {
    if work < MIN_PARALLEL_MACS {
        return vec![f(0..units)];
    }
    let (n, range) = parts(units);
    team::run(n, |t| f(range(t)))
}

/// Splits `plane` positions into equal blocks of at most `max_block`: `(block, blocks)`.
/// When the work items (`images` x blocks) are few, their count is rounded up to a multiple
/// of the thread count, so that no thread gets a block more than another (three tiles on two
/// threads take as long as four).
pub(crate) fn balanced(plane: usize, max_block: usize, images: usize) -> (usize, usize) {
    let threads = rayon::current_num_threads().max(1);
    let mut blocks = plane.div_ceil(max_block.max(1));
    let units = images * blocks;
    if units < 8 * threads && !units.is_multiple_of(threads) {
        blocks = (units.div_ceil(threads) * threads).div_ceil(images);
    }
    let block = plane.div_ceil(blocks.clamp(1, plane.max(1)));
    (block, plane.div_ceil(block))
}

/// Work items: (image, tile of output positions).
fn tiles(g: &Geometry) -> (usize, usize) {
    balanced(g.out_plane(), tile_len(g), g.n)
}

/// `y = conv(x, w)`: `x` `[n, ci, h, w]`, `w` `[co, ci, k, k]` -> `[n, co, oh, ow]` (no bias).
pub fn forward(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    forward_then(g, x, w, |_, _| {})
}

/// [`forward`], then `then(channel, values)` on each output row piece while it is in cache
/// (inference adds the bias and activation there: `fused_conv.rs`).
pub fn forward_then(g: &Geometry, x: &[f32], w: &[f32], then: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    assert_eq!(x.len(), g.n * g.in_image(), "input size");
    assert_eq!(w.len(), g.co * g.patch(), "weight size");
    let (plane, patch) = (g.out_plane(), g.patch());
    let (tile, per_image) = tiles(g);
    // Zeroed (fresh pages from the allocator, no pass over memory), so that nothing depends on
    // the products never reading their output before they write it.
    let len = g.n * g.co * plane;
    let mut y = vec![0f32; len];
    let out = Out(y.as_mut_ptr());
    per_thread(g.n * per_image, |units| {
        let mut col = if is_pointwise(g) { Vec::new() } else { vec![0f32; patch * tile] };
        for u in units {
            let (i, p0) = (u / per_image, (u % per_image) * tile);
            let p1 = (p0 + tile).min(plane);
            let xi = &x[i * g.in_image()..][..g.in_image()];
            let b = if is_pointwise(g) {
                (xi[p0..].as_ptr(), plane, 1)
            } else {
                im2col(g, xi, p0, p1, &mut col);
                (col.as_ptr(), p1 - p0, 1)
            };
            // Safety: image i's rows [0, co) at columns [p0, p1) belong to this unit alone.
            unsafe {
                let c = out.at(i * g.co * plane + p0);
                matmul([g.co, p1 - p0, patch], c, plane, false, (w.as_ptr(), patch, 1), b, Parallelism::None);
                for r in 0..g.co {
                    then(r, std::slice::from_raw_parts_mut(c.add(r * plane), p1 - p0));
                }
            }
        }
    });
    y
}

/// Output positions per matrix product of the weight gradient: its inner dimension. Each
/// product reads and writes the whole `co x patch` gradient, so short ones are memory-bound.
const WEIGHT_GRAD_DEPTH: usize = 512;

/// `dL/dw` from the input `x` and `dy = dL/dy`: `[co, ci, k, k]`.
///
/// Work items are chunks of at least [`WEIGHT_GRAD_DEPTH`] output positions: tiles of one
/// image when its plane is that large, else several whole images side by side (their `dy`
/// rows packed next to each other).
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), g.n * g.in_image(), "input size");
    assert_eq!(dy.len(), g.n * g.co * g.out_plane(), "output gradient size");
    let (plane, patch) = (g.out_plane(), g.patch());
    let depth = WEIGHT_GRAD_DEPTH.max(TILE_FLOATS / patch);
    // (images per chunk, positions per chunk, chunks per image)
    let (images, tile, per_image) = if plane >= depth {
        (1, depth, plane.div_ceil(depth))
    } else {
        (depth.div_ceil(plane).min(g.n), plane, 1)
    };
    let units = if images == 1 { g.n * per_image } else { g.n.div_ceil(images) };
    let parts = per_thread(units, |units| {
        let mut dw = vec![0f32; g.co * patch];
        let width = images * tile;
        let mut col = vec![0f32; patch * width];
        let mut packed = if images > 1 { vec![0f32; g.co * width] } else { Vec::new() };
        for (j, u) in units.enumerate() {
            let (a, t) = if images == 1 {
                let (i, p0) = (u / per_image, (u % per_image) * tile);
                let p1 = (p0 + tile).min(plane);
                im2col_strided(g, &x[i * g.in_image()..][..g.in_image()], p0, p1, &mut col, p1 - p0);
                ((dy[i * g.co * plane + p0..].as_ptr(), plane, 1), p1 - p0)
            } else {
                let (i0, i1) = (u * images, ((u + 1) * images).min(g.n));
                let t = (i1 - i0) * plane;
                for (m, i) in (i0..i1).enumerate() {
                    let xi = &x[i * g.in_image()..][..g.in_image()];
                    im2col_strided(g, xi, 0, plane, &mut col[m * plane..], t);
                    for o in 0..g.co {
                        packed[o * t + m * plane..][..plane]
                            .copy_from_slice(&dy[(i * g.co + o) * plane..][..plane]);
                    }
                }
                ((packed.as_ptr(), t, 1), t)
            };
            // col^T (t x patch): element (p, r) at col[r * t + p].
            let b = (col.as_ptr(), 1, t);
            // Safety: dw is co x patch; a covers co x t, b covers t x patch.
            unsafe { matmul([g.co, patch, t], dw.as_mut_ptr(), patch, j > 0, a, b, Parallelism::None) }
        }
        dw
    });
    let mut parts = parts.into_iter();
    let mut dw = parts.next().unwrap_or_else(|| vec![0f32; g.co * patch]);
    for part in parts {
        dw.iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    dw
}

/// `dL/dx` from the weight `w` and `dy = dL/dy`: `[n, ci, h, w]`.
pub fn input_grad(g: &Geometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(w.len(), g.co * g.patch(), "weight size");
    assert_eq!(dy.len(), g.n * g.co * g.out_plane(), "output gradient size");
    if g.stride == 1 && g.padding < g.k {
        return forward(&transposed(g), dy, &flipped(g, w));
    }
    let (plane, patch) = (g.out_plane(), g.patch());
    let mut dx = vec![0f32; g.n * g.in_image()];
    let parallelism =
        if g.n < rayon::current_num_threads() { Parallelism::Rayon(0) } else { Parallelism::None };
    let out = Out(dx.as_mut_ptr());
    per_thread(g.n, |images| {
        let mut col = vec![0f32; patch * plane];
        for i in images {
            let a = (w.as_ptr(), 1, patch);
            let b = (dy[i * g.co * plane..].as_ptr(), plane, 1);
            // Safety: col is patch x plane; image i of dx belongs to this thread alone.
            unsafe {
                matmul([patch, plane, g.co], col.as_mut_ptr(), plane, false, a, b, parallelism);
                let dxi = std::slice::from_raw_parts_mut(out.at(i * g.in_image()), g.in_image());
                col2im(g, &col, dxi);
            }
        }
    });
    dx
}

/// The stride-1 convolution whose forward pass is `g`'s input gradient.
fn transposed(g: &Geometry) -> Geometry {
    Geometry {
        n: g.n,
        ci: g.co,
        h: g.out_h(),
        w: g.out_w(),
        co: g.ci,
        k: g.k,
        stride: 1,
        padding: g.k - 1 - g.padding,
    }
}

/// `w'[c, o, ky, kx] = w[o, c, k-1-ky, k-1-kx]`.
fn flipped(g: &Geometry, w: &[f32]) -> Vec<f32> {
    let k2 = g.k * g.k;
    let mut out = vec![0f32; w.len()];
    for o in 0..g.co {
        for c in 0..g.ci {
            let src = &w[(o * g.ci + c) * k2..][..k2];
            let dst = &mut out[(c * g.co + o) * k2..][..k2];
            for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                *d = *s;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::{naive_conv2d, ramp};

    /// The naive convolution of every image (f64).
    fn naive(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f64> {
        naive_conv2d(g, 1, x, w)
    }

    fn close(a: &[f32], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: length");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((*x as f64 - y).abs() < 1e-3 * (1.0 + y.abs()), "{what}[{i}]: {x} vs {y}");
        }
    }

    fn geometries() -> Vec<Geometry> {
        let g = |n, ci, h, w, co, k, stride, padding| Geometry { n, ci, h, w, co, k, stride, padding };
        vec![
            g(2, 3, 9, 7, 4, 3, 1, 1),
            g(3, 2, 8, 8, 5, 3, 2, 1),
            g(1, 4, 6, 5, 3, 1, 1, 0),
            g(2, 4, 7, 7, 3, 1, 2, 0),
            g(1, 2, 6, 6, 2, 5, 1, 2),
            g(2, 3, 7, 6, 2, 3, 1, 0),
            // weight gradient: 4 images of 144 positions per chunk, then a chunk of one
            g(5, 2, 12, 12, 3, 3, 1, 1),
            // more output positions than one tile holds (tile = 2^17 / 27 = 4854)
            g(1, 3, 80, 70, 2, 3, 1, 1),
        ]
    }

    #[test]
    fn forward_matches_the_naive_convolution() {
        for g in geometries() {
            let x = ramp(g.n * g.in_image(), 1);
            let w = ramp(g.co * g.patch(), 2);
            close(&forward(&g, &x, &w), &naive(&g, &x, &w), &format!("{g:?}"));
        }
    }

    /// Gradients of L = sum(y * r): dL/dw[j] = sum(conv(x, e_j) * r), dL/dx[j] = sum(conv(e_j, w) * r),
    /// checked against the naive convolution of unit vectors on a few entries.
    #[test]
    fn gradients_match_the_naive_convolution() {
        for g in geometries() {
            let x = ramp(g.n * g.in_image(), 3);
            let w = ramp(g.co * g.patch(), 4);
            let r = ramp(g.n * g.co * g.out_plane(), 5);
            let dot = |y: Vec<f64>| y.iter().zip(&r).map(|(a, b)| a * *b as f64).sum::<f64>();
            let dw = weight_grad(&g, &x, &r);
            for j in (0..w.len()).step_by(w.len().div_ceil(40)) {
                let mut e = vec![0f32; w.len()];
                e[j] = 1.0;
                close(&dw[j..j + 1], &[dot(naive(&g, &x, &e))], &format!("dw {g:?}"));
            }
            let dx = input_grad(&g, &w, &r);
            for j in (0..x.len()).step_by(x.len().div_ceil(60)) {
                let mut e = vec![0f32; x.len()];
                e[j] = 1.0;
                close(&dx[j..j + 1], &[dot(naive(&g, &e, &w))], &format!("dx {g:?}"));
            }
        }
    }
}
