//! `facestyle style CONTENT STYLE [STYLE2 ...] -o out.png`: Gatys neural style transfer.
//!
//! The flags become a [`StyleConfig`] (the `--method` preset, each flag given overriding it),
//! checked by the library before any heavy work; this module adds the flag names to the
//! library's errors.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, anyhow};
use clap::{Args, ValueEnum};
use facestyle_face::photo::load_rgb;
use facestyle_nn::burn::prelude::*;
use facestyle_style::StyleConfig;
use facestyle_style::config::{
    DEFAULT_CONTENT_LAYER, DEFAULT_STYLE_LAYERS, Overrides, blend_weights, parse_coarse, parse_numbers,
    parse_style_layers,
};
use facestyle_style::inputs::Inputs;
use facestyle_style::picture::{self, DEFAULT_SIZE, MAX_SIZE, to_image};
use facestyle_style::quality::{self, Quality};
use facestyle_style::transfer::{FAST, GATYS, Method, Preset, StepCosts, Transfer, transfer};
use facestyle_style::vgg::{Pooling, Vgg19, layer};
use image::RgbImage;
use serde::Serialize;

/// The `--method` presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// L-BFGS from the content image, beta 1e4, coarse to fine.
    Fast,
    /// From noise, beta 1e3, 300 Adam steps of lr 5.
    Gatys,
}

