//! Studies whose trials run the built-in trainer (`[trainer]` in the study
//! file), the final retrain-and-test, and `ferrotune train`.
//!
//! Cores: each training gets its own thread pool of `[trainer] threads`
//! threads, by default the machine's cores divided by `n_jobs` (at least
//! one), so parallel trials never oversubscribe the CPU.

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ferrotune::study_file::StudyFile;
use ferrotune::Study;
use ferrotune_train::data::mnist::DataLocation;
use ferrotune_train::task::{Event, Task, TaskSpec};
use ferrotune_train::train::{Control, FitOptions};
use ferrotune_train::tune::{self, Progress};

use crate::output::num;
use crate::ui::{outln, status};

/// `ferrotune train --help`: the hyperparameters the trainer knows.
pub const HYPERPARAMETER_HELP: &str = "\
Hyperparameters (keys of --config and --set; defaults in brackets):
  layers [1], units [128] or units_0, units_1, ... per layer,
  activation relu|tanh|sigmoid|gelu|leaky_relu [relu], dropout [0],
  batch_norm [false], bn_momentum [0.1], init default|he|xavier|lecun,
  optimizer sgd|adam|adamw|rmsprop [adam], lr (or learning_rate) [1e-3],
  momentum [0], nesterov [false], beta1 [0.9], beta2 [0.999], epsilon [1e-8],
  rho [0.99], weight_decay (or l2) [0],
  schedule constant|exponential|step|cosine (decay_rate, decay_steps,
  staircase, step_size, gamma, min_lr), batch_size [64], epochs [5],
  patience, seed.

Examples:
  ferrotune train --set lr=0.003 --set units=256 --set epochs=3
  ferrotune train --config '{\"lr\": 0.001, \"layers\": 2, \"dropout\": 0.2}'
  ferrotune train --config params.json --limit 5000 --save models/mine";

