//! Plots (plotters) as PNG or SVG, chosen by the output file's extension. Text is set in
//! DejaVu Sans (a 20 KB subset compiled in from `fonts/`, registered as plotters'
//! `sans-serif` for its ab_glyph renderer), so pictures look the same on every machine and no
//! C font library is needed. An SVG names the family `sans-serif` and leaves the glyphs to
//! the viewer.

use std::path::{Path, PathBuf};
use std::sync::Once;

use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// The font of every plot: DejaVu Sans, ASCII and Latin-1 (see `fonts/README.md`).
static FONT: &[u8] = include_bytes!("../fonts/DejaVuSans-subset.ttf");

/// The family the plots ask for; [`FONT`] is registered under it.
pub const FAMILY: &str = "sans-serif";

/// Registers [`FONT`] with plotters once per process.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are compiled in; the tests draw text with them, so they parse.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// The result of drawing on a plotters backend.
pub type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A picture plotters can draw on any backend.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);

    /// Draws on `area` (`size()` large, white).
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB>;

    /// The figure as an RGB picture.
    fn to_rgb(&self) -> Result<RgbImage, PlotError>
    where
        Self: Sized,
    {
        to_rgb(self)
    }

    /// The figure as an SVG document.
    fn to_svg(&self) -> Result<String, PlotError>
    where
        Self: Sized,
    {
        to_svg(self)
    }

    /// Writes the figure to `path`: PNG for `.png`, SVG for `.svg`.
    fn save(&self, path: impl AsRef<Path>) -> Result<(), PlotError>
    where
        Self: Sized,
    {
        save(self, path.as_ref())
    }
}

/// A plot file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// The format named by `path`'s extension (`.png` or `.svg`, any case).
    pub fn of(path: &Path) -> Result<Format, PlotError> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(PlotError::Format { path: path.to_path_buf() }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{}: a plot is written as .png or .svg", path.display())]
    Format { path: PathBuf },
    #[error("cannot draw the plot: {0}")]
    Draw(String),
    #[error("{}: cannot write the plot: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

fn drawn<E: std::error::Error + Send + Sync>(
    r: Result<(), DrawingAreaErrorKind<E>>,
) -> Result<(), PlotError> {
    r.map_err(|e| PlotError::Draw(e.to_string()))
}

/// Draws `fig` on a white picture.
pub fn to_rgb(fig: &impl Figure) -> Result<RgbImage, PlotError> {
    register_font();
    let (w, h) = fig.size();
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        drawn(fig.draw(&root))?;
        drawn(root.present())?;
    }
    Ok(RgbImage::from_raw(w, h, buf).expect("the buffer holds w x h RGB pixels"))
}

/// Draws `fig` as an SVG document with a white background.
pub fn to_svg(fig: &impl Figure) -> Result<String, PlotError> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, fig.size()).into_drawing_area();
        drawn(root.fill(&WHITE))?;
        drawn(fig.draw(&root))?;
        drawn(root.present())?;
    }
    Ok(svg)
}

/// Writes `fig` to `path` in the format its extension names.
pub fn save(fig: &impl Figure, path: &Path) -> Result<(), PlotError> {
    let fail = |message: String| PlotError::Write { path: path.to_path_buf(), message };
    match Format::of(path)? {
        Format::Png => to_rgb(fig)?.save(path).map_err(|e| fail(e.to_string())),
        Format::Svg => std::fs::write(path, to_svg(fig)?).map_err(|e| fail(e.to_string())),
    }
}

/// Decimals that tell apart about `labels` ticks evenly spread over `span`.
pub fn decimals(span: f64, labels: usize) -> usize {
    let step = span.abs() / labels.max(1) as f64;
    if !(step > 0.0 && step.is_finite()) {
        return 2;
    }
    (-step.log10().floor()).clamp(0.0, 8.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Labelled;

    impl Figure for Labelled {
        fn size(&self) -> (u32, u32) {
            (200, 120)
        }
        fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
            let mut chart = ChartBuilder::on(area)
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(30)
                .build_cartesian_2d(0f64..1f64, 0f64..1f64)?;
            chart.configure_mesh().x_desc("width (px)").label_style((FAMILY, 12)).draw()?;
            chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], RED.stroke_width(2)))?;
            Ok(())
        }
    }

    #[test]
    fn formats_follow_the_extension() {
        assert_eq!(Format::of(Path::new("a/roc.PNG")).unwrap(), Format::Png);
        assert_eq!(Format::of(Path::new("roc.svg")).unwrap(), Format::Svg);
        for bad in ["roc.jpg", "roc", "svg"] {
            let e = Format::of(Path::new(bad)).unwrap_err();
            assert!(e.to_string().contains(".png or .svg"), "{e}");
        }
    }

    #[test]
    fn figures_render_to_png_and_svg_with_their_text() {
        let dir = tempfile::tempdir().unwrap();
        let (png, svg) = (dir.path().join("f.png"), dir.path().join("f.svg"));
        Labelled.save(&png).unwrap();
        Labelled.save(&svg).unwrap();
        let img = image::open(&png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (200, 120));
        let dark = img.pixels().filter(|p| p.0.iter().all(|&c| c < 100)).count();
        assert!(dark > 100, "text and axes are drawn: {dark} dark pixels");
        assert!(img.pixels().any(|p| p.0 == [255, 0, 0]));
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg") && text.contains("\nwidth (px)\n</text>"), "{text}");
        assert!(matches!(Labelled.save(dir.path().join("f.gif")), Err(PlotError::Format { .. })));
    }

    #[test]
    fn decimals_follow_the_tick_step() {
        assert_eq!(decimals(1.0, 5), 1);
        assert_eq!(decimals(0.1, 5), 2);
        assert_eq!(decimals(40.0, 5), 0);
        assert_eq!(decimals(0.0, 5), 2);
    }
}
