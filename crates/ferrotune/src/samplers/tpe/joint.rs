//! The "above" estimator g(x) of multivariate TPE for one group of
//! parameters, kept across asks (Falkner et al. 2018's joint Parzen
//! estimator with Scott's-rule bandwidths, as Optuna's multivariate TPE).
//!
//! Each ask evaluates g at the candidates against every member, so the
//! work is O(candidates × members × dimensions); what is kept between asks
//! makes that work a matrix product plus one exponential per term:
//!
//! * members' unit coordinates in one column-major matrix, with their
//!   squared norms, so the squared distances of all candidates to all
//!   members come from one product (faer's matmul):
//!   |x − μ|² = |x|² + |μ|² − 2 x·μ;
//! * each member's truncation masses (its kernel's mass on the unit cube,
//!   one normal CDF pair per dimension) for the current bandwidth. Scott's
//!   bandwidth shrinks by a factor n^(−1/(d+4)) as trials accumulate; it is
//!   rounded to a 0.1% grid of values so the masses are recomputed only
//!   when it moves by that much (every ~90 trials at 1,000 trials in 40
//!   dimensions) instead of on every ask.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

use super::parzen::{DimKind, MassTable, ParzenOptions};
use super::weights::weights_by_number;
use crate::math::{logsumexp_fast, PhiTable, LN_SQRT_2PI};

/// ln σ is rounded to multiples of this.
const SIGMA_STEP: f64 = 1e-3;

/// The joint estimator over `kinds`. Rows are trial numbers; slots are the
/// order members arrived in (a member never leaves, it only toggles
/// between "above" and "below").
#[derive(Debug, Clone)]
pub(super) struct JointAbove {
    kinds: Vec<DimKind>,
    o: ParzenOptions,
    n_num: usize,
    /// Choices per categorical dimension.
    cat_k: Vec<usize>,
    slot_of: Vec<usize>,
    rows: Vec<usize>,
    active: Vec<bool>,
    n_active: usize,
    /// Numerical coordinates, slot after slot (column-major n_num × slots).
    num: Vec<f64>,
    /// Categorical choices, slot after slot.
    cat: Vec<f64>,
    sq_norm: Vec<f64>,
    /// Σ over numerical dimensions of ln(mass) at `sigma` (NaN: stale).
    log_mass: Vec<f64>,
    sigma: f64,
    /// Off only in tests, to compare with the exact mixture.
    round_sigma: bool,
}

impl JointAbove {
    pub fn new(kinds: &[DimKind], o: ParzenOptions) -> JointAbove {
        let n_num = kinds.iter().filter(|k| **k == DimKind::Numerical).count();
        let cat_k = kinds
            .iter()
            .filter_map(|k| match k {
                DimKind::Categorical(n) => Some(*n),
                DimKind::Numerical => None,
            })
            .collect();
        JointAbove {
            kinds: kinds.to_vec(),
            o,
            n_num,
            cat_k,
            slot_of: vec![],
            rows: vec![],
            active: vec![],
            n_active: 0,
            num: vec![],
            cat: vec![],
            sq_norm: vec![],
            log_mass: vec![],
            sigma: f64::NAN,
            round_sigma: true,
        }
    }

    /// Adds trial `row` with coordinates `x` (one per dimension of `kinds`).
    pub fn insert(&mut self, row: usize, x: &[f64]) {
        if self.slot_of.len() <= row {
            self.slot_of.resize(row + 1, usize::MAX);
        }
        let slot = self.slot_of[row];
        if slot != usize::MAX {
            debug_assert!(!self.active[slot], "row {row} inserted twice");
            self.active[slot] = true;
        } else {
            self.slot_of[row] = self.rows.len();
            self.rows.push(row);
            self.active.push(true);
            let mut sq = 0.0;
            for (k, &v) in self.kinds.iter().zip(x) {
                match k {
                    DimKind::Numerical => {
                        self.num.push(v);
                        sq += v * v;
                    }
                    DimKind::Categorical(_) => self.cat.push(v),
                }
            }
            self.sq_norm.push(sq);
            self.log_mass.push(f64::NAN);
        }
        self.n_active += 1;
    }

    /// Removes trial `row` from the set (it moved to "below").
    pub fn remove(&mut self, row: usize) {
        let slot = self.slot_of[row];
        debug_assert!(self.active[slot], "row {row} is not a member");
        self.active[slot] = false;
        self.n_active -= 1;
    }

    /// Scott's-rule bandwidth for `m` kernels, as the exact estimator
    /// computes it, rounded to the [`SIGMA_STEP`] grid of ln σ.
    fn bandwidth(&self, m: usize) -> f64 {
        let min_sigma = if self.o.magic_clip { 1.0 / (100.0f64).min(1.0 + (m + 1) as f64) } else { 1e-12 };
        let s = (0.2 * (m.max(1) as f64).powf(-1.0 / (self.kinds.len() as f64 + 4.0))).clamp(min_sigma, 1.0);
        if !self.round_sigma {
            return s;
        }
        ((s.ln() / SIGMA_STEP).round() * SIGMA_STEP).exp().clamp(min_sigma, 1.0)
    }

