//! Wilcoxon pruning (as Optuna's `WilcoxonPruner`), for objectives that are
//! averages over instances — cross-validation folds, benchmark problems,
//! data shards — reported one instance per step (`step` = instance id).
//!
//! After each report, the trial's values are paired with the best complete
//! trial's on the instances both have, and a one-sided Wilcoxon signed-rank
//! test (Wilcoxon 1945) asks whether the trial is worse. If its p-value is
//! below `p_threshold`, the trial is pruned: continuing is unlikely to beat
//! the best. Zero differences are split between both signs ("zsplit"); ties
//! get average ranks; the null distribution is exact (enumerated by dynamic
//! programming on doubled ranks), not a normal approximation.

use super::Pruner;
use crate::error::{Error, Result};
use crate::math::average_ranks;
use crate::study::Study;
use crate::trial::FrozenTrial;

#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
/// For objectives that are a mean over folds or instances reported one per step: prune when a one-sided Wilcoxon signed-rank test says the trial is worse than the best trial on the steps both reported.
pub struct WilcoxonPruner {
    /// Prune when the one-sided p-value falls below this.
    pub p_threshold: f64,
    /// Paired instances needed before any verdict.
    pub n_startup_steps: usize,
}

impl Default for WilcoxonPruner {
    fn default() -> Self {
        WilcoxonPruner { p_threshold: 0.1, n_startup_steps: 2 }
    }
}

impl WilcoxonPruner {
    /// Checks the options.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.p_threshold) {
            return Err(Error::InvalidSpec(format!("wilcoxon pruner: p_threshold must be in [0, 1], got {}", self.p_threshold)));
        }
        Ok(())
    }
}

/// One-sided p-value that the differences `d` are shifted above zero:
/// P(W+ >= observed) under the null of symmetry about zero.
pub fn signed_rank_p_greater(d: &[f64]) -> f64 {
    let n = d.len();
    if n == 0 {
        return 1.0;
    }
    // Average ranks of |d| (ties share), doubled to stay integral.
    let rank2: Vec<u64> = average_ranks(&d.iter().map(|x| x.abs()).collect::<Vec<_>>()).iter().map(|r| (2.0 * r) as u64).collect();
    // Observed W+ (doubled); zeros contribute half their rank ("zsplit").
    let observed2: u64 = (0..n)
        .map(|k| {
            if d[k] > 0.0 {
                2 * rank2[k]
            } else if d[k] == 0.0 {
                rank2[k]
            } else {
                0
            }
        })
        .sum();
    // Null: each non-zero difference's rank joins W+ with probability 1/2;
    // a zero always contributes half its rank ("zsplit"), so it shifts the
    // distribution instead. Units: 2·rank2 (four times the rank).
    let total: u64 = rank2.iter().map(|r| 2 * r).sum();
    let mut ways = vec![0f64; total as usize + 1];
    ways[0] = 1.0;
    for k in 0..n {
        if d[k] == 0.0 {
            let shift = rank2[k] as usize;
            for s in (shift..ways.len()).rev() {
                ways[s] = ways[s - shift];
            }
            ways[..shift].iter_mut().for_each(|w| *w = 0.0);
        } else {
            let step = 2 * rank2[k] as usize;
            for s in (step..ways.len()).rev() {
                ways[s] += ways[s - step];
            }
        }
    }
    let all: f64 = ways.iter().sum();
    ways[observed2 as usize..].iter().sum::<f64>() / all
}

impl Pruner for WilcoxonPruner {
    fn prune(&self, study: &Study, trial: &FrozenTrial) -> Result<bool> {
        if study.is_multi_objective() {
            return Ok(false);
        }
        let Some(best) = study.best_trial()? else { return Ok(false) };
        let sign = study.direction().sign();
        let diffs: Vec<f64> = trial
            .intermediate_values
            .iter()
            .filter_map(|(step, v)| best.intermediate_values.get(step).map(|b| sign * (v - b)))
            .filter(|d| !d.is_nan())
            .collect();
        if diffs.len() < self.n_startup_steps.max(1) {
            return Ok(false);
        }
        Ok(signed_rank_p_greater(&diffs) < self.p_threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_p_values_match_tables() {
        // n = 5, all positive: W+ = 15 is the single most extreme of 2^5.
        assert!((signed_rank_p_greater(&[1.0, 2.0, 3.0, 4.0, 5.0]) - 1.0 / 32.0).abs() < 1e-12);
        // All negative: every outcome is at least W+ = 0.
        assert!((signed_rank_p_greater(&[-1.0, -2.0, -3.0]) - 1.0).abs() < 1e-12);
        // n = 6, one negative with rank 1: P(W+ >= 20) = 2/64.
        assert!((signed_rank_p_greater(&[-0.1, 1.0, 2.0, 3.0, 4.0, 5.0]) - 2.0 / 64.0).abs() < 1e-12);
        // A zero is split: with one zero (rank 1) and 1, 2 positive (ranks
        // 2, 3), W+ = 0.5 + 2 + 3 = 5.5; the null is 0.5 + {0, 2, 3, 5} and
        // only 5.5 reaches it: p = 1/4.
        assert!((signed_rank_p_greater(&[0.0, 1.0, 2.0]) - 0.25).abs() < 1e-12);
        // Symmetric data sits in the middle.
        let p = signed_rank_p_greater(&[-1.0, 1.0, -2.0, 2.0]);
        assert!(p > 0.4 && p < 0.7, "{p}");
    }
}
