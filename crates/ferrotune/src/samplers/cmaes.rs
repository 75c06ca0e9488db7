//! CMA-ES (Hansen & Ostermeier 2001; the (μ/μ_w, λ) update of Hansen's
//! tutorial, arXiv:1604.00772, in its active form with negative weights,
//! Jastrebski & Arnold 2006) with IPOP restarts (Auger & Hansen, CEC 2005)
//! and a margin for integer dimensions (after Hamano et al., "CMA-ES with
//! Margin", GECCO 2022). Its update equals the `cmaes` package's (tested
//! line by line); where it differs is how a generation's normal draws are
//! made: by orthogonal sampling (Wang, Emmerich & Bäck 2019, see
//! [`block_basis`]), which a tuner's few generations profit from.
//!
//! It searches the unit cube of the study's numerical parameters (log ones
//! in log space). Categorical parameters are not modelled: they are drawn by
//! the random sampler, as in Optuna.
//!
//! The state is never trusted from memory alone: every trial the sampler
//! proposes carries its restart, generation and continuous point as system
//! attributes, and the state is *replayed* from the complete trials of each
//! generation (the first λ by trial number). A cache keyed by restart and
//! generation makes that replay incremental within a process; a resumed
//! study, or another process, replays from storage and lands on the same
//! state.

use faer::{Mat, Side};
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

use super::observations::SharedObservations;
use super::transform::UnitAxis;
use super::{RandomSampler, RelativeSample, Sampler, SearchSpace};
use crate::distribution::Distribution;
use crate::error::{Error, Result};
use crate::math::norm_ppf;
use crate::rng::{fresh_seed, rng_for};
use crate::study::Study;
use crate::trial::{FrozenTrial, TrialState};

/// A standard normal draw by inverting the CDF of a uniform in (0, 1).
fn std_normal(rng: &mut impl Rng) -> f64 {
    norm_ppf(rng.random::<f64>().max(f64::MIN_POSITIVE))
}

use crate::attrs::CMA as ATTR;

/// CMA-ES options. `None` fields take the standard defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CmaEsOptions {
    /// Initial step size in unit coordinates (default 1/6 of the range).
    pub sigma0: Option<f64>,
    /// Population size λ (default 4 + ⌊3 ln n⌋).
    pub popsize: Option<usize>,
    /// Random trials before CMA-ES starts.
    pub n_startup_trials: usize,
    /// Restart with a doubled population when the search stagnates.
    pub ipop: bool,
    /// Keep integer dimensions from freezing (CMA-ES with margin).
    pub with_margin: bool,
}

impl Default for CmaEsOptions {
    fn default() -> Self {
        CmaEsOptions { sigma0: None, popsize: None, n_startup_trials: 0, ipop: true, with_margin: true }
    }
}

/// What a proposed trial records, so the state can be replayed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Tag {
    /// The modelled parameters, to ignore trials of another space.
    space: String,
    restart: u32,
    generation: u64,
    /// The continuous point in unit coordinates (before rounding).
    x: Vec<f64>,
}

/// One run's state.
#[derive(Debug, Clone)]
struct Cma {
    n: usize,
    lambda: usize,
    mu: usize,
    weights: Vec<f64>,
    mueff: f64,
    cc: f64,
    cs: f64,
    c1: f64,
    cmu: f64,
    damps: f64,
    chi_n: f64,
    mean: Vec<f64>,
    sigma: f64,
    sigma0: f64,
    c: Mat<f64>,
    b: Mat<f64>,
    d: Vec<f64>,
    pc: Vec<f64>,
    ps: Vec<f64>,
    /// Margin scaling per dimension (1 for continuous ones).
    a: Vec<f64>,
    /// Width of one integer value in unit coordinates, per dimension.
    steps: Vec<Option<f64>>,
    generation: u64,
    best_history: Vec<f64>,
}

