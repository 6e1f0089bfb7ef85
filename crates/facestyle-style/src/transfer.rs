//! The optimisation of neural style transfer: gradient descent (Adam) on the pixels of the
//! generated image G, minimising `J(G) = alpha J_content + beta J_style + tv J_tv`.

use burn::module::Param;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use facestyle_nn::pretrained::values;

use crate::cost::{content_cost, style_layer_cost, tv_cost};
use crate::gram::gram;
use crate::vgg::{Pooling, Vgg19};

/// Where G starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Uniform noise in [0, 255] (the method's default).
    Noise,
    /// The content image.
    Content,
    /// `r * noise + (1 - r) * content`.
    Blend(f32),
}

#[derive(Debug, Clone)]
pub struct StyleConfig {
    /// Content layer index (default conv4_2).
    pub content_layer: usize,
    /// Style layers and their weights lambda (default conv1_1..conv5_1, 0.2 each).
    pub style_layers: Vec<(usize, f32)>,
    pub alpha: f32,
    pub beta: f32,
    pub tv_weight: f32,
    pub iterations: usize,
    /// Adam learning rate, in pixel units (0-255).
    pub lr: f64,
    pub pooling: Pooling,
    pub init: Init,
    pub seed: u64,
}

/// One step's costs (before the update).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepCosts {
    pub step: usize,
    pub total: f32,
    pub content: f32,
    pub style: f32,
    pub tv: f32,
}

/// The generated image as the only trainable parameter.
#[derive(Module, Debug)]
struct Canvas {
    pixels: Param<Tensor<4>>,
}

/// The starting image `[1, 3, H, W]` (RGB 0-255) for `init`.
pub fn initial_image(content: &Tensor<4>, init: Init, seed: u64) -> Tensor<4> {
    let device = content.device();
    let noise = || {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let dims = content.dims();
        let data: Vec<f32> =
            (0..dims.iter().product::<usize>()).map(|_| rng.random_range(0.0..255.0)).collect();
        Tensor::<4>::from_data(TensorData::new(data, dims), &device)
    };
    match init {
        Init::Noise => noise(),
        Init::Content => content.clone(),
        Init::Blend(r) => noise() * r + content.clone() * (1.0 - r),
    }
}

/// Runs the transfer. `content` and each style are RGB 0-255 `[1, 3, H, W]` on an autodiff
/// device (styles may have other sizes); `styles` carry their blend weights. `on_step` sees
/// the costs and the current image every step. Returns the image (clamped to 0-255).
pub fn transfer(
    vgg: &Vgg19,
    content: Tensor<4>,
    styles: &[(Tensor<4>, f32)],
    config: &StyleConfig,
    on_step: &mut dyn FnMut(&StepCosts, &Tensor<4>),
) -> Tensor<4> {
    let style_idx: Vec<usize> = config.style_layers.iter().map(|l| l.0).collect();
    let pool = config.pooling;
    let a_c =
        vgg.features(Vgg19::preprocess(content.clone()), &[config.content_layer], pool).remove(0).detach();
    // Precomputed style Grams, per style image and layer.
    let grams: Vec<(Vec<Tensor<2>>, f32)> = styles
        .iter()
        .map(|(s, w)| {
            let acts = vgg.features(Vgg19::preprocess(s.clone()), &style_idx, pool);
            (acts.into_iter().map(|a| gram(a).detach()).collect(), *w)
        })
        .collect();
    let mut wanted = style_idx.clone();
    wanted.push(config.content_layer);
    let start = initial_image(&content, config.init, config.seed).detach();
    let mut canvas = Canvas { pixels: Param::from_tensor(start) };
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    for step in 0..config.iterations {
        let g = canvas.pixels.val();
        let acts = vgg.features(Vgg19::preprocess(g.clone()), &wanted, pool);
        let j_content = content_cost(a_c.clone(), acts[acts.len() - 1].clone());
        let mut j_style: Option<Tensor<1>> = None;
        for (style_grams, weight) in &grams {
            for (k, gs) in style_grams.iter().enumerate() {
                let j = style_layer_cost(gs.clone(), acts[k].clone()) * (config.style_layers[k].1 * weight);
                j_style = Some(match j_style {
                    Some(t) => t + j,
                    None => j,
                });
            }
        }
        let j_style = j_style.expect("at least one style layer and image");
        let j_tv = tv_cost(g.clone());
        let total = j_content.clone() * config.alpha
            + j_style.clone() * config.beta
            + j_tv.clone() * config.tv_weight;
        let costs = StepCosts {
            step,
            total: values(total.clone().detach())[0],
            content: values(j_content.detach())[0],
            style: values(j_style.detach())[0],
            tv: values(j_tv.detach())[0],
        };
        on_step(&costs, &g);
        let grads = GradientsParams::from_grads(total.backward(), &canvas);
        canvas = optim.step(config.lr, canvas, grads);
    }
    canvas.pixels.val().detach().clamp(0.0, 255.0)
}
