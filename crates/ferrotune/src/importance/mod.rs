//! Which hyperparameters matter: fANOVA (the default) and PED-ANOVA over a
//! study's complete trials, as `optuna.importance` offers them.
//!
//! * [`Method::Fanova`] (`fanova.rs`): a random forest fitted to the trials,
//!   its variance decomposed into each parameter's main effect and pairwise
//!   interactions. Importances sum to 1; the raw fraction of variance each
//!   parameter explains alone is reported too, so a function where only an
//!   interaction matters shows small main effects and a large pair.
//! * [`Method::PedAnova`] (`ped_anova.rs`): how differently the top 10% of
//!   trials are spread in each parameter than all trials are. No model;
//!   fast; about the good region rather than the whole space.
//!
//! Conditional parameters count where they are absent too (absent is not
//! zero, see `encode.rs`). Everything is seeded: the same trials and seed
//! give the same numbers.

mod encode;
mod fanova;
mod forest;
mod ped_anova;

use serde::Serialize;

use crate::direction::Direction;
use crate::distribution::ParamValue;
use crate::error::{Error, Result};
use crate::study::Study;
use crate::trial::{FrozenTrial, TrialState};

/// How importance is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// fANOVA on a random forest (Hutter et al., ICML 2014).
    Fanova,
    /// PED-ANOVA on the top quantile (Watanabe et al., IJCAI 2023).
    PedAnova,
}

impl Method {
    /// `fanova` or `ped-anova` (also `ped_anova`, `pedanova`).
    pub fn parse(s: &str) -> Result<Method> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "fanova" => Ok(Method::Fanova),
            "ped-anova" | "pedanova" => Ok(Method::PedAnova),
            other => Err(Error::InvalidSpec(format!("unknown importance method '{other}': use fanova or ped-anova"))),
        }
    }
}

/// What to measure and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The method (fANOVA by default).
    pub method: Method,
    /// Only these parameters (default: every parameter of the trials).
    pub params: Option<Vec<String>>,
    /// Which objective of a multi-objective study (default 0).
    pub objective: usize,
    /// The forest's seed (fANOVA).
    pub seed: u64,
    /// Trees in the forest (fANOVA; 64, as Optuna).
    pub n_trees: usize,
    /// PED-ANOVA: the share of best trials whose spread is compared (0.1).
    pub target_quantile: f64,
    /// PED-ANOVA: the share of best trials it is compared with (1.0: all).
    pub region_quantile: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: Method::Fanova,
            params: None,
            objective: 0,
            seed: 0,
            n_trees: 64,
            target_quantile: 0.1,
            region_quantile: 1.0,
        }
    }
}

/// One parameter's importance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamImportance {
    /// The parameter.
    pub name: String,
    /// Its share of the importance of all parameters (they sum to 1).
    pub importance: f64,
    /// fANOVA: the fraction of the objective's variance its main effect
    /// explains (before normalising; the rest is interactions and noise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variance_fraction: Option<f64>,
    /// Complete trials in which it was set (a conditional parameter: fewer).
    pub trials: usize,
}

/// A pair of parameters that matter together (fANOVA).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interaction {
    /// The two parameters.
    pub params: [String; 2],
    /// The fraction of the objective's variance their interaction explains.
    pub variance_fraction: f64,
}

/// The result: parameters from most to least important.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Importances {
    /// How it was measured.
    pub method: Method,
    /// The complete trials it was measured on.
    pub n_trials: usize,
    /// Most important first.
    pub params: Vec<ParamImportance>,
    /// fANOVA: pairwise interactions, strongest first (between the ten
    /// most important parameters), each a lower bound: computed on at most
    /// 64 cells per parameter.
    pub interactions: Vec<Interaction>,
}

/// The complete, feasible trials of `study` and its importances.
pub fn evaluate(study: &Study, opts: &Options) -> Result<Importances> {
    let trials = study.trials()?;
    let done: Vec<&FrozenTrial> =
        trials.iter().filter(|t| t.state == TrialState::Complete && t.is_feasible()).map(|t| t.as_ref()).collect();
    evaluate_trials(&done, study.directions(), opts)
}

