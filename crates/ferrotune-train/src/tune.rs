//! The trainer as a study's objective: what a `[trainer]` study file runs,
//! usable from Rust without the CLI.
//!
//! - [`load_task`]: the `[trainer]` table of a study file, checked against
//!   the study's direction, with its data loaded;
//! - [`objective`]: suggest the space, train, report the validation metric
//!   after every epoch (hold-out) or fold (k-fold) so pruners can stop it;
//! - [`retrain_best`]: the final policy: the best trial retrained on train +
//!   validation for its epochs (or its best epoch when it stopped early),
//!   scored once on the untouched test set, saved;
//! - [`threads_per_trial`]: cores per training when `n_jobs` train at once.
//!
//! `crates/ferrotune-train/examples/tune_study.rs` runs a study this way.

use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;

use ferrotune::study_file::{ObjectiveKind, StudyFile};
use ferrotune::{Direction, ObjectiveError, Study, Trial};

use crate::data::mnist::DataLocation;
use crate::error::{Result, TrainError};
use crate::task::{Event, Retrained, Task, TaskSpec};
use crate::train::{Control, FitOptions};

/// User attribute: epochs trained by the trial (all folds together).
pub const EPOCHS_TRAINED: &str = "epochs_trained";
/// User attribute: the epoch whose weights were kept (with `patience`).
pub const BEST_EPOCH: &str = "best_epoch";
/// User attribute: seconds spent training.
pub const TRAIN_SECONDS: &str = "train_seconds";

/// Cores for one training when `n_jobs` train at once, so parallel trials
/// never oversubscribe the CPU.
pub fn threads_per_trial(n_jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / n_jobs.max(1)).max(1)
}

/// The `[trainer]` table of `file` as a task spec, checked against the
/// study's direction (accuracy is maximised, mean squared error minimised).
pub fn task_spec(file: &StudyFile) -> Result<TaskSpec> {
    let ObjectiveKind::Trainer(table) = &file.objective else {
        return Err(TrainError::Config(format!("{} has no [trainer] table", file.path.display())));
    };
    let spec = TaskSpec::from_json(table.clone(), &file.base_dir())?;
    check_direction(&file.directions, &spec)?;
    Ok(spec)
}

/// A trainer study has one objective, in the direction its metric needs.
pub fn check_direction(directions: &[Direction], spec: &TaskSpec) -> Result<()> {
    if directions.len() != 1 {
        return Err(TrainError::Config("[trainer] studies have one objective; set [study] direction".into()));
    }
    let wants_max = spec.maximize();
    let dir = directions[0];
    if (dir == Direction::Maximize) != wants_max {
        return Err(TrainError::Config(format!(
            "[study] direction = \"{dir}\", but the trainer's objective is validation {} ({}); set direction = \"{}\"",
            if wants_max { "accuracy" } else { "mean squared error" },
            if wants_max { "higher is better" } else { "lower is better" },
            if wants_max { "maximize" } else { "minimize" },
        )));
    }
    Ok(())
}

/// Loads the data of `file`'s `[trainer]` study from `loc`.
pub fn load_task(file: &StudyFile, loc: &DataLocation) -> Result<Task> {
    task_spec(file)?.load(loc)
}

/// Threads per training for `file`: `[trainer] threads`, else cores / n_jobs.
pub fn threads(file: &StudyFile, task: &Task) -> usize {
    task.spec.threads.unwrap_or_else(|| threads_per_trial(file.n_jobs))
}

/// Where the final model of `file`'s study goes: `[trainer] model_dir`, else
/// `models/<study name>` beside the study file.
pub fn model_dir(file: &StudyFile, task: &Task) -> PathBuf {
    task.spec.model_dir.clone().unwrap_or_else(|| file.base_dir().join("models").join(&file.name))
}

/// How a trial's training is going, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Progress {
    /// A batch finished: (done, total) in this epoch.
    Batch {
        /// The trial.
        trial: u64,
        /// Batches done in this epoch.
        done: usize,
        /// Batches in this epoch.
        total: usize,
    },
    /// An epoch finished, with its validation metric.
    Epoch {
        /// The trial.
        trial: u64,
        /// The fold (0 for a hold-out split).
        fold: usize,
        /// Folds in all (1 for a hold-out split).
        folds: usize,
        /// The epoch just finished, from 1.
        epoch: usize,
        /// Epochs the trial runs.
        epochs: usize,
        /// The validation metric, if there is validation data.
        validation: Option<f64>,
    },
    /// The trial's training ended (finished, pruned or failed).
    Done {
        /// The trial.
        trial: u64,
    },
}

/// Receives [`Progress`] from the training threads.
pub type ProgressSink = Arc<dyn Fn(Progress) + Send + Sync>;

/// The per-trial objective of a `[trainer]` study: suggest `file`'s space,
/// train with `threads` threads, report each epoch (hold-out) or fold
/// (k-fold) so pruners can stop it, and record epochs and time as user
/// attributes.
pub fn objective<'a>(
    file: &'a StudyFile,
    task: &'a Task,
    threads: usize,
    progress: Option<ProgressSink>,
) -> impl Fn(&mut Trial) -> std::result::Result<Vec<f64>, ObjectiveError> + Sync + 'a {
    move |trial: &mut Trial| {
        let result = run_trial(file, task, threads, progress.clone(), trial);
        if let Some(p) = &progress {
            p(Progress::Done { trial: trial.number() });
        }
        result
    }
}

