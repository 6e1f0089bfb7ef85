//! The settings of a style transfer in one place: [`StyleConfig`] with its defaults (the
//! [`FAST`] preset), the presets, the parsers of their text forms and the checks every caller
//! relies on ([`StyleConfig::validate`]).

use std::fmt;
use std::str::FromStr;

use crate::error::{Result, StyleError};
use crate::vgg::{LAYERS, Pooling, layer};

/// Where G starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Uniform noise in [0, 255] (the method's default).
    Noise,
    /// The content image.
    Content,
    /// `r * noise + (1 - r) * content`.
    Blend(f32),
}

impl FromStr for Init {
    type Err = StyleError;

    /// `noise`, `content` or `blend:R` with R in [0, 1].
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "noise" => Ok(Init::Noise),
            "content" => Ok(Init::Content),
            _ => match s.strip_prefix("blend:").map(str::parse::<f32>) {
                Some(Ok(r)) if (0.0..=1.0).contains(&r) => Ok(Init::Blend(r)),
                _ => Err(StyleError::Init(s.to_string())),
            },
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::Noise => f.write_str("noise"),
            Init::Content => f.write_str("content"),
            Init::Blend(r) => write!(f, "blend:{r}"),
        }
    }
}

/// How G is optimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Adam (epsilon 1e-8), one gradient step per iteration.
    Adam,
    /// L-BFGS with a strong-Wolfe line search (as Gatys et al.); an iteration is one evaluation
    /// of J and its gradient.
    Lbfgs,
}

impl Method {
    /// The step this optimiser takes unless told otherwise: Adam 5 pixel units, L-BFGS 1.
    pub fn default_lr(self) -> f64 {
        match self {
            Method::Adam => 5.0,
            Method::Lbfgs => 1.0,
        }
    }

    /// `adam` or `lbfgs`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Adam => "adam",
            Method::Lbfgs => "lbfgs",
        }
    }
}

/// The content layer unless asked otherwise.
pub const DEFAULT_CONTENT_LAYER: &str = "conv4_2";

/// The style layers and their weights lambda unless asked otherwise.
pub const DEFAULT_STYLE_LAYERS: [(&str, f32); 5] =
    [("conv1_1", 0.2), ("conv2_1", 0.2), ("conv3_1", 0.2), ("conv4_1", 0.2), ("conv5_1", 0.2)];

/// Everything a transfer needs besides its pictures. [`Default`] is the [`FAST`] preset with
/// alpha 1, the layers conv4_2 / conv1_1..conv5_1 at 0.2, max pooling, no TV and seed 1.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleConfig {
    pub method: Method,
    /// Content layer index (default conv4_2).
    pub content_layer: usize,
    /// Style layers and their weights lambda (default conv1_1..conv5_1, 0.2 each).
    pub style_layers: Vec<(usize, f32)>,
    pub alpha: f32,
    pub beta: f32,
    pub tv_weight: f32,
    /// Weight of the light-dark texture the transfer adds
    /// ([`luma_texture_cost`](crate::cost::luma_texture_cost)).
    pub luma_weight: f32,
    /// Iterations at full size (L-BFGS: evaluations of J).
    pub iterations: usize,
    /// Adam's step in pixel units (0-255), or L-BFGS's step factor (its first step changes a
    /// pixel value by `lr` on average).
    pub lr: f64,
    pub pooling: Pooling,
    pub init: Init,
    pub seed: u64,
    /// The coarser levels of a pyramid and their iterations (see [`Coarse`]); `iterations`
    /// run at full size after them.
    pub coarse: Coarse,
}

/// The levels of a coarse-to-fine pyramid below the output size: each level half the side of
/// the next, the coarsest first. A level whose short side would fall below
/// [`MIN_SIDE`](crate::picture::MIN_SIDE) is skipped.
#[derive(Debug, Clone, PartialEq)]
pub enum Coarse {
    /// These iterations at these levels (`[a, b]`: `a` at 1/4 of the side, `b` at 1/2); empty
    /// for a single level.
    Levels(Vec<usize>),
    /// `top` iterations at 1/2 of the side and half as many at each level below, down to the
    /// first level whose long side is at most [`COARSEST_SIDE`], two levels at least: `[20, 40]`
    /// for a 256-px picture, `[10, 20, 40]` at 512 px, `[5, 10, 20, 40]` at 1024 px. The style
    /// of the whole picture forms cheaply on the small levels, and so they reach down to the
    /// same size at every output size. Each level costs 1/8 of the one above it (half the
    /// iterations on a quarter of the pixels), so all of them together cost at most 8/7 of the
    /// top level's `top / 4` evaluations at the output size.
    Halving { top: usize },
}

