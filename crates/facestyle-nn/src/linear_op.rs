//! A linear layer for a few input rows (inference, plain Flex CPU backend): `y = x W + b` with
//! `W` `[in, out]`, read once, row by row, each thread summing its share of the input rows
//! into its own partial `[n, out]`, added at the end. Everywhere else (autodiff, other
//! devices, larger batches) burn's `Linear`.
//!
//! Why: SFace ends in a 50176 -> 128 layer (25 MB of weights) applied to one face at a time;
//! a general matrix product packs those weights on every call.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::nn::Linear;
use burn::prelude::*;

use crate::flex_slices::{bias_or_zeros, contiguous, f32s, inference_f32, tensor};
use crate::gemm_conv::per_thread_for;

/// Largest batch taken by the row-by-row path.
const MAX_ROWS: usize = 16;

#[backend_extension(Flex)]
pub trait FewRowsLinearBackend: Backend {
    /// `x` `[n, in]`, `weight` `[in, out]`, `bias` `[out]` -> `[n, out]`.
    fn few_rows_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

#[inline(always)]
fn axpy_body<const FMA: bool>(acc: &mut [f32], a: f32, row: &[f32]) {
    for (y, &w) in acc.iter_mut().zip(row) {
        *y = if FMA { a.mul_add(w, *y) } else { *y + a * w };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn rows_avx2(x: &[f32], inp: usize, w: &[f32], out: usize, rows: std::ops::Range<usize>, acc: &mut [f32]) {
    rows_body::<true>(x, inp, w, out, rows, acc)
}

/// `acc[s] += sum over input rows i of x[s, i] * w[i]`.
#[inline(always)]
fn rows_body<const FMA: bool>(
    x: &[f32],
    inp: usize,
    w: &[f32],
    out: usize,
    rows: std::ops::Range<usize>,
    acc: &mut [f32],
) {
    for i in rows {
        let wi = &w[i * out..][..out];
        for (s, a) in acc.chunks_exact_mut(out).enumerate() {
            axpy_body::<FMA>(a, x[s * inp + i], wi);
        }
    }
}

/// `x` `[n, inp]` times `w` `[inp, out]` plus `b`.
pub fn few_rows(x: &[f32], n: usize, inp: usize, w: &[f32], out: usize, b: &[f32]) -> Vec<f32> {
    assert_eq!(x.len(), n * inp, "input size");
    assert_eq!(w.len(), inp * out, "weight size");
    assert_eq!(b.len(), out, "bias size");
    // Chunks of input rows: several per thread, so an uneven thread still gets its share.
    let partials = per_thread_for(n * inp * out, inp.div_ceil(256), |chunks| {
        let rows = (chunks.start * 256).min(inp)..(chunks.end * 256).min(inp);
        let mut acc = vec![0f32; n * out];
        #[cfg(target_arch = "x86_64")]
        if crate::isa::avx2() {
            // Safety: the CPU has AVX2 and FMA (checked above).
            unsafe { rows_avx2(x, inp, w, out, rows, &mut acc) };
            return acc;
        }
        rows_body::<false>(x, inp, w, out, rows, &mut acc);
        acc
    });
    let mut y: Vec<f32> = (0..n).flat_map(|_| b.iter().copied()).collect();
    for p in partials {
        for (v, q) in y.iter_mut().zip(p) {
            *v += q;
        }
    }
    y
}

impl FewRowsLinearBackend for Flex {
    fn few_rows_linear(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
        let (n, inp) = (x.layout().shape()[0], x.layout().shape()[1]);
        let out = weight.layout().shape()[1];
        tensor(few_rows(f32s(&x), n, inp, f32s(&weight), out, f32s(&bias)), [n, out])
    }
}

/// [`Linear::forward`] for `[n, in]` inputs.
pub fn forward(linear: &Linear, x: Tensor<2>) -> Tensor<2> {
    if !inference_f32(&x) || x.dims()[0] > MAX_ROWS {
        return linear.forward(x);
    }
    let out = linear.weight.dims()[1];
    let bias = bias_or_zeros(&linear.bias, out, &x.device());
    Tensor::from_dispatch(<Dispatch as FewRowsLinearBackend>::few_rows_linear(
        x.into_dispatch(),
        linear.weight.val().into_dispatch(),
        bias.into_dispatch(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pretrained::linear_from;
    use crate::test_values::{assert_close, ramp};
    use burn::tensor::TensorData;

    #[test]
    fn matches_burn_linear() {
        crate::isa::for_each_path(|_| {
            let device = Device::flex();
            for (n, inp, out) in [(1, 1000, 7), (3, 300, 128), (17, 20, 5)] {
                let linear = linear_from(&ramp(out * inp, 2), out, inp, &ramp(out, 3), &device);
                let x = Tensor::<2>::from_data(TensorData::new(ramp(n * inp, 1), [n, inp]), &device);
                assert_close(forward(&linear, x.clone()), linear.forward(x), &format!("{n}x{inp}x{out}"));
            }
        });
    }
}
