//! Face detection: YuNet on an image of any size (scaled so its long side is at most
//! `max_side`, padded to a multiple of 32), head decoding at strides 8/16/32, score threshold,
//! NMS and top-k, mapped back to the original image's pixels.

use burn::prelude::*;
use image::RgbImage;
use image::imageops::{FilterType, resize};
use serde::Serialize;

use crate::nms::nms;
use crate::yunet::{LevelOutput, YuNet};

/// One detected face in image pixels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Face {
    /// `[x, y, width, height]` of the box.
    pub bbox: [f32; 4],
    /// Detector confidence in [0, 1]: sqrt(class score x objectness).
    pub score: f32,
    /// Eye (image left), eye (image right), nose tip, mouth corner (left), mouth corner (right).
    pub landmarks: [[f32; 2]; 5],
}

impl Face {
    pub fn area(&self) -> f32 {
        self.bbox[2].max(0.0) * self.bbox[3].max(0.0)
    }
}

/// Detector settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectConfig {
    /// Minimum score of a face (default 0.9, as OpenCV's FaceDetectorYN).
    pub score_threshold: f32,
    /// Boxes overlapping a better one by more than this IoU are dropped (default 0.3).
    pub nms_threshold: f32,
    /// Candidates considered by NMS, best first (default 5000).
    pub top_k: usize,
    /// Images whose long side exceeds this are scaled down for detection (default 640).
    pub max_side: u32,
    /// Faces kept after NMS, best score first (default 100): a photo of thousands of tiny
    /// faces yields at most this many to align and embed.
    pub max_faces: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig { score_threshold: 0.9, nms_threshold: 0.3, top_k: 5000, max_side: 640, max_faces: 100 }
    }
}

/// Rounds `n` up to a multiple of 32.
pub fn pad32(n: u32) -> u32 {
    n.div_ceil(32) * 32
}

/// The BGR `[1, 3, H32, W32]` input for an RGB image, zero-padded at the right and bottom.
pub fn input_tensor(img: &RgbImage, device: &Device) -> Tensor<4> {
    let (pw, ph) = (pad32(img.width()) as usize, pad32(img.height()) as usize);
    let data = crate::photo::to_planes(img, crate::photo::Order::Bgr, pw, ph);
    Tensor::from_data(TensorData::new(data, [1, 3, ph, pw]), device)
}

/// Turns the heads' outputs into faces above `score_threshold` (before NMS), in input pixels.
pub fn decode(levels: &[LevelOutput], score_threshold: f32) -> Vec<Face> {
    let mut faces = Vec::new();
    for l in levels {
        let s = l.stride as f32;
        for r in 0..l.rows {
            for c in 0..l.cols {
                let i = r * l.cols + c;
                let score = (l.cls[i].clamp(0.0, 1.0) * l.obj[i].clamp(0.0, 1.0)).sqrt();
                if score < score_threshold {
                    continue;
                }
                let b = &l.bbox[i * 4..i * 4 + 4];
                let (cx, cy) = ((c as f32 + b[0]) * s, (r as f32 + b[1]) * s);
                let (w, h) = (b[2].exp() * s, b[3].exp() * s);
                let k = &l.kps[i * 10..i * 10 + 10];
                let landmarks =
                    std::array::from_fn(|n| [(k[2 * n] + c as f32) * s, (k[2 * n + 1] + r as f32) * s]);
                faces.push(Face { bbox: [cx - w / 2.0, cy - h / 2.0, w, h], score, landmarks });
            }
        }
    }
    faces
}

/// The faces of the heads' outputs (in input pixels), best score first: decoded above the
/// score threshold, NMS over the `top_k` best, at most `max_faces` kept.
pub fn select(levels: &[LevelOutput], config: &DetectConfig) -> Vec<Face> {
    let faces = decode(levels, config.score_threshold);
    let boxes: Vec<[f32; 4]> = faces.iter().map(|f| f.bbox).collect();
    let scores: Vec<f32> = faces.iter().map(|f| f.score).collect();
    let keep = nms(&boxes, &scores, config.nms_threshold, config.top_k, config.max_faces);
    keep.into_iter().map(|i| faces[i].clone()).collect()
}

/// The YuNet detector with its settings.
pub struct Detector {
    pub net: YuNet,
    pub config: DetectConfig,
    device: Device,
}

