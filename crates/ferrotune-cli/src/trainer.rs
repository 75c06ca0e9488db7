//! Studies whose trials run the built-in trainer (`[trainer]` in the study
//! file), the final retrain-and-test, and `ferrotune train`.
//!
//! Cores: each training gets its own thread pool of `[trainer] threads`
//! threads, by default the machine's cores divided by `n_jobs` (at least
//! one), so parallel trials never oversubscribe the CPU.

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;

use ferrotune::study_file::StudyFile;
use ferrotune::{ObjectiveError, Study, Trial};
use ferrotune_train::data::mnist::DataLocation;
use ferrotune_train::task::{Event, Task, TaskSpec};
use ferrotune_train::train::{Control, FitOptions};
use ferrotune_train::Hyperparams;

use crate::output::num;

/// Cores for one training when `n_jobs` train at once.
pub fn threads_per_trial(n_jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / n_jobs.max(1)).max(1)
}

/// Loads the `[trainer]` task of a study file.
pub fn load_task(file: &StudyFile, spec: &Value) -> Result<Task> {
    let spec = TaskSpec::from_json(spec.clone(), &file.base_dir())?;
    let wants_max = spec.maximize();
    if file.directions.len() != 1 {
        anyhow::bail!("[trainer] studies have one objective; set [study] direction");
    }
    let dir = file.directions[0];
    if (dir == ferrotune::Direction::Maximize) != wants_max {
        anyhow::bail!(
            "[study] direction = \"{dir}\", but the trainer's objective is validation {} ({}); set direction = \"{}\"",
            if wants_max { "accuracy" } else { "mean squared error" },
            if wants_max { "higher is better" } else { "lower is better" },
            if wants_max { "maximize" } else { "minimize" },
        );
    }
    let t0 = std::time::Instant::now();
    let task = spec.load(&DataLocation::from_env()).context("loading the [trainer] dataset")?;
    eprintln!(
        "data: {} ({} train+validation rows{}, {} test rows) loaded in {:.1}s",
        task.spec.dataset,
        task.pool.len(),
        match task.spec.folds {
            Some(k) => format!(", {k}-fold cross-validation"),
            None => format!(", {:.0}% held out for validation", task.spec.validation * 100.0),
        },
        task.test.len(),
        t0.elapsed().as_secs_f64()
    );
    Ok(task)
}

