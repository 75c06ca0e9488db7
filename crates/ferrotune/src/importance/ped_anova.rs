//! PED-ANOVA (Watanabe, Bansal & Hutter, "PED-ANOVA: Efficiently
//! Quantifying Hyperparameter Importance in Arbitrary Subspaces", IJCAI
//! 2023): a parameter matters for the top trials as much as the density of
//! its values among the top `target_quantile` of trials differs from their
//! density among the top `region_quantile` (all trials by default). The
//! difference is the Pearson χ² divergence
//! `∫ p_region(x) (p_top(x) / p_region(x) − 1)² dx`, which the paper shows
//! equals the local variance fANOVA would attribute to the parameter, and
//! needs no surrogate model: two Parzen estimators per parameter.
//!
//! Continuous parameters: Gaussian kernels in the unit view, Scott's
//! bandwidth, evaluated on 50 equal cells (Optuna's `n_steps`); discrete
//! parameters with few values and categoricals: smoothed frequencies; an
//! absent conditional parameter: one more value of its own.

use super::encode::{Design, Feature, ABSENT};

/// Cells a continuous parameter is evaluated on.
const STEPS: usize = 50;

/// The divergence of each feature between the top `target` share of rows
/// (by `loss`, lower is better) and the top `region` share.
pub(crate) fn divergences(design: &Design, loss: &[f64], target: f64, region: f64) -> Vec<f64> {
    let mut order: Vec<usize> = (0..loss.len()).collect();
    order.sort_by(|&a, &b| loss[a].total_cmp(&loss[b]));
    let take = |q: f64| ((q * loss.len() as f64).ceil() as usize).clamp(2.min(loss.len()), loss.len());
    let top = &order[..take(target)];
    let reg = &order[..take(region)];
    design
        .features
        .iter()
        .enumerate()
        .map(|(f, feat)| {
            let col = |rows: &[usize]| rows.iter().map(|&r| design.x[r][f]).collect::<Vec<f64>>();
            let (p, q) = (density(feat, &col(top)), density(feat, &col(reg)));
            p.iter().zip(&q).filter(|(_, q)| **q > 0.0).map(|(p, q)| q * (p / q - 1.0).powi(2)).sum()
        })
        .collect()
}

/// A probability vector over the feature's cells: cell 0 is "absent",
/// then the parameter's values (or `STEPS` cells of `[0, 1]`).
fn density(feat: &Feature, xs: &[f64]) -> Vec<f64> {
    let n = xs.len() as f64;
    let present: Vec<f64> = xs.iter().copied().filter(|x| *x != ABSENT).collect();
    let absent = (xs.len() - present.len()) as f64;
    let cells = feat.levels().unwrap_or(STEPS);
    let mut p = vec![0.0; cells + 1];
    // A prior as heavy as one observation, spread evenly, so no cell is empty
    // (as the Parzen estimators of TPE and PED-ANOVA do).
    let prior = 1.0 / (cells + 1) as f64;
    p[0] = absent + prior;
    if present.is_empty() {
        for v in &mut p[1..] {
            *v += prior;
        }
    } else if feat.levels().is_some() {
        for x in &present {
            let k = ((x * cells as f64) as usize).min(cells - 1);
            p[k + 1] += 1.0;
        }
        for v in &mut p[1..] {
            *v += prior;
        }
    } else {
        let m = present.len() as f64;
        let mean = present.iter().sum::<f64>() / m;
        let sd = (present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m).sqrt();
        // Scott's rule, kept away from 0 (all values equal) and from
        // absurd widths.
        let h = (1.059 * sd * m.powf(-0.2)).clamp(0.5 / STEPS as f64, 1.0);
        for x in &present {
            // Each kernel's mass per cell, truncated to [0, 1] and renormalised.
            let cdf = |u: f64| crate::math::norm_cdf((u - x) / h);
            let whole = cdf(1.0) - cdf(0.0);
            for k in 0..cells {
                let (a, b) = (k as f64 / cells as f64, (k + 1) as f64 / cells as f64);
                p[k + 1] += (cdf(b) - cdf(a)) / whole;
            }
        }
        for v in &mut p[1..] {
            *v += prior;
        }
    }
    let total = n + 1.0;
    p.iter().map(|v| v / total).collect()
}
