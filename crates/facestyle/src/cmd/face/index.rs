//! `facestyle face gallery index`: builds (or brings up to date) a SQLite gallery's
//! approximate index ahead of the first search that needs it, with progress; for a PostgreSQL
//! gallery, rebuilds its HNSW index at the precision asked for.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use facestyle_face::engine::model_identity;
use facestyle_face::gallery::Gallery;
use facestyle_face::gallery::ann::APPROXIMATE_FROM;
use facestyle_face::gallery::postgres::{PgGallery, Precision};
use facestyle_face::gallery::store::Location;
use serde::Serialize;

use super::{ModelArg, progress};

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// The gallery: a SQLite file or a PostgreSQL URL.
    #[arg(long)]
    pub gallery: Location,
    /// PostgreSQL: what the HNSW index stores of each vector, `single` (pgvector `vector`) or
    /// `half` (`halfvec`, half the size; distances stay exact, re-ranked from the table).
    #[arg(long, value_parser = parse_precision)]
    pub precision: Option<Precision>,
    #[command(flatten)]
    pub model: ModelArg,
}

fn parse_precision(s: &str) -> Result<Precision, String> {
    Precision::parse(s).ok_or_else(|| format!("'{s}' is not one of {}", Precision::NAMES.join(", ")))
}

#[derive(Serialize)]
struct Reindexed {
    gallery: String,
    precision: &'static str,
    index_bytes: i64,
    seconds: f64,
}

#[derive(Serialize)]
struct Indexed {
    gallery: String,
    embeddings: usize,
    seconds: f64,
    memory_bytes: usize,
    /// Whether `--search auto` (the default) uses the index at this size.
    used_by_default: bool,
}

pub fn run(a: IndexArgs, json_out: bool) -> anyhow::Result<()> {
    let (id, version) = model_identity(a.model.model.as_deref())?;
    let path = match &a.gallery {
        Location::File(path) => path,
        Location::Postgres(url) => {
            let precision = a.precision.context(
                "a PostgreSQL gallery keeps its HNSW index up to date itself; --precision single|half rebuilds it",
            )?;
            let mut g = PgGallery::connect(url, &id, &version, false)?;
            let t = Instant::now();
            let index_bytes = g.set_index_precision(precision)?;
            let out = Reindexed {
                gallery: a.gallery.shown(),
                precision: precision.name(),
                index_bytes,
                seconds: t.elapsed().as_secs_f64(),
            };
            if json_out {
                println!("{}", serde_json::to_string(&out)?);
            } else {
                println!(
                    "{}: HNSW index at {} precision, {:.1} MiB, built in {:.1} s",
                    out.gallery,
                    out.precision,
                    out.index_bytes as f64 / (1 << 20) as f64,
                    out.seconds
                );
            }
            return Ok(());
        }
        Location::Sharded(_) => {
            anyhow::bail!("give one shard's URL at a time: each database has its own index")
        }
    };
    anyhow::ensure!(
        a.precision.is_none(),
        "--precision is for PostgreSQL galleries; a SQLite gallery's index holds half-precision vectors"
    );
    let mut g = Gallery::open(path, &id, &version)?;
    let Some(dim) = g.dimension()? else {
        anyhow::bail!("gallery {}: no one is enrolled yet (use `facestyle face enroll`)", path.display());
    };
    let bar = progress(g.embedding_count()? as u64, "indexing");
    if json_out {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let shown = bar.clone();
    g.on_progress(Box::new(move |done, _| shown.set_position(done as u64)));
    let t = Instant::now();
    let ann = g.approximate(dim)?;
    bar.finish_and_clear();
    let out = Indexed {
        gallery: path.display().to_string(),
        embeddings: ann.len(),
        seconds: t.elapsed().as_secs_f64(),
        memory_bytes: ann.memory_bytes(),
        used_by_default: ann.len() >= APPROXIMATE_FROM,
    };
    if json_out {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "{}: approximate index of {} embeddings ready in {:.1} s ({:.1} MiB in memory); identify uses it {}",
            out.gallery,
            out.embeddings,
            out.seconds,
            out.memory_bytes as f64 / (1 << 20) as f64,
            if out.used_by_default {
                "by default".to_string()
            } else {
                format!("with --search approximate (by default from {APPROXIMATE_FROM} embeddings)")
            }
        );
    }
    Ok(())
}
