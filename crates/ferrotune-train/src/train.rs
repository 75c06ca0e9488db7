//! The training loop: shuffled mini-batches, one optimiser step each, the
//! validation metric after every epoch (handed to a callback, which is how
//! pruners stop a trial), early stopping with patience.

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::{Dataset, Targets};
use crate::error::{Result, TrainError};
use crate::hyperparams::Hyperparams;
use crate::model::Mlp;
use crate::optim::{optimizer, scheduler};

/// Metrics after one epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// Validation loss (cross-entropy or MSE), if there is validation data.
    pub val_loss: Option<f64>,
    /// Validation accuracy (classification).
    pub val_accuracy: Option<f64>,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// The learning rate at the end of the epoch.
    pub learning_rate: f64,
}

impl EpochMetrics {
    /// The number a study optimises: accuracy for classification, loss otherwise.
    pub fn objective(&self) -> Option<f64> {
        self.val_accuracy.or(self.val_loss)
    }
}

/// What the epoch callback wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// Stop now (pruned, interrupted); the result says so.
    Stop,
}

/// Why training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every epoch ran.
    Completed,
    /// Patience ran out; the best epoch's weights were kept.
    EarlyStopped,
    /// The callback said stop (a pruner, Ctrl-C).
    Stopped,
}

/// Where and how to train.
#[derive(Clone)]
pub struct FitOptions {
    /// Burn device to train on.
    pub device: Device,
    /// Threads for this training (rayon pool); 0 = all cores.
    pub threads: usize,
    /// Called after each batch with (batches done, batches per epoch).
    pub on_batch: Option<std::sync::Arc<dyn Fn(usize, usize) + Send + Sync>>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions { device: Device::flex(), threads: 0, on_batch: None }
    }
}

impl std::fmt::Debug for FitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitOptions").field("device", &self.device).field("threads", &self.threads).finish()
    }
}

/// A trained model and its history.
#[derive(Debug)]
pub struct Fit {
    /// In inference mode (no autodiff); with patience, the best epoch's weights.
    pub model: Mlp,
    /// Metrics of every epoch run.
    pub history: Vec<EpochMetrics>,
    /// The epoch whose weights were kept (with patience).
    pub best_epoch: Option<usize>,
    /// Why training ended.
    pub stop: StopReason,
}

impl Fit {
    /// The reported objective: the best epoch's with patience, else the last epoch's.
    pub fn objective(&self) -> Option<f64> {
        let e = self.best_epoch.or(self.history.last().map(|h| h.epoch))?;
        self.history.get(e - 1)?.objective()
    }
}

/// Trains an MLP on `train`, evaluating on `validation` after each epoch.
pub fn fit(
    hp: &Hyperparams,
    train: &Dataset,
    validation: Option<&Dataset>,
    opts: &FitOptions,
    on_epoch: &mut (dyn FnMut(&EpochMetrics) -> Control + Send),
) -> Result<Fit> {
    hp.validate()?;
    if train.is_empty() {
        return Err(TrainError::Config("the training set is empty".into()));
    }
    with_threads(opts.threads, || fit_inner(hp, train, validation, opts, on_epoch))
}

