//! Gaussian-process Bayesian optimisation (Jones, Schonlau & Welch, "Efficient
//! Global Optimization", 1998; Snoek, Larochelle & Adams, "Practical Bayesian
//! Optimization of Machine Learning Algorithms", NeurIPS 2012), in the shape
//! of scikit-optimize's `gp_minimize` and Optuna's GPSampler.
//!
//! Per ask, after `n_initial_points` quasi-random (Sobol) trials (complete
//! ones, and pruned ones whose end can be extrapolated, see
//! `extrapolate_pruned`):
//!
//! 1. encode the study's joint space in the unit cube (log parameters in
//!    log space; integers relaxed, rounded when decoded; categoricals as
//!    indices, compared by equality in the kernel);
//! 2. warp the objective (maximisation is negated) towards a normal
//!    distribution by a fitted power transform (`warping.rs`; HEBO's output
//!    transform) and fit a GP (`model.rs`) by MAP, warm-started from the
//!    hyperparameters the last GP trial stored; above
//!    `max_fit_points` observations the hyperparameters are fitted on the
//!    most recent and the best points, and the posterior uses them all;
//! 3. treat running trials as observed at the posterior mean (the "kriging
//!    believer", Ginsbourger et al. 2010), so parallel workers spread out;
//! 4. maximise the acquisition (log EI by default; PI, LCB, or the
//!    `gp_hedge` portfolio of Hoffman, Brochu & de Freitas 2011) as
//!    Optuna's GPSampler does: screen quasi-random candidates (plus
//!    perturbations of the best points), then local searches from the best
//!    candidate, from candidates drawn ∝ exp(acquisition) and from the best
//!    observed point, each alternating L-BFGS on the continuous coordinates
//!    (scaled by the length scales) with a search of every integer, stepped
//!    and categorical coordinate on its grid, until a round changes nothing;
//!    the best configuration not yet evaluated wins (a repeat teaches
//!    nothing, and in a discrete space EI can settle on the incumbent);
//! 5. with constraints, multiply by the probability that each constraint
//!    holds under its own GP (Gardner et al., ICML 2014).
//!
//! Everything the next ask needs (hyperparameters, the hedge's gains and
//! proposals, the proposed point for the believer) is stored on the trial,
//! so the sampler's behaviour depends only on storage and the seed.

mod acquisition;
mod lbfgs;
mod model;
mod warping;

pub use acquisition::Acquisition;

use indexmap::IndexMap;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;

use self::model::{Gp, Hyper};
use super::observations::SharedObservations;
use super::transform::UnitAxis;
use super::{QmcSampler, RandomSampler, RelativeSample, Sampler, SearchSpace};
use crate::distribution::Distribution;
use crate::error::{Error, Result};
use crate::math::{average_ranks, log_norm_cdf, norm_pdf, percentile, roulette};
use crate::rng::{combine, fresh_seed, rng_for};
use crate::study::Study;
use crate::trial::{FrozenTrial, TrialState};

use crate::attrs::GP as ATTR;

/// Which acquisition strategy.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AcquisitionChoice {
    /// Expected improvement (in log form).
    Ei,
    /// Probability of improvement.
    Pi,
    /// Lower confidence bound, mean - kappa * sd.
    Lcb,
    /// A portfolio of EI, PI and LCB, chosen by softmax over their gains.
    GpHedge,
}

/// GP-BO options.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpOptions {
    /// Quasi-random trials before the model is used (`n_random_starts`).
    pub n_initial_points: usize,
    /// Which acquisition function picks the next point.
    pub acquisition: AcquisitionChoice,
    /// LCB's exploration weight κ (scikit-optimize's default 1.96).
    pub kappa: f64,
    /// Quasi-random candidates screened per ask (up to 150 observations;
    /// fewer beyond, see `budget`).
    pub n_candidates: usize,
    /// Local searches per ask: from the best candidate, from candidates
    /// drawn by acquisition value, and from the best observed point.
    pub n_refine: usize,
    /// Observations used to fit the hyperparameters (all are used to predict).
    pub max_fit_points: usize,
    /// Treat the objective as noise-free (noise fixed near zero).
    pub deterministic: bool,
    /// Fit the GP to power-transformed objective values (Yeo-Johnson, as
    /// HEBO), so a few very bad trials do not flatten the model where the
    /// good ones are; `false` only standardises them, as Optuna does.
    pub output_warping: bool,
    /// Model pruned trials too, at the final value their curve suggests
    /// (see `extrapolate_pruned`); otherwise, as Optuna's GPSampler, the
    /// model learns only from the few trials a pruner let finish.
    pub consider_pruned_trials: bool,
}

impl Default for GpOptions {
    fn default() -> Self {
        GpOptions {
            n_initial_points: 10,
            acquisition: AcquisitionChoice::Ei,
            kappa: 1.96,
            n_candidates: 2048,
            n_refine: 10,
            max_fit_points: 128,
            deterministic: false,
            output_warping: true,
            consider_pruned_trials: true,
        }
    }
}

/// What a GP trial stores for the next ask.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tag {
    space: String,
    /// The proposed point in encoded coordinates.
    x: Vec<f64>,
    hyper: Hyper,
    /// gp_hedge: cumulative gains and the three proposals of this ask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hedge: Option<(Vec<f64>, Vec<Vec<f64>>)>,
}

/// The GP-BO sampler.
pub struct GpSampler {
    seed: u64,
    opts: GpOptions,
    initial: QmcSampler,
    random: RandomSampler,
    obs: SharedObservations,
}

impl std::fmt::Debug for GpSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpSampler").field("seed", &self.seed).field("opts", &self.opts).finish()
    }
}

/// The encoded space: per dimension a unit axis (numerical) or a number of
/// choices (categorical).
struct Encoding {
    names: Vec<String>,
    dists: Vec<Distribution>,
    axes: Vec<Option<UnitAxis>>,
    n_choices: Vec<usize>,
}

/// Where an absent (inactive) numerical parameter of a conditional space is
/// encoded: the centre of its axis, so it is never further than half the
/// axis from an active value. An absent categorical is one more choice.
const INACTIVE: f64 = 0.5;

