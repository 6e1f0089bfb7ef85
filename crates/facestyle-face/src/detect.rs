//! Face detection: YuNet on an image of any size (scaled so its long side is at most
//! `max_side`, padded to a multiple of 32), head decoding at strides 8/16/32, score threshold,
//! NMS and top-k, mapped back to the original image's pixels.
//!
//! When no face reaches the score threshold, the detector retries (see [`Retry`]): the same
//! pass's faces at a lower score, then the image with a border added. A photo that is only a
//! face (an ID or passport crop, a face data set's 92x112 grey crop) often scores below the
//! threshold, because the detector learnt faces with their surroundings and in colour. Faces
//! found so are marked with their [`Fallback`].

use burn::prelude::*;
use image::RgbImage;
use image::imageops::{FilterType, resize};
use serde::{Deserialize, Serialize};

use crate::nms::nms;
use crate::yunet::{LevelOutput, YuNet};

/// One detected face in image pixels.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Face {
    /// `[x, y, width, height]` of the box.
    pub bbox: [f32; 4],
    /// Detector confidence in [0, 1]: sqrt(class score x objectness).
    pub score: f32,
    /// Eye (image left), eye (image right), nose tip, mouth corner (left), mouth corner (right).
    pub landmarks: [[f32; 2]; 5],
    /// How the face was found when the pass at the score threshold found none (`None`: at
    /// the threshold, on the image as given).
    pub fallback: Option<Fallback>,
}

/// How a face was found when the detector's pass at its score threshold found no face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// On the image as given, at the retry's lower score threshold.
    LowScore,
    /// On the image with a border added (a face that fills the frame), at the retry's score
    /// threshold.
    Padded,
}

impl Fallback {
    /// The name used in JSON answers (`low_score`, `padded`).
    pub fn name(self) -> &'static str {
        match self {
            Fallback::LowScore => "low_score",
            Fallback::Padded => "padded",
        }
    }
}

/// What the detector tries when no face reaches the score threshold: the faces of the same
/// pass at `score_threshold` (no extra network pass), then the image with a border of `pad`
/// on each side in `fill`, at `score_threshold`.
///
/// The defaults were measured on close crops of 2000 LFW faces (92x112, 64x64, 112x112 and
/// 160x160, colour and grey) and on 1630 pictures without faces (docs/security.md, "The
/// detector on close crops"): a face is found in all but at most 0.15% of the crops of any
/// size, and no face is found in the pictures without one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// Score threshold of the retries (at most the detector's own; default 0.7).
    pub score_threshold: f32,
    /// Border on each side, as a fraction of the image's width (left, right) and height (top,
    /// bottom); default 0.35.
    pub pad: f32,
    /// The border's colour (default black).
    pub fill: PadFill,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { score_threshold: 0.7, pad: 0.35, fill: PadFill::Black }
    }
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
    /// What to try when no face reaches the score threshold (default [`Retry::default`];
    /// `None`: nothing).
    pub retry: Option<Retry>,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            score_threshold: 0.9,
            nms_threshold: 0.3,
            top_k: 5000,
            max_side: 640,
            max_faces: 100,
            retry: Some(Retry::default()),
        }
    }
}

