//! The training loop: P x K batches of augmented crops, L2-normalised embeddings, triplets
//! mined in the batch, the mean triplet loss, Adam (epsilon 1e-8) with a cosine learning-rate
//! schedule; after every epoch a validation on held-out pairs, a checkpoint (network,
//! optimiser state, history) that `resume` continues from, and the best network so far by
//! validation accuracy written as a model directory (`model.json` + `weights.bpk`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use facestyle_face::compact::{CompactConfig, CompactNet};
use facestyle_face::embedder::Embedder;
use facestyle_face::sface::SFace;
use facestyle_face::{FaceError, Result, model_dir};
use facestyle_nn::pretrained::values;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::augment::{Augment, batch_tensor};
use crate::batches::Sampler;
use crate::crops::Crops;
use crate::triplet::{Mining, pairwise_sq_dist, select, triplet_loss};
use crate::validate::{CropPair, Validation, validate};

/// Where the network starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// [`CompactNet`], randomly initialised.
    Scratch(CompactConfig),
    /// The pretrained SFace (fine-tuning).
    Sface,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub init: Init,
    pub mining: Mining,
    pub alpha: f32,
    pub epochs: usize,
    /// Identities per batch.
    pub p: usize,
    /// Images per identity.
    pub k: usize,
    /// Single-image identities per batch (negatives only).
    pub singles: usize,
    /// Peak learning rate; cosine decay to `lr * final_lr_frac` over all steps.
    pub lr: f64,
    pub final_lr_frac: f64,
    pub flip: bool,
    pub jitter: usize,
    pub seed: u64,
    /// Stop (after a validation and checkpoint) once this many seconds of training have run
    /// in this invocation (a resumed run gets its own budget).
    pub time_limit: Option<f64>,
    /// At most this many batches per epoch (all when `None`).
    pub max_batches: Option<usize>,
}

impl TrainConfig {
    pub fn learning_rate(&self, step: usize, total: usize) -> f64 {
        let t = step as f64 / total.max(1) as f64;
        let lo = self.lr * self.final_lr_frac;
        lo + 0.5 * (self.lr - lo) * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// One epoch's numbers (epoch 0: the untrained or pretrained network, validation only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Mean triplet loss over the epoch's batches (none for epoch 0).
    pub loss: Option<f64>,
    /// Mean fraction of selected triplets with a non-zero loss (none for epoch 0).
    pub active: Option<f64>,
    /// Mean triplets selected per batch.
    pub triplets: f64,
    pub lr: f64,
    pub images: usize,
    pub seconds: f64,
    pub images_per_second: f64,
    pub validation: Validation,
}

/// What a checkpoint holds besides the weights, and what `train` returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    pub config: TrainConfig,
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub best_accuracy: f64,
    /// Seconds of training (and validation) so far, over all runs.
    pub elapsed: f64,
    pub stopped_by_time_limit: bool,
}

/// Live numbers for a progress bar.
pub struct StepInfo {
    pub epoch: usize,
    pub step: usize,
    pub steps: usize,
    pub loss: f64,
    pub active: f64,
    pub images_per_second: f64,
}

/// Called after every step (progress) and every epoch (reports).
pub struct Hooks<'a> {
    pub on_step: &'a mut dyn FnMut(&StepInfo),
    pub on_epoch: &'a mut dyn FnMut(&EpochRecord),
}

pub struct TrainData<'a> {
    pub crops: &'a Crops,
    pub sampler: &'a Sampler,
    pub validation: &'a [CropPair],
    /// Free-form description stored in the model directory (dataset, skipped images ...).
    pub about: serde_json::Value,
}

fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join("checkpoint")
}

/// Whether `out` holds a complete checkpoint of a training run (one [`train`] can resume).
pub fn has_checkpoint(out: &Path) -> bool {
    checkpoint_dir(out).join("state.json").exists()
}

fn io(path: &Path, what: &str, e: impl std::fmt::Display) -> FaceError {
    FaceError::Other(format!("{}: cannot {what}: {e}", path.display()))
}

