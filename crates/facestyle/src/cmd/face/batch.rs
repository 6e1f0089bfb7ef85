//! `facestyle face embed DIR` and `facestyle face cluster DIR`: whole photo collections.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use facestyle_face::cluster::chinese_whispers;
use facestyle_face::detect::{Face, Fallback};
use facestyle_face::engine::{FaceEmbedding, FaceEngine};
use facestyle_face::metric::Metric;
use rayon::prelude::*;
use serde::Serialize;

use super::{DetectorArgs, MetricArgs, image_files, load_engine, progress, read_photo};

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Folder of photos (searched recursively).
    pub dir: PathBuf,
    /// Output: one JSON object per face and line.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    pub dir: PathBuf,
    /// Output JSON: clusters with their members.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub metric: MetricArgs,
    /// Chinese-whispers iterations.
    #[arg(long, default_value_t = 30)]
    pub iterations: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

/// A photo and the faces found in it.
type PhotoFaces = (PathBuf, Vec<FaceEmbedding>);

/// Faces of every photo under `dir`: photos are decoded in parallel, the networks run one photo
/// at a time. Unreadable photos are reported and skipped.
fn embed_dir(engine: &FaceEngine, dir: &Path, quiet: bool) -> anyhow::Result<(Vec<PhotoFaces>, usize)> {
    let files = image_files(dir)?;
    if files.is_empty() {
        anyhow::bail!("{}: no images (jpg, png, bmp, webp, tiff, gif) found", dir.display());
    }
    let bar = progress(files.len() as u64, "embedding");
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut out = Vec::with_capacity(files.len());
    let mut skipped = 0;
    for chunk in files.chunks(16) {
        let photos: Vec<_> = chunk.par_iter().map(|p| read_photo(p)).collect();
        for (path, photo) in chunk.iter().zip(photos) {
            match photo {
                Ok(photo) => out.push((path.clone(), engine.analyze(&photo.image))),
                Err(e) => {
                    bar.suspend(|| tracing::warn!("skipping {e:#}"));
                    skipped += 1;
                }
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok((out, skipped))
}

/// How many images had their faces found by each detector fallback (`low_score`, `padded`).
fn images_by_fallback(results: &[PhotoFaces]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for fallback in results.iter().filter_map(|(_, found)| found.first().and_then(|f| f.face.fallback)) {
        *out.entry(fallback.name()).or_default() += 1;
    }
    out
}

fn print_fallbacks(fallbacks: &BTreeMap<&'static str, usize>) {
    if !fallbacks.is_empty() {
        let parts: Vec<String> = fallbacks.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!("faces found by a fallback (none at the score threshold): {} image(s)", parts.join(", "));
    }
}

/// One line of `face embed`'s output: a face, its embedding and the model that made it.
#[derive(Serialize)]
struct FaceLine<'a> {
    image: &'a Path,
    face: usize,
    #[serde(flatten)]
    found: &'a Face,
    model: &'a str,
    model_version: &'a str,
    embedding: &'a [f32],
}

#[derive(Serialize)]
struct EmbedSummary<'a> {
    out: &'a Path,
    images: usize,
    faces: usize,
    images_without_face: usize,
    images_by_fallback: &'a BTreeMap<&'static str, usize>,
    skipped_unreadable: usize,
}

/// `face cluster`'s output file.
#[derive(Serialize)]
struct Clusters<'a> {
    metric: Metric,
    threshold: f32,
    faces: usize,
    images: usize,
    images_by_fallback: &'a BTreeMap<&'static str, usize>,
    skipped_unreadable: usize,
    sizes: &'a [usize],
    clusters: Vec<Cluster<'a>>,
}

#[derive(Serialize)]
struct Cluster<'a> {
    id: usize,
    size: usize,
    members: Vec<Member<'a>>,
}

/// A face of a cluster: the photo, the face's index in it, its box.
#[derive(Serialize)]
struct Member<'a> {
    image: &'a Path,
    face: usize,
    bbox: [f32; 4],
    fallback: Option<Fallback>,
}

