//! The evaluation protocol a study runs: which data, how it is split, what
//! the objective is, and the final retrain-and-test.
//!
//! - Hold-out: the training pool is split once (seeded) into train and
//!   validation; the validation metric is reported every epoch.
//! - K-fold: every configuration trains `folds` times; the objective is the
//!   mean of the folds' validation metrics, each fold's reported as an
//!   intermediate value (so e.g. the Wilcoxon pruner can stop it).
//!
//! The test set is never seen during the search: MNIST's and
//! Fashion-MNIST's own test sets, or a seeded fraction of a CSV table.
//! [`Task::retrain`] trains the chosen configuration on train + validation
//! and scores it once on the test set. Inputs are standardised with
//! statistics of the rows being trained on only.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::artifact::{save, ModelInfo};
use crate::data::csv::{read_csv, Task as CsvTask};
use crate::data::mnist::{load, DataLocation, ImageSet};
use crate::data::split::{holdout, holdout_stratified, kfold, kfold_stratified};
use crate::data::{Dataset, Standardizer, Targets};
use crate::error::{Result, TrainError};
use crate::hyperparams::Hyperparams;
use crate::train::{evaluate, fit, Control, EpochMetrics, Evaluation, Fit, FitOptions};

/// The `[trainer]` table of a study file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// "mnist", "fashion-mnist" or "csv".
    pub dataset: String,
    /// CSV: the file, its target column and the task.
    pub path: Option<PathBuf>,
    /// CSV: the column to predict.
    pub target: Option<String>,
    #[serde(default)]
    /// CSV: classification (default) or regression.
    pub task: Option<CsvTask>,
    /// Fraction of the training pool held out for validation.
    #[serde(default = "default_validation")]
    pub validation: f64,
    /// CSV only: fraction held out as the test set.
    #[serde(default = "default_test")]
    pub test: f64,
    /// Cross-validate with this many folds instead of one hold-out split.
    pub folds: Option<usize>,
    /// Split each class on its own so validation folds (and a CSV's test
    /// set) keep the class proportions. Default: on for classification, as
    /// scikit-learn's cross-validation does for classifiers.
    #[serde(default)]
    pub stratify: Option<bool>,
    /// Use only the first N training-pool rows (quick runs, CI).
    pub limit: Option<usize>,
    /// Epochs of the final retrain (default: the configuration's epochs, or
    /// its best epoch when it stopped early).
    pub retrain_epochs: Option<usize>,
    /// Threads per training (default: the machine's cores / n_jobs).
    pub threads: Option<usize>,
    /// Where the final model goes (default: `models/<study name>` beside the study file).
    pub model_dir: Option<PathBuf>,
    /// "cpu" (Burn's Flex backend, the default) or "auto": the first enabled
    /// GPU backend (build with the `wgpu` or `cuda` feature), else the CPU.
    #[serde(default)]
    pub device: Option<String>,
    /// Seed of the splits and of each trial's training (added to the trial number).
    #[serde(default)]
    pub seed: u64,
    /// Fixed hyperparameters; the search space's parameters override them.
    #[serde(default)]
    pub params: Map<String, Value>,
}

fn default_validation() -> f64 {
    0.1
}
fn default_test() -> f64 {
    0.2
}

/// A loaded task: data in memory, splits fixed.
#[derive(Debug)]
pub struct Task {
    /// The settings it was loaded from.
    pub spec: TaskSpec,
    /// Train + validation rows (raw features).
    pub pool: Dataset,
    /// The test set, used only by [`Task::retrain`].
    pub test: Dataset,
    /// Hold-out: (train, validation) indices into `pool`; k-fold: one per fold.
    pub splits: Vec<(Vec<usize>, Vec<usize>)>,
    /// Class names (CSV classification), in output order.
    pub class_names: Vec<String>,
    /// Images get one global standardisation, tables one per column.
    global_standardization: bool,
}

/// What [`Task::evaluate`] reports.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// An epoch of one fold (of the hold-out split: fold 0) finished.
    Epoch {
        /// The fold.
        fold: usize,
        /// Its metrics.
        metrics: &'a EpochMetrics,
    },
    /// A fold finished (k-fold), with its validation objective.
    Fold {
        /// The fold.
        fold: usize,
        /// Its validation objective.
        objective: f64,
    },
}

/// A finished final model.
#[derive(Debug, Clone)]
pub struct Retrained {
    /// The test-set metrics, measured once.
    pub test: Evaluation,
    /// Where `model.bpk` and `model.json` were written.
    pub model_dir: PathBuf,
    /// Epochs trained.
    pub epochs: usize,
    /// Wall time of the retrain.
    pub seconds: f64,
}

