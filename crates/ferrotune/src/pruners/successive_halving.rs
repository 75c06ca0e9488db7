//! Asynchronous successive halving (ASHA: Li et al., "A System for Massively
//! Parallel Hyperparameter Tuning", MLSys 2020), as in Optuna.
//!
//! Rung r sits at step `min_resource · η^(min_early_stopping_rate + r)`. When
//! a trial reports at or past its next rung, its value there is recorded on
//! the trial (system attribute), and it continues only if it is in the top
//! 1/η of every value recorded at that rung so far, by any trial in any
//! process; otherwise it is pruned. Nobody waits for a full rung.

use super::Pruner;
use crate::error::{Error, Result};
use crate::storage::AttrKind;
use crate::study::Study;
use crate::trial::FrozenTrial;

/// ASHA. `bracket` tags the rung records, so Hyperband can run several
/// independent instances in one study.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuccessiveHalvingPruner {
    /// Steps before the first rung.
    pub min_resource: u64,
    /// η: keep the top 1/η at each rung.
    pub reduction_factor: u64,
    /// Shifts the rungs: the first is at min_resource · η^rate.
    pub min_early_stopping_rate: u32,
    /// Competitors a rung needs before it can prune anyone.
    pub bootstrap_count: usize,
}

impl Default for SuccessiveHalvingPruner {
    fn default() -> Self {
        SuccessiveHalvingPruner { min_resource: 1, reduction_factor: 4, min_early_stopping_rate: 0, bootstrap_count: 0 }
    }
}

pub(crate) fn rung_key(bracket: u32, rung: u32) -> String {
    crate::attrs::rung(bracket, rung)
}

impl SuccessiveHalvingPruner {
    /// Checks the options.
    pub fn validate(&self) -> Result<()> {
        if self.min_resource == 0 {
            return Err(Error::InvalidSpec("successive halving: min_resource must be at least 1".into()));
        }
        if self.reduction_factor < 2 {
            return Err(Error::InvalidSpec("successive halving: reduction_factor must be at least 2".into()));
        }
        Ok(())
    }

    /// The decision for `trial`, comparing only with trials for which
    /// `same_bracket(number)` holds; rung records are tagged with `bracket`.
    pub(crate) fn decide(
        &self,
        study: &Study,
        trial: &FrozenTrial,
        bracket: u32,
        same_bracket: &dyn Fn(u64) -> bool,
    ) -> Result<bool> {
        let Some((step, value)) = trial.last_intermediate() else { return Ok(false) };
        // Rungs already passed, read fresh (this pruner records them).
        let stored = study.storage().get_trial(trial.id)?;
        let mut rung = (0..).take_while(|r| stored.system_attrs.contains_key(&rung_key(bracket, *r))).count() as u32;
        let mut trials = None;
        loop {
            let at = self.min_resource.saturating_mul(self.reduction_factor.saturating_pow(self.min_early_stopping_rate + rung));
            if step < at {
                return Ok(false);
            }
            if value.is_nan() {
                return Ok(true);
            }
            let key = rung_key(bracket, rung);
            study.storage().set_trial_attr(trial.id, AttrKind::System, &key, &serde_json::json!(value))?;
            let all = match &trials {
                Some(t) => t,
                None => trials.insert(study.trials()?),
            };
            let mut competing: Vec<f64> = all
                .iter()
                .filter(|t| t.id != trial.id && same_bracket(t.number))
                .filter_map(|t| t.system_attrs.get(&key).and_then(|v| v.as_f64()))
                .collect();
            competing.push(value);
            if competing.len() <= self.bootstrap_count {
                return Ok(true);
            }
            let d = study.direction();
            competing.sort_by(|a, b| d.loss(*a).total_cmp(&d.loss(*b)));
            // The top 1/η continue; the very first competitor always does.
            let idx = (competing.len() / self.reduction_factor as usize).max(1) - 1;
            let promotable = d.loss(value) <= d.loss(competing[idx]);
            if !promotable {
                return Ok(true);
            }
            rung += 1;
        }
    }
}

impl Pruner for SuccessiveHalvingPruner {
    fn prune(&self, study: &Study, trial: &FrozenTrial) -> Result<bool> {
        self.decide(study, trial, 0, &|_| true)
    }
}
