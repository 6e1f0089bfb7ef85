//! The optimisation of neural style transfer: gradient descent (Adam or L-BFGS) on the pixels
//! of the generated image G, minimising `J(G) = alpha J_content + beta J_style + tv J_tv`,
//! optionally coarse to fine: optimised first at 1/2^k of the size (content and style images
//! scaled alike), the result upsampled to start the next level.

use burn::module::Param;
use burn::optim::{AdamConfig, GradientsParams, LBFGSConfig, LineSearchFn};
use burn::prelude::*;
use facestyle_nn::pretrained::values;

pub use crate::config::{FAST, GATYS, Init, Method, PRESETS, Preset, StyleConfig, preset};
use crate::cost::{content_cost, style_cost, tv_cost};
use crate::gram::gram;
use crate::picture::MIN_SIDE;
use crate::vgg::Vgg19;

/// One step's costs (before the update).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepCosts {
    pub step: usize,
    pub total: f32,
    pub content: f32,
    pub style: f32,
    pub tv: f32,
    /// Evaluations of J and its gradient so far, this one included, counted at the output size
    /// (an evaluation at 1/2 the side counts 1/4).
    pub evals: f64,
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
    /// Content weight at this level: alpha divided by the level's pixel fraction, so that the
    /// content cost (a sum over activations) keeps its balance with the style cost (normalised
    /// by the map size) at every level.
    alpha: f32,
}

