//! Pruners: whether a running trial should stop early, judged from the
//! intermediate values it and earlier trials reported.
//!
//! Decisions read only what storage holds, so they agree across threads,
//! processes and machines. This issue ships the trait and [`NopPruner`];
//! median, percentile, patience, threshold, ASHA and Hyperband plug in here.

use crate::error::Result;
use crate::study::Study;
use crate::trial::FrozenTrial;

/// Decides whether `trial` (running, with its reports so far) should stop.
pub trait Pruner: Send + Sync {
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
