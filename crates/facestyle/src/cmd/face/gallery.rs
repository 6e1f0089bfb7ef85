//! `facestyle face enroll | identify | people | forget`: the one-shot gallery.

use std::path::PathBuf;

use clap::Args;
use facestyle_face::FaceError;
use facestyle_face::engine::{FaceEngine, model_identity};
use facestyle_face::gallery::{Gallery, NewEmbedding};
use facestyle_face::search::name_or_unknown;
use facestyle_face::sface::DIM;
use serde_json::json;

use super::{DetectorArgs, MetricArgs, ModelArg, fallback_note, load_engine, read_photo};

#[derive(Debug, Args)]
pub struct GalleryArgs {
    /// Gallery database (SQLite).
    #[arg(long)]
    pub gallery: PathBuf,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    #[arg(long)]
    pub gallery: PathBuf,
    /// The person's name.
    #[arg(long)]
    pub name: String,
    /// Photos of this person (one is enough). Each must show a face; with several faces the
    /// largest is used.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

#[derive(Debug, Args)]
pub struct IdentifyArgs {
    #[arg(long)]
    pub gallery: PathBuf,
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Candidates listed per face.
    #[arg(long, default_value_t = 1)]
    pub top: usize,
    #[command(flatten)]
    pub metric: MetricArgs,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    #[arg(long)]
    pub gallery: PathBuf,
    pub name: String,
    #[command(flatten)]
    pub model: ModelArg,
}

fn open(path: &std::path::Path, model: &ModelArg) -> anyhow::Result<Gallery> {
    let (id, version) = model_identity(model.model.as_deref())?;
    Ok(Gallery::open(path, &id, &version)?)
}

pub fn enroll(a: EnrollArgs, json_out: bool) -> anyhow::Result<()> {
    // The name is checked (and normalised) before any photo is read.
    let name = facestyle_face::gallery::check_name(&a.name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    // Read and check every photo before touching the gallery: all or nothing.
    let photos = a.images.iter().map(|p| read_photo(p)).collect::<anyhow::Result<Vec<_>>>()?;
    let engine = load_engine(&a.detector)?;
    let (mut rows, mut fallbacks) = (Vec::new(), Vec::new());
    for photo in &photos {
        let (found, count) = engine.largest_face(&photo.image).ok_or_else(|| FaceError::NoFace {
            path: photo.path.clone(),
            threshold: engine.detector.config.score_threshold,
        })?;
        if count > 1 && !json_out {
            eprintln!("note: {} has {count} faces; enrolling the largest", photo.path.display());
        }
        if found.face.fallback.is_some() && !json_out {
            let note = fallback_note(found.face.fallback);
            eprintln!("note: {}: no face at the score threshold{note}", photo.path.display());
        }
        fallbacks.push(json!({"image": photo.path, "fallback": found.face.fallback}));
        rows.push(NewEmbedding {
            image_sha256: photo.sha256.clone(),
            image_path: photo.path.display().to_string(),
            bbox: found.face.bbox,
            vector: found.embedding,
        });
    }
    let mut gallery = Gallery::open_or_create(&a.gallery, &engine.model_id, &engine.model_version)?;
    let done = gallery.enroll_report(&name, &rows)?;
    if json_out {
        println!(
            "{}",
            json!({"name": done.name, "added": done.added, "already_present": done.already_present,
                "embeddings": done.total, "gallery": a.gallery, "photos": fallbacks})
        );
    } else {
        let again = match done.already_present {
            0 => String::new(),
            n => format!(" ({n} already there)"),
        };
        println!(
            "enrolled {}: {} photo(s) added{again}, {} in the gallery",
            done.name, done.added, done.total
        );
    }
    Ok(())
}

pub fn identify(a: IdentifyArgs, json_out: bool) -> anyhow::Result<()> {
    let threshold = a.metric.threshold(&a.detector.model)?;
    if a.top == 0 {
        anyhow::bail!("--top must be at least 1");
    }
    let gallery = open(&a.gallery, &a.detector.model)?;
    let (index, names) = gallery.load_index(DIM)?;
    if index.is_empty() {
        anyhow::bail!(
            "gallery {}: no one is enrolled yet (use `facestyle face enroll`)",
            a.gallery.display()
        );
    }
    let photos = a.images.iter().map(|p| read_photo(p)).collect::<anyhow::Result<Vec<_>>>()?;
    let engine: FaceEngine = load_engine(&a.detector)?;
    let mut out = Vec::new();
    for photo in &photos {
        let found = engine.analyze(&photo.image);
        let mut faces = Vec::new();
        if !json_out {
            println!("{}: {} face(s)", photo.path.display(), found.len());
        }
        for (i, f) in found.iter().enumerate() {
            let hits = index.search(&f.embedding, a.top, a.metric.metric);
            let best = hits.first().copied();
            let name = name_or_unknown(best.as_ref(), &names, threshold);
            let candidates: Vec<_> = hits
                .iter()
                .map(|h| json!({"name": names[h.owner as usize], "distance": h.distance}))
                .collect();
            if json_out {
                faces.push(json!({
                    "bbox": f.face.bbox, "score": f.face.score, "fallback": f.face.fallback, "name": name,
                    "distance": best.map(|h| h.distance), "candidates": candidates,
                }));
            } else {
                let d = best.map(|h| format!("{:.4}", h.distance)).unwrap_or_default();
                let [x, y, w, h] = f.face.bbox;
                println!(
                    "  #{} at ({x:.0},{y:.0},{w:.0}x{h:.0}): {name} (distance {d}, threshold {threshold:.4}){}",
                    i + 1,
                    fallback_note(f.face.fallback)
                );
                for h in hits.iter().skip(1) {
                    println!("      also {} {:.4}", names[h.owner as usize], h.distance);
                }
            }
        }
        out.push(json!({"image": photo.path, "faces": faces}));
    }
    if json_out {
        println!("{}", json!({"metric": a.metric.metric.name(), "threshold": threshold, "results": out}));
    }
    Ok(())
}

pub fn people(a: GalleryArgs, json_out: bool) -> anyhow::Result<()> {
    let people = open(&a.gallery, &a.model)?.people()?;
    if json_out {
        println!("{}", json!({"gallery": a.gallery, "people": people}));
    } else {
        if people.is_empty() {
            println!("{}: empty", a.gallery.display());
        }
        for p in people {
            println!("{}\t{} embedding(s)\tsince {}", p.name, p.embeddings, p.created_at);
        }
    }
    Ok(())
}

pub fn forget(a: ForgetArgs, json_out: bool) -> anyhow::Result<()> {
    let mut g = open(&a.gallery, &a.model)?;
    if !g.forget(&a.name)? {
        anyhow::bail!("gallery {}: no person named '{}'", a.gallery.display(), a.name);
    }
    if json_out {
        println!("{}", json!({"forgotten": a.name}));
    } else {
        println!("forgot {}", a.name);
    }
    Ok(())
}
