//! Declarative studies: a TOML file naming the storage, the directions, the
//! sampler, the budget, the search space and the objective command.
//!
//! ```toml
//! [study]
//! name = "quadratic"
//! direction = "minimize"          # or directions = ["minimize", "maximize"]
//! storage = "sqlite:///ferrotune.db"   # optional; this is the default
//! seed = 42                       # optional
//! grace_period = "5m"             # optional: a silent worker is dead after this
//!
//! [sampler]                       # optional; auto by default (GP-BO or TPE, chosen per trial)
//! type = "qmc"                    # auto | random | grid | qmc | tpe | gp | cmaes | nsga2
//!
//! [pruner]                        # optional; none by default
//! type = "hyperband"              # median | percentile | threshold | patient | asha | hyperband | wilcoxon | pareto
//! max_resource = 20
//!
//! [budget]
//! n_trials = 30                   # the study's total (see below)
//! timeout = "10m"                 # optional, for this run
//! n_jobs = 2                      # trials at a time
//!
//! [objective]                     # or [trainer]: the built-in trainer
//! command = ["python3", "objective.py", "--x={x}"]
//! timeout = "5m"                  # per trial
//!
//! [space.x]
//! type = "float"
//! low = -5
//! high = 10
//!
//! [[enqueue]]                     # optional: run these first, once
//! x = 0.0
//! ```
//!
//! `n_trials` is the study's total: running the file again after a crash or
//! Ctrl-C runs only what is left, and several processes running the same
//! file share the budget. Trials that failed because they were interrupted
//! or their worker died do not count.

use indexmap::IndexMap;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::distribution::ParamValue;
use crate::error::{Error, Result};
use crate::objective::command::{CommandObjective, OutputSink};
use crate::objective::ObjectiveError;
use crate::pruners::PrunerConfig;
use crate::samplers::SamplerConfig;
use crate::space::SpaceSpec;
use crate::storage::{self, Storage, DEFAULT_STORAGE_URL};
use crate::study::{counts_toward_budget, Direction, Optimize, Study, Trial};


