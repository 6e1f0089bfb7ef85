//! Inference convolutions with the bias and activation applied while each output block is
//! still in cache (`y = act(conv(x, w) + b)`, act = PReLU with per-channel slopes: slope 0 is
//! ReLU, slope 1 the identity), on plain f32 slices in NCHW / OIHW layout:
//! - pointwise (1x1, stride 1): `y_i = W x_i`, one matrix product per block of output
//!   positions (or of output channels when an image has few positions), no data movement;
//! - 3x3 depthwise (groups = channels), stride 1 or 2: per channel, a zero-padded copy of its
//!   plane (stride 2: its four polyphase planes) so that each tap is one contiguous run over
//!   the whole output (any other depthwise kernel: the plain loop);
//! - 3x3, padding 1, stride 1 or 2 over at most 4 input channels (first layers): computed
//!   directly ([`crate::direct3x3`]);
//! - anything else with groups = 1: [`gemm_conv::forward_then`], the epilogue on each tile.
//!
//! The crate is built for baseline x86-64; the hot loops also have AVX2 + FMA versions,
//! taken on the path [`crate::isa`] chooses.
//!
//! Why: the face networks (SFace, YuNet) run one image at a time and are almost all 1x1 and
//! depthwise 3x3 convolutions. burn-flex converts layouts around each convolution and adds the
//! bias and the PReLU in separate passes over memory; here each layer is one pass. `bench
//! face` and `tools/bench_face.py` measure the effect.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use gemm::Parallelism;

use crate::gemm_conv::{self, Out, matmul, per_thread_for};
use crate::im2col::Geometry;
use crate::isa::avx2;
use crate::pointwise;

/// Planes from which 1x1 layers run on the packed kernel (`pointwise.rs`), their weights
/// packed on each call: YuNet's 1x1 layers (16-64 channels, 32x32 to 128x128) 0.5-0.8x the
/// time of the matrix products below; at 16x16 on par, at 8x8 1.5x.
const POINTWISE_MIN_PLANE: usize = 1024;

/// Output positions per block of a pointwise product: the block (`co x BLOCK`) stays in L2.
const BLOCK_FLOATS: usize = 1 << 16;

/// `v + bias`, then `slope * v` where negative.
#[inline(always)]
fn act(v: f32, bias: f32, slope: f32) -> f32 {
    let v = v + bias;
    if v < 0.0 { v * slope } else { v }
}

#[inline(always)]
fn epilogue_body(row: &mut [f32], bias: f32, slope: f32) {
    for v in row {
        *v = act(*v, bias, slope);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn epilogue_avx2(row: &mut [f32], bias: f32, slope: f32) {
    epilogue_body(row, bias, slope)
}

/// `row = act(row + bias)` in place.
fn epilogue(row: &mut [f32], bias: f32, slope: f32) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // Safety: the CPU has AVX2 and FMA (checked above).
        return unsafe { epilogue_avx2(row, bias, slope) };
    }
    epilogue_body(row, bias, slope)
}

/// [`act`] on 8 lanes: `v + bias`, then `slope * v` where negative (the AVX2 kernels'
/// epilogue: `direct3x3`, `pointwise`, the depthwise row kernel).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn act8(v: __m256, bias: __m256, slope: __m256) -> __m256 {
    let (v, zero) = (_mm256_add_ps(v, bias), _mm256_setzero_ps());
    _mm256_fmadd_ps(slope, _mm256_min_ps(v, zero), _mm256_max_ps(v, zero))
}

