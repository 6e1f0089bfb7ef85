//! `bench`: timings of the face pipeline, the gallery search and VGG19, printed as one JSON object.
//!
//! `tools/bench_face.py` runs this binary and the reference runtimes (OpenCV DNN,
//! onnxruntime) on the same images in one script run and prints the ratios.
//!
//!     cargo run --release -p facestyle --bin bench -- face --images DIR [--limit 200] [--serve]
//!     cargo run --release -p facestyle --bin bench -- gallery --rows 10000,100000,1000000
//!     cargo run --release -p facestyle --bin bench -- vgg --size 224 --reps 10
//!     cargo run --release -p facestyle --bin bench -- serve --requests 500 --concurrency 8

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use facestyle_face::align::align_face;
use facestyle_face::detect::{DetectConfig, largest};
use facestyle_face::engine::FaceEngine;
use facestyle_face::metric::{Metric, l2_normalize};
use facestyle_face::photo::load_rgb;
use facestyle_face::search::Index;
use serde_json::json;

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
#[derive(Default)]
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
    let v = json!({
        "images": decoded.len(), "faces": crops.len(),
        "threads": rayon::current_num_threads(),
        "detect_ms": median(times.detect), "align_ms": median(times.align), "embed_ms": median(times.embed),
        "embed_batch16_ms_per_crop": batch16,
        "detect_align_embed_ms": median(times.full),
        "first_pass_total_ms": total,
    });
    println!("{v}");
    Ok(())
}

fn face_serve(engine: &FaceEngine, decoded: &[image::RgbImage]) -> anyhow::Result<()> {
    use std::io::{BufRead, Write};
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        json!({"ready": true, "images": decoded.len(), "threads": rayon::current_num_threads()})
    )?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut nums = line.split_whitespace().map(str::parse::<usize>);
        let (Some(Ok(a)), Some(Ok(b))) = (nums.next(), nums.next()) else {
            anyhow::bail!("expected `START END`, got {line:?}")
        };
        let part = decoded.get(a..b).with_context(|| format!("images {a}..{b} of {}", decoded.len()))?;
        let t = face_pass(engine, part, &mut Vec::new());
        let v = json!({"detect": t.detect, "align": t.align, "embed": t.embed, "full": t.full});
        writeln!(out, "{v}")?;
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
        results.push(json!({"rows": n, "query_ms_median": median(times.clone()),
            "query_ms_max": times.iter().cloned().fold(0.0, f64::max), "memory_mib": index.memory_bytes() as f64 / 1048576.0}));
    }
    println!("{}", json!({"dim": dim, "threads": rayon::current_num_threads(), "gallery": results}));
    Ok(())
}

/// VGG19 to conv5_1 on noise images: forward only (inference device, images per second) and
/// forward + backward to the pixels (the cost of one style-transfer evaluation).
fn vgg(args: &[String]) -> anyhow::Result<()> {
    use facestyle_nn::burn::prelude::*;
    use facestyle_style::vgg::{Pooling, Vgg19, layer_index};
    let get = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let size: usize = get("--size").map(|s| s.parse()).transpose()?.unwrap_or(224);
    let height: usize = get("--height").map(|s| s.parse()).transpose()?.unwrap_or(size);
    let reps: usize = get("--reps").map(|s| s.parse()).transpose()?.unwrap_or(10);
    let weights = facestyle_style::vgg::cached_weights().map_err(anyhow::Error::msg)?;
    let last = [layer_index("conv5_1").expect("a VGG19 layer")];
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
    let net = Vgg19::from_weights(&weights, &device).map_err(anyhow::Error::msg)?;
    let x = Vgg19::preprocess(input(&device));
    let forward = time(&mut || {
        let a = net.features(x.clone(), &last, Pooling::Max).remove(0);
        std::hint::black_box(facestyle_nn::pretrained::values(a.sum()));
    });
    let train = facestyle_nn::device::training_device();
    let net = Vgg19::from_weights(&weights, &train).map_err(anyhow::Error::msg)?.no_grad();
    let x = input(&train).require_grad();
    let backward = time(&mut || {
        let a = net.features(Vgg19::preprocess(x.clone()), &last, Pooling::Max).remove(0);
        let grads = a.powi_scalar(2).sum().backward();
        std::hint::black_box(x.grad(&grads).map(|g| facestyle_nn::pretrained::values(g.sum())));
    });
    println!(
        "{}",
        json!({"size": size, "height": height, "reps": reps, "threads": rayon::current_num_threads(),
            "forward_s": forward, "images_per_s": 1.0 / forward, "forward_backward_s": backward})
    );
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
    println!(
        "{}",
        json!({"model": if sface { "sface" } else { "compact" }, "width": width, "batch": n, "steps": steps,
            "threads": rayon::current_num_threads(), "step_s": s, "images_per_s": n as f64 / s,
            "forward_train_s": forward, "forward_eval_s": forward_eval})
    );
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
    println!(
        "{}",
        json!({"identify_requests": requests, "concurrency": concurrency, "ok": latencies.len(),
            "errors": errors.load(Ordering::SeqCst), "enrolled": enrolled.len(), "missing_after": missing,
            "p50_ms": pct(0.5), "p99_ms": pct(0.99), "seconds": seconds,
            "identify_per_s": latencies.len() as f64 / seconds, "threads": rayon::current_num_threads()})
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("face") => face(&args[1..]),
        Some("gallery") => gallery(&args[1..]),
        Some("vgg") => vgg(&args[1..]),
        Some("serve") => serve_load(&args[1..]),
        Some("train") => train(&args[1..]),
        _ => anyhow::bail!(
            "usage: bench face --images DIR [--limit N] [--serve] | bench gallery [--rows 10000,100000,1000000] \
             | bench vgg [--size 224] [--reps 10] | bench serve [--requests 500] [--concurrency 8] [--enrolls 20] \
             | bench train [--p 16] [--k 4] [--width 32] [--steps 10] [sface]"
        ),
    }
}
