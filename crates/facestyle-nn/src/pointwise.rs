//! 1x1 convolution with bias and PReLU on NCHW f32 slices, with weights packed once (at load
//! time, see `conv_act_op::pack_pointwise`) into panels of [`MR`] output channels:
//! `[co / MR][ci][MR]`.
//!
//! The image's positions are cut into stripes of [`NR`] (16) and packed (`[stripe][ci][NR]`),
//! so that the kernel reads both operands as contiguous runs: per input channel, two 8-lane
//! vectors of positions and six broadcast weights, twelve FMAs into twelve accumulators.
//! (Four channels x 24 positions, also twelve accumulators, needs all sixteen registers and
//! LLVM then spills one: 1.7x the time.) Where each thread packs its own stripes, input
//! channels are taken [`KC`] at a time (a stripe's block stays in L1 while every panel of
//! weights passes over it); where the threads share out weight panels, all at once. Up to
//! [`GROUP`] stripes share each panel of weights. The bias and activation are applied as the
//! last block's tile leaves the registers.
//!
//! Threads share out the stripes, or the panels of output channels when an image has few
//! stripes (7x7 planes) or fewer positions than output channels; with the split by stripes,
//! each group's input rows are prefetched while the group before it is multiplied.
//! `fused_conv::dense` also sends 1x1 layers with large planes here (weights packed on each
//! call: YuNet's); other layers without packed weights (other CPUs, autodiff, not 1x1) run
//! through `fused_conv::dense`'s matrix products.
//!
//! Measured against `fused_conv::dense` (the `gemm` crate) on SFace in one process,
//! alternating (2 threads, 40 LFW crops x 10 rounds): its 1x1 layers 9.82 vs 10.57 ms;
//! [`GROUP`] 3 instead of 8 was at parity with the gemm crate.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::ops::Range;

#[cfg(target_arch = "x86_64")]
use crate::fused_conv::act8;
use crate::gemm_conv::{Out, per_thread_for};
use crate::im2col::Geometry;

/// Output channels per weight panel (rows of a tile).
pub const MR: usize = 6;
/// Positions per stripe (two 8-lane vectors).
const NR: usize = 16;
/// Input channels per pass over a tile (split by stripes).
const KC: usize = 256;
/// Stripes that share one pass of a weight panel.
const GROUP: usize = 8;

/// 1x1 weights `[co, ci]` packed into panels `[co / MR][ci][MR]` (the last panel
/// zero-padded): what [`forward`] reads.
pub fn pack(w: &[f32], co: usize, ci: usize) -> Vec<f32> {
    assert_eq!(w.len(), co * ci, "1x1 weights [co, ci]");
    let mut panels = vec![0f32; packed_len(co, ci)];
    for (o, row) in w.chunks_exact(ci).enumerate() {
        let panel = &mut panels[(o / MR) * ci * MR..][..ci * MR];
        for (k, &v) in row.iter().enumerate() {
            panel[k * MR + o % MR] = v;
        }
    }
    panels
}

/// Length of [`pack`]'s result.
pub fn packed_len(co: usize, ci: usize) -> usize {
    co.div_ceil(MR) * MR * ci
}

/// Whether [`forward`] runs on this CPU.
pub fn available() -> bool {
    crate::isa::avx2()
}

/// Copies `x` (`[ci, plane]`) into stripes `[stripe][ci][NR]`, zeros after the plane's end.
fn pack_stripes(x: &[f32], ci: usize, plane: usize, stripes: Range<usize>, out: &mut [f32]) {
    for (s, stripe) in stripes.zip(out.chunks_exact_mut(ci * NR)) {
        let (p0, n) = (s * NR, NR.min(plane - s * NR));
        for (k, row) in stripe.chunks_exact_mut(NR).enumerate() {
            let src = &x[k * plane + p0..];
            if n == NR {
                // A whole stripe: a copy of constant length, inlined (no memcpy call per row).
                let row: &mut [f32; NR] = row.try_into().expect("NR values");
                *row = src[..NR].try_into().expect("NR values");
            } else {
                row[..n].copy_from_slice(&src[..n]);
                row[n..].fill(0.0);
            }
        }
    }
}

