//! Static rendering with plotters: SVG (text kept as text) and PNG (text
//! drawn with the DejaVu Sans font the crate ships, so a machine without
//! fonts renders the same picture).
//!
//! Every axis is drawn linear: a log axis plots log10 of its values and
//! labels its ticks as powers of ten; a categorical axis plots the index
//! of each category and labels it with the category. Every trial a series
//! shows is one circle, so a picture can be checked by counting.

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

use crate::figure::*;
use crate::kinds::Num;
use crate::{Error, Result};

static FONT: Once = Once::new();

fn fonts() {
    FONT.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            include_bytes!("../assets/DejaVuSans.ttf"),
        );
    });
}

fn render_err(e: impl std::fmt::Display) -> Error {
    Error::Render(e.to_string())
}

/// The picture's size in pixels.
fn size(fig: &Figure) -> (u32, u32) {
    if fig.parallel.is_some() {
        return (1100, 620);
    }
    let n = fig.panels.len().max(1);
    let cols = fig.columns.clamp(1, n);
    let rows = n.div_ceil(cols);
    let (w, h) = if n == 1 { (900, 560) } else { (520, 420) };
    let bar = if fig.color.is_some() { 110 } else { 0 };
    (w * cols as u32 + bar, h * rows as u32 + 50 + 20 * fig.notes.len() as u32)
}

/// The figure as an SVG document.
pub fn to_svg(fig: &Figure) -> Result<String> {
    fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size(fig)).into_drawing_area();
        draw(fig, root)?;
    }
    Ok(out)
}

/// Writes the figure to `path` as a PNG image.
pub fn write_png(fig: &Figure, path: &Path) -> Result<()> {
    fonts();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        return Err(Error::Io {
            path: path.to_path_buf(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, format!("directory {} does not exist", dir.display())),
        });
    }
    let root = BitMapBackend::new(path, size(fig)).into_drawing_area();
    draw(fig, root)
}

fn draw<DB: DrawingBackend>(fig: &Figure, root: DrawingArea<DB, Shift>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(render_err)?;
    let (w, h) = root.dim_in_pixel();
    let notes_h = 20 * fig.notes.len() as u32;
    let (top, bottom) = root.split_vertically(h - notes_h);
    for (i, note) in fig.notes.iter().enumerate() {
        bottom
            .draw_text(note, &("sans-serif", 13).into_font().color(&RGBColor(90, 90, 90)), (10, 2 + 20 * i as i32))
            .map_err(render_err)?;
    }
    let body = top.titled(&fig.title, ("sans-serif", 20)).map_err(render_err)?;
    let (main, bar) = if fig.color.is_some() { body.split_horizontally(w - 110) } else { (body.clone(), body.margin(0, 0, 0, 0)) };
    if let Some(scale) = &fig.color {
        colorbar(&bar, scale)?;
    }
    if let Some(par) = &fig.parallel {
        parallel(&main, par, fig.color.as_ref())?;
        return root.present().map_err(render_err);
    }
    let n = fig.panels.len().max(1);
    let cols = fig.columns.clamp(1, n);
    let areas = main.split_evenly((n.div_ceil(cols), cols));
    for (panel, area) in fig.panels.iter().zip(areas) {
        draw_panel(panel, &area, fig.color.as_ref())?;
    }
    root.present().map_err(render_err)?;
    Ok(())
}

fn role_color(role: Role) -> RGBColor {
    match role {
        Role::Trial => RGBColor(31, 119, 180),
        Role::Best => RGBColor(255, 127, 14),
        Role::Front => RGBColor(214, 39, 40),
        Role::Infeasible => RGBColor(160, 160, 160),
        Role::Pruned => RGBColor(148, 103, 189),
        Role::Running => RGBColor(44, 160, 44),
        Role::Failed => RGBColor(127, 127, 127),
    }
}

fn state_color(state: &str) -> RGBColor {
    match state {
        "complete" => role_color(Role::Trial),
        "pruned" => role_color(Role::Pruned),
        "failed" => role_color(Role::Front),
        "running" => role_color(Role::Running),
        _ => RGBColor(190, 190, 190),
    }
}

