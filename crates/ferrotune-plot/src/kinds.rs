//! Building each kind of plot from a study's trials.

use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::sync::Arc;

use ferrotune::direction::Direction;
use ferrotune::importance::{self, Method, Surrogate};
use ferrotune::multi_objective::pareto_front;
use ferrotune::{Distribution, FrozenTrial, ParamValue, Study, TrialState};

use crate::figure::*;
use crate::{Error, Kind, Options, Result};

/// What a plot is built from: a study's name, directions and trials.
#[derive(Debug, Clone)]
pub struct StudyData {
    /// The study's name.
    pub name: String,
    /// One direction per objective.
    pub directions: Vec<Direction>,
    /// Every trial, in number order.
    pub trials: Vec<Arc<FrozenTrial>>,
}

impl StudyData {
    /// Reads a study: its trials, with running trials read fresh (their
    /// latest intermediate values, which some backends do not announce).
    pub fn load(study: &Study) -> Result<StudyData> {
        let mut trials: Vec<Arc<FrozenTrial>> = study.trials()?.iter().cloned().collect();
        let running = study.storage().running_trials(study.id())?;
        for t in running {
            if let Some(slot) = trials.get_mut(t.number as usize) {
                *slot = Arc::new(t);
            }
        }
        Ok(StudyData { name: study.name().to_string(), directions: study.directions().to_vec(), trials })
    }
}

/// Builds `kind` from `data`.
pub fn build(kind: Kind, data: &StudyData, opts: &Options) -> Result<Figure> {
    let mut fig = match kind {
        Kind::History => history(data, opts)?,
        Kind::Intermediate => intermediate(data, opts)?,
        Kind::Parallel => parallel(data, opts)?,
        Kind::Slice => slice(data, opts)?,
        Kind::Contour => contour(data, opts, true)?,
        Kind::Rank => contour(data, opts, false)?,
        Kind::Importance => importance_plot(data, opts)?,
        Kind::Pareto => pareto(data, opts)?,
        Kind::Edf => edf(data, opts)?,
        Kind::Timeline => timeline(data)?,
    };
    fig.kind = kind.name().to_string();
    // Hover text for every trial the figure shows.
    let shown: std::collections::BTreeSet<u64> = trials_shown(&fig);
    for t in data.trials.iter().filter(|t| shown.contains(&t.number)) {
        fig.trials.insert(t.number, info(t));
    }
    Ok(fig)
}

fn trials_shown(fig: &Figure) -> std::collections::BTreeSet<u64> {
    let mut s = std::collections::BTreeSet::new();
    for p in &fig.panels {
        for series in &p.series {
            match series {
                Series::Points { points, .. } => s.extend(points.iter().filter_map(|p| p.trial)),
                Series::Line { trial: Some(t), .. } => {
                    s.insert(*t);
                }
                Series::Segments { items, .. } => s.extend(items.iter().map(|i| i.trial)),
                _ => {}
            }
        }
    }
    if let Some(par) = &fig.parallel {
        s.extend(par.lines.iter().map(|l| l.trial));
    }
    s
}

fn info(t: &FrozenTrial) -> TrialInfo {
    TrialInfo {
        state: t.state.to_string(),
        values: t.values.clone(),
        params: t.param_values().into_iter().map(|(k, v)| (k, value_text(&v))).collect(),
    }
}

fn value_text(v: &ParamValue) -> String {
    match v {
        ParamValue::Float(x) => format!("{}", Num(*x)),
        other => other.to_string(),
    }
}

/// A float with 6 significant digits, as tables show it.
pub(crate) struct Num(pub f64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        if x == 0.0 || !x.is_finite() {
            return write!(f, "{x}");
        }
        let a = x.abs();
        if !(1e-4..1e6).contains(&a) {
            let s = format!("{x:.4e}");
            // 1.2000e-5 -> 1.2e-5
            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
            let m = m.trim_end_matches('0').trim_end_matches('.');
            return write!(f, "{m}e{e}");
        }
        let digits = (5 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{x:.digits$}");
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { &s };
        f.write_str(s)
    }
}

fn objective_label(data: &StudyData, i: usize) -> String {
    if data.directions.len() > 1 {
        format!("objective {i} ({})", data.directions[i])
    } else {
        format!("objective value ({})", data.directions[0])
    }
}

