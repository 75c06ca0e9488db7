//! Gaussian-process Bayesian optimisation (Jones, Schonlau & Welch, "Efficient
//! Global Optimization", 1998; Snoek, Larochelle & Adams, "Practical Bayesian
//! Optimization of Machine Learning Algorithms", NeurIPS 2012), in the shape
//! of scikit-optimize's `gp_minimize` and Optuna's GPSampler.
//!
//! Per ask, after `n_initial_points` quasi-random (Sobol) trials:
//!
//! 1. encode the study's joint space in the unit cube (log parameters in
//!    log space; integers relaxed, rounded when decoded; categoricals as
//!    indices, compared by equality in the kernel);
//! 2. standardise the objective (maximisation is negated) and fit a GP
//!    (`model.rs`) by MAP, warm-started from the hyperparameters the last
//!    GP trial stored; above
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
//! 5. with constraints, multiply by the probability that each constraint
//!    holds under its own GP (Gardner et al., ICML 2014).
//!
//! Everything the next ask needs (hyperparameters, the hedge's gains and
//! proposals, the proposed point for the believer) is stored on the trial,
//! so the sampler's behaviour depends only on storage and the seed.

mod acquisition;
mod lbfgs;
mod model;

pub use acquisition::Acquisition;

use indexmap::IndexMap;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use self::model::{Gp, Hyper};
use super::observations::SharedObservations;
use super::transform::UnitAxis;
use super::{QmcSampler, RandomSampler, RelativeSample, Sampler, SearchSpace};
use crate::distribution::Distribution;
use crate::error::{Error, Result};
use crate::math::{log_norm_cdf, norm_pdf};
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
    axes: Vec<Option<UnitAxis>>,
    n_choices: Vec<usize>,
}

