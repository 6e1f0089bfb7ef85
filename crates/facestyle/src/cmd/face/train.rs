//! `facestyle face train`: a Siamese embedding trained with the triplet loss, from scratch
//! (compact CNN) or fine-tuned from SFace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use facestyle_face::compact::CompactConfig;
use facestyle_face::engine::FaceEngine;
use facestyle_face::lfw::read_pairs;
use facestyle_train::batches::Sampler;
use facestyle_train::crops::{self, Crops};
use facestyle_train::dataset::{exclude, hold_out, pair_people, read_people, restrict, scan};
use facestyle_train::train::{EpochRecord, Hooks, Init, TrainConfig, TrainData, has_checkpoint, train};
use facestyle_train::triplet::Mining;
use facestyle_train::validate::crop_pairs;
use serde::Serialize;

use super::{DetectorArgs, load_engine, progress};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MiningArg {
    Random,
    SemiHard,
    BatchHard,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum InitArg {
    /// The compact CNN, randomly initialised.
    Scratch,
    /// The pretrained SFace network (fine-tuning).
    Sface,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset: one folder per identity (e.g. LFW's images_deepfunneled).
    #[arg(long)]
    pub data: PathBuf,
    /// Train only on these people (an LFW people file such as peopleDevTrain.txt).
    #[arg(long)]
    pub people: Option<PathBuf>,
    /// Validation pairs of other people (an LFW pairs file such as pairsDevTest.txt). Without
    /// it, every 10th identity with two or more images is held out of training and paired.
    #[arg(long)]
    pub val_pairs: Option<PathBuf>,
    /// Leave out of training everyone named in this pairs file (e.g. pairsDevTrain.txt, so that
    /// a verification threshold later chosen on it is fitted on people the net never saw).
    #[arg(long)]
    pub exclude_pairs: Option<PathBuf>,
    /// Output: the best model (by validation accuracy), checkpoint/, history.json, curve.png.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "batch-hard")]
    pub mining: MiningArg,
    /// Triplet margin alpha (squared L2 on unit vectors).
    #[arg(long, default_value_t = 0.2)]
    pub alpha: f32,
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Identities per batch.
    #[arg(long, default_value_t = 16)]
    pub p: usize,
    /// Images per identity in a batch.
    #[arg(long, default_value_t = 4)]
    pub k: usize,
    /// Single-image identities added to each batch as negatives.
    #[arg(long, default_value_t = 8)]
    pub singles: usize,
    /// Peak learning rate (default 1e-3 from scratch, 1e-5 for --init sface).
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, value_enum, default_value = "scratch")]
    pub init: InitArg,
    /// Stem channels of the compact CNN (stages 2x, 4x, 8x).
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    /// Largest random shift of a crop in pixels (0: none).
    #[arg(long, default_value_t = 4)]
    pub jitter: usize,
    /// No random horizontal flips.
    #[arg(long)]
    pub no_flip: bool,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after this many minutes of training (checked every batch; the epoch is validated
    /// and checkpointed).
    #[arg(long)]
    pub time_limit_min: Option<f64>,
    /// At most this many batches per epoch.
    #[arg(long)]
    pub max_batches: Option<usize>,
    /// Continue the run checkpointed in --out.
    #[arg(long)]
    pub resume: bool,
    /// Crop cache file (default: under the facestyle cache, one per dataset folder).
    #[arg(long)]
    pub crop_cache: Option<PathBuf>,
    #[command(flatten)]
    pub detector: DetectorArgs,
}

impl TrainArgs {
    fn config(&self) -> anyhow::Result<TrainConfig> {
        if self.p < 2 || self.k < 2 {
            anyhow::bail!(
                "--p and --k must be at least 2 (a triplet needs two identities, two images of one)"
            );
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            anyhow::bail!("--alpha {} must be a positive number", self.alpha);
        }
        if self.epochs == 0 || self.width == 0 {
            anyhow::bail!("--epochs and --width must be at least 1");
        }
        let (init, lr) = match self.init {
            InitArg::Scratch => {
                (Init::Scratch(CompactConfig { width: self.width, ..Default::default() }), 1e-3)
            }
            InitArg::Sface => (Init::Sface, 1e-5),
        };
        let lr = self.lr.unwrap_or(lr);
        if !(lr > 0.0 && lr.is_finite()) {
            anyhow::bail!("--lr {lr} must be a positive number");
        }
        Ok(TrainConfig {
            init,
            mining: match self.mining {
                MiningArg::Random => Mining::Random,
                MiningArg::SemiHard => Mining::SemiHard,
                MiningArg::BatchHard => Mining::BatchHard,
            },
            alpha: self.alpha,
            epochs: self.epochs,
            p: self.p,
            k: self.k,
            singles: self.singles,
            lr,
            final_lr_frac: 0.01,
            flip: !self.no_flip,
            jitter: self.jitter,
            seed: self.seed,
            time_limit: self.time_limit_min.map(|m| m * 60.0),
            max_batches: self.max_batches,
        })
    }
}

/// The crops of `wanted` from the cache file `cache`; those not cached yet are detected and
/// aligned (with a progress bar, by `engine` or one loaded here) and the cache rewritten.
pub fn load_crops(
    det: &DetectorArgs,
    root: &Path,
    wanted: &[String],
    cache: &Path,
    quiet: bool,
    engine: Option<&FaceEngine>,
) -> anyhow::Result<(Crops, Vec<crops::Skipped>)> {
    let mut crops = Crops::open(cache)?;
    let missing = crops.missing(wanted);
    if missing.is_empty() {
        return Ok((crops, vec![]));
    }
    let loaded;
    let engine = match engine {
        Some(e) => e,
        None => {
            loaded = load_engine(det)?;
            &loaded
        }
    };
    let bar = progress(missing.len() as u64, "detect + align (once; cached)");
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let skipped = crops.add_images(engine, root, &missing, &mut |done, _| bar.set_position(done as u64));
    bar.finish_and_clear();
    crops.write(cache)?;
    Ok((crops, skipped))
}

/// The identities to train on and the validation pairs, from the dataset and the lists.
struct Selection {
    ids: facestyle_train::dataset::Identities,
    pairs: facestyle_face::lfw::PairsFile,
    val_source: String,
    people_without_folder: usize,
    excluded_identities: usize,
}

fn select(a: &TrainArgs) -> anyhow::Result<Selection> {
    let all = scan(&a.data)?;
    let (ids, missing_people) = match &a.people {
        Some(f) => restrict(&all, &read_people(f)?),
        None => (all.clone(), vec![]),
    };
    if let (true, Some(people)) = (ids.is_empty(), &a.people) {
        anyhow::bail!("{}: none of the listed people has a folder in {}", people.display(), a.data.display());
    }
    let (ids, excluded) = match &a.exclude_pairs {
        Some(f) => exclude(ids, &pair_people(&read_pairs(f)?)),
        None => (ids, 0),
    };
    let (ids, pairs, val_source) = match &a.val_pairs {
        Some(f) => (ids, read_pairs(f)?, f.display().to_string()),
        None => {
            let (train, pairs) = hold_out(&ids, 10);
            (train, pairs, "identities held out of --data (every 10th)".to_string())
        }
    };
    let overlap: BTreeSet<String> = pair_people(&pairs).into_iter().filter(|n| ids.contains_key(n)).collect();
    if let Some(first) = overlap.iter().next() {
        tracing::warn!(
            "{} people of {val_source} are also training identities (e.g. {first}); validation is not on unseen people",
            overlap.len(),
        );
    }
    Ok(Selection {
        ids,
        pairs,
        val_source,
        people_without_folder: missing_people.len(),
        excluded_identities: excluded,
    })
}

/// What the training data was, recorded in the model directory.
#[derive(Serialize)]
struct AboutData<'a> {
    data: &'a Path,
    people: Option<&'a Path>,
    validation: &'a str,
    identities: usize,
    anchor_identities: usize,
    single_image_identities: usize,
    people_without_folder: usize,
    excluded_pairs: Option<&'a Path>,
    excluded_identities: usize,
    skipped_images: &'a [crops::Skipped],
    validation_pairs: usize,
    validation_pairs_missing: usize,
    face_sources: BTreeMap<String, usize>,
}