impl Detector {
    pub fn new(net: YuNet, config: DetectConfig, device: Device) -> Self {
        Detector { net, config, device }
    }

    /// The faces in `img` (at most `max_faces`), best score first.
    pub fn detect(&self, img: &RgbImage) -> Vec<Face> {
        self.detect_with(img, &self.config)
    }

    /// As [`Detector::detect`] with other settings.
    pub fn detect_with(&self, img: &RgbImage, config: &DetectConfig) -> Vec<Face> {
        let (w, h) = img.dimensions();
        let long = w.max(h);
        let scale = if long > config.max_side { config.max_side as f32 / long as f32 } else { 1.0 };
        let scaled;
        let input = if scale < 1.0 {
            let (sw, sh) =
                (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
            scaled = resize(img, sw, sh, FilterType::Triangle);
            &scaled
        } else {
            img
        };
        let levels = self.net.forward(input_tensor(input, &self.device));
        let mut kept = select(&levels, config);
        if scale < 1.0 {
            let (sx, sy) = (w as f32 / input.width() as f32, h as f32 / input.height() as f32);
            for f in &mut kept {
                f.bbox = [f.bbox[0] * sx, f.bbox[1] * sy, f.bbox[2] * sx, f.bbox[3] * sy];
                f.landmarks.iter_mut().for_each(|p| *p = [p[0] * sx, p[1] * sy]);
            }
        }
        kept
    }
}

/// The largest face (by box area), if any.
pub fn largest(faces: &[Face]) -> Option<&Face> {
    faces.iter().max_by(|a, b| a.area().total_cmp(&b.area()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_bgr_planes_zero_padded_to_multiples_of_32() {
        let img = RgbImage::from_fn(33, 2, |x, y| image::Rgb([x as u8, y as u8 + 100, 200 + (x % 7) as u8]));
        let device = Device::flex();
        let t = input_tensor(&img, &device);
        assert_eq!(t.dims(), [1, 3, 32, 64]);
        let v = t.into_data().try_to_vec::<f32>().unwrap();
        let plane = 32 * 64;
        for y in 0..32 {
            for x in 0..64 {
                let want = if x < 33 && y < 2 { img.get_pixel(x as u32, y as u32).0 } else { [0, 0, 0] };
                for (c, rgb) in [2, 1, 0].into_iter().enumerate() {
                    assert_eq!(v[c * plane + y * 64 + x], f32::from(want[rgb]), "channel {c} at ({x}, {y})");
                }
            }
        }
        for (w, h) in [(0, 0), (0, 5), (5, 0)] {
            let t = input_tensor(&RgbImage::new(w, h), &device);
            assert_eq!(t.dims(), [1, 3, pad32(h) as usize, pad32(w) as usize]);
        }
    }

    /// A stride-8 level of `rows x cols` cells, each a separate face (a box of one cell,
    /// touching but not overlapping its neighbours) scored by `score(cell)`.
    fn level(rows: usize, cols: usize, score: impl Fn(usize) -> f32) -> LevelOutput {
        let n = rows * cols;
        LevelOutput {
            stride: 8,
            rows,
            cols,
            cls: (0..n).map(&score).collect(),
            obj: vec![1.0; n],
            bbox: vec![0.0; n * 4],
            kps: vec![0.0; n * 10],
        }
    }

    #[test]
    fn at_most_max_faces_are_kept_best_first() {
        // 3000 separate faces; scores sqrt(cls) all distinct and above the threshold.
        let score = |i: usize| 0.9 + 0.1 * (i as f32 / 3000.0);
        let levels = [level(50, 60, score)];
        let config = DetectConfig { score_threshold: 0.5, ..DetectConfig::default() };
        assert_eq!(config.max_faces, 100);
        let faces = select(&levels, &config);
        assert_eq!(faces.len(), 100);
        assert!(faces.windows(2).all(|w| w[0].score >= w[1].score));
        let best = score(2999).sqrt();
        assert!((faces[0].score - best).abs() < 1e-6, "{} vs {best}", faces[0].score);
        let all = select(&levels, &DetectConfig { max_faces: usize::MAX, ..config });
        assert_eq!(all.len(), 3000);
        assert_eq!(&all[..100], &faces[..], "the cap keeps the best of what NMS keeps");
        assert!(select(&levels, &DetectConfig { max_faces: 0, ..config }).is_empty());
    }
}