impl DetectConfig {
    /// The default settings with this score threshold, long side and fallback ([`Retry`]'s
    /// default, or none), checked: the threshold in [0, 1], the long side at least 32 pixels.
    pub fn with(score_threshold: f32, max_side: u32, fallback: bool) -> crate::Result<Self> {
        if !(0.0..=1.0).contains(&score_threshold) {
            let problem = format!("{score_threshold} is not in [0, 1]");
            return Err(crate::FaceError::Setting { name: "score_threshold", problem });
        }
        if max_side < 32 {
            let problem = format!("{max_side} is below 32 pixels");
            return Err(crate::FaceError::Setting { name: "max_side", problem });
        }
        Ok(DetectConfig {
            score_threshold,
            max_side,
            retry: fallback.then(Retry::default),
            ..DetectConfig::default()
        })
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
                faces.push(Face {
                    bbox: [cx - w / 2.0, cy - h / 2.0, w, h],
                    score,
                    landmarks,
                    fallback: None,
                });
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

    /// The faces in `img` (at most `max_faces`), best score first, with the retry of the
    /// settings when no face reaches the score threshold.
    pub fn detect(&self, img: &RgbImage) -> Vec<Face> {
        self.detect_with(img, &self.config)
    }

    /// As [`Detector::detect`] with other settings.
    pub fn detect_with(&self, img: &RgbImage, config: &DetectConfig) -> Vec<Face> {
        let Some(retry) = config.retry else { return self.pass(img, config) };
        // One pass at the lower threshold serves both: greedy NMS keeps a face of score >= t
        // exactly when NMS over the faces of score >= t alone keeps it (and the cap keeps the
        // same best ones).
        let low = DetectConfig {
            score_threshold: retry.score_threshold.min(config.score_threshold),
            retry: None,
            ..*config
        };
        let faces = confident_or_low(self.pass(img, &low), config.score_threshold);
        if !faces.is_empty() {
            return faces;
        }
        let mut padded = self.detect_padded(img, retry.pad, retry.fill, &low);
        padded.iter_mut().for_each(|f| f.fallback = Some(Fallback::Padded));
        padded
    }

    /// One pass of the network over `img` with `config`'s thresholds, no retry.
    fn pass(&self, img: &RgbImage, config: &DetectConfig) -> Vec<Face> {
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

    /// The faces of `img` with a border around it (see [`pad_image`]), found with `config`
    /// (its retry included) and given in `img`'s pixels (boxes and landmarks may lie outside
    /// it). An image whose padded long side would exceed `max_side` is scaled down before the
    /// border is added, so the padded copy is never larger than the detector's input.
    pub fn detect_padded(&self, img: &RgbImage, pad: f32, fill: PadFill, config: &DetectConfig) -> Vec<Face> {
        let (w, h) = img.dimensions();
        if w == 0 || h == 0 {
            return vec![];
        }
        let long = w.max(h) as f32 * (1.0 + 2.0 * pad.max(0.0));
        let scaled;
        let src = if long > config.max_side as f32 {
            let s = config.max_side as f32 / long;
            let (sw, sh) = (((w as f32 * s).round() as u32).max(1), ((h as f32 * s).round() as u32).max(1));
            scaled = resize(img, sw, sh, FilterType::Triangle);
            &scaled
        } else {
            img
        };
        let (padded, [ox, oy]) = pad_image(src, pad, fill);
        let mut faces = self.detect_with(&padded, config);
        let (ox, oy) = (ox as f32, oy as f32);
        let (sx, sy) = (w as f32 / src.width() as f32, h as f32 / src.height() as f32);
        for f in &mut faces {
            let [x, y, bw, bh] = f.bbox;
            f.bbox = [(x - ox) * sx, (y - oy) * sy, bw * sx, bh * sy];
            f.landmarks.iter_mut().for_each(|p| *p = [(p[0] - ox) * sx, (p[1] - oy) * sy]);
        }
        faces
    }
}

/// The faces of a pass at a retry's lower threshold, best first: those scoring at least
/// `threshold` when there are any, else all of them marked [`Fallback::LowScore`].
pub fn confident_or_low(faces: Vec<Face>, threshold: f32) -> Vec<Face> {
    if faces.iter().any(|f| f.score >= threshold) {
        return faces.into_iter().filter(|f| f.score >= threshold).collect();
    }
    faces.into_iter().map(|f| Face { fallback: Some(Fallback::LowScore), ..f }).collect()
}

/// The border that [`pad_image`] adds around an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PadFill {
    /// Each border pixel repeats the nearest pixel of the image's edge.
    Edge,
    /// The image's mean colour.
    Mean,
    /// Black.
    Black,
}

/// `img` with a border of `round(pad * width)` pixels at the left and right and
/// `round(pad * height)` at the top and bottom, and the image's offset `[x, y]` in it.
pub fn pad_image(img: &RgbImage, pad: f32, fill: PadFill) -> (RgbImage, [u32; 2]) {
    let (w, h) = img.dimensions();
    let (px, py) = ((pad.max(0.0) * w as f32).round() as u32, (pad.max(0.0) * h as f32).round() as u32);
    let (pw, ph) = (w + 2 * px, h + 2 * py);
    let mut out = match fill {
        PadFill::Black | PadFill::Edge => RgbImage::new(pw, ph),
        PadFill::Mean => {
            let n = (w as u64 * h as u64).max(1);
            let mut sum = [0u64; 3];
            for p in img.pixels() {
                (0..3).for_each(|c| sum[c] += u64::from(p.0[c]));
            }
            RgbImage::from_pixel(pw, ph, image::Rgb(sum.map(|s| (s as f64 / n as f64).round() as u8)))
        }
    };
    if w == 0 || h == 0 {
        return (out, [px, py]);
    }
    if fill == PadFill::Edge {
        for (x, y, p) in out.enumerate_pixels_mut() {
            let sx = x.saturating_sub(px).min(w - 1);
            let sy = y.saturating_sub(py).min(h - 1);
            *p = *img.get_pixel(sx, sy);
        }
    } else {
        image::imageops::replace(&mut out, img, i64::from(px), i64::from(py));
    }
    (out, [px, py])
}

/// The largest face (by box area), if any.
pub fn largest(faces: &[Face]) -> Option<&Face> {
    faces.iter().max_by(|a, b| a.area().total_cmp(&b.area()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_named() {
        let c = DetectConfig::with(0.5, 320, false).unwrap();
        assert_eq!((c.score_threshold, c.max_side, c.retry), (0.5, 320, None));
        assert_eq!(DetectConfig::with(0.9, 640, true).unwrap(), DetectConfig::default());
        for (score, side, name) in
            [(1.5, 640, "score_threshold"), (f32::NAN, 640, "score_threshold"), (0.9, 31, "max_side")]
        {
            match DetectConfig::with(score, side, true) {
                Err(crate::FaceError::Setting { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{score} {side}: {other:?}"),
            }
        }
    }

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

    #[test]
    fn pad_image_adds_the_border_around_the_image() {
        let img = RgbImage::from_fn(4, 2, |x, y| image::Rgb([10 * x as u8, 100 + y as u8, 7]));
        for fill in [PadFill::Black, PadFill::Edge, PadFill::Mean] {
            // 0.5 of 4 = 2 columns each side, 0.5 of 2 = 1 row above and below.
            let (out, offset) = pad_image(&img, 0.5, fill);
            assert_eq!((out.dimensions(), offset), ((8, 4), [2, 1]), "{fill:?}");
            for (x, y, p) in img.enumerate_pixels() {
                assert_eq!(out.get_pixel(x + 2, y + 1), p, "{fill:?} inside");
            }
            let corner = out.get_pixel(0, 0).0;
            let right = out.get_pixel(7, 2).0;
            match fill {
                PadFill::Black => assert_eq!((corner, right), ([0; 3], [0; 3])),
                PadFill::Edge => assert_eq!((corner, right), ([0, 100, 7], [30, 101, 7])),
                // Means of 0,10,20,30 (15) and 100,101 (100.5, rounded to 101).
                PadFill::Mean => assert_eq!((corner, right), ([15, 101, 7], [15, 101, 7])),
            }
        }
        assert_eq!(pad_image(&img, 0.0, PadFill::Edge).0, img);
        assert_eq!(pad_image(&RgbImage::new(0, 3), 0.5, PadFill::Edge).0.dimensions(), (0, 7));
    }

    fn face(score: f32) -> Face {
        Face { bbox: [0.0, 0.0, 10.0, 10.0], score, landmarks: [[5.0, 5.0]; 5], fallback: None }
    }

    #[test]
    fn faces_below_the_threshold_count_only_when_none_reaches_it() {
        let some = confident_or_low(vec![face(0.95), face(0.8), face(0.91)], 0.9);
        assert_eq!(some, vec![face(0.95), face(0.91)]);
        let low = confident_or_low(vec![face(0.85), face(0.72)], 0.9);
        assert_eq!(
            low.iter().map(|f| (f.score, f.fallback)).collect::<Vec<_>>(),
            [(0.85, Some(Fallback::LowScore)), (0.72, Some(Fallback::LowScore))]
        );
        assert!(confident_or_low(vec![], 0.9).is_empty());
    }

    #[test]
    fn the_low_pass_keeps_the_faces_of_a_pass_at_the_threshold() {
        // Overlapping faces of many scores: NMS at 0.7 then the faces >= 0.9 is NMS at 0.9,
        // with every cap.
        let score = |i: usize| 0.5 + 0.5 * ((i * 7919) % 1000) as f32 / 1000.0;
        let mut l = level(20, 20, score);
        l.bbox.iter_mut().skip(2).step_by(4).for_each(|w| *w = 1.0);
        l.bbox.iter_mut().skip(3).step_by(4).for_each(|h| *h = 1.0);
        for max_faces in [3, 10, 100] {
            let high = DetectConfig { max_faces, retry: None, ..DetectConfig::default() };
            let low = DetectConfig { score_threshold: 0.7, ..high };
            let want = select(&[l.clone()], &high);
            assert!(!want.is_empty());
            assert_eq!(confident_or_low(select(&[l.clone()], &low), 0.9), want, "max_faces {max_faces}");
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