impl Cma {
    fn new(mean: Vec<f64>, sigma0: f64, lambda: usize, steps: Vec<Option<f64>>) -> Cma {
        let n = mean.len();
        let nf = n as f64;
        let mu = lambda / 2;
        // Active CMA-ES (Jastrebski & Arnold 2006; Hansen's tutorial, eqs.
        // 49–53): every one of the λ points gets a weight, the worse half a
        // negative one that shrinks the covariance along bad directions.
        let raw: Vec<f64> = (0..lambda).map(|i| ((lambda as f64 + 1.0) / 2.0).ln() - ((i + 1) as f64).ln()).collect();
        let eff = |w: &[f64]| w.iter().sum::<f64>().powi(2) / w.iter().map(|x| x * x).sum::<f64>().max(1e-300);
        let mueff = eff(&raw[..mu]);
        let mueff_minus = eff(&raw[mu..]);
        let cc = (4.0 + mueff / nf) / (nf + 4.0 + 2.0 * mueff / nf);
        let cs = (mueff + 2.0) / (nf + mueff + 5.0);
        let c1 = 2.0 / ((nf + 1.3).powi(2) + mueff);
        let cmu = (1.0 - c1 - 1e-8).min(2.0 * (mueff - 2.0 + 1.0 / mueff) / ((nf + 2.0).powi(2) + mueff));
        let min_alpha = (1.0 + c1 / cmu).min(1.0 + 2.0 * mueff_minus / (mueff + 2.0)).min((1.0 - c1 - cmu) / (nf * cmu));
        let pos: f64 = raw.iter().filter(|w| **w > 0.0).sum();
        let neg: f64 = raw.iter().filter(|w| **w < 0.0).map(|w| -w).sum();
        let weights: Vec<f64> =
            raw.iter().map(|&w| if w >= 0.0 { w / pos } else if neg > 0.0 { min_alpha * w / neg } else { 0.0 }).collect();
        let damps = 1.0 + 2.0 * (0f64).max(((mueff - 1.0) / (nf + 1.0)).sqrt() - 1.0) + cs;
        let chi_n = nf.sqrt() * (1.0 - 1.0 / (4.0 * nf) + 1.0 / (21.0 * nf * nf));
        Cma {
            n,
            lambda,
            mu,
            weights,
            mueff,
            cc,
            cs,
            c1,
            cmu,
            damps,
            chi_n,
            mean,
            sigma: sigma0,
            sigma0,
            c: Mat::identity(n, n),
            b: Mat::identity(n, n),
            d: vec![1.0; n],
            pc: vec![0.0; n],
            ps: vec![0.0; n],
            a: vec![1.0; n],
            steps,
            generation: 0,
            best_history: vec![],
        }
    }

    /// y = B D z: a draw from N(0, C).
    fn y_of(&self, z: &[f64]) -> Vec<f64> {
        (0..self.n).map(|i| (0..self.n).map(|k| self.b[(i, k)] * self.d[k] * z[k]).sum()).collect()
    }

    /// A point for one trial: `first` (a standard normal z) if it lands
    /// inside the unit box, else fresh draws until one does (up to 100
    /// times), then clipped.
    fn sample(&self, rng: &mut impl Rng, mut first: Option<Vec<f64>>) -> Vec<f64> {
        let mut x = vec![0.0; self.n];
        for _ in 0..100 {
            let z: Vec<f64> = first.take().unwrap_or_else(|| (0..self.n).map(|_| std_normal(rng)).collect());
            let y = self.y_of(&z);
            for i in 0..self.n {
                x[i] = self.mean[i] + self.sigma * self.a[i] * y[i];
            }
            if x.iter().all(|v| (0.0..=1.0).contains(v)) {
                return x;
            }
        }
        x.iter().map(|v| v.clamp(0.0, 1.0)).collect()
    }

    /// C^{-1/2} v = B D^{-1} Bᵀ v.
    fn inv_sqrt_c(&self, v: &[f64]) -> Vec<f64> {
        let bt_v: Vec<f64> = (0..self.n).map(|k| (0..self.n).map(|i| self.b[(i, k)] * v[i]).sum::<f64>() / self.d[k]).collect();
        (0..self.n).map(|i| (0..self.n).map(|k| self.b[(i, k)] * bt_v[k]).sum()).collect()
    }

