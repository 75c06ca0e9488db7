//! Output warping: the objective values are made closer to Gaussian before
//! the GP sees them, by a Yeo-Johnson power transform (Yeo & Johnson,
//! Biometrika 2000) whose exponent is fitted by maximum likelihood, as
//! HEBO does (Cowen-Rivers et al., "HEBO: Pushing the Limits of
//! Sample-Efficient Hyperparameter Optimisation", JAIR 2022; its ablation
//! finds output transforms among the largest single gains).
//!
//! Why: a GP with a stationary kernel assumes values of one scale
//! everywhere, but a tuning objective is often skewed — a few diverged or
//! badly configured trials far above a cluster of good ones (Rosenbrock's
//! range spans four orders of magnitude). Standardising alone lets those
//! few dominate the fitted variance, so the model is flat where the good
//! trials are. The transform is monotone, so the best trial stays the best
//! and expected improvement is taken in the warped scale.
//!
//! The values are standardised before the transform (the transform is not
//! shift- or scale-invariant; this makes the result so) and after it.

use super::standardise;

/// The range searched for the exponent; 1 is the identity.
const LAMBDA_RANGE: (f64, f64) = (-2.0, 4.0);

/// Yeo-Johnson transform of one value.
fn transform(z: f64, lambda: f64) -> f64 {
    if z >= 0.0 {
        if lambda.abs() < 1e-8 { z.ln_1p() } else { ((z + 1.0).powf(lambda) - 1.0) / lambda }
    } else if (lambda - 2.0).abs() < 1e-8 {
        -(-z).ln_1p()
    } else {
        -((1.0 - z).powf(2.0 - lambda) - 1.0) / (2.0 - lambda)
    }
}

/// The profile log-likelihood of `lambda` under a normal model of the
/// transformed values; `jacobian` is Σ sign(z)·ln(1 + |z|), the part of
/// the Jacobian term that does not depend on `lambda` (see `jacobian`).
fn log_likelihood(z: &[f64], jacobian: f64, lambda: f64) -> f64 {
    let n = z.len() as f64;
    let t: Vec<f64> = z.iter().map(|&v| transform(v, lambda)).collect();
    let mean = t.iter().sum::<f64>() / n;
    let var = t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    if !var.is_finite() || var <= 1e-300 {
        return f64::NEG_INFINITY;
    }
    -0.5 * n * var.ln() + (lambda - 1.0) * jacobian
}

/// Σ sign(z)·ln(1 + |z|): the Jacobian term's sum, the same for every `lambda`.
fn jacobian(z: &[f64]) -> f64 {
    z.iter().map(|&v| v.signum() * v.abs().ln_1p()).sum()
}

/// The maximum-likelihood exponent: a grid, then golden-section search
/// around its best point (the likelihood is smooth in `lambda`). Each
/// distinct `lambda` is evaluated once: the grid's values are kept for the
/// comparisons, and the search reuses the interior point it keeps from one
/// step to the next (its two points are recomputed from the bracket each
/// step, so a kept point is looked up by its exact value).
fn fit_lambda(z: &[f64]) -> f64 {
    let (lo, hi) = LAMBDA_RANGE;
    let jac = jacobian(z);
    let steps = 60;
    let at = |i: usize| lo + (hi - lo) * i as f64 / steps as f64;
    let grid: Vec<f64> = (0..=steps).map(|i| log_likelihood(z, jac, at(i))).collect();
    let best = (0..=steps).max_by(|&a, &b| grid[a].total_cmp(&grid[b])).unwrap_or(0);
    let (mut a, mut b) = (at(best.saturating_sub(1)), at((best + 1).min(steps)));
    let r = (5f64.sqrt() - 1.0) / 2.0;
    let mut known: [(f64, f64); 2] = [(f64::NAN, 0.0); 2];
    for _ in 0..40 {
        let (c, d) = (b - r * (b - a), a + r * (b - a));
        let eval = |l: f64| known.iter().find(|k| k.0.to_bits() == l.to_bits()).map_or_else(|| log_likelihood(z, jac, l), |k| k.1);
        let (fc, fd) = (eval(c), eval(d));
        known = [(c, fc), (d, fd)];
        if fc >= fd {
            b = d;
        } else {
            a = c;
        }
    }
    0.5 * (a + b)
}

/// The values standardised, Yeo-Johnson-transformed with the fitted
/// exponent, and standardised again. Constant values come back as zeros.
pub(super) fn warp(values: &[f64]) -> Vec<f64> {
    let (z, _, _) = standardise(values);
    if z.iter().all(|v| *v == 0.0) {
        return z;
    }
    let lambda = fit_lambda(&z);
    let (w, _, _) = standardise(&z.iter().map(|&v| transform(v, lambda)).collect::<Vec<_>>());
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skewed_sample_is_made_symmetric_and_order_is_kept() {
        // Log-normal-like: most values small, a few very large.
        let v: Vec<f64> = (0..40).map(|i| (i as f64 * 0.15).exp()).collect();
        let w = warp(&v);
        // Monotone: the ranking (and so the best trial) is unchanged.
        assert!(w.windows(2).all(|p| p[0] < p[1]));
        let skew = |x: &[f64]| {
            let n = x.len() as f64;
            let m = x.iter().sum::<f64>() / n;
            let s = (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n).sqrt();
            x.iter().map(|v| ((v - m) / s).powi(3)).sum::<f64>() / n
        };
        // Skewness 1.75 before; well under a third of it after.
        assert!(skew(&v) > 1.5, "the sample is skewed: {}", skew(&v));
        assert!(skew(&w).abs() < 0.6, "warped skew {}", skew(&w));
        // Standardised.
        let mean = w.iter().sum::<f64>() / w.len() as f64;
        assert!(mean.abs() < 1e-9);
    }

    #[test]
    fn a_normal_sample_is_left_nearly_alone() {
        // Evenly spread normal quantiles: the fitted exponent is near 1.
        let z: Vec<f64> = (1..=50).map(|i| crate::math::norm_ppf(i as f64 / 51.0)).collect();
        let lambda = fit_lambda(&standardise(&z).0);
        assert!((lambda - 1.0).abs() < 0.15, "lambda {lambda}");
    }

    #[test]
    fn constant_values_do_not_break_it() {
        assert_eq!(warp(&[3.0, 3.0, 3.0]), vec![0.0, 0.0, 0.0]);
        let w = warp(&[1.0, 2.0]);
        assert!(w.iter().all(|v| v.is_finite()));
    }
}
