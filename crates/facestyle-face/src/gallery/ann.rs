//! The embedded gallery's approximate index: an HNSW graph (usearch) over the embeddings of a
//! SQLite gallery, for galleries where the exact scan stops being fast (see [`Search::Auto`]).
//!
//! - Keys are embedding row ids. The graph holds the vectors in half precision by default
//!   (f16: half the memory; [`Storage`] lists the others); a search asks it for [`CANDIDATES`]
//!   rows and the gallery re-ranks them exactly from the f32 vectors it stores, so a distance
//!   is never approximate and a row removed since the graph last caught up is never reported.
//! - Persisted beside the gallery as `G.db.<gallery id>.<seq>.hnsw`: the graph as of change
//!   `seq` of the gallery's change log (`changes`, filled by triggers on every insert and
//!   delete of an embedding, whoever makes them). Opening loads the newest such file and
//!   applies the changes after its `seq`; enrolments and forgets reach a loaded graph the same
//!   way before each search. A missing, unreadable or foreign file is rebuilt from the table.
//! - Files are written under a temporary name and renamed, so a reader finds complete files
//!   only; after a save, older files and the log up to `seq` are removed
//!   (`meta.changes_trimmed` records how far), and a graph older than that loads the newest
//!   file again.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{FaceError, Result};
use crate::gallery::bytes_vector;

/// Candidates the graph returns for exact re-ranking.
pub const CANDIDATES: usize = 100;

/// Rows a build inserts one at a time before the rest go in on every core.
const SERIAL_START: usize = 10_000;
/// Links per node (usearch's connectivity) and the search width while building; the
/// PostgreSQL gallery builds its pgvector index with the same two (`m`, `ef_construction`).
pub const LINKS: usize = 32;
pub const EF_BUILD: usize = 200;
/// The search width: the list the graph keeps while searching.
pub const EF_SEARCH: usize = 400;
/// Embeddings from which [`Search::Auto`] uses the graph. Below it the exact scan answers in
/// under 5 ms on a 2-core Zen 4 and 8 ms on a 2-core Zen 3; the graph is the faster search
/// from about here on the first and from about twice this on the second (docs/galleries.md).
pub const APPROXIMATE_FROM: usize = 200_000;

/// How the graph stores its vectors; the gallery re-ranks from its f32 vectors either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    F32,
    /// Half precision: half of f32's memory.
    #[default]
    F16,
    BF16,
    /// Values scaled to -127..127 (a quarter of f32's memory), compared by cosine.
    I8,
}

impl Storage {
    pub const NAMES: [&str; 4] = ["f32", "f16", "bf16", "i8"];

    /// The storage named `s`; otherwise a message naming the choices.
    pub fn parse(s: &str) -> std::result::Result<Storage, String> {
        match s {
            "f32" => Ok(Storage::F32),
            "f16" => Ok(Storage::F16),
            "bf16" => Ok(Storage::BF16),
            "i8" => Ok(Storage::I8),
            _ => Err(format!("'{s}' is not one of {}", Storage::NAMES.join(", "))),
        }
    }

    pub fn name(self) -> &'static str {
        Storage::NAMES[self as usize]
    }
}

/// How a new graph is built: the storage of its vectors and the links per node. A graph
/// loaded from its file keeps the storage and links it was built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Graph {
    pub storage: Storage,
    pub links: usize,
}

impl Default for Graph {
    fn default() -> Graph {
        Graph { storage: Storage::default(), links: LINKS }
    }
}

/// How a SQLite gallery is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Search {
    /// Exact below [`APPROXIMATE_FROM`] embeddings, the approximate index from there on.
    #[default]
    Auto,
    Exact,
    Approximate,
}

impl Search {
    pub const NAMES: [&str; 3] = ["auto", "exact", "approximate"];

    /// The setting named `s`; otherwise a message naming the settings.
    pub fn parse(s: &str) -> std::result::Result<Search, String> {
        match s {
            "auto" => Ok(Search::Auto),
            "exact" => Ok(Search::Exact),
            "approximate" => Ok(Search::Approximate),
            _ => Err(format!("'{s}' is not one of {}", Search::NAMES.join(", "))),
        }
    }
}

/// Reports a long build: (embeddings added, embeddings in all).
pub type Progress = dyn Fn(usize, usize) + Send + Sync;

/// An HNSW graph of a gallery's embeddings as of change `seq` of its log.
pub struct Ann {
    index: usearch::Index,
    seq: i64,
    dim: usize,
    /// The person of each embedding row id (0: no such row), so that candidates are grouped
    /// by person without asking SQLite.
    persons: Vec<i64>,
}

