//! Studies: a named optimisation with its directions, sampler, pruner and storage.

mod optimize;
mod stale;
mod trial_handle;

pub use crate::direction::Direction;
pub use optimize::{counts_toward_budget, Optimize, OptimizeReport, StopReason, TrialCallback, MAX_JOBS};
pub use stale::{HEARTBEAT_INTERVAL, LEASE_ATTR, STALE_AFTER};
pub(crate) use stale::{process_tag_is_dead, this_process_tag};
pub use trial_handle::{FloatSuggestion, IntSuggestion, Trial};

use indexmap::IndexMap;
use serde::Serialize;
use std::sync::{Arc, Mutex};

use crate::distribution::ParamValue;
use crate::error::{Error, Result};
use crate::multi_objective::pareto_front;
use crate::pruners::{NopPruner, Pruner};
use crate::samplers::{RandomSampler, Sampler};
use crate::storage::{AttrKind, InMemoryStorage, NewTrial, Storage, StudyRecord};
use crate::trial::{FrozenTrial, Owner, TrialState};

pub use crate::attrs::{RETRIED_FROM as RETRIED_FROM_ATTR, STUDY_SPACE as SPACE_ATTR};
/// How often one configuration is enqueued again after interruptions.
pub const MAX_INTERRUPTED_RETRIES: usize = 100;
/// How often an enqueued trial whose worker died is enqueued again.
pub const MAX_ENQUEUED_RETRIES: usize = 2;

/// The study's trials, in number order: a cheap, immutable snapshot.
pub type History = Arc<Vec<Arc<FrozenTrial>>>;

/// How a trial ended, for [`Study::tell`].
#[derive(Debug, Clone, PartialEq)]
pub enum TellOutcome {
    /// Objective values, one per direction.
    Values(Vec<f64>),
    /// Stopped early; the last intermediate value is kept as its value.
    Pruned,
    /// Failed, with an optional reason.
    Failed(Option<String>),
}

/// A study: cheap to clone, safe to share between threads.
#[derive(Clone)]
pub struct Study {
    inner: Arc<Inner>,
}

struct Inner {
    record: StudyRecord,
    storage: Arc<dyn Storage>,
    sampler: Arc<dyn Sampler>,
    pruner: Arc<dyn Pruner>,
    cache: Mutex<Cache>,
    /// Serialises "pick the next trial and sample it" within this process, so
    /// threads of one `optimize` see each other's choices (grid points, liars).
    ask_lock: Mutex<()>,
    owner: Owner,
    /// How often a failed trial is enqueued again (see [`StudyBuilder::max_retries`]).
    max_retries: usize,
    /// How often `optimize` refreshes its trials' heartbeats (and judges others').
    heartbeat_interval: std::time::Duration,
}

#[derive(Default)]
struct Cache {
    seq: u64,
    trials: History,
}

impl std::fmt::Debug for Study {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Study")
            .field("name", &self.inner.record.name)
            .field("directions", &self.inner.record.directions)
            .field("sampler", &self.inner.sampler.name())
            .finish()
    }
}

/// Creates or loads a [`Study`]; see [`Study::builder`].
pub struct StudyBuilder {
    name: String,
    directions: Option<Vec<Direction>>,
    storage: Option<Arc<dyn Storage>>,
    sampler: Option<Arc<dyn Sampler>>,
    pruner: Option<Arc<dyn Pruner>>,
    read_only: bool,
    max_retries: usize,
    heartbeat: (std::time::Duration, std::time::Duration),
}

