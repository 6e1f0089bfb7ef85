//! `facestyle viz top-patches|activations`: what the units of VGG19 respond to.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use facestyle_face::photo::load_rgb;
use facestyle_viz::probe::{Probe, VggProbe};
use facestyle_viz::render::{Layout, tile_maps};
use facestyle_viz::report::{ReportConfig, build, write};
use facestyle_viz::scan::{network_view, scan_files};
use facestyle_viz::topk::Pick;
use image::RgbImage;
use serde_json::json;

use super::face::progress;
use super::style::load_vgg;

#[derive(Debug, Subcommand)]
pub enum VizCommand {
    /// For each chosen unit of each layer, the image patches (exact receptive fields) that
    /// activate it most over a collection: one grid PNG per layer, top_patches.json, index.html.
    TopPatches(TopPatchesArgs),
    /// The feature maps of one image at one layer, tiled into a picture.
    Activations(ActivationsArgs),
}

#[derive(Debug, Args)]
pub struct TopPatchesArgs {
    /// The network (only `vgg19` so far).
    #[arg(long, default_value = "vgg19")]
    pub model: String,
    #[arg(long, default_value = "conv1_1,conv2_1,conv3_1,conv4_1,conv5_1")]
    pub layers: String,
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
    #[arg(long, default_value = "blocks")]
    pub layout: String,
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

fn probe(model: &str) -> anyhow::Result<VggProbe> {
    if model != "vgg19" {
        bail!("--model {model:?}: only vgg19 is available for visualisation so far");
    }
    let device = facestyle_nn::device::default_device();
    Ok(VggProbe::new(load_vgg(&device)?, device))
}

fn check_size(size: u32) -> anyhow::Result<()> {
    if !(32..=2048).contains(&size) {
        bail!("--size {size}: expected 32 to 2048 pixels");
    }
    Ok(())
}

fn load(p: &Path) -> Result<RgbImage, String> {
    load_rgb(p).map_err(|e| e.to_string())
}

/// `n` items spread evenly over `files`.
fn spread(files: Vec<PathBuf>, n: usize) -> Vec<PathBuf> {
    if n >= files.len() {
        return files;
    }
    (0..n).map(|i| files[i * files.len() / n].clone()).collect()
}

fn top_patches(a: TopPatchesArgs, json_out: bool) -> anyhow::Result<()> {
    check_size(a.size)?;
    let pick: Pick = a.pick.parse().map_err(anyhow::Error::msg)?;
    let layout: Layout = a.layout.parse().map_err(anyhow::Error::msg)?;
    if a.units == 0 || a.top == 0 || a.cell < 4 || a.cell > 512 {
        bail!("--units and --top must be at least 1, --cell 4 to 512 pixels");
    }
    if layout == Layout::Blocks && (1..=a.top).all(|s| s * s != a.top) {
        bail!("--layout blocks needs --top to be a square (1, 4, 9, 16 ...); use --layout strip");
    }
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
    let probe = probe(&a.model)?;
    let layers: Vec<usize> = a
        .layers
        .split(',')
        .map(|l| probe.layer(l.trim()).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    let bar = progress(files.len() as u64, "top patches");
    let scan = scan_files(&probe, files, a.size, &layers, a.top, &load, &mut |n| bar.set_position(n as u64));
    bar.finish_and_clear();
    for (p, e) in &scan.skipped {
        eprintln!("skipped {}: {e}", p.display());
    }
    if scan.skipped.len() == scan.files.len() {
        bail!("none of the {} images could be read", scan.files.len());
    }
    let infos: Vec<_> = layers.iter().map(|&l| &probe.layers()[l]).collect();
    let config = ReportConfig { units: a.units, top: a.top, pick, cell: a.cell, layout };
    let built = build(&scan, &infos, &config, &load).map_err(anyhow::Error::msg)?;
    write(&a.out, &scan, &built, &a.model).map_err(anyhow::Error::msg)?;
    let n = scan.files.len() - scan.skipped.len();
    if json_out {
        let layers: Vec<_> =
            built.iter().map(|(r, _)| json!({"layer": r.layer, "png": a.out.join(&r.png)})).collect();
        println!(
            "{}",
            json!({"images": n, "skipped": scan.skipped.len(), "layers": layers,
                "index": a.out.join("index.html"), "json": a.out.join("top_patches.json")})
        );
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
    check_size(a.size)?;
    let img = load_rgb(&a.image)?;
    let probe = probe(&a.model)?;
    let layer = probe.layer(&a.layer).map_err(anyhow::Error::msg)?;
    let act = probe.activations(&network_view(&img, a.size), &[layer]).remove(0);
    let pic = tile_maps(&act, 48);
    pic.save(&a.out).with_context(|| format!("{}: cannot write the image", a.out.display()))?;
    if json_out {
        println!(
            "{}",
            json!({"layer": a.layer, "channels": act.channels, "h": act.h, "w": act.w, "out": a.out})
        );
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
