//! Errors of the trainer, written for the person who has to fix them.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
/// Everything that can go wrong in the trainer.
pub enum TrainError {
    /// A file could not be read or written.
    /// (The OS error is part of the message, not a separate source, so a
    /// printed error chain does not say it twice.)
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        error: std::io::Error,
    },
    /// A data file is malformed.
    #[error("{path}: {message}")]
    Data {
        /// The file.
        path: String,
        /// What is wrong in it.
        message: String,
    },
    /// Hyperparameters or trainer settings are invalid.
    #[error("{0}")]
    Config(String),
    /// A dataset could not be found or downloaded.
    #[error("{0}")]
    Missing(String),
    /// Training produced NaN or infinite losses (e.g. a learning rate far too high).
    #[error("training diverged: the loss became {0} (try a lower learning rate)")]
    Diverged(f64),
    /// The model store failed.
    #[error("model file {path}: {message}")]
    Model {
        /// The model file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The study (storage, sampler, study file) failed.
    #[error(transparent)]
    Study(#[from] ferrotune::Error),
}

impl TrainError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        TrainError::Io { path: path.display().to_string(), error: source }
    }
    pub(crate) fn data(path: &Path, message: impl Into<String>) -> Self {
        TrainError::Data { path: path.display().to_string(), message: message.into() }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, TrainError>;