fn scale_color(scale: Option<&ColorScale>, v: f64) -> RGBColor {
    let (r, g, b) = viridis(scale.map_or(0.5, |s| s.t(v)));
    RGBColor(r, g, b)
}

/// Data value → plotted coordinate.
fn tr(scale: &Scale, v: f64) -> Option<f64> {
    match scale {
        Scale::Log if v > 0.0 => Some(v.log10()),
        Scale::Log => None,
        _ => v.is_finite().then_some(v),
    }
}

/// A tick label for a plotted coordinate. A log axis spanning a decade or
/// more labels only the powers of ten.
fn tick(scale: &Scale, v: f64, span: f64) -> String {
    match scale {
        Scale::Log => {
            let r = v.round();
            if (v - r).abs() < 1e-6 {
                format!("1e{}", r as i64)
            } else if span < 1.0 {
                Num(10f64.powf(v)).to_string()
            } else {
                String::new()
            }
        }
        Scale::Category { labels } => {
            let r = v.round();
            if (v - r).abs() < 1e-6 && r >= 0.0 && (r as usize) < labels.len() {
                labels[r as usize].clone()
            } else {
                String::new()
            }
        }
        Scale::Linear => Num(v).to_string(),
    }
}

/// About `n` round tick positions in `[lo, hi]` (1, 2 or 5 times a power of ten apart).
fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    (0..).map(|k| first + k as f64 * step).take_while(|t| *t <= hi + step * 1e-9).collect()
}

/// Label lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![];
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 1 + word.chars().count() <= width => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// The plotted range of an axis: its categories, or the data with a margin.
fn range(axis: &Axis, values: &[f64]) -> (f64, f64) {
    if let Scale::Category { labels } = &axis.scale {
        return (-0.5, labels.len().max(1) as f64 - 0.5);
    }
    let vs: Vec<f64> = values.iter().filter_map(|v| tr(&axis.scale, *v)).collect();
    let (mut lo, mut hi) = vs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.04 } else { 0.5 };
    let (mut lo, mut hi) = (lo - pad, hi + pad);
    if let Some(m) = axis.min.and_then(|m| tr(&axis.scale, m)) {
        lo = m;
    }
    if let Some(m) = axis.max.and_then(|m| tr(&axis.scale, m)) {
        hi = m;
    }
    (lo, hi)
}

/// Every x and y value a panel's series place.
fn extents(panel: &Panel) -> (Vec<f64>, Vec<f64>) {
    let (mut xs, mut ys) = (vec![], vec![]);
    for s in &panel.series {
        match s {
            Series::Points { points, .. } => {
                xs.extend(points.iter().map(|p| p.x));
                ys.extend(points.iter().map(|p| p.y));
            }
            Series::Line { points, .. } => {
                xs.extend(points.iter().map(|p| p[0]));
                ys.extend(points.iter().map(|p| p[1]));
            }
            Series::Bars { values, .. } => {
                xs.push(0.0);
                xs.extend(values);
            }
            Series::Heatmap { xs: x, ys: y, .. } => {
                xs.extend(x);
                ys.extend(y);
            }
            Series::Segments { items, .. } => {
                xs.extend(items.iter().flat_map(|i| [i.start, i.end]));
            }
        }
    }
    (xs, ys)
}

/// Cell edges around sorted centres, in plotted coordinates.
fn cell_edges(scale: &Scale, centres: &[f64]) -> Vec<(f64, f64)> {
    let c: Vec<f64> = centres.iter().map(|v| tr(scale, *v).unwrap_or(0.0)).collect();
    (0..c.len())
        .map(|i| {
            let left = if i > 0 { 0.5 * (c[i - 1] + c[i]) } else if c.len() > 1 { c[0] - 0.5 * (c[1] - c[0]) } else { c[0] - 0.5 };
            let right =
                if i + 1 < c.len() { 0.5 * (c[i] + c[i + 1]) } else if c.len() > 1 { c[i] + 0.5 * (c[i] - c[i - 1]) } else { c[0] + 0.5 };
            (left, right)
        })
        .collect()
}

