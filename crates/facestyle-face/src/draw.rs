//! Overlays: face boxes and the 5 landmarks drawn on a copy of the photo.

use image::{Rgb, RgbImage};

use crate::detect::Face;

/// Landmark colours: eyes blue, nose green, mouth corners red.
const POINT_COLOURS: [[u8; 3]; 5] =
    [[40, 90, 255], [40, 90, 255], [40, 200, 40], [230, 40, 40], [230, 40, 40]];

/// Sets one pixel; coordinates outside the picture are ignored.
pub fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

/// A one-pixel straight line from `(x0, y0)` to `(x1, y1)`, clipped to the picture.
pub fn line(img: &mut RgbImage, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: Rgb<u8>) {
    let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
    for s in 0..=steps {
        put(img, x0 + (x1 - x0) * s / steps, y0 + (y1 - y0) * s / steps, c);
    }
}

/// Draws every face: a yellow box (2 px) and a dot per landmark.
pub fn draw_faces(img: &RgbImage, faces: &[Face]) -> RgbImage {
    let mut out = img.clone();
    let thick = (img.width().max(img.height()) / 300).max(1) as i64 + 1;
    for f in faces {
        let [x, y, w, h] = f.bbox.map(|v| v.round() as i64);
        let c = Rgb([255, 220, 0]);
        for t in 0..thick {
            for i in x..=x + w {
                put(&mut out, i, y + t, c);
                put(&mut out, i, y + h - t, c);
            }
            for j in y..=y + h {
                put(&mut out, x + t, j, c);
                put(&mut out, x + w - t, j, c);
            }
        }
        let r = thick + 1;
        for (p, col) in f.landmarks.iter().zip(POINT_COLOURS) {
            let (px, py) = (p[0].round() as i64, p[1].round() as i64);
            for dy in -r..=r {
                for dx in -r..=r {
                    if dx * dx + dy * dy <= r * r {
                        put(&mut out, px + dx, py + dy, Rgb(col));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_box_edges_and_landmarks_inside_the_image_only() {
        let img = RgbImage::new(50, 40);
        let face =
            Face { bbox: [10.0, 5.0, 20.0, 20.0], score: 0.9, landmarks: [[15.0, 12.0]; 5], fallback: None };
        let edge =
            Face { bbox: [40.0, 30.0, 30.0, 30.0], score: 0.9, landmarks: [[49.0, 39.0]; 5], fallback: None };
        let out = draw_faces(&img, &[face, edge]);
        assert_eq!(out.get_pixel(10, 15).0, [255, 220, 0]);
        assert_eq!(out.get_pixel(20, 5).0, [255, 220, 0]);
        assert_eq!(out.get_pixel(15, 12).0, POINT_COLOURS[4]);
        assert_eq!(out.get_pixel(20, 20).0, [0, 0, 0]);
    }
}