impl Encoding {
    fn new(space: &SearchSpace) -> Encoding {
        Encoding {
            names: space.keys().cloned().collect(),
            dists: space.values().cloned().collect(),
            axes: space.values().map(UnitAxis::new).collect(),
            n_choices: space
                .values()
                .map(|d| match d {
                    Distribution::Categorical { choices } => choices.len(),
                    _ => 0,
                })
                .collect(),
        }
    }
    fn is_cat(&self) -> Vec<bool> {
        self.axes.iter().map(Option::is_none).collect()
    }
    /// The encoded coordinate of an absent parameter.
    fn inactive(&self, t: usize) -> f64 {
        if self.axes[t].is_none() { self.n_choices[t] as f64 } else { INACTIVE }
    }
    /// A trial's point and which coordinates it has; `None` if it has a
    /// parameter of the space with another distribution.
    fn encode(&self, t: &FrozenTrial) -> Option<(Vec<f64>, Vec<bool>)> {
        let mut x = Vec::with_capacity(self.names.len());
        let mut active = Vec::with_capacity(self.names.len());
        for (i, ((k, a), dist)) in self.names.iter().zip(&self.axes).zip(&self.dists).enumerate() {
            match t.params.get(k) {
                Some(p) if &p.distribution == dist => {
                    x.push(a.as_ref().map_or(p.internal, |a| a.encode(p.internal)));
                    active.push(true);
                }
                Some(_) => return None,
                None => {
                    x.push(self.inactive(i));
                    active.push(false);
                }
            }
        }
        Some((x, active))
    }
    /// The internal value coordinate `t`'s encoded `u` stands for: what a
    /// proposal gives the objective.
    fn decode(&self, t: usize, u: f64) -> f64 {
        self.axes[t].as_ref().map_or_else(|| self.dists[t].clamp_internal(u), |a| a.decode(u))
    }
    /// The configuration an encoded point decodes to, as the objective
    /// would see it (`None` where absent), so two points compare equal
    /// exactly when they ask for the same trial.
    fn key(&self, x: &[f64], active: &[bool]) -> Vec<Option<u64>> {
        (0..x.len()).map(|t| active[t].then(|| self.decode(t, x[t]).to_bits())).collect()
    }
    /// The position of coordinate `t`'s value `u` among its discrete values
    /// (a choice's index, a grid position); `None` on a continuous axis.
    fn position(&self, t: usize, u: f64) -> Option<usize> {
        match &self.axes[t] {
            None => Some(u as usize),
            Some(a) if a.is_discrete() => Some(a.grid_index(u)),
            Some(_) => None,
        }
    }
}

/// In a conditional space (a define-by-run objective whose choices decide
/// which parameters exist), the observed trials fall into patterns: the set
/// of parameters they have. The GP models the union of the parameters, an
/// absent one at a fixed encoding (`Encoding::inactive`), and the
/// acquisition is maximised within each pattern, over its own parameters
/// only, so that no proposal counts on a parameter the objective would not
/// ask for (imputation with per-pattern search, in the spirit of Lévesque
/// et al., "Bayesian optimization for conditional hyperparameter spaces",
/// IJCNN 2017). An unconditional space is one pattern with nothing banned,
/// and the search is the plain one.
#[derive(Debug, Clone, PartialEq)]
struct Pattern {
    active: Vec<bool>,
    /// Per coordinate, the discrete positions a point of this pattern may
    /// not take: the values that, observed in another pattern whose values
    /// of this coordinate never met this pattern's, lead there (which
    /// choice of `model` gives the `layers` parameter, say).
    banned: Vec<Vec<usize>>,
}

impl Pattern {
    fn allows(&self, t: usize, k: usize) -> bool {
        !self.banned[t].contains(&k)
    }
    /// Grid axis `a` (coordinate `t`) snapped at `u`, unless this pattern
    /// bans the value there.
    fn snap(&self, a: &UnitAxis, t: usize, u: f64) -> Option<f64> {
        Some(a.snap(u)).filter(|&v| self.allows(t, a.grid_index(v)))
    }
    /// The choices of categorical coordinate `t` this pattern may take.
    fn choices(&self, enc: &Encoding, t: usize) -> Vec<usize> {
        (0..enc.n_choices[t]).filter(|&k| self.allows(t, k)).collect()
    }

    /// The patterns of the observed points (`active`: which coordinates
    /// each has), in order of first appearance, and each point's pattern.
    fn infer(enc: &Encoding, x: &[Vec<f64>], active: &[Vec<bool>]) -> (Vec<Pattern>, Vec<usize>) {
        let mut masks: Vec<Vec<bool>> = vec![];
        let of: Vec<usize> = active
            .iter()
            .map(|a| {
                masks.iter().position(|m| m == a).unwrap_or_else(|| {
                    masks.push(a.clone());
                    masks.len() - 1
                })
            })
            .collect();
        let d = enc.names.len();
        // Discrete positions seen, per pattern and coordinate.
        let mut seen = vec![vec![std::collections::BTreeSet::new(); d]; masks.len()];
        for (p, &q) in x.iter().zip(&of) {
            for t in (0..d).filter(|&t| masks[q][t]) {
                if let Some(k) = enc.position(t, p[t]) {
                    seen[q][t].insert(k);
                }
            }
        }
        let patterns = (0..masks.len())
            .map(|a| Pattern {
                active: masks[a].clone(),
                banned: (0..d)
                    .map(|t| {
                        let mut banned: Vec<usize> = (0..masks.len())
                            .filter(|&b| b != a && masks[a][t] && masks[b][t] && seen[a][t].is_disjoint(&seen[b][t]))
                            .flat_map(|b| seen[b][t].iter().copied())
                            .collect();
                        banned.sort_unstable();
                        banned.dedup();
                        banned
                    })
                    .collect(),
            })
            .collect();
        (patterns, of)
    }
}

/// Quasi-random candidates and the pattern of each.
struct Candidates {
    points: Vec<Vec<f64>>,
    pattern: Vec<usize>,
}

