//! The Parzen estimator of TPE: a weighted mixture with one kernel per
//! observed trial plus a prior kernel (Bergstra et al., "Algorithms for
//! Hyper-Parameter Optimization", NeurIPS 2011; bandwidths and weights as in
//! Optuna's `_ParzenEstimator`, Watanabe, "Tree-Structured Parzen Estimator:
//! Understanding Its Algorithm Components", 2023).
//!
//! Numerical dimensions live in unit coordinates (`samplers::transform`), so
//! log parameters need no special cases here; each kernel is a normal
//! truncated to [0, 1]. On a grid axis (integers, steps) the multivariate
//! estimator's kernels are discretised as Optuna's are: a grid value's
//! probability is the kernel's mass on the slice of [0, 1] the value owns,
//! so a kernel narrower than a slice still puts at most everything on its
//! own value. Categorical dimensions have one smoothed one-hot distribution
//! per kernel.

use multiversion::multiversion;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use rand_distr::StandardNormal;

use super::super::transform::UnitAxis;
use crate::math::{exp_nonpos_coarse, logsumexp_fast as logsumexp, sample_truncnorm, PhiTable, LN_SQRT_2PI};

// The hot loops, compiled for AVX2+FMA too and chosen at run time (the
// default build targets baseline x86-64, whose SSE2 has half the width).

/// acc[i] -= ½ ((x − μ_i) / σ_i)²
#[multiversion(targets("x86_64+avx2+fma"))]
fn add_quadratic(acc: &mut [f64], mus: &[f64], inv_sigmas: &[f64], x: f64) {
    for ((a, m), is) in acc.iter_mut().zip(mus).zip(inv_sigmas) {
        let z = (x - m) * is;
        *a -= 0.5 * z * z;
    }
}

/// Σ_j c_j exp(−½ ((x − μ_j) / σ_j)²): a small one-dimensional mixture's
/// density, straight (for a few dozen kernels, cheaper than windowing).
#[multiversion(targets("x86_64+avx2+fma"))]
pub(super) fn mixture_density(x: f64, mus: &[f64], inv_sigmas: &[f64], cs: &[f64]) -> f64 {
    // Exponents first, then the exponentials over a plain array: that loop
    // vectorises, where one interleaved with the sums ran latency-bound.
    const CHUNK: usize = 64;
    let mut buf = [0.0f64; CHUNK];
    let mut sum = 0.0;
    for ((m, is), c) in mus.chunks(CHUNK).zip(inv_sigmas.chunks(CHUNK)).zip(cs.chunks(CHUNK)) {
        let b = &mut buf[..m.len()];
        for ((v, m), is) in b.iter_mut().zip(m).zip(is) {
            let z = (x - m) * is;
            *v = -0.5 * z * z;
        }
        for v in b.iter_mut() {
            *v = exp_nonpos_coarse(*v);
        }
        sum += b.iter().zip(c).map(|(e, c)| e * c).sum::<f64>();
    }
    sum
}

/// A draw from N(μ, σ²) truncated to [0, 1], by rejection from ziggurat
/// normals: the kernels' centres lie in [0, 1] and σ <= 1, so at least a
/// third of the draws land inside; the inverse-CDF method (two erfc and a
/// quantile) is kept as the fallback for unlucky runs.
fn sample_unit_truncnorm(mu: f64, sigma: f64, rng: &mut ChaCha8Rng) -> f64 {
    for _ in 0..32 {
        let z: f64 = rng.sample(StandardNormal);
        let x = mu + sigma * z;
        if (0.0..=1.0).contains(&x) {
            return x;
        }
    }
    sample_truncnorm(mu, sigma, 0.0, 1.0, rng.random())
}

/// Up to this many kernels (prior included), one numerical dimension is
/// evaluated straight rather than windowed.
const SMALL: usize = 64;

/// scale[i] *= σ_i · (mass of N(μ_i, σ_i²) on [0, 1]), or the mass alone
/// for a discretised kernel (whose values are probabilities, not densities).
#[multiversion(targets("x86_64+avx2+fma"))]
fn multiply_masses(scale: &mut [f64], mus: &[f64], sigmas: &[f64], discrete: bool) {
    // The masses lie in [~0.34, 1] (centres inside [0, 1], σ <= 1), where a
    // 1e-8 absolute error of the tabulated Φ is a negligible relative one.
    let phi = PhiTable::get();
    for ((sm, m), s) in scale.iter_mut().zip(mus).zip(sigmas) {
        *sm *= if discrete { 1.0 } else { *s } * (phi.cdf((1.0 - m) / s) - phi.cdf(-m / s));
    }
}

