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

/// How far (in ln) below the largest term a term of [`logsumexp_fast`] is
/// left out.
pub const NEGLIGIBLE: f64 = 40.0;

/// ln Σ exp(x_i) using [`exp_nonpos`] (every x_i − max is <= 0), with
/// four partial sums so the loop vectorises (one running sum would force
/// strict left-to-right order), compiled for AVX2+FMA too and chosen at run
/// time. Terms more than [`NEGLIGIBLE`] below the largest are left out
/// (each changes the sum by less than e^-40 ≈ 4e-18 of it), four at a
/// time: in a Parzen mixture most kernels are that far from any one point,
/// and their exponentials were most of the cost.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
pub fn logsumexp_fast(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    let cut = m - NEGLIGIBLE;
    let term = |x: f64| if x >= cut { exp_nonpos(x - m) } else { 0.0 };
    let mut acc = [0.0f64; 4];
    let chunks = xs.chunks_exact(4);
    let rest: f64 = chunks.remainder().iter().map(|&x| term(x)).sum();
    for c in chunks {
        if c.iter().all(|&x| x < cut) {
            continue;
        }
        for k in 0..4 {
            acc[k] += term(c[k]);
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

    /// ln(Φ(b) − Φ(a)) for a < b: the log probability a standard normal
    /// puts on [a, b] (a grid cell of TPE's discretised kernels), to within
    /// 1% relative in the mass (0.3% measured) and finite far into the tails, without
    /// a transcendental call for cells well inside the table.
    ///
    /// Narrow cells (b − a < 1/4) integrate φ(m + t) = φ(m) e^{−mt − t²/2}
    /// about the midpoint m in closed form for the e^{−mt} factor, with the
    /// t² term averaged (relative error < (b − a)²/12); wider ones take the
    /// tabulated difference, and where that is below the table's accuracy,
    /// the tail Q(z) ≈ φ(z)/z · (1 − 1/z² + 3/z⁴ − 15/z⁶) at both edges.
    #[inline]
    pub fn log_mass(&self, a: f64, b: f64) -> f64 {
        let h = b - a;
        if h < 0.25 {
            let m = 0.5 * (a + b);
            let x = (0.5 * m * h).abs();
            // ln(sinh(x) / x): its series where x is small (the usual case,
            // no transcendental; error below x⁸/37800), else closed forms.
            let ln_sinhc = if x < 0.5 {
                let x2 = x * x;
                x2 * (1.0 / 6.0 + x2 * (-1.0 / 180.0 + x2 / 2835.0))
            } else if x > 20.0 {
                x - (2.0 * x).ln()
            } else {
                (x.sinh() / x).ln()
            };
            return -0.5 * m * m - super::LN_SQRT_2PI + h.ln() + ln_sinhc - h * h / 24.0;
        }
        // Mirror the upper tail onto the lower one.
        let (a, b) = if a > 0.0 { (-b, -a) } else { (a, b) };
        let p = self.cdf(b) - self.cdf(a);
        if p > 1e-6 || b > -2.0 {
            return p.max(f64::MIN_POSITIVE).ln();
        }
        // Both edges deep in the lower tail: Φ(b) − Φ(a) = Q(z) − Q(z + h)
        // with z = −b (beyond 4.5, as the tabulated mass is below 1e-6),
        // each Q from its asymptotic series; the far edge only where it is
        // not negligible (z·h < 37: within e^-37).
        let ln_q = |z: f64| {
            let r = 1.0 / (z * z);
            // ln(1 + s), s = −r + 3r² − 15r³ (−0.044 at z = 4.5): a short
            // series, error below s⁵/5 < 1e-7.
            let s = r * (-1.0 + r * (3.0 - 15.0 * r));
            let ln1p = s * (1.0 + s * (-0.5 + s * (1.0 / 3.0 - 0.25 * s)));
            -0.5 * z * z - super::LN_SQRT_2PI - z.ln() + ln1p
        };
        let z = -b;
        let near = ln_q(z);
        if z * h >= 37.0 {
            return near;
        }
        near + (-(ln_q(-a) - near).exp_m1()).ln()
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

    /// Terms left out as negligible (whole groups of four, and single ones
    /// beside a term that counts) do not move the result beyond rounding.
    #[test]
    fn negligible_terms_are_left_out_without_changing_the_sum() {
        for n in [1usize, 3, 4, 7, 64, 1001] {
            let xs: Vec<f64> = (0..n).map(|i| if i % 13 == 5 { -(i as f64) * 0.01 } else { -45.0 - (i % 97) as f64 }).collect();
            let (fast, exact) = (logsumexp_fast(&xs), logsumexp(&xs));
            assert!((fast - exact).abs() <= 1e-15 * exact.abs().max(1.0), "n = {n}: {fast} vs {exact}");
        }
        assert_eq!(logsumexp_fast(&[0.0, -41.0, -50.0, -60.0, -70.0]), 0.0);
    }


    #[test]
    fn cell_masses_match_the_exact_integral() {
        // The exact ln(Φ(b) − Φ(a)) from erfc, on whichever side keeps
        // the precision.
        fn exact(a: f64, b: f64) -> f64 {
            use super::super::log_norm_cdf;
            if a > 0.0 {
                return exact(-b, -a);
            }
            if b <= 0.0 {
                let (la, lb) = (log_norm_cdf(a), log_norm_cdf(b));
                return lb + (-(la - lb).exp_m1()).ln();
            }
            (1.0 - norm_cdf(a) - norm_cdf(-b)).ln()
        }
        let t = PhiTable::get();
        for i in 0..=400 {
            let a = -40.0 + i as f64 * 0.2;
            for h in [1e-7, 1e-3, 0.05, 0.2, 0.2499, 0.25, 0.5, 1.0, 3.0, 10.0, 50.0] {
                let (fast, ex) = (t.log_mass(a, a + h), exact(a, a + h));
                assert!(fast.is_finite(), "a {a} h {h}");
                // ln of the ratio: 0.01 is a 1% error in the mass.
                assert!((fast - ex).abs() < 0.01, "a {a} h {h}: {fast} vs {ex}");
            }
        }
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
