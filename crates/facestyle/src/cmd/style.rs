//! `facestyle style CONTENT STYLE [STYLE2 ...] -o out.png`: Gatys neural style transfer.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use facestyle_face::photo::load_rgb;
use facestyle_nn::burn::prelude::*;
use facestyle_style::colour;
use facestyle_style::picture::{self, to_image, to_tensor};
use facestyle_style::quality;
use facestyle_style::transfer::{Init, Method, StyleConfig, preset, transfer};
use facestyle_style::vgg::{LAYERS, Pooling, Vgg19, layer_index};
use image::RgbImage;
use serde_json::json;

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
    #[arg(long, default_value_t = 256)]
    pub size: u32,
    /// Allow --size above 4096.
    #[arg(long)]
    pub force: bool,
    /// Settings preset: `fast` (L-BFGS from the content image, beta 1e4, 40 evaluations at 1/2
    /// size then 29 at full size, 39 evaluations at the output size) or
    /// `gatys` (the method as the course describes it: from noise, beta 1e3, 300 Adam steps of
    /// lr 5); the flags below override it.
    #[arg(long, default_value = "fast")]
    pub method: String,
    /// Iterations at full size (L-BFGS: evaluations of J) [preset].
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Content weight alpha.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f32,
    /// Style weight beta [preset: 1e4; gatys 1e3, alpha / beta = 1e-3 as in Gatys et al.].
    #[arg(long)]
    pub beta: Option<f32>,
    /// Total-variation weight.
    #[arg(long, default_value_t = 0.0)]
    pub tv_weight: f32,
    /// `adam` (one gradient step per iteration) or `lbfgs` (strong-Wolfe line search; an
    /// iteration is one evaluation of J).
    /// [preset: lbfgs; gatys adam]
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning rate: Adam's step in pixel units (default 5), L-BFGS's initial step (default 1);
    /// the preset's when its optimizer is used.
    #[arg(long)]
    pub lr: Option<f64>,
    /// `noise` (the method's original start), `content`, or `blend:R` (R * noise + (1 - R) *
    /// content) [preset: content; gatys noise].
    #[arg(long)]
    pub init: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "conv4_2")]
    pub content_layer: String,
    /// Style layers with their weights lambda.
    #[arg(long, default_value = "conv1_1:0.2,conv2_1:0.2,conv3_1:0.2,conv4_1:0.2,conv5_1:0.2")]
    pub style_layers: String,
    /// Weights of the style images (default: equal).
    #[arg(long)]
    pub style_blend: Option<String>,
    /// `max` or `avg`.
    #[arg(long, default_value = "max")]
    pub pooling: String,
    /// Keep the content's colours: the transfer runs on luminance only (the style's luminance
    /// matched to the content's mean and spread) and the result takes the content's chroma.
    #[arg(long)]
    pub preserve_colors: bool,
    /// Size of the style images relative to the generated image's long side (smaller values give
    /// larger brush strokes relative to the picture).
    #[arg(long, default_value_t = 1.0)]
    pub style_scale: f32,
    /// Coarse-to-fine: iterations at the coarser levels, coarsest first, each level half the
    /// side of the next (`20,10`: 20 at 1/4 size, 10 at 1/2, then --iterations at full size),
    /// the result upsampled between levels; `none` for a single level [preset: 40; gatys none].
    #[arg(long)]
    pub coarse: Option<String>,
    /// Write `out.NNNN.png` every N steps.
    #[arg(long)]
    pub save_every: Option<usize>,
}

fn weight(name: &str, v: f32) -> anyhow::Result<f32> {
    if !v.is_finite() || v < 0.0 {
        bail!("{name} must be a non-negative number, got {v}");
    }
    Ok(v)
}

fn parse_init(s: &str) -> anyhow::Result<Init> {
    match s {
        "noise" => Ok(Init::Noise),
        "content" => Ok(Init::Content),
        _ => match s.strip_prefix("blend:").map(str::parse::<f32>) {
            Some(Ok(r)) if (0.0..=1.0).contains(&r) => Ok(Init::Blend(r)),
            _ => bail!("--init {s:?}: expected noise, content or blend:R with R in [0, 1]"),
        },
    }
}

fn parse_coarse(s: &str) -> anyhow::Result<Vec<usize>> {
    if s == "none" || s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .with_context(|| format!("--coarse: '{n}' is not a number of iterations"))
        })
        .collect()
}

