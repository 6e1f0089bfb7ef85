//! Style transfer for Python: the CLI's options (the `method` preset, each option given
//! overriding it), a progress callback that can stop the run, and the quality figures.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use facestyle_nn::burn::module::Module;
use facestyle_style::config::{Init, Method, Overrides, blend_weights, parse_style_layers, preset};
use facestyle_style::inputs::Inputs;
use facestyle_style::picture::{self, MAX_SIZE, to_image};
use facestyle_style::quality;
use facestyle_style::transfer::transfer;
use facestyle_style::vgg::{Pooling, Vgg19, layer};
use facestyle_style::{StyleConfig, StyleError};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes};

use crate::errors;
use crate::picture::Picture;

/// VGG19, loaded once per process and shared by every thread.
static VGG: Mutex<Option<Arc<Vgg19>>> = Mutex::new(None);

fn vgg() -> PyResult<Arc<Vgg19>> {
    let mut slot = VGG.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(v) = slot.as_ref() {
        return Ok(v.clone());
    }
    let v = Arc::new(
        Vgg19::load_cached(&facestyle_nn::device::training_device()).map_err(errors::style)?.no_grad(),
    );
    *slot = Some(v.clone());
    Ok(v)
}

/// Style layers as `"conv1_1:0.2,conv2_1:0.2"` or as `[("conv1_1", 0.2), ...]`.
#[derive(FromPyObject)]
pub enum Layers {
    Text(String),
    Pairs(Vec<(String, f32)>),
}

impl Layers {
    fn resolve(self) -> Result<Vec<(usize, f32)>, StyleError> {
        match self {
            Layers::Text(s) => parse_style_layers(&s),
            Layers::Pairs(p) if p.is_empty() => Err(StyleError::NoStyleLayers),
            Layers::Pairs(p) => p.iter().map(|(name, w)| Ok((layer(name)?, *w))).collect(),
        }
    }
}

/// The options of one transfer, as the keyword arguments give them.
pub struct Options {
    pub size: u32,
    pub method: String,
    pub overrides: Overrides,
    pub alpha: f32,
    pub tv_weight: f32,
    pub seed: u64,
    pub content_layer: String,
    pub style_layers: Option<Layers>,
    pub pooling: String,
    pub style_scale: f32,
}

fn parse_method(name: &str) -> PyResult<Method> {
    match name {
        "adam" => Ok(Method::Adam),
        "lbfgs" | "l-bfgs" => Ok(Method::Lbfgs),
        other => Err(errors::argument("optimizer", format!("'{other}': expected 'adam' or 'lbfgs'"))),
    }
}

fn parse_pooling(name: &str) -> PyResult<Pooling> {
    match name {
        "max" => Ok(Pooling::Max),
        "avg" | "average" => Ok(Pooling::Average),
        other => Err(errors::argument("pooling", format!("'{other}': expected 'max' or 'avg'"))),
    }
}

impl Options {
    fn config(self) -> PyResult<StyleConfig> {
        let preset = preset(&self.method).ok_or_else(|| {
            errors::argument("method", format!("'{}': expected 'fast' or 'gatys'", self.method))
        })?;
        let mut c = preset.with(&self.overrides);
        (c.alpha, c.tv_weight, c.seed) = (self.alpha, self.tv_weight, self.seed);
        c.pooling = parse_pooling(&self.pooling)?;
        c.content_layer = layer(&self.content_layer).map_err(|e| errors::argument("content_layer", e))?;
        if let Some(l) = self.style_layers {
            c.style_layers = l.resolve().map_err(|e| errors::argument("style_layers", e))?;
        }
        c.validate().map_err(|e| errors::argument(e.setting(), e))?;
        Ok(c)
    }
}

/// What Python receives: RGB bytes, width, height, evaluations at the output size, SSIM,
/// style ratio, whether both meet the bar, J per step, seconds, whether the callback stopped it.
type Styled<'py> = (Bound<'py, PyBytes>, u32, u32, f64, f64, f64, bool, Vec<f32>, f64, bool);

