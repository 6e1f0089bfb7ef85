//! After a scan: choose the units, cut their top patches from the images (each image decoded
//! once more, only those that hold a patch), and write per layer a grid PNG, plus
//! `top_patches.json` and an `index.html` that shows every layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::RgbImage;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Result, VizError};
use crate::probe::{LayerInfo, Probe};
use crate::receptive::{Field, PixelBox};
use crate::render::{Layout, layer_grid, patch_cell};
use crate::scan::{Load, Scan};
use crate::topk::{Pick, pick_units};

#[derive(Debug, Clone, Copy)]
pub struct ReportConfig {
    pub units: usize,
    /// Patches per unit (the k of the scan).
    pub top: usize,
    pub pick: Pick,
    pub cell: u32,
    pub layout: Layout,
}

/// Smallest and largest side of one patch cell, in pixels.
pub const CELL_RANGE: (u32, u32) = (4, 512);

impl ReportConfig {
    /// Checks the settings: at least one unit and one patch per unit, a cell of
    /// [`CELL_RANGE`] pixels, and a square number of patches for the blocks layout.
    pub fn validate(&self) -> Result<()> {
        if self.units == 0 {
            return Err(VizError::Zero { name: "units" });
        }
        if self.top == 0 {
            return Err(VizError::Zero { name: "top" });
        }
        let (min, max) = CELL_RANGE;
        if !(min..=max).contains(&self.cell) {
            return Err(VizError::Cell { size: self.cell, min, max });
        }
        if self.layout == Layout::Blocks && (1..=self.top).all(|s| s * s != self.top) {
            return Err(VizError::NotSquare(self.top));
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
pub struct PatchInfo {
    pub value: f32,
    pub image: PathBuf,
    /// Unit position in the layer's map.
    pub y: usize,
    pub x: usize,
    /// The receptive field in the scaled image (may reach past the border) and its visible part.
    pub window: PixelBox,
    pub visible: PixelBox,
}

#[derive(Debug, Serialize)]
pub struct UnitInfo {
    pub unit: usize,
    pub mean_activation: f64,
    pub patches: Vec<PatchInfo>,
}

#[derive(Debug, Serialize)]
pub struct LayerReport {
    pub layer: String,
    pub field: Field,
    pub png: String,
    pub units: Vec<UnitInfo>,
}

/// What the patches are cut for: (layer, unit slot, rank, image, window).
struct Cut {
    layer: usize,
    unit: usize,
    rank: usize,
    image: usize,
    window: PixelBox,
}

/// Chooses the units, cuts and renders; returns the per-layer reports and grids (not written).
pub fn build(
    probe: &dyn Probe,
    scan: &Scan,
    layers: &[&LayerInfo],
    config: &ReportConfig,
    load: &Load,
) -> Result<Vec<(LayerReport, RgbImage)>> {
    config.validate()?;
    let mut cuts = Vec::new();
    let mut reports = Vec::new();
    for (li, (info, stats)) in layers.iter().zip(&scan.stats).enumerate() {
        let units = pick_units(stats, config.units, config.pick);
        let means = stats.means();
        let mut infos = Vec::new();
        for (slot, &u) in units.iter().enumerate() {
            let mut patches = Vec::new();
            for (rank, hit) in stats.units[u].sorted().into_iter().enumerate() {
                let window = info.field.window(hit.y, hit.x);
                cuts.push(Cut { layer: li, unit: slot, rank, image: hit.image, window });
                patches.push(PatchInfo {
                    value: hit.value,
                    image: scan.files[hit.image].clone(),
                    y: hit.y,
                    x: hit.x,
                    window,
                    visible: window, // clipped below, once the image size is known
                });
            }
            infos.push(UnitInfo { unit: u, mean_activation: means[u], patches });
        }
        reports.push(LayerReport {
            layer: info.name.clone(),
            field: info.field,
            png: format!("{}.png", info.name),
            units: infos,
        });
    }
    // Group the cuts by image so each image is decoded once.
    let mut by_image: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, c) in cuts.iter().enumerate() {
        by_image.entry(c.image).or_default().push(i);
    }
    let groups: Vec<(usize, Vec<usize>)> = by_image.into_iter().collect();
    let cut_cells: Vec<Vec<(usize, RgbImage, PixelBox)>> = groups
        .par_iter()
        .map(|(image, ids)| {
            let path = &scan.files[*image];
            let img = probe
                .view(&load(path)?, scan.size)
                .map_err(|e| VizError::View { path: path.clone(), source: Box::new(e) })?;
            Ok(ids
                .iter()
                .map(|&i| {
                    let w = cuts[i].window;
                    (i, patch_cell(&img, w, config.cell), w.clip(img.width(), img.height()))
                })
                .collect())
        })
        .collect::<Result<_>>()?;
    let mut cells: Vec<Vec<Vec<RgbImage>>> = reports
        .iter()
        .map(|r| r.units.iter().map(|u| Vec::with_capacity(u.patches.len())).collect())
        .collect();
    let mut placed: Vec<Option<(RgbImage, PixelBox)>> = (0..cuts.len()).map(|_| None).collect();
    for (i, cell, visible) in cut_cells.into_iter().flatten() {
        placed[i] = Some((cell, visible));
    }
    for (c, slot) in cuts.iter().zip(placed) {
        let (cell, visible) = slot.expect("every cut was made");
        reports[c.layer].units[c.unit].patches[c.rank].visible = visible;
        cells[c.layer][c.unit].push(cell);
    }
    Ok(reports
        .into_iter()
        .zip(cells)
        .map(|(r, c)| (r, layer_grid(&c, config.top, config.cell, config.layout)))
        .collect())
}

/// `top_patches.json`: the run and every layer's report.
#[derive(Debug, Serialize)]
struct TopPatchesFile<'a> {
    model: &'a str,
    size: u32,
    images: usize,
    skipped: Vec<Skipped<'a>>,
    layers: &'a [&'a LayerReport],
}