/// The per-trial objective: suggest the space, train, report each epoch
/// (hold-out) or fold (k-fold) so pruners can stop it.
pub fn objective<'a>(
    file: &'a StudyFile,
    task: &'a Task,
    threads: usize,
    bars: Option<MultiProgress>,
) -> impl Fn(&mut Trial) -> Result<Vec<f64>, ObjectiveError> + Sync + 'a {
    move |trial: &mut Trial| {
        let params = file.space.suggest_all(trial)?;
        let pj = match serde_json::to_value(&params).map_err(ObjectiveError::msg)? {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let hp = task.hyperparams(&pj, trial.number()).map_err(ObjectiveError::msg)?;
        let bar = bars.as_ref().map(|m| {
            let pb = m.add(ProgressBar::new(0));
            pb.set_style(
                ProgressStyle::with_template("  trial {prefix}: {msg} {bar:20.green/white} {pos}/{len} batches").expect("template"),
            );
            pb.set_prefix(trial.number().to_string());
            pb
        });
        let on_batch: Option<Arc<dyn Fn(usize, usize) + Send + Sync>> = bar.clone().map(|pb| {
            Arc::new(move |done: usize, total: usize| {
                if done == 1 {
                    pb.set_length(total as u64);
                }
                if done % 16 == 0 || done == total {
                    pb.set_position(done as u64);
                }
            }) as Arc<dyn Fn(usize, usize) + Send + Sync>
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
                    if let Some(pb) = &bar {
                        let fold_txt = if k > 1 { format!("fold {}/{k}, ", fold + 1) } else { String::new() };
                        pb.set_message(format!(
                            "{fold_txt}epoch {}/{epochs}, val {}",
                            metrics.epoch,
                            metrics.objective().map(num).unwrap_or_default()
                        ));
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
        if let Some(pb) = bar {
            pb.finish_and_clear();
        }
        if let Some(o) = outcome {
            return Err(o);
        }
        let (value, fits) = result.map_err(ObjectiveError::msg)?;
        let trained: usize = fits.iter().map(|f| f.history.len()).sum();
        let _ = trial.set_user_attr("epochs_trained", trained);
        if let Some(best) = fits.iter().filter_map(|f| f.best_epoch).max() {
            let _ = trial.set_user_attr("best_epoch", best);
        }
        let secs: f64 = fits.iter().flat_map(|f| &f.history).map(|h| h.seconds).sum();
        let _ = trial.set_user_attr("train_seconds", secs);
        value.map(|v| vec![v]).ok_or_else(|| ObjectiveError::msg("training produced no validation metric"))
    }
}

/// Retrains the best trial on train + validation, scores it once on the
/// test set, saves it. Prints the result.
pub fn retrain_best(file: &StudyFile, task: &Task, study: &Study, threads: usize) -> Result<()> {
    let Some(best) = study.best_trial()? else {
        eprintln!("no complete trial: nothing to retrain");
        return Ok(());
    };
    let params = match serde_json::to_value(best.param_values())? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let hp: Hyperparams = task.hyperparams(&params, best.number)?;
    let epochs = task
        .spec
        .retrain_epochs
        .or_else(|| best.user_attrs.get("best_epoch").and_then(Value::as_u64).map(|e| e as usize))
        .unwrap_or(hp.epochs);
    let dir = task.spec.model_dir.clone().unwrap_or_else(|| file.base_dir().join("models").join(study.name()));
    eprintln!(
        "retraining trial {} (validation {}) on all {} train+validation rows for {epochs} epochs...",
        best.number,
        num(best.value().unwrap_or(f64::NAN)),
        task.pool.len()
    );
    let source = serde_json::json!({"study": study.name(), "trial": best.number, "dataset": task.spec.dataset, "validation_value": best.value()});
    let r = task.retrain(&hp, epochs, &FitOptions { threads, device: task.spec.burn_device()?, ..FitOptions::default() }, &dir, source)?;
    match r.test.accuracy {
        Some(acc) => println!("test accuracy: {acc:.4} (test loss {:.4})", r.test.loss),
        None => println!("test mean squared error: {:.6}", r.test.loss),
    }
    eprintln!("final model ({:.1}s to train) saved to {}", r.seconds, r.model_dir.display());
    Ok(())
}

/// `ferrotune train`: one training with given hyperparameters.
pub struct TrainArgs {
    pub config: Option<PathBuf>,
    pub set: Vec<String>,
    pub dataset: String,
    pub path: Option<PathBuf>,
    pub target: Option<String>,
    pub regression: bool,
    pub validation: f64,
    pub limit: Option<usize>,
    pub threads: Option<usize>,
    pub save: Option<PathBuf>,
}

pub fn train(a: TrainArgs) -> Result<()> {
    let mut params: Map<String, Value> = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            match serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", p.display()))? {
                Value::Object(m) => m,
                _ => anyhow::bail!("{}: expected a JSON object of hyperparameters, e.g. {{\"lr\": 0.001, \"units\": 128}}", p.display()),
            }
        }
        None => Map::new(),
    };
    for kv in &a.set {
        let (k, v) = kv.split_once('=').with_context(|| format!("--set {kv}: write key=value, e.g. --set lr=0.01"))?;
        let v = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        params.insert(k.to_string(), v);
    }
    let mut spec = serde_json::json!({"dataset": a.dataset, "validation": a.validation, "params": params});
    if let Some(p) = &a.path {
        spec["path"] = Value::from(p.display().to_string());
    }
    if let Some(t) = &a.target {
        spec["target"] = Value::from(t.clone());
    }
    if a.regression {
        spec["task"] = Value::from("regression");
    }
    if let Some(l) = a.limit {
        spec["limit"] = Value::from(l);
    }
    let spec = TaskSpec::from_json(spec, &std::env::current_dir()?)?;
    let task = spec.load(&DataLocation::from_env())?;
    let hp = task.hyperparams(&Map::new(), 0)?;
    let threads = a.threads.unwrap_or_else(|| threads_per_trial(1));
    eprintln!("training {} rows, validating on {}, {threads} thread(s)", task.splits[0].0.len(), task.splits[0].1.len());
    println!("epoch  train_loss  val_loss  val_metric  lr        seconds");
    let (_, fits) = task.evaluate(&hp, &FitOptions { threads, ..FitOptions::default() }, &mut |ev| {
        if let Event::Epoch { metrics: m, .. } = ev {
            println!(
                "{:>5}  {:>10.4}  {:>8.4}  {:>10.4}  {:<8.2e}  {:>7.2}",
                m.epoch,
                m.train_loss,
                m.val_loss.unwrap_or(f64::NAN),
                m.objective().unwrap_or(f64::NAN),
                m.learning_rate,
                m.seconds
            );
        }
        Control::Continue
    })?;
    let fit = fits.into_iter().next().context("no training ran")?;
    let (test_set, st) = task.test_for_split(0);
    let test = ferrotune_train::train::evaluate(&fit.model, &test_set, &FitOptions::default().device);
    match test.accuracy {
        Some(acc) => println!("test accuracy: {acc:.4}"),
        None => println!("test mean squared error: {:.6}", test.loss),
    }
    if let Some(dir) = &a.save {
        let info = ferrotune_train::artifact::ModelInfo {
            hyperparams: hp,
            n_features: task.pool.n_features,
            n_outputs: task.pool.n_outputs(),
            classification: task.pool.is_classification(),
            standardizer: st,
            class_names: task.class_names.clone(),
            test: Some(test),
            source: serde_json::json!({"dataset": task.spec.dataset, "command": "ferrotune train"}),
        };
        ferrotune_train::artifact::save(dir, &fit.model, &info)?;
        eprintln!("model saved to {}", dir.display());
    }
    Ok(())
}