fn run_trial(
    file: &StudyFile,
    task: &Task,
    threads: usize,
    progress: Option<ProgressSink>,
    trial: &mut Trial,
) -> std::result::Result<Vec<f64>, ObjectiveError> {
    let params = file.space.suggest_all(trial)?;
    let pj = match serde_json::to_value(&params).map_err(ObjectiveError::msg)? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let hp = task.hyperparams(&pj, trial.number()).map_err(ObjectiveError::msg)?;
    let number = trial.number();
    let on_batch: Option<Arc<dyn Fn(usize, usize) + Send + Sync>> = progress.clone().map(|p| {
        Arc::new(move |done: usize, total: usize| p(Progress::Batch { trial: number, done, total }))
            as Arc<dyn Fn(usize, usize) + Send + Sync>
    });
    let opts = FitOptions { threads, on_batch, device: task.spec.burn_device().map_err(ObjectiveError::msg)? };
    let k = task.n_splits();
    let epochs = hp.epochs;
    let mut outcome: Option<ObjectiveError> = None;
    let result = task.evaluate(&hp, &opts, &mut |ev| {
        if trial.is_interrupted() {
            outcome = Some(ObjectiveError::Interrupted);
            return Control::Stop;
        }
        let (step, value) = match ev {
            Event::Epoch { fold, metrics } => {
                if let Some(p) = &progress {
                    p(Progress::Epoch {
                        trial: number,
                        fold,
                        folds: k,
                        epoch: metrics.epoch,
                        epochs,
                        validation: metrics.objective(),
                    });
                }
                if k > 1 {
                    return Control::Continue;
                }
                match metrics.objective() {
                    Some(v) => (metrics.epoch as u64, v),
                    None => return Control::Continue,
                }
            }
            Event::Fold { fold, objective } if k > 1 => (fold as u64, objective),
            Event::Fold { .. } => return Control::Continue,
        };
        if let Err(e) = trial.report(step, value) {
            outcome = Some(ObjectiveError::msg(e));
            return Control::Stop;
        }
        match trial.should_prune() {
            Ok(true) => {
                outcome = Some(ObjectiveError::Pruned);
                Control::Stop
            }
            Ok(false) => Control::Continue,
            Err(e) => {
                outcome = Some(ObjectiveError::msg(e));
                Control::Stop
            }
        }
    });
    if let Some(o) = outcome {
        return Err(o);
    }
    let (value, fits) = result.map_err(ObjectiveError::msg)?;
    let trained: usize = fits.iter().map(|f| f.history.len()).sum();
    let _ = trial.set_user_attr(EPOCHS_TRAINED, trained);
    if let Some(best) = fits.iter().filter_map(|f| f.best_epoch).max() {
        let _ = trial.set_user_attr(BEST_EPOCH, best);
    }
    let secs: f64 = fits.iter().flat_map(|f| &f.history).map(|h| h.seconds).sum();
    let _ = trial.set_user_attr(TRAIN_SECONDS, secs);
    value.map(|v| vec![v]).ok_or_else(|| ObjectiveError::msg("training produced no validation metric"))
}

/// The epochs the final retrain of `best` runs: `[trainer] retrain_epochs`,
/// else the epoch whose weights the trial kept (early stopping), else the
/// trial's epochs.
pub fn retrain_epochs(task: &Task, best: &ferrotune::FrozenTrial, trial_epochs: usize) -> usize {
    task.spec
        .retrain_epochs
        .or_else(|| best.user_attrs.get(BEST_EPOCH).and_then(Value::as_u64).map(|e| e as usize))
        .unwrap_or(trial_epochs)
}

/// The retrain of a study's best trial, with what it was.
#[derive(Debug)]
pub struct BestRetrained {
    /// The trial retrained.
    pub trial: u64,
    /// Its validation value in the study.
    pub validation: Option<f64>,
    /// Rows trained on (train + validation).
    pub rows: usize,
    /// The retrain itself.
    pub retrained: Retrained,
}

/// Retrains the best trial of `study` on train + validation, scores it once
/// on the test set and saves it in `model_dir`. `None` when no trial completed.
pub fn retrain_best(
    study: &Study,
    task: &Task,
    threads: usize,
    model_dir: &std::path::Path,
) -> Result<Option<BestRetrained>> {
    let Some(best) = study.best_trial()? else { return Ok(None) };
    let params = match serde_json::to_value(best.param_values()) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let hp = task.hyperparams(&params, best.number)?;
    let epochs = retrain_epochs(task, &best, hp.epochs);
    let source = serde_json::json!({
        "study": study.name(),
        "trial": best.number,
        "dataset": task.spec.dataset,
        "target": task.spec.target,
        "validation_value": best.value(),
    });
    let opts = FitOptions { threads, device: task.spec.burn_device()?, ..FitOptions::default() };
    let retrained = task.retrain(&hp, epochs, &opts, model_dir, source)?;
    Ok(Some(BestRetrained { trial: best.number, validation: best.value(), rows: task.pool.len(), retrained }))
}

/// Runs a whole `[trainer]` study file from Rust: the study, then the
/// retrain of the best trial. What `ferrotune run` does, without its
/// terminal output.
pub fn run_study(file: &StudyFile, loc: &DataLocation) -> Result<(ferrotune::OptimizeReport, Option<BestRetrained>)> {
    let task = load_task(file, loc)?;
    let study = file.open_study(None)?;
    let threads = threads(file, &task);
    let report = study.optimize(objective(file, &task, threads, None), file.optimize_options())?;
    let best = retrain_best(&study, &task, threads, &model_dir(file, &task))?;
    Ok((report, best))
}
