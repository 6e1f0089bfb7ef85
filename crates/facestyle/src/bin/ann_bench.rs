//! Gallery search at scale, side by side in one run, each through the code the CLI and server
//! run: the exact scan (`search::Index`), the SQLite gallery's approximate index (usearch HNSW,
//! candidates re-ranked exactly from SQLite), pgvector's HNSW index on one node and on 3
//! shards (`PgGallery`, `ShardedGallery`), on synthetic 128-d unit embeddings with identity
//! structure (`facestyle_face::synthetic`: people of 2 to 10 photos; `--spread FILE` fits the
//! spread of people and photos to real embeddings, the JSON lines of `facestyle face embed`,
//! one folder per person as in LFW). Prints one JSON object: for each side build time, bytes
//! per face, p50/p99 query latency, queries/s at concurrency 1 and 8, recall@1 and @10 of
//! people against the exact scan; the CPU and the instruction sets the searches used.
//!
//!     FACESTYLE_PG_BIN=... cargo run --release -p facestyle --bin ann_bench -- \
//!         --faces 1000000 [--spread lfw.jsonl] [--sides exact,hnsw,pg,shards] [--ef 400] \
//!         [--graphs f16:32,i8:32 --sweep 100,200,400 --repeat 3]
//!
//! PostgreSQL: throwaway clusters from `$FACESTYLE_PG_BIN` (see `facestyle_face::pgtest`).
//! Embeddings are loaded with COPY (SQLite: one transaction of inserts) and the indexes built
//! after the load, as an operator would for a bulk import.

#![forbid(unsafe_code)]

use std::time::Instant;

use anyhow::Context;
use facestyle_face::gallery::Gallery;
use facestyle_face::gallery::ann::{Graph, Search, Storage};
use facestyle_face::gallery::postgres::{PgGallery, Precision, create_index, person_id};
use facestyle_face::gallery::sharded::ShardedGallery;
use facestyle_face::gallery::store::Store;
use facestyle_face::metric::{Metric, Verifier};
use facestyle_face::pgtest::Cluster;
use facestyle_face::plot::{DrawResult, FAMILY, Figure};
use facestyle_face::search::{Identified, Index};
use facestyle_face::synthetic::{Fitted, People, Spread};
use pgvector::Vector;
use plotters::coord::Shift;
use plotters::prelude::*;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use serde::Serialize;

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
    /// With `--lfw`: the share of LFW probe photos whose first answer is their person.
    lfw_rank1: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    cpu: String,
    /// The CPU's vector extensions (from /proc/cpuinfo) and the kernels usearch chose.
    isa: String,
    threads: usize,
    faces: usize,
    people: usize,
    queries: usize,
    spread: String,
    /// Mean squared L2 distance between photos of one person and between two people.
    same_person_mean: f32,
    two_people_mean: f32,
    sides: Vec<(String, Side)>,
    /// With `--sweep`: (side, search width, p50 ms, recall@10) at several widths.
    sweep: Vec<(String, usize, f64, f64)>,
    /// With `--sweep` and `--lfw`: (side, search width, LFW rank-1) of the in-process graphs.
    sweep_lfw_rank1: Vec<(String, usize, f64)>,
    notes: Vec<String>,
}

/// p50 latency and recall@10 of `identify` over `queries` against `truth`.
fn quick(
    queries: &[Vec<f32>],
    truth: &[Vec<String>],
    identify: &mut dyn FnMut(&[f32]) -> Identified,
) -> (f64, f64) {
    let mut times = Vec::new();
    let mut r10 = 0.0;
    for (q, t) in queries.iter().zip(truth) {
        let start = Instant::now();
        let a = identify(q);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        r10 += t.iter().filter(|x| a.candidates.iter().any(|c| &c.name == *x)).count() as f64
            / t.len().max(1) as f64;
    }
    (percentile(&times, 0.5), r10 / queries.len() as f64)
}

/// Latency against recall@10, a line per side.
struct RecallPlot {
    title: String,
    lines: Vec<(String, Vec<(f64, f64)>)>,
}