fn check_objective(data: &StudyData, opts: &Options) -> Result<Direction> {
    data.directions.get(opts.objective).copied().ok_or_else(|| {
        Error::Invalid(format!("objective {} does not exist: the study has {} objective(s)", opts.objective, data.directions.len()))
    })
}

/// Complete trials with a finite value of the objective, and that value.
fn complete(data: &StudyData, objective: usize) -> Vec<(&FrozenTrial, f64)> {
    data.trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(|t| t.values.as_ref()?.get(objective).copied().filter(|v| v.is_finite()).map(|v| (t.as_ref(), v)))
        .collect()
}

fn need_trials<T>(v: &[T], data: &StudyData, what: &str) -> Result<()> {
    if v.is_empty() {
        return Err(Error::Invalid(format!("study '{}' has no {what} to plot yet", data.name)));
    }
    Ok(())
}

/// The objective colour scale, bright at the better end.
fn objective_scale(data: &StudyData, values: impl Iterator<Item = f64>, objective: usize) -> Option<ColorScale> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    lo.is_finite().then(|| ColorScale {
        label: objective_label(data, objective),
        min: lo,
        max: hi,
        reversed: data.directions[objective] == Direction::Minimize,
    })
}

fn figure(data: &StudyData, what: &str) -> Figure {
    Figure {
        kind: String::new(),
        title: format!("{} — {what}", data.name),
        panels: vec![],
        columns: 1,
        parallel: None,
        color: None,
        trials: BTreeMap::new(),
        notes: vec![],
    }
}

/// Every value and the best so far, per objective.
fn history(data: &StudyData, _opts: &Options) -> Result<Figure> {
    let mut fig = figure(data, "optimization history");
    for (i, &d) in data.directions.iter().enumerate() {
        let done = complete(data, i);
        let (feasible, infeasible): (Vec<_>, Vec<_>) = done.iter().partition(|(t, _)| t.is_feasible());
        let point = |(t, v): &(&FrozenTrial, f64)| Point { x: t.number as f64, y: *v, trial: Some(t.number), color: None };
        let mut best: Option<f64> = None;
        let mut line = vec![];
        for (t, v) in &feasible {
            if best.is_none_or(|b| d.better(*v, b)) {
                best = Some(*v);
            }
            line.push([t.number as f64, best.unwrap_or(*v)]);
        }
        let mut series = vec![Series::Points { name: "trials".into(), role: Role::Trial, points: feasible.iter().map(point).collect() }];
        if !infeasible.is_empty() {
            series.push(Series::Points { name: "infeasible".into(), role: Role::Infeasible, points: infeasible.iter().map(point).collect() });
        }
        series.push(Series::Line { name: "best so far".into(), role: Role::Best, points: line, trial: None, color: None, step: true });
        fig.panels.push(Panel {
            title: if data.directions.len() > 1 { format!("objective {i}") } else { String::new() },
            x: Axis::linear("trial"),
            y: Axis::linear(objective_label(data, i)),
            series,
        });
    }
    need_trials(&complete(data, 0), data, "complete trials")?;
    Ok(fig)
}

