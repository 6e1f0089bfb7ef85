//! The optimisation of neural style transfer: gradient descent (Adam or L-BFGS) on the pixels
//! of the generated image G, minimising `J(G) = alpha J_content + beta J_style + tv J_tv +
//! luma J_luma` of G clamped to 0-255, optionally coarse to fine: optimised first at 1/2^k of
//! the size (content and style images scaled alike); the next level starts from its own content
//! plus the change the coarser level made, upsampled. The content weight is scaled to each
//! level's size, so that alpha and beta mean the same at every output size
//! ([`REFERENCE_SIDE`]).

use burn::module::Param;
use burn::optim::{AdamConfig, GradientsParams, LBFGSConfig, LineSearchFn};
use burn::prelude::*;
use facestyle_nn::pretrained::values;

pub use crate::config::{FAST, GATYS, Init, Method, PRESETS, Preset, StyleConfig, preset};
use crate::cost::{content_cost, luma_texture_cost, style_cost, tv_cost};
use crate::gram::mean_gram;
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
    /// The content picture at this level (for the luminance-texture cost).
    content: Tensor<4>,
    grams: Vec<(Vec<Tensor<2>>, f32)>,
    wanted: Vec<usize>,
    /// Content weight at this level: alpha scaled to the level's size (see
    /// [`REFERENCE_SIDE`]), so that the content cost (a sum over activations) keeps its balance
    /// with the style cost (normalised by the map size) at every level and output size.
    alpha: f32,
}

impl Objective<'_> {
    /// J(G) as a tensor (for the gradient) and its parts as numbers.
    fn eval(&self, g: Tensor<4>, step: usize, evals: f64) -> (Tensor<1>, StepCosts) {
        let config = self.config;
        // J is the cost of the picture that can be delivered: pixels clamped to 0-255. Unclamped,
        // the optimiser carries much of the style in values past the range (bright specks over
        // 255, shadows under 0), which the saved picture loses.
        let g = g.clamp(0.0, 255.0);
        let acts = self.vgg.features(Vgg19::preprocess(g.clone()), &self.wanted, config.pooling);
        let j_content = content_cost(self.a_c.clone(), acts[acts.len() - 1].clone());
        let j_style = style_cost(style_terms(&self.grams, &acts, config));
        let j_tv = tv_cost(g.clone());
        let mut total =
            j_content.clone() * self.alpha + j_style.clone() * config.beta + j_tv.clone() * config.tv_weight;
        if config.luma_weight > 0.0 {
            total = total + luma_texture_cost(g, self.content.clone()) * config.luma_weight;
        }
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
            (acts.into_iter().map(|a| mean_gram(a).detach()).collect(), *w)
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
    let coarse = config.coarse.levels(h.max(w));
    let k = coarse.len();
    let mut levels: Vec<(f32, usize)> = coarse
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
    // The previous level's result and the content at that level's size.
    let mut coarser: Option<(Tensor<4>, Tensor<4>)> = None;
    let mut step0 = 0;
    let reference = reference_pixels(h, w);
    for (scale, iterations) in levels(config, h, w) {
        let (c, st) = if scale < 1.0 {
            (scaled(&content, scale), styles.iter().map(|(s, wt)| (scaled(s, scale), *wt)).collect())
        } else {
            (content.clone(), styles.to_vec())
        };
        let [_, _, ch, cw] = c.dims();
        let start_image = coarser.take().map(|(g, c_coarse)| upsampled_start(g, c_coarse, &c));
        let weight = (ch * cw) as f64 / (h * w) as f64;
        let balance = Balance { evals_per_eval: weight, content_weight: reference / (ch * cw) as f64 };
        let level = optimise(
            vgg,
            c.clone(),
            &st,
            config,
            iterations,
            start_image,
            step0,
            out.evals,
            balance,
            on_step,
        );
        step0 += level.steps;
        out.seconds_targets += level.seconds_targets;
        out.seconds_optimise += level.seconds_optimise;
        out.evals = level.evals;
        out.stopped = level.stopped;
        out.image = level.image.clone();
        if out.stopped {
            break;
        }
        coarser = Some((level.image, c));
    }
    out
}

/// The mean change of a pixel value (0-255) in L-BFGS's first step.
const FIRST_STEP: f32 = 1.0;

/// The long side at which alpha and beta keep the balance they are given: the content cost is
/// a sum over activations (it grows with the pixel count) while the style cost is normalised by
/// the map size, so each level's content weight is `alpha * reference / pixels`, the pixels a
/// picture of this aspect has at [`REFERENCE_SIDE`] over the level's own. At this long side
/// the weights are exactly the ones given.
pub const REFERENCE_SIDE: f64 = 256.0;

/// The pixels an `h` x `w` picture has when scaled to a long side of [`REFERENCE_SIDE`].
fn reference_pixels(h: usize, w: usize) -> f64 {
    let s = REFERENCE_SIDE / h.max(w) as f64;
    (h as f64 * s) * (w as f64 * s)
}

