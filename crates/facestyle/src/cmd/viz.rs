//! `facestyle viz top-patches|activations`: what the units of VGG19 respond to.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use facestyle_face::photo::load_rgb;
use facestyle_viz::VizError;
use facestyle_viz::probe::Probe;
use facestyle_viz::render::{Layout, tile_maps};
use facestyle_viz::report::{ReportConfig, build, write};
use facestyle_viz::scan::{self, scan_files};
use facestyle_viz::topk::Pick;
use serde::Serialize;

use super::face::progress;

#[derive(Debug, Subcommand)]
pub enum VizCommand {
    /// For each chosen unit of each layer, the image patches (exact receptive fields) that
    /// activate it most over a collection: one grid PNG per layer, top_patches.json, index.html.
    TopPatches(TopPatchesArgs),
    /// The feature maps of one image at one layer, tiled into a picture.
    Activations(ActivationsArgs),
}

/// How the patches of a layer are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// One sqrt(top) x sqrt(top) block per unit.
    Blocks,
    /// One row per unit.
    Strip,
}

impl From<LayoutArg> for Layout {
    fn from(l: LayoutArg) -> Self {
        match l {
            LayoutArg::Blocks => Layout::Blocks,
            LayoutArg::Strip => Layout::Strip,
        }
    }
}

#[derive(Debug, Args)]
pub struct TopPatchesArgs {
    /// `vgg19`, `sface` (each image's largest face, aligned to 112x112), or the path of an
    /// SFace-architecture .onnx file.
    #[arg(long, default_value = "vgg19")]
    pub model: String,
    /// Layers to show (default: VGG19's conv1_1,conv2_1,conv3_1,conv4_1,conv5_1; SFace's
    /// conv1,pw2,pw4,pw6,pw13).
    #[arg(long)]
    pub layers: Option<String>,
    /// Folders of images (searched recursively); repeat for several.
    #[arg(long, required = true, num_args = 1..)]
    pub images: Vec<PathBuf>,
    /// Use at most N images from each folder, spread evenly over its sorted list.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Units shown per layer.
    #[arg(long, default_value_t = 9)]
    pub units: usize,
    /// Patches per unit.
    #[arg(long, default_value_t = 9)]
    pub top: usize,
    /// `first`, `random[:SEED]` or `active` (highest mean activation).
    #[arg(long, default_value = "first")]
    pub pick: String,
    /// Long side of the images as the network sees them.
    #[arg(long, default_value_t = 224)]
    pub size: u32,
    /// Side of one patch in the grid, in pixels.
    #[arg(long, default_value_t = 64)]
    pub cell: u32,
    /// `blocks` (one sqrt(top) x sqrt(top) block per unit) or `strip` (one row per unit).
    #[arg(long, value_enum, default_value_t = LayoutArg::Blocks)]
    pub layout: LayoutArg,
    /// Output folder.
    #[arg(short, long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ActivationsArgs {
    pub image: PathBuf,
    #[arg(long, default_value = "vgg19")]
    pub model: String,
    #[arg(long)]
    pub layer: String,
    #[arg(long, default_value_t = 224)]
    pub size: u32,
    /// Output PNG.
    #[arg(short, long)]
    pub out: PathBuf,
}

/// The network to look into ([`facestyle_viz::probe::named`]), the flag named in errors.
fn probe(model: &str) -> anyhow::Result<Box<dyn Probe>> {
    facestyle_viz::probe::named(model).with_context(|| format!("--model {model}"))
}

/// The flag that sets what a [`ReportConfig::validate`] error is about, with advice.
fn report_flag(e: &VizError) -> &'static str {
    match e {
        VizError::Zero { name: "units" } => "--units",
        VizError::Zero { .. } => "--top",
        VizError::Cell { .. } => "--cell",
        VizError::NotSquare(_) => "--top (or --layout strip)",
        _ => "top-patches",
    }
}

/// The folders' images, at most `--limit` from each.
fn collect_files(a: &TopPatchesArgs) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in &a.images {
        let found = super::face::image_files(dir)?;
        files.extend(match a.limit {
            Some(n) => spread(found, n),
            None => found,
        });
    }
    if files.is_empty() {
        bail!("no images (jpg, png, ...) under {:?}", a.images);
    }
    Ok(files)
}

