//! `facestyle face ...`: detect, verify, enroll/identify against a gallery, embed, cluster,
//! evaluate.

mod batch;
mod copy;
mod curve;
mod detect;
mod eval;
mod gallery;
mod head;
mod index;
mod train;
mod verify;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use facestyle_face::FaceError;
use facestyle_face::detect::{DetectConfig, Fallback};
use facestyle_face::engine::FaceEngine;
use facestyle_face::metric::{Metric, Verifier};
use image::RgbImage;
use sha2::{Digest, Sha256};

#[derive(Debug, Subcommand)]
pub enum FaceCommand {
    /// Find faces: boxes, scores and 5 landmarks; `--draw` writes an overlay picture.
    Detect(detect::DetectArgs),
    /// 1:1 verification: are the (largest) faces in two photos the same person?
    Verify(verify::VerifyArgs),
    /// Add a person to a gallery from one or more photos (one is enough; nothing is retrained).
    Enroll(gallery::EnrollArgs),
    /// 1:K identification of every face in the photos against a gallery (or `unknown`).
    Identify(gallery::IdentifyArgs),
    /// List the people in a gallery.
    People(gallery::GalleryArgs),
    /// Remove a person (and their embeddings) from a gallery.
    Forget(gallery::ForgetArgs),
    /// Copy a gallery between a SQLite file and PostgreSQL (either way), or checksum one.
    #[command(subcommand)]
    Gallery(copy::GalleryCommand),
    /// Embed every face of every image under a folder into a JSON-lines file.
    Embed(batch::EmbedArgs),
    /// Group the faces of a photo collection by identity.
    Cluster(batch::ClusterArgs),
    /// Train an embedding with the triplet loss (from scratch, or fine-tune SFace).
    Train(Box<train::TrainArgs>),
    /// Draw a training run's curves again from its history.json (PNG or SVG).
    Curve(curve::CurveArgs),
    /// Train a logistic verification head on stored embeddings of training pairs.
    TrainHead(Box<head::TrainHeadArgs>),
    /// Evaluate verification on a benchmark.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
}

pub fn run(command: FaceCommand, json: bool) -> anyhow::Result<()> {
    match command {
        FaceCommand::Detect(a) => detect::run(a, json),
        FaceCommand::Verify(a) => verify::run(a, json),
        FaceCommand::Enroll(a) => gallery::enroll(a, json),
        FaceCommand::Identify(a) => gallery::identify(a, json),
        FaceCommand::People(a) => gallery::people(a, json),
        FaceCommand::Forget(a) => gallery::forget(a, json),
        FaceCommand::Gallery(c) => copy::run(c, json),
        FaceCommand::Embed(a) => batch::embed(a, json),
        FaceCommand::Cluster(a) => batch::cluster(a, json),
        FaceCommand::Eval(c) => eval::run(c, json),
        FaceCommand::Train(a) => train::run(*a, json),
        FaceCommand::TrainHead(a) => head::run(*a, json),
        FaceCommand::Curve(a) => curve::run(a, json),
    }
}

/// The embedding model: the pretrained SFace unless `--model` names a trained one.
#[derive(Debug, Clone, Args)]
pub struct ModelArg {
    /// A model directory written by `facestyle face train`, used instead of the pretrained
    /// SFace. Galleries and embedding files record which model made their vectors.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

/// Detector (and model) options shared by every face command.
#[derive(Debug, Clone, Args)]
pub struct DetectorArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Minimum detector score of a face.
    #[arg(long, default_value_t = 0.9)]
    pub score_threshold: f32,
    /// Photos with a longer side are scaled down to this for detection.
    #[arg(long, default_value_t = 640)]
    pub max_side: u32,
    /// Only faces at --score-threshold on the photo as given. By default, when no face reaches
    /// it, the detector retries at score 0.7 and then on the photo with a border added (a photo
    /// that is only a face: ID crops, face data sets); such faces are reported as a fallback.
    #[arg(long)]
    pub no_fallback: bool,
}

impl DetectorArgs {
    pub fn config(&self) -> anyhow::Result<DetectConfig> {
        DetectConfig::with(self.score_threshold, self.max_side, !self.no_fallback).map_err(|e| match e {
            FaceError::Setting { name, problem } => anyhow::anyhow!("--{} {problem}", name.replace('_', "-")),
            other => other.into(),
        })
    }
}

/// How a face was found, for text output: nothing when at the score threshold.
pub fn fallback_note(fallback: Option<Fallback>) -> &'static str {
    match fallback {
        None => "",
        Some(Fallback::LowScore) => " (fallback: below the score threshold)",
        Some(Fallback::Padded) => " (fallback: found on the photo with a border added)",
    }
}

/// Distance options shared by verify / identify / cluster.
#[derive(Debug, Clone, Args)]
pub struct MetricArgs {
    /// Distance: `sq-l2` (||a-b||^2 on unit vectors) or `cosine` (1 - cos).
    #[arg(long, default_value = "sq-l2", value_parser = parse_metric)]
    pub metric: Metric,
    /// Decision threshold tau: same person when d <= tau (default: the metric's LFW-tuned value
    /// for SFace; for a `--model`, the threshold of its validation).
    #[arg(long)]
    pub threshold: Option<f32>,
}

impl MetricArgs {
    /// The verification decision in force: `--threshold`, else the `--model`'s validation
    /// threshold, else the pretrained pipeline's.
    pub fn verifier(&self, model: &ModelArg) -> anyhow::Result<Verifier> {
        let info = model.model.as_deref().map(facestyle_face::model_dir::read_info).transpose()?;
        Verifier::resolve(self.metric, self.threshold, info.as_ref()).context("--threshold")
    }
}

fn parse_metric(s: &str) -> Result<Metric, String> {
    Metric::parse(s).ok_or_else(|| format!("unknown metric '{s}' (expected sq-l2 or cosine)"))
}

pub fn load_engine(det: &DetectorArgs) -> anyhow::Result<FaceEngine> {
    let device = facestyle_nn::device::default_device();
    Ok(FaceEngine::load_with(det.config()?, device, det.model.model.as_deref())?)
}

/// A decoded photo with the sha256 of its file.
pub struct Photo {
    pub path: PathBuf,
    pub image: RgbImage,
    pub sha256: String,
}

pub fn read_photo(path: &Path) -> anyhow::Result<Photo> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let image = facestyle_face::photo::decode_rgb(&bytes, path)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Ok(Photo { path: path.to_path_buf(), image, sha256 })
}

/// Image files under `dir` (recursively), sorted.
pub fn image_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Ok(facestyle_face::photo::image_files(dir)?)
}

pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
