//! The optimisation loop: ask, run the objective, tell; in `n_jobs` threads.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Study, TellOutcome, Trial};
use crate::error::{Error, Result};
use crate::objective::{ObjectiveError, ObjectiveValue};
use crate::trial::{FrozenTrial, TrialState};

/// The most trials one `optimize` call runs at once (threads).
pub const MAX_JOBS: usize = 1024;

/// Called after every finished trial (from the worker thread that ran it).
pub type TrialCallback = Arc<dyn Fn(&Study, &FrozenTrial) + Send + Sync>;

/// How long [`Study::optimize`] runs and how.
#[derive(Clone)]
pub struct Optimize {
    n_trials: Option<usize>,
    study_total: Option<usize>,
    /// (patience in complete trials, minimum improvement).
    no_improvement: Option<(usize, f64)>,
    timeout: Option<Duration>,
    n_jobs: usize,
    stop: Arc<AtomicBool>,
    callbacks: Vec<TrialCallback>,
}

impl Default for Optimize {
    fn default() -> Self {
        Optimize { n_trials: None, study_total: None, no_improvement: None, timeout: None, n_jobs: 1, stop: Arc::new(AtomicBool::new(false)), callbacks: vec![] }
    }
}

impl std::fmt::Debug for Optimize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Optimize")
            .field("n_trials", &self.n_trials)
            .field("study_total", &self.study_total)
            .field("timeout", &self.timeout)
            .field("n_jobs", &self.n_jobs)
            .finish()
    }
}

impl Optimize {
    /// Run `n` trials (enqueued ones included).
    pub fn trials(n: usize) -> Self {
        Optimize { n_trials: Some(n), ..Default::default() }
    }
    /// Run until `d` has passed: no trial starts after that; running ones finish.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }
    /// Also stop after `n` trials.
    pub fn n_trials(mut self, n: usize) -> Self {
        self.n_trials = Some(n);
        self
    }
    /// Stop once the *study* holds `n` trials that count toward a budget
    /// (see [`counts_toward_budget`]), whoever ran them: several processes
    /// sharing a study then share the budget. Checked before each trial, so
    /// processes starting trials at the same instant can overshoot by one each.
    pub fn study_total(mut self, n: usize) -> Self {
        self.study_total = Some(n);
        self
    }
    /// Stop the study when the last `patience` complete trials (of the
    /// whole study, whichever process ran them) did not improve the best
    /// value by more than `min_delta`. One objective only.
    pub fn stop_after_no_improvement(mut self, patience: usize, min_delta: f64) -> Self {
        self.no_improvement = Some((patience.max(1), min_delta.max(0.0)));
        self
    }
    /// Run `n` trials at a time, in threads.
    pub fn n_jobs(mut self, n: usize) -> Self {
        self.n_jobs = n.max(1);
        self
    }
    /// A flag that stops the run when set (the CLI sets it on Ctrl-C): no new
    /// trial starts, and running ones see [`Trial::is_interrupted`].
    pub fn stop_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = flag;
        self
    }
    /// Calls `f` after each finished trial.
    pub fn on_trial_end(mut self, f: impl Fn(&Study, &FrozenTrial) + Send + Sync + 'static) -> Self {
        self.callbacks.push(Arc::new(f));
        self
    }
}

/// Why [`Study::optimize`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `n_trials` were run.
    Budget,
    /// The timeout passed.
    Timeout,
    /// The stop flag was set.
    Interrupted,
    /// The sampler has nothing left to propose (a finished grid).
    SamplerExhausted,
    /// `stop_after_no_improvement`: the best value stopped improving.
    NoImprovement,
}

/// What one [`Study::optimize`] call did.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizeReport {
    /// Why it returned.
    pub stop: StopReason,
    /// Trials of this call that completed.
    pub complete: usize,
    /// Trials of this call that were pruned.
    pub pruned: usize,
    /// Trials of this call that failed.
    pub failed: usize,
}

struct Shared {
    started: AtomicUsize,
    exhausted: AtomicBool,
    total_reached: AtomicBool,
    converged: AtomicBool,
    running: Mutex<HashSet<i64>>,
    counts: Mutex<[usize; 3]>,
}

