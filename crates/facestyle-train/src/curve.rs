//! The training-curve figure: three panels side by side, per epoch: training loss, fraction
//! of active triplets, validation accuracy; the run's settings underneath. PNG or SVG by the
//! output file's extension ([`facestyle_face::plot`]).

use std::path::Path;

use facestyle_face::plot::{self, DrawResult, FAMILY, Figure, PlotError, decimals};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::train::EpochRecord;

const PANEL_W: u32 = 400;
const PANEL_H: u32 = 300;
const FOOTER_H: u32 = 28;

/// One panel: a title, what the value is, its colour and the (epoch, value) points.
struct Panel {
    title: &'static str,
    y_desc: &'static str,
    colour: RGBColor,
    points: Vec<(i64, f64)>,
}

/// Loss, active fraction and validation accuracy against the epoch; `.save(path)` writes it.
pub struct Curve {
    panels: [Panel; 3],
    title: String,
}

/// The curve of `history`, with `title` (the run's settings) underneath.
pub fn plot(history: &[EpochRecord], title: &str) -> Curve {
    let series = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(i64, f64)> {
        history.iter().filter_map(|r| f(r).filter(|v| v.is_finite()).map(|v| (r.epoch as i64, v))).collect()
    };
    Curve {
        panels: [
            Panel {
                title: "triplet loss (train)",
                y_desc: "mean loss",
                colour: RGBColor(200, 40, 40),
                points: series(&|r| r.loss),
            },
            Panel {
                title: "active triplets",
                y_desc: "fraction with loss > 0",
                colour: RGBColor(40, 120, 40),
                points: series(&|r| r.active),
            },
            Panel {
                title: "validation accuracy",
                y_desc: "accuracy",
                colour: RGBColor(40, 60, 200),
                points: series(&|r| Some(r.validation.accuracy)),
            },
        ],
        title: title.to_string(),
    }
}

impl Curve {
    /// Writes the figure to `path`: PNG for `.png`, SVG for `.svg`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), PlotError> {
        plot::save(self, path.as_ref())
    }
}

impl Figure for Curve {
    fn size(&self) -> (u32, u32) {
        (3 * PANEL_W, PANEL_H + FOOTER_H)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (top, footer) = area.split_vertically(PANEL_H);
        for (panel, cell) in self.panels.iter().zip(top.split_evenly((1, 3)).iter()) {
            draw_panel(panel, cell)?;
        }
        footer.draw_text(&self.title, &(FAMILY, 15).into_font().color(&RGBColor(80, 80, 80)), (10, 6))?;
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(p: &Panel, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    let pts = &p.points;
    let x_min = pts.iter().map(|p| p.0).min().unwrap_or(0);
    let x_max = pts.iter().map(|p| p.0).max().unwrap_or(1).max(x_min + 1);
    let (mut lo, mut hi) =
        pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if pts.is_empty() {
        (lo, hi) = (0.0, 1.0);
    } else if hi - lo < 1e-9 {
        lo -= 0.5 * lo.abs().max(1e-3);
        hi += 0.5 * hi.abs().max(1e-3);
    } else {
        let pad = 0.05 * (hi - lo);
        (lo, hi) = (lo - pad, hi + pad);
    }
    let digits = decimals(hi - lo, 6);
    let mut chart = ChartBuilder::on(area)
        .caption(p.title, (FAMILY, 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(x_min..x_max, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(p.y_desc)
        .x_labels((x_max - x_min + 1).clamp(2, 10) as usize)
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v:.*}", digits))
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .light_line_style(WHITE)
        .draw()?;
    if pts.is_empty() {
        let grey = (FAMILY, 16).into_font().color(&RGBColor(150, 150, 150));
        let (w, h) = area.dim_in_pixel();
        area.draw_text(
            "no data",
            &grey.pos(Pos::new(HPos::Center, VPos::Center)),
            (w as i32 / 2, h as i32 / 2),
        )?;
        return Ok(());
    }
    chart.draw_series(LineSeries::new(pts.iter().copied(), p.colour.stroke_width(3)))?;
    chart.draw_series(pts.iter().map(|&q| Circle::new(q, 4, p.colour.filled())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Validation;

    fn history() -> Vec<EpochRecord> {
        let rec = |epoch: usize, loss: f64, acc: f64| EpochRecord {
            epoch,
            loss: Some(loss),
            active: Some(loss / 2.0),
            triplets: 10.0,
            lr: 1e-3,
            images: 100,
            seconds: 1.0,
            images_per_second: 100.0,
            validation: Validation { accuracy: acc, auc: acc, threshold: 1.0 },
        };
        vec![rec(0, f64::NAN, 0.6), rec(1, 0.2, 0.7), rec(2, 0.1, 0.8)]
    }

    #[test]
    fn draws_each_series_in_its_panel() {
        let img = plot(&history(), "test run").to_rgb().unwrap();
        assert_eq!(img.dimensions(), (3 * PANEL_W, PANEL_H + FOOTER_H));
        let count = |x0: u32, c: [u8; 3]| {
            (x0..x0 + PANEL_W)
                .flat_map(|x| (0..PANEL_H).map(move |y| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0 == c)
                .count()
        };
        assert!(count(0, [200, 40, 40]) > 50);
        assert!(count(PANEL_W, [40, 120, 40]) > 50);
        assert!(count(2 * PANEL_W, [40, 60, 200]) > 50);
        assert_eq!(count(2 * PANEL_W, [200, 40, 40]), 0);
        let dark = img.pixels().filter(|p| p.0.iter().all(|&c| c < 80)).count();
        assert!(dark > 2000, "axes and labels: {dark} dark pixels");
    }

    #[test]
    fn writes_png_and_svg_with_the_axis_labels() {
        let dir = tempfile::tempdir().unwrap();
        let curve = plot(&history(), "compact width 16, SemiHard mining");
        let (png, svg) = (dir.path().join("curve.png"), dir.path().join("curve.svg"));
        curve.save(&png).unwrap();
        curve.save(&svg).unwrap();
        let img = image::open(&png).unwrap().to_rgb8();
        assert!(img.pixels().any(|p| p.0 != [255, 255, 255]));
        let text = std::fs::read_to_string(&svg).unwrap();
        for label in [
            "triplet loss (train)",
            "active triplets",
            "validation accuracy",
            "\nepoch\n",
            "mean loss",
            "compact width 16, SemiHard mining",
        ] {
            assert!(text.contains(label), "{label:?} missing from the SVG");
        }
    }

    #[test]
    fn an_empty_history_says_so() {
        let text = plot(&[], "nothing yet").to_svg().unwrap();
        assert_eq!(text.matches("\nno data\n").count(), 3);
    }
}
