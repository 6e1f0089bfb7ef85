//! A network whose layers can be looked into: names, unit counts, receptive fields, and the
//! activations of chosen layers for one image.

use burn::prelude::*;
use facestyle_nn::pretrained::values;
use facestyle_style::vgg::{LAYERS, Pooling, Vgg19};
use image::RgbImage;

use crate::receptive::{Field, vgg19_fields};

#[derive(Debug, Clone)]
pub struct LayerInfo {
    pub name: String,
    pub channels: usize,
    pub field: Field,
}

/// One layer's activations for one image: `[channels, h, w]` row-major.
#[derive(Debug, Clone)]
pub struct Activation {
    pub channels: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f32>,
}

pub trait Probe {
    fn layers(&self) -> &[LayerInfo];
    /// Activations of the layers `wanted` (indices into [`Probe::layers`]), in that order.
    fn activations(&self, img: &RgbImage, wanted: &[usize]) -> Vec<Activation>;
    /// Index of a layer by name.
    fn layer(&self, name: &str) -> Result<usize, String> {
        self.layers().iter().position(|l| l.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.layers().iter().map(|l| l.name.as_str()).collect();
            format!("unknown layer '{name}' (layers: {})", names.join(", "))
        })
    }
}

/// VGG19 (conv1_1 .. conv5_4, after ReLU) on RGB 0-255 input.
pub struct VggProbe {
    net: Vgg19,
    device: Device,
    layers: Vec<LayerInfo>,
}

const VGG_CHANNELS: [usize; 16] =
    [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512];

impl VggProbe {
    pub fn new(net: Vgg19, device: Device) -> Self {
        let layers = LAYERS
            .iter()
            .zip(VGG_CHANNELS)
            .zip(vgg19_fields())
            .take(net.depth())
            .map(|((name, channels), field)| LayerInfo { name: name.to_string(), channels, field })
            .collect();
        VggProbe { net, device, layers }
    }
}

impl Probe for VggProbe {
    fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    fn activations(&self, img: &RgbImage, wanted: &[usize]) -> Vec<Activation> {
        let (w, h) = img.dimensions();
        let mut data = vec![0f32; (w * h * 3) as usize];
        let plane = (w * h) as usize;
        for (i, p) in img.pixels().enumerate() {
            for c in 0..3 {
                data[c * plane + i] = p.0[c] as f32;
            }
        }
        let x = Tensor::<4>::from_data(TensorData::new(data, [1, 3, h as usize, w as usize]), &self.device);
        self.net
            .features(Vgg19::preprocess(x), wanted, Pooling::Max)
            .into_iter()
            .map(|a| {
                let [_, channels, h, w] = a.dims();
                Activation { channels, h, w, data: values(a) }
            })
            .collect()
    }
}