#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    study: StudySection,
    #[serde(default)]
    sampler: SamplerConfig,
    #[serde(default)]
    pruner: PrunerConfig,
    #[serde(default)]
    budget: BudgetSection,
    objective: Option<ObjectiveSection>,
    /// The built-in trainer's settings, opaque here (the trainer crate
    /// parses them); an alternative to `[objective] command`.
    trainer: Option<toml::Table>,
    space: toml::Table,
    #[serde(default)]
    enqueue: Vec<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudySection {
    name: String,
    storage: Option<String>,
    direction: Option<String>,
    directions: Option<Vec<String>>,
    seed: Option<u64>,
    /// How often a worker refreshes its running trials' heartbeats.
    heartbeat_interval: Option<DurationSpec>,
    /// How long without a heartbeat before other workers judge it dead.
    grace_period: Option<DurationSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetSection {
    n_trials: Option<usize>,
    /// Stop when this many complete trials in a row brought no improvement.
    patience: Option<usize>,
    /// ...of more than this much.
    #[serde(default)]
    min_improvement: f64,
    timeout: Option<DurationSpec>,
    n_jobs: Option<usize>,
    /// Enqueue a failed trial again with the same parameters, this often.
    #[serde(default)]
    max_retries: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectiveSection {
    command: Vec<String>,
    timeout: Option<DurationSpec>,
    #[serde(default)]
    env: IndexMap<String, String>,
    workdir: Option<PathBuf>,
}

/// Seconds as a number, or a string such as "90s", "10m", "1h 30m".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum DurationSpec {
    Seconds(f64),
    Text(String),
}

/// The longest timeout accepted: a year. Longer is surely a typo, and
/// durations past ~5e11 years cannot even be represented.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(366 * 24 * 3600);

impl DurationSpec {
    fn to_duration(&self, key: &str) -> Result<Duration> {
        let d = match self {
            DurationSpec::Seconds(s) if s.is_finite() && *s > 0.0 && *s <= MAX_TIMEOUT.as_secs_f64() => {
                Duration::from_secs_f64(*s)
            }
            DurationSpec::Seconds(s) if s.is_finite() && *s > 0.0 => MAX_TIMEOUT + Duration::from_secs(1),
            DurationSpec::Seconds(s) => {
                return Err(Error::InvalidSpec(format!("{key} must be a positive number of seconds, got {s}")))
            }
            DurationSpec::Text(t) => humantime::parse_duration(t)
                .map_err(|e| Error::InvalidSpec(format!("{key} = \"{t}\": {e} (write e.g. \"90s\", \"10m\", \"1h 30m\")")))?,
        };
        check_timeout(key, d)
    }
}

/// Refuses a zero or absurdly long timeout (see [`MAX_TIMEOUT`]).
pub fn check_timeout(key: &str, d: Duration) -> Result<Duration> {
    if d.is_zero() {
        return Err(Error::InvalidSpec(format!("{key} must be longer than zero")));
    }
    if d > MAX_TIMEOUT {
        return Err(Error::InvalidSpec(format!(
            "{key} is longer than a year; give a real limit (e.g. \"12h\") or leave it out for none"
        )));
    }
    Ok(d)
}

/// What a study file's trials run.
#[derive(Debug, Clone)]
pub enum ObjectiveKind {
    /// `[objective] command = [...]`: an external program.
    Command(CommandObjective),
    /// `[trainer]`: the built-in trainer (crate `ferrotune-train`), with
    /// its table as JSON. The library does not train; the CLI does.
    Trainer(serde_json::Value),
}

/// A validated study file.
#[derive(Debug, Clone)]
pub struct StudyFile {
    /// The file it was read from.
    pub path: PathBuf,
    /// The study's name.
    pub name: String,
    /// The file's `[study] storage`, or the default when it has none.
    pub storage_url: String,
    /// Whether the file itself names the storage (else the caller may use
    /// `FERROTUNE_STORAGE`: a flag beats the file, the file beats the environment).
    pub storage_in_file: bool,
    /// Accept a search space that differs from the one stored with the
    /// study (see [`Study::check_space`]); off by default.
    pub allow_space_change: bool,
    /// One direction per objective.
    pub directions: Vec<Direction>,
    /// The sampler seed, if the file gives one.
    pub seed: Option<u64>,
    /// `[sampler]`.
    pub sampler: SamplerConfig,
    /// `[pruner]`.
    pub pruner: PrunerConfig,
    /// The study's total budget of trials.
    pub n_trials: Option<usize>,
    /// This run's time limit.
    pub timeout: Option<Duration>,
    /// Trials at a time in this process.
    pub n_jobs: usize,
    /// Stop after this many complete trials without an improvement of more than this.
    pub patience: Option<(usize, f64)>,
    /// `[budget] max_retries`: how often a failed trial is enqueued again.
    pub max_retries: usize,
    /// `[study] heartbeat_interval` and `grace_period` (see
    /// [`crate::study::StudyBuilder::heartbeat`]).
    pub heartbeat: (Duration, Duration),
    /// `[space]`.
    pub space: SpaceSpec,
    /// What a trial runs: a command, or the built-in trainer.
    pub objective: ObjectiveKind,
    /// `[[enqueue]]`, checked against the space.
    pub enqueue: Vec<IndexMap<String, ParamValue>>,
}

impl StudyFile {
    /// Reads and checks a study file: syntax, unknown keys, the search space,
    /// placeholders, and that the objective program exists.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::Io { path: path.to_path_buf(), error })?;
        Self::parse(&text, path).map_err(|e| Error::InvalidSpec(format!("{}: {e}", path.display())))
    }

    /// Parses study-file text; `path` locates relative objective paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let raw: RawFile = toml::from_str(text).map_err(|e| Error::InvalidSpec(toml_error(text, &e)))?;
        let directions = match (&raw.study.direction, &raw.study.directions) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidSpec("[study] has both `direction` and `directions`; keep one".into()))
            }
            (Some(d), None) => vec![Direction::parse(d)?],
            (None, Some(ds)) if !ds.is_empty() => ds.iter().map(|d| Direction::parse(d)).collect::<Result<_>>()?,
            (None, Some(_)) => return Err(Error::InvalidSpec("[study] directions is empty".into())),
            (None, None) => vec![Direction::Minimize],
        };
        let space_json = serde_json::to_value(&raw.space).map_err(|e| Error::InvalidSpec(format!("[space]: {e}")))?;
        let space = SpaceSpec::from_value(space_json).map_err(|e| Error::InvalidSpec(format!("[space] {e}")))?;
        if raw.budget.n_trials.is_none() && raw.budget.timeout.is_none() {
            return Err(Error::InvalidSpec("[budget] needs n_trials, timeout, or both".into()));
        }
        if raw.budget.patience == Some(0) {
            return Err(Error::InvalidSpec("[budget] patience must be at least 1".into()));
        }
        if raw.budget.patience.is_some() && directions.len() > 1 {
            return Err(Error::InvalidSpec("[budget] patience needs one objective; this study has several".into()));
        }
        if raw.budget.n_jobs == Some(0) {
            return Err(Error::InvalidSpec("[budget] n_jobs must be at least 1".into()));
        }
        if let Some(n) = raw.budget.n_jobs.filter(|n| *n > crate::study::MAX_JOBS) {
            return Err(Error::InvalidSpec(format!(
                "[budget] n_jobs = {n} is more than {}; n_jobs is how many trials run at once in this process",
                crate::study::MAX_JOBS
            )));
        }
        let heartbeat = heartbeat_of(&raw.study)?;
        let base = base_dir_of(path);
        let objective = match (raw.objective, raw.trainer) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidSpec(
                    "the file has both [objective] and [trainer]; a study runs either a command or the built-in trainer".into(),
                ))
            }
            (None, None) => {
                return Err(Error::InvalidSpec(
                    "missing [objective] (command = [...]) or [trainer] (the built-in trainer): what should a trial run?".into(),
                ))
            }
            (None, Some(t)) => ObjectiveKind::Trainer(
                serde_json::to_value(&t).map_err(|e| Error::InvalidSpec(format!("[trainer]: {e}")))?,
            ),
            (Some(o), None) => {
                let workdir = match &o.workdir {
                    Some(w) if w.is_absolute() => w.clone(),
                    Some(w) => base.join(w),
                    None => base.clone(),
                };
                let command = CommandObjective::new(&o.command)?
                    .workdir(workdir)
                    .env(o.env.clone())
                    .timeout(o.timeout.as_ref().map(|t| t.to_duration("[objective] timeout")).transpose()?);
                let names: Vec<&str> = space.params().keys().map(String::as_str).collect();
                command.check(&names)?;
                ObjectiveKind::Command(command)
            }
        };
        let enqueue = raw
            .enqueue
            .iter()
            .enumerate()
            .map(|(i, t)| enqueued_params(i, t, &space))
            .collect::<Result<Vec<_>>>()?;
        let sampler = raw.sampler;
        sampler.build(0, Some(&space.search_space())).map_err(|e| Error::InvalidSpec(format!("[sampler] {e}")))?; // validates sampler options against the space
        raw.pruner.build().map_err(|e| Error::InvalidSpec(format!("[pruner] {e}")))?;
        Ok(StudyFile {
            path: path.to_path_buf(),
            name: raw.study.name,
            storage_in_file: raw.study.storage.is_some(),
            allow_space_change: false,
            storage_url: raw.study.storage.unwrap_or_else(|| DEFAULT_STORAGE_URL.to_string()),
            directions,
            seed: raw.study.seed,
            sampler,
            pruner: raw.pruner,
            n_trials: raw.budget.n_trials,
            timeout: raw.budget.timeout.as_ref().map(|t| t.to_duration("[budget] timeout")).transpose()?,
            n_jobs: raw.budget.n_jobs.unwrap_or(1),
            patience: raw.budget.patience.map(|p| (p, raw.budget.min_improvement)),
            max_retries: raw.budget.max_retries,
            heartbeat,
            space,
            objective,
            enqueue,
        })
    }

    /// Opens (or creates) the study in its storage (or in `storage`, which
    /// overrides the file), and enqueues the `[[enqueue]]` trials not yet there.
    pub fn open_study(&self, storage: Option<Arc<dyn Storage>>) -> Result<Study> {
        let storage = match storage {
            Some(s) => s,
            None => storage::open(&self.storage_url)?,
        };
        let builder = Study::builder(&self.name).directions(self.directions.clone()).storage(storage);
        // Without `seed` in the file, the seed stored with the study: a
        // resumed run continues the same sequence.
        let seed = builder.seed(self.seed)?;
        let sampler = self.sampler.build(seed, Some(&self.space.search_space()))?;
        let study = builder
            .sampler_arc(sampler)
            .pruner_arc(self.pruner.build()?)
            .max_retries(self.max_retries)
            .heartbeat(self.heartbeat.0, self.heartbeat.1)
            .load_or_create()?;
        study.check_space(&self.space, self.allow_space_change)?;
        for params in &self.enqueue {
            study.enqueue_trial_once(params.clone())?;
        }
        Ok(study)
    }

    /// How many of this file's `n_trials` are left in `study`.
    pub fn remaining_trials(&self, study: &Study) -> Result<Option<usize>> {
        let Some(n) = self.n_trials else { return Ok(None) };
        let used = study.trials()?.iter().filter(|t| counts_toward_budget(t)).count();
        Ok(Some(n.saturating_sub(used)))
    }

    /// The options for [`Study::optimize`]: the study-wide total, timeout, jobs.
    pub fn optimize_options(&self) -> Optimize {
        let mut o = Optimize::default().n_jobs(self.n_jobs);
        if let Some(n) = self.n_trials {
            o = o.study_total(n);
        }
        if let Some(t) = self.timeout {
            o = o.timeout(t);
        }
        if let Some((p, d)) = self.patience {
            o = o.stop_after_no_improvement(p, d);
        }
        o
    }

    /// The command objective: suggest the space, run the command. `None`
    /// for a `[trainer]` study (the caller builds that objective).
    pub fn objective(&self) -> Option<impl Fn(&mut Trial) -> std::result::Result<Vec<f64>, ObjectiveError> + Sync + '_> {
        self.objective_with_output(None)
    }

    /// [`StudyFile::objective`], handing every line the program prints to
    /// `sink` as well (e.g. to echo it). Each trial's whole output is also
    /// kept in [`StudyFile::log_dir`].
    pub fn objective_with_output(
        &self,
        sink: Option<OutputSink>,
    ) -> Option<impl Fn(&mut Trial) -> std::result::Result<Vec<f64>, ObjectiveError> + Sync + '_> {
        let ObjectiveKind::Command(command) = &self.objective else { return None };
        let command = command.clone().log_dir(self.log_dir()).on_output(sink);
        Some(move |trial: &mut Trial| {
            let params = self.space.suggest_all(trial)?;
            command.run(trial, &params)
        })
    }

    /// Where each trial's program output is kept (`trial-<N>.log`): beside
    /// an SQLite database, in `<database>.logs/<study>/`.
    pub fn log_dir(&self) -> Option<PathBuf> {
        storage::log_dir(&self.storage_url, &self.name)
    }

    /// The directory of the study file (relative paths in it start here).
    pub fn base_dir(&self) -> PathBuf {
        base_dir_of(&self.path)
    }
}