/// What a build reads of the gallery in one transaction: the log's position, the row ids,
/// their vectors (row after row) and the person of each row id.
type Table = (i64, Vec<i64>, Vec<f32>, Vec<i64>);

/// `persons[id] = person`, growing the table as needed.
fn set_person(persons: &mut Vec<i64>, id: i64, person: i64) {
    let Ok(i) = usize::try_from(id) else { return };
    if i >= persons.len() {
        persons.resize(i + 1, 0);
    }
    persons[i] = person;
}

impl std::fmt::Debug for Ann {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ann")
            .field("size", &self.index.size())
            .field("seq", &self.seq)
            .field("dim", &self.dim)
            .finish()
    }
}

fn fail(gallery: &Path, what: impl std::fmt::Display) -> FaceError {
    FaceError::gallery(gallery, format!("approximate index: {what}"))
}

fn new_index(gallery: &Path, dim: usize, graph: Graph) -> Result<usearch::Index> {
    use usearch::ScalarKind;
    let (quantization, metric) = match graph.storage {
        Storage::F32 => (ScalarKind::F32, usearch::MetricKind::IP),
        Storage::F16 => (ScalarKind::F16, usearch::MetricKind::IP),
        Storage::BF16 => (ScalarKind::BF16, usearch::MetricKind::IP),
        // On unit vectors cosine is the inner product; on 8-bit integers it needs the norms.
        Storage::I8 => (ScalarKind::I8, usearch::MetricKind::Cos),
    };
    let options = usearch::IndexOptions {
        dimensions: dim,
        metric,
        quantization,
        connectivity: graph.links,
        expansion_add: EF_BUILD,
        expansion_search: EF_SEARCH,
        multi: false,
    };
    usearch::Index::new(&options).map_err(|e| fail(gallery, e))
}

/// The gallery's id (its index files carry it) and how far its change log was trimmed.
fn identity(conn: &Connection) -> rusqlite::Result<(String, i64)> {
    let meta = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()
    };
    let id = meta("gallery_id")?.unwrap_or_default();
    let trimmed = meta("changes_trimmed")?.and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((id, trimmed))
}

/// The last change of the gallery's log (AUTOINCREMENT's counter: it survives trimming).
fn last_change(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)", [], |r| {
        r.get(0)
    })
}

/// Index files of this gallery beside it, newest first: (seq, path).
fn files(gallery: &Path, id: &str) -> Vec<(i64, PathBuf)> {
    let (Some(dir), Some(name)) = (gallery.parent(), gallery.file_name()) else { return Vec::new() };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!("{}.{id}.", name.to_string_lossy());
    let mut found: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let seq = n.strip_prefix(&prefix)?.strip_suffix(".hnsw")?.parse().ok()?;
            Some((seq, e.path()))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found
}

impl Ann {
    /// The graph of the gallery at `gallery` (open as `conn`) for `dim`-value embeddings: the
    /// newest file brought up to date (with the storage and links it was built with), or built
    /// from the table as `graph` says (and saved when the gallery is writable).
    pub fn open(
        conn: &Connection,
        gallery: &Path,
        dim: usize,
        graph: Graph,
        progress: &Progress,
    ) -> Result<Ann> {
        let db = |e: rusqlite::Error| fail(gallery, e);
        let (id, trimmed) = identity(conn).map_err(db)?;
        let writable = !conn.is_readonly(rusqlite::MAIN_DB).map_err(db)?;
        let last = last_change(conn).map_err(db)?;
        for (seq, file) in files(gallery, &id) {
            if seq < trimmed {
                break;
            }
            // A file ahead of the log belongs to a later state of the gallery (the database
            // was restored from a backup): not this one.
            if seq > last {
                continue;
            }
            let Some(mut ann) = Self::load(conn, gallery, &file, seq, dim)? else { continue };
            let applied = ann.catch_up(conn, gallery)?;
            let rows: i64 =
                conn.query_row("SELECT COUNT(*) FROM embeddings", [], |r| r.get(0)).map_err(db)?;
            if ann.len() as i64 != rows {
                continue;
            }
            if writable && applied > (ann.index.size() / 20).max(10_000) {
                ann.save(conn, gallery)?;
            }
            return Ok(ann);
        }
        let ann = Self::build(conn, gallery, dim, graph, progress)?;
        if writable {
            ann.save(conn, gallery)?;
        }
        Ok(ann)
    }