/// (mean, std) standardisation of a vector.
fn standardise(v: &[f64]) -> (Vec<f64>, f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let std = if var > 1e-24 { var.sqrt() } else { 1.0 };
    (v.iter().map(|x| (x - mean) / std).collect(), mean, std)
}

/// A fitted objective model plus constraint models.
struct Models {
    objective: Gp,
    best: f64,
    /// The objective kernel's length scale per coordinate.
    length_scales: Vec<f64>,
    /// The best feasible observed point and its pattern (a start for the
    /// local search).
    incumbent: Option<(Vec<f64>, usize)>,
    n_obs: usize,
    /// The configurations already evaluated or running (`Encoding::key`).
    evaluated: HashSet<Vec<Option<u64>>>,
    /// Per constraint: its GP and the standardised feasibility threshold.
    constraints: Vec<(Gp, f64)>,
}

impl GpSampler {
    /// A GP-BO sampler; `None` draws a seed.
    pub fn new(seed: Option<u64>, opts: GpOptions) -> Self {
        let seed = seed.unwrap_or_else(fresh_seed);
        GpSampler {
            seed,
            opts,
            initial: QmcSampler::new(Some(seed)),
            random: RandomSampler::new(Some(seed)),
            obs: SharedObservations::default(),
        }
    }

    fn min_noise(&self) -> f64 {
        if self.opts.deterministic { 1e-8 } else { 1e-6 }
    }

    /// Hyperparameters, fitted from the last GP trial's (see `model::fit`).
    fn fit_hyper(&self, x: &[f64], y: &[f64], d: usize, is_cat: &[bool], warm: Option<&Hyper>) -> Hyper {
        let mut h = model::fit(x, y, d, is_cat, warm, self.min_noise());
        if self.opts.deterministic {
            h.log_noise = h.log_noise.min((1e-8f64).ln());
        }
        h
    }

    /// Rows used to fit hyperparameters: all, or the most recent and best.
    fn fit_rows(&self, y: &[f64]) -> Vec<usize> {
        let n = y.len();
        let cap = self.opts.max_fit_points.max(8);
        if n <= cap {
            return (0..n).collect();
        }
        let n_best = cap / 8;
        let mut by_value: Vec<usize> = (0..n).collect();
        by_value.sort_by(|&a, &b| y[a].total_cmp(&y[b]));
        let mut rows: Vec<usize> = ((n - (cap - n_best))..n).collect();
        rows.extend(by_value.into_iter().filter(|r| *r < n - (cap - n_best)).take(n_best));
        rows.sort_unstable();
        rows
    }

    /// The acquisition (with feasibility) at `p` and its gradient.
    fn acquisition_with_grad(&self, m: &Models, acq: Acquisition, p: &[f64]) -> (f64, Vec<f64>) {
        let pr = m.objective.predict(p);
        let (mut v, mut g) = acquisition::evaluate(acq, m.best, self.opts.kappa, pr.mean, pr.std, &pr.d_mean, &pr.d_std);
        v += self.log_feasibility(m, p, Some(&mut g[..]));
        (v, g)
    }

    /// Σ ln P(constraint k holds at p) under each constraint's GP, adding its
    /// gradient into `grad` when given.
    fn log_feasibility(&self, m: &Models, p: &[f64], mut grad: Option<&mut [f64]>) -> f64 {
        let mut total = 0.0;
        for (gp, thr) in &m.constraints {
            let pr = gp.predict(p);
            let z = (thr - pr.mean) / pr.std;
            let lp = log_norm_cdf(z);
            total += lp;
            if let Some(g) = grad.as_deref_mut() {
                let ratio = norm_pdf(z) / lp.exp().max(1e-300);
                for t in 0..p.len() {
                    g[t] += ratio * (-pr.d_mean[t] - z * pr.d_std[t]) / pr.std;
                }
            }
        }
        total
    }

    /// The acquisition's maximiser, as Optuna's `optimize_acqf_mixed`:
    /// screen the quasi-random candidates, then run a local search from the
    /// best of them, from `n_refine − 2` more drawn with probability
    /// ∝ exp(acquisition) (a roulette wheel, so starts spread over the
    /// promising basins) and from the best observed point (where EI's
    /// maximiser usually is, late in a study), and keep the best result.
    fn maximise(&self, m: &Models, enc: &Encoding, pats: &[Pattern], acq: Acquisition, cands: &Candidates, number: u64) -> (Vec<f64>, usize) {
        let vals = self.values_many(m, acq, &cands.points);
        let top = (0..vals.len()).max_by(|&a, &b| vals[a].total_cmp(&vals[b]).then(b.cmp(&a))).unwrap_or(0);
        let mut starts = vec![top];
        // Roulette without replacement over the rest, by exp(v − v_max).
        let vmax = vals[top];
        let mut w: Vec<f64> =
            vals.iter().enumerate().map(|(i, v)| if i == top || !v.is_finite() { 0.0 } else { (v - vmax).exp() }).collect();
        let mut rng = rng_for(self.seed, number, "gp-starts");
        let n_extra = self.budget(m.n_obs).1.saturating_sub(2);
        for _ in 0..n_extra {
            let total: f64 = w.iter().sum();
            if total <= 0.0 || !total.is_finite() {
                break;
            }
            let pick = roulette(&w, rng.random::<f64>() * total).unwrap_or_else(|| w.iter().rposition(|x| *x > 0.0).unwrap_or(0));
            starts.push(pick);
            w[pick] = 0.0;
        }
        let mut points: Vec<(Vec<f64>, usize)> = starts.iter().map(|&i| (cands.points[i].clone(), cands.pattern[i])).collect();
        points.extend(m.incumbent.clone());
        let mut found: Vec<(Vec<f64>, usize, f64)> = points
            .into_iter()
            .map(|(p, q)| {
                let (x, v) = self.local_search(m, enc, &pats[q], acq, p);
                (x, q, v)
            })
            .filter(|r| r.2.is_finite())
            .collect();
        // Best first; a stable sort keeps the earliest of equal values.
        found.sort_by(|a, b| b.2.total_cmp(&a.2));
        // A configuration already evaluated teaches nothing new about a
        // deterministic objective, yet with a fitted noise level EI stays
        // positive at the incumbent, and in a discrete space (a conditional
        // branch of integers, say) the search can settle there and propose
        // it trial after trial (or parallel workers ask for it at once). So
        // propose the best new configuration, one neither evaluated nor
        // running: of the local optima, else of the screened candidates; a
        // duplicate only when every one of those is taken.
        let new = |x: &[f64], q: usize| !m.evaluated.contains(&enc.key(x, &pats[q].active));
        if let Some(r) = found.iter().find(|r| new(&r.0, r.1)) {
            return (r.0.clone(), r.1);
        }
        let mut order: Vec<usize> = (0..vals.len()).filter(|&i| vals[i].is_finite()).collect();
        order.sort_by(|&a, &b| vals[b].total_cmp(&vals[a]));
        if let Some(i) = order.into_iter().find(|&i| new(&cands.points[i], cands.pattern[i])) {
            return (cands.points[i].clone(), cands.pattern[i]);
        }
        found.into_iter().next().map(|b| (b.0, b.1)).unwrap_or_else(|| (cands.points[top].clone(), cands.pattern[top]))
    }

