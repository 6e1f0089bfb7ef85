//! The training-curve picture: three panels side by side, per epoch: training loss, fraction
//! of active triplets, validation accuracy. Text in the 8x8 bitmap font of `font8x8`.

use facestyle_face::draw::{self, put};
use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};

use crate::train::EpochRecord;

const PANEL_W: u32 = 320;
const PANEL_H: u32 = 240;
const MARGIN: u32 = 44;

/// Draws `text` with its top-left corner at (x, y).
pub fn text(img: &mut RgbImage, x: i64, y: i64, s: &str, c: Rgb<u8>) {
    for (k, ch) in s.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS.get(ch).unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    put(img, x + 8 * k as i64 + col, y + row as i64, c);
                }
            }
        }
    }
}

/// A line three pixels thick (the one-pixel line, shifted right and down).
fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: Rgb<u8>) {
    let (x0, y0, x1, y1) = (x0.round() as i64, y0.round() as i64, x1.round() as i64, y1.round() as i64);
    for (dx, dy) in [(0, 0), (1, 0), (0, 1)] {
        draw::line(img, (x0 + dx, y0 + dy), (x1 + dx, y1 + dy), c);
    }
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// One panel at horizontal offset `ox`: axes, min/max labels, the polyline and dots.
fn panel(img: &mut RgbImage, ox: u32, title: &str, points: &[(f64, f64)], colour: Rgb<u8>) {
    let black = Rgb([0, 0, 0]);
    let grey = Rgb([200, 200, 200]);
    text(img, (ox + MARGIN) as i64, 8, title, black);
    let (left, top) = ((ox + MARGIN) as f64, 28.0);
    let (w, h) = ((PANEL_W - MARGIN - 12) as f64, (PANEL_H - 28 - 30) as f64);
    line(img, (left, top), (left, top + h), black);
    line(img, (left, top + h), (left + w, top + h), black);
    let pts: Vec<(f64, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    if pts.is_empty() {
        text(img, left as i64 + 8, (top + h / 2.0) as i64, "no data", grey);
        return;
    }
    let (mut lo, mut hi) =
        pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if hi - lo < 1e-9 {
        lo -= 0.5 * lo.abs().max(1e-3);
        hi += 0.5 * hi.abs().max(1e-3);
    }
    let x_max = pts.iter().map(|p| p.0).fold(1.0f64, f64::max);
    let x_min = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min).min(x_max - 1.0);
    let at =
        |p: (f64, f64)| (left + (p.0 - x_min) / (x_max - x_min) * w, top + h - (p.1 - lo) / (hi - lo) * h);
    for q in 1..4 {
        let y = top + h * q as f64 / 4.0;
        line(img, (left + 2.0, y), (left + w, y), grey);
    }
    text(img, ox as i64 + 2, top as i64 - 4, &fmt(hi), black);
    text(img, ox as i64 + 2, (top + h) as i64 - 4, &fmt(lo), black);
    text(img, left as i64 - 4, (top + h) as i64 + 6, &format!("{x_min:.0}"), black);
    let xl = format!("{x_max:.0}");
    text(img, (left + w) as i64 - 8 * xl.len() as i64, (top + h) as i64 + 6, &xl, black);
    text(img, (left + w / 2.0) as i64 - 20, (top + h) as i64 + 18, "epoch", black);
    for win in pts.windows(2) {
        line(img, at(win[0]), at(win[1]), colour);
    }
    for &p in &pts {
        let (x, y) = at(p);
        for dx in -2..=2 {
            for dy in -2..=2 {
                put(img, x.round() as i64 + dx, y.round() as i64 + dy, colour);
            }
        }
    }
}

/// Loss, active fraction and validation accuracy against the epoch.
pub fn plot(history: &[EpochRecord], title: &str) -> RgbImage {
    let mut img = RgbImage::from_pixel(3 * PANEL_W, PANEL_H + 20, Rgb([255, 255, 255]));
    let series = |f: &dyn Fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
        history.iter().map(|r| (r.epoch as f64, f(r))).collect()
    };
    panel(&mut img, 0, "triplet loss (train)", &series(&|r| r.loss.unwrap_or(f64::NAN)), Rgb([200, 40, 40]));
    panel(
        &mut img,
        PANEL_W,
        "active triplets",
        &series(&|r| r.active.unwrap_or(f64::NAN)),
        Rgb([40, 120, 40]),
    );
    panel(
        &mut img,
        2 * PANEL_W,
        "validation accuracy",
        &series(&|r| r.validation.accuracy),
        Rgb([40, 60, 200]),
    );
    text(&mut img, 8, (PANEL_H + 6) as i64, title, Rgb([80, 80, 80]));
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Validation;

    #[test]
    fn draws_each_series_in_its_panel() {
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
        let img = plot(&[rec(0, f64::NAN, 0.6), rec(1, 0.2, 0.7), rec(2, 0.1, 0.8)], "test run");
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
    }
}