fn initial(init: Init, sface_onnx: &dyn Fn() -> Result<PathBuf>, device: &Device) -> Result<Embedder> {
    Ok(match init {
        Init::Scratch(c) => Embedder::Compact(CompactNet::new(c, device)),
        Init::Sface => Embedder::SFace(SFace::load(&sface_onnx()?, device)?),
    })
}

/// Trains into `out` (a model directory plus `checkpoint/`, `history.json`, `steps.jsonl`,
/// `curve.png`). With `resume`,
/// continues the run checkpointed there (its configuration wins); without it, refuses a
/// directory that already holds a run.
pub fn train(
    config: &TrainConfig,
    data: &TrainData,
    out: &Path,
    resume: bool,
    sface_onnx: &dyn Fn() -> Result<PathBuf>,
    device: &Device,
    hooks: Hooks,
) -> Result<TrainState> {
    let Hooks { on_step, on_epoch } = hooks;
    let ad = device.clone().autodiff();
    // Same seed, same initial network (burn's generator; on some backends it is global).
    ad.seed(config.seed);
    let net = initial(config.init, sface_onnx, &ad)?;
    let optim = AdamConfig::new().with_epsilon(1e-8).init();
    let (mut state, mut net, mut optim) = start_or_resume(config, out, resume, net, optim)?;
    let mut run = Run::new(state.config.clone(), data, out, device, ad, state.elapsed)?;

    if state.history.is_empty() {
        // Epoch 0: where the network starts.
        let t0 = Instant::now();
        let validation = validate(&net.valid(), data.crops, data.validation, device);
        let record = EpochRecord {
            epoch: 0,
            loss: None,
            active: None,
            triplets: 0.0,
            lr: 0.0,
            images: 0,
            seconds: t0.elapsed().as_secs_f64(),
            images_per_second: 0.0,
            validation,
        };
        run.record(&mut state, record, on_epoch);
        finish_epoch(&net, &mut state, run.compact(), data, out, &optim)?;
    }

    // Every invocation trains at least one batch before its time limit can stop it.
    let mut trained = false;
    while state.history.len() <= run.config.epochs && !(trained && run.over_time(&state)) {
        trained = true;
        let record;
        (net, record) = run.epoch(state.history.len(), net, &mut optim, on_step)?;
        run.record(&mut state, record, on_epoch);
        finish_epoch(&net, &mut state, run.compact(), data, out, &optim)?;
    }
    Ok(state)
}

/// A new run's state, or the checkpointed one with its network and optimiser when resuming.
fn start_or_resume(
    config: &TrainConfig,
    out: &Path,
    resume: bool,
    net: Embedder,
    optim: ModuleOptimizer,
) -> Result<(TrainState, Embedder, ModuleOptimizer)> {
    let ckpt = checkpoint_dir(out);
    let state_file = ckpt.join("state.json");
    if !has_checkpoint(out) {
        if resume {
            return Err(FaceError::Other(format!("{} holds no checkpoint to resume", out.display())));
        }
        let state = TrainState {
            config: config.clone(),
            history: vec![],
            best_epoch: 0,
            best_accuracy: f64::NEG_INFINITY,
            elapsed: 0.0,
            stopped_by_time_limit: false,
        };
        return Ok((state, net, optim));
    }
    if !resume {
        return Err(FaceError::Other(format!(
            "{} already holds a training run; resume it or train into another folder",
            out.display()
        )));
    }
    let text = std::fs::read_to_string(&state_file).map_err(|e| io(&state_file, "read", e))?;
    let mut state: TrainState =
        serde_json::from_str(&text).map_err(|e| io(&state_file, "parse the checkpoint state", e))?;
    // The checkpoint's settings win, except the time budget, which belongs to this run.
    state.config.time_limit = config.time_limit.map(|t| t + state.elapsed);
    state.stopped_by_time_limit = false;
    let net_file = ckpt.join("net.bpk");
    let net = net.try_load_file(&net_file).map_err(|e| io(&net_file, "load the checkpoint", e))?;
    let opt_file = ckpt.join("optim.bpk");
    let optim = optim.load(&opt_file).map_err(|e| io(&opt_file, "load the optimiser state", e))?;
    Ok((state, net, optim))
}

