//! `facestyle face enroll | identify | people | forget`: the one-shot gallery.

use std::path::PathBuf;

use clap::Args;
use facestyle_face::FaceError;
use facestyle_face::detect::Face;
use facestyle_face::engine::{FaceEngine, model_identity};
use facestyle_face::gallery::ann::Search;
use facestyle_face::gallery::store::{self, Location, Store};
use facestyle_face::gallery::{Enrolled, EnrolledPhoto, NewEmbedding, Person};
use facestyle_face::metric::Metric;
use facestyle_face::search::{Identified, NamedFace};
use serde::Serialize;

use super::{DetectorArgs, MetricArgs, ModelArg, fallback_note, load_engine, read_photo};

#[derive(Debug, Args)]
pub struct GalleryArgs {
    /// The gallery: a SQLite file, or a PostgreSQL database with pgvector
    /// (`postgres://user@host:port/db`).
    #[arg(long)]
    pub gallery: Location,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The gallery: a SQLite file (created if missing) or a PostgreSQL URL.
    #[arg(long)]
    pub gallery: Location,
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
    /// The gallery: a SQLite file or a PostgreSQL URL.
    #[arg(long)]
    pub gallery: Location,
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Candidates listed per face.
    #[arg(long, default_value_t = 1)]
    pub top: usize,
    /// How a SQLite gallery is searched: `exact` (a scan), `approximate` (an HNSW index kept
    /// beside the file, candidates re-ranked exactly) or `auto` (approximate from 200,000
    /// embeddings). A PostgreSQL gallery always uses its HNSW index.
    #[arg(long, default_value = "auto", value_parser = Search::parse)]
    pub search: Search,
    #[command(flatten)]
    pub metric: MetricArgs,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The gallery: a SQLite file or a PostgreSQL URL.
    #[arg(long)]
    pub gallery: Location,
    pub name: String,
    #[command(flatten)]
    pub model: ModelArg,
}

fn open(location: &Location, model: &ModelArg) -> anyhow::Result<Box<dyn Store>> {
    let (id, version) = model_identity(model.model.as_deref())?;
    Ok(store::open(location, &id, &version, false)?)
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
        if count > 1 {
            tracing::info!("{} has {count} faces; enrolling the largest", photo.path.display());
        }
        if found.face.fallback.is_some() {
            let note = fallback_note(found.face.fallback);
            tracing::info!("{}: no face at the score threshold{note}", photo.path.display());
        }
        fallbacks
            .push(EnrolledPhoto { image: photo.path.display().to_string(), fallback: found.face.fallback });
        rows.push(NewEmbedding {
            image_sha256: photo.sha256.clone(),
            image_path: photo.path.display().to_string(),
            bbox: found.face.bbox,
            vector: found.embedding,
        });
    }
    let mut gallery = store::open(&a.gallery, &engine.model_id, &engine.model_version, true)?;
    let done = gallery.enroll(&name, &rows)?;
    if json_out {
        let out = Enrolment { done: &done, gallery: gallery.location(), photos: &fallbacks };
        println!("{}", serde_json::to_string(&out)?);
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

/// `--json` of an enrolment.
#[derive(Serialize)]
struct Enrolment<'a> {
    #[serde(flatten)]
    done: &'a Enrolled,
    gallery: String,
    photos: &'a [EnrolledPhoto],
}

/// `--json` of identify: every face of every photo.
#[derive(Serialize)]
struct Identification {
    metric: Metric,
    threshold: f32,
    results: Vec<PhotoFaces>,
}

#[derive(Serialize)]
struct PhotoFaces {
    image: PathBuf,
    faces: Vec<NamedFace>,
}

pub fn identify(a: IdentifyArgs, json_out: bool) -> anyhow::Result<()> {
    let verifier = a.metric.verifier(&a.detector.model)?;
    let mut gallery = open(&a.gallery, &a.detector.model)?;
    let bar = super::progress(0, "building the approximate index");
    bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    let shown = bar.clone();
    gallery.set_search(
        a.search,
        Some(Box::new(move |done, total| {
            if shown.is_hidden() {
                shown.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                shown.set_length(total as u64);
            }
            shown.set_position(done as u64);
        })),
    );
    if gallery.embeddings()? == 0 {
        anyhow::bail!("gallery {}: no one is enrolled yet (use `facestyle face enroll`)", gallery.location());
    }
    let photos = a.images.iter().map(|p| read_photo(p)).collect::<anyhow::Result<Vec<_>>>()?;
    let engine: FaceEngine = load_engine(&a.detector)?;
    let mut results = Vec::new();
    for photo in &photos {
        let found = engine.analyze(&photo.image);
        if !json_out {
            println!("{}: {} face(s)", photo.path.display(), found.len());
        }
        let queries: Vec<&[f32]> = found.iter().map(|f| f.embedding.as_slice()).collect();
        let answers = gallery.identify(&queries, a.top, &verifier)?;
        let mut faces = Vec::new();
        for (i, (f, who)) in found.iter().zip(answers).enumerate() {
            if !json_out {
                print_identified(i, &f.face, &who, verifier.threshold);
            }
            faces.push(NamedFace::new(&f.face, who));
        }
        results.push(PhotoFaces { image: photo.path.clone(), faces });
    }
    bar.finish_and_clear();
    if json_out {
        let out = Identification { metric: verifier.metric, threshold: verifier.threshold, results };
        println!("{}", serde_json::to_string(&out)?);
    }
    Ok(())
}

fn print_identified(i: usize, face: &Face, who: &Identified, threshold: f32) {
    let d = who.distance.map(|d| format!("{d:.4}")).unwrap_or_default();
    let [x, y, w, h] = face.bbox;
    println!(
        "  #{} at ({x:.0},{y:.0},{w:.0}x{h:.0}): {} (distance {d}, threshold {threshold:.4}){}",
        i + 1,
        who.name,
        fallback_note(face.fallback)
    );
    for c in who.candidates.iter().skip(1) {
        println!("      also {} {:.4}", c.name, c.distance);
    }
}

#[derive(Serialize)]
struct People<'a> {
    gallery: String,
    people: &'a [Person],
}

#[derive(Serialize)]
struct Forgotten<'a> {
    forgotten: &'a str,
}

pub fn people(a: GalleryArgs, json_out: bool) -> anyhow::Result<()> {
    let mut gallery = open(&a.gallery, &a.model)?;
    let people = gallery.people()?;
    if json_out {
        println!("{}", serde_json::to_string(&People { gallery: gallery.location(), people: &people })?);
    } else {
        if people.is_empty() {
            println!("{}: empty", gallery.location());
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
        anyhow::bail!("gallery {}: no person named '{}'", g.location(), a.name);
    }
    if json_out {
        println!("{}", serde_json::to_string(&Forgotten { forgotten: &a.name })?);
    } else {
        println!("forgot {}", a.name);
    }
    Ok(())
}
