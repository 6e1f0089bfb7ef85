//! The gallery: people and their face embeddings in SQLite (bundled, WAL mode).
//!
//! Every embedding row records the model id and version, the source image's sha256 and the
//! face box. A gallery belongs to one embedding model: adding or searching with another model
//! is refused. Enrolment of a person (one or more photos) is a single transaction, so a failure
//! leaves the gallery exactly as it was, and it is idempotent: a person holds one embedding
//! per image (by sha256), so a retried enrolment adds nothing.
//!
//! Names go through [`check_name`]. A new gallery file is created readable and writable by
//! its owner only (0600; SQLite gives its `-wal` and `-shm` files the same mode); the mode
//! of an existing file is left as it is.

pub mod ann;
mod name;
pub mod postgres;
mod schema;
pub mod sharded;
pub mod store;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::error::{FaceError, Result};
use crate::metric::{Metric, Verifier};
use crate::search::{Hit, Identified, Index};

pub use name::{MAX_NAME_BYTES, check_name, normalize_name};
pub use schema::VERSION as SCHEMA_VERSION;

/// One face to store for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEmbedding {
    pub image_sha256: String,
    pub image_path: String,
    pub bbox: [f32; 4],
    pub vector: Vec<f32>,
}

/// What an enrolment did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Enrolled {
    /// The name as stored (see [`check_name`]).
    pub name: String,
    /// Faces stored by this enrolment.
    pub added: usize,
    /// Faces given whose image the person already had (not stored again).
    pub already_present: usize,
    /// The person's embedding count afterwards.
    #[serde(rename = "embeddings")]
    pub total: usize,
}

/// A photo given to an enrolment and how its face was found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolledPhoto {
    pub image: String,
    pub fallback: Option<crate::detect::Fallback>,
}

/// A person and how many embeddings the gallery holds for them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Person {
    pub name: String,
    pub embeddings: usize,
    pub created_at: String,
}

pub struct Gallery {
    path: PathBuf,
    conn: Connection,
    model_id: String,
    model_version: String,
    /// The search index [`store::Store::identify`] last loaded, with what it was loaded from
    /// (see [`Gallery::stamp`]).
    index: Option<(Stamp, Index, Vec<String>)>,
    /// How [`store::Store::identify`] searches, the approximate index once opened, and the
    /// embedding count at a stamp (for [`ann::Search::Auto`]).
    search: ann::Search,
    ann: Option<(Stamp, ann::Ann)>,
    counted: Option<(Stamp, usize)>,
    progress: Option<Box<ann::Progress>>,
    graph: ann::Graph,
}

/// People beyond the `top` asked for whose photos an approximate search re-ranks exactly (an
/// index's f16 distances, or a graph that missed a person's nearest photo, can order near-equal
/// people differently).
const RERANK_EXTRA_PEOPLE: usize = 5;

/// The first `top` + [`RERANK_EXTRA_PEOPLE`] distinct people of candidates given nearest first:
/// those an approximate search re-ranks exactly over all their photos.
pub(crate) fn people_to_rerank(nearest_first: impl IntoIterator<Item = i64>, top: usize) -> Vec<i64> {
    let mut people: Vec<i64> = Vec::new();
    for person in nearest_first {
        if !people.contains(&person) {
            people.push(person);
            if people.len() == top.max(1) + RERANK_EXTRA_PEOPLE {
                break;
            }
        }
    }
    people
}

/// What a loaded index depends on: the embedding size, the database's `data_version` (it
/// changes when another connection commits) and this connection's total changes.
type Stamp = (usize, i64, u64);

impl Gallery {
    /// Opens an existing gallery (error if the file does not exist).
    pub fn open(path: &Path, model_id: &str, model_version: &str) -> Result<Self> {
        if !path.is_file() {
            return Err(FaceError::gallery(path, "does not exist (the first enrolment creates it)"));
        }
        Self::connect(path, model_id, model_version)
    }

    /// Opens a gallery, creating an empty one if the file does not exist.
    pub fn open_or_create(path: &Path, model_id: &str, model_version: &str) -> Result<Self> {
        Self::connect(path, model_id, model_version)
    }

