//! Gallery search at scale, side by side in one run: the exact scan of the embedded gallery
//! (`search::Index`) and pgvector's HNSW index with exact re-ranking (the PostgreSQL gallery's
//! search), on synthetic unit 128-d embeddings with identity structure (people of 2 to 10
//! photos, photos of one person about as far apart as SFace's LFW photos of one person).
//! Prints one JSON object: build time, bytes per face, p50/p99 query latency, queries/s at
//! concurrency 1 and 8, recall@1 and @10 of the HNSW answers against the exact ones.
//!
//!     FACESTYLE_PG_BIN=... cargo run --release -p facestyle --bin ann_bench -- --faces 100000
//!
//! PostgreSQL: a throwaway cluster from `$FACESTYLE_PG_BIN` (see `facestyle_face::pgtest`).
//! The embeddings are loaded with COPY and the HNSW index built after the load, as an operator
//! would for a bulk import; searches go through `PgGallery::identify`, the code the CLI and
//! server run.

use std::time::Instant;

use anyhow::Context;
use facestyle_face::gallery::postgres::PgGallery;
use facestyle_face::gallery::store::Store;
use facestyle_face::metric::{Metric, Verifier, l2_normalize};
use facestyle_face::pgtest::Cluster;
use facestyle_face::search::Index;
use pgvector::Vector;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use serde::Serialize;

/// A deterministic source of normal numbers (splitmix64 + Box-Muller).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f32 {
        let (u, v) = (self.next().max(1e-12), self.next());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }

    fn unit(&mut self, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim).map(|_| self.normal()).collect();
        l2_normalize(&mut v);
        v
    }
}

/// A photo of a person: their centre plus noise, on the unit sphere. With 0.07 per value the
/// squared distance between two photos of one person is about 0.8 (SFace on LFW: genuine
/// pairs mostly 0.4-1.2), between people about 2.
fn photo(rng: &mut Rng, centre: &[f32]) -> Vec<f32> {
    let mut v: Vec<f32> = centre.iter().map(|c| c + 0.07 * rng.normal()).collect();
    l2_normalize(&mut v);
    v
}

