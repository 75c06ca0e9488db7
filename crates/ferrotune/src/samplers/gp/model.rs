//! A Gaussian-process regression model (Rasmussen & Williams, "Gaussian
//! Processes for Machine Learning", 2006, ch. 2 and 5) for GP-BO:
//!
//! * Matérn-5/2 kernel with automatic relevance determination (one length
//!   scale per dimension); categorical dimensions enter the distance as
//!   "equal or not" (a Hamming term), as in Optuna's GPSampler;
//! * a learned noise variance for noisy objectives;
//! * hyperparameters by maximum a posteriori: log marginal likelihood plus
//!   Optuna's default log-priors, maximised with L-BFGS on an analytic
//!   gradient (eq. 5.9 of Rasmussen & Williams);
//! * predictions with gradients with respect to the input, for refining the
//!   acquisition function.
//!
//! Linear algebra (Cholesky, inverse, triangular solves) is faer's.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::matmul;
use faer::linalg::solvers::Solve;
use faer::{Accum, Mat, MatMut, MatRef, Par, Side};
use serde::{Deserialize, Serialize};

use multiversion::multiversion;

use super::lbfgs;
use crate::math::exp_nonpos;

const SQRT5: f64 = 2.236_067_977_499_79;
const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// Kernel hyperparameters, in log space (what the optimiser sees).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    /// ln of inverse squared length scales, one per dimension.
    pub log_inv_sq_ls: Vec<f64>,
    /// ln of the signal variance.
    pub log_scale: f64,
    /// ln of the noise variance.
    pub log_noise: f64,
}

impl Hyper {
    /// Optuna's starting point: every parameter 1 (unit length scales,
    /// signal and noise variance); the fit moves the noise down from there.
    pub fn default_for(d: usize) -> Hyper {
        Hyper { log_inv_sq_ls: vec![0.0; d], log_scale: 0.0, log_noise: 0.0 }
    }
    fn to_vec(&self) -> Vec<f64> {
        let mut v = self.log_inv_sq_ls.clone();
        v.push(self.log_scale);
        v.push(self.log_noise);
        v
    }
    fn from_vec(v: &[f64]) -> Hyper {
        let d = v.len() - 2;
        Hyper { log_inv_sq_ls: v[..d].to_vec(), log_scale: v[d], log_noise: v[d + 1] }
    }
}

/// Matérn-5/2 as a function of r², and its derivative with respect to r².
#[inline]
fn matern52(r2: f64) -> (f64, f64) {
    let r = r2.max(0.0).sqrt();
    let e = exp_nonpos(-SQRT5 * r);
    ((1.0 + SQRT5 * r + 5.0 / 3.0 * r2) * e, -5.0 / 6.0 * (1.0 + SQRT5 * r) * e)
}

/// Per-dimension squared differences (categorical: 0 or 1).
#[inline]
fn sq_diff(a: f64, b: f64, cat: bool) -> f64 {
    if cat {
        ((a != b) as u8) as f64
    } else {
        (a - b) * (a - b)
    }
}

/// k_i = scale · M(r²_i) for every training row, and dk_i = scale · M'(r²_i)
/// when asked (the gradient's need), M the Matérn-5/2 as a function of r²:
/// one branch-free pass that vectorises (a square root and an exp per row).
#[multiversion(targets("x86_64+avx2+fma"))]
fn matern_rows(r2: &[f64], scale: f64, k: &mut [f64], dk: Option<&mut [f64]>) {
    match dk {
        Some(dk) => {
            for ((&r2, k), dk) in r2.iter().zip(k.iter_mut()).zip(dk.iter_mut()) {
                let (m, dm) = matern52(r2);
                *k = scale * m;
                *dk = scale * dm;
            }
        }
        None => {
            for (&r2, k) in r2.iter().zip(k.iter_mut()) {
                *k = scale * matern52(r2).0;
            }
        }
    }
}