/// `ferrotune predict`: a saved model on new rows.
pub struct PredictArgs {
    pub model: PathBuf,
    pub dataset: Option<String>,
    pub path: Option<PathBuf>,
    pub target: Option<String>,
    pub output: Option<PathBuf>,
}

pub fn predict(a: PredictArgs) -> Result<()> {
    use ferrotune_train::artifact::SavedModel;
    use ferrotune_train::data::mnist::{load, ImageSet};
    use ferrotune_train::data::Dataset;
    use std::io::Write;

    let device = FitOptions::default().device;
    let m = SavedModel::load(&a.model, &device)
        .with_context(|| format!("loading the model in {} (a directory written by `ferrotune train --save`)", a.model.display()))?;
    let trained_on = m.info.source.get("dataset").and_then(Value::as_str).unwrap_or("").to_string();
    // Rows to predict, and the labelled dataset to score them on, if known.
    let (features, labelled): (Vec<f32>, Option<Dataset>) = match (&a.path, a.dataset.as_deref()) {
        (Some(path), _) => {
            let rows = ferrotune_train::data::csv::read_rows(path, a.target.as_deref())?;
            if rows.feature_names.len() != m.info.n_features {
                anyhow::bail!(
                    "{} has {} feature columns ({}), the model was trained on {}",
                    path.display(),
                    rows.feature_names.len(),
                    rows.feature_names.join(", "),
                    m.info.n_features
                );
            }
            let labelled = match &rows.targets {
                Some(cells) => Some(Dataset {
                    features: rows.features.clone(),
                    n_features: rows.feature_names.len(),
                    targets: m.targets_from_cells(cells).with_context(|| format!("{}", path.display()))?,
                }),
                None => None,
            };
            (rows.features, labelled)
        }
        (None, set) => {
            let set = match set.unwrap_or(trained_on.as_str()) {
                "mnist" => ImageSet::Mnist,
                "fashion-mnist" => ImageSet::FashionMnist,
                "" | "csv" => anyhow::bail!("give the rows to predict: --path FILE.csv (add --target COLUMN to score against labels)"),
                other => anyhow::bail!("--dataset {other}: use mnist or fashion-mnist, or --path FILE.csv"),
            };
            let test = load(set, &DataLocation::from_env())?.test;
            if test.n_features != m.info.n_features {
                anyhow::bail!("the {} images have {} pixels, the model was trained on {} features", set.dir_name(), test.n_features, m.info.n_features);
            }
            (test.features.clone(), Some(test))
        }
    };
    let preds = m.predict(&features)?;
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    for p in &preds {
        writeln!(out, "{}", m.label(*p))?;
    }
    out.flush()?;
    eprintln!("predicted {} rows", preds.len());
    if let Some(ds) = labelled {
        let ev = m.evaluate(&ds)?;
        match ev.accuracy {
            Some(acc) => eprintln!("accuracy: {acc:.4}"),
            None => eprintln!("mean squared error: {:.6}", ev.loss),
        }
    }
    Ok(())
}