impl Encoding {
    fn new(space: &SearchSpace) -> Encoding {
        Encoding {
            names: space.keys().cloned().collect(),
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
    fn encode(&self, t: &FrozenTrial) -> Vec<f64> {
        self.names
            .iter()
            .zip(&self.axes)
            .map(|(k, a)| {
                let x = t.params[k].internal;
                a.as_ref().map_or(x, |a| a.encode(x))
            })
            .collect()
    }
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
    /// The best feasible observed point (a start for the local search).
    incumbent: Option<Vec<f64>>,
    n_obs: usize,
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
    fn maximise(&self, m: &Models, enc: &Encoding, acq: Acquisition, candidates: &[Vec<f64>], number: u64) -> Vec<f64> {
        let vals = self.values_many(m, acq, candidates);
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
        let mut points: Vec<Vec<f64>> = starts.iter().map(|&i| candidates[i].clone()).collect();
        if let Some(inc) = &m.incumbent {
            points.push(inc.clone());
        }
        let mut best: Option<(Vec<f64>, f64)> = None;
        for p in points {
            let (x, v) = self.local_search(m, enc, acq, p);
            if v.is_finite() && best.as_ref().is_none_or(|b| v > b.1) {
                best = Some((x, v));
            }
        }
        best.map(|b| b.0).unwrap_or_else(|| candidates[top].clone())
    }

    /// Local search from `x0` over a mixed space (Optuna's
    /// `local_search_mixed`): L-BFGS on the continuous coordinates with the
    /// discrete ones held, then each discrete coordinate searched on its
    /// grid with the others held, alternating until a full round changes
    /// nothing. L-BFGS works in coordinates divided by the length scales,
    /// where the acquisition is about equally curved in every direction.
    fn local_search(&self, m: &Models, enc: &Encoding, acq: Acquisition, x0: Vec<f64>) -> (Vec<f64>, f64) {
        let d = x0.len();
        let cont: Vec<usize> = (0..d).filter(|&t| enc.axes[t].as_ref().is_some_and(|a| !a.is_discrete())).collect();
        let disc: Vec<usize> = (0..d).filter(|&t| !cont.contains(&t)).collect();
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
                if self.search_discrete(m, enc, acq, t, &mut x, &mut v) {
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
    /// in one batch. Returns whether the point changed.
    fn search_discrete(&self, m: &Models, enc: &Encoding, acq: Acquisition, t: usize, x: &mut [f64], v: &mut f64) -> bool {
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
                (0..n).filter(|&k| k != cur).collect()
            } else {
                std::iter::successors(Some(1usize), |s| (s * 2 < n).then_some(s * 2))
                    .flat_map(|s| [base.checked_sub(s), base.checked_add(s).filter(|&k| k < n)])
                    .flatten()
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
        cands: &[Vec<f64>],
        last_tag: Option<&Tag>,
        number: u64,
    ) -> (Vec<f64>, Option<(Vec<f64>, Vec<Vec<f64>>)>) {
        match self.opts.acquisition {
            AcquisitionChoice::Ei => (self.maximise(models, enc, Acquisition::Ei, cands, number), None),
            AcquisitionChoice::Pi => (self.maximise(models, enc, Acquisition::Pi, cands, number), None),
            AcquisitionChoice::Lcb => (self.maximise(models, enc, Acquisition::Lcb, cands, number), None),
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
                let proposals: Vec<Vec<f64>> = [Acquisition::Ei, Acquisition::Pi, Acquisition::Lcb]
                    .iter()
                    .map(|a| self.maximise(models, enc, *a, cands, number))
                    .collect();
                let mx = gains.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = gains.iter().map(|g| (g - mx).exp()).collect();
                let total: f64 = w.iter().sum();
                let pick = roulette(&w, rng_for(self.seed, number, "gp-hedge").random::<f64>() * total).unwrap_or(2);
                (proposals[pick].clone(), Some((gains, proposals)))
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

    fn candidates(&self, enc: &Encoding, number: u64, incumbents: &[Vec<f64>], n_obs: usize) -> Vec<Vec<f64>> {
        let d = enc.axes.len();
        let qmc = QmcSampler::new(Some(combine(&[self.seed, number, 0x6770])));
        let mut rng = rng_for(self.seed, number, "gp-candidates");
        let mut out: Vec<Vec<f64>> = (0..self.budget(n_obs).0 as u64)
            .map(|i| {
                (0..d)
                    .map(|t| {
                        let u = qmc.point(i, t as u64);
                        match &enc.axes[t] {
                            None => ((u * enc.n_choices[t] as f64) as usize).min(enc.n_choices[t] - 1) as f64,
                            Some(a) if a.is_discrete() => a.snap(u),
                            Some(_) => u,
                        }
                    })
                    .collect()
            })
            .collect();
        // Local perturbations of the best points found so far.
        for inc in incumbents {
            for _ in 0..16 {
                out.push(
                    (0..d)
                        .map(|t| {
                            if enc.n_choices[t] > 0 {
                                if rng.random::<f64>() < 0.2 { rng.random_range(0..enc.n_choices[t]) as f64 } else { inc[t] }
                            } else {
                                let u = (inc[t] + 0.05 * crate::math::norm_ppf(rng.random::<f64>().clamp(1e-12, 1.0 - 1e-12))).clamp(0.0, 1.0);
                                enc.axes[t].as_ref().filter(|a| a.is_discrete()).map_or(u, |a| a.snap(u))
                            }
                        })
                        .collect(),
                );
            }
        }
        out
    }
}

/// Roulette-wheel selection: the index whose slice of the cumulative
/// weights holds `u` (drawn uniformly in [0, Σw)), or `None` when rounding
/// or non-finite weights leave `u` past the end.
fn roulette(w: &[f64], mut u: f64) -> Option<usize> {
    for (i, wi) in w.iter().enumerate() {
        if u < *wi {
            return Some(i);
        }
        u -= wi;
    }
    None
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
        Ok(self.obs.intersection(study)?.into_iter().filter(|(_, d)| d.cardinality() != Some(1)).collect())
    }

    fn sample_relative(&self, study: &Study, trial: &FrozenTrial, space: &SearchSpace) -> Result<RelativeSample> {
        let trials = study.trials()?;
        let sign = study.direction().sign();
        let has = |t: &FrozenTrial| space.iter().all(|(k, d)| t.params.get(k).is_some_and(|p| &p.distribution == d));
        let observed: Vec<&Arc<FrozenTrial>> = trials
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.value().is_some_and(f64::is_finite) && has(t))
            .collect();
        if space.is_empty() || observed.len() < self.opts.n_initial_points.max(1) {
            return Ok(RelativeSample::default());
        }
        let key = numbered_space_key(space);
        let enc = Encoding::new(space);
        let d = enc.axes.len();
        let is_cat = enc.is_cat();
        let x: Vec<Vec<f64>> = observed.iter().map(|t| enc.encode(t)).collect();
        let (y, _, _) = standardise(&observed.iter().map(|t| sign * t.value().unwrap_or(0.0)).collect::<Vec<_>>());

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
        let best_feasible = (0..y.len()).filter(|&i| feasible(i)).min_by(|&a, &b| y[a].total_cmp(&y[b]));
        let best = best_feasible.map_or_else(|| y.iter().copied().fold(f64::INFINITY, f64::min), |i| y[i]);
        let incumbent = best_feasible.map(|i| x[i].clone());
        let length_scales = hyper.log_inv_sq_ls.iter().map(|l| (-0.5 * l).exp()).collect();
        let models = Models { objective, best, length_scales, incumbent, constraints, n_obs: y.len() };

        let mut order: Vec<usize> = (0..y.len()).collect();
        order.sort_by(|&a, &b| y[a].total_cmp(&y[b]));
        let incumbents: Vec<Vec<f64>> = order.iter().take(5).map(|&i| x[i].clone()).collect();
        let cands = self.candidates(&enc, trial.number, &incumbents, y.len());

        let (point, hedge) = self.propose(&models, &enc, &cands, last_tag.as_ref(), trial.number);

        let values: IndexMap<String, f64> = enc
            .names
            .iter()
            .zip(&enc.axes)
            .zip(space.values())
            .zip(&point)
            .map(|(((k, a), dist), &u)| (k.clone(), a.as_ref().map_or_else(|| dist.clamp_internal(u), |a| a.decode(u))))
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
