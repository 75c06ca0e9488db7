//! The figure model every plot kind builds and every renderer draws: plain
//! data, serialisable as the JSON the browser side reads. Values are in
//! data units; a log axis is a rendering choice, a categorical axis takes
//! the index of the category.

use indexmap::IndexMap;
use serde::Serialize;
use std::collections::BTreeMap;

/// A plot: cartesian panels in a grid, or parallel coordinates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// Which plot it is (`history`, `contour`, ...).
    pub kind: String,
    /// The title (the study's name and what is shown).
    pub title: String,
    /// Cartesian panels, laid out `columns` to a row.
    pub panels: Vec<Panel>,
    /// Panels per row.
    pub columns: usize,
    /// Parallel coordinates, when the plot is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallel: Option<Parallel>,
    /// The continuous colour scale that `color` values in the series use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<ColorScale>,
    /// What each trial was, for hover text: number → state, values, parameters.
    pub trials: BTreeMap<u64, TrialInfo>,
    /// Things the reader should know (e.g. "300 of 10,000 curves shown").
    pub notes: Vec<String>,
}

/// One chart area.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Panel {
    /// The panel's own title (e.g. the parameter of a slice).
    pub title: String,
    /// The horizontal axis.
    pub x: Axis,
    /// The vertical axis.
    pub y: Axis,
    /// What is drawn, back to front.
    pub series: Vec<Series>,
}

/// An axis: its label, its scale, and optionally fixed bounds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Axis {
    /// The label.
    pub label: String,
    /// Linear, log or categorical.
    pub scale: Scale,
    /// A fixed lower bound (data units).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// A fixed upper bound (data units).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Axis {
    /// A linear axis.
    pub fn linear(label: impl Into<String>) -> Axis {
        Axis { label: label.into(), scale: Scale::Linear, min: None, max: None }
    }
}

/// How an axis maps values.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Scale {
    /// Proportional.
    Linear,
    /// Logarithmic (values > 0).
    Log,
    /// Categories; a value is the index of its label.
    Category {
        /// The labels in order.
        labels: Vec<String>,
    },
}

/// What a series means, which fixes how both renderers draw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary trial (coloured by the figure's scale when it has a colour).
    Trial,
    /// The best value so far.
    Best,
    /// On the Pareto front.
    Front,
    /// Violates a constraint.
    Infeasible,
    /// Stopped by the pruner.
    Pruned,
    /// Still running.
    Running,
    /// Failed.
    Failed,
}

/// Something drawn in a panel.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Series {
    /// Markers, one per point (one per trial, in every plot that shows trials).
    Points {
        /// Legend name.
        name: String,
        /// What the points are.
        role: Role,
        /// The points.
        points: Vec<Point>,
    },
    /// A polyline.
    Line {
        /// Legend name.
        name: String,
        /// What the line is.
        role: Role,
        /// Its vertices `[x, y]`.
        points: Vec<[f64; 2]>,
        /// The trial it belongs to (a learning curve).
        #[serde(skip_serializing_if = "Option::is_none")]
        trial: Option<u64>,
        /// Its value on the figure's colour scale.
        #[serde(skip_serializing_if = "Option::is_none")]
        color: Option<f64>,
        /// Drawn as steps (horizontal, then vertical).
        step: bool,
    },
    /// Horizontal bars on a categorical y axis.
    Bars {
        /// Legend name.
        name: String,
        /// One value per category of the y axis.
        values: Vec<f64>,
    },
    /// A surface: `z[row][column]` at cell centres `xs` × `ys`, coloured by
    /// the figure's scale.
    Heatmap {
        /// Legend name.
        name: String,
        /// Column centres (x axis units).
        xs: Vec<f64>,
        /// Row centres (y axis units).
        ys: Vec<f64>,
        /// Values.
        z: Vec<Vec<f64>>,
    },
    /// Intervals on rows of a categorical y axis (a timeline).
    Segments {
        /// Legend name.
        name: String,
        /// The intervals.
        items: Vec<Segment>,
    },
}

impl Series {
    /// How many markers the series draws (one per trial for trial points).
    pub fn marks(&self) -> usize {
        match self {
            Series::Points { points, .. } => points.len(),
            Series::Bars { values, .. } => values.len(),
            Series::Segments { items, .. } => items.len(),
            _ => 0,
        }
    }
}

/// A marker.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Horizontal position.
    pub x: f64,
    /// Vertical position.
    pub y: f64,
    /// The trial it shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trial: Option<u64>,
    /// Its value on the figure's colour scale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<f64>,
}

/// An interval of a timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    /// The row (index into the y axis' categories).
    pub row: usize,
    /// Start (x units).
    pub start: f64,
    /// End (x units).
    pub end: f64,
    /// The trial.
    pub trial: u64,
    /// Its state, which picks the colour.
    pub state: String,
}

/// Parallel coordinates: one vertical axis per parameter and one for the
/// objective; a line per trial, broken where a parameter is absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parallel {
    /// The axes, left to right.
    pub axes: Vec<Axis>,
    /// The lines.
    pub lines: Vec<ParallelLine>,
}

/// One trial across the axes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParallelLine {
    /// One value per axis; `None` where the parameter is absent.
    pub values: Vec<Option<f64>>,
    /// Its value on the figure's colour scale.
    pub color: f64,
    /// The trial.
    pub trial: u64,
}

/// A continuous colour scale (viridis). `reversed`: high values dark, so
/// that the better end is always the bright one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColorScale {
    /// What the colour shows.
    pub label: String,
    /// The value at one end.
    pub min: f64,
    /// The value at the other end.
    pub max: f64,
    /// Dark at `max` instead of at `min`.
    pub reversed: bool,
}

impl ColorScale {
    /// A value's place on the scale, 0 (dark) to 1 (bright).
    pub fn t(&self, v: f64) -> f64 {
        let t = if self.max > self.min { ((v - self.min) / (self.max - self.min)).clamp(0.0, 1.0) } else { 0.5 };
        if self.reversed {
            1.0 - t
        } else {
            t
        }
    }
}

/// Viridis at `t` in `[0, 1]` (the matplotlib colour map, 9 stops,
/// interpolated), as RGB.
pub fn viridis(t: f64) -> (u8, u8, u8) {
    const STOPS: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 44.0, 122.0),
        (59.0, 81.0, 139.0),
        (44.0, 113.0, 142.0),
        (33.0, 144.0, 141.0),
        (39.0, 173.0, 129.0),
        (92.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.5 };
    let p = t * (STOPS.len() - 1) as f64;
    let (i, f) = (p.floor() as usize, p - p.floor());
    let (a, b) = (STOPS[i], STOPS[(i + 1).min(STOPS.len() - 1)]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// A trial as hover text shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialInfo {
    /// complete, pruned, failed, running, waiting.
    pub state: String,
    /// Objective values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
    /// Parameters as text (absent ones are not listed).
    pub params: IndexMap<String, String>,
}