    /// Local search from `x0` over a mixed space (Optuna's
    /// `local_search_mixed`): L-BFGS on the continuous coordinates with the
    /// discrete ones held, then each discrete coordinate searched on its
    /// grid with the others held, alternating until a full round changes
    /// nothing. L-BFGS works in coordinates divided by the length scales,
    /// where the acquisition is about equally curved in every direction.
    /// Only the coordinates of `pat` move.
    fn local_search(&self, m: &Models, enc: &Encoding, pat: &Pattern, acq: Acquisition, x0: Vec<f64>) -> (Vec<f64>, f64) {
        let d = x0.len();
        let cont: Vec<usize> = (0..d).filter(|&t| pat.active[t] && enc.axes[t].as_ref().is_some_and(|a| !a.is_discrete())).collect();
        let disc: Vec<usize> = (0..d).filter(|&t| pat.active[t] && !cont.contains(&t)).collect();
        let mut v = self.values_many(m, acq, std::slice::from_ref(&x0))[0];
        let mut x = x0;
        // Which coordinate last changed the point (`CONT`: the continuous ones).
        const CONT: usize = usize::MAX;
        let mut last = CONT;
        for _ in 0..10 {
            if !cont.is_empty() {
                let ls: Vec<f64> = cont.iter().map(|&t| m.length_scales[t].clamp(1e-3, 1e3)).collect();
                let z0: Vec<f64> = cont.iter().zip(&ls).map(|(&t, l)| x[t] / l).collect();
                let lo = vec![0.0; cont.len()];
                let hi: Vec<f64> = ls.iter().map(|l| 1.0 / l).collect();
                let mut p = x.clone();
                let (z, neg) = lbfgs::minimize(
                    |z, g| {
                        for ((&t, zi), l) in cont.iter().zip(z).zip(&ls) {
                            p[t] = (zi * l).clamp(0.0, 1.0);
                        }
                        let (val, gr) = self.acquisition_with_grad(m, acq, &p);
                        for ((gi, &t), l) in g.iter_mut().zip(&cont).zip(&ls) {
                            *gi = -gr[t] * l;
                        }
                        -val
                    },
                    &z0,
                    &lo,
                    &hi,
                    50,
                    1e-2,
                );
                if -neg > v {
                    for ((&t, zi), l) in cont.iter().zip(&z).zip(&ls) {
                        x[t] = (zi * l).clamp(0.0, 1.0);
                    }
                    v = -neg;
                    last = CONT;
                }
            }
            for &t in &disc {
                if last == t {
                    // Nothing moved since this coordinate was searched.
                    return (x, v);
                }
                if self.search_discrete(m, enc, pat, acq, t, &mut x, &mut v) {
                    last = t;
                }
            }
            if last == CONT {
                break;
            }
        }
        (x, v)
    }

    /// The acquisition (with feasibility) at many points, in one batch.
    fn values_many(&self, m: &Models, acq: Acquisition, ps: &[Vec<f64>]) -> Vec<f64> {
        m.objective
            .predict_many(ps)
            .iter()
            .zip(ps)
            .map(|((mu, sd), p)| acquisition::value(acq, m.best, self.opts.kappa, *mu, *sd) + self.log_feasibility(m, p, None))
            .collect()
    }

    /// Improves coordinate `t` of `x` (a categorical or a grid axis) with
    /// the rest held: every value when there are at most 16 (Optuna's
    /// exhaustive search; every choice of a categorical), else a pattern
    /// search over grid positions that tries steps of 1, 2, 4, ... either
    /// way and moves while it improves. Each round's points are evaluated
    /// in one batch. Values `pat` bans are skipped. Returns whether the
    /// point changed.
    #[allow(clippy::too_many_arguments)]
    fn search_discrete(&self, m: &Models, enc: &Encoding, pat: &Pattern, acq: Acquisition, t: usize, x: &mut [f64], v: &mut f64) -> bool {
        let (n, cur) = match &enc.axes[t] {
            None => (enc.n_choices[t], x[t] as usize),
            Some(a) => (a.grid_len(), a.grid_index(x[t])),
        };
        let at = |k: usize| enc.axes[t].as_ref().map_or(k as f64, |a| a.grid_point(k));
        if n <= 1 {
            return false;
        }
        let eval = |ks: &[usize]| -> Vec<f64> {
            let ps: Vec<Vec<f64>> = ks
                .iter()
                .map(|&k| {
                    let mut y = x.to_vec();
                    y[t] = at(k);
                    y
                })
                .collect();
            self.values_many(m, acq, &ps)
        };
        let (mut best_k, mut best_v) = (cur, *v);
        let exhaustive = n <= 16 || enc.axes[t].is_none();
        for _ in 0..16 {
            let base = best_k;
            let ks: Vec<usize> = if exhaustive {
                (0..n).filter(|&k| k != cur && pat.allows(t, k)).collect()
            } else {
                std::iter::successors(Some(1usize), |s| (s * 2 < n).then_some(s * 2))
                    .flat_map(|s| [base.checked_sub(s), base.checked_add(s).filter(|&k| k < n)])
                    .flatten()
                    .filter(|&k| pat.allows(t, k))
                    .collect()
            };
            for (k, val) in ks.iter().zip(eval(&ks)) {
                if val > best_v {
                    (best_k, best_v) = (*k, val);
                }
            }
            if exhaustive || best_k == base {
                break;
            }
        }
        if best_k != cur {
            x[t] = at(best_k);
            *v = best_v;
            true
        } else {
            false
        }
    }