/// The long side, in pixels, down to which [`Coarse::Halving`] reaches.
pub const COARSEST_SIDE: usize = 64;

impl Coarse {
    /// The iterations at each coarse level of a picture of this long side, coarsest first.
    pub fn levels(&self, long_side: usize) -> Vec<usize> {
        match self {
            Coarse::Levels(v) => v.clone(),
            Coarse::Halving { top } => {
                let mut n = 2;
                while long_side >> n > COARSEST_SIDE {
                    n += 1;
                }
                (0..n).rev().map(|k| (top >> k).max(1)).collect()
            }
        }
    }
}

impl Default for StyleConfig {
    fn default() -> Self {
        FAST.config()
    }
}

impl StyleConfig {
    /// Checks every setting: non-negative finite weights, a positive learning rate, at least
    /// one style layer, layers that VGG19 has.
    pub fn validate(&self) -> Result<()> {
        weight("alpha", self.alpha)?;
        weight("beta", self.beta)?;
        weight("tv_weight", self.tv_weight)?;
        weight("luma_weight", self.luma_weight)?;
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(StyleError::NotPositive { name: "lr", value: self.lr });
        }
        if self.style_layers.is_empty() {
            return Err(StyleError::NoStyleLayers);
        }
        let known = |i: usize| LAYERS.get(i).ok_or_else(|| StyleError::UnknownLayer(format!("#{i}")));
        known(self.content_layer)?;
        for &(i, lambda) in &self.style_layers {
            weight(&format!("lambda of {}", known(i)?), lambda)?;
        }
        Ok(())
    }

    /// Iterations over all levels of a picture of this long side (coarse ones included,
    /// before any is skipped for size).
    pub fn total_iterations(&self, long_side: usize) -> usize {
        self.iterations + self.coarse.levels(long_side).iter().sum::<usize>()
    }
}

/// `value` when it is a finite number >= 0, else [`StyleError::Weight`] naming it.
pub fn weight(name: &str, value: f32) -> Result<f32> {
    if !value.is_finite() || value < 0.0 {
        return Err(StyleError::Weight { name: name.to_string(), value });
    }
    Ok(value)
}

/// A named set of the settings that matter most: how G starts, how it is optimised, for how
/// long and with which style weight (alpha 1, the layers conv4_2 / conv1_1..conv5_1 at 0.2,
/// max pooling and no TV in both).
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    pub method: Method,
    pub init: Init,
    pub iterations: usize,
    pub beta: f32,
    /// Adam's step in pixel units, or L-BFGS's step factor.
    pub lr: f64,
    pub coarse: Coarse,
    /// Weight of the light-dark texture the transfer adds (see [`StyleConfig::luma_weight`]).
    pub luma_weight: f32,
}

/// The fast preset's weight of the light-dark texture the transfer adds
/// ([`luma_texture_cost`](crate::cost::luma_texture_cost)), chosen on the tables of
/// docs/style.md.
pub const LUMA_WEIGHT: f32 = 3e10;

/// The default: L-BFGS from the content image, beta 1e4, luminance-texture weight
/// [`LUMA_WEIGHT`], coarse to fine: 40 evaluations of J at 1/2 size (counting 10) and half as
/// many at each level below down to a long side of 64 px ([`Coarse::Halving`]; 20 at 1/4 of a
/// 256-px picture, counting 1.25), then 28 at full size: 39.25 evaluations at the output size
/// in all at 256 px, about 39.4 at 512 and 1024 px (chosen on the 15-pair tables of
/// docs/style.md).
pub const FAST: Preset = Preset {
    name: "fast",
    method: Method::Lbfgs,
    init: Init::Content,
    iterations: 28,
    beta: 1e4,
    lr: 1.0,
    coarse: Coarse::Halving { top: 40 },
    luma_weight: LUMA_WEIGHT,
};

/// The method as the course describes it: G starts as uniform noise, alpha / beta = 1e-3,
/// 300 Adam steps of 5 pixel units.
pub const GATYS: Preset = Preset {
    name: "gatys",
    method: Method::Adam,
    init: Init::Noise,
    iterations: 300,
    beta: 1e3,
    lr: 5.0,
    coarse: Coarse::Levels(Vec::new()),
    luma_weight: 0.0,
};

/// Every preset.
pub const PRESETS: [Preset; 2] = [FAST, GATYS];

/// The preset of that name.
pub fn preset(name: &str) -> Option<Preset> {
    PRESETS.into_iter().find(|p| p.name == name)
}

