//! The live trial an objective works with: suggest parameters, report
//! progress, ask whether to stop. Everything it learns is stored at once.

use indexmap::IndexMap;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::Study;
use crate::distribution::{Distribution, ParamValue, SearchSpace};
use crate::error::{invalid, Error, Result};
use crate::storage::AttrKind;
use crate::trial::{FrozenTrial, ParamRecord};

/// A running trial. Obtained from [`Study::ask`] or handed to the objective by
/// [`Study::optimize`].
pub struct Trial {
    study: Study,
    /// What storage holds for this trial, kept in step with every change.
    frozen: FrozenTrial,
    fixed: IndexMap<String, ParamValue>,
    relative_space: SearchSpace,
    relative: IndexMap<String, f64>,
    pub(crate) interrupt: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for Trial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trial").field("number", &self.frozen.number).field("params", &self.params()).finish()
    }
}

impl Trial {
    /// Prepares a freshly created or claimed trial: reads its fixed
    /// parameters and lets the sampler sample its joint space.
    pub(super) fn start(study: Study, frozen: FrozenTrial) -> Result<Trial> {
        let fixed: IndexMap<String, ParamValue> = match frozen.system_attrs.get(crate::storage::FIXED_PARAMS_ATTR) {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| Error::Storage(format!("enqueued parameters of trial {} are unreadable: {e}", frozen.number)))?,
            None => IndexMap::new(),
        };
        let sampler = study.sampler().clone();
        let relative_space = sampler.infer_relative_search_space(&study, &frozen)?;
        let mut trial = Trial { study, frozen, fixed, relative_space, relative: IndexMap::new(), interrupt: None };
        let sample = sampler.sample_relative(&trial.study, &trial.frozen, &trial.relative_space)?;
        for (k, v) in sample.system_attrs {
            trial.set_attr(AttrKind::System, &k, v)?;
        }
        trial.relative = sample.values;
        Ok(trial)
    }

    /// The trial's number in its study (0, 1, 2, ...).
    pub fn number(&self) -> u64 {
        self.frozen.number
    }
    /// The storage-wide id.
    pub fn id(&self) -> i64 {
        self.frozen.id
    }
    /// The study it belongs to.
    pub fn study(&self) -> &Study {
        &self.study
    }
    /// The parameters suggested so far, as the objective saw them.
    pub fn params(&self) -> IndexMap<String, ParamValue> {
        self.frozen.param_values()
    }
    /// The trial as stored so far.
    pub fn snapshot(&self) -> &FrozenTrial {
        &self.frozen
    }
    /// Parameters this trial was enqueued with.
    pub fn fixed_params(&self) -> &IndexMap<String, ParamValue> {
        &self.fixed
    }

    /// A float in `[low, high]`; chain `.log()` or `.step(s)`, then `.sample()?`.
    pub fn suggest_float(&mut self, name: &str, low: f64, high: f64) -> FloatSuggestion<'_> {
        FloatSuggestion { trial: self, name: name.to_string(), low, high, log: false, step: None }
    }
    /// An integer in `[low, high]`; chain `.log()` or `.step(s)`, then `.sample()?`.
    pub fn suggest_int(&mut self, name: &str, low: i64, high: i64) -> IntSuggestion<'_> {
        IntSuggestion { trial: self, name: name.to_string(), low, high, log: false, step: 1 }
    }
    /// One of `choices`, returned as given.
    pub fn suggest_categorical<T: Clone + Into<ParamValue>>(
        &mut self,
        name: &str,
        choices: impl IntoIterator<Item = T>,
    ) -> Result<T> {
        let choices: Vec<T> = choices.into_iter().collect();
        let dist = Distribution::Categorical { choices: choices.iter().cloned().map(Into::into).collect() };
        let idx = self.suggest_internal(name, &dist)?;
        Ok(choices[idx as usize].clone())
    }

    /// A value from any distribution (what the declarative spaces use).
    pub fn suggest(&mut self, name: &str, dist: &Distribution) -> Result<ParamValue> {
        let x = self.suggest_internal(name, dist)?;
        Ok(dist.to_external(x))
    }

    fn suggest_internal(&mut self, name: &str, dist: &Distribution) -> Result<f64> {
        dist.validate(name)?;
        if let Some(p) = self.frozen.params.get(name) {
            if p.distribution != *dist {
                return Err(invalid(
                    name,
                    format!(
                        "already suggested in this trial as {}; suggesting it again as {dist} is not allowed \
                         (give the second one another name)",
                        p.distribution
                    ),
                ));
            }
            return Ok(p.internal);
        }
        let x = if let Some(v) = self.fixed.get(name) {
            dist.to_internal(name, v).map_err(|e| {
                invalid(name, format!("the enqueued value does not fit: {e}"))
            })?
        } else if let Some(x) = self.relative.get(name).filter(|_| self.relative_space.get(name) == Some(dist)) {
            *x
        } else {
            self.study.sampler().clone().sample_independent(&self.study, &self.frozen, name, dist)?
        };
        if !dist.contains(x) {
            return Err(Error::Sampler(format!(
                "{} proposed {x} for '{name}', outside {dist} (a sampler bug; please report it)",
                self.study.sampler().name()
            )));
        }
        self.study.storage().set_trial_param(self.frozen.id, name, dist, x)?;
        self.frozen.params.insert(name.to_string(), ParamRecord { distribution: dist.clone(), internal: x });
        Ok(x)
    }

    /// Stores an intermediate value (e.g. validation loss after epoch `step`).
    /// NaN is stored as such, so a pruner can act on it.
    pub fn report(&mut self, step: u64, value: f64) -> Result<()> {
        self.study.storage().set_trial_intermediate(self.frozen.id, step, value)?;
        self.frozen.intermediate_values.insert(step, value);
        Ok(())
    }

    /// Stores one intermediate value per objective (multi-objective
    /// studies). The first also goes to the ordinary intermediate values, so
    /// every pruner can read it; `ParetoPruner` compares whole vectors.
    pub fn report_values(&mut self, step: u64, values: &[f64]) -> Result<()> {
        let n = self.study.directions().len();
        if values.len() != n {
            return Err(Error::InvalidValue(format!(
                "report_values got {} value(s) for a study with {n} objective(s)",
                values.len()
            )));
        }
        let mut map = self
            .frozen
            .system_attrs
            .get(crate::trial::REPORTS_ATTR)
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        map.insert(step.to_string(), serde_json::json!(values));
        self.set_attr(AttrKind::System, crate::trial::REPORTS_ATTR, serde_json::Value::Object(map))?;
        self.report(step, values[0])
    }

    /// Whether the study's pruner wants this trial stopped now. When it does,
    /// return `Err(ObjectiveError::Pruned)` from the objective.
    pub fn should_prune(&self) -> Result<bool> {
        self.study.pruner().clone().prune(&self.study, &self.frozen)
    }

    /// Whether the run was interrupted (Ctrl-C); a long objective should stop
    /// and return `Err(ObjectiveError::Interrupted)`.
    pub fn is_interrupted(&self) -> bool {
        self.interrupt.as_ref().is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// The flag [`Trial::is_interrupted`] reads, for objectives that wait in
    /// another thread (e.g. on a child process).
    pub fn interrupt_flag(&self) -> Option<Arc<AtomicBool>> {
        self.interrupt.clone()
    }

    /// Records constraint values for this trial: it is feasible when every
    /// value is <= 0. Best trials, the Pareto front and the model-based
    /// samplers prefer feasible trials.
    pub fn set_constraints(&mut self, values: &[f64]) -> Result<()> {
        if let Some(bad) = values.iter().find(|v| v.is_nan()) {
            return Err(Error::InvalidValue(format!("constraint value {bad} is not a number")));
        }
        self.set_attr(AttrKind::System, crate::trial::CONSTRAINTS_ATTR, serde_json::json!(values))
    }

    /// Stores a user attribute on this trial (any serializable value).
    pub fn set_user_attr(&mut self, key: &str, value: impl Serialize) -> Result<()> {
        let v = serde_json::to_value(value).map_err(|e| Error::InvalidValue(format!("attribute '{key}': {e}")))?;
        self.set_attr(AttrKind::User, key, v)
    }

    /// Stores a system attribute (ferrotune's own bookkeeping, e.g. a lease).
    pub fn set_system_attr(&mut self, key: &str, value: serde_json::Value) -> Result<()> {
        self.set_attr(AttrKind::System, key, value)
    }

    fn set_attr(&mut self, kind: AttrKind, key: &str, v: serde_json::Value) -> Result<()> {
        self.study.storage().set_trial_attr(self.frozen.id, kind, key, &v)?;
        match kind {
            AttrKind::User => self.frozen.user_attrs.insert(key.to_string(), v),
            AttrKind::System => self.frozen.system_attrs.insert(key.to_string(), v),
        };
        Ok(())
    }
}

