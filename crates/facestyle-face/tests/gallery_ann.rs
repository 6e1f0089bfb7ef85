//! The SQLite gallery's approximate index: the same answers as the exact scan, persisted beside
//! the file, kept up to date with enrolments and forgets from any connection, rebuilt when its
//! file is missing, damaged or another gallery's.

mod common;

use std::path::{Path, PathBuf};

use common::{face, row};
use facestyle_face::gallery::Gallery;
use facestyle_face::gallery::ann::{Ann, Graph, Search, Storage};
use facestyle_face::metric::{Metric, Verifier};

const PEOPLE: u64 = 300;

fn open(path: &Path, search: Search) -> Gallery {
    let mut g = Gallery::open_or_create(path, "test", "1").unwrap();
    g.set_search(search);
    g
}

/// A gallery of `PEOPLE` people with 3 photos each.
fn filled(dir: &Path) -> PathBuf {
    let path = dir.join("g.db");
    let mut g = open(&path, Search::Exact);
    for who in 0..PEOPLE {
        g.enroll(&format!("p{who}"), &[row(who, 0), row(who, 1), row(who, 2)]).unwrap();
    }
    path
}

fn index_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".hnsw"))
        .collect();
    v.sort();
    v
}

fn who_is(g: &mut Gallery, q: &[f32]) -> (String, f32) {
    let v = Verifier::new(Metric::SqL2, 1.0).unwrap();
    let found = g.identify(&[q], 3, &v).unwrap().remove(0);
    (found.name, found.distance.unwrap_or(f32::NAN))
}

#[test]
fn approximate_answers_match_the_exact_scan_with_exact_distances() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path());
    let (mut exact, mut approx) = (open(&path, Search::Exact), open(&path, Search::Approximate));
    let v = Verifier::new(Metric::SqL2, 1.0).unwrap();
    for who in (0..PEOPLE).step_by(7) {
        let q = face(who, 9);
        let a = exact.identify(&[&q], 5, &v).unwrap().remove(0);
        let b = approx.identify(&[&q], 5, &v).unwrap().remove(0);
        assert_eq!(a.name, format!("p{who}"));
        assert_eq!((&a.name, a.distance), (&b.name, b.distance), "person {who}");
        // Every candidate's distance is the exact distance to their nearest photo (all of a
        // candidate's photos are re-ranked); strangers, all about equally far, may be other ones
        // than the scan's.
        let all = exact.identify(&[&q], PEOPLE as usize, &v).unwrap().remove(0);
        assert_eq!(b.candidates.len(), 5);
        for c in &b.candidates {
            let e = all.candidates.iter().find(|e| e.name == c.name).unwrap();
            assert_eq!(c.distance, e.distance, "person {who}, candidate {}", c.name);
        }
        let shared = b.candidates.iter().filter(|c| a.candidates.contains(c)).count();
        assert!(shared >= 3, "person {who}: {shared} of 5 candidates shared");
    }
    // A stranger is unknown either way; an empty query list asks nothing.
    let stranger = face(10_000, 0);
    assert_eq!(who_is(&mut approx, &stranger).0, "unknown");
    assert!(approx.identify(&[], 1, &v).unwrap().is_empty());
    // A query of another size is refused, naming the gallery.
    let e = approx.identify(&[&[0.5f32; 64]], 1, &v).unwrap_err().to_string();
    assert!(e.contains("g.db") && e.contains("64 values"), "{e}");
}

