//! The embedded gallery's approximate index: an HNSW graph (usearch) over the embeddings of a
//! SQLite gallery, for galleries where the exact scan stops being fast (see [`Search::Auto`]).
//!
//! - Keys are embedding row ids. The graph holds the vectors in half precision (f16: half the
//!   memory); a search asks it for [`CANDIDATES`] rows and the gallery re-ranks them exactly
//!   from the f32 vectors it stores, so a distance is never approximate and a row removed
//!   since the graph last caught up is never reported.
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

/// Candidates the graph returns for exact re-ranking.
pub const CANDIDATES: usize = 100;
/// Links per node (usearch's connectivity) and the search width while building.
const LINKS: usize = 16;
const EF_BUILD: usize = 128;
/// The search width: the list the graph keeps while searching.
pub const EF_SEARCH: usize = 256;
/// Embeddings from which [`Search::Auto`] uses the graph. Below it the exact scan answers in
/// under 5 ms (see docs/galleries.md#speed).
pub const APPROXIMATE_FROM: usize = 200_000;

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

    pub fn parse(s: &str) -> Option<Search> {
        match s {
            "auto" => Some(Search::Auto),
            "exact" => Some(Search::Exact),
            "approximate" => Some(Search::Approximate),
            _ => None,
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

fn new_index(gallery: &Path, dim: usize) -> Result<usearch::Index> {
    let options = usearch::IndexOptions {
        dimensions: dim,
        metric: usearch::MetricKind::IP,
        quantization: usearch::ScalarKind::F16,
        connectivity: LINKS,
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
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found
}

impl Ann {
    /// The graph of the gallery at `gallery` (open as `conn`) for `dim`-value embeddings: the
    /// newest file brought up to date, or built from the table (and saved when the gallery is
    /// writable).
    pub fn open(conn: &Connection, gallery: &Path, dim: usize, progress: &Progress) -> Result<Ann> {
        let db = |e: rusqlite::Error| fail(gallery, e);
        let (id, trimmed) = identity(conn).map_err(db)?;
        let writable = !conn.is_readonly(rusqlite::MAIN_DB).map_err(db)?;
        for (seq, file) in files(gallery, &id) {
            if seq < trimmed {
                break;
            }
            let Some(mut ann) = Self::load(gallery, &file, seq, dim) else { continue };
            let applied = ann.catch_up(conn, gallery)?;
            if writable && applied > (ann.index.size() / 20).max(10_000) {
                ann.save(conn, gallery)?;
            }
            return Ok(ann);
        }
        let ann = Self::build(conn, gallery, dim, progress)?;
        if writable {
            ann.save(conn, gallery)?;
        }
        Ok(ann)
    }

    /// The graph in `file`, if it reads as one of `dim` values.
    fn load(gallery: &Path, file: &Path, seq: i64, dim: usize) -> Option<Ann> {
        let index = new_index(gallery, dim).ok()?;
        index.load(file.to_str()?).ok()?;
        (index.dimensions() == dim).then(|| {
            index.change_expansion_search(EF_SEARCH);
            Ann { index, seq, dim }
        })
    }

    /// A graph of every embedding of the gallery, read in one transaction with the log's
    /// position.
    pub fn build(conn: &Connection, gallery: &Path, dim: usize, progress: &Progress) -> Result<Ann> {
        use rayon::prelude::*;
        let db = |e: rusqlite::Error| fail(gallery, e);
        conn.execute_batch("BEGIN").map_err(db)?;
        let read = (|| -> Result<(i64, Vec<i64>, Vec<f32>)> {
            let seq = last_change(conn).map_err(db)?;
            let mut st = conn.prepare("SELECT id, vector FROM embeddings").map_err(db)?;
            let mut rows = st.query([]).map_err(db)?;
            let (mut keys, mut values) = (Vec::new(), Vec::new());
            while let Some(r) = rows.next().map_err(db)? {
                let blob: Vec<u8> = r.get(1).map_err(db)?;
                if blob.len() != dim * 4 {
                    return Err(fail(
                        gallery,
                        format!("an embedding has {} values, expected {dim}", blob.len() / 4),
                    ));
                }
                keys.push(r.get(0).map_err(db)?);
                values.extend(blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
            }
            Ok((seq, keys, values))
        })();
        conn.execute_batch("COMMIT").map_err(db)?;
        let (seq, keys, values) = read?;
        let index = new_index(gallery, dim)?;
        index
            .reserve_capacity_and_threads(keys.len().max(1024), rayon::current_num_threads())
            .map_err(|e| fail(gallery, e))?;
        let done = std::sync::atomic::AtomicUsize::new(0);
        let total = keys.len();
        keys.par_iter().zip(values.par_chunks(dim)).try_for_each(|(&k, v)| {
            index.add(k as u64, v).map_err(|e| fail(gallery, e))?;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n % 4096 == 0 || n == total {
                progress(n, total);
            }
            Ok::<_, FaceError>(())
        })?;
        Ok(Ann { index, seq, dim })
    }

    /// Applies the gallery's changes after this graph's `seq`; returns how many. A graph older
    /// than the trimmed log is replaced by the newest file (or a rebuild).
    pub fn catch_up(&mut self, conn: &Connection, gallery: &Path) -> Result<usize> {
        let db = |e: rusqlite::Error| fail(gallery, e);
        let (_, trimmed) = identity(conn).map_err(db)?;
        if self.seq < trimmed {
            *self = Self::open(conn, gallery, self.dim, &|_, _| {})?;
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
        let mut vector = conn.prepare_cached("SELECT vector FROM embeddings WHERE id = ?1").map_err(db)?;
        for &(seq, id, added) in &changes {
            let key = id as u64;
            if self.index.contains(key) {
                self.index.remove(key).map_err(|e| fail(gallery, e))?;
            }
            if added {
                // The row as it is now; one removed since is skipped (its removal follows).
                let blob: Option<Vec<u8>> =
                    vector.query_row(params![id], |r| r.get(0)).optional().map_err(db)?;
                if let Some(blob) = blob.filter(|b| b.len() == self.dim * 4) {
                    let v: Vec<f32> =
                        blob.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
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

    /// Row ids of the embeddings nearest to `query` by the graph, about [`CANDIDATES`] or
    /// `k` if more.
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
        Ok(found.keys.into_iter().map(|k| k as i64).collect())
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

    /// Bytes the graph holds in memory.
    pub fn memory_bytes(&self) -> usize {
        self.index.memory_usage()
    }
}

/// The SIMD kernels usearch chose for this CPU (benchmarks report them).
pub fn kernels() -> String {
    new_index(Path::new("-"), 128).map(|i| i.hardware_acceleration()).unwrap_or_default()
}
