//! `overhead`: what one trial costs through the Rust API (ask, suggest
//! every parameter, tell; a trivial objective; in-memory storage), on the
//! same two spaces `benchmarks/python_overhead.py` times through the Python
//! package and through Optuna. The script runs this and prints all three
//! side by side.

use anyhow::{bail, Result};
use std::time::Instant;

use ferrotune::samplers::{RandomSampler, Sampler, TpeOptions, TpeSampler};
use ferrotune::{Study, TellOutcome, Trial};

/// Suggests the space's parameters and returns the objective.
fn objective(space: &str, t: &mut Trial) -> Result<f64> {
    Ok(match space {
        "floats10" => {
            let mut s = 0.0;
            for i in 0..10 {
                let x = t.suggest_float(&format!("x{i}"), -5.0, 5.0).sample()?;
                s += x * x;
            }
            s
        }
        "mixed10" => {
            let lr = t.suggest_float("lr", 1e-5, 1e-1).log().sample()?;
            let dropout = t.suggest_float("dropout", 0.0, 0.5).sample()?;
            let momentum = t.suggest_float("momentum", 0.0, 0.99).sample()?;
            let wd = t.suggest_float("weight_decay", 0.0, 0.1).step(0.01).sample()?;
            let layers = t.suggest_int("layers", 1, 4).sample()?;
            let units = t.suggest_int("units", 16, 512).log().sample()?;
            let batch = t.suggest_int("batch", 16, 256).step(16).sample()?;
            let act = t.suggest_categorical("activation", ["relu", "tanh", "gelu", "silu"])?;
            let opt = t.suggest_categorical("optimizer", ["sgd", "adam", "rmsprop"])?;
            let bn = t.suggest_categorical("batch_norm", [true, false])?;
            (lr.log10() + 3.0).powi(2) + dropout + momentum + wd + layers as f64 + (units as f64).ln() + batch as f64 / 256.0
                + f64::from(act == "relu")
                + f64::from(opt == "adam")
                + f64::from(bn)
        }
        other => bail!("unknown space '{other}' (floats10 or mixed10)"),
    })
}

fn sampler(name: &str, seed: u64) -> Result<std::sync::Arc<dyn Sampler>> {
    Ok(match name {
        "random" => std::sync::Arc::new(RandomSampler::new(Some(seed))),
        "tpe" => std::sync::Arc::new(TpeSampler::new(Some(seed), TpeOptions::default())),
        other => bail!("unknown sampler '{other}' (tpe or random)"),
    })
}

/// Prints one JSON line per (space, sampler, trials): microseconds per trial.
pub fn run(spaces: &[String], samplers: &[String], trials: &[usize], seed: u64) -> Result<()> {
    for space in spaces {
        for s in samplers {
            for &n in trials {
                let study = Study::builder(format!("{space}-{s}-{n}")).sampler_arc(sampler(s, seed)?).create()?;
                let start = Instant::now();
                for _ in 0..n {
                    let mut t = study.ask()?;
                    let v = objective(space, &mut t)?;
                    study.tell_trial(&t, TellOutcome::Values(vec![v]))?;
                }
                let us = start.elapsed().as_secs_f64() * 1e6 / n as f64;
                println!("{}", serde_json::json!({"api": "ferrotune (Rust)", "space": space, "sampler": s, "trials": n, "us_per_trial": us}));
            }
        }
    }
    Ok(())
}