/// Learning curves, coloured by the final value; pruned ones marked where
/// they stopped. At most `max_lines` curves (the best half of them and an
/// even sample of the rest), so a long study stays readable and fast.
fn intermediate(data: &StudyData, opts: &Options) -> Result<Figure> {
    check_objective(data, opts)?;
    let mut fig = figure(data, "intermediate values");
    let curves: Vec<&Arc<FrozenTrial>> = data.trials.iter().filter(|t| !t.intermediate_values.is_empty()).collect();
    need_trials(&curves, data, "intermediate values (reported with trial.report)")?;
    let d = data.directions[0];
    let last = |t: &FrozenTrial| t.last_intermediate().map(|(_, v)| v).filter(|v| v.is_finite());
    let final_value = |t: &FrozenTrial| t.value().filter(|v| v.is_finite()).or_else(|| last(t));
    let mut chosen: Vec<&Arc<FrozenTrial>> = curves.clone();
    if chosen.len() > opts.max_lines {
        let mut ranked = chosen.clone();
        ranked.sort_by(|a, b| {
            let (x, y) = (final_value(a).map(|v| d.loss(v)), final_value(b).map(|v| d.loss(v)));
            x.unwrap_or(f64::INFINITY).total_cmp(&y.unwrap_or(f64::INFINITY))
        });
        let half = opts.max_lines / 2;
        let mut keep: Vec<&Arc<FrozenTrial>> = ranked[..half].to_vec();
        let rest = &ranked[half..];
        let step = rest.len() as f64 / (opts.max_lines - half) as f64;
        keep.extend((0..opts.max_lines - half).map(|k| rest[(k as f64 * step) as usize]));
        keep.sort_by_key(|t| t.number);
        fig.notes.push(format!("{} of {} learning curves shown: the best {half} and an even sample of the rest", keep.len(), curves.len()));
        chosen = keep;
    }
    fig.color = objective_scale(data, chosen.iter().filter_map(|t| final_value(t)), 0);
    let mut series = vec![];
    let mut stops = vec![];
    for t in &chosen {
        let role = match t.state {
            TrialState::Pruned => Role::Pruned,
            TrialState::Running => Role::Running,
            TrialState::Failed => Role::Failed,
            _ => Role::Trial,
        };
        let points: Vec<[f64; 2]> =
            t.intermediate_values.iter().filter(|(_, v)| v.is_finite()).map(|(s, v)| [*s as f64, *v]).collect();
        if t.state == TrialState::Pruned {
            if let Some(&[x, y]) = points.last() {
                stops.push(Point { x, y, trial: Some(t.number), color: None });
            }
        }
        series.push(Series::Line { name: format!("trial {}", t.number), role, points, trial: Some(t.number), color: final_value(t), step: false });
    }
    if !stops.is_empty() {
        series.push(Series::Points { name: "pruned here".into(), role: Role::Pruned, points: stops });
    }
    fig.panels.push(Panel { title: String::new(), x: Axis::linear("step"), y: Axis::linear("intermediate value"), series });
    Ok(fig)
}

/// The axis a parameter gets: log for log distributions, its choices for a
/// categorical, linear otherwise.
fn param_axis(name: &str, d: &Distribution) -> Axis {
    let scale = match d {
        Distribution::Float { log: true, .. } | Distribution::Int { log: true, .. } => Scale::Log,
        Distribution::Categorical { choices } => Scale::Category { labels: choices.iter().map(|c| c.to_string()).collect() },
        _ => Scale::Linear,
    };
    Axis { label: name.to_string(), scale, min: None, max: None }
}

/// A parameter's value on its axis: the index of a category, else the number.
fn param_coord(t: &FrozenTrial, name: &str, d: &Distribution) -> Option<f64> {
    let p = t.params.get(name)?;
    match d {
        Distribution::Categorical { .. } => {
            if p.distribution == *d {
                Some(p.internal)
            } else {
                d.to_internal(name, &p.value()).ok()
            }
        }
        _ => p.value().as_f64(),
    }
}

/// The parameters to show: `opts.params` (each must exist), else all, in
/// first-seen order; each with its latest distribution.
fn params(data: &StudyData, opts: &Options, trials: &[(&FrozenTrial, f64)]) -> Result<Vec<(String, Distribution)>> {
    let mut order: Vec<String> = vec![];
    let mut latest: std::collections::HashMap<String, Distribution> = Default::default();
    for (t, _) in trials {
        for (k, p) in &t.params {
            if !latest.contains_key(k) {
                order.push(k.clone());
            }
            latest.insert(k.clone(), p.distribution.clone());
        }
    }
    let names = match &opts.params {
        Some(wanted) => {
            for w in wanted {
                if !latest.contains_key(w) {
                    return Err(Error::Invalid(format!(
                        "no complete trial of study '{}' has a parameter named '{w}' (parameters: {})",
                        data.name,
                        order.join(", ")
                    )));
                }
            }
            wanted.clone()
        }
        None => order,
    };
    Ok(names.into_iter().map(|n| {
        let d = latest[&n].clone();
        (n, d)
    }).collect())
}

