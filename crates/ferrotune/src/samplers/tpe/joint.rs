//! The "above" estimator g(x) of multivariate TPE for one group of
//! parameters, kept across asks (Falkner et al. 2018's joint Parzen
//! estimator, with Optuna 5's bandwidths: every kernel gets its own width
//! in every dimension, the larger gap to its neighbours among the
//! observations, clipped by the magic clip).
//!
//! Each ask evaluates g at the candidates against every member, so the
//! work is O(candidates × members × dimensions); what is kept between asks
//! makes that work one matrix product plus one exponential per term (grid
//! dimensions, whose kernels are discretised, add one slice mass per
//! candidate and member instead, `PhiTable::log_mass`):
//!
//! * the quadratic of a kernel with per-dimension widths expands as
//!   −(x − μ)²/(2σ²) = −x²·1/(2σ²) + x·μ/σ² − μ²/(2σ²), so with the
//!   members' coefficients (1/(2σ²), μ/σ²) in one column-major matrix,
//!   every candidate's exponent against every member is one product with
//!   the candidates' (x², x) (faer's matmul), plus a per-member constant;
//! * each dimension's members stay sorted, so the widths follow from one
//!   pass per ask, and a member's coefficients and truncation masses are
//!   recomputed only when its width changed (a new trial moves the widths
//!   of its neighbours, not of everyone).

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

use super::super::transform::UnitAxis;
use super::parzen::{categorical_kernel, min_sigma, neighbour_gap, DimKind, ParzenOptions};
use super::weights::weights_by_number;
use crate::math::{logsumexp_fast, PhiTable, LN_SQRT_2PI, NEGLIGIBLE};

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
    /// Per numerical dimension, its axis if it is a grid (discretised
    /// kernels), else `None`.
    grids: Vec<Option<UnitAxis>>,
    /// Numerical coordinates, slot after slot (n_num per slot).
    num: Vec<f64>,
    /// The grid cell of each of those coordinates (−1 off a grid), found
    /// once at insertion rather than on every ask.
    cell: Vec<i64>,
    /// Categorical choices, slot after slot.
    cat: Vec<f64>,
    /// Per numerical dimension, the active members as (coordinate, trial
    /// number), ascending: ties are broken by trial number, so the widths
    /// do not depend on the order members arrived in (a sampler rebuilt
    /// from storage must propose what the one that kept its state would).
    sorted: Vec<Vec<(f64, usize)>>,
    /// Per numerical dimension, members (trial numbers) whose neighbours
    /// changed since the widths were last refreshed...
    dirty: Vec<Vec<usize>>,
    /// ...unless everything must be looked at: the magic clip's floor
    /// (which depends on the number of members) last used.
    floor: f64,
    /// Per slot and numerical dimension: the width the coefficients below
    /// were computed for (NaN: never), and ln(σ · truncated mass) (ln of
    /// the mass alone on a grid).
    sigma: Vec<f64>,
    log_sm: Vec<f64>,
    /// Column-major 2·n_num × slots: −1/(2σ²) per dimension, then μ/σ²
    /// (zeros for grid dimensions).
    coef: Vec<f64>,
    /// Per slot: Σ_d −μ²/(2σ²) − ln(σ · mass) (NaN: stale).
    konst: Vec<f64>,
}

/// Largest grid whose slice masses are tabled per ask.
const MAX_TABLED_GRID: usize = 1024;

/// One grid dimension's active members, for their slice masses at the
/// candidates. On an evenly spaced grid, a member at the magic clip's
/// floor width (most of them, once values repeat) gives a mass that
/// depends only on how many cells the candidate is from its own: those
/// come from a table of 2·cells − 1 masses made once per ask.
struct GridKernels<'a> {
    axis: &'a UnitAxis,
    /// The dimension's position in a candidate.
    pos: usize,
    mus: Vec<f64>,
    inv_sigmas: Vec<f64>,
    /// Per member: its cell where the table applies, else −1.
    cells: Vec<i64>,
    /// ln mass by offset (candidate cell − member cell + cells − 1).
    table: Vec<f64>,
}

