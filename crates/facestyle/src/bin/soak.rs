//! `soak`: a mixed load on `facestyle serve` over loopback until a deadline, then a check that
//! the gallery holds exactly what the clients were told it holds.
//!
//!     cargo run --release -p facestyle --bin soak -- [--seconds 600] [--concurrency 16]
//!
//! It starts the `facestyle` binary beside it on a free loopback port with a fresh gallery,
//! runs `--concurrency` clients that each pick verify, identify, enroll, forget or a small
//! style job by weight, and prints one JSON object: requests and errors per kind, p50/p99
//! latency, the server's peak resident memory, and the consistency check (every enrolled,
//! not forgotten person present with the right number of embeddings, nobody else). A 429 from
//! a full style queue is counted apart: it is the answer the server promises under load.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use facestyle_serve::client::{Part, Reply, multipart, request};

const TOKEN: &str = "soak-token-0123456789abcdef";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Verify,
    Identify,
    Enroll,
    Forget,
    Style,
}

/// Weights of the operations, out of 100.
const MIX: [(Op, u32); 5] =
    [(Op::Identify, 40), (Op::Verify, 30), (Op::Enroll, 15), (Op::Forget, 10), (Op::Style, 5)];

#[derive(Default)]
struct Tally {
    latencies_ms: Vec<f64>,
    ok: usize,
    busy: usize,
    errors: Vec<String>,
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn arg(args: &[String], flag: &str, default: u64) -> anyhow::Result<u64> {
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .with_context(|| format!("{flag} needs a value"))?
            .parse()
            .context(flag.to_string()),
    }
}

fn photos() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../facestyle-face/tests/fixtures/photos")
}

/// `facestyle serve` beside this binary, on a free loopback port; returns once it listens.
fn start(gallery: &std::path::Path) -> anyhow::Result<(Server, SocketAddr)> {
    let exe = std::env::current_exe()?.with_file_name("facestyle");
    anyhow::ensure!(
        exe.is_file(),
        "{} not found: build it first (cargo build --release -p facestyle)",
        exe.display()
    );
    let mut child = Command::new(&exe)
        .args(["serve", "--gallery", &gallery.display().to_string(), "--addr", "127.0.0.1:0", "--queue", "2"])
        .env("FACESTYLE_TOKEN", TOKEN)
        .stderr(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stderr.take().context("server stderr")?).lines();
    let server = Server(child);
    let addr = loop {
        let line = lines.next().context("the server stopped before listening")??;
        if let Some(rest) = line.strip_prefix("listening on http://") {
            break rest.split_whitespace().next().context("address")?.parse()?;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((server, addr))
}

/// Peak resident memory of process `pid` in MiB (Linux).
fn peak_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

fn cpu_model() -> String {
    facestyle_nn::isa::cpuinfo_field("model name").unwrap_or_else(|| "unknown".into())
}

/// A small xorshift generator: the mix needs no cryptographic quality.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as u32
    }
}