impl Objective<'_> {
    /// J(G) as a tensor (for the gradient) and its parts as numbers.
    fn eval(&self, g: Tensor<4>, step: usize, evals: f64) -> (Tensor<1>, StepCosts) {
        let config = self.config;
        let acts = self.vgg.features(Vgg19::preprocess(g.clone()), &self.wanted, config.pooling);
        let j_content = content_cost(self.a_c.clone(), acts[acts.len() - 1].clone());
        let j_style = style_cost(style_terms(&self.grams, &acts, config));
        let j_tv = tv_cost(g);
        let total =
            j_content.clone() * self.alpha + j_style.clone() * config.beta + j_tv.clone() * config.tv_weight;
        let costs = StepCosts {
            step,
            total: values(total.clone().detach())[0],
            content: values(j_content.detach())[0],
            style: values(j_style.detach())[0],
            tv: values(j_tv.detach())[0],
            evals,
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
    /// Evaluations of J and its gradient, counted at the output size.
    pub evals: f64,
    /// `on_step` asked to stop before the last iteration.
    pub stopped: bool,
}

/// The style Grams of every style image at `config`'s layers, with the images' blend weights.
pub fn style_grams(
    vgg: &Vgg19,
    styles: &[(Tensor<4>, f32)],
    config: &StyleConfig,
) -> Vec<(Vec<Tensor<2>>, f32)> {
    let style_idx: Vec<usize> = config.style_layers.iter().map(|l| l.0).collect();
    styles
        .iter()
        .map(|(s, w)| {
            let acts = vgg.features(Vgg19::preprocess(s.clone()), &style_idx, config.pooling);
            (acts.into_iter().map(|a| gram(a).detach()).collect(), *w)
        })
        .collect()
}

/// `J_style` of `image` against precomputed [`style_grams`] (the run's layers and weights).
pub fn style_loss(
    vgg: &Vgg19,
    grams: &[(Vec<Tensor<2>>, f32)],
    image: Tensor<4>,
    config: &StyleConfig,
) -> f32 {
    let style_idx: Vec<usize> = config.style_layers.iter().map(|l| l.0).collect();
    let acts = vgg.features(Vgg19::preprocess(image.detach()), &style_idx, config.pooling);
    values(style_cost(style_terms(grams, &acts, config)).detach())[0]
}

/// The terms of `J_style`: for every style image and every style layer, its Gram matrix, the
/// image's activation at that layer (`acts` in the order of `config.style_layers`) and the
/// weight lambda_l times the style's blend weight.
fn style_terms(
    grams: &[(Vec<Tensor<2>>, f32)],
    acts: &[Tensor<4>],
    config: &StyleConfig,
) -> Vec<(Tensor<2>, Tensor<4>, f32)> {
    grams
        .iter()
        .flat_map(|(style_grams, weight)| {
            style_grams
                .iter()
                .zip(acts)
                .zip(&config.style_layers)
                .map(move |((gs, ag), (_, lambda))| (gs.clone(), ag.clone(), lambda * weight))
        })
        .collect()
}

/// `[1, C, H, W]` scaled to `h` x `w` by bilinear interpolation (pixel centres aligned).
pub fn resize_bilinear(t: Tensor<4>, h: usize, w: usize) -> Tensor<4> {
    let device = t.device();
    let [n, c, ih, iw] = t.dims();
    assert_eq!(n, 1, "resize_bilinear: one image at a time");
    let v = values(t);
    let axis = |o: usize, i: usize| -> Vec<(usize, usize, f32)> {
        (0..o)
            .map(|k| {
                let x = ((k as f32 + 0.5) * i as f32 / o as f32 - 0.5).clamp(0.0, (i - 1) as f32);
                let x0 = x.floor() as usize;
                (x0, (x0 + 1).min(i - 1), x - x0 as f32)
            })
            .collect()
    };
    let (ys, xs) = (axis(h, ih), axis(w, iw));
    let mut out = vec![0f32; c * h * w];
    for ch in 0..c {
        let plane = &v[ch * ih * iw..(ch + 1) * ih * iw];
        for (y, &(y0, y1, fy)) in ys.iter().enumerate() {
            for (x, &(x0, x1, fx)) in xs.iter().enumerate() {
                let top = plane[y0 * iw + x0] * (1.0 - fx) + plane[y0 * iw + x1] * fx;
                let bottom = plane[y1 * iw + x0] * (1.0 - fx) + plane[y1 * iw + x1] * fx;
                out[(ch * h + y) * w + x] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
    Tensor::from_data(TensorData::new(out, [1, c, h, w]), &device)
}

/// `t` with its sides scaled by `s` (at least 1 px), by area-weighted (triangle) filtering.
fn scaled(t: &Tensor<4>, s: f32) -> Tensor<4> {
    let [_, _, h, w] = t.dims();
    let (nh, nw) = (((h as f32 * s).round() as usize).max(1), ((w as f32 * s).round() as usize).max(1));
    let img = crate::picture::to_image(t.clone());
    let small = image::imageops::resize(&img, nw as u32, nh as u32, image::imageops::FilterType::Triangle);
    crate::picture::rgb_tensor(&small, &t.device())
}

/// The levels a transfer of an `h` x `w` picture runs: (scale, iterations), coarsest first, the
/// full size last (coarse levels below [`MIN_SIDE`] or of no iterations left out).
pub fn levels(config: &StyleConfig, h: usize, w: usize) -> Vec<(f32, usize)> {
    let k = config.coarse.len();
    let mut levels: Vec<(f32, usize)> = config
        .coarse
        .iter()
        .enumerate()
        .map(|(i, &n)| (0.5f32.powi((k - i) as i32), n))
        .filter(|&(s, n)| n > 0 && (h.min(w) as f32 * s).round() as u32 >= MIN_SIDE)
        .collect();
    levels.push((1.0, config.iterations));
    levels
}

/// Runs the transfer. `content` and each style are RGB 0-255 `[1, 3, H, W]` on an autodiff
/// device (styles may have other sizes); `styles` carry their blend weights. `on_step` sees
/// the costs and the current image (at the current level's size) every step and returns whether
/// to go on (`false` stops after the current step, for cancellation).
pub fn transfer(
    vgg: &Vgg19,
    content: Tensor<4>,
    styles: &[(Tensor<4>, f32)],
    config: &StyleConfig,
    on_step: &mut dyn FnMut(&StepCosts, &Tensor<4>) -> bool,
) -> Transfer {
    let [_, _, h, w] = content.dims();
    let mut out = Transfer {
        image: content.clone(),
        seconds_targets: 0.0,
        seconds_optimise: 0.0,
        evals: 0.0,
        stopped: false,
    };
    let mut start: Option<Tensor<4>> = None;
    let mut step0 = 0;
    for (scale, iterations) in levels(config, h, w) {
        let (c, st) = if scale < 1.0 {
            (scaled(&content, scale), styles.iter().map(|(s, wt)| (scaled(s, scale), *wt)).collect())
        } else {
            (content.clone(), styles.to_vec())
        };
        let [_, _, ch, cw] = c.dims();
        let start_image = start.take().map(|g| resize_bilinear(g, ch, cw));
        let weight = (ch * cw) as f64 / (h * w) as f64;
        let level = optimise(vgg, c, &st, config, iterations, start_image, step0, out.evals, weight, on_step);
        step0 += level.steps;
        out.seconds_targets += level.seconds_targets;
        out.seconds_optimise += level.seconds_optimise;
        out.evals = level.evals;
        out.stopped = level.stopped;
        out.image = level.image.clone();
        if out.stopped {
            break;
        }
        start = Some(level.image);
    }
    out
}

/// One level's outcome.
struct Level {
    image: Tensor<4>,
    seconds_targets: f64,
    seconds_optimise: f64,
    evals: f64,
    steps: usize,
    stopped: bool,
}

/// Optimises at `content`'s size for `iterations`, from `start` (else `config.init`); steps are
/// numbered from `step0`, and each evaluation adds `weight` to the count from `evals0`.
#[allow(clippy::too_many_arguments)]
fn optimise(
    vgg: &Vgg19,
    content: Tensor<4>,
    styles: &[(Tensor<4>, f32)],
    config: &StyleConfig,
    iterations: usize,
    start: Option<Tensor<4>>,
    step0: usize,
    evals0: f64,
    weight: f64,
    on_step: &mut dyn FnMut(&StepCosts, &Tensor<4>) -> bool,
) -> Level {
    let t0 = std::time::Instant::now();
    let style_idx: Vec<usize> = config.style_layers.iter().map(|l| l.0).collect();
    let pool = config.pooling;
    let a_c =
        vgg.features(Vgg19::preprocess(content.clone()), &[config.content_layer], pool).remove(0).detach();
    let grams = style_grams(vgg, styles, config);
    let mut wanted = style_idx.clone();
    wanted.push(config.content_layer);
    let alpha = (config.alpha as f64 / weight) as f32;
    let objective = Objective { vgg, config, a_c, grams, wanted, alpha };
    let start = start.unwrap_or_else(|| initial_image(&content, config.init, config.seed)).detach();
    let seconds_targets = t0.elapsed().as_secs_f64();
    let t1 = std::time::Instant::now();
    let mut canvas = Canvas { pixels: Param::from_tensor(start) };
    let mut stopped = false;
    let mut evals = 0;
    match config.method {
        Method::Adam => {
            let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
            for step in 0..iterations {
                let g = canvas.pixels.val();
                evals += 1;
                let (total, costs) = objective.eval(g.clone(), step0 + step, evals0 + evals as f64 * weight);
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
            // The line search may ask for more evaluations than a step's cap: past the budget
            // it gets a zero gradient (which ends the step) without evaluating J, and the result
            // is the evaluated image of lowest J.
            let mut best: Option<(f32, Tensor<4>)> = None;
            let mut optim = lbfgs(iterations);
            while evals < iterations && !stopped {
                let before = evals;
                if iterations - evals < 25 {
                    optim = lbfgs(iterations - evals);
                }
                let (next, _) = optim.step(config.lr, canvas, |c: Canvas| {
                    let g = c.pixels.val();
                    if evals >= iterations || stopped {
                        let zero = (g * 0.0).sum();
                        let last = best.as_ref().map_or(0.0, |b| b.0 as f64);
                        return (last, GradientsParams::from_grads(zero.backward(), &c));
                    }
                    evals += 1;
                    let (total, costs) =
                        objective.eval(g.clone(), step0 + evals - 1, evals0 + evals as f64 * weight);
                    stopped |= !on_step(&costs, &g);
                    if best.as_ref().is_none_or(|b| costs.total < b.0) {
                        best = Some((costs.total, g.clone().detach()));
                    }
                    (costs.total as f64, GradientsParams::from_grads(total.backward(), &c))
                });
                canvas = next;
                if evals == before + 1 {
                    break; // converged: the step only evaluated its starting point
                }
            }
            if let Some((_, g)) = best {
                canvas = Canvas { pixels: Param::from_tensor(g) };
            }
        }
    }
    let image = canvas.pixels.val().detach().clamp(0.0, 255.0);
    Level {
        image,
        seconds_targets,
        seconds_optimise: t1.elapsed().as_secs_f64(),
        evals: evals0 + evals as f64 * weight,
        steps: evals,
        stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_resize_keeps_constants_and_ramps() {
        let device = Device::flex();
        let t = Tensor::<4>::from_data(TensorData::new(vec![10.0, 20.0, 30.0, 40.0], [1, 1, 2, 2]), &device);
        let v = values(resize_bilinear(t, 4, 4));
        // Rows: 10 -> 20 horizontally at the top, 30 -> 40 at the bottom; corners kept.
        assert_eq!((v[0], v[3], v[12], v[15]), (10.0, 20.0, 30.0, 40.0));
        assert!((v[1] - 12.5).abs() < 1e-5 && (v[5] - 17.5).abs() < 1e-5, "{v:?}");
        let c = Tensor::<4>::from_data(TensorData::new(vec![7.0; 3 * 3 * 5], [1, 3, 3, 5]), &device);
        assert!(values(resize_bilinear(c, 6, 10)).iter().all(|&x| (x - 7.0).abs() < 1e-5));
    }
}
