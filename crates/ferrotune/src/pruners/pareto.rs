//! Multi-objective pruning (ferrotune's rule; Optuna has none): at a step,
//! a trial is pruned when at least `fraction` of the complete trials that
//! reported that step Pareto-dominate its vector there. With one objective
//! and `fraction = 0.5` this is close to the median rule; for several, a
//! trial survives as long as it is not clearly behind the pack on every
//! objective at once — a trade-off that others do not dominate is kept.
//!
//! Objectives report vectors with `trial.report_values(step, &[..])` (or
//! `ferrotune: report step=N value=A,B` from a program).

use super::Pruner;
use crate::error::{Error, Result};
use crate::multi_objective::dominates;
use crate::study::Study;
use crate::trial::{FrozenTrial, TrialState};

#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
/// For several objectives: prune a trial when at least `fraction` of the complete trials that reached its step Pareto-dominate its vector there.
pub struct ParetoPruner {
    /// Share of the step's complete trials that must dominate the trial.
    pub fraction: f64,
    /// Complete trials needed before anything is pruned.
    pub n_startup_trials: usize,
    /// Steps before which nothing is pruned.
    pub n_warmup_steps: u64,
    /// Complete trials that reported the step, needed for a verdict.
    pub n_min_trials: usize,
}

impl Default for ParetoPruner {
    fn default() -> Self {
        ParetoPruner { fraction: 0.5, n_startup_trials: 5, n_warmup_steps: 0, n_min_trials: 1 }
    }
}

impl ParetoPruner {
    /// Checks the options.
    pub fn validate(&self) -> Result<()> {
        if !(self.fraction > 0.0 && self.fraction <= 1.0) {
            return Err(Error::InvalidSpec(format!("pareto pruner: fraction must be in (0, 1], got {}", self.fraction)));
        }
        Ok(())
    }
}

impl Pruner for ParetoPruner {
    fn prune(&self, study: &Study, trial: &FrozenTrial) -> Result<bool> {
        let Some((step, _)) = trial.last_intermediate() else { return Ok(false) };
        if step < self.n_warmup_steps {
            return Ok(false);
        }
        let dirs = study.directions();
        let mine = match trial.reported_values(step) {
            Some(v) => v,
            None if dirs.len() == 1 => vec![trial.intermediate_values[&step]],
            None => return Ok(false),
        };
        if mine.iter().any(|v| v.is_nan()) {
            return Ok(true);
        }
        let trials = study.trials()?;
        let complete: Vec<_> = trials.iter().filter(|t| t.state == TrialState::Complete).collect();
        if complete.len() < self.n_startup_trials {
            return Ok(false);
        }
        let others: Vec<Vec<f64>> = complete
            .iter()
            .filter_map(|t| match t.reported_values(step) {
                Some(v) => Some(v),
                None if dirs.len() == 1 => t.intermediate_values.get(&step).map(|v| vec![*v]),
                None => None,
            })
            .filter(|v| v.len() == dirs.len() && v.iter().all(|x| !x.is_nan()))
            .collect();
        if others.len() < self.n_min_trials.max(1) {
            return Ok(false);
        }
        let dominating = others.iter().filter(|o| dominates(o, &mine, dirs)).count();
        Ok(dominating as f64 >= self.fraction * others.len() as f64)
    }
}
