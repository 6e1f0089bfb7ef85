//! Which device tensors live on. The default is the pure-Rust Flex CPU backend; with the
//! `cuda` cargo feature, `FACESTYLE_DEVICE=cuda` (or `cuda:N`) selects a CUDA GPU.

use burn::prelude::Device;

/// The device named by `FACESTYLE_DEVICE` (`cpu`, `cuda`, `cuda:N`), or the CPU.
pub fn default_device() -> Device {
    match std::env::var("FACESTYLE_DEVICE") {
        Ok(name) => device_by_name(&name).unwrap_or_else(|e| {
            eprintln!("warning: FACESTYLE_DEVICE: {e}; using the CPU");
            Device::flex()
        }),
        Err(_) => Device::flex(),
    }
}

/// The same device with gradients recorded, for training and for pixel optimisation.
pub fn training_device() -> Device {
    default_device().autodiff()
}

/// Parses `cpu`, `cuda` or `cuda:N`.
pub fn device_by_name(name: &str) -> Result<Device, String> {
    match name.trim() {
        "cpu" | "flex" => Ok(Device::flex()),
        other if other == "cuda" || other.starts_with("cuda:") => cuda_device(other),
        other => Err(format!("unknown device {other:?} (expected cpu, cuda or cuda:N)")),
    }
}

#[cfg(feature = "cuda")]
fn cuda_device(name: &str) -> Result<Device, String> {
    let index = match name.strip_prefix("cuda:") {
        Some(n) => n.parse::<usize>().map_err(|_| format!("bad CUDA index in {name:?}"))?,
        None => 0,
    };
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(name: &str) -> Result<Device, String> {
    Err(format!("{name:?} needs a build with `--features cuda`"))
}