/// Optuna's default log-prior on the hyperparameters and its gradient with
/// respect to the log parameters: a soft penalty on extreme length scales,
/// Gamma(2, 1) on the signal variance, Gamma(1.1, 30) on the noise.
fn log_prior(h: &Hyper, grad: &mut [f64]) -> f64 {
    let d = h.log_inv_sq_ls.len();
    let mut lp = 0.0;
    for (k, l) in h.log_inv_sq_ls.iter().enumerate() {
        let lam = l.exp();
        lp -= 0.1 / lam + 0.1 * lam;
        grad[k] = 0.1 / lam - 0.1 * lam;
    }
    let s = h.log_scale.exp();
    lp += s.ln() - s;
    grad[d] = 1.0 - s;
    let nv = h.log_noise.exp();
    lp += 0.1 * nv.ln() - 30.0 * nv;
    grad[d + 1] = 0.1 - 30.0 * nv;
    lp
}

/// A fitted model: training inputs (rows of length `d`), standardised
/// targets, hyperparameters, and the Cholesky factor of the kernel matrix.
pub struct Gp {
    pub d: usize,
    pub is_cat: Vec<bool>,
    x: Vec<f64>,
    /// `x` dimension by dimension (d rows of n), for distance loops.
    xt: Vec<f64>,
    n: usize,
    inv_sq_ls: Vec<f64>,
    scale: f64,
    llt: faer::linalg::solvers::Llt<f64>,
    l: Mat<f64>,
    alpha: Vec<f64>,
}

/// A prediction and its gradient with respect to the continuous inputs.
pub struct Prediction {
    pub mean: f64,
    pub std: f64,
    pub d_mean: Vec<f64>,
    pub d_std: Vec<f64>,
}

/// The kernel matrix of the rows of `x` (`xt`: the same, dimension by
/// dimension), with `noise` on the diagonal: row by row, each row's
/// distances to the rows before it in one vectorised pass.
#[allow(clippy::too_many_arguments)]
fn kernel_matrix(x: &[f64], xt: &[f64], n: usize, d: usize, is_cat: &[bool], inv_sq_ls: &[f64], scale: f64, noise: f64) -> Mat<f64> {
    let mut k = Mat::<f64>::zeros(n, n);
    let (mut r2, mut row) = (vec![0.0; n], vec![0.0; n]);
    for i in 0..n {
        k[(i, i)] = scale + noise;
        sq_dists(xt, n, &x[i * d..(i + 1) * d], inv_sq_ls, is_cat, &mut r2[..i]);
        matern_rows(&r2[..i], scale, &mut row[..i], None);
        for (j, &v) in row[..i].iter().enumerate() {
            k[(i, j)] = v;
            k[(j, i)] = v;
        }
    }
    k
}

/// out[j] = Σ_t λ_t · d_t(x_jt, p_t) for the first `out.len()` training
/// rows, d the squared difference on numerical dimensions and 0/1 (equal
/// or not) on the categorical ones, from the inputs stored dimension by
/// dimension (`xt`, n values per dimension): the inner loop runs across
/// rows, branch-free, so it vectorises with no reduction. Each row sums
/// λ times the squared difference over t in order: the fit's terms, though
/// the fit adds them by a matrix product, so the two agree to rounding
/// (the last bits of about a quarter of the pairs differ), not exactly.
#[multiversion(targets("x86_64+avx2+fma"))]
fn sq_dists(xt: &[f64], n: usize, p: &[f64], inv_sq_ls: &[f64], is_cat: &[bool], out: &mut [f64]) {
    let m = out.len();
    out.iter_mut().for_each(|o| *o = 0.0);
    for (t, ((col, &pt), &lam)) in xt.chunks_exact(n).zip(p).zip(inv_sq_ls).enumerate() {
        if is_cat[t] {
            for (o, &x) in out.iter_mut().zip(&col[..m]) {
                *o += lam * if x == pt { 0.0 } else { 1.0 };
            }
        } else {
            for (o, &x) in out.iter_mut().zip(&col[..m]) {
                let diff = x - pt;
                *o += lam * (diff * diff);
            }
        }
    }
}

/// Squared per-dimension differences of every pair i > j: they do not
/// depend on the hyperparameters, so a fit computes them once. Pairs are
/// ordered as the kernel matrix's lower triangle is stored (column j, then
/// rows i > j), and laid out dimension-major (one row of all pairs per
/// dimension), so both products with them run along long contiguous rows.
struct Pairs {
    n: usize,
    d: usize,
    diffs: Vec<f64>,
}