    /// Kriging believer (Ginsbourger et al. 2010): the points of running GP
    /// trials count as observed at the model's mean, so parallel workers
    /// spread out instead of proposing the same point.
    #[allow(clippy::too_many_arguments)]
    fn believe_pending(
        &self,
        gp: Gp,
        trials: &[Arc<FrozenTrial>],
        number: u64,
        key: &str,
        flat: &[f64],
        y: &[f64],
        is_cat: &[bool],
        hyper: &Hyper,
    ) -> Gp {
        let d = is_cat.len();
        let pending: Vec<Vec<f64>> = trials
            .iter()
            .filter(|t| t.state == TrialState::Running && t.number != number)
            .filter_map(|t| serde_json::from_value::<Tag>(t.system_attrs.get(ATTR)?.clone()).ok())
            .filter(|tag| tag.space == key && tag.x.len() == d)
            .map(|tag| tag.x)
            .collect();
        if pending.is_empty() {
            return gp;
        }
        let means = gp.predict_many(&pending);
        let mut xa = flat.to_vec();
        let mut ya = y.to_vec();
        for (p, (mu, _)) in pending.iter().zip(means) {
            xa.extend(p.iter().copied());
            ya.push(mu);
        }
        Gp::new(xa, &ya, d, is_cat.to_vec(), hyper.clone(), self.min_noise()).unwrap_or(gp)
    }

    /// One GP per constraint over the observed points, with the standardised
    /// threshold 0 each is held to.
    fn constraint_models(
        &self,
        cons: &[Option<Vec<f64>>],
        fx: &[f64],
        rows: &[usize],
        flat: &[f64],
        d: usize,
        is_cat: &[bool],
    ) -> Vec<(Gp, f64)> {
        let n_cons = cons.iter().flatten().map(Vec::len).max().unwrap_or(0);
        let mut constraints = vec![];
        for k in 0..n_cons {
            let ck: Vec<f64> = cons.iter().map(|c| c.as_ref().and_then(|c| c.get(k)).copied().unwrap_or(0.0)).collect();
            let (cs, mean, std) = standardise(&ck);
            let h = model::fit(fx, &rows.iter().map(|&r| cs[r]).collect::<Vec<_>>(), d, is_cat, None, self.min_noise());
            if let Some(g) = Gp::new(flat.to_vec(), &cs, d, is_cat.to_vec(), h, self.min_noise()) {
                constraints.push((g, (0.0 - mean) / std));
            }
        }
        constraints
    }

    /// The next point by the chosen acquisition; with gp_hedge (Hoffman,
    /// Brochu & de Freitas 2011) one of EI/PI/LCB by softmax of their gains,
    /// which are returned to be stored.
    #[allow(clippy::type_complexity)]
    fn propose(
        &self,
        models: &Models,
        enc: &Encoding,
        pats: &[Pattern],
        cands: &Candidates,
        last_tag: Option<&Tag>,
        number: u64,
    ) -> ((Vec<f64>, usize), Option<(Vec<f64>, Vec<Vec<f64>>)>) {
        match self.opts.acquisition {
            AcquisitionChoice::Ei => (self.maximise(models, enc, pats, Acquisition::Ei, cands, number), None),
            AcquisitionChoice::Pi => (self.maximise(models, enc, pats, Acquisition::Pi, cands, number), None),
            AcquisitionChoice::Lcb => (self.maximise(models, enc, pats, Acquisition::Lcb, cands, number), None),
            AcquisitionChoice::GpHedge => {
                // Gains: each acquisition is rewarded by minus the current
                // model's mean at what it proposed last time (skopt).
                let mut gains = vec![0.0; 3];
                if let Some((g, props)) = last_tag.and_then(|t| t.hedge.clone()) {
                    let means = models.objective.predict_many(&props);
                    for k in 0..3 {
                        gains[k] = g[k] - means[k].0;
                    }
                }
                let proposals: Vec<(Vec<f64>, usize)> = [Acquisition::Ei, Acquisition::Pi, Acquisition::Lcb]
                    .iter()
                    .map(|a| self.maximise(models, enc, pats, *a, cands, number))
                    .collect();
                let mx = gains.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = gains.iter().map(|g| (g - mx).exp()).collect();
                let total: f64 = w.iter().sum();
                let pick = roulette(&w, rng_for(self.seed, number, "gp-hedge").random::<f64>() * total).unwrap_or(2);
                let chosen = proposals[pick].clone();
                (chosen, Some((gains, proposals.into_iter().map(|p| p.0).collect())))
            }
        }
    }

    /// (candidates, local searches) for an ask with `n` observations: the
    /// options' budget up to 150 observations, shrinking ∝ 1/n beyond (to
    /// at least 512 candidates and 3 searches), because every evaluation
    /// of the posterior costs O(n²) and an ask's time should not grow as n³.
    fn budget(&self, n: usize) -> (usize, usize) {
        let scale = (150.0 / n.max(1) as f64).min(1.0);
        let cands = ((self.opts.n_candidates as f64 * scale) as usize).max(self.opts.n_candidates.min(512));
        let refine = ((self.opts.n_refine as f64 * scale).round() as usize).max(self.opts.n_refine.min(3));
        (cands, refine)
    }

