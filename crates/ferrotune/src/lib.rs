//! # ferrotune
//!
//! Hyperparameter tuning for deep learning. A [`Study`] runs trials of an
//! objective; each [`Trial`] suggests parameters from distributions chosen by
//! a [`samplers::Sampler`], reports progress that a [`pruners::Pruner`] may
//! act on, and is persisted in a [`storage::Storage`] as it goes.
//!
//! ```
//! use ferrotune::{Direction, Optimize, Study, samplers::RandomSampler};
//!
//! let study = Study::builder("quadratic")
//!     .direction(Direction::Minimize)
//!     .sampler(RandomSampler::new(Some(42)))
//!     .create()?;
//! study.optimize(
//!     |trial| {
//!         let x = trial.suggest_float("x", -10.0, 10.0).sample()?;
//!         let lr = trial.suggest_float("lr", 1e-5, 1e-1).log().sample()?;
//!         let layers = trial.suggest_int("layers", 1, 4).sample()?;
//!         for i in 0..layers {
//!             let _units = trial.suggest_int(&format!("units_l{i}"), 32, 512).step(32).sample()?;
//!         }
//!         let act = trial.suggest_categorical("act", ["relu", "tanh"])?;
//!         Ok((x - 2.0).powi(2) + lr + if act == "relu" { 0.0 } else { 0.1 })
//!     },
//!     Optimize::trials(20),
//! )?;
//! let best = study.best_trial()?.expect("some trial completed");
//! assert!(best.value().unwrap() < 10.0);
//! # Ok::<(), ferrotune::Error>(())
//! ```
//!
//! Unix only: the command objective runs programs in process groups and
//! signals them, and dead-worker detection reads `/proc` (Linux) or uses
//! `kill(pid, 0)`.
//!
//! The crate holds no terminal code: the `ferrotune` binary
//! (`crates/ferrotune-cli`) is a thin layer over it.

// Numerical code (CMA-ES, GP, Parzen estimators) indexes several arrays in
// lockstep; index loops read closer to the papers than zipped iterators.
#![warn(missing_docs)]
#![allow(clippy::needless_range_loop)]
// Published constants (Acklam's, Cody-Waite's) are kept digit for digit.
#![allow(clippy::excessive_precision)]

pub mod attrs;
pub mod direction;
pub mod distribution;
mod error;
pub mod importance;
pub(crate) mod math;
pub mod multi_objective;
pub mod objective;
pub mod pruners;
pub(crate) mod rng;
pub mod samplers;
pub mod space;
pub mod storage;
pub mod study;
pub mod study_file;
pub mod trial;

pub use distribution::{Distribution, ParamValue};
pub use error::{Error, Result};
pub use objective::{ObjectiveError, ObjectiveValue};
pub use space::SpaceSpec;
pub use study::{Direction, Optimize, OptimizeReport, StopReason, Study, TellOutcome, Trial};
pub use trial::{FrozenTrial, TrialState};