    /// One generation's update from λ points and their values (smaller is better).
    fn tell(&mut self, mut sols: Vec<(Vec<f64>, f64)>) {
        let n = self.n;
        sols.sort_by(|a, b| a.1.total_cmp(&b.1));
        self.best_history.push(sols[0].1);
        let ys: Vec<Vec<f64>> = sols
            .iter()
            .map(|(x, _)| (0..n).map(|i| (x[i] - self.mean[i]) / (self.sigma * self.a[i])).collect())
            .collect();
        // The mean moves by the positive weights only.
        let yw: Vec<f64> = (0..n).map(|i| ys.iter().zip(&self.weights[..self.mu]).map(|(y, w)| w * y[i]).sum()).collect();
        for i in 0..n {
            self.mean[i] += self.sigma * self.a[i] * yw[i];
        }
        let c_inv_yw = self.inv_sqrt_c(&yw);
        let ks = (self.cs * (2.0 - self.cs) * self.mueff).sqrt();
        for i in 0..n {
            self.ps[i] = (1.0 - self.cs) * self.ps[i] + ks * c_inv_yw[i];
        }
        let ps_norm = self.ps.iter().map(|v| v * v).sum::<f64>().sqrt();
        self.generation += 1;
        let hsig = ps_norm / (1.0 - (1.0 - self.cs).powi(2 * self.generation as i32)).sqrt()
            < (1.4 + 2.0 / (n as f64 + 1.0)) * self.chi_n;
        let kc = (self.cc * (2.0 - self.cc) * self.mueff).sqrt();
        for i in 0..n {
            self.pc[i] = (1.0 - self.cc) * self.pc[i] + if hsig { kc * yw[i] } else { 0.0 };
        }
        let delta = if hsig { 0.0 } else { self.cc * (2.0 - self.cc) };
        // Negative weights are rescaled by n / ‖C^{-1/2} y‖² (eq. 46), so a
        // bad step far away cannot shrink the covariance without bound.
        let w_io: Vec<f64> = ys
            .iter()
            .zip(&self.weights)
            .map(|(y, &w)| if w >= 0.0 { w } else { w * n as f64 / (self.inv_sqrt_c(y).iter().map(|v| v * v).sum::<f64>() + 1e-8) })
            .collect();
        let keep = 1.0 - self.c1 - self.cmu * self.weights.iter().sum::<f64>() + self.c1 * delta;
        for i in 0..n {
            for j in 0..n {
                let rank_mu: f64 = ys.iter().zip(&w_io).map(|(y, w)| w * y[i] * y[j]).sum();
                self.c[(i, j)] = keep * self.c[(i, j)] + self.c1 * self.pc[i] * self.pc[j] + self.cmu * rank_mu;
            }
        }
        self.sigma *= ((self.cs / self.damps) * (ps_norm / self.chi_n - 1.0)).min(1.0).exp();
        self.decompose();
        self.apply_margin();
    }

    fn decompose(&mut self) {
        // Enforce symmetry, then C = B diag(D²) Bᵀ.
        for i in 0..self.n {
            for j in 0..i {
                let v = 0.5 * (self.c[(i, j)] + self.c[(j, i)]);
                self.c[(i, j)] = v;
                self.c[(j, i)] = v;
            }
        }
        match self.c.self_adjoint_eigen(Side::Lower) {
            Ok(e) => {
                let s = e.S();
                self.d = (0..self.n).map(|k| s[k].max(1e-20).sqrt()).collect();
                self.b = e.U().to_owned();
            }
            Err(_) => {
                self.c = Mat::identity(self.n, self.n);
                self.b = Mat::identity(self.n, self.n);
                self.d = vec![1.0; self.n];
            }
        }
    }

    /// Integer dimensions: keep at least probability α = 1/(nλ) of leaving
    /// the current integer's cell towards its nearer neighbour, by widening
    /// that coordinate's marginal (the diagonal scaling `a`). This is the
    /// lower-bound half of Hamano et al.'s margin; their correction that also
    /// caps the probability of leaving (and can move the mean) is not done.
    fn apply_margin(&mut self) {
        let alpha = 1.0 / (self.n as f64 * self.lambda as f64);
        let z = norm_ppf(1.0 - alpha);
        for i in 0..self.n {
            let Some(w) = self.steps[i] else { continue };
            let m = self.mean[i].clamp(0.0, 1.0);
            let cell = (m / w).floor().min(1.0 / w - 1.0);
            let (lo, hi) = (cell * w, (cell + 1.0) * w);
            let mut dist = f64::INFINITY;
            if lo > 1e-12 {
                dist = dist.min(m - lo);
            }
            if hi < 1.0 - 1e-12 {
                dist = dist.min(hi - m);
            }
            if !dist.is_finite() {
                continue;
            }
            let marginal = self.sigma * self.c[(i, i)].max(1e-300).sqrt();
            self.a[i] = (dist / (marginal * z)).max(1.0);
        }
    }

