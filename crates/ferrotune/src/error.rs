//! The library's error type. Every message names what is wrong and, where it
//! can, how to fix it: these strings reach users of the CLI verbatim.

use std::path::PathBuf;

/// Everything that can go wrong in ferrotune's library. New kinds of
/// failure may be added, so match with a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A distribution or search space is malformed (low > high, empty choices, ...).
    #[error("parameter '{name}': {reason}")]
    InvalidParameter {
        /// The parameter.
        name: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

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
    StudyMismatch {
        /// The study.
        name: String,
        /// What differs and what to do.
        reason: String,
    },

    /// No trial with this number exists in the study.
    #[error("study '{study}' has no trial number {number}")]
    TrialNotFound {
        /// The study.
        study: String,
        /// The number asked for.
        number: u64,
    },

    /// The trial is not running, so it cannot be changed or told again.
    #[error("trial {number} is already {state}; only a running trial can be updated or told")]
    TrialFinished {
        /// The trial.
        number: u64,
        /// Its state.
        state: String,
    },

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
    StorageUrl {
        /// The URL as given.
        url: String,
        /// What is wrong and the forms that work.
        reason: String,
    },

    /// The database holds another schema version than this ferrotune's.
    #[error("{}", schema_message(location, *found, *expected, upgrade_url))]
    SchemaMismatch {
        /// The database (a file, or a URL without its password).
        location: String,
        /// The version it holds.
        found: i64,
        /// The version this ferrotune uses.
        expected: i64,
        /// The storage URL to give `ferrotune storage upgrade`.
        upgrade_url: String,
    },

    /// A storage backend failure (I/O, locking, corruption).
    #[error("storage: {0}")]
    Storage(String),

    /// A database call failed; the driver's own error is kept as the source
    /// (`{:#}` or the source chain prints it), the message says what it means.
    #[error("storage: {message}")]
    Database {
        /// What the failure means for the user, and what to do.
        message: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Reading a file failed. (The OS error is part of the message, not a
    /// separate source, so a printed error chain does not say it twice.)
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },

    /// The external objective command could not be used.
    #[error("objective: {0}")]
    Objective(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        let message = match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseCorrupt) | Some(rusqlite::ErrorCode::NotADatabase) => {
                "the database file is damaged; restore it from a backup, or inspect it with \
                 `sqlite3 FILE 'PRAGMA integrity_check'`"
            }
            Some(rusqlite::ErrorCode::ReadOnly) => {
                "the database cannot be written: it is read-only here (file or directory permissions, a read-only mount)"
            }
            Some(rusqlite::ErrorCode::DiskFull) => "the disk is full; nothing was stored for this change",
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                "the database stayed locked by another process for the whole busy timeout (60 s)"
            }
            _ => "a database call failed",
        };
        Error::Database { message: message.to_string(), source: Box::new(e) }
    }
}

fn schema_message(location: &str, found: i64, expected: i64, url: &str) -> String {
    if found >= 1 && found < expected {
        format!(
            "database {location} has schema version {found}, older than this ferrotune's {expected}: upgrade it with \
             `ferrotune storage upgrade --storage {url}` (back it up first, and stop workers of the older ferrotune, \
             which cannot read the new schema)"
        )
    } else if found > expected {
        format!(
            "database {location} has schema version {found}, written by a newer ferrotune than this one (version \
             {expected}); use that newer release"
        )
    } else {
        format!(
            "database {location} has an unreadable schema version ({found}); it is damaged or not a ferrotune \
             database: restore a backup or use a new database"
        )
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidParameter { name: name.to_string(), reason: reason.into() }
}
