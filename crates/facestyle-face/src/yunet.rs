//! YuNet (face_detection_yunet_2023mar) as a burn network.
//!
//! A depthwise-separable backbone (each unit: 1x1 convolution, 3x3 depthwise convolution,
//! ReLU) with max pooling to strides 8/16/32, a top-down feature pyramid (nearest x2 upsample
//! and add), and four heads per level: face class, objectness, box (4) and 5 landmarks (10).
//! Input: BGR, 0-255, `[1, 3, H, W]` with H and W multiples of 32. Weights come from the
//! folded ONNX file, checked layer by layer against this definition.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::{interpolate, max_pool2d};
use burn::tensor::ops::{InterpolateMode, InterpolateOptions, MaxPoolOptions};
use facestyle_nn::pretrained::{ConvGeometry, conv2d_from, values};

use crate::error::Result;
use crate::onnx_layers::OnnxLayers;

/// Feature strides of the three pyramid levels.
pub const STRIDES: [usize; 3] = [8, 16, 32];

/// 1x1 pointwise convolution then 3x3 depthwise convolution (the "ConvDPUnit").
#[derive(Module, Debug)]
pub struct DpUnit {
    pointwise: Conv2d,
    depthwise: Conv2d,
}

impl DpUnit {
    fn load(layers: &mut OnnxLayers, cin: usize, cout: usize, device: &Device) -> Result<Self> {
        let pw = layers.next_conv(cout, cin, 1, ConvGeometry { stride: 1, padding: 0, groups: 1 })?;
        let dw = layers.next_conv(cout, cout, 3, ConvGeometry { stride: 1, padding: 1, groups: cout })?;
        let conv = |c: crate::onnx_layers::ConvRecord| {
            let bias = (!c.bias.is_empty()).then_some(c.bias.as_slice());
            conv2d_from(&c.weight, c.shape, bias, c.geometry, device)
        };
        Ok(DpUnit { pointwise: conv(pw), depthwise: conv(dw) })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.depthwise.forward(self.pointwise.forward(x))
    }
}

/// Raw head outputs of one pyramid level, each `[rows * cols, channels]` in row-major cell
/// order: class and objectness after the sigmoid, box and landmark offsets as regressed.
#[derive(Debug, Clone)]
pub struct LevelOutput {
    pub stride: usize,
    pub rows: usize,
    pub cols: usize,
    pub cls: Vec<f32>,
    pub obj: Vec<f32>,
    pub bbox: Vec<f32>,
    pub kps: Vec<f32>,
}

#[derive(Module, Debug)]
pub struct YuNet {
    stem: Conv2d,
    backbone: Vec<DpUnit>,
    lateral: Vec<DpUnit>,
    cls: Vec<DpUnit>,
    bbox: Vec<DpUnit>,
    obj: Vec<DpUnit>,
    kps: Vec<DpUnit>,
}

/// (in, out) channels of the 11 backbone units.
const BACKBONE: [(usize, usize); 11] = [
    (16, 16),
    (16, 16),
    (16, 32),
    (32, 32),
    (32, 64),
    (64, 64),
    (64, 64),
    (64, 64),
    (64, 64),
    (64, 64),
    (64, 64),
];

impl YuNet {
    /// Builds the network from the folded YuNet ONNX file.
    pub fn load(path: &std::path::Path, device: &Device) -> Result<Self> {
        let mut layers = OnnxLayers::load(path)?;
        let s = layers.next_conv(16, 3, 3, ConvGeometry { stride: 2, padding: 1, groups: 1 })?;
        let stem = conv2d_from(&s.weight, s.shape, Some(&s.bias), s.geometry, device);
        let units = |layers: &mut OnnxLayers, plan: &[(usize, usize)]| -> Result<Vec<DpUnit>> {
            plan.iter().map(|&(i, o)| DpUnit::load(layers, i, o, device)).collect()
        };
        let backbone = units(&mut layers, &BACKBONE)?;
        let lateral = units(&mut layers, &[(64, 64); 3])?;
        let cls = units(&mut layers, &[(64, 1); 3])?;
        let bbox = units(&mut layers, &[(64, 4); 3])?;
        let obj = units(&mut layers, &[(64, 1); 3])?;
        let kps = units(&mut layers, &[(64, 10); 3])?;
        layers.finish()?;
        Ok(YuNet { stem, backbone, lateral, cls, bbox, obj, kps })
    }

    /// The three pyramid features `[p8, p16, p32]`.
    pub fn features(&self, x: Tensor<4>) -> [Tensor<4>; 3] {
        let pool = |x: Tensor<4>| max_pool2d(x, MaxPoolOptions::new([2, 2]));
        let b = &self.backbone;
        let unit = |i: usize, x: Tensor<4>| relu(b[i].forward(x));
        let x = relu(self.stem.forward(x));
        let x = pool(unit(0, x));
        let x = unit(2, unit(1, x));
        let x = pool(unit(4, unit(3, x)));
        let f8 = unit(6, unit(5, x));
        let f16 = unit(8, unit(7, pool(f8.clone())));
        let f32_ = unit(10, unit(9, pool(f16.clone())));
        let up = |x: Tensor<4>| {
            let [_, _, h, w] = x.dims();
            interpolate(x, InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([h * 2, w * 2]))
        };
        // The file stores the lateral units top-down: stride 32 first.
        let p32 = relu(self.lateral[0].forward(f32_));
        let p16 = relu(self.lateral[1].forward(up(p32.clone()) + f16));
        let p8 = relu(self.lateral[2].forward(up(p16.clone()) + f8));
        [p8, p16, p32]
    }

    /// Runs the detector on a `[1, 3, H, W]` BGR batch and returns every level's head outputs.
    pub fn forward(&self, x: Tensor<4>) -> Vec<LevelOutput> {
        let feats = self.features(x);
        let flat = |t: Tensor<4>| -> Vec<f32> {
            // [1, C, H, W] -> [H * W, C]
            let [_, c, h, w] = t.dims();
            values(t.reshape([c, h * w]).transpose())
        };
        feats
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let [_, _, rows, cols] = f.dims();
                LevelOutput {
                    stride: STRIDES[i],
                    rows,
                    cols,
                    cls: flat(sigmoid(self.cls[i].forward(f.clone()))),
                    obj: flat(sigmoid(self.obj[i].forward(f.clone()))),
                    bbox: flat(self.bbox[i].forward(f.clone())),
                    kps: flat(self.kps[i].forward(f)),
                }
            })
            .collect()
    }
}