/// acc[i] += ln (mass of N(μ_i, σ_i²) on the slice [lo, hi]).
fn add_slice_masses(acc: &mut [f64], mus: &[f64], inv_sigmas: &[f64], (lo, hi): (f64, f64)) {
    let phi = PhiTable::get();
    for ((a, m), is) in acc.iter_mut().zip(mus).zip(inv_sigmas) {
        *a += phi.log_mass((lo - m) * is, (hi - m) * is);
    }
}

/// A one-dimensional mixture sorted by centre, for evaluating only the
/// kernels that matter: with suffix/prefix maxima of the kernel constants
/// and widths, every kernel beyond a point is bounded at once, and the scan
/// stops when that bound is e^-37 below the largest term found (the
/// neglected mass is then below 1e-13 of the total, for n up to 10^3).
#[derive(Debug, Clone)]
struct Sorted1D {
    /// The prior kernel (wide by design) is kept out of the window and
    /// always evaluated: (μ, 1/σ, constant).
    prior: (f64, f64, f64),
    mus: Vec<f64>,
    inv_sigmas: Vec<f64>,
    consts: Vec<f64>,
    /// max over i >= j of consts / sigmas.
    cmax_suf: Vec<f64>,
    smax_suf: Vec<f64>,
    /// max over i <= j.
    cmax_pre: Vec<f64>,
    smax_pre: Vec<f64>,
}

impl Sorted1D {
    /// The last component is the prior. `order`, if known, sorts the
    /// components by centre (the prior's index may appear in it).
    fn new(mus: &[f64], sigmas: &[f64], consts: &[f64], order: Option<Vec<usize>>) -> Sorted1D {
        let k = mus.len() - 1;
        let prior = (mus[k], 1.0 / sigmas[k], consts[k]);
        let (mus, sigmas, consts) = (&mus[..k], &sigmas[..k], &consts[..k]);
        let order: Vec<usize> = match order {
            Some(o) => o.into_iter().filter(|&i| i < k).collect(),
            None => {
                let mut o: Vec<usize> = (0..mus.len()).collect();
                o.sort_unstable_by(|&a, &b| mus[a].total_cmp(&mus[b]));
                o
            }
        };
        let m: Vec<f64> = order.iter().map(|&i| mus[i]).collect();
        let s: Vec<f64> = order.iter().map(|&i| sigmas[i]).collect();
        let c: Vec<f64> = order.iter().map(|&i| consts[i]).collect();
        let n = m.len();
        let (mut cmax_suf, mut smax_suf) = (vec![f64::NEG_INFINITY; n + 1], vec![0.0f64; n + 1]);
        for j in (0..n).rev() {
            cmax_suf[j] = cmax_suf[j + 1].max(c[j]);
            smax_suf[j] = smax_suf[j + 1].max(s[j]);
        }
        let (mut cmax_pre, mut smax_pre) = (vec![f64::NEG_INFINITY; n], vec![0.0f64; n]);
        for j in 0..n {
            cmax_pre[j] = if j > 0 { cmax_pre[j - 1].max(c[j]) } else { c[j] };
            smax_pre[j] = if j > 0 { smax_pre[j - 1].max(s[j]) } else { s[j] };
        }
        Sorted1D { prior, inv_sigmas: s.iter().map(|v| 1.0 / v).collect(), mus: m, consts: c, cmax_suf, smax_suf, cmax_pre, smax_pre }
    }