impl StudyBuilder {
    /// How this process's workers show they are alive: `optimize` refreshes
    /// its running trials' heartbeats every `interval`, and other workers
    /// judge a trial dead after `grace_period` without one (a worker that
    /// cannot be judged by its pid: another host, container or pid
    /// namespace). The grace period is stored with each trial's owner, so
    /// every judge uses the one its worker promised. Defaults: 20 s and
    /// 5 min ([`HEARTBEAT_INTERVAL`], [`STALE_AFTER`]). The grace period
    /// must be at least twice the interval (a busy database or a long
    /// garbage-collection pause must not look like death).
    pub fn heartbeat(mut self, interval: std::time::Duration, grace_period: std::time::Duration) -> Self {
        self.heartbeat = (interval, grace_period);
        self
    }
    /// Enqueue a trial that failed (an error, or its worker died) again with
    /// the same parameters, up to `n` times per configuration; the new trial
    /// records `retried_from` (like Optuna's `RetryFailedTrialCallback`).
    /// Interrupted trials (Ctrl-C, a scheduler's SIGTERM) are always enqueued
    /// again, so preempted work resumes. Default 0.
    pub fn max_retries(mut self, n: usize) -> Self {
        self.max_retries = n;
        self
    }
    /// Open only to look: opening writes nothing (no sweep for stale
    /// trials), as `ferrotune trials` and a dashboard need. Pair it with
    /// [`crate::storage::open_read_only`].
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
    /// One direction (the default is minimize).
    pub fn direction(mut self, d: Direction) -> Self {
        self.directions = Some(vec![d]);
        self
    }
    /// Several directions: a multi-objective study.
    pub fn directions(mut self, d: impl IntoIterator<Item = Direction>) -> Self {
        self.directions = Some(d.into_iter().collect());
        self
    }
    /// Where trials are kept (in memory by default).
    pub fn storage(mut self, s: Arc<dyn Storage>) -> Self {
        self.storage = Some(s);
        self
    }
    /// How parameters are chosen (random by default).
    pub fn sampler(mut self, s: impl Sampler + 'static) -> Self {
        self.sampler = Some(Arc::new(s));
        self
    }
    /// A sampler already behind an `Arc` (e.g. chosen at run time).
    pub fn sampler_arc(mut self, s: Arc<dyn Sampler>) -> Self {
        self.sampler = Some(s);
        self
    }
    /// When to stop trials early (never, by default).
    pub fn pruner(mut self, p: impl Pruner + 'static) -> Self {
        self.pruner = Some(Arc::new(p));
        self
    }
    /// A pruner already behind an `Arc` (e.g. chosen at run time).
    pub fn pruner_arc(mut self, p: Arc<dyn Pruner>) -> Self {
        self.pruner = Some(p);
        self
    }

    /// Creates the study; [`Error::StudyExists`] if the name is taken.
    pub fn create(self) -> Result<Study> {
        self.open(false, true)
    }
    /// Loads an existing study; [`Error::StudyNotFound`] if there is none.
    pub fn load(self) -> Result<Study> {
        self.open(true, false)
    }
    /// Loads the study if it exists, else creates it (how a resumed run starts).
    pub fn load_or_create(self) -> Result<Study> {
        self.open(true, true)
    }

    fn open(self, may_load: bool, may_create: bool) -> Result<Study> {
        let (interval, grace) = self.heartbeat;
        if interval < std::time::Duration::from_millis(100) || grace < interval * 2 {
            return Err(Error::InvalidSpec(format!(
                "heartbeat interval {:?} and grace period {:?}: the interval must be at least 0.1 s and the grace period \
                 at least twice the interval",
                interval, grace
            )));
        }
        let storage = self.storage.unwrap_or_else(|| Arc::new(InMemoryStorage::new()));
        if self.name.trim().is_empty() {
            return Err(Error::InvalidSpec("a study needs a non-empty name".into()));
        }
        if let Some(d) = &self.directions {
            if d.is_empty() {
                return Err(Error::InvalidSpec(format!("study '{}': give at least one direction", self.name)));
            }
        }
        let record = match storage.get_study(&self.name)? {
            Some(rec) if may_load => {
                if let Some(d) = &self.directions {
                    if *d != rec.directions {
                        return Err(Error::StudyMismatch {
                            name: self.name,
                            reason: format!(
                                "it is stored with directions [{}], not [{}]; use another study name",
                                crate::direction::names(&rec.directions),
                                crate::direction::names(d)
                            ),
                        });
                    }
                }
                rec
            }
            Some(_) => return Err(Error::StudyExists(self.name)),
            None if may_create => {
                let dirs = self.directions.unwrap_or_else(|| vec![Direction::Minimize]);
                match storage.create_study(&self.name, &dirs) {
                    Ok(r) => r,
                    // Another process created it between our look and our insert.
                    Err(Error::StudyExists(_)) if may_load => {
                        storage.get_study(&self.name)?.ok_or_else(|| Error::StudyNotFound(self.name.clone()))?
                    }
                    Err(e) => return Err(e),
                }
            }
            None => return Err(Error::StudyNotFound(self.name)),
        };
        let study = Study {
            inner: Arc::new(Inner {
                record,
                storage,
                sampler: self.sampler.unwrap_or_else(|| Arc::new(RandomSampler::new(None))),
                pruner: self.pruner.unwrap_or_else(|| Arc::new(NopPruner)),
                cache: Mutex::new(Cache::default()),
                ask_lock: Mutex::new(()),
                owner: Owner { grace_period: Some(grace.as_secs_f64()), ..stale::this_process() },
                max_retries: self.max_retries,
                heartbeat_interval: interval,
            }),
        };
        if !self.read_only {
            study.fail_stale_trials()?;
        }
        Ok(study)
    }
}

