//! The evaluation protocol end to end on a CSV table the test writes:
//! hold-out and k-fold objectives, retrain → save → load → predict.

use ferrotune_train::artifact::SavedModel;
use ferrotune_train::data::mnist::DataLocation;
use ferrotune_train::task::{Event, TaskSpec};
use ferrotune_train::train::{Control, FitOptions};
use rand::{Rng, SeedableRng};
use serde_json::json;

/// Two noisy classes separated by x + y > 0, with a useless third column.
fn write_table(dir: &std::path::Path) -> std::path::PathBuf {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let mut text = String::from("x,y,noise,label\n");
    for _ in 0..600 {
        let (x, y): (f64, f64) = (rng.random_range(-3.0..3.0), rng.random_range(-3.0..3.0));
        let label = if x + y > 0.0 { "pos" } else { "neg" };
        text += &format!("{x},{y},{},{label}\n", rng.random_range(100.0..200.0));
    }
    let p = dir.join("table.csv");
    std::fs::write(&p, text).unwrap();
    p
}

fn loc(dir: &std::path::Path) -> DataLocation {
    DataLocation { data_dir: None, cache_dir: dir.to_path_buf(), download: false, mirror: None }
}

#[test]
fn holdout_and_kfold_objectives_and_fold_reports() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_table(dir.path());
    let params = json!({"units": 8, "epochs": 6, "batch_size": 32, "lr": 0.01});
    let spec = TaskSpec::from_json(json!({"dataset": "csv", "path": csv, "target": "label", "params": params}), dir.path()).unwrap();
    assert!(spec.maximize());
    let task = spec.load(&loc(dir.path())).unwrap();
    assert_eq!((task.pool.len(), task.test.len()), (480, 120));
    assert_eq!(task.class_names, vec!["neg", "pos"]);
    let hp = task.hyperparams(&serde_json::Map::new(), 0).unwrap();
    let mut epochs = 0;
    let (obj, fits) = task
        .evaluate(&hp, &FitOptions { threads: 1, ..Default::default() }, &mut |e| {
            if let Event::Epoch { .. } = e {
                epochs += 1;
            }
            Control::Continue
        })
        .unwrap();
    assert_eq!((epochs, fits.len()), (6, 1));
    assert!(obj.unwrap() > 0.9, "{obj:?}");

    let spec = TaskSpec::from_json(json!({"dataset": "csv", "path": csv, "target": "label", "folds": 4, "params": params}), dir.path()).unwrap();
    let task = spec.load(&loc(dir.path())).unwrap();
    let mut folds = vec![];
    let (obj, fits) = task
        .evaluate(&hp, &FitOptions { threads: 1, ..Default::default() }, &mut |e| {
            if let Event::Fold { fold, objective } = e {
                folds.push((fold, objective));
            }
            Control::Continue
        })
        .unwrap();
    assert_eq!(fits.len(), 4);
    assert_eq!(folds.iter().map(|f| f.0).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    let mean = folds.iter().map(|f| f.1).sum::<f64>() / 4.0;
    assert!((obj.unwrap() - mean).abs() < 1e-12 && mean > 0.9, "{obj:?} {folds:?}");
}

