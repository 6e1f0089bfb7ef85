//! A 3x3 convolution (padding 1, stride 1 or 2) over few input channels, computed directly,
//! with the bias and PReLU applied as each block leaves the registers: the first layer of
//! SFace (3 -> 32, 112x112, stride 1) and YuNet (3 -> 16, stride 2).
//!
//! Each input row is first copied zero-padded into its polyphase rows (stride 2: even and odd
//! columns apart), so that the input under one tap for 8 consecutive outputs is one
//! contiguous vector. Then, per output row, 4 output channels x 16 positions at a time in 8
//! AVX2 registers: for each of the `ci * 9` taps, two vectors of inputs and 4 broadcast
//! weights.
//!
//! Why: as patches + matrix product (`gemm_conv`, im2col of 27 rows) these layers ran at
//! 20-25 GMAC/s (SFace's first layer 0.58 ms of ~11 ms), the matrix being 27 deep.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

#[cfg(target_arch = "x86_64")]
use crate::fused_conv::{act8, store_first};
use crate::gemm_conv::{Out, per_thread_for};
use crate::im2col::Geometry;

/// Output channels per register block.
const CH: usize = 4;
/// Vectors of 8 positions per register block.
const V: usize = 2;
/// Output positions per register block.
const POS: usize = 8 * V;
/// Largest input channel count taken (the taps' weights stay in L1).
const MAX_CI: usize = 4;

/// Whether [`forward`] takes this layer on this CPU.
pub fn takes(g: &Geometry) -> bool {
    crate::isa::avx2()
        && g.k == 3
        && g.padding == 1
        && (g.stride == 1 || g.stride == 2)
        && g.ci <= MAX_CI
        && g.co.is_multiple_of(CH)
}

/// Length of one polyphase row: `ow` rounded up to whole blocks, plus the kernel's reach.
fn row_len(g: &Geometry) -> usize {
    g.out_w().next_multiple_of(POS) + 2
}

/// The padded input of one image as polyphase rows `[ci][h + 2][stride][row_len]`: row
/// `y + 1`, phase `p`, index `j` holds input column `stride * j + p - 1` of row `y` (zero
/// outside the image).
fn phase_rows(g: &Geometry, x: &[f32], out: &mut Vec<f32>) {
    let (s, len, rows) = (g.stride, row_len(g), g.h + 2);
    out.resize(g.ci * rows * s * len, 0.0);
    let base = Out(out.as_mut_ptr());
    // Split between the threads when the convolution itself is.
    let work = g.co * g.ci * 9 * g.out_plane();
    per_thread_for(work, g.ci * rows, |range| {
        for r in range {
            let (c, py) = (r / rows, r % rows);
            // Safety: padded row r of the buffer, written by this unit alone.
            let dst = unsafe { std::slice::from_raw_parts_mut(base.at(r * s * len), s * len) };
            dst.fill(0.0);
            if py == 0 || py == rows - 1 {
                continue;
            }
            let src = &x[(c * g.h + py - 1) * g.w..][..g.w];
            if s == 1 {
                dst[1..=g.w].copy_from_slice(src);
            } else {
                // Padded column i + 1 = 2 j + p: input column 2 j to phase 1, 2 j + 1 to
                // phase 0 (index j + 1).
                let (phase0, phase1) = dst.split_at_mut(len);
                for (j, pair) in src.chunks(2).enumerate() {
                    phase1[j] = pair[0];
                    if let Some(&v) = pair.get(1) {
                        phase0[j + 1] = v;
                    }
                }
            }
        }
    });
}

thread_local! {
    /// [`phase_rows`] of the image being convolved, kept between calls (no fresh pages).
    static ROWS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `act(conv3x3(x, w) + bias)`: `x` `[n, ci, h, w]`, `w` `[co, ci, 3, 3]` -> `[n, co, oh, ow]`.
///
/// # Panics
/// When [`takes`] is false or the sizes disagree.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: &[f32], slope: &[f32]) -> Vec<f32> {
    assert!(takes(g), "direct3x3: 3x3, padding 1, stride 1 or 2, few input channels, AVX2");
    assert_eq!(x.len(), g.n * g.in_image(), "input size");
    assert_eq!(w.len(), g.co * g.ci * 9, "weight size");
    assert_eq!((bias.len(), slope.len()), (g.co, g.co), "one bias and slope per output channel");
    let (oh, ow, taps) = (g.out_h(), g.out_w(), g.ci * 9);
    // Weights as [tap][co]: the 8 channels of a block are contiguous for the broadcasts.
    let mut wt = vec![0f32; taps * g.co];
    for o in 0..g.co {
        for t in 0..taps {
            wt[t * g.co + o] = w[o * taps + t];
        }
    }
    let len = g.n * g.co * oh * ow;
    let mut y: Vec<f32> = Vec::with_capacity(len);
    let out = Out(y.as_mut_ptr());
    // Taken out of the thread-local, not borrowed: a thread waiting for its parts in rayon
    // may run another inference meanwhile (e.g. images detected in parallel), which then
    // finds the slot empty and uses a buffer of its own.
    let mut rows = ROWS.take();
    for i in 0..g.n {
        phase_rows(g, &x[i * g.in_image()..][..g.in_image()], &mut rows);
        // Safety: image i's output lies inside `y`.
        let yi = Out(unsafe { out.at(i * g.co * oh * ow) });
        per_thread_for(g.co * taps * oh * ow, oh, |range| {
            for oy in range {
                // Safety: AVX2 + FMA (checked by `takes`); each output row is written by one
                // unit, every channel and position of it.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    out_row(g, &rows, &wt, bias, slope, oy, yi)
                }
            }
        });
    }
    ROWS.set(rows);
    // Safety: every (image, channel, row, position) was written above.
    unsafe { y.set_len(len) };
    y
}