#[derive(Serialize)]
struct Side {
    build_s: f64,
    bytes_per_face: f64,
    p50_ms: f64,
    p99_ms: f64,
    qps_1: f64,
    qps_8: f64,
    recall_at_1: Option<f64>,
    recall_at_10: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    cpu: String,
    threads: usize,
    faces: usize,
    people: usize,
    queries: usize,
    exact: Side,
    pgvector_hnsw: Side,
    postgres: String,
    /// How PostgreSQL runs the search (EXPLAIN of the nearest-embeddings query).
    plan: Vec<String>,
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let line = |key: &str| {
        info.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    format!("{} (family {}, model {})", line("model name"), line("cpu family"), line("model\t"))
}

/// Queries per second of `search` run by `threads` threads over `queries`.
fn throughput(threads: usize, queries: &[Vec<f32>], search: impl Fn(usize, &[f32]) + Sync) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        for k in 0..threads {
            let search = &search;
            s.spawn(move || {
                for q in queries.iter().skip(k).step_by(threads) {
                    search(k, q);
                }
            });
        }
    });
    queries.len() as f64 / t.elapsed().as_secs_f64()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let faces: usize = get("--faces").map(|s| s.parse()).transpose()?.unwrap_or(100_000);
    let n_queries: usize = get("--queries").map(|s| s.parse()).transpose()?.unwrap_or(200);
    let dim = 128;
    let mut rng = Rng(7);

    // People of 2-10 photos until `faces` photos; queries are new photos of stored people.
    let (mut people, mut vectors, mut owners) =
        (Vec::new(), Vec::with_capacity(faces), Vec::with_capacity(faces));
    while vectors.len() < faces {
        let centre = rng.unit(dim);
        let n = 2 + (rng.next() * 9.0) as usize;
        for _ in 0..n.min(faces - vectors.len()) {
            vectors.push(photo(&mut rng, &centre));
            owners.push(people.len() as u32);
        }
        people.push(centre);
    }
    let names: Vec<String> = (0..people.len()).map(|i| format!("p{i}")).collect();
    let queries: Vec<Vec<f32>> = (0..n_queries)
        .map(|_| {
            let who = (rng.next() * people.len() as f64) as usize;
            photo(&mut rng, &people[who])
        })
        .collect();
    let verifier = Verifier::standard(Metric::SqL2);

    // Exact scan.
    let t = Instant::now();
    let mut index = Index::new(dim);
    for (v, o) in vectors.iter().zip(&owners) {
        index.push(*o, v);
    }
    let build = t.elapsed().as_secs_f64();
    let truth: Vec<Vec<String>> = queries
        .iter()
        .map(|q| index.identify(q, 10, &verifier, &names).candidates.into_iter().map(|c| c.name).collect())
        .collect();
    let times: Vec<f64> = queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            std::hint::black_box(index.identify(q, 10, &verifier, &names));
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let exact = Side {
        build_s: build,
        bytes_per_face: index.memory_bytes() as f64 / faces as f64,
        p50_ms: percentile(&times, 0.5),
        p99_ms: percentile(&times, 0.99),
        qps_1: throughput(1, &queries, |_, q| {
            std::hint::black_box(index.identify(q, 10, &verifier, &names));
        }),
        qps_8: throughput(8, &queries, |_, q| {
            std::hint::black_box(index.identify(q, 10, &verifier, &names));
        }),
        recall_at_1: None,
        recall_at_10: None,
    };

    // pgvector on a throwaway cluster.
    let pg = Cluster::start().context("set FACESTYLE_PG_BIN to PostgreSQL binaries with pgvector")?;
    let url = pg.database("faces");
    // `--ef N`: the connections' hnsw.ef_search (the gallery uses at least its candidate count).
    let url = match get("--ef") {
        Some(ef) => format!("{url}?options=-c%20hnsw.ef_search%3D{ef}"),
        None => url,
    };
    let t = Instant::now();
    // The tables, as the program makes them.
    drop(PgGallery::connect(&url, "bench", "1", true)?);
    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    {
        let mut tx = client.transaction()?;
        for (key, value) in [("model_id", "bench"), ("model_version", "1"), ("dimension", "128")] {
            tx.execute("INSERT INTO facestyle_meta(key, value) VALUES ($1, $2)", &[&key, &value])?;
        }
        let ids: Vec<i64> = names.iter().map(|n| facestyle_face::gallery::postgres::person_id(n)).collect();
        let w = tx.copy_in("COPY facestyle_people (id, name) FROM STDIN BINARY")?;
        let mut w = BinaryCopyInWriter::new(w, &[Type::INT8, Type::TEXT]);
        for (id, n) in ids.iter().zip(&names) {
            w.write(&[id, n])?;
        }
        w.finish()?;
        let vector_type = tx.prepare("SELECT $1::vector")?.params()[0].clone();
        let w = tx.copy_in(
            "COPY facestyle_embeddings (person_id, model_id, model_version, image_sha256, image_path, bbox, embedding)
             FROM STDIN BINARY",
        )?;
        let types =
            [Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::FLOAT4_ARRAY, vector_type];
        let mut w = BinaryCopyInWriter::new(w, &types);
        let bbox: Vec<f32> = vec![0.0; 4];
        for (i, (v, o)) in vectors.iter().zip(&owners).enumerate() {
            let (sha, path) = (format!("{i:064}"), format!("{i}.jpg"));
            w.write(&[&ids[*o as usize], &"bench", &"1", &sha, &path, &bbox, &Vector::from(v.clone())])?;
        }
        w.finish()?;
        tx.commit()?;
    }
    let loaded = t.elapsed().as_secs_f64();
    client.batch_execute(
        "SET maintenance_work_mem = '1GB';
         CREATE INDEX facestyle_embeddings_hnsw ON facestyle_embeddings
         USING hnsw ((embedding::vector(128)) vector_ip_ops)",
    )?;
    let build_pg = t.elapsed().as_secs_f64();
    let bytes: i64 = client.query_one("SELECT pg_total_relation_size('facestyle_embeddings')", &[])?.get(0);
    let mut g = PgGallery::connect(&url, "bench", "1", false)?;
    let mut answers = Vec::new();
    let mut times = Vec::new();
    for q in &queries {
        let t = Instant::now();
        let a = g.identify(&[q], 10, &verifier)?.remove(0);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        answers.push(a.candidates.into_iter().map(|c| c.name).collect::<Vec<_>>());
    }
    let r1 =
        truth.iter().zip(&answers).filter(|(t, a)| t.first() == a.first()).count() as f64 / n_queries as f64;
    let r10 = truth
        .iter()
        .zip(&answers)
        .map(|(t, a)| t.iter().filter(|n| a.contains(n)).count() as f64 / t.len().max(1) as f64)
        .sum::<f64>()
        / n_queries as f64;
    let qps = |threads: usize| -> anyhow::Result<f64> {
        let stores: Vec<std::sync::Mutex<PgGallery>> = (0..threads)
            .map(|_| PgGallery::connect(&url, "bench", "1", false).map(std::sync::Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(throughput(threads, &queries, |k, q| {
            let mut s = stores[k].lock().unwrap();
            std::hint::black_box(s.identify(&[q], 10, &verifier).unwrap());
        }))
    };
    let pgvector_hnsw = Side {
        build_s: build_pg,
        bytes_per_face: bytes as f64 / faces as f64,
        p50_ms: percentile(&times, 0.5),
        p99_ms: percentile(&times, 0.99),
        qps_1: qps(1)?,
        qps_8: qps(8)?,
        recall_at_1: Some(r1),
        recall_at_10: Some(r10),
    };
    let version: String = client.query_one("SELECT version()", &[])?.get(0);
    let plan: Vec<String> = client
        .query(
            "EXPLAIN SELECT person_id, embedding FROM facestyle_embeddings
             ORDER BY embedding::vector(128) <#> $1::vector(128) LIMIT 200",
            &[&Vector::from(queries[0].clone())],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let report = Report {
        cpu: cpu(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        faces,
        people: people.len(),
        queries: n_queries,
        exact,
        pgvector_hnsw,
        postgres: format!("{version}; load {loaded:.1} s, then HNSW build"),
        plan,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
