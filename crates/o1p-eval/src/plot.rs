//! Plots, drawn entirely by plotters, as SVG or PNG (chosen by the file extension):
//!
//! - [`plot_length_histograms`]: response-length distributions of several runs, overlaid on
//!   shared bins (before vs after pruning);
//! - [`plot_quartile_accuracy`]: accuracy per length quartile, grouped bars per run (Table 1);
//! - [`plot_length_by_difficulty`]: mean length per difficulty bucket, one line per run;
//! - [`plot_accuracy_vs_length`]: one labelled point per run, accuracy against mean length
//!   (several rewards or methods compared on one benchmark).
//!
//! Text: plotters' default `ttf` font backend links the system's fontconfig and freetype and
//! needs installed fonts, which a bare CI machine may lack. We build plotters with `ab_glyph`
//! instead and register DejaVu Sans, embedded from the `dejavu` crate, so labels render the
//! same everywhere with no system packages.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::RangedCoordi32;
use plotters::prelude::*;

use crate::disharmony::{DifficultyBreakdown, QuartileReport};
use crate::error::{EvalError, Result};

/// Output format, from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotFormat {
    /// Scalable vector graphics (`.svg`); text stays text.
    Svg,
    /// Raster image (`.png`); text is rasterised with the embedded font.
    Png,
}

impl PlotFormat {
    /// The format for `path`'s extension (case-insensitive), or an error for anything else.
    ///
    /// ```
    /// # use o1p_eval::PlotFormat;
    /// assert_eq!(PlotFormat::from_path("out/len.PNG").unwrap(), PlotFormat::Png);
    /// assert!(PlotFormat::from_path("out/len.jpg").is_err());
    /// ```
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(PlotFormat::Svg),
            Some("png") => Ok(PlotFormat::Png),
            _ => Err(EvalError::UnsupportedPlotFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Image size in pixels (SVG user units). Default 900 x 540.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlotSize {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Default for PlotSize {
    fn default() -> Self {
        PlotSize {
            width: 900,
            height: 540,
        }
    }
}

/// Colour-blind-safe series colours (Okabe-Ito), cycled.
const COLORS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

const FONT: &str = "sans-serif";

/// Registers the embedded font once per process under the family names plotters asks for.
fn ensure_fonts() -> std::result::Result<(), String> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let fonts = [
                (FontStyle::Normal, dejavu::sans::regular()),
                (FontStyle::Bold, dejavu::sans::bold()),
            ];
            for family in ["sans-serif", "serif", "monospace"] {
                for (style, bytes) in fonts {
                    plotters::style::register_font(family, style, bytes)
                        .map_err(|_| "the embedded DejaVu Sans font did not parse".to_string())?;
                }
            }
            Ok(())
        })
        .clone()
}

/// One chart, drawable on any plotters backend.
trait Chart {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String>;
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draws `chart` into `path` in the format its extension names.
fn render(path: &Path, size: PlotSize, chart: &impl Chart) -> Result<()> {
    let format = PlotFormat::from_path(path)?;
    let plot_err = |message: String| EvalError::Plot {
        path: path.to_path_buf(),
        message,
    };
    ensure_fonts().map_err(plot_err)?;
    let dims = (size.width, size.height);
    let result = match format {
        PlotFormat::Svg => {
            let root = SVGBackend::new(path, dims).into_drawing_area();
            chart.draw(&root).and_then(|()| root.present().map_err(err))
        }
        PlotFormat::Png => {
            let root = BitMapBackend::new(path, dims).into_drawing_area();
            chart.draw(&root).and_then(|()| root.present().map_err(err))
        }
    };
    result.map_err(plot_err)
}

struct Histograms<'a> {
    runs: &'a [(&'a str, &'a [usize])],
    bins: usize,
}

impl Chart for Histograms<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let max_len = self
            .runs
            .iter()
            .flat_map(|(_, l)| l.iter().copied())
            .max()
            .unwrap_or(0);
        // Shared bins, so bars of different runs line up; at least 1 token wide.
        let width = (max_len + 1).div_ceil(self.bins).max(1);
        let shares: Vec<Vec<f64>> = self
            .runs
            .iter()
            .map(|(_, lengths)| {
                let mut counts = vec![0usize; self.bins];
                for &l in lengths.iter() {
                    counts[(l / width).min(self.bins - 1)] += 1;
                }
                let n = lengths.len().max(1) as f64;
                counts.iter().map(|&c| 100.0 * c as f64 / n).collect()
            })
            .collect();
        let y_max = shares
            .iter()
            .flatten()
            .copied()
            .fold(0.0, f64::max)
            .max(1.0)
            * 1.1;
        let x_max = (width * self.bins) as f64;

        let mut chart = ChartBuilder::on(root)
            .caption("Response length distribution", (FONT, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(err)?;
        let x_fmt = |x: &f64| format!("{x:.0}");
        let y_fmt = |y: &f64| {
            if y_max < 5.0 {
                format!("{y:.1}")
            } else {
                format!("{y:.0}")
            }
        };
        chart
            .configure_mesh()
            .x_desc("response length (tokens)")
            .y_desc("share of responses (%)")
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(err)?;
        for (i, ((label, lengths), share)) in self.runs.iter().zip(&shares).enumerate() {
            let c = color(i);
            let mean = lengths.iter().sum::<usize>() as f64 / lengths.len().max(1) as f64;
            chart
                .draw_series(share.iter().enumerate().map(|(b, &s)| {
                    let x0 = (b * width) as f64;
                    Rectangle::new([(x0, 0.0), (x0 + width as f64, s)], c.mix(0.45).filled())
                }))
                .map_err(err)?
                .label(format!("{label} (mean {mean:.0})"))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.mix(0.45).filled())
                });
            // The mean as a vertical line in the run's colour.
            chart
                .draw_series(LineSeries::new(
                    [(mean, 0.0), (mean, y_max)],
                    c.stroke_width(2),
                ))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)
    }
}

