//! `facestyle face eval lfw`: verification accuracy on Labeled Faces in the Wild.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use facestyle_face::evaluate::{FaceSource, embed_images, evaluate};
use facestyle_face::lfw::{PairsFile, read_pairs};
use facestyle_face::metric::Metric;
use facestyle_face::plot::Format;
use facestyle_face::roc::{Scored, plot_roc};

use super::{DetectorArgs, load_engine, progress};

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// LFW pairs: View 1 (pairsDevTest, threshold from pairsDevTrain) or View 2 (10-fold).
    Lfw(LfwArgs),
}

#[derive(Debug, Args)]
pub struct LfwArgs {
    /// The images folder (`images_deepfunneled/` or `lfw/`: one folder per person).
    #[arg(long)]
    pub images: PathBuf,
    /// The pairs file: pairsDevTest.txt (View 1) or pairs.txt (View 2).
    #[arg(long)]
    pub pairs: PathBuf,
    /// View 1 only: pairs used to choose the threshold (default: pairsDevTrain.txt beside --pairs).
    #[arg(long)]
    pub train_pairs: Option<PathBuf>,
    /// Write the ROC curve: a PNG or SVG file, by the name's extension.
    #[arg(long)]
    pub roc: Option<PathBuf>,
    #[arg(long, default_value = "sq-l2", value_parser = super::parse_metric)]
    pub metric: Metric,
    /// Use only the first N pairs of each fold's matched and mismatched halves (quick checks).
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

pub fn run(c: EvalCommand, json_out: bool) -> anyhow::Result<()> {
    match c {
        EvalCommand::Lfw(a) => lfw(a, json_out),
    }
}

fn limit(p: PairsFile, n: Option<usize>) -> PairsFile {
    let Some(n) = n else { return p };
    let folds = p
        .folds
        .into_iter()
        .map(|f| {
            let (same, diff): (Vec<_>, Vec<_>) = f.into_iter().partition(|x| x.same);
            same.into_iter().take(n).chain(diff.into_iter().take(n)).collect()
        })
        .collect();
    PairsFile { folds }
}

/// `--json` of `face eval lfw`: the evaluation, its time and the pairs files it used.
#[derive(serde::Serialize)]
struct LfwOutput<'a> {
    #[serde(flatten)]
    report: &'a facestyle_face::evaluate::EvalReport,
    seconds: f64,
    pairs_file: &'a Path,
    train_pairs_file: Option<&'a Path>,
}

fn lfw(a: LfwArgs, json_out: bool) -> anyhow::Result<()> {
    if !a.images.is_dir() {
        anyhow::bail!("{}: not a directory (expected LFW's images folder)", a.images.display());
    }
    if let Some(roc) = &a.roc {
        Format::of(roc)?;
    }
    let test = limit(read_pairs(&a.pairs)?, a.limit);
    let train_path = a.train_pairs.clone().or_else(|| {
        let sibling = a.pairs.with_file_name("pairsDevTrain.txt");
        (!test.is_view2() && sibling.is_file() && sibling != a.pairs).then_some(sibling)
    });
    let train = match (&train_path, test.is_view2()) {
        (Some(p), false) => Some(limit(read_pairs(p)?, a.limit)),
        _ => None,
    };
    let mut names: BTreeSet<String> = BTreeSet::new();
    for p in test.all().chain(train.iter().flat_map(|t| t.all())) {
        names.insert(p.a.clone());
        names.insert(p.b.clone());
    }
    let names: Vec<String> = names.into_iter().collect();
    for n in &names {
        let p = a.images.join(n);
        if !p.is_file() {
            anyhow::bail!("{}: listed in the pairs file but missing from {}", n, a.images.display());
        }
    }
    let engine = load_engine(&a.detector)?;
    let start = std::time::Instant::now();
    let bar = progress(names.len() as u64, "embedding LFW images");
    let (emb, sources) = embed_images(&engine, &a.images, &names, &mut || bar.inc(1))?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let mut report = evaluate(&test, train.as_ref(), &emb, a.metric);
    report.fallback_low_score = sources.get(&FaceSource::LowScore).copied().unwrap_or(0);
    report.fallback_padded = sources.get(&FaceSource::Padded).copied().unwrap_or(0);
    report.fallback_centre_crop = sources.get(&FaceSource::CentreCrop).copied().unwrap_or(0);
    report.no_face = report.fallback_low_score + report.fallback_padded + report.fallback_centre_crop;
    if let Some(path) = &a.roc {
        write_roc(&test, &emb, a.metric, path)?;
    }
    if json_out {
        let out = LfwOutput {
            report: &report,
            seconds,
            pairs_file: &a.pairs,
            train_pairs_file: train_path.as_deref(),
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "{} on {} ({} pairs, {} images)",
            report.protocol,
            a.pairs.display(),
            report.pairs,
            report.images
        );
        if let Some(t) = &train_path {
            println!("threshold chosen on {}", t.display());
        }
        println!("accuracy   {:.2}% +- {:.2}", report.accuracy * 100.0, report.std * 100.0);
        println!("threshold  {:.4} ({})", report.threshold, a.metric.name());
        println!("ROC AUC    {:.4}", report.auc);
        println!("EER        {:.2}%", report.eer * 100.0);
        println!("TAR@FAR=1e-3 {:.2}%", report.tar_at_far_1e_3 * 100.0);
        println!(
            "no face at the detector threshold: {} image(s) ({} found at score >= 0.3, {} on the padded image, {} centre crops)",
            report.no_face, report.fallback_low_score, report.fallback_padded, report.fallback_centre_crop
        );
        println!("{:.1} s ({:.1} ms per image)", seconds, 1000.0 * seconds / names.len().max(1) as f64);
    }
    Ok(())
}

fn write_roc(
    test: &PairsFile,
    emb: &HashMap<String, Vec<f32>>,
    metric: Metric,
    path: &Path,
) -> anyhow::Result<()> {
    let scored: Vec<Scored> = test
        .all()
        .map(|p| Scored { distance: metric.distance(&emb[&p.a], &emb[&p.b]), same: p.same })
        .collect();
    plot_roc(&scored, 480).save(path).context("the ROC plot")
}
