//! Fast kernels for the samplers' hot loops: a branch-free e^x for x <= 0
//! that vectorises, a logsumexp over it, and a tabulated Φ. The plain,
//! accurate versions are in the parent module; the tests hold these to them.

use super::{norm_cdf, norm_pdf};
#[cfg(test)]
use super::logsumexp;

/// e^x for x <= 0, branch-free so loops over it vectorise: Cody–Waite range
/// reduction by ln 2, then a degree-12 Taylor polynomial on |r| <= ln2/2
/// (truncation error < 2e-16 relative). Inputs below -708 give ~0 (the
/// terms logsumexp drops anyway).
#[inline(always)]
pub fn exp_nonpos(x: f64) -> f64 {
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52: adding it rounds to an integer
    const LN2_HI: f64 = 6.931_471_803_691_238_2e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let x = x.clamp(-708.0, 0.0);
    let kf = x * std::f64::consts::LOG2_E + SHIFT;
    let k = kf - SHIFT;
    let ki = (kf.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let r = x - k * LN2_HI - k * LN2_LO;
    let mut p = 1.0 / 479_001_600.0;
    for c in [
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    p * f64::from_bits(((ki + 1023) as u64) << 52)
}

/// e^x for x <= 0 with a relative error below 1e-11 (degree-9 polynomial
/// after range reduction, fused multiply-adds): for mixture densities,
/// where that is far below what matters, at about half the cost of
/// [`exp_nonpos`].
#[inline(always)]
pub fn exp_nonpos_coarse(x: f64) -> f64 {
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52
    let x = x.clamp(-708.0, 0.0);
    let kf = x * std::f64::consts::LOG2_E + SHIFT;
    let k = kf - SHIFT;
    let ki = (kf.to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64);
    let r = k.mul_add(-std::f64::consts::LN_2, x);
    let mut p: f64 = 1.0 / 362_880.0;
    for c in [1.0 / 40_320.0, 1.0 / 5_040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = p.mul_add(r, c);
    }
    p * f64::from_bits(((ki + 1023) as u64) << 52)
}

/// ln Σ exp(x_i) using [`exp_nonpos`] (every x_i − max is <= 0), with
/// four partial sums so the loop vectorises (one running sum would force
/// strict left-to-right order), compiled for AVX2+FMA too and chosen at run
/// time.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
pub fn logsumexp_fast(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    let mut acc = [0.0f64; 4];
    let chunks = xs.chunks_exact(4);
    let rest: f64 = chunks.remainder().iter().map(|&x| exp_nonpos(x - m)).sum();
    for c in chunks {
        for k in 0..4 {
            acc[k] += exp_nonpos(c[k] - m);
        }
    }
    m + (acc[0] + acc[1] + acc[2] + acc[3] + rest).ln()
}

/// Φ on a grid of step 1/32 over [-9, 9] with φ as derivative, for cubic
/// Hermite interpolation: absolute error below 1e-8, and no transcendental
/// call per evaluation. Outside the grid Φ is 0 or 1 to double precision
/// relative to the masses it is used for.
pub struct PhiTable {
    cdf: [f64; PHI_N],
    pdf: [f64; PHI_N],
}

const PHI_N: usize = 18 * 32 + 1;

static PHI_TABLE: std::sync::LazyLock<Box<PhiTable>> = std::sync::LazyLock::new(|| {
    let z = |k: usize| -9.0 + k as f64 / 32.0;
    let mut t = Box::new(PhiTable { cdf: [0.0; PHI_N], pdf: [0.0; PHI_N] });
    for k in 0..PHI_N {
        t.cdf[k] = norm_cdf(z(k));
        t.pdf[k] = norm_pdf(z(k));
    }
    t
});

impl PhiTable {
    /// The shared table (built on first use).
    pub fn get() -> &'static PhiTable {
        &PHI_TABLE
    }

    /// Φ(z) by interpolation; branch- and bounds-check-free so loops over
    /// it vectorise.
    #[inline(always)]
    pub fn cdf(&self, z: f64) -> f64 {
        let u = ((z + 9.0) * 32.0).clamp(0.0, (PHI_N - 2) as f64 + 0.999_999);
        let k = (u as usize).min(PHI_N - 2);
        let t = u - k as f64;
        let h = 1.0 / 32.0;
        let (t2, t3) = (t * t, t * t * t);
        (2.0 * t3 - 3.0 * t2 + 1.0) * self.cdf[k]
            + (t3 - 2.0 * t2 + t) * h * self.pdf[k]
            + (-2.0 * t3 + 3.0 * t2) * self.cdf[k + 1]
            + (t3 - t2) * h * self.pdf[k + 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;


    #[test]
    fn coarse_exp_is_accurate_enough() {
        let mut worst: f64 = 0.0;
        for i in 0..100_000 {
            let x = -(i as f64) * 0.007;
            worst = worst.max((exp_nonpos_coarse(x) / x.exp() - 1.0).abs());
        }
        assert!(worst < 1e-11, "{worst}");
    }

    #[test]
    fn fast_exp_matches_std() {
        let mut worst: f64 = 0.0;
        for i in 0..200_000 {
            let x = -(i as f64) * 0.0035;
            let (a, b) = (exp_nonpos(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
        }
        assert!(worst < 4e-16, "{worst}");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert!(exp_nonpos(-1000.0) < 1e-300);
        let xs = [-1.0, -2.5, 0.3, -700.0];
        assert!((logsumexp_fast(&xs) - logsumexp(&xs)).abs() < 1e-14);
    }


    #[test]
    fn tabulated_cdf_is_accurate() {
        let mut worst: f64 = 0.0;
        for i in 0..200_000 {
            let z = -10.0 + i as f64 * 1e-4;
            worst = worst.max((PhiTable::get().cdf(z) - norm_cdf(z)).abs());
        }
        assert!(worst < 1e-8, "{worst}");
    }
}