    fn log_pdf(&self, x: f64, terms: &mut Vec<f64>) -> f64 {
        const CUT: f64 = 37.0;
        terms.clear();
        let n = self.mus.len();
        let p = self.mus.partition_point(|m| *m < x);
        let term = |j: usize| {
            let z = (x - self.mus[j]) * self.inv_sigmas[j];
            self.consts[j] - 0.5 * z * z
        };
        let zp = (x - self.prior.0) * self.prior.1;
        let mut best = self.prior.2 - 0.5 * zp * zp;
        terms.push(best);
        let mut j = p;
        while j < n {
            let dz = (self.mus[j] - x) / self.smax_suf[j];
            if self.cmax_suf[j] - 0.5 * dz * dz < best - CUT {
                break;
            }
            let t = term(j);
            best = best.max(t);
            terms.push(t);
            j += 1;
        }
        let mut j = p;
        while j > 0 {
            j -= 1;
            let dz = (x - self.mus[j]) / self.smax_pre[j];
            if self.cmax_pre[j] - 0.5 * dz * dz < best - CUT {
                break;
            }
            let t = term(j);
            best = best.max(t);
            terms.push(t);
        }
        logsumexp(terms)
    }
}

/// What kind of dimension, for building the estimator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DimKind {
    /// Unit coordinates in [0, 1].
    Numerical,
    /// An index among `n` choices.
    Categorical(usize),
}

/// Estimator options (Optuna's defaults).
#[derive(Debug, Clone, Copy)]
pub struct ParzenOptions {
    pub prior_weight: f64,
    pub magic_clip: bool,
    pub consider_endpoints: bool,
    /// Optuna 5's rules (multivariate TPE): widths from the neighbours
    /// among the observations alone, kernels discretised on grid axes
    /// (Optuna's exact masses), categorical smoothing fading as prior_weight / (n + 1).
    /// Off (univariate TPE): Optuna's older rules, with the prior's centre
    /// among the neighbours and smoothing by prior_weight / choices.
    pub multivariate: bool,
}

#[derive(Debug, Clone)]
enum Dim {
    /// Centres and widths of the observation kernels, then the prior's
    /// (0.5 and 1); `grid` for a discretised dimension.
    Num { mus: Vec<f64>, sigmas: Vec<f64>, inv_sigmas: Vec<f64>, grid: Option<UnitAxis> },
    /// Each observation kernel puts `on` on its own choice and `off` on each
    /// other one (a one-hot smoothed by the prior weight); the prior kernel is
    /// uniform. `choice` holds each observation kernel's choice.
    Cat { k: usize, choice: Vec<f64>, log_on: f64, log_off: f64 },
}

impl Dim {
    fn sigma(&self, c: usize) -> f64 {
        match self {
            Dim::Num { sigmas, .. } => sigmas[c],
            Dim::Cat { .. } => 1.0,
        }
    }
}

/// A fitted mixture. Component `n_obs` (the last) is the prior.
#[derive(Debug, Clone)]
pub struct Parzen {
    /// Per component: ln weight + every numerical dimension's ln of its
    /// normalising constant (1 / (σ √(2π) · truncated mass)), so evaluating a
    /// point only adds the quadratic terms.
    log_consts: Vec<f64>,
    cum_weights: Vec<f64>,
    dims: Vec<Dim>,
    /// For a single numerical dimension: the sorted, windowed evaluator...
    sorted: Option<Sorted1D>,
    /// ...or, for a few kernels, (μ, 1/σ, weighted normalising constant)
    /// of each, summed straight.
    small: Option<(Vec<f64>, Vec<f64>, Vec<f64>)>,
}

impl Parzen {
    /// `obs[d][i]`: observation `i` in dimension `d` (taken over, not
    /// copied); `weights[i]` its weight.
    pub fn new(kinds: &[DimKind], obs: Vec<Vec<f64>>, weights: &[f64], o: ParzenOptions) -> Self {
        Self::with_grids(kinds, obs, &[], weights, o)
    }