/// Runs `f` on a rayon pool of `threads` threads (Burn's CPU kernels and
/// gemm use the current pool), so concurrent trials can split the cores.
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    if threads == 0 {
        return f();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

fn fit_inner(
    hp: &Hyperparams,
    train: &Dataset,
    validation: Option<&Dataset>,
    opts: &FitOptions,
    on_epoch: &mut (dyn FnMut(&EpochMetrics) -> Control + Send),
) -> Result<Fit> {
    let device = opts.device.clone().autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(hp.seed);
    let mut model = Mlp::new(hp, train.n_features, train.n_outputs(), &mut rng, &device);
    let mut optim = optimizer(hp);
    let n = train.len();
    let bs = hp.batch_size.min(n);
    let steps_per_epoch = n.div_ceil(bs);
    let mut sched = scheduler(hp, steps_per_epoch)?;
    let ce = CrossEntropyLossConfig::new().init(&device);
    let mut order: Vec<usize> = (0..n).collect();
    let mut history = vec![];
    let mut best: Option<(f64, usize, Mlp)> = None;
    let classification = train.is_classification();
    let mut stop = StopReason::Completed;
    let d = train.n_features;
    for epoch in 1..=hp.epochs {
        let t0 = Instant::now();
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0f64;
        let mut lr_now = hp.learning_rate;
        // Losses are read back once per epoch (reading each batch's would
        // synchronise every step); kept as tensors and summed at the end.
        let mut losses: Vec<Tensor<1>> = Vec::with_capacity(steps_per_epoch);
        for (b, chunk) in order.chunks(bs).enumerate() {
            let mut xb = Vec::with_capacity(chunk.len() * d);
            for &i in chunk {
                xb.extend_from_slice(&train.features[i * d..(i + 1) * d]);
            }
            let x = Tensor::<2>::from_data(TensorData::new(xb, [chunk.len(), d]), &device);
            let out = model.forward(x, Some(&mut rng));
            let loss = match &train.targets {
                Targets::Classes { labels, .. } => {
                    let y: Vec<i64> = chunk.iter().map(|&i| labels[i] as i64).collect();
                    ce.forward(out, Tensor::<1, Int>::from_data(TensorData::new(y, [chunk.len()]), &device))
                }
                Targets::Values(v) => {
                    let y: Vec<f32> = chunk.iter().map(|&i| v[i]).collect();
                    let y = Tensor::<2>::from_data(TensorData::new(y, [chunk.len(), 1]), &device);
                    (out - y).powi_scalar(2).mean()
                }
            };
            losses.push(loss.clone().detach().mul_scalar(chunk.len() as f64));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let lr = sched.step();
            lr_now = lr.base();
            model = optim.step(lr, model, grads);
            if let Some(cb) = &opts.on_batch {
                cb(b + 1, steps_per_epoch);
            }
        }
        if !losses.is_empty() {
            loss_sum = Tensor::cat(losses, 0).sum().into_scalar::<f32>() as f64;
        }
        let train_loss = loss_sum / n as f64;
        if !train_loss.is_finite() {
            return Err(TrainError::Diverged(train_loss));
        }
        let (val_loss, val_accuracy) = match validation {
            Some(v) if !v.is_empty() => {
                let e = evaluate(&model.valid(), v, &opts.device);
                (Some(e.loss), e.accuracy)
            }
            _ => (None, None),
        };
        let m = EpochMetrics { epoch, train_loss, val_loss, val_accuracy, seconds: t0.elapsed().as_secs_f64(), learning_rate: lr_now };
        history.push(m.clone());
        if let (Some(p), Some(obj)) = (hp.patience, m.objective()) {
            let better = |a: f64, b: f64| if classification { a > b } else { a < b };
            if best.as_ref().is_none_or(|(bv, _, _)| better(obj, *bv)) {
                best = Some((obj, epoch, model.clone()));
            } else if epoch - best.as_ref().unwrap().1 >= p {
                stop = StopReason::EarlyStopped;
            }
        }
        if on_epoch(&m) == Control::Stop {
            stop = StopReason::Stopped;
        }
        if stop != StopReason::Completed {
            break;
        }
    }
    let (model, best_epoch) = match best {
        Some((_, e, m)) => (m, Some(e)),
        None => (model, None),
    };
    Ok(Fit { model: model.valid(), history, best_epoch, stop })
}

/// Loss and accuracy of a model on a dataset.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Mean cross-entropy, or mean squared error.
    pub loss: f64,
    /// Fraction classified correctly (classification only).
    pub accuracy: Option<f64>,
}

/// Evaluates in batches of 2,048 rows, without autodiff.
pub fn evaluate(model: &Mlp, ds: &Dataset, device: &Device) -> Evaluation {
    let d = ds.n_features;
    let n = ds.len();
    let mut loss = 0.0f64;
    let mut correct = 0usize;
    let ce = CrossEntropyLossConfig::new().init(device);
    for start in (0..n).step_by(2048) {
        let end = (start + 2048).min(n);
        let x = Tensor::<2>::from_data(TensorData::new(ds.features[start * d..end * d].to_vec(), [end - start, d]), device);
        let out = model.forward(x, None);
        match &ds.targets {
            Targets::Classes { labels, .. } => {
                let y: Vec<i64> = labels[start..end].iter().map(|&l| l as i64).collect();
                let y = Tensor::<1, Int>::from_data(TensorData::new(y, [end - start]), device);
                let pred = out.clone().argmax(1).reshape([end - start]);
                correct += pred.equal(y.clone()).int().sum().into_scalar::<i64>() as usize;
                loss += ce.forward(out, y).into_scalar::<f32>() as f64 * (end - start) as f64;
            }
            Targets::Values(v) => {
                let y = Tensor::<2>::from_data(TensorData::new(v[start..end].to_vec(), [end - start, 1]), device);
                loss += (out - y).powi_scalar(2).sum().into_scalar::<f32>() as f64;
            }
        }
    }
    let n = n.max(1) as f64;
    Evaluation { loss: loss / n, accuracy: ds.is_classification().then(|| correct as f64 / n) }
}

/// Predictions: class indices (classification) or values (regression).
pub fn predict(model: &Mlp, features: &[f32], n_features: usize, classification: bool, device: &Device) -> Vec<f64> {
    let n = features.len() / n_features;
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(2048) {
        let end = (start + 2048).min(n);
        let x = Tensor::<2>::from_data(TensorData::new(features[start * n_features..end * n_features].to_vec(), [end - start, n_features]), device);
        let y = model.forward(x, None);
        if classification {
            let data = y.argmax(1).reshape([end - start]).into_data();
            out.extend(data.iter::<i64>().map(|v| v as f64));
        } else {
            out.extend(y.into_data().iter::<f32>().map(|v| v as f64));
        }
    }
    out
}
