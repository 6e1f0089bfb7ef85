//! A deliberately naive convolution, written as the textbook loop, used as the ground truth
//! that the burn layers are tested against. One function serves 1D, 2D and 3D.
//!
//! Layout is channels-first for one example: input `[C, n1, .., nd]`, weight
//! `[O, C, f, .., f]`, output `[O, m1, .., md]` with `m = (n + 2p - f) / s + 1`.
//! Computed in f64 so it can also serve finite-difference gradient checks.

/// `out[o, y] = bias[o] + sum_c sum_k in[c, y*s + k - p] * w[o, c, k]` (zero outside the input).
pub fn conv_nd_naive(
    input: &[f64],
    input_shape: &[usize],
    weight: &[f64],
    weight_shape: &[usize],
    bias: Option<&[f64]>,
    stride: usize,
    padding: usize,
) -> (Vec<f64>, Vec<usize>) {
    let d = input_shape.len() - 1;
    assert_eq!(weight_shape.len(), d + 2, "weight rank must be spatial rank + 2");
    let (c_in, n) = (input_shape[0], &input_shape[1..]);
    let (c_out, k) = (weight_shape[0], &weight_shape[2..]);
    assert_eq!(weight_shape[1], c_in, "weight input channels must match the input");
    let m: Vec<usize> = (0..d).map(|i| (n[i] + 2 * padding - k[i]) / stride + 1).collect();

    let out_spatial: usize = m.iter().product();
    let kernel_spatial: usize = k.iter().product();
    let in_spatial: usize = n.iter().product();
    let mut out = vec![0.0; c_out * out_spatial];
    let mut y = vec![0usize; d];
    let mut kk = vec![0usize; d];
    for o in 0..c_out {
        for (oy, out_value) in out[o * out_spatial..(o + 1) * out_spatial].iter_mut().enumerate() {
            unravel(oy, &m, &mut y);
            let mut acc = bias.map_or(0.0, |b| b[o]);
            for c in 0..c_in {
                for ki in 0..kernel_spatial {
                    unravel(ki, k, &mut kk);
                    // Input position on every axis; skip the tap when it lands in the padding.
                    let mut flat = 0usize;
                    let mut inside = true;
                    for axis in 0..d {
                        let pos = (y[axis] * stride + kk[axis]) as isize - padding as isize;
                        if pos < 0 || pos >= n[axis] as isize {
                            inside = false;
                            break;
                        }
                        flat = flat * n[axis] + pos as usize;
                    }
                    if inside {
                        acc += input[c * in_spatial + flat] * weight[(o * c_in + c) * kernel_spatial + ki];
                    }
                }
            }
            *out_value = acc;
        }
    }
    let mut shape = vec![c_out];
    shape.extend(m);
    (out, shape)
}

/// Row-major multi-index of `flat` in `dims`.
fn unravel(mut flat: usize, dims: &[usize], index: &mut [usize]) {
    for axis in (0..dims.len()).rev() {
        index[axis] = flat % dims[axis];
        flat /= dims[axis];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_1d() {
        // [1 2 3 4] * [1 0 -1] -> [1-3, 2-4] = [-2, -2], plus bias 0.5.
        let (out, shape) =
            conv_nd_naive(&[1., 2., 3., 4.], &[1, 4], &[1., 0., -1.], &[1, 1, 3], Some(&[0.5]), 1, 0);
        assert_eq!(shape, vec![1, 2]);
        assert_eq!(out, vec![-1.5, -1.5]);
        // Padding 1, stride 2: positions -1..1, 1..3 -> [0*1+1*0+2*-1, 2*1+3*0+4*-1] = [-2, -2].
        let (out, shape) = conv_nd_naive(&[1., 2., 3., 4.], &[1, 4], &[1., 0., -1.], &[1, 1, 3], None, 2, 1);
        assert_eq!(shape, vec![1, 2]);
        assert_eq!(out, vec![-2.0, -2.0]);
    }

    #[test]
    fn hand_computed_2d_vertical_edge() {
        // The course's vertical edge detector on a 6x6 image, bright left half -> 4x4 of
        // [0, 30, 30, 0] rows.
        let mut image = vec![0.0; 36];
        for r in 0..6 {
            for c in 0..3 {
                image[r * 6 + c] = 10.0;
            }
        }
        let filter = [1., 0., -1., 1., 0., -1., 1., 0., -1.];
        let (out, shape) = conv_nd_naive(&image, &[1, 6, 6], &filter, &[1, 1, 3, 3], None, 1, 0);
        assert_eq!(shape, vec![1, 4, 4]);
        for r in 0..4 {
            assert_eq!(&out[r * 4..r * 4 + 4], &[0.0, 30.0, 30.0, 0.0]);
        }
    }
}