/// Output row `oy` of every channel.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `y` must address one image's `[co, oh, ow]` output, whose
/// row `oy` of every channel nothing else accesses during the call.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)]
unsafe fn out_row(g: &Geometry, rows: &[f32], wt: &[f32], bias: &[f32], slope: &[f32], oy: usize, y: Out) {
    let (s, len, padded_h) = (g.stride, row_len(g), g.h + 2);
    let (oh, ow) = (g.out_h(), g.out_w());
    // Start of each tap's polyphase row for this output row: tap (c, ky, kx) reads padded
    // row s * oy + ky, phase kx % s, from index kx / s on.
    let mut starts = [0usize; MAX_CI * 9];
    for c in 0..g.ci {
        for ky in 0..3 {
            for kx in 0..3 {
                let row = (c * padded_h + s * oy + ky) * s + kx % s;
                starts[(c * 3 + ky) * 3 + kx] = row * len + kx / s;
            }
        }
    }
    let taps = g.ci * 9;
    let zero = _mm256_setzero_ps();
    for c0 in (0..g.co).step_by(CH) {
        for x0 in (0..ow).step_by(POS) {
            let mut acc = [[zero; V]; CH];
            for t in 0..taps {
                // Safety: starts[t] + x0 + POS <= row_len of its row (x0 < ow rounded up).
                unsafe {
                    let mut xv = [zero; V];
                    for v in 0..V {
                        xv[v] = _mm256_loadu_ps(rows.as_ptr().add(starts[t] + x0 + 8 * v));
                    }
                    let wv = wt.as_ptr().add(t * g.co + c0);
                    for j in 0..CH {
                        let b = _mm256_broadcast_ss(&*wv.add(j));
                        for v in 0..V {
                            acc[j][v] = _mm256_fmadd_ps(b, xv[v], acc[j][v]);
                        }
                    }
                }
            }
            for j in 0..CH {
                let o = c0 + j;
                let (bias, slope) = (_mm256_set1_ps(bias[o]), _mm256_set1_ps(slope[o]));
                for v in 0..V {
                    let x = x0 + 8 * v;
                    if x >= ow {
                        break;
                    }
                    // Safety: channel o, row oy, positions x.. of this image's output.
                    unsafe {
                        store_first(y.at((o * oh + oy) * ow + x), act8(acc[j][v], bias, slope), ow - x)
                    };
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
        let mut ran = false;
        crate::isa::for_each_path(|_| {
            // Strides 1 and 2, odd and even sizes, widths below, at and above a block, 1-4 input
            // channels, several images.
            for (n, ci, co, h, w, stride) in [
                (1, 3, 32, 12, 12, 1),
                (1, 3, 16, 16, 16, 2),
                (2, 1, 8, 5, 9, 1),
                (1, 4, 16, 7, 17, 2),
                (1, 2, 8, 3, 3, 2),
                (1, 3, 8, 20, 33, 1),
                (1, 3, 12, 9, 40, 2),
            ] {
                let g = Geometry { n, ci, h, w, co, k: 3, stride, padding: 1 };
                if !takes(&g) {
                    continue;
                }
                ran = true;
                let x = ramp(n * ci * h * w, 5);
                let wt = ramp(co * ci * 9, 6);
                let (bias, slope) = per_channel(co);
                let want = naive_conv_act(&g, 1, &x, &wt, &bias, &slope);
                assert_close_values(&forward(&g, &x, &wt, &bias, &slope), &want, &format!("{g:?}"));
            }
        });
        if !ran {
            eprintln!("no AVX2 + FMA: the direct 3x3 kernel is not exercised on this CPU");
        }
    }

    #[test]
    fn calls_from_parallel_tasks_give_the_same_result() {
        crate::isa::for_each_path(|_| {
            // Each call is large enough to share out its rows; a thread waiting for them in rayon
            // may start another call (the scratch buffer must not be borrowed across that).
            let g = Geometry { n: 1, ci: 3, h: 64, w: 64, co: 16, k: 3, stride: 1, padding: 1 };
            if !takes(&g) {
                return;
            }
            let (x, w) = (ramp(3 * 64 * 64, 1), ramp(16 * 27, 2));
            let (bias, slope) = per_channel(16);
            let want = forward(&g, &x, &w, &bias, &slope);
            use rayon::prelude::*;
            let got: Vec<Vec<f32>> =
                (0..64).into_par_iter().map(|_| forward(&g, &x, &w, &bias, &slope)).collect();
            assert!(got.iter().all(|y| *y == want));
        });
    }

    #[test]
    fn takes_only_what_it_computes() {
        let g = |ci, co, k, stride, padding| Geometry { n: 1, ci, h: 8, w: 8, co, k, stride, padding };
        assert!(!takes(&g(5, 8, 3, 1, 1)), "too many input channels");
        assert!(!takes(&g(3, 10, 3, 1, 1)), "channels not a multiple of 4");
        assert!(!takes(&g(3, 8, 5, 1, 2)), "5x5");
        assert!(!takes(&g(3, 8, 3, 3, 1)), "stride 3");
        assert!(!takes(&g(3, 8, 3, 1, 0)), "no padding");
    }
}
