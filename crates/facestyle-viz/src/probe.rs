//! A network whose layers can be looked into: names, unit counts, receptive fields, and the
//! activations of chosen layers for one image.

use burn::prelude::*;
use facestyle_face::align::align_face;
use facestyle_face::detect::largest;
use facestyle_face::engine::FaceEngine;
use facestyle_face::sface::SFace;
use facestyle_nn::pretrained::values;
use facestyle_style::config::DEFAULT_STYLE_LAYERS;
use facestyle_style::picture::rgb_tensor;
use facestyle_style::vgg::{LAYERS, Pooling, Vgg19};
use image::RgbImage;

use crate::error::{Result, VizError};

use crate::receptive::{Field, Window, fields, vgg19_fields};
use crate::scan::network_view;

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

pub trait Probe: Sync {
    fn layers(&self) -> &[LayerInfo];
    /// The layers shown unless asked otherwise, one per block of the network.
    fn default_layers(&self) -> Vec<&str>;
    /// The picture the network sees for `img` (patches are cut from it): by default `img`
    /// scaled to long side `size`.
    fn view(&self, img: &RgbImage, size: u32) -> Result<RgbImage> {
        Ok(network_view(img, size))
    }
    /// Activations of the layers `wanted` (indices into [`Probe::layers`]), in that order.
    fn activations(&self, img: &RgbImage, wanted: &[usize]) -> Vec<Activation>;
    /// Index of a layer by name.
    fn layer(&self, name: &str) -> Result<usize> {
        self.layers().iter().position(|l| l.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.layers().iter().map(|l| l.name.as_str()).collect();
            VizError::UnknownLayer { name: name.to_string(), known: names.join(", ") }
        })
    }
}

/// The network called `model`: `vgg19`, `sface` (each image's largest face, aligned), a
/// model directory written by `facestyle face train`, or an SFace-architecture `.onnx` file
/// (detected and aligned with the cached YuNet); the weights come from the model cache.
pub fn named(model: &str) -> Result<Box<dyn Probe>> {
    use facestyle_face::detect::DetectConfig;
    use std::path::Path;
    let device = facestyle_nn::device::default_device();
    let face = |engine: FaceEngine| -> Result<Box<dyn Probe>> { Ok(Box::new(SFaceProbe::new(engine)?)) };
    match model {
        "vgg19" => Ok(Box::new(VggProbe::new(Vgg19::load_cached(&device)?, device))),
        "sface" => face(FaceEngine::load(DetectConfig::default(), device)?),
        dir if Path::new(dir).join(facestyle_face::model_dir::INFO_FILE).is_file() => {
            face(FaceEngine::load_with(DetectConfig::default(), device, Some(Path::new(dir)))?)
        }
        path if path.ends_with(".onnx") => {
            let path = Path::new(path);
            if !path.is_file() {
                return Err(facestyle_face::FaceError::image(path, "no such file").into());
            }
            let yunet = facestyle_face::engine::model_file("yunet")?;
            let engine = FaceEngine::from_files(&yunet, path, "custom", DetectConfig::default(), device)
                .map_err(|source| VizError::NotSFaceOnnx { path: path.to_path_buf(), source })?;
            face(engine)
        }
        other => Err(VizError::Model(other.to_string())),
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

fn to_activations(acts: Vec<Tensor<4>>) -> Vec<Activation> {
    acts.into_iter()
        .map(|a| {
            let [_, channels, h, w] = a.dims();
            Activation { channels, h, w, data: values(a) }
        })
        .collect()
}

impl Probe for VggProbe {
    fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    /// The style layers of neural style transfer: conv1_1, conv2_1 .. conv5_1.
    fn default_layers(&self) -> Vec<&str> {
        DEFAULT_STYLE_LAYERS.iter().map(|l| l.0).collect()
    }

    fn activations(&self, img: &RgbImage, wanted: &[usize]) -> Vec<Activation> {
        let x = rgb_tensor(img, &self.device);
        to_activations(self.net.features(Vgg19::preprocess(x), wanted, Pooling::Max))
    }
}

/// SFace on aligned faces: each image's largest face (YuNet) aligned to 112x112 is what the
/// network sees, and patches are cut from that crop. Images without a face are skipped.
pub struct SFaceProbe {
    engine: FaceEngine,
    layers: Vec<LayerInfo>,
}

impl SFaceProbe {
    /// Fails when the engine embeds with another architecture than SFace's.
    pub fn new(engine: FaceEngine) -> Result<Self> {
        if engine.embedder().sface().is_none() {
            return Err(VizError::NotSFace(engine.model_id.to_string()));
        }
        let geometry = SFace::layer_geometry();
        let windows: Vec<Window> = geometry.iter().map(|&(k, s, p, _)| Window::new(k, s, p)).collect();
        let layers = SFace::layer_names()
            .into_iter()
            .zip(geometry)
            .zip(fields(&windows))
            .map(|((name, (_, _, _, channels)), field)| LayerInfo { name, channels, field })
            .collect();
        Ok(SFaceProbe { engine, layers })
    }

    fn sface(&self) -> &SFace {
        self.engine.embedder().sface().expect("checked in SFaceProbe::new")
    }
}

impl Probe for SFaceProbe {
    fn layers(&self) -> &[LayerInfo] {
        &self.layers
    }

    /// The first convolution and the last pointwise one of each stage.
    fn default_layers(&self) -> Vec<&str> {
        vec!["conv1", "pw2", "pw4", "pw6", "pw13"]
    }

    fn view(&self, img: &RgbImage, _size: u32) -> Result<RgbImage> {
        let faces = self.engine.detect(img);
        let face = largest(&faces).ok_or(VizError::NoFace)?;
        Ok(align_face(img, &face.landmarks))
    }

    fn activations(&self, img: &RgbImage, wanted: &[usize]) -> Vec<Activation> {
        let x = rgb_tensor(img, self.engine.device());
        to_activations(self.sface().activations(x, wanted))
    }
}