    fn connect(path: &Path, model_id: &str, model_version: &str) -> Result<Self> {
        let err = |e: rusqlite::Error| FaceError::gallery(path, describe(&e));
        create_private(path)?;
        // A gallery file without write permission is opened read-only, even for root: marking
        // it read-only (chmod a-w) is how a user protects it.
        let read_only = std::fs::metadata(path).map(|m| m.permissions().readonly()).unwrap_or(false);
        let flags = if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = Connection::open_with_flags(path, flags).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
        let mut g = Gallery {
            path: path.to_path_buf(),
            conn,
            model_id: model_id.into(),
            model_version: model_version.into(),
            index: None,
            search: ann::Search::Auto,
            graph: ann::Graph::default(),
            ann: None,
            counted: None,
            progress: None,
        };
        let writable = !g.conn.is_readonly(rusqlite::MAIN_DB).map_err(err)?;
        let found = if writable {
            let mode: String = g.conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(FaceError::gallery(
                    path,
                    format!("cannot switch to WAL journal mode (got {mode})"),
                ));
            }
            schema::migrate(&mut g.conn).map_err(err)?
        } else {
            schema::version(&g.conn).map_err(err)?
        };
        if found > schema::VERSION {
            return Err(FaceError::gallery(path, schema::newer(found)));
        }
        g.check_model()?;
        Ok(g)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> FaceError {
        FaceError::gallery(&self.path, describe(&e))
    }

