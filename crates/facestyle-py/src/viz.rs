//! The top patches for Python: for chosen units of chosen layers, the image patches (their
//! exact receptive fields) that excite each unit most over a collection, one grid per layer.

use std::path::PathBuf;

use facestyle_viz::VizError;
use facestyle_viz::report::{ReportConfig, build};
use facestyle_viz::scan::{self, scan_files};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors;

/// One layer's grid: name, RGB bytes, width, height, and the units with their patches as
/// JSON (`top_patches.json`'s layer entry).
type Grid<'py> = (String, Bound<'py, PyBytes>, u32, u32, String);

/// The grids, and the files skipped with the reason.
type Grids<'py> = (Vec<Grid<'py>>, Vec<(PathBuf, String)>);

/// Scans `files` and returns one grid per layer and the files skipped with the reason.
/// `progress(done, total)` is called with the GIL held after each file.
#[pyfunction]
#[pyo3(signature = (
    files, *, model = "vgg19".to_string(), layers = None, units = 9, top = 9, pick = "first".to_string(),
    size = 224, cell = 64, layout = "blocks".to_string(), progress = None
))]
#[allow(clippy::too_many_arguments)]
pub fn top_patches<'py>(
    py: Python<'py>,
    files: Vec<PathBuf>,
    model: String,
    layers: Option<Vec<String>>,
    units: usize,
    top: usize,
    pick: String,
    size: u32,
    cell: u32,
    layout: String,
    progress: Option<Py<PyAny>>,
) -> PyResult<Grids<'py>> {
    if let Some(p) = &progress
        && !p.bind(py).is_callable()
    {
        return Err(PyTypeError::new_err("progress: expected a callable progress(done, total)"));
    }
    scan::check_size(size).map_err(|e| errors::argument("size", e))?;
    let pick = pick.parse().map_err(|e: VizError| errors::argument("pick", e))?;
    let layout = layout.parse().map_err(|e: VizError| errors::argument("layout", e))?;
    let config = ReportConfig { units, top, pick, cell, layout };
    config.validate().map_err(errors::viz)?;
    if files.is_empty() {
        return Err(errors::argument("images", "no image files given"));
    }
    let total = files.len();
    let mut raised: Option<PyErr> = None;
    let done = py.detach(|| -> PyResult<_> {
        let probe = facestyle_viz::probe::named(&model).map_err(|e| match e {
            VizError::Model(_) => errors::argument("model", e),
            other => errors::viz(other),
        })?;
        let names: Vec<String> = match layers {
            Some(l) => l,
            None => probe.default_layers().into_iter().map(String::from).collect(),
        };
        let chosen = names
            .iter()
            .map(|l| probe.layer(l))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| errors::argument("layers", e))?;
        let scan = scan_files(probe.as_ref(), files, size, &chosen, top, &scan::load_file, &mut |n| {
            if let Some(cb) = &progress
                && raised.is_none()
                && let Err(e) = Python::attach(|py| cb.call1(py, (n, total)).and(py.check_signals()))
            {
                raised = Some(e);
            }
        });
        if raised.is_some() {
            return Ok(None);
        }
        if scan.skipped.len() == scan.files.len() {
            let first = scan.skipped.first().map(|(p, e)| format!(" (first: {}: {e})", p.display()));
            return Err(errors::argument(
                "images",
                format!("none of the {} images could be read{}", scan.files.len(), first.unwrap_or_default()),
            ));
        }
        let infos: Vec<_> = chosen.iter().map(|&l| &probe.layers()[l]).collect();
        let built = build(probe.as_ref(), &scan, &infos, &config, &scan::load_file).map_err(errors::viz)?;
        let skipped: Vec<(PathBuf, String)> =
            scan.skipped.iter().map(|(p, e)| (p.clone(), e.to_string())).collect();
        Ok(Some((built, skipped)))
    })?;
    if let Some(e) = raised {
        return Err(e);
    }
    let (built, skipped) = done.expect("a scan that was not interrupted");
    let grids = built
        .into_iter()
        .map(|(report, grid)| {
            let json = serde_json::to_string(&report).expect("a layer report serialises");
            (report.layer, PyBytes::new(py, grid.as_raw()), grid.width(), grid.height(), json)
        })
        .collect();
    Ok((grids, skipped))
}