    /// As [`Self::new`], with `grids[d]` the axis of a grid dimension `d`
    /// (missing or `None`: continuous), whose kernels the multivariate
    /// estimator discretises (Optuna's rule; the univariate one keeps
    /// plain normals). Its log_pdf is then a density in the continuous
    /// dimensions times a probability in the grid ones.
    pub fn with_grids(kinds: &[DimKind], obs: Vec<Vec<f64>>, grids: &[Option<UnitAxis>], weights: &[f64], o: ParzenOptions) -> Self {
        let n = weights.len();
        let mut w: Vec<f64> = weights.to_vec();
        w.push(o.prior_weight);
        let total: f64 = w.iter().sum();
        let log_weights: Vec<f64> = w.iter().map(|x| (x / total).ln()).collect();
        let mut acc = 0.0;
        let cum_weights = w
            .iter()
            .map(|x| {
                acc += x / total;
                acc
            })
            .collect();
        let maxsigma = 1.0;
        let minsigma = min_sigma(n, o.magic_clip);
        // Per kernel: the product over numerical dimensions of σ · mass,
        // so one ln per kernel covers every dimension.
        let mut scale = vec![1.0f64; n + 1];
        let grid_of = |d: usize| if o.multivariate { grids.get(d).cloned().flatten() } else { None };
        // Densities (one 1/√(2π) each) only in the continuous dimensions.
        let n_cont = (0..kinds.len()).filter(|&d| kinds[d] == DimKind::Numerical && grid_of(d).is_none()).count() as f64;
        let mut order_1d: Option<Vec<usize>> = None;
        let dims: Vec<Dim> = kinds
            .iter()
            .zip(obs)
            .enumerate()
            .map(|(d, (kind, mut xs))| match kind {
                DimKind::Numerical => {
                    let mut sigmas = if o.multivariate {
                        let mut s = neighbour_bandwidths_between_fences(&xs, o.consider_endpoints);
                        for s in &mut s {
                            *s = s.clamp(minsigma, maxsigma);
                        }
                        s
                    } else {
                        let (mut s, order) = neighbour_bandwidths_with_order(&xs, o.consider_endpoints);
                        order_1d = Some(order);
                        for s in &mut s {
                            *s = s.clamp(minsigma, maxsigma);
                        }
                        s
                    };
                    sigmas.push(1.0);
                    xs.push(0.5);
                    let grid = grid_of(d);
                    multiply_masses(&mut scale, &xs, &sigmas, grid.is_some());
                    let inv_sigmas = sigmas.iter().map(|s| 1.0 / s).collect();
                    Dim::Num { mus: xs, sigmas, inv_sigmas, grid }
                }
                DimKind::Categorical(k) => {
                    let k = *k;
                    let (log_on, log_off) = categorical_kernel(k, n, o);
                    Dim::Cat { k, choice: xs, log_on, log_off }
                }
            })
            .collect();
        let log_consts: Vec<f64> =
            log_weights.iter().zip(&scale).map(|(lw, sm)| lw - sm.ln() - n_cont * LN_SQRT_2PI).collect();
        let small = match dims.as_slice() {
            [d @ Dim::Num { mus, grid: None, .. }] if mus.len() <= SMALL => {
                let inv: Vec<f64> = (0..mus.len()).map(|c| 1.0 / d.sigma(c)).collect();
                Some((mus.clone(), inv, log_consts.iter().map(|l| l.exp()).collect()))
            }
            _ => None,
        };
        if small.is_some() {
            return Parzen { log_consts, cum_weights, dims, sorted: None, small };
        }
        let sorted = match dims.as_slice() {
            [Dim::Num { mus, sigmas, grid: None, .. }] => Some(Sorted1D::new(mus, sigmas, &log_consts, order_1d.take())),
            _ => None,
        };
        Parzen { log_consts, cum_weights, dims, sorted, small: None }
    }

    /// Draws `m` points from the mixture.
    pub fn sample(&self, rng: &mut ChaCha8Rng, m: usize) -> Vec<Vec<f64>> {
        (0..m)
            .map(|_| {
                let mut x = Vec::with_capacity(self.dims.len());
                self.draw(rng, &mut x);
                x
            })
            .collect()
    }

    /// As [`Self::sample`], the points one after another in one vector
    /// (the same draws: one allocation instead of `m`).
    pub fn sample_flat(&self, rng: &mut ChaCha8Rng, m: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(m * self.dims.len());
        for _ in 0..m {
            self.draw(rng, &mut out);
        }
        out
    }

