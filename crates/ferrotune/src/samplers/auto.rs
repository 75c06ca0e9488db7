//! `auto`: picks the sampler per trial from what the study looks like, so
//! a user need not know which to choose.
//!
//! The rules follow where each sampler measured best in our quality
//! benchmark (`ferrotune-bench quality`, docs/benchmarks.md) and the same
//! reasoning as OptunaHub's AutoSampler:
//!
//! - **several objectives** → multi-objective TPE (strong at the budgets
//!   deep-learning studies afford; NSGA-II needs generations of 50);
//! - **a conditional space** (parameters present in some trials and not
//!   others) → GP-BO too, which models the union of the parameters with
//!   absent ones imputed and searches each pattern of present ones apart
//!   (`gp::Pattern`). It was TPE (multivariate, grouped), which models
//!   absent parameters natively, while the GP saw only the parameters
//!   every trial has; with the union, on the benchmark's conditional space
//!   the GP's mean regret at 60 trials is 0.037 against grouped TPE's 0.158
//!   (30 seeds), and on a per-layer space (`conditional-layers`) 2e-4
//!   against 0.093 (docs/benchmarks.md);
//! - **a long study** → TPE: a conditional space after
//!   `gp_max_trials_conditional` (250) complete trials, any space after
//!   `gp_max_trials` (1,000). At 400 trials (30 seeds, docs/benchmarks.md)
//!   the GP late in a conditional space exploits one branch, and moving to
//!   TPE at 250 cut the mean regret from 0.023 to 0.0004; on continuous
//!   spaces the GP kept gaining (Levy 0.22 against 0.36 with the move,
//!   Rosenbrock 6.0 against 7.7, Styblinski-Tang 130 against 141; Hartmann
//!   within a standard error either way), so there it runs until its ask
//!   (about 0.1 s at 1,000 trials, where TPE's is under 1 ms) makes TPE
//!   the better use of time;
//! - otherwise (continuous, integer and categorical parameters) → GP-BO.
//!   Categorical-heavy spaces stay with the GP: on the benchmark's
//!   6-categorical problem its mean regret at 60 trials is 1.6e-5 against
//!   TPE's 0.22 (30 seeds; docs/benchmarks.md, issue 15), so a "TPE for
//!   categoricals" rule was measured and dropped.
//!
//! The first trials are GP-BO's quasi-random start whatever comes later,
//! which suits both samplers. The choice is made when a trial starts, from
//! the study's stored trials only (so every worker and a resumed study
//! decide alike), and stored on the trial as the `auto_sampler` system
//! attribute.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{GpOptions, GpSampler, RelativeSample, Sampler, SearchSpace, TpeOptions, TpeSampler};
use crate::distribution::Distribution;
use crate::error::Result;
use crate::study::Study;
use crate::trial::{FrozenTrial, TrialState};

/// The trial attribute naming the sampler `auto` chose for it.
pub const ATTR: &str = crate::attrs::AUTO_SAMPLER;

/// Options of the `auto` sampler.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoOptions {
    /// Complete trials after which a single-objective study moves from
    /// GP-BO to TPE.
    pub gp_max_trials: usize,
    /// The same for a conditional space (parameters present in some trials
    /// and not others), where TPE's exploration pays sooner; the smaller of
    /// the two applies there.
    pub gp_max_trials_conditional: usize,
}

impl Default for AutoOptions {
    fn default() -> Self {
        AutoOptions { gp_max_trials: 1000, gp_max_trials_conditional: 250 }
    }
}

/// Which sampler `auto` uses for a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// GP-BO (single-objective studies up to `gp_max_trials`, or
    /// `gp_max_trials_conditional` in a conditional space).
    Gp,
    /// TPE (long or multi-objective studies).
    Tpe,
}

impl Choice {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Gp => "gp",
            Choice::Tpe => "tpe",
        }
    }
    fn parse(s: &str) -> Option<Choice> {
        match s {
            "gp" => Some(Choice::Gp),
            "tpe" => Some(Choice::Tpe),
            _ => None,
        }
    }
}

/// Chooses GP-BO or TPE per trial; see the module documentation.
pub struct AutoSampler {
    options: AutoOptions,
    gp: GpSampler,
    tpe: TpeSampler,
    /// The choice made in `infer_relative_search_space`, by trial id, until
    /// `sample_relative` stores it on the trial.
    pending: Mutex<HashMap<i64, Choice>>,
}

impl std::fmt::Debug for AutoSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoSampler").field("options", &self.options).finish()
    }
}

