//! Verification evaluation on LFW pairs.
//!
//! Each image gets one embedding: that of the face covering the image centre (LFW centres the
//! labelled person; other people often appear beside them). When the detector finds no such
//! face at the configured threshold, documented fallbacks keep every pair scoreable, and each
//! is counted in the report: (1) a detection at a low threshold (0.3); (2) when nothing scores
//! 0.3 on the image, the detector's padded retry ([`crate::detect::Retry`]) at 0.3; (3) the
//! centre crop: the template's landmarks placed on the central square of the image. See
//! [`eval_crop`].

use std::collections::HashMap;
use std::path::Path;

use image::RgbImage;
use rayon::prelude::*;
use serde::Serialize;

use crate::align::{TEMPLATE, align_face};
use crate::detect::{DetectConfig, Face, Fallback};
use crate::engine::FaceEngine;
use crate::error::Result;
use crate::lfw::PairsFile;
use crate::metric::Metric;
use crate::photo::load_rgb;
use crate::roc::{Scored, accuracy, auc, best_threshold, eer, tar_at_far};

/// How an image's face was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaceSource {
    Detected,
    LowScore,
    /// Found only on the image with a border added (the detector's padded retry).
    Padded,
    CentreCrop,
}

/// Score threshold of the first fallback.
pub const FALLBACK_SCORE: f32 = 0.3;

/// The face nearest the image centre.
pub fn central<'a>(faces: impl IntoIterator<Item = &'a Face>, w: u32, h: u32) -> Option<&'a Face> {
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let dist = |f: &Face| {
        let (fx, fy) = (f.bbox[0] + f.bbox[2] / 2.0, f.bbox[1] + f.bbox[3] / 2.0);
        (fx - cx).powi(2) + (fy - cy).powi(2)
    };
    faces.into_iter().min_by(|a, b| dist(a).total_cmp(&dist(b)))
}

/// Landmarks of the centre-crop fallback: the 112x112 template scaled onto the central square
/// whose side is 45% of the image's short side (about the face size in LFW's 250x250 images).
pub fn centre_landmarks(w: u32, h: u32) -> [[f32; 2]; 5] {
    let side = 0.45 * w.min(h) as f32;
    let (x0, y0) = (w as f32 / 2.0 - side / 2.0, h as f32 / 2.0 - side / 2.0);
    TEMPLATE.map(|p| [x0 + p[0] / 112.0 * side, y0 + p[1] / 112.0 * side])
}

/// The face nearest the image centre among those whose box covers it.
fn centred<'a>(faces: impl Iterator<Item = &'a Face>, w: u32, h: u32) -> Option<&'a Face> {
    central(faces.filter(|f| contains_centre(f, w, h)), w, h)
}

fn contains_centre(f: &Face, w: u32, h: u32) -> bool {
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    f.bbox[0] <= cx && cx <= f.bbox[0] + f.bbox[2] && f.bbox[1] <= cy && cy <= f.bbox[1] + f.bbox[3]
}

/// The aligned crop used for an evaluation image, and how its face was found.
///
/// LFW centres the labelled person, and its photos often show other people too; a detection
/// that does not cover the image centre is usually someone else. So: a face at the detector
/// threshold covering the centre; else one at the low threshold covering the centre (counted
/// as a fallback); else the face nearest the centre (either threshold); else, when the image
/// has no face at the low threshold, one the detector's padded retry finds (counted as
/// [`FaceSource::Padded`]); else the centre crop.
pub fn eval_crop(engine: &FaceEngine, img: &RgbImage) -> (RgbImage, FaceSource) {
    let (w, h) = img.dimensions();
    // One detector pass at the low threshold serves both: greedy NMS keeps a face of score
    // >= t exactly when NMS over the faces of score >= t alone keeps it.
    let threshold = engine.detector.config.score_threshold;
    let low_config =
        DetectConfig { score_threshold: FALLBACK_SCORE.min(threshold), ..engine.detector.config };
    let low = engine.detector.detect_with(img, &low_config);
    let high = || low.iter().filter(|f| f.score >= threshold && f.fallback.is_none());
    let (face, source) = if let Some(f) = centred(high(), w, h) {
        (f, FaceSource::Detected)
    } else if let Some(f) = centred(low.iter(), w, h) {
        (f, FaceSource::LowScore)
    } else if let Some(f) = central(high(), w, h) {
        (f, FaceSource::Detected)
    } else if let Some(f) = central(&low, w, h) {
        (f, FaceSource::LowScore)
    } else {
        return (align_face(img, &centre_landmarks(w, h)), FaceSource::CentreCrop);
    };
    let source = if face.fallback == Some(Fallback::Padded) { FaceSource::Padded } else { source };
    (align_face(img, &face.landmarks), source)
}

