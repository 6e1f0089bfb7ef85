//! `facestyle face train-head`: a logistic verification head over stored embeddings, compared
//! with the plain distance threshold on the same vectors.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use facestyle_face::head::{Head, PairFeature, fit_logistic};
use facestyle_face::lfw::{PairsFile, read_pairs};
use facestyle_face::metric::Metric;
use facestyle_face::roc::{Scored, accuracy, best_threshold};
use facestyle_train::crops;
use facestyle_train::validate::{cv_accuracy, embed};
use serde::Serialize;

use super::train::load_crops;
use super::{DetectorArgs, load_engine};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FeatureArg {
    /// |f_i - f_j| per component.
    AbsDiff,
    /// (f_i - f_j)^2 / (|f_i| + |f_j| + eps) per component.
    ChiSquare,
}

#[derive(Debug, Args)]
pub struct TrainHeadArgs {
    /// Images folder, one folder per identity (paths in the pairs files are relative to it).
    #[arg(long)]
    pub data: PathBuf,
    /// Training pairs of training people (e.g. pairsDevTrain.txt).
    #[arg(long)]
    pub pairs: PathBuf,
    /// Pairs to report accuracy on (e.g. pairsDevTest.txt).
    #[arg(long)]
    pub val_pairs: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "abs-diff")]
    pub feature: FeatureArg,
    /// The head file to write (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Stored embeddings (JSON lines), computed where missing (default: in the facestyle cache,
    /// one file per model and dataset folder).
    #[arg(long)]
    pub embeddings: Option<PathBuf>,
    #[arg(long, default_value_t = 3000)]
    pub iterations: usize,
    /// L2 penalty on the weights.
    #[arg(long, default_value_t = 1e-4)]
    pub l2: f64,
    #[arg(long)]
    pub crop_cache: Option<PathBuf>,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

fn rows(p: &PairsFile) -> Vec<(String, String, bool)> {
    p.all().map(|x| (x.a.clone(), x.b.clone(), x.same)).collect()
}

/// What `face train-head` did, printed with `--json` and kept in the head file.
#[derive(Serialize)]
struct HeadReport<'a> {
    feature: PairFeature,
    model: &'a str,
    model_version: &'a str,
    train_pairs: usize,
    iterations: usize,
    final_loss: Option<f64>,
    head_train_accuracy: f64,
    threshold: f32,
    threshold_train_accuracy: f64,
    embeddings: &'a Path,
    #[serde(flatten)]
    validation: Option<HeadValidation>,
}

#[derive(Serialize, Clone, Copy)]
struct HeadValidation {
    val_pairs: usize,
    head_val_accuracy: f64,
    threshold_val_accuracy: f64,
    threshold_val_accuracy_10fold: f64,
}

pub fn run(a: TrainHeadArgs, json_out: bool) -> anyhow::Result<()> {
    let feature = match a.feature {
        FeatureArg::AbsDiff => PairFeature::AbsDiff,
        FeatureArg::ChiSquare => PairFeature::ChiSquare,
    };
    let train = rows(&read_pairs(&a.pairs)?);
    let val = match &a.val_pairs {
        Some(p) => rows(&read_pairs(p)?),
        None => vec![],
    };
    let mut wanted: Vec<String> =
        train.iter().chain(&val).flat_map(|(x, y, _)| [x.clone(), y.clone()]).collect();
    wanted.sort();
    wanted.dedup();
    let (model_id, version) = facestyle_face::engine::model_identity(a.detector.model.model.as_deref())?;
    let store = a.embeddings.clone().unwrap_or_else(|| {
        let crop_file = crops::default_cache(&a.data);
        crop_file.with_file_name(format!(
            "{}-{model_id}-{version}.embeddings.jsonl",
            crop_file.file_stem().expect("named").to_string_lossy()
        ))
    });
    let mut compute = |missing: &[String]| -> facestyle_face::Result<Vec<Vec<f32>>> {
        let other = |e: anyhow::Error| facestyle_face::FaceError::Other(e.to_string());
        let engine = load_engine(&a.detector).map_err(other)?;
        let cache = a.crop_cache.clone().unwrap_or_else(|| crops::default_cache(&a.data));
        let (crops, skipped) =
            load_crops(&a.detector, &a.data, missing, &cache, json_out, Some(&engine)).map_err(other)?;
        if let Some(s) = skipped.first() {
            return Err(facestyle_face::FaceError::image(&a.data.join(&s.path), s.problem.clone()));
        }
        let items: Vec<usize> = missing.iter().map(|p| crops.get(p).expect("cropped above")).collect();
        Ok(embed(engine.embedder(), &crops, &items, engine.device()))
    };
    let emb = facestyle_train::stored::ensure(&store, &model_id, &version, &wanted, &mut compute)
        .context("use another --embeddings file for this model")?;
    let feats = |set: &[(String, String, bool)]| -> (Vec<Vec<f32>>, Vec<bool>) {
        set.iter().map(|(x, y, s)| (feature.compute(&emb[x], &emb[y]), *s)).unzip()
    };
    let (x, y) = feats(&train);
    let (w, b, losses) = fit_logistic(&x, &y, a.iterations, a.l2);
    let dist = |set: &[(String, String, bool)]| -> Vec<Scored> {
        set.iter()
            .map(|(p, q, s)| Scored { distance: Metric::SqL2.distance(&emb[p], &emb[q]), same: *s })
            .collect()
    };
    let mut head = Head {
        feature,
        weights: w,
        bias: b,
        model_id,
        model_version: version,
        training: serde_json::Value::Null,
    };
    let head_acc = |set: &[(String, String, bool)]| -> f64 {
        let ok = set.iter().filter(|(p, q, s)| (head.probability(&emb[p], &emb[q]) >= 0.5) == *s).count();
        ok as f64 / set.len().max(1) as f64
    };
    let t = best_threshold(&dist(&train));
    let validation = (!val.is_empty()).then(|| {
        let scored = dist(&val);
        HeadValidation {
            val_pairs: val.len(),
            head_val_accuracy: head_acc(&val),
            threshold_val_accuracy: accuracy(&scored, t),
            threshold_val_accuracy_10fold: cv_accuracy(&scored, 10),
        }
    });
    let report = HeadReport {
        feature,
        model: &head.model_id,
        model_version: &head.model_version,
        train_pairs: train.len(),
        iterations: a.iterations,
        final_loss: losses.last().copied(),
        head_train_accuracy: head_acc(&train),
        threshold: t,
        threshold_train_accuracy: accuracy(&dist(&train), t),
        embeddings: &store,
        validation,
    };
    let report_json = serde_json::to_value(&report)?;
    let text = report_json.to_string();
    let (train_acc, threshold_acc) = (report.head_train_accuracy, report.threshold_train_accuracy);
    head.training = report_json;
    head.write(&a.out)?;
    if json_out {
        println!("{text}");
    } else {
        println!(
            "{:?} head on {} {} ({} training pairs): training accuracy head {train_acc:.4}, threshold {threshold_acc:.4}",
            feature,
            head.model_id,
            head.model_version,
            train.len(),
        );
        if let Some(v) = validation {
            println!(
                "{} validation pairs: head {:.4} | distance threshold from the training pairs {:.4} (10-fold on validation {:.4})",
                v.val_pairs, v.head_val_accuracy, v.threshold_val_accuracy, v.threshold_val_accuracy_10fold
            );
        }
        println!("head written to {}", a.out.display());
    }
    Ok(())
}