/// Stores the first `n` lanes of `v` at `dst` (all 8 from `n = 8` on; below, a masked store).
///
/// # Safety
/// `dst` must be valid for `n.min(8)` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn store_first(dst: *mut f32, v: __m256, n: usize) {
    /// Lane masks: 8 - n lanes of -1 from index n, then zeros.
    static MASKS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
    // SAFETY: `dst` is valid for `n.min(8)` floats (the contract) and the masked store writes
    // only the first `n` lanes; the mask read stays inside `MASKS` (8 - n in 1..=8).
    unsafe {
        if n >= 8 {
            _mm256_storeu_ps(dst, v);
        } else {
            let mask = _mm256_loadu_si256(MASKS.as_ptr().add(8 - n).cast());
            _mm256_maskstore_ps(dst, mask, v);
        }
    }
}

/// Checks the per-channel vectors and the sizes of `x` and `w` against `g`.
fn check(g: &Geometry, x: &[f32], w_len: usize, w: &[f32], bias: &[f32], slope: &[f32]) {
    assert_eq!(x.len(), g.n * g.in_image(), "input size");
    assert_eq!(w.len(), w_len, "weight size");
    assert_eq!(bias.len(), g.co, "one bias per output channel");
    assert_eq!(slope.len(), g.co, "one slope per output channel");
}

/// `act(conv(x, w) + bias)` for `w` `[co, ci, k, k]` (groups = 1) -> `[n, co, oh, ow]`.
pub fn dense(g: &Geometry, x: &[f32], w: &[f32], bias: &[f32], slope: &[f32]) -> Vec<f32> {
    check(g, x, g.co * g.patch(), w, bias, slope);
    if crate::direct3x3::takes(g) {
        return crate::direct3x3::forward(g, x, w, bias, slope);
    }
    let pointwise_layer = g.k == 1 && g.stride == 1 && g.padding == 0;
    if pointwise_layer && g.out_plane() >= POINTWISE_MIN_PLANE && pointwise::available() {
        // Packing the weights costs 1 / plane of the product.
        return pointwise::forward(g, x, &pointwise::pack(w, g.co, g.ci), bias, slope);
    }
    if !pointwise_layer {
        return gemm_conv::forward_then(g, x, w, |c, row| epilogue(row, bias[c], slope[c]));
    }
    let (plane, ci, co) = (g.out_plane(), g.ci, g.co);
    let max_block = (BLOCK_FLOATS / co).max(16);
    let threads = rayon::current_num_threads();
    // Few positions (7x7 planes): split the output channels instead, one part per thread.
    let (block, col_blocks, row_parts) = if g.n * plane.div_ceil(max_block) < threads {
        (plane, 1, threads)
    } else {
        let (block, blocks) = gemm_conv::balanced(plane, max_block, g.n);
        (block, blocks, 1)
    };
    // Zeroed (fresh pages from the allocator, no pass over memory), so that nothing depends on
    // the products below never reading their output before they write it.
    let len = g.n * co * plane;
    let mut y = vec![0f32; len];
    let out = Out(y.as_mut_ptr());
    per_thread_for(g.n * co * ci * plane, g.n * col_blocks * row_parts, |units| {
        for u in units {
            let (i, rest) = (u / (col_blocks * row_parts), u % (col_blocks * row_parts));
            let (b, part) = (rest / row_parts, rest % row_parts);
            let (p0, p1) = (b * block, ((b + 1) * block).min(plane));
            let (r0, r1) = (co * part / row_parts, co * (part + 1) / row_parts);
            if r0 == r1 {
                continue;
            }
            let xi = &x[i * ci * plane..][..ci * plane];
            // Safety: image i's rows [r0, r1) at columns [p0, p1) belong to this unit alone.
            unsafe {
                let c = out.at((i * co + r0) * plane + p0);
                matmul(
                    [r1 - r0, p1 - p0, ci],
                    c,
                    plane,
                    false,
                    (w[r0 * ci..].as_ptr(), ci, 1),
                    (xi[p0..].as_ptr(), plane, 1),
                    Parallelism::None,
                );
                for r in r0..r1 {
                    let row = std::slice::from_raw_parts_mut(out.at((i * co + r) * plane + p0), p1 - p0);
                    epilogue(row, bias[r], slope[r]);
                }
            }
        }
    });
    y
}

