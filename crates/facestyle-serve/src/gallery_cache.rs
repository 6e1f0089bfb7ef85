//! The gallery's search index, kept between requests: loaded once, loaded again only when
//! the gallery changed (a write through this server, or the files changed on disk, as when
//! the command line enrolls someone into the same gallery).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use facestyle_face::search::Index;

use crate::error::ApiResult;
use crate::state::lock;

/// What the cached index was loaded from: the server's write count and the gallery files'
/// modification times and sizes (the database and its write-ahead log).
type Stamp = (u64, Vec<Option<(SystemTime, u64)>>);

/// An index and the names its owners refer to.
pub type Loaded = (Arc<Index>, Arc<Vec<String>>);

#[derive(Default)]
pub struct IndexCache {
    writes: AtomicU64,
    slot: Mutex<Option<(Stamp, Loaded)>>,
}

fn stamp(writes: u64, gallery: &Path) -> Stamp {
    let mut wal = gallery.as_os_str().to_owned();
    wal.push("-wal");
    let files = [gallery.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .map(|p| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len()))))
        .collect();
    (writes, files)
}

impl IndexCache {
    /// Marks the cached index stale (call after writing the gallery).
    pub fn changed(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// The index of `gallery`, from the cache when nothing changed, else from `load`.
    pub fn get(
        &self,
        gallery: &Path,
        load: impl FnOnce() -> ApiResult<(Index, Vec<String>)>,
    ) -> ApiResult<Loaded> {
        let now = stamp(self.writes.load(Ordering::SeqCst), gallery);
        if let Some((s, loaded)) = lock(&self.slot).as_ref()
            && *s == now
        {
            return Ok(loaded.clone());
        }
        let (index, names) = load()?;
        let loaded = (Arc::new(index), Arc::new(names));
        *lock(&self.slot) = Some((now, loaded.clone()));
        Ok(loaded)
    }

    /// How many times the index was loaded rather than reused (for tests and metrics).
    #[cfg(test)]
    fn cached(&self) -> bool {
        lock(&self.slot).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads_only_after_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let g = dir.path().join("g.db");
        std::fs::write(&g, b"one").unwrap();
        let cache = IndexCache::default();
        let loads = std::cell::Cell::new(0);
        let load = || {
            loads.set(loads.get() + 1);
            Ok((Index::new(4), vec!["a".to_string()]))
        };
        cache.get(&g, load).unwrap();
        cache.get(&g, load).unwrap();
        assert_eq!(loads.get(), 1);
        assert!(cache.cached());
        cache.changed();
        cache.get(&g, load).unwrap();
        assert_eq!(loads.get(), 2);
        // Another process writes the file: its size changes.
        std::fs::write(&g, b"one two").unwrap();
        cache.get(&g, load).unwrap();
        assert_eq!(loads.get(), 3);
    }
}