/// `act(W x + b)`: `x` `[n, ci, h, w]` -> `[n, co, h, w]` (1x1, stride 1, no padding).
///
/// # Panics
/// When [`available`] is false or the sizes disagree.
pub fn forward(g: &Geometry, x: &[f32], panels: &[f32], bias: &[f32], slope: &[f32]) -> Vec<f32> {
    assert!(available(), "pointwise::forward needs AVX2 and FMA");
    assert!(g.k == 1 && g.stride == 1 && g.padding == 0, "pointwise: 1x1, stride 1, no padding");
    assert_eq!(panels.len(), packed_len(g.co, g.ci), "packed weights for this layer");
    assert_eq!(x.len(), g.n * g.in_image(), "input size");
    assert_eq!((bias.len(), slope.len()), (g.co, g.co), "one bias and slope per output channel");
    let (plane, ci, co) = (g.h * g.w, g.ci, g.co);
    let stripes = plane.div_ceil(NR);
    let n_panels = co.div_ceil(MR);
    // One bias and slope per row of every panel (the padding rows are never stored).
    let mut bias_p = bias.to_vec();
    let mut slope_p = slope.to_vec();
    bias_p.resize(n_panels * MR, 0.0);
    slope_p.resize(n_panels * MR, 0.0);
    let len = g.n * co * plane;
    let mut y: Vec<f32> = Vec::with_capacity(len);
    let out = Out(y.as_mut_ptr());
    let threads = rayon::current_num_threads().max(1);
    // Few stripes, or fewer positions than output channels (each thread then reads half the
    // weights rather than all of them): the threads share out the weight panels, and the
    // stripes are packed once, here. Otherwise each thread packs its own stripes.
    let by_panels = stripes < 4 * threads || co > plane;
    let mut packed = vec![0f32; if by_panels { stripes * ci * NR } else { 0 }];
    for i in 0..g.n {
        let xi = &x[i * ci * plane..][..ci * plane];
        if by_panels {
            pack_stripes(xi, ci, plane, 0..stripes, &mut packed);
        }
        let job = Job {
            raw: xi,
            ci,
            co,
            plane,
            w: panels,
            packed: by_panels.then_some(&packed[..]),
            bias: &bias_p,
            slope: &slope_p,
            // Safety: image i's output lies inside `y`.
            y: Out(unsafe { out.at(i * co * plane) }),
        };
        let units = if by_panels { n_panels } else { stripes };
        per_thread_for(co * ci * plane, units, |r| {
            let (s, p) = if by_panels { (0..stripes, r) } else { (r, 0..n_panels) };
            // Safety: AVX2 + FMA checked above; each unit writes its own stripes or rows.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                job.run(s, p)
            }
        });
    }
    // Safety: the units cover every (image, row, position).
    unsafe { y.set_len(len) };
    y
}

struct Job<'a> {
    /// The image's input, `[ci, plane]`.
    raw: &'a [f32],
    ci: usize,
    co: usize,
    plane: usize,
    w: &'a [f32],
    /// All of the image's stripes, packed once before the split by weight panels; `None`
    /// when the split is by stripes and each [`Job::run`] packs its own from `raw`.
    packed: Option<&'a [f32]>,
    bias: &'a [f32],
    slope: &'a [f32],
    y: Out,
}

impl Job<'_> {
    /// Stripes `stripes` x weight panels `panels` of one image.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; no other call may write the same stripes and panels of
    /// `y` meanwhile.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run(&self, stripes: Range<usize>, panels: Range<usize>) {
        let mut local = vec![0f32; if self.packed.is_none() { GROUP * self.ci * NR } else { 0 }];
        let mut s0 = stripes.start;
        while s0 < stripes.end {
            let s1 = (s0 + GROUP).min(stripes.end);
            let (xs, first_stripe) = match self.packed {
                Some(all) => (all, 0),
                None => {
                    pack_stripes(self.raw, self.ci, self.plane, s0..s1, &mut local);
                    // The next group's input, while this one is multiplied (in SFace the input
                    // rows are often out of cache: pw1 0.94x the time).
                    self.prefetch(s1..(s1 + GROUP).min(stripes.end));
                    (&local[..], s0)
                }
            };
            // Split by weight panels (SFace's 14- and 7-wide planes): all input channels in one
            // pass, so each panel is read as one run and each tile stored once (one process,
            // alternating, six weight sets in turn: 0.83-0.89x the time on 7x7 512/1024 ->
            // 1024, 0.95-0.98x on 14x14 512 -> 512, 2 and 1 threads).
            let kc_max = if self.packed.is_some() { self.ci } else { KC };
            let mut k0 = 0;
            while k0 < self.ci {
                let kc = kc_max.min(self.ci - k0);
                let (first, last) = (k0 == 0, k0 + kc == self.ci);
                for p in panels.clone() {
                    let w = self.w[p * self.ci * MR + k0 * MR..].as_ptr();
                    let rows = MR.min(self.co - p * MR);
                    for s in s0..s1 {
                        let x = xs[(s - first_stripe) * self.ci * NR + k0 * NR..].as_ptr();
                        let (p0, n) = (s * NR, NR.min(self.plane - s * NR));
                        let t = Tile {
                            kc,
                            w,
                            x,
                            // Safety: row p * MR, position p0 of this image's output.
                            y: unsafe { self.y.at(p * MR * self.plane + p0) },
                            ldy: self.plane,
                            bias: &self.bias[p * MR..][..MR],
                            slope: &self.slope[p * MR..][..MR],
                            first,
                            last,
                        };
                        // Safety: the tile's rows and positions lie inside the output.
                        unsafe { t.run(rows, n) };
                    }
                }
                k0 += kc;
            }
            s0 = s1;
        }
    }

    /// Asks for the input rows of `stripes` to be brought into the cache.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn prefetch(&self, stripes: Range<usize>) {
        if stripes.is_empty() {
            return;
        }
        let (p0, p1) = (stripes.start * NR, (stripes.end * NR).min(self.plane));
        for k in 0..self.ci {
            let row = &self.raw[k * self.plane..][p0..p1];
            for i in (0..row.len()).step_by(16) {
                // Safety: a prefetch of an address inside `raw`.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(row.as_ptr().add(i).cast()) };
            }
        }
    }
}