/// One channel plane, zero-padded and laid out so that a 3x3 depthwise kernel reads each of its
/// nine taps as one contiguous run over the whole output (flattened with row length `width`,
/// a few columns wider than the output; those extra columns are computed and dropped):
/// - stride 1: the padded plane itself, `width` = padded width, tap `(ky, kx)` starts at
///   `ky * width + kx`;
/// - stride 2: its four polyphase planes (even/odd rows x even/odd columns), `width` = half
///   the padded width rounded up; input `(2 oy + ky, 2 ox + kx)` is phase `(ky % 2, kx % 2)`
///   at `(oy + ky / 2, ox + kx / 2)`.
///
/// Each phase plane has one spare zero row, so the runs of the last output row stay inside;
/// [`SLACK`] zeros at the end let the row kernel read whole vectors past the last row.
struct TapPlanes {
    data: Vec<f32>,
    width: usize,
    /// Rows per phase plane (stride 2).
    rows: usize,
    starts: [usize; 9],
    /// Length of every run: output rows x `width`.
    len: usize,
}

impl TapPlanes {
    fn new(g: &Geometry) -> Self {
        let (ph, pw, oh) = (g.h + 2 * g.padding, g.w + 2 * g.padding, g.out_h());
        if g.stride == 1 {
            let starts = std::array::from_fn(|i| (i / 3) * pw + i % 3);
            let data = vec![0f32; (ph + 1) * pw + SLACK];
            TapPlanes { data, width: pw, rows: ph + 1, starts, len: oh * pw }
        } else {
            let (width, rows) = (pw.div_ceil(2), ph.div_ceil(2) + 1);
            let plane = rows * width;
            let starts = std::array::from_fn(|i| {
                let (ky, kx) = (i / 3, i % 3);
                ((ky % 2) * 2 + kx % 2) * plane + (ky / 2) * width + kx / 2
            });
            TapPlanes { data: vec![0f32; 4 * plane + SLACK], width, rows, starts, len: oh * width }
        }
    }

    /// Copies `src` (`[h, w]`) inside the zero border (the border is never written, so the
    /// buffer serves channel after channel).
    fn fill(&mut self, g: &Geometry, src: &[f32]) {
        let p = g.padding;
        for (r, line) in src.chunks_exact(g.w).enumerate() {
            let pr = r + p;
            if g.stride == 1 {
                self.data[pr * self.width + p..][..g.w].copy_from_slice(line);
            } else {
                // Even padded columns to phase (pr % 2, 0), odd ones to (pr % 2, 1); with an
                // odd padding, even `x` lands on odd columns.
                let plane = self.rows * self.width;
                let row = (pr / 2) * self.width;
                let (lo, hi) = (p / 2, p.div_ceil(2)); // first even / odd column of x = 0, 1
                let (even_at, odd_at) = if p.is_multiple_of(2) {
                    ((pr % 2) * 2 * plane + row + lo, ((pr % 2) * 2 + 1) * plane + row + lo)
                } else {
                    (((pr % 2) * 2 + 1) * plane + row + lo, (pr % 2) * 2 * plane + row + hi)
                };
                // x = 2j goes to `even_at + j`, x = 2j + 1 to `odd_at + j`.
                let pairs = line.chunks_exact(2);
                let last = pairs.remainder().first().copied();
                let n = g.w / 2;
                let (a, b) = if even_at < odd_at {
                    let (a, b) = self.data.split_at_mut(odd_at);
                    (&mut a[even_at..even_at + n], &mut b[..n])
                } else {
                    let (b, a) = self.data.split_at_mut(even_at);
                    (&mut a[..n], &mut b[odd_at..odd_at + n])
                };
                for ((e, o), pair) in a.iter_mut().zip(b.iter_mut()).zip(pairs) {
                    *e = pair[0];
                    *o = pair[1];
                }
                if let Some(v) = last {
                    self.data[even_at + n] = v;
                }
            }
        }
    }
}