impl TaskSpec {
    /// Parses the `[trainer]` table (as JSON) and checks it; `base` resolves relative paths.
    pub fn from_json(v: Value, base: &Path) -> Result<TaskSpec> {
        let mut s: TaskSpec = serde_json::from_value(v).map_err(|e| {
            let hint = if e.to_string().contains("unknown field") { " (hyperparameters such as epochs or lr go in [trainer.params])" } else { "" };
            TrainError::Config(format!("[trainer]: {e}{hint}"))
        })?;
        if let Some(p) = &s.path {
            if p.is_relative() {
                s.path = Some(base.join(p));
            }
        }
        if let Some(d) = &s.model_dir {
            if d.is_relative() {
                s.model_dir = Some(base.join(d));
            }
        }
        match s.dataset.as_str() {
            "mnist" | "fashion-mnist" => {}
            "csv" => {
                if s.path.is_none() || s.target.is_none() {
                    return Err(TrainError::Config("[trainer] dataset = \"csv\" needs `path` and `target` (the column to predict)".into()));
                }
            }
            other => {
                return Err(TrainError::Config(format!(
                    "[trainer] dataset = \"{other}\" is not known; use \"mnist\", \"fashion-mnist\" or \"csv\""
                )))
            }
        }
        if s.stratify == Some(true) && !s.maximize() {
            return Err(TrainError::Config(
                "[trainer] stratify = true needs classes, but task = \"regression\" predicts values; remove `stratify`".into(),
            ));
        }
        if s.folds.is_some() && s.validation != default_validation() {
            return Err(TrainError::Config("[trainer] has both `folds` and `validation`; k-fold uses no separate validation fraction".into()));
        }
        s.burn_device()?;
        // Fixed params must make valid hyperparameters on their own.
        Hyperparams::from_json(&s.params).map_err(|e| TrainError::Config(format!("[trainer.params]: {e}")))?;
        Ok(s)
    }

    /// The Burn device of `device`.
    pub fn burn_device(&self) -> Result<burn::tensor::Device> {
        match self.device.as_deref() {
            None | Some("cpu") => Ok(burn::tensor::Device::flex()),
            Some("auto") => Ok(burn::tensor::Device::default()),
            Some(o) => Err(TrainError::Config(format!("[trainer] device = \"{o}\": use \"cpu\" or \"auto\""))),
        }
    }

    /// Whether a higher objective is better (accuracy) or lower (loss).
    pub fn maximize(&self) -> bool {
        self.dataset != "csv" || self.task != Some(CsvTask::Regression)
    }

    /// The labels to stratify `ds` by, when stratifying.
    fn strata<'a>(&self, ds: &'a Dataset) -> Option<&'a [u32]> {
        match (&ds.targets, self.stratify) {
            (Targets::Classes { labels, .. }, None | Some(true)) => Some(labels),
            _ => None,
        }
    }

    /// Loads the data and fixes the splits.
    pub fn load(self, loc: &DataLocation) -> Result<Task> {
        let (mut pool, test, class_names, global) = match self.dataset.as_str() {
            "mnist" | "fashion-mnist" => {
                let set = if self.dataset == "mnist" { ImageSet::Mnist } else { ImageSet::FashionMnist };
                let d = load(set, loc)?;
                let names = (0..10).map(|i| i.to_string()).collect();
                (d.train, d.test, names, true)
            }
            _ => {
                let task = self.task.unwrap_or(CsvTask::Classification);
                let t = read_csv(self.path.as_ref().unwrap(), self.target.as_ref().unwrap(), task)?;
                let h = match self.strata(&t.dataset) {
                    Some(labels) => holdout_stratified(labels, 0.0, self.test, self.seed)?,
                    None => holdout(t.dataset.len(), 0.0, self.test, self.seed)?,
                };
                (t.dataset.subset(&h.train), t.dataset.subset(&h.test), t.class_names, false)
            }
        };
        if let Some(l) = self.limit {
            if l < pool.len() {
                pool = pool.subset(&(0..l).collect::<Vec<_>>());
            }
        }
        let strata = self.strata(&pool);
        let splits = match (self.folds, strata) {
            (Some(k), Some(labels)) => kfold_stratified(labels, k, self.seed)?,
            (Some(k), None) => kfold(pool.len(), k, self.seed)?,
            (None, strata) => {
                let h = match strata {
                    Some(labels) => holdout_stratified(labels, self.validation, 0.0, self.seed)?,
                    None => holdout(pool.len(), self.validation, 0.0, self.seed)?,
                };
                vec![(h.train, h.validation)]
            }
        };
        Ok(Task { spec: self, pool, test, splits, class_names, global_standardization: global })
    }
}

