//! Pruners: whether a running trial should stop early, judged from the
//! intermediate values it and earlier trials reported.
//!
//! Decisions read only what storage holds (successive halving also writes
//! its rung records there), so they agree across threads, processes and
//! machines.
//!
//! Multi-objective studies: `ParetoPruner` compares whole reported vectors
//! by Pareto dominance; the other pruners judge the first objective's
//! intermediate values (what `trial.report` stores).

mod hyperband;
mod pareto;
mod patient;
mod percentile;
mod successive_halving;
mod threshold;
mod wilcoxon;

pub use hyperband::HyperbandPruner;
pub use pareto::ParetoPruner;
pub use patient::PatientPruner;
pub use percentile::PercentilePruner;
pub use successive_halving::SuccessiveHalvingPruner;
pub use threshold::ThresholdPruner;
pub use wilcoxon::{signed_rank_p_greater, WilcoxonPruner};

use std::sync::Arc;

use crate::error::Result;
use crate::direction::Direction;
use crate::study::Study;
use crate::trial::FrozenTrial;

/// Decides whether `trial` (running, with its reports so far) should stop.
pub trait Pruner: Send + Sync {
    /// Whether `trial`, given what it reported so far, should stop now.
    fn prune(&self, study: &Study, trial: &FrozenTrial) -> Result<bool>;
}

/// Never prunes.
#[derive(Debug, Clone, Copy, Default)]
pub struct NopPruner;

impl Pruner for NopPruner {
    fn prune(&self, _study: &Study, _trial: &FrozenTrial) -> Result<bool> {
        Ok(false)
    }
}

impl<P: Pruner + ?Sized> Pruner for Arc<P> {
    fn prune(&self, study: &Study, trial: &FrozenTrial) -> Result<bool> {
        (**self).prune(study, trial)
    }
}

/// The best non-NaN value in the direction, or `None` if there is none.
pub(crate) fn best_of(values: impl IntoIterator<Item = f64>, d: Direction) -> Option<f64> {
    values.into_iter().filter(|v| !v.is_nan()).reduce(|a, b| if d.better(b, a) { b } else { a })
}

/// The best of a trial's intermediate values so far (NaN if all are NaN).
pub(crate) fn best_so_far(trial: &FrozenTrial, d: Direction) -> f64 {
    best_of(trial.intermediate_values.values().copied(), d).unwrap_or(f64::NAN)
}

/// A pruner named in a study file (`[pruner] type = "median"`).
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PrunerConfig {
    #[default]
    /// Never prune.
    None,
    /// Prune below the median of other trials at the step.
    Median(PercentilePruner),
    /// Prune outside the given percentile of other trials at the step.
    Percentile(PercentilePruner),
    /// Prune outside fixed bounds.
    Threshold(ThresholdPruner),
    /// Prune after `patience` reports without improvement.
    Patient {
        /// Reports without improvement before pruning.
        patience: usize,
        #[serde(default)]
        /// The least change that counts as an improvement.
        min_delta: f64,
    },
    #[serde(alias = "asha")]
    /// Asynchronous successive halving (ASHA).
    SuccessiveHalving(SuccessiveHalvingPruner),
    /// Hyperband.
    Hyperband(HyperbandPruner),
    /// A signed-rank test against the best trial (per-fold objectives).
    Wilcoxon(WilcoxonPruner),
    /// Pareto dominance at the step (several objectives).
    Pareto(ParetoPruner),
}

impl PrunerConfig {
    /// Builds the pruner, checking its options.
    pub fn build(&self) -> Result<Arc<dyn Pruner>> {
        fn checked<P: Pruner + Clone + 'static>(p: &P, validate: fn(&P) -> Result<()>) -> Result<Arc<dyn Pruner>> {
            validate(p)?;
            Ok(Arc::new(p.clone()))
        }
        match self {
            PrunerConfig::None => Ok(Arc::new(NopPruner)),
            PrunerConfig::Median(p) => checked(&PercentilePruner { percentile: 50.0, ..p.clone() }, PercentilePruner::validate),
            PrunerConfig::Percentile(p) => checked(p, PercentilePruner::validate),
            PrunerConfig::Threshold(p) => checked(p, ThresholdPruner::validate),
            PrunerConfig::Patient { patience, min_delta } => Ok(Arc::new(PatientPruner::new(*patience, *min_delta)?)),
            PrunerConfig::SuccessiveHalving(p) => checked(p, SuccessiveHalvingPruner::validate),
            PrunerConfig::Hyperband(p) => checked(p, HyperbandPruner::validate),
            PrunerConfig::Wilcoxon(p) => checked(p, WilcoxonPruner::validate),
            PrunerConfig::Pareto(p) => checked(p, ParetoPruner::validate),
        }
    }
}
