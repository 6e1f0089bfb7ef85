//! Which HNSW crate the embedded gallery should use, measured: `usearch`, `hnsw_rs` and
//! `instant-distance` on the same synthetic gallery (`facestyle_face::synthetic`), each built
//! with the same graph settings (16 links per node, 128 candidates while building) on every
//! core, searched one query at a time for 100 candidates that are re-ranked exactly and reduced
//! to people, as the gallery does. Prints one JSON line per crate and search width: build time,
//! memory added per face (resident set), p50/p99 latency, recall@1 and @10 of people against
//! the exact scan.
//!
//!     cargo run --release -p facestyle --features ann-compare --bin ann_crates -- --faces 1000000

#![forbid(unsafe_code)]

use std::time::Instant;

use facestyle_face::metric::Metric;
use facestyle_face::search::{Index, dot8};
use facestyle_face::synthetic::People;
use hnsw_rs::prelude::{DistDot, Hnsw};
use serde_json::json;

const LINKS: usize = 16;
const EF_BUILD: usize = 128;
const CANDIDATES: usize = 100;

/// Resident memory of this process in bytes.
fn rss() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    pages * 4096.0
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// The top 10 people of `candidates` (row numbers), re-ranked by exact dot product.
fn people_of(data: &People, query: &[f32], candidates: impl Iterator<Item = usize>) -> Vec<u32> {
    let mut scored: Vec<(u32, f32)> =
        candidates.map(|row| (data.owners[row], dot8(query, data.face(row)))).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut people = Vec::new();
    for (who, _) in scored {
        if !people.contains(&who) {
            people.push(who);
            if people.len() == 10 {
                break;
            }
        }
    }
    people
}

struct Run<'a> {
    data: &'a People,
    queries: &'a [(u32, Vec<f32>)],
    truth: &'a [Vec<u32>],
}

impl Run<'_> {
    fn report(&self, name: &str, build_s: f64, bytes: f64, ef: usize, search: impl Fn(&[f32]) -> Vec<usize>) {
        let mut times = Vec::new();
        let (mut r1, mut r10) = (0.0, 0.0);
        for ((_, q), truth) in self.queries.iter().zip(self.truth) {
            let t = Instant::now();
            let found = people_of(self.data, q, search(q).into_iter());
            times.push(t.elapsed().as_secs_f64() * 1e3);
            r1 += (found.first() == truth.first()) as u8 as f64;
            r10 += truth.iter().filter(|w| found.contains(w)).count() as f64 / truth.len() as f64;
        }
        let n = self.queries.len() as f64;
        println!(
            "{}",
            json!({
                "crate": name, "faces": self.data.len(), "ef_search": ef,
                "build_s": (build_s * 10.0).round() / 10.0,
                "bytes_per_face": (bytes / self.data.len() as f64).round(),
                "p50_ms": percentile(&times, 0.5), "p99_ms": percentile(&times, 0.99),
                "recall_at_1": r1 / n, "recall_at_10": r10 / n,
            })
        );
    }
}

#[derive(Clone)]
struct Unit(Vec<f32>);

impl instant_distance::Point for Unit {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - dot8(&self.0, &other.0)
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let faces: usize = get("--faces").map(|s| s.parse()).transpose()?.unwrap_or(200_000);
    let only = get("--only");
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == name));
    let efs = [64usize, 128, 256];
    let data = People::new(faces, 128, 7);
    let queries = data.queries(300, 8);
    let mut exact = Index::new(128);
    for (i, &o) in data.owners.iter().enumerate() {
        exact.push(o, data.face(i));
    }
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|(_, q)| exact.search(q, 10, Metric::SqL2).iter().map(|h| h.owner).collect())
        .collect();
    drop(exact);
    let run = Run { data: &data, queries: &queries, truth: &truth };
    eprintln!("{} faces, {} people, {} threads", data.len(), data.people(), rayon::current_num_threads());

    if wanted("usearch") {
        let before = rss();
        let t = Instant::now();
        let options = usearch::IndexOptions {
            dimensions: 128,
            metric: usearch::MetricKind::IP,
            quantization: usearch::ScalarKind::F32,
            connectivity: LINKS,
            expansion_add: EF_BUILD,
            expansion_search: 64,
            multi: false,
        };
        let index = usearch::Index::new(&options)?;
        index.reserve_capacity_and_threads(faces, rayon::current_num_threads())?;
        use rayon::prelude::*;
        (0..faces).into_par_iter().try_for_each(|i| index.add(i as u64, data.face(i)))?;
        let build = t.elapsed().as_secs_f64();
        let bytes = rss() - before;
        for ef in efs {
            index.change_expansion_search(ef);
            run.report("usearch", build, bytes, ef, |q| {
                index.search(q, CANDIDATES).expect("search").keys.into_iter().map(|k| k as usize).collect()
            });
        }
    }
    if wanted("hnsw_rs") {
        let before = rss();
        let t = Instant::now();
        let index: Hnsw<f32, DistDot> = Hnsw::new(LINKS, faces, 16, EF_BUILD, DistDot {});
        let rows: Vec<(&[f32], usize)> = (0..faces).map(|i| (data.face(i), i)).collect();
        index.parallel_insert_slice(&rows);
        let build = t.elapsed().as_secs_f64();
        let bytes = rss() - before;
        for ef in efs {
            run.report("hnsw_rs", build, bytes, ef, |q| {
                index.search(q, CANDIDATES, ef).into_iter().map(|n| n.d_id).collect()
            });
        }
    }
    if wanted("instant-distance") {
        // M is fixed by the crate (32 links on the lowest layer, as the others' 16 doubled
        // there) and so is the search width, chosen at build time; there are no inserts after
        // the build.
        let ef = 128;
        let before = rss();
        let t = Instant::now();
        let points: Vec<Unit> = (0..faces).map(|i| Unit(data.face(i).to_vec())).collect();
        let map = instant_distance::Builder::default()
            .ef_construction(EF_BUILD)
            .ef_search(ef)
            .build(points, (0..faces).collect::<Vec<usize>>());
        let build = t.elapsed().as_secs_f64();
        let bytes = rss() - before;
        run.report("instant-distance", build, bytes, ef, |q| {
            let mut search = instant_distance::Search::default();
            map.search(&Unit(q.to_vec()), &mut search).take(CANDIDATES).map(|m| *m.value).collect()
        });
    }
    Ok(())
}