/// Zeros after the tap planes: a vector of 8 read from the last output position of a row.
const SLACK: usize = 8;

/// Output widths from which [`plane3`] runs row by row ([`plane3_avx2`]).
const ROW_KERNEL_MIN_WIDTH: usize = 24;

/// [`plane3`] row by row in AVX2 registers, straight into the `oh x ow` output plane (the
/// tail of each row through a masked store), without the `wide` buffer and its copy per
/// row. Measured on SFace (alternating rounds in one process): 0.71-0.91x the time on its
/// 112- to 28-wide depthwise layers, 1.03-1.19x on the 14-wide ones (two vectors per row,
/// one masked), which therefore keep the whole-plane runs.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `out` must be valid for writes of `oh x ow` floats that
/// nothing else accesses during the call, and `oh, ow` those of `planes`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn plane3_avx2(
    planes: &TapPlanes,
    w: &[f32],
    bias: f32,
    slope: f32,
    out: *mut f32,
    oh: usize,
    ow: usize,
) {
    let wv: [__m256; 9] = std::array::from_fn(|t| _mm256_set1_ps(w[t]));
    let (b, s) = (_mm256_set1_ps(bias), _mm256_set1_ps(slope));
    let data = planes.data.as_ptr();
    for oy in 0..oh {
        let base = oy * planes.width;
        for x0 in (0..ow).step_by(8) {
            // SAFETY: the loads: tap runs stay inside the planes plus SLACK (see TapPlanes);
            // the stores: row oy, columns x0.. of this channel's output plane, the tail
            // masked; AVX2 + FMA by the caller's check.
            unsafe {
                let at = |t: usize| _mm256_loadu_ps(data.add(planes.starts[t] + base + x0));
                let mut acc = _mm256_mul_ps(wv[0], at(0));
                for (t, &wt) in wv.iter().enumerate().skip(1) {
                    acc = _mm256_fmadd_ps(wt, at(t), acc);
                }
                store_first(out.add(oy * ow + x0), act8(acc, b, s), ow - x0);
            }
        }
    }
}