    /// The graph in `file`, if it reads as one of `dim` values, with the people of the rows
    /// the table holds now (the log's changes after `seq` are applied next).
    fn load(conn: &Connection, gallery: &Path, file: &Path, seq: i64, dim: usize) -> Result<Option<Ann>> {
        let Some(index) = new_index(gallery, dim, Graph::default())
            .ok()
            .filter(|i| file.to_str().is_some_and(|f| i.load(f).is_ok()) && i.dimensions() == dim)
        else {
            return Ok(None);
        };
        index.change_expansion_search(EF_SEARCH);
        let db = |e: rusqlite::Error| fail(gallery, e);
        let mut persons = Vec::new();
        let mut st = conn.prepare("SELECT id, person_id FROM embeddings").map_err(db)?;
        let mut rows = st.query([]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            set_person(&mut persons, r.get(0).map_err(db)?, r.get(1).map_err(db)?);
        }
        Ok(Some(Ann { index, seq, dim, persons }))
    }

    /// A graph of every embedding of the gallery, read in one transaction with the log's
    /// position.
    pub fn build(
        conn: &Connection,
        gallery: &Path,
        dim: usize,
        graph: Graph,
        progress: &Progress,
    ) -> Result<Ann> {
        use rayon::prelude::*;
        let db = |e: rusqlite::Error| fail(gallery, e);
        conn.execute_batch("BEGIN").map_err(db)?;
        let read = (|| -> Result<Table> {
            let seq = last_change(conn).map_err(db)?;
            let mut st = conn.prepare("SELECT id, vector, person_id FROM embeddings").map_err(db)?;
            let mut rows = st.query([]).map_err(db)?;
            let (mut keys, mut values, mut persons) = (Vec::new(), Vec::new(), Vec::new());
            while let Some(r) = rows.next().map_err(db)? {
                let blob: Vec<u8> = r.get(1).map_err(db)?;
                if blob.len() != dim * 4 {
                    return Err(fail(
                        gallery,
                        format!("an embedding has {} values, expected {dim}", blob.len() / 4),
                    ));
                }
                let id: i64 = r.get(0).map_err(db)?;
                set_person(&mut persons, id, r.get(2).map_err(db)?);
                keys.push(id);
                values.extend(bytes_vector(&blob));
            }
            Ok((seq, keys, values, persons))
        })();
        conn.execute_batch("COMMIT").map_err(db)?;
        let (seq, keys, values, persons) = read?;
        let index = new_index(gallery, dim, graph)?;
        index
            .reserve_capacity_and_threads(keys.len().max(1024), rayon::current_num_threads())
            .map_err(|e| fail(gallery, e))?;
        let done = std::sync::atomic::AtomicUsize::new(0);
        let total = keys.len();
        let add = |(&k, v): (&i64, &[f32])| {
            index.add(k as u64, v).map_err(|e| fail(gallery, e))?;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_multiple_of(4096) || n == total {
                progress(n, total);
            }
            Ok::<_, FaceError>(())
        };
        // The first rows go in one at a time: inserted concurrently into a graph of a few
        // nodes they can leave whole people unreachable (3 of 25 builds of 900 rows missed a
        // person entirely; none of 25 built this way).
        let serial = total.min(SERIAL_START);
        keys[..serial].iter().zip(values[..serial * dim].chunks(dim)).try_for_each(add)?;
        keys[serial..].par_iter().zip(values[serial * dim..].par_chunks(dim)).try_for_each(add)?;
        Ok(Ann { index, seq, dim, persons })
    }

