//! The gallery file itself: private permissions, idempotent enrolment, and the migration of
//! galleries written before enrolment was idempotent.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use facestyle_face::gallery::{Gallery, NewEmbedding};
use facestyle_face::metric::l2_normalize;

fn row(seed: u32) -> NewEmbedding {
    let mut v: Vec<f32> = (0..128).map(|i| ((i as f32 + 1.0) * (seed as f32 + 0.5)).sin()).collect();
    l2_normalize(&mut v);
    NewEmbedding {
        image_sha256: format!("{seed:064}"),
        image_path: format!("p{seed}.jpg"),
        bbox: [1.0, 2.0, 3.0, 4.0],
        vector: v,
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_new_gallery_and_its_side_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut g = Gallery::open_or_create(&path, "m", "v1").unwrap();
    g.enroll("ann", &[row(1)]).unwrap();
    assert_eq!(mode(&path), 0o600);
    for side in ["g.db-wal", "g.db-shm"] {
        let p = dir.path().join(side);
        assert!(p.exists(), "{side} exists while the gallery is open in WAL mode");
        assert_eq!(mode(&p), 0o600, "{side}");
    }
}

#[test]
fn an_existing_gallery_keeps_its_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    Gallery::open_or_create(&path, "m", "v1").unwrap().enroll("ann", &[row(1)]).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    Gallery::open(&path, "m", "v1").unwrap().enroll("bob", &[row(2)]).unwrap();
    assert_eq!(mode(&path), 0o640);
}

#[test]
fn enrolling_the_same_photo_again_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut g = Gallery::open_or_create(&dir.path().join("g.db"), "m", "v1").unwrap();
    assert_eq!(g.enroll("ann", &[row(1), row(2)]).unwrap(), 2);
    assert_eq!(g.enroll("ann", &[row(1), row(2)]).unwrap(), 2, "a retried enrolment");
    assert_eq!(g.enroll("ann", &[row(2), row(3)]).unwrap(), 3);
    assert_eq!(g.enroll("ann", &[row(4), row(4)]).unwrap(), 4, "the same photo twice in one call");
    assert_eq!(g.enroll("bob", &[row(1)]).unwrap(), 1, "another person may have the same photo");
    let (index, _) = g.load_index(128).unwrap();
    assert_eq!(index.len(), 5);
}

/// The gallery schema before enrolment was idempotent (no schema version, no unique index).
const OLD_SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE embeddings (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    image_path TEXT NOT NULL,
    bbox TEXT NOT NULL,
    vector BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX embeddings_person ON embeddings(person_id);
INSERT INTO meta VALUES ('model_id', 'm');
INSERT INTO people(id, name) VALUES (1, 'ann'), (2, 'bob');
";

#[test]
fn old_galleries_are_migrated_keeping_the_oldest_of_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(OLD_SCHEMA).unwrap();
        let mut ins = conn
            .prepare(
                "INSERT INTO embeddings(id, person_id, model_id, model_version, image_sha256, image_path, bbox, vector)
                 VALUES (?1, ?2, 'm', 'v1', ?3, ?4, '[1,2,3,4]', ?5)",
            )
            .unwrap();
        for (id, person, seed, path) in [
            (1, 1, 1, "first.jpg"),
            (2, 1, 1, "retry.jpg"),
            (3, 1, 2, "b.jpg"),
            (4, 1, 1, "again.jpg"),
            (5, 2, 1, "bob.jpg"),
        ] {
            let blob: Vec<u8> = row(seed).vector.iter().flat_map(|x| x.to_le_bytes()).collect();
            ins.execute(rusqlite::params![id, person, format!("{seed:064}"), path, blob]).unwrap();
        }
    }
    let mut g = Gallery::open(&path, "m", "v1").unwrap();
    let people: Vec<_> = g.people().unwrap().into_iter().map(|p| (p.name, p.embeddings)).collect();
    assert_eq!(people, [("ann".to_string(), 2), ("bob".to_string(), 1)]);
    assert_eq!(g.enroll("ann", &[row(1)]).unwrap(), 2, "the unique index holds after the migration");
    drop(g);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let kept: Vec<(i64, String)> = conn
        .prepare("SELECT id, image_path FROM embeddings ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kept, [(1, "first.jpg".to_string()), (3, "b.jpg".to_string()), (5, "bob.jpg".to_string())]);
    // Opening again finds the schema current and changes nothing.
    Gallery::open(&path, "m", "v1").unwrap();
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM embeddings", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 3);
}