/// `[study] heartbeat_interval` and `grace_period`, defaulted and checked:
/// with only a grace period, the interval is a third of it (at most 20 s).
fn heartbeat_of(study: &StudySection) -> Result<(Duration, Duration)> {
    use crate::study::{HEARTBEAT_INTERVAL, STALE_AFTER};
    let interval = study.heartbeat_interval.as_ref().map(|d| d.to_duration("[study] heartbeat_interval")).transpose()?;
    let grace = study.grace_period.as_ref().map(|d| d.to_duration("[study] grace_period")).transpose()?;
    let (interval, grace) = match (interval, grace) {
        (Some(i), Some(g)) => (i, g),
        (Some(i), None) => (i, STALE_AFTER.max(i * 3)),
        (None, Some(g)) => (HEARTBEAT_INTERVAL.min(g / 3), g),
        (None, None) => (HEARTBEAT_INTERVAL, STALE_AFTER),
    };
    if interval < Duration::from_millis(100) {
        return Err(Error::InvalidSpec("[study] heartbeat_interval must be at least 0.1 s".into()));
    }
    if grace < interval * 2 {
        return Err(Error::InvalidSpec(format!(
            "[study] grace_period ({}) must be at least twice heartbeat_interval ({}), or a worker that is merely busy \
             would be judged dead",
            humantime::format_duration(grace),
            humantime::format_duration(interval)
        )));
    }
    Ok((interval, grace))
}

