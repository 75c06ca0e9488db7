//! Trials: the stored record ([`FrozenTrial`]) and its lifecycle ([`TrialState`]).
//! The live handle an objective works with is [`crate::Trial`] in `study/trial_handle.rs`.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use crate::distribution::{Distribution, ParamValue};

/// Where a trial is in its life. `Waiting` (enqueued) → `Running` → one of the
/// three finished states; a finished trial never changes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    /// Enqueued, not started.
    Waiting,
    /// Started, not finished.
    Running,
    /// Finished with its objective values.
    Complete,
    /// Stopped early by the pruner.
    Pruned,
    /// Failed (error, NaN, timeout, interrupted, dead worker).
    Failed,
}

impl TrialState {
    /// Complete, pruned or failed.
    pub fn is_finished(self) -> bool {
        matches!(self, TrialState::Complete | TrialState::Pruned | TrialState::Failed)
    }
    /// The lowercase name stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Waiting => "waiting",
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Pruned => "pruned",
            TrialState::Failed => "failed",
        }
    }
    /// Parses a stored or typed name (`fail` for failed too).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "waiting" => TrialState::Waiting,
            "running" => TrialState::Running,
            "complete" => TrialState::Complete,
            "pruned" => TrialState::Pruned,
            "failed" | "fail" => TrialState::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for TrialState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One parameter of a trial: its distribution and its internal value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamRecord {
    /// The distribution it was drawn from.
    pub distribution: Distribution,
    /// The internal representation (see [`crate::distribution`]).
    pub internal: f64,
}

impl ParamRecord {
    /// The value as the objective saw it.
    pub fn value(&self) -> ParamValue {
        self.distribution.to_external(self.internal)
    }
}

pub use crate::attrs::{CONSTRAINTS as CONSTRAINTS_ATTR, REPORTS as REPORTS_ATTR};

/// The process that runs a trial, so a dead worker's trials can be found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Process start time (Linux: clock ticks since boot), to tell a reused pid apart.
    pub start: Option<u64>,
    /// Boot id and pid namespace: pids are compared only within one pid
    /// space (absent in records from older versions: judged by heartbeat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_space: Option<String>,
    /// Seconds without a heartbeat after which other workers judge this
    /// one dead (its `grace_period`); absent in older records, which get
    /// [`crate::study::STALE_AFTER`]. Each worker states its own, so judges
    /// with other settings still judge it by the promise it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<f64>,
}

/// A trial as stored: a snapshot, never a live handle.
#[derive(Debug, Clone, PartialEq)]
pub struct FrozenTrial {
    /// Storage-wide identifier.
    pub id: i64,
    /// Position in its study, from 0, dense and never reused.
    pub number: u64,
    /// Where it is in its life.
    pub state: TrialState,
    /// Objective values (one per direction) of a complete trial; the last
    /// intermediate value of a pruned one, when it reported any.
    pub values: Option<Vec<f64>>,
    /// Parameters in the order they were suggested.
    pub params: IndexMap<String, ParamRecord>,
    /// Intermediate values by step.
    pub intermediate_values: BTreeMap<u64, f64>,
    /// The user's attributes.
    pub user_attrs: BTreeMap<String, serde_json::Value>,
    /// Bookkeeping for samplers and the study (e.g. `fixed_params`, `grid_id`).
    pub system_attrs: BTreeMap<String, serde_json::Value>,
    /// Why a trial failed (error text, stderr tail, "interrupted", ...).
    pub message: Option<String>,
    /// Unix time in seconds.
    pub started_at: Option<f64>,
    /// Unix time in seconds.
    pub completed_at: Option<f64>,
    /// The process running it, if it was run by `optimize`.
    pub owner: Option<Owner>,
    /// Unix time of the owner's last sign of life.
    pub heartbeat: Option<f64>,
}

impl FrozenTrial {
    /// A trial with nothing but its number and state, for unit tests to fill in.
    #[cfg(test)]
    pub(crate) fn blank(number: u64, state: TrialState) -> Self {
        FrozenTrial {
            id: number as i64,
            number,
            state,
            values: None,
            params: IndexMap::new(),
            intermediate_values: BTreeMap::new(),
            user_attrs: BTreeMap::new(),
            system_attrs: BTreeMap::new(),
            message: None,
            started_at: None,
            completed_at: None,
            owner: None,
            heartbeat: None,
        }
    }

    /// The single objective value (the first, for multi-objective studies).
    pub fn value(&self) -> Option<f64> {
        self.values.as_ref().and_then(|v| v.first().copied())
    }
    /// The external value of a parameter.
    pub fn param(&self, name: &str) -> Option<ParamValue> {
        self.params.get(name).map(ParamRecord::value)
    }
    /// All parameters as external values.
    pub fn param_values(&self) -> IndexMap<String, ParamValue> {
        self.params.iter().map(|(k, p)| (k.clone(), p.value())).collect()
    }
    /// Wall time between start and completion.
    pub fn duration(&self) -> Option<f64> {
        Some(self.completed_at? - self.started_at?)
    }
    /// Constraint values the objective recorded (feasible when all are <= 0).
    pub fn constraints(&self) -> Option<Vec<f64>> {
        self.system_attrs.get(CONSTRAINTS_ATTR).and_then(|v| serde_json::from_value(v.clone()).ok())
    }
    /// Whether every recorded constraint holds (true when there are none).
    pub fn is_feasible(&self) -> bool {
        self.constraints().is_none_or(|c| c.iter().all(|x| *x <= 0.0))
    }
    /// The vector reported at `step` by `Trial::report_values`, if any.
    pub fn reported_values(&self, step: u64) -> Option<Vec<f64>> {
        let v = self.system_attrs.get(REPORTS_ATTR)?.get(step.to_string())?;
        // JSON has no NaN: it is stored as null and read back as NaN.
        let vals: Vec<Option<f64>> = serde_json::from_value(v.clone()).ok()?;
        Some(vals.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
    }
    /// The last reported intermediate value and its step.
    pub fn last_intermediate(&self) -> Option<(u64, f64)> {
        self.intermediate_values.iter().next_back().map(|(s, v)| (*s, *v))
    }
}

pub(crate) fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
