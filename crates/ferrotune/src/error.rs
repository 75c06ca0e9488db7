//! The library's error type. Every message names what is wrong and, where it
//! can, how to fix it: these strings reach users of the CLI verbatim.

use std::path::PathBuf;

/// Everything that can go wrong in ferrotune's library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A distribution or search space is malformed (low > high, empty choices, ...).
    #[error("parameter '{name}': {reason}")]
    InvalidParameter { name: String, reason: String },

    /// A search-space or study file could not be understood.
    #[error("{0}")]
    InvalidSpec(String),

    /// A study with this name does not exist in the storage.
    #[error("no study named '{0}' in this storage (list them with `ferrotune studies`)")]
    StudyNotFound(String),

    /// `create` was asked for a study that already exists.
    #[error("a study named '{0}' already exists; load it instead, or pick another name")]
    StudyExists(String),

    /// The stored study disagrees with what the caller asked for.
    #[error("study '{name}': {reason}")]
    StudyMismatch { name: String, reason: String },

    /// No trial with this number exists in the study.
    #[error("study '{study}' has no trial number {number}")]
    TrialNotFound { study: String, number: u64 },

    /// The trial is not running, so it cannot be changed or told again.
    #[error("trial {number} is already {state}; only a running trial can be updated or told")]
    TrialFinished { number: u64, state: String },

    /// An objective value that cannot be stored (NaN, infinite, wrong count).
    #[error("{0}")]
    InvalidValue(String),

    /// The sampler has nothing left to propose (e.g. every grid point was tried).
    #[error("{0}")]
    SamplerExhausted(String),

    /// The sampler could not propose a value.
    #[error("sampler: {0}")]
    Sampler(String),

    /// The storage URL is malformed or names an unsupported backend.
    #[error("storage URL '{url}': {reason}")]
    StorageUrl { url: String, reason: String },

    /// The database was written by another version of ferrotune.
    #[error(
        "database {path} has schema version {found}, but this ferrotune uses version {expected}; \
         use a ferrotune release that matches the database, or start a new database file"
    )]
    SchemaMismatch { path: PathBuf, found: i64, expected: i64 },

    /// A storage backend failure (I/O, locking, corruption).
    #[error("storage: {0}")]
    Storage(String),

    /// Reading a file failed. (The OS error is part of the message, not a
    /// separate source, so a printed error chain does not say it twice.)
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },

    /// The external objective command could not be used.
    #[error("objective: {0}")]
    Objective(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseCorrupt) | Some(rusqlite::ErrorCode::NotADatabase) => Error::Storage(format!(
                "the database file is damaged ({e}); restore it from a backup, or inspect it with `sqlite3 FILE 'PRAGMA integrity_check'`"
            )),
            Some(rusqlite::ErrorCode::ReadOnly) => Error::Storage(format!(
                "the database cannot be written ({e}): it is read-only here (file or directory permissions, a read-only mount)"
            )),
            Some(rusqlite::ErrorCode::DiskFull) => Error::Storage(format!("the disk is full ({e}); nothing was stored for this change")),
            _ => Error::Storage(e.to_string()),
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidParameter { name: name.to_string(), reason: reason.into() }
}