    /// Appends one draw (a value per dimension) to `out`.
    fn draw(&self, rng: &mut ChaCha8Rng, out: &mut Vec<f64>) {
        let u: f64 = rng.random();
        let c = self.cum_weights.partition_point(|&cw| cw < u).min(self.cum_weights.len() - 1);
        for d in &self.dims {
            let v = match d {
                Dim::Num { mus, .. } => sample_unit_truncnorm(mus[c], d.sigma(c), rng),
                Dim::Cat { k, choice, log_on, .. } => {
                    let u: f64 = rng.random();
                    if c == choice.len() || *k == 1 {
                        // The prior kernel: uniform.
                        ((u * *k as f64) as usize).min(k - 1) as f64
                    } else if u < log_on.exp() {
                        choice[c]
                    } else {
                        // Uniform over the other k - 1 choices.
                        let other: usize = rng.random_range(0..k - 1);
                        (if other as f64 >= choice[c] { other + 1 } else { other }) as f64
                    }
                }
            };
            out.push(v);
        }
    }

    /// p(x) at each point of a one-dimensional estimator with few kernels
    /// (`None` otherwise): no logarithms, for comparing ratios.
    pub fn pdf_1d(&self, xs: &[f64]) -> Option<Vec<f64>> {
        let (mus, inv, cs) = self.small.as_ref()?;
        Some(xs.iter().map(|&x| mixture_density(x, mus, inv, cs)).collect())
    }

    /// ln p(x) for each point.
    pub fn log_pdf(&self, xs: &[Vec<f64>]) -> Vec<f64> {
        if let Some((mus, inv, cs)) = &self.small {
            // The prior kernel (σ = 1) keeps the density well above underflow.
            return xs.iter().map(|x| mixture_density(x[0], mus, inv, cs).ln()).collect();
        }
        if let Some(s) = &self.sorted {
            let mut terms = Vec::with_capacity(64);
            return xs.iter().map(|x| s.log_pdf(x[0], &mut terms)).collect();
        }
        let mut acc = vec![0.0; self.log_consts.len()];
        xs.iter()
            .map(|x| {
                acc.copy_from_slice(&self.log_consts);
                let last = acc.len() - 1;
                for (d, &xd) in self.dims.iter().zip(x) {
                    match d {
                        Dim::Num { mus, inv_sigmas, grid: None, .. } => add_quadratic(&mut acc, mus, inv_sigmas, xd),
                        Dim::Num { mus, inv_sigmas, grid: Some(g), .. } => {
                            add_slice_masses(&mut acc, mus, inv_sigmas, g.slice(xd).unwrap_or((xd, xd)))
                        }
                        Dim::Cat { k, choice, log_on, log_off } => {
                            for (a, c) in acc[..last].iter_mut().zip(choice) {
                                *a += if *c == xd { *log_on } else { *log_off };
                            }
                            acc[last] -= (*k as f64).ln();
                        }
                    }
                }
                logsumexp(&acc)
            })
            .collect()
    }
}

/// The magic clip: no kernel narrower than range / min(100, kernels + 1)
/// (Optuna's, with the prior among the kernels).
pub(super) fn min_sigma(n_obs: usize, magic_clip: bool) -> f64 {
    if magic_clip {
        1.0 / (100.0f64).min(2.0 + n_obs as f64)
    } else {
        1e-12
    }
}

/// ln of what a categorical kernel of the multivariate estimator puts on
/// its own choice and on each other one, among `k` choices, with `n_obs`
/// observation kernels: a one-hot smoothed by prior_weight / (n_obs + 1),
/// Optuna 5's rule, so the smoothing fades as observations accumulate.
/// The univariate estimator keeps the older prior_weight / k.
pub(super) fn categorical_kernel(k: usize, n_obs: usize, o: ParzenOptions) -> (f64, f64) {
    let pw = if o.multivariate { o.prior_weight / (n_obs + 1) as f64 } else { o.prior_weight / k as f64 };
    let norm = if o.multivariate { 1.0 + k as f64 * pw } else { o.prior_weight + 1.0 };
    (((pw + 1.0) / norm).ln(), (pw / norm).ln())
}

/// Optuna 5's rule (multivariate and univariate alike there): each kernel
/// is as wide as the larger gap to its sorted neighbours among the
/// observations alone, with 0 and 1 as fences; at the extremes, unless
/// `consider_endpoints`, the inner gap. Unclipped.
pub(super) fn neighbour_bandwidths_between_fences(xs: &[f64], consider_endpoints: bool) -> Vec<f64> {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_unstable_by(|&a, &b| xs[a].total_cmp(&xs[b]).then(a.cmp(&b)));
    let m = order.len();
    let mut out = vec![0.0; m];
    for (j, &i) in order.iter().enumerate() {
        out[i] = neighbour_gap(|t| xs[order[t]], m, j, consider_endpoints);
    }
    out
}