/// Parallel coordinates: the parameters, then the objective.
fn parallel(data: &StudyData, opts: &Options) -> Result<Figure> {
    check_objective(data, opts)?;
    let mut fig = figure(data, "parallel coordinates");
    let mut done = complete(data, opts.objective);
    need_trials(&done, data, "complete trials")?;
    let ps = params(data, opts, &done)?;
    let d = data.directions[opts.objective];
    if done.len() > opts.max_parallel {
        let total = done.len();
        done.sort_by(|a, b| d.loss(a.1).total_cmp(&d.loss(b.1)));
        let half = opts.max_parallel / 2;
        let rest: Vec<_> = done[half..].to_vec();
        let step = rest.len() as f64 / (opts.max_parallel - half) as f64;
        done.truncate(half);
        done.extend((0..opts.max_parallel - half).map(|k| rest[(k as f64 * step) as usize]));
        done.sort_by_key(|(t, _)| t.number);
        fig.notes.push(format!("{} of {total} trials shown: the best {half} and an even sample of the rest", done.len()));
    }
    fig.color = objective_scale(data, done.iter().map(|(_, v)| *v), opts.objective);
    let mut axes: Vec<Axis> = ps.iter().map(|(n, d)| param_axis(n, d)).collect();
    axes.push(Axis::linear(objective_label(data, opts.objective)));
    let lines = done
        .iter()
        .map(|(t, v)| {
            let mut values: Vec<Option<f64>> = ps.iter().map(|(n, d)| param_coord(t, n, d)).collect();
            values.push(Some(*v));
            ParallelLine { values, color: *v, trial: t.number }
        })
        .collect();
    fig.parallel = Some(Parallel { axes, lines });
    Ok(fig)
}

/// One panel per parameter: its value against the objective, coloured by
/// trial number; trials without the parameter are not drawn there.
fn slice(data: &StudyData, opts: &Options) -> Result<Figure> {
    check_objective(data, opts)?;
    let mut fig = figure(data, "slice");
    let done = complete(data, opts.objective);
    need_trials(&done, data, "complete trials")?;
    let ps = params(data, opts, &done)?;
    let last = done.last().map_or(0, |(t, _)| t.number) as f64;
    fig.color = Some(ColorScale { label: "trial".into(), min: 0.0, max: last, reversed: false });
    fig.columns = ps.len().clamp(1, 3);
    for (name, dist) in &ps {
        let points = done
            .iter()
            .filter_map(|(t, v)| Some(Point { x: param_coord(t, name, dist)?, y: *v, trial: Some(t.number), color: Some(t.number as f64) }))
            .collect();
        fig.panels.push(Panel {
            title: name.clone(),
            x: param_axis(name, dist),
            y: Axis::linear(objective_label(data, opts.objective)),
            series: vec![Series::Points { name: "trials".into(), role: Role::Trial, points }],
        });
    }
    Ok(fig)
}

/// The parameters a pairwise plot uses: the given ones, else the three
/// most important (fANOVA), else all when there are at most three.
fn pair_params(data: &StudyData, opts: &Options, done: &[(&FrozenTrial, f64)]) -> Result<Vec<(String, Distribution)>> {
    let all = params(data, opts, done)?;
    if opts.params.is_some() || all.len() <= 3 {
        if all.len() < 2 {
            return Err(Error::Invalid(format!("a pairwise plot needs two parameters; study '{}' has {}", data.name, all.len())));
        }
        return Ok(all);
    }
    let refs: Vec<&FrozenTrial> = done.iter().map(|(t, _)| *t).collect();
    let imp = importance::evaluate_trials(&refs, &data.directions, &importance::Options { objective: opts.objective, seed: opts.seed, n_trees: 32, ..Default::default() })?;
    let top: Vec<&str> = imp.params.iter().take(3).map(|p| p.name.as_str()).collect();
    Ok(all.into_iter().filter(|(n, _)| top.contains(&n.as_str())).collect())
}