fn draw_panel<DB: DrawingBackend>(panel: &Panel, area: &DrawingArea<DB, Shift>, scale: Option<&ColorScale>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (xs, ys) = extents(panel);
    let (x0, x1) = range(&panel.x, &xs);
    let (y0, y1) = range(&panel.y, &ys);
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .caption(&panel.title, ("sans-serif", 15))
        .x_label_area_size(42)
        .y_label_area_size(if matches!(panel.y.scale, Scale::Category { .. }) { 110 } else { 70 })
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(render_err)?;
    let (xl, yl) = (panel.x.scale.clone(), panel.y.scale.clone());
    let (xspan, yspan) = (x1 - x0, y1 - y0);
    let xf = move |v: &f64| tick(&xl, *v, xspan);
    let yf = move |v: &f64| tick(&yl, *v, yspan);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(panel.x.label.as_str())
        .y_desc(panel.y.label.as_str())
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style(("sans-serif", 12))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(232, 232, 232));
    if let Scale::Category { labels } = &panel.x.scale {
        mesh.x_labels(labels.len().max(1));
    }
    if let Scale::Category { labels } = &panel.y.scale {
        mesh.y_labels(labels.len().max(1));
    }
    mesh.draw().map_err(render_err)?;
    let tx = |v: f64| tr(&panel.x.scale, v);
    let ty = |v: f64| tr(&panel.y.scale, v);
    for s in &panel.series {
        match s {
            Series::Heatmap { xs, ys, z, .. } => {
                let (ex, ey) = (cell_edges(&panel.x.scale, xs), cell_edges(&panel.y.scale, ys));
                let cells = z.iter().enumerate().flat_map(|(r, row)| {
                    row.iter().enumerate().map(move |(c, v)| (r, c, *v))
                });
                chart
                    .draw_series(cells.map(|(r, c, v)| {
                        let col = scale_color(scale, v).mix(0.55);
                        Rectangle::new([(ex[c].0, ey[r].0), (ex[c].1, ey[r].1)], col.filled())
                    }))
                    .map_err(render_err)?;
            }
            Series::Segments { items, .. } => {
                chart
                    .draw_series(items.iter().map(|i| {
                        let r = i.row as f64;
                        let end = if i.end > i.start { i.end } else { i.start + (x1 - x0) * 0.002 };
                        Rectangle::new([(i.start, r - 0.35), (end, r + 0.35)], state_color(&i.state).filled())
                    }))
                    .map_err(render_err)?;
            }
            Series::Bars { values, .. } => {
                chart
                    .draw_series(values.iter().enumerate().map(|(i, v)| {
                        Rectangle::new([(0.0, i as f64 - 0.35), (*v, i as f64 + 0.35)], role_color(Role::Trial).filled())
                    }))
                    .map_err(render_err)?;
            }
            Series::Line { points, role, color, step, .. } => {
                let col = match (color, role) {
                    (Some(v), Role::Trial | Role::Running) => scale_color(scale, *v),
                    (_, r) => role_color(*r),
                };
                let mut pts: Vec<(f64, f64)> = points.iter().filter_map(|p| Some((tx(p[0])?, ty(p[1])?))).collect();
                if *step {
                    let mut s = vec![];
                    for (i, p) in pts.iter().enumerate() {
                        if i > 0 {
                            s.push((p.0, pts[i - 1].1));
                        }
                        s.push(*p);
                    }
                    pts = s;
                }
                let width = if matches!(role, Role::Best | Role::Front) { 2 } else { 1 };
                let style = if *role == Role::Pruned { col.mix(0.45).stroke_width(width) } else { col.stroke_width(width) };
                chart.draw_series(LineSeries::new(pts, style)).map_err(render_err)?;
            }
            Series::Points { points, role, .. } => {
                let radius = match role {
                    Role::Front => 5,
                    Role::Pruned => 4,
                    _ => 3,
                };
                chart
                    .draw_series(points.iter().filter_map(|p| {
                        let col = match (p.color, role) {
                            (Some(v), Role::Trial) => scale_color(scale, v),
                            _ => role_color(*role),
                        };
                        Some(Circle::new((tx(p.x)?, ty(p.y)?), radius, col.filled()))
                    }))
                    .map_err(render_err)?;
            }
        }
    }
    Ok(())
}

