//! Every pixel layout a user's photo may have is read as upright 8-bit RGB: EXIF orientation,
//! CMYK JPEG, RGBA, grayscale, 16-bit.

mod common;

use std::path::Path;

use facestyle_face::photo::{decode_rgb, load_rgb};
use image::{DynamicImage, RgbImage};

fn original() -> RgbImage {
    load_rgb(&common::fixture("photos/Colin_Powell_0001.jpg")).unwrap()
}

/// Mean absolute difference per channel value.
fn mad(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let s: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| (*x as i64 - *y as i64).unsigned_abs()).sum();
    s as f64 / a.as_raw().len() as f64
}

fn roundtrip(img: DynamicImage, name: &str) -> RgbImage {
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    decode_rgb(bytes.get_ref(), Path::new(name)).unwrap()
}

#[test]
fn exif_orientation_is_applied() {
    let upright = original();
    let stored = image::open(common::fixture("formats/powell_exif6.jpg")).unwrap().to_rgb8();
    let loaded = load_rgb(&common::fixture("formats/powell_exif6.jpg")).unwrap();
    assert!(mad(&stored, &upright) > 20.0, "the stored pixels are rotated");
    assert!(mad(&loaded, &upright) < 4.0, "orientation 6 applied: {}", mad(&loaded, &upright));
}

#[test]
fn cmyk_rgba_gray_and_16_bit_images_become_rgb() {
    let rgb = original();
    let cmyk = load_rgb(&common::fixture("formats/powell_cmyk.jpg")).unwrap();
    assert!(mad(&cmyk, &rgb) < 6.0, "CMYK JPEG: {}", mad(&cmyk, &rgb));
    let rgba = roundtrip(DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(rgb.clone()).to_rgba8()), "a.png");
    assert_eq!(mad(&rgba, &rgb), 0.0);
    let rgb16 = roundtrip(DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(rgb.clone()).to_rgb16()), "b.png");
    assert_eq!(mad(&rgb16, &rgb), 0.0);
    let gray = DynamicImage::ImageRgb8(rgb.clone()).to_luma8();
    let g = roundtrip(DynamicImage::ImageLuma8(gray.clone()), "c.png");
    assert!(g.pixels().zip(gray.pixels()).all(|(p, q)| p.0 == [q.0[0]; 3]));
}

#[test]
fn faces_are_found_in_every_layout() {
    let Some(engine) = common::engine() else { return };
    let want = engine.detect(&original());
    assert_eq!(want.len(), 1);
    for file in ["formats/powell_exif6.jpg", "formats/powell_cmyk.jpg"] {
        let faces = engine.detect(&load_rgb(&common::fixture(file)).unwrap());
        assert_eq!(faces.len(), 1, "{file}");
        for (p, q) in faces[0].landmarks.iter().zip(&want[0].landmarks) {
            assert!((p[0] - q[0]).abs() < 3.0 && (p[1] - q[1]).abs() < 3.0, "{file}: {p:?} vs {q:?}");
        }
    }
}