    /// Refuses galleries written with another embedding model.
    fn check_model(&self) -> Result<()> {
        let stored: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'model_id'", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(m) = stored
            && m != self.model_id
        {
            return Err(FaceError::gallery(
                &self.path,
                format!(
                    "holds embeddings of model '{m}', not '{}'; embeddings of different models cannot be compared",
                    self.model_id
                ),
            ));
        }
        let other: Option<String> = self
            .conn
            .query_row(
                "SELECT model_id || ' ' || model_version FROM embeddings WHERE model_id != ?1 OR model_version != ?2 LIMIT 1",
                params![self.model_id, self.model_version],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(o) = other {
            return Err(FaceError::gallery(
                &self.path,
                format!(
                    "holds embeddings of model {o}, this is {} {}; refusing to mix them",
                    self.model_id, self.model_version
                ),
            ));
        }
        Ok(())
    }

    /// Adds `faces` to person `name` (created if new), all in one transaction. Returns the
    /// person's embedding count afterwards (see [`Gallery::enroll_report`]).
    pub fn enroll(&mut self, name: &str, faces: &[NewEmbedding]) -> Result<usize> {
        Ok(self.enroll_report(name, faces)?.total)
    }

    /// Adds `faces` to person `name` (checked with [`check_name`]; created if new), all in
    /// one transaction. A face whose image (sha256) the person already has is not stored
    /// again, so retrying an enrolment changes nothing.
    pub fn enroll_report(&mut self, name: &str, faces: &[NewEmbedding]) -> Result<Enrolled> {
        let name = check_name(name)?;
        store::check_faces(&self.path, self.dimension()?, faces)?;
        let path = self.path.clone();
        let err = |e: rusqlite::Error| FaceError::gallery(&path, describe(&e));
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('model_id', ?1)", params![self.model_id])
            .map_err(err)?;
        tx.execute("INSERT OR IGNORE INTO people(name) VALUES (?1)", params![name]).map_err(err)?;
        let pid: i64 = tx
            .query_row("SELECT id FROM people WHERE name = ?1", params![name], |r| r.get(0))
            .map_err(err)?;
        let mut added = 0;
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO embeddings(person_id, model_id, model_version, image_sha256, image_path, bbox, vector)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT(person_id, image_sha256) DO NOTHING",
                )
                .map_err(err)?;
            for f in faces {
                let bbox = serde_json::to_string(&f.bbox).expect("array of floats");
                added += ins
                    .execute(params![
                        pid,
                        self.model_id,
                        self.model_version,
                        f.image_sha256,
                        f.image_path,
                        bbox,
                        vector_bytes(&f.vector)
                    ])
                    .map_err(err)?;
            }
        }
        let n: i64 = tx
            .query_row("SELECT COUNT(*) FROM embeddings WHERE person_id = ?1", params![pid], |r| r.get(0))
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Enrolled { name, added, already_present: faces.len() - added, total: n as usize })
    }

    /// The [`Stamp`] of an index of `dim`-value embeddings loaded now.
    fn stamp(&self, dim: usize) -> Result<Stamp> {
        let version: i64 =
            self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(|e| self.err(e))?;
        Ok((dim, version, self.conn.total_changes()))
    }

    /// The search index with its owners' names, loaded again only when the gallery changed
    /// (through this connection or any other) since the last load.
    pub fn index(&mut self, dim: usize) -> Result<(&Index, &[String])> {
        let now = self.stamp(dim)?;
        if self.index.as_ref().is_none_or(|(s, _, _)| *s != now) {
            let (index, names) = self.load_index(dim)?;
            self.index = Some((now, index, names));
        }
        let (_, index, names) = self.index.as_ref().expect("loaded");
        Ok((index, names))
    }

    /// How identification searches this gallery (default [`ann::Search::Auto`]).
    pub fn set_search(&mut self, search: ann::Search) {
        self.search = search;
    }

    /// How this connection builds the approximate index when the gallery has none (default:
    /// [`ann::Graph::default`]); a graph already saved beside the gallery is used as built.
    pub fn set_graph(&mut self, graph: ann::Graph) {
        self.graph = graph;
    }

    /// Reports the progress of a build of the approximate index.
    pub fn on_progress(&mut self, progress: Box<ann::Progress>) {
        self.progress = Some(progress);
    }

    /// The approximate index for `dim`-value embeddings, opened (loaded, caught up, or built)
    /// when this connection has none, else brought up to date with the gallery's changes.
    pub fn approximate(&mut self, dim: usize) -> Result<&ann::Ann> {
        let now = self.stamp(dim)?;
        match &mut self.ann {
            Some((stamp, a)) if stamp.0 == dim => {
                if *stamp != now {
                    a.catch_up(&self.conn, &self.path)?;
                    *stamp = now;
                }
            }
            _ => {
                if let Some(held) = self.dimension()?
                    && held != dim
                {
                    return Err(FaceError::gallery(
                        &self.path,
                        format!("a query has {dim} values, the gallery holds {held}-value embeddings"),
                    ));
                }
                let quiet = |_: usize, _: usize| {};
                let progress: &ann::Progress = self.progress.as_deref().unwrap_or(&quiet);
                let a = ann::Ann::open(&self.conn, &self.path, dim, self.graph, progress)?;
                // Opening may have saved and trimmed the log: stamp after it.
                self.ann = Some((self.stamp(dim)?, a));
            }
        }
        Ok(&self.ann.as_ref().expect("opened").1)
    }

    /// Whether identification of `dim`-value embeddings goes through the approximate index.
    pub fn uses_approximate(&mut self, dim: usize) -> Result<bool> {
        Ok(match self.search {
            ann::Search::Exact => false,
            ann::Search::Approximate => true,
            ann::Search::Auto => {
                if self.ann.is_some() {
                    return Ok(true);
                }
                let now = self.stamp(dim)?;
                let n = match self.counted {
                    Some((s, n)) if s == now => n,
                    _ => {
                        let n = self.embedding_count()?;
                        self.counted = Some((now, n));
                        n
                    }
                };
                n >= ann::APPROXIMATE_FROM
            }
        })
    }

    /// Identifies each query among the gallery's people: through the exact scan, or through the
    /// approximate index's candidates re-ranked exactly (see [`Gallery::set_search`]).
    pub fn identify(
        &mut self,
        queries: &[&[f32]],
        top: usize,
        verifier: &Verifier,
    ) -> Result<Vec<Identified>> {
        let Some(dim) = queries.first().map(|q| q.len()) else { return Ok(Vec::new()) };
        if !self.uses_approximate(dim)? {
            let (index, names) = self.index(dim)?;
            return Ok(queries.iter().map(|q| index.identify(q, top, verifier, names)).collect());
        }
        self.approximate(dim)?;
        let ann = &self.ann.as_ref().expect("opened").1;
        let mut out = Vec::with_capacity(queries.len());
        for q in queries {
            // The people of the nearest candidates by the graph's distances, a few more than
            // asked for; then every photo of theirs, ranked exactly from SQLite, so each
            // person's distance is the one to their nearest photo even where the graph missed it.
            let found = ann.candidates(q, top, &self.path)?;
            let people = people_to_rerank(found, top);
            let (index, names) = self.photos_of(&people, dim)?;
            out.push(index.identify(q, top, verifier, &names));
        }
        Ok(out)
    }

    /// Every embedding of the people `ids` that still exist, as a search index with their
    /// names.
    fn photos_of(&self, ids: &[i64], dim: usize) -> Result<(Index, Vec<String>)> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT p.name, e.vector FROM embeddings e JOIN people p ON p.id = e.person_id
                 WHERE e.person_id = ?1",
            )
            .map_err(|e| self.err(e))?;
        let mut index = Index::new(dim);
        let mut names: Vec<String> = Vec::new();
        for id in ids {
            let rows = st
                .query_map(params![id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))
                .map_err(|e| self.err(e))?;
            let owner = names.len() as u32;
            let mut any = false;
            for row in rows {
                let (name, blob) = row.map_err(|e| self.err(e))?;
                let v = bytes_vector(&blob);
                if v.len() != dim {
                    continue;
                }
                if !any {
                    names.push(name);
                    any = true;
                }
                index.push(owner, &v);
            }
        }
        Ok((index, names))
    }

    /// See [`store::Store::export`].
    pub fn export(&self, after: Option<(&str, &str)>, limit: usize) -> Result<Vec<store::Exported>> {
        let (name, sha) = after.unwrap_or(("", ""));
        let mut st = self
            .conn
            .prepare(
                "SELECT p.name, e.image_sha256, e.image_path, e.bbox, e.vector
                 FROM embeddings e JOIN people p ON p.id = e.person_id
                 WHERE ?1 = 0 OR p.name > ?2 OR (p.name = ?2 AND e.image_sha256 > ?3)
                 ORDER BY p.name, e.image_sha256 LIMIT ?4",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![after.is_some() as i64, name, sha, limit as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, image_sha256, image_path, bbox, vector) = row.map_err(|e| self.err(e))?;
            let bbox: [f32; 4] = serde_json::from_str(&bbox).map_err(|e| {
                FaceError::gallery(&self.path, format!("a face box of '{name}' is not 4 numbers: {e}"))
            })?;
            out.push(store::Exported {
                name,
                face: NewEmbedding { image_sha256, image_path, bbox, vector: bytes_vector(&vector) },
            });
        }
        Ok(out)
    }

    /// How many embeddings the gallery holds.
    pub fn embedding_count(&self) -> Result<usize> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM embeddings", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(n as usize)
    }

    /// Values per embedding in this gallery (`None` while it is empty).
    pub fn dimension(&self) -> Result<Option<usize>> {
        let n: Option<i64> = self
            .conn
            .query_row("SELECT length(vector) FROM embeddings LIMIT 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(n.map(|b| b as usize / 4))
    }

    /// Removes a person and their embeddings; `false` when no such person. `name` is looked
    /// up as stored ([`normalize_name`]: NFC, trimmed), and as given (trimmed) for names
    /// stored before names were normalised.
    pub fn forget(&mut self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "DELETE FROM people WHERE name = ?1 OR name = ?2",
                params![normalize_name(name), name.trim()],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    pub fn people(&self) -> Result<Vec<Person>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT p.name, COUNT(e.id), p.created_at FROM people p LEFT JOIN embeddings e ON e.person_id = p.id
                 GROUP BY p.id ORDER BY p.name",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(Person {
                    name: r.get(0)?,
                    embeddings: r.get::<_, i64>(1)? as usize,
                    created_at: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Loads every embedding into a search index; returns it with the owners' names.
    pub fn load_index(&self, dim: usize) -> Result<(Index, Vec<String>)> {
        let mut names: Vec<String> = Vec::new();
        let mut ids: std::collections::HashMap<i64, u32> = std::collections::HashMap::new();
        let mut index = Index::new(dim);
        let mut st = self
            .conn
            .prepare("SELECT p.id, p.name, e.vector FROM embeddings e JOIN people p ON p.id = e.person_id ORDER BY e.id")
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let (pid, name, blob): (i64, String, Vec<u8>) = (
                r.get(0).map_err(|e| self.err(e))?,
                r.get(1).map_err(|e| self.err(e))?,
                r.get(2).map_err(|e| self.err(e))?,
            );
            let v = bytes_vector(&blob);
            if v.len() != dim {
                return Err(FaceError::gallery(
                    &self.path,
                    format!("an embedding of '{name}' has {} values, expected {dim}", v.len()),
                ));
            }
            let owner = *ids.entry(pid).or_insert_with(|| {
                names.push(name);
                (names.len() - 1) as u32
            });
            index.push(owner, &v);
        }
        Ok((index, names))
    }

    /// Convenience: the `k` closest people to `query`.
    pub fn search(&self, query: &[f32], k: usize, metric: Metric) -> Result<Vec<(String, f32)>> {
        let (index, names) = self.load_index(query.len())?;
        Ok(index
            .search(query, k, metric)
            .into_iter()
            .map(|Hit { owner, distance }| (names[owner as usize].clone(), distance))
            .collect())
    }
}

/// Creates the gallery file, readable and writable by its owner only, when it does not exist
/// (SQLite gives the `-wal` and `-shm` files it makes the database file's mode). An existing
/// file keeps its mode.
fn create_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(FaceError::gallery(path, format!("cannot be created: {e}"))),
    }
}

fn vector_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A stored vector's values (little-endian f32).
pub(crate) fn bytes_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn describe(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ReadOnly) => {
            "is read-only (cannot write to it); nothing was changed".into()
        }
        Some(rusqlite::ErrorCode::DiskFull) => {
            "cannot be written: the disk is full (or a file size limit was reached); nothing was changed"
                .into()
        }
        Some(rusqlite::ErrorCode::SystemIoFailure) => {
            format!("cannot be written (I/O error: {e}); nothing was changed")
        }
        Some(rusqlite::ErrorCode::NotADatabase) => {
            "is not a facestyle gallery (not an SQLite database)".into()
        }
        Some(rusqlite::ErrorCode::CannotOpen) => format!("cannot be opened: {e}"),
        _ => e.to_string(),
    }
}
