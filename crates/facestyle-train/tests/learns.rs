//! The whole training loop (sampler, augmentation, mining, loss, Adam, validation, best-model
//! directory) on synthetic "faces": each identity is a stripe pattern (period and direction),
//! each image of it a shifted, noisy copy in a random colour. Colour is the nuisance an
//! untrained network mostly sees; a small compact CNN must learn to ignore it and tell the
//! patterns apart on held-out images.

use burn::prelude::*;
use facestyle_face::compact::CompactConfig;
use facestyle_face::model_dir;
use facestyle_face::sface::INPUT;
use facestyle_train::batches::Sampler;
use facestyle_train::crops::{CropEntry, Crops};
use facestyle_train::train::{Hooks, Init, TrainConfig, TrainData, train};
use facestyle_train::triplet::Mining;
use facestyle_train::validate::CropPair;
use rand::{Rng, SeedableRng};

fn synthetic(ids: usize, per: usize, seed: u64) -> Crops {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut crops = Crops::default();
    let looks: Vec<(usize, bool)> = (0..ids).map(|i| (4 + 2 * (i / 2), i % 2 == 0)).collect();
    for (id, &(period, vertical)) in looks.iter().enumerate() {
        for k in 0..per {
            let colour: [f32; 3] = std::array::from_fn(|_| rng.random_range(20.0..235.0));
            let shift = rng.random_range(0..period);
            let mut px = Vec::with_capacity(INPUT * INPUT * 3);
            for y in 0..INPUT {
                for x in 0..INPUT {
                    let t = if vertical { x } else { y } + shift;
                    let on = (t / period) % 2 == 0;
                    for c in colour {
                        let v = if on { c } else { 255.0 - c } + rng.random_range(-40.0..40.0);
                        px.push(v.clamp(0.0, 255.0) as u8);
                    }
                }
            }
            crops.push_crop(
                CropEntry {
                    path: format!("id{id}/{k}.jpg"),
                    source: facestyle_face::evaluate::FaceSource::Detected,
                },
                &px,
            );
        }
    }
    crops
}

#[test]
fn a_small_cnn_learns_synthetic_identities() {
    let (ids, per) = (12, 6);
    let crops = synthetic(ids, per, 11);
    // Train on the first 4 images of each identity; validate on pairs of the last 2.
    let train_sets: Vec<Vec<usize>> = (0..ids).map(|i| (i * per..i * per + 4).collect()).collect();
    let held = |i: usize, j: usize| i * per + 4 + j;
    let mut val = Vec::new();
    for i in 0..ids {
        val.push(CropPair { a: held(i, 0), b: held(i, 1), same: true });
        val.push(CropPair { a: held(i, 0), b: held((i + 1) % ids, 1), same: false });
        val.push(CropPair { a: held(i, 1), b: held((i + 3) % ids, 0), same: false });
        val.push(CropPair { a: held(i, 1), b: held(i, 0), same: true });
    }
    let sampler = Sampler::new(train_sets, 4, 4, 0);
    let config = TrainConfig {
        init: Init::Scratch(CompactConfig { width: 4, dim: 16 }),
        mining: Mining::Random,
        alpha: 0.2,
        epochs: 12,
        p: 4,
        k: 4,
        singles: 0,
        lr: 3e-3,
        final_lr_frac: 0.1,
        flip: true,
        jitter: 2,
        seed: 3,
        time_limit: None,
        max_batches: None,
    };
    let out = tempfile::tempdir().unwrap();
    let data =
        TrainData { crops: &crops, sampler: &sampler, validation: &val, about: serde_json::Value::Null };
    let no_sface = || -> facestyle_face::Result<std::path::PathBuf> { unreachable!() };
    let state = train(
        &config,
        &data,
        out.path(),
        false,
        &no_sface,
        &Device::flex(),
        Hooks { on_step: &mut |_| {}, on_epoch: &mut |_| {} },
    )
    .unwrap();
    let acc: Vec<f64> = state.history.iter().map(|r| r.validation.accuracy).collect();
    let losses: Vec<f64> = state.history.iter().filter_map(|r| r.loss).collect();
    assert_eq!(acc.len(), 13);
    // Epoch 0 is near chance (0.5); training must lift it well above.
    assert!(acc[0] < 0.65 && state.best_accuracy >= 0.75, "validation accuracy per epoch {acc:?}");
    assert!(losses.last().unwrap() < &(0.5 * losses[0]), "loss per epoch {losses:?}");
    // The best epoch's network is the model directory's, and it embeds like it validated.
    let info = model_dir::read_info(out.path()).unwrap();
    assert_eq!(info.training.epoch, Some(state.best_epoch));
}
