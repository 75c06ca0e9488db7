//! Durable storage of studies and trials.
//!
//! The [`Storage`] trait is the seam between the tuner and a database. It is
//! designed for many concurrent workers, in threads, processes or machines:
//!
//! * [`Storage::create_trial`] assigns trial numbers atomically (dense, from 0);
//! * [`Storage::claim_waiting_trial`] moves one enqueued trial to running
//!   atomically, so two workers never run the same enqueued trial;
//! * only a running trial can change; finishing is a compare-and-set on the
//!   state, so a trial is told at most once;
//! * every change to a trial advances a per-study sequence number, so a reader
//!   can fetch just what changed ([`Storage::trials_since`]) and keep an
//!   in-memory cache (finished trials never change).
//!
//! Nothing here is SQLite-specific: values are plain data, distributions and
//! attributes travel as JSON.

mod memory;
mod postgres;
mod sqlite;

pub use self::postgres::{PostgresStorage, DEFAULT_RECONNECT_TIMEOUT as POSTGRES_RECONNECT_TIMEOUT};
pub use memory::InMemoryStorage;
pub use sqlite::SqliteStorage;

use indexmap::IndexMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::direction::Direction;
use crate::trial::{FrozenTrial, Owner, TrialState};

/// Storage-wide study identifier.
pub type StudyId = i64;
/// Storage-wide trial identifier.
pub type TrialId = i64;

/// User attributes are the user's; system attributes are ferrotune's own bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    /// The user's own attributes.
    User,
    /// ferrotune's bookkeeping (see [`crate::attrs`]).
    System,
}

impl AttrKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AttrKind::User => "user",
            AttrKind::System => "system",
        }
    }
}

/// A stored study's identity and attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyRecord {
    /// The storage-wide identifier.
    pub id: StudyId,
    /// The study's unique name.
    pub name: String,
    /// One direction per objective.
    pub directions: Vec<Direction>,
    /// Study-level user attributes.
    pub user_attrs: std::collections::BTreeMap<String, serde_json::Value>,
    /// Study-level system attributes (see [`crate::attrs`]).
    pub system_attrs: std::collections::BTreeMap<String, serde_json::Value>,
    /// Unix time in seconds.
    pub created_at: f64,
}

/// One line of `ferrotune studies`.
#[derive(Debug, Clone, PartialEq)]
pub struct StudySummary {
    /// The study.
    pub record: StudyRecord,
    /// How many trials it holds.
    pub n_trials: u64,
    /// Trial counts by state.
    pub counts: Vec<(TrialState, u64)>,
    /// Unix time of the study's last change (a trial created, changed or
    /// finished), when the backend records it.
    pub last_activity: Option<f64>,
}

/// What a new trial starts as.
#[derive(Debug, Clone, Default)]
pub struct NewTrial {
    /// `Waiting` (enqueued) or `Running` (asked). Anything else is an error.
    pub state: Option<TrialState>,
    /// Parameters fixed in advance (enqueued trials), kept as the
    /// `fixed_params` system attribute.
    pub fixed_params: Option<IndexMap<String, ParamValue>>,
    /// User attributes to set at creation.
    pub user_attrs: Vec<(String, serde_json::Value)>,
    /// ferrotune's own bookkeeping to set at creation (e.g. `retried_from`).
    pub system_attrs: Vec<(String, serde_json::Value)>,
    /// The process that will run it (running trials).
    pub owner: Option<Owner>,
}

pub use crate::attrs::FIXED_PARAMS as FIXED_PARAMS_ATTR;

impl NewTrial {
    /// The state it starts in: running unless enqueued (waiting); anything
    /// else is refused.
    pub(crate) fn initial_state(&self) -> Result<TrialState> {
        let state = self.state.unwrap_or(TrialState::Running);
        if !matches!(state, TrialState::Waiting | TrialState::Running) {
            return Err(Error::Storage(format!("a new trial must be waiting or running, not {state}")));
        }
        Ok(state)
    }
}

/// `finish_trial` takes only a finished state.
fn check_finished(state: TrialState) -> Result<()> {
    if !state.is_finished() {
        return Err(Error::Storage(format!("finish_trial needs a finished state, not {state}")));
    }
    Ok(())
}

/// Plain data as stored JSON text (the SQL backends' column format).
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data always serializes")
}

/// A stored value that does not parse: damage, or a newer writer.
fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!(
        "stored {what} could not be read ('{e}'): the database is damaged, or was written by a newer ferrotune"
    ))
}