    /// Quasi-random candidates, dealt to the patterns in turn, then local
    /// perturbations of the best points found so far, each in its own
    /// pattern. A pattern's absent coordinates stay at their encoding and
    /// its banned values are not proposed.
    fn candidates(&self, enc: &Encoding, pats: &[Pattern], number: u64, incumbents: &[(Vec<f64>, usize)], n_obs: usize) -> Candidates {
        let d = enc.axes.len();
        let qmc = QmcSampler::new(Some(combine(&[self.seed, number, 0x6770])));
        let mut rng = rng_for(self.seed, number, "gp-candidates");
        let choices: Vec<Vec<Vec<usize>>> = pats.iter().map(|p| (0..d).map(|t| p.choices(enc, t)).collect()).collect();
        let mut out = Candidates { points: vec![], pattern: vec![] };
        for i in 0..self.budget(n_obs).0 as u64 {
            let q = i as usize % pats.len();
            let pat = &pats[q];
            let point: Option<Vec<f64>> = (0..d)
                .map(|t| {
                    if !pat.active[t] {
                        return Some(enc.inactive(t));
                    }
                    let u = qmc.point(i, t as u64);
                    match &enc.axes[t] {
                        None => {
                            let c = &choices[q][t];
                            Some(c[((u * c.len() as f64) as usize).min(c.len() - 1)] as f64)
                        }
                        Some(a) if a.is_discrete() => pat.snap(a, t, u),
                        Some(_) => Some(u),
                    }
                })
                .collect();
            if let Some(p) = point {
                out.points.push(p);
                out.pattern.push(q);
            }
        }
        for (inc, q) in incumbents {
            let pat = &pats[*q];
            for _ in 0..16 {
                out.points.push(
                    (0..d)
                        .map(|t| {
                            if !pat.active[t] {
                                inc[t]
                            } else if enc.n_choices[t] > 0 {
                                let c = &choices[*q][t];
                                if rng.random::<f64>() < 0.2 { c[rng.random_range(0..c.len())] as f64 } else { inc[t] }
                            } else {
                                let u = (inc[t] + 0.05 * crate::math::norm_ppf(rng.random::<f64>().clamp(1e-12, 1.0 - 1e-12))).clamp(0.0, 1.0);
                                match enc.axes[t].as_ref().filter(|a| a.is_discrete()) {
                                    Some(a) => pat.snap(a, t, u).unwrap_or(inc[t]),
                                    None => u,
                                }
                            }
                        })
                        .collect(),
                );
                out.pattern.push(*q);
            }
        }
        out
    }
}

fn numbered_space_key(space: &SearchSpace) -> String {
    space.keys().cloned().collect::<Vec<_>>().join(",")
}

impl Sampler for GpSampler {
    fn name(&self) -> &'static str {
        "gp"
    }

    fn infer_relative_search_space(&self, study: &Study, _trial: &FrozenTrial) -> Result<SearchSpace> {
        if study.is_multi_objective() {
            return Err(Error::Sampler("GP-BO optimises one objective; use the tpe or nsga2 sampler for several".into()));
        }
        // The union: a conditional space's parameters are modelled with
        // absent ones imputed (see `Pattern`).
        Ok(self.obs.union(study)?.into_iter().filter(|(_, d)| d.cardinality() != Some(1)).collect())
    }

    fn sample_relative(&self, study: &Study, trial: &FrozenTrial, space: &SearchSpace) -> Result<RelativeSample> {
        let trials = study.trials()?;
        let sign = study.direction().sign();
        let enc = Encoding::new(space);
        let (mut observed, mut x, mut active) = (vec![], vec![], vec![]);
        for t in trials.iter().filter(|t| t.state == TrialState::Complete && t.value().is_some_and(f64::is_finite)) {
            if let Some((p, a)) = enc.encode(t) {
                observed.push(t);
                x.push(p);
                active.push(a);
            }
        }
        if space.is_empty() || observed.is_empty() {
            return Ok(RelativeSample::default());
        }
        // Rows from here on are pruned trials at extrapolated values: in the
        // model (and in the count of the initial design), never the incumbent.
        let n_complete = observed.len();
        let mut raw: Vec<f64> = observed.iter().map(|t| sign * t.value().unwrap_or(0.0)).collect();
        // (Pruned trials report no constraint values: not in a constrained study.)
        if self.opts.consider_pruned_trials && observed.iter().all(|t| t.constraints().is_none()) {
            for (t, v) in extrapolate_pruned(&observed, trials.iter().filter(|t| t.state == TrialState::Pruned), sign) {
                if let Some((p, a)) = enc.encode(t) {
                    observed.push(t);
                    x.push(p);
                    active.push(a);
                    raw.push(v);
                }
            }
        }
        if observed.len() < self.opts.n_initial_points.max(1) {
            return Ok(RelativeSample::default());
        }
        let key = numbered_space_key(space);
        let d = enc.axes.len();
        let is_cat = enc.is_cat();
        let (patterns, pattern_of) = Pattern::infer(&enc, &x, &active);
        let y = if self.opts.output_warping { warping::warp(&raw) } else { standardise(&raw).0 };

        // The last GP trial's tag: warm start, hedge state.
        let last_tag: Option<Tag> = trials
            .iter()
            .rev()
            .filter(|t| t.number < trial.number)
            .filter_map(|t| serde_json::from_value::<Tag>(t.system_attrs.get(ATTR)?.clone()).ok())
            .find(|tag| tag.space == key);

        let rows = self.fit_rows(&y);
        let fx: Vec<f64> = rows.iter().flat_map(|&r| x[r].iter().copied()).collect();
        let fy: Vec<f64> = rows.iter().map(|&r| y[r]).collect();
        let hyper = self.fit_hyper(&fx, &fy, d, &is_cat, last_tag.as_ref().map(|t| &t.hyper));
        let flat: Vec<f64> = x.iter().flatten().copied().collect();
        let Some(gp) = Gp::new(flat.clone(), &y, d, is_cat.clone(), hyper.clone(), self.min_noise()) else {
            return Ok(RelativeSample::default());
        };

        let objective = self.believe_pending(gp, &trials, trial.number, &key, &flat, &y, &is_cat, &hyper);
        let cons: Vec<Option<Vec<f64>>> = observed.iter().map(|t| t.constraints()).collect();
        let constraints = self.constraint_models(&cons, &fx, &rows, &flat, d, &is_cat);
        // The incumbent is the best feasible trial.
        let feasible = |i: usize| cons[i].as_ref().is_none_or(|c| c.iter().all(|v| *v <= 0.0));
        let best_feasible = (0..n_complete).filter(|&i| feasible(i)).min_by(|&a, &b| y[a].total_cmp(&y[b]));
        let best = best_feasible.map_or_else(|| y[..n_complete].iter().copied().fold(f64::INFINITY, f64::min), |i| y[i]);
        let incumbent = best_feasible.map(|i| (x[i].clone(), pattern_of[i]));
        let length_scales = hyper.log_inv_sq_ls.iter().map(|l| (-0.5 * l).exp()).collect();
        // Evaluated, or being evaluated by another worker (a running trial's
        // parameters as far as it has suggested them).
        let mut evaluated: HashSet<Vec<Option<u64>>> = x.iter().zip(&active).map(|(p, a)| enc.key(p, a)).collect();
        evaluated.extend(
            trials
                .iter()
                .filter(|t| t.state == TrialState::Running && t.number != trial.number)
                .filter_map(|t| enc.encode(t))
                .map(|(p, a)| enc.key(&p, &a)),
        );
        let models = Models { objective, best, length_scales, incumbent, constraints, n_obs: y.len(), evaluated };

        let mut order: Vec<usize> = (0..n_complete).collect();
        order.sort_by(|&a, &b| y[a].total_cmp(&y[b]));
        let incumbents: Vec<(Vec<f64>, usize)> = order.iter().take(5).map(|&i| (x[i].clone(), pattern_of[i])).collect();
        let cands = self.candidates(&enc, &patterns, trial.number, &incumbents, y.len());

        let ((point, q), hedge) = self.propose(&models, &enc, &patterns, &cands, last_tag.as_ref(), trial.number);

        // Only the chosen pattern's parameters: the others are absent there.
        let values: IndexMap<String, f64> = (0..d)
            .filter(|&t| patterns[q].active[t])
            .map(|t| (enc.names[t].clone(), enc.decode(t, point[t])))
            .collect();
        let tag = Tag { space: key, x: point, hyper, hedge };
        Ok(RelativeSample { values, system_attrs: vec![(ATTR.into(), serde_json::to_value(tag).expect("tag"))] })
    }

    fn sample_independent(&self, study: &Study, trial: &FrozenTrial, name: &str, dist: &Distribution) -> Result<f64> {
        let done = study.trials()?.iter().filter(|t| t.state == TrialState::Complete).count();
        if done < self.opts.n_initial_points {
            self.initial.sample_independent(study, trial, name, dist)
        } else {
            self.random.sample_independent(study, trial, name, dist)
        }
    }
}