impl<'a> GridKernels<'a> {
    /// `num[s * stride + dim]`, `sigma[…]` and `cell[…]`: member `s`'s
    /// centre, width and grid cell in this dimension.
    fn new(
        axis: &'a UnitAxis,
        pos: usize,
        active: &[usize],
        (num, sigma, cell): (&[f64], &[f64], &[i64]),
        (dim, stride): (usize, usize),
        floor: f64,
    ) -> Self {
        let phi = PhiTable::get();
        let n = axis.grid_len();
        let step = axis.unit_step().filter(|_| n <= MAX_TABLED_GRID);
        let table: Vec<f64> = match step {
            Some(w) => (0..2 * n - 1)
                .map(|o| {
                    let d = (o as f64 - (n - 1) as f64) * w;
                    phi.log_mass((d - 0.5 * w) / floor, (d + 0.5 * w) / floor)
                })
                .collect(),
            None => vec![],
        };
        let (mut mus, mut inv_sigmas, mut cells) = (vec![], vec![], vec![]);
        for &s in active {
            let i = s * stride + dim;
            mus.push(num[i]);
            inv_sigmas.push(1.0 / sigma[i]);
            cells.push(if step.is_some() && sigma[i] == floor { cell[i] } else { -1 });
        }
        GridKernels { axis, pos, mus, inv_sigmas, cells, table }
    }

    /// ln of member `j`'s mass on the slice [lo, hi] of grid cell `cell`.
    #[inline]
    fn log_mass(&self, j: usize, lo: f64, hi: f64, cell: i64, phi: &PhiTable) -> f64 {
        let k = self.cells[j];
        if k >= 0 {
            self.table[(cell - k + (self.table.len() as i64 - 1) / 2) as usize]
        } else {
            phi.log_mass((lo - self.mus[j]) * self.inv_sigmas[j], (hi - self.mus[j]) * self.inv_sigmas[j])
        }
    }
}

impl JointAbove {
    /// `grids[d]`: the axis of dimension `d` if it is a grid (missing or
    /// `None`: continuous or categorical).
    pub fn new(kinds: &[DimKind], grids: &[Option<UnitAxis>], o: ParzenOptions) -> JointAbove {
        let n_num = kinds.iter().filter(|k| **k == DimKind::Numerical).count();
        let cat_k = kinds
            .iter()
            .filter_map(|k| match k {
                DimKind::Categorical(n) => Some(*n),
                DimKind::Numerical => None,
            })
            .collect();
        let grids = (0..kinds.len()).filter(|&d| kinds[d] == DimKind::Numerical).map(|d| grids.get(d).cloned().flatten()).collect();
        JointAbove {
            kinds: kinds.to_vec(),
            o,
            n_num,
            cat_k,
            slot_of: vec![],
            rows: vec![],
            active: vec![],
            n_active: 0,
            grids,
            num: vec![],
            cell: vec![],
            cat: vec![],
            sorted: vec![vec![]; n_num],
            dirty: vec![vec![]; n_num],
            floor: f64::NAN,
            sigma: vec![],
            log_sm: vec![],
            coef: vec![],
            konst: vec![],
        }
    }

    /// Adds trial `row` with coordinates `x` (one per dimension of
    /// `kinds`).
    pub fn insert(&mut self, row: usize, x: &[f64]) {
        if self.slot_of.len() <= row {
            self.slot_of.resize(row + 1, usize::MAX);
        }
        let n_num = self.n_num;
        let slot = match self.slot_of[row] {
            usize::MAX => {
                let slot = self.rows.len();
                self.slot_of[row] = slot;
                self.rows.push(row);
                self.active.push(false);
                let mut i = 0;
                for (k, &v) in self.kinds.iter().zip(x) {
                    match k {
                        DimKind::Numerical => {
                            self.num.push(v);
                            self.cell.push(self.grids[i].as_ref().map_or(-1, |a| a.grid_index(v) as i64));
                            i += 1;
                        }
                        DimKind::Categorical(_) => self.cat.push(v),
                    }
                }
                self.sigma.extend(std::iter::repeat_n(f64::NAN, n_num));
                self.log_sm.extend(std::iter::repeat_n(0.0, n_num));
                self.coef.extend(std::iter::repeat_n(0.0, 2 * n_num));
                self.konst.push(f64::NAN);
                slot
            }
            slot => slot,
        };
        debug_assert!(!self.active[slot], "row {row} inserted twice");
        self.active[slot] = true;
        self.n_active += 1;
        for d in 0..n_num {
            let e = (self.num[slot * n_num + d], row);
            let list = &mut self.sorted[d];
            let at = list.partition_point(|p| p.0.total_cmp(&e.0).then(p.1.cmp(&e.1)).is_lt());
            list.insert(at, e);
            let dirty = &mut self.dirty[d];
            dirty.extend(list[at.saturating_sub(1)..(at + 2).min(list.len())].iter().map(|p| p.1));
        }
    }