    /// Σ_d ln mass of a kernel at `mu` (numerical coordinates) with width `sigma`.
    fn log_mass_of(mu: &[f64], sigma: f64, table: Option<&MassTable>) -> f64 {
        match table {
            // The table holds σ · mass.
            Some(t) => mu.iter().map(|&m| (t.eval(m) / sigma).ln()).sum(),
            None => {
                let phi = PhiTable::get();
                mu.iter().map(|&m| (phi.cdf((1.0 - m) / sigma) - phi.cdf(-m / sigma)).ln()).sum()
            }
        }
    }

    /// ln g(x) at each candidate (rows of `xs`, one value per dimension),
    /// with `liars` (running trials, constant liar) as extra kernels of
    /// weight 1.
    pub fn log_pdf(&mut self, xs: &[Vec<f64>], liars: &[Vec<f64>]) -> Vec<f64> {
        let (d, n_num) = (self.kinds.len(), self.n_num);
        let m = self.n_active + liars.len();
        let sigma = self.bandwidth(m);
        if sigma != self.sigma {
            self.sigma = sigma;
            self.log_mass.iter_mut().for_each(|v| *v = f64::NAN);
        }
        let n_slots = self.rows.len();
        // The table pays off only when many masses are (re)computed.
        let stale = (0..n_slots).filter(|&s| self.active[s] && self.log_mass[s].is_nan()).count();
        let table = (sigma >= 0.05 && stale * n_num > 2048).then(|| MassTable::new(sigma));
        for s in 0..n_slots {
            if self.active[s] && self.log_mass[s].is_nan() {
                self.log_mass[s] = Self::log_mass_of(&self.num[s * n_num..(s + 1) * n_num], sigma, table.as_deref());
            }
        }

        // Weights: the same rule as every TPE estimator (weights.rs).
        let active: Vec<usize> = (0..n_slots).filter(|&s| self.active[s]).collect();
        let weights = weights_by_number(&active.iter().map(|&s| self.rows[s]).collect::<Vec<_>>());
        let total = weights.iter().sum::<f64>() + liars.len() as f64 + self.o.prior_weight;
        let mut log_w = vec![f64::NEG_INFINITY; n_slots];
        for (&s, w) in active.iter().zip(&weights) {
            log_w[s] = w.ln();
        }
        let pw = self.o.prior_weight;
        let ln_total = total.ln();
        let norm = n_num as f64 * (sigma.ln() + LN_SQRT_2PI);
        // Inactive slots (stale masses, NaN) stay at −∞.
        let log_c: Vec<f64> = log_w
            .iter()
            .zip(&self.log_mass)
            .map(|(&lw, lm)| if lw == f64::NEG_INFINITY { lw } else { lw - ln_total - lm - norm })
            .collect();
        let cat_terms: Vec<(f64, f64)> = self
            .cat_k
            .iter()
            .map(|&k| ((pw / k as f64 + 1.0) / (pw + 1.0), (pw / k as f64) / (pw + 1.0)))
            .map(|(on, off)| (on.ln(), off.ln()))
            .collect();
        let split = |x: &[f64]| -> (Vec<f64>, Vec<f64>) {
            let (mut a, mut b) = (Vec::with_capacity(n_num), Vec::with_capacity(d - n_num));
            for (k, &v) in self.kinds.iter().zip(x) {
                match k {
                    DimKind::Numerical => a.push(v),
                    DimKind::Categorical(_) => b.push(v),
                }
            }
            (a, b)
        };

        // x·μ for every candidate and member.
        let n_c = xs.len();
        let (cand_num, cand_cat): (Vec<Vec<f64>>, Vec<Vec<f64>>) = xs.iter().map(|x| split(x)).unzip();
        let flat: Vec<f64> = cand_num.iter().flatten().copied().collect();
        let mut dots = vec![0.0; n_c * n_slots];
        if n_num > 0 && n_slots > 0 {
            matmul(
                MatMut::from_column_major_slice_mut(&mut dots, n_slots, n_c),
                Accum::Replace,
                MatRef::from_column_major_slice(&self.num, n_num, n_slots).transpose(),
                MatRef::from_column_major_slice(&flat, n_num, n_c),
                1.0,
                Par::Seq,
            );
        }

        let inv2s2 = 0.5 / (sigma * sigma);
        let prior_log_mass = n_num as f64 * {
            let phi = PhiTable::get();
            (phi.cdf(0.5) - phi.cdf(-0.5)).ln()
        };
        let prior_const = pw.ln() - ln_total - prior_log_mass - n_num as f64 * LN_SQRT_2PI
            - self.cat_k.iter().map(|&k| (k as f64).ln()).sum::<f64>();
        let liars: Vec<(Vec<f64>, Vec<f64>, f64)> = liars
            .iter()
            .map(|x| {
                let (a, b) = split(x);
                let lm = Self::log_mass_of(&a, sigma, table.as_deref());
                (a, b, -ln_total - lm - norm)
            })
            .collect();
        let mut terms = vec![0.0; n_slots + 1 + liars.len()];
        (0..n_c)
            .map(|c| {
                let (xn, xc) = (&cand_num[c], &cand_cat[c]);
                let xx: f64 = xn.iter().map(|v| v * v).sum();
                let row = &dots[c * n_slots..(c + 1) * n_slots];
                for s in 0..n_slots {
                    let d2 = (xx + self.sq_norm[s] - 2.0 * row[s]).max(0.0);
                    terms[s] = log_c[s] - d2 * inv2s2;
                }
                for (j, (&v, &(on, off))) in xc.iter().zip(&cat_terms).enumerate() {
                    let n_cat = cat_terms.len();
                    for s in 0..n_slots {
                        terms[s] += if self.cat[s * n_cat + j] == v { on } else { off };
                    }
                }
                let p2: f64 = xn.iter().map(|v| (v - 0.5) * (v - 0.5)).sum();
                terms[n_slots] = prior_const - 0.5 * p2;
                for (i, (a, b, lc)) in liars.iter().enumerate() {
                    let d2: f64 = xn.iter().zip(a).map(|(x, m)| (x - m) * (x - m)).sum();
                    let cat: f64 =
                        xc.iter().zip(b).zip(&cat_terms).map(|((x, m), &(on, off))| if x == m { on } else { off }).sum();
                    terms[n_slots + 1 + i] = lc - d2 * inv2s2 + cat;
                }
                logsumexp_fast(&terms)
            })
            .collect()
    }

