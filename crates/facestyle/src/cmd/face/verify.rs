//! `facestyle face verify A B`

use std::path::PathBuf;

use clap::Args;
use facestyle_face::FaceError;
use facestyle_face::detect::Fallback;
use facestyle_face::engine::FaceEngine;
use facestyle_face::head::Head;
use serde_json::json;

use super::{DetectorArgs, MetricArgs, Photo, fallback_note, load_engine, read_photo};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    pub a: PathBuf,
    pub b: PathBuf,
    #[command(flatten)]
    pub metric: MetricArgs,
    /// Decide with a trained verification head (`facestyle face train-head`) instead of the
    /// distance threshold: same person when its probability is at least 0.5.
    #[arg(long, value_name = "FILE")]
    pub head: Option<PathBuf>,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

/// The embedding of the largest face, the number of faces and how they were found (error when
/// there is none).
fn largest_embedding(
    engine: &FaceEngine,
    photo: &Photo,
) -> anyhow::Result<(Vec<f32>, usize, Option<Fallback>)> {
    let (found, count) = engine.largest_face(&photo.image).ok_or_else(|| FaceError::NoFace {
        path: photo.path.clone(),
        threshold: engine.detector.config.score_threshold,
    })?;
    Ok((found.embedding, count, found.face.fallback))
}

pub fn run(a: VerifyArgs, json_out: bool) -> anyhow::Result<()> {
    let threshold = a.metric.threshold(&a.detector.model)?;
    let head = a.head.as_deref().map(Head::read).transpose()?;
    let (pa, pb) = (read_photo(&a.a)?, read_photo(&a.b)?);
    let engine = load_engine(&a.detector)?;
    let (ea, na, fa) = largest_embedding(&engine, &pa)?;
    let (eb, nb, fb) = largest_embedding(&engine, &pb)?;
    if !json_out {
        for (p, f) in [(&a.a, fa), (&a.b, fb)] {
            if f.is_some() {
                println!("note: {}: no face at the score threshold{}", p.display(), fallback_note(f));
            }
        }
    }
    if let (Some(head), Some(file)) = (&head, &a.head) {
        head.check_model(file, &engine.model_id, &engine.model_version, ea.len())?;
        let p = head.probability(&ea, &eb);
        let same = p >= 0.5;
        if json_out {
            let v = json!({
                "a": a.a, "b": a.b, "faces_a": na, "faces_b": nb, "fallback_a": fa, "fallback_b": fb,
                "head": file, "feature": head.feature,
                "probability": p, "same": same,
            });
            println!("{v}");
        } else {
            let verdict = if same { "same person" } else { "different people" };
            println!("{verdict}: {:?} head probability {p:.4} (same when >= 0.5)", head.feature);
        }
        return Ok(());
    }
    let metric = a.metric.metric;
    let d = metric.distance(&ea, &eb);
    let same = d <= threshold;
    if json_out {
        let v = json!({
            "a": a.a, "b": a.b, "faces_a": na, "faces_b": nb, "fallback_a": fa, "fallback_b": fb,
            "metric": metric.name(),
            "distance": d, "threshold": threshold, "same": same,
        });
        println!("{v}");
    } else {
        for (p, n) in [(&a.a, na), (&a.b, nb)] {
            if n > 1 {
                println!("note: {} has {n} faces; using the largest", p.display());
            }
        }
        let verdict = if same { "same person" } else { "different people" };
        let op = if same { "<=" } else { ">" };
        println!("{verdict}: {} distance {d:.4} {op} threshold {threshold:.4}", metric.name());
    }
    Ok(())
}