    /// IPOP's stopping tests (tolerances as in Hansen's reference code).
    fn should_restart(&self, last_values: &[f64]) -> bool {
        let n = self.n as f64;
        let dmax = self.d.iter().copied().fold(0.0, f64::max);
        let dmin = self.d.iter().copied().fold(f64::INFINITY, f64::min);
        let tolx = 1e-12 * self.sigma0;
        let all_small = (0..self.n).all(|i| self.sigma * self.c[(i, i)].sqrt() < tolx && self.sigma * self.pc[i].abs() < tolx);
        if all_small || self.sigma * dmax > 1e4 || (dmax / dmin).powi(2) > 1e14 {
            return true;
        }
        let span = 10 + (30.0 * n / self.lambda as f64).ceil() as usize;
        let lo = last_values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = last_values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if self.best_history.len() >= span {
            let tail = &self.best_history[self.best_history.len() - span..];
            let tlo = tail.iter().copied().fold(f64::INFINITY, f64::min);
            let thi = tail.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if thi.max(hi) - tlo.min(lo) < 1e-12 {
                return true;
            }
        }
        false
    }
}

/// A block's basis, keyed by (restart, n, block).
type CachedBasis = ((u32, usize, u64), Vec<Vec<f64>>);

/// The CMA-ES sampler.
pub struct CmaEsSampler {
    seed: u64,
    opts: CmaEsOptions,
    random: RandomSampler,
    obs: SharedObservations,
    cache: Mutex<Option<Replay>>,
    /// The last block's basis, keyed by (restart, n, block): its n trials
    /// share it, so it is built once rather than once per ask.
    basis: Mutex<Option<CachedBasis>>,
}

/// A replayed state: the restart and the generation it is at, plus the
/// parsed tags of the complete trials seen so far (each parsed once).
struct Replay {
    study: i64,
    space: String,
    restart: u32,
    cma: Cma,
    tags: std::collections::HashMap<u64, (Tag, f64)>,
}

impl std::fmt::Debug for CmaEsSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CmaEsSampler").field("seed", &self.seed).field("opts", &self.opts).finish()
    }
}

impl CmaEsSampler {
    /// A CMA-ES sampler; `None` draws a seed.
    pub fn new(seed: Option<u64>, opts: CmaEsOptions) -> Self {
        let seed = seed.unwrap_or_else(fresh_seed);
        CmaEsSampler {
            seed,
            opts,
            random: RandomSampler::new(Some(seed)),
            obs: SharedObservations::default(),
            cache: Mutex::new(None),
            basis: Mutex::new(None),
        }
    }

    fn fresh(&self, restart: u32, axes: &[UnitAxis]) -> Cma {
        let n = axes.len();
        let base = self.opts.popsize.unwrap_or(4 + (3.0 * (n as f64).ln()).floor() as usize).max(4);
        let lambda = base << restart.min(16);
        let mean = if restart == 0 {
            vec![0.5; n]
        } else {
            let mut rng = rng_for(self.seed, restart as u64, "cma-restart");
            (0..n).map(|_| rng.random::<f64>()).collect()
        };
        let steps = axes.iter().map(|a| if self.opts.with_margin { a.unit_step() } else { None }).collect();
        Cma::new(mean, self.opts.sigma0.unwrap_or(1.0 / 6.0), lambda, steps)
    }

    /// Trial `number`'s z by orthogonal sampling ([`block_basis`]), the
    /// block's basis built once for its n trials.
    fn orthogonal_z(&self, restart: u32, n: usize, number: u64) -> Vec<f64> {
        let key = (restart, n, number / n as u64);
        let mut cached = self.basis.lock().unwrap_or_else(|e| e.into_inner());
        if cached.as_ref().is_none_or(|(k, _)| *k != key) {
            *cached = Some((key, block_basis(self.seed, restart, n, key.2)));
        }
        let (_, basis) = cached.as_ref().expect("just set");
        scaled(&basis[(number % n as u64) as usize], self.seed, restart, number)
    }

