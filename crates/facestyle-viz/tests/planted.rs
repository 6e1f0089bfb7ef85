//! A planted unit: VGG19's first three layers with hand-set filters. conv1_1 unit 5 detects a
//! 3x3 pure-red block; conv1_2 unit 2 and conv2_1 unit 7 pass it on through their centre taps.
//! Red blocks are planted at known spots in noise images; the top patches must be exactly those
//! spots (conv1_1) or the receptive fields centred on them (deeper), one per planted image.

use std::path::Path;

use burn::prelude::*;
use facestyle_models::WeightTensor;
use facestyle_style::vgg::Vgg19;
use facestyle_viz::probe::{Probe, VggProbe};
use facestyle_viz::receptive::PixelBox;
use facestyle_viz::render::Layout;
use facestyle_viz::report::{ReportConfig, build, write};
use facestyle_viz::scan::scan_files;
use facestyle_viz::topk::Pick;
use image::{Rgb, RgbImage};

/// HWIO kernel `[3, 3, cin, cout]` with `set(ky, kx, i, o)` values, zero elsewhere.
fn kernel(name: &str, cin: usize, cout: usize, set: &[(usize, usize, usize, usize, f32)]) -> WeightTensor {
    let mut data = vec![0f32; 9 * cin * cout];
    for &(ky, kx, i, o, v) in set {
        data[((ky * 3 + kx) * cin + i) * cout + o] = v;
    }
    WeightTensor::new(name, vec![3, 3, cin, cout], data)
}

fn planted_vgg() -> Vgg19 {
    // Input channels after preprocessing: 0 = B, 1 = G, 2 = R (mean subtracted).
    let mut red = Vec::new();
    for ky in 0..3 {
        for kx in 0..3 {
            red.extend([
                (ky, kx, 2, 5, 1.0 / 255.0),
                (ky, kx, 1, 5, -1.0 / 255.0),
                (ky, kx, 0, 5, -1.0 / 255.0),
            ]);
        }
    }
    let weights = vec![
        kernel("conv1_1", 3, 64, &red),
        WeightTensor::new("b1_1", vec![64], vec![0.0; 64]),
        kernel("conv1_2", 64, 64, &[(1, 1, 5, 2, 1.0)]),
        WeightTensor::new("b1_2", vec![64], vec![0.0; 64]),
        kernel("conv2_1", 64, 128, &[(1, 1, 2, 7, 1.0)]),
        WeightTensor::new("b2_1", vec![128], vec![0.0; 128]),
    ];
    Vgg19::from_weights(&weights, &Device::flex()).unwrap()
}

fn noise(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    RgbImage::from_fn(w, h, |_, _| {
        Rgb([0, 1, 2].map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 56) as u8
        }))
    })
}

fn load(p: &Path) -> facestyle_viz::error::Result<RgbImage> {
    Ok(facestyle_face::photo::load_rgb(p)?)
}

#[test]
fn the_planted_spots_are_the_top_patches() {
    let dir = tempfile::tempdir().unwrap();
    // (image, top-left of the red block); images 1 and 4 are plain noise.
    let spots = [(0usize, (10u32, 7u32)), (2, (0, 20)), (3, (40, 30)), (5, (61, 45))];
    let mut files = Vec::new();
    for i in 0..6 {
        let mut img = noise(64, 48, i as u64 + 1);
        if let Some((_, (x0, y0))) = spots.iter().find(|s| s.0 == i) {
            for y in *y0..y0 + 3 {
                for x in *x0..x0 + 3 {
                    img.put_pixel(x, y, Rgb([255, 0, 0]));
                }
            }
        }
        let p = dir.path().join(format!("img{i}.png"));
        img.save(&p).unwrap();
        files.push(p);
    }
    let probe = VggProbe::new(planted_vgg(), Device::flex());
    let layers = [0, 1, 2];
    let mut seen = 0;
    let scan = scan_files(&probe, files, 64, &layers, 4, &load, &mut |n| seen = n);
    assert_eq!(seen, 6);
    assert!(scan.skipped.is_empty());

    let fields: Vec<_> = probe.layers().iter().map(|l| l.field).collect();
    let planted_unit = [5, 2, 7];
    for (li, &unit) in planted_unit.iter().enumerate() {
        let mut hits = scan.stats[li].units[unit].sorted();
        hits.sort_by_key(|h| h.image);
        assert_eq!(hits.len(), 4);
        for (hit, (image, (x0, y0))) in hits.iter().zip(spots) {
            assert_eq!(hit.image, image, "layer {li}: the planted images, one hit each");
            let (x0, y0) = (x0 as i64, y0 as i64);
            let w = fields[li].window(hit.y, hit.x);
            match li {
                0 => assert_eq!(w, PixelBox { x0, y0, x1: x0 + 3, y1: y0 + 3 }, "exactly the spot"),
                1 => assert_eq!(w, PixelBox { x0: x0 - 1, y0: y0 - 1, x1: x0 + 4, y1: y0 + 4 }),
                _ => {
                    assert_eq!(w.width(), 10);
                    assert!(
                        w.x0 <= x0 && x0 + 3 <= w.x1 && w.y0 <= y0 && y0 + 3 <= w.y1,
                        "{w:?} holds the spot"
                    );
                }
            }
        }
    }

    // The report: unit 5 first among the most active conv1_1 units is not guaranteed, so pick
    // the first 8 units; the planted unit's patches are red at the window's centre.
    let infos: Vec<_> = layers.iter().map(|&l| &probe.layers()[l]).collect();
    let config = ReportConfig { units: 8, top: 4, pick: Pick::First, cell: 30, layout: Layout::Blocks };
    let built = build(&probe, &scan, &infos, &config, &load).unwrap();
    let conv1_1 = &built[0].0;
    let patch = &conv1_1.units[5].patches[0];
    assert_eq!(patch.visible, patch.window);
    let grid = &built[0].1;
    // 8 units -> 3x3 blocks of 2x2 cells of 30 px (+1 px gaps), 6 px between blocks.
    assert_eq!(grid.dimensions(), (3 * 61 + 12, 3 * 61 + 12));
    // Unit 5 is block (row 1, column 2); its first cell is the pure-red spot, blown up.
    let (bx, by) = (2 * 67, 67);
    assert_eq!(grid.get_pixel(bx + 15, by + 15), &Rgb([255, 0, 0]));
    // The spot at x0 = 0 seen by conv1_2 reaches one pixel past the border: clipped.
    let border = patch_of_image2(&built[1].0);
    assert_eq!((border.window.x0, border.visible.x0), (-1, 0));

    let out = dir.path().join("out");
    write(&out, &scan, &built, "planted").unwrap();
    for f in ["conv1_1.png", "conv1_2.png", "conv2_1.png", "top_patches.json", "index.html"] {
        assert!(out.join(f).exists(), "{f}");
    }
}

fn patch_of_image2(layer: &facestyle_viz::report::LayerReport) -> &facestyle_viz::report::PatchInfo {
    layer.units[2].patches.iter().find(|p| p.image.ends_with("img2.png")).expect("image 2 among the top")
}
