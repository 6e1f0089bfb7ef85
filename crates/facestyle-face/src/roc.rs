//! Verification metrics from scored pairs (distance, same person?): accuracy at a threshold,
//! the accuracy-maximising threshold, ROC curve, AUC, EER, TAR at a fixed FAR, and the ROC
//! plot (PNG or SVG).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::plot::{self, DrawResult, FAMILY, Figure, PlotError};

/// A scored pair: smaller distance means "more alike".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub distance: f32,
    pub same: bool,
}

/// Fraction of pairs decided correctly by "same iff distance <= t".
pub fn accuracy(pairs: &[Scored], t: f32) -> f64 {
    if pairs.is_empty() {
        return 0.0;
    }
    let ok = pairs.iter().filter(|p| (p.distance <= t) == p.same).count();
    ok as f64 / pairs.len() as f64
}

/// The threshold with the best accuracy on `pairs` (midpoint between neighbouring distances).
pub fn best_threshold(pairs: &[Scored]) -> f32 {
    let mut d: Vec<f32> = pairs.iter().map(|p| p.distance).collect();
    d.sort_by(f32::total_cmp);
    d.dedup();
    let mut candidates = vec![d.first().copied().unwrap_or(0.0) - 1e-3];
    candidates.extend(d.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    candidates.push(d.last().copied().unwrap_or(0.0) + 1e-3);
    // Sweep in order, counting correct decisions incrementally.
    let mut sorted: Vec<Scored> = pairs.to_vec();
    sorted.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    let total_diff = sorted.iter().filter(|p| !p.same).count();
    let (mut best_t, mut best_ok) = (candidates[0], total_diff);
    let (mut i, mut same_below, mut diff_below) = (0, 0, 0);
    for &t in &candidates {
        while i < sorted.len() && sorted[i].distance <= t {
            if sorted[i].same {
                same_below += 1
            } else {
                diff_below += 1
            }
            i += 1;
        }
        let ok = same_below + (total_diff - diff_below);
        if ok > best_ok {
            (best_t, best_ok) = (t, ok);
        }
    }
    best_t
}

/// ROC points `(far, tar)` for every threshold, from (0, 0) to (1, 1).
pub fn roc_points(pairs: &[Scored]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<Scored> = pairs.to_vec();
    sorted.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    let pos = sorted.iter().filter(|p| p.same).count().max(1) as f64;
    let neg = sorted.iter().filter(|p| !p.same).count().max(1) as f64;
    let mut pts = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0.0, 0.0);
    for (k, p) in sorted.iter().enumerate() {
        if p.same {
            tp += 1.0
        } else {
            fp += 1.0
        }
        let last_of_tie = k + 1 == sorted.len() || sorted[k + 1].distance != p.distance;
        if last_of_tie {
            pts.push((fp / neg, tp / pos));
        }
    }
    pts
}

/// Area under the ROC curve (trapezoids).
pub fn auc(pairs: &[Scored]) -> f64 {
    roc_points(pairs).windows(2).map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0).sum()
}

/// Equal error rate: where the false accept rate equals the false reject rate (interpolated).
pub fn eer(pairs: &[Scored]) -> f64 {
    let pts = roc_points(pairs);
    for w in pts.windows(2) {
        let (f0, r0) = (w[0].0, 1.0 - w[0].1);
        let (f1, r1) = (w[1].0, 1.0 - w[1].1);
        if f0 <= r0 && f1 >= r1 {
            let (g0, g1) = (f0 - r0, f1 - r1);
            let s = if (g1 - g0).abs() < 1e-12 { 0.0 } else { -g0 / (g1 - g0) };
            return f0 + s * (f1 - f0);
        }
    }
    0.0
}

/// The best true accept rate with a false accept rate of at most `far` (with few negative pairs
/// this is the TAR at zero false accepts).
pub fn tar_at_far(pairs: &[Scored], far: f64) -> f64 {
    roc_points(pairs).into_iter().filter(|p| p.0 <= far + 1e-12).map(|p| p.1).fold(0.0, f64::max)
}

