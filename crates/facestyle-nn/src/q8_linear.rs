//! A linear layer whose weights stay int8, quantized in blocks along the input axis the way
//! ONNX's blocked `DequantizeLinear` stores them: `w[o, i] = (q[o, i] - zero[o, b]) *
//! scale[o, b]` with `b = i / block`. Inference only; the kernel widens each 8 weights to f32
//! (`q - zero` exactly, as the ONNX reference does), multiplies them into the block's sum and
//! scales that sum once per block.
//!
//! Why: SFace ends in a 50176 -> 128 layer: 25.7 MB as f32, streamed from memory for every
//! face (with the rest of the network it does not stay in the L3 cache). Kept as the file
//! stores it, it is 6.4 MB and exactly the same weights.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::fmt;

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;

use crate::flex_slices::{contiguous, f32s, inference_f32, tensor};
use crate::gemm_conv::per_thread_for;

#[backend_extension(Flex)]
pub trait Q8LinearBackend: Backend {
    /// `x` `[n, cols]` -> `[n, rows]` through `layer`.
    fn q8_linear(x: FloatTensor<Self>, layer: &Q8Linear) -> FloatTensor<Self>;
}

impl Q8LinearBackend for Flex {
    fn q8_linear(x: FlexTensor, layer: &Q8Linear) -> FlexTensor {
        let x = contiguous(x);
        let n = x.layout().shape()[0];
        tensor(layer.forward(f32s(&x), n), [n, layer.rows])
    }
}

/// `y = W x + bias` with `W` `[rows, cols]` block-quantized int8 (see the module note).
#[derive(Clone)]
pub struct Q8Linear {
    rows: usize,
    cols: usize,
    block: usize,
    /// `[rows, cols]`.
    q: Vec<i8>,
    /// `[rows, blocks]`.
    zero: Vec<i32>,
    /// `[rows, blocks]`.
    scale: Vec<f32>,
    /// `[rows]`.
    bias: Vec<f32>,
    /// `x * scale + shift` per group of inputs before the product (see
    /// [`Q8Linear::with_input_affine`]).
    input: Option<InputAffine>,
}

/// A per-channel affine map of the input (a batch norm before a flatten): input `i` belongs
/// to channel `i / group`.
#[derive(Clone)]
struct InputAffine {
    scale: Vec<f32>,
    shift: Vec<f32>,
    group: usize,
}

impl fmt::Debug for Q8Linear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Q8Linear {{ {} -> {}, blocks of {} }}", self.cols, self.rows, self.block)
    }
}

impl Q8Linear {
    /// From the stored form: `q` `[rows, cols]`, `zero` and `scale` `[rows, ceil(cols /
    /// block)]`, `bias` `[rows]`.
    ///
    /// # Panics
    /// When the sizes disagree or `block` is 0.
    pub fn new(
        rows: usize,
        cols: usize,
        block: usize,
        q: Vec<i8>,
        zero: &[i8],
        scale: Vec<f32>,
        bias: Vec<f32>,
    ) -> Self {
        assert!(block > 0, "block size 0");
        let blocks = cols.div_ceil(block);
        assert_eq!(q.len(), rows * cols, "quantized weights [rows, cols]");
        assert_eq!(
            (zero.len(), scale.len()),
            (rows * blocks, rows * blocks),
            "one zero point and scale per block"
        );
        assert_eq!(bias.len(), rows, "one bias per row");
        let zero = zero.iter().map(|&z| i32::from(z)).collect();
        Q8Linear { rows, cols, block, q, zero, scale, bias, input: None }
    }

    /// First `x[i] * scale[i / group] + shift[i / group]` (a batch norm of `cols / group`
    /// channels before a flatten, which blocks of int8 weights cannot absorb).
    ///
    /// # Panics
    /// When `group` times the channel count is not `cols`.
    pub fn with_input_affine(mut self, scale: Vec<f32>, shift: Vec<f32>, group: usize) -> Self {
        assert_eq!(scale.len(), shift.len(), "one scale and shift per channel");
        assert_eq!(scale.len() * group, self.cols, "channels x group = inputs");
        self.input = Some(InputAffine { scale, shift, group });
        self
    }

    fn blocks(&self) -> usize {
        self.cols.div_ceil(self.block)
    }

    /// Then `y * factor + shift` per output (a batch norm after the layer, folded in).
    pub fn scale_rows(&mut self, factor: &[f32], shift: &[f32]) {
        assert_eq!((factor.len(), shift.len()), (self.rows, self.rows), "one factor and shift per row");
        let blocks = self.blocks();
        for (o, (&f, &t)) in factor.iter().zip(shift).enumerate() {
            self.scale[o * blocks..][..blocks].iter_mut().for_each(|s| *s *= f);
            self.bias[o] = self.bias[o] * f + t;
        }
    }

