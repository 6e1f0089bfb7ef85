//! YuNet (face_detection_yunet_2023mar) as a burn network.
//!
//! A depthwise-separable backbone (each unit: 1x1 convolution, 3x3 depthwise convolution,
//! ReLU) with max pooling to strides 8/16/32, a top-down feature pyramid (nearest x2 upsample
//! and add), and four heads per level: face class, objectness, box (4) and 5 landmarks (10).
//! Input: BGR, 0-255, `[1, 3, H, W]` with H and W multiples of 32. Weights come from the
//! folded ONNX file, checked layer by layer against this definition.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use facestyle_nn::conv_act_op::{self, Act};
use facestyle_nn::patch_conv::PatchConv;
use facestyle_nn::pool_op::max_pool2x2;
use facestyle_nn::pretrained::{ConvGeometry, conv2d_from, values};
use facestyle_nn::upsample_op::upsample2x_add;

use crate::error::Result;
use crate::onnx_layers::{ConvRecord, OnnxLayers};

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
        let (pw, dw) = Self::records(layers, cin, cout)?;
        Ok(Self::from_records(&pw, &dw, device))
    }

    /// The next pointwise and depthwise convolutions of a unit, checked.
    fn records(layers: &mut OnnxLayers, cin: usize, cout: usize) -> Result<(ConvRecord, ConvRecord)> {
        let pw = layers.next_conv(cout, cin, 1, ConvGeometry { stride: 1, padding: 0, groups: 1 })?;
        let dw = layers.next_conv(cout, cout, 3, ConvGeometry { stride: 1, padding: 1, groups: cout })?;
        Ok((pw, dw))
    }

    fn from_records(pw: &ConvRecord, dw: &ConvRecord, device: &Device) -> Self {
        let conv = |c: &ConvRecord| {
            let bias = (!c.bias.is_empty()).then_some(c.bias.as_slice());
            conv2d_from(&c.weight, c.shape, bias, c.geometry, device)
        };
        DpUnit { pointwise: conv(pw), depthwise: conv(dw) }
    }

    /// The unit, followed by ReLU when `relu`.
    fn forward(&self, x: Tensor<4>, relu: bool) -> Tensor<4> {
        let y = conv_act_op::forward(&self.pointwise, x, &Act::Identity);
        conv_act_op::forward(&self.depthwise, y, if relu { &Act::Relu } else { &Act::Identity })
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
    stem: PatchConv,
    backbone: Vec<DpUnit>,
    lateral: Vec<DpUnit>,
    /// Per level, the four heads (class 1, objectness 1, box 4, landmarks 10 channels) merged
    /// into one 64 -> 16 pointwise + 16-channel depthwise unit: the same arithmetic as four
    /// separate units, in two convolutions instead of eight.
    heads: Vec<DpUnit>,
}