fn pick(rng: &mut Rng) -> Op {
    let mut r = rng.below(100);
    for (op, w) in MIX {
        if r < w {
            return op;
        }
        r -= w;
    }
    Op::Identify
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: soak [--seconds 600] [--concurrency 16]");
        return Ok(());
    }
    let seconds = arg(&args, "--seconds", 600)?;
    let concurrency = arg(&args, "--concurrency", 16)? as usize;
    if seconds == 0 || concurrency == 0 {
        bail!("--seconds and --concurrency must be at least 1");
    }
    let dir = tempfile::tempdir()?;
    let (server, addr) = start(&dir.path().join("g.db"))?;
    let read = |name: &str| std::fs::read(photos().join(name));
    let (gul1, gul8, powell) =
        (read("Abdullah_Gul_0001.jpg")?, read("Abdullah_Gul_0008.png")?, read("Colin_Powell_0001.jpg")?);
    let small = {
        let img = image::RgbImage::from_fn(48, 40, |x, y| image::Rgb([(x * 5) as u8, (y * 6) as u8, 120]));
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)?;
        out
    };
    let verify = multipart(&[("a", Part::File("g1.jpg", &gul1)), ("b", Part::File("p1.jpg", &powell))]);
    let identify = multipart(&[("image", Part::File("g8.png", &gul8))]);
    let style = multipart(&[
        ("content", Part::File("c.png", &small)),
        ("style", Part::File("s.png", &small)),
        ("size", Part::Text("32")),
        ("iterations", Part::Text("5")),
    ]);
    // What the clients were told the gallery holds: name -> embeddings. One person first, so
    // that identify has a gallery from the start.
    let seed = multipart(&[("name", Part::Text("seed")), ("image", Part::File("g1.jpg", &gul1))]);
    let r = request(addr, "POST", "/v1/enroll", Some(TOKEN), Some(&seed))?;
    anyhow::ensure!(r.status == 200, "seed enrolment: {} {}", r.status, String::from_utf8_lossy(&r.body));
    let expected: Mutex<HashMap<String, u64>> = Mutex::new(HashMap::from([("seed".to_string(), 1)]));
    let tallies: Mutex<BTreeMap<Op, Tally>> = Mutex::new(BTreeMap::new());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    std::thread::scope(|s| {
        for client in 0..concurrency {
            let (verify, identify, style, gul1, powell) = (&verify, &identify, &style, &gul1, &powell);
            let (expected, tallies) = (&expected, &tallies);
            s.spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (client as u64 + 1));
                let mut mine: Vec<String> = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    let op = pick(&mut rng);
                    let t = Instant::now();
                    let (reply, name): (std::io::Result<Reply>, Option<String>) = match op {
                        Op::Verify => (request(addr, "POST", "/v1/verify", Some(TOKEN), Some(verify)), None),
                        Op::Identify => {
                            (request(addr, "POST", "/v1/identify", Some(TOKEN), Some(identify)), None)
                        }
                        Op::Style => (request(addr, "POST", "/v1/style", Some(TOKEN), Some(style)), None),
                        Op::Enroll => {
                            n += 1;
                            let name = format!("client{client}-person{n}");
                            let body = multipart(&[
                                ("name", Part::Text(&name)),
                                ("image", Part::File("a.jpg", gul1)),
                                ("image", Part::File("b.jpg", powell)),
                            ]);
                            (request(addr, "POST", "/v1/enroll", Some(TOKEN), Some(&body)), Some(name))
                        }
                        Op::Forget => match mine.pop() {
                            None => continue,
                            Some(name) => {
                                let path = format!("/v1/people/{name}");
                                (request(addr, "DELETE", &path, Some(TOKEN), None), Some(name))
                            }
                        },
                    };
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    let mut all = tallies.lock().unwrap_or_else(|e| e.into_inner());
                    let tally = all.entry(op).or_default();
                    match reply {
                        Ok(r) if (200..300).contains(&r.status) => {
                            tally.ok += 1;
                            tally.latencies_ms.push(ms);
                            let mut exp = expected.lock().unwrap_or_else(|e| e.into_inner());
                            match (op, name) {
                                (Op::Enroll, Some(name)) => {
                                    exp.insert(name.clone(), r.json()["embeddings"].as_u64().unwrap_or(0));
                                    mine.push(name);
                                }
                                (Op::Forget, Some(name)) => {
                                    exp.remove(&name);
                                }
                                _ => {}
                            }
                        }
                        Ok(r) if r.status == 429 && op == Op::Style => tally.busy += 1,
                        Ok(r) => {
                            tally.errors.push(format!("{} {}", r.status, String::from_utf8_lossy(&r.body)))
                        }
                        Err(e) => tally.errors.push(e.to_string()),
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let peak = peak_mib(server.0.id());
    let people = request(addr, "GET", "/v1/people", Some(TOKEN), None)?.json();
    let present: HashMap<String, u64> = people["people"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["embeddings"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    let expected = expected.into_inner().unwrap_or_else(|e| e.into_inner());
    let missing: Vec<&String> = expected.keys().filter(|n| !present.contains_key(*n)).collect();
    let wrong_count: Vec<&String> =
        expected.iter().filter(|(n, c)| present.get(*n).is_some_and(|p| p != *c)).map(|(n, _)| n).collect();
    let unexpected: Vec<&String> = present.keys().filter(|n| !expected.contains_key(*n)).collect();
    let tallies = tallies.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut by_op = BTreeMap::new();
    let mut total = 0;
    let mut errors = 0;
    for (op, mut t) in tallies {
        t.latencies_ms.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            t.latencies_ms
                .get(((t.latencies_ms.len() as f64 * p) as usize).min(t.latencies_ms.len().saturating_sub(1)))
                .copied()
        };
        total += t.ok + t.busy + t.errors.len();
        errors += t.errors.len();
        let first_errors: Vec<String> = t.errors.iter().take(3).cloned().collect();
        let summary = OpSummary {
            ok: t.ok,
            queue_full_429: t.busy,
            errors: t.errors.len(),
            first_errors,
            p50_ms: pct(0.5),
            p99_ms: pct(0.99),
        };
        by_op.insert(format!("{op:?}").to_lowercase(), summary);
    }
    let consistent = missing.is_empty() && wrong_count.is_empty() && unexpected.is_empty();
    let report = SoakReport {
        seconds: elapsed,
        concurrency,
        requests: total,
        errors,
        requests_per_s: total as f64 / elapsed,
        by_operation: by_op,
        server_peak_rss_mib: peak,
        gallery: GalleryCheck {
            people_expected: expected.len(),
            people_present: present.len(),
            missing,
            wrong_embedding_count: wrong_count,
            unexpected,
            consistent,
        },
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    drop(server);
    anyhow::ensure!(consistent, "the gallery does not hold what the clients were told");
    Ok(())
}

/// What the soak printed: throughput, errors and latencies per operation, the server's peak
/// memory, and whether the gallery holds what the clients were told.
#[derive(serde::Serialize)]
struct SoakReport<'a> {
    seconds: f64,
    concurrency: usize,
    requests: usize,
    errors: usize,
    requests_per_s: f64,
    by_operation: BTreeMap<String, OpSummary>,
    server_peak_rss_mib: Option<u64>,
    gallery: GalleryCheck<'a>,
    cpu: String,
    cores: usize,
}

#[derive(serde::Serialize)]
struct OpSummary {
    ok: usize,
    queue_full_429: usize,
    errors: usize,
    first_errors: Vec<String>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

#[derive(serde::Serialize)]
struct GalleryCheck<'a> {
    people_expected: usize,
    people_present: usize,
    missing: Vec<&'a String>,
    wrong_embedding_count: Vec<&'a String>,
    unexpected: Vec<&'a String>,
    consistent: bool,
}
