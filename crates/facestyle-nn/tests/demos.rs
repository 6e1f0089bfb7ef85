//! The 1D and 3D examples must actually learn: held-out metrics after short training runs,
//! compared with the untrained network and the hand-written baselines.

use facestyle_nn::burn::prelude::Device;
use facestyle_nn::demo::{DemoConfig, blob3d, ecg1d};

#[test]
fn conv1d_learns_to_find_r_peaks() {
    let config = DemoConfig { steps: 200, batch: 16, lr: 0.01, seed: 7 };
    let r = ecg1d::run(config, &Device::flex(), &mut |_, _| {});
    assert_eq!(r.losses.len(), 200);
    assert!(r.losses[199] < r.losses[0] / 10.0, "loss {} -> {}", r.losses[0], r.losses[199]);
    assert!(r.after > 0.95, "F1 after training {}", r.after);
    assert!(r.after > r.baseline + 0.05, "trained {} vs threshold baseline {}", r.after, r.baseline);
    assert!(r.after > r.before + 0.3, "trained {} vs untrained {}", r.after, r.before);
}

#[test]
fn conv3d_learns_to_locate_the_blob() {
    let config = DemoConfig { steps: 120, batch: 16, lr: 0.01, seed: 7 };
    let r = blob3d::run(config, &Device::flex(), &mut |_, _| {});
    assert!(r.losses[119] < r.losses[0] / 3.0, "loss {} -> {}", r.losses[0], r.losses[119]);
    assert!(r.after > 0.85, "hit rate after training {}", r.after);
    assert!(r.after > r.baseline + 0.5, "trained {} vs raw argmax {}", r.after, r.baseline);
}