impl Pairs {
    fn new(x: &[f64], n: usize, d: usize, is_cat: &[bool]) -> Pairs {
        let mut diffs = Vec::with_capacity(n * (n - 1) / 2 * d);
        for t in 0..d {
            for j in 0..n {
                for i in j + 1..n {
                    diffs.push(sq_diff(x[i * d + t], x[j * d + t], is_cat[t]));
                }
            }
        }
        Pairs { n, d, diffs }
    }
}

/// The buffers of one fit, reused by every evaluation of the log posterior
/// (a fit makes a few dozen): the allocations and page faults of fresh
/// matrices were a tenth of an evaluation's time at 128 rows.
struct Workspace {
    r2: Mat<f64>,
    kv: Vec<f64>,
    dkv: Vec<f64>,
    /// The kernel matrix, factored in place into its Cholesky factor.
    l: Mat<f64>,
    alpha: Mat<f64>,
    /// K⁻¹, lower triangle.
    kinv: Mat<f64>,
    c: Mat<f64>,
    gd: Mat<f64>,
    mem: MemBuffer,
}

impl Workspace {
    fn new(n: usize, d: usize) -> Workspace {
        let n_pairs = n * (n - 1) / 2;
        let req = StackReq::any_of(&[
            llt::factor::cholesky_in_place_scratch::<f64>(n, Par::Seq, Default::default()),
            llt::solve::solve_in_place_scratch::<f64>(n, 1, Par::Seq),
            llt::inverse::inverse_scratch::<f64>(n, Par::Seq),
        ]);
        Workspace {
            r2: Mat::zeros(n_pairs, 1),
            kv: vec![0.0; n_pairs],
            dkv: vec![0.0; n_pairs],
            l: Mat::zeros(n, n),
            alpha: Mat::zeros(n, 1),
            kinv: Mat::zeros(n, n),
            c: Mat::zeros(n_pairs, 1),
            gd: Mat::zeros(d, 1),
            mem: MemBuffer::new(req),
        }
    }
}

