//! Acquisition functions, all to be maximised, for a minimised standardised
//! target with incumbent `best`:
//!
//! * **log EI**: ln E[max(best − f, 0)] = ln σ + ln h(z), z = (best − μ)/σ,
//!   h(z) = φ(z) + zΦ(z), computed without underflow far into the tail
//!   (Ament et al., "Unexpected Improvements to Expected Improvement for
//!   Bayesian Optimization", NeurIPS 2023);
//! * **log PI**: ln Φ(z) (Kushner 1964);
//! * **LCB**: −(μ − βσ) (Srinivas et al. 2010's GP-UCB for minimisation).
//!
//! Each returns its value and its gradient given the gradients of μ and σ.

use crate::math::{log_norm_cdf, norm_cdf, norm_pdf, LN_SQRT_2PI};

/// Which acquisition function.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acquisition {
    /// Expected improvement (in log form).
    Ei,
    /// Probability of improvement.
    Pi,
    /// Lower confidence bound.
    Lcb,
}

/// e^{x²} erfc(x) for x >= 0, without overflow.
fn erfcx(x: f64) -> f64 {
    if x < 25.0 {
        (x * x).exp() * libm::erfc(x)
    } else {
        let x2 = x * x;
        (1.0 - 1.0 / (2.0 * x2) + 3.0 / (4.0 * x2 * x2) - 15.0 / (8.0 * x2 * x2 * x2)) / (x * std::f64::consts::PI.sqrt())
    }
}

/// ln h(z) and d ln h / dz = Φ(z) / h(z).
pub fn log_h(z: f64) -> (f64, f64) {
    if z > -1.0 {
        let h = norm_pdf(z) + z * norm_cdf(z);
        (h.ln(), norm_cdf(z) / h)
    } else if z > -1e8 {
        // Mills ratio Φ(z)/φ(z) = √(π/2) · erfcx(−z/√2).
        let m = (std::f64::consts::PI / 2.0).sqrt() * erfcx(-z * std::f64::consts::FRAC_1_SQRT_2);
        let one_plus = 1.0 + z * m;
        (-0.5 * z * z - LN_SQRT_2PI + one_plus.ln(), m / one_plus)
    } else {
        (-0.5 * z * z - LN_SQRT_2PI - 2.0 * (-z).ln(), -z)
    }
}

/// Value and gradient (from μ, σ and their gradients).
pub fn evaluate(
    acq: Acquisition,
    best: f64,
    beta: f64,
    mean: f64,
    std: f64,
    d_mean: &[f64],
    d_std: &[f64],
) -> (f64, Vec<f64>) {
    let z = (best - mean) / std;
    // dz/dx = (−dμ − z dσ) / σ
    let dz = |t: usize| (-d_mean[t] - z * d_std[t]) / std;
    match acq {
        Acquisition::Ei => {
            let (lh, dlh) = log_h(z);
            let g = (0..d_mean.len()).map(|t| d_std[t] / std + dlh * dz(t)).collect();
            (std.ln() + lh, g)
        }
        Acquisition::Pi => {
            let lp = log_norm_cdf(z);
            let ratio = (-0.5 * z * z - LN_SQRT_2PI - lp).exp(); // φ(z)/Φ(z)
            let g = (0..d_mean.len()).map(|t| ratio * dz(t)).collect();
            (lp, g)
        }
        Acquisition::Lcb => {
            let g = (0..d_mean.len()).map(|t| -d_mean[t] + beta * d_std[t]).collect();
            (-(mean - beta * std), g)
        }
    }
}

/// Value only (for screening many candidates).
pub fn value(acq: Acquisition, best: f64, beta: f64, mean: f64, std: f64) -> f64 {
    evaluate(acq, best, beta, mean, std, &[], &[]).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ei_is_accurate_and_smooth_into_the_tail() {
        // Direct formula where it is safe.
        for z in [-0.5, 0.0, 1.0, 3.0] {
            let direct = (norm_pdf(z) + z * norm_cdf(z)).ln();
            assert!((log_h(z).0 - direct).abs() < 1e-12, "z={z}");
        }
        // Continuity across the branch points and finiteness far out.
        for (a, b) in [(-1.0 + 1e-9, -1.0 - 1e-9), (-1e8 + 1.0, -1e8 - 1.0)] {
            let (x, y) = (log_h(a).0, log_h(b).0);
            assert!(((x - y) / x).abs() < 1e-6, "{a}: {x} vs {y}");
        }
        assert!(log_h(-40.0).0.is_finite() && log_h(-40.0).0 < -800.0);
        // Derivative against finite differences.
        for z in [-30.0, -5.0, -0.7, 0.4] {
            let fd = (log_h(z + 1e-6).0 - log_h(z - 1e-6).0) / 2e-6;
            assert!((fd - log_h(z).1).abs() < 1e-4 * fd.abs().max(1.0), "z={z}: {fd} vs {}", log_h(z).1);
        }
    }
}
