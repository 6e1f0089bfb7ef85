//! The optimisation of neural style transfer: gradient descent (Adam) on the pixels of the
//! generated image G, minimising `J(G) = alpha J_content + beta J_style + tv J_tv`.

use burn::module::Param;
use burn::optim::{AdamConfig, GradientsParams, LBFGSConfig, LineSearchFn};
use burn::prelude::*;
use facestyle_nn::pretrained::values;

use crate::cost::{content_cost, style_cost, tv_cost};
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

/// How G is optimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Adam (epsilon 1e-8), one gradient step per iteration.
    Adam,
    /// L-BFGS with a strong-Wolfe line search (as Gatys et al.); an iteration is one evaluation
    /// of J and its gradient.
    Lbfgs,
}

#[derive(Debug, Clone)]
pub struct StyleConfig {
    pub method: Method,
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

/// The cost J(G) with its fixed targets: the content activation and the style Grams.
struct Objective<'a> {
    vgg: &'a Vgg19,
    config: &'a StyleConfig,
    a_c: Tensor<4>,
    grams: Vec<(Vec<Tensor<2>>, f32)>,
    wanted: Vec<usize>,
}

impl Objective<'_> {
    /// J(G) as a tensor (for the gradient) and its parts as numbers.
    fn eval(&self, g: Tensor<4>, step: usize) -> (Tensor<1>, StepCosts) {
        let config = self.config;
        let acts = self.vgg.features(Vgg19::preprocess(g.clone()), &self.wanted, config.pooling);
        let j_content = content_cost(self.a_c.clone(), acts[acts.len() - 1].clone());
        let layers = self
            .grams
            .iter()
            .flat_map(|(style_grams, weight)| {
                style_grams
                    .iter()
                    .zip(&acts)
                    .zip(&config.style_layers)
                    .map(move |((gs, ag), (_, lambda))| (gs.clone(), ag.clone(), lambda * weight))
            })
            .collect();
        let j_style = style_cost(layers);
        let j_tv = tv_cost(g);
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
        (total, costs)
    }
}

/// The result of [`transfer`]: the image and where the time went.
pub struct Transfer {
    /// RGB 0-255 `[1, 3, H, W]`, clamped.
    pub image: Tensor<4>,
    /// Seconds spent on the fixed targets (content activation, style Grams).
    pub seconds_targets: f64,
    /// Seconds spent optimising the pixels (every step).
    pub seconds_optimise: f64,
    /// `on_step` asked to stop before the last iteration.
    pub stopped: bool,
}

/// Runs the transfer. `content` and each style are RGB 0-255 `[1, 3, H, W]` on an autodiff
/// device (styles may have other sizes); `styles` carry their blend weights. `on_step` sees
/// the costs and the current image every step and returns whether to go on (`false` stops
/// after the current step, for cancellation).
pub fn transfer(
    vgg: &Vgg19,
    content: Tensor<4>,
    styles: &[(Tensor<4>, f32)],
    config: &StyleConfig,
    on_step: &mut dyn FnMut(&StepCosts, &Tensor<4>) -> bool,
) -> Transfer {
    let t0 = std::time::Instant::now();
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
    let objective = Objective { vgg, config, a_c, grams, wanted };
    let start = initial_image(&content, config.init, config.seed).detach();
    let seconds_targets = t0.elapsed().as_secs_f64();
    let t1 = std::time::Instant::now();
    let mut canvas = Canvas { pixels: Param::from_tensor(start) };
    let mut stopped = false;
    match config.method {
        Method::Adam => {
            let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
            for step in 0..config.iterations {
                let g = canvas.pixels.val();
                let (total, costs) = objective.eval(g.clone(), step);
                stopped = !on_step(&costs, &g);
                let grads = GradientsParams::from_grads(total.backward(), &canvas);
                canvas = optim.step(config.lr, canvas, grads);
                if stopped {
                    break;
                }
            }
        }
        Method::Lbfgs => {
            // Steps of up to 20 iterations (25 evaluations); the last step is capped to the
            // evaluations left (a fresh optimiser, so it starts without history).
            let lbfgs = |evals: usize| {
                LBFGSConfig::new()
                    .with_line_search_fn(LineSearchFn::StrongWolfe)
                    .with_max_iter(evals.min(20))
                    .with_max_eval(Some(evals.min(25)))
                    .init()
            };
            let mut optim = lbfgs(config.iterations);
            let mut evals = 0;
            while evals < config.iterations && !stopped {
                let before = evals;
                if config.iterations - evals < 25 {
                    optim = lbfgs(config.iterations - evals);
                }
                let (next, _) = optim.step(config.lr, canvas, |c: Canvas| {
                    let g = c.pixels.val();
                    let (total, costs) = objective.eval(g.clone(), evals);
                    stopped |= !on_step(&costs, &g);
                    evals += 1;
                    (costs.total as f64, GradientsParams::from_grads(total.backward(), &c))
                });
                canvas = next;
                if evals == before + 1 {
                    break; // converged: the step only evaluated its starting point
                }
            }
        }
    }
    let image = canvas.pixels.val().detach().clamp(0.0, 255.0);
    Transfer { image, seconds_targets, seconds_optimise: t1.elapsed().as_secs_f64(), stopped }
}
