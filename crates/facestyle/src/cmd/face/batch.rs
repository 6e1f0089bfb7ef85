//! `facestyle face embed DIR` and `facestyle face cluster DIR`: whole photo collections.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use facestyle_face::cluster::chinese_whispers;
use facestyle_face::engine::{FaceEmbedding, FaceEngine};
use rayon::prelude::*;
use serde_json::json;

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
                    bar.suspend(|| eprintln!("skipping {e:#}"));
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
            let line = json!({
                "image": path, "face": i, "bbox": f.face.bbox, "score": f.face.score,
                "landmarks": f.face.landmarks, "fallback": f.face.fallback, "model": engine.model_id,
                "model_version": engine.model_version, "embedding": f.embedding,
            });
            writeln!(w, "{line}").with_context(|| format!("{}: cannot write", tmp.display()))?;
            faces += 1;
        }
    }
    w.flush().with_context(|| format!("{}: cannot write", tmp.display()))?;
    drop(w);
    std::fs::rename(&tmp, &a.out).with_context(|| format!("{}: cannot write", a.out.display()))?;
    let summary = json!({
        "out": a.out, "images": results.len(), "faces": faces,
        "images_without_face": without, "images_by_fallback": fallbacks, "skipped_unreadable": skipped,
    });
    if json_out {
        println!("{summary}");
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
    let threshold = a.metric.threshold(&a.detector.model)?;
    let engine = load_engine(&a.detector)?;
    let (results, skipped) = embed_dir(&engine, &a.dir, false)?;
    let mut members = Vec::new();
    let mut embeddings = Vec::new();
    for (path, found) in &results {
        for (i, f) in found.iter().enumerate() {
            members.push(json!({"image": path, "face": i, "bbox": f.face.bbox, "fallback": f.face.fallback}));
            embeddings.push(f.embedding.clone());
        }
    }
    let labels = chinese_whispers(&embeddings, a.metric.metric, threshold, a.iterations, a.seed);
    let n = labels.iter().max().map_or(0, |m| m + 1);
    let mut clusters: Vec<Vec<serde_json::Value>> = vec![Vec::new(); n];
    for (m, l) in members.into_iter().zip(&labels) {
        clusters[*l].push(m);
    }
    let sizes: Vec<usize> = clusters.iter().map(Vec::len).collect();
    let fallbacks = images_by_fallback(&results);
    let doc = json!({
        "metric": a.metric.metric.name(), "threshold": threshold, "faces": embeddings.len(),
        "images": results.len(), "images_by_fallback": fallbacks, "skipped_unreadable": skipped, "sizes": sizes,
        "clusters": clusters.iter().enumerate().map(|(i, c)| json!({"id": i, "size": c.len(), "members": c})).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&doc).expect("json");
    std::fs::write(&a.out, text).with_context(|| format!("{}: cannot write", a.out.display()))?;
    if json_out {
        println!(
            "{}",
            json!({"out": a.out, "faces": embeddings.len(), "clusters": n, "images_by_fallback": fallbacks, "sizes": sizes})
        );
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
