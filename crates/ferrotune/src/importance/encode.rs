//! Trials as a design matrix for the importance methods: one feature per
//! parameter, in the unit view the samplers use (log parameters in log
//! space, integers widened by half a step, a categorical's choices as equal
//! slices), with absence as a value of its own.
//!
//! A conditional parameter is absent from some trials; absent is not zero.
//! Every feature lives on `[-1, 1]`: present values on `[0, 1]`, absent at
//! `-0.5`. The measure the variance is taken over gives `[-1, 0)` the share
//! of trials in which the parameter was absent and `[0, 1]` the rest, so a
//! parameter that matters by being there (or not) gets that importance, and
//! one that is always present is measured on its range alone.

use std::collections::BTreeMap;

use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::samplers::transform::UnitAxis;
use crate::trial::FrozenTrial;

/// Where an absent parameter sits on its feature's axis.
pub(crate) const ABSENT: f64 = -0.5;

/// One parameter as a feature.
#[derive(Debug, Clone)]
pub(crate) struct Feature {
    pub name: String,
    /// The distribution of the latest trial that has the parameter.
    pub dist: Distribution,
    axis: Option<UnitAxis>,
    /// Share of the trials without the parameter.
    pub absent: f64,
    /// Trials with the parameter.
    pub present: usize,
}

impl Feature {
    /// The measure of `[lo, hi]` (see the module docs): 1 for the whole `[-1, 1]`.
    pub fn mass(&self, lo: f64, hi: f64) -> f64 {
        let part = |a: f64, b: f64| (hi.min(b) - lo.max(a)).max(0.0);
        self.absent * part(-1.0, 0.0) + (1.0 - self.absent) * part(0.0, 1.0)
    }

    /// The feature value of trial `t`.
    pub fn encode(&self, t: &FrozenTrial) -> f64 {
        let Some(p) = t.params.get(&self.name) else { return ABSENT };
        let internal = if p.distribution == self.dist {
            p.internal
        } else {
            // The space changed: place the value on the latest distribution.
            match self.dist.to_internal(&self.name, &p.value()) {
                Ok(x) => x,
                Err(_) => match &self.dist {
                    Distribution::Categorical { .. } => return ABSENT,
                    d => d.clamp_internal(p.value().as_f64().unwrap_or(0.0)),
                },
            }
        };
        self.unit(internal)
    }

    /// An internal value in `[0, 1]`.
    pub fn unit(&self, internal: f64) -> f64 {
        match (&self.axis, &self.dist) {
            (Some(a), _) => a.encode(internal),
            (None, Distribution::Categorical { choices }) => (internal + 0.5) / choices.len().max(1) as f64,
            (None, _) => 0.5,
        }
    }

    /// A point of `[0, 1]` as the parameter's value.
    pub fn decode(&self, u: f64) -> ParamValue {
        match (&self.axis, &self.dist) {
            (Some(a), d) => d.to_external(a.decode(u)),
            (None, Distribution::Categorical { choices }) => {
                let k = choices.len().max(1);
                let i = ((u.clamp(0.0, 1.0) * k as f64) as usize).min(k - 1);
                self.dist.to_external(i as f64)
            }
            (None, d) => d.to_external(0.0),
        }
    }

    /// Whether the parameter takes few enough values to list them all.
    pub fn levels(&self) -> Option<usize> {
        self.dist.cardinality().filter(|n| *n <= 64).map(|n| n as usize)
    }
}

/// Complete trials as rows of features, and their objective values.
#[derive(Debug, Clone)]
pub(crate) struct Design {
    pub features: Vec<Feature>,
    /// One row per trial, one column per feature.
    pub x: Vec<Vec<f64>>,
    pub y: Vec<f64>,
}

/// Builds the design of `trials` (complete, with a finite value for
/// `objective`) over `params` (default: every parameter any of them has).
pub(crate) fn design(trials: &[&FrozenTrial], params: Option<&[String]>, objective: usize) -> Result<Design> {
    let rows: Vec<(&FrozenTrial, f64)> = trials
        .iter()
        .filter_map(|t| t.values.as_ref().and_then(|v| v.get(objective)).filter(|v| v.is_finite()).map(|v| (*t, *v)))
        .collect();
    if rows.len() < 2 {
        return Err(Error::InvalidSpec(format!(
            "parameter importance needs at least 2 complete trials with a value for objective {objective}; there are {}",
            rows.len()
        )));
    }
    // Parameters in first-seen order; each with its latest distribution.
    let mut order: Vec<String> = vec![];
    let mut latest: BTreeMap<&str, &Distribution> = BTreeMap::new();
    for (t, _) in &rows {
        for (name, p) in &t.params {
            if !latest.contains_key(name.as_str()) {
                order.push(name.clone());
            }
            latest.insert(name, &p.distribution);
        }
    }
    let names: Vec<String> = match params {
        Some(wanted) => {
            for w in wanted {
                if !latest.contains_key(w.as_str()) {
                    return Err(Error::InvalidSpec(format!(
                        "no complete trial has a parameter named '{w}' (parameters: {})",
                        order.join(", ")
                    )));
                }
            }
            wanted.to_vec()
        }
        None => order,
    };
    if names.is_empty() {
        return Err(Error::InvalidSpec("the complete trials have no parameters to rank".into()));
    }
    let n = rows.len();
    let features: Vec<Feature> = names
        .iter()
        .map(|name| {
            let dist = latest[name.as_str()].clone();
            let present = rows.iter().filter(|(t, _)| t.params.contains_key(name)).count();
            Feature { name: name.clone(), axis: UnitAxis::new(&dist), dist, absent: 1.0 - present as f64 / n as f64, present }
        })
        .collect();
    let x = rows.iter().map(|(t, _)| features.iter().map(|f| f.encode(t)).collect()).collect();
    let y = rows.iter().map(|(_, v)| *v).collect();
    Ok(Design { features, x, y })
}
