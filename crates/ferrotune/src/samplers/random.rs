//! Uniform random search (Bergstra & Bengio, "Random Search for
//! Hyper-Parameter Optimization", JMLR 2012): the baseline every other
//! sampler must beat, and the start-up phase of the model-based ones.

use rand::Rng;

use super::Sampler;
use crate::distribution::Distribution;
use crate::error::Result;
use crate::rng::{fresh_seed, rng_for};
use crate::study::Study;
use crate::trial::FrozenTrial;

/// Draws each parameter independently from its distribution (log-uniform for
/// `log`). A draw depends only on (seed, trial number, parameter name).
#[derive(Debug, Clone)]
pub struct RandomSampler {
    seed: u64,
}

impl RandomSampler {
    /// `None` picks a fresh seed.
    pub fn new(seed: Option<u64>) -> Self {
        RandomSampler { seed: seed.unwrap_or_else(fresh_seed) }
    }
    /// The seed every draw derives from.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// The uniform draw in `[0, 1)` for one parameter of one trial.
    pub fn unit(&self, trial_number: u64, name: &str) -> f64 {
        rng_for(self.seed, trial_number, name).random::<f64>()
    }
}

impl Sampler for RandomSampler {
    fn name(&self) -> &'static str {
        "random"
    }
    fn sample_independent(&self, _study: &Study, trial: &FrozenTrial, name: &str, dist: &Distribution) -> Result<f64> {
        Ok(dist.clamp_internal(dist.from_unit(self.unit(trial.number, name))))
    }
}