/// Embeddings by image path (relative to the images folder).
pub type Embeddings = HashMap<String, Vec<f32>>;

/// Embeddings of the images named `names` (paths relative to `root`): decoded in parallel,
/// faces chosen by [`eval_crop`], embedded in batches of 32. Returns them with the count of
/// each [`FaceSource`]; `on_image` is called after each image (progress).
pub fn embed_images(
    engine: &FaceEngine,
    root: &Path,
    names: &[String],
    on_image: &mut dyn FnMut(),
) -> Result<(Embeddings, HashMap<FaceSource, usize>)> {
    let mut emb = HashMap::with_capacity(names.len());
    let mut sources: HashMap<FaceSource, usize> = HashMap::new();
    for chunk in names.chunks(32) {
        let imgs: Vec<_> = chunk.par_iter().map(|n| load_rgb(&root.join(n))).collect();
        let mut crops = Vec::with_capacity(chunk.len());
        for img in imgs {
            let (crop, source) = eval_crop(engine, &img?);
            *sources.entry(source).or_default() += 1;
            crops.push(crop);
            on_image();
        }
        for (n, e) in chunk.iter().zip(engine.embed_crops(&crops)) {
            emb.insert(n.clone(), e);
        }
    }
    Ok((emb, sources))
}

/// Result of an evaluation, as printed by `facestyle face eval lfw --json`.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub protocol: String,
    pub metric: Metric,
    pub accuracy: f64,
    pub std: f64,
    pub fold_accuracies: Vec<f64>,
    pub threshold: f32,
    pub auc: f64,
    pub eer: f64,
    #[serde(rename = "tar_at_far_1e-3")]
    pub tar_at_far_1e_3: f64,
    pub pairs: usize,
    pub images: usize,
    pub no_face: usize,
    pub fallback_low_score: usize,
    pub fallback_padded: usize,
    pub fallback_centre_crop: usize,
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
    (m, var.sqrt())
}

fn score(pairs: &[crate::lfw::Pair], emb: &HashMap<String, Vec<f32>>, metric: Metric) -> Vec<Scored> {
    pairs.iter().map(|p| Scored { distance: metric.distance(&emb[&p.a], &emb[&p.b]), same: p.same }).collect()
}