/// Crops of every image needed, the batch sampler and the validation pairs.
struct Prepared {
    crops: Crops,
    sampler: Sampler,
    validation: Vec<facestyle_train::validate::CropPair>,
    about: serde_json::Value,
}

fn prepare(a: &TrainArgs, sel: &Selection, json_out: bool) -> anyhow::Result<Prepared> {
    let mut wanted: Vec<String> = sel.ids.values().flatten().cloned().collect();
    wanted.extend(sel.pairs.all().flat_map(|p| [p.a.clone(), p.b.clone()]));
    wanted.sort();
    wanted.dedup();
    let cache = a.crop_cache.clone().unwrap_or_else(|| crops::default_cache(&a.data));
    let (crops, skipped) = load_crops(&a.detector, &a.data, &wanted, &cache, json_out, None)?;
    let identities: Vec<Vec<usize>> =
        sel.ids.values().map(|imgs| imgs.iter().filter_map(|p| crops.get(p)).collect()).collect();
    let sampler = Sampler::new(identities, a.p, a.k, a.singles);
    let (validation, val_missing) = crop_pairs(&sel.pairs, &crops);
    if sampler.anchor_identities() < 2 {
        anyhow::bail!(
            "{}: fewer than two identities with two usable images; nothing to train on",
            a.data.display()
        );
    }
    if validation.is_empty() {
        anyhow::bail!("validation ({}): no pair has both images in {}", sel.val_source, a.data.display());
    }
    let about = AboutData {
        data: &a.data,
        people: a.people.as_deref(),
        validation: &sel.val_source,
        identities: sel.ids.len(),
        anchor_identities: sampler.anchor_identities(),
        single_image_identities: sampler.single_identities(),
        people_without_folder: sel.people_without_folder,
        excluded_pairs: a.exclude_pairs.as_deref(),
        excluded_identities: sel.excluded_identities,
        skipped_images: &skipped,
        validation_pairs: validation.len(),
        validation_pairs_missing: val_missing,
        face_sources: crops.sources(),
    };
    if !json_out {
        println!(
            "{} identities ({} with 2+ images, {} with one: negatives only; {} left out by --exclude-pairs), {} validation pairs; {} images skipped, {} listed people without a folder, {} pairs without images",
            about.identities,
            about.anchor_identities,
            about.single_image_identities,
            about.excluded_identities,
            about.validation_pairs,
            skipped.len(),
            about.people_without_folder,
            val_missing
        );
        for s in skipped.iter().take(5) {
            println!("  skipped {}: {}", s.path, s.problem);
        }
    }
    let about = serde_json::to_value(&about)?;
    Ok(Prepared { crops, sampler, validation, about })
}