/// The ROC curve of scored pairs as a figure: false accept rate right, true accept rate up,
/// both from 0 to 1, with the chance diagonal, and the AUC and EER in the caption.
pub struct RocPlot {
    points: Vec<(f64, f64)>,
    auc: f64,
    eer: f64,
    size: u32,
}

/// The ROC figure of `pairs`, `size` x `size` pixels; `.save(path)` writes it as PNG or SVG
/// by the extension.
pub fn plot_roc(pairs: &[Scored], size: u32) -> RocPlot {
    RocPlot { points: roc_points(pairs), auc: auc(pairs), eer: eer(pairs), size }
}

impl RocPlot {
    /// Writes the figure to `path`: PNG for `.png`, SVG for `.svg`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), PlotError> {
        plot::save(self, path.as_ref())
    }
}

impl Figure for RocPlot {
    fn size(&self) -> (u32, u32) {
        (self.size, self.size)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let text = |px: u32| (FAMILY, f64::from(px.max(8)));
        let s = self.size / 40;
        let caption = format!("ROC: AUC {:.4}, EER {:.2}%", self.auc, self.eer * 100.0);
        let mut chart = ChartBuilder::on(area)
            .caption(caption, text(2 * s))
            .margin(s)
            .x_label_area_size(4 * s)
            .y_label_area_size(5 * s)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("false accept rate (FAR)")
            .y_desc("true accept rate (TAR)")
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style(text(3 * s / 2))
            .axis_desc_style(text(3 * s / 2 + 2))
            .light_line_style(WHITE)
            .draw()?;
        chart.draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            RGBColor(160, 160, 160).stroke_width(1),
        ))?;
        chart.draw_series(LineSeries::new(
            self.points.iter().copied(),
            RGBColor(200, 30, 30).stroke_width(2),
        ))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(distance: f32, same: bool) -> Scored {
        Scored { distance, same }
    }

    #[test]
    fn separable_pairs_score_perfectly() {
        let p = [s(0.1, true), s(0.2, true), s(0.9, false), s(1.2, false)];
        let t = best_threshold(&p);
        assert!(t > 0.2 && t < 0.9, "{t}");
        assert_eq!(accuracy(&p, t), 1.0);
        assert!((auc(&p) - 1.0).abs() < 1e-12);
        assert!(eer(&p).abs() < 1e-12);
        assert_eq!(tar_at_far(&p, 1e-3), 1.0);
    }

    #[test]
    fn overlapping_pairs_give_known_values() {
        // Order by distance: same, diff, same, diff.
        let p = [s(0.1, true), s(0.2, false), s(0.3, true), s(0.4, false)];
        assert_eq!(accuracy(&p, 0.15), 0.75);
        // AUC = P(d_same < d_diff) = 3/4.
        assert!((auc(&p) - 0.75).abs() < 1e-12);
        assert!((eer(&p) - 0.5).abs() < 1e-12, "{}", eer(&p));
        assert_eq!(tar_at_far(&p, 1e-3), 0.5);
    }

    #[test]
    fn roc_plots_render_with_readable_axes() {
        let p = [s(0.1, true), s(0.2, false), s(0.3, true), s(0.4, false)];
        let fig = plot_roc(&p, 480);
        let img = fig.to_rgb().unwrap();
        assert_eq!(img.dimensions(), (480, 480));
        let red = img.pixels().filter(|px| px.0 == [200, 30, 30]).count();
        let dark = img.pixels().filter(|px| px.0.iter().all(|&c| c < 80)).count();
        assert!(red > 300 && dark > 1000, "{red} curve pixels, {dark} text and axis pixels");
        let svg = fig.to_svg().unwrap();
        for label in [
            "false accept rate (FAR)",
            "true accept rate (TAR)",
            "ROC: AUC 0.7500, EER 50.00%",
            "\n0.6\n</text>",
        ] {
            assert!(svg.contains(label), "{label} missing from the SVG");
        }
        let dir = tempfile::tempdir().unwrap();
        for name in ["roc.png", "roc.svg"] {
            fig.save(dir.path().join(name)).unwrap();
            assert!(std::fs::metadata(dir.path().join(name)).unwrap().len() > 1000, "{name}");
        }
    }
}