/// Negative log posterior (−(log marginal likelihood + log prior)) and its
/// gradient, for hyperparameters `theta` on targets `y`. The steps are
/// faer's `Llt` (factor, solve, inverse) called on `ws`'s buffers.
fn neg_log_posterior(theta: &[f64], pairs: &Pairs, y: &[f64], min_noise: f64, ws: &mut Workspace, grad: &mut [f64]) -> f64 {
    let (n, d) = (pairs.n, pairs.d);
    let h = Hyper::from_vec(theta);
    let inv_sq_ls: Vec<f64> = h.log_inv_sq_ls.iter().map(|v| v.exp()).collect();
    let scale = h.log_scale.exp();
    let noise = h.log_noise.exp() + min_noise;
    // Kernel values and dk/dr² per pair, computed once for both uses. The
    // scaled squared distances of all pairs are one matrix-vector product
    // (pairs × dimensions times the inverse squared length scales).
    let n_pairs = n * (n - 1) / 2;
    let diffs = MatRef::from_row_major_slice(&pairs.diffs, d, n_pairs);
    matmul(ws.r2.as_mut(), Accum::Replace, diffs.transpose(), MatRef::from_column_major_slice(&inv_sq_ls, d, 1), 1.0, Par::Seq);
    // M and dM/dr² of every pair in one vectorised pass (scale 1: the
    // gradient below needs them unscaled).
    let (kv, dkv) = (&mut ws.kv, &mut ws.dkv);
    matern_rows(ws.r2.col_as_slice(0), 1.0, kv, Some(dkv));
    // K's lower triangle, column by column as the pairs are ordered; the
    // upper one zero, as faer's `Llt::new` hands the factorisation.
    let mut p = 0;
    for j in 0..n {
        let col = ws.l.col_as_slice_mut(j);
        col[..j].iter_mut().for_each(|v| *v = 0.0);
        col[j] = scale + noise;
        for (v, m) in col[j + 1..].iter_mut().zip(&kv[p..p + n - 1 - j]) {
            *v = scale * m;
        }
        p += n - 1 - j;
    }
    let stack = MemStack::new(&mut ws.mem);
    if llt::factor::cholesky_in_place(ws.l.as_mut(), Default::default(), Par::Seq, stack, Default::default()).is_err() {
        grad.iter_mut().for_each(|g| *g = 0.0);
        return f64::INFINITY;
    }
    for j in 1..n {
        ws.l.col_as_slice_mut(j)[..j].iter_mut().for_each(|v| *v = 0.0);
    }
    let l = ws.l.as_ref();
    let alpha = ws.alpha.col_as_slice_mut(0);
    alpha.copy_from_slice(y);
    llt::solve::solve_in_place(l, MatMut::from_column_major_slice_mut(alpha, n, 1), Par::Seq, stack);
    let alpha = ws.alpha.col_as_slice(0);
    let logdet: f64 = (0..n).map(|i| l[(i, i)].ln()).sum();
    let fit: f64 = y.iter().zip(alpha).map(|(a, b)| a * b).sum();
    let lml = -0.5 * fit - logdet - 0.5 * n as f64 * LN_2PI;
    // W = α αᵀ − K⁻¹; dLML/dθ = ½ tr(W ∂K/∂θ) (off-diagonal pairs count twice).
    llt::inverse::inverse(ws.kinv.as_mut(), l, Par::Seq, stack);
    let mut g_prior = vec![0.0; theta.len()];
    let lp = log_prior(&h, &mut g_prior);
    let mut g = vec![0.0; theta.len()];
    // Per pair, the weight of its scaled squared differences in the length
    // scales' gradient; summed over pairs by one product with the pairs.
    let c = ws.c.col_as_slice_mut(0);
    let mut p = 0;
    for j in 0..n {
        let kinv = ws.kinv.col_as_slice(j);
        let wjj = alpha[j] * alpha[j] - kinv[j];
        g[d] += 0.5 * wjj * scale;
        g[d + 1] += 0.5 * wjj * (noise - min_noise);
        let (mut gs, aj) = (0.0, alpha[j]);
        for i in j + 1..n {
            let w = alpha[i] * aj - kinv[i];
            gs += w * kv[p];
            c[p] = w * scale * dkv[p];
            p += 1;
        }
        g[d] += gs * scale;
    }
    matmul(ws.gd.as_mut(), Accum::Replace, diffs, ws.c.as_ref(), 1.0, Par::Seq);
    for t in 0..d {
        g[t] += inv_sq_ls[t] * ws.gd[(t, 0)];
    }
    for k in 0..theta.len() {
        grad[k] = -(g[k] + g_prior[k]);
    }
    -(lml + lp)
}

/// Bounds of the log hyperparameters: length scales 0.01..~30 in unit
/// coordinates, signal variance 0.01..100 (targets are standardised), noise
/// up to the whole variance.
fn bounds(d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut lo = vec![(1e-3f64).ln(); d];
    let mut hi = vec![(1e4f64).ln(); d];
    lo.extend([(1e-2f64).ln(), (1e-10f64).ln()]);
    hi.extend([(1e2f64).ln(), 0.0]);
    (lo, hi)
}

/// Iteration cap of a fit: a bound on an ask's time, rarely reached (the
/// tolerance stops a warm-started fit within a few dozen iterations).
const MAX_FIT_ITERS: usize = 500;

/// Fits hyperparameters by MAP with L-BFGS from `start` (the last fit's,
/// as Optuna's GPSampler does) until every component of the projected
/// gradient is below 1e-2 (Optuna's `gtol`); from the default start when
/// there is none or it fails. Stopping there rather than at a tight
/// tolerance is deliberate: measured on the quality benchmark it beat both
/// a short fixed budget and a fit to convergence.
pub fn fit(x: &[f64], y: &[f64], d: usize, is_cat: &[bool], start: Option<&Hyper>, min_noise: f64) -> Hyper {
    let (lo, hi) = bounds(d);
    let pairs = Pairs::new(x, y.len(), d, is_cat);
    let mut ws = Workspace::new(y.len(), d);
    let default = Hyper::default_for(d);
    for s in start.filter(|s| s.log_inv_sq_ls.len() == d).into_iter().chain([&default]) {
        let (theta, f) = lbfgs::minimize(
            |th, g| neg_log_posterior(th, &pairs, y, min_noise, &mut ws, g),
            &s.to_vec(),
            &lo,
            &hi,
            MAX_FIT_ITERS,
            1e-2,
        );
        if f.is_finite() {
            return Hyper::from_vec(&theta);
        }
    }
    default
}

