//! Small, runnable examples that show 1D and 3D convolutions learning something real-looking:
//! an R-peak detector on synthetic ECG traces (Conv1d) and a blob locator in noisy volumes
//! (Conv3d). Each trains from scratch in seconds and reports a held-out metric against a
//! hand-written baseline and against the untrained network.

pub mod blob3d;
pub mod ecg1d;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;

/// What a demo run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoReport {
    pub name: &'static str,
    pub steps: usize,
    /// Training loss per step.
    pub losses: Vec<f32>,
    /// What `before`, `after` and `baseline` measure, on held-out examples.
    pub metric: &'static str,
    pub baseline_name: &'static str,
    pub baseline: f32,
    pub before: f32,
    pub after: f32,
    pub held_out: usize,
}

/// Training settings shared by the demos.
#[derive(Debug, Clone, Copy)]
pub struct DemoConfig {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
}

/// Flat values of a tensor.
pub(crate) use crate::pretrained::values;

/// The signature every demo's `run` has: settings, device, a per-step callback `(step, loss)`.
pub type DemoRunner = fn(DemoConfig, &Device, &mut dyn FnMut(usize, f32)) -> DemoReport;

/// Adam (epsilon 1e-8, as PyTorch) for `config.steps` steps on the loss `loss_of(net)` builds
/// from a fresh batch; returns the trained network and the loss per step.
pub(crate) fn train_adam<M: Module>(
    mut net: M,
    config: &DemoConfig,
    on_step: &mut dyn FnMut(usize, f32),
    mut loss_of: impl FnMut(&M) -> Tensor<1>,
) -> (M, Vec<f32>) {
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut losses = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        let loss = loss_of(&net);
        let value = values(loss.clone().detach())[0];
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(config.lr, net, grads);
        losses.push(value);
        on_step(step, value);
    }
    (net, losses)
}