    /// Removes trial `row` from the set (it moved to "below").
    pub fn remove(&mut self, row: usize) {
        let slot = self.slot_of[row];
        debug_assert!(self.active[slot], "row {row} is not a member");
        self.active[slot] = false;
        self.n_active -= 1;
        let n_num = self.n_num;
        for d in 0..n_num {
            let e = (self.num[slot * n_num + d], row);
            let list = &mut self.sorted[d];
            let at = list.partition_point(|p| p.0.total_cmp(&e.0).then(p.1.cmp(&e.1)).is_lt());
            debug_assert_eq!(list[at].1, row);
            list.remove(at);
            let dirty = &mut self.dirty[d];
            dirty.extend(list[at.saturating_sub(1)..(at + 1).min(list.len())].iter().map(|p| p.1));
        }
    }

    /// Brings every active member's widths (and what derives from them)
    /// up to date for the current set: those next to a member that came or
    /// went, or all of them when the floor moved (below 98 members).
    fn refresh_widths(&mut self) {
        let n_num = self.n_num;
        let floor = min_sigma(self.n_active, self.o.magic_clip);
        let everything = floor != self.floor;
        self.floor = floor;
        let phi = PhiTable::get();
        for d in 0..n_num {
            let list = &self.sorted[d];
            let m = list.len();
            let positions: Vec<usize> = if everything || m < 4 {
                (0..m).collect()
            } else {
                let mut dirty = std::mem::take(&mut self.dirty[d]);
                dirty.sort_unstable();
                dirty.dedup();
                dirty
                    .iter()
                    .filter(|&&r| self.active[self.slot_of[r]])
                    .map(|&r| {
                        let e = (self.num[self.slot_of[r] * n_num + d], r);
                        list.partition_point(|p| p.0.total_cmp(&e.0).then(p.1.cmp(&e.1)).is_lt())
                    })
                    .collect()
            };
            self.dirty[d].clear();
            for j in positions {
                let slot = self.slot_of[list[j].1];
                let gap = neighbour_gap(|i| list[i].0, m, j, self.o.consider_endpoints);
                let i = slot * n_num + d;
                let s = gap.clamp(floor, 1.0);
                if s != self.sigma[i] {
                    let mu = self.num[i];
                    self.sigma[i] = s;
                    let mass = phi.cdf((1.0 - mu) / s) - phi.cdf(-mu / s);
                    if self.grids[d].is_some() {
                        self.log_sm[i] = mass.ln();
                    } else {
                        self.log_sm[i] = (s * mass).ln();
                        let inv2 = 1.0 / (s * s);
                        let c = &mut self.coef[2 * n_num * slot..2 * n_num * (slot + 1)];
                        c[d] = -0.5 * inv2;
                        c[n_num + d] = mu * inv2;
                    }
                    self.konst[slot] = f64::NAN;
                }
            }
        }
        for slot in 0..self.rows.len() {
            if self.active[slot] && self.konst[slot].is_nan() {
                let r = slot * n_num..(slot + 1) * n_num;
                self.konst[slot] = self.num[r.clone()]
                    .iter()
                    .zip(&self.sigma[r.clone()])
                    .zip(&self.log_sm[r])
                    .zip(&self.grids)
                    .map(|(((mu, s), lsm), g)| if g.is_some() { -lsm } else { -0.5 * mu * mu / (s * s) - lsm })
                    .sum();
            }
        }
    }