/// Peak resident memory of this process in MiB (Linux: `ru_maxrss` in KiB).
pub fn peak_rss_mib() -> Option<f64> {
    #[cfg(unix)]
    {
        // SAFETY: getrusage writes into the zeroed struct it is given.
        let mut r: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) } == 0 {
            return Some(r.ru_maxrss as f64 / 1024.0);
        }
    }
    None
}

fn parse_layer(s: &str) -> anyhow::Result<usize> {
    layer_index(s).with_context(|| format!("unknown layer '{s}' (VGG19 layers: {})", LAYERS.join(", ")))
}

fn parse_style_layers(s: &str) -> anyhow::Result<Vec<(usize, f32)>> {
    s.split(',')
        .map(|item| {
            let (name, w) = item.split_once(':').unwrap_or((item, "1"));
            let w: f32 = w
                .trim()
                .parse()
                .with_context(|| format!("--style-layers: weight of {name} is not a number"))?;
            Ok((parse_layer(name.trim())?, weight(&format!("lambda of {name}"), w)?))
        })
        .collect()
}

/// Refuses an image whose short side would be below [`MIN_SIDE`] at long side `size`.
fn check_side(img: &RgbImage, size: u32, path: &Path) -> anyhow::Result<()> {
    picture::check_side(img, size)
        .map_err(|e| anyhow::anyhow!("{}: {e} (raise --size or --style-scale)", path.display()))
}

fn save(img: &RgbImage, path: &Path) -> anyhow::Result<()> {
    img.save(path).with_context(|| format!("{}: cannot write the image", path.display()))
}

