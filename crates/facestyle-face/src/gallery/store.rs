//! One interface for every place a gallery can live: a SQLite file (the embedded default) or a
//! PostgreSQL database with pgvector (the scale-out store). The CLI, the server and the Python
//! package open a [`Location`] and work through [`Store`]; what a gallery means (one
//! transaction per enrolment, the model recorded and checked, names checked, "unknown" by the
//! verifier's threshold) is the same in both.

use std::path::{Path, PathBuf};

use crate::error::{FaceError, Result};
use crate::gallery::ann::{Progress, Search};
use crate::gallery::{Enrolled, Gallery, NewEmbedding, Person};
use crate::metric::Verifier;
use crate::search::Identified;

/// Where a gallery lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    File(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
    /// Several PostgreSQL databases, people spread over them (URLs separated by white space;
    /// in each, hosts after the first are the primary's replicas).
    Sharded(Vec<String>),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL is a PostgreSQL database, several of them
    /// separated by white space a sharded gallery, anything else a file.
    pub fn parse(s: &str) -> Location {
        let is_url = |u: &str| u.starts_with("postgres://") || u.starts_with("postgresql://");
        let parts: Vec<&str> = s.split_whitespace().collect();
        if parts.len() > 1 && parts.iter().all(|p| is_url(p)) {
            return Location::Sharded(parts.into_iter().map(String::from).collect());
        }
        if is_url(s) { Location::Postgres(s.to_string()) } else { Location::File(PathBuf::from(s)) }
    }

    /// The file, for a SQLite gallery.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Location::File(p) => Some(p),
            Location::Postgres(_) | Location::Sharded(_) => None,
        }
    }

    /// The location as messages show it: a URL without its password.
    pub fn shown(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::Postgres(url) => redact(url),
            Location::Sharded(urls) => urls.iter().map(|u| redact(u)).collect::<Vec<_>>().join(" "),
        }
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Self {
        Location::File(p)
    }
}

impl From<&str> for Location {
    fn from(s: &str) -> Self {
        Location::parse(s)
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Self {
        Location::File(p.to_path_buf())
    }
}

impl std::str::FromStr for Location {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Location::parse(s))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (auth, host),
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// A gallery, wherever it lives.
pub trait Store: Send {
    /// Where it is, as messages show it.
    fn location(&self) -> String;

    /// Adds `faces` to person `name` (checked with
    /// [`check_name`](crate::gallery::check_name); created if new) in one transaction. A face
    /// whose image (sha256) the person already has is not stored again.
    fn enroll(&mut self, name: &str, faces: &[NewEmbedding]) -> Result<Enrolled>;

    /// Everyone enrolled, by name (byte order).
    fn people(&mut self) -> Result<Vec<Person>>;

    /// Removes a person and their embeddings; `false` when there is no such person.
    fn forget(&mut self, name: &str) -> Result<bool>;

    /// How many embeddings the gallery holds.
    fn embeddings(&mut self) -> Result<usize>;

    /// Identifies each query: the `top` closest people, and the closest one's name when
    /// `verifier` calls them the same, else `unknown`. Distances are exact.
    fn identify(&mut self, queries: &[&[f32]], top: usize, verifier: &Verifier) -> Result<Vec<Identified>>;

    /// At most `limit` embeddings with their people's names, in the canonical order (name,
    /// then image sha256, both by bytes), starting after `after` (`(name, image sha256)`).
    /// Every store lists the same content in the same order, so copies can be compared.
    fn export(&mut self, after: Option<(&str, &str)>, limit: usize) -> Result<Vec<Exported>>;

    /// How [`Store::identify`] searches a SQLite gallery (exact scan or its approximate index,
    /// [`Search`]), and where a build of that index reports its progress. PostgreSQL galleries
    /// always search through their HNSW index and ignore it.
    fn set_search(&mut self, _search: Search, _progress: Option<Box<Progress>>) {}
}

/// An embedding as [`Store::export`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub name: String,
    pub face: NewEmbedding,
}

/// Every embedding of `store`, a page of `page` at a time, in the canonical order; `each`
/// sees every page.
pub fn for_each_page(
    store: &mut dyn Store,
    page: usize,
    mut each: impl FnMut(&[Exported]) -> Result<()>,
) -> Result<()> {
    let mut after: Option<(String, String)> = None;
    loop {
        let rows = store.export(after.as_ref().map(|(n, s)| (n.as_str(), s.as_str())), page)?;
        if rows.is_empty() {
            return Ok(());
        }
        each(&rows)?;
        let last = rows.last().expect("not empty");
        after = Some((last.name.clone(), last.face.image_sha256.clone()));
    }
}

