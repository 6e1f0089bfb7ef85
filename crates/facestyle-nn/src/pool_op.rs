//! 2x2 max pooling with stride 2 (floor: an odd last row or column is dropped), for inference
//! on the Flex CPU backend without autodiff: a burn backend extension, one pass per plane.
//! Everywhere else (autodiff, other devices) burn's own `max_pool2d`. YuNet pools four times
//! per image; burn-flex's general pooling spent about 8% of detection time on index arithmetic.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

use crate::flex_slices::{contiguous, f32s, inference_f32, tensor};
use crate::gemm_conv::{Out, per_thread_for};

#[backend_extension(Flex)]
pub trait MaxPool2x2Backend: Backend {
    /// `[n, c, h, w]` -> `[n, c, h / 2, w / 2]`, the maximum of each 2x2 block.
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The kernel on NCHW values: `planes` planes of `h x w`.
pub fn max_pool2x2_planes(x: &[f32], planes: usize, h: usize, w: usize) -> Vec<f32> {
    assert_eq!(x.len(), planes * h * w, "input size");
    let (oh, ow) = (h / 2, w / 2);
    let mut y = vec![0f32; planes * oh * ow];
    let out = Out(y.as_mut_ptr());
    per_thread_for(x.len(), planes, |range| {
        for p in range {
            // Safety: output plane p belongs to this thread alone.
            let yp = unsafe { std::slice::from_raw_parts_mut(out.at(p * oh * ow), oh * ow) };
            let xp = &x[p * h * w..][..h * w];
            for (oy, dst) in yp.chunks_exact_mut(ow.max(1)).enumerate() {
                let (r0, r1) = (&xp[2 * oy * w..][..2 * ow], &xp[(2 * oy + 1) * w..][..2 * ow]);
                for ((d, a), b) in dst.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
                    *d = a[0].max(a[1]).max(b[0].max(b[1]));
                }
            }
        }
    });
    y
}

impl MaxPool2x2Backend for Flex {
    fn max_pool2x2(x: FlexTensor) -> FlexTensor {
        let x = contiguous(x);
        let s = x.layout().shape();
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
        tensor(max_pool2x2_planes(f32s(&x), n * c, h, w), [n, c, h / 2, w / 2])
    }
}

/// `max_pool2d(x, 2x2, stride 2)`.
pub fn max_pool2x2(x: Tensor<4>) -> Tensor<4> {
    if inference_f32(&x) {
        Tensor::from_dispatch(<Dispatch as MaxPool2x2Backend>::max_pool2x2(x.into_dispatch()))
    } else {
        max_pool2d(x, MaxPoolOptions::new([2, 2]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values::{assert_close, ramp};
    use burn::tensor::TensorData;

    #[test]
    fn matches_burn_max_pool() {
        let device = Device::flex();
        for [n, c, h, w] in [[1, 3, 8, 8], [2, 2, 7, 9], [1, 1, 2, 2]] {
            let x = Tensor::<4>::from_data(TensorData::new(ramp(n * c * h * w, 1), [n, c, h, w]), &device);
            let expected = max_pool2d(x.clone(), MaxPoolOptions::new([2, 2]));
            assert_close(max_pool2x2(x), expected, &format!("{n}x{c}x{h}x{w}"));
        }
    }
}
