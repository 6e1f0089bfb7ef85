//! The SQLite gallery on synthetic embeddings: one-shot enrolment, search, model guard, WAL,
//! atomic enrolment.

use facestyle_face::gallery::{Gallery, NewEmbedding};
use facestyle_face::metric::{Metric, l2_normalize};

fn unit(seed: u32) -> Vec<f32> {
    let mut v: Vec<f32> = (0..128).map(|i| ((i as f32 + 1.0) * (seed as f32 + 0.5)).sin()).collect();
    l2_normalize(&mut v);
    v
}

fn row(seed: u32) -> NewEmbedding {
    NewEmbedding {
        image_sha256: format!("{seed:064}"),
        image_path: format!("p{seed}.jpg"),
        bbox: [1.0, 2.0, 3.0, 4.0],
        vector: unit(seed),
    }
}

#[test]
fn enroll_search_forget_round_trip_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut g = Gallery::open_or_create(&path, "m", "v1").unwrap();
    assert_eq!(g.enroll("ann", &[row(1)]).unwrap(), 1);
    assert_eq!(g.enroll("bob", &[row(2), row(3)]).unwrap(), 2);
    assert_eq!(g.enroll("ann", &[row(4)]).unwrap(), 2);
    let hits = g.search(&unit(3), 2, Metric::SqL2).unwrap();
    assert_eq!(hits[0].0, "bob");
    assert!(hits[0].1 < 1e-5);
    assert_eq!(hits[1].0, "ann");
    let people = g.people().unwrap();
    assert_eq!(
        people.iter().map(|p| (p.name.as_str(), p.embeddings)).collect::<Vec<_>>(),
        [("ann", 2), ("bob", 2)]
    );
    assert!(g.forget("bob").unwrap());
    assert!(!g.forget("bob").unwrap());
    let (index, names) = g.load_index(128).unwrap();
    assert_eq!((index.len(), names), (2, vec!["ann".to_string()]), "forget removes the embeddings too");
    drop(g);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn refuses_other_models_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    Gallery::open_or_create(&path, "m", "v1").unwrap().enroll("ann", &[row(1)]).unwrap();
    let e = Gallery::open(&path, "other-model", "v1").err().unwrap().to_string();
    assert!(e.contains("'m'") && e.contains("other-model"), "{e}");
    let e = Gallery::open(&path, "m", "v2").err().unwrap().to_string();
    assert!(e.contains("refusing to mix"), "{e}");
    let e = Gallery::open(&dir.path().join("none.db"), "m", "v1").err().unwrap().to_string();
    assert!(e.contains("none.db") && e.contains("does not exist"), "{e}");
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"definitely not sqlite, just some text that is long enough to matter..").unwrap();
    let e = Gallery::open(&junk, "m", "v1").err().unwrap().to_string();
    assert!(e.contains("junk.db") && e.contains("not"), "{e}");
}

#[test]
fn a_failing_enrolment_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut g = Gallery::open_or_create(&path, "m", "v1").unwrap();
    g.enroll("ann", &[row(1)]).unwrap();
    assert!(g.enroll("  ", &[row(2)]).is_err());
    let mut short = row(3);
    short.vector.truncate(64);
    let e = g.enroll("cat", &[row(4), short]).err().unwrap().to_string();
    assert!(e.contains("64") && e.contains("128"), "{e}");
    let mut nan = row(5);
    nan.vector[7] = f32::NAN;
    assert!(g.enroll("ann", &[row(6), nan]).is_err());
    let people = g.people().unwrap();
    assert_eq!(people.iter().map(|p| (p.name.as_str(), p.embeddings)).collect::<Vec<_>>(), [("ann", 1)]);
}

#[test]
fn a_kept_search_index_follows_writes_from_this_and_other_connections() {
    use facestyle_face::metric::Verifier;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.db");
    let mut writer = Gallery::open_or_create(&path, "m", "v1").unwrap();
    let mut reader = Gallery::open(&path, "m", "v1").unwrap();
    let exact = Verifier::new(Metric::SqL2, 1e-4).unwrap();
    let who = |g: &mut Gallery, seed: u32| g.identify(&[&unit(seed)], 1, &exact).unwrap().remove(0).name;
    writer.enroll("ann", &[row(1)]).unwrap();
    assert_eq!(who(&mut reader, 1), "ann");
    assert_eq!(who(&mut reader, 2), "unknown");
    // Another connection commits: the reader's kept index is loaded again.
    writer.enroll("bob", &[row(2)]).unwrap();
    assert_eq!(who(&mut reader, 2), "bob");
    // The reader's own write.
    assert!(reader.forget("ann").unwrap());
    assert_eq!(who(&mut reader, 1), "unknown");
    assert_eq!(who(&mut writer, 1), "unknown");
    writer.enroll("cy", &[row(3)]).unwrap();
    assert_eq!((who(&mut writer, 3), who(&mut reader, 3)), ("cy".to_string(), "cy".to_string()));
}