/// The seam between the tuner and a database. See the module docs for the
/// guarantees every implementation gives.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Creates a study; [`Error::StudyExists`] if the name is taken.
    fn create_study(&self, name: &str, directions: &[Direction]) -> Result<StudyRecord>;
    /// The study called `name`, if any.
    fn get_study(&self, name: &str) -> Result<Option<StudyRecord>>;
    /// Every study with its trial counts.
    fn list_studies(&self) -> Result<Vec<StudySummary>>;
    /// Deletes a study and all its trials; [`Error::StudyNotFound`] if absent.
    fn delete_study(&self, name: &str) -> Result<()>;
    /// Sets a study attribute.
    fn set_study_attr(&self, study: StudyId, kind: AttrKind, key: &str, value: &serde_json::Value) -> Result<()>;

    /// Creates a trial with the next number of the study, atomically.
    fn create_trial(&self, study: StudyId, new: NewTrial) -> Result<FrozenTrial>;
    /// Creates a waiting (enqueued) trial with `new.fixed_params`, unless a
    /// trial of the study already has exactly these fixed parameters; check
    /// and insert are one transaction, so concurrent callers enqueue it once.
    fn enqueue_once(&self, study: StudyId, new: NewTrial) -> Result<Option<FrozenTrial>>;
    /// Atomically moves the lowest-numbered waiting trial to running, or `None`.
    fn claim_waiting_trial(&self, study: StudyId, owner: Option<&Owner>) -> Result<Option<FrozenTrial>>;
    /// Records a parameter of a running trial.
    fn set_trial_param(&self, trial: TrialId, name: &str, distribution: &Distribution, internal: f64) -> Result<()>;
    /// Records an intermediate value (a later report for the same step replaces it).
    fn set_trial_intermediate(&self, trial: TrialId, step: u64, value: f64) -> Result<()>;
    /// Sets an attribute of a running trial.
    fn set_trial_attr(&self, trial: TrialId, kind: AttrKind, key: &str, value: &serde_json::Value) -> Result<()>;
    /// Finishes a running trial; [`Error::TrialFinished`] if it is not running.
    fn finish_trial(
        &self,
        trial: TrialId,
        state: TrialState,
        values: Option<&[f64]>,
        message: Option<&str>,
    ) -> Result<FrozenTrial>;
    /// Marks the owner of these running trials as alive now.
    fn heartbeat(&self, trials: &[TrialId]) -> Result<()>;

    /// A trial by storage-wide id.
    fn get_trial(&self, trial: TrialId) -> Result<FrozenTrial>;
    /// A trial by its number in a study.
    fn get_trial_by_number(&self, study: StudyId, number: u64) -> Result<Option<FrozenTrial>>;
    /// Trials of the study changed after sequence number `after`, in number
    /// order, and the study's current sequence number.
    fn trials_since(&self, study: StudyId, after: u64) -> Result<(Vec<FrozenTrial>, u64)>;
    /// Running trials of the study, read fresh (heartbeats included).
    fn running_trials(&self, study: StudyId) -> Result<Vec<FrozenTrial>>;
    /// Appends `t` to the study as it is — state, values, parameters,
    /// intermediate values, attributes, times, owner — with the study's next
    /// number (for [`copy_study`], which adds trials in number order, that is
    /// `t`'s own number). Returns the stored trial.
    fn import_trial(&self, study: StudyId, t: &FrozenTrial) -> Result<FrozenTrial>;
    /// Checks the backend for damage (a truncated or overwritten file), so a
    /// missing trial can be reported as corruption rather than a wrong number.
    fn check_integrity(&self) -> Result<()> {
        Ok(())
    }
}

/// Copies study `name` from `from` to `to` (which must not have it):
/// directions, study attributes, and every trial with its parameters,
/// intermediate values, attributes, state, values, messages and times, in
/// number order. `ferrotune copy` moves a study between SQLite and
/// PostgreSQL this way. Returns the number of trials copied.
pub fn copy_study(from: &dyn Storage, to: &dyn Storage, name: &str) -> Result<usize> {
    let rec = from.get_study(name)?.ok_or_else(|| Error::StudyNotFound(name.to_string()))?;
    let (trials, _) = from.trials_since(rec.id, 0)?;
    let target = to.create_study(name, &rec.directions)?;
    for (kind, attrs) in [(AttrKind::User, &rec.user_attrs), (AttrKind::System, &rec.system_attrs)] {
        for (k, v) in attrs {
            to.set_study_attr(target.id, kind, k, v)?;
        }
    }
    for t in &trials {
        let copied = to.import_trial(target.id, t)?;
        if copied.number != t.number {
            return Err(Error::Storage(format!(
                "copying study '{name}': trial {} arrived as number {}; the source's numbers are not dense",
                t.number, copied.number
            )));
        }
    }
    Ok(trials.len())
}