/// A float suggestion being set up; see [`Trial::suggest_float`].
#[must_use = "call .sample() to get the value"]
pub struct FloatSuggestion<'t> {
    trial: &'t mut Trial,
    name: String,
    low: f64,
    high: f64,
    log: bool,
    step: Option<f64>,
}

impl FloatSuggestion<'_> {
    /// Sample on a log scale (learning rates, weight decay).
    pub fn log(mut self) -> Self {
        self.log = true;
        self
    }
    /// Only multiples of `step` above `low`.
    pub fn step(mut self, step: f64) -> Self {
        self.step = Some(step);
        self
    }
    /// Draws (or recalls) the value.
    pub fn sample(self) -> Result<f64> {
        let d = Distribution::Float { low: self.low, high: self.high, log: self.log, step: self.step };
        self.trial.suggest_internal(&self.name, &d)
    }
}

/// An integer suggestion being set up; see [`Trial::suggest_int`].
#[must_use = "call .sample() to get the value"]
pub struct IntSuggestion<'t> {
    trial: &'t mut Trial,
    name: String,
    low: i64,
    high: i64,
    log: bool,
    step: i64,
}

impl IntSuggestion<'_> {
    /// Sample on a log scale (layer widths, batch sizes).
    pub fn log(mut self) -> Self {
        self.log = true;
        self
    }
    /// Only multiples of `step` above `low`.
    pub fn step(mut self, step: i64) -> Self {
        self.step = step;
        self
    }
    /// Draws (or recalls) the value.
    pub fn sample(self) -> Result<i64> {
        let d = Distribution::Int { low: self.low, high: self.high, log: self.log, step: self.step };
        Ok(self.trial.suggest_internal(&self.name, &d)? as i64)
    }
}
