//! Patience: stop a trial whose best value has not improved (by more than
//! `min_delta`) for `patience` consecutive reported steps — the early
//! stopping rule of Keras callbacks, across trials' own curves. Optionally
//! wraps another pruner, which is consulted only when patience runs out.

use std::sync::Arc;

use super::{best_of, Pruner};
use crate::error::{Error, Result};
use crate::study::Study;
use crate::trial::FrozenTrial;

/// Prune after `patience` reports without an improvement of more than `min_delta`, optionally only when a wrapped pruner agrees (Optuna's PatientPruner).
pub struct PatientPruner {
    /// Reports without improvement before pruning.
    pub patience: usize,
    /// The least change that counts as an improvement.
    pub min_delta: f64,
    /// A pruner that must also say prune, if any.
    pub wrapped: Option<Arc<dyn Pruner>>,
}

impl std::fmt::Debug for PatientPruner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientPruner").field("patience", &self.patience).field("min_delta", &self.min_delta).finish()
    }
}

impl PatientPruner {
    /// A patient pruner on its own; an error for a negative `min_delta`.
    pub fn new(patience: usize, min_delta: f64) -> Result<Self> {
        if min_delta < 0.0 || !min_delta.is_finite() {
            return Err(Error::InvalidSpec(format!("patient pruner: min_delta must be >= 0, got {min_delta}")));
        }
        Ok(PatientPruner { patience, min_delta, wrapped: None })
    }
    /// Ask `inner` too once patience has run out (prune only if both agree).
    pub fn wrapping(mut self, inner: Arc<dyn Pruner>) -> Self {
        self.wrapped = Some(inner);
        self
    }
}

impl Pruner for PatientPruner {
    fn prune(&self, study: &Study, trial: &FrozenTrial) -> Result<bool> {
        let values: Vec<f64> = trial.intermediate_values.values().copied().collect();
        if values.len() <= self.patience {
            return Ok(false);
        }
        // Best value before the last `patience` reports vs best within them.
        let (older, window) = values.split_at(values.len() - self.patience);
        let d = study.direction();
        // No usable value counts as the worst possible one.
        let pick = |xs: &[f64]| best_of(xs.iter().copied(), d).unwrap_or(d.worst());
        let (best_old, best_new) = (pick(older), pick(window));
        let stalled = !d.improves(best_new, best_old, self.min_delta);
        if !stalled {
            return Ok(false);
        }
        match &self.wrapped {
            Some(inner) => inner.prune(study, trial),
            None => Ok(true),
        }
    }
}