/// One invocation's training: the settings in force, the step log, the clock.
struct Run<'a> {
    config: TrainConfig,
    data: &'a TrainData<'a>,
    device: &'a Device,
    ad: Device,
    aug: Augment,
    per_epoch: usize,
    total_steps: usize,
    steps_file: PathBuf,
    step_log: std::fs::File,
    started: Instant,
    elapsed_before: f64,
}

/// One optimisation step's numbers, logged to `steps.jsonl`.
#[derive(Serialize)]
struct StepLine {
    epoch: usize,
    step: usize,
    loss: f64,
    active: f32,
    triplets: usize,
    lr: f64,
}

impl<'a> Run<'a> {
    fn new(
        config: TrainConfig,
        data: &'a TrainData<'a>,
        out: &Path,
        device: &'a Device,
        ad: Device,
        elapsed_before: f64,
    ) -> Result<Self> {
        let ckpt = checkpoint_dir(out);
        std::fs::create_dir_all(&ckpt).map_err(|e| io(&ckpt, "create", e))?;
        // Every step's loss, active fraction and triplet count, one JSON line each.
        let steps_file = out.join("steps.jsonl");
        let step_log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&steps_file)
            .map_err(|e| io(&steps_file, "open", e))?;
        let per_epoch = data.sampler.batches_per_epoch().min(config.max_batches.unwrap_or(usize::MAX));
        Ok(Run {
            aug: Augment { flip: config.flip, jitter: config.jitter },
            total_steps: per_epoch * config.epochs,
            per_epoch,
            config,
            data,
            device,
            ad,
            steps_file,
            step_log,
            started: Instant::now(),
            elapsed_before,
        })
    }

    fn compact(&self) -> Option<CompactConfig> {
        match self.config.init {
            Init::Scratch(c) => Some(c),
            Init::Sface => None,
        }
    }

    fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    fn over_time(&self, state: &TrainState) -> bool {
        self.config.time_limit.is_some_and(|t| state.elapsed >= t)
    }

    /// Reports an epoch and adds it to the history.
    fn record(&self, state: &mut TrainState, record: EpochRecord, on_epoch: &mut dyn FnMut(&EpochRecord)) {
        on_epoch(&record);
        state.history.push(record);
        state.elapsed = self.elapsed();
        state.stopped_by_time_limit = self.over_time(state) && state.history.len() <= self.config.epochs;
    }

    /// Trains one epoch (stopping early at the time limit), then validates.
    fn epoch(
        &mut self,
        epoch: usize,
        mut net: Embedder,
        optim: &mut ModuleOptimizer,
        on_step: &mut dyn FnMut(&StepInfo),
    ) -> Result<(Embedder, EpochRecord)> {
        let config = &self.config;
        let mut rng =
            rand::rngs::StdRng::seed_from_u64(config.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        let batches: Vec<_> = self.data.sampler.epoch(&mut rng).into_iter().take(self.per_epoch).collect();
        let t0 = Instant::now();
        let (mut loss_sum, mut active_sum, mut triplet_sum, mut images, mut steps) =
            (0.0, 0.0, 0.0, 0usize, 0usize);
        let mut lr = 0.0;
        for (i, batch) in batches.iter().enumerate() {
            let step = (epoch - 1) * self.per_epoch + i;
            lr = config.learning_rate(step, self.total_steps);
            let x = batch_tensor(self.data.crops, &batch.items, self.aug, &mut rng, &self.ad);
            let e = net.forward(x);
            let norm = e.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
            let d = pairwise_sq_dist(e / norm);
            let triplets =
                select(&values(d.clone().detach()), &batch.labels, config.mining, config.alpha, step as u64);
            images += batch.items.len();
            if triplets.is_empty() {
                continue;
            }
            let (loss, active) = triplet_loss(d, &triplets, config.alpha);
            let loss_value = values(loss.clone().detach())[0] as f64;
            if !loss_value.is_finite() {
                return Err(FaceError::Other(format!(
                    "epoch {epoch} step {i}: the loss is {loss_value}; a lower learning rate may help"
                )));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(lr, net, grads);
            loss_sum += loss_value;
            active_sum += active as f64;
            triplet_sum += triplets.len() as f64;
            steps += 1;
            let line =
                StepLine { epoch, step: i + 1, loss: loss_value, active, triplets: triplets.len(), lr };
            let line = serde_json::to_string(&line).expect("serialisable");
            writeln!(self.step_log, "{line}").map_err(|e| io(&self.steps_file, "write", e))?;
            on_step(&StepInfo {
                epoch,
                step: i + 1,
                steps: batches.len(),
                loss: loss_sum / steps as f64,
                active: active_sum / steps as f64,
                images_per_second: images as f64 / t0.elapsed().as_secs_f64(),
            });
            if config.time_limit.is_some_and(|t| self.elapsed() >= t) {
                break;
            }
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        let validation = validate(&net.valid(), self.data.crops, self.data.validation, self.device);
        let n = steps.max(1) as f64;
        let record = EpochRecord {
            epoch,
            loss: (steps > 0).then(|| loss_sum / n),
            active: (steps > 0).then(|| active_sum / n),
            triplets: triplet_sum / n,
            lr,
            images,
            seconds: t0.elapsed().as_secs_f64(),
            images_per_second: images as f64 / train_seconds,
            validation,
        };
        Ok((net, record))
    }
}

/// Keeps the best network (as the model directory), then checkpoints: weights, optimiser,
/// and last the state file, so a checkpoint is complete whenever its state file exists.
fn finish_epoch(
    net: &Embedder,
    state: &mut TrainState,
    compact: Option<CompactConfig>,
    data: &TrainData,
    out: &Path,
    optim: &ModuleOptimizer,
) -> Result<()> {
    let last = state.history.last().expect("an epoch was recorded");
    if last.validation.accuracy > state.best_accuracy {
        state.best_accuracy = last.validation.accuracy;
        state.best_epoch = last.epoch;
        let details =
            [("config", serde_json::to_value(&state.config)), ("data", serde_json::to_value(&data.about))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.expect("serialisable")))
                .collect();
        let training =
            model_dir::Training { epoch: Some(last.epoch), validation: Some(last.validation), details };
        model_dir::save(out, &net.valid(), compact, training)?;
    }
    let ckpt = checkpoint_dir(out);
    let net_file = ckpt.join("net.bpk");
    net.clone().save_file(&net_file).map_err(|e| io(&net_file, "write the checkpoint", e))?;
    let opt_file = ckpt.join("optim.bpk");
    optim.save(&opt_file).map_err(|e| io(&opt_file, "write the optimiser state", e))?;
    let text = serde_json::to_string_pretty(state).expect("serialisable");
    let tmp = ckpt.join("state.json.tmp");
    std::fs::write(&tmp, &text)
        .and_then(|_| std::fs::rename(&tmp, ckpt.join("state.json")))
        .map_err(|e| io(&ckpt, "write state.json", e))?;
    std::fs::write(
        out.join("history.json"),
        serde_json::to_string_pretty(&state.history).expect("serialisable"),
    )
    .map_err(|e| io(out, "write history.json", e))?;
    let c = &state.config;
    let init = match c.init {
        Init::Scratch(cc) => format!("compact width {}", cc.width),
        Init::Sface => "SFace fine-tuned".into(),
    };
    let title =
        format!("{init}, {:?} mining, alpha {}, P {} x K {}, lr {:.0e}", c.mining, c.alpha, c.p, c.k, c.lr);
    let curve = out.join("curve.png");
    crate::curve::plot(&state.history, &title).save(&curve).map_err(|e| io(&curve, "write", e))?;
    Ok(())
}