/// Optuna's older univariate rule: each kernel is as wide as the larger gap to its
/// sorted neighbours (the prior's centre 0.5 included, the ends 0 and 1 as
/// fences); at the extremes, unless `consider_endpoints`, the inner gap.
#[cfg(test)]
fn neighbour_bandwidths(xs: &[f64], consider_endpoints: bool) -> Vec<f64> {
    neighbour_bandwidths_with_order(xs, consider_endpoints).0
}

/// The rule for the kernel at position `j` of `m` centres sorted ascending
/// (`at(i)` the i-th; the prior's among them): the larger gap to its
/// neighbours, 0 and 1 as fences; the outermost take their inner gap
/// unless `consider_endpoints`. Shared with the incremental estimator,
/// which applies it to one kernel at a time.
pub(super) fn neighbour_gap(at: impl Fn(usize) -> f64, m: usize, j: usize, consider_endpoints: bool) -> f64 {
    let at = |i: isize| -> f64 {
        if i < 0 {
            0.0
        } else if i as usize >= m {
            1.0
        } else {
            at(i as usize)
        }
    };
    let j = j as isize;
    if !consider_endpoints && m >= 2 {
        if j == 0 {
            return at(1) - at(0);
        }
        if j as usize == m - 1 {
            return at(j) - at(j - 1);
        }
    }
    (at(j) - at(j - 1)).max(at(j + 1) - at(j))
}