/// The start of a finer level: the finer content plus the change the coarser level made to its
/// own content, upsampled (`up(G) + C - up(C_coarse)`), so that the content's fine detail,
/// which the coarser level never saw, is kept rather than blurred away.
fn upsampled_start(g: Tensor<4>, c_coarse: Tensor<4>, content: &Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = content.dims();
    let change = resize_bilinear(g - c_coarse, h, w);
    (content.clone() + change).clamp(0.0, 255.0)
}

/// How one level's evaluations count and weigh.
#[derive(Debug, Clone, Copy)]
struct Balance {
    /// What an evaluation at this level counts at the output size (its pixel fraction).
    evals_per_eval: f64,
    /// The factor on alpha at this level (see [`REFERENCE_SIDE`]).
    content_weight: f64,
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
/// numbered from `step0`, and each evaluation adds `balance.evals_per_eval` to the count from
/// `evals0`.
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
    balance: Balance,
    on_step: &mut dyn FnMut(&StepCosts, &Tensor<4>) -> bool,
) -> Level {
    let weight = balance.evals_per_eval;
    let t0 = std::time::Instant::now();
    let style_idx: Vec<usize> = config.style_layers.iter().map(|l| l.0).collect();
    let pool = config.pooling;
    let a_c =
        vgg.features(Vgg19::preprocess(content.clone()), &[config.content_layer], pool).remove(0).detach();
    let grams = style_grams(vgg, styles, config);
    let mut wanted = style_idx.clone();
    wanted.push(config.content_layer);
    let alpha = (config.alpha as f64 * balance.content_weight) as f32;
    let objective = Objective { vgg, config, a_c, content: content.clone(), grams, wanted, alpha };
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
            // L-BFGS's first step is `lr / |g|_1` along -g: on pixels it would change a value
            // by lr / N on average (N values), and the line search would spend several
            // evaluations growing it. The canvas holds the pixels divided by `scale`, which
            // makes that first step change a value by `lr * FIRST_STEP` on average; the later
            // (quasi-Newton) steps do not depend on the scale.
            let n = canvas.pixels.val().dims().iter().product::<usize>() as f32;
            let scale = FIRST_STEP * n;
            let scaled_canvas = Canvas { pixels: Param::from_tensor((canvas.pixels.val() / scale).detach()) };
            // One optimiser for the level, so that its history is never lost; at most 20 pairs
            // of history vectors are kept (memory: 2 x 20 pictures).
            let mut optim = LBFGSConfig::new()
                .with_line_search_fn(LineSearchFn::StrongWolfe)
                .with_max_iter(iterations)
                .with_max_eval(Some(iterations))
                .with_history_size(20)
                .init();
            // The line search may ask for more evaluations than the budget: past it, it gets a
            // zero gradient (which ends the step) without evaluating J, and the result is the
            // evaluated image of lowest J.
            let mut best: Option<(f32, Tensor<4>)> = None;
            let mut current = scaled_canvas;
            while evals < iterations && !stopped {
                let before = evals;
                let (next, _) = optim.step(config.lr, current, |c: Canvas| {
                    let u = c.pixels.val();
                    if evals >= iterations || stopped {
                        let zero = (u * 0.0).sum();
                        let last = best.as_ref().map_or(0.0, |b| b.0 as f64);
                        return (last, GradientsParams::from_grads(zero.backward(), &c));
                    }
                    evals += 1;
                    let g = u * scale;
                    let (total, costs) =
                        objective.eval(g.clone(), step0 + evals - 1, evals0 + evals as f64 * weight);
                    stopped |= !on_step(&costs, &g);
                    if best.as_ref().is_none_or(|b| costs.total < b.0) {
                        best = Some((costs.total, g.detach()));
                    }
                    (costs.total as f64, GradientsParams::from_grads(total.backward(), &c))
                });
                current = next;
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

    #[test]
    fn a_finer_level_starts_from_its_own_content_plus_the_coarse_change() {
        let device = Device::flex();
        // A fine checkerboard that a half-size level cannot hold.
        let fine: Vec<f32> =
            (0..3 * 8 * 8).map(|i| if (i % 8 + i / 8) % 2 == 0 { 100.0 } else { 140.0 }).collect();
        let content = Tensor::<4>::from_data(TensorData::new(fine.clone(), [1, 3, 8, 8]), &device);
        let coarse = scaled(&content, 0.5);
        // No change at the coarse level: the finer level starts from its content, detail kept.
        let same = values(upsampled_start(coarse.clone(), coarse.clone(), &content));
        assert!(same.iter().zip(&fine).all(|(a, b)| (a - b).abs() < 1e-4), "{same:?}");
        // A uniform change of +20 carries over to every pixel; the detail stays.
        let brighter = values(upsampled_start(coarse.clone() + 20.0, coarse, &content));
        assert!(brighter.iter().zip(&fine).all(|(a, b)| (a - b - 20.0).abs() < 1e-3), "{brighter:?}");
    }

    #[test]
    fn the_content_weight_is_counted_per_pixel_of_a_256_px_picture() {
        assert_eq!(reference_pixels(192, 256), 192.0 * 256.0);
        assert_eq!(reference_pixels(768, 1024), 192.0 * 256.0);
        assert_eq!(reference_pixels(512, 256), 256.0 * 128.0);
        assert_eq!(reference_pixels(64, 128), 128.0 * 256.0);
    }
}
