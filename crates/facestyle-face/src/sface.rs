//! SFace (face_recognition_sface_2021dec) as a burn network: 112x112 RGB (0-255) in, a 128-d
//! embedding out.
//!
//! A MobileNet-style stack: a 3x3 convolution, then 13 depthwise 3x3 + pointwise 1x1 pairs
//! (stride 2 at pairs 3, 5, 7 and 13, so 112 -> 7), each convolution followed by batch norm
//! and PReLU; then batch norm, flatten (1024 x 7 x 7), a fully connected layer to 128 and a
//! last batch norm. Every batch norm is folded at load time into the layer before it (for the
//! `bn1` before the flatten: into the fully connected layer), so the network is convolutions,
//! PReLUs and one linear layer, all trainable.

use std::sync::Arc;

use burn::module::Param;
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use facestyle_nn::conv_act_op::{self, Act};
use facestyle_nn::patch_conv::PatchConv;
use facestyle_nn::pretrained::{
    ConvGeometry, batch_norm_affine, conv2d_from, fold_affine_into_conv, linear_from, tensor,
};
use facestyle_nn::q8_linear::Q8Linear;

use crate::error::Result;
use crate::onnx_layers::{ConvRecord, OnnxLayers};

/// Embedding size.
pub const DIM: usize = 128;
/// Input side in pixels.
pub const INPUT: usize = 112;

/// Convolution (batch norm folded in) followed by PReLU.
#[derive(Module, Debug)]
pub struct ConvPrelu {
    conv: Conv2d,
    slope: Param<Tensor<1>>,
}

/// The next convolution with the batch norm that follows it folded in, and its PReLU slopes.
fn load_folded(
    layers: &mut OnnxLayers,
    cout: usize,
    cin: usize,
    k: usize,
    g: ConvGeometry,
) -> Result<(ConvRecord, Vec<f32>)> {
    let mut c = layers.next_conv(cout, cin, k, g)?;
    let bn = layers.next_bn(cout)?;
    let slope = layers.next_prelu(cout)?;
    let (scale, shift) = batch_norm_affine(&bn.gamma, &bn.beta, &bn.mean, &bn.var, bn.eps);
    fold_affine_into_conv(&mut c.weight, &mut c.bias, &scale, &shift);
    Ok((c, slope))
}

