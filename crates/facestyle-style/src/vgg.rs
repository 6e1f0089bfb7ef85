//! VGG19's 16 convolution layers (conv1_1 .. conv5_4) in burn, from the Keras h5 weights
//! (`vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`: kernels HWIO, inputs BGR with the
//! ImageNet mean [103.939, 116.779, 123.68] subtracted, no scaling).

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use facestyle_models::WeightTensor;
use facestyle_nn::conv_op;
use facestyle_nn::pretrained::{ConvGeometry, conv2d_from};

use crate::error::{Result, StyleError};

/// Layer names in network order; a 2x2 pooling follows the last layer of each block.
pub const LAYERS: [&str; 16] = [
    "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4", "conv4_1",
    "conv4_2", "conv4_3", "conv4_4", "conv5_1", "conv5_2", "conv5_3", "conv5_4",
];

/// BGR mean subtracted from 0-255 pixels.
pub const MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];

/// Index of a layer name (`conv4_2`), if it is one.
pub fn layer_index(name: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == name)
}

/// Index of a layer name, or [`StyleError::UnknownLayer`].
pub fn layer(name: &str) -> Result<usize> {
    layer_index(name).ok_or_else(|| StyleError::UnknownLayer(name.to_string()))
}

/// `true` when a 2x2 pooling follows layer `i` (the last of a block) before layer `i + 1`.
fn pool_after(i: usize) -> bool {
    matches!(i, 1 | 3 | 7 | 11)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Max,
    Average,
}

#[derive(Module, Debug)]
pub struct Vgg19 {
    convs: Vec<Conv2d>,
}

/// HWIO `[k, k, in, out]` -> OIHW `[out, in, k, k]`.
pub fn hwio_to_oihw(data: &[f32], k: usize, cin: usize, cout: usize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    for ky in 0..k {
        for kx in 0..k {
            for i in 0..cin {
                for o in 0..cout {
                    out[((o * cin + i) * k + ky) * k + kx] = data[((ky * k + kx) * cin + i) * cout + o];
                }
            }
        }
    }
    out
}

/// The 32 VGG19 tensors from the model cache (fetched with a visible message on first use,
/// md5-checked), for [`Vgg19::from_weights`].
pub fn cached_weights() -> Result<Vec<WeightTensor>> {
    use facestyle_models::{cache, fetch, h5, registry};
    let spec = registry::model("vgg19").expect("vgg19 is in the model registry");
    let files = fetch::ensure(spec, &cache::models_dir())?;
    Ok(h5::load_vgg19(&files[0])?)
}

impl Vgg19 {
    /// VGG19 from the model cache on `device`.
    pub fn load_cached(device: &Device) -> Result<Self> {
        Self::from_weights(&cached_weights()?, device)
    }

    /// From the 32 tensors of [`facestyle_models::h5::load_vgg19`] (kernel, bias per layer), or
    /// the first of them for the first layers only (an even number: kernel and bias).
    pub fn from_weights(weights: &[WeightTensor], device: &Device) -> Result<Self> {
        if weights.is_empty() || weights.len() > 32 || !weights.len().is_multiple_of(2) {
            return Err(StyleError::WeightCount(weights.len()));
        }
        let mut convs = Vec::with_capacity(16);
        for pair in weights.chunks(2) {
            let (w, b) = (&pair[0], &pair[1]);
            let [k, k2, cin, cout]: [usize; 4] = w
                .shape
                .clone()
                .try_into()
                .map_err(|_| StyleError::KernelShape { name: w.name.clone(), shape: w.shape.clone() })?;
            if k != k2 {
                return Err(StyleError::KernelShape { name: w.name.clone(), shape: w.shape.clone() });
            }
            if b.shape != [cout] {
                return Err(StyleError::BiasShape {
                    name: w.name.clone(),
                    kernel: w.shape.clone(),
                    bias: b.shape.clone(),
                });
            }
            let oihw = hwio_to_oihw(&w.data, k, cin, cout);
            let g = ConvGeometry { stride: 1, padding: k / 2, groups: 1 };
            convs.push(conv2d_from(&oihw, [cout, cin, k, k], Some(&b.data), g, device));
        }
        Ok(Vgg19 { convs })
    }

    /// BGR, mean-subtracted input from RGB 0-255 pixels `[N, 3, H, W]`.
    pub fn preprocess(rgb: Tensor<4>) -> Tensor<4> {
        let device = rgb.device();
        let bgr = rgb.flip([1]);
        let mean =
            Tensor::<1>::from_data(TensorData::new(MEAN_BGR.to_vec(), [3]), &device).reshape([1, 3, 1, 1]);
        bgr - mean
    }

    /// How many layers this network has (16, or fewer when built from a prefix of the weights).
    pub fn depth(&self) -> usize {
        self.convs.len()
    }

    /// Activations (after ReLU) of the layers `wanted` (indices into [`LAYERS`], below
    /// [`Vgg19::depth`]), in the order given; the network runs only as deep as the deepest.
    pub fn features(&self, x: Tensor<4>, wanted: &[usize], pooling: Pooling) -> Vec<Tensor<4>> {
        let last = wanted.iter().copied().max().unwrap_or(0);
        assert!(last < self.convs.len(), "layer {last} is beyond this network's {} layers", self.convs.len());
        let mut acts: Vec<Option<Tensor<4>>> = vec![None; last + 1];
        let mut x = x;
        for (i, (conv, slot)) in self.convs.iter().zip(acts.iter_mut()).enumerate() {
            x = relu(conv_op::forward(conv, x));
            if wanted.contains(&i) {
                *slot = Some(x.clone());
            }
            if pool_after(i) && i < last {
                x = match pooling {
                    Pooling::Max => max_pool2d(x, MaxPoolOptions::new([2, 2])),
                    Pooling::Average => avg_pool2d(x, AvgPoolOptions::new([2, 2])),
                };
            }
        }
        wanted.iter().map(|&i| acts[i].clone().expect("computed above")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwio_to_oihw_moves_each_value() {
        // k=2, in=2, out=3: value encodes (ky, kx, i, o).
        let (k, cin, cout) = (2, 2, 3);
        let data: Vec<f32> = (0..k * k * cin * cout).map(|x| x as f32).collect();
        let out = hwio_to_oihw(&data, k, cin, cout);
        for ky in 0..k {
            for kx in 0..k {
                for i in 0..cin {
                    for o in 0..cout {
                        assert_eq!(
                            out[((o * cin + i) * k + ky) * k + kx],
                            data[((ky * k + kx) * cin + i) * cout + o]
                        );
                    }
                }
            }
        }
        assert_eq!(layer_index("conv4_2"), Some(9));
        assert_eq!(layer_index("conv6_1"), None);
        assert!(layer("conv6_1").unwrap_err().to_string().contains("unknown layer 'conv6_1'"));
    }
}