impl StudyBuilder {
    /// The seed for this study's sampler: `explicit` when given, else the
    /// seed stored with the study, else a fresh one — stored, so every later
    /// process (a resumed `run`, the next `ask`) continues the same seeded
    /// sequence. Creates the study if it does not exist yet (with this
    /// builder's storage and directions); build the sampler from the seed,
    /// then open the study with it.
    pub fn seed(&self, explicit: Option<u64>) -> Result<u64> {
        let storage = self.storage.clone().ok_or_else(|| {
            Error::InvalidSpec("StudyBuilder::seed needs a storage (a seed is stored with the study)".into())
        })?;
        // No stale sweep here: the study opened with its real options does it.
        let mut probe = Study::builder(self.name.clone()).storage(storage).read_only();
        if let Some(d) = &self.directions {
            probe = probe.directions(d.clone());
        }
        let study = probe.load_or_create()?;
        let stored = study.system_attrs()?.get(crate::attrs::STUDY_SEED).and_then(|v| v.as_u64());
        match (explicit, stored) {
            (Some(s), Some(old)) if s == old => Ok(s),
            (Some(s), _) => {
                study.set_system_attr(crate::attrs::STUDY_SEED, &s.into())?;
                Ok(s)
            }
            (None, Some(old)) => Ok(old),
            (None, None) => {
                let s = crate::rng::fresh_seed() >> 11; // fits a JSON number exactly
                study.set_system_attr(crate::attrs::STUDY_SEED, &s.into())?;
                Ok(s)
            }
        }
    }
}

impl Study {
    /// Starts building a study called `name`.
    pub fn builder(name: impl Into<String>) -> StudyBuilder {
        StudyBuilder {
            name: name.into(),
            directions: None,
            storage: None,
            sampler: None,
            pruner: None,
            read_only: false,
            max_retries: 0,
            heartbeat: (HEARTBEAT_INTERVAL, STALE_AFTER),
        }
    }

    /// The study's name.
    pub fn name(&self) -> &str {
        &self.inner.record.name
    }
    /// The storage-wide identifier.
    pub fn id(&self) -> i64 {
        self.inner.record.id
    }
    /// One direction per objective.
    pub fn directions(&self) -> &[Direction] {
        &self.inner.record.directions
    }
    /// The single direction; multi-objective studies get the first.
    pub fn direction(&self) -> Direction {
        self.inner.record.directions[0]
    }
    /// Whether it has several objectives.
    pub fn is_multi_objective(&self) -> bool {
        self.inner.record.directions.len() > 1
    }
    /// Where its trials are kept.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }
    /// How it picks parameters.
    pub fn sampler(&self) -> &Arc<dyn Sampler> {
        &self.inner.sampler
    }
    /// When it stops trials early.
    pub fn pruner(&self) -> &Arc<dyn Pruner> {
        &self.inner.pruner
    }

    /// All trials, in number order. Reads only what changed since the last
    /// call (finished trials are cached), so samplers may call it every ask.
    pub fn trials(&self) -> Result<History> {
        Ok(self.trials_and_sequence()?.0)
    }

