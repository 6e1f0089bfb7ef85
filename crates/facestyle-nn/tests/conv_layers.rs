//! The 1D/2D/3D convolution layers against the seed's shapes, a naive reference loop, and
//! finite-difference gradients.

use facestyle_nn::burn::prelude::*;
use facestyle_nn::conv::{channels_first_to_last, channels_last_to_first, conv1d, conv2d, conv3d};
use facestyle_nn::conv_ref::conv_nd_naive;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random_values(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 tensor")
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Runs the naive loop on every example of a batch: `[B, C, ..]` -> `[B, O, ..]`.
fn naive_batch(
    input: &[f64],
    input_shape: &[usize],
    weight: &[f64],
    weight_shape: &[usize],
    bias: &[f64],
    stride: usize,
    padding: usize,
) -> (Vec<f64>, Vec<usize>) {
    let batch = input_shape[0];
    let per_example: usize = input_shape[1..].iter().product();
    let mut out = Vec::new();
    let mut shape = Vec::new();
    for b in 0..batch {
        let (o, s) = conv_nd_naive(
            &input[b * per_example..(b + 1) * per_example],
            &input_shape[1..],
            weight,
            weight_shape,
            Some(bias),
            stride,
            padding,
        );
        out.extend(o);
        shape = s;
    }
    shape.insert(0, batch);
    (out, shape)
}

/// One layer under test, reduced to what the checks need.
struct Case<const D: usize> {
    input_shape: [usize; D],
    weight: Tensor<D>,
    bias: Tensor<1>,
    stride: usize,
    padding: usize,
}

/// Forward agreement with the naive loop (random input, the layer's own random weights).
fn check_forward<const D: usize>(case: &Case<D>, forward: impl Fn(Tensor<D>) -> Tensor<D>, seed: u64) {
    let device = Device::flex();
    let mut rng = StdRng::seed_from_u64(seed);
    let n: usize = case.input_shape.iter().product();
    let x = random_values(&mut rng, n);
    let out = forward(tensor(x.clone(), case.input_shape, &device));
    let out_shape = out.dims().to_vec();
    let got = values(out);
    let weight_shape = case.weight.dims().to_vec();
    let (expected, expected_shape) = naive_batch(
        &to_f64(&x),
        &case.input_shape,
        &to_f64(&values(case.weight.clone())),
        &weight_shape,
        &to_f64(&values(case.bias.clone())),
        case.stride,
        case.padding,
    );
    assert_eq!(out_shape, expected_shape);
    let worst = got.iter().zip(&expected).map(|(&g, &e)| (g as f64 - e).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-4, "max |burn - naive| = {worst:e}");
}

/// Gradients of `L = sum(conv(x) * R)` from autodiff against central finite differences of the
/// naive loop, for a sample of input, weight and bias entries.
fn check_gradients<const D: usize>(
    case: &Case<D>,
    forward: impl Fn(Tensor<D>) -> Tensor<D>,
    weight_grad: impl Fn(&burn::tensor::Gradients) -> Tensor<D>,
    bias_grad: impl Fn(&burn::tensor::Gradients) -> Tensor<1>,
    seed: u64,
) {
    let device = Device::flex().autodiff();
    let mut rng = StdRng::seed_from_u64(seed);
    let n: usize = case.input_shape.iter().product();
    let x = random_values(&mut rng, n);
    let x_t = tensor(x.clone(), case.input_shape, &device).require_grad();
    let out = forward(x_t.clone());
    let out_dims = out.dims();
    let r = random_values(&mut rng, out_dims.iter().product());
    let loss = (out * tensor(r.clone(), out_dims, &device)).sum();
    let grads = loss.backward();
    let gx = values(x_t.grad(&grads).expect("input gradient"));
    let gw = values(weight_grad(&grads));
    let gb = values(bias_grad(&grads));

    let w = to_f64(&values(case.weight.clone().inner()));
    let b = to_f64(&values(case.bias.clone().inner()));
    let weight_shape = case.weight.dims().to_vec();
    let r = to_f64(&r);
    let loss_ref = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
        let (o, _) = naive_batch(x, &case.input_shape, w, &weight_shape, b, case.stride, case.padding);
        o.iter().zip(&r).map(|(a, b)| a * b).sum()
    };
    let h = 1e-3;
    let x64 = to_f64(&x);
    let mut probe = |which: &str, analytic: &[f32], base: &[f64], eval: &dyn Fn(&[f64]) -> f64| {
        for _ in 0..12 {
            let i = rng.random_range(0..base.len());
            let mut plus = base.to_vec();
            plus[i] += h;
            let mut minus = base.to_vec();
            minus[i] -= h;
            let numeric = (eval(&plus) - eval(&minus)) / (2.0 * h);
            let err = (analytic[i] as f64 - numeric).abs();
            assert!(
                err < 1e-3 * (1.0 + numeric.abs()),
                "d L / d {which}[{i}]: autodiff {} vs finite difference {numeric}",
                analytic[i]
            );
        }
    };
    probe("input", &gx, &x64, &|x| loss_ref(x, &w, &b));
    probe("weight", &gw, &w, &|w| loss_ref(&x64, w, &b));
    probe("bias", &gb, &b, &|b| loss_ref(&x64, &w, b));
}

#[test]
fn seed_shape_1d_signal_14x1_with_16_filters_5x1_gives_10x16() {
    let device = Device::flex();
    let layer = conv1d(1, 16, 5, 1, 0, &device);
    let signal = Tensor::<3>::zeros([1, 14, 1], &device); // [batch, 14, 1] channels-last
    let out = channels_first_to_last(layer.forward(channels_last_to_first(signal)));
    assert_eq!(out.dims(), [1, 10, 16]);
    assert_eq!(layer.weight.dims(), [16, 1, 5]);
}