/// Loads the `[trainer]` task of a study file (the policy is
/// `ferrotune_train::tune`'s; this prints what was loaded).
pub fn load_task(file: &StudyFile) -> Result<Task> {
    let spec = tune::task_spec(file)?;
    let device = spec.burn_device()?;
    if spec.device.as_deref() == Some("auto") {
        status!("device = \"auto\": training on {device:?}");
    }
    let t0 = std::time::Instant::now();
    let task = spec.load(&DataLocation::from_env()).context("loading the [trainer] dataset")?;
    status!(
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

/// Per-trial progress bars under the study's bar, fed by the trainer's
/// progress events.
pub fn progress_bars(bars: MultiProgress) -> tune::ProgressSink {
    let live: Mutex<HashMap<u64, ProgressBar>> = Mutex::default();
    Arc::new(move |p: Progress| {
        let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
        let trial = match p {
            Progress::Batch { trial, .. } | Progress::Epoch { trial, .. } | Progress::Done { trial } => trial,
        };
        if let Progress::Done { .. } = p {
            if let Some(pb) = live.remove(&trial) {
                pb.finish_and_clear();
            }
            return;
        }
        let pb = live.entry(trial).or_insert_with(|| {
            let pb = bars.add(ProgressBar::new(0));
            pb.set_style(
                ProgressStyle::with_template("  trial {prefix}: {msg} {bar:20.green/white} {pos}/{len} batches").expect("template"),
            );
            pb.set_prefix(trial.to_string());
            pb
        });
        match p {
            Progress::Batch { done, total, .. } => {
                if done == 1 {
                    pb.set_length(total as u64);
                }
                if done % 16 == 0 || done == total {
                    pb.set_position(done as u64);
                }
            }
            Progress::Epoch { fold, folds, epoch, epochs, validation, .. } => {
                let fold_txt = if folds > 1 { format!("fold {}/{folds}, ", fold + 1) } else { String::new() };
                pb.set_message(format!("{fold_txt}epoch {epoch}/{epochs}, val {}", validation.map(num).unwrap_or_default()));
            }
            Progress::Done { .. } => {}
        }
    })
}

/// Retrains the best trial (`ferrotune_train::tune::retrain_best`) and
/// prints the test score.
pub fn retrain_best(file: &StudyFile, task: &Task, study: &Study, threads: usize) -> Result<()> {
    let Some(best) = study.best_trial()? else {
        status!("no complete trial: nothing to retrain");
        return Ok(());
    };
    let dir = tune::model_dir(file, task);
    status!(
        "retraining trial {} (validation {}) on all {} train+validation rows...",
        best.number,
        num(best.value().unwrap_or(f64::NAN)),
        task.pool.len()
    );
    let Some(done) = tune::retrain_best(study, task, threads, &dir)? else { return Ok(()) };
    let r = &done.retrained;
    match r.test.accuracy {
        Some(acc) => outln!("test accuracy: {acc:.4} (test loss {:.4})", r.test.loss)?,
        None => outln!("test mean squared error: {:.6}", r.test.loss)?,
    }
    status!("final model ({} epochs, {:.1}s to train) saved to {}", r.epochs, r.seconds, r.model_dir.display());
    Ok(())
}

/// `ferrotune train`: one training with given hyperparameters.
pub struct TrainArgs {
    /// A JSON file's path, or (starting with `{`) the JSON itself.
    pub config: Option<String>,
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
        Some(c) => {
            let (text, what) = if c.trim_start().starts_with('{') {
                (c.clone(), "--config".to_string())
            } else {
                // `Error::Io` says the path and the OS error once.
                let path = PathBuf::from(c);
                let text = std::fs::read_to_string(&path)
                    .map_err(|error| ferrotune::Error::Io { path: path.clone(), error })
                    .context("--config (a JSON file's path, or a JSON object such as '{\"lr\": 0.001}')")?;
                (text, format!("--config {c}"))
            };
            match serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{what}: not valid JSON ({e})"))? {
                Value::Object(m) => m,
                _ => crate::ui::usage!("{what}: expected a JSON object of hyperparameters, e.g. {{\"lr\": 0.001, \"units\": 128}}"),
            }
        }
        None => Map::new(),
    };
    for kv in &a.set {
        let Some((k, v)) = kv.split_once('=') else {
            crate::ui::usage!("--set {kv}: write key=value, e.g. --set lr=0.01");
        };
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
    let spec = TaskSpec::from_json(spec, &std::env::current_dir()?).map_err(cli_words)?;
    let task = spec.load(&DataLocation::from_env())?;
    let hp = task.hyperparams(&Map::new(), 0).map_err(cli_words)?;
    let threads = a.threads.unwrap_or_else(|| tune::threads_per_trial(1));
    status!("training {} rows, validating on {}, {threads} thread(s)", task.splits[0].0.len(), task.splits[0].1.len());
    outln!("epoch  train_loss  val_loss  val_metric  lr        seconds")?;
    let mut printed: std::io::Result<()> = Ok(());
    let (_, fits) = task.evaluate(&hp, &FitOptions { threads, ..FitOptions::default() }, &mut |ev| {
        if let Event::Epoch { metrics: m, .. } = ev {
            printed = outln!(
                "{:>5}  {:>10.4}  {:>8.4}  {:>10.4}  {:<8.2e}  {:>7.2}",
                m.epoch,
                m.train_loss,
                m.val_loss.unwrap_or(f64::NAN),
                m.objective().unwrap_or(f64::NAN),
                m.learning_rate,
                m.seconds
            );
            if printed.is_err() {
                return Control::Stop;
            }
        }
        Control::Continue
    })?;
    printed?;
    let fit = fits.into_iter().next().context("no training ran")?;
    let (test_set, st) = task.test_for_split(0);
    let test = ferrotune_train::train::evaluate(&fit.model, &test_set, &FitOptions::default().device);
    match test.accuracy {
        Some(acc) => outln!("test accuracy: {acc:.4}")?,
        None => outln!("test mean squared error: {:.6}", test.loss)?,
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
            source: serde_json::json!({"dataset": task.spec.dataset, "target": task.spec.target, "command": "ferrotune train"}),
        };
        ferrotune_train::artifact::save(dir, &fit.model, &info)?;
        status!("model saved to {}", dir.display());
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
    use std::io::{IsTerminal, Write};

    let device = FitOptions::default().device;
    let m = SavedModel::load(&a.model, &device)
        .with_context(|| format!("loading the model in {} (a directory written by `ferrotune train --save`)", a.model.display()))?;
    let trained_on = m.info.source.get("dataset").and_then(Value::as_str).unwrap_or("").to_string();
    // Rows to predict, and the labelled dataset to score them on, if known.
    let (features, labelled): (Vec<f32>, Option<Dataset>) = match (&a.path, a.dataset.as_deref()) {
        (Some(path), _) => {
            // The column the model was trained to predict is never a feature:
            // scored against when the file has it, even without --target.
            let model_target = m.info.source.get("target").and_then(Value::as_str).map(str::to_string);
            let target = match (&a.target, &model_target) {
                (Some(t), _) => Some(t.clone()),
                (None, Some(t)) if csv_header(path)?.iter().any(|h| h == t) => {
                    status!("column '{t}' is the model's target: scoring against it (not a feature)");
                    Some(t.clone())
                }
                _ => None,
            };
            let rows = ferrotune_train::data::csv::read_rows(path, target.as_deref())?;
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
    // Predictions go to --output, or to stdout when it is a pipe or file;
    // thousands of lines are never dumped on a terminal.
    let mut out: Option<Box<dyn Write>> = match &a.output {
        Some(p) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        ))),
        None if std::io::stdout().is_terminal() => None,
        None => Some(Box::new(std::io::BufWriter::new(std::io::stdout().lock()))),
    };
    if let Some(out) = &mut out {
        for p in &preds {
            writeln!(out, "{}", m.label(*p))?;
        }
        out.flush()?;
    }
    drop(out);
    match (&a.output, std::io::stdout().is_terminal()) {
        (Some(p), _) => status!("predicted {} rows, written to {}", preds.len(), p.display()),
        (None, true) => status!("predicted {} rows (pass --output FILE, or pipe the output, to get them)", preds.len()),
        (None, false) => status!("predicted {} rows", preds.len()),
    }
    if let Some(ds) = labelled {
        let ev = m.evaluate(&ds)?;
        match ev.accuracy {
            Some(acc) => status!("accuracy: {acc:.4}"),
            None => status!("mean squared error: {:.6}", ev.loss),
        }
    }
    Ok(())
}

/// The header row of a CSV file.
fn csv_header(path: &std::path::Path) -> Result<Vec<String>> {
    let mut r = csv::Reader::from_path(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(r.headers().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?.iter().map(str::to_string).collect())
}

/// Trainer errors are worded for study files (`[trainer.params]`); on the
/// command line the same settings are flags.
fn cli_words(e: ferrotune_train::TrainError) -> anyhow::Error {
    let msg = e.to_string().replace("[trainer.params] ", "").replace("[trainer.params]", "hyperparameters (--config/--set)").replace("[trainer] ", "");
    anyhow::anyhow!(msg)
}
