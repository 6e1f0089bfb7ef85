//! `bench`: timings of the face pipeline, the gallery search and VGG19, printed as one JSON object;
//! `bench crops`: the detector on close crops of LFW faces (docs/security.md, "The detector on
//! close crops").
//!
//! `tools/bench_face.py` runs this binary and the reference runtimes (OpenCV DNN,
//! onnxruntime) on the same images in one script run and prints the ratios.
//!
//!     cargo run --release -p facestyle --bin bench -- face --images DIR [--limit 200] [--serve]
//!     cargo run --release -p facestyle --bin bench -- gallery --rows 10000,100000,1000000
//!     cargo run --release -p facestyle --bin bench -- vgg --size 224 --reps 10
//!     cargo run --release -p facestyle --bin bench -- serve --requests 500 --concurrency 8
//!     cargo run --release -p facestyle --bin bench -- crops --lfw DIR [--n 2000] [--style DIR]

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use facestyle_face::align::align_face;
use facestyle_face::detect::{DetectConfig, Face, PadFill, largest};
use facestyle_face::engine::FaceEngine;
use facestyle_face::metric::{Metric, Verifier, l2_normalize};
use facestyle_face::photo::load_rgb;
use facestyle_face::search::Index;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn images(dir: &std::path::Path, limit: usize) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = facestyle_face::photo::image_files(dir)?;
    files.truncate(limit);
    Ok(files)
}

/// Per-image timings (ms) of one pass over some images: detection of each image, alignment and
/// embedding of its largest face, then detect + align + embed of each image again in one go.
#[derive(Default, serde::Serialize)]
struct FaceTimes {
    detect: Vec<f64>,
    align: Vec<f64>,
    embed: Vec<f64>,
    full: Vec<f64>,
}

fn face_pass(
    engine: &FaceEngine,
    decoded: &[image::RgbImage],
    crops: &mut Vec<image::RgbImage>,
) -> FaceTimes {
    let mut times = FaceTimes::default();
    for img in decoded {
        let t = Instant::now();
        let faces = engine.detect(img);
        times.detect.push(ms(t));
        let Some(f) = largest(&faces) else { continue };
        let t = Instant::now();
        let crop = align_face(img, &f.landmarks);
        times.align.push(ms(t));
        let t = Instant::now();
        engine.embed_crops(std::slice::from_ref(&crop));
        times.embed.push(ms(t));
        crops.push(crop);
    }
    for img in decoded {
        let t = Instant::now();
        let faces = engine.detect(img);
        if let Some(f) = largest(&faces) {
            engine.embed_crops(&[align_face(img, &f.landmarks)]);
        }
        times.full.push(ms(t));
    }
    times
}

/// `bench face --images DIR [--limit N] [--serve]`: with `--serve`, after loading it prints
/// `ready` and then, for each line `START END` read from stdin, the per-image timings of images
/// `START..END` as one JSON line, so that a script can alternate short stretches of its own
/// runs with ours (tools/bench_face.py).
fn face(args: &[String]) -> anyhow::Result<()> {
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let dir = PathBuf::from(get("--images").context("--images DIR is required")?);
    let limit: usize = get("--limit").map(|s| s.parse()).transpose()?.unwrap_or(200);
    let files = images(&dir, limit)?;
    let decoded: Vec<_> = files.iter().map(|p| load_rgb(p)).collect::<Result<_, _>>()?;
    let device = facestyle_nn::device::default_device();
    let engine = FaceEngine::load(DetectConfig::default(), device)?;
    // Warm-up (allocations, thread pool).
    for img in decoded.iter().take(3) {
        engine.analyze(img);
    }
    if args.iter().any(|a| a == "--serve") {
        return face_serve(&engine, &decoded);
    }
    let mut crops = Vec::new();
    let start = Instant::now();
    let times = face_pass(&engine, &decoded, &mut crops);
    let total = ms(start);
    let t = Instant::now();
    for chunk in crops.chunks(16) {
        engine.embed_crops(chunk);
    }
    let batch16 = ms(t) / crops.len().max(1) as f64;
    let v = FaceReport {
        images: decoded.len(),
        faces: crops.len(),
        threads: rayon::current_num_threads(),
        detect_ms: median(times.detect),
        align_ms: median(times.align),
        embed_ms: median(times.embed),
        embed_batch16_ms_per_crop: batch16,
        detect_align_embed_ms: median(times.full),
        first_pass_total_ms: total,
    };
    println!("{}", serde_json::to_string(&v)?);
    Ok(())
}

fn face_serve(engine: &FaceEngine, decoded: &[image::RgbImage]) -> anyhow::Result<()> {
    use std::io::{BufRead, Write};
    let mut out = std::io::stdout().lock();
    let ready = Ready { ready: true, images: decoded.len(), threads: rayon::current_num_threads() };
    writeln!(out, "{}", serde_json::to_string(&ready)?)?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut nums = line.split_whitespace().map(str::parse::<usize>);
        let (Some(Ok(a)), Some(Ok(b))) = (nums.next(), nums.next()) else {
            anyhow::bail!("expected `START END`, got {line:?}")
        };
        let part = decoded.get(a..b).with_context(|| format!("images {a}..{b} of {}", decoded.len()))?;
        let t = face_pass(engine, part, &mut Vec::new());
        writeln!(out, "{}", serde_json::to_string(&t)?)?;
        out.flush()?;
    }
    Ok(())
}

