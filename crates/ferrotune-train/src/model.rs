//! The multilayer perceptron, built from [`Hyperparams`].
//!
//! Weights are initialised and dropout masks drawn from a ChaCha8 stream of
//! the trial's seed rather than from the backend's RNG, which Burn keeps
//! per process: trials training in parallel threads stay reproducible.

use burn::module::{Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig, Linear};
use burn::tensor::activation;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Normal};

use crate::hyperparams::{Activation, Hyperparams, Init};

/// Hidden layers (linear → batch norm → activation → dropout), then a
/// linear output layer producing logits (or the regression value).
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    norms: Vec<BatchNorm>,
    output: Linear,
    dropout: f64,
    /// `Activation` as a number, since a module field must be a module or a
    /// primitive: the index in [`ACTIVATIONS`].
    activation: usize,
}

const ACTIVATIONS: [Activation; 5] =
    [Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::Gelu, Activation::LeakyRelu];

fn linear(fan_in: usize, fan_out: usize, init: Init, rng: &mut ChaCha8Rng, device: &Device) -> Linear {
    let n = fan_in * fan_out;
    let uniform = |rng: &mut ChaCha8Rng, a: f64, n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-a..a) as f32).collect() };
    let normal = |rng: &mut ChaCha8Rng, s: f64, n: usize| -> Vec<f32> {
        let d = Normal::new(0.0, s).unwrap();
        (0..n).map(|_| d.sample(rng) as f32).collect()
    };
    let (w, b) = match init {
        Init::Default => {
            let a = 1.0 / (fan_in as f64).sqrt();
            (uniform(rng, a, n), uniform(rng, a, fan_out))
        }
        Init::He => (normal(rng, (2.0 / fan_in as f64).sqrt(), n), vec![0.0; fan_out]),
        Init::Xavier => (uniform(rng, (6.0 / (fan_in + fan_out) as f64).sqrt(), n), vec![0.0; fan_out]),
        Init::Lecun => (normal(rng, (1.0 / fan_in as f64).sqrt(), n), vec![0.0; fan_out]),
    };
    Linear {
        weight: Param::from_data(TensorData::new(w, [fan_in, fan_out]), device),
        bias: Some(Param::from_data(TensorData::new(b, [fan_out]), device)),
    }
}

impl Mlp {
    /// A network for `hp` with seeded initial weights.
    pub fn new(hp: &Hyperparams, n_inputs: usize, n_outputs: usize, rng: &mut ChaCha8Rng, device: &Device) -> Mlp {
        let mut hidden = vec![];
        let mut norms = vec![];
        let mut width = n_inputs;
        for i in 0..hp.layers {
            let w = hp.width(i);
            hidden.push(linear(width, w, hp.init, rng, device));
            if hp.batch_norm {
                norms.push(BatchNormConfig::new(w).with_momentum(hp.bn_momentum).init(device));
            }
            width = w;
        }
        Mlp {
            hidden,
            norms,
            output: linear(width, n_outputs, hp.init, rng, device),
            dropout: hp.dropout,
            activation: ACTIVATIONS.iter().position(|a| *a == hp.activation).unwrap(),
        }
    }

    /// Every linear layer's (weights row-major [in, out], biases), input side first.
    pub fn linear_weights(&self) -> Vec<(Vec<f32>, Vec<f32>)> {
        self.hidden
            .iter()
            .chain(std::iter::once(&self.output))
            .map(|l| {
                let w = l.weight.val().into_data().iter::<f32>().collect();
                let b = l.bias.as_ref().map_or(vec![], |b| b.val().into_data().iter::<f32>().collect());
                (w, b)
            })
            .collect()
    }

    /// Logits for a batch. `dropout_rng` is `Some` while training.
    pub fn forward(&self, mut x: Tensor<2>, mut dropout_rng: Option<&mut ChaCha8Rng>) -> Tensor<2> {
        for (i, layer) in self.hidden.iter().enumerate() {
            x = layer.forward(x);
            if let Some(bn) = self.norms.get(i) {
                x = bn.forward(x);
            }
            x = match ACTIVATIONS[self.activation] {
                Activation::Relu => activation::relu(x),
                Activation::Tanh => activation::tanh(x),
                Activation::Sigmoid => activation::sigmoid(x),
                Activation::Gelu => activation::gelu(x),
                Activation::LeakyRelu => activation::leaky_relu(x, 0.01),
            };
            if self.dropout > 0.0 {
                if let Some(rng) = dropout_rng.as_deref_mut() {
                    x = inverted_dropout(x, self.dropout, rng);
                }
            }
        }
        self.output.forward(x)
    }
}

/// Zeroes each unit with probability p and scales the rest by 1/(1−p)
/// (Srivastava et al. 2014, "inverted" so inference needs no rescaling).
fn inverted_dropout(x: Tensor<2>, p: f64, rng: &mut ChaCha8Rng) -> Tensor<2> {
    let [n, d] = x.dims();
    let keep = 1.0 / (1.0 - p) as f32;
    let threshold = (p * u32::MAX as f64) as u32;
    let mask: Vec<f32> = (0..n * d).map(|_| if rng.random::<u32>() >= threshold { keep } else { 0.0 }).collect();
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [n, d]), &x.device());
    x * mask
}