pub fn run(a: StyleArgs, json_out: bool) -> anyhow::Result<()> {
    // Every argument is checked before any heavy work.
    if a.size == 0 {
        bail!("--size must be at least 1 pixel");
    }
    if a.size > 4096 && !a.force {
        bail!("--size {} is above 4096 pixels (add --force if you mean it)", a.size);
    }
    let p = preset(&a.method).with_context(|| format!("--method {:?}: expected fast or gatys", a.method))?;
    let iterations = a.iterations.unwrap_or(p.iterations);
    let (alpha, beta, tv) = (
        weight("--alpha", a.alpha)?,
        weight("--beta", a.beta.unwrap_or(p.beta))?,
        weight("--tv-weight", a.tv_weight)?,
    );
    let method = match a.optimizer.as_deref() {
        None => p.method,
        Some("adam") => Method::Adam,
        Some("lbfgs" | "l-bfgs") => Method::Lbfgs,
        Some(o) => bail!("--optimizer {o:?}: expected adam or lbfgs"),
    };
    let lr = a.lr.unwrap_or(if method == p.method {
        p.lr
    } else if method == Method::Adam {
        5.0
    } else {
        1.0
    });
    if !(lr.is_finite() && lr > 0.0) {
        bail!("--lr must be positive, got {lr}");
    }
    if !(a.style_scale.is_finite() && a.style_scale > 0.0) {
        bail!("--style-scale must be a positive number, got {}", a.style_scale);
    }
    let style_size = (a.size as f32 * a.style_scale).round().max(1.0) as u32;
    if style_size > 4096 && !a.force {
        bail!(
            "--style-scale {} makes the style images {style_size} px, above 4096 (add --force)",
            a.style_scale
        );
    }
    let init = match &a.init {
        Some(s) => parse_init(s)?,
        None => p.init,
    };
    let coarse = match &a.coarse {
        Some(s) => parse_coarse(s)?,
        None => p.coarse.to_vec(),
    };
    let content_layer = parse_layer(&a.content_layer)?;
    let style_layers = parse_style_layers(&a.style_layers)?;
    let pooling = match a.pooling.as_str() {
        "max" => Pooling::Max,
        "avg" | "average" => Pooling::Average,
        p => bail!("--pooling {p:?}: expected max or avg"),
    };
    let blend: Vec<f32> = match &a.style_blend {
        None => vec![1.0 / a.styles.len() as f32; a.styles.len()],
        Some(s) => s
            .split(',')
            .map(|w| w.trim().parse::<f32>().with_context(|| format!("--style-blend: '{w}' is not a number")))
            .collect::<anyhow::Result<_>>()?,
    };
    if blend.len() != a.styles.len() {
        bail!("--style-blend has {} weights for {} style images", blend.len(), a.styles.len());
    }
    for w in &blend {
        weight("--style-blend weight", *w)?;
    }
    let content_img = load_rgb(&a.content)?;
    let style_imgs = a.styles.iter().map(|p| load_rgb(p)).collect::<Result<Vec<_>, _>>()?;
    check_side(&content_img, a.size, &a.content)?;
    for (img, path) in style_imgs.iter().zip(&a.styles) {
        check_side(img, style_size, path)?;
    }

    let t0 = Instant::now();
    let device = facestyle_nn::device::training_device();
    let vgg = Vgg19::load_cached(&device).map_err(anyhow::Error::msg)?.no_grad();
    let load_s = t0.elapsed().as_secs_f64();

    let content = to_tensor(&content_img, a.size, &device);
    let mut styles: Vec<(Tensor<4>, f32)> =
        style_imgs.iter().zip(&blend).map(|(s, w)| (to_tensor(s, style_size, &device), *w)).collect();
    // With --preserve-colors the transfer sees luminance only; `finish` puts the content's
    // colours back under the generated luminance.
    let colours = a.preserve_colors.then(|| content.clone());
    let content = match &colours {
        Some(c) => {
            for (s, _) in styles.iter_mut() {
                *s = colour::matched_grey(s.clone(), c.clone());
            }
            colour::grey(c.clone())
        }
        None => content,
    };
    let finish = |g: Tensor<4>| match &colours {
        Some(c) => colour::with_colours_of(g, c.clone()),
        None => g,
    };
    let config = StyleConfig {
        method,
        content_layer,
        style_layers,
        alpha,
        beta,
        tv_weight: tv,
        iterations,
        lr,
        pooling,
        init,
        seed: a.seed,
        coarse,
    };
    let steps = iterations + config.coarse.iter().sum::<usize>();
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("style [{bar:30}] {pos}/{len} {msg} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut costs = Vec::new();
    let mut save_err = None;
    let run_content = content.clone();
    let result = transfer(&vgg, content, &styles, &config, &mut |c, g| {
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
            if let Err(e) = save(&to_image(finish(g.clone().detach())), &p) {
                save_err.get_or_insert(e);
            }
        }
        costs.push(*c);
        true
    });
    bar.finish_and_clear();
    if let Some(e) = save_err {
        return Err(e);
    }
    let optimise_s = result.seconds_optimise;
    let evals = result.evals;
    let t_q = Instant::now();
    let q = quality::measure(&vgg, result.image.clone(), run_content, &styles, &config);
    let quality_s = t_q.elapsed().as_secs_f64();
    save(&to_image(finish(result.image)), &a.out)?;
    let last = costs.last().copied();
    let rss = peak_rss_mib();
    if json_out {
        println!(
            "{}",
            json!({
                "out": a.out, "method": p.name, "iterations": iterations, "coarse": config.coarse, "size": a.size,
                "optimizer": match config.method { Method::Adam => "adam", Method::Lbfgs => "lbfgs" },
                "init": a.init.clone().unwrap_or_else(|| match p.init {
                    Init::Noise => "noise".into(),
                    Init::Content => "content".into(),
                    Init::Blend(r) => format!("blend:{r}"),
                }),
                "beta": config.beta, "lr": config.lr,
                "evaluations": evals,
                "ssim": q.ssim, "style_ratio": q.style_ratio, "meets_bar": q.meets_bar(),
                "style_loss_result": q.style_result, "style_loss_content": q.style_content,
                "seconds_quality": quality_s, "peak_rss_mib": rss,
                "losses": costs.iter().map(|c| c.total).collect::<Vec<_>>(),
                "J_content": last.map(|c| c.content), "J_style": last.map(|c| c.style), "J_tv": last.map(|c| c.tv),
                "seconds_load": load_s, "seconds_targets": result.seconds_targets, "seconds_optimise": optimise_s,
                "seconds_per_iteration": optimise_s / steps.max(1) as f64,
            })
        );
    } else {
        if let (Some(first), Some(last)) = (costs.first(), last) {
            println!(
                "J {:.4e} -> {:.4e} (content {:.3e}, style {:.3e})",
                first.total, last.total, last.content, last.style
            );
        }
        println!(
            "{evals:.1} evaluations (at {} px) in {optimise_s:.1} s, peak memory {} -> {}",
            a.size,
            rss.map_or("?".into(), |m| format!("{m:.0} MiB")),
            a.out.display()
        );
        println!(
            "quality: SSIM {:.3} (structure kept, bar >= {}), style ratio {:.4} (style carried, bar <= {}){}",
            q.ssim,
            quality::SSIM_BAR,
            q.style_ratio,
            quality::STYLE_RATIO_BAR,
            if q.meets_bar() { "" } else { " - below the bar" }
        );
    }
    Ok(())
}
