//! What a transfer sees: the content and the weighted style pictures as tensors at their sizes,
//! in grey when the content's colours are kept (the result then takes them back).

use burn::prelude::*;
use image::RgbImage;

use crate::colour;
use crate::picture::to_tensor;

/// The content and the styles of one transfer.
pub struct Inputs {
    /// The content as the transfer sees it (grey when the colours are kept).
    pub content: Tensor<4>,
    /// Each style picture with its blend weight.
    pub styles: Vec<(Tensor<4>, f32)>,
    /// The content in colour, when the transfer runs on luminance only.
    colours: Option<Tensor<4>>,
}

impl Inputs {
    /// The content at long side `size`, each style at `style_size` with its weight from
    /// `blend`. With `preserve_colors` the transfer runs on luminance: each style's luminance
    /// is matched to the content's mean and spread, and [`Inputs::finish`] puts the content's
    /// chroma back.
    pub fn new(
        content: &RgbImage,
        styles: &[RgbImage],
        blend: &[f32],
        size: u32,
        style_size: u32,
        preserve_colors: bool,
        device: &Device,
    ) -> Self {
        let content = to_tensor(content, size, device);
        let mut styles: Vec<(Tensor<4>, f32)> =
            styles.iter().zip(blend).map(|(img, w)| (to_tensor(img, style_size, device), *w)).collect();
        if !preserve_colors {
            return Inputs { content, styles, colours: None };
        }
        for (st, _) in styles.iter_mut() {
            *st = colour::matched_grey(st.clone(), content.clone());
        }
        Inputs { content: colour::grey(content.clone()), styles, colours: Some(content) }
    }

    /// The generated picture as saved: with the content's colours back under its luminance
    /// when the transfer ran in grey.
    pub fn finish(&self, g: Tensor<4>) -> Tensor<4> {
        match &self.colours {
            Some(c) => colour::with_colours_of(g, c.clone()),
            None => g,
        }
    }
}