/// The layers of `--layers`, or the probe's default ones.
fn chosen_layers(probe: &dyn Probe, layers: Option<&str>) -> anyhow::Result<Vec<usize>> {
    let names: Vec<&str> = match layers {
        Some(s) => s.split(',').map(str::trim).collect(),
        None => probe.default_layers(),
    };
    names.into_iter().map(|l| probe.layer(l)).collect::<Result<_, _>>().context("--layers")
}

/// The `--json` report of `viz top-patches`.
#[derive(Debug, Serialize)]
struct TopPatchesReport {
    images: usize,
    skipped: usize,
    layers: Vec<LayerPng>,
    index: PathBuf,
    json: PathBuf,
}

#[derive(Debug, Serialize)]
struct LayerPng {
    layer: String,
    png: PathBuf,
}

/// The `--json` report of `viz activations`.
#[derive(Debug, Serialize)]
struct ActivationsReport<'a> {
    layer: &'a str,
    channels: usize,
    h: usize,
    w: usize,
    out: &'a Path,
}

/// `n` items spread evenly over `files`.
fn spread(files: Vec<PathBuf>, n: usize) -> Vec<PathBuf> {
    if n >= files.len() {
        return files;
    }
    (0..n).map(|i| files[i * files.len() / n].clone()).collect()
}

fn top_patches(a: TopPatchesArgs, json_out: bool) -> anyhow::Result<()> {
    scan::check_size(a.size).context("--size")?;
    let pick: Pick = a.pick.parse().context("--pick")?;
    let config = ReportConfig { units: a.units, top: a.top, pick, cell: a.cell, layout: a.layout.into() };
    config.validate().map_err(|e| {
        let flag = report_flag(&e);
        anyhow::Error::new(e).context(flag)
    })?;
    let files = collect_files(&a)?;
    let probe = probe(&a.model)?;
    let layers = chosen_layers(probe.as_ref(), a.layers.as_deref())?;
    let bar = progress(files.len() as u64, "top patches");
    let scan = scan_files(probe.as_ref(), files, a.size, &layers, a.top, &scan::load_file, &mut |n| {
        bar.set_position(n as u64)
    });
    bar.finish_and_clear();
    for (p, e) in &scan.skipped {
        tracing::warn!("skipped {}: {e}", p.display());
    }
    if scan.skipped.len() == scan.files.len() {
        bail!("none of the {} images could be read", scan.files.len());
    }
    let infos: Vec<_> = layers.iter().map(|&l| &probe.layers()[l]).collect();
    let built = build(probe.as_ref(), &scan, &infos, &config, &scan::load_file)?;
    write(&a.out, &scan, &built, &a.model)?;
    let n = scan.files.len() - scan.skipped.len();
    if json_out {
        let report = TopPatchesReport {
            images: n,
            skipped: scan.skipped.len(),
            layers: built
                .iter()
                .map(|(r, _)| LayerPng { layer: r.layer.clone(), png: a.out.join(&r.png) })
                .collect(),
            index: a.out.join("index.html"),
            json: a.out.join("top_patches.json"),
        };
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{n} images ({} skipped) -> {} layers in {}",
            scan.skipped.len(),
            built.len(),
            a.out.join("index.html").display()
        );
    }
    Ok(())
}

fn activations(a: ActivationsArgs, json_out: bool) -> anyhow::Result<()> {
    scan::check_size(a.size).context("--size")?;
    let img = load_rgb(&a.image)?;
    let probe = probe(&a.model)?;
    let layer = probe.layer(&a.layer).context("--layer")?;
    let view = probe.view(&img, a.size).map_err(|e| anyhow!("{}: {e}", a.image.display()))?;
    let act = probe.activations(&view, &[layer]).remove(0);
    let pic = tile_maps(&act, 48);
    pic.save(&a.out).with_context(|| format!("{}: cannot write the image", a.out.display()))?;
    if json_out {
        let report =
            ActivationsReport { layer: &a.layer, channels: act.channels, h: act.h, w: act.w, out: &a.out };
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}: {} maps of {}x{} -> {}", a.layer, act.channels, act.w, act.h, a.out.display());
    }
    Ok(())
}

pub fn run(c: VizCommand, json_out: bool) -> anyhow::Result<()> {
    match c {
        VizCommand::TopPatches(a) => top_patches(a, json_out),
        VizCommand::Activations(a) => activations(a, json_out),
    }
}