impl Gp {
    /// Conditions a GP with hyperparameters `hyper` on (x, y).
    pub fn new(x: Vec<f64>, y: &[f64], d: usize, is_cat: Vec<bool>, hyper: Hyper, min_noise: f64) -> Option<Gp> {
        let n = y.len();
        let inv_sq_ls: Vec<f64> = hyper.log_inv_sq_ls.iter().map(|v| v.exp()).collect();
        let scale = hyper.log_scale.exp();
        let noise = hyper.log_noise.exp() + min_noise;
        let xt: Vec<f64> = (0..d).flat_map(|t| (0..n).map(move |i| (i, t))).map(|(i, t)| x[i * d + t]).collect();
        let k = kernel_matrix(&x, &xt, n, d, &is_cat, &inv_sq_ls, scale, noise);
        let llt = k.llt(Side::Lower).ok()?;
        let ycol = Mat::<f64>::from_fn(n, 1, |i, _| y[i]);
        let a = llt.solve(&ycol);
        let alpha = (0..n).map(|i| a[(i, 0)]).collect();
        let l = llt.L().to_owned();
        Some(Gp { d, is_cat, x, xt, n, inv_sq_ls, scale, llt, l, alpha })
    }

    /// k* (the kernel between `p` and every training row) into `k`, and
    /// its derivative by r² into `dk` when given; `r2` is scratch.
    fn kstar_into(&self, p: &[f64], r2: &mut [f64], k: &mut [f64], dk: Option<&mut [f64]>) {
        sq_dists(&self.xt, self.n, p, &self.inv_sq_ls, &self.is_cat, r2);
        matern_rows(r2, self.scale, k, dk);
    }

    /// Means and standard deviations at many points (rows of `ps`), with one
    /// triangular solve for all of them.
    pub fn predict_many(&self, ps: &[Vec<f64>]) -> Vec<(f64, f64)> {
        let (n, m) = (self.n, ps.len());
        // k* of every point, one column each (column-major, so each is a
        // contiguous slice the kernel loop writes directly).
        debug_assert!(n > 0, "a GP is conditioned on at least one observation");
        let mut ks = vec![0.0; n * m];
        let mut r2 = vec![0.0; n];
        let means: Vec<f64> = ps
            .iter()
            .zip(ks.chunks_exact_mut(n))
            .map(|(p, k)| {
                self.kstar_into(p, &mut r2, k, None);
                k.iter().zip(&self.alpha).map(|(a, b)| a * b).sum()
            })
            .collect();
        let mut v = faer::MatMut::from_column_major_slice_mut(&mut ks, n, m);
        self.l.as_ref().solve_lower_triangular_in_place(v.as_mut());
        means
            .into_iter()
            .zip(ks.chunks_exact(n))
            .map(|(mu, col)| (mu, (self.scale - col.iter().map(|x| x * x).sum::<f64>()).max(1e-12).sqrt()))
            .collect()
    }

