//! The hyperparameters of one training, as a plain serialisable struct.
//! Trial parameters and fixed settings arrive as a JSON object whose keys
//! are these field names (`lr` is accepted for `learning_rate`, and
//! `units_0`, `units_1`, ... set per-layer widths).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Result, TrainError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// The non-linearity after each hidden layer.
pub enum Activation {
    /// max(0, x).
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// Gaussian error linear unit (Hendrycks & Gimpel 2016).
    Gelu,
    /// max(0.01 x, x).
    LeakyRelu,
}

/// Weight initialisation of the linear layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// PyTorch's `nn.Linear` default: U(±1/√fan_in) for weights and biases.
    Default,
    /// He/Kaiming normal, std √(2/fan_in), zero biases (He et al. 2015): for ReLU.
    He,
    /// Glorot/Xavier uniform, ±√(6/(fan_in+fan_out)), zero biases (Glorot & Bengio 2010): for tanh/sigmoid.
    Xavier,
    /// LeCun normal, std √(1/fan_in), zero biases.
    Lecun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// Which of Burn's optimisers trains the network.
pub enum OptimizerKind {
    /// Stochastic gradient descent, with `momentum` and `nesterov`.
    Sgd,
    /// Adam (Kingma & Ba 2015), with `beta1`, `beta2`, `epsilon`.
    Adam,
    /// Adam with decoupled weight decay (Loshchilov & Hutter 2019).
    Adamw,
    /// RMSprop, with `rho`, `momentum`, `epsilon`.
    Rmsprop,
}

/// Learning-rate schedule, applied per optimiser step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The same learning rate throughout.
    Constant,
    /// lr · decay_rate^(step / decay_steps); floored exponent with `staircase` (Keras' ExponentialDecay).
    Exponential,
    /// lr · gamma^⌊epoch / step_size⌋.
    Step,
    /// Cosine annealing from lr to min_lr over the whole training (Loshchilov & Hutter 2017).
    Cosine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
/// Everything one training is configured by; see the README for defaults.
pub struct Hyperparams {
    /// Hidden layers (0 = a linear model).
    pub layers: usize,
    /// Width of every hidden layer, unless `layer_units` gives them one by one.
    pub units: usize,
    /// Per-layer widths (from `units_0`, `units_1`, ...); overrides `units`.
    pub layer_units: Vec<usize>,
    /// The non-linearity of the hidden layers.
    pub activation: Activation,
    /// Dropout probability after each hidden activation.
    pub dropout: f64,
    /// Batch normalisation after each hidden linear layer.
    pub batch_norm: bool,
    /// Weight of the new batch statistics in the running ones (PyTorch's convention).
    pub bn_momentum: f64,
    /// How the linear layers are initialised.
    pub init: Init,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    #[serde(alias = "lr")]
    /// The initial learning rate (`lr` is accepted too).
    pub learning_rate: f64,
    /// SGD / RMSprop momentum.
    pub momentum: f64,
    /// Nesterov momentum (SGD).
    pub nesterov: bool,
    /// Adam's first-moment decay.
    pub beta1: f64,
    /// Adam's second-moment decay.
    pub beta2: f64,
    /// Added to denominators (Adam, RMSprop).
    pub epsilon: f64,
    /// RMSprop's smoothing constant (PyTorch's `alpha`).
    pub rho: f64,
    /// L2 penalty (coupled, added to the gradient; AdamW's decoupled decay).
    #[serde(alias = "l2")]
    pub weight_decay: f64,
    /// How the learning rate changes over training.
    pub schedule: Schedule,
    /// Exponential schedule: the factor per `decay_steps`.
    pub decay_rate: f64,
    /// Exponential schedule: optimiser steps per decay.
    pub decay_steps: usize,
    /// Exponential schedule: decay in whole steps (Keras' staircase).
    pub staircase: bool,
    /// Epochs per step of the `step` schedule.
    pub step_size: usize,
    /// Step schedule: the factor every `step_size` epochs.
    pub gamma: f64,
    /// Cosine schedule: the final learning rate.
    pub min_lr: f64,
    /// Rows per optimiser step.
    pub batch_size: usize,
    /// Passes over the training rows.
    pub epochs: usize,
    /// Stop when the validation metric has not improved for this many epochs
    /// (and keep the best epoch's weights).
    pub patience: Option<usize>,
    /// Seeds weights, dropout masks and batch order.
    pub seed: u64,
}

impl Default for Hyperparams {
    fn default() -> Self {
        Hyperparams {
            layers: 1,
            units: 128,
            layer_units: vec![],
            activation: Activation::Relu,
            dropout: 0.0,
            batch_norm: false,
            bn_momentum: 0.1,
            init: Init::Default,
            optimizer: OptimizerKind::Adam,
            learning_rate: 1e-3,
            momentum: 0.0,
            nesterov: false,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            rho: 0.99,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            decay_rate: 0.96,
            decay_steps: 1000,
            staircase: false,
            step_size: 1,
            gamma: 0.1,
            min_lr: 0.0,
            batch_size: 64,
            epochs: 5,
            patience: None,
            seed: 0,
        }
    }
}

