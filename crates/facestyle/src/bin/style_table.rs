//! `style_table`: one style-transfer configuration on every content x style pair of a folder,
//! each pair a `facestyle style --json` run, as a table (SSIM of luminance, style ratio,
//! evaluations at the output size, seconds, peak memory) and a contact sheet.
//!
//! ```text
//! style_table --data ../shared/data/style --size 256 --out /tmp/table [--sheet sheet.jpg]
//!     [--facestyle PATH] [--pairs tubingen:starry_night,..] [--resume] -- [facestyle style flags]
//! ```
//!
//! Content photos are `tubingen`, `golden_gate` and `hoovertowernight`; styles `starry_night`,
//! `the_scream`, `shipwreck`, `picasso_selfport1907` and `woman-with-hat-matisse` (`.jpg`).
//! The table is printed as Markdown and written to `OUT/table.md` and `OUT/table.jsonl` after
//! every pair; each pair's picture and row are kept as `OUT/CONTENT__STYLE.png` and `.json`.
//! `--resume` takes a pair's row from those files instead of running it again (a long table,
//! such as 15 pairs at 1024 px, can be finished over several runs); a row made with another
//! size or other flags is an error.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use image::imageops::{FilterType, overlay, resize};
use image::{Rgb, RgbImage};

const CONTENTS: [&str; 3] = ["tubingen", "golden_gate", "hoovertowernight"];
const STYLES: [&str; 5] =
    ["starry_night", "the_scream", "shipwreck", "picasso_selfport1907", "woman-with-hat-matisse"];
/// Side of one cell of the contact sheet.
const CELL: u32 = 160;

struct Opts {
    data: PathBuf,
    size: u32,
    out: PathBuf,
    sheet: Option<PathBuf>,
    facestyle: PathBuf,
    pairs: Option<Vec<(String, String)>>,
    resume: bool,
    extra: Vec<String>,
}

fn parse() -> anyhow::Result<Opts> {
    let mut args = std::env::args().skip(1);
    let exe = std::env::current_exe()?;
    let mut o = Opts {
        data: PathBuf::from("../shared/data/style"),
        size: facestyle_style::picture::DEFAULT_SIZE,
        out: PathBuf::from("style_table"),
        sheet: None,
        facestyle: exe.with_file_name("facestyle"),
        pairs: None,
        resume: false,
        extra: Vec::new(),
    };
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--data" => o.data = val()?.into(),
            "--size" => o.size = val()?.parse().context("--size")?,
            "--out" => o.out = val()?.into(),
            "--sheet" => o.sheet = Some(val()?.into()),
            "--facestyle" => o.facestyle = val()?.into(),
            "--resume" => o.resume = true,
            "--pairs" => {
                o.pairs = Some(
                    val()?
                        .split(',')
                        .map(|p| {
                            p.split_once(':')
                                .map(|(c, s)| (c.to_string(), s.to_string()))
                                .with_context(|| format!("--pairs: '{p}' is not CONTENT:STYLE"))
                        })
                        .collect::<anyhow::Result<_>>()?,
                )
            }
            "--" => {
                o.extra = args.by_ref().collect();
                break;
            }
            other => bail!("unknown argument {other} (see the file's documentation)"),
        }
    }
    Ok(o)
}

struct Row {
    content: String,
    style: String,
    ssim: f64,
    ratio: f64,
    evals: f64,
    seconds: f64,
    rss: f64,
    out: PathBuf,
}

impl Row {
    /// Both figures within the bar of [`facestyle_style::quality`].
    fn meets_bar(&self) -> bool {
        use facestyle_style::quality::{SSIM_BAR, STYLE_RATIO_BAR};
        self.ssim >= SSIM_BAR && self.ratio <= STYLE_RATIO_BAR
    }
}