    /// The f32 weights `[rows, cols]`, as `DequantizeLinear` computes them (times any
    /// [`Q8Linear::scale_rows`] factor).
    pub fn dequantized(&self) -> Vec<f32> {
        let blocks = self.blocks();
        let mut w = Vec::with_capacity(self.q.len());
        for o in 0..self.rows {
            for (i, &q) in self.q[o * self.cols..][..self.cols].iter().enumerate() {
                let b = o * blocks + i / self.block;
                w.push((i32::from(q) - self.zero[b]) as f32 * self.scale[b]);
            }
        }
        w
    }

    /// `x` `[n, cols]` -> `[n, rows]`; the threads share out the rows.
    pub fn forward(&self, x: &[f32], n: usize) -> Vec<f32> {
        assert_eq!(x.len(), n * self.cols, "input [n, {}]", self.cols);
        let mapped;
        let x = match &self.input {
            None => x,
            Some(a) => {
                // Channel by channel (an index division per value took 0.3 ms of SFace's
                // 50176 inputs).
                let mut v = Vec::with_capacity(x.len());
                for xs in x.chunks_exact(self.cols) {
                    for ((chunk, &scale), &shift) in xs.chunks_exact(a.group).zip(&a.scale).zip(&a.shift) {
                        v.extend(chunk.iter().map(|&x| x * scale + shift));
                    }
                }
                mapped = v;
                &mapped
            }
        };
        let parts = per_thread_for(n * self.rows * self.cols, self.rows, |rows| {
            // [row, image], four rows at a time.
            let mut y = vec![0f32; n * rows.len()];
            let mut dots = [0f32; 4];
            for s in 0..n {
                let xs = &x[s * self.cols..][..self.cols];
                let mut o = rows.start;
                while o < rows.end {
                    let r = if rows.end - o >= 4 {
                        self.rows_dot::<4>(o, xs, &mut dots);
                        4
                    } else {
                        self.rows_dot::<1>(o, xs, &mut dots);
                        1
                    };
                    for k in 0..r {
                        y[(o - rows.start + k) * n + s] = dots[k] + self.bias[o + k];
                    }
                    o += r;
                }
            }
            (rows, y)
        });
        let mut y = vec![0f32; n * self.rows];
        for (rows, part) in parts {
            for (r, o) in rows.enumerate() {
                for s in 0..n {
                    y[s * self.rows + o] = part[r * n + s];
                }
            }
        }
        y
    }

    /// [`Q8Linear::forward`] of an inference f32 tensor `[n, cols]` on the Flex backend;
    /// `None` for any other (autodiff, other devices), for the caller's f32 layer.
    pub fn forward_tensor(&self, x: &Tensor<2>) -> Option<Tensor<2>> {
        if !inference_f32(x) || x.dims()[1] != self.cols {
            return None;
        }
        // Through a backend extension: the kernel reads the tensor's memory in place (burn's
        // `into_data` took 0.27-0.33 ms for these 50176 values, the layer itself ~0.3).
        Some(Tensor::from_dispatch(<Dispatch as Q8LinearBackend>::q8_linear(x.clone().into_dispatch(), self)))
    }

    /// Rows `o..o + R` of `W` times `x`, into `y[..R]`.
    fn rows_dot<const R: usize>(&self, o: usize, x: &[f32], y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.block.is_multiple_of(8) && crate::isa::avx2() {
            // Safety: the CPU has AVX2 and FMA (checked above).
            return unsafe { self.rows_dot_avx2::<R>(o, x, y) };
        }
        for (r, y) in y.iter_mut().take(R).enumerate() {
            *y = self.row_dot_scalar(o + r, x, 0);
        }
    }

    /// Row `o` of `W` times `x`, from block `first` on.
    fn row_dot_scalar(&self, o: usize, x: &[f32], first: usize) -> f32 {
        let blocks = self.blocks();
        let q = &self.q[o * self.cols..][..self.cols];
        let mut total = 0f32;
        for (b, (qb, xb)) in q.chunks(self.block).zip(x.chunks(self.block)).enumerate().skip(first) {
            let zero = self.zero[o * blocks + b];
            let sum: f32 = qb.iter().zip(xb).map(|(&q, &x)| (i32::from(q) - zero) as f32 * x).sum();
            total += sum * self.scale[o * blocks + b];
        }
        total
    }

