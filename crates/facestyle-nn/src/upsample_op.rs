//! `up2(small) + big`: nearest-neighbour x2 upsampling of `small` added to `big`, the top-down
//! step of a feature pyramid (YuNet's), in one pass for inference on the Flex CPU backend
//! without autodiff (a burn backend extension). Everywhere else burn's `interpolate` and an
//! addition. burn-flex's nearest interpolation plus the addition took 0.08 ms of a 250x250
//! detection (two levels); this pass writes each output value once.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::flex_slices::{contiguous, f32s, inference_f32, tensor};

#[backend_extension(Flex)]
pub trait Upsample2xAddBackend: Backend {
    /// `small` `[n, c, h, w]`, `big` `[n, c, 2h, 2w]` -> `[n, c, 2h, 2w]`.
    fn upsample2x_add(small: FloatTensor<Self>, big: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The kernel on NCHW values: `planes` planes of `h x w` (`small`) and `2h x 2w` (`big`).
pub fn upsample2x_add_planes(small: &[f32], big: &[f32], planes: usize, h: usize, w: usize) -> Vec<f32> {
    assert_eq!(small.len(), planes * h * w, "small input size");
    assert_eq!(big.len(), planes * 4 * h * w, "big input size");
    if w == 0 {
        return big.to_vec();
    }
    let mut y = vec![0f32; big.len()];
    // Output row r reads big's row r and small's row r / 2.
    let rows = y.chunks_exact_mut(2 * w).zip(big.chunks_exact(2 * w));
    for ((out, b), s) in rows.zip(small.chunks_exact(w).flat_map(|r| [r, r])) {
        for ((o, b), &v) in out.chunks_exact_mut(2).zip(b.chunks_exact(2)).zip(s) {
            o[0] = b[0] + v;
            o[1] = b[1] + v;
        }
    }
    y
}

impl Upsample2xAddBackend for Flex {
    fn upsample2x_add(small: FlexTensor, big: FlexTensor) -> FlexTensor {
        let (small, big) = (contiguous(small), contiguous(big));
        let s = small.layout().shape();
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        let b = big.layout().shape();
        assert_eq!([b[0], b[1], b[2], b[3]], [n, c, 2 * h, 2 * w], "upsample2x_add: big is twice small");
        tensor(upsample2x_add_planes(f32s(&small), f32s(&big), n * c, h, w), [n, c, 2 * h, 2 * w])
    }
}

/// `interpolate(small, nearest, 2x) + big`.
///
/// # Panics
/// When `big` is not `[n, c, 2h, 2w]` for `small` `[n, c, h, w]`.
pub fn upsample2x_add(small: Tensor<4>, big: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = small.dims();
    assert_eq!(big.dims(), [n, c, 2 * h, 2 * w], "upsample2x_add: big is twice small");
    if inference_f32(&small) && inference_f32(&big) {
        let (s, b) = (small.into_dispatch(), big.into_dispatch());
        Tensor::from_dispatch(<Dispatch as Upsample2xAddBackend>::upsample2x_add(s, b))
    } else {
        let options = InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]);
        interpolate(small, options) + big
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::{assert_close, ramp};
    use burn::tensor::TensorData;

    #[test]
    fn matches_burn_interpolate_plus_add() {
        let device = Device::flex();
        for [n, c, h, w] in [[1, 3, 4, 4], [2, 2, 3, 5], [1, 1, 1, 1]] {
            let small =
                Tensor::<4>::from_data(TensorData::new(ramp(n * c * h * w, 1), [n, c, h, w]), &device);
            let big = Tensor::<4>::from_data(
                TensorData::new(ramp(n * c * 4 * h * w, 2), [n, c, 2 * h, 2 * w]),
                &device,
            );
            let options = InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]);
            let expected = interpolate(small.clone(), options) + big.clone();
            assert_close(upsample2x_add(small, big), expected, &format!("{n}x{c}x{h}x{w}"));
        }
    }
}
