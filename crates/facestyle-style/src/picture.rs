//! Between pictures and tensors: an RGB image scaled to a long side as a `[1, 3, H, W]` 0-255
//! tensor, and back.

use burn::prelude::*;
use facestyle_nn::pretrained::values;
use image::RgbImage;
use image::imageops::{FilterType, resize};

use crate::error::{Result, StyleError};

/// VGG19 pools four times before conv5_1: sides below this would vanish.
pub const MIN_SIDE: u32 = 16;

/// Long side of the generated picture unless asked otherwise, in pixels.
pub const DEFAULT_SIZE: u32 = 256;

/// Largest long side taken without an explicit override, in pixels.
pub const MAX_SIZE: u32 = 4096;

/// `Err` unless `min <= size <= max`.
pub fn check_size(size: u32, min: u32, max: u32) -> Result<()> {
    if !(min..=max).contains(&size) {
        return Err(StyleError::Size { size, min, max });
    }
    Ok(())
}

/// The long side of the style pictures: `size * scale` rounded, at least 1; `scale` must be a
/// positive number.
pub fn style_size(size: u32, scale: f32) -> Result<u32> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(StyleError::NotPositive { name: "style_scale", value: scale as f64 });
    }
    Ok((size as f32 * scale).round().clamp(1.0, u32::MAX as f32) as u32)
}

/// Width and height of `img` scaled so its long side is `size`.
pub fn scaled_dims(img: &RgbImage, size: u32) -> (u32, u32) {
    let (w, h) = img.dimensions();
    let s = size as f32 / w.max(h) as f32;
    (((w as f32 * s).round() as u32).max(1), ((h as f32 * s).round() as u32).max(1))
}

/// `Err` with the scaled size when the short side of `img` at long side `size` is below
/// [`MIN_SIDE`].
pub fn check_side(img: &RgbImage, size: u32) -> Result<()> {
    let (w, h) = scaled_dims(img, size);
    if w.min(h) < MIN_SIDE {
        return Err(StyleError::TooSmall {
            width: img.width(),
            height: img.height(),
            size,
            scaled_width: w,
            scaled_height: h,
        });
    }
    Ok(())
}

/// The image as it is, as an RGB 0-255 `[1, 3, H, W]` tensor.
pub fn rgb_tensor(img: &RgbImage, device: &Device) -> Tensor<4> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut data = vec![0f32; 3 * w * h];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            data[c * w * h + i] = p.0[c] as f32;
        }
    }
    Tensor::from_data(TensorData::new(data, [1, 3, h, w]), device)
}

/// The image scaled so its long side is `size`, as an RGB 0-255 `[1, 3, H, W]` tensor.
pub fn to_tensor(img: &RgbImage, size: u32, device: &Device) -> Tensor<4> {
    let (nw, nh) = scaled_dims(img, size);
    rgb_tensor(&resize(img, nw, nh, FilterType::Triangle), device)
}

/// A `[1, 3, H, W]` 0-255 tensor as an image (rounded, clamped).
pub fn to_image(t: Tensor<4>) -> RgbImage {
    let [_, _, h, w] = t.dims();
    let v = values(t);
    let plane = h * w;
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        image::Rgb([0, 1, 2].map(|c| v[c * plane + i].round().clamp(0.0, 255.0) as u8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_sides() {
        let img = RgbImage::from_fn(40, 20, |x, y| image::Rgb([x as u8, y as u8, 7]));
        assert_eq!(to_image(to_tensor(&img, 40, &Device::flex())), img);
        assert_eq!(scaled_dims(&img, 80), (80, 40));
        assert!(check_side(&img, 40).is_ok());
        assert!(check_side(&img, 20).unwrap_err().to_string().contains("20x10"));
        assert!(check_size(DEFAULT_SIZE, 1, MAX_SIZE).is_ok());
        assert!(matches!(check_size(0, 1, MAX_SIZE), Err(StyleError::Size { size: 0, .. })));
        assert_eq!(style_size(256, 0.5).unwrap(), 128);
        assert!(style_size(256, -1.0).is_err() && style_size(256, f32::NAN).is_err());
    }
}
