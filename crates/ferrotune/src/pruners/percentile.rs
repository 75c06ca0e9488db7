//! Median and percentile pruning (the median stopping rule of Golovin et
//! al., "Google Vizier", KDD 2017, with Optuna's options): stop a trial whose
//! best value so far is worse than the given percentile of what complete
//! trials had reported at the same step.

use super::{best_so_far, Pruner};
use crate::error::{Error, Result};
use crate::math::percentile;
use crate::direction::Direction;
use crate::study::Study;
use crate::trial::{FrozenTrial, TrialState};

/// Prunes when the trial's best intermediate value is worse than the
/// `percentile` of complete trials' values at the same step.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PercentilePruner {
    /// 0-100: 50 is the median rule; 25 prunes more aggressively.
    pub percentile: f64,
    /// Complete trials needed before anything is pruned.
    pub n_startup_trials: usize,
    /// Steps of each trial that are never pruned.
    pub n_warmup_steps: u64,
    /// Only judge every this many steps after the warm-up.
    pub interval_steps: u64,
    /// Trials that reported at this step needed for a verdict.
    pub n_min_trials: usize,
}

impl Default for PercentilePruner {
    fn default() -> Self {
        PercentilePruner { percentile: 50.0, n_startup_trials: 5, n_warmup_steps: 0, interval_steps: 1, n_min_trials: 1 }
    }
}

impl PercentilePruner {
    /// The median rule with Optuna's defaults.
    pub fn median() -> Self {
        Self::default()
    }

    /// Checks the options, naming what is wrong.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=100.0).contains(&self.percentile) {
            return Err(Error::InvalidSpec(format!("pruner percentile must be in [0, 100], got {}", self.percentile)));
        }
        if self.interval_steps == 0 || self.n_min_trials == 0 {
            return Err(Error::InvalidSpec("pruner interval_steps and n_min_trials must be at least 1".into()));
        }
        Ok(())
    }
}

impl Pruner for PercentilePruner {
    fn prune(&self, study: &Study, trial: &FrozenTrial) -> Result<bool> {
        let Some((step, _)) = trial.last_intermediate() else { return Ok(false) };
        if step < self.n_warmup_steps || !(step - self.n_warmup_steps).is_multiple_of(self.interval_steps) {
            return Ok(false);
        }
        let trials = study.trials()?;
        let complete: Vec<_> = trials.iter().filter(|t| t.state == TrialState::Complete).collect();
        if complete.len() < self.n_startup_trials {
            return Ok(false);
        }
        let d = study.direction();
        let best = best_so_far(trial, d);
        if best.is_nan() {
            return Ok(true);
        }
        let mut at_step: Vec<f64> =
            complete.iter().filter_map(|t| t.intermediate_values.get(&step).copied()).filter(|v| !v.is_nan()).collect();
        if at_step.len() < self.n_min_trials {
            return Ok(false);
        }
        let q = if d == Direction::Minimize { self.percentile } else { 100.0 - self.percentile };
        let p = percentile(&mut at_step, q);
        Ok(d.better(p, best))
    }
}