/// A TOML error on one line: where, then what (the toml crate's own text
/// spans five lines with a drawing of the spot).
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what,
    }
}

/// One `[[enqueue]]` table, checked against the space: every key a
/// parameter, every value inside its distribution.
fn enqueued_params(i: usize, table: &toml::Table, space: &SpaceSpec) -> Result<IndexMap<String, ParamValue>> {
    let at = |msg: String| Error::InvalidSpec(format!("[[enqueue]] #{} (the {} in the file): {msg}", i + 1, ordinal(i + 1)));
    let mut out = IndexMap::new();
    for (k, v) in table {
        let Some(spec) = space.params().get(k) else {
            let known: Vec<&str> = space.params().keys().map(String::as_str).collect();
            return Err(at(format!("'{k}' is not a parameter of [space] (known: {})", known.join(", "))));
        };
        let json = serde_json::to_value(v).map_err(|e| at(format!("'{k}': {e}")))?;
        let value: ParamValue = match &json {
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                return Err(at(format!("'{k}' = {json} is not a string, number or boolean")))
            }
            j => serde_json::from_value(j.clone()).map_err(|e| at(format!("'{k}': {e}")))?,
        };
        spec.distribution.to_internal(k, &value).map_err(|e| at(e.to_string()))?;
        out.insert(k.clone(), value);
    }
    Ok(out)
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, x) if x != 11 => "st",
        (2, x) if x != 12 => "nd",
        (3, x) if x != 13 => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The directory holding the study file at `path` ("." for a bare name).
