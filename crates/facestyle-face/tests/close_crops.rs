//! Photos that are only a face (cropped at hairline and chin, as ID photos and face data
//! sets are, often grey): the detector's retry finds the face when none reaches the score
//! threshold, marks how, maps it to the photo's pixels, and the face is the person's. Pictures
//! without a face still give none. On the cached pretrained models (skipped, with a notice,
//! when they are not cached).
//!
//! The crops in `fixtures/closecrops` are cut from the photos in `fixtures/photos` (see the
//! README there).

mod common;

use facestyle_face::align::align_face;
use facestyle_face::detect::{DetectConfig, Face, Fallback, PadFill, largest};
use facestyle_face::engine::FaceEngine;
use facestyle_face::metric::Metric;
use facestyle_face::photo::load_rgb;
use image::RgbImage;

fn crop(name: &str) -> RgbImage {
    load_rgb(&common::fixture(&format!("closecrops/{name}"))).unwrap()
}

fn photo(name: &str) -> RgbImage {
    load_rgb(&common::fixture(&format!("photos/{name}"))).unwrap()
}

fn without_retry() -> DetectConfig {
    DetectConfig { retry: None, ..DetectConfig::default() }
}

fn embedding(engine: &FaceEngine, img: &RgbImage, face: &Face) -> Vec<f32> {
    engine.embed_crops(&[align_face(img, &face.landmarks)]).remove(0)
}

/// Every face of every committed photo: (photo, face), its embedding.
fn gallery(engine: &FaceEngine) -> Vec<((String, Face), Vec<f32>)> {
    let mut out = Vec::new();
    for name in
        ["Abdullah_Gul_0001.jpg", "Abdullah_Gul_0008.png", "Colin_Powell_0001.jpg", "George_W_Bush_0001.jpg"]
    {
        let img = photo(name);
        for f in engine.detector.detect_with(&img, &without_retry()) {
            let e = embedding(engine, &img, &f);
            out.push(((name.to_string(), f), e));
        }
    }
    out
}

