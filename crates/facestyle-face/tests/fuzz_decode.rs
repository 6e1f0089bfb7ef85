//! Fuzzing `photo::decode_rgb` (property tests on stable Rust): small valid files of every
//! format the decoder takes (PNG, JPEG, BMP, WebP, TIFF, GIF, and the CMYK and EXIF-rotated
//! JPEG fixtures), mutated (bit flips, bytes set, truncations, 32-bit header fields set to
//! extreme values, ranges deleted or duplicated; PNG chunk CRCs recomputed). Property: decoding returns (an image within
//! the pixel limit, or an error) and never panics, and memory stays bounded.
//!
//! The default run is short and deterministic; `cargo test --release -p facestyle-face --test
//! fuzz_decode -- --ignored` runs long, `FACESTYLE_FUZZ_CASES` cases per format (default
//! 200000), from a random seed. Inputs that once failed are kept in `tests/fuzz-corpus/decode/`
//! and replayed by every run.

mod common;

use std::io::Cursor;
use std::path::Path;

use facestyle_face::photo::{MAX_PIXELS, decode_rgb};
use facestyle_models::testing::{fuzz_cases, mutate, peak_rss_bytes};
use image::{DynamicImage, ImageFormat, RgbImage};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Cases per format of the default run.
const SHORT_CASES: u32 = 4000;

/// Small valid files of each format: (label, bytes).
fn seeds() -> Vec<(String, Vec<u8>)> {
    let img =
        RgbImage::from_fn(23, 17, |x, y| image::Rgb([(x * 11) as u8, (y * 15) as u8, ((x + y) * 5) as u8]));
    let mut out = Vec::new();
    for format in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::Bmp,
        ImageFormat::WebP,
        ImageFormat::Tiff,
        ImageFormat::Gif,
    ] {
        let mut bytes = Cursor::new(Vec::new());
        let image = match format {
            ImageFormat::Gif | ImageFormat::WebP => {
                DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(img.clone()).to_rgba8())
            }
            _ => DynamicImage::ImageRgb8(img.clone()),
        };
        image.write_to(&mut bytes, format).unwrap();
        out.push((format!("{format:?}").to_lowercase(), bytes.into_inner()));
    }
    for fixture in ["formats/powell_cmyk.jpg", "formats/powell_exif6.jpg"] {
        let bytes = std::fs::read(common::fixture(fixture)).unwrap();
        out.push((fixture.trim_start_matches("formats/").to_string(), bytes));
    }
    for (name, bytes) in &out {
        decode_rgb(bytes, Path::new(name)).unwrap_or_else(|e| panic!("seed {name} does not decode: {e}"));
    }
    out
}

/// The property: any result but a panic; a decoded image is within the pixel limit. Returns
/// whether the input decoded.
fn check(bytes: &[u8]) -> bool {
    let Ok(img) = decode_rgb(bytes, Path::new("fuzz")) else { return false };
    let pixels = u64::from(img.width()) * u64::from(img.height());
    assert!(pixels > 0 && pixels <= MAX_PIXELS, "{}x{}", img.width(), img.height());
    true
}

/// PNG chunks carry a CRC, so almost every mutation of one is refused for its checksum alone:
/// recomputing each complete chunk's CRC lets mutations reach the decoder behind it.
fn fix_png_crcs(bytes: &mut [u8]) {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let mut at = 8;
    while at + 12 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&e| e + 4 <= bytes.len()) else { break };
        let crc = crc32(&bytes[at + 4..end]);
        bytes[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

fn edits() -> impl Strategy<Value = Vec<(u8, u32, u32)>> {
    prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1..6)
}

fn run(cases: u32, deterministic: bool) {
    for (name, seed) in seeds() {
        let config = Config { cases, failure_persistence: None, ..Config::default() };
        let mut runner = if deterministic {
            TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
        } else {
            TestRunner::new(config)
        };
        let start = std::time::Instant::now();
        let decoded = std::cell::Cell::new(0);
        let result = runner.run(&edits(), |e| {
            let mut bytes = mutate(&seed, &e);
            if name == "png" {
                fix_png_crcs(&mut bytes);
            }
            decoded.set(decoded.get() + usize::from(check(&bytes)));
            Ok(())
        });
        if let Err(e) = result {
            panic!("{name}: {e}");
        }
        eprintln!(
            "fuzz decode {name}: {cases} cases in {:.1} s, {} decoded",
            start.elapsed().as_secs_f64(),
            decoded.get()
        );
    }
    let peak = peak_rss_bytes().unwrap_or(0);
    assert!(peak < 3 << 30, "peak memory {} MB", peak >> 20);
}

#[test]
fn mutated_images_never_panic() {
    run(SHORT_CASES, true);
}

#[test]
#[ignore = "long fuzz run: --ignored, FACESTYLE_FUZZ_CASES cases per format"]
fn mutated_images_never_panic_long() {
    run(fuzz_cases(200_000), false);
}

#[test]
fn corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus/decode");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bin") {
            check(&std::fs::read(&path).unwrap());
        }
    }
}
