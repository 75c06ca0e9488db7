//! Define-by-run tuning in Rust: a conditional space (one width per layer),
//! a known-good configuration enqueued first, trials persisted in SQLite.
//!
//!     cargo run -p ferrotune --example define_by_run

use ferrotune::samplers::QmcSampler;
use ferrotune::storage::SqliteStorage;
use ferrotune::{Direction, ObjectiveError, Optimize, Study, Trial};
use std::sync::Arc;

/// Stands in for "train the network, return validation loss": a smooth
/// function of the hyperparameters with a known optimum near lr = 3e-3,
/// 2 layers of ~128 units, dropout 0.2, ReLU.
fn objective(trial: &mut Trial) -> Result<f64, ObjectiveError> {
    let lr = trial.suggest_float("lr", 1e-5, 1e-1).log().sample()?;
    let n_layers = trial.suggest_int("n_layers", 1, 4).sample()?;
    let mut loss = (lr.log10() - 3e-3f64.log10()).powi(2) + 0.1 * (n_layers as f64 - 2.0).powi(2);
    for i in 0..n_layers {
        let units = trial.suggest_int(&format!("units_l{i}"), 32, 512).step(32).sample()?;
        loss += 0.05 * ((units as f64).log2() - 7.0).powi(2);
    }
    let dropout = trial.suggest_float("dropout", 0.0, 0.5).step(0.05).sample()?;
    let act = trial.suggest_categorical("activation", ["relu", "tanh", "gelu"])?;
    loss += (dropout - 0.2).powi(2) + if act == "relu" { 0.0 } else { 0.05 };
    for epoch in 1..=3 {
        trial.report(epoch, loss * (1.0 + 1.0 / epoch as f64))?;
    }
    Ok(loss)
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let storage = Arc::new(SqliteStorage::open(dir.path().join("example.db"))?);
    let study = Study::builder("define-by-run")
        .direction(Direction::Minimize)
        .storage(storage)
        .sampler(QmcSampler::new(Some(42)))
        .create()?;
    study.enqueue_trial([
        ("lr", ferrotune::ParamValue::from(1e-3)),
        ("n_layers", 2.into()),
        ("units_l0", 128.into()),
        ("units_l1", 128.into()),
        ("dropout", 0.25.into()),
        ("activation", "relu".into()),
    ])?;
    let report = study.optimize(objective, Optimize::trials(40).n_jobs(2))?;
    let best = study.best_trial()?.expect("trials completed");
    println!("{report:?}");
    println!("best trial #{} loss={:.4}", best.number, best.value().unwrap_or(f64::NAN));
    for (k, v) in best.param_values() {
        println!("  {k} = {v}");
    }
    assert_eq!(report.complete, 40);
    assert!(best.value().unwrap() < 0.5, "40 quasi-random trials find a decent configuration");
    Ok(())
}
