//! `facestyle face gallery copy|checksum`: moving a gallery between stores (a SQLite file and a
//! PostgreSQL database, either way) and comparing them.

use clap::{Args, Subcommand};
use facestyle_face::engine::model_identity;
use facestyle_face::gallery::store::{self, Exported, Location, Store, checksum, for_each_page};
use serde::Serialize;

use super::{ModelArg, progress};

#[derive(Debug, Subcommand)]
pub enum GalleryCommand {
    /// Copies every person and embedding from one gallery to another (created if missing):
    /// one transaction per person, resumable (run it again after an interruption: what is
    /// already there is skipped), then verified by counts and checksums.
    Copy(CopyArgs),
    /// The number of embeddings and a SHA-256 over the gallery's content (names, image hashes,
    /// vectors, in a fixed order): equal for galleries that hold the same, wherever they live.
    Checksum(ChecksumArgs),
    /// Builds a SQLite gallery's approximate (HNSW) index beside it, or brings it up to date;
    /// identification otherwise builds it on first need.
    Index(super::index::IndexArgs),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The gallery to copy: a SQLite file or a PostgreSQL URL.
    #[arg(long)]
    pub from: Location,
    /// Where to copy it: a SQLite file or a PostgreSQL URL.
    #[arg(long)]
    pub to: Location,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Debug, Args)]
pub struct ChecksumArgs {
    /// A SQLite file or a PostgreSQL URL.
    #[arg(long)]
    pub gallery: Location,
    #[command(flatten)]
    pub model: ModelArg,
}

#[derive(Serialize)]
struct Copied {
    from: String,
    to: String,
    people: usize,
    added: usize,
    already_present: usize,
    embeddings: usize,
    checksum: String,
}

#[derive(Serialize)]
struct Summed {
    gallery: String,
    embeddings: usize,
    checksum: String,
}

pub fn run(command: GalleryCommand, json_out: bool) -> anyhow::Result<()> {
    match command {
        GalleryCommand::Copy(a) => copy(a, json_out),
        GalleryCommand::Checksum(a) => sum(a, json_out),
        GalleryCommand::Index(a) => super::index::run(a, json_out),
    }
}

/// People enrolled, embeddings added, embeddings already there.
#[derive(Default)]
struct Tally {
    people: usize,
    added: usize,
    already_present: usize,
}

/// Enrols one person's rows into `to` in one transaction.
fn enrol(to: &mut dyn Store, person: &[Exported], tally: &mut Tally) -> facestyle_face::Result<()> {
    let Some(first) = person.first() else { return Ok(()) };
    let faces: Vec<_> = person.iter().map(|r| r.face.clone()).collect();
    let done = to.enroll(&first.name, &faces)?;
    tally.people += 1;
    tally.added += done.added;
    tally.already_present += done.already_present;
    Ok(())
}

fn copy(a: CopyArgs, json_out: bool) -> anyhow::Result<()> {
    if a.from == a.to {
        anyhow::bail!("--from and --to are the same gallery ({})", a.from);
    }
    let (id, version) = model_identity(a.model.model.as_deref())?;
    let mut from = store::open(&a.from, &id, &version, false)?;
    let mut to = store::open(&a.to, &id, &version, true)?;
    let total = from.embeddings()?;
    let bar = progress(total as u64, "copying");
    let mut tally = Tally::default();
    // A person's rows may span two pages: they are enrolled together once the name changes.
    let mut person: Vec<Exported> = Vec::new();
    for_each_page(from.as_mut(), 1000, |rows| {
        for r in rows {
            if person.first().is_some_and(|p| p.name != r.name) {
                enrol(to.as_mut(), &person, &mut tally)?;
                person.clear();
            }
            person.push(r.clone());
        }
        bar.inc(rows.len() as u64);
        Ok(())
    })?;
    enrol(to.as_mut(), &person, &mut tally)?;
    bar.finish_and_clear();
    let (n_from, sum_from) = checksum(from.as_mut())?;
    let (n_to, sum_to) = checksum(to.as_mut())?;
    if (n_from, &sum_from) != (n_to, &sum_to) {
        anyhow::bail!(
            "{} holds {n_to} embeddings (checksum {sum_to}), {} holds {n_from} ({sum_from}): the copy is not equal \
             (did {} hold other people or other photos of them before?)",
            to.location(),
            from.location(),
            to.location()
        );
    }
    let out = Copied {
        from: from.location(),
        to: to.location(),
        people: tally.people,
        added: tally.added,
        already_present: tally.already_present,
        embeddings: n_to,
        checksum: sum_to,
    };
    if json_out {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "copied {} -> {}: {} embedding(s) added, {} already there; {} in both, checksum {} (equal)",
            out.from, out.to, out.added, out.already_present, out.embeddings, out.checksum
        );
    }
    Ok(())
}

fn sum(a: ChecksumArgs, json_out: bool) -> anyhow::Result<()> {
    let (id, version) = model_identity(a.model.model.as_deref())?;
    let mut g = store::open(&a.gallery, &id, &version, false)?;
    let (embeddings, checksum) = checksum(g.as_mut())?;
    let out = Summed { gallery: g.location(), embeddings, checksum };
    if json_out {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{}: {} embedding(s), checksum {}", out.gallery, out.embeddings, out.checksum);
    }
    Ok(())
}