fn thumb(path: &Path) -> anyhow::Result<RgbImage> {
    let img = image::open(path).with_context(|| format!("{}", path.display()))?.to_rgb8();
    let s = CELL as f32 / img.width().max(img.height()) as f32;
    let (w, h) =
        (((img.width() as f32 * s).round() as u32).max(1), ((img.height() as f32 * s).round() as u32).max(1));
    let small = resize(&img, w, h, FilterType::Triangle);
    let mut cell = RgbImage::from_pixel(CELL, CELL, Rgb([255, 255, 255]));
    overlay(&mut cell, &small, ((CELL - w) / 2) as i64, ((CELL - h) / 2) as i64);
    Ok(cell)
}

/// Rows: the content photos; columns: the paintings; the first row and column show the inputs.
fn contact_sheet(o: &Opts, rows: &[Row]) -> anyhow::Result<RgbImage> {
    let contents: Vec<&String> = dedup(rows.iter().map(|r| &r.content));
    let styles: Vec<&String> = dedup(rows.iter().map(|r| &r.style));
    let gap = 4;
    let (nx, ny) = (styles.len() as u32 + 1, contents.len() as u32 + 1);
    let mut sheet =
        RgbImage::from_pixel(nx * (CELL + gap) + gap, ny * (CELL + gap) + gap, Rgb([255, 255, 255]));
    let at = |i: u32| (gap + i * (CELL + gap)) as i64;
    for (j, s) in styles.iter().enumerate() {
        overlay(&mut sheet, &thumb(&o.data.join(format!("{s}.jpg")))?, at(j as u32 + 1), at(0));
    }
    for (i, c) in contents.iter().enumerate() {
        overlay(&mut sheet, &thumb(&o.data.join(format!("{c}.jpg")))?, at(0), at(i as u32 + 1));
    }
    for r in rows {
        let i = contents.iter().position(|c| **c == r.content).expect("listed") as u32;
        let j = styles.iter().position(|s| **s == r.style).expect("listed") as u32;
        overlay(&mut sheet, &thumb(&r.out)?, at(j + 1), at(i + 1));
    }
    Ok(sheet)
}

fn dedup<'a>(it: impl Iterator<Item = &'a String>) -> Vec<&'a String> {
    let mut v: Vec<&String> = Vec::new();
    for x in it {
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v
}

/// One `facestyle --json style` run of a pair; its figures as a table row.
fn run_pair(o: &Opts, c: &str, s: &str, out: &Path) -> anyhow::Result<serde_json::Value> {
    let (cp, sp) = (o.data.join(format!("{c}.jpg")), o.data.join(format!("{s}.jpg")));
    let t = std::time::Instant::now();
    let r = Command::new(&o.facestyle)
        .arg("--json")
        .arg("style")
        .arg(&cp)
        .arg(&sp)
        .arg("-o")
        .arg(out)
        .args(["--size", &o.size.to_string()])
        .args(&o.extra)
        .output()
        .with_context(|| format!("running {}", o.facestyle.display()))?;
    if !r.status.success() {
        bail!("{c} x {s}: {}", String::from_utf8_lossy(&r.stderr));
    }
    let seconds = t.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).context("facestyle --json output")?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let row = JsonRow {
        content: c,
        style: s,
        ssim: f("ssim"),
        style_ratio: f("style_ratio"),
        meets_bar: v["meets_bar"].as_bool().unwrap_or(false),
        evaluations: f("evaluations"),
        seconds,
        peak_rss_mib: f("peak_rss_mib"),
        seconds_optimise: f("seconds_optimise"),
        size: o.size,
        flags: &o.extra,
    };
    Ok(serde_json::to_value(row)?)
}

