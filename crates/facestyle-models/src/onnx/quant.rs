//! `DequantizeLinear` (opsets 10 to 21): per-tensor, per-axis and blocked.

use super::error::{OnnxError, Result, blocked_scale_dims};
use super::tensor::{Tensor, TensorValues};

/// Quantized values widened to f32, as the ONNX reference does (`x.astype(float32)`).
fn widen(t: &Tensor) -> Result<Vec<f32>> {
    Ok(match &t.values {
        TensorValues::I8(v) => v.iter().map(|&x| f32::from(x)).collect(),
        TensorValues::U8(v) => v.iter().map(|&x| f32::from(x)).collect(),
        TensorValues::I32(v) => v.iter().map(|&x| x as f32).collect(),
        other => {
            return Err(OnnxError::InputType {
                role: "input",
                name: t.name.clone(),
                got: other.type_name(),
                expected: "int8, uint8 or int32",
            });
        }
    })
}

/// `y = (x - x_zero_point) * x_scale`, with the scale (and zero point) broadcast per tensor
/// (one value), per axis (1-D, `x.dims[axis]` values, `block_size == 0`) or per block
/// (same rank as `x`, `ceil(x.dims[axis] / block_size)` along `axis`).
pub(crate) fn dequantize_linear(
    x: &Tensor,
    scale: &Tensor,
    zero_point: Option<&Tensor>,
    axis: i64,
    block_size: i64,
) -> Result<Tensor> {
    let xs = widen(x)?;
    let scales = scale.as_f32().ok_or_else(|| OnnxError::InputType {
        role: "scale",
        name: scale.name.clone(),
        got: scale.values.type_name(),
        expected: "float",
    })?;
    let zero_points = match zero_point {
        None => None,
        Some(zp) => {
            if std::mem::discriminant(&zp.values) != std::mem::discriminant(&x.values) {
                return Err(OnnxError::ZeroPointType {
                    zero_point: zp.name.clone(),
                    zp_type: zp.values.type_name(),
                    x: x.name.clone(),
                    x_type: x.values.type_name(),
                });
            }
            if zp.numel() != scale.numel() {
                return Err(OnnxError::ZeroPointShape {
                    zero_point: zp.name.clone(),
                    zp_dims: zp.dims.clone(),
                    scale: scale.name.clone(),
                    scale_dims: scale.dims.clone(),
                });
            }
            Some(widen(zp)?)
        }
    };
    if block_size < 0 {
        return Err(OnnxError::NegativeBlockSize(block_size));
    }
    let rank = x.dims.len();
    let per_tensor = scale.dims.is_empty() || (scale.numel() == 1 && block_size == 0);
    // Maps an element index of x to an index in scale / zero point.
    let index: Box<dyn Fn(usize) -> usize> = if per_tensor {
        if scale.numel() != 1 {
            return Err(OnnxError::ScalarScale { name: scale.name.clone(), count: scale.numel() });
        }
        Box::new(|_| 0)
    } else {
        let a = if axis < 0 { axis + rank as i64 } else { axis };
        let a = usize::try_from(a).ok().filter(|&a| a < rank).ok_or_else(|| OnnxError::Axis {
            axis,
            x: x.name.clone(),
            dims: x.dims.clone(),
        })?;
        let len = x.dims[a];
        let inner: usize = x.dims[a + 1..].iter().product();
        if block_size == 0 {
            if scale.dims != [len] {
                return Err(OnnxError::PerAxisScale {
                    scale: scale.name.clone(),
                    got: scale.dims.clone(),
                    len,
                    axis: a,
                    x: x.name.clone(),
                    dims: x.dims.clone(),
                });
            }
            Box::new(move |i| (i / inner) % len)
        } else {
            let bs = block_size as usize;
            let blocks = len.div_ceil(bs);
            if scale.dims != blocked_scale_dims(&x.dims, a, bs) {
                return Err(OnnxError::BlockedScale {
                    scale: scale.name.clone(),
                    got: scale.dims.clone(),
                    x: x.name.clone(),
                    dims: x.dims.clone(),
                    axis: a,
                    block_size: bs,
                });
            }
            Box::new(move |i| {
                let outer = i / (inner * len);
                let along = (i / inner) % len;
                let within = i % inner;
                (outer * blocks + along / bs) * inner + within
            })
        }
    };
    let values = xs
        .iter()
        .enumerate()
        .map(|(i, &q)| {
            let j = index(i);
            let zp = zero_points.as_ref().map_or(0.0, |z| z[j]);
            (q - zp) * scales[j]
        })
        .collect();
    Ok(Tensor { name: String::new(), dims: x.dims.clone(), values: TensorValues::F32(values) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(dims: &[usize], values: TensorValues) -> Tensor {
        Tensor { name: "t".into(), dims: dims.to_vec(), values }
    }

    fn f32s(dims: &[usize], v: &[f32]) -> Tensor {
        t(dims, TensorValues::F32(v.to_vec()))
    }

    fn i8s(dims: &[usize], v: &[i8]) -> Tensor {
        t(dims, TensorValues::I8(v.to_vec()))
    }

    fn out(r: Result<Tensor>) -> Vec<f32> {
        r.unwrap().as_f32().unwrap().to_vec()
    }

    #[test]
    fn per_tensor() {
        let x = i8s(&[2, 2], &[-128, -1, 0, 127]);
        let y = out(dequantize_linear(&x, &f32s(&[], &[0.5]), Some(&i8s(&[], &[1])), 1, 0));
        assert_eq!(y, vec![-64.5, -1.0, -0.5, 63.0]);
        // A 1-element 1-D scale without block_size is per-tensor too.
        let y = out(dequantize_linear(&x, &f32s(&[1], &[2.0]), None, 1, 0));
        assert_eq!(y, vec![-256.0, -2.0, 0.0, 254.0]);
        let u = t(&[2], TensorValues::U8(vec![0, 255]));
        let y =
            out(dequantize_linear(&u, &f32s(&[], &[0.1]), Some(&t(&[], TensorValues::U8(vec![128]))), 1, 0));
        assert_eq!(y, vec![-128.0 * 0.1, 127.0 * 0.1]);
        let i = t(&[2], TensorValues::I32(vec![-1000, 1000]));
        assert_eq!(out(dequantize_linear(&i, &f32s(&[], &[0.25]), None, 0, 0)), vec![-250.0, 250.0]);
    }

    #[test]
    fn per_axis() {
        // x [2, 3], axis 1: scales per column; axis 0 (or -2): per row.
        let x = i8s(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let s = f32s(&[3], &[1.0, 10.0, 100.0]);
        let zp = i8s(&[3], &[0, 1, 2]);
        let y = out(dequantize_linear(&x, &s, Some(&zp), 1, 0));
        assert_eq!(y, vec![1.0, 10.0, 100.0, 4.0, 40.0, 400.0]);
        let s = f32s(&[2], &[1.0, -1.0]);
        let y0 = out(dequantize_linear(&x, &s, None, 0, 0));
        assert_eq!(y0, vec![1.0, 2.0, 3.0, -4.0, -5.0, -6.0]);
        assert_eq!(out(dequantize_linear(&x, &s, None, -2, 0)), y0);
    }

    #[test]
    fn blocked() {
        // x [2, 5], axis 1, block_size 2 -> scale [2, 3] (blocks {0,1}, {2,3}, {4}).
        let x = i8s(&[2, 5], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let s = f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let zp = i8s(&[2, 3], &[0, 1, 0, 0, 0, 10]);
        let y = out(dequantize_linear(&x, &s, Some(&zp), 1, 2));
        // row 0: (1-0)*1 (2-0)*1 (3-1)*2 (4-1)*2 (5-0)*3
        // row 1: (6-0)*4 (7-0)*4 (8-0)*5 (9-0)*5 (10-10)*6
        assert_eq!(y, vec![1.0, 2.0, 4.0, 6.0, 15.0, 24.0, 28.0, 40.0, 45.0, 0.0]);

        // Blocks along axis 0 of a [4, 2] tensor, block_size 3 -> scale [2, 2].
        let x = i8s(&[4, 2], &[1, 1, 1, 1, 1, 1, 1, 1]);
        let s = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let y = out(dequantize_linear(&x, &s, None, 0, 3));
        assert_eq!(y, vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 3.0, 4.0]);

        // 3-D, middle axis: x [2, 4, 2], block 2 -> scale [2, 2, 2].
        let x = i8s(&[2, 4, 2], &[1; 16]);
        let s = f32s(&[2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let y = out(dequantize_linear(&x, &s, None, 1, 2));
        assert_eq!(y, vec![1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 5.0, 6.0, 5.0, 6.0, 7.0, 8.0, 7.0, 8.0]);

        // YuNet's bias layout: x [64], scale [1], axis 0, block_size 64.
        let x = i8s(&[64], &[2; 64]);
        let y = out(dequantize_linear(&x, &f32s(&[1], &[0.5]), Some(&i8s(&[1], &[1])), 0, 64));
        assert_eq!(y, vec![0.5; 64]);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let x = i8s(&[2, 5], &[0; 10]);
        let cases = [
            (dequantize_linear(&x, &f32s(&[2, 2], &[1.0; 4]), None, 1, 2), "expected [2, 3]"),
            (dequantize_linear(&x, &f32s(&[2], &[1.0; 2]), None, 1, 0), "expected [5]"),
            (dequantize_linear(&x, &f32s(&[5], &[1.0; 5]), None, 2, 0), "axis 2 out of range"),
            (dequantize_linear(&x, &f32s(&[5], &[1.0; 5]), Some(&i8s(&[4], &[0; 4])), 1, 0), "zero point"),
            (
                dequantize_linear(
                    &x,
                    &f32s(&[5], &[1.0; 5]),
                    Some(&t(&[5], TensorValues::U8(vec![0; 5]))),
                    1,
                    0,
                ),
                "zero point 't' is u8",
            ),
            (dequantize_linear(&x, &i8s(&[], &[1]), None, 1, 0), "expected float"),
            (dequantize_linear(&f32s(&[1], &[1.0]), &f32s(&[], &[1.0]), None, 1, 0), "expected int8"),
            (dequantize_linear(&x, &f32s(&[], &[1.0]), None, 1, -1), "negative block_size"),
        ];
        for (result, expected) in cases {
            let err = result.unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