/// Importances over `trials` (complete ones; others are skipped).
pub fn evaluate_trials(trials: &[&FrozenTrial], directions: &[Direction], opts: &Options) -> Result<Importances> {
    let Some(&direction) = directions.get(opts.objective) else {
        return Err(Error::InvalidSpec(format!(
            "objective {} does not exist: the study has {} objective(s)",
            opts.objective,
            directions.len()
        )));
    };
    let complete: Vec<&FrozenTrial> = trials.iter().copied().filter(|t| t.state == TrialState::Complete).collect();
    let design = encode::design(&complete, opts.params.as_deref(), opts.objective)?;
    let n = design.y.len();
    let (raw, fraction, interactions) = match opts.method {
        Method::Fanova => {
            let forest = forest::Forest::fit(
                &design.x,
                &design.y,
                forest::ForestOptions { n_trees: opts.n_trees.max(1), seed: opts.seed, ..Default::default() },
            );
            let d = design.features.len();
            // Interactions of every pair when there are at most ten
            // parameters; else among the ten strongest main effects (which
            // takes a first pass for the main effects alone).
            let pairs_of = |top: &[usize]| -> Vec<(usize, usize)> {
                top.iter().enumerate().flat_map(|(k, &i)| top[k + 1..].iter().map(move |&j| (i.min(j), i.max(j)))).collect()
            };
            let (main, pairs, inter) = if d <= 10 {
                let pairs = pairs_of(&(0..d).collect::<Vec<_>>());
                let (main, inter) = fanova::fractions(&forest, &design.features, &pairs);
                (main, pairs, inter)
            } else {
                let (main, _) = fanova::fractions(&forest, &design.features, &[]);
                let mut top: Vec<usize> = (0..d).collect();
                top.sort_by(|&a, &b| main[b].total_cmp(&main[a]));
                top.truncate(10);
                let pairs = pairs_of(&top);
                let (_, inter) = fanova::fractions(&forest, &design.features, &pairs);
                (main, pairs, inter)
            };
            let mut interactions: Vec<Interaction> = pairs
                .iter()
                .zip(inter)
                .map(|(&(i, j), v)| Interaction {
                    params: [design.features[i].name.clone(), design.features[j].name.clone()],
                    variance_fraction: v,
                })
                .collect();
            interactions.sort_by(|a, b| b.variance_fraction.total_cmp(&a.variance_fraction));
            (main.clone(), Some(main), interactions)
        }
        Method::PedAnova => {
            let loss: Vec<f64> = design.y.iter().map(|v| direction.loss(*v)).collect();
            let q = |x: f64, name: &str| {
                if x.is_finite() && x > 0.0 && x <= 1.0 {
                    Ok(x)
                } else {
                    Err(Error::InvalidSpec(format!("{name} must be in (0, 1], got {x}")))
                }
            };
            let (target, region) = (q(opts.target_quantile, "target_quantile")?, q(opts.region_quantile, "region_quantile")?);
            if target > region {
                return Err(Error::InvalidSpec(format!(
                    "target_quantile ({target}) must not exceed region_quantile ({region}): the top trials are compared with a wider set"
                )));
            }
            (ped_anova::divergences(&design, &loss, target, region), None, vec![])
        }
    };
    let total: f64 = raw.iter().map(|v| v.max(0.0)).sum();
    let mut params: Vec<ParamImportance> = design
        .features
        .iter()
        .enumerate()
        .map(|(i, f)| ParamImportance {
            name: f.name.clone(),
            importance: if total > 0.0 { raw[i].max(0.0) / total } else { 0.0 },
            variance_fraction: fraction.as_ref().map(|m| m[i]),
            trials: f.present,
        })
        .collect();
    params.sort_by(|a, b| b.importance.total_cmp(&a.importance).then_with(|| a.name.cmp(&b.name)));
    Ok(Importances { method: opts.method, n_trials: n, params, interactions })
}

/// A fitted model of the objective over the parameters (fANOVA's forest):
/// what a contour plot draws under the observed points.
#[derive(Debug, Clone)]
pub struct Surrogate {
    design: encode::Design,
    forest: forest::Forest,
}

/// A surface over two parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Surface {
    /// The x parameter's values at the columns (cell centres).
    pub xs: Vec<ParamValue>,
    /// The y parameter's values at the rows.
    pub ys: Vec<ParamValue>,
    /// `z[row][column]`: the predicted objective, the other parameters
    /// averaged out.
    pub z: Vec<Vec<f64>>,
}

impl Surrogate {
    /// Fits the forest to the complete trials' objective `objective`.
    pub fn fit(trials: &[&FrozenTrial], objective: usize, seed: u64) -> Result<Surrogate> {
        let complete: Vec<&FrozenTrial> = trials.iter().copied().filter(|t| t.state == TrialState::Complete).collect();
        let design = encode::design(&complete, None, objective)?;
        let forest = forest::Forest::fit(
            &design.x,
            &design.y,
            forest::ForestOptions { n_trees: 32, seed, ..Default::default() },
        );
        Ok(Surrogate { design, forest })
    }

    /// The predicted objective over an `n` × `n` grid of two parameters
    /// (where both are set; categorical and few-valued parameters get one
    /// cell per value).
    pub fn surface(&self, x: &str, y: &str, n: usize) -> Result<Surface> {
        let find = |name: &str| {
            self.design.features.iter().position(|f| f.name == name).ok_or_else(|| {
                Error::InvalidSpec(format!("no complete trial has a parameter named '{name}'"))
            })
        };
        let (fx, fy) = (find(x)?, find(y)?);
        let cells = |f: usize| -> Vec<f64> {
            let k = self.design.features[f].levels().map_or(n, |l| l.min(n.max(1)).max(1));
            (0..k).map(|i| (i as f64 + 0.5) / k as f64).collect()
        };
        let (ux, uy) = (cells(fx), cells(fy));
        let z = uy
            .iter()
            .map(|&v| ux.iter().map(|&u| fanova::marginal(&self.forest, &self.design.features, &[(fx, u), (fy, v)])).collect())
            .collect();
        Ok(Surface {
            xs: ux.iter().map(|&u| self.design.features[fx].decode(u)).collect(),
            ys: uy.iter().map(|&v| self.design.features[fy].decode(v)).collect(),
            z,
        })
    }
}

#[cfg(test)]
mod tests;