#[derive(Serialize)]
struct ClusterSummary<'a> {
    out: &'a Path,
    faces: usize,
    clusters: usize,
    images_by_fallback: &'a BTreeMap<&'static str, usize>,
    sizes: &'a [usize],
}

pub fn embed(a: EmbedArgs, json_out: bool) -> anyhow::Result<()> {
    let engine = load_engine(&a.detector)?;
    let (results, skipped) = embed_dir(&engine, &a.dir, false)?;
    let tmp = a.out.with_extension("jsonl.partial");
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?,
    );
    let (mut faces, mut without) = (0, 0);
    let fallbacks = images_by_fallback(&results);
    for (path, found) in &results {
        if found.is_empty() {
            without += 1;
        }
        for (i, f) in found.iter().enumerate() {
            let line = FaceLine {
                image: path,
                face: i,
                found: &f.face,
                model: &engine.model_id,
                model_version: &engine.model_version,
                embedding: &f.embedding,
            };
            writeln!(w, "{}", serde_json::to_string(&line)?)
                .with_context(|| format!("{}: cannot write", tmp.display()))?;
            faces += 1;
        }
    }
    w.flush().with_context(|| format!("{}: cannot write", tmp.display()))?;
    drop(w);
    std::fs::rename(&tmp, &a.out).with_context(|| format!("{}: cannot write", a.out.display()))?;
    if json_out {
        let summary = EmbedSummary {
            out: &a.out,
            images: results.len(),
            faces,
            images_without_face: without,
            images_by_fallback: &fallbacks,
            skipped_unreadable: skipped,
        };
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "{faces} face(s) from {} image(s) -> {} ({without} image(s) without a face, {skipped} unreadable skipped)",
            results.len(),
            a.out.display()
        );
        print_fallbacks(&fallbacks);
    }
    Ok(())
}

pub fn cluster(a: ClusterArgs, json_out: bool) -> anyhow::Result<()> {
    let verifier = a.metric.verifier(&a.detector.model)?;
    let engine = load_engine(&a.detector)?;
    let (results, skipped) = embed_dir(&engine, &a.dir, false)?;
    let mut members = Vec::new();
    let mut embeddings = Vec::new();
    for (path, found) in &results {
        for (i, f) in found.iter().enumerate() {
            members.push(Member { image: path, face: i, bbox: f.face.bbox, fallback: f.face.fallback });
            embeddings.push(f.embedding.clone());
        }
    }
    let labels = chinese_whispers(&embeddings, &verifier, a.iterations, a.seed);
    let n = labels.iter().max().map_or(0, |m| m + 1);
    let mut clusters: Vec<Cluster> = (0..n).map(|id| Cluster { id, size: 0, members: Vec::new() }).collect();
    for (m, l) in members.into_iter().zip(&labels) {
        clusters[*l].size += 1;
        clusters[*l].members.push(m);
    }
    let sizes: Vec<usize> = clusters.iter().map(|c| c.size).collect();
    let fallbacks = images_by_fallback(&results);
    let doc = Clusters {
        metric: verifier.metric,
        threshold: verifier.threshold,
        faces: embeddings.len(),
        images: results.len(),
        images_by_fallback: &fallbacks,
        skipped_unreadable: skipped,
        sizes: &sizes,
        clusters,
    };
    let text = serde_json::to_string_pretty(&doc)?;
    std::fs::write(&a.out, text).with_context(|| format!("{}: cannot write", a.out.display()))?;
    if json_out {
        let summary = ClusterSummary {
            out: &a.out,
            faces: embeddings.len(),
            clusters: n,
            images_by_fallback: &fallbacks,
            sizes: &sizes,
        };
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        let big = sizes.iter().filter(|&&s| s > 1).count();
        println!(
            "{} face(s) from {} image(s) -> {n} cluster(s), {big} with more than one face -> {}",
            embeddings.len(),
            results.len(),
            a.out.display()
        );
        let shown: Vec<String> = sizes.iter().take(20).map(usize::to_string).collect();
        println!("sizes (largest first): {}{}", shown.join(" "), if n > 20 { " ..." } else { "" });
        print_fallbacks(&fallbacks);
    }
    Ok(())
}