impl Task {
    /// The hyperparameters of a trial: fixed params, then the trial's.
    pub fn hyperparams(&self, trial_params: &Map<String, Value>, trial_number: u64) -> Result<Hyperparams> {
        let mut m = self.spec.params.clone();
        m.entry("seed").or_insert(Value::from(self.spec.seed.wrapping_add(trial_number)));
        for (k, v) in trial_params {
            m.insert(k.clone(), v.clone());
        }
        Hyperparams::from_json(&m)
    }

    /// The input standardisation this task fits on training rows `ds`.
    pub fn standardizer(&self, ds: &Dataset) -> Standardizer {
        if self.global_standardization {
            Standardizer::fit_global(ds)
        } else {
            Standardizer::fit(ds)
        }
    }

    /// Train and validation sets of split `i`, standardised on the train part.
    pub fn split(&self, i: usize) -> (Dataset, Dataset) {
        let (tr, va) = &self.splits[i];
        let mut train = self.pool.subset(tr);
        let mut val = self.pool.subset(va);
        let st = self.standardizer(&train);
        st.apply(&mut train);
        st.apply(&mut val);
        (train, val)
    }

    /// The test set standardised like split `i`'s training part, and that
    /// standardisation (to save with a model trained on the split).
    pub fn test_for_split(&self, i: usize) -> (Dataset, Standardizer) {
        let st = self.standardizer(&self.pool.subset(&self.splits[i].0));
        let mut t = self.test.clone();
        st.apply(&mut t);
        (t, st)
    }

    /// Number of folds (1 for hold-out).
    pub fn n_splits(&self) -> usize {
        self.splits.len()
    }

    /// Trains on every split. `report` hears every epoch and every finished
    /// fold, and may stop training; the result is the objective (the
    /// hold-out metric, or the mean over folds) with each fit.
    pub fn evaluate(
        &self,
        hp: &Hyperparams,
        opts: &FitOptions,
        report: &mut (dyn FnMut(Event<'_>) -> Control + Send),
    ) -> Result<(Option<f64>, Vec<Fit>)> {
        let mut fits = vec![];
        for i in 0..self.splits.len() {
            let (train, val) = self.split(i);
            let f = fit(hp, &train, Some(&val), opts, &mut |m| report(Event::Epoch { fold: i, metrics: m }))?;
            let mut stopped = f.stop == crate::train::StopReason::Stopped;
            if !stopped {
                if let Some(o) = f.objective() {
                    stopped = report(Event::Fold { fold: i, objective: o }) == Control::Stop;
                }
            }
            fits.push(f);
            if stopped {
                return Ok((None, fits));
            }
        }
        let objs: Vec<f64> = fits.iter().filter_map(Fit::objective).collect();
        let mean = (objs.len() == fits.len() && !objs.is_empty()).then(|| objs.iter().sum::<f64>() / objs.len() as f64);
        Ok((mean, fits))
    }

    /// Trains `hp` on all of train + validation and scores it once on the
    /// test set; saves the model into `model_dir`.
    pub fn retrain(&self, hp: &Hyperparams, epochs: usize, opts: &FitOptions, model_dir: &Path, source: Value) -> Result<Retrained> {
        let t0 = std::time::Instant::now();
        let mut hp = hp.clone();
        hp.epochs = epochs;
        hp.patience = None; // nothing to stop on: no validation data
        let mut train = self.pool.clone();
        let mut test = self.test.clone();
        let st = self.standardizer(&train);
        st.apply(&mut train);
        st.apply(&mut test);
        let f = fit(&hp, &train, None, opts, &mut |_| Control::Continue)?;
        let eval = evaluate(&f.model, &test, &opts.device);
        let info = ModelInfo {
            hyperparams: hp.clone(),
            n_features: train.n_features,
            n_outputs: train.n_outputs(),
            classification: train.is_classification(),
            standardizer: st,
            class_names: self.class_names.clone(),
            test: Some(eval),
            source,
        };
        save(model_dir, &f.model, &info)?;
        Ok(Retrained { test: eval, model_dir: model_dir.to_path_buf(), epochs, seconds: t0.elapsed().as_secs_f64() })
    }
}