/// `out[f] = act(sum_t w[t] * data[starts[t] + f] + bias)` for every `f` of `out`.
#[inline(always)]
fn taps9<const FMA: bool>(
    data: &[f32],
    starts: [usize; 9],
    w: &[f32],
    bias: f32,
    slope: f32,
    out: &mut [f32],
) {
    let n = out.len();
    let t: [&[f32]; 9] = std::array::from_fn(|i| &data[starts[i]..starts[i] + n]);
    let wk: [f32; 9] = std::array::from_fn(|i| w[i]);
    let fma = |a: f32, b: f32, c: f32| if FMA { a.mul_add(b, c) } else { a * b + c };
    for (f, o) in out.iter_mut().enumerate() {
        let mut acc = wk[0] * t[0][f];
        acc = fma(wk[1], t[1][f], acc);
        acc = fma(wk[2], t[2][f], acc);
        acc = fma(wk[3], t[3][f], acc);
        acc = fma(wk[4], t[4][f], acc);
        acc = fma(wk[5], t[5][f], acc);
        acc = fma(wk[6], t[6][f], acc);
        acc = fma(wk[7], t[7][f], acc);
        acc = fma(wk[8], t[8][f], acc);
        *o = act(acc, bias, slope);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn taps9_avx2(data: &[f32], starts: [usize; 9], w: &[f32], bias: f32, slope: f32, out: &mut [f32]) {
    taps9::<true>(data, starts, w, bias, slope, out)
}

/// [`taps9`], its AVX2 + FMA version where the CPU has one.
fn taps9_best(data: &[f32], starts: [usize; 9], w: &[f32], bias: f32, slope: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // Safety: the CPU has AVX2 and FMA (checked above).
        return unsafe { taps9_avx2(data, starts, w, bias, slope, out) };
    }
    taps9::<false>(data, starts, w, bias, slope, out)
}

/// One channel of a 3x3 depthwise convolution (stride 1 or 2) with bias and activation:
/// the nine runs into `wide` (rows of `planes.width`), then its first `ow` columns to the
/// `oh x ow` plane at `out` (which may be uninitialised memory).
///
/// # Safety
/// `out` must be valid for writes of `oh x ow` floats (`oh = planes.len / planes.width`) that
/// nothing else reads or writes during the call.
unsafe fn plane3(
    planes: &TapPlanes,
    w: &[f32],
    bias: f32,
    slope: f32,
    wide: &mut [f32],
    out: *mut f32,
    ow: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2() && ow >= ROW_KERNEL_MIN_WIDTH {
        // SAFETY: the path includes AVX2 + FMA (checked), and `out` is valid for the
        // `oh x ow` plane (this function's contract).
        return unsafe { plane3_avx2(planes, w, bias, slope, out, planes.len / planes.width, ow) };
    }
    let wide = &mut wide[..planes.len];
    taps9_best(&planes.data, planes.starts, w, bias, slope, wide);
    for (oy, src) in wide.chunks_exact(planes.width).enumerate() {
        // SAFETY: row `oy` of the `oh x ow` plane `out` is valid for writes (this function's
        // contract) and does not overlap `wide`.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), out.add(oy * ow), ow) };
    }
}

/// Any kernel size, stride and padding: the plain loop over taps on one channel `x` (`[h, w]`).
fn plane_any(g: &Geometry, x: &[f32], w: &[f32], bias: f32, slope: f32, out: &mut [f32]) {
    let (k, s, p, ow) = (g.k, g.stride, g.padding as isize, g.out_w());
    for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
        for (ox, o) in out_row.iter_mut().enumerate() {
            let mut acc = 0.0;
            for ky in 0..k {
                let iy = (oy * s + ky) as isize - p;
                for kx in 0..k {
                    let ix = (ox * s + kx) as isize - p;
                    if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                        acc += w[ky * k + kx] * x[iy as usize * g.w + ix as usize];
                    }
                }
            }
            *o = act(acc, bias, slope);
        }
    }
}