#[test]
fn every_storage_finds_the_person_with_the_exact_distance_and_is_kept_when_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path());
    let mut exact = open(&path, Search::Exact);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let quiet = |_: usize, _: usize| {};
    let mut sizes = Vec::new();
    for name in Storage::NAMES {
        for f in index_files(dir.path()) {
            std::fs::remove_file(dir.path().join(f)).unwrap();
        }
        let storage = Storage::parse(name).unwrap();
        assert_eq!(storage.name(), name);
        let mut g = open(&path, Search::Approximate);
        g.set_graph(Graph { storage, links: 16 });
        for who in (0..PEOPLE).step_by(11) {
            let q = face(who, 9);
            assert_eq!(who_is(&mut g, &q), who_is(&mut exact, &q), "{name}, person {who}");
        }
        let built = g.approximate(128).unwrap();
        assert_eq!(built.graph(), Graph { storage, links: 16 });
        sizes.push(built.memory_bytes());
        // The file holds the graph as built: a connection that would build f16 with 32 links
        // loads it as it is.
        let loaded = Ann::open(&conn, &path, 128, Graph::default(), &quiet).unwrap();
        assert_eq!(loaded.graph(), Graph { storage, links: 16 }, "{name} reloaded");
    }
    // f32, f16, bf16, i8: 4, 2, 2 and 1 bytes a value.
    assert!(sizes[0] > sizes[1] && sizes[1] == sizes[2] && sizes[2] > sizes[3], "{sizes:?}");
    assert!(Storage::parse("f64").unwrap_err().contains("f32, f16, bf16, i8"));
}

#[test]
fn the_index_is_saved_beside_the_gallery_and_follows_changes_from_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path());
    let mut reader = open(&path, Search::Approximate);
    assert_eq!(who_is(&mut reader, &face(5, 7)).0, "p5");
    let files = index_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("g.db.") && files[0].ends_with(".hnsw"));

    // Another connection (another process, as the CLI) enrols and forgets.
    let mut writer = open(&path, Search::Exact);
    writer.enroll("newcomer", &[row(5000, 0)]).unwrap();
    assert!(writer.forget("p5").unwrap());
    // Forgetting a person removes their embeddings by cascade: the log has them.
    let removed: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM changes WHERE added = 0", [], |r| r.get(0))
        .unwrap();
    assert_eq!(removed, 3);

    assert_eq!(who_is(&mut reader, &face(5000, 1)).0, "newcomer");
    assert_ne!(who_is(&mut reader, &face(5, 7)).0, "p5");
    assert_eq!(reader.approximate(128).unwrap().len(), PEOPLE as usize * 3 + 1 - 3);

    // A new connection loads the saved file and applies the log after it.
    let mut later = open(&path, Search::Approximate);
    assert_eq!(who_is(&mut later, &face(5000, 2)).0, "newcomer");
    assert_ne!(who_is(&mut later, &face(5, 7)).0, "p5");
    assert_eq!(index_files(dir.path()), files, "no rebuild");
}

#[test]
fn a_missing_damaged_or_foreign_index_file_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path());
    open(&path, Search::Approximate).approximate(128).unwrap();
    let file = dir.path().join(&index_files(dir.path())[0]);

    std::fs::write(&file, b"not an index").unwrap();
    {
        let mut g = open(&path, Search::Approximate);
        assert_eq!(who_is(&mut g, &face(9, 5)).0, "p9");
        assert!(std::fs::metadata(&file).unwrap().len() > 1000, "rewritten");
    }
    std::fs::remove_file(&file).unwrap();
    {
        let mut g = open(&path, Search::Approximate);
        assert_eq!(who_is(&mut g, &face(9, 5)).0, "p9");
        assert!(file.exists());
    }

    // Another gallery's index beside this one (a file copied over) is not used.
    let other = dir.path().join("other.db");
    let mut o = open(&other, Search::Exact);
    o.enroll("someone", &[row(77_777, 0)]).unwrap();
    o.approximate(128).unwrap();
    drop(o);
    std::fs::remove_file(&file).unwrap();
    std::fs::copy(&path, &other).unwrap();
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", other.display()));
        let _ = std::fs::copy(format!("{}{ext}", path.display()), format!("{}{ext}", other.display()));
    }
    let mut g = open(&other, Search::Approximate);
    assert_eq!(who_is(&mut g, &face(9, 5)).0, "p9");
    assert_eq!(who_is(&mut g, &face(77_777, 1)).0, "unknown");
}

