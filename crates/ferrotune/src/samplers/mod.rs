//! Samplers: how the next trial's parameters are chosen.
//!
//! The [`Sampler`] trait follows Optuna's split, which lets one trait serve
//! both simple and model-based samplers:
//!
//! 1. When a trial starts, [`Sampler::infer_relative_search_space`] names the
//!    parameters the sampler wants to draw *jointly* (e.g. those every
//!    completed trial has), and [`Sampler::sample_relative`] draws them all at
//!    once from the study's history (TPE, GP-BO and CMA-ES live here).
//! 2. Any parameter the objective then suggests that the joint draw did not
//!    cover (a new or conditional one) goes to [`Sampler::sample_independent`].
//!
//! Samplers keep no state that storage does not hold: whatever they need is
//! rebuilt from [`Study::trials`] (cached and incremental), so a resumed study
//! or another process continues exactly where the last one stopped.

mod auto;
mod cmaes;
mod gp;
mod grid;
mod nsga2;
pub(crate) mod observations;
mod qmc;
mod random;
pub(crate) mod ranking;
mod tpe;
pub(crate) mod search_space;
pub(crate) mod transform;

pub use auto::{AutoOptions, AutoSampler, Choice as AutoChoice};
pub use cmaes::{CmaEsOptions, CmaEsSampler};
pub use gp::{Acquisition, AcquisitionChoice, GpOptions, GpSampler};
pub use grid::GridSampler;
pub use nsga2::{Nsga2Options, Nsga2Sampler};
pub use qmc::QmcSampler;
pub use random::RandomSampler;
pub use tpe::{TpeOptions, TpeSampler};

use indexmap::IndexMap;

use crate::distribution::Distribution;
use crate::error::Result;
use crate::study::Study;
use crate::trial::FrozenTrial;

pub use crate::distribution::SearchSpace;

/// The outcome of a joint draw.
#[derive(Debug, Clone, Default)]
pub struct RelativeSample {
    /// Internal values by parameter name (must lie in the inferred space).
    pub values: IndexMap<String, f64>,
    /// Bookkeeping stored on the trial (e.g. which grid point it is).
    pub system_attrs: Vec<(String, serde_json::Value)>,
}

/// Chooses parameter values. Implementations must be deterministic given
/// their seed, the trial number and the study's stored history.
pub trait Sampler: Send + Sync {
    /// A short name for logs and errors.
    fn name(&self) -> &'static str;

    /// The parameters to draw jointly for `trial`, from the history.
    fn infer_relative_search_space(&self, _study: &Study, _trial: &FrozenTrial) -> Result<SearchSpace> {
        Ok(SearchSpace::new())
    }

    /// Draws the joint space at the start of `trial`. Called for every trial,
    /// even when the space is empty, so a sampler can also pick a
    /// trial-wide choice here (the grid sampler picks its grid point).
    fn sample_relative(&self, _study: &Study, _trial: &FrozenTrial, _space: &SearchSpace) -> Result<RelativeSample> {
        Ok(RelativeSample::default())
    }

    /// Draws one parameter on its own; returns an internal value inside `dist`.
    fn sample_independent(&self, study: &Study, trial: &FrozenTrial, name: &str, dist: &Distribution) -> Result<f64>;

    /// Called when a trial of this process finishes.
    fn after_trial(&self, _study: &Study, _trial: &FrozenTrial) {}

    /// `Some(reason)` when the sampler has nothing left to propose.
    fn exhausted(&self, _study: &Study) -> Result<Option<String>> {
        Ok(None)
    }
}

impl<S: Sampler + ?Sized> Sampler for std::sync::Arc<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn infer_relative_search_space(&self, study: &Study, trial: &FrozenTrial) -> Result<SearchSpace> {
        (**self).infer_relative_search_space(study, trial)
    }
    fn sample_relative(&self, study: &Study, trial: &FrozenTrial, space: &SearchSpace) -> Result<RelativeSample> {
        (**self).sample_relative(study, trial, space)
    }
    fn sample_independent(&self, study: &Study, trial: &FrozenTrial, name: &str, dist: &Distribution) -> Result<f64> {
        (**self).sample_independent(study, trial, name, dist)
    }
    fn after_trial(&self, study: &Study, trial: &FrozenTrial) {
        (**self).after_trial(study, trial)
    }
    fn exhausted(&self, study: &Study) -> Result<Option<String>> {
        (**self).exhausted(study)
    }
}