    /// [`Q8Linear::rows_dot`]: each 8 inputs are loaded once for the `R` rows.
    ///
    /// # Panics
    /// When `x` is shorter than a row or rows `o..o + R` do not exist.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::needless_range_loop)]
    fn rows_dot_avx2<const R: usize>(&self, o: usize, x: &[f32], y: &mut [f32]) {
        // The loads below read `x[..cols]` and rows `o..o + R` of `q` unchecked.
        assert!(x.len() >= self.cols && (o + R) * self.cols <= self.q.len() && y.len() >= R);
        let blocks = self.blocks();
        let whole = self.cols / self.block;
        let mut total = [_mm256_setzero_ps(); R];
        for b in 0..whole {
            let start = b * self.block;
            let mut zero = [_mm256_setzero_si256(); R];
            for r in 0..R {
                zero[r] = _mm256_set1_epi32(self.zero[(o + r) * blocks + b]);
            }
            let mut acc = [_mm256_setzero_ps(); R];
            for j in (start..start + self.block).step_by(8) {
                // SAFETY: j + 8 <= cols (whole blocks, a multiple of 8 long) <= x.len(), and
                // row o + r < o + R lies inside `q` (both asserted above).
                unsafe {
                    let xv = _mm256_loadu_ps(x.as_ptr().add(j));
                    for r in 0..R {
                        let q = self.q.as_ptr().add((o + r) * self.cols + j);
                        let qv = _mm256_cvtepi8_epi32(_mm_loadl_epi64(q.cast()));
                        let w = _mm256_cvtepi32_ps(_mm256_sub_epi32(qv, zero[r]));
                        acc[r] = _mm256_fmadd_ps(w, xv, acc[r]);
                    }
                }
            }
            for r in 0..R {
                let scale = _mm256_set1_ps(self.scale[(o + r) * blocks + b]);
                total[r] = _mm256_fmadd_ps(acc[r], scale, total[r]);
            }
        }
        for r in 0..R {
            let mut lanes = [0f32; 8];
            // Safety: 8 floats into an 8-float array.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), total[r]) };
            // A short last block (cols not a multiple of block) in scalar code.
            y[r] = lanes.iter().sum::<f32>() + self.row_dot_scalar(o + r, x, whole);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::{assert_close_values, ramp};

    /// Pseudo-random int8 values covering the whole range.
    fn int8s(n: usize, seed: u32) -> Vec<i8> {
        (0..n as u32).map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8 as i8).collect()
    }

    #[test]
    fn matches_the_dequantized_matrix_product() {
        crate::isa::for_each_path(|_| {
            // Blocks of 64 (the AVX2 path), 24 (AVX2, a trailing 8), 9 (scalar); whole and short
            // last blocks; one and several inputs; an input affine per group of inputs.
            for (n, rows, cols, block, group) in
                [(1, 5, 256usize, 64usize, 64usize), (3, 7, 200, 64, 8), (2, 4, 96, 24, 24), (1, 3, 50, 9, 5)]
            {
                let blocks = cols.div_ceil(block);
                let zero = int8s(rows * blocks, 7);
                let scale: Vec<f32> = ramp(rows * blocks, 3).iter().map(|s| s.abs() * 0.01 + 1e-3).collect();
                let (channels, what) = (cols / group, format!("n {n}, {rows} x {cols}, blocks of {block}"));
                let (a_scale, a_shift) = (ramp(channels, 8), ramp(channels, 9));
                let mut layer =
                    Q8Linear::new(rows, cols, block, int8s(rows * cols, 1), &zero, scale, ramp(rows, 4))
                        .with_input_affine(a_scale.clone(), a_shift.clone(), group);
                let x = ramp(n * cols, 2);
                let before = layer.forward(&x, n);
                let (factor, shift) = (ramp(rows, 5), ramp(rows, 6));
                layer.scale_rows(&factor, &shift);
                let rescaled: Vec<f32> =
                    before.iter().enumerate().map(|(j, y)| y * factor[j % rows] + shift[j % rows]).collect();
                let w = layer.dequantized();
                let mapped: Vec<f64> = x
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        v as f64 * a_scale[(i % cols) / group] as f64 + a_shift[(i % cols) / group] as f64
                    })
                    .collect();
                let mut want = vec![0f32; n * rows];
                for s in 0..n {
                    for o in 0..rows {
                        let dot: f64 = (0..cols).map(|i| w[o * cols + i] as f64 * mapped[s * cols + i]).sum();
                        want[s * rows + o] = dot as f32 + layer.bias[o];
                    }
                }
                let got = layer.forward(&x, n);
                assert_close_values(&got, &want, &what);
                assert_close_values(&got, &rescaled, &format!("{what}, rows scaled after"));
                // The tensor form: the same on Flex, refused under autodiff.
                let t =
                    |device: &Device| Tensor::<2>::from_data(TensorData::new(x.clone(), [n, cols]), device);
                let y = layer.forward_tensor(&t(&Device::flex())).expect("an inference tensor");
                assert_eq!(y.into_data().try_into_vec::<f32>().unwrap(), got);
                assert!(
                    layer.forward_tensor(&t(&Device::flex().autodiff())).is_none(),
                    "autodiff falls back"
                );
            }
        });
    }

    #[test]
    fn dequantizes_as_onnx_does() {
        // (q - zero) * scale per block: rows [1, -2, 3 | 4] zero [1 | -1] scale [0.5 | 2].
        let layer = Q8Linear::new(1, 4, 3, vec![1, -2, 3, 4], &[1, -1], vec![0.5, 2.0], vec![0.0]);
        assert_eq!(layer.dequantized(), vec![0.0, -1.5, 1.0, 10.0]);
    }
}