/// Overlaid length histograms of several runs (e.g. `[("base", &base_lengths), ("pruned",
/// &pruned_lengths)]`) on `bins` shared bins, as shares of each run's responses, with each
/// run's mean marked. Errors on no runs, no lengths at all, zero bins, or a drawing failure.
///
/// ```
/// # use o1p_eval::{PlotSize, plot_length_histograms};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("lengths.svg");
/// let before = [900, 1000, 1200, 800];
/// let after = [500, 600, 450, 700];
/// plot_length_histograms(&path, &[("base", &before[..]), ("pruned", &after[..])], 20,
///                        PlotSize::default()).unwrap();
/// assert!(std::fs::read_to_string(&path).unwrap().contains("pruned (mean 562)"));
/// ```
pub fn plot_length_histograms(
    path: impl AsRef<Path>,
    runs: &[(&str, &[usize])],
    bins: usize,
    size: PlotSize,
) -> Result<()> {
    if bins == 0 {
        return Err(EvalError::InvalidConfig(
            "histogram needs at least 1 bin".into(),
        ));
    }
    if runs.iter().all(|(_, l)| l.is_empty()) {
        return Err(EvalError::Empty {
            what: "a length histogram",
        });
    }
    render(path.as_ref(), size, &Histograms { runs, bins })
}

/// Width of one category on a category axis. Integer coordinates, because plotters can label
/// a key-point axis over integers but not over floats.
const SLOT: i32 = 1000;

/// Category axis: category `i` spans `[i * SLOT, (i + 1) * SLOT)`, ticks only at the centres.
fn category_axis(n: usize) -> WithKeyPoints<RangedCoordi32> {
    let n = n as i32;
    (0..n * SLOT).with_key_points((0..n).map(|i| i * SLOT + SLOT / 2).collect())
}

/// The category index a coordinate on a category axis falls in.
fn category_index(x: i32) -> usize {
    (x.max(0) / SLOT) as usize
}

struct Quartiles<'a> {
    runs: &'a [(&'a str, &'a QuartileReport)],
}