/// The content of a store as a SHA-256 over every embedding in the canonical order (name,
/// image sha256, the vector's little-endian f32 bytes), with the number of embeddings: equal
/// for two stores that hold the same people and vectors.
pub fn checksum(store: &mut dyn Store) -> Result<(usize, String)> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut n = 0;
    for_each_page(store, 1000, |rows| {
        for r in rows {
            h.update((r.name.len() as u64).to_le_bytes());
            h.update(r.name.as_bytes());
            h.update(r.face.image_sha256.as_bytes());
            for x in &r.face.vector {
                h.update(x.to_le_bytes());
            }
        }
        n += rows.len();
        Ok(())
    })?;
    Ok((n, hex::encode(h.finalize())))
}

/// Opens the gallery at `location` for embeddings of `model_id` / `model_version`, creating an
/// empty one when `create` and there is none.
pub fn open(
    location: &Location,
    model_id: &str,
    model_version: &str,
    create: bool,
) -> Result<Box<dyn Store>> {
    match location {
        Location::File(path) => {
            let g = if create {
                Gallery::open_or_create(path, model_id, model_version)?
            } else {
                Gallery::open(path, model_id, model_version)?
            };
            Ok(Box::new(g))
        }
        Location::Postgres(url) => {
            Ok(Box::new(crate::gallery::postgres::PgGallery::connect(url, model_id, model_version, create)?))
        }
        Location::Sharded(urls) => Ok(Box::new(crate::gallery::sharded::ShardedGallery::connect(
            urls,
            model_id,
            model_version,
            create,
        )?)),
    }
}

/// Checks the faces of an enrolment against the gallery's embedding size (`dim`, or the first
/// face's for an empty gallery): every vector of that size and finite. Returns the size.
pub fn check_faces(location: &Path, dim: Option<usize>, faces: &[NewEmbedding]) -> Result<usize> {
    let dim = dim.or(faces.first().map(|f| f.vector.len())).unwrap_or(0);
    for f in faces {
        if f.vector.len() != dim || dim == 0 {
            return Err(FaceError::gallery(
                location,
                format!(
                    "embedding of {} has {} values, the gallery holds {dim}-value embeddings",
                    f.image_path,
                    f.vector.len()
                ),
            ));
        }
        if f.vector.iter().any(|x| !x.is_finite()) {
            return Err(FaceError::gallery(location, format!("embedding of {} is not finite", f.image_path)));
        }
    }
    Ok(dim)
}

impl Store for Gallery {
    fn location(&self) -> String {
        self.path().display().to_string()
    }

    fn enroll(&mut self, name: &str, faces: &[NewEmbedding]) -> Result<Enrolled> {
        self.enroll_report(name, faces)
    }

    fn people(&mut self) -> Result<Vec<Person>> {
        Gallery::people(self)
    }

    fn forget(&mut self, name: &str) -> Result<bool> {
        Gallery::forget(self, name)
    }

    fn embeddings(&mut self) -> Result<usize> {
        Gallery::embedding_count(self)
    }

    fn identify(&mut self, queries: &[&[f32]], top: usize, verifier: &Verifier) -> Result<Vec<Identified>> {
        Gallery::identify(self, queries, top, verifier)
    }

    fn set_search(&mut self, search: Search, progress: Option<Box<Progress>>) {
        Gallery::set_search(self, search);
        if let Some(p) = progress {
            self.on_progress(p);
        }
    }

    fn export(&mut self, after: Option<(&str, &str)>, limit: usize) -> Result<Vec<Exported>> {
        Gallery::export(self, after, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_postgres_and_the_rest_are_files() {
        assert_eq!(Location::parse("g.db"), Location::File("g.db".into()));
        assert_eq!(Location::parse("/a/postgres://x"), Location::File("/a/postgres://x".into()));
        let pg = Location::parse("postgresql://me:secret@db.example:5432/faces");
        assert!(matches!(pg, Location::Postgres(_)));
        assert_eq!(pg.shown(), "postgresql://me:***@db.example:5432/faces");
        assert_eq!(redact("postgres://me@host/db"), "postgres://me@host/db");
        assert_eq!(redact("postgres://host/db"), "postgres://host/db");
        assert_eq!(redact("postgres://me:p@ss:w@rd@host/db"), "postgres://me:***@host/db");
    }
}