    /// Mean, standard deviation and their gradients at one point.
    pub fn predict(&self, p: &[f64]) -> Prediction {
        let (mut r2, mut k, mut dk) = (vec![0.0; self.n], vec![0.0; self.n], vec![0.0; self.n]);
        self.kstar_into(p, &mut r2, &mut k, Some(&mut dk));
        let mean: f64 = k.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        let w = self.llt.solve(MatRef::from_column_major_slice(&k, self.n, 1)); // K⁻¹ k*
        let var = (self.scale - (0..self.n).map(|i| k[i] * w[(i, 0)]).sum::<f64>()).max(1e-12);
        let std = var.sqrt();
        // ∂k*_i/∂p_t = dk_i · 2 λ_t (p_t − x_it), so the gradients are
        // 2 λ_t (p_t Σ_i c_i − (Xᵀc)_t) for c = α ⊙ dk (mean) and
        // c = −2 w ⊙ dk (variance): one product of Xᵀ with both columns.
        let mut c = Mat::<f64>::zeros(self.n, 2);
        for i in 0..self.n {
            c[(i, 0)] = self.alpha[i] * dk[i];
            c[(i, 1)] = -2.0 * w[(i, 0)] * dk[i];
        }
        let sums = [(0..self.n).map(|i| c[(i, 0)]).sum::<f64>(), (0..self.n).map(|i| c[(i, 1)]).sum::<f64>()];
        let mut xc = Mat::<f64>::zeros(self.d, 2);
        matmul(xc.as_mut(), Accum::Replace, MatRef::from_column_major_slice(&self.x, self.d, self.n), c.as_ref(), 1.0, Par::Seq);
        let mut d_mean = vec![0.0; self.d];
        let mut d_var = vec![0.0; self.d];
        for t in 0..self.d {
            if self.is_cat[t] {
                continue;
            }
            let two_lam = 2.0 * self.inv_sq_ls[t];
            d_mean[t] = two_lam * (p[t] * sums[0] - xc[(t, 0)]);
            d_var[t] = two_lam * (p[t] * sums[1] - xc[(t, 1)]);
        }
        let d_std = d_var.iter().map(|v| v / (2.0 * std)).collect();
        Prediction { mean, std, d_mean, d_std }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prediction_gradients_match_finite_differences() {
        let d = 4;
        let is_cat = vec![false, false, true, false];
        let x: Vec<f64> = (0..20)
            .flat_map(|i| [((i * 7) % 11) as f64 / 10.0, ((i * 3) % 5) as f64 / 4.0, (i % 3) as f64, ((i * 5) % 7) as f64 / 6.0])
            .collect();
        let y: Vec<f64> = (0..20).map(|i| ((i as f64) * 0.7).sin()).collect();
        let hyper = Hyper::from_vec(&[0.5, 1.0, 0.2, -0.3, 0.1, -4.0]);
        let gp = Gp::new(x, &y, d, is_cat, hyper, 1e-6).unwrap();
        let p = [0.33, 0.61, 1.0, 0.2];
        let pr = gp.predict(&p);
        for t in [0, 1, 3] {
            let (mut a, mut b) = (p, p);
            a[t] += 1e-6;
            b[t] -= 1e-6;
            let (pa, pb) = (gp.predict(&a), gp.predict(&b));
            let (fm, fs) = ((pa.mean - pb.mean) / 2e-6, (pa.std - pb.std) / 2e-6);
            assert!((fm - pr.d_mean[t]).abs() < 1e-5 * (1.0 + fm.abs()), "mean t{t}: {} vs {fm}", pr.d_mean[t]);
            assert!((fs - pr.d_std[t]).abs() < 1e-5 * (1.0 + fs.abs()), "std t{t}: {} vs {fs}", pr.d_std[t]);
        }
        assert_eq!((pr.d_mean[2], pr.d_std[2]), (0.0, 0.0));
    }

    #[test]
    fn log_posterior_gradient_matches_finite_differences() {
        let d = 3;
        let is_cat = vec![false, false, true];
        let x: Vec<f64> = (0..12).flat_map(|i| [((i * 7) % 11) as f64 / 10.0, ((i * 3) % 5) as f64 / 4.0, (i % 3) as f64]).collect();
        let y: Vec<f64> = (0..12).map(|i| ((i as f64) * 0.7).sin()).collect();
        let theta = vec![0.3, -0.2, 0.1, 0.2, -3.0];
        let mut g = vec![0.0; 5];
        let pairs = Pairs::new(&x, y.len(), d, &is_cat);
        // One workspace for every evaluation, as a fit uses it: nothing an
        // evaluation leaves in its buffers may change the next one.
        let mut ws = Workspace::new(y.len(), d);
        let f0 = neg_log_posterior(&theta, &pairs, &y, 1e-6, &mut ws, &mut g);
        for k in 0..5 {
            let mut tp = theta.clone();
            let mut tm = theta.clone();
            tp[k] += 1e-5;
            tm[k] -= 1e-5;
            let mut scratch = vec![0.0; 5];
            let fd = (neg_log_posterior(&tp, &pairs, &y, 1e-6, &mut ws, &mut scratch)
                - neg_log_posterior(&tm, &pairs, &y, 1e-6, &mut ws, &mut scratch))
                / 2e-5;
            assert!((fd - g[k]).abs() < 1e-4 * (1.0 + fd.abs()), "θ{k}: analytic {} vs numeric {fd}", g[k]);
        }
        let mut g_again = vec![0.0; 5];
        let f_fresh = neg_log_posterior(&theta, &pairs, &y, 1e-6, &mut Workspace::new(y.len(), d), &mut g_again);
        assert_eq!((f0.to_bits(), g), (f_fresh.to_bits(), g_again.clone()));
        assert_eq!(neg_log_posterior(&theta, &pairs, &y, 1e-6, &mut ws, &mut [0.0; 5]).to_bits(), f0.to_bits());
    }

    /// The fit stops where Optuna's does (projected gradient below 1e-2),
    /// from a warm start too, and a start that cannot be evaluated falls
    /// back to the default start instead of returning it unfitted.
    #[test]
    fn fit_reaches_the_gradient_tolerance_and_survives_a_bad_warm_start() {
        let d = 3;
        let is_cat = vec![false, false, true];
        let x: Vec<f64> = (0..25).flat_map(|i| [((i * 7) % 11) as f64 / 10.0, ((i * 3) % 5) as f64 / 4.0, (i % 3) as f64]).collect();
        let y: Vec<f64> = (0..25).map(|i| ((i as f64) * 0.7).sin() + 0.3 * (i % 3) as f64).collect();
        let (lo, hi) = bounds(d);
        let pairs = Pairs::new(&x, y.len(), d, &is_cat);
        let projected_grad = |h: &Hyper| {
            let th = h.to_vec();
            let mut g = vec![0.0; th.len()];
            neg_log_posterior(&th, &pairs, &y, 1e-6, &mut Workspace::new(y.len(), d), &mut g);
            (0..th.len())
                .map(|k| if (th[k] <= lo[k] && g[k] > 0.0) || (th[k] >= hi[k] && g[k] < 0.0) { 0.0 } else { g[k].abs() })
                .fold(0.0, f64::max)
        };
        let cold = fit(&x, &y, d, &is_cat, None, 1e-6);
        assert!(projected_grad(&cold) < 1e-2, "cold fit stopped early: {}", projected_grad(&cold));
        assert_ne!(cold, Hyper::default_for(d));
        let warm = fit(&x, &y, d, &is_cat, Some(&Hyper::from_vec(&[1.0, -1.0, 0.5, 0.3, -2.0])), 1e-6);
        assert!(projected_grad(&warm) < 1e-2, "warm fit stopped early: {}", projected_grad(&warm));
        let bad = Hyper::from_vec(&[f64::NAN, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(fit(&x, &y, d, &is_cat, Some(&bad), 1e-6), cold);
    }

    #[test]
    fn interpolates_and_prediction_gradients_are_right() {
        let d = 2;
        let xs: Vec<[f64; 2]> = (0..15).map(|i| [((i * 7) % 15) as f64 / 14.0, ((i * 4) % 15) as f64 / 14.0]).collect();
        let f = |p: &[f64]| (3.0 * p[0]).sin() + p[1] * p[1];
        let y: Vec<f64> = xs.iter().map(|p| f(p)).collect();
        let x: Vec<f64> = xs.iter().flatten().copied().collect();
        let h = fit(&x, &y, d, &[false, false], None, 1e-8);
        let gp = Gp::new(x, &y, d, vec![false, false], h, 1e-8).unwrap();
        let p = gp.predict(&xs[3]);
        assert!((p.mean - y[3]).abs() < 0.05, "{} vs {}", p.mean, y[3]);
        let q = [0.37, 0.61];
        let pq = gp.predict(&q);
        let many = gp.predict_many(&[q.to_vec()]);
        assert!((many[0].0 - pq.mean).abs() < 1e-9 && (many[0].1 - pq.std).abs() < 1e-9);
        for t in 0..2 {
            let mut a = q;
            let mut b = q;
            a[t] += 1e-6;
            b[t] -= 1e-6;
            let (pa, pb) = (gp.predict(&a), gp.predict(&b));
            let dm = (pa.mean - pb.mean) / 2e-6;
            let ds = (pa.std - pb.std) / 2e-6;
            assert!((dm - pq.d_mean[t]).abs() < 1e-4 * (1.0 + dm.abs()), "dmean {t}: {dm} vs {}", pq.d_mean[t]);
            assert!((ds - pq.d_std[t]).abs() < 1e-4 * (1.0 + ds.abs()), "dstd {t}: {ds} vs {}", pq.d_std[t]);
        }
    }
}