impl Figure for RecallPlot {
    fn size(&self) -> (u32, u32) {
        (900, 600)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let text = |px: u32| (FAMILY, f64::from(px));
        let x_max = self.lines.iter().flat_map(|(_, p)| p.iter().map(|x| x.0)).fold(1.0, f64::max) * 1.1;
        let y_min = self.lines.iter().flat_map(|(_, p)| p.iter().map(|x| x.1)).fold(1.0, f64::min);
        let y_min = ((y_min - 0.02) * 20.0).floor() / 20.0;
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, text(20))
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, y_min.max(0.0)..1.0f64)?;
        chart
            .configure_mesh()
            .x_desc("p50 latency of one query (ms)")
            .y_desc("recall@10 of people against the exact scan")
            .label_style(text(15))
            .axis_desc_style(text(16))
            .light_line_style(WHITE)
            .draw()?;
        let colours =
            [RGBColor(200, 30, 30), RGBColor(30, 90, 200), RGBColor(20, 150, 60), RGBColor(120, 60, 160)];
        for ((name, points), colour) in self.lines.iter().zip(colours) {
            chart
                .draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(text(15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn cpu() -> String {
    let line = |key: &str| facestyle_nn::isa::cpuinfo_field(key).unwrap_or_default();
    format!("{} (family {}, model {})", line("model name"), line("cpu family"), line("model"))
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

/// Embeddings, the person (index) of each, and the people's folders.
type Photos = (Vec<Vec<f32>>, Vec<usize>, Vec<String>);

/// Photos of people from `facestyle face embed` JSON lines (the person is the photo's folder;
/// the largest face of each photo).
fn read_embeddings(path: &str) -> anyhow::Result<Photos> {
    let text = std::fs::read_to_string(path).with_context(|| format!("--spread {path}"))?;
    let mut best: std::collections::BTreeMap<String, (f32, Vec<f32>)> = Default::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("--spread {path}"))?;
        let image = v["image"].as_str().context("a line without image")?.to_string();
        let b = &v["bbox"];
        let area = (b[2].as_f64().unwrap_or(0.0) * b[3].as_f64().unwrap_or(0.0)) as f32;
        let e: Vec<f32> = serde_json::from_value(v["embedding"].clone())?;
        if best.get(&image).is_none_or(|(a, _)| area > *a) {
            best.insert(image, (area, e));
        }
    }
    let mut people: std::collections::HashMap<String, usize> = Default::default();
    let (mut photos, mut owners, mut names) = (Vec::new(), Vec::new(), Vec::new());
    for (image, (_, e)) in best {
        let folder =
            std::path::Path::new(&image).parent().map(|p| p.display().to_string()).unwrap_or_default();
        let n = people.len();
        let who = *people.entry(folder.clone()).or_insert_with(|| {
            names.push(folder);
            n
        });
        owners.push(who);
        photos.push(e);
    }
    Ok((photos, owners, names))
}

/// The share of LFW probe photos whose first answer by `identify` is their person.
fn rank1(probes: &[(Vec<f32>, String)], identify: &mut dyn FnMut(&[f32]) -> Identified) -> f64 {
    let right = probes
        .iter()
        .filter(|(q, who)| identify(q).candidates.first().is_some_and(|c| c.name == *who))
        .count();
    right as f64 / probes.len() as f64
}

/// Latency and throughput of `identify` (one query at a time) and recall against `truth`.
fn measure(
    build_s: f64,
    bytes: f64,
    queries: &[Vec<f32>],
    truth: &[Vec<String>],
    probes: &[(Vec<f32>, String)],
    identify: &(dyn Fn(usize, &[f32]) -> Identified + Sync),
) -> Side {
    let lfw_rank1 = (!probes.is_empty()).then(|| rank1(probes, &mut |q| identify(0, q)));
    let mut times = Vec::new();
    let mut answers = Vec::new();
    for q in queries {
        let t = Instant::now();
        let a = identify(0, q);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        answers.push(a.candidates.into_iter().map(|c| c.name).collect::<Vec<_>>());
    }
    let n = queries.len() as f64;
    let r1 = truth.iter().zip(&answers).filter(|(t, a)| t.first() == a.first()).count() as f64 / n;
    let r10 = truth
        .iter()
        .zip(&answers)
        .map(|(t, a)| t.iter().filter(|x| a.contains(x)).count() as f64 / t.len().max(1) as f64)
        .sum::<f64>()
        / n;
    Side {
        build_s,
        bytes_per_face: bytes,
        p50_ms: percentile(&times, 0.5),
        p99_ms: percentile(&times, 0.99),
        qps_1: throughput(1, queries, |k, q| {
            std::hint::black_box(identify(k, q));
        }),
        qps_8: throughput(8, queries, |k, q| {
            std::hint::black_box(identify(k, q));
        }),
        recall_at_1: Some(r1),
        recall_at_10: Some(r10),
        lfw_rank1,
    }
}

/// Loads `rows` (photo indexes) of `data` into a PostgreSQL database with the gallery's tables,
/// then builds the HNSW index; returns the seconds and the table's bytes.
fn load_postgres(url: &str, data: &People, names: &[String], rows: &[usize]) -> anyhow::Result<(f64, f64)> {
    let t = Instant::now();
    drop(PgGallery::connect(url, "bench", "1", true)?);
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    let mut tx = client.transaction()?;
    for (key, value) in [("model_id", "bench"), ("model_version", "1"), ("dimension", "128")] {
        tx.execute("INSERT INTO facestyle_meta(key, value) VALUES ($1, $2)", &[&key, &value])?;
    }
    let mut people: Vec<u32> = rows.iter().map(|&i| data.owners[i]).collect();
    people.dedup();
    let w = tx.copy_in("COPY facestyle_people (id, name) FROM STDIN BINARY")?;
    let mut w = BinaryCopyInWriter::new(w, &[Type::INT8, Type::TEXT]);
    for &p in &people {
        let n = &names[p as usize];
        w.write(&[&person_id(n), n])?;
    }
    w.finish()?;
    let vector_type = tx.prepare("SELECT $1::vector")?.params()[0].clone();
    let w = tx.copy_in(
        "COPY facestyle_embeddings (person_id, model_id, model_version, image_sha256, image_path, bbox, embedding)
         FROM STDIN BINARY",
    )?;
    let types = [Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT, Type::FLOAT4_ARRAY, vector_type];
    let mut w = BinaryCopyInWriter::new(w, &types);
    let bbox: Vec<f32> = vec![0.0; 4];
    for &i in rows {
        let (sha, path) = (format!("{i:064}"), format!("{i}.jpg"));
        let id = person_id(&names[data.owners[i] as usize]);
        w.write(&[&id, &"bench", &"1", &sha, &path, &bbox, &Vector::from(data.face(i).to_vec())])?;
    }
    w.finish()?;
    tx.commit()?;
    client.batch_execute("SET maintenance_work_mem = '2GB'")?;
    client.batch_execute(&create_index(128, Precision::Single))?;
    let bytes: i64 = client.query_one("SELECT pg_total_relation_size('facestyle_embeddings')", &[])?.get(0);
    Ok((t.elapsed().as_secs_f64(), bytes as f64))
}

/// A SQLite gallery of every photo of `data`, written in one transaction.
fn load_sqlite(path: &std::path::Path, data: &People, names: &[String]) -> anyhow::Result<()> {
    drop(Gallery::open_or_create(path, "bench", "1")?);
    let mut conn = rusqlite::Connection::open(path)?;
    let tx = conn.transaction()?;
    tx.execute("INSERT INTO meta(key, value) VALUES ('model_id', 'bench')", [])?;
    {
        let mut person = tx.prepare("INSERT INTO people(id, name) VALUES (?1, ?2)")?;
        for (i, n) in names.iter().enumerate() {
            person.execute(rusqlite::params![i as i64 + 1, n])?;
        }
        let mut face = tx.prepare(
            "INSERT INTO embeddings(person_id, model_id, model_version, image_sha256, image_path, bbox, vector)
             VALUES (?1, 'bench', '1', ?2, ?3, '[0,0,0,0]', ?4)",
        )?;
        for i in 0..data.len() {
            let bytes: Vec<u8> = data.face(i).iter().flat_map(|x| x.to_le_bytes()).collect();
            face.execute(rusqlite::params![
                data.owners[i] as i64 + 1,
                format!("{i:064}"),
                format!("{i}.jpg"),
                bytes
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let faces: usize = get("--faces").map(|s| s.parse()).transpose()?.unwrap_or(100_000);
    let n_queries: usize = get("--queries").map(|s| s.parse()).transpose()?.unwrap_or(200);
    // In-process graphs to build, each as STORAGE:LINKS (default: the gallery's).
    let graphs: Vec<Graph> = match get("--graphs") {
        None => vec![Graph::default()],
        Some(list) => list
            .split(',')
            .map(|g| {
                let (storage, links) = g.split_once(':').unwrap_or((g, "32"));
                let storage = Storage::parse(storage).map_err(anyhow::Error::msg)?;
                let links = links.parse().with_context(|| format!("--graphs: links in '{g}'"))?;
                Ok(Graph { storage, links })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let sides = get("--sides").unwrap_or_else(|| "exact,hnsw,pg,shards".into());
    let wanted = |s: &str| sides.split(',').any(|x| x == s);
    let (spread, spread_name) = match get("--spread") {
        Some(path) => {
            let (photos, owners, _) = read_embeddings(&path)?;
            let fit = Fitted::fit(&photos, &owners).context("too few people with 2+ photos to fit")?;
            let name = format!("fitted to {path}: {} people, {} photos", fit.people, fit.photos);
            (Spread::Fitted(Box::new(fit)), name)
        }
        None => (Spread::Isotropic, "isotropic".to_string()),
    };
    let mut data = People::with_spread(faces, 128, 7, spread);
    let mut names: Vec<String> = (0..data.people()).map(|i| format!("p{i}")).collect();
    let queries: Vec<Vec<f32>> = data.queries(n_queries, 8).into_iter().map(|(_, q)| q).collect();
    // `--lfw FILE`: LFW's people with 2+ photos join the gallery with their first photo, among
    // the synthetic distractors; their other photos are probes (MegaFace-style rank-1).
    let mut probes: Vec<(Vec<f32>, String)> = Vec::new();
    if let Some(path) = get("--lfw") {
        let (photos, owners, folders) = read_embeddings(&path)?;
        let mut count = vec![0usize; folders.len()];
        for &o in &owners {
            count[o] += 1;
        }
        let mut enrolled = vec![false; folders.len()];
        for (v, &o) in photos.iter().zip(&owners) {
            if count[o] < 2 {
                continue;
            }
            let name = format!("lfw:{}", folders[o].rsplit('/').next().unwrap_or_default());
            if enrolled[o] {
                probes.push((v.clone(), name));
            } else {
                enrolled[o] = true;
                data.vectors.extend_from_slice(v);
                data.owners.push(names.len() as u32);
                data.centres.extend_from_slice(v);
                names.push(name);
            }
        }
        // At most `--probes` of them (default 2000), evenly spread.
        let cap: usize = get("--probes").map(|s| s.parse()).transpose()?.unwrap_or(2000);
        let step = probes.len().div_ceil(cap.max(1)).max(1);
        probes = probes.into_iter().step_by(step).collect();
        eprintln!(
            "LFW: {} people enrolled among the distractors, {} probes",
            enrolled.iter().filter(|e| **e).count(),
            probes.len()
        );
    }
    let faces = data.len();
    let verifier = Verifier::standard(Metric::SqL2);
    let (mut same, mut other) = (Vec::new(), Vec::new());
    for i in 0..data.len().min(20_000) - 1 {
        if data.owners[i] == data.owners[i + 1] {
            same.push(Metric::SqL2.distance(data.face(i), data.face(i + 1)));
        }
        other.push(Metric::SqL2.distance(data.face(i), data.face((i + data.len() / 2) % data.len())));
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    eprintln!("{} faces of {} people ({spread_name})", data.len(), data.people());

    let mut out = Vec::new();
    let mut notes = Vec::new();
    // `--sweep 64,128,...`: search widths to measure p50 and recall@10 at (pgvector: those of
    // 200 and more, the candidates the gallery asks for), drawn to `--plot FILE`.
    let widths: Vec<usize> = get("--sweep")
        .map(|s| s.split(',').map(|w| w.trim().parse()).collect::<Result<_, _>>())
        .transpose()?
        .unwrap_or_default();
    let repeat: usize = get("--repeat").map(|s| s.parse()).transpose()?.unwrap_or(1).max(1);
    let mut sweep = Vec::new();
    let mut sweep_lfw_rank1 = Vec::new();
    // Exact scan: the truth for recall.
    let t = Instant::now();
    let mut index = Index::new(128);
    for i in 0..data.len() {
        index.push(data.owners[i], data.face(i));
    }
    let build = t.elapsed().as_secs_f64();
    let truth: Vec<Vec<String>> = queries
        .iter()
        .map(|q| index.identify(q, 10, &verifier, &names).candidates.into_iter().map(|c| c.name).collect())
        .collect();
    if wanted("exact") {
        let bytes = index.memory_bytes() as f64 / faces as f64;
        let side = measure(build, bytes, &queries, &truth, &probes, &|_, q| {
            index.identify(q, 10, &verifier, &names)
        });
        eprintln!("exact: p50 {:.2} ms", side.p50_ms);
        eprintln!("{}", serde_json::to_string(&side)?);
        out.push(("exact scan".to_string(), side));
    }
    drop(index);

    let mut accel = String::new();
    if wanted("hnsw") {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("g.db");
        let t = Instant::now();
        load_sqlite(&path, &data, &names)?;
        notes.push(format!("SQLite load: {:.1} s", t.elapsed().as_secs_f64()));
        let mut built = Vec::new();
        for graph in &graphs {
            // A graph saved by the previous build would be loaded instead of built.
            for f in std::fs::read_dir(dir.path())?.flatten() {
                if f.path().extension().is_some_and(|e| e == "hnsw") {
                    std::fs::remove_file(f.path())?;
                }
            }
            let label = format!("{}, {} links", graph.storage.name(), graph.links);
            let mut g = Gallery::open(&path, "bench", "1")?;
            g.set_search(Search::Approximate);
            g.set_graph(*graph);
            let t = Instant::now();
            let ann = g.approximate(128)?;
            let bytes = ann.memory_bytes() as f64 / faces as f64;
            let build = t.elapsed().as_secs_f64();
            eprintln!("in-process HNSW ({label}): built in {build:.1} s");
            let kernels = format!("{}: {}", graph.storage.name(), ann.kernels());
            if !accel.contains(&kernels) {
                accel = if accel.is_empty() { kernels } else { format!("{accel}, {kernels}") };
            }
            // One connection holds the index, as in the server; 8 clients take turns on it.
            let g = std::sync::Mutex::new(g);
            let side = measure(build, bytes, &queries, &truth, &probes, &|_, q| {
                g.lock().unwrap().identify(&[q], 10, &verifier).unwrap().remove(0)
            });
            eprintln!(
                "in-process HNSW ({label}): p50 {:.2} ms, recall@10 {:?}",
                side.p50_ms, side.recall_at_10
            );
            eprintln!("{}", serde_json::to_string(&side)?);
            out.push((format!("in-process HNSW (SQLite gallery: {label})"), side));
            built.push((label, g.into_inner().unwrap()));
        }
        // Every graph at every width, `--repeat` rounds taking turns (the machine's pace
        // drifts between rounds alike for all); the median round's p50.
        let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); built.len() * widths.len()];
        let mut recall = vec![0.0; built.len() * widths.len()];
        for round in 0..repeat {
            for (i, (label, g)) in built.iter_mut().enumerate() {
                for (j, &ef) in widths.iter().enumerate() {
                    g.approximate(128)?.set_search_width(ef);
                    if round == 0 && !probes.is_empty() {
                        let rank1 = rank1(&probes, &mut |q| g_identify(g, q, &verifier));
                        eprintln!("in-process HNSW ({label}), width {ef}: LFW rank-1 {rank1:.3}");
                        sweep_lfw_rank1.push((format!("in-process HNSW ({label})"), ef, rank1));
                    }
                    let (p50, r10) = quick(&queries, &truth, &mut |q| g_identify(g, q, &verifier));
                    eprintln!("in-process HNSW ({label}), width {ef}: p50 {p50:.2} ms, recall@10 {r10:.3}");
                    rounds[i * widths.len() + j].push(p50);
                    recall[i * widths.len() + j] = r10;
                }
            }
        }
        for (i, (label, _)) in built.iter().enumerate() {
            for (j, &ef) in widths.iter().enumerate() {
                let k = i * widths.len() + j;
                sweep.push((
                    format!("in-process HNSW ({label})"),
                    ef,
                    percentile(&rounds[k], 0.5),
                    recall[k],
                ));
            }
        }
    }
    let ef = get("--ef");
    let with_ef = |url: String| match &ef {
        Some(ef) => format!("{url}?options=-c%20hnsw.ef_search%3D{ef}"),
        None => url,
    };
    let all: Vec<usize> = (0..data.len()).collect();
    if wanted("pg") {
        let pg = Cluster::start().context("set FACESTYLE_PG_BIN to PostgreSQL binaries with pgvector")?;
        let url = with_ef(pg.database("faces"));
        let (build, bytes) = load_postgres(&url, &data, &names, &all)?;
        let stores: Vec<std::sync::Mutex<PgGallery>> = (0..8)
            .map(|_| PgGallery::connect(&url, "bench", "1", false).map(std::sync::Mutex::new))
            .collect::<Result<_, _>>()?;
        let side = measure(build, bytes / faces as f64, &queries, &truth, &probes, &|k, q| {
            stores[k].lock().unwrap().identify(&[q], 10, &verifier).unwrap().remove(0)
        });
        eprintln!("pgvector: p50 {:.2} ms", side.p50_ms);
        for &ef in widths.iter().filter(|&&ef| ef >= 200) {
            let url = format!("{}?options=-c%20hnsw.ef_search%3D{ef}", pg.url("faces"));
            let g = std::sync::Mutex::new(PgGallery::connect(&url, "bench", "1", false)?);
            let (p50, r10) = quick(&queries, &truth, &mut |q| {
                g.lock().unwrap().identify(&[q], 10, &verifier).unwrap().remove(0)
            });
            eprintln!("pgvector, ef_search {ef}: p50 {p50:.2} ms, recall@10 {r10:.3}");
            sweep.push(("pgvector, one node".to_string(), ef, p50, r10));
        }
        let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
        let version: String = client.query_one("SELECT version()", &[])?.get(0);
        notes.push(format!("pgvector on {version}"));
        eprintln!("{}", serde_json::to_string(&side)?);
        out.push(("pgvector HNSW, one node".to_string(), side));
    }
    if wanted("shards") {
        let clusters: Vec<Cluster> =
            (0..3).map(|_| Cluster::start()).collect::<Option<_>>().context("PostgreSQL did not start")?;
        let urls: Vec<String> = clusters.iter().map(|c| with_ef(c.database("faces"))).collect();
        let t = Instant::now();
        let mut bytes = 0.0;
        // Each shard its people (stable hash of the name, as ShardedGallery places them).
        std::thread::scope(|s| -> anyhow::Result<()> {
            let jobs: Vec<_> = urls
                .iter()
                .enumerate()
                .map(|(k, url)| {
                    let (data, names) = (&data, &names);
                    s.spawn(move || {
                        let rows: Vec<usize> = (0..data.len())
                            .filter(|&i| person_id(&names[data.owners[i] as usize]) as u64 % 3 == k as u64)
                            .collect();
                        load_postgres(url, data, names, &rows)
                    })
                })
                .collect();
            for j in jobs {
                bytes += j.join().expect("a loader panicked")?.1;
            }
            Ok(())
        })?;
        let build = t.elapsed().as_secs_f64();
        let stores: Vec<std::sync::Mutex<ShardedGallery>> = (0..8)
            .map(|_| ShardedGallery::connect(&urls, "bench", "1", false).map(std::sync::Mutex::new))
            .collect::<Result<_, _>>()?;
        let side = measure(build, bytes / faces as f64, &queries, &truth, &probes, &|k, q| {
            stores[k].lock().unwrap().identify(&[q], 10, &verifier).unwrap().remove(0)
        });
        eprintln!("pgvector 3 shards: p50 {:.2} ms", side.p50_ms);
        out.push(("pgvector HNSW, 3 shards (loopback)".to_string(), side));
    }
    let report = Report {
        cpu: cpu(),
        isa: format!(
            "{}; usearch kernels: {}",
            facestyle_nn::isa::cpu_flags(),
            if accel.is_empty() { "-".into() } else { accel }
        ),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        faces,
        people: data.people(),
        queries: n_queries,
        spread: spread_name,
        same_person_mean: mean(&same),
        two_people_mean: mean(&other),
        sides: out,
        sweep,
        sweep_lfw_rank1,
        notes,
    };
    if let Some(path) = get("--plot") {
        let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for (side, _, p50, r10) in &report.sweep {
            match lines.iter_mut().find(|(n, _)| n == side) {
                Some((_, points)) => points.push((*p50, *r10)),
                None => lines.push((side.clone(), vec![(*p50, *r10)])),
            }
        }
        let title = format!("{} faces, {} ({} threads)", report.faces, report.cpu, report.threads);
        RecallPlot { title, lines }.save(&path)?;
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn g_identify(g: &mut Gallery, q: &[f32], verifier: &Verifier) -> Identified {
    g.identify(&[q], 10, verifier).expect("search").remove(0)
}