/// Pairs of parameters: observed points over the surrogate's surface
/// (`contour`), or points coloured by their rank (`rank`).
fn contour(data: &StudyData, opts: &Options, surface: bool) -> Result<Figure> {
    check_objective(data, opts)?;
    let mut fig = figure(data, if surface { "contour" } else { "rank" });
    let done = complete(data, opts.objective);
    if done.len() < 2 {
        return Err(Error::Invalid(format!("study '{}' needs at least 2 complete trials for this plot", data.name)));
    }
    let ps = pair_params(data, opts, &done)?;
    let d = data.directions[opts.objective];
    let surrogate = if surface {
        // The surface model: at most 2,000 trials, evenly spaced.
        let step = (done.len() as f64 / 2000.0).max(1.0);
        let sample: Vec<&FrozenTrial> = (0..done.len().min(2000)).map(|k| done[(k as f64 * step) as usize].0).collect();
        if done.len() > 2000 {
            fig.notes.push(format!("surface fitted to 2,000 of {} trials", done.len()));
        }
        Some(Surrogate::fit(&sample, opts.objective, opts.seed)?)
    } else {
        None
    };
    let rank: std::collections::HashMap<u64, f64> = {
        let mut order: Vec<&(&FrozenTrial, f64)> = done.iter().collect();
        order.sort_by(|a, b| d.loss(a.1).total_cmp(&d.loss(b.1)));
        let n = (order.len().max(2) - 1) as f64;
        order.iter().enumerate().map(|(i, (t, _))| (t.number, i as f64 / n)).collect()
    };
    fig.color = if surface {
        objective_scale(data, done.iter().map(|(_, v)| *v), opts.objective)
    } else {
        Some(ColorScale { label: "rank (0 = best)".into(), min: 0.0, max: 1.0, reversed: true })
    };
    let pairs: Vec<(usize, usize)> = (0..ps.len()).flat_map(|i| (i + 1..ps.len()).map(move |j| (i, j))).collect();
    fig.columns = pairs.len().clamp(1, 3);
    for (i, j) in pairs {
        let ((nx, dx), (ny, dy)) = (&ps[i], &ps[j]);
        let mut series = vec![];
        if let Some(s) = &surrogate {
            let surf = s.surface(nx, ny, opts.grid)?;
            let coord = |v: &ParamValue, name: &str, d: &Distribution| match d {
                Distribution::Categorical { .. } => d.to_internal(name, v).unwrap_or(0.0),
                _ => v.as_f64().unwrap_or(0.0),
            };
            series.push(Series::Heatmap {
                name: "surrogate (fANOVA forest)".into(),
                xs: surf.xs.iter().map(|v| coord(v, nx, dx)).collect(),
                ys: surf.ys.iter().map(|v| coord(v, ny, dy)).collect(),
                z: surf.z,
            });
        }
        let points = done
            .iter()
            .filter_map(|(t, v)| {
                Some(Point {
                    x: param_coord(t, nx, dx)?,
                    y: param_coord(t, ny, dy)?,
                    trial: Some(t.number),
                    color: Some(if surface { *v } else { rank[&t.number] }),
                })
            })
            .collect();
        series.push(Series::Points { name: "trials".into(), role: Role::Trial, points });
        fig.panels.push(Panel { title: format!("{nx} × {ny}"), x: param_axis(nx, dx), y: param_axis(ny, dy), series });
    }
    Ok(fig)
}

/// Parameter importances as bars, most important on top.
fn importance_plot(data: &StudyData, opts: &Options) -> Result<Figure> {
    check_objective(data, opts)?;
    let done = complete(data, opts.objective);
    let refs: Vec<&FrozenTrial> = done.iter().map(|(t, _)| *t).collect();
    let imp = importance::evaluate_trials(
        &refs,
        &data.directions,
        &importance::Options { method: opts.importance, params: opts.params.clone(), objective: opts.objective, seed: opts.seed, ..Default::default() },
    )?;
    let method = match opts.importance {
        Method::Fanova => "fANOVA",
        Method::PedAnova => "PED-ANOVA",
    };
    let mut fig = figure(data, &format!("hyperparameter importance ({method}, {} trials)", imp.n_trials));
    // Least important first, so the most important is drawn on top.
    let ordered: Vec<_> = imp.params.iter().rev().collect();
    fig.panels.push(Panel {
        title: String::new(),
        x: Axis { label: "importance".into(), scale: Scale::Linear, min: Some(0.0), max: None },
        y: Axis { label: String::new(), scale: Scale::Category { labels: ordered.iter().map(|p| p.name.clone()).collect() }, min: None, max: None },
        series: vec![Series::Bars { name: "importance".into(), values: ordered.iter().map(|p| p.importance).collect() }],
    });
    Ok(fig)
}

