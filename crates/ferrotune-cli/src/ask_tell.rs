//! `ferrotune ask` / `ferrotune tell`: the language-neutral protocol. `ask`
//! prints exactly one JSON object on stdout and nothing else.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

use ferrotune::samplers::SamplerConfig;
use ferrotune::{Direction, SpaceSpec, Study, TellOutcome, TrialState};

use crate::StorageArg;

#[derive(Args)]
pub struct AskArgs {
    #[arg(long)]
    study: String,
    #[command(flatten)]
    storage: StorageArg,
    /// The search space as JSON (see the README for the format).
    #[arg(long)]
    space: PathBuf,
    /// random, grid or qmc.
    #[arg(long, default_value = "random")]
    sampler: String,
    /// Seed for the sampler. Without one, a seed is drawn when the study is
    /// created and kept in it, so later asks continue the same sequence.
    #[arg(long)]
    seed: Option<u64>,
    /// minimize or maximize; repeat for several objectives. Stored when the
    /// study is created; must match afterwards.
    #[arg(long = "direction")]
    directions: Vec<String>,
}

#[derive(Args)]
pub struct TellArgs {
    #[arg(long)]
    study: String,
    #[command(flatten)]
    storage: StorageArg,
    /// The trial number that `ask` printed.
    #[arg(long)]
    trial: u64,
    /// The objective value.
    #[arg(long, conflicts_with_all = ["values", "state"], allow_hyphen_values = true)]
    value: Option<f64>,
    /// Several objective values, comma-separated.
    #[arg(long, value_delimiter = ',', conflicts_with = "state", allow_hyphen_values = true)]
    values: Vec<f64>,
    /// fail or pruned, instead of a value.
    #[arg(long)]
    state: Option<String>,
    /// Why the trial failed (with --state fail).
    #[arg(long)]
    message: Option<String>,
}

const SEED_ATTR: &str = "seed";

pub fn ask(a: AskArgs) -> Result<()> {
    let space = SpaceSpec::from_json_file(&a.space)?;
    let config = SamplerConfig::from_name(&a.sampler)?;
    let storage = ferrotune::storage::open(&a.storage.storage)?;
    let directions = a.directions.iter().map(|d| Direction::parse(d)).collect::<ferrotune::Result<Vec<_>>>()?;
    let mut builder = Study::builder(&a.study).storage(storage.clone());
    if !directions.is_empty() {
        builder = builder.directions(directions);
    }
    // Open once to learn (or store) the seed, then build the real sampler.
    let study = builder.load_or_create()?;
    let seed = match a.seed {
        Some(s) => s,
        None => match study.system_attrs()?.get(SEED_ATTR).and_then(|v| v.as_u64()) {
            Some(s) => s,
            None => {
                let s = ferrotune::rng::fresh_seed() >> 11; // fits a JSON number exactly
                study.set_system_attr(SEED_ATTR, &s.into())?;
                s
            }
        },
    };
    let sampler = config.build(seed, Some(&space.search_space()))?;
    let study = Study::builder(&a.study).storage(storage).sampler_arc(sampler).load()?;
    let mut trial = study.ask()?;
    let params = match space.suggest_all(&mut trial) {
        Ok(p) => p,
        Err(e) => {
            study.tell(trial.number(), TellOutcome::Failed(Some(e.to_string())))?;
            return Err(e.into());
        }
    };
    let out = serde_json::json!({"trial": trial.number(), "params": params});
    println!("{out}");
    Ok(())
}

pub fn tell(a: TellArgs, quiet: bool) -> Result<()> {
    let outcome = match (a.value, a.values.is_empty(), a.state.as_deref()) {
        (Some(v), true, None) => TellOutcome::Values(vec![v]),
        (None, false, None) => TellOutcome::Values(a.values.clone()),
        (None, true, Some(s)) => match TrialState::parse(s) {
            Some(TrialState::Failed) => TellOutcome::Failed(a.message.clone()),
            Some(TrialState::Pruned) => TellOutcome::Pruned,
            _ => bail!("--state must be 'fail' or 'pruned', got '{s}' (give a result with --value instead)"),
        },
        _ => bail!("give exactly one of --value V, --values V1,V2 or --state fail|pruned"),
    };
    let storage = ferrotune::storage::open(&a.storage.storage)?;
    let study = Study::builder(&a.study).storage(storage).load()?;
    let done = study.tell(a.trial, outcome).with_context(|| format!("telling trial {} of study '{}'", a.trial, a.study))?;
    if !quiet && done.state == TrialState::Failed {
        if let Some(m) = &done.message {
            eprintln!("trial {} marked failed: {m}", done.number);
        }
    }
    Ok(())
}