#[test]
fn a_gallery_restored_from_a_backup_does_not_use_the_newer_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path());
    let backup = dir.path().join("backup.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("VACUUM INTO ?1", [backup.to_str().unwrap()]).unwrap();
    }
    // After the backup: someone is forgotten, someone enrolled, the index saved.
    {
        let mut g = open(&path, Search::Approximate);
        g.forget("p4").unwrap();
        g.enroll("newer", &[row(8000, 0)]).unwrap();
        assert_eq!(who_is(&mut g, &face(8000, 1)).0, "newer");
        let conn = rusqlite::Connection::open(&path).unwrap();
        let quiet = |_: usize, _: usize| {};
        let a = Ann::open(&conn, &path, 128, Graph::default(), &quiet).unwrap();
        a.save(&conn, &path).unwrap();
    }
    // The backup restored over the gallery: p4 is back and must be found.
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    std::fs::copy(&backup, &path).unwrap();
    let mut g = open(&path, Search::Approximate);
    assert_eq!(who_is(&mut g, &face(4, 8)).0, "p4");
    assert_eq!(who_is(&mut g, &face(8000, 1)).0, "unknown");
}

#[test]
fn a_saved_index_trims_the_log_and_older_indexes_load_the_newest_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let quiet = |_: usize, _: usize| {};
    let mut old = Ann::open(&conn, &path, 128, Graph::default(), &quiet).unwrap();
    let log = |c: &rusqlite::Connection| -> i64 {
        c.query_row("SELECT COUNT(*) FROM changes", [], |r| r.get(0)).unwrap()
    };
    assert_eq!(log(&conn), 0, "the build's save trimmed the log");

    let mut g = open(&path, Search::Exact);
    g.enroll("late", &[row(6000, 0), row(6000, 1)]).unwrap();
    assert_eq!(log(&conn), 2);
    let mut newer = Ann::open(&conn, &path, 128, Graph::default(), &quiet).unwrap();
    assert_eq!(newer.len(), old.len() + 2);
    newer.save(&conn, &path).unwrap();
    assert_eq!(log(&conn), 0);
    assert_eq!(index_files(dir.path()).len(), 1, "the older file is gone");

    // The old graph's changes were trimmed away: it loads the newest file.
    g.enroll("later", &[row(6001, 0)]).unwrap();
    old.catch_up(&conn, &path).unwrap();
    assert_eq!(old.len(), newer.len() + 1);
    assert!(old.seq() > newer.seq());
    let _ = newer.catch_up(&conn, &path).unwrap();
    assert_eq!(newer.len(), old.len());

    // A graph behind the trimmed log with no file left to load is rebuilt as it was built.
    let i8 = Graph { storage: Storage::I8, links: 16 };
    let mut behind = Ann::build(&conn, &path, 128, i8, &quiet).unwrap();
    g.enroll("last", &[row(6002, 0)]).unwrap();
    let _ = newer.catch_up(&conn, &path).unwrap();
    newer.save(&conn, &path).unwrap();
    for f in index_files(dir.path()) {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }
    behind.catch_up(&conn, &path).unwrap();
    assert_eq!((behind.graph(), behind.len()), (i8, newer.len()));
}

#[test]
fn auto_searches_exactly_below_the_threshold_and_a_read_only_gallery_keeps_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path());
    let mut auto = open(&path, Search::Auto);
    assert!(!auto.uses_approximate(128).unwrap());
    assert_eq!(who_is(&mut auto, &face(3, 4)).0, "p3");
    assert!(index_files(dir.path()).is_empty());

    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&path, perms).unwrap();
    let mut ro = open(&path, Search::Approximate);
    assert_eq!(who_is(&mut ro, &face(3, 4)).0, "p3");
    assert!(index_files(dir.path()).is_empty());
}

#[test]
fn galleries_of_schema_1_gain_the_change_log_and_their_embeddings_are_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled(dir.path());
    // Back to schema 1: no change log, no gallery id.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TRIGGER embeddings_added; DROP TRIGGER embeddings_removed; DROP TABLE changes;
         DELETE FROM meta WHERE key = 'gallery_id'; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let mut g = open(&path, Search::Approximate);
    assert_eq!(who_is(&mut g, &face(11, 6)).0, "p11");
    g.enroll("after", &[row(7000, 0)]).unwrap();
    assert_eq!(who_is(&mut g, &face(7000, 3)).0, "after");
}