/// A sampler named in a study file (`[sampler] type = "grid"`) or on the
/// command line (`--sampler qmc`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SamplerConfig {
    /// Chooses GP-BO or TPE per trial from the study (the default); options
    /// as in [`AutoOptions`].
    Auto(AutoOptions),
    /// Independent uniform draws.
    Random,
    /// Every point of a grid over the space.
    Grid {
        /// Values per continuous axis (discrete axes with fewer values use all).
        #[serde(default = "default_points_per_axis")]
        points_per_axis: usize,
        /// Visit the grid in a seeded scattered order instead of row-major.
        #[serde(default)]
        shuffle: bool,
    },
    /// Scrambled Sobol (also accepted as `sobol`).
    #[serde(alias = "sobol")]
    Qmc,
    /// Tree-structured Parzen Estimator; options as in [`TpeOptions`].
    Tpe(TpeOptions),
    /// CMA-ES with IPOP restarts; options as in [`CmaEsOptions`].
    Cmaes(CmaEsOptions),
    /// NSGA-II; for one objective, an elitist genetic algorithm (also `ga`).
    #[serde(alias = "ga")]
    Nsga2(Nsga2Options),
    /// Gaussian-process Bayesian optimisation; options as in [`GpOptions`].
    Gp(GpOptions),
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig::Auto(AutoOptions::default())
    }
}

fn default_points_per_axis() -> usize {
    5
}

/// Names accepted by [`SamplerConfig::from_name`].
pub const SAMPLER_NAMES: &[&str] = &["auto", "random", "grid", "qmc", "tpe", "gp", "cmaes", "nsga2", "ga"];

impl SamplerConfig {
    /// Parses a sampler name with default options.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "auto" => SamplerConfig::Auto(AutoOptions::default()),
            "random" => SamplerConfig::Random,
            "grid" => SamplerConfig::Grid { points_per_axis: default_points_per_axis(), shuffle: false },
            "qmc" | "sobol" => SamplerConfig::Qmc,
            "tpe" => SamplerConfig::Tpe(TpeOptions::default()),
            "tpe-univariate" => SamplerConfig::Tpe(TpeOptions { multivariate: false, ..TpeOptions::default() }),
            "cmaes" => SamplerConfig::Cmaes(CmaEsOptions::default()),
            "nsga2" | "ga" => SamplerConfig::Nsga2(Nsga2Options::default()),
            "gp" => SamplerConfig::Gp(GpOptions::default()),
            other => {
                return Err(crate::Error::InvalidSpec(format!(
                    "unknown sampler '{other}'; available: {}",
                    SAMPLER_NAMES.join(", ")
                )))
            }
        })
    }

    /// Builds the sampler. `space` is needed by the grid sampler.
    pub fn build(&self, seed: u64, space: Option<&SearchSpace>) -> Result<std::sync::Arc<dyn Sampler>> {
        Ok(match self {
            SamplerConfig::Auto(o) => std::sync::Arc::new(AutoSampler::new(Some(seed), o.clone())),
            SamplerConfig::Random => std::sync::Arc::new(RandomSampler::new(Some(seed))),
            SamplerConfig::Qmc => std::sync::Arc::new(QmcSampler::new(Some(seed))),
            SamplerConfig::Tpe(o) => std::sync::Arc::new(TpeSampler::new(Some(seed), o.clone())),
            SamplerConfig::Cmaes(o) => std::sync::Arc::new(CmaEsSampler::new(Some(seed), o.clone())),
            SamplerConfig::Nsga2(o) => std::sync::Arc::new(Nsga2Sampler::new(Some(seed), o.clone())),
            SamplerConfig::Gp(o) => std::sync::Arc::new(GpSampler::new(Some(seed), o.clone())),
            SamplerConfig::Grid { points_per_axis, shuffle } => {
                let space = space.ok_or_else(|| {
                    crate::Error::InvalidSpec("the grid sampler needs a declarative search space".into())
                })?;
                let g = GridSampler::from_space(space, *points_per_axis)?;
                std::sync::Arc::new(if *shuffle { g.shuffled(seed) } else { g })
            }
        })
    }
}