impl Preset {
    /// The full configuration of this preset: its settings, and the common ones (alpha 1,
    /// conv4_2 / conv1_1..conv5_1 at 0.2, max pooling, no TV, seed 1).
    pub fn config(&self) -> StyleConfig {
        StyleConfig {
            method: self.method,
            content_layer: layer(DEFAULT_CONTENT_LAYER).expect("a VGG19 layer"),
            style_layers: DEFAULT_STYLE_LAYERS
                .iter()
                .map(|&(name, lambda)| (layer(name).expect("a VGG19 layer"), lambda))
                .collect(),
            alpha: 1.0,
            beta: self.beta,
            tv_weight: 0.0,
            luma_weight: self.luma_weight,
            iterations: self.iterations,
            lr: self.lr,
            pooling: Pooling::Max,
            init: self.init,
            seed: 1,
            coarse: self.coarse.clone(),
        }
    }

    /// The learning rate for `method` under this preset: the preset's own when `method` is its
    /// optimiser, else that optimiser's default.
    pub fn lr_for(&self, method: Method) -> f64 {
        if method == self.method { self.lr } else { method.default_lr() }
    }
}

/// Settings given on top of a preset; `None` keeps the preset's. Another optimiser than the
/// preset's takes its own default step unless `lr` is given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub iterations: Option<usize>,
    pub method: Option<Method>,
    pub lr: Option<f64>,
    pub beta: Option<f32>,
    pub init: Option<Init>,
    pub coarse: Option<Vec<usize>>,
    pub luma_weight: Option<f32>,
}

impl Preset {
    /// This preset's configuration with `o` applied (not validated: see
    /// [`StyleConfig::validate`]).
    pub fn with(&self, o: &Overrides) -> StyleConfig {
        let mut c = self.config();
        if let Some(n) = o.iterations {
            c.iterations = n;
        }
        if let Some(m) = o.method {
            c.method = m;
            c.lr = self.lr_for(m);
        }
        if let Some(lr) = o.lr {
            c.lr = lr;
        }
        if let Some(b) = o.beta {
            c.beta = b;
        }
        if let Some(i) = o.init {
            c.init = i;
        }
        if let Some(levels) = &o.coarse {
            c.coarse = Coarse::Levels(levels.clone());
        }
        if let Some(w) = o.luma_weight {
            c.luma_weight = w;
        }
        c
    }
}

/// Coarse-level iterations from `20,10` (coarsest first); `none` or empty for none.
pub fn parse_coarse(s: &str) -> Result<Vec<usize>> {
    if s == "none" || s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',').map(|n| n.trim().parse::<usize>().map_err(|_| StyleError::Coarse(n.to_string()))).collect()
}

/// Style layers with their weights from `conv1_1:0.2,conv2_1:0.2` (a weight left out is 1).
pub fn parse_style_layers(s: &str) -> Result<Vec<(usize, f32)>> {
    let layers = s
        .split(',')
        .map(|item| {
            let (name, w) = item.split_once(':').unwrap_or((item, "1"));
            let name = name.trim();
            let lambda: f32 = w
                .trim()
                .parse()
                .map_err(|_| StyleError::NotANumber { what: "lambda", text: w.trim().to_string() })?;
            Ok((layer(name)?, weight(&format!("lambda of {name}"), lambda)?))
        })
        .collect::<Result<Vec<_>>>()?;
    if layers.is_empty() {
        return Err(StyleError::NoStyleLayers);
    }
    Ok(layers)
}

/// The blend weights of `styles` style images: `given` (one non-negative weight each), or
/// equal weights summing to 1.
pub fn blend_weights(given: Option<&[f32]>, styles: usize) -> Result<Vec<f32>> {
    if styles == 0 {
        return Err(StyleError::NoStyle);
    }
    let Some(given) = given else { return Ok(vec![1.0 / styles as f32; styles]) };
    if given.len() != styles {
        return Err(StyleError::BlendCount { weights: given.len(), styles });
    }
    given.iter().map(|&w| weight("blend weight", w)).collect()
}