/// A file the scan could not use, and why.
#[derive(Debug, Serialize)]
struct Skipped<'a> {
    image: &'a Path,
    error: String,
}

/// Writes `LAYER.png` for each layer, `top_patches.json` and `index.html` into `out`.
pub fn write(out: &Path, scan: &Scan, layers: &[(LayerReport, RgbImage)], model: &str) -> Result<()> {
    let written = |path: PathBuf| move |source| VizError::Write { path, source };
    std::fs::create_dir_all(out).map_err(written(out.to_path_buf()))?;
    for (r, grid) in layers {
        let p = out.join(&r.png);
        grid.save(&p).map_err(|source| VizError::Save { path: p.clone(), source })?;
    }
    let reports: Vec<&LayerReport> = layers.iter().map(|(r, _)| r).collect();
    let file = TopPatchesFile {
        model,
        size: scan.size,
        images: scan.files.len() - scan.skipped.len(),
        skipped: scan.skipped.iter().map(|(p, e)| Skipped { image: p, error: e.to_string() }).collect(),
        layers: &reports,
    };
    let p = out.join("top_patches.json");
    std::fs::write(&p, serde_json::to_string_pretty(&file).expect("serialisable"))
        .map_err(written(p.clone()))?;
    let p = out.join("index.html");
    std::fs::write(&p, html(scan, &reports, model)).map_err(written(p.clone()))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn html(scan: &Scan, layers: &[&LayerReport], model: &str) -> String {
    let mut s = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Top patches: {m}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}} img{{image-rendering:pixelated;max-width:100%}} \
         td,th{{padding:2px 8px;text-align:left}}</style></head><body>\n\
         <h1>What {m} learns: the strongest patches per unit</h1>\n\
         <p>{n} images at long side {size} px ({skipped} skipped). For each unit, the image patches (its \
         receptive field; grey = beyond the image border) where it fires most, one per image, strongest \
         first.</p>\n<ul>",
        m = escape(model),
        n = scan.files.len() - scan.skipped.len(),
        size = scan.size,
        skipped = scan.skipped.len()
    );
    for l in layers {
        s += &format!("<li><a href=\"#{0}\">{0}</a> (field {1} px)</li>", escape(&l.layer), l.field.size);
    }
    s += "</ul>\n";
    for l in layers {
        s += &format!(
            "<h2 id=\"{0}\">{0}</h2>\n<p>Receptive field {1} x {1} px, stride {2} px.</p>\n\
             <img src=\"{3}\" alt=\"top patches of {0}\">\n<table><tr><th>unit</th><th>mean</th><th>top activations</th></tr>\n",
            escape(&l.layer),
            l.field.size,
            l.field.jump,
            escape(&l.png)
        );
        for u in &l.units {
            let tops: Vec<String> = u.patches.iter().map(|p| format!("{:.1}", p.value)).collect();
            s += &format!(
                "<tr><td>{}</td><td>{:.2}</td><td>{}</td></tr>\n",
                u.unit,
                u.mean_activation,
                tops.join(" ")
            );
        }
        s += "</table>\n";
    }
    s + "</body></html>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_setting() {
        let ok = ReportConfig { units: 9, top: 9, pick: Pick::First, cell: 64, layout: Layout::Blocks };
        assert!(ok.validate().is_ok());
        let err = |c: ReportConfig| c.validate().unwrap_err().to_string();
        assert_eq!(err(ReportConfig { units: 0, ..ok }), "units must be at least 1");
        assert_eq!(err(ReportConfig { top: 0, ..ok }), "top must be at least 1");
        assert_eq!(err(ReportConfig { cell: 2, ..ok }), "cell 2 px: expected 4 to 512 pixels");
        assert!(err(ReportConfig { top: 5, ..ok }).starts_with("5 patches per unit"));
        assert!(ReportConfig { top: 5, layout: Layout::Strip, ..ok }.validate().is_ok());
        assert!(crate::scan::check_size(224).is_ok() && crate::scan::check_size(16).is_err());
    }
}