/// Pruned trials with the final value each one's curve suggests, in the
/// minimised sign: its last reported value less the median drop that the
/// complete trials made from that step to their end. A one-shape
/// learning-curve extrapolation (after Domhan, Springenberg & Hutter, IJCAI
/// 2015, who fit parametric curves; here the study's own finished curves are
/// the model). It puts a trial stopped early on the scale of finished ones,
/// where its raw value (an epoch-1 loss, say) would sit far above them.
///
/// Only where the finished curves show that a value at that step predicts
/// the final one: their rank correlation (Spearman) between the two must be
/// at least `MIN_RANK_CORRELATION`, from at least `MIN_CURVES` finished
/// curves — the rank consistency between fidelities that PASHA (Bohdal et
/// al., ICLR 2023) checks before it trusts a rung. Where curves cross (slow
/// starters that end best) the early values mislead and the trial is left
/// out, as Optuna's GPSampler leaves out every pruned trial.
fn extrapolate_pruned<'a>(
    complete: &[&Arc<FrozenTrial>],
    pruned: impl Iterator<Item = &'a Arc<FrozenTrial>>,
    sign: f64,
) -> Vec<(&'a Arc<FrozenTrial>, f64)> {
    // Per step: the median drop, if the step predicts the end.
    let mut by_step: std::collections::BTreeMap<u64, Option<f64>> = Default::default();
    let mut drop_at = |step: u64| -> Option<f64> {
        *by_step.entry(step).or_insert_with(|| {
            let pairs: Vec<(f64, f64)> = complete
                .iter()
                .filter_map(|c| Some((sign * c.intermediate_values.get(&step)?, sign * c.value()?)))
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .collect();
            if pairs.len() < MIN_CURVES || spearman(&pairs) < MIN_RANK_CORRELATION {
                return None;
            }
            let mut drops: Vec<f64> = pairs.iter().map(|(at, end)| at - end).collect();
            Some(percentile(&mut drops, 50.0))
        })
    };
    pruned
        .filter_map(|t| {
            let (step, v) = t.last_intermediate()?;
            if !v.is_finite() {
                return None;
            }
            Some((t, sign * v - drop_at(step)?))
        })
        .collect()
}

/// Finished curves needed at a step before pruned trials there are modelled.
const MIN_CURVES: usize = 5;
/// The rank correlation between a step's values and the final ones needed.
const MIN_RANK_CORRELATION: f64 = 0.5;