    /// The state after every finished generation of the stored trials:
    /// (restart, state). The cache is advanced in place.
    fn replay(&self, study: &Study, space_key: &str, axes: &[UnitAxis]) -> Result<(u32, Cma)> {
        let sign = study.direction().sign();
        let trials = study.trials()?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if !cache.as_ref().is_some_and(|c| c.study == study.id() && c.space == space_key) {
            *cache = Some(Replay {
                study: study.id(),
                space: space_key.to_string(),
                restart: 0,
                cma: self.fresh(0, axes),
                tags: Default::default(),
            });
        }
        let r = cache.as_mut().expect("just set");
        for t in trials.iter().filter(|t| t.state == TrialState::Complete) {
            if r.tags.contains_key(&t.number) {
                continue;
            }
            let Some(tag) = t.system_attrs.get(ATTR).and_then(|v| serde_json::from_value::<Tag>(v.clone()).ok()) else {
                continue;
            };
            if tag.space == space_key {
                r.tags.insert(t.number, (tag, sign * t.value().unwrap_or(f64::INFINITY)));
            }
        }
        loop {
            let mut gen: Vec<(&u64, &(Tag, f64))> = r
                .tags
                .iter()
                .filter(|(_, (t, _))| t.restart == r.restart && t.generation == r.cma.generation)
                .collect();
            if gen.len() < r.cma.lambda {
                break;
            }
            gen.sort_by_key(|g| *g.0);
            let sols: Vec<(Vec<f64>, f64)> = gen.iter().take(r.cma.lambda).map(|(_, (t, v))| (t.x.clone(), *v)).collect();
            let values: Vec<f64> = sols.iter().map(|s| s.1).collect();
            r.cma.tell(sols);
            if self.opts.ipop && r.cma.should_restart(&values) {
                r.restart += 1;
                r.cma = self.fresh(r.restart, axes);
            }
        }
        Ok((r.restart, r.cma.clone()))
    }
}

/// Orthogonal sampling of CMA-ES's standard normal z's (Wang,
/// Emmerich & Bäck, "Mirrored orthogonal sampling for covariance matrix
/// adaptation evolution strategies", Evolutionary Computation 2019): trials
/// are taken in blocks of n consecutive numbers, and a block's z's are n
/// orthogonal directions, each with an independent chi(n) length. Each z is
/// still exactly N(0, I) on its own; together a block covers the directions
/// more evenly than independent draws, which matters when a study has only
/// a few generations. Blocks follow trial numbers, not generations, so
/// workers asking at once get different z's without coordinating.
///
/// This is one block's n directions: n Gaussian vectors (drawn in order
/// from the block's own stream), orthonormalised by modified Gram–Schmidt;
/// trial `block · n + k` takes direction k with its own chi(n) length.
fn block_basis(seed: u64, restart: u32, n: usize, block: u64) -> Vec<Vec<f64>> {
    let mut rng = rng_for(seed, block, &format!("cma-orthogonal/{restart}/{n}"));
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(n);
    for _ in 0..n {
        let mut v: Vec<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
        for b in &basis {
            let dot: f64 = v.iter().zip(b).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(b).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-300);
        basis.push(v.into_iter().map(|a| a / norm).collect());
    }
    basis
}

/// A unit direction given trial `number`'s own chi(n) length.
fn scaled(direction: &[f64], seed: u64, restart: u32, number: u64) -> Vec<f64> {
    let mut rng = rng_for(seed, number, &format!("cma-orthogonal-length/{restart}"));
    let length = (0..direction.len()).map(|_| rng.sample::<f64, _>(StandardNormal).powi(2)).sum::<f64>().sqrt();
    direction.iter().map(|a| a * length).collect()
}

fn numeric(space: SearchSpace) -> SearchSpace {
    space.into_iter().filter(|(_, d)| !matches!(d, Distribution::Categorical { .. }) && d.cardinality() != Some(1)).collect()
}

