//! Hyperband (Li et al., "Hyperband: A Novel Bandit-Based Approach to
//! Hyperparameter Optimization", JMLR 2018), run asynchronously as in
//! Optuna: several successive-halving brackets, from aggressive (first rung
//! at `min_resource`) to none (first rung at `max_resource`), each trial
//! assigned to one bracket and compared only with its bracket.
//!
//! The bracket of a trial is a function of the study name and the trial
//! number (a stable hash, never per-process), weighted by each bracket's
//! budget, so every worker on every machine agrees.

use super::successive_halving::SuccessiveHalvingPruner;
use super::Pruner;
use crate::error::{Error, Result};
use crate::rng::{combine, stable_hash};
use crate::study::Study;
use crate::trial::FrozenTrial;

#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
/// Hyperband (Li et al., JMLR 2018): successive halving in several brackets of different aggressiveness, a trial's bracket from a stable hash of study name and trial number.
pub struct HyperbandPruner {
    /// The fewest steps a trial gets.
    pub min_resource: u64,
    /// The most steps a trial runs (e.g. epochs).
    pub max_resource: u64,
    /// Only 1/`reduction_factor` of the trials go on at each rung.
    pub reduction_factor: u64,
}

impl Default for HyperbandPruner {
    fn default() -> Self {
        HyperbandPruner { min_resource: 1, max_resource: 81, reduction_factor: 3 }
    }
}

impl HyperbandPruner {
    /// Checks the options.
    pub fn validate(&self) -> Result<()> {
        if self.min_resource == 0 || self.max_resource < self.min_resource {
            return Err(Error::InvalidSpec(format!(
                "hyperband: need 1 <= min_resource <= max_resource, got {} and {}",
                self.min_resource, self.max_resource
            )));
        }
        if self.reduction_factor < 2 {
            return Err(Error::InvalidSpec("hyperband: reduction_factor must be at least 2".into()));
        }
        Ok(())
    }

    /// Number of brackets: ⌊log_η(max/min)⌋ + 1.
    pub fn n_brackets(&self) -> u32 {
        let ratio = self.max_resource as f64 / self.min_resource as f64;
        (ratio.ln() / (self.reduction_factor as f64).ln() + 1e-9).floor() as u32 + 1
    }

    /// Trials each bracket should get, proportional to Hyperband's
    /// n_i = ⌈s_max+1 / (s+1) · η^s⌉ (bracket i has s = s_max − i).
    fn budgets(&self) -> Vec<u64> {
        let n = self.n_brackets();
        (0..n)
            .map(|i| {
                let s = (n - 1 - i) as f64;
                ((n as f64 / (s + 1.0)) * (self.reduction_factor as f64).powf(s)).ceil() as u64
            })
            .collect()
    }

    /// The bracket of trial `number` in the study named `study`.
    pub fn bracket_of(&self, study: &str, number: u64) -> u32 {
        let budgets = self.budgets();
        let total: u64 = budgets.iter().sum();
        let mut h = combine(&[stable_hash(study), number]) % total;
        for (i, b) in budgets.iter().enumerate() {
            if h < *b {
                return i as u32;
            }
            h -= b;
        }
        budgets.len() as u32 - 1
    }
}

impl Pruner for HyperbandPruner {
    fn prune(&self, study: &Study, trial: &FrozenTrial) -> Result<bool> {
        let bracket = self.bracket_of(study.name(), trial.number);
        let sh = SuccessiveHalvingPruner {
            min_resource: self.min_resource,
            reduction_factor: self.reduction_factor,
            min_early_stopping_rate: bracket,
            bootstrap_count: 0,
        };
        let name = study.name().to_string();
        sh.decide(study, trial, bracket, &|n| self.bracket_of(&name, n) == bracket)
    }
}