    /// [`Study::trials`] and the study's sequence number as of that read.
    /// The number grows with every change to a trial (not with heartbeats,
    /// and on PostgreSQL not with intermediate values of running trials), so
    /// a viewer such as the dashboard can tell that nothing changed.
    pub fn trials_and_sequence(&self) -> Result<(History, u64)> {
        let mut c = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (changed, seq) = self.inner.storage.trials_since(self.id(), c.seq)?;
        if !changed.is_empty() {
            let v = Arc::make_mut(&mut c.trials);
            for t in changed {
                let n = t.number as usize;
                if n < v.len() {
                    v[n] = Arc::new(t);
                } else if n == v.len() {
                    v.push(Arc::new(t));
                } else {
                    // A gap: never expected, but a full reload is always right.
                    let (all, seq) = self.inner.storage.trials_since(self.id(), 0)?;
                    c.trials = Arc::new(all.into_iter().map(Arc::new).collect());
                    c.seq = seq;
                    return Ok((c.trials.clone(), seq));
                }
            }
        }
        c.seq = seq;
        Ok((c.trials.clone(), seq))
    }

    /// Trials in the given states.
    pub fn trials_in(&self, states: &[TrialState]) -> Result<Vec<Arc<FrozenTrial>>> {
        Ok(self.trials()?.iter().filter(|t| states.contains(&t.state)).cloned().collect())
    }

    /// A trial by number, read fresh from storage.
    pub fn trial(&self, number: u64) -> Result<FrozenTrial> {
        match self.inner.storage.get_trial_by_number(self.id(), number)? {
            Some(t) => Ok(t),
            None => {
                // A trial we handed out that is gone means a damaged file.
                self.inner.storage.check_integrity()?;
                Err(Error::TrialNotFound { study: self.name().to_string(), number })
            }
        }
    }