/// The storage used when none is given: `ferrotune.db` in the working directory.
pub const DEFAULT_STORAGE_URL: &str = "sqlite:///ferrotune.db";

/// Opens a storage from a URL, as Optuna users write them:
/// `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, `memory:`,
/// `postgresql://user[:password]@host[:port]/db` (also `postgres://`).
pub fn open(url: &str) -> Result<Arc<dyn Storage>> {
    match parse_url(url)? {
        Location::Memory => Ok(Arc::new(InMemoryStorage::new())),
        Location::Sqlite(path) => Ok(Arc::new(SqliteStorage::open(path)?)),
        Location::Postgres => Ok(Arc::new(PostgresStorage::open(url)?)),
    }
}

/// Migrates the database at `url` to this ferrotune's schema version, in
/// one transaction (`ferrotune storage upgrade`). Returns the version it
/// had and the version it has now; a missing SQLite file is an error, an
/// empty PostgreSQL database gets the current tables (version 0 before).
/// Stop the workers of older ferrotune releases first: they refuse the new
/// schema.
pub fn upgrade(url: &str) -> Result<(i64, i64)> {
    match parse_url(url)? {
        Location::Memory => Ok((0, 0)),
        Location::Sqlite(path) => Ok((SqliteStorage::upgrade(path)?, sqlite::SCHEMA_VERSION)),
        Location::Postgres => Ok((PostgresStorage::upgrade(url)?, self::postgres::SCHEMA_VERSION)),
    }
}

/// `url` as it may be shown: any password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    self::postgres::redact(url)
}

/// Opens a storage for reading only (what `trials`, `studies`, `best` use):
/// nothing is written, and a missing database is an error, never created.
pub fn open_read_only(url: &str) -> Result<Arc<dyn Storage>> {
    match parse_url(url)? {
        Location::Memory => Ok(Arc::new(InMemoryStorage::new())),
        Location::Sqlite(path) => Ok(Arc::new(SqliteStorage::open_read_only(path)?)),
        Location::Postgres => Ok(Arc::new(PostgresStorage::open_read_only(url)?)),
    }
}

/// Where a trial's program output is kept for a study in the storage at
/// `url`: `<database>.logs/<study>/` beside an SQLite file; none for memory.
pub fn log_dir(url: &str, study: &str) -> Option<PathBuf> {
    let Ok(Location::Sqlite(path)) = parse_url(url) else { return None };
    let mut dir = path.into_os_string();
    dir.push(".logs");
    // Study names are free text; keep the directory name to safe characters.
    let safe: String = study
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c.to_string() } else { format!("%{:02X}", c as u32) })
        .collect();
    let safe = match safe.strip_prefix('.') {
        Some(rest) => format!("%2E{rest}"),
        None => safe,
    };
    Some(PathBuf::from(dir).join(safe))
}

enum Location {
    Memory,
    Sqlite(PathBuf),
    Postgres,
}

fn parse_url(url: &str) -> Result<Location> {
    let bad = |reason: &str| Error::StorageUrl { url: url.to_string(), reason: reason.to_string() };
    if url == "memory:" || url == "memory://" {
        return Ok(Location::Memory);
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest
            .strip_prefix("///")
            .ok_or_else(|| bad("expected sqlite:///relative/path.db or sqlite:////absolute/path.db (three or four slashes)"))?;
        if path.is_empty() {
            return Err(bad("no database file named; e.g. sqlite:///ferrotune.db"));
        }
        let path = PathBuf::from(path);
        // `sqlite:///tmp/x.db` is the relative path tmp/x.db; when tmp/ does
        // not exist here but /tmp does, the user almost surely meant four slashes.
        if let Some(first) = path.components().next() {
            let first = Path::new(first.as_os_str());
            if path.is_relative() && path.components().count() > 1 && !first.exists() && Path::new("/").join(first).is_dir() {
                return Err(bad(&format!(
                    "this is the relative path {}, and ./{} does not exist; for the absolute path /{} write four slashes: sqlite:////{}",
                    path.display(),
                    first.display(),
                    path.display(),
                    path.display()
                )));
            }
        }
        return Ok(Location::Sqlite(path));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Location::Postgres);
    }
    Err(bad("unknown storage; use sqlite:///relative/path.db, sqlite:////absolute/path.db, postgresql://user@host/db or memory:"))
}

#[cfg(test)]
mod conformance;
