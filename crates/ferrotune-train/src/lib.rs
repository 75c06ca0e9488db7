//! ferrotune's built-in trainer: multilayer perceptrons on MNIST,
//! Fashion-MNIST and CSV tables, trained with Burn on the CPU (or a GPU
//! backend behind a cargo feature).
//!
//! - [`data`]: datasets, the IDX and CSV loaders, MNIST location/download,
//!   hold-out and k-fold splits.
//! - [`hyperparams`]: what one training is configured by.
//! - [`model`], [`optim`], [`train`]: the network, Burn's optimisers and
//!   schedules, and the training loop with its per-epoch callback.
//! - [`task`]: the evaluation protocol a study runs (hold-out or k-fold),
//!   retraining the best configuration and scoring it once on the test set.
//! - [`artifact`]: saving a final model with its hyperparameters and test
//!   metrics, loading it back, predicting.
//! - [`tune`]: the trainer as a study's objective (`[trainer]` study files):
//!   the per-trial objective, the retrain-and-test policy, threads per trial.

#![warn(missing_docs)]

pub mod artifact;
pub mod data;
pub mod error;
pub mod hyperparams;
pub mod model;
pub mod optim;
pub mod task;
pub mod train;
pub mod tune;

pub use error::{Result, TrainError};
pub use hyperparams::Hyperparams;