fn colorbar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, scale: &ColorScale) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (_, h) = area.dim_in_pixel();
    let (top, bottom) = (40i32, h as i32 - 60);
    let steps = 64;
    for k in 0..steps {
        let t = k as f64 / (steps - 1) as f64; // 0 at the bottom
        let v = scale.min + (scale.max - scale.min) * t;
        let y1 = bottom - ((bottom - top) as f64 * (k as f64 / steps as f64)) as i32;
        let y0 = bottom - ((bottom - top) as f64 * ((k + 1) as f64 / steps as f64)) as i32;
        area.draw(&Rectangle::new([(10, y0), (30, y1)], scale_color(Some(scale), v).filled())).map_err(render_err)?;
    }
    let font = ("sans-serif", 12).into_font();
    area.draw_text(&Num(scale.max).to_string(), &font.clone().into(), (34, top - 6)).map_err(render_err)?;
    area.draw_text(&Num(scale.min).to_string(), &font.clone().into(), (34, bottom - 6)).map_err(render_err)?;
    let lines = wrap(&scale.label, 16);
    for (i, line) in lines.iter().rev().enumerate() {
        area.draw_text(line, &font.clone().into(), (4, top - 22 - 14 * i as i32)).map_err(render_err)?;
    }
    Ok(())
}

fn parallel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, par: &Parallel, scale: Option<&ColorScale>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    let n = par.axes.len().max(2);
    let (left, right, top, bottom) = (60i32, w as i32 - 90, 30i32, h as i32 - 70);
    let xs: Vec<i32> = (0..n).map(|i| left + ((right - left) as f64 * i as f64 / (n - 1) as f64) as i32).collect();
    let ranges: Vec<(f64, f64)> = par
        .axes
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let vals: Vec<f64> = par.lines.iter().filter_map(|l| l.values[i]).collect();
            range(a, &vals)
        })
        .collect();
    let y_of = |i: usize, v: f64| -> Option<i32> {
        let t = tr(&par.axes[i].scale, v)?;
        let (lo, hi) = ranges[i];
        let f = if hi > lo { (t - lo) / (hi - lo) } else { 0.5 };
        Some(bottom - ((bottom - top) as f64 * f) as i32)
    };
    for l in &par.lines {
        let col = scale_color(scale, l.color).mix(0.55);
        for i in 0..par.axes.len().saturating_sub(1) {
            if let (Some(a), Some(b)) = (l.values[i].and_then(|v| y_of(i, v)), l.values[i + 1].and_then(|v| y_of(i + 1, v))) {
                area.draw(&PathElement::new(vec![(xs[i], a), (xs[i + 1], b)], col.stroke_width(1))).map_err(render_err)?;
            }
        }
    }
    let font = ("sans-serif", 12).into_font();
    for (i, a) in par.axes.iter().enumerate() {
        area.draw(&PathElement::new(vec![(xs[i], top), (xs[i], bottom)], BLACK.stroke_width(1))).map_err(render_err)?;
        for (k, line) in wrap(&a.label, 18).iter().enumerate() {
            let centred = ("sans-serif", 12).into_font().into_text_style(area).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ));
            area.draw_text(line, &centred, (xs[i], bottom + 16 + 14 * k as i32)).map_err(render_err)?;
        }
        let (lo, hi) = ranges[i];
        let ticks: Vec<f64> = match &a.scale {
            Scale::Category { labels } => (0..labels.len()).map(|k| k as f64).collect(),
            Scale::Log if hi - lo >= 1.0 => (lo.ceil() as i64..=hi.floor() as i64).map(|k| k as f64).collect(),
            _ => nice_ticks(lo, hi, 5),
        };
        for t in ticks {
            let f = if hi > lo { (t - lo) / (hi - lo) } else { 0.5 };
            let y = bottom - ((bottom - top) as f64 * f) as i32;
            area.draw(&PathElement::new(vec![(xs[i] - 3, y), (xs[i], y)], BLACK.stroke_width(1))).map_err(render_err)?;
            area.draw_text(&tick(&a.scale, t, hi - lo), &font.clone().into(), (xs[i] + 4, y - 6)).map_err(render_err)?;
        }
    }
    Ok(())
}
