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
//! in log space). Categorical parameters, when the space has a numerical one
//! too, are modelled as CatCMA does (Hamano, Saito, Nomura, Uchida &
//! Shirakawa, "CatCMA: Stochastic Optimization for Mixed-Category Problems",
//! GECCO 2024): one categorical distribution per parameter, drawn
//! independently of the Gaussian and moved by the same ranking with the
//! adaptive stochastic natural gradient (ASNG, Akimoto et al., ICML 2019;
//! see [`Categories`]). Optuna's CmaEsSampler draws them at random
//! (`catcma = false` here).
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
use crate::math::{norm_ppf, roulette};
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
    /// Model categorical parameters (CatCMA) when the space has a numerical
    /// one too; `false` draws them at random, as Optuna's CmaEsSampler.
    pub catcma: bool,
}

impl Default for CmaEsOptions {
    fn default() -> Self {
        CmaEsOptions { sigma0: None, popsize: None, n_startup_trials: 0, ipop: true, with_margin: true, catcma: true }
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
    /// The categorical parameters' distributions (CatCMA; none modelled: empty).
    cat: Categories,
}

impl Cma {
    /// `choices`: the number of choices of each modelled categorical parameter.
    fn new(mean: Vec<f64>, sigma0: f64, lambda: usize, steps: Vec<Option<f64>>, choices: &[usize]) -> Cma {
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
            cat: Categories::new(choices),
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

    /// One generation's update from λ solutions: the numerical point, the
    /// chosen categories and the value (smaller is better).
    fn tell(&mut self, mut sols: Vec<(Vec<f64>, Vec<usize>, f64)>) {
        let n = self.n;
        sols.sort_by(|a, b| a.2.total_cmp(&b.2));
        self.best_history.push(sols[0].2);
        // The categories move by the positive (recombination) weights, as in
        // CatCMA; the Gaussian below also by the negative ones (active CMA).
        let chosen: Vec<&[usize]> = sols.iter().map(|s| &s.1[..]).collect();
        self.cat.update(&chosen, &self.weights[..self.mu]);
        let ys: Vec<Vec<f64>> = sols
            .iter()
            .map(|(x, _, _)| (0..n).map(|i| (x[i] - self.mean[i]) / (self.sigma * self.a[i])).collect())
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

/// CatCMA's categorical part (Hamano et al., GECCO 2024): per categorical
/// parameter a distribution q over its choices, drawn independently of the
/// Gaussian and moved by the ranking of each generation. The step is the
/// adaptive stochastic natural gradient (ASNG; Akimoto, Shirakawa,
/// Yoshinari, Uchida, Saito & Nishida, "Adaptive Stochastic Natural
/// Gradient Method for One-Shot Neural Architecture Search", ICML 2019):
/// the natural gradient Σ wᵢ (onehot(cᵢ) − q), scaled so that its length
/// under the Fisher metric is δ, where δ shrinks while successive
/// gradients disagree (an evolution path `s` against its expected length)
/// and grows while they agree. A margin keeps every choice's probability
/// at least `q_min` (1 − 0.73^{1/N}) / (K − 1), so no choice is lost for
/// good within a short study. The order of the updates follows the `cmaes`
/// package's CatCMA (tested line by line).
#[derive(Debug, Clone)]
struct Categories {
    /// Per parameter, the probability of each choice.
    q: Vec<Vec<f64>>,
    /// Per parameter, the margin each probability is kept above.
    q_min: Vec<f64>,
    /// ASNG's trust-region radius δ = δ₀ / Δ and its adaptation state.
    delta: f64,
    big_delta: f64,
    s: Vec<f64>,
    gamma: f64,
}

impl Categories {
    /// ASNG's threshold on the path's squared length (the paper's α).
    const ALPHA: f64 = 1.5;

    fn new(choices: &[usize]) -> Categories {
        let n = choices.len() as f64;
        Categories {
            q: choices.iter().map(|&k| vec![1.0 / k as f64; k]).collect(),
            q_min: choices.iter().map(|&k| (1.0 - 0.73f64.powf(1.0 / n)) / (k as f64 - 1.0).max(1.0)).collect(),
            delta: 1.0,
            big_delta: 1.0,
            s: vec![0.0; choices.iter().map(|k| k - 1).sum()],
            gamma: 0.0,
        }
    }

    /// Draws one choice per parameter.
    fn sample(&self, rng: &mut impl Rng) -> Vec<usize> {
        self.q.iter().map(|q| roulette(q, rng.random::<f64>()).unwrap_or(q.len() - 1)).collect()
    }

    /// One update from the chosen categories of a generation's best
    /// solutions, best first, and their (positive) recombination weights.
    fn update(&mut self, chosen: &[&[usize]], weights: &[f64]) {
        if self.q.is_empty() {
            return;
        }
        // The natural gradient of the expected ranking weight.
        let ngrad: Vec<Vec<f64>> = self
            .q
            .iter()
            .enumerate()
            .map(|(i, q)| {
                (0..q.len()).map(|k| chosen.iter().zip(weights).map(|(c, w)| w * ((c[i] == k) as u8 as f64 - q[k])).sum()).collect()
            })
            .collect();
        // Its coordinates under the square root of the Fisher information
        // (the last choice of each parameter is implied; Akimoto et al.
        // 2019, appendix B).
        let mut sqf = Vec::with_capacity(self.s.len());
        for (q, g) in self.q.iter().zip(&ngrad) {
            let last = q[q.len() - 1];
            let head: f64 = g[..q.len() - 1].iter().sum();
            for k in 0..q.len() - 1 {
                sqf.push(g[k] / q[k].sqrt() + q[k].sqrt() * head / (last + last.sqrt()));
            }
        }
        let norm = sqf.iter().map(|v| v * v).sum::<f64>().sqrt() + 1e-30;
        let eps = self.delta / norm;
        for (q, g) in self.q.iter_mut().zip(&ngrad) {
            q.iter_mut().zip(g).for_each(|(p, g)| *p += eps * g);
        }
        // Adapt δ: a path of the normalised gradients, compared with the
        // length it would have if they were independent.
        self.delta = 1.0 / self.big_delta;
        let beta = self.delta / (self.s.len() as f64).sqrt();
        let keep = 1.0 - beta;
        let push = (beta * (2.0 - beta)).sqrt();
        self.s.iter_mut().zip(&sqf).for_each(|(s, v)| *s = keep * *s + push * v / norm);
        self.gamma = keep * keep * self.gamma + beta * (2.0 - beta);
        let s2: f64 = self.s.iter().map(|v| v * v).sum();
        self.big_delta *= (beta * (self.gamma - s2 / Self::ALPHA)).exp();
        // The margin: lift every probability to q_min, taking the excess
        // from the others in proportion to what they hold above it.
        for (q, &m) in self.q.iter_mut().zip(&self.q_min) {
            q.iter_mut().for_each(|p| *p = p.max(m));
            let sum: f64 = q.iter().sum();
            let spare = sum - m * q.len() as f64;
            if spare > 0.0 {
                q.iter_mut().for_each(|p| *p -= (sum - 1.0) * (*p - m) / spare);
            }
            let sum: f64 = q.iter().sum();
            q.iter_mut().for_each(|p| *p /= sum);
        }
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

/// A complete trial as the replay tells it: its tag, the categories it
/// ran with, its value (minimised).
type Told = (Tag, Vec<usize>, f64);

/// A replayed state: the restart and the generation it is at, plus the
/// parsed tags of the complete trials seen so far (each parsed once).
struct Replay {
    study: i64,
    space: String,
    restart: u32,
    cma: Cma,
    tags: std::collections::HashMap<u64, Told>,
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

    /// A new run: `axes` the numerical parameters, `cats` the modelled
    /// categorical ones (name, number of choices). The default population
    /// counts both, as CatCMA's.
    fn fresh(&self, restart: u32, axes: &[UnitAxis], cats: &[(String, usize)]) -> Cma {
        let n = axes.len();
        let dims = (n + cats.len()) as f64;
        let base = self.opts.popsize.unwrap_or(4 + (3.0 * dims.ln()).floor() as usize).max(4);
        let lambda = base << restart.min(16);
        let mean = if restart == 0 {
            vec![0.5; n]
        } else {
            let mut rng = rng_for(self.seed, restart as u64, "cma-restart");
            (0..n).map(|_| rng.random::<f64>()).collect()
        };
        let steps = axes.iter().map(|a| if self.opts.with_margin { a.unit_step() } else { None }).collect();
        let choices: Vec<usize> = cats.iter().map(|c| c.1).collect();
        Cma::new(mean, self.opts.sigma0.unwrap_or(1.0 / 6.0), lambda, steps, &choices)
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
    fn replay(&self, study: &Study, space_key: &str, axes: &[UnitAxis], cats: &[(String, usize)]) -> Result<(u32, Cma)> {
        let sign = study.direction().sign();
        let trials = study.trials()?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if !cache.as_ref().is_some_and(|c| c.study == study.id() && c.space == space_key) {
            *cache = Some(Replay {
                study: study.id(),
                space: space_key.to_string(),
                restart: 0,
                cma: self.fresh(0, axes, cats),
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
            if tag.space != space_key {
                continue;
            }
            // The categories the trial ran with (an out-of-range one, from a
            // trial that was not ours to shape, leaves it out).
            let chosen: Option<Vec<usize>> = cats
                .iter()
                .map(|(name, k)| t.params.get(name).map(|p| p.internal as usize).filter(|c| c < k))
                .collect();
            if let Some(chosen) = chosen {
                r.tags.insert(t.number, (tag, chosen, sign * t.value().unwrap_or(f64::INFINITY)));
            }
        }
        loop {
            let mut gen: Vec<(&u64, &Told)> = r
                .tags
                .iter()
                .filter(|(_, (t, _, _))| t.restart == r.restart && t.generation == r.cma.generation)
                .collect();
            if gen.len() < r.cma.lambda {
                break;
            }
            gen.sort_by_key(|g| *g.0);
            let sols: Vec<(Vec<f64>, Vec<usize>, f64)> =
                gen.iter().take(r.cma.lambda).map(|(_, (t, c, v))| (t.x.clone(), c.clone(), *v)).collect();
            let values: Vec<f64> = sols.iter().map(|s| s.2).collect();
            r.cma.tell(sols);
            if self.opts.ipop && r.cma.should_restart(&values) {
                r.restart += 1;
                r.cma = self.fresh(r.restart, axes, cats);
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

/// The parameters CMA-ES models: the numerical ones, and with `catcma` the
/// categorical ones too when there is a numerical one (CatCMA is a method
/// for mixed spaces; a space of categoricals alone is left to the random
/// sampler). Parameters with one value are left out.
fn modelled(space: SearchSpace, catcma: bool) -> SearchSpace {
    let is_cat = |d: &Distribution| matches!(d, Distribution::Categorical { .. });
    let any_numeric = space.values().any(|d| !is_cat(d) && d.cardinality() != Some(1));
    space.into_iter().filter(|(_, d)| d.cardinality() != Some(1) && (!is_cat(d) || (catcma && any_numeric))).collect()
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
        Ok(modelled(self.obs.intersection(study)?, self.opts.catcma))
    }

    fn sample_relative(&self, study: &Study, trial: &FrozenTrial, space: &SearchSpace) -> Result<RelativeSample> {
        let observed = study.trials()?.iter().filter(|t| t.state == TrialState::Complete).count();
        if space.is_empty() || observed < self.opts.n_startup_trials {
            return Ok(RelativeSample::default());
        }
        let axes: Vec<UnitAxis> = space.values().filter_map(UnitAxis::new).collect();
        let cats: Vec<(String, usize)> = space
            .iter()
            .filter_map(|(k, d)| match d {
                Distribution::Categorical { choices } => Some((k.clone(), choices.len())),
                _ => None,
            })
            .collect();
        let space_key: String = space.keys().cloned().collect::<Vec<_>>().join(",");
        let (restart, cma) = self.replay(study, &space_key, &axes, &cats)?;
        let mut rng = rng_for(self.seed, trial.number, "cma");
        let x = cma.sample(&mut rng, Some(self.orthogonal_z(restart, axes.len(), trial.number)));
        let chosen = cma.cat.sample(&mut rng_for(self.seed, trial.number, "cma-categorical"));
        let (mut numeric, mut categorical) = (axes.iter().zip(&x), chosen.iter());
        let values = space
            .iter()
            .map(|(k, d)| {
                let v = match d {
                    Distribution::Categorical { .. } => *categorical.next().expect("one choice per categorical") as f64,
                    _ => numeric.next().map(|(a, &u)| a.decode(u)).expect("one coordinate per numerical parameter"),
                };
                (k.clone(), v)
            })
            .collect();
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
        let mut c = Cma::new(vec![0.5; 2], 0.1, 6, vec![None, None], &[]);
        let pos: f64 = c.weights.iter().filter(|w| **w > 0.0).sum();
        let neg: f64 = c.weights.iter().filter(|w| **w < 0.0).sum();
        assert_eq!(c.weights.len(), 6);
        assert!((pos - 1.0).abs() < 1e-12 && neg < -0.1, "{:?}", c.weights);
        let (c1, cmu) = (c.c1, c.cmu);
        // Good points: tiny steps along x₁; bad ones: whole σ-steps along x₀.
        let good = [(0.0, 0.01), (0.0, -0.01), (0.0, 0.005)];
        let bad = [(1.0, 0.0), (-1.0, 0.0), (1.0, 0.0)];
        let sols: Vec<(Vec<f64>, Vec<usize>, f64)> = good
            .iter()
            .chain(&bad)
            .enumerate()
            .map(|(k, (a, b))| (vec![0.5 + 0.1 * a, 0.5 + 0.1 * b], vec![], k as f64))
            .collect();
        c.tell(sols);
        assert!(c.c[(0, 0)] < 1.0 - c1 - cmu - 1e-3, "C00 = {} vs decay {}", c.c[(0, 0)], 1.0 - c1 - cmu);
    }

    /// On a smooth bowl the replayed CMA-ES converges, and ints keep moving.
    #[test]
    fn converges_on_a_sphere() {
        let mut c = Cma::new(vec![0.5; 3], 0.2, 8, vec![None, None, Some(0.1)], &[]);
        let mut rng = rng_for(1, 0, "t");
        let f = |x: &[f64]| (x[0] - 0.3).powi(2) + (x[1] - 0.7).powi(2) + (x[2] - 0.55).powi(2);
        for _ in 0..60 {
            let sols: Vec<(Vec<f64>, Vec<usize>, f64)> = (0..8).map(|_| {
                let x = c.sample(&mut rng, None);
                let v = f(&x);
                (x, vec![], v)
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
        let mut c = Cma::new(vec![0.5; n], 1.0 / 6.0, lam, vec![None; n], &[]);
        for g in 0..4 {
            let sols: Vec<(Vec<f64>, Vec<usize>, f64)> = (0..lam)
                .map(|k| {
                    let x: Vec<f64> = (0..n).map(|i| 0.5 + 0.1 * (1.3 * k as f64 + 0.7 * g as f64 + i as f64).sin()).collect();
                    let f = [(0.3, 1.0), (0.6, 3.0), (0.45, 10.0)].iter().zip(&x).map(|((t, s), v)| s * (v - t) * (v - t)).sum();
                    (x, vec![], f)
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

    /// CatCMA's categorical update, line by line against the reference:
    /// after four generations told the same fixed solutions, the choice
    /// probabilities equal those of the `cmaes` package's CatCMA (0.13.1,
    /// by CatCMA's authors) to 1e-9. The reference numbers come from:
    ///
    /// ```python
    /// opt = cmaes.CatCMA(mean=np.full(2, 0.5), sigma=1/6, cat_num=np.array([3, 4]),
    ///                    population_size=6, seed=0)
    /// for g in range(4):
    ///     sols = []
    ///     for k in range(6):
    ///         x = np.array([0.5 + 0.1 * math.sin(1.3 * k + 0.7 * g + i) for i in range(2)])
    ///         c = [(k + g) % 3, (2 * k + g) % 4]
    ///         onehot = np.zeros((2, 4), dtype=bool); onehot[0, c[0]] = onehot[1, c[1]] = True
    ///         f = float(((x - [0.3, 0.6]) ** 2).sum()) + [0, 0.3, 0.1][c[0]] + [0.2, 0, 0.4, 0.1][c[1]]
    ///         sols.append(((x, onehot), f))
    ///     opt.tell(sols)
    /// print(opt._q)
    /// ```
    #[test]
    fn the_categorical_update_matches_catcma() {
        let mut c = Cma::new(vec![0.5; 2], 1.0 / 6.0, 6, vec![None; 2], &[3, 4]);
        for g in 0..4usize {
            let sols: Vec<(Vec<f64>, Vec<usize>, f64)> = (0..6usize)
                .map(|k| {
                    let x: Vec<f64> = (0..2).map(|i| 0.5 + 0.1 * (1.3 * k as f64 + 0.7 * g as f64 + i as f64).sin()).collect();
                    let cat = vec![(k + g) % 3, (2 * k + g) % 4];
                    let f = (x[0] - 0.3).powi(2) + (x[1] - 0.6).powi(2) + [0.0, 0.3, 0.1][cat[0]] + [0.2, 0.0, 0.4, 0.1][cat[1]];
                    (x, cat, f)
                })
                .collect();
            c.tell(sols);
        }
        let want = [vec![0.655133612186, 0.072799812734, 0.27206657508], vec![0.575175518769, 0.308380896987, 0.060162493541, 0.056281090704]];
        for (q, w) in c.cat.q.iter().zip(&want) {
            assert!(q.iter().zip(w).all(|(a, b)| (a - b).abs() < 1e-9), "{q:?} vs {w:?}");
        }
    }

    /// The categories learn: a choice that always ranks first gathers the
    /// probability, every other choice down to its margin, and the draws
    /// follow the probabilities.
    #[test]
    fn a_choice_that_always_wins_gathers_the_probability() {
        let mut c = Cma::new(vec![0.5; 2], 1.0 / 6.0, 6, vec![None; 2], &[4]);
        let mut rng = rng_for(3, 0, "t");
        for _ in 0..30 {
            let sols: Vec<(Vec<f64>, Vec<usize>, f64)> = (0..6)
                .map(|_| {
                    let x = c.sample(&mut rng, None);
                    let cat = c.cat.sample(&mut rng);
                    let f = (x[0] - 0.5).powi(2) + if cat[0] == 2 { 0.0 } else { 1.0 };
                    (x, cat, f)
                })
                .collect();
            c.tell(sols);
        }
        let q = &c.cat.q[0];
        let m = c.cat.q_min[0];
        assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{q:?}");
        assert!(q.iter().all(|p| *p >= m - 1e-12), "{q:?} below the margin {m}");
        // With one categorical the margin leaves 27% to the others together.
        assert!((q[2] - (1.0 - 3.0 * m)).abs() < 1e-9 && (m - 0.09).abs() < 1e-12, "{q:?}");
        let hits = (0..2000).filter(|_| c.cat.sample(&mut rng)[0] == 2).count();
        assert!((hits as f64 / 2000.0 - q[2]).abs() < 0.03, "{hits} of 2000 vs {}", q[2]);
    }

    /// The sampler models categoricals only beside a numerical parameter:
    /// a space of categoricals alone is left to the random sampler, and
    /// `catcma = false` leaves every categorical to it (Optuna's rule).
    #[test]
    fn categoricals_are_modelled_only_in_mixed_spaces() {
        let cat = Distribution::categorical(["a", "b"]);
        let one = Distribution::categorical(["only"]);
        let x = Distribution::float(0.0, 1.0);
        let space = |ps: &[(&str, &Distribution)]| -> SearchSpace { ps.iter().map(|(k, d)| (k.to_string(), (*d).clone())).collect() };
        let keys = |s: SearchSpace| s.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(modelled(space(&[("c", &cat), ("x", &x), ("o", &one)]), true)), ["c", "x"]);
        assert_eq!(keys(modelled(space(&[("c", &cat), ("x", &x)]), false)), ["x"]);
        assert!(modelled(space(&[("c", &cat), ("o", &one)]), true).is_empty());
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
