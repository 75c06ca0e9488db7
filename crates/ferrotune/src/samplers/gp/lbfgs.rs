//! Box-constrained L-BFGS (Liu & Nocedal 1989) with projection and an
//! Armijo backtracking line search: small, dependency-free, and enough for
//! the low-dimensional smooth problems GP-BO solves (kernel hyperparameters,
//! acquisition refinement).

/// Minimises `f` (which writes its gradient into the second argument) over
/// the box [lo, hi], from `x0`, stopping once every component of the
/// projected gradient is below `pgtol` (as scipy's L-BFGS-B `pgtol`) or
/// after `max_iter` iterations. Returns the best point and its value.
pub fn minimize(
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    x0: &[f64],
    lo: &[f64],
    hi: &[f64],
    max_iter: usize,
    pgtol: f64,
) -> (Vec<f64>, f64) {
    const M: usize = 8;
    let n = x0.len();
    let project = |x: &mut [f64]| {
        for i in 0..n {
            x[i] = x[i].clamp(lo[i], hi[i]);
        }
    };
    let mut x = x0.to_vec();
    project(&mut x);
    let mut g = vec![0.0; n];
    let mut fx = f(&x, &mut g);
    if !fx.is_finite() {
        return (x, fx);
    }
    let mut s_hist: Vec<Vec<f64>> = Vec::with_capacity(M);
    let mut y_hist: Vec<Vec<f64>> = Vec::with_capacity(M);
    let mut g_new = vec![0.0; n];
    for _ in 0..max_iter {
        // Projected gradient: components pushing against an active bound are zero.
        let pg: Vec<f64> = (0..n)
            .map(|i| if (x[i] <= lo[i] && g[i] > 0.0) || (x[i] >= hi[i] && g[i] < 0.0) { 0.0 } else { g[i] })
            .collect();
        if pg.iter().all(|v| v.abs() < pgtol) {
            break;
        }
        // Two-loop recursion: d = -H pg.
        let mut q = pg.clone();
        let mut alphas = vec![0.0; s_hist.len()];
        for k in (0..s_hist.len()).rev() {
            let rho = 1.0 / dot(&y_hist[k], &s_hist[k]);
            alphas[k] = rho * dot(&s_hist[k], &q);
            axpy(-alphas[k], &y_hist[k], &mut q);
        }
        if let (Some(s), Some(y)) = (s_hist.last(), y_hist.last()) {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for k in 0..s_hist.len() {
            let rho = 1.0 / dot(&y_hist[k], &s_hist[k]);
            let beta = rho * dot(&y_hist[k], &q);
            axpy(alphas[k] - beta, &s_hist[k], &mut q);
        }
        let mut d: Vec<f64> = q.iter().map(|v| -v).collect();
        for i in 0..n {
            if pg[i] == 0.0 {
                d[i] = 0.0;
            }
        }
        if dot(&d, &pg) >= 0.0 {
            // Not a descent direction: fall back to steepest descent.
            d = pg.iter().map(|v| -v).collect();
            s_hist.clear();
            y_hist.clear();
        }
        // Line search along the projected path: backtrack until Armijo's
        // sufficient decrease holds; if the first trial already satisfies it
        // but the slope is still steep (weak Wolfe's curvature condition
        // fails), extrapolate while the value keeps falling, so the
        // curvature pairs carry information.
        let slope0 = dot(&pg, &d);
        let mut try_step = |t: f64, g_out: &mut Vec<f64>| -> (Vec<f64>, f64, Vec<f64>) {
            let mut xn: Vec<f64> = (0..n).map(|i| x[i] + t * d[i]).collect();
            project(&mut xn);
            let step: Vec<f64> = (0..n).map(|i| xn[i] - x[i]).collect();
            let fv = f(&xn, g_out);
            (xn, fv, step)
        };
        let mut t = 1.0;
        let mut accepted: Option<(Vec<f64>, f64, Vec<f64>)> = None;
        for k in 0..40 {
            let (xn, fv, step) = try_step(t, &mut g_new);
            if fv.is_finite() && fv <= fx + 1e-4 * dot(&pg, &step) {
                let steep = dot(&g_new, &d) < 0.9 * slope0;
                accepted = Some((xn, fv, step));
                if k == 0 && steep {
                    let mut g_try = vec![0.0; n];
                    for _ in 0..10 {
                        t *= 2.0;
                        let (xe, fe, se) = try_step(t, &mut g_try);
                        let better = fe.is_finite()
                            && fe <= fx + 1e-4 * dot(&pg, &se)
                            && fe < accepted.as_ref().map_or(f64::INFINITY, |a| a.1);
                        if !better {
                            break;
                        }
                        g_new.copy_from_slice(&g_try);
                        accepted = Some((xe, fe, se));
                        if dot(&g_new, &d) >= 0.9 * slope0 {
                            break;
                        }
                    }
                }
                break;
            }
            t *= 0.5;
        }
        let Some((xn, fn_, step)) = accepted else { break };
        let yk: Vec<f64> = (0..n).map(|i| g_new[i] - g[i]).collect();
        // Keep the pair only under positive curvature, judged relative to
        // the pair's own scale (tiny steps are still informative).
        if dot(&step, &yk) > 1e-10 * dot(&yk, &yk) {
            if s_hist.len() == M {
                s_hist.remove(0);
                y_hist.remove(0);
            }
            s_hist.push(step);
            y_hist.push(yk);
        } else {
            // No usable curvature: restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
        }
        let improvement = fx - fn_;
        x = xn;
        fx = fn_;
        g.copy_from_slice(&g_new);
        if improvement.abs() <= 1e-10 * fx.abs().max(1.0) {
            break;
        }
    }
    (x, fx)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum_and_respects_bounds() {
        let rosen = |x: &[f64], g: &mut [f64]| {
            g[0] = -2.0 * (1.0 - x[0]) - 400.0 * x[0] * (x[1] - x[0] * x[0]);
            g[1] = 200.0 * (x[1] - x[0] * x[0]);
            (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2)
        };
        let (x, f) = minimize(rosen, &[-1.2, 1.0], &[-5.0, -5.0], &[5.0, 5.0], 500, 1e-7);
        assert!(f < 1e-8 && (x[0] - 1.0).abs() < 1e-4, "{x:?} {f}");
        // With the optimum outside the box, the answer sits on the bound.
        let (x, _) = minimize(rosen, &[0.0, 0.0], &[-1.0, -1.0], &[0.5, 0.5], 500, 1e-7);
        assert!((x[0] - 0.5).abs() < 1e-6, "{x:?}");
    }
}