#[test]
fn seed_shape_2d_image_14x14x3_with_16_filters_5x5x3_gives_10x10x16() {
    let device = Device::flex();
    let layer = conv2d(3, 16, 5, 1, 0, &device);
    let image = Tensor::<4>::zeros([1, 14, 14, 3], &device);
    let out = channels_first_to_last(layer.forward(channels_last_to_first(image)));
    assert_eq!(out.dims(), [1, 10, 10, 16]);
    assert_eq!(layer.weight.dims(), [16, 3, 5, 5]);
}

#[test]
fn seed_shape_3d_volume_14x14x14x1_with_16_filters_5x5x5x1_gives_10x10x10x16() {
    let device = Device::flex();
    let layer = conv3d(1, 16, 5, 1, 0, &device);
    let volume = Tensor::<5>::zeros([1, 14, 14, 14, 1], &device);
    let out = channels_first_to_last(layer.forward(channels_last_to_first(volume)));
    assert_eq!(out.dims(), [1, 10, 10, 10, 16]);
    assert_eq!(layer.weight.dims(), [16, 1, 5, 5, 5]);
}

#[test]
fn channels_last_round_trip_keeps_values() {
    let device = Device::flex();
    let x = tensor((0..2 * 4 * 5 * 3).map(|v| v as f32).collect(), [2, 4, 5, 3], &device);
    let first = channels_last_to_first(x.clone());
    assert_eq!(first.dims(), [2, 3, 4, 5]);
    // Element [b=1, y=2, x=3, c=1] channels-last is [1, 1, 2, 3] channels-first.
    let v = values(first.clone().slice([1..2, 1..2, 2..3, 3..4]));
    assert_eq!(v, vec![(((4 + 2) * 5 + 3) * 3 + 1) as f32]);
    assert_eq!(values(channels_first_to_last(first)), values(x));
}

#[test]
fn conv1d_matches_naive_loop() {
    for (i, (stride, padding)) in [(1, 0), (2, 1), (3, 2)].into_iter().enumerate() {
        let layer = conv1d(3, 4, 5, stride, padding, &Device::flex());
        let case = Case {
            input_shape: [2, 3, 14],
            weight: layer.weight.val(),
            bias: layer.bias.as_ref().unwrap().val(),
            stride,
            padding,
        };
        check_forward(&case, |x| layer.forward(x), i as u64);
    }
}

#[test]
fn conv2d_matches_naive_loop() {
    for (i, (stride, padding)) in [(1, 0), (2, 1), (1, 2)].into_iter().enumerate() {
        let layer = conv2d(3, 4, 5, stride, padding, &Device::flex());
        let case = Case {
            input_shape: [2, 3, 14, 13],
            weight: layer.weight.val(),
            bias: layer.bias.as_ref().unwrap().val(),
            stride,
            padding,
        };
        check_forward(&case, |x| layer.forward(x), 10 + i as u64);
    }
}

#[test]
fn conv3d_matches_naive_loop() {
    for (i, (stride, padding)) in [(1, 0), (2, 1)].into_iter().enumerate() {
        let layer = conv3d(2, 3, 5, stride, padding, &Device::flex());
        let case = Case {
            input_shape: [2, 2, 14, 12, 10],
            weight: layer.weight.val(),
            bias: layer.bias.as_ref().unwrap().val(),
            stride,
            padding,
        };
        check_forward(&case, |x| layer.forward(x), 20 + i as u64);
    }
}

#[test]
fn conv1d_gradients_match_finite_differences() {
    let layer = conv1d(3, 4, 5, 2, 1, &Device::flex().autodiff());
    let case = Case {
        input_shape: [2, 3, 14],
        weight: layer.weight.val(),
        bias: layer.bias.as_ref().unwrap().val(),
        stride: 2,
        padding: 1,
    };
    check_gradients(
        &case,
        |x| layer.forward(x),
        |g| layer.weight.val().grad(g).expect("weight gradient"),
        |g| layer.bias.as_ref().unwrap().val().grad(g).expect("bias gradient"),
        31,
    );
}

#[test]
fn conv2d_gradients_match_finite_differences() {
    let layer = conv2d(3, 4, 3, 1, 1, &Device::flex().autodiff());
    let case = Case {
        input_shape: [2, 3, 9, 8],
        weight: layer.weight.val(),
        bias: layer.bias.as_ref().unwrap().val(),
        stride: 1,
        padding: 1,
    };
    check_gradients(
        &case,
        |x| layer.forward(x),
        |g| layer.weight.val().grad(g).expect("weight gradient"),
        |g| layer.bias.as_ref().unwrap().val().grad(g).expect("bias gradient"),
        32,
    );
}

#[test]
fn conv3d_gradients_match_finite_differences() {
    let layer = conv3d(1, 3, 3, 2, 1, &Device::flex().autodiff());
    let case = Case {
        input_shape: [1, 1, 7, 8, 6],
        weight: layer.weight.val(),
        bias: layer.bias.as_ref().unwrap().val(),
        stride: 2,
        padding: 1,
    };
    check_gradients(
        &case,
        |x| layer.forward(x),
        |g| layer.weight.val().grad(g).expect("weight gradient"),
        |g| layer.bias.as_ref().unwrap().val().grad(g).expect("bias gradient"),
        33,
    );
}