fn base_dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<StudyFile> {
        StudyFile::parse(s, Path::new("study.toml"))
    }

    const OK: &str = r#"
[study]
name = "s"
[budget]
n_trials = 3
[objective]
command = ["true", "{x}"]
[space.x]
type = "float"
low = 0
high = 1
"#;

    #[test]
    fn minimal_file_parses_with_defaults() {
        let f = parse(OK).unwrap();
        assert_eq!(f.storage_url, DEFAULT_STORAGE_URL);
        assert_eq!(f.directions, vec![Direction::Minimize]);
        assert_eq!(f.sampler, SamplerConfig::Auto(Default::default()));
        assert_eq!(f.n_jobs, 1);
    }

    #[test]
    fn errors_are_specific() {
        let e = parse(&OK.replace("n_trials = 3", "n_trails = 3")).unwrap_err().to_string();
        assert!(e.contains("unknown field `n_trails`"), "{e}");
        let e = parse(&OK.replace("[budget]\nn_trials = 3", "")).unwrap_err().to_string();
        assert!(e.contains("[budget] needs n_trials"), "{e}");
        let e = parse(&OK.replace("\"true\"", "\"definitely-not-a-program\"")).unwrap_err().to_string();
        assert!(e.contains("not found on PATH"), "{e}");
        let e = parse(&OK.replace("{x}", "{y}")).unwrap_err().to_string();
        assert!(e.contains("{y} names no parameter"), "{e}");
        let e = parse(&OK.replace("high = 1", "high = -1")).unwrap_err().to_string();
        assert!(e.contains("parameter 'x': low (0) is greater than high (-1)"), "{e}");
        let e = parse(&OK.replace("name = \"s\"", "name = \"s\"\ndirection = \"up\"")).unwrap_err().to_string();
        assert!(e.contains("direction 'up'"), "{e}");
        let e = parse("[study\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = parse(&format!("{OK}\n[sampler]\ntype = \"bayes\"\n")).unwrap_err().to_string();
        assert!(e.contains("unknown variant `bayes`"), "{e}");
        let e = parse(&format!("{OK}\n[sampler]\ntype = \"tpe\"\nn_startup = 3\n")).unwrap_err().to_string();
        assert!(e.contains("unknown field `n_startup`"), "{e}");
        let f = parse(&format!("{OK}\n[sampler]\ntype = \"tpe\"\nn_startup_trials = 3\nconstant_liar = true\n")).unwrap();
        assert!(matches!(f.sampler, SamplerConfig::Tpe(o) if o.n_startup_trials == 3 && o.constant_liar && o.multivariate));
    }

    /// Issue 10 §3.4 and §4: enqueued values checked at load; huge numbers
    /// and zero grid points refused instead of panicking or never ending.
    #[test]
    fn enqueue_timeouts_and_jobs_are_checked_at_load() {
        let e = parse(&format!("{OK}\n[[enqueue]]\nx = 0.5\ny = 1\n")).unwrap_err().to_string();
        assert!(e.contains("[[enqueue]] #1") && e.contains("'y' is not a parameter of [space] (known: x)"), "{e}");
        let e = parse(&format!("{OK}\n[[enqueue]]\nx = 0.5\n[[enqueue]]\nx = 7.0\n")).unwrap_err().to_string();
        assert!(e.contains("[[enqueue]] #2") && e.contains("outside"), "{e}");
        let e = parse(&format!("{OK}\n[[enqueue]]\nx = \"big\"\n")).unwrap_err().to_string();
        assert!(e.contains("expected a number"), "{e}");
        let e = parse(&format!("{OK}\n[[enqueue]]\nx = [1, 2]\n")).unwrap_err().to_string();
        assert!(e.contains("not a string, number or boolean"), "{e}");
        let f = parse(&format!("{OK}\n[[enqueue]]\nx = 0.5\n")).unwrap();
        assert_eq!(f.enqueue[0]["x"], ParamValue::Float(0.5));
        for t in ["1e300", "1e20", "\"100000000000000h\"", "0"] {
            let e = parse(&OK.replace("n_trials = 3", &format!("timeout = {t}"))).unwrap_err().to_string();
            assert!(e.contains("[budget] timeout"), "{t}: {e}");
            let e = parse(&OK.replace("command = [\"true\", \"{x}\"]", &format!("command = [\"true\", \"{{x}}\"]\ntimeout = {t}")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("[objective] timeout"), "{t}: {e}");
        }
        let e = parse(&OK.replace("n_trials = 3", "n_trials = 3\nn_jobs = 100000")).unwrap_err().to_string();
        assert!(e.contains("n_jobs = 100000 is more than 1024"), "{e}");
        let e = parse(&format!("{OK}\n[sampler]\ntype = \"grid\"\npoints_per_axis = 0\n")).unwrap_err().to_string();
        assert!(e.contains("points_per_axis must be at least 1"), "{e}");
    }

    /// Issue 12: a worker's heartbeat settings, defaulted and checked.
    #[test]
    fn heartbeat_and_grace_period_are_checked() {
        let with = |keys: &str| parse(&OK.replace("name = \"s\"", &format!("name = \"s\"\n{keys}")));
        let d = |s: u64| Duration::from_secs(s);
        assert_eq!(with("").unwrap().heartbeat, (d(20), d(300)));
        assert_eq!(with("grace_period = \"30s\"").unwrap().heartbeat, (d(10), d(30)));
        assert_eq!(with("heartbeat_interval = 5\ngrace_period = \"1m\"").unwrap().heartbeat, (d(5), d(60)));
        assert_eq!(with("heartbeat_interval = \"2m\"").unwrap().heartbeat, (d(120), d(360)));
        let e = with("heartbeat_interval = \"1m\"\ngrace_period = \"90s\"").unwrap_err().to_string();
        assert!(e.contains("grace_period (1m 30s) must be at least twice heartbeat_interval (1m)"), "{e}");
        let e = with("heartbeat_interval = 0.01").unwrap_err().to_string();
        assert!(e.contains("heartbeat_interval must be at least 0.1 s"), "{e}");
        let e = with("grace_period = \"soon\"").unwrap_err().to_string();
        assert!(e.contains("[study] grace_period = \"soon\""), "{e}");
    }

    /// Issue 10 §2.6: a parameter named like a reserved placeholder.
    #[test]
    fn reserved_parameter_names_are_refused_at_load() {
        let e = parse(&OK.replace("[space.x]", "[space.trial]").replace("{x}", "{trial}")).unwrap_err().to_string();
        assert!(e.contains("parameter 'trial' has a reserved name"), "{e}");
    }

    #[test]
    fn durations() {
        let f = parse(&OK.replace("n_trials = 3", "timeout = \"1m 30s\"")).unwrap();
        assert_eq!(f.timeout, Some(Duration::from_secs(90)));
        let e = parse(&OK.replace("n_trials = 3", "timeout = \"soon\"")).unwrap_err().to_string();
        assert!(e.contains("[budget] timeout = \"soon\""), "{e}");
    }
}
