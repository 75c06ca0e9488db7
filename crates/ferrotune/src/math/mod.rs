//! Normal-distribution functions the samplers need, accurate far into the
//! tails (truncated normals in TPE, log-EI in GP-BO). `erfc` comes from the
//! `libm` crate (a port of musl's, accurate to about 1 ulp). The fast kernels
//! built on them are in `fast.rs`. Also the order statistics the pruners and
//! samplers share: percentiles and average ranks.

mod fast;
pub use fast::{exp_nonpos, exp_nonpos_coarse, logsumexp_fast, PhiTable, NEGLIGIBLE};

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// ln(sqrt(2π)).
pub const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Standard normal density.
pub fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x - LN_SQRT_2PI).exp()
}

/// Standard normal CDF Φ(x), accurate in both tails.
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x * FRAC_1_SQRT_2)
}

/// ln Φ(x), finite down to very negative x (asymptotic series below -20).
pub fn log_norm_cdf(x: f64) -> f64 {
    if x > -20.0 {
        return norm_cdf(x).ln();
    }
    // Φ(x) ≈ φ(x)/|x| · (1 - 1/x² + 3/x⁴ - 15/x⁶ + 105/x⁸) for x → -∞.
    let x2 = x * x;
    let series = 1.0 - 1.0 / x2 + 3.0 / (x2 * x2) - 15.0 / (x2 * x2 * x2) + 105.0 / (x2 * x2 * x2 * x2);
    -0.5 * x2 - LN_SQRT_2PI - (-x).ln() + series.ln()
}

/// Inverse of Φ (Acklam's rational approximation, then one Newton step on
/// erfc, giving close to full double precision over (0, 1)).
pub fn norm_ppf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.383577518672690e2, -3.066479806614716e1, 2.506628277459239];
    const B: [f64; 5] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let plow = 0.02425;
    let x = if p < plow {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - plow {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // Newton (Halley) refinement on e = Φ(x) - p.
    let e = norm_cdf(x) - p;
    let u = e * (2.0 * PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// A draw from N(mu, sigma²) truncated to [lo, hi], by inverting the CDF
/// (on the upper tail's complement when the interval lies right of `mu`, so
/// intervals deep in either tail keep their precision).
pub fn sample_truncnorm(mu: f64, sigma: f64, lo: f64, hi: f64, u: f64) -> f64 {
    let (a, b) = ((lo - mu) / sigma, (hi - mu) / sigma);
    let z = if a > 0.0 {
        let (ca, cb) = (norm_cdf(-a), norm_cdf(-b));
        -norm_ppf(cb + u * (ca - cb))
    } else {
        let (pa, pb) = (norm_cdf(a), norm_cdf(b));
        norm_ppf(pa + u * (pb - pa))
    };
    (mu + sigma * z).clamp(lo, hi)
}

/// The `q`-th percentile (0-100) of `v`, linearly interpolated (numpy's
/// default); sorts `v`.
pub fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let pos = q / 100.0 * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// The rank of each value, from 1; tied values share the mean of their
/// ranks (so twice a rank is always a whole number).
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j + 2) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// Roulette-wheel selection: the index whose slice of the cumulative
/// weights holds `u` (drawn uniformly in [0, Σw)), or `None` when rounding
/// or non-finite weights leave `u` past the end.
pub fn roulette(w: &[f64], mut u: f64) -> Option<usize> {
    for (i, wi) in w.iter().enumerate() {
        if u < *wi {
            return Some(i);
        }
        u -= wi;
    }
    None
}

#[cfg(test)]
/// ln Σ exp(x_i), stable.
pub fn logsumexp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_share_ties_and_percentiles_interpolate() {
        assert_eq!(average_ranks(&[3.0, 1.0, 2.0, 1.0]), [4.0, 1.5, 3.0, 1.5]);
        assert_eq!(percentile(&mut [4.0, 1.0, 3.0, 2.0], 50.0), 2.5);
        assert_eq!(percentile(&mut [5.0, 1.0, 3.0], 50.0), 3.0);
    }

    #[test]
    fn cdf_ppf_round_trip_into_the_tails() {
        for &p in &[1e-300, 1e-100, 1e-12, 0.001, 0.3, 0.5, 0.77, 0.999, 1.0 - 1e-12] {
            let x = norm_ppf(p);
            let back = norm_cdf(x);
            assert!(((back - p) / p).abs() < 1e-9, "p={p} x={x} back={back}");
        }
        assert!((norm_ppf(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
    }

    #[test]
    fn log_cdf_is_continuous_and_finite() {
        let a = log_norm_cdf(-19.999);
        let b = log_norm_cdf(-20.001);
        assert!((a - b).abs() < 0.05, "{a} {b}");
        assert!(log_norm_cdf(-1e3).is_finite());
        assert!((log_norm_cdf(0.0) - 0.5f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn truncated_normals_stay_in_bounds_even_in_the_tails() {
        for k in 0..100 {
            let u = (k as f64 + 0.5) / 100.0;
            let x = sample_truncnorm(0.0, 1.0, 30.0, 31.0, u);
            assert!((30.0..=31.0).contains(&x));
            let x = sample_truncnorm(0.0, 1.0, -31.0, -30.0, u);
            assert!((-31.0..=-30.0).contains(&x));
            let x = sample_truncnorm(0.5, 0.1, 0.0, 1.0, u);
            assert!((0.0..=1.0).contains(&x));
        }
        // Median of a symmetric truncation is the centre.
        assert!(sample_truncnorm(0.5, 0.2, 0.0, 1.0, 0.5).abs() - 0.5 < 1e-12);
    }
}