    /// The best feasible complete trial of a single-objective study, if any.
    pub fn best_trial(&self) -> Result<Option<Arc<FrozenTrial>>> {
        if self.is_multi_objective() {
            return Err(Error::InvalidSpec(format!(
                "study '{}' has {} objectives, so there is no single best trial; use best_trials() for the Pareto front",
                self.name(),
                self.directions().len()
            )));
        }
        let d = self.direction();
        let mut best: Option<Arc<FrozenTrial>> = None;
        for t in self.trials_in(&[TrialState::Complete])?.into_iter().filter(|t| t.is_feasible()) {
            let better = match (&best, t.value()) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(b), Some(v)) => d.better(v, b.value().unwrap_or(f64::NAN)),
            };
            if better {
                best = Some(t);
            }
        }
        Ok(best)
    }

    /// The best value so far (single objective).
    pub fn best_value(&self) -> Result<Option<f64>> {
        Ok(self.best_trial()?.and_then(|t| t.value()))
    }

    /// The feasible complete trials no other one dominates: the Pareto front
    /// (for one objective, every trial tied for best).
    pub fn best_trials(&self) -> Result<Vec<Arc<FrozenTrial>>> {
        let done: Vec<Arc<FrozenTrial>> = self
            .trials_in(&[TrialState::Complete])?
            .into_iter()
            .filter(|t| t.values.is_some() && t.is_feasible())
            .collect();
        let points: Vec<&[f64]> = done.iter().map(|t| t.values.as_deref().unwrap_or(&[])).collect();
        Ok(pareto_front(&points, self.directions()).into_iter().map(|i| done[i].clone()).collect())
    }

    /// Queues a trial with fixed parameters; queued trials run before any
    /// sampled one, each exactly once. Parameters it does not fix are sampled.
    /// Returns the trial number.
    pub fn enqueue_trial<K: Into<String>, V: Into<ParamValue>>(
        &self,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Result<u64> {
        let fixed: IndexMap<String, ParamValue> = params.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let t = self.inner.storage.create_trial(
            self.id(),
            NewTrial { state: Some(TrialState::Waiting), fixed_params: Some(fixed), ..Default::default() },
        )?;
        Ok(t.number)
    }

    /// Enqueues `params` unless a trial of this study was already enqueued
    /// with exactly these parameters (so re-running a study file, or eight
    /// workers starting it at once, queue them once). Check and insert are
    /// one storage transaction. Returns the new trial's number, if one was made.
    pub fn enqueue_trial_once(&self, params: IndexMap<String, ParamValue>) -> Result<Option<u64>> {
        let new = NewTrial { state: Some(TrialState::Waiting), fixed_params: Some(params), ..Default::default() };
        Ok(self.inner.storage.enqueue_once(self.id(), new)?.map(|t| t.number))
    }

    /// Starts a new trial (an enqueued one first) for an ask/tell loop; finish
    /// it with [`Study::tell`]. The trial has no owning process, so it is never
    /// judged stale: an external worker may hold it as long as it likes.
    pub fn ask(&self) -> Result<Trial> {
        self.ask_as(None)
    }

    /// Like [`Study::ask`], for a worker that runs the trial in this
    /// process: the trial records this process as its owner (host, pid,
    /// the study's grace period), as `optimize` does, so a crash is
    /// detected — at once from this machine's pid space, from elsewhere
    /// once its heartbeat is older than the grace period. Keep it alive with
    /// [`Storage::heartbeat`] every
    /// [`Study::heartbeat_interval`] while it runs (the Python package does).
    pub fn ask_owned(&self) -> Result<Trial> {
        self.ask_as(Some(self.owner()))
    }

    /// Like [`Study::ask`], for a worker that may vanish (a killed client
    /// of `ferrotune ask`): if the trial is not told within `lease`, the
    /// next writer to open the study, or a running `optimize`, marks it
    /// failed ("stale") and it stops counting toward budgets.
    pub fn ask_with_lease(&self, lease: std::time::Duration) -> Result<Trial> {
        let mut t = self.ask()?;
        if let Err(e) = t.set_system_attr(stale::LEASE_ATTR, serde_json::json!(lease.as_secs_f64())) {
            let _ = self.inner.storage.finish_trial(t.id(), TrialState::Failed, None, Some(&e.to_string()));
            return Err(e);
        }
        Ok(t)
    }

    pub(crate) fn ask_as(&self, owner: Option<&Owner>) -> Result<Trial> {
        Ok(self.ask_within(owner, None)?.expect("no total, so a trial"))
    }

    /// Like `ask_as`, but `None` once the study holds `total` trials that
    /// count toward a budget; checked under the ask lock, so the threads of
    /// one process never overshoot it.
    pub(crate) fn ask_within(&self, owner: Option<&Owner>, total: Option<usize>) -> Result<Option<Trial>> {
        let _guard = self.inner.ask_lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(total) = total {
            let used = self.trials()?.iter().filter(|t| optimize::counts_toward_budget(t)).count();
            if used >= total {
                return Ok(None);
            }
        }
        let storage = &self.inner.storage;
        let frozen = match storage.claim_waiting_trial(self.id(), owner)? {
            Some(t) => t,
            None => {
                if let Some(why) = self.inner.sampler.exhausted(self)? {
                    return Err(Error::SamplerExhausted(why));
                }
                storage.create_trial(
                    self.id(),
                    NewTrial { state: Some(TrialState::Running), owner: owner.cloned(), ..Default::default() },
                )?
            }
        };
        match Trial::start(self.clone(), frozen.clone()) {
            Ok(t) => Ok(Some(t)),
            Err(e) => {
                // Never leave a trial running that nobody will finish.
                let _ = storage.finish_trial(frozen.id, TrialState::Failed, None, Some(&e.to_string()));
                Err(e)
            }
        }
    }

    /// Finishes trial `number` (from an ask/tell loop or `ferrotune tell`).
    ///
    /// A value count that does not match the directions is an error and
    /// leaves the trial running. A NaN or infinite value marks it failed, as
    /// an objective returning one would.
    pub fn tell(&self, number: u64, outcome: TellOutcome) -> Result<FrozenTrial> {
        let t = self.trial(number)?;
        if t.state.is_finished() {
            return Err(Error::TrialFinished { number, state: t.state.to_string() });
        }
        if t.state == TrialState::Waiting {
            return Err(Error::InvalidValue(format!(
                "trial {number} is waiting (enqueued) and was never asked; ask for it before telling"
            )));
        }
        self.finish(&t, outcome)
    }

    /// Finishes a live trial, as [`Study::tell`] does, without reading it
    /// back from storage first (the handle holds it): one round trip less
    /// per trial on a remote database. `optimize` finishes its trials this way.
    pub fn tell_trial(&self, trial: &Trial, outcome: TellOutcome) -> Result<FrozenTrial> {
        self.finish(trial.snapshot(), outcome)
    }

    fn finish(&self, t: &FrozenTrial, outcome: TellOutcome) -> Result<FrozenTrial> {
        let (state, values, message) = self.check_outcome(t, outcome)?;
        let done = self.inner.storage.finish_trial(t.id, state, values.as_deref(), message.as_deref())?;
        self.inner.sampler.after_trial(self, &done);
        Ok(done)
    }

    /// Turns an outcome into what is stored, per the rules on [`Study::tell`].
    fn check_outcome(
        &self,
        t: &FrozenTrial,
        outcome: TellOutcome,
    ) -> Result<(TrialState, Option<Vec<f64>>, Option<String>)> {
        Ok(match outcome {
            TellOutcome::Values(v) => {
                let n = self.directions().len();
                if v.len() != n {
                    return Err(Error::InvalidValue(format!(
                        "study '{}' has {n} objective(s), but {} value(s) were given",
                        self.name(),
                        v.len()
                    )));
                }
                match v.iter().find(|x| !x.is_finite()) {
                    Some(bad) => (TrialState::Failed, None, Some(format!("objective value {bad} is not a finite number"))),
                    None => (TrialState::Complete, Some(v), None),
                }
            }
            TellOutcome::Pruned => {
                let last = t.last_intermediate().map(|(_, v)| v).filter(|v| v.is_finite());
                let values = (!self.is_multi_objective()).then_some(last).flatten().map(|v| vec![v]);
                (TrialState::Pruned, values, None)
            }
            TellOutcome::Failed(m) => (TrialState::Failed, None, m),
        })
    }

    /// Stores a declarative search space with the study on first use; later,
    /// a different space is an error that lists the differences, unless
    /// `allow_change` (then the new space is stored: samplers work on what old
    /// and new trials share). So a study's best trial always comes from the
    /// space the user is running.
    pub fn check_space(&self, space: &crate::space::SpaceSpec, allow_change: bool) -> Result<()> {
        let new = space.to_value();
        match self.system_attrs()?.get(SPACE_ATTR) {
            Some(old) if *old == new => Ok(()),
            Some(old) if !allow_change => Err(Error::StudyMismatch {
                name: self.name().to_string(),
                reason: format!(
                    "the search space differs from the one stored with the study: {}. Keep the old space, pass \
                     --allow-space-change (Rust: allow_space_change) to continue with the new one, or use another study name",
                    space.differences(old).join("; ")
                ),
            }),
            _ => self.set_system_attr(SPACE_ATTR, &new),
        }
    }

    /// Sets a study-level user attribute.
    pub fn set_user_attr(&self, key: &str, value: impl Serialize) -> Result<()> {
        let v = serde_json::to_value(value).map_err(|e| Error::InvalidValue(format!("attribute '{key}': {e}")))?;
        self.inner.storage.set_study_attr(self.id(), AttrKind::User, key, &v)
    }
    /// Sets a study-level system attribute (ferrotune's own bookkeeping).
    pub fn set_system_attr(&self, key: &str, value: &serde_json::Value) -> Result<()> {
        self.inner.storage.set_study_attr(self.id(), AttrKind::System, key, value)
    }
    /// Study-level user attributes, read fresh.
    pub fn user_attrs(&self) -> Result<std::collections::BTreeMap<String, serde_json::Value>> {
        Ok(self.record()?.user_attrs)
    }
    /// Study-level system attributes, read fresh.
    pub fn system_attrs(&self) -> Result<std::collections::BTreeMap<String, serde_json::Value>> {
        Ok(self.record()?.system_attrs)
    }
    fn record(&self) -> Result<StudyRecord> {
        self.inner.storage.get_study(self.name())?.ok_or_else(|| Error::StudyNotFound(self.name().to_string()))
    }

    /// Marks running trials whose worker is gone as failed ("stale"); see
    /// `stale.rs` for how a worker is judged. Runs when a study is opened
    /// for writing and with every heartbeat of `optimize`; returns the
    /// numbers it failed. An enqueued trial that died this way is enqueued
    /// again with the same parameters (`retried_from`), at most
    /// [`MAX_ENQUEUED_RETRIES`] times, so a configuration the user asked for
    /// is never silently dropped.
    pub fn fail_stale_trials(&self) -> Result<Vec<u64>> {
        let mut failed = vec![];
        for t in self.inner.storage.running_trials(self.id())? {
            if let Some(why) = stale::why_stale(&t, &self.inner.owner) {
                let kind = crate::attrs::FailureKind::Stale.as_str().into();
                match self.inner.storage.set_trial_attr(t.id, AttrKind::System, crate::attrs::FAILURE, &kind) {
                    Ok(()) => {}
                    Err(Error::TrialFinished { .. }) => continue, // someone else got there first
                    Err(e) => return Err(e),
                }
                match self.inner.storage.finish_trial(t.id, TrialState::Failed, None, Some(&why)) {
                    Ok(_) => {
                        failed.push(t.number);
                        // An enqueued configuration is never dropped silently.
                        let limit = if crate::attrs::fixed_params(&t).is_some() {
                            self.inner.max_retries.max(MAX_ENQUEUED_RETRIES)
                        } else {
                            self.inner.max_retries
                        };
                        self.retry_trial(&t, limit)?;
                    }
                    Err(Error::TrialFinished { .. }) => {} // someone else got there first
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(failed)
    }

    /// Enqueues `t`'s parameters again as a new (waiting) trial that records
    /// `retried_from`, unless `t` is already the `limit`-th retry of its first
    /// run. The parameters are those `t` suggested, or, if it died before
    /// suggesting, those it was enqueued with. Returns the new trial's number.
    pub fn retry_trial(&self, t: &FrozenTrial, limit: usize) -> Result<Option<u64>> {
        let mut retries = 0;
        let mut cur = crate::attrs::retried_from(t);
        while let Some(n) = cur {
            retries += 1;
            cur = self.trial(n).ok().and_then(|p| crate::attrs::retried_from(&p));
        }
        if retries >= limit {
            return Ok(None);
        }
        let mut fixed: IndexMap<String, ParamValue> = match crate::attrs::fixed_params(t) {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| Error::Storage(format!("enqueued parameters of trial {} are unreadable: {e}", t.number)))?,
            None => IndexMap::new(),
        };
        fixed.extend(t.param_values());
        let new = self.inner.storage.create_trial(
            self.id(),
            NewTrial {
                state: Some(TrialState::Waiting),
                fixed_params: Some(fixed),
                system_attrs: vec![(RETRIED_FROM_ATTR.to_string(), serde_json::json!(t.number))],
                ..Default::default()
            },
        )?;
        Ok(Some(new.number))
    }

    /// After a failed trial: interrupted ones are enqueued again (preempted
    /// work resumes), others up to `max_retries` times.
    pub(crate) fn retry_after_failure(&self, t: &FrozenTrial) -> Result<()> {
        if t.state != TrialState::Failed {
            return Ok(());
        }
        match crate::attrs::FailureKind::of(t) {
            Some(crate::attrs::FailureKind::Interrupted) => self.retry_trial(t, MAX_INTERRUPTED_RETRIES).map(|_| ()),
            Some(crate::attrs::FailureKind::Stale) => Ok(()), // fail_stale_trials decides
            None if self.inner.max_retries > 0 => self.retry_trial(t, self.inner.max_retries).map(|_| ()),
            None => Ok(()),
        }
    }

    pub(crate) fn owner(&self) -> &Owner {
        &self.inner.owner
    }

    /// How often `optimize` refreshes heartbeats (see [`StudyBuilder::heartbeat`]).
    pub fn heartbeat_interval(&self) -> std::time::Duration {
        self.inner.heartbeat_interval
    }
}
