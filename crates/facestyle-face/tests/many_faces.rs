//! Photos with many faces: the detector keeps at most `max_faces`, and faces are embedded in
//! batches of `EMBED_BATCH` with the same embeddings as one batch of them all. On the cached
//! pretrained models (skipped, with a notice, when they are not cached).

mod common;

use facestyle_face::detect::DetectConfig;
use facestyle_face::engine::EMBED_BATCH;
use facestyle_face::metric::dot;
use facestyle_face::photo::load_rgb;
use image::RgbImage;
use image::imageops::{FilterType, flip_horizontal, resize};

#[test]
fn chunked_embedding_equals_one_batch() {
    let Some(engine) = common::engine() else { return };
    let dir = common::fixture("crops");
    let mut crops: Vec<RgbImage> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let crop = load_rgb(&entry.unwrap().path()).unwrap();
        crops.push(flip_horizontal(&crop));
        crops.push(image::imageops::brighten(&crop, 20));
        crops.push(crop);
    }
    let crops: Vec<RgbImage> = crops.iter().cycle().take(2 * EMBED_BATCH + 5).cloned().collect();
    let chunked = engine.embed_crops(&crops);
    let whole = engine.embed_batch(&crops);
    assert_eq!((chunked.len(), whole.len()), (crops.len(), crops.len()));
    for (i, (a, b)) in chunked.iter().zip(&whole).enumerate() {
        assert!(dot(a, b) > 0.99999, "crop {i}: cosine {}", dot(a, b));
    }
    assert!(engine.embed_crops(&[]).is_empty());
}

#[test]
fn a_photo_of_many_faces_yields_at_most_max_faces() {
    let Some(engine) = common::engine() else { return };
    let face = load_rgb(&common::fixture("photos/Colin_Powell_0001.jpg")).unwrap();
    let tile = resize(&face, 96, 96, FilterType::Triangle);
    let (cols, rows) = (12u32, 12u32);
    let mut sheet = RgbImage::new(cols * 96, rows * 96);
    for r in 0..rows {
        for c in 0..cols {
            image::imageops::replace(&mut sheet, &tile, i64::from(c * 96), i64::from(r * 96));
        }
    }
    let uncapped = DetectConfig { max_side: 2000, max_faces: usize::MAX, ..DetectConfig::default() };
    let all = engine.detector.detect_with(&sheet, &uncapped);
    assert!(all.len() > 100, "the sheet holds more than 100 detectable faces: {}", all.len());
    let capped = engine.detector.detect_with(&sheet, &DetectConfig { max_faces: 100, ..uncapped });
    assert_eq!(capped.len(), 100);
    assert_eq!(&capped[..], &all[..100], "the 100 best");
    let analyzed = engine.analyze(&sheet);
    assert!(analyzed.len() <= DetectConfig::default().max_faces, "{}", analyzed.len());
}
