//! Pictures: one receptive-field patch drawn in a cell, the per-layer grid of units x top-k
//! patches, and the feature maps of one image as tiles.

use image::imageops::{FilterType, overlay, resize};
use image::{Rgb, RgbImage};

use crate::probe::Activation;
use crate::receptive::PixelBox;

/// Dark slate, so white and black patches both stand out from it.
const BACKGROUND: Rgb<u8> = Rgb([40, 44, 52]);
const OUTSIDE: Rgb<u8> = Rgb([128, 128, 128]);

/// The unit's full window `window` drawn into a `cell x cell` square: the part inside the image
/// at its true place, the part beyond the border grey (so border patches keep their scale).
pub fn patch_cell(img: &RgbImage, window: PixelBox, cell: u32) -> RgbImage {
    let mut out = RgbImage::from_pixel(cell, cell, OUTSIDE);
    let inside = window.clip(img.width(), img.height());
    if inside.width() <= 0 || inside.height() <= 0 {
        return out;
    }
    let scale = cell as f64 / window.width() as f64;
    let crop = image::imageops::crop_imm(
        img,
        inside.x0 as u32,
        inside.y0 as u32,
        inside.width() as u32,
        inside.height() as u32,
    )
    .to_image();
    let (w, h) = (
        ((inside.width() as f64 * scale).round() as u32).max(1),
        ((inside.height() as f64 * scale).round() as u32).max(1),
    );
    // Small windows (3x3 in conv1_1) are blown up as blocks, not blurred.
    let filter = if scale >= 1.0 { FilterType::Nearest } else { FilterType::Triangle };
    let scaled = resize(&crop, w, h, filter);
    let x = ((inside.x0 - window.x0) as f64 * scale).round() as i64;
    let y = ((inside.y0 - window.y0) as f64 * scale).round() as i64;
    overlay(&mut out, &scaled, x, y);
    out
}

/// How the patches of a layer are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One square block of `sqrt(k) x sqrt(k)` patches per unit, blocks in a square grid (the
    /// classic 9 units x 3x3 figure). Needs k to be a square.
    Blocks,
    /// One row per unit, its k patches strongest first.
    Strip,
}

impl std::str::FromStr for Layout {
    type Err = crate::VizError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "blocks" => Ok(Layout::Blocks),
            "strip" => Ok(Layout::Strip),
            _ => Err(crate::VizError::Layout(s.to_string())),
        }
    }
}

/// Side of the square grid holding n items.
fn square_side(n: usize) -> usize {
    (1..).find(|s| s * s >= n).unwrap_or(1)
}

/// The grid of `patches[unit][rank]` (all cells `cell x cell`); missing ranks stay blank.
pub fn layer_grid(patches: &[Vec<RgbImage>], k: usize, cell: u32, layout: Layout) -> RgbImage {
    let (gap, block_gap) = (1u32, 6u32);
    let units = patches.len().max(1);
    match layout {
        Layout::Strip => {
            let w = k as u32 * (cell + gap) - gap;
            let h = units as u32 * (cell + block_gap) - block_gap;
            let mut out = RgbImage::from_pixel(w.max(1), h.max(1), BACKGROUND);
            for (u, row) in patches.iter().enumerate() {
                for (r, p) in row.iter().enumerate() {
                    let (x, y) = (r as u32 * (cell + gap), u as u32 * (cell + block_gap));
                    overlay(&mut out, p, x as i64, y as i64);
                }
            }
            out
        }
        Layout::Blocks => {
            let per = square_side(k) as u32;
            let block = per * (cell + gap) - gap;
            let side = square_side(units) as u32;
            let rows = (units as u32).div_ceil(side);
            let mut out = RgbImage::from_pixel(
                side * (block + block_gap) - block_gap,
                rows * (block + block_gap) - block_gap,
                BACKGROUND,
            );
            for (u, row) in patches.iter().enumerate() {
                let (bx, by) =
                    ((u as u32 % side) * (block + block_gap), (u as u32 / side) * (block + block_gap));
                for (r, p) in row.iter().enumerate() {
                    let (x, y) = (bx + (r as u32 % per) * (cell + gap), by + (r as u32 / per) * (cell + gap));
                    overlay(&mut out, p, x as i64, y as i64);
                }
            }
            out
        }
    }
}

/// Every feature map of one layer as a grey tile (each scaled by its own maximum; black = 0),
/// tiles in a square grid, each blown up to at least `min_tile` pixels.
pub fn tile_maps(a: &Activation, min_tile: u32) -> RgbImage {
    let (h, w) = (a.h as u32, a.w as u32);
    let zoom = min_tile.div_ceil(h.max(w).max(1)).max(1);
    let (th, tw) = (h * zoom, w * zoom);
    let side = square_side(a.channels) as u32;
    let rows = (a.channels as u32).div_ceil(side);
    let gap = 2;
    let mut out = RgbImage::from_pixel(side * (tw + gap) - gap, rows * (th + gap) - gap, BACKGROUND);
    let plane = a.h * a.w;
    for c in 0..a.channels {
        let map = &a.data[c * plane..(c + 1) * plane];
        let max = map.iter().cloned().fold(0.0f32, f32::max);
        let tile = RgbImage::from_fn(w, h, |x, y| {
            let v = map[(y * w + x) as usize].max(0.0);
            let g = if max > 0.0 { (v / max * 255.0).round() as u8 } else { 0 };
            Rgb([g, g, g])
        });
        let tile = resize(&tile, tw, th, FilterType::Nearest);
        let (x, y) = ((c as u32 % side) * (tw + gap), (c as u32 / side) * (th + gap));
        overlay(&mut out, &tile, x as i64, y as i64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_border_patch_keeps_its_place_and_scale() {
        // 4x4 image, red everywhere; the window hangs 2 px over the left and top borders.
        let img = RgbImage::from_pixel(4, 4, Rgb([255, 0, 0]));
        let cell = patch_cell(&img, PixelBox { x0: -2, y0: -2, x1: 2, y1: 2 }, 8);
        assert_eq!(cell.get_pixel(0, 0), &OUTSIDE, "outside the image");
        assert_eq!(cell.get_pixel(3, 3), &OUTSIDE);
        assert_eq!(cell.get_pixel(4, 4), &Rgb([255, 0, 0]), "inside, at the window's lower right");
        assert_eq!(cell.get_pixel(7, 7), &Rgb([255, 0, 0]));
    }

    #[test]
    fn grids_have_the_documented_size() {
        let cell = RgbImage::from_pixel(10, 10, Rgb([0, 0, 0]));
        let patches = vec![vec![cell.clone(); 9]; 9];
        let g = layer_grid(&patches, 9, 10, Layout::Blocks);
        // 3 blocks of (3 cells + 2 gaps of 1 = 32) with 2 gaps of 6.
        assert_eq!(g.dimensions(), (3 * 32 + 12, 3 * 32 + 12));
        let s = layer_grid(&patches, 9, 10, Layout::Strip);
        assert_eq!(s.dimensions(), (9 * 11 - 1, 9 * 16 - 6));
        let a = Activation {
            channels: 3,
            h: 2,
            w: 2,
            data: vec![0.0, 1.0, 2.0, 4.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0],
        };
        let t = tile_maps(&a, 8);
        assert_eq!(t.dimensions(), (2 * 8 + 2, 2 * 8 + 2));
        assert_eq!(t.get_pixel(7, 7).0[0], 255, "channel 0's maximum");
        assert_eq!(t.get_pixel(0, 0).0[0], 0);
    }
}