impl Sampler for CmaEsSampler {
    fn name(&self) -> &'static str {
        "cmaes"
    }

    fn infer_relative_search_space(&self, study: &Study, _trial: &FrozenTrial) -> Result<SearchSpace> {
        if study.is_multi_objective() {
            return Err(Error::Sampler(
                "CMA-ES optimises one objective; use the nsga2 or tpe sampler for several".into(),
            ));
        }
        Ok(numeric(self.obs.intersection(study)?))
    }

    fn sample_relative(&self, study: &Study, trial: &FrozenTrial, space: &SearchSpace) -> Result<RelativeSample> {
        let observed = study.trials()?.iter().filter(|t| t.state == TrialState::Complete).count();
        if space.is_empty() || observed < self.opts.n_startup_trials {
            return Ok(RelativeSample::default());
        }
        let axes: Vec<UnitAxis> = space.values().filter_map(UnitAxis::new).collect();
        let space_key: String = space.keys().cloned().collect::<Vec<_>>().join(",");
        let (restart, cma) = self.replay(study, &space_key, &axes)?;
        let mut rng = rng_for(self.seed, trial.number, "cma");
        let x = cma.sample(&mut rng, Some(self.orthogonal_z(restart, axes.len(), trial.number)));
        let values = space.keys().zip(&axes).zip(&x).map(|((k, a), &u)| (k.clone(), a.decode(u))).collect();
        let tag = Tag { space: space_key, restart, generation: cma.generation, x };
        Ok(RelativeSample { values, system_attrs: vec![(ATTR.into(), serde_json::to_value(tag).expect("tag"))] })
    }

    fn sample_independent(&self, study: &Study, trial: &FrozenTrial, name: &str, dist: &Distribution) -> Result<f64> {
        self.random.sample_independent(study, trial, name, dist)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Active CMA-ES: the weights follow Hansen's tutorial (positive ones
    /// sum to 1, negative ones to −α_min), and a generation whose worse half
    /// stepped along one axis shrinks the variance along it below what
    /// the plain decay (1 − c₁ − c_μ) would leave.
    #[test]
    fn bad_steps_shrink_the_covariance_along_them() {
        let mut c = Cma::new(vec![0.5; 2], 0.1, 6, vec![None, None]);
        let pos: f64 = c.weights.iter().filter(|w| **w > 0.0).sum();
        let neg: f64 = c.weights.iter().filter(|w| **w < 0.0).sum();
        assert_eq!(c.weights.len(), 6);
        assert!((pos - 1.0).abs() < 1e-12 && neg < -0.1, "{:?}", c.weights);
        let (c1, cmu) = (c.c1, c.cmu);
        // Good points: tiny steps along x₁; bad ones: whole σ-steps along x₀.
        let good = [(0.0, 0.01), (0.0, -0.01), (0.0, 0.005)];
        let bad = [(1.0, 0.0), (-1.0, 0.0), (1.0, 0.0)];
        let sols: Vec<(Vec<f64>, f64)> = good
            .iter()
            .chain(&bad)
            .enumerate()
            .map(|(k, (a, b))| (vec![0.5 + 0.1 * a, 0.5 + 0.1 * b], k as f64))
            .collect();
        c.tell(sols);
        assert!(c.c[(0, 0)] < 1.0 - c1 - cmu - 1e-3, "C00 = {} vs decay {}", c.c[(0, 0)], 1.0 - c1 - cmu);
    }

    /// On a smooth bowl the replayed CMA-ES converges, and ints keep moving.
    #[test]
    fn converges_on_a_sphere() {
        let mut c = Cma::new(vec![0.5; 3], 0.2, 8, vec![None, None, Some(0.1)]);
        let mut rng = rng_for(1, 0, "t");
        let f = |x: &[f64]| (x[0] - 0.3).powi(2) + (x[1] - 0.7).powi(2) + (x[2] - 0.55).powi(2);
        for _ in 0..60 {
            let sols: Vec<(Vec<f64>, f64)> = (0..8).map(|_| {
                let x = c.sample(&mut rng, None);
                let v = f(&x);
                (x, v)
            }).collect();
            c.tell(sols);
        }
        assert!((c.mean[0] - 0.3).abs() < 0.02 && (c.mean[1] - 0.7).abs() < 0.02, "{:?}", c.mean);
        // The integer coordinate still has a fair chance to move to a neighbour.
        let marginal = c.sigma * c.a[2] * c.c[(2, 2)].sqrt();
        assert!(marginal > 1e-3, "{marginal}");
    }

    /// Line by line against the reference: after four generations told the
    /// same fixed points, the state equals that of the `cmaes` package
    /// (0.13.1, the CMA-ES behind Optuna's CmaEsSampler) to 1e-9. The
    /// reference numbers come from:
    ///
    /// ```python
    /// opt = cmaes.CMA(mean=np.full(3, 0.5), sigma=1/6, bounds=np.array([[0, 1]] * 3),
    ///                 seed=0, population_size=7)
    /// for g in range(4):
    ///     xs = [np.array([0.5 + 0.1 * math.sin(1.3 * k + 0.7 * g + i) for i in range(3)]) for k in range(7)]
    ///     opt.tell([(x, float(((x - [0.3, 0.6, 0.45]) ** 2 * [1, 3, 10]).sum())) for x in xs])
    /// print(opt.mean, opt._sigma, opt._C, opt._p_sigma, opt._pc)
    /// ```
    #[test]
    fn the_update_matches_the_cmaes_package() {
        let (n, lam) = (3usize, 7usize);
        let mut c = Cma::new(vec![0.5; n], 1.0 / 6.0, lam, vec![None; n]);
        for g in 0..4 {
            let sols: Vec<(Vec<f64>, f64)> = (0..lam)
                .map(|k| {
                    let x: Vec<f64> = (0..n).map(|i| 0.5 + 0.1 * (1.3 * k as f64 + 0.7 * g as f64 + i as f64).sin()).collect();
                    let f = [(0.3, 1.0), (0.6, 3.0), (0.45, 10.0)].iter().zip(&x).map(|((t, s), v)| s * (v - t) * (v - t)).sum();
                    (x, f)
                })
                .collect();
            c.tell(sols);
        }
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9);
        assert!(close(&c.mean, &[0.5843814362, 0.526734143, 0.444507602]), "{:?}", c.mean);
        assert!((c.sigma - 0.074576412524).abs() < 1e-11, "{}", c.sigma);
        let cm: Vec<f64> = (0..n).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| c.c[(i, j)]).collect();
        let want = [0.642166109, -0.049259349, 0.1828977645, -0.049259349, 0.67176577, -0.1739157422, 0.1828977645, -0.1739157422, 0.5074618358];
        assert!(close(&cm, &want), "{cm:?}");
        assert!(close(&c.ps, &[0.2051150255, -0.0869331073, -0.2990553422]), "{:?}", c.ps);
        assert!(close(&c.pc, &[0.1183173317, -0.0738692493, -0.1981407831]), "{:?}", c.pc);
    }

    /// Trial `number`'s z, its block's basis built afresh.
    fn orthogonal_z(seed: u64, restart: u32, n: usize, number: u64) -> Vec<f64> {
        scaled(&block_basis(seed, restart, n, number / n as u64)[(number % n as u64) as usize], seed, restart, number)
    }

    /// Orthogonal sampling: the z's of one block of n trial numbers are
    /// mutually orthogonal, and each is still a standard normal draw (over
    /// many blocks every coordinate has mean ~0 and variance ~1).
    #[test]
    fn orthogonal_blocks_are_orthogonal_and_standard_normal() {
        let n = 4;
        let block: Vec<Vec<f64>> = (8..12).map(|t| orthogonal_z(7, 0, n, t)).collect();
        for a in 0..n {
            for b in 0..a {
                let dot: f64 = block[a].iter().zip(&block[b]).map(|(x, y)| x * y).sum();
                assert!(dot.abs() < 1e-9, "z{a}·z{b} = {dot}");
            }
        }
        assert_ne!(orthogonal_z(7, 0, n, 8), orthogonal_z(7, 0, n, 12), "another block, other directions");
        assert_ne!(orthogonal_z(7, 0, n, 8), orthogonal_z(7, 1, n, 8), "another restart, other directions");
        // Through the cache, asked out of order, the same z's as built afresh.
        let sampler = CmaEsSampler::new(Some(7), CmaEsOptions::default());
        for t in [8, 9, 3, 11, 8, 40] {
            assert_eq!(sampler.orthogonal_z(0, n, t), orthogonal_z(7, 0, n, t), "the cached basis, trial {t}");
        }
        let zs: Vec<Vec<f64>> = (0..8000).map(|t| orthogonal_z(3, 0, n, t)).collect();
        for i in 0..n {
            let m = zs.iter().map(|z| z[i]).sum::<f64>() / zs.len() as f64;
            let v = zs.iter().map(|z| (z[i] - m).powi(2)).sum::<f64>() / zs.len() as f64;
            assert!(m.abs() < 0.05 && (v - 1.0).abs() < 0.06, "coordinate {i}: mean {m}, variance {v}");
        }
    }
}