    /// ln g(x) at each candidate (rows of `xs`, one value per dimension).
    pub fn log_pdf(&mut self, xs: &[Vec<f64>]) -> Vec<f64> {
        let n_num = self.n_num;
        self.refresh_widths();
        let n_slots = self.rows.len();

        // Weights: the same rule as every TPE estimator (weights.rs).
        let active: Vec<usize> = (0..n_slots).filter(|&s| self.active[s]).collect();
        let weights = weights_by_number(&active.iter().map(|&s| self.rows[s]).collect::<Vec<_>>());
        let pw = self.o.prior_weight;
        let ln_total = (weights.iter().sum::<f64>() + pw).ln();
        let n_cont = self.grids.iter().filter(|g| g.is_none()).count();
        let norm = n_cont as f64 * LN_SQRT_2PI;
        // Inactive slots stay at −∞.
        let mut log_c = vec![f64::NEG_INFINITY; n_slots];
        for (&s, w) in active.iter().zip(&weights) {
            log_c[s] = w.ln() - ln_total - norm + self.konst[s];
        }
        let cat_terms: Vec<(f64, f64)> = self.cat_k.iter().map(|&k| categorical_kernel(k, self.n_active, self.o)).collect();

        // Candidates' (x², x) features, column-major 2·n_num × candidates.
        let n_c = xs.len();
        let mut feats = Vec::with_capacity(2 * n_num * n_c);
        let mut cand_cat: Vec<Vec<f64>> = Vec::with_capacity(n_c);
        let mut prior_sq = Vec::with_capacity(n_c);
        // Position in a candidate of each numerical dimension.
        let num_pos: Vec<usize> = (0..self.kinds.len()).filter(|&d| self.kinds[d] == DimKind::Numerical).collect();
        for x in xs {
            let start = feats.len();
            feats.resize(start + 2 * n_num, 0.0);
            let mut cats = Vec::with_capacity(self.cat_k.len());
            let (mut i, mut p2) = (0, 0.0);
            for (k, &v) in self.kinds.iter().zip(x) {
                match k {
                    DimKind::Numerical => {
                        if self.grids[i].is_none() {
                            feats[start + i] = v * v;
                            feats[start + n_num + i] = v;
                            p2 += (v - 0.5) * (v - 0.5);
                        }
                        i += 1;
                    }
                    DimKind::Categorical(_) => cats.push(v),
                }
            }
            cand_cat.push(cats);
            prior_sq.push(p2);
        }
        // The grid dimensions' members, tabled ones first (their masses are
        // cheap, so members they rule out never cost a direct one).
        let mut grid_kernels: Vec<GridKernels> = (0..n_num)
            .filter_map(|i| {
                let axis = self.grids[i].as_ref()?;
                Some(GridKernels::new(axis, num_pos[i], &active, (&self.num, &self.sigma, &self.cell), (i, n_num), self.floor))
            })
            .collect();
        grid_kernels.sort_by_key(|g| g.table.is_empty());
        // Per candidate, per grid dimension (in that order): its slice, and
        // its cell where the dimension is tabled.
        let cand_slices: Vec<Vec<(f64, f64, i64)>> = xs
            .iter()
            .map(|x| {
                grid_kernels
                    .iter()
                    .map(|g| {
                        let v = x[g.pos];
                        let (lo, hi) = g.axis.slice(v).unwrap_or((v, v));
                        (lo, hi, g.axis.grid_index(v) as i64)
                    })
                    .collect()
            })
            .collect();
        // Candidates × members, column-major (a member's column holds every
        // candidate): the product's large operand is then the members'
        // coefficients as they are stored, which the matrix product reads
        // without repacking them on every ask.
        let mut dots = vec![0.0; n_c * n_slots];
        if n_num > 0 && n_slots > 0 {
            matmul(
                MatMut::from_column_major_slice_mut(&mut dots, n_c, n_slots),
                Accum::Replace,
                MatRef::from_column_major_slice(&feats, 2 * n_num, n_c).transpose(),
                MatRef::from_column_major_slice(&self.coef, 2 * n_num, n_slots),
                1.0,
                Par::Seq,
            );
        }

        // The prior kernel: σ = 1 centred, uniform over categorical choices
        // (its truncation mass is the same in every numerical dimension).
        let phi = PhiTable::get();
        let prior_log_sm = n_num as f64 * (phi.cdf(0.5) - phi.cdf(-0.5)).ln();
        let prior_const =
            pw.ln() - ln_total - prior_log_sm - norm - self.cat_k.iter().map(|&k| (k as f64).ln()).sum::<f64>();
        let n_cat = cat_terms.len();
        let mut terms = vec![0.0; n_slots + 1];
        (0..n_c)
            .map(|c| {
                for (s, t) in terms[..n_slots].iter_mut().enumerate() {
                    *t = log_c[s] + dots[s * n_c + c];
                }
                for (j, (&v, &(on, off))) in cand_cat[c].iter().zip(&cat_terms).enumerate() {
                    for s in 0..n_slots {
                        terms[s] += if self.cat[s * n_cat + j] == v { on } else { off };
                    }
                }
                terms[n_slots] = prior_const - 0.5 * prior_sq[c];
                let slices = &cand_slices[c];
                if !slices.is_empty() {
                    for &(lo, hi, _) in slices {
                        terms[n_slots] += phi.log_mass(lo - 0.5, hi - 0.5);
                    }
                    // Slice masses (ln <= 0) can only lower a member's term,
                    // so a member already NEGLIGIBLE below the best complete
                    // term (the prior's, or a member's) is dropped without
                    // them: most members are far from a candidate in some
                    // dimension, and a slice mass costs more than a product.
                    let mut floor = terms[n_slots] - NEGLIGIBLE;
                    for (j, &s) in active.iter().enumerate() {
                        let mut t = terms[s];
                        for (g, &(lo, hi, cell)) in grid_kernels.iter().zip(slices) {
                            if t < floor {
                                t = f64::NEG_INFINITY;
                                break;
                            }
                            t += g.log_mass(j, lo, hi, cell, phi);
                        }
                        terms[s] = t;
                        floor = floor.max(t - NEGLIGIBLE);
                    }
                }
                logsumexp_fast(&terms)
            })
            .collect()
    }