/// Comma-separated numbers (`0.7,0.3`).
pub fn parse_numbers(s: &str, what: &'static str) -> Result<Vec<f32>> {
    s.split(',')
        .map(|w| {
            w.trim().parse::<f32>().map_err(|_| StyleError::NotANumber { what, text: w.trim().to_string() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vgg::layer_index;

    #[test]
    fn the_default_is_the_fast_preset_with_the_usual_layers() {
        let c = StyleConfig::default();
        assert_eq!(c, FAST.config());
        assert_eq!(c.content_layer, layer_index("conv4_2").unwrap());
        let names: Vec<&str> = c.style_layers.iter().map(|&(i, _)| LAYERS[i]).collect();
        assert_eq!(names, ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]);
        assert!(c.style_layers.iter().all(|&(_, w)| w == 0.2));
        assert_eq!((c.alpha, c.tv_weight, c.seed, c.pooling), (1.0, 0.0, 1, Pooling::Max));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn presets_keep_their_settings() {
        let f = FAST.config();
        assert_eq!(
            (f.method, f.init, f.iterations, f.beta, f.lr),
            (Method::Lbfgs, Init::Content, 28, 1e4, 1.0)
        );
        assert_eq!(f.coarse, Coarse::Halving { top: 40 });
        let g = GATYS.config();
        assert_eq!(
            (g.method, g.init, g.iterations, g.beta, g.lr),
            (Method::Adam, Init::Noise, 300, 1e3, 5.0)
        );
        assert!(g.coarse.levels(1024).is_empty());
        assert_eq!((f.luma_weight, g.luma_weight), (LUMA_WEIGHT, 0.0));
        let o = Overrides { luma_weight: Some(0.0), ..Overrides::default() };
        assert_eq!(FAST.with(&o).luma_weight, 0.0);
        assert_eq!(preset("gatys"), Some(GATYS));
        assert_eq!(preset("neural"), None);
        assert_eq!((FAST.lr_for(Method::Adam), GATYS.lr_for(Method::Lbfgs)), (5.0, 1.0));
        assert_eq!((FAST.lr_for(Method::Lbfgs), GATYS.lr_for(Method::Adam)), (1.0, 5.0));
    }

    #[test]
    fn halving_levels_reach_down_to_the_same_side_at_every_size() {
        let h = Coarse::Halving { top: 40 };
        assert_eq!(h.levels(256), [20, 40]);
        assert_eq!(h.levels(512), [10, 20, 40]);
        assert_eq!(h.levels(1024), [5, 10, 20, 40]);
        // 384 px: 192, 96, then 48, the first level at most 64 px.
        assert_eq!(h.levels(384), [10, 20, 40]);
        // Two levels at least, however small the picture; one iteration at least per level.
        assert_eq!(h.levels(64), [20, 40]);
        assert_eq!(Coarse::Halving { top: 2 }.levels(1024), [1, 1, 1, 2]);
        // At the output size they never cost more than 8/7 of top/4 (here 11.43).
        for side in [64, 100, 256, 300, 512, 700, 1024, 2048, 4096] {
            let levels = h.levels(side);
            let cost: f64 =
                levels.iter().rev().enumerate().map(|(k, &n)| n as f64 / 4f64.powi(k as i32 + 1)).sum();
            assert!(cost <= 40.0 / 4.0 * 8.0 / 7.0, "{side}: {levels:?} costs {cost}");
        }
        assert_eq!(Coarse::Levels(vec![3, 4]).levels(1024), [3, 4]);
    }

    #[test]
    fn text_forms_parse_and_bad_ones_say_why() {
        assert_eq!("blend:0.25".parse::<Init>().unwrap(), Init::Blend(0.25));
        assert_eq!(Init::Blend(0.25).to_string(), "blend:0.25");
        assert!("zeros".parse::<Init>().unwrap_err().to_string().contains("init 'zeros'"));
        assert!("blend:2".parse::<Init>().is_err());
        assert_eq!(parse_coarse("20, 10").unwrap(), [20, 10]);
        assert!(parse_coarse("none").unwrap().is_empty());
        assert_eq!(parse_coarse("4,x").unwrap_err().to_string(), "'x' is not a number of iterations");
        assert_eq!(parse_style_layers("conv1_1:0.5,conv2_1").unwrap(), [(0, 0.5), (2, 1.0)]);
        assert!(parse_style_layers("pool3:1").unwrap_err().to_string().contains("unknown layer 'pool3'"));
        let e = parse_style_layers("conv1_1:-2").unwrap_err().to_string();
        assert!(e.contains("lambda of conv1_1 must be a non-negative"), "{e}");
        assert_eq!(blend_weights(None, 4).unwrap(), [0.25; 4]);
        assert!(matches!(blend_weights(Some(&[1.0]), 2), Err(StyleError::BlendCount { .. })));
        assert!(blend_weights(Some(&[1.0, -1.0]), 2).is_err());
        assert!(parse_numbers("0.5,x", "blend weight").is_err());
    }

    #[test]
    fn validate_refuses_what_the_transfer_cannot_use() {
        let bad = |f: fn(&mut StyleConfig)| {
            let mut c = StyleConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(|c| c.beta = -1.0).starts_with("beta must be a non-negative"));
        assert!(bad(|c| c.alpha = f32::NAN).starts_with("alpha"));
        assert!(bad(|c| c.lr = 0.0).starts_with("lr must be a positive"));
        assert_eq!(bad(|c| c.style_layers.clear()), "no style layers");
        assert!(bad(|c| c.content_layer = 16).contains("unknown layer"));
    }
}
