//! `facestyle face verify A B`

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use facestyle_face::FaceError;
use facestyle_face::detect::Fallback;
use facestyle_face::engine::FaceEngine;
use facestyle_face::head::{Head, PairFeature};
use facestyle_face::metric::Verdict;
use serde::Serialize;

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

/// The two photos of a verification, as `--json` reports them.
#[derive(Serialize)]
struct Pair<'a> {
    a: &'a Path,
    b: &'a Path,
    faces_a: usize,
    faces_b: usize,
    fallback_a: Option<Fallback>,
    fallback_b: Option<Fallback>,
}

/// A decision by a trained verification head.
#[derive(Serialize)]
struct HeadVerdict<'a> {
    #[serde(flatten)]
    pair: Pair<'a>,
    head: &'a Path,
    feature: PairFeature,
    probability: f32,
    same: bool,
}

/// A decision by the distance threshold.
#[derive(Serialize)]
struct DistanceVerdict<'a> {
    #[serde(flatten)]
    pair: Pair<'a>,
    #[serde(flatten)]
    verdict: Verdict,
}

pub fn run(a: VerifyArgs, json_out: bool) -> anyhow::Result<()> {
    let verifier = a.metric.verifier(&a.detector.model)?;
    let head = a.head.as_deref().map(Head::read).transpose()?;
    let (pa, pb) = (read_photo(&a.a)?, read_photo(&a.b)?);
    let engine = load_engine(&a.detector)?;
    let (ea, na, fa) = largest_embedding(&engine, &pa)?;
    let (eb, nb, fb) = largest_embedding(&engine, &pb)?;
    let pair = Pair { a: &a.a, b: &a.b, faces_a: na, faces_b: nb, fallback_a: fa, fallback_b: fb };
    for (p, f) in [(&a.a, fa), (&a.b, fb)] {
        if f.is_some() {
            tracing::info!("{}: no face at the score threshold{}", p.display(), fallback_note(f));
        }
    }
    for (p, n) in [(&a.a, na), (&a.b, nb)] {
        if n > 1 {
            tracing::info!("{} has {n} faces; using the largest", p.display());
        }
    }
    if let (Some(head), Some(file)) = (&head, &a.head) {
        head.check_model(file, &engine.model_id, &engine.model_version, ea.len())
            .context("give --head the --model it was trained with")?;
        let probability = head.probability(&ea, &eb);
        let same = probability >= 0.5;
        if json_out {
            let v = HeadVerdict { pair, head: file, feature: head.feature, probability, same };
            println!("{}", serde_json::to_string(&v)?);
        } else {
            let verdict = if same { "same person" } else { "different people" };
            println!("{verdict}: {:?} head probability {probability:.4} (same when >= 0.5)", head.feature);
        }
        return Ok(());
    }
    let verdict = verifier.verdict(&ea, &eb);
    if json_out {
        println!("{}", serde_json::to_string(&DistanceVerdict { pair, verdict })?);
    } else {
        let Verdict { metric, distance, threshold, same } = verdict;
        let (said, op) = if same { ("same person", "<=") } else { ("different people", ">") };
        println!("{said}: {} distance {distance:.4} {op} threshold {threshold:.4}", metric.name());
    }
    Ok(())
}