    /// The members this estimator represents, by trial number, and their
    /// coordinates per dimension (for the exact mixture, with the constant
    /// liar's extra kernels).
    pub fn members(&self) -> (Vec<usize>, Vec<Vec<f64>>) {
        let mut slots: Vec<usize> = (0..self.rows.len()).filter(|&s| self.active[s]).collect();
        slots.sort_unstable_by_key(|&s| self.rows[s]);
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
        (slots.iter().map(|&s| self.rows[s]).collect(), cols)
    }
}

#[cfg(test)]
mod tests {
    use super::super::parzen::Parzen;
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn an_estimator_without_members_is_the_prior() {
        // All of a group's trials can be "below" (a conditional branch
        // only the best trials took), before or after any was above;
        // g(x) is then the prior alone.
        let o = ParzenOptions { prior_weight: 1.0, magic_clip: true, consider_endpoints: false, multivariate: true };
        let kinds = [DimKind::Numerical, DimKind::Numerical];
        let grids = [None, UnitAxis::new(&crate::distribution::Distribution::int(0, 7))];
        let exact = |xs: &[Vec<f64>]| Parzen::with_grids(&kinds, vec![vec![], vec![]], &grids, &[], o).log_pdf(xs);
        let xs = vec![vec![0.2, 0.0625], vec![0.9, 0.9375]];
        let mut never = JointAbove::new(&kinds, &grids, o);
        for (a, b) in never.log_pdf(&xs).iter().zip(&exact(&xs)) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        let mut g = JointAbove::new(&kinds, &grids, o);
        g.insert(0, &[0.3, 0.0625]);
        g.remove(0);
        let xs = vec![vec![0.2, 0.0625], vec![0.9, 0.9375]];
        for (a, b) in g.log_pdf(&xs).iter().zip(&exact(&xs)) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }

    #[test]
    fn joint_estimator_matches_the_exact_mixture() {
        let o = ParzenOptions { prior_weight: 1.0, magic_clip: true, consider_endpoints: false, multivariate: true };
        let kinds = [DimKind::Numerical, DimKind::Categorical(3), DimKind::Numerical, DimKind::Numerical];
        // The third dimension is a grid of 8 values (slices of 1/8).
        let point = |rng: &mut ChaCha8Rng| -> Vec<f64> {
            kinds
                .iter()
                .enumerate()
                .map(|(d, k)| match k {
                    DimKind::Numerical if d == 2 => (rng.random_range(0..8) as f64 + 0.5) / 8.0,
                    DimKind::Numerical => rng.random::<f64>(),
                    DimKind::Categorical(n) => rng.random_range(0..*n) as f64,
                })
                .collect()
        };
        let grids = [None, None, UnitAxis::new(&crate::distribution::Distribution::int(0, 7)), None];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut g = JointAbove::new(&kinds, &grids, o);
        let mut members = vec![];
        for row in 0..400usize {
            let x = point(&mut rng);
            g.insert(row, &x);
            members.push(row);
            if rng.random_bool(0.1) {
                let i = rng.random_range(0..members.len());
                g.remove(members.swap_remove(i));
            }
            if row % 13 == 7 || row < 5 {
                let xs: Vec<Vec<f64>> = (0..30).map(|_| point(&mut rng)).collect();
                let fast = g.log_pdf(&xs);
                let (numbers, cols) = g.members();
                let exact = Parzen::with_grids(&kinds, cols, &grids, &weights_by_number(&numbers), o).log_pdf(&xs);
                for (a, b) in fast.iter().zip(&exact) {
                    assert!((a - b).abs() < 1e-7 * (1.0 + b.abs()), "row {row}: {a} vs {b}");
                }
            }
        }
    }
}