/// Scores `test` with embeddings `emb` (every image of every pair must be present).
///
/// View 2 (10 folds): for each fold, the threshold is chosen on the other nine and accuracy
/// measured on it; accuracy and std are the mean and standard deviation over folds.
/// View 1 (one fold): the threshold is chosen on `train` (pairsDevTrain) and accuracy measured
/// on `test` (pairsDevTest); std is over ten equal, class-balanced slices of the test pairs.
/// AUC, EER and TAR@FAR are computed on all test pairs.
pub fn evaluate(
    test: &PairsFile,
    train: Option<&PairsFile>,
    emb: &HashMap<String, Vec<f32>>,
    metric: Metric,
) -> EvalReport {
    let all: Vec<Scored> = test.folds.iter().flat_map(|f| score(f, emb, metric)).collect();
    let (protocol, threshold, folds) = if test.is_view2() {
        let scored: Vec<Vec<Scored>> = test.folds.iter().map(|f| score(f, emb, metric)).collect();
        let mut accs = Vec::new();
        let mut ts = Vec::new();
        for k in 0..scored.len() {
            let rest: Vec<Scored> =
                scored.iter().enumerate().filter(|(i, _)| *i != k).flat_map(|(_, s)| s.clone()).collect();
            let t = best_threshold(&rest);
            ts.push(t as f64);
            accs.push(accuracy(&scored[k], t));
        }
        let t = (ts.iter().sum::<f64>() / ts.len() as f64) as f32;
        ("lfw-view2-10fold".to_string(), t, accs)
    } else {
        let t = match train {
            Some(tr) => {
                best_threshold(&tr.folds.iter().flat_map(|f| score(f, emb, metric)).collect::<Vec<_>>())
            }
            None => best_threshold(&all),
        };
        let (same, diff): (Vec<Scored>, Vec<Scored>) = all.iter().partition(|s| s.same);
        // Ten slices when each class has at least ten pairs; else one.
        let slices = if same.len().min(diff.len()) >= 10 { 10 } else { 1 };
        let accs: Vec<f64> = (0..slices)
            .map(|k| {
                let pick = |v: &[Scored]| -> Vec<Scored> {
                    let n = v.len() / slices;
                    v[k * n..(k + 1) * n].to_vec()
                };
                let mut s = pick(&same);
                s.extend(pick(&diff));
                accuracy(&s, t)
            })
            .collect();
        let name = if train.is_some() { "lfw-view1" } else { "lfw-view1-threshold-on-test" };
        (name.to_string(), t, accs)
    };
    let (mean, std) = mean_std(&folds);
    let accuracy = if test.is_view2() { mean } else { accuracy(&all, threshold) };
    EvalReport {
        protocol,
        metric,
        accuracy,
        std,
        fold_accuracies: folds,
        threshold,
        auc: auc(&all),
        eer: eer(&all),
        tar_at_far_1e_3: tar_at_far(&all, 1e-3),
        pairs: all.len(),
        images: emb.len(),
        no_face: 0,
        fallback_low_score: 0,
        fallback_padded: 0,
        fallback_centre_crop: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lfw::{Pair, parse_pairs};

    /// Unit vectors at angle `deg` from the x axis (sq-l2 between angles a, b = 2 - 2 cos(a - b)).
    fn at(deg: f32) -> Vec<f32> {
        vec![deg.to_radians().cos(), deg.to_radians().sin()]
    }

    #[test]
    fn view2_is_ten_fold_cross_validation() {
        // 10 folds of 2 matched + 2 mismatched pairs; fold 3 has one hard matched pair.
        let mut text = String::from("10\t2\n");
        let mut emb = HashMap::new();
        for f in 0..10 {
            for k in 0..2 {
                let name = format!("P{f}_{k}");
                text += &format!("{name} 1 2\n");
                emb.insert(format!("{name}/{name}_0001.jpg"), at(0.0));
                let far = if f == 3 && k == 0 { 100.0 } else { 10.0 };
                emb.insert(format!("{name}/{name}_0002.jpg"), at(far));
            }
            for k in 0..2 {
                let (a, b) = (format!("A{f}_{k}"), format!("B{f}_{k}"));
                text += &format!("{a} 1 {b} 1\n");
                emb.insert(format!("{a}/{a}_0001.jpg"), at(0.0));
                emb.insert(format!("{b}/{b}_0001.jpg"), at(90.0));
            }
        }
        let pairs = parse_pairs(&text, std::path::Path::new("pairs.txt")).unwrap();
        let r = evaluate(&pairs, None, &emb, Metric::SqL2);
        assert_eq!(r.protocol, "lfw-view2-10fold");
        assert_eq!(r.fold_accuracies.len(), 10);
        assert_eq!(r.fold_accuracies[3], 0.75);
        assert!(r.fold_accuracies.iter().enumerate().all(|(i, a)| i == 3 || *a == 1.0));
        assert!((r.accuracy - 0.975).abs() < 1e-9);
        assert!(r.std > 0.0);
        assert_eq!(r.pairs, 40);
    }

    #[test]
    fn view1_threshold_comes_from_the_training_pairs() {
        let p = |a: &str, b: &str, same| Pair { a: a.into(), b: b.into(), same };
        let mut emb = HashMap::new();
        for (k, deg) in [("o", 0.0), ("s", 20.0), ("m", 60.0), ("d", 90.0)] {
            emb.insert(k.to_string(), at(deg));
        }
        // Train: same at 20 deg, different at 90 deg -> threshold between 0.12 and 2.
        let train = PairsFile { folds: vec![vec![p("o", "s", true), p("o", "d", false)]] };
        // Test: a same pair at 60 deg (d = 1.0) is accepted only with the training threshold
        // placed midway (1.06), not with one fitted on the test set alone.
        let test = PairsFile { folds: vec![vec![p("o", "m", true), p("o", "d", false)]] };
        let r = evaluate(&test, Some(&train), &emb, Metric::SqL2);
        assert_eq!(r.protocol, "lfw-view1");
        assert!((r.threshold - (0.1206 + 2.0) / 2.0).abs() < 1e-3, "{}", r.threshold);
        assert_eq!(r.accuracy, 1.0);
        assert_eq!((r.fold_accuracies.clone(), r.std), (vec![1.0], 0.0));
    }
}