struct Tile<'a> {
    kc: usize,
    w: *const f32,
    x: *const f32,
    y: *mut f32,
    ldy: usize,
    bias: &'a [f32],
    slope: &'a [f32],
    first: bool,
    last: bool,
}

impl Tile<'_> {
    /// `rows` (1..=MR) x `n` (1..=NR) outputs; partial tiles go through a local buffer.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; `y` must address `rows` rows of `n` floats at stride
    /// `ldy` that nothing else accesses, `w` and `x` whole packed panels of `kc` channels.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run(&self, rows: usize, n: usize) {
        // SAFETY: `y` addresses `rows` rows of `n` values at stride `ldy` (the contract), and
        // the copies go to and from the `MR x NR` local buffer.
        unsafe {
            if rows == MR && n == NR {
                return self.kernel::<2>(self.y, self.ldy);
            }
            let mut buf = [0f32; MR * NR];
            if !self.first {
                for r in 0..rows {
                    std::ptr::copy_nonoverlapping(self.y.add(r * self.ldy), buf[r * NR..].as_mut_ptr(), n);
                }
            }
            match n.div_ceil(8) {
                2 => self.kernel::<2>(buf.as_mut_ptr(), NR),
                _ => self.kernel::<1>(buf.as_mut_ptr(), NR),
            }
            for r in 0..rows {
                std::ptr::copy_nonoverlapping(buf[r * NR..].as_ptr(), self.y.add(r * self.ldy), n);
            }
        }
    }

    /// `MR` rows x `V` vectors at `y` (row stride `ldy`).
    ///
    /// # Safety
    /// As [`Tile::run`], for `MR` rows of `8 V` floats at `y`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::needless_range_loop)]
    unsafe fn kernel<const V: usize>(&self, y: *mut f32, ldy: usize) {
        // SAFETY: `y` addresses `MR` rows of `8 V` values at stride `ldy` (the contract); the
        // packed panels hold `MR` weights and `NR` inputs per input channel.
        unsafe {
            let mut c = [[_mm256_setzero_ps(); V]; MR];
            if !self.first {
                for r in 0..MR {
                    for v in 0..V {
                        c[r][v] = _mm256_loadu_ps(y.add(r * ldy + 8 * v));
                    }
                }
            }
            for k in 0..self.kc {
                let xk = self.x.add(k * NR);
                let mut xv = [_mm256_setzero_ps(); V];
                for v in 0..V {
                    xv[v] = _mm256_loadu_ps(xk.add(8 * v));
                }
                let wk = self.w.add(k * MR);
                for r in 0..MR {
                    let b = _mm256_broadcast_ss(&*wk.add(r));
                    for v in 0..V {
                        c[r][v] = _mm256_fmadd_ps(b, xv[v], c[r][v]);
                    }
                }
            }
            for r in 0..MR {
                let (bias, slope) = (_mm256_set1_ps(self.bias[r]), _mm256_set1_ps(self.slope[r]));
                for v in 0..V {
                    let out = if self.last { act8(c[r][v], bias, slope) } else { c[r][v] };
                    _mm256_storeu_ps(y.add(r * ldy + 8 * v), out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::{assert_close_values, naive_conv_act, per_channel, ramp};

    #[test]
    fn matches_the_naive_convolution_with_bias_and_prelu() {
        if !crate::isa::Isa::Avx2.supported() {
            eprintln!("no AVX2 + FMA: the packed pointwise kernel is not exercised on this CPU");
        }
        crate::isa::for_each_path(|_| {
            if !available() {
                return;
            }
            // Output channels: whole panels and 1-3 spare rows; positions: whole stripes, short
            // last stripes (1-3 vectors), fewer than one stripe; input channels: one pass,
            // several passes (KC = 256) with a short last one; several images; split by stripes
            // and by panels.
            for (n, ci, co, h, w) in [
                (1, 3, 4, 4, 6),
                (2, 5, 7, 5, 5),
                (1, 300, 9, 7, 7),
                (1, 520, 16, 14, 14),
                (3, 16, 6, 1, 17),
                (1, 8, 5, 2, 8),
                (1, 64, 64, 28, 28),
                (1, 32, 13, 11, 23),
            ] {
                let g = Geometry { n, ci, h, w, co, k: 1, stride: 1, padding: 0 };
                let x = ramp(n * ci * h * w, 5);
                let wt = ramp(co * ci, 6);
                let (bias, slope) = per_channel(co);
                let want = naive_conv_act(&g, 1, &x, &wt, &bias, &slope);
                let got = forward(&g, &x, &pack(&wt, co, ci), &bias, &slope);
                assert_close_values(&got, &want, &format!("{g:?}"));
            }
        });
    }
}