/// `act(depthwise_conv(x, w) + bias)` for `w` `[c, 1, k, k]` (groups = ci = co = c).
pub fn depthwise(g: &Geometry, x: &[f32], w: &[f32], bias: &[f32], slope: &[f32]) -> Vec<f32> {
    assert_eq!(g.ci, g.co, "depthwise: as many output channels as input channels");
    let kk = g.k * g.k;
    check(g, x, g.co * kk, w, bias, slope);
    let (oh, ow) = (g.out_h(), g.out_w());
    let fast = g.k == 3 && (g.stride == 1 || g.stride == 2);
    // Only the general loop writes through a slice; the 3x3 path copies into raw memory.
    let len = g.n * g.co * oh * ow;
    let mut y: Vec<f32> = if fast { Vec::with_capacity(len) } else { vec![0f32; len] };
    let out = Out(y.as_mut_ptr());
    // A depthwise multiply-add is weighed as four of a matrix product's (no reuse of loads).
    per_thread_for(len * kk * 4, g.n * g.co, |planes_range| {
        let mut taps = if fast { Some(TapPlanes::new(g)) } else { None };
        let mut wide = vec![0f32; taps.as_ref().map_or(0, |t| t.len)];
        for plane in planes_range {
            let c = plane % g.co;
            let xc = &x[plane * g.h * g.w..][..g.h * g.w];
            let wc = &w[c * kk..][..kk];
            // Safety: output plane `plane` belongs to this thread alone (and is initialised
            // memory on the general path).
            let at = unsafe { out.at(plane * oh * ow) };
            match taps.as_mut() {
                Some(t) => {
                    t.fill(g, xc);
                    // SAFETY: `at` is this thread's own `oh x ow` output plane, inside `y`.
                    unsafe { plane3(t, wc, bias[c], slope[c], &mut wide, at, ow) };
                }
                None => {
                    // SAFETY: `at` is this thread's own `oh x ow` output plane, inside `y` and
                    // initialised (zeroed) on this path.
                    let yc = unsafe { std::slice::from_raw_parts_mut(at, oh * ow) };
                    plane_any(g, xc, wc, bias[c], slope[c], yc)
                }
            }
        }
    });
    // Safety: every plane was written (3x3 path) or zero-initialised and written.
    unsafe { y.set_len(len) };
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::{assert_close_values, naive_conv_act as reference, per_channel, ramp};

    #[test]
    fn dense_matches_the_naive_convolution() {
        crate::isa::for_each_path(|_| {
            // Pointwise with few positions (split by channels), with one and with several blocks of
            // positions, large planes (the packed kernel), then 3x3 ones (direct, im2col).
            for (n, ci, h, w, co, k, stride, padding) in [
                (2, 5, 9, 8, 7, 1, 1, 0),
                (1, 16, 3, 3, 300, 1, 1, 0),
                (1, 4, 40, 40, 6, 1, 1, 0),
                (1, 8, 40, 40, 64, 1, 1, 0),
                (1, 4, 45, 45, 128, 1, 1, 0),
                // Large enough to be shared out over the threads (see MIN_PARALLEL_MACS): by
                // channels, then by equal blocks of positions.
                (1, 256, 3, 3, 1024, 1, 1, 0),
                (1, 64, 40, 40, 64, 1, 1, 0),
                // Below POINTWISE_MIN_PLANE: matrix products in two blocks of positions.
                (1, 8, 30, 30, 128, 1, 1, 0),
                (2, 3, 11, 9, 5, 3, 2, 1),
                (1, 3, 8, 8, 4, 3, 1, 1),
            ] {
                let g = Geometry { n, ci, h, w, co, k, stride, padding };
                let x = ramp(g.n * g.in_image(), 1);
                let wt = ramp(co * g.patch(), 2);
                let (bias, slope) = per_channel(co);
                let ours = dense(&g, &x, &wt, &bias, &slope);
                assert_close_values(&ours, &reference(&g, 1, &x, &wt, &bias, &slope), &format!("{g:?}"));
            }
        });
    }

    #[test]
    fn depthwise_matches_the_naive_grouped_convolution() {
        crate::isa::for_each_path(|_| {
            // 3x3 with stride 1 and 2 (odd and even sides; from 24 outputs wide the row kernel,
            // with a partial last vector), then the general loop (5x5, stride 3).
            for (n, c, h, w, k, stride, padding) in [
                (1, 3, 30, 27, 3, 1, 1),
                (1, 5, 31, 53, 3, 2, 1),
                (1, 2, 12, 30, 3, 1, 0),
                (1, 3, 7, 9, 3, 1, 1),
                (2, 10, 8, 8, 3, 2, 1),
                (1, 9, 5, 6, 3, 2, 1),
                (1, 9, 7, 7, 3, 2, 1),
                (1, 17, 14, 14, 3, 1, 1),
                (1, 4, 9, 11, 3, 2, 0),
                (2, 5, 10, 9, 5, 3, 2),
                (1, 64, 32, 32, 3, 1, 1), // shared out over the threads
            ] {
                let g = Geometry { n, ci: c, h, w, co: c, k, stride, padding };
                let x = ramp(g.n * g.in_image(), 3);
                let wt = ramp(c * k * k, 4);
                let (bias, slope) = per_channel(c);
                let ours = depthwise(&g, &x, &wt, &bias, &slope);
                assert_close_values(&ours, &reference(&g, c, &x, &wt, &bias, &slope), &format!("{g:?}"));
            }
        });
    }
}
