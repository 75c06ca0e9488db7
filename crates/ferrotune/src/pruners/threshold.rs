//! Threshold pruning: stop a trial whose latest value leaves fixed bounds or
//! is NaN (a diverged training), after an optional warm-up.

use super::Pruner;
use crate::error::{Error, Result};
use crate::study::Study;
use crate::trial::FrozenTrial;

#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
/// Prune a trial whose intermediate value leaves `[lower, upper]` (or is NaN).
pub struct ThresholdPruner {
    /// Prune below this.
    pub lower: Option<f64>,
    /// Prune above this.
    pub upper: Option<f64>,
    /// Steps before which nothing is pruned.
    pub n_warmup_steps: u64,
    /// Check only every this many steps (default 1).
    pub interval_steps: Option<u64>,
}

impl ThresholdPruner {
    /// Checks the options.
    pub fn validate(&self) -> Result<()> {
        if let (Some(l), Some(u)) = (self.lower, self.upper) {
            if l > u {
                return Err(Error::InvalidSpec(format!("threshold pruner: lower ({l}) is greater than upper ({u})")));
            }
        }
        if self.interval_steps == Some(0) {
            return Err(Error::InvalidSpec("threshold pruner: interval_steps must be at least 1".into()));
        }
        Ok(())
    }
}

impl Pruner for ThresholdPruner {
    fn prune(&self, _study: &Study, trial: &FrozenTrial) -> Result<bool> {
        let Some((step, v)) = trial.last_intermediate() else { return Ok(false) };
        if step < self.n_warmup_steps {
            return Ok(false);
        }
        if !(step - self.n_warmup_steps).is_multiple_of(self.interval_steps.unwrap_or(1)) {
            return Ok(false);
        }
        Ok(v.is_nan() || self.lower.is_some_and(|l| v < l) || self.upper.is_some_and(|u| v > u))
    }
}