impl Study {
    /// Runs `objective` on new trials until the budget is spent.
    ///
    /// An objective that returns an error, panics, or returns NaN/infinity
    /// fails its trial (the reason is stored) and the study goes on. Storage
    /// errors end the run. With a seeded sampler and one job, the same study
    /// proposes the same parameters, trial for trial.
    pub fn optimize<F, V>(&self, objective: F, opts: Optimize) -> Result<OptimizeReport>
    where
        F: Fn(&mut Trial) -> Result<V, ObjectiveError> + Sync,
        V: ObjectiveValue,
    {
        if opts.n_trials.is_none() && opts.timeout.is_none() && opts.study_total.is_none() {
            return Err(Error::InvalidSpec("optimize needs a budget: n_trials, study_total, a timeout, or some".into()));
        }
        if opts.n_jobs > MAX_JOBS {
            return Err(Error::InvalidSpec(format!(
                "n_jobs = {} is more than {MAX_JOBS}; n_jobs is how many trials run at once in this process (e.g. one per GPU or core)",
                opts.n_jobs
            )));
        }
        if opts.no_improvement.is_some() && self.is_multi_objective() {
            return Err(Error::InvalidSpec(
                "stopping on no improvement needs one objective; this study has several".into(),
            ));
        }
        let start = Instant::now();
        let shared = Shared {
            started: AtomicUsize::new(0),
            exhausted: AtomicBool::new(false),
            total_reached: AtomicBool::new(false),
            converged: AtomicBool::new(false),
            running: Mutex::new(HashSet::new()),
            counts: Mutex::new([0; 3]),
        };
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let results: Vec<Result<()>> = std::thread::scope(|s| {
            // Heartbeat: lets other machines tell our running trials from dead ones.
            let shared = &shared;
            s.spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(self.heartbeat_interval()) {
                    let ids: Vec<i64> = shared.running.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
                    if !ids.is_empty() {
                        let _ = self.storage().heartbeat(&ids);
                    }
                    // Judge the other workers while we are here: a trial
                    // whose worker died stops holding the budget.
                    let _ = self.fail_stale_trials();
                }
            });
            let mut out: Vec<Result<()>> = vec![];
            let mut workers = vec![];
            for i in 0..opts.n_jobs {
                let spawned = std::thread::Builder::new()
                    .name(format!("ferrotune-worker-{i}"))
                    .spawn_scoped(s, || self.worker(&objective, &opts, shared, start));
                match spawned {
                    Ok(h) => workers.push(h),
                    Err(e) => {
                        // Let the workers already started finish their trials.
                        shared.total_reached.store(true, Ordering::SeqCst);
                        out.push(Err(Error::InvalidSpec(format!("cannot start worker thread {} of {}: {e}; lower n_jobs", i + 1, opts.n_jobs))));
                        break;
                    }
                }
            }
            out.extend(
                workers
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(Error::Objective("a worker thread panicked".into())))),
            );
            drop(done_tx);
            out
        });
        for r in results {
            r?;
        }
        let stop = if opts.stop.load(Ordering::SeqCst) {
            StopReason::Interrupted
        } else if shared.exhausted.load(Ordering::SeqCst) {
            StopReason::SamplerExhausted
        } else if shared.converged.load(Ordering::SeqCst) {
            StopReason::NoImprovement
        } else if shared.total_reached.load(Ordering::SeqCst)
            || opts.n_trials.is_some_and(|n| shared.started.load(Ordering::SeqCst) >= n)
        {
            StopReason::Budget
        } else {
            StopReason::Timeout
        };
        let [complete, pruned, failed] = *shared.counts.lock().unwrap_or_else(|e| e.into_inner());
        Ok(OptimizeReport { stop, complete, pruned, failed })
    }

    fn worker<F, V>(&self, objective: &F, opts: &Optimize, shared: &Shared, start: Instant) -> Result<()>
    where
        F: Fn(&mut Trial) -> Result<V, ObjectiveError> + Sync,
        V: ObjectiveValue,
    {
        loop {
            if opts.stop.load(Ordering::SeqCst)
                || shared.exhausted.load(Ordering::SeqCst)
                || shared.total_reached.load(Ordering::SeqCst)
                || shared.converged.load(Ordering::SeqCst)
            {
                return Ok(());
            }
            if opts.timeout.is_some_and(|t| start.elapsed() >= t) {
                return Ok(());
            }
            let slot = shared.started.fetch_add(1, Ordering::SeqCst);
            if opts.n_trials.is_some_and(|n| slot >= n) {
                return Ok(());
            }
            let mut trial = match self.ask_within(Some(self.owner()), opts.study_total) {
                Ok(Some(t)) => t,
                Ok(None) => {
                    shared.started.fetch_sub(1, Ordering::SeqCst);
                    shared.total_reached.store(true, Ordering::SeqCst);
                    return Ok(());
                }
                Err(Error::SamplerExhausted(_)) => {
                    shared.started.fetch_sub(1, Ordering::SeqCst);
                    shared.exhausted.store(true, Ordering::SeqCst);
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            trial.interrupt = Some(opts.stop.clone());
            shared.running.lock().unwrap_or_else(|e| e.into_inner()).insert(trial.id());
            let result = catch_unwind(AssertUnwindSafe(|| objective(&mut trial)));
            let outcome = match result {
                Ok(Ok(v)) => TellOutcome::Values(v.into_values()),
                Ok(Err(ObjectiveError::Pruned)) => TellOutcome::Pruned,
                Ok(Err(ObjectiveError::Interrupted)) => TellOutcome::Failed(Some("interrupted".into())),
                Ok(Err(ObjectiveError::Failed(m))) if opts.stop.load(Ordering::SeqCst) => {
                    TellOutcome::Failed(Some(format!("interrupted ({m})")))
                }
                Ok(Err(ObjectiveError::Failed(m))) => TellOutcome::Failed(Some(m)),
                Err(panic) => TellOutcome::Failed(Some(format!("objective panicked: {}", panic_message(&panic)))),
            };
            if matches!(&outcome, TellOutcome::Failed(Some(m)) if m.starts_with("interrupted")) {
                // The kind, not the message, keeps it out of the budget.
                let _ = trial.set_system_attr(crate::attrs::FAILURE, crate::attrs::FailureKind::Interrupted.as_str().into());
            }
            let outcome = match outcome {
                TellOutcome::Values(v) if v.len() != self.directions().len() => TellOutcome::Failed(Some(format!(
                    "objective returned {} value(s), but the study has {} direction(s)",
                    v.len(),
                    self.directions().len()
                ))),
                o => o,
            };
            let done = self.tell_trial(&trial, outcome);
            shared.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&trial.id());
            let done = match done {
                Ok(d) => {
                    self.retry_after_failure(&d)?;
                    d
                }
                // Another process finished it first (it judged us stale, or
                // a user told it by hand): keep what is stored and go on.
                Err(Error::TrialFinished { .. }) => self.trial(trial.number())?,
                Err(e) => return Err(e),
            };
            {
                let mut c = shared.counts.lock().unwrap_or_else(|e| e.into_inner());
                match done.state {
                    TrialState::Complete => c[0] += 1,
                    TrialState::Pruned => c[1] += 1,
                    _ => c[2] += 1,
                }
            }
            for cb in &opts.callbacks {
                cb(self, &done);
            }
            if let Some((patience, min_delta)) = opts.no_improvement {
                if self.trials_without_improvement(min_delta)? >= patience {
                    shared.converged.store(true, Ordering::SeqCst);
                }
            }
        }
    }
}

impl Study {
    /// How many complete (feasible) trials, in number order, came after the
    /// last one that improved the best value by more than `min_delta`.
    pub fn trials_without_improvement(&self, min_delta: f64) -> Result<usize> {
        let d = self.direction();
        let mut best: Option<f64> = None;
        let mut since = 0;
        for t in self.trials()?.iter().filter(|t| t.state == TrialState::Complete && t.is_feasible()) {
            let Some(v) = t.value() else { continue };
            let improved = best.is_none_or(|b| d.improves(v, b, min_delta));
            if improved {
                best = Some(v);
                since = 0;
            } else {
                since += 1;
                if d.better(v, best.unwrap_or(v)) {
                    best = Some(v); // a small gain still moves the bar
                }
            }
        }
        Ok(since)
    }
}

/// Whether a trial counts toward a study-wide budget: everything started,
/// except trials that failed only because they were interrupted or their
/// worker died (re-running after a crash should finish the budget).
pub fn counts_toward_budget(t: &FrozenTrial) -> bool {
    match t.state {
        TrialState::Failed => crate::attrs::FailureKind::of(t).is_none(),
        TrialState::Waiting => false,
        _ => true,
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}