impl Chart for Quartiles<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let names = ["Q1 (shortest)", "Q2", "Q3", "Q4 (longest)"];
        let mut chart = ChartBuilder::on(root)
            .caption("Accuracy by response-length quartile", (FONT, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            // Headroom above 100 % keeps the legend clear of the bars.
            .build_cartesian_2d(category_axis(4), 0.0..125.0)
            .map_err(err)?;
        let x_fmt = |x: &i32| names.get(category_index(*x)).unwrap_or(&"").to_string();
        let y_fmt = |y: &f64| {
            if *y <= 100.0 + 1e-9 {
                format!("{y:.0}")
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("length quartile within each problem")
            .y_desc("accuracy (%)")
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(err)?;
        // Each quartile's slot holds one bar per run, with a 10 % gap either side.
        let bar = (SLOT * 8 / 10) / self.runs.len() as i32;
        for (i, (label, report)) in self.runs.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series((0..4usize).map(|q| {
                    let x0 = q as i32 * SLOT + SLOT / 10 + i as i32 * bar;
                    Rectangle::new(
                        [(x0, 0.0), (x0 + bar, 100.0 * report.accuracy[q])],
                        c.filled(),
                    )
                }))
                .map_err(err)?
                .label(label.to_string())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(err)
    }
}

/// Grouped bars of accuracy per length quartile, one bar per run in each quartile. Errors on
/// no runs or a drawing failure.
pub fn plot_quartile_accuracy(
    path: impl AsRef<Path>,
    runs: &[(&str, &QuartileReport)],
    size: PlotSize,
) -> Result<()> {
    if runs.is_empty() {
        return Err(EvalError::Empty {
            what: "a quartile plot",
        });
    }
    render(path.as_ref(), size, &Quartiles { runs })
}

struct ByDifficulty<'a> {
    runs: &'a [(&'a str, &'a DifficultyBreakdown)],
    labels: Vec<String>,
}

impl Chart for ByDifficulty<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let y_max = self
            .runs
            .iter()
            .flat_map(|(_, b)| b.rows.iter().map(|r| r.mean_tokens))
            .fold(0.0, f64::max)
            .max(1.0)
            * 1.3;
        let mut chart = ChartBuilder::on(root)
            .caption("Mean response length by difficulty", (FONT, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(category_axis(self.labels.len()), 0.0..y_max)
            .map_err(err)?;
        let x_fmt = |x: &i32| {
            self.labels
                .get(category_index(*x))
                .cloned()
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("difficulty")
            .y_desc("mean length (tokens)")
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&|y: &f64| format!("{y:.0}"))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(err)?;
        for (i, (label, breakdown)) in self.runs.iter().enumerate() {
            let c = color(i);
            // Points in the shared label order; buckets a run lacks are skipped.
            let points: Vec<(i32, f64)> = self
                .labels
                .iter()
                .enumerate()
                .filter_map(|(k, l)| {
                    breakdown
                        .rows
                        .iter()
                        .find(|r| &r.label == l)
                        .map(|r| (k as i32 * SLOT + SLOT / 2, r.mean_tokens))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), c.stroke_width(3)))
                .map_err(err)?
                .label(label.to_string())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], c.stroke_width(3)));
            chart
                .draw_series(points.into_iter().map(|p| Circle::new(p, 5, c.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(err)
    }
}

/// Mean length per difficulty bucket, one line per run (e.g. before and after pruning). The
/// x axis lists the buckets of the first run, then any only later runs have. Errors on no
/// runs, no buckets, or a drawing failure.
pub fn plot_length_by_difficulty(
    path: impl AsRef<Path>,
    runs: &[(&str, &DifficultyBreakdown)],
    size: PlotSize,
) -> Result<()> {
    let mut labels: Vec<String> = Vec::new();
    for (_, b) in runs {
        for r in &b.rows {
            if !labels.contains(&r.label) {
                labels.push(r.label.clone());
            }
        }
    }
    if labels.is_empty() {
        return Err(EvalError::Empty {
            what: "a difficulty plot",
        });
    }
    render(path.as_ref(), size, &ByDifficulty { runs, labels })
}

/// One run of [`plot_accuracy_vs_length`]: its label, mean response length and accuracy (%).
#[derive(Debug, Clone, PartialEq)]
pub struct AccuracyLengthPoint {
    /// The run's label, written next to its point.
    pub label: String,
    /// Mean response length in tokens.
    pub mean_tokens: f64,
    /// Accuracy in percent.
    pub accuracy: f64,
}

struct AccuracyVsLength<'a> {
    points: &'a [AccuracyLengthPoint],
    title: &'a str,
}

impl Chart for AccuracyVsLength<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let (mut x_lo, mut x_hi) = (f64::INFINITY, 0.0f64);
        let (mut y_lo, mut y_hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for p in self.points {
            x_lo = x_lo.min(p.mean_tokens);
            x_hi = x_hi.max(p.mean_tokens);
            y_lo = y_lo.min(p.accuracy);
            y_hi = y_hi.max(p.accuracy);
        }
        // Room around the points for their labels.
        let x_pad = ((x_hi - x_lo) * 0.15).max(5.0);
        let y_pad = ((y_hi - y_lo) * 0.12).max(2.0);
        let x_range = (x_lo - x_pad).max(0.0)..x_hi + x_pad * 2.0;
        let y_range = (y_lo - y_pad).max(0.0)..(y_hi + y_pad).min(100.0 + y_pad);
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range, y_range)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("mean response length (tokens)")
            .y_desc("accuracy (%)")
            .x_label_formatter(&|x: &f64| format!("{x:.0}"))
            .y_label_formatter(&|y: &f64| format!("{y:.0}"))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(err)?;
        for (i, p) in self.points.iter().enumerate() {
            let c = color(i);
            let at = (p.mean_tokens, p.accuracy);
            chart
                .draw_series(std::iter::once(Circle::new(at, 6, c.filled())))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(
                    Text::new(p.label.clone(), at, (FONT, 14).into_font().color(&BLACK)).into_dyn(),
                ))
                .map_err(err)?;
        }
        Ok(())
    }
}

/// Accuracy against mean response length, one labelled point per run: the trade-off of
/// several rewards or methods on one benchmark (up and to the left is better). Errors on no
/// points, a non-finite value, or a drawing failure.
pub fn plot_accuracy_vs_length(
    path: impl AsRef<Path>,
    title: &str,
    points: &[AccuracyLengthPoint],
    size: PlotSize,
) -> Result<()> {
    if points.is_empty() {
        return Err(EvalError::Empty {
            what: "an accuracy-against-length plot",
        });
    }
    if let Some(p) = points
        .iter()
        .find(|p| !(p.mean_tokens.is_finite() && p.accuracy.is_finite()))
    {
        return Err(EvalError::Plot {
            path: path.as_ref().to_path_buf(),
            message: format!("{}: non-finite length or accuracy", p.label),
        });
    }
    render(path.as_ref(), size, &AccuracyVsLength { points, title })
}