/// The gallery face nearest `e` and its distance.
fn nearest<'a>(gallery: &'a [((String, Face), Vec<f32>)], e: &[f32]) -> (&'a (String, Face), f32) {
    gallery
        .iter()
        .map(|(who, g)| (who, Metric::SqL2.distance(e, g)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap()
}

#[test]
fn close_crops_without_a_face_at_the_threshold_are_retried() {
    let Some(engine) = common::engine() else { return };
    let tau = Metric::SqL2.default_threshold();
    let gallery = gallery(engine);
    // (crop, how the retry finds it, the photo whose face it is, that face's box centre x
    // lies right of this).
    let cases = [
        ("Abdullah_Gul_0008_face1_92x112_grey.png", Fallback::LowScore, "Abdullah_Gul_0008.png", 150.0),
        ("Abdullah_Gul_0008_face1_112x112_colour.png", Fallback::LowScore, "Abdullah_Gul_0008.png", 150.0),
        ("Colin_Powell_0001_56x56_grey.png", Fallback::LowScore, "Colin_Powell_0001.jpg", 0.0),
        ("Abdullah_Gul_0001_inner_92x112_grey.png", Fallback::Padded, "Abdullah_Gul_0001.jpg", 0.0),
    ];
    for (name, how, whose, right_of) in cases {
        let img = crop(name);
        assert!(
            engine.detector.detect_with(&img, &without_retry()).is_empty(),
            "{name}: no face at 0.9 without the retry"
        );
        let faces = engine.detect(&img);
        let face = largest(&faces).unwrap_or_else(|| panic!("{name}: no face with the retry"));
        assert!(faces.iter().all(|f| f.fallback == Some(how)), "{name}: {faces:?}");
        assert!(face.score >= 0.7, "{name}: {}", face.score);
        // The landmarks are the crop's pixels: the eyes above the mouth, inside the crop's
        // width (the inner crop cuts one eye: a little outside).
        let (w, h) = (img.width() as f32, img.height() as f32);
        let l = &face.landmarks;
        assert!(l[0][1] < l[3][1] && l[1][1] < l[4][1] && l[0][0] < l[1][0], "{name}: {l:?}");
        assert!(l.iter().all(|p| (-0.3 * w..1.3 * w).contains(&p[0]) && (-0.3 * h..1.3 * h).contains(&p[1])));
        let ((photo, found), d) = nearest(&gallery, &embedding(engine, &img, face));
        let centre = found.bbox[0] + found.bbox[2] / 2.0;
        assert!(
            photo == whose && centre > right_of && d <= tau,
            "{name}: nearest {photo} at x {centre}, d {d}"
        );
    }
}

#[test]
fn a_grey_id_crop_at_the_threshold_matches_the_persons_other_photo() {
    let Some(engine) = common::engine() else { return };
    let img = crop("Abdullah_Gul_0001_92x112_grey.png");
    let plain = engine.detector.detect_with(&img, &without_retry());
    assert_eq!(plain.len(), 1);
    assert_eq!(engine.detect(&img), plain, "the retry changes nothing when a face reaches 0.9");
    assert_eq!(plain[0].fallback, None);
    let e = embedding(engine, &img, &plain[0]);
    let other = photo("Abdullah_Gul_0008.png");
    let gul = largest(&engine.detect(&other)).unwrap().clone();
    let d = Metric::SqL2.distance(&e, &embedding(engine, &other, &gul));
    assert!(d <= Metric::SqL2.default_threshold(), "the crop of photo 1 vs photo 8: {d}");
}

#[test]
fn padded_faces_are_given_in_the_photos_pixels() {
    let Some(engine) = common::engine() else { return };
    let img = photo("George_W_Bush_0001.jpg");
    let plain = engine.detector.detect_with(&img, &without_retry());
    assert_eq!(plain.len(), 1);
    for fill in [PadFill::Black, PadFill::Edge, PadFill::Mean] {
        let padded = engine.detector.detect_padded(&img, 0.35, fill, &without_retry());
        assert_eq!(padded.len(), 1, "{fill:?}");
        let (p, q) = (&padded[0], &plain[0]);
        let near = |a: f32, b: f32| (a - b).abs() < 4.0;
        assert!(
            p.bbox.iter().zip(&q.bbox).all(|(a, b)| near(*a, *b)),
            "{fill:?}: {:?} vs {:?}",
            p.bbox,
            q.bbox
        );
        for (a, b) in p.landmarks.iter().zip(&q.landmarks) {
            assert!(near(a[0], b[0]) && near(a[1], b[1]), "{fill:?}: {a:?} vs {b:?}");
        }
    }
}

#[test]
fn a_large_photo_is_scaled_before_its_border_is_added() {
    let Some(engine) = common::engine() else { return };
    // 1200x1200: padded by 0.35 it would be 2040 pixels wide; it is scaled to 376 first, so
    // that the padded copy is 640 wide.
    let small = photo("Colin_Powell_0001.jpg");
    let big = image::imageops::resize(&small, 1200, 1200, image::imageops::FilterType::CatmullRom);
    let want = engine.detector.detect_with(&small, &without_retry());
    let padded = engine.detector.detect_padded(&big, 0.35, PadFill::Black, &without_retry());
    assert_eq!((want.len(), padded.len()), (1, 1));
    let k = 1200.0 / 250.0;
    for (a, b) in padded[0].landmarks.iter().zip(&want[0].landmarks) {
        assert!(
            (a[0] - b[0] * k).abs() < 4.0 * k && (a[1] - b[1] * k).abs() < 4.0 * k,
            "{a:?} vs {b:?} x {k}"
        );
    }
}

#[test]
fn pictures_without_a_face_give_none_with_the_retry() {
    let Some(engine) = common::engine() else { return };
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 32) as u8
    };
    let noise = RgbImage::from_fn(92, 112, |_, _| image::Rgb([next(); 3]));
    let pictures = [
        ("grey", RgbImage::from_pixel(92, 112, image::Rgb([128; 3]))),
        (
            "checks",
            RgbImage::from_fn(64, 64, |x, y| {
                image::Rgb([if (x / 8 + y / 8) % 2 == 0 { 30 } else { 220 }; 3])
            }),
        ),
        ("gradient", RgbImage::from_fn(112, 112, |x, y| image::Rgb([(2 * x) as u8, (2 * y) as u8, 90]))),
        ("blurred noise", image::imageops::blur(&noise, 2.0)),
        ("noise", noise),
        // The wall behind Colin Powell, top left of the photo.
        ("wall", image::imageops::crop_imm(&photo("Colin_Powell_0001.jpg"), 0, 0, 60, 70).to_image()),
    ];
    for (name, img) in pictures {
        let faces = engine.detect(&img);
        assert!(faces.is_empty(), "{name}: {faces:?}");
    }
}
