//! 1D, 2D and 3D convolution layers, and conversions between the channels-last shapes of the
//! course notes (`14x14x3`) and burn's channels-first tensors (`[batch, 3, 14, 14]`).
//!
//! The layers are burn's own modules (trainable, GPU-ready); this file only gives them one
//! constructor shape (`filters`, `kernel`, `stride`, `padding`, the same on every axis) so a
//! 1D, 2D and 3D network read alike.

use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig, Conv3d, Conv3dConfig};
use burn::nn::{PaddingConfig1d, PaddingConfig2d, PaddingConfig3d};
use burn::prelude::*;

/// A 1D convolution over `[batch, channels_in, length]`.
pub fn conv1d(
    channels_in: usize,
    filters: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    device: &Device,
) -> Conv1d {
    Conv1dConfig::new(channels_in, filters, kernel)
        .with_stride(stride)
        .with_padding(PaddingConfig1d::Explicit(padding, padding))
        .init(device)
}

/// A 2D convolution over `[batch, channels_in, height, width]`.
pub fn conv2d(
    channels_in: usize,
    filters: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([channels_in, filters], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding))
        .init(device)
}

/// A 3D convolution over `[batch, channels_in, depth, height, width]`.
pub fn conv3d(
    channels_in: usize,
    filters: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    device: &Device,
) -> Conv3d {
    Conv3dConfig::new([channels_in, filters], [kernel, kernel, kernel])
        .with_stride([stride, stride, stride])
        .with_padding(PaddingConfig3d::Explicit(padding, padding, padding))
        .init(device)
}

/// Permutation taking `[batch, spatial.., channels]` to `[batch, channels, spatial..]`.
fn to_first_axes<const D: usize>() -> [usize; D] {
    let mut axes = [0; D];
    axes[1] = D - 1;
    for (i, axis) in axes.iter_mut().enumerate().skip(2) {
        *axis = i - 1;
    }
    axes
}

/// Permutation taking `[batch, channels, spatial..]` to `[batch, spatial.., channels]`.
fn to_last_axes<const D: usize>() -> [usize; D] {
    let mut axes = [0; D];
    for (i, axis) in axes.iter_mut().enumerate().take(D - 1).skip(1) {
        *axis = i + 1;
    }
    axes[D - 1] = 1;
    axes
}

/// `[batch, spatial.., channels]` (the notes' 14x14x3) -> `[batch, channels, spatial..]` (burn).
pub fn channels_last_to_first<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.permute(to_first_axes::<D>())
}

/// `[batch, channels, spatial..]` (burn) -> `[batch, spatial.., channels]` (the notes' 10x10x16).
pub fn channels_first_to_last<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.permute(to_last_axes::<D>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_inverse() {
        assert_eq!(to_first_axes::<3>(), [0, 2, 1]);
        assert_eq!(to_first_axes::<5>(), [0, 4, 1, 2, 3]);
        assert_eq!(to_last_axes::<4>(), [0, 2, 3, 1]);
        assert_eq!(to_last_axes::<5>(), [0, 2, 3, 4, 1]);
    }
}
