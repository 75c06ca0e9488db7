//! Plots of ferrotune studies, from Rust, the CLI (`ferrotune plot`) and
//! the dashboard alike.
//!
//! A plot is built in two steps. [`build`] turns a study's trials into a
//! [`Figure`] — plain data: panels of points, lines, bars, surfaces and
//! timelines, or parallel coordinates, with axes (linear, log for log
//! parameters, categories) and a colour scale. A renderer draws it:
//! [`to_svg`] and [`write_png`] with plotters (static files), [`to_html`]
//! as a self-contained page drawn by Apache ECharts in the browser, where
//! hovering a mark shows the trial's number, parameters and values. The
//! dashboard draws the same figures with the same browser code
//! ([`FIGURE_JS`], [`ECHARTS_JS`]).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ferrotune_plot::{build, to_svg, Kind, Options, StudyData};
//! let study = ferrotune::Study::builder("mlp")
//!     .storage(ferrotune::storage::open_read_only("sqlite:///ferrotune.db")?)
//!     .read_only()
//!     .load()?;
//! let fig = build(Kind::History, &StudyData::load(&study)?, &Options::default())?;
//! std::fs::write("history.svg", to_svg(&fig)?)?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod draw;
pub mod figure;
mod html;
mod kinds;

pub use draw::{to_svg, write_png};
pub use figure::Figure;
pub use html::{to_html, ECHARTS_JS, ECHARTS_LICENSE, FIGURE_JS};
pub use kinds::{build, StudyData};

use std::path::Path;

/// What can go wrong when plotting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From the library (storage, importance).
    #[error(transparent)]
    Ferrotune(#[from] ferrotune::Error),
    /// The plot cannot be made from this study or with these options.
    #[error("{0}")]
    Invalid(String),
    /// Drawing failed.
    #[error("drawing the plot failed: {0}")]
    Render(String),
    /// Writing the file failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The kinds of plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every value and the best so far, per objective.
    History,
    /// Learning curves, coloured by final value; pruned ones marked.
    Intermediate,
    /// Parallel coordinates (log axes for log parameters).
    Parallel,
    /// Each parameter against the objective.
    Slice,
    /// Pairs of parameters: observed points over a surrogate surface.
    Contour,
    /// Parameter importance (fANOVA or PED-ANOVA).
    Importance,
    /// The Pareto front of 2 or 3 objectives.
    Pareto,
    /// The empirical distribution of the objective.
    Edf,
    /// Trials per worker over time, by state.
    Timeline,
    /// Pairs of parameters, points coloured by rank.
    Rank,
}

impl Kind {
    /// Every kind, in the order the help text lists them.
    pub const ALL: [Kind; 10] = [
        Kind::History,
        Kind::Intermediate,
        Kind::Parallel,
        Kind::Slice,
        Kind::Contour,
        Kind::Importance,
        Kind::Pareto,
        Kind::Edf,
        Kind::Timeline,
        Kind::Rank,
    ];

    /// The name used on the command line and in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Kind::History => "history",
            Kind::Intermediate => "intermediate",
            Kind::Parallel => "parallel",
            Kind::Slice => "slice",
            Kind::Contour => "contour",
            Kind::Importance => "importance",
            Kind::Pareto => "pareto",
            Kind::Edf => "edf",
            Kind::Timeline => "timeline",
            Kind::Rank => "rank",
        }
    }

    /// Parses a name (see [`Kind::name`]).
    pub fn parse(s: &str) -> Result<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == s).ok_or_else(|| {
            Error::Invalid(format!(
                "unknown plot '{s}'; the plots are {}",
                Kind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

/// How to build a plot.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only these parameters (slice, parallel, contour, rank, importance).
    pub params: Option<Vec<String>>,
    /// Which objective (default 0).
    pub objective: usize,
    /// At most this many learning curves (intermediate; default 300).
    pub max_lines: usize,
    /// At most this many lines in parallel coordinates (default 1,000).
    pub max_parallel: usize,
    /// Cells per side of a contour surface (default 25).
    pub grid: usize,
    /// The importance method (importance plot).
    pub importance: ferrotune::importance::Method,
    /// Seed of the models behind contour and importance plots.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            params: None,
            objective: 0,
            max_lines: 300,
            max_parallel: 1000,
            grid: 25,
            importance: ferrotune::importance::Method::Fanova,
            seed: 0,
        }
    }
}

/// Writes `fig` to `path` as SVG, PNG or HTML, by the file's extension.
pub fn write(fig: &Figure, path: &Path) -> Result<()> {
    let io = |error| Error::Io { path: path.to_path_buf(), error };
    match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("svg") => std::fs::write(path, to_svg(fig)?).map_err(io),
        Some("png") => write_png(fig, path),
        Some("html" | "htm") => std::fs::write(path, to_html(fig)?).map_err(io),
        _ => Err(Error::Invalid(format!("{}: write the plot to a .svg, .png or .html file", path.display()))),
    }
}