impl ConvPrelu {
    fn load(
        layers: &mut OnnxLayers,
        cout: usize,
        cin: usize,
        k: usize,
        g: ConvGeometry,
        device: &Device,
    ) -> Result<Self> {
        let (c, slope) = load_folded(layers, cout, cin, k, g)?;
        Ok(ConvPrelu {
            conv: conv2d_from(&c.weight, c.shape, Some(&c.bias), c.geometry, device),
            slope: Param::from_tensor(tensor(&slope, [cout], device)),
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_packed(x, None)
    }

    /// With the weights packed for inference (1x1 layers, see [`SFacePlan`]).
    fn forward_packed(&self, x: Tensor<4>, packed: Option<&Tensor<1>>) -> Tensor<4> {
        conv_act_op::forward_packed(&self.conv, packed, x, &Act::Prelu(&self.slope.val()))
    }
}

/// SFace's 1x1 weights packed once for the inference kernel (`conv_act_op::pack_pointwise`),
/// from the network's weights at the time [`SFace::plan`] is called: a plan belongs to a
/// network whose weights no longer change (the face engine builds one when it loads).
#[derive(Debug, Clone)]
pub struct SFacePlan {
    packed: Vec<Option<Tensor<1>>>,
    /// The last layer with int8 weights (see [`Int8Fc`]), when `fc` is still as loaded.
    fc: Option<Arc<Q8Linear>>,
}

impl SFacePlan {
    /// Whether the last layer runs with the model file's int8 weights.
    pub fn int8_fc(&self) -> bool {
        self.fc.is_some()
    }
}

/// SFace's last layer as the model file stores it (int8 in blocks of 64 inputs, 6.4 MB
/// instead of 25.7 MB as f32: it is read from memory for every face), with its batch norms
/// around it, and the fingerprint of the f32 layer loaded beside it: a plan uses it only
/// while the f32 layer is unchanged (not after fine-tuning or loading other weights).
#[derive(Debug, Clone)]
struct Int8Fc {
    linear: Arc<Q8Linear>,
    fingerprint: u64,
}

/// FNV-1a over the bits of `fc`'s weights and bias.
fn fingerprint(fc: &Linear) -> u64 {
    let mut values = facestyle_nn::pretrained::values(fc.weight.val());
    if let Some(b) = &fc.bias {
        values.extend(facestyle_nn::pretrained::values(b.val()));
    }
    values.iter().fold(0xcbf29ce484222325u64, |h, v| (h ^ u64::from(v.to_bits())).wrapping_mul(0x100000001b3))
}

/// The first layer (3 -> 32, 3x3) as a `PatchConv` (patches + matrix product when training;
/// computed directly at inference, see `conv_act_op::forward_patch`), then PReLU.
#[derive(Module, Debug)]
pub struct StemPrelu {
    conv: PatchConv,
    slope: Param<Tensor<1>>,
}

impl StemPrelu {
    fn load(layers: &mut OnnxLayers, device: &Device) -> Result<Self> {
        let g = ConvGeometry { stride: 1, padding: 1, groups: 1 };
        let (c, slope) = load_folded(layers, 32, 3, 3, g)?;
        Ok(StemPrelu {
            conv: PatchConv::from_oihw(&c.weight, c.shape, Some(&c.bias), g.stride, g.padding, device),
            slope: Param::from_tensor(tensor(&slope, [32], device)),
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv_act_op::forward_patch(&self.conv, x, &Act::Prelu(&self.slope.val()))
    }
}

#[derive(Module, Debug)]
pub struct SFace {
    stem: StemPrelu,
    layers: Vec<ConvPrelu>,
    fc: Linear,
    #[module(skip)]
    fc_int8: Option<Int8Fc>,
    /// Input normalisation `(x - mean) * scale`, read from the model file.
    mean: f32,
    scale: f32,
}

/// (channels in, stride) of the 13 depthwise + pointwise pairs; the pointwise output is the
/// next pair's input.
const PAIRS: [(usize, usize, usize); 13] = [
    (32, 1, 64),
    (64, 2, 128),
    (128, 1, 128),
    (128, 2, 256),
    (256, 1, 256),
    (256, 2, 512),
    (512, 1, 512),
    (512, 1, 512),
    (512, 1, 512),
    (512, 1, 512),
    (512, 1, 512),
    (512, 2, 1024),
    (1024, 1, 1024),
];

impl SFace {
    /// Builds the network from the folded SFace ONNX file.
    pub fn load(path: &std::path::Path, device: &Device) -> Result<Self> {
        Self::from_layers(OnnxLayers::load(path)?, device)
    }

    /// Builds the network from the layer records of an SFace ONNX model.
    pub fn from_layers(mut l: OnnxLayers, device: &Device) -> Result<Self> {
        let mean = l.constant("scalar_op1", 1)?[0];
        let scale = l.constant("scalar_op2", 1)?[0];
        let stem = StemPrelu::load(&mut l, device)?;
        let mut layers = Vec::new();
        for &(cin, stride, cout) in &PAIRS {
            let dw = ConvGeometry { stride, padding: 1, groups: cin };
            layers.push(ConvPrelu::load(&mut l, cin, cin, 3, dw, device)?);
            let pw = ConvGeometry { stride: 1, padding: 0, groups: 1 };
            layers.push(ConvPrelu::load(&mut l, cout, cin, 1, pw, device)?);
        }
        let (fc, fc_int8) = Self::load_fc(&mut l, device)?;
        l.finish()?;
        Ok(SFace { stem, layers, fc, fc_int8, mean, scale })
    }

    /// `bn1` (per channel, before flatten), the fully connected layer and `fc1` (per output)
    /// folded into one linear map; and, when the file stores the layer's weights as int8
    /// blocks, the same three with those weights (see [`Int8Fc`]).
    fn load_fc(l: &mut OnnxLayers, device: &Device) -> Result<(Linear, Option<Int8Fc>)> {
        let (c, hw) = (1024, 49);
        let bn1 = l.next_bn(c)?;
        let (w, shape, b) = l.gemm()?;
        let quantized = l.take_gemm_quantized();
        if shape != [DIM, c * hw] || b.len() != DIM {
            return Err(facestyle_models::ModelError::invalid(
                &l.path,
                format!("fully connected layer is {shape:?}, the network expects [{DIM}, {}]", c * hw),
            )
            .into());
        }
        let fc1 = l.next_bn(DIM)?;
        let (s1, t1) = batch_norm_affine(&bn1.gamma, &bn1.beta, &bn1.mean, &bn1.var, bn1.eps);
        let (s2, t2) = batch_norm_affine(&fc1.gamma, &fc1.beta, &fc1.mean, &fc1.var, fc1.eps);
        let inp = c * hw;
        let mut w2 = vec![0f32; DIM * inp];
        let mut b2 = vec![0f32; DIM];
        for o in 0..DIM {
            let mut acc = b[o] as f64;
            for i in 0..inp {
                let wi = w[o * inp + i];
                w2[o * inp + i] = wi * s1[i / hw] * s2[o];
                acc += wi as f64 * t1[i / hw] as f64;
            }
            b2[o] = acc as f32 * s2[o] + t2[o];
        }
        let fc = linear_from(&w2, DIM, inp, &b2, device);
        let int8 = quantized.filter(|q| (q.rows, q.cols) == (DIM, inp)).map(|q| {
            let mut linear = Q8Linear::new(DIM, inp, q.block, q.values, &q.zero_points, q.scales, b)
                .with_input_affine(s1, t1, hw);
            linear.scale_rows(&s2, &t2);
            Int8Fc { linear: Arc::new(linear), fingerprint: fingerprint(&fc) }
        });
        Ok((fc, int8))
    }

    /// Names of the 27 convolution layers in order: `conv1`, then `dw1`, `pw1` .. `dw13`, `pw13`
    /// (depthwise 3x3 and pointwise 1x1 of each pair).
    pub fn layer_names() -> Vec<String> {
        let mut v = vec!["conv1".to_string()];
        for i in 1..=PAIRS.len() {
            v.push(format!("dw{i}"));
            v.push(format!("pw{i}"));
        }
        v
    }

    /// `(kernel, stride, padding, output channels)` of each layer of [`SFace::layer_names`].
    pub fn layer_geometry() -> Vec<(usize, usize, usize, usize)> {
        let mut v = vec![(3, 1, 1, PAIRS[0].0)];
        for &(cin, stride, cout) in &PAIRS {
            v.push((3, stride, 1, cin));
            v.push((1, 1, 0, cout));
        }
        v
    }

    /// Activations (after PReLU) of the layers `wanted` (indices into [`SFace::layer_names`]),
    /// in that order, for a `[N, 3, 112, 112]` RGB 0-255 batch.
    pub fn activations(&self, x: Tensor<4>, wanted: &[usize]) -> Vec<Tensor<4>> {
        let last = wanted.iter().copied().max().unwrap_or(0);
        let mut acts: Vec<Option<Tensor<4>>> = vec![None; last + 1];
        let mut x = self.stem.forward((x - self.mean) * self.scale);
        acts[0] = Some(x.clone());
        for (i, layer) in self.layers.iter().enumerate().take(last) {
            x = layer.forward(x);
            acts[i + 1] = Some(x.clone());
        }
        wanted.iter().map(|&i| acts[i].clone().expect("computed above")).collect()
    }

    /// Embeddings `[N, 128]` (not normalised) of a `[N, 3, 112, 112]` RGB 0-255 batch.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_planned(x, None)
    }

    /// The inference plan of this network's current weights (see [`SFacePlan`]).
    pub fn plan(&self) -> SFacePlan {
        let fc = self.fc_int8.as_ref().filter(|q| q.fingerprint == fingerprint(&self.fc));
        SFacePlan {
            packed: self.layers.iter().map(|l| conv_act_op::pack_pointwise(&l.conv)).collect(),
            fc: fc.map(|q| q.linear.clone()),
        }
    }

    /// [`SFace::forward`], with the packed weights of `plan` (made by [`SFace::plan`] from
    /// these weights) where it has them.
    pub fn forward_planned(&self, x: Tensor<4>, plan: Option<&SFacePlan>) -> Tensor<2> {
        let mut x = self.stem.forward((x - self.mean) * self.scale);
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward_packed(x, plan.and_then(|p| p.packed[i].as_ref()));
        }
        let [n, c, h, w] = x.dims();
        let x = x.reshape([n, c * h * w]);
        match plan.and_then(|p| p.fc.as_deref()) {
            Some(int8) => {
                int8.forward_tensor(&x).unwrap_or_else(|| facestyle_nn::linear_op::forward(&self.fc, x))
            }
            None => facestyle_nn::linear_op::forward(&self.fc, x),
        }
    }
}