/// Spearman's rank correlation of the pairs (ties get their mean rank);
/// 0 when either side is constant.
fn spearman(pairs: &[(f64, f64)]) -> f64 {
    let a = average_ranks(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let b = average_ranks(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(&b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let (va, vb): (f64, f64) = (a.iter().map(|x| (x - ma).powi(2)).sum(), b.iter().map(|y| (y - mb).powi(2)).sum());
    if va <= 0.0 || vb <= 0.0 { 0.0 } else { cov / (va * vb).sqrt() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(number: u64, state: TrialState, values: &[(u64, f64)], last: f64) -> Arc<FrozenTrial> {
        Arc::new(FrozenTrial {
            values: Some(vec![last]),
            intermediate_values: values.iter().copied().collect(),
            ..FrozenTrial::blank(number, state)
        })
    }

    /// A pruned trial is put where its curve would have ended if it had
    /// dropped as the finished ones did from its last step on — where the
    /// finished curves show that step's ranking carries to the end.
    #[test]
    fn pruned_trials_are_extrapolated_by_the_finished_curves_drop() {
        use TrialState::{Complete, Pruned};
        // Five finished curves whose step-1 values rank much as their ends
        // do; at step 3 the ranking is reversed, as when curves cross.
        let done: Vec<Arc<FrozenTrial>> = [(2.0, 0.1, 1.0), (2.0, 0.3, 0.8), (2.5, 0.5, 0.5), (2.3, 0.2, 1.2), (3.0, 0.0, 1.5)]
            .iter()
            .enumerate()
            .map(|(i, &(s1, s3, end))| curve(i as u64, Complete, &[(1, s1 + end - 1.0), (3, s3), (9, end)], end))
            .collect();
        let pruned = [
            curve(5, Pruned, &[(1, 3.0)], 3.0),
            // Step 2: no finished curve has a value there.
            curve(6, Pruned, &[(1, 2.9), (2, 2.8)], 2.8),
            // Step 3: the ranking there does not predict the end.
            curve(7, Pruned, &[(1, 2.9), (3, 0.05)], 0.05),
        ];
        let complete: Vec<&Arc<FrozenTrial>> = done.iter().collect();
        let drops: Vec<f64> = done.iter().map(|t| t.intermediate_values[&1] - t.value().unwrap()).collect();
        let median = {
            let mut d = drops.clone();
            d.sort_by(f64::total_cmp);
            d[2]
        };
        let out = extrapolate_pruned(&complete, pruned.iter(), 1.0);
        assert_eq!(out.iter().map(|(t, _)| t.number).collect::<Vec<_>>(), [5]);
        assert!((out[0].1 - (3.0 - median)).abs() < 1e-12, "{} vs {}", out[0].1, 3.0 - median);
        // Maximising: the values are negated, the drop is a rise.
        let negate = |t: &Arc<FrozenTrial>| {
            let mut t = (**t).clone();
            t.values = t.values.map(|v| v.iter().map(|x| -x).collect());
            t.intermediate_values = t.intermediate_values.iter().map(|(k, v)| (*k, -v)).collect();
            Arc::new(t)
        };
        let up: Vec<Arc<FrozenTrial>> = done.iter().map(negate).collect();
        let up_pruned = [negate(&pruned[0])];
        let out = extrapolate_pruned(&up.iter().collect::<Vec<_>>(), up_pruned.iter(), -1.0);
        assert!((out[0].1 - (3.0 - median)).abs() < 1e-12, "{}", out[0].1);
        // Fewer than five finished curves: nothing is extrapolated.
        assert!(extrapolate_pruned(&complete[..4], pruned.iter(), 1.0).is_empty());
    }

    #[test]
    fn spearman_ranks() {
        assert!((spearman(&[(1.0, 10.0), (2.0, 20.0), (3.0, 25.0)]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]) + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&[(1.0, 1.0), (1.0, 2.0)]), 0.0);
    }

    /// The benchmark's conditional shape: `model` decides whether `l2` or
    /// `layers` and `opt` exist, and `opt` whether `momentum` does.
    #[test]
    fn patterns_ban_the_values_that_lead_to_other_patterns() {
        let space: SearchSpace = [
            ("model", Distribution::categorical(["linear", "mlp", "tree"])),
            ("l2", Distribution::float_log(1e-6, 1.0)),
            ("layers", Distribution::int(1, 5)),
            ("opt", Distribution::categorical(["sgd", "adam"])),
            ("momentum", Distribution::float(0.0, 1.0)),
        ]
        .into_iter()
        .map(|(k, d)| (k.to_string(), d))
        .collect();
        let enc = Encoding::new(&space);
        let n = f64::NAN; // absent
        let rows = [
            [0.0, 0.3, n, n, n],
            [1.0, n, 0.25, 0.0, 0.9],
            [1.0, n, 0.5, 1.0, n],
            [0.0, 0.7, n, n, n],
            [1.0, n, 0.25, 0.0, 0.1],
        ];
        let active: Vec<Vec<bool>> = rows.iter().map(|r| r.iter().map(|v| !v.is_nan()).collect()).collect();
        let x: Vec<Vec<f64>> =
            rows.iter().map(|r| r.iter().enumerate().map(|(t, v)| if v.is_nan() { enc.inactive(t) } else { *v }).collect()).collect();
        let (pats, of) = Pattern::infer(&enc, &x, &active);
        assert_eq!(of, [0, 1, 2, 0, 1]);
        // linear: not "mlp" (seen only where layers exist); "tree" (never
        // seen) stays open, so an unexplored branch can still be proposed.
        assert_eq!(pats[0].banned[0], [1]);
        assert_eq!(pats[0].choices(&enc, 0), [0, 2]);
        // mlp + sgd: not "linear"; not "adam" (seen only without momentum).
        assert_eq!(pats[1].banned[0], [0]);
        assert_eq!(pats[1].banned[3], [1]);
        // mlp + adam: not "sgd". `layers` took one value here and another
        // under sgd; a discrete parameter's disjoint values count as
        // leading elsewhere too (with more trials the sets overlap).
        assert_eq!(pats[2].banned[3], [0]);
        let (under_sgd, under_adam) = (enc.position(2, 0.25).unwrap(), enc.position(2, 0.5).unwrap());
        assert_ne!(under_sgd, under_adam);
        assert_eq!(pats[2].banned[2], [under_sgd]);
        assert_eq!(pats[1].banned[2], [under_adam]);
        // A continuous parameter bans nothing.
        assert!(pats.iter().all(|p| p.banned[1].is_empty() && p.banned[4].is_empty()));
        // Absent parameters are never searched.
        assert_eq!(pats[0].active, [true, true, false, false, false]);
    }
}