/// Two or three objectives: every trial, the front highlighted and joined,
/// constraint violations apart.
fn pareto(data: &StudyData, _opts: &Options) -> Result<Figure> {
    let k = data.directions.len();
    if !(2..=3).contains(&k) {
        return Err(Error::Invalid(format!("a Pareto plot needs 2 or 3 objectives; study '{}' has {k}", data.name)));
    }
    let mut fig = figure(data, "Pareto front");
    let done: Vec<&FrozenTrial> = data
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Complete && t.values.as_ref().is_some_and(|v| v.len() == k && v.iter().all(|x| x.is_finite())))
        .map(|t| t.as_ref())
        .collect();
    need_trials(&done, data, "complete trials")?;
    let feasible: Vec<&FrozenTrial> = done.iter().copied().filter(|t| t.is_feasible()).collect();
    let vals: Vec<&[f64]> = feasible.iter().map(|t| t.values.as_deref().unwrap_or(&[])).collect();
    let front: std::collections::HashSet<u64> = pareto_front(&vals, &data.directions).into_iter().map(|i| feasible[i].number).collect();
    let pairs: Vec<(usize, usize)> = if k == 2 { vec![(0, 1)] } else { vec![(0, 1), (0, 2), (1, 2)] };
    fig.columns = pairs.len();
    for (a, b) in pairs {
        let pt = |t: &&FrozenTrial| {
            let v = t.values.as_deref().unwrap_or(&[]);
            Point { x: v[a], y: v[b], trial: Some(t.number), color: None }
        };
        let others: Vec<Point> = feasible.iter().filter(|t| !front.contains(&t.number)).map(pt).collect();
        let mut on: Vec<Point> = feasible.iter().filter(|t| front.contains(&t.number)).map(pt).collect();
        let bad: Vec<Point> = done.iter().filter(|t| !t.is_feasible()).map(pt).collect();
        on.sort_by(|p, q| p.x.total_cmp(&q.x));
        let mut series = vec![Series::Points { name: "trials".into(), role: Role::Trial, points: others }];
        if !bad.is_empty() {
            series.push(Series::Points { name: "infeasible".into(), role: Role::Infeasible, points: bad });
        }
        if k == 2 {
            series.push(Series::Line { name: "front".into(), role: Role::Front, points: on.iter().map(|p| [p.x, p.y]).collect(), trial: None, color: None, step: false });
        }
        series.push(Series::Points { name: "Pareto front".into(), role: Role::Front, points: on });
        fig.panels.push(Panel { title: String::new(), x: Axis::linear(objective_label(data, a)), y: Axis::linear(objective_label(data, b)), series });
    }
    Ok(fig)
}

/// The empirical distribution of the objective: the share of complete
/// trials with a value at most x.
fn edf(data: &StudyData, opts: &Options) -> Result<Figure> {
    check_objective(data, opts)?;
    let mut fig = figure(data, "empirical distribution of the objective");
    let mut v: Vec<f64> = complete(data, opts.objective).into_iter().map(|(_, v)| v).collect();
    need_trials(&v, data, "complete trials")?;
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let points = v.iter().enumerate().map(|(i, x)| [*x, (i + 1) as f64 / n]).collect();
    fig.panels.push(Panel {
        title: String::new(),
        x: Axis::linear(objective_label(data, opts.objective)),
        y: Axis { label: "share of trials ≤ value".into(), scale: Scale::Linear, min: Some(0.0), max: Some(1.0) },
        series: vec![Series::Line { name: data.name.clone(), role: Role::Trial, points, trial: None, color: None, step: true }],
    });
    Ok(fig)
}

/// Trials per worker over time, coloured by state.
fn timeline(data: &StudyData) -> Result<Figure> {
    let mut fig = figure(data, "timeline");
    let started: Vec<&Arc<FrozenTrial>> = data.trials.iter().filter(|t| t.started_at.is_some()).collect();
    need_trials(&started, data, "started trials")?;
    let t0 = started.iter().filter_map(|t| t.started_at).fold(f64::INFINITY, f64::min);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let mut rows: IndexMap<String, usize> = IndexMap::new();
    let mut items = vec![];
    for t in started {
        let worker = t.owner.as_ref().map_or_else(|| "ask/tell".to_string(), |o| format!("{}:{}", o.host, o.pid));
        let n = rows.len();
        let row = *rows.entry(worker).or_insert(n);
        let start = t.started_at.unwrap_or(t0) - t0;
        let end = t.completed_at.or(t.heartbeat.filter(|_| !t.state.is_finished())).unwrap_or(now).max(t.started_at.unwrap_or(t0)) - t0;
        let end = if t.state == TrialState::Running { (now - t0).max(end) } else { end };
        items.push(Segment { row, start, end, trial: t.number, state: t.state.to_string() });
    }
    fig.panels.push(Panel {
        title: String::new(),
        x: Axis { label: "seconds since the first trial started".into(), scale: Scale::Linear, min: Some(0.0), max: None },
        y: Axis { label: "worker".into(), scale: Scale::Category { labels: rows.keys().cloned().collect() }, min: None, max: None },
        series: vec![Series::Segments { name: "trials".into(), items }],
    });
    Ok(fig)
}