/// One line per epoch: the training loss and the validation result.
fn epoch_line(r: &EpochRecord) -> String {
    match (r.loss, r.active) {
        (Some(loss), Some(active)) => format!(
            "epoch {:>3}: loss {loss:.4} active {active:.3} triplets/batch {:.0} lr {:.2e} {:.0} img/s | validation accuracy {:.4} AUC {:.4} ({:.0} s)",
            r.epoch,
            r.triplets,
            r.lr,
            r.images_per_second,
            r.validation.accuracy,
            r.validation.auc,
            r.seconds
        ),
        _ => format!(
            "epoch {:>3} (before training): validation accuracy {:.4} AUC {:.4} ({:.0} s)",
            r.epoch, r.validation.accuracy, r.validation.auc, r.seconds
        ),
    }
}

pub fn run(a: TrainArgs, json_out: bool) -> anyhow::Result<()> {
    let config = a.config()?;
    match (has_checkpoint(&a.out), a.resume) {
        (true, false) => anyhow::bail!(
            "--out {} already holds a training run; pass --resume to continue it, or choose another --out",
            a.out.display()
        ),
        (false, true) => anyhow::bail!("--resume: {} holds no checkpoint to continue", a.out.display()),
        _ => {}
    }
    let sel = select(&a)?;
    let prep = prepare(&a, &sel, json_out)?;
    let data = TrainData {
        crops: &prep.crops,
        sampler: &prep.sampler,
        validation: &prep.validation,
        about: prep.about,
    };
    let device = facestyle_nn::device::default_device();
    let batches = prep.sampler.batches_per_epoch().min(a.max_batches.unwrap_or(usize::MAX));
    let bar = progress(batches as u64, "epoch");
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:25}] {pos}/{len} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    if json_out {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let hooks = Hooks {
        on_step: &mut |s| {
            bar.set_position(s.step as u64);
            bar.set_message(format!(
                "epoch {} loss {:.4} active {:.2} {:.0} img/s",
                s.epoch, s.loss, s.active, s.images_per_second
            ));
        },
        on_epoch: &mut |r| {
            bar.reset();
            if !json_out {
                bar.suspend(|| println!("{}", epoch_line(r)));
            }
        },
    };
    let sface = || facestyle_face::engine::model_file("sface");
    let state = train(&config, &data, &a.out, a.resume, &sface, &device, hooks)?;
    bar.finish_and_clear();
    if json_out {
        println!("{}", serde_json::to_string(&state)?);
    } else {
        println!(
            "best: epoch {} validation accuracy {:.4}; model in {} (use --model {}), curve {}{}",
            state.best_epoch,
            state.best_accuracy,
            a.out.display(),
            a.out.display(),
            a.out.join("curve.png").display(),
            if state.stopped_by_time_limit { "; stopped at the time limit (--resume continues)" } else { "" }
        );
    }
    Ok(())
}
