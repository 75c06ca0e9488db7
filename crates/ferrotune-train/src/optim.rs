//! Optimisers and learning-rate schedules from [`Hyperparams`], all Burn's
//! own (`burn::optim`, `burn::lr_scheduler`).

use burn::lr_scheduler::constant::ConstantLr;
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::exponential::ExponentialLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::lr_scheduler::step::StepLrSchedulerConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};

use crate::error::{Result, TrainError};
use crate::hyperparams::{Hyperparams, OptimizerKind, Schedule};

/// Burn's optimiser for `hp`, with its L2 penalty.
pub fn optimizer(hp: &Hyperparams) -> ModuleOptimizer {
    let l2 = (hp.weight_decay > 0.0).then(|| WeightDecayConfig::new(hp.weight_decay as f32));
    match hp.optimizer {
        OptimizerKind::Sgd => SgdConfig::new()
            .with_weight_decay(l2)
            .with_momentum((hp.momentum > 0.0).then_some(MomentumConfig { momentum: hp.momentum, dampening: 0.0, nesterov: hp.nesterov }))
            .init(),
        OptimizerKind::Adam => AdamConfig::new()
            .with_beta_1(hp.beta1 as f32)
            .with_beta_2(hp.beta2 as f32)
            .with_epsilon(hp.epsilon as f32)
            .with_weight_decay(l2)
            .init(),
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_beta_1(hp.beta1 as f32)
            .with_beta_2(hp.beta2 as f32)
            .with_epsilon(hp.epsilon as f32)
            .with_weight_decay(hp.weight_decay as f32)
            .init(),
        OptimizerKind::Rmsprop => RmsPropConfig::new()
            .with_alpha(hp.rho as f32)
            .with_momentum(hp.momentum as f32)
            .with_epsilon(hp.epsilon as f32)
            .with_weight_decay(l2)
            .init(),
    }
}

/// The schedule, stepped once per optimiser step; `steps_per_epoch` turns
/// epoch-based settings into steps.
pub fn scheduler(hp: &Hyperparams, steps_per_epoch: usize) -> Result<ModuleLrScheduler> {
    let lr = hp.learning_rate;
    let total = steps_per_epoch * hp.epochs;
    let s = match hp.schedule {
        Schedule::Constant => Ok(ModuleLrScheduler::new(ConstantLr::from(lr))),
        Schedule::Exponential if hp.staircase => {
            StepLrSchedulerConfig::new(lr, hp.decay_steps).with_gamma(hp.decay_rate).init()
        }
        Schedule::Exponential => ExponentialLrSchedulerConfig::new(lr, hp.decay_rate.powf(1.0 / hp.decay_steps as f64)).init(),
        Schedule::Step => StepLrSchedulerConfig::new(lr, hp.step_size * steps_per_epoch).with_gamma(hp.gamma).init(),
        Schedule::Cosine => CosineAnnealingLrSchedulerConfig::new(lr, total.max(1)).with_min_lr(hp.min_lr).init(),
    };
    s.map_err(|e| TrainError::Config(format!("learning-rate schedule: {e}")))
}
