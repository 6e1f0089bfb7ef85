//! `facestyle face gallery index`: builds (or brings up to date) a SQLite gallery's
//! approximate index ahead of the first search that needs it, with progress.

use std::time::Instant;

use clap::Args;
use facestyle_face::engine::model_identity;
use facestyle_face::gallery::Gallery;
use facestyle_face::gallery::ann::{APPROXIMATE_FROM, Search};
use serde::Serialize;

use super::{ModelArg, progress};

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// The SQLite gallery.
    #[arg(long)]
    pub gallery: std::path::PathBuf,
    #[command(flatten)]
    pub model: ModelArg,
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

/// The `--search` flag's values.
pub fn parse_search(s: &str) -> Result<Search, String> {
    Search::parse(s).ok_or_else(|| format!("'{s}' is not one of {}", Search::NAMES.join(", ")))
}

pub fn run(a: IndexArgs, json_out: bool) -> anyhow::Result<()> {
    let (id, version) = model_identity(a.model.model.as_deref())?;
    let mut g = Gallery::open(&a.gallery, &id, &version)?;
    let Some(dim) = g.dimension()? else {
        anyhow::bail!(
            "gallery {}: no one is enrolled yet (use `facestyle face enroll`)",
            a.gallery.display()
        );
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
        gallery: a.gallery.display().to_string(),
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