impl Hyperparams {
    /// From a JSON object of settings (unknown keys are errors that list the
    /// known ones), then validated.
    pub fn from_json(map: &Map<String, Value>) -> Result<Hyperparams> {
        let mut map = map.clone();
        // units_0, units_1, ...: per-layer widths.
        let mut per_layer: Vec<(usize, usize)> = vec![];
        let keys: Vec<String> = map.keys().filter(|k| k.starts_with("units_")).cloned().collect();
        for k in keys {
            let i: usize = k["units_".len()..]
                .parse()
                .map_err(|_| TrainError::Config(format!("`{k}`: per-layer widths are named units_0, units_1, ...")))?;
            let v = map.remove(&k).unwrap();
            let u = v.as_u64().ok_or_else(|| TrainError::Config(format!("`{k}` must be a positive integer, got {v}")))?;
            per_layer.push((i, u as usize));
        }
        let mut hp: Hyperparams = serde_json::from_value(Value::Object(map)).map_err(|e| TrainError::Config(format!("hyperparameters: {e}")))?;
        if !per_layer.is_empty() {
            per_layer.sort();
            // Only the first `layers` matter (a conditional space may carry more).
            hp.layer_units = (0..hp.layers)
                .map(|i| per_layer.iter().find(|(j, _)| *j == i).map_or(hp.units, |p| p.1))
                .collect();
        }
        hp.validate()?;
        Ok(hp)
    }

    /// Width of hidden layer `i`.
    pub fn width(&self, i: usize) -> usize {
        self.layer_units.get(i).copied().unwrap_or(self.units)
    }

    /// Checks every value, naming the hyperparameter in the error.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.layers > 0 && (0..self.layers).any(|i| self.width(i) == 0) {
            return bad("hidden layers need at least 1 unit".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(format!("learning_rate must be positive, got {}", self.learning_rate));
        }
        if self.batch_size == 0 || self.epochs == 0 {
            return bad("batch_size and epochs must be at least 1".into());
        }
        for (name, v) in [("beta1", self.beta1), ("beta2", self.beta2), ("rho", self.rho), ("momentum", self.momentum)] {
            if !(0.0..1.0).contains(&v) {
                return bad(format!("{name} must be in [0, 1), got {v}"));
            }
        }
        if !(0.0..=1.0).contains(&self.bn_momentum) {
            return bad(format!("bn_momentum must be in [0, 1], got {}", self.bn_momentum));
        }
        if self.weight_decay < 0.0 || self.epsilon <= 0.0 {
            return bad("weight_decay must be >= 0 and epsilon > 0".into());
        }
        if self.schedule == Schedule::Exponential && (self.decay_steps == 0 || self.decay_rate <= 0.0) {
            return bad("the exponential schedule needs decay_steps >= 1 and decay_rate > 0".into());
        }
        if self.schedule == Schedule::Step && (self.step_size == 0 || self.gamma <= 0.0) {
            return bad("the step schedule needs step_size >= 1 and gamma > 0".into());
        }
        if self.schedule == Schedule::Cosine && !(self.min_lr >= 0.0 && self.min_lr < self.learning_rate) {
            return bad(format!("cosine min_lr must be in [0, learning_rate), got {}", self.min_lr));
        }
        if self.nesterov && (self.optimizer != OptimizerKind::Sgd || self.momentum == 0.0) {
            return bad("nesterov needs optimizer = \"sgd\" and momentum > 0".into());
        }
        if self.patience == Some(0) {
            return bad("patience must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parses_trial_params_with_per_layer_units() {
        let hp = Hyperparams::from_json(&obj(json!({"lr": 0.01, "layers": 2, "units_0": 64, "units_1": 32, "units_2": 8, "activation": "tanh"}))).unwrap();
        assert_eq!(hp.learning_rate, 0.01);
        assert_eq!(hp.layer_units, vec![64, 32]);
        assert_eq!((hp.width(0), hp.width(1)), (64, 32));
        assert_eq!(hp.activation, Activation::Tanh);
    }

    #[test]
    fn bad_settings_are_named() {
        let e = Hyperparams::from_json(&obj(json!({"learning_rat": 0.1}))).unwrap_err().to_string();
        assert!(e.contains("unknown field `learning_rat`") && e.contains("learning_rate"), "{e}");
        let e = Hyperparams::from_json(&obj(json!({"dropout": 1.0}))).unwrap_err().to_string();
        assert!(e.contains("dropout must be in [0, 1)"), "{e}");
        let e = Hyperparams::from_json(&obj(json!({"optimizer": "lbfgs"}))).unwrap_err().to_string();
        assert!(e.contains("unknown variant `lbfgs`"), "{e}");
        let e = Hyperparams::from_json(&obj(json!({"nesterov": true}))).unwrap_err().to_string();
        assert!(e.contains("nesterov"), "{e}");
    }
}