/// Channel ranges of the merged head output.
const HEAD_CLS: usize = 0;
const HEAD_OBJ: usize = 1;
const HEAD_BBOX: std::ops::Range<usize> = 2..6;
const HEAD_KPS: std::ops::Range<usize> = 6..16;
const HEAD_CHANNELS: usize = 16;

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
        Self::from_layers(OnnxLayers::load(path)?, device)
    }

    /// Builds the network from the layer records of a YuNet ONNX model.
    pub fn from_layers(mut layers: OnnxLayers, device: &Device) -> Result<Self> {
        let s = layers.next_conv(16, 3, 3, ConvGeometry { stride: 2, padding: 1, groups: 1 })?;
        let stem = PatchConv::from_oihw(&s.weight, s.shape, Some(&s.bias), 2, 1, device);
        let units = |layers: &mut OnnxLayers, plan: &[(usize, usize)]| -> Result<Vec<DpUnit>> {
            plan.iter().map(|&(i, o)| DpUnit::load(layers, i, o, device)).collect()
        };
        let backbone = units(&mut layers, &BACKBONE)?;
        let lateral = units(&mut layers, &[(64, 64); 3])?;
        // The file holds the heads as cls 0..2, bbox 0..2, obj 0..2, kps 0..2 (1, 4, 1, 10
        // channels).
        let mut recs = Vec::new();
        for channels in [1, 4, 1, 10] {
            recs.push(
                (0..3).map(|_| DpUnit::records(&mut layers, 64, channels)).collect::<Result<Vec<_>>>()?,
            );
        }
        let heads = (0..3)
            .map(|level| {
                // Merged order: cls, obj, bbox, kps.
                let parts = [&recs[0][level], &recs[2][level], &recs[1][level], &recs[3][level]];
                let merge = |pick: fn(&(ConvRecord, ConvRecord)) -> &ConvRecord, shape, geometry| {
                    let first = pick(parts[0]);
                    let (mut weight, mut bias) = (Vec::new(), Vec::new());
                    for p in parts {
                        weight.extend_from_slice(&pick(p).weight);
                        bias.extend_from_slice(&pick(p).bias);
                    }
                    ConvRecord {
                        name: format!("{} (merged heads)", first.name),
                        shape,
                        weight,
                        bias,
                        geometry,
                    }
                };
                let n = HEAD_CHANNELS;
                let pw = merge(|p| &p.0, [n, 64, 1, 1], ConvGeometry { stride: 1, padding: 0, groups: 1 });
                let dw = merge(|p| &p.1, [n, 1, 3, 3], ConvGeometry { stride: 1, padding: 1, groups: n });
                DpUnit::from_records(&pw, &dw, device)
            })
            .collect();
        layers.finish()?;
        Ok(YuNet { stem, backbone, lateral, heads })
    }

    /// The three pyramid features `[p8, p16, p32]`.
    pub fn features(&self, x: Tensor<4>) -> [Tensor<4>; 3] {
        let x = conv_act_op::forward_patch(&self.stem, x, &Act::Relu);
        let pool = max_pool2x2;
        let b = &self.backbone;
        let unit = |i: usize, x: Tensor<4>| b[i].forward(x, true);
        let x = pool(unit(0, x));
        let x = unit(2, unit(1, x));
        let x = pool(unit(4, unit(3, x)));
        let f8 = unit(6, unit(5, x));
        let f16 = unit(8, unit(7, pool(f8.clone())));
        let f32_ = unit(10, unit(9, pool(f16.clone())));
        // The file stores the lateral units top-down: stride 32 first.
        let p32 = self.lateral[0].forward(f32_, true);
        let p16 = self.lateral[1].forward(upsample2x_add(p32.clone(), f16), true);
        let p8 = self.lateral[2].forward(upsample2x_add(p16.clone(), f8), true);
        [p8, p16, p32]
    }

    /// Runs the detector on a `[1, 3, H, W]` BGR batch and returns every level's head outputs.
    pub fn forward(&self, x: Tensor<4>) -> Vec<LevelOutput> {
        self.heads_output(self.features(x))
    }

    fn heads_output(&self, feats: [Tensor<4>; 3]) -> Vec<LevelOutput> {
        feats
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let [_, _, rows, cols] = f.dims();
                // [1, 16, H, W] read back as it is: channel c of cell i at c * cells + i.
                let out = values(self.heads[i].forward(f, false));
                let (out, cells) = (out.as_slice(), rows * cols);
                let channel = |c: usize| &out[c * cells..][..cells];
                let sigmoid = |x: &f32| 1.0 / (1.0 + (-x).exp());
                // Per cell, the values of `range`'s channels in order.
                let interleave = |range: std::ops::Range<usize>| -> Vec<f32> {
                    (0..cells).flat_map(|i| range.clone().map(move |c| out[c * cells + i])).collect()
                };
                LevelOutput {
                    stride: STRIDES[i],
                    rows,
                    cols,
                    cls: channel(HEAD_CLS).iter().map(sigmoid).collect(),
                    obj: channel(HEAD_OBJ).iter().map(sigmoid).collect(),
                    bbox: interleave(HEAD_BBOX),
                    kps: interleave(HEAD_KPS),
                }
            })
            .collect()
    }
}