impl AutoSampler {
    /// An auto sampler; `seed` seeds both inner samplers.
    pub fn new(seed: Option<u64>, options: AutoOptions) -> Self {
        AutoSampler {
            options,
            gp: GpSampler::new(seed, GpOptions::default()),
            // Grouped, for the long studies of conditional spaces.
            tpe: TpeSampler::new(seed, TpeOptions { multivariate: true, group: true, ..TpeOptions::default() }),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// What the study's stored trials call for.
    pub fn choose(&self, study: &Study) -> Result<Choice> {
        if study.directions().len() > 1 {
            return Ok(Choice::Tpe);
        }
        let trials = study.trials()?;
        let mut complete = trials.iter().filter(|t| t.state == TrialState::Complete);
        let first = complete.next();
        let (mut n, mut conditional) = (usize::from(first.is_some()), false);
        for t in complete {
            n += 1;
            // Conditional: some trial's parameter names differ from the first's.
            conditional |= first.is_some_and(|f| f.params.len() != t.params.len() || t.params.keys().any(|k| !f.params.contains_key(k)));
        }
        let cap = if conditional {
            self.options.gp_max_trials.min(self.options.gp_max_trials_conditional)
        } else {
            self.options.gp_max_trials
        };
        Ok(if n > cap { Choice::Tpe } else { Choice::Gp })
    }

    fn inner(&self, c: Choice) -> &dyn Sampler {
        match c {
            Choice::Gp => &self.gp,
            Choice::Tpe => &self.tpe,
        }
    }

    /// The choice stored on a started trial (GP-BO if none: a trial
    /// enqueued or started by another sampler).
    fn stored(trial: &FrozenTrial) -> Choice {
        trial.system_attrs.get(ATTR).and_then(|v| v.as_str()).and_then(Choice::parse).unwrap_or(Choice::Gp)
    }
}

impl Sampler for AutoSampler {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn infer_relative_search_space(&self, study: &Study, trial: &FrozenTrial) -> Result<SearchSpace> {
        let c = self.choose(study)?;
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(trial.id, c);
        self.inner(c).infer_relative_search_space(study, trial)
    }

    fn sample_relative(&self, study: &Study, trial: &FrozenTrial, space: &SearchSpace) -> Result<RelativeSample> {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&trial.id);
        let c = match pending {
            Some(c) => c,
            None => self.choose(study)?,
        };
        let mut s = self.inner(c).sample_relative(study, trial, space)?;
        s.system_attrs.push((ATTR.to_string(), serde_json::json!(c.as_str())));
        Ok(s)
    }

    fn sample_independent(&self, study: &Study, trial: &FrozenTrial, name: &str, dist: &Distribution) -> Result<f64> {
        self.inner(Self::stored(trial)).sample_independent(study, trial, name, dist)
    }

    fn after_trial(&self, study: &Study, trial: &FrozenTrial) {
        self.gp.after_trial(study, trial);
        self.tpe.after_trial(study, trial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Direction, ObjectiveError, Optimize};

    fn run(objective: impl Fn(&mut crate::Trial) -> std::result::Result<f64, ObjectiveError> + Sync, n: usize) -> Vec<String> {
        let opts = AutoOptions { gp_max_trials: 30, gp_max_trials_conditional: 20 };
        let study = Study::builder("auto").sampler(AutoSampler::new(Some(3), opts)).create().unwrap();
        study.optimize(objective, Optimize::trials(n)).unwrap();
        study.trials().unwrap().iter().map(|t| t.system_attrs[ATTR].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn continuous_spaces_get_gp_until_the_study_is_long() {
        let choices = run(
            |t| {
                let x = t.suggest_float("x", -5.0, 5.0).sample()?;
                let lr = t.suggest_float("lr", 1e-5, 1e-1).log().sample()?;
                Ok(x * x + (lr.log10() + 3.0).powi(2))
            },
            40,
        );
        assert!(choices[..31].iter().all(|c| c == "gp"), "{choices:?}");
        assert!(choices[32..].iter().all(|c| c == "tpe"), "past gp_max_trials: {choices:?}");
    }

    #[test]
    fn conditional_and_categorical_spaces_get_gp_and_conditional_ones_move_to_tpe_sooner() {
        let conditional = run(
            |t| {
                let opt = t.suggest_categorical("opt", ["sgd", "adam"])?;
                let x = t.suggest_float("x", 0.0, 1.0).sample()?;
                let m = if opt == "sgd" { t.suggest_float("momentum", 0.0, 1.0).sample()? } else { 0.5 };
                Ok(x + m)
            },
            25,
        );
        assert!(conditional[..21].iter().all(|c| c == "gp"), "{conditional:?}");
        assert!(conditional[22..].iter().all(|c| c == "tpe"), "past gp_max_trials_conditional: {conditional:?}");
        let categorical = run(
            |t| {
                let a = t.suggest_categorical("a", ["x", "y", "z"])?;
                let b = t.suggest_categorical("b", [1, 2, 3])?;
                let x = t.suggest_float("x", 0.0, 1.0).sample()?;
                Ok(x + f64::from(a == "x") + f64::from(b == 2))
            },
            15,
        );
        assert!(categorical.iter().all(|c| c == "gp"), "{categorical:?}");
    }

    #[test]
    fn several_objectives_get_tpe_and_the_choice_is_seeded() {
        let study = Study::builder("mo")
            .directions([Direction::Minimize, Direction::Minimize])
            .sampler(AutoSampler::new(Some(1), AutoOptions::default()))
            .create()
            .unwrap();
        study
            .optimize(
                |t: &mut crate::Trial| -> std::result::Result<Vec<f64>, ObjectiveError> {
                    let x = t.suggest_float("x", 0.0, 1.0).sample()?;
                    Ok(vec![x, 1.0 - x])
                },
                Optimize::trials(5),
            )
            .unwrap();
        assert!(study.trials().unwrap().iter().all(|t| t.system_attrs[ATTR] == "tpe"));
        let values = |seed| {
            let s = Study::builder("s").sampler(AutoSampler::new(Some(seed), AutoOptions::default())).create().unwrap();
            s.optimize(|t: &mut crate::Trial| -> std::result::Result<f64, ObjectiveError> { Ok(t.suggest_float("x", 0.0, 1.0).sample()?.powi(2)) }, Optimize::trials(14))
                .unwrap();
            s.trials().unwrap().iter().map(|t| t.value().unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(values(5), values(5));
    }
}