impl MethodArg {
    pub fn preset(self) -> Preset {
        match self {
            MethodArg::Fast => FAST,
            MethodArg::Gatys => GATYS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    Adam,
    #[value(alias = "l-bfgs")]
    Lbfgs,
}

impl From<OptimizerArg> for Method {
    fn from(o: OptimizerArg) -> Self {
        match o {
            OptimizerArg::Adam => Method::Adam,
            OptimizerArg::Lbfgs => Method::Lbfgs,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PoolingArg {
    Max,
    #[value(alias = "average")]
    Avg,
}

impl From<PoolingArg> for Pooling {
    fn from(p: PoolingArg) -> Self {
        match p {
            PoolingArg::Max => Pooling::Max,
            PoolingArg::Avg => Pooling::Average,
        }
    }
}

/// `conv1_1:0.2,conv2_1:0.2,...`: the default style layers as the flag writes them.
fn default_style_layers() -> String {
    DEFAULT_STYLE_LAYERS.iter().map(|(name, w)| format!("{name}:{w}")).collect::<Vec<_>>().join(",")
}

#[derive(Debug, Args)]
pub struct StyleArgs {
    /// The content photo.
    pub content: PathBuf,
    /// One or more style images (their costs are blended, see --style-blend).
    #[arg(required = true)]
    pub styles: Vec<PathBuf>,
    /// Output PNG.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Long side of the generated image in pixels.
    #[arg(long, default_value_t = DEFAULT_SIZE)]
    pub size: u32,
    /// Allow --size above 4096.
    #[arg(long)]
    pub force: bool,
    /// Settings preset: `fast` (L-BFGS from the content image, beta 1e4, 40 evaluations at 1/2
    /// size and half as many at each level below down to 64 px, then 28 at full size: 39.25
    /// evaluations at the output size at 256 px, about 39.4 at 512 and 1024) or
    /// `gatys` (the method as the course describes it: from noise, beta 1e3, 300 Adam steps of
    /// lr 5); the flags below override it.
    #[arg(long, value_enum, default_value_t = MethodArg::Fast)]
    pub method: MethodArg,
    /// Iterations at full size (L-BFGS: evaluations of J) [preset].
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Content weight alpha.
    #[arg(long, default_value_t = StyleConfig::default().alpha)]
    pub alpha: f32,
    /// Style weight beta [preset: 1e4; gatys 1e3, alpha / beta = 1e-3 as in Gatys et al.].
    #[arg(long)]
    pub beta: Option<f32>,
    /// Total-variation weight.
    #[arg(long, default_value_t = StyleConfig::default().tv_weight)]
    pub tv_weight: f32,
    /// Weight of the light-dark texture the transfer adds: the squared differences of
    /// neighbouring pixels of the luminance change, averaged over the pixels [preset fast: 3e10;
    /// gatys 0].
    #[arg(long)]
    pub luma_weight: Option<f32>,
    /// `adam` (one gradient step per iteration) or `lbfgs` (strong-Wolfe line search; an
    /// iteration is one evaluation of J).
    /// [preset: lbfgs; gatys adam]
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Learning rate: Adam's step in pixel units (default 5), L-BFGS's step factor (default 1:
    /// its first step changes a pixel value by 1 on average); the preset's when its optimizer
    /// is used.
    #[arg(long)]
    pub lr: Option<f64>,
    /// `noise` (the method's original start), `content`, or `blend:R` (R * noise + (1 - R) *
    /// content) [preset: content; gatys noise].
    #[arg(long)]
    pub init: Option<String>,
    #[arg(long, default_value_t = StyleConfig::default().seed)]
    pub seed: u64,
    #[arg(long, default_value = DEFAULT_CONTENT_LAYER)]
    pub content_layer: String,
    /// Style layers with their weights lambda.
    #[arg(long, default_value_t = default_style_layers())]
    pub style_layers: String,
    /// Weights of the style images (default: equal).
    #[arg(long)]
    pub style_blend: Option<String>,
    #[arg(long, value_enum, default_value_t = PoolingArg::Max)]
    pub pooling: PoolingArg,
    /// Keep the content's colours: the transfer runs on luminance only (the style's luminance
    /// matched to the content's mean and spread) and the result takes the content's chroma.
    #[arg(long)]
    pub preserve_colors: bool,
    /// Size of the style images relative to the generated image's long side. The network sees
    /// a painting's strokes at the size they have in the scaled style image and paints them at
    /// that size: larger values give larger strokes and swirls, smaller values finer ones.
    #[arg(long, default_value_t = 1.0)]
    pub style_scale: f32,
    /// Coarse-to-fine: iterations at the coarser levels, coarsest first, each level half the
    /// side of the next (`20,10`: 20 at 1/4 size, 10 at 1/2, then --iterations at full size),
    /// the result upsampled between levels; `none` for a single level [preset fast: 40 at 1/2
    /// size and half as many at each level below, down to a long side of 64 px (20,40 at 256
    /// px, 10,20,40 at 512, 5,10,20,40 at 1024); gatys: none].
    #[arg(long)]
    pub coarse: Option<String>,
    /// Write `out.NNNN.png` every N steps.
    #[arg(long)]
    pub save_every: Option<usize>,
}

/// The transfer's settings from the flags: the `--method` preset, each flag given overriding it,
/// checked.
pub fn style_config(a: &StyleArgs) -> anyhow::Result<StyleConfig> {
    let overrides = Overrides {
        iterations: a.iterations,
        method: a.optimizer.map(Method::from),
        lr: a.lr,
        beta: a.beta,
        init: a.init.as_deref().map(str::parse).transpose().context("--init")?,
        coarse: a.coarse.as_deref().map(parse_coarse).transpose().context("--coarse")?,
        luma_weight: a.luma_weight,
    };
    let mut c = a.method.preset().with(&overrides);
    (c.alpha, c.tv_weight, c.seed, c.pooling) = (a.alpha, a.tv_weight, a.seed, a.pooling.into());
    c.content_layer = layer(&a.content_layer).context("--content-layer")?;
    c.style_layers = parse_style_layers(&a.style_layers).context("--style-layers")?;
    c.validate().map_err(|e| {
        let flag = format!("--{}", e.setting().replace('_', "-"));
        anyhow::Error::new(e).context(flag)
    })?;
    Ok(c)
}

/// The flags checked and turned into what the run needs.
struct Settings {
    config: StyleConfig,
    /// Long side of the style pictures.
    style_size: u32,
    /// Blend weight of each style picture.
    blend: Vec<f32>,
}

fn settings(a: &StyleArgs) -> anyhow::Result<Settings> {
    let max = if a.force { u32::MAX } else { MAX_SIZE };
    let force = if a.force { "" } else { " (add --force if you mean it)" };
    picture::check_size(a.size, 1, max).map_err(|e| anyhow!("--size: {e}{force}"))?;
    let config = style_config(a)?;
    let style_size = picture::style_size(a.size, a.style_scale).context("--style-scale")?;
    picture::check_size(style_size, 1, max)
        .map_err(|e| anyhow!("--style-scale {} makes the style images: {e}{force}", a.style_scale))?;
    let given = a.style_blend.as_deref().map(|s| parse_numbers(s, "blend weight")).transpose();
    let blend =
        blend_weights(given.context("--style-blend")?.as_deref(), a.styles.len()).context("--style-blend")?;
    Ok(Settings { config, style_size, blend })
}

/// The content picture and the style pictures, each checked to be large enough at its size.
fn load_pictures(a: &StyleArgs, style_size: u32) -> anyhow::Result<(RgbImage, Vec<RgbImage>)> {
    let check = |img: &RgbImage, size: u32, path: &Path| {
        picture::check_side(img, size)
            .map_err(|e| anyhow!("{}: {e} (raise --size or --style-scale)", path.display()))
    };
    let content = load_rgb(&a.content)?;
    let styles = a.styles.iter().map(|p| load_rgb(p)).collect::<Result<Vec<_>, _>>()?;
    check(&content, a.size, &a.content)?;
    for (img, path) in styles.iter().zip(&a.styles) {
        check(img, style_size, path)?;
    }
    Ok((content, styles))
}

fn save(img: &RgbImage, path: &Path) -> anyhow::Result<()> {
    img.save(path).with_context(|| format!("{}: cannot write the image", path.display()))
}

/// Runs the transfer with a progress bar, saving every `--save-every` steps; returns the result
/// and every step's costs.
fn optimise(
    a: &StyleArgs,
    vgg: &Vgg19,
    inputs: &Inputs,
    config: &StyleConfig,
) -> anyhow::Result<(Transfer, Vec<StepCosts>)> {
    let bar = indicatif::ProgressBar::new(config.total_iterations(a.size as usize) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("style [{bar:30}] {pos}/{len} {msg} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut costs = Vec::new();
    let mut save_err = None;
    let result = transfer(vgg, inputs.content.clone(), &inputs.styles, config, &mut |c, g| {
        bar.set_message(format!(
            "J {:.4e} Jc {:.3e} Js {:.3e} evals {:.1}",
            c.total, c.content, c.style, c.evals
        ));
        bar.set_position((c.step + 1) as u64);
        if let Some(n) = a.save_every
            && n > 0
            && c.step % n == 0
        {
            let p = a.out.with_extension(format!("{:04}.png", c.step));
            if let Err(e) = save(&to_image(inputs.finish(g.clone().detach())), &p) {
                save_err.get_or_insert(e);
            }
        }
        costs.push(*c);
        true
    });
    bar.finish_and_clear();
    match save_err {
        Some(e) => Err(e),
        None => Ok((result, costs)),
    }
}

/// The `--json` report of a run.
#[derive(Debug, Serialize)]
struct Report<'a> {
    out: &'a Path,
    method: &'static str,
    /// Iterations at full size.
    iterations: usize,
    /// Iterations at the coarse levels, coarsest first.
    coarse: Vec<usize>,
    size: u32,
    optimizer: &'static str,
    init: String,
    beta: f32,
    lr: f64,
    evaluations: f64,
    ssim: f64,
    style_ratio: f64,
    meets_bar: bool,
    style_loss_result: f64,
    style_loss_content: f64,
    seconds_quality: f64,
    peak_rss_mib: Option<f64>,
    losses: Vec<f32>,
    #[serde(rename = "J_content")]
    j_content: Option<f32>,
    #[serde(rename = "J_style")]
    j_style: Option<f32>,
    #[serde(rename = "J_tv")]
    j_tv: Option<f32>,
    seconds_load: f64,
    seconds_targets: f64,
    seconds_optimise: f64,
    seconds_per_iteration: f64,
}

/// Seconds spent loading VGG19 and measuring the quality.
struct Timing {
    load: f64,
    quality: f64,
}

impl<'a> Report<'a> {
    fn new(
        a: &'a StyleArgs,
        config: &'a StyleConfig,
        result: &Transfer,
        costs: &[StepCosts],
        q: &Quality,
        t: Timing,
    ) -> Self {
        let last = costs.last();
        Report {
            out: &a.out,
            method: a.method.preset().name,
            iterations: config.iterations,
            coarse: config.coarse.levels(a.size as usize),
            size: a.size,
            optimizer: config.method.name(),
            init: config.init.to_string(),
            beta: config.beta,
            lr: config.lr,
            evaluations: result.evals,
            ssim: q.ssim,
            style_ratio: q.style_ratio,
            meets_bar: q.meets_bar(),
            style_loss_result: q.style_result,
            style_loss_content: q.style_content,
            seconds_quality: t.quality,
            peak_rss_mib: facestyle_nn::os::peak_rss_mib(),
            losses: costs.iter().map(|c| c.total).collect(),
            j_content: last.map(|c| c.content),
            j_style: last.map(|c| c.style),
            j_tv: last.map(|c| c.tv),
            seconds_load: t.load,
            seconds_targets: result.seconds_targets,
            seconds_optimise: result.seconds_optimise,
            seconds_per_iteration: result.seconds_optimise
                / config.total_iterations(a.size as usize).max(1) as f64,
        }
    }

    /// The three lines of the text report.
    fn print_text(&self, first: Option<&StepCosts>) {
        if let (Some(first), Some(j_content), Some(j_style)) = (first, self.j_content, self.j_style) {
            let last = self.losses.last().copied().unwrap_or(first.total);
            println!("J {:.4e} -> {last:.4e} (content {j_content:.3e}, style {j_style:.3e})", first.total);
        }
        println!(
            "{:.1} evaluations (at {} px) in {:.1} s, peak memory {} -> {}",
            self.evaluations,
            self.size,
            self.seconds_optimise,
            self.peak_rss_mib.map_or("?".into(), |m| format!("{m:.0} MiB")),
            self.out.display()
        );
        println!(
            "quality: SSIM {:.3} (structure kept, bar >= {}), style ratio {:.4} (style carried, bar <= {}){}",
            self.ssim,
            quality::SSIM_BAR,
            self.style_ratio,
            quality::STYLE_RATIO_BAR,
            if self.meets_bar { "" } else { " - below the bar" }
        );
    }
}

pub fn run(a: StyleArgs, json_out: bool) -> anyhow::Result<()> {
    // Every argument is checked before any heavy work.
    let s = settings(&a)?;
    let (content_img, style_imgs) = load_pictures(&a, s.style_size)?;
    let t0 = Instant::now();
    let device = facestyle_nn::device::training_device();
    let vgg = Vgg19::load_cached(&device)?.no_grad();
    let load = t0.elapsed().as_secs_f64();
    let inputs =
        Inputs::new(&content_img, &style_imgs, &s.blend, a.size, s.style_size, a.preserve_colors, &device);
    let (result, costs) = optimise(&a, &vgg, &inputs, &s.config)?;
    let t_q = Instant::now();
    let q = quality::measure(&vgg, result.image.clone(), inputs.content.clone(), &inputs.styles, &s.config);
    let timing = Timing { load, quality: t_q.elapsed().as_secs_f64() };
    save(&to_image(inputs.finish(result.image.clone())), &a.out)?;
    let report = Report::new(&a, &s.config, &result, &costs, &q, timing);
    if json_out {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        report.print_text(costs.first());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cmd::{Cli, Command};

    fn args(flags: &[&str]) -> StyleArgs {
        let mut argv = vec!["facestyle", "style", "c.jpg", "s.jpg", "-o", "o.png"];
        argv.extend(flags);
        match Cli::try_parse_from(argv).expect("valid flags").command {
            Command::Style(a) => a,
            other => panic!("not the style command: {other:?}"),
        }
    }

    #[test]
    fn no_options_give_the_library_default() {
        let a = args(&[]);
        assert_eq!(style_config(&a).unwrap(), StyleConfig::default());
        assert_eq!(a.size, DEFAULT_SIZE);
        let s = settings(&a).unwrap();
        assert_eq!((s.style_size, s.blend.as_slice()), (DEFAULT_SIZE, &[1.0][..]));
    }

    #[test]
    fn presets_and_overrides() {
        assert_eq!(style_config(&args(&["--method", "gatys"])).unwrap(), GATYS.config());
        assert_eq!(style_config(&args(&["--method", "fast"])).unwrap(), FAST.config());
        // Another optimiser takes its own default step unless --lr is given.
        let c = style_config(&args(&["--optimizer", "adam"])).unwrap();
        assert_eq!((c.method, c.lr, c.init, c.beta), (Method::Adam, 5.0, FAST.init, FAST.beta));
        let c = style_config(&args(&["--method", "gatys", "--optimizer", "l-bfgs", "--lr", "0.5"])).unwrap();
        assert_eq!((c.method, c.lr, c.iterations), (Method::Lbfgs, 0.5, 300));
        let c = style_config(&args(&["--coarse", "none", "--init", "blend:0.5", "--pooling", "average"]))
            .unwrap();
        assert_eq!(
            (c.coarse.levels(1024).len(), c.init, c.pooling),
            (0, facestyle_style::config::Init::Blend(0.5), Pooling::Average)
        );
    }

    #[test]
    fn library_errors_get_their_flag() {
        let err = |flags: &[&str]| format!("{:#}", settings(&args(flags)).err().expect("refused"));
        assert!(err(&["--beta=-1"]).starts_with("--beta: beta must be a non-negative"));
        assert!(err(&["--lr", "0"]).starts_with("--lr: lr must be a positive"));
        assert!(err(&["--tv-weight=-1"]).starts_with("--tv-weight:"));
        assert!(err(&["--size", "5000"]).contains("add --force"));
        assert!(settings(&args(&["--size", "5000", "--force"])).is_ok());
        assert!(err(&["--style-blend", "1,2"]).starts_with("--style-blend: 2 blend weights for 1 style"));
    }
}
