//! A gallery over three PostgreSQL shards, the first with a streaming replica, on loopback:
//! people spread by the hash of their name, searches merged exactly, and a primary killed in
//! the middle of a run: reads go on from the replica, writes to that shard fail cleanly, and
//! after the restart everything is consistent.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{face, row};
use facestyle_face::gallery::postgres::person_id;
use facestyle_face::gallery::store::{self, Location, Store};
use facestyle_face::metric::{Metric, Verifier};
use facestyle_face::pgtest::Cluster;

fn shard_of(name: &str) -> u64 {
    person_id(name) as u64 % 3
}

/// Waits until `g` holds `n` embeddings (a replica catching up).
fn wait_for(url: &str, n: usize) {
    let start = Instant::now();
    loop {
        let got = store::open(&Location::parse(url), "m", "v1", false).and_then(|mut g| g.embeddings());
        if got.as_ref().is_ok_and(|&got| got == n) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the replica holds {got:?} embeddings, not {n}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn three_shards_and_a_replica_survive_a_primary_going_down() {
    let Some(p0) = Cluster::start() else { return };
    let (p1, p2) = (Cluster::start().unwrap(), Cluster::start().unwrap());
    let urls = [p0.database("faces"), p1.database("faces"), p2.database("faces")];
    let r0 = p0.replica();
    let shard0 = format!("postgres://facestyle@127.0.0.1:{},127.0.0.1:{}/faces", p0.port(), r0.port());
    let replica = r0.url("faces");
    let location = Location::Sharded(vec![shard0, urls[1].clone(), urls[2].clone()]);
    let verifier = Verifier::standard(Metric::SqL2);

    let mut g = store::open(&location, "m", "v1", true).unwrap();
    for who in 0..30 {
        g.enroll(&format!("person {who}"), &[row(who, 0), row(who, 1)]).unwrap();
    }
    assert_eq!(g.embeddings().unwrap(), 60);
    let on_shard: Vec<usize> = urls
        .iter()
        .map(|u| store::open(&Location::parse(u), "m", "v1", false).unwrap().embeddings().unwrap())
        .collect();
    assert!(on_shard.iter().all(|&n| n > 0) && on_shard.iter().sum::<usize>() == 60, "{on_shard:?}");
    let queries: Vec<Vec<f32>> = (0..30).map(|who| face(who, 7)).collect();
    let queries: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
    let names = |g: &mut Box<dyn Store>| -> Vec<String> {
        g.identify(&queries, 3, &verifier).unwrap().into_iter().map(|a| a.name).collect()
    };
    let expected: Vec<String> = (0..30).map(|who| format!("person {who}")).collect();
    assert_eq!(names(&mut g), expected);
    let before = store::checksum(g.as_mut()).unwrap();
    wait_for(&replica, on_shard[0]);

    // A reader keeps searching while the first shard's primary is killed.
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut g = store::open(&location, "m", "v1", false).unwrap();
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) || rounds < 3 {
                assert_eq!(names(&mut g), expected, "round {rounds}");
                rounds += 1;
            }
            rounds
        });
        std::thread::sleep(Duration::from_millis(300));
        p0.kill().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::SeqCst);
        assert!(reader.join().unwrap() >= 3);
    });
    assert_eq!(names(&mut g), expected, "read from the replica");
    assert_eq!(g.people().unwrap().len(), 30);
    assert_eq!(store::checksum(g.as_mut()).unwrap(), before);

    let on = |shard: u64| (100..).map(|i| format!("new {i}")).find(|n| shard_of(n) == shard).unwrap();
    let (down, up) = (on(0), on(1));
    let e = g.enroll(&down, &[row(900, 0)]).unwrap_err().to_string();
    assert!(e.contains("shard 1 of 3") && e.contains("nothing was written"), "{e}");
    g.enroll(&up, &[row(901, 0)]).unwrap();
    assert_eq!(g.embeddings().unwrap(), 61);

    p0.start_again().unwrap();
    g.enroll(&down, &[row(900, 0)]).unwrap();
    assert_eq!(g.embeddings().unwrap(), 62);
    let people: Vec<String> = g.people().unwrap().into_iter().map(|p| p.name).collect();
    assert!(people.contains(&down) && people.contains(&up) && people.len() == 32);
    let shard0 = store::open(&Location::parse(&urls[0]), "m", "v1", false).unwrap().embeddings().unwrap();
    assert_eq!(shard0, on_shard[0] + 1);
    wait_for(&replica, shard0);
}