    /// The members and weights this estimator represents, for comparing
    /// with the exact mixture: (coordinates per dimension, weights).
    #[cfg(test)]
    pub fn members(&self) -> (Vec<Vec<f64>>, Vec<f64>) {
        let slots: Vec<usize> = (0..self.rows.len()).filter(|&s| self.active[s]).collect();
        let numbers: Vec<usize> = slots.iter().map(|&s| self.rows[s]).collect();
        let w = weights_by_number(&numbers);
        let n_cat = self.cat_k.len();
        let mut cols = vec![vec![]; self.kinds.len()];
        for &s in &slots {
            let (mut i, mut j) = (0, 0);
            for (k, col) in self.kinds.iter().zip(cols.iter_mut()) {
                match k {
                    DimKind::Numerical => {
                        col.push(self.num[s * self.n_num + i]);
                        i += 1;
                    }
                    DimKind::Categorical(_) => {
                        col.push(self.cat[s * n_cat + j]);
                        j += 1;
                    }
                }
            }
        }
        (cols, w)
    }
}

#[cfg(test)]
mod tests {
    use super::super::parzen::Parzen;
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn joint_estimator_matches_the_exact_mixture() {
        let o = ParzenOptions { prior_weight: 1.0, magic_clip: true, consider_endpoints: false, multivariate: true };
        let kinds = [DimKind::Numerical, DimKind::Categorical(3), DimKind::Numerical, DimKind::Numerical];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut g = JointAbove::new(&kinds, o);
        g.round_sigma = false;
        let mut rounded = JointAbove::new(&kinds, o);
        let point = |rng: &mut ChaCha8Rng| -> Vec<f64> {
            kinds
                .iter()
                .map(|k| match k {
                    DimKind::Numerical => rng.random::<f64>(),
                    DimKind::Categorical(n) => rng.random_range(0..*n) as f64,
                })
                .collect()
        };
        let mut members = vec![];
        for row in 0..400usize {
            let x = point(&mut rng);
            g.insert(row, &x);
            rounded.insert(row, &x);
            members.push(row);
            if rng.random_bool(0.1) {
                let i = rng.random_range(0..members.len());
                let r = members.swap_remove(i);
                g.remove(r);
                rounded.remove(r);
            }
            if row % 50 == 7 {
                let xs: Vec<Vec<f64>> = (0..30).map(|_| point(&mut rng)).collect();
                let fast = g.log_pdf(&xs, &[]);
                let (cols, w) = g.members();
                let exact = Parzen::new(&kinds, cols, &w, o).log_pdf(&xs);
                for (a, b) in fast.iter().zip(&exact) {
                    assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "row {row}: {a} vs {b}");
                }
                // Rounding σ to 0.1% moves ln g by little.
                for (a, b) in rounded.log_pdf(&xs, &[]).iter().zip(&exact) {
                    assert!((a - b).abs() < 0.02, "row {row}: rounded {a} vs {b}");
                }
            }
        }
    }
}
