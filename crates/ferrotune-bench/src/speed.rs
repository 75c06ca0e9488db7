//! Fixtures for the sampler-overhead benchmark: a study that already holds
//! `n` complete trials on a given space, so one `ask` can be timed.

use ferrotune::samplers::{SamplerConfig, SearchSpace};
use ferrotune::{Distribution, Study, TellOutcome};

/// The spaces the speed benchmark uses.
#[derive(Debug, Clone, Copy)]
pub enum Space {
    /// 10 floats in [-5, 5].
    Float10,
    /// 10 parameters: log floats, stepped ints, log ints, categoricals, floats.
    Mixed10,
    /// 40 floats in [-5, 5].
    Float40,
}

impl Space {
    pub fn space(self) -> SearchSpace {
        let floats = |n: usize| (0..n).map(|i| (format!("x{i}"), Distribution::float(-5.0, 5.0))).collect();
        match self {
            Space::Float10 => floats(10),
            Space::Float40 => floats(40),
            Space::Mixed10 => [
                ("lr", Distribution::float_log(1e-5, 1e-1)),
                ("wd", Distribution::float_log(1e-6, 1e-2)),
                ("units", Distribution::int_step(16, 512, 16)),
                ("batch", Distribution::int_log(16, 1024)),
                ("layers", Distribution::int(1, 6)),
                ("act", Distribution::categorical(["relu", "tanh", "gelu", "silu"])),
                ("opt", Distribution::categorical(["sgd", "adam", "adamw"])),
                ("dropout", Distribution::float_step(0.0, 0.5, 0.05)),
                ("momentum", Distribution::float(0.0, 0.99)),
                ("bn", Distribution::categorical([true, false])),
            ]
            .into_iter()
            .map(|(k, d)| (k.to_string(), d))
            .collect(),
        }
    }
}

/// A toy objective over any point: a shifted sphere on the unit-scaled values.
fn value(space: &SearchSpace, x: &[f64]) -> f64 {
    space
        .values()
        .zip(x)
        .map(|(d, v)| match d {
            Distribution::Float { low, high, log: true, .. } => ((v.ln() - low.ln()) / (high.ln() - low.ln()) - 0.3).powi(2),
            Distribution::Float { low, high, .. } => ((v - low) / (high - low) - 0.3).powi(2),
            Distribution::Int { low, high, .. } => ((v - *low as f64) / ((high - low).max(1) as f64) - 0.3).powi(2),
            Distribution::Categorical { .. } => v * 0.1,
        })
        .sum()
}

/// One ask on `study`: start a trial, suggest the whole space, tell a value.
pub fn ask_tell(study: &Study, space: &SearchSpace) {
    let mut t = study.ask().expect("ask");
    let x: Vec<f64> = space
        .iter()
        .map(|(k, d)| {
            let v = t.suggest(k, d).expect("suggest");
            d.to_internal(k, &v).expect("inside")
        })
        .collect();
    study.tell(t.number(), TellOutcome::Values(vec![value(space, &x)])).expect("tell");
}

/// An in-memory study of `n` complete trials, then handed to `sampler`.
///
/// Samplers whose state lives in their own trial tags (CMA-ES generations,
/// NSGA-II populations) fill the history themselves, so the replay they do
/// on every ask is measured; the model-based ones (TPE, GP-BO) only read
/// parameters and values, so a random history serves and fills quickly.
pub fn study_with(sampler: &str, space: Space, n: usize) -> (Study, SearchSpace) {
    let sp = space.space();
    let storage: std::sync::Arc<dyn ferrotune::storage::Storage> = std::sync::Arc::new(ferrotune::storage::InMemoryStorage::new());
    let fill_with = if matches!(sampler, "cmaes" | "nsga2" | "ga") { sampler } else { "random" };
    let filler = Study::builder("speed")
        .storage(storage.clone())
        .sampler_arc(SamplerConfig::from_name(fill_with).expect("sampler").build(7, Some(&sp)).expect("sampler"))
        .create()
        .expect("study");
    for _ in 0..n {
        ask_tell(&filler, &sp);
    }
    let s = SamplerConfig::from_name(sampler).expect("sampler").build(7, Some(&sp)).expect("sampler");
    let study = Study::builder("speed").storage(storage).sampler_arc(s).load().expect("load");
    (study, sp)
}