fn gallery(args: &[String]) -> anyhow::Result<()> {
    let rows: Vec<usize> = args
        .iter()
        .position(|a| a == "--rows")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').map(|x| x.parse()).collect::<Result<_, _>>())
        .transpose()?
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let dim = 128;
    let mut state = 42u64;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let mut results = Vec::new();
    for &n in &rows {
        let mut index = Index::new(dim);
        index.vectors.reserve(n * dim);
        let mut v = vec![0f32; dim];
        for i in 0..n {
            v.iter_mut().for_each(|x| *x = next());
            l2_normalize(&mut v);
            index.push((i / 2) as u32, &v);
        }
        let queries: Vec<Vec<f32>> = (0..30)
            .map(|_| {
                let mut q: Vec<f32> = (0..dim).map(|_| next()).collect();
                l2_normalize(&mut q);
                q
            })
            .collect();
        index.search(&queries[0], 5, Metric::SqL2);
        let times: Vec<f64> = queries
            .iter()
            .map(|q| {
                let t = Instant::now();
                std::hint::black_box(index.search(q, 5, Metric::SqL2));
                ms(t)
            })
            .collect();
        results.push(GalleryRow {
            rows: n,
            query_ms_median: median(times.clone()),
            query_ms_max: times.iter().cloned().fold(0.0, f64::max),
            memory_mib: index.memory_bytes() as f64 / 1048576.0,
        });
    }
    let report = GalleryReport { dim, threads: rayon::current_num_threads(), gallery: results };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// VGG19 to the deepest style layer of the default [`StyleConfig`](facestyle_style::StyleConfig)
/// (conv5_1) on noise images, with its pooling: forward only (inference device, images per
/// second) and forward + backward to the pixels (the cost of one style-transfer evaluation).
fn vgg(args: &[String]) -> anyhow::Result<()> {
    use facestyle_nn::burn::prelude::*;
    use facestyle_style::StyleConfig;
    use facestyle_style::vgg::Vgg19;
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let size: usize = get("--size").map(|s| s.parse()).transpose()?.unwrap_or(224);
    let height: usize = get("--height").map(|s| s.parse()).transpose()?.unwrap_or(size);
    let reps: usize = get("--reps").map(|s| s.parse()).transpose()?.unwrap_or(10);
    let weights = facestyle_style::vgg::cached_weights()?;
    let config = StyleConfig::default();
    let last = [config.style_layers.iter().map(|l| l.0).max().expect("style layers")];
    let input = |device: &Device| {
        let data: Vec<f32> = (0..3 * height * size).map(|i| (i * 7919 % 256) as f32).collect();
        Tensor::<4>::from_data(TensorData::new(data, [1, 3, height, size]), device)
    };
    let time = |f: &mut dyn FnMut()| {
        f();
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        t.elapsed().as_secs_f64() / reps as f64
    };
    let device = facestyle_nn::device::default_device();
    let net = Vgg19::from_weights(&weights, &device)?;
    let x = Vgg19::preprocess(input(&device));
    let forward = time(&mut || {
        let a = net.features(x.clone(), &last, config.pooling).remove(0);
        std::hint::black_box(facestyle_nn::pretrained::values(a.sum()));
    });
    let train = facestyle_nn::device::training_device();
    let net = Vgg19::from_weights(&weights, &train)?.no_grad();
    let x = input(&train).require_grad();
    let backward = time(&mut || {
        let a = net.features(Vgg19::preprocess(x.clone()), &last, config.pooling).remove(0);
        let grads = a.powi_scalar(2).sum().backward();
        std::hint::black_box(x.grad(&grads).map(|g| facestyle_nn::pretrained::values(g.sum())));
    });
    let report = VggReport {
        size,
        height,
        reps,
        threads: rayon::current_num_threads(),
        forward_s: forward,
        images_per_s: 1.0 / forward,
        forward_backward_s: backward,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Training steps of the compact CNN (or SFace with `--init sface`) on random 112x112 batches
/// of P x K images: forward, L2 normalisation, batch-hard triplets, backward, Adam; the same
/// step as `face train` minus data loading. Seconds per step and images per second.
fn train(args: &[String]) -> anyhow::Result<()> {
    use facestyle_face::compact::{CompactConfig, CompactNet};
    use facestyle_face::embedder::Embedder;
    use facestyle_nn::burn::optim::{AdamConfig, GradientsParams};
    use facestyle_nn::burn::prelude::*;
    use facestyle_train::triplet::{Mining, pairwise_sq_dist, select, triplet_loss};
    let get = |flag: &str, d: usize| -> anyhow::Result<usize> {
        Ok(args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map_or(Ok(d), |s| s.parse())?)
    };
    let (p, k, width, steps) = (get("--p", 16)?, get("--k", 4)?, get("--width", 32)?, get("--steps", 10)?);
    let sface = args.iter().any(|a| a == "sface");
    let device = facestyle_nn::device::training_device();
    let mut net = if sface {
        Embedder::SFace(facestyle_face::sface::SFace::load(
            &facestyle_face::engine::model_file("sface")?,
            &device,
        )?)
    } else {
        Embedder::Compact(CompactNet::new(CompactConfig { width, ..Default::default() }, &device))
    };
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let n = p * k;
    let labels: Vec<usize> = (0..n).map(|i| i / k).collect();
    let data: Vec<f32> = (0..n * 3 * 112 * 112).map(|i| (i * 7919 % 256) as f32).collect();
    let x = Tensor::<4>::from_data(TensorData::new(data, [n, 3, 112, 112]), &device);
    let mut step = |net: Embedder| -> Embedder {
        let e = net.forward(x.clone());
        let norm = e.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
        let d = pairwise_sq_dist(e / norm);
        let t =
            select(&facestyle_nn::pretrained::values(d.clone().detach()), &labels, Mining::BatchHard, 0.2, 0);
        let (loss, _) = triplet_loss(d, &t, 0.2);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        optim.step(1e-4, net, grads)
    };
    net = step(net);
    let t = Instant::now();
    for _ in 0..steps {
        net = step(net);
    }
    let s = t.elapsed().as_secs_f64() / steps as f64;
    // The forward pass alone, with the graph recorded (as in training) and in evaluation mode.
    let t = Instant::now();
    for _ in 0..steps {
        std::hint::black_box(facestyle_nn::pretrained::values(net.forward(x.clone())));
    }
    let forward = t.elapsed().as_secs_f64() / steps as f64;
    let eval = net.valid();
    let xv = x.clone().inner();
    let t = Instant::now();
    for _ in 0..steps {
        std::hint::black_box(facestyle_nn::pretrained::values(eval.forward(xv.clone())));
    }
    let forward_eval = t.elapsed().as_secs_f64() / steps as f64;
    let report = TrainReport {
        model: if sface { "sface" } else { "compact" },
        width,
        batch: n,
        steps,
        threads: rayon::current_num_threads(),
        step_s: s,
        images_per_s: n as f64 / s,
        forward_train_s: forward,
        forward_eval_s: forward_eval,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Loopback load on `facestyle serve`: `--requests` identify calls over `--concurrency`
/// connections while one more client enrolls `--enrolls` people; latency percentiles,
/// throughput, errors, and whether every enrolled person is there afterwards.
fn serve_load(args: &[String]) -> anyhow::Result<()> {
    use facestyle_serve::client::{Part, multipart, request};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let get = |flag: &str, d: usize| -> anyhow::Result<usize> {
        Ok(args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map_or(Ok(d), |s| s.parse())?)
    };
    let (requests, concurrency, enrolls) =
        (get("--requests", 500)?, get("--concurrency", 8)?, get("--enrolls", 20)?);
    let photos =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../facestyle-face/tests/fixtures/photos");
    let query = std::fs::read(photos.join("Abdullah_Gul_0008.png"))?;
    let face = std::fs::read(photos.join("Colin_Powell_0001.jpg"))?;
    let dir = tempfile::tempdir()?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    const TOKEN: &str = "bench-token-0123456789abcdef";
    let config = facestyle_serve::state::ServeConfig::new(addr, dir.path().join("g.db"), Some(TOKEN.into()));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        rt.block_on(facestyle_serve::serve_on(config, listener, async {
            let _ = stop_rx.await;
        }))
    });
    // Wait for the models to load and the port to answer.
    while request(addr, "GET", "/healthz", None, None).is_err() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let first = multipart(&[("name", Part::Text("seed")), ("image", Part::File("p.jpg", &face))]);
    anyhow::ensure!(
        request(addr, "POST", "/v1/enroll", Some(TOKEN), Some(&first))?.status == 200,
        "seed enrolment"
    );
    let errors = AtomicUsize::new(0);
    let next = AtomicUsize::new(0);
    let body = multipart(&[("image", Part::File("q.png", &query))]);
    let start = Instant::now();
    let (latencies, enrolled) = std::thread::scope(|s| {
        let identify: Vec<_> = (0..concurrency)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    while next.fetch_add(1, Ordering::SeqCst) < requests {
                        let t = Instant::now();
                        match request(addr, "POST", "/v1/identify", Some(TOKEN), Some(&body)) {
                            Ok(r) if r.status == 200 => mine.push(ms(t)),
                            _ => {
                                errors.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                    mine
                })
            })
            .collect();
        let enroller = s.spawn(|| {
            let mut names = Vec::new();
            for i in 0..enrolls {
                let name = format!("person{i}");
                let b = multipart(&[("name", Part::Text(&name)), ("image", Part::File("p.jpg", &face))]);
                match request(addr, "POST", "/v1/enroll", Some(TOKEN), Some(&b)) {
                    Ok(r) if r.status == 200 => names.push(name),
                    _ => {
                        errors.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            names
        });
        let lat: Vec<f64> = identify.into_iter().flat_map(|h| h.join().expect("client thread")).collect();
        (lat, enroller.join().expect("enroll thread"))
    });
    let seconds = start.elapsed().as_secs_f64();
    let people = request(addr, "GET", "/v1/people", Some(TOKEN), None)?.json();
    let present: Vec<&str> = people["people"]
        .as_array()
        .map(|v| v.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    let missing = enrolled.iter().filter(|n| !present.contains(&n.as_str())).count();
    let _ = stop_tx.send(());
    server.join().expect("server thread").map_err(anyhow::Error::msg)?;
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        sorted.get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1))).copied()
    };
    let report = ServeReport {
        identify_requests: requests,
        concurrency,
        ok: latencies.len(),
        errors: errors.load(Ordering::SeqCst),
        enrolled: enrolled.len(),
        missing_after: missing,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        seconds,
        identify_per_s: latencies.len() as f64 / seconds,
        threads: rayon::current_num_threads(),
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = facestyle_nn::isa::from_env() {
        anyhow::bail!(e);
    }
    // The machine and the kernels' path, for whoever reads the numbers.
    eprintln!("cpu: {}; kernels: {} path", facestyle_nn::isa::cpu_description(), facestyle_nn::isa::active());
    match args.first().map(String::as_str) {
        Some("face") => face(&args[1..]),
        Some("gallery") => gallery(&args[1..]),
        Some("vgg") => vgg(&args[1..]),
        Some("serve") => serve_load(&args[1..]),
        Some("train") => train(&args[1..]),
        Some("crops") => crops(&args[1..]),
        _ => anyhow::bail!(
            "usage: bench face --images DIR [--limit N] [--serve] | bench gallery [--rows 10000,100000,1000000] \
             | bench vgg [--size 224] [--reps 10] | bench serve [--requests 500] [--concurrency 8] [--enrolls 20] \
             | bench train [--p 16] [--k 4] [--width 32] [--steps 10] [sface] \
             | bench crops --lfw DIR [--n 2000] [--shrink 1] [--style DIR] [--out FILE] \
             | bench crops --photos DIR --save DIR [--shrink 1] [--size WxH]"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// `bench crops`: the detector on close crops of faces.

/// One kind of close crop: `w` x `h` pixels, in colour or as 3-channel grey.
#[derive(Clone, Copy)]
struct Variant {
    name: &'static str,
    w: u32,
    h: u32,
    grey: bool,
}

const VARIANTS: [Variant; 8] = [
    Variant { name: "92x112 colour", w: 92, h: 112, grey: false },
    Variant { name: "92x112 grey", w: 92, h: 112, grey: true },
    Variant { name: "64x64 colour", w: 64, h: 64, grey: false },
    Variant { name: "64x64 grey", w: 64, h: 64, grey: true },
    Variant { name: "112x112 colour", w: 112, h: 112, grey: false },
    Variant { name: "112x112 grey", w: 112, h: 112, grey: true },
    Variant { name: "160x160 colour", w: 160, h: 160, grey: false },
    Variant { name: "160x160 grey", w: 160, h: 160, grey: true },
];

/// The close crop of `face` in `img`: the detector's box height (times `shrink`) from the top
/// of the box to its bottom, centred on the box, as wide as the variant's aspect asks, resized
/// to the variant's size; with the map `[x0, y0, sx, sy]` from crop pixels to `img`'s
/// (`x0 + x * sx`, `y0 + y * sy`).
fn close_crop(img: &image::RgbImage, face: &Face, v: Variant, shrink: f32) -> (image::RgbImage, [f32; 4]) {
    let [x, y, w, h] = face.bbox;
    let (cx, cy) = (x + w / 2.0, y + h / 2.0);
    let ch = h * shrink;
    let cw = ch * v.w as f32 / v.h as f32;
    let x0 = (cx - cw / 2.0).round().max(0.0) as u32;
    let y0 = (cy - ch / 2.0).round().max(0.0) as u32;
    let x1 = ((cx + cw / 2.0).round() as u32).min(img.width());
    let y1 = ((cy + ch / 2.0).round() as u32).min(img.height());
    let (cw, ch) = (x1.saturating_sub(x0).max(1), y1.saturating_sub(y0).max(1));
    let cut = image::imageops::crop_imm(img, x0, y0, cw, ch).to_image();
    let out = image::imageops::resize(&cut, v.w, v.h, image::imageops::FilterType::CatmullRom);
    let map = [x0 as f32, y0 as f32, cw as f32 / v.w as f32, ch as f32 / v.h as f32];
    (if v.grey { grey(out) } else { out }, map)
}

/// Retry passes measured on an image where the plain pass finds no face at 0.9: the plain
/// pass itself at lower scores, and the image with a border of each size and fill.
const PADS: [f32; 4] = [0.15, 0.25, 0.35, 0.5];
const FILLS: [PadFill; 3] = [PadFill::Edge, PadFill::Mean, PadFill::Black];
const SCORES: [f32; 5] = [0.9, 0.8, 0.7, 0.6, 0.5];

/// The passes: `None` is the plain image, `Some((pad, fill))` a padded one.
fn pass_kinds() -> Vec<Option<(f32, PadFill)>> {
    let mut v = vec![None];
    for pad in PADS {
        for fill in FILLS {
            v.push(Some((pad, fill)));
        }
    }
    v
}

fn pass_name(p: Option<(f32, PadFill)>) -> String {
    match p {
        None => "plain".to_string(),
        Some((pad, fill)) => format!("pad {pad} {fill:?}").to_lowercase(),
    }
}

/// Every pass's faces (at score >= the lowest of [`SCORES`], no retry of the detector's own):
/// only the plain pass when it finds a face at the default threshold.
fn all_passes(engine: &FaceEngine, img: &image::RgbImage) -> Vec<Vec<Face>> {
    let low = DetectConfig { score_threshold: SCORES[SCORES.len() - 1], ..plain_config() };
    let plain = engine.detector.detect_with(img, &low);
    if plain.iter().any(|f| f.score >= SCORES[0]) {
        return vec![plain];
    }
    let mut out = vec![plain];
    for (pad, fill) in pass_kinds().into_iter().flatten() {
        out.push(engine.detector.detect_padded(img, pad, fill, &low));
    }
    out
}

/// The detector's settings without its retry.
fn plain_config() -> DetectConfig {
    DetectConfig { retry: None, ..DetectConfig::default() }
}

/// A retry strategy: after the plain pass at 0.9 finds nothing, these passes (indices into
/// [`pass_kinds`]) at these scores, in order, until one finds a face.
type Strategy = (String, Vec<(usize, f32)>);

fn strategies() -> Vec<Strategy> {
    let kinds = pass_kinds();
    let mut out: Vec<Strategy> = vec![("none".into(), vec![])];
    for s in SCORES[1..].iter().copied() {
        out.push((format!("plain @{s}"), vec![(0, s)]));
    }
    for (k, kind) in kinds.iter().enumerate().skip(1) {
        for s in SCORES {
            out.push((format!("{} @{s}", pass_name(*kind)), vec![(k, s)]));
        }
        for s in [0.8, 0.7, 0.6] {
            out.push((format!("plain @{s}, then {} @{s}", pass_name(*kind)), vec![(0, s), (k, s)]));
        }
    }
    out
}

/// Each image's best score per pass (-1 when a pass finds nothing at the lowest score; only
/// the plain pass when it finds a face at 0.9).
#[derive(Default)]
struct Tally {
    best: Vec<Vec<f32>>,
}

impl Tally {
    fn add(&mut self, passes: &[Vec<Face>]) {
        self.best.push(passes.iter().map(|p| p.iter().map(|f| f.score).fold(-1.0, f32::max)).collect());
    }

    /// Images where `strategy` finds no face.
    fn misses(&self, strategy: &[(usize, f32)]) -> usize {
        let found = |b: &Vec<f32>| {
            b[0] >= SCORES[0] || strategy.iter().any(|&(k, s)| b.get(k).is_some_and(|&x| x >= s))
        };
        self.best.iter().filter(|b| !found(b)).count()
    }

    fn report(&self) -> TallyReport {
        let misses = strategies().into_iter().map(|(name, st)| (name, self.misses(&st))).collect();
        TallyReport { images: self.best.len(), misses }
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn below(&mut self, n: u32) -> u32 {
        (self.unit() * n as f32) as u32 % n.max(1)
    }
}

fn grey(img: image::RgbImage) -> image::RgbImage {
    image::DynamicImage::ImageLuma8(image::DynamicImage::ImageRgb8(img).to_luma8()).to_rgb8()
}

/// Pictures without a face: tiles of the paintings and photos in `style_dir` (portraits
/// skipped), the whole pictures, and synthetic textures, in colour and grey.
fn non_faces(style_dir: &std::path::Path) -> anyhow::Result<Vec<(String, image::RgbImage)>> {
    use image::imageops::{FilterType, crop_imm, resize};
    const PORTRAITS: [&str; 3] = ["picasso_selfport1907", "woman-with-hat-matisse", "the_scream"];
    const SIZES: [(u32, u32); 5] = [(64, 64), (92, 112), (112, 112), (160, 160), (250, 250)];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    for path in facestyle_face::photo::image_files(style_dir)? {
        let stem = path.file_stem().unwrap_or_default().to_string_lossy().to_string();
        if PORTRAITS.contains(&stem.as_str()) {
            continue;
        }
        let img = load_rgb(&path)?;
        let (w, h) = img.dimensions();
        let small =
            resize(&img, 640.min(w), (640.min(w) as f32 * h as f32 / w as f32) as u32, FilterType::Triangle);
        out.push((format!("{stem} whole"), small.clone()));
        out.push((format!("{stem} whole grey"), grey(small)));
        for (tw, th) in SIZES {
            for i in 0..60 {
                let side = (0.1 + 0.5 * rng.unit()) * w.min(h) as f32;
                let (cw, ch) = ((side * tw as f32 / th as f32) as u32, side as u32);
                let (x, y) = (rng.below(w - cw), rng.below(h - ch));
                let tile = resize(&crop_imm(&img, x, y, cw, ch).to_image(), tw, th, FilterType::CatmullRom);
                let name = format!("{stem} tile {tw}x{th} #{i}");
                out.push(if i % 2 == 0 { (name, tile) } else { (name + " grey", grey(tile)) });
            }
        }
    }
    for (w, h) in SIZES {
        for seed in 0..3u64 {
            let mut rng = Rng(0x1234_5678 + seed * 7919 + u64::from(w));
            let c = [rng.below(256) as u8, rng.below(256) as u8, rng.below(256) as u8];
            let cell = 2 + rng.below(14);
            let noise: Vec<u8> = (0..w * h).map(|_| rng.below(256) as u8).collect();
            let blur = 1.0 + 4.0 * rng.unit();
            let noisy = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([noise[(y * w + x) as usize]; 3]));
            let patterns: Vec<(&str, image::RgbImage)> = vec![
                ("uniform", image::RgbImage::from_pixel(w, h, image::Rgb(c))),
                (
                    "gradient",
                    image::RgbImage::from_fn(w, h, |x, y| {
                        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, c[2]])
                    }),
                ),
                (
                    "checker",
                    image::RgbImage::from_fn(w, h, |x, y| {
                        if (x / cell + y / cell).is_multiple_of(2) {
                            image::Rgb(c)
                        } else {
                            image::Rgb([255 - c[0], 255 - c[1], 255 - c[2]])
                        }
                    }),
                ),
                (
                    "stripes",
                    image::RgbImage::from_fn(w, h, |x, _| {
                        if (x / cell).is_multiple_of(2) { image::Rgb(c) } else { image::Rgb([20, 20, 20]) }
                    }),
                ),
                (
                    "rings",
                    image::RgbImage::from_fn(w, h, |x, y| {
                        let r = ((x as f32 - w as f32 / 2.0).hypot(y as f32 - h as f32 / 2.0) / cell as f32)
                            as u32;
                        if r.is_multiple_of(2) { image::Rgb(c) } else { image::Rgb([235, 235, 235]) }
                    }),
                ),
                ("noise", noisy.clone()),
                ("blurred noise", image::imageops::blur(&noisy, blur)),
                (
                    "colour noise",
                    image::RgbImage::from_fn(w, h, |_, _| {
                        image::Rgb([rng.below(256) as u8, rng.below(256) as u8, rng.below(256) as u8])
                    }),
                ),
            ];
            for (name, img) in patterns {
                out.push((format!("{name} {w}x{h} seed {seed}"), img));
            }
        }
    }
    Ok(out)
}

/// People (sub-folders of `root`, sorted) and their images (sorted).
fn lfw_people(root: &std::path::Path) -> anyhow::Result<Vec<Vec<PathBuf>>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("{}: cannot list", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| Ok(facestyle_face::photo::image_files(d)?)).collect()
}

/// How the library's detector (with its retry) did on one kind of image, and whether the
/// faces it found are the same person as on the whole photo.
#[derive(Default)]
struct Outcome {
    images: usize,
    /// Faces found without a retry, by the low-score retry, on the padded image; none.
    plain: usize,
    low_score: usize,
    padded: usize,
    none: usize,
    /// Cosine between the crop's face and the whole photo's face, by how it was found
    /// (plain, retry).
    cos: [Vec<f32>; 2],
    /// Crops whose face is the whole photo's person at the default threshold (plain, retry).
    same: [usize; 2],
    /// Mean distance of the five landmarks from the whole photo's, over the eye distance.
    off: [Vec<f32>; 2],
    /// Pairs with another photo of the person: (pairs, same on the whole photo, same on the
    /// crop, same on both).
    verify: [[usize; 4]; 2],
    /// Milliseconds per image without and with the retry.
    ms: [f64; 2],
}

fn percentile(v: &[f32], q: f64) -> Option<f32> {
    let mut v = v.to_vec();
    v.sort_by(f32::total_cmp);
    (!v.is_empty()).then(|| v[((v.len() - 1) as f64 * q).round() as usize])
}

impl Outcome {
    fn report(&self) -> OutcomeReport {
        let cos = |v: &Vec<f32>| Cosines {
            n: v.len(),
            mean: v.iter().sum::<f32>() / v.len().max(1) as f32,
            p01: percentile(v, 0.01),
            min: percentile(v, 0.0),
        };
        let errors = |v: &Vec<f32>| LandmarkErrors {
            mean: v.iter().sum::<f32>() / v.len().max(1) as f32,
            p99: percentile(v, 0.99),
            max: percentile(v, 1.0),
            above_0_25: v.iter().filter(|&&e| e > 0.25).count(),
        };
        let verify =
            |v: &[usize; 4]| VerifyCounts { pairs: v[0], same_whole: v[1], same_crop: v[2], same_both: v[3] };
        let n = self.images.max(1) as f64;
        OutcomeReport {
            images: self.images,
            plain: self.plain,
            low_score: self.low_score,
            padded: self.padded,
            no_face: self.none,
            no_face_rate: self.none as f64 / n,
            cosine_to_whole_photo: PlainRetry { plain: cos(&self.cos[0]), retry: cos(&self.cos[1]) },
            same_as_whole_photo: PlainRetry { plain: self.same[0], retry: self.same[1] },
            landmark_error: PlainRetry { plain: errors(&self.off[0]), retry: errors(&self.off[1]) },
            verify_other_photo: PlainRetry { plain: verify(&self.verify[0]), retry: verify(&self.verify[1]) },
            ms_per_image: MsPerImage { without_retry: self.ms[0] / n, with_retry: self.ms[1] / n },
        }
    }
}

/// What a retry strategy study found on a set of images: misses per strategy.
#[derive(serde::Serialize)]
struct TallyReport {
    images: usize,
    misses: BTreeMap<String, usize>,
}

#[derive(serde::Serialize)]
struct OutcomeReport {
    images: usize,
    plain: usize,
    low_score: usize,
    padded: usize,
    no_face: usize,
    no_face_rate: f64,
    cosine_to_whole_photo: PlainRetry<Cosines>,
    same_as_whole_photo: PlainRetry<usize>,
    landmark_error: PlainRetry<LandmarkErrors>,
    verify_other_photo: PlainRetry<VerifyCounts>,
    ms_per_image: MsPerImage,
}

/// A figure for faces found without the retry and for those found by it.
#[derive(serde::Serialize)]
struct PlainRetry<T> {
    plain: T,
    retry: T,
}

#[derive(serde::Serialize)]
struct Cosines {
    n: usize,
    mean: f32,
    p01: Option<f32>,
    min: Option<f32>,
}

#[derive(serde::Serialize)]
struct LandmarkErrors {
    mean: f32,
    p99: Option<f32>,
    max: Option<f32>,
    #[serde(rename = "above_0.25")]
    above_0_25: usize,
}

#[derive(serde::Serialize)]
struct VerifyCounts {
    pairs: usize,
    same_whole: usize,
    same_crop: usize,
    same_both: usize,
}

#[derive(serde::Serialize)]
struct MsPerImage {
    without_retry: f64,
    with_retry: f64,
}

/// The library's detection of `img` with and without its retry (timed), into `out`; the
/// largest face found with the retry.
fn library(engine: &FaceEngine, img: &image::RgbImage, out: &mut Outcome) -> Option<Face> {
    use facestyle_face::detect::Fallback;
    out.images += 1;
    let t = Instant::now();
    let plain = engine.detector.detect_with(img, &plain_config());
    out.ms[0] += ms(t);
    let t = Instant::now();
    let faces = engine.detector.detect_with(img, &DetectConfig::default());
    out.ms[1] += ms(t);
    assert!(plain.is_empty() || faces == plain, "the retry changes nothing when a face scores 0.9");
    let face = largest(&faces).cloned();
    match face.as_ref().map(|f| f.fallback) {
        None => out.none += 1,
        Some(None) => out.plain += 1,
        Some(Some(Fallback::LowScore)) => out.low_score += 1,
        Some(Some(Fallback::Padded)) => out.padded += 1,
    }
    face
}

fn embed_face(engine: &FaceEngine, img: &image::RgbImage, face: &Face) -> Vec<f32> {
    engine.embed_crops(&[align_face(img, &face.landmarks)]).remove(0)
}

/// `bench crops --lfw DIR [--n 2000] [--shrink 1] [--style DIR] [--save DIR] [--out FILE]`:
/// builds the close-crop set (the `n` people spread evenly over LFW's sorted people, each one's
/// first image; the face the detector finds nearest the centre of the 250x250 image, cropped at
/// its box in every [`VARIANTS`] size, colour and grey), and measures on it, on the whole
/// images and on pictures without faces ([`non_faces`] of `--style`): the plain detector at
/// 0.9 and each retry of [`strategies`]; the library's detector with its retry, and whether
/// the faces it finds on the crops are the same person (cosine to the whole photo's face,
/// landmarks, verification against the person's second photo).
///
/// `bench crops --photos DIR --save DIR [--shrink S] [--size WxH]` writes the crops of every
/// face of every photo in DIR instead (the [`VARIANTS`] sizes, or WxH in colour and grey), and
/// prints for each the best score without the retry and how the retry finds a face.
fn crops(args: &[String]) -> anyhow::Result<()> {
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let shrink: f32 = get("--shrink").map(|s| s.parse()).transpose()?.unwrap_or(1.0);
    let save = get("--save").map(PathBuf::from);
    let device = facestyle_nn::device::default_device();
    let engine = FaceEngine::load(plain_config(), device)?;
    if let Some(dir) = get("--photos") {
        let save = save.context("--photos needs --save DIR")?;
        let variants = match get("--size") {
            None => VARIANTS.to_vec(),
            Some(size) => {
                let (w, h) = size.split_once('x').context("--size WxH")?;
                let (w, h) = (w.parse()?, h.parse()?);
                vec![Variant { name: "", w, h, grey: false }, Variant { name: "", w, h, grey: true }]
            }
        };
        return crop_photos(&engine, std::path::Path::new(&dir), &save, shrink, &variants);
    }
    let lfw = PathBuf::from(get("--lfw").context("--lfw DIR (LFW's images folder) is required")?);
    let n: usize = get("--n").map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let people = lfw_people(&lfw)?;
    let n = n.min(people.len());
    let pick: Vec<&Vec<PathBuf>> = (0..n).map(|i| &people[i * people.len() / n]).collect();
    let verifier = Verifier::standard(Metric::SqL2);
    let start = Instant::now();
    let mut tallies: Vec<Tally> = VARIANTS.iter().map(|_| Tally::default()).collect();
    let mut outcomes: Vec<Outcome> = VARIANTS.iter().map(|_| Outcome::default()).collect();
    let (mut full_tally, mut full_outcome) = (Tally::default(), Outcome::default());
    let (mut no_full_face, mut retry_covers_centre) = (0, 0);
    let mut missed: Vec<Vec<String>> = vec![Vec::new(); VARIANTS.len()];
    for (i, files) in pick.iter().enumerate() {
        let path = &files[0];
        let stem = path.file_stem().unwrap_or_default().to_string_lossy().to_string();
        let img = load_rgb(path)?;
        full_tally.add(&all_passes(&engine, &img));
        let found = library(&engine, &img, &mut full_outcome);
        let faces = engine.detector.detect_with(&img, &plain_config());
        let Some(face) = facestyle_face::evaluate::central(&faces, img.width(), img.height()) else {
            no_full_face += 1;
            let (cx, cy) = (img.width() as f32 / 2.0, img.height() as f32 / 2.0);
            if let Some([x, y, w, h]) = found.map(|f| f.bbox)
                && (x..=x + w).contains(&cx)
                && (y..=y + h).contains(&cy)
            {
                retry_covers_centre += 1;
            }
            continue;
        };
        let whole = embed_face(&engine, &img, face);
        let other = match files.get(1) {
            Some(p) => {
                let (crop, _) = facestyle_face::evaluate::eval_crop(&engine, &load_rgb(p)?);
                Some(engine.embed_crops(&[crop]).remove(0))
            }
            None => None,
        };
        let eyes =
            (face.landmarks[0][0] - face.landmarks[1][0]).hypot(face.landmarks[0][1] - face.landmarks[1][1]);
        for (k, v) in VARIANTS.iter().enumerate() {
            let (crop, [x0, y0, sx, sy]) = close_crop(&img, face, *v, shrink);
            let passes = all_passes(&engine, &crop);
            tallies[k].add(&passes);
            let out = &mut outcomes[k];
            let Some(f) = library(&engine, &crop, out) else {
                missed[k].push(stem.clone());
                continue;
            };
            let r = usize::from(f.fallback.is_some());
            let e = embed_face(&engine, &crop, &f);
            out.cos[r].push(facestyle_face::metric::dot(&e, &whole));
            out.same[r] += usize::from(verifier.verdict(&e, &whole).same);
            let off = f
                .landmarks
                .iter()
                .zip(&face.landmarks)
                .map(|(p, q)| (x0 + p[0] * sx - q[0]).hypot(y0 + p[1] * sy - q[1]))
                .sum::<f32>()
                / 5.0;
            out.off[r].push(off / eyes);
            if let Some(o) = &other {
                let (a, b) = (verifier.verdict(&whole, o).same, verifier.verdict(&e, o).same);
                let c = &mut out.verify[r];
                c[0] += 1;
                c[1] += usize::from(a);
                c[2] += usize::from(b);
                c[3] += usize::from(a && b);
            }
            if let Some(dir) = &save
                && (i < 10 || f.fallback.is_some())
            {
                std::fs::create_dir_all(dir)?;
                crop.save(dir.join(format!("{stem}_{}.png", v.name.replace(' ', "_"))))?;
            }
        }
        if i % 200 == 199 {
            eprintln!("{} images, {:.0} s", i + 1, start.elapsed().as_secs_f64());
        }
    }
    let (mut fp_tally, mut fp_outcome, mut fp_names) = (Tally::default(), Outcome::default(), Vec::new());
    if let Some(style) = get("--style") {
        for (name, img) in non_faces(std::path::Path::new(&style))? {
            fp_tally.add(&all_passes(&engine, &img));
            if let Some(f) = library(&engine, &img, &mut fp_outcome) {
                fp_names.push(FoundFace { image: name, score: f.score, fallback: f.fallback });
            }
        }
    }
    let v = CropsReport {
        people: n,
        shrink,
        seconds: start.elapsed().as_secs_f64(),
        threads: rayon::current_num_threads(),
        whole_images: WholeImages {
            tally: full_tally.report(),
            library: full_outcome.report(),
            no_face_at_0_9: no_full_face,
            retry_face_covers_centre: retry_covers_centre,
        },
        variants: VARIANTS
            .iter()
            .zip(&tallies)
            .zip(&outcomes)
            .zip(&missed)
            .map(|(((v, t), o), m)| VariantReport {
                variant: v.name,
                tally: t.report(),
                library: o.report(),
                missed: m,
            })
            .collect(),
        non_faces: NonFaces { tally: fp_tally.report(), library: fp_outcome.report(), faces_found: fp_names },
    };
    let text = serde_json::to_string_pretty(&v)?;
    match get("--out") {
        Some(out) => std::fs::write(&out, text).with_context(|| format!("{out}: cannot write"))?,
        None => println!("{text}"),
    }
    let pct = |k: usize, n: usize| format!("{k} ({:.2}%)", 100.0 * k as f64 / n.max(1) as f64);
    eprintln!(
        "{:<16} {:>6} {:>14} {:>16} {:>9} {:>6}",
        "crop", "images", "no face at 0.9", "no face, retry", "low_score", "padded"
    );
    for ((v, t), o) in VARIANTS.iter().zip(&tallies).zip(&outcomes) {
        let (before, after) = (pct(t.misses(&[]), o.images), pct(o.none, o.images));
        eprintln!(
            "{:<16} {:>6} {before:>14} {after:>16} {:>9} {:>6}",
            v.name, o.images, o.low_score, o.padded
        );
    }
    let o = &fp_outcome;
    let at_09 = o.images - fp_tally.misses(&[]);
    eprintln!(
        "pictures without a face: {}, a face found at 0.9: {at_09}, with the retry: {}",
        o.images,
        o.images - o.none
    );
    Ok(())
}

/// The close crops of every face of every photo in `dir` into `save` (`<photo>_<face>_<variant>.png`),
/// with a line per crop: the best score without the retry and how the retry found a face.
fn crop_photos(
    engine: &FaceEngine,
    dir: &std::path::Path,
    save: &std::path::Path,
    shrink: f32,
    variants: &[Variant],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(save)?;
    for path in facestyle_face::photo::image_files(dir)? {
        let img = load_rgb(&path)?;
        let faces = engine.detector.detect_with(&img, &plain_config());
        let stem = path.file_stem().unwrap_or_default().to_string_lossy().to_string();
        for (v, (k, face)) in variants.iter().flat_map(|v| faces.iter().enumerate().map(move |f| (*v, f))) {
            let (crop, _) = close_crop(&img, face, v, shrink);
            let colour = if v.grey { "grey" } else { "colour" };
            let name = format!("{stem}_{k}_{}x{}_{colour}.png", v.w, v.h);
            // Grey crops are written as one-channel files, as face data sets hold them.
            if v.grey {
                image::DynamicImage::ImageRgb8(crop.clone()).to_luma8().save(save.join(&name))?;
            } else {
                crop.save(save.join(&name))?;
            }
            let crop = load_rgb(&save.join(&name))?;
            let low = DetectConfig { score_threshold: 0.0, ..plain_config() };
            let best = engine.detector.detect_with(&crop, &low).first().map(|f| f.score);
            let retry = engine.detector.detect_with(&crop, &DetectConfig::default());
            let found = largest(&retry).map(|f| f.fallback);
            let line = CropLine { crop: &name, best_score: best, retry: found };
            println!("{}", serde_json::to_string(&line)?);
        }
    }
    Ok(())
}

/// `bench face`: median milliseconds per image of each stage, and of the whole pipeline.
#[derive(serde::Serialize)]
struct FaceReport {
    images: usize,
    faces: usize,
    threads: usize,
    detect_ms: f64,
    align_ms: f64,
    embed_ms: f64,
    embed_batch16_ms_per_crop: f64,
    detect_align_embed_ms: f64,
    first_pass_total_ms: f64,
}

/// `bench face --serve`: the line that says the images are decoded and the models loaded.
#[derive(serde::Serialize)]
struct Ready {
    ready: bool,
    images: usize,
    threads: usize,
}

#[derive(serde::Serialize)]
struct GalleryRow {
    rows: usize,
    query_ms_median: f64,
    query_ms_max: f64,
    memory_mib: f64,
}

#[derive(serde::Serialize)]
struct GalleryReport {
    dim: usize,
    threads: usize,
    gallery: Vec<GalleryRow>,
}

#[derive(serde::Serialize)]
struct VggReport {
    size: usize,
    height: usize,
    reps: usize,
    threads: usize,
    forward_s: f64,
    images_per_s: f64,
    forward_backward_s: f64,
}

#[derive(serde::Serialize)]
struct TrainReport {
    model: &'static str,
    width: usize,
    batch: usize,
    steps: usize,
    threads: usize,
    step_s: f64,
    images_per_s: f64,
    forward_train_s: f64,
    forward_eval_s: f64,
}

#[derive(serde::Serialize)]
struct ServeReport {
    identify_requests: usize,
    concurrency: usize,
    ok: usize,
    errors: usize,
    enrolled: usize,
    missing_after: usize,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    seconds: f64,
    identify_per_s: f64,
    threads: usize,
}

/// `bench crops --photos`: one saved crop's best score and what the retry found.
#[derive(serde::Serialize)]
struct CropLine<'a> {
    crop: &'a str,
    best_score: Option<f32>,
    retry: Option<Option<facestyle_face::detect::Fallback>>,
}

/// `bench crops --lfw`: the retry strategies and the library's detector on whole photos, on
/// each kind of crop, and on pictures without faces.
#[derive(serde::Serialize)]
struct CropsReport<'a> {
    people: usize,
    shrink: f32,
    seconds: f64,
    threads: usize,
    whole_images: WholeImages,
    variants: Vec<VariantReport<'a>>,
    non_faces: NonFaces,
}

#[derive(serde::Serialize)]
struct WholeImages {
    tally: TallyReport,
    library: OutcomeReport,
    #[serde(rename = "no_face_at_0.9")]
    no_face_at_0_9: usize,
    retry_face_covers_centre: usize,
}

#[derive(serde::Serialize)]
struct VariantReport<'a> {
    variant: &'a str,
    tally: TallyReport,
    library: OutcomeReport,
    missed: &'a [String],
}

#[derive(serde::Serialize)]
struct NonFaces {
    tally: TallyReport,
    library: OutcomeReport,
    faces_found: Vec<FoundFace>,
}

/// A face the detector reports on a picture without faces.
#[derive(serde::Serialize)]
struct FoundFace {
    image: String,
    score: f32,
    fallback: Option<facestyle_face::detect::Fallback>,
}
