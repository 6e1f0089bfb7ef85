//! One pass over an image collection: every image goes through the network once, and each
//! chosen layer keeps its bounded top-k statistics ([`LayerStats`]). Images are decoded in
//! parallel, a chunk at a time, so memory does not grow with the collection.

use std::path::{Path, PathBuf};

use facestyle_style::picture::scaled_dims;
use image::RgbImage;
use image::imageops::{FilterType, resize};
use rayon::prelude::*;

use crate::error::{Result, VizError};
use crate::probe::Probe;
use crate::topk::LayerStats;

/// The picture the network sees: `img` scaled so its long side is `size`. Patches are cut from
/// this same picture, so receptive-field boxes are in its pixels.
pub fn network_view(img: &RgbImage, size: u32) -> RgbImage {
    let (nw, nh) = scaled_dims(img, size);
    if (nw, nh) == img.dimensions() {
        return img.clone();
    }
    resize(img, nw, nh, FilterType::Triangle)
}

fn observe(probe: &dyn Probe, img: &RgbImage, index: usize, layers: &[usize], stats: &mut [LayerStats]) {
    let acts = probe.activations(img, layers);
    stats.par_iter_mut().zip(acts.par_iter()).for_each(|(s, a)| s.observe(index, a.h, a.w, &a.data));
}

/// The result of a scan over files.
#[derive(Debug)]
pub struct Scan {
    /// Every file given; hits refer to these indices.
    pub files: Vec<PathBuf>,
    /// Files that could not be read, with the reason (skipped, not fatal).
    pub skipped: Vec<(PathBuf, VizError)>,
    /// One entry per scanned layer.
    pub stats: Vec<LayerStats>,
    pub size: u32,
}

/// Images smaller than this (after scaling) are skipped: VGG's deeper layers would vanish.
pub const MIN_SIDE: u32 = 32;

/// Largest long side a scan takes, in pixels.
pub const MAX_SIZE: u32 = 2048;

/// A picture loader: one file decoded to RGB.
pub type Load = dyn Fn(&Path) -> Result<RgbImage> + Sync;

/// The loader of files as the command line reads them
/// ([`load_rgb`](facestyle_face::photo::load_rgb): any common format, EXIF orientation applied).
pub fn load_file(p: &Path) -> Result<RgbImage> {
    Ok(facestyle_face::photo::load_rgb(p)?)
}

/// `Err` unless the long side `size` is [`MIN_SIDE`] to [`MAX_SIZE`] pixels.
pub fn check_size(size: u32) -> Result<()> {
    if !(MIN_SIDE..=MAX_SIZE).contains(&size) {
        return Err(VizError::Size { size, min: MIN_SIDE, max: MAX_SIZE });
    }
    Ok(())
}

/// Scans `files` at long side `size`; `load` decodes one file; `progress` is told how many
/// files are done.
pub fn scan_files(
    probe: &dyn Probe,
    files: Vec<PathBuf>,
    size: u32,
    layers: &[usize],
    k: usize,
    load: &Load,
    progress: &mut dyn FnMut(usize),
) -> Scan {
    let mut stats: Vec<LayerStats> =
        layers.iter().map(|&l| LayerStats::new(probe.layers()[l].channels, k)).collect();
    let mut skipped = Vec::new();
    let chunk = 2 * rayon::current_num_threads().max(1);
    let mut done = 0;
    for (c, paths) in files.chunks(chunk).enumerate() {
        let decoded: Vec<Result<RgbImage>> = paths
            .par_iter()
            .map(|p| {
                let view = probe.view(&load(p)?, size)?;
                if view.width().min(view.height()) < MIN_SIDE {
                    return Err(VizError::TooSmall {
                        width: view.width(),
                        height: view.height(),
                        size,
                        min: MIN_SIDE,
                    });
                }
                Ok(view)
            })
            .collect();
        for (j, r) in decoded.into_iter().enumerate() {
            let index = c * chunk + j;
            match r {
                Ok(img) => observe(probe, &img, index, layers, &mut stats),
                Err(e) => skipped.push((files[index].clone(), e)),
            }
            done += 1;
            progress(done);
        }
    }
    Scan { files, skipped, stats, size }
}
