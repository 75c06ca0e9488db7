//! `ferrotune ask` / `ferrotune tell`: the language-neutral protocol. `ask`
//! prints exactly one JSON object on stdout and nothing else.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

use ferrotune::samplers::SamplerConfig;
use ferrotune::{Direction, SpaceSpec, Study, TellOutcome, TrialState};

use crate::ui::{outln, status, usage};
use crate::StorageArg;

#[derive(Args)]
pub struct AskArgs {
    /// The study's name (created on first use).
    #[arg(long)]
    study: String,
    #[command(flatten)]
    storage: StorageArg,
    /// The search space as JSON (see the README for the format).
    #[arg(long)]
    space: PathBuf,
    /// auto (GP-BO or TPE, chosen from the study), random, grid, qmc, tpe,
    /// gp, cmaes, nsga2 (or ga), each with its default options. The study
    /// remembers the sampler it was created with and says so when another
    /// is asked for.
    #[arg(long, default_value = "auto")]
    sampler: String,
    /// How long the asked trial may stay untold before it is judged stale
    /// (failed, not counted toward a budget), e.g. "30m", "24h".
    #[arg(long, default_value = "24h")]
    lease: humantime::Duration,
    /// Continue the study although the space differs from the one stored
    /// with it (samplers use what old and new trials share).
    #[arg(long)]
    allow_space_change: bool,
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
    /// The study's name.
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

use ferrotune::attrs::STUDY_SAMPLER as SAMPLER_ATTR;

pub fn ask(a: AskArgs, quiet: bool) -> Result<()> {
    let space = SpaceSpec::from_json_file(&a.space)?;
    let config = SamplerConfig::from_name(&a.sampler).map_err(|e| crate::ui::UsageError(format!("--sampler: {e}")))?;
    let lease = ferrotune::study_file::check_timeout("--lease", a.lease.into())?;
    let storage = ferrotune::storage::open(&a.storage.storage)?;
    let directions = a.directions.iter().map(|d| Direction::parse(d)).collect::<ferrotune::Result<Vec<_>>>()?;
    let mut builder = Study::builder(&a.study).storage(storage.clone());
    if !directions.is_empty() {
        builder = builder.directions(directions);
    }
    // The seed is kept with the study, so later asks continue one sequence.
    let seed = builder.seed(a.seed)?;
    let study = Study::builder(&a.study).storage(storage.clone()).load()?;
    study.check_space(&space, a.allow_space_change)?;
    let attrs = study.system_attrs()?;
    match attrs.get(SAMPLER_ATTR).and_then(|v| v.as_str()) {
        None => study.set_system_attr(SAMPLER_ATTR, &a.sampler.clone().into())?,
        Some(stored) if stored != a.sampler && !quiet => {
            status!("note: study '{}' was started with --sampler {stored}; this ask uses {}", a.study, a.sampler)
        }
        _ => {}
    }
    let sampler = config.build(seed, Some(&space.search_space()))?;
    let study = Study::builder(&a.study).storage(storage).sampler_arc(sampler).load()?;
    let mut trial = study.ask_with_lease(lease)?;
    let number = trial.number();
    let params = match space.suggest_all(&mut trial) {
        Ok(p) => p,
        Err(e) => {
            study.tell(number, TellOutcome::Failed(Some(e.to_string())))?;
            return Err(e.into());
        }
    };
    let out = serde_json::json!({"trial": number, "params": params});
    // A trial nobody heard of must not stay running: if it cannot be
    // printed (a full disk, a closed pipe), it is failed at once.
    if let Err(e) = outln!("{out}") {
        let _ = study.tell(number, TellOutcome::Failed(Some(format!("ask could not print the trial: {e}"))));
        return Err(anyhow::Error::new(e).context(format!("printing trial {number} (it was marked failed)")));
    }
    Ok(())
}

pub fn tell(a: TellArgs, quiet: bool) -> Result<()> {
    let outcome = match (a.value, a.values.is_empty(), a.state.as_deref()) {
        (Some(v), true, None) => TellOutcome::Values(vec![v]),
        (None, false, None) => TellOutcome::Values(a.values.clone()),
        (None, true, Some(s)) => match TrialState::parse(s) {
            Some(TrialState::Failed) => TellOutcome::Failed(a.message.clone()),
            Some(TrialState::Pruned) => TellOutcome::Pruned,
            _ => usage!("--state must be 'fail' or 'pruned', got '{s}' (give a result with --value instead)"),
        },
        _ => usage!("give exactly one of --value V, --values V1,V2 or --state fail|pruned"),
    };
    if let TellOutcome::Values(v) = &outcome {
        if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
            usage!(
                "the value {bad} is not a finite number, so it cannot be a result; to record that the trial failed, \
                 use --state fail --message \"...\" (the trial is still running)"
            );
        }
    }
    let storage = ferrotune::storage::open(&a.storage.storage)?;
    let study = Study::builder(&a.study).storage(storage).load()?;
    let done = study.tell(a.trial, outcome).with_context(|| format!("telling trial {} of study '{}'", a.trial, a.study))?;
    if !quiet && done.state == TrialState::Failed {
        if let Some(m) = &done.message {
            status!("trial {} marked failed: {m}", done.number);
        }
    }
    Ok(())
}