/// As [`neighbour_bandwidths`], also returning the kernels' order by centre
/// (indices into `xs`, the prior as `xs.len()`).
fn neighbour_bandwidths_with_order(xs: &[f64], consider_endpoints: bool) -> (Vec<f64>, Vec<usize>) {
    let n = xs.len();
    let mut with_prior: Vec<(f64, usize)> = xs.iter().copied().zip(0..).collect();
    with_prior.push((0.5, n));
    with_prior.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let m = with_prior.len();
    let sorted_sigma: Vec<f64> = (0..m).map(|j| neighbour_gap(|i| with_prior[i].0, m, j, consider_endpoints)).collect();
    let mut out = vec![0.0; n];
    for (j, &(_, idx)) in with_prior.iter().enumerate() {
        if idx < n {
            out[idx] = sorted_sigma[j];
        }
    }
    (out, with_prior.iter().map(|p| p.1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn opts(multivariate: bool) -> ParzenOptions {
        ParzenOptions { prior_weight: 1.0, magic_clip: true, consider_endpoints: false, multivariate }
    }

    #[test]
    fn density_integrates_to_one_and_peaks_at_observations() {
        for mv in [false, true] {
            let p = Parzen::new(&[DimKind::Numerical], vec![vec![0.2, 0.25, 0.8]], &[1.0, 1.0, 1.0], opts(mv));
            let n = 20_000;
            let grid: Vec<Vec<f64>> = (0..n).map(|i| vec![(i as f64 + 0.5) / n as f64]).collect();
            let integral: f64 = p.log_pdf(&grid).iter().map(|l| l.exp() / n as f64).sum();
            assert!((integral - 1.0).abs() < 1e-3, "{integral}");
            let d = p.log_pdf(&[vec![0.22], vec![0.5]]);
            assert!(d[0] > d[1]);
        }
        let c = Parzen::new(&[DimKind::Categorical(3)], vec![vec![0.0, 0.0, 2.0]], &[1.0; 3], opts(false));
        let total: f64 = c.log_pdf(&[vec![0.0], vec![1.0], vec![2.0]]).iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }

    #[test]
    fn samples_stay_in_the_unit_box_and_follow_the_mass() {
        let p = Parzen::new(&[DimKind::Numerical, DimKind::Categorical(4)], vec![vec![0.9; 30], vec![3.0; 30]], &[1.0; 30], opts(true));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let s = p.sample(&mut rng, 500);
        assert!(s.iter().all(|x| (0.0..=1.0).contains(&x[0]) && x[1] < 4.0 && x[1].fract() == 0.0));
        let near = s.iter().filter(|x| x[0] > 0.6).count();
        let cat3 = s.iter().filter(|x| x[1] == 3.0).count();
        // With 30 observations each categorical kernel is smoothed by
        // 1/31: (1 + 1/31) / (1 + 4/31) = 32/35 on its choice; the prior is
        // 1/4: expect about (30 * 32/35 + 0.25) / 31 * 500 = 446.
        assert!(near > 350 && (420..470).contains(&cat3), "{near} {cat3}");
    }

    #[test]
    fn windowed_evaluation_equals_the_full_sum() {
        let xs: Vec<f64> = (0..700).map(|i| ((i * 7919) % 1000) as f64 / 1000.0).collect();
        let p = Parzen::new(&[DimKind::Numerical], vec![xs], &[1.0; 700], opts(false));
        let pts: Vec<Vec<f64>> = (0..50).map(|i| vec![i as f64 / 49.0]).collect();
        let windowed = p.log_pdf(&pts);
        let full = Parzen { sorted: None, small: None, ..p.clone() }.log_pdf(&pts);
        for (a, b) in windowed.iter().zip(&full) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn multivariate_widths_follow_the_neighbours_between_fences() {
        // sorted 0.1 0.2 0.9 (no prior among them): the ends take their
        // inner gaps (0.1 and 0.7), the middle the larger of 0.1 and 0.7.
        let s = neighbour_bandwidths_between_fences(&[0.9, 0.1, 0.2], false);
        assert!((s[0] - 0.7).abs() < 1e-12 && (s[1] - 0.1).abs() < 1e-12 && (s[2] - 0.7).abs() < 1e-12, "{s:?}");
        // A lone observation: the larger distance to a fence.
        assert!((neighbour_bandwidths_between_fences(&[0.3], false)[0] - 0.7).abs() < 1e-12);
    }

    #[test]
    fn grid_kernels_are_distributions_over_the_grid_values() {
        use crate::distribution::Distribution;
        // Ten trials at the same integer of 0..=7 (slices of 1/8), and a
        // log-integer axis with uneven slices: in both, the probabilities
        // of the grid values sum to one, and the repeated value gets the
        // most but never more than everything, however narrow its kernels
        // (a plain normal would put a density of ~5 there).
        for (dist, at) in [(Distribution::int(0, 7), 4.0), (Distribution::int_log(1, 100), 3.0)] {
            let axis = UnitAxis::new(&dist).unwrap();
            let xs = vec![vec![axis.encode(at); 10]];
            let p = Parzen::with_grids(&[DimKind::Numerical], xs, &[Some(axis.clone())], &[1.0; 10], opts(true));
            let values: Vec<f64> = match &dist {
                Distribution::Int { low, high, .. } => (*low..=*high).map(|v| v as f64).collect(),
                _ => unreachable!(),
            };
            let probs: Vec<f64> =
                p.log_pdf(&values.iter().map(|&v| vec![axis.encode(v)]).collect::<Vec<_>>()).iter().map(|l| l.exp()).collect();
            let total: f64 = probs.iter().sum();
            assert!((total - 1.0).abs() < 1e-2, "{dist:?}: {total}");
            let top = values.iter().position(|&v| v == at).unwrap();
            assert!(probs.iter().all(|&q| q <= probs[top]) && probs[top] < 1.0, "{probs:?}");
        }
    }

    #[test]
    fn categorical_smoothing_fades_as_observations_accumulate() {
        let on = |n| categorical_kernel(4, n, opts(true)).0.exp();
        assert!(on(1) < on(10) && on(10) < on(100) && on(100) < 1.0);
        // Each kernel is a distribution over the choices.
        for n in [0, 3, 50] {
            let (a, b) = categorical_kernel(4, n, opts(true));
            assert!((a.exp() + 3.0 * b.exp() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn neighbour_rule() {
        let s = neighbour_bandwidths(&[0.1, 0.2, 0.9], false);
        // sorted with prior: 0.1 0.2 0.5 0.9 → 0.1 takes the inner gap 0.1;
        // 0.2 the larger of 0.1 and 0.3; 0.9 the inner gap 0.4.
        assert!((s[0] - 0.1).abs() < 1e-12 && (s[1] - 0.3).abs() < 1e-12 && (s[2] - 0.4).abs() < 1e-12, "{s:?}");
    }
}