fn main() -> anyhow::Result<()> {
    let o = parse()?;
    std::fs::create_dir_all(&o.out)?;
    let pairs: Vec<(String, String)> = o.pairs.clone().unwrap_or_else(|| {
        CONTENTS.iter().flat_map(|c| STYLES.iter().map(move |s| (c.to_string(), s.to_string()))).collect()
    });
    let mut rows = Vec::new();
    let mut jsonl = String::new();
    let mut md = format!("flags: `--size {} {}`\n\n", o.size, o.extra.join(" "));
    md += "| content | style | SSIM | style ratio | bar | evaluations | seconds | peak RSS MiB |\n";
    md += "|---|---|---|---|---|---|---|---|\n";
    print!("{md}");
    for (c, s) in &pairs {
        let out = o.out.join(format!("{c}__{s}.png"));
        let saved = o.out.join(format!("{c}__{s}.json"));
        let line: serde_json::Value = if o.resume && out.exists() && saved.exists() {
            let text = std::fs::read_to_string(&saved).with_context(|| format!("{}", saved.display()))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{}: not a row", saved.display()))?;
            if v["size"].as_u64() != Some(o.size as u64) || v["flags"] != serde_json::json!(o.extra) {
                bail!(
                    "{}: made with --size {} and flags {}, not this run's; use another --out",
                    saved.display(),
                    v["size"],
                    v["flags"]
                );
            }
            v
        } else {
            let v = run_pair(&o, c, s, &out)?;
            std::fs::write(&saved, serde_json::to_string(&v)?)
                .with_context(|| format!("{}", saved.display()))?;
            v
        };
        let f = |k: &str| line[k].as_f64().unwrap_or(f64::NAN);
        let row = Row {
            content: c.clone(),
            style: s.clone(),
            ssim: f("ssim"),
            ratio: f("style_ratio"),
            evals: f("evaluations"),
            seconds: f("seconds"),
            rss: f("peak_rss_mib"),
            out,
        };
        let md_line = format!(
            "| {c} | {s} | {:.3} | {:.4} | {} | {:.1} | {:.1} | {:.0} |\n",
            row.ssim,
            row.ratio,
            if row.meets_bar() { "yes" } else { "no" },
            row.evals,
            row.seconds,
            row.rss
        );
        print!("{md_line}");
        md += &md_line;
        jsonl += &serde_json::to_string(&line)?;
        jsonl.push('\n');
        rows.push(row);
        // Written after every pair, so an interrupted run keeps the rows it finished.
        std::fs::write(o.out.join("table.md"), &md)?;
        std::fs::write(o.out.join("table.jsonl"), &jsonl)?;
    }
    let n = rows.len() as f64;
    let met = rows.iter().filter(|r| r.meets_bar()).count();
    let mean = |f: &dyn Fn(&Row) -> f64| rows.iter().map(f).sum::<f64>() / n;
    let summary = format!(
        "pairs meeting the bar: {met}/{}; SSIM mean {:.3} min {:.3}; style ratio mean {:.4} max {:.4}; evaluations mean {:.1}; seconds mean {:.1}; peak RSS max {:.0} MiB",
        rows.len(),
        mean(&|r| r.ssim),
        rows.iter().map(|r| r.ssim).fold(f64::INFINITY, f64::min),
        mean(&|r| r.ratio),
        rows.iter().map(|r| r.ratio).fold(f64::NEG_INFINITY, f64::max),
        mean(&|r| r.evals),
        mean(&|r| r.seconds),
        rows.iter().map(|r| r.rss).fold(0.0, f64::max),
    );
    println!("\n{summary}");
    std::fs::write(o.out.join("table.md"), format!("{md}\n{summary}\n"))?;
    std::fs::write(o.out.join("table.jsonl"), jsonl)?;
    let sheet = contact_sheet(&o, &rows)?;
    let sheet_path = o.sheet.clone().unwrap_or_else(|| o.out.join("contact_sheet.jpg"));
    sheet.save(&sheet_path).with_context(|| format!("{}", sheet_path.display()))?;
    println!("contact sheet: {}", sheet_path.display());
    Ok(())
}

/// One pair's line of the JSON-lines table.
#[derive(serde::Serialize)]
struct JsonRow<'a> {
    content: &'a str,
    style: &'a str,
    ssim: f64,
    style_ratio: f64,
    meets_bar: bool,
    evaluations: f64,
    seconds: f64,
    peak_rss_mib: f64,
    seconds_optimise: f64,
    size: u32,
    flags: &'a [String],
}