#[test]
fn retrained_model_loads_and_predicts_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_table(dir.path());
    let params = json!({"units": 8, "layers": 2, "batch_norm": true, "dropout": 0.1, "epochs": 4, "batch_size": 32, "lr": 0.01});
    let spec = TaskSpec::from_json(json!({"dataset": "csv", "path": csv, "target": "label", "params": params}), dir.path()).unwrap();
    let task = spec.load(&loc(dir.path())).unwrap();
    let hp = task.hyperparams(&serde_json::Map::new(), 0).unwrap();
    let out = dir.path().join("model");
    let r = task.retrain(&hp, 4, &FitOptions { threads: 1, ..Default::default() }, &out, json!({"trial": 0})).unwrap();
    assert!(r.test.accuracy.unwrap() > 0.9, "{:?}", r.test);
    let m = SavedModel::load(&out, &burn::tensor::Device::flex()).unwrap();
    assert_eq!(m.info.test, Some(r.test));
    assert_eq!(m.info.class_names, vec!["neg", "pos"]);
    // Predicting the raw test rows reproduces the recorded test accuracy.
    let pred = m.predict(&task.test.features).unwrap();
    let ferrotune_train::data::Targets::Classes { labels, .. } = &task.test.targets else { unreachable!() };
    let acc = pred.iter().zip(labels).filter(|(p, l)| **p == **l as f64).count() as f64 / labels.len() as f64;
    assert!((acc - r.test.accuracy.unwrap()).abs() < 1e-9, "{acc} vs {:?}", r.test.accuracy);
    // A second load predicts identically.
    let again = SavedModel::load(&out, &burn::tensor::Device::flex()).unwrap();
    assert_eq!(again.predict(&task.test.features).unwrap(), pred);
    // Missing or broken files are errors, not panics.
    let e = SavedModel::load(&dir.path().join("nope"), &burn::tensor::Device::flex()).unwrap_err().to_string();
    assert!(e.contains("model.json"), "{e}");
    std::fs::write(out.join("model.bpk"), b"garbage").unwrap();
    let e = SavedModel::load(&out, &burn::tensor::Device::flex()).unwrap_err().to_string();
    assert!(e.contains("model.bpk"), "{e}");
}

#[test]
fn trainer_settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let e = TaskSpec::from_json(json!({"dataset": "cifar"}), dir.path()).unwrap_err().to_string();
    assert!(e.contains("\"cifar\" is not known"), "{e}");
    let e = TaskSpec::from_json(json!({"dataset": "csv"}), dir.path()).unwrap_err().to_string();
    assert!(e.contains("needs `path` and `target`"), "{e}");
    let e = TaskSpec::from_json(json!({"dataset": "mnist", "params": {"dropout": 2}}), dir.path()).unwrap_err().to_string();
    assert!(e.contains("[trainer.params]") && e.contains("dropout"), "{e}");
    let e = TaskSpec::from_json(json!({"dataset": "mnist", "epochs": 3}), dir.path()).unwrap_err().to_string();
    assert!(e.contains("unknown field `epochs`"), "{e}");
}

/// Classification splits keep the class shares by default (test set,
/// validation, every fold); `stratify = false` turns that off; regression
/// cannot be stratified.
#[test]
fn classification_splits_are_stratified_unless_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    // 90% "common", 10% "rare".
    let mut text = String::from("x,label\n");
    for i in 0..1000 {
        text += &format!("{},{}\n", i as f64 / 1000.0, if i % 10 == 3 { "rare" } else { "common" });
    }
    let csv = dir.path().join("skewed.csv");
    std::fs::write(&csv, text).unwrap();
    let rare_in = |task: &ferrotune_train::task::Task, rows: &[usize]| {
        let ferrotune_train::data::Targets::Classes { labels, .. } = &task.pool.targets else { panic!() };
        rows.iter().filter(|&&r| labels[r] == 1).count()
    };
    let spec = |extra: serde_json::Value| {
        let mut j = json!({"dataset": "csv", "path": csv, "target": "label", "validation": 0.1});
        j.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        TaskSpec::from_json(j, dir.path()).unwrap().load(&loc(dir.path())).unwrap()
    };
    let task = spec(json!({}));
    assert_eq!(task.class_names, vec!["common", "rare"]);
    let ferrotune_train::data::Targets::Classes { labels, .. } = &task.test.targets else { panic!() };
    assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 20, "test set: 10% of 200");
    assert_eq!(rare_in(&task, &task.splits[0].1), 8, "validation: 10% of 80 rare training-pool rows");
    let task = spec(json!({"folds": 4, "validation": 0.1}));
    for (_, val) in &task.splits {
        assert_eq!(rare_in(&task, val), 20, "each fold: a quarter of the 80 rare rows");
    }
    // Off: a plain shuffle, which here does not land on the exact shares.
    let plain: Vec<usize> = (0..6).map(|seed| {
        let t = spec(json!({"stratify": false, "seed": seed}));
        rare_in(&t, &t.splits[0].1)
    }).collect();
    assert!(plain.iter().any(|&r| r != 8), "{plain:?}");
    let err = TaskSpec::from_json(
        json!({"dataset": "csv", "path": csv, "target": "x", "task": "regression", "stratify": true}),
        dir.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("stratify = true needs classes"), "{err}");
}
