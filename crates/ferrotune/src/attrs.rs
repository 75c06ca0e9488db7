//! Every key ferrotune stores in system attributes, in one place: this page
//! is the stored schema beyond the tables. Samplers, pruners and the study
//! read and write their bookkeeping only through these names, so a new
//! backend, a dashboard or a migration can see all of it here.
//!
//! Trial attributes (on [`crate::FrozenTrial::system_attrs`]) and study
//! attributes (on [`crate::storage::StudyRecord::system_attrs`]) are JSON
//! values.

use crate::trial::FrozenTrial;

/// Trial: the parameters an enqueued trial was enqueued with (a JSON object).
pub const FIXED_PARAMS: &str = "fixed_params";
/// Trial: constraint values; feasible when all are <= 0 (a JSON list).
pub const CONSTRAINTS: &str = "constraints";
/// Trial: multi-objective intermediate values, step -> vector (NaN as null).
pub const REPORTS: &str = "reports";
/// Trial: the grid point a grid sampler assigned (an index).
pub const GRID_ID: &str = "grid_id";
/// Trial: the NSGA-II generation of the trial.
pub const NSGA2_GENERATION: &str = "nsga2:generation";
/// Trial: GP-BO's fitted hyperparameters and acquisition (its `Tag`).
pub const GP: &str = "gp";
/// Trial: the sampler the `auto` sampler chose for it (`gp` or `tpe`).
pub const AUTO_SAMPLER: &str = "auto_sampler";
/// Trial: CMA-ES restart, generation and point (its `Tag`).
pub const CMA: &str = "cma";
/// Trial: seconds an asked trial may stay untold before it is stale.
pub const LEASE: &str = "lease_s";
/// Trial: the number of the trial an enqueued trial repeats (its first run died).
pub const RETRIED_FROM: &str = "retried_from";
/// Trial: why a failed trial failed, as a [`FailureKind`] name.
pub const FAILURE: &str = "failure";

/// Trial: successive halving's record of the value a trial reached at a
/// rung of a bracket (Hyperband brackets; plain ASHA uses bracket 0).
pub fn rung(bracket: u32, rung: u32) -> String {
    format!("sh:{bracket}:rung{rung}")
}

/// Study: the declarative search space it runs (`SpaceSpec::to_value`).
pub const STUDY_SPACE: &str = "space";
/// Study: the sampler seed drawn when an `ask`-driven study was created.
pub const STUDY_SEED: &str = "seed";
/// Study: the sampler name an `ask`-driven study was created with.
pub const STUDY_SAMPLER: &str = "sampler";

/// Why a failed trial failed, for budgets and retries: trials that failed
/// only because they were interrupted or their worker died do not use up a
/// study's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Stopped from outside (Ctrl-C, a scheduler's SIGTERM).
    Interrupted,
    /// Its worker died (or an asked trial's lease ran out).
    Stale,
}

impl FailureKind {
    /// The name stored in [`FAILURE`].
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Interrupted => "interrupted",
            FailureKind::Stale => "stale",
        }
    }

    /// The kind recorded on a trial. Trials stored before the kind was
    /// recorded are recognised by the prefix of their message.
    pub fn of(t: &FrozenTrial) -> Option<FailureKind> {
        let from_attr = match t.system_attrs.get(FAILURE).and_then(|v| v.as_str()) {
            Some("interrupted") => Some(FailureKind::Interrupted),
            Some("stale") => Some(FailureKind::Stale),
            _ => None,
        };
        from_attr.or_else(|| {
            let m = t.message.as_deref().unwrap_or("");
            if m.starts_with("interrupted") {
                Some(FailureKind::Interrupted)
            } else if m.starts_with("stale") {
                Some(FailureKind::Stale)
            } else {
                None
            }
        })
    }
}

/// The parameters `t` was enqueued with, as stored.
pub fn fixed_params(t: &FrozenTrial) -> Option<&serde_json::Value> {
    t.system_attrs.get(FIXED_PARAMS)
}

/// The trial an enqueued trial repeats.
pub fn retried_from(t: &FrozenTrial) -> Option<u64> {
    t.system_attrs.get(RETRIED_FROM).and_then(|v| v.as_u64())
}

/// An asked trial's lease in seconds.
pub fn lease(t: &FrozenTrial) -> Option<f64> {
    t.system_attrs.get(LEASE).and_then(|v| v.as_f64())
}