/// The style transfer of the CLI's `facestyle style`. `progress(step, steps, loss)` is called
/// after every step with the GIL held; returning `False` stops the run (the picture so far is
/// returned), raising stops it and raises.
#[pyfunction]
#[pyo3(signature = (
    content, styles, *, size = 256, method = "fast".to_string(), iterations = None, alpha = 1.0,
    beta = None, tv_weight = 0.0, luma_weight = None, optimizer = None, lr = None, init = None, seed = 1,
    content_layer = "conv4_2".to_string(), style_layers = None, style_blend = None,
    pooling = "max".to_string(), preserve_colors = false, style_scale = 1.0, coarse = None,
    progress = None
))]
#[allow(clippy::too_many_arguments)]
pub fn style_transfer<'py>(
    py: Python<'py>,
    content: Py<Picture>,
    styles: Vec<Py<Picture>>,
    size: u32,
    method: String,
    iterations: Option<usize>,
    alpha: f32,
    beta: Option<f32>,
    tv_weight: f32,
    luma_weight: Option<f32>,
    optimizer: Option<String>,
    lr: Option<f64>,
    init: Option<String>,
    seed: u64,
    content_layer: String,
    style_layers: Option<Layers>,
    style_blend: Option<Vec<f32>>,
    pooling: String,
    preserve_colors: bool,
    style_scale: f32,
    coarse: Option<Vec<usize>>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Styled<'py>> {
    if let Some(p) = &progress
        && !p.bind(py).is_callable()
    {
        return Err(PyTypeError::new_err("progress: expected a callable progress(step, steps, loss)"));
    }
    let overrides = Overrides {
        iterations,
        method: optimizer.as_deref().map(parse_method).transpose()?,
        lr,
        beta,
        init: init.as_deref().map(str::parse::<Init>).transpose().map_err(|e| errors::argument("init", e))?,
        coarse,
        luma_weight,
    };
    let options = Options {
        size,
        method,
        overrides,
        alpha,
        tv_weight,
        seed,
        content_layer,
        style_layers,
        pooling,
        style_scale,
    };
    let (size, style_scale) = (options.size, options.style_scale);
    let config = options.config()?;
    picture::check_size(size, 1, MAX_SIZE).map_err(|e| errors::argument("size", e))?;
    let style_size =
        picture::style_size(size, style_scale).map_err(|e| errors::argument("style_scale", e))?;
    picture::check_size(style_size, 1, MAX_SIZE).map_err(|e| errors::argument("style_scale", e))?;
    let blend = blend_weights(style_blend.as_deref(), styles.len())
        .map_err(|e| errors::argument("style_blend", e))?;
    let content = content.get();
    picture::check_side(&content.image, size).map_err(|e| errors::argument(&content.name, e))?;
    for s in &styles {
        let s = s.get();
        picture::check_side(&s.image, style_size).map_err(|e| errors::argument(&s.name, e))?;
    }
    let vgg = py.detach(vgg)?;
    let t0 = Instant::now();
    let mut raised: Option<PyErr> = None;
    let (image, evals, q, losses, stopped) = py.detach(|| {
        let device = facestyle_nn::device::training_device();
        let style_images: Vec<_> = styles.iter().map(|s| s.get().image.clone()).collect();
        let inputs =
            Inputs::new(&content.image, &style_images, &blend, size, style_size, preserve_colors, &device);
        let steps = config.total_iterations(size as usize);
        let mut losses = Vec::new();
        let result = transfer(&vgg, inputs.content.clone(), &inputs.styles, &config, &mut |c, _| {
            losses.push(c.total);
            Python::attach(|py| {
                let go_on = match &progress {
                    Some(cb) => cb
                        .call1(py, (c.step + 1, steps, c.total))
                        .map(|r| !r.bind(py).is(PyBool::new(py, false))),
                    None => Ok(true),
                };
                match go_on.and_then(|g| py.check_signals().map(|()| g)) {
                    Ok(g) => g,
                    Err(e) => {
                        raised = Some(e);
                        false
                    }
                }
            })
        });
        let q = quality::measure(&vgg, result.image.clone(), inputs.content.clone(), &inputs.styles, &config);
        (to_image(inputs.finish(result.image)), result.evals, q, losses, result.stopped)
    });
    if let Some(e) = raised {
        return Err(e);
    }
    let seconds = t0.elapsed().as_secs_f64();
    let (w, h) = image.dimensions();
    Ok((
        PyBytes::new(py, image.as_raw()),
        w,
        h,
        evals,
        q.ssim,
        q.style_ratio,
        q.meets_bar(),
        losses,
        seconds,
        stopped,
    ))
}