    /// Applies the gallery's changes after this graph's `seq`; returns how many. A graph older
    /// than the trimmed log is replaced by the newest file (or a rebuild).
    pub fn catch_up(&mut self, conn: &Connection, gallery: &Path) -> Result<usize> {
        let db = |e: rusqlite::Error| fail(gallery, e);
        let (_, trimmed) = identity(conn).map_err(db)?;
        if self.seq < trimmed {
            // A rebuild keeps this graph's storage and links.
            *self = Self::open(conn, gallery, self.dim, self.graph(), &|_, _| {})?;
            return Ok(0);
        }
        let mut st = conn
            .prepare_cached("SELECT seq, embedding_id, added FROM changes WHERE seq > ?1 ORDER BY seq")
            .map_err(db)?;
        let changes: Vec<(i64, i64, bool)> = st
            .query_map([self.seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(db)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db)?;
        let mut vector =
            conn.prepare_cached("SELECT vector, person_id FROM embeddings WHERE id = ?1").map_err(db)?;
        for &(seq, id, added) in &changes {
            let key = id as u64;
            if self.index.contains(key) {
                self.index.remove(key).map_err(|e| fail(gallery, e))?;
            }
            set_person(&mut self.persons, id, 0);
            if added {
                // The row as it is now; one removed since is skipped (its removal follows).
                let row: Option<(Vec<u8>, i64)> =
                    vector.query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?))).optional().map_err(db)?;
                if let Some((blob, person)) = row.filter(|(b, _)| b.len() == self.dim * 4) {
                    set_person(&mut self.persons, id, person);
                    let v = bytes_vector(&blob);
                    if self.index.size() + 1 > self.index.capacity() {
                        let more = (self.index.capacity() * 2).max(1024);
                        self.index.reserve(more).map_err(|e| fail(gallery, e))?;
                    }
                    self.index.add(key, &v).map_err(|e| fail(gallery, e))?;
                }
            }
            self.seq = seq;
        }
        Ok(changes.len())
    }

    /// Writes the graph beside the gallery, removes older files and trims the log up to it.
    pub fn save(&self, conn: &Connection, gallery: &Path) -> Result<()> {
        let db = |e: rusqlite::Error| fail(gallery, e);
        let (id, _) = identity(conn).map_err(db)?;
        let name =
            format!("{}.{id}.{}.hnsw", gallery.file_name().unwrap_or_default().to_string_lossy(), self.seq);
        let path = gallery.with_file_name(&name);
        let tmp = gallery.with_file_name(format!("{name}.tmp{}", std::process::id()));
        let io = |e: std::io::Error| fail(gallery, format!("cannot write {}: {e}", path.display()));
        let tmp_str = tmp.to_str().ok_or_else(|| fail(gallery, "the gallery's path is not UTF-8"))?;
        self.index
            .save(tmp_str)
            .map_err(|e| fail(gallery, format!("cannot write {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        for (seq, older) in files(gallery, &id) {
            if seq < self.seq {
                let _ = std::fs::remove_file(older);
            }
        }
        conn.execute("DELETE FROM changes WHERE seq <= ?1", [self.seq]).map_err(db)?;
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('changes_trimmed', ?1)
             ON CONFLICT(key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), excluded.value)",
            [self.seq],
        )
        .map_err(db)?;
        Ok(())
    }

    /// The person of each row nearest to `query` by the graph (the distances of its stored
    /// values), about [`CANDIDATES`] rows or `k` if more, nearest first; rows removed since are
    /// left out.
    pub fn candidates(&self, query: &[f32], k: usize, gallery: &Path) -> Result<Vec<i64>> {
        if query.len() != self.dim {
            return Err(FaceError::gallery(
                gallery,
                format!(
                    "a query has {} values, the gallery holds {}-value embeddings",
                    query.len(),
                    self.dim
                ),
            ));
        }
        let found = self.index.search(query, CANDIDATES.max(k)).map_err(|e| fail(gallery, e))?;
        Ok(found
            .keys
            .into_iter()
            .filter_map(|key| {
                let person = *self.persons.get(usize::try_from(key).ok()?)?;
                (person != 0).then_some(person)
            })
            .collect())
    }

    /// Sets the search width (default [`EF_SEARCH`]): wider finds more of the true nearest
    /// rows, slower.
    pub fn set_search_width(&self, ef: usize) {
        self.index.change_expansion_search(ef.max(CANDIDATES));
    }

    /// Embeddings in the graph.
    pub fn len(&self) -> usize {
        self.index.size()
    }

    pub fn is_empty(&self) -> bool {
        self.index.size() == 0
    }

    /// The change of the gallery's log the graph is at.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// Bytes of the graph's vectors and links (the size of its file) and of its row-to-person
    /// table: what it fills in memory. usearch reserves its memory in large blocks, of which
    /// a graph fills only part.
    pub fn memory_bytes(&self) -> usize {
        self.index.serialized_length() + self.persons.len() * 8
    }

    /// The storage and links this graph was built with (a loaded graph: those of its file).
    pub fn graph(&self) -> Graph {
        use usearch::ScalarKind;
        let storage = match self.index.scalar_kind() {
            ScalarKind::F32 => Storage::F32,
            ScalarKind::BF16 => Storage::BF16,
            ScalarKind::I8 => Storage::I8,
            _ => Storage::F16,
        };
        Graph { storage, links: self.index.connectivity() }
    }

    /// The SIMD kernels usearch picked for this graph's storage on this CPU.
    pub fn kernels(&self) -> String {
        self.index.hardware_acceleration()
    }
}
