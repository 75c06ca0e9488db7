//! `ferrotune._ferrotune`: the Rust core as a Python extension. The Python
//! package (`python/ferrotune`) gives it Optuna's API names; this module
//! holds studies, trials and storage, and releases the GIL in every call
//! that can take time (sampling, storage), so `optimize(n_jobs=k)` threads
//! run the sampler and storage in parallel with each other's objectives.
//!
//! Structured data crosses as JSON text (trials, attributes, parameter
//! values), numbers as numbers.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};

use ferrotune::samplers::{
    AutoOptions, AutoSampler, CmaEsOptions, CmaEsSampler, GpOptions, GpSampler, GridSampler, Nsga2Options, Nsga2Sampler, QmcSampler, RandomSampler,
    Sampler, TpeOptions, TpeSampler,
};
use ferrotune::storage::Storage;
use ferrotune::{Direction, Distribution, FrozenTrial, ParamValue, Study, TellOutcome, TrialState};

create_exception!(_ferrotune, FerrotuneError, PyException, "Base class of ferrotune's errors.");
create_exception!(_ferrotune, DuplicatedStudyError, FerrotuneError, "A study of that name already exists.");
create_exception!(_ferrotune, StorageInternalError, FerrotuneError, "The storage failed (database, connection).");

fn err(e: ferrotune::Error) -> PyErr {
    use ferrotune::Error as E;
    let msg = e.to_string();
    match e {
        E::StudyExists(_) => DuplicatedStudyError::new_err(msg),
        E::StudyNotFound(_) | E::TrialNotFound { .. } => PyKeyError::new_err(msg),
        E::InvalidParameter { .. } | E::InvalidSpec(_) | E::InvalidValue(_) | E::StudyMismatch { .. } | E::StorageUrl { .. } => {
            PyValueError::new_err(msg)
        }
        E::TrialFinished { .. } | E::SamplerExhausted(_) | E::Sampler(_) => PyRuntimeError::new_err(msg),
        _ => StorageInternalError::new_err(msg),
    }
}

fn json_err(e: serde_json::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(json_err)
}

/// A storage, shared by the studies opened on it.
#[pyclass(module = "ferrotune._ferrotune", frozen)]
struct NativeStorage {
    storage: Arc<dyn Storage>,
    url: String,
}

#[pymethods]
impl NativeStorage {
    /// Opens `url` (`sqlite:///path.db`, `postgresql://...`, `memory:`).
    #[new]
    fn new(py: Python<'_>, url: String) -> PyResult<Self> {
        let storage = py.detach(|| ferrotune::storage::open(&url)).map_err(err)?;
        Ok(NativeStorage { storage, url })
    }

    #[getter]
    fn url(&self) -> String {
        ferrotune::storage::redact_url(&self.url)
    }

    /// Every study with its counts, as JSON.
    fn summaries(&self, py: Python<'_>) -> PyResult<String> {
        let list = py.detach(|| self.storage.list_studies()).map_err(err)?;
        let v: Vec<serde_json::Value> = list
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.record.name,
                    "directions": s.record.directions,
                    "n_trials": s.n_trials,
                    "user_attrs": s.record.user_attrs,
                    "created_at": s.record.created_at,
                    "id": s.record.id,
                })
            })
            .collect();
        to_json(&v)
    }

    fn delete_study(&self, py: Python<'_>, name: String) -> PyResult<()> {
        py.detach(|| self.storage.delete_study(&name)).map_err(err)
    }
}

/// Builds a sampler from its kind, options as JSON (ferrotune's option
/// names) and seed.
fn sampler(kind: &str, options: &str, seed: Option<u64>) -> PyResult<Arc<dyn Sampler>> {
    let opts = |s: &str| if s.trim().is_empty() { "{}".to_string() } else { s.to_string() };
    let o = opts(options);
    Ok(match kind {
        "auto" => Arc::new(AutoSampler::new(seed, serde_json::from_str::<AutoOptions>(&o).map_err(json_err)?)),
        "random" => Arc::new(RandomSampler::new(seed)),
        "qmc" => Arc::new(QmcSampler::new(seed)),
        "tpe" => Arc::new(TpeSampler::new(seed, serde_json::from_str::<TpeOptions>(&o).map_err(json_err)?)),
        "gp" => Arc::new(GpSampler::new(seed, serde_json::from_str::<GpOptions>(&o).map_err(json_err)?)),
        "cmaes" => Arc::new(CmaEsSampler::new(seed, serde_json::from_str::<CmaEsOptions>(&o).map_err(json_err)?)),
        "nsga2" => Arc::new(Nsga2Sampler::new(seed, serde_json::from_str::<Nsga2Options>(&o).map_err(json_err)?)),
        "grid" => {
            let axes: indexmap::IndexMap<String, Vec<ParamValue>> = serde_json::from_str(&o).map_err(json_err)?;
            let g = GridSampler::new(axes).map_err(err)?;
            Arc::new(match seed {
                Some(s) => g.shuffled(s),
                None => g,
            })
        }
        other => return Err(PyValueError::new_err(format!("unknown sampler kind '{other}'"))),
    })
}

/// Builds a pruner from ferrotune's pruner JSON (`{"type": "median", ...}`);
/// `{"type": "patient", ..., "wrapped": {...}}` wraps another.
fn pruner(json: &str) -> PyResult<Arc<dyn ferrotune::pruners::Pruner>> {
    let mut v: serde_json::Value = serde_json::from_str(json).map_err(json_err)?;
    if v["type"] == "patient" {
        let wrapped = v.as_object_mut().and_then(|o| o.remove("wrapped")).filter(|w| !w.is_null());
        let patience = v["patience"].as_u64().ok_or_else(|| PyValueError::new_err("PatientPruner needs patience"))? as usize;
        let p = ferrotune::pruners::PatientPruner::new(patience, v["min_delta"].as_f64().unwrap_or(0.0)).map_err(err)?;
        return Ok(match wrapped {
            Some(w) => Arc::new(p.wrapping(pruner(&w.to_string())?)),
            None => Arc::new(p),
        });
    }
    let cfg: ferrotune::pruners::PrunerConfig = serde_json::from_value(v).map_err(json_err)?;
    cfg.build().map_err(err)
}

/// A study.
#[pyclass(module = "ferrotune._ferrotune", frozen)]
struct NativeStudy {
    study: Study,
    /// Ids of this process's running trials, kept alive by a heartbeat
    /// thread (started with the first ask, ended when the study is dropped).
    running: Arc<Mutex<HashSet<i64>>>,
    heartbeat: std::sync::Once,
}

/// Writes the heartbeat of `running`'s trials every `study`'s interval,
/// until the study that owns `running` is gone.
fn keep_alive(study: Study, running: Weak<Mutex<HashSet<i64>>>) {
    let spawned = std::thread::Builder::new().name("ferrotune-heartbeat".into()).spawn(move || loop {
        std::thread::sleep(study.heartbeat_interval());
        let Some(running) = running.upgrade() else { return };
        let ids: Vec<i64> = running.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
        if !ids.is_empty() {
            let _ = study.storage().heartbeat(&ids);
        }
    });
    // Without the thread the trials still run; other machines may then
    // judge them dead after the grace period, which is what a crash looks like.
    drop(spawned);
}

/// What finishing a trial looks like in JSON.
fn frozen_json(t: &FrozenTrial) -> serde_json::Value {
    serde_json::json!({
        "number": t.number,
        "id": t.id,
        "state": t.state.as_str(),
        "values": t.values.as_ref().map(|v| v.iter().map(|x| if x.is_finite() { serde_json::json!(x) } else { serde_json::Value::Null }).collect::<Vec<_>>()),
        "params": t.param_values().into_iter().map(|(k, v)| (k, v.to_json())).collect::<serde_json::Map<_, _>>(),
        "distributions": t.params.iter().map(|(k, p)| (k.clone(), serde_json::to_value(&p.distribution).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
        "intermediate_values": t.intermediate_values.iter().map(|(s, v)| (s.to_string(), if v.is_finite() { serde_json::json!(v) } else { serde_json::Value::Null })).collect::<serde_json::Map<_, _>>(),
        "user_attrs": t.user_attrs,
        "system_attrs": t.system_attrs,
        "message": t.message,
        "started_at": t.started_at,
        "completed_at": t.completed_at,
    })
}

/// What a trial is told: `complete` with its values, `pruned`, or `fail`
/// with a message.
fn outcome(state: &str, values: Option<Vec<f64>>, message: Option<String>) -> PyResult<TellOutcome> {
    Ok(match state_of(state)? {
        TrialState::Complete => TellOutcome::Values(values.ok_or_else(|| PyValueError::new_err("a complete trial needs its values"))?),
        TrialState::Pruned => TellOutcome::Pruned,
        TrialState::Failed => TellOutcome::Failed(message),
        s => return Err(PyValueError::new_err(format!("a trial can be told complete, pruned or fail, not {s}"))),
    })
}

fn state_of(s: &str) -> PyResult<TrialState> {
    TrialState::parse(s).ok_or_else(|| PyValueError::new_err(format!("unknown trial state '{s}'")))
}

#[pymethods]
impl NativeStudy {
    /// Creates or loads study `name` on `storage`.
    #[staticmethod]
    #[pyo3(signature = (storage, name, directions, sampler_kind, sampler_options, seed, pruner_json, create, load))]
    #[allow(clippy::too_many_arguments)]
    fn open(
        py: Python<'_>,
        storage: &NativeStorage,
        name: String,
        directions: Option<Vec<String>>,
        sampler_kind: String,
        sampler_options: String,
        seed: Option<u64>,
        pruner_json: Option<String>,
        create: bool,
        load: bool,
    ) -> PyResult<Self> {
        let s = sampler(&sampler_kind, &sampler_options, seed)?;
        let p = pruner(pruner_json.as_deref().unwrap_or(r#"{"type": "none"}"#))?;
        let dirs: Option<Vec<Direction>> =
            directions.map(|d| d.iter().map(|x| Direction::parse(x)).collect::<ferrotune::Result<_>>()).transpose().map_err(err)?;
        let st = storage.storage.clone();
        let study = py
            .detach(move || {
                let mut b = Study::builder(name).storage(st).sampler_arc(s).pruner_arc(p);
                if let Some(d) = dirs {
                    b = b.directions(d);
                }
                match (create, load) {
                    (true, true) => b.load_or_create(),
                    (true, false) => b.create(),
                    _ => b.load(),
                }
            })
            .map_err(err)?;
        Ok(NativeStudy { study, running: Arc::default(), heartbeat: std::sync::Once::new() })
    }

    #[getter]
    fn name(&self) -> String {
        self.study.name().to_string()
    }

    #[getter]
    fn directions(&self) -> Vec<String> {
        self.study.directions().iter().map(|d| d.to_string()).collect()
    }

    #[getter]
    fn id(&self) -> i64 {
        self.study.id()
    }

    /// Starts a trial (an enqueued one first), owned by this process and
    /// kept alive by its heartbeat until it is told.
    fn ask(&self, py: Python<'_>) -> PyResult<NativeTrial> {
        self.heartbeat.call_once(|| keep_alive(self.study.clone(), Arc::downgrade(&self.running)));
        let t = py.detach(|| self.study.ask_owned()).map_err(err)?;
        self.running.lock().unwrap_or_else(|e| e.into_inner()).insert(t.id());
        Ok(NativeTrial {
            number: t.number(),
            id: t.id(),
            trial: Mutex::new(Some(t)),
            study: self.study.clone(),
            running: Arc::downgrade(&self.running),
        })
    }

    /// Finishes trial `number`: `state` is complete (with `values`),
    /// pruned or fail (with `message`). Returns the stored trial as JSON.
    #[pyo3(signature = (number, state, values=None, message=None))]
    fn tell(&self, py: Python<'_>, number: u64, state: &str, values: Option<Vec<f64>>, message: Option<String>) -> PyResult<NativeFrozen> {
        let outcome = outcome(state, values, message)?;
        let t = py.detach(|| self.study.tell(number, outcome)).map_err(err)?;
        self.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&t.id);
        Ok(NativeFrozen { trial: t })
    }

    /// Marks trial `number` failed because the objective was interrupted
    /// (it is then not counted by budgets, as the CLI does it).
    fn interrupted(&self, py: Python<'_>, number: u64, message: String) -> PyResult<String> {
        let t = py
            .detach(|| -> ferrotune::Result<FrozenTrial> {
                let t = self.study.trial(number)?;
                let kind = ferrotune::attrs::FailureKind::Interrupted.as_str().into();
                let _ = self.study.storage().set_trial_attr(t.id, ferrotune::storage::AttrKind::System, ferrotune::attrs::FAILURE, &kind);
                self.study.tell(number, TellOutcome::Failed(Some(message)))
            })
            .map_err(err)?;
        self.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&t.id);
        to_json(&frozen_json(&t))
    }

    /// Every trial (or those in `states`), as a JSON list.
    #[pyo3(signature = (states=None))]
    fn trials(&self, py: Python<'_>, states: Option<Vec<String>>) -> PyResult<String> {
        let states: Option<Vec<TrialState>> = states.map(|s| s.iter().map(|x| state_of(x)).collect::<PyResult<_>>()).transpose()?;
        let all = py.detach(|| self.study.trials()).map_err(err)?;
        let v: Vec<serde_json::Value> =
            all.iter().filter(|t| states.as_ref().is_none_or(|s| s.contains(&t.state))).map(|t| frozen_json(t)).collect();
        to_json(&v)
    }

    /// One trial, read fresh, as JSON.
    fn trial(&self, py: Python<'_>, number: u64) -> PyResult<String> {
        let t = py.detach(|| self.study.trial(number)).map_err(err)?;
        to_json(&frozen_json(&t))
    }

    /// The best trial (single objective) as JSON, or None.
    fn best_trial(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let t = py.detach(|| self.study.best_trial()).map_err(err)?;
        t.map(|t| to_json(&frozen_json(&t))).transpose()
    }

    /// The Pareto front as a JSON list.
    fn best_trials(&self, py: Python<'_>) -> PyResult<String> {
        let ts = py.detach(|| self.study.best_trials()).map_err(err)?;
        to_json(&ts.iter().map(|t| frozen_json(t)).collect::<Vec<_>>())
    }

    /// Enqueues fixed parameters (a JSON object); with `skip_if_exists`,
    /// not when a trial already has exactly these parameters. Returns the
    /// new trial's number, or None.
    #[pyo3(signature = (params, user_attrs=None, skip_if_exists=false))]
    fn enqueue(&self, py: Python<'_>, params: String, user_attrs: Option<String>, skip_if_exists: bool) -> PyResult<Option<u64>> {
        let fixed: indexmap::IndexMap<String, ParamValue> = serde_json::from_str(&params).map_err(json_err)?;
        let attrs: Vec<(String, serde_json::Value)> = match user_attrs {
            Some(a) => serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&a).map_err(json_err)?.into_iter().collect(),
            None => vec![],
        };
        py.detach(|| -> ferrotune::Result<Option<u64>> {
            if skip_if_exists {
                // Optuna's meaning: any trial with these parameters, sampled or enqueued.
                let same = self.study.trials()?.iter().any(|t| {
                    let p = t.param_values();
                    (!p.is_empty() && p == fixed)
                        || ferrotune::attrs::fixed_params(t)
                            .and_then(|v| serde_json::from_value::<indexmap::IndexMap<String, ParamValue>>(v.clone()).ok())
                            .is_some_and(|f| f == fixed)
                });
                if same {
                    return Ok(None);
                }
            }
            let t = self.study.storage().create_trial(
                self.study.id(),
                ferrotune::storage::NewTrial {
                    state: Some(TrialState::Waiting),
                    fixed_params: Some(fixed.clone()),
                    user_attrs: attrs.clone(),
                    ..Default::default()
                },
            )?;
            Ok(Some(t.number))
        })
        .map_err(err)
    }

    fn set_user_attr(&self, py: Python<'_>, key: String, value: String) -> PyResult<()> {
        let v: serde_json::Value = serde_json::from_str(&value).map_err(json_err)?;
        py.detach(|| self.study.set_user_attr(&key, v)).map_err(err)
    }

    fn user_attrs(&self, py: Python<'_>) -> PyResult<String> {
        let a = py.detach(|| self.study.user_attrs()).map_err(err)?;
        to_json(&a)
    }

    fn system_attrs(&self, py: Python<'_>) -> PyResult<String> {
        let a = py.detach(|| self.study.system_attrs()).map_err(err)?;
        to_json(&a)
    }
}

/// A finished trial as stored, converted to JSON only when Python reads
/// it (most objectives' loops never do), which keeps `tell` cheap.
#[pyclass(module = "ferrotune._ferrotune", frozen)]
struct NativeFrozen {
    trial: FrozenTrial,
}

#[pymethods]
impl NativeFrozen {
    #[getter]
    fn number(&self) -> u64 {
        self.trial.number
    }

    /// The trial as JSON (see `frozen_json`).
    fn json(&self) -> PyResult<String> {
        to_json(&frozen_json(&self.trial))
    }
}

/// A live trial.
#[pyclass(module = "ferrotune._ferrotune", frozen)]
struct NativeTrial {
    number: u64,
    id: i64,
    study: Study,
    trial: Mutex<Option<ferrotune::Trial>>,
    /// Its study's heartbeat set, left when the trial is finished.
    running: Weak<Mutex<HashSet<i64>>>,
}

impl NativeTrial {
    fn with<T>(&self, py: Python<'_>, f: impl FnOnce(&mut ferrotune::Trial) -> ferrotune::Result<T> + Send) -> PyResult<T>
    where
        T: Send,
    {
        py.detach(|| {
            let mut g = self.trial.lock().unwrap_or_else(|e| e.into_inner());
            match g.as_mut() {
                Some(t) => f(t),
                None => Err(ferrotune::Error::TrialFinished { number: self.number, state: "finished".into() }),
            }
        })
        .map_err(err)
    }
}

#[pymethods]
impl NativeTrial {
    #[getter]
    fn number(&self) -> u64 {
        self.number
    }

    #[getter]
    fn id(&self) -> i64 {
        self.id
    }

    /// Suggests a float; `step` and `log` as in Optuna.
    #[pyo3(signature = (name, low, high, step=None, log=false))]
    fn suggest_float(&self, py: Python<'_>, name: &str, low: f64, high: f64, step: Option<f64>, log: bool) -> PyResult<f64> {
        let d = Distribution::Float { low, high, log, step };
        let v = self.with(py, |t| t.suggest(name, &d))?;
        v.as_f64().ok_or_else(|| PyRuntimeError::new_err("a float parameter returned a non-number"))
    }

    /// Suggests an integer; `step` and `log` as in Optuna.
    #[pyo3(signature = (name, low, high, step=1, log=false))]
    fn suggest_int(&self, py: Python<'_>, name: &str, low: i64, high: i64, step: i64, log: bool) -> PyResult<i64> {
        let d = Distribution::Int { low, high, log, step };
        let v = self.with(py, |t| t.suggest(name, &d))?;
        match v {
            ParamValue::Int(i) => Ok(i),
            ParamValue::Float(x) => Ok(x as i64),
            _ => Err(PyRuntimeError::new_err("an int parameter returned a non-number")),
        }
    }

    /// Suggests a value of any distribution (JSON); returns the value as JSON.
    fn suggest(&self, py: Python<'_>, name: &str, distribution: String) -> PyResult<String> {
        let d: Distribution = serde_json::from_str(&distribution).map_err(json_err)?;
        let v = self.with(py, |t| t.suggest(name, &d))?;
        to_json(&v)
    }

    fn report(&self, py: Python<'_>, value: f64, step: u64) -> PyResult<()> {
        self.with(py, |t| t.report(step, value))
    }

    fn should_prune(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |t| t.should_prune())
    }

    fn set_user_attr(&self, py: Python<'_>, key: String, value: String) -> PyResult<()> {
        let v: serde_json::Value = serde_json::from_str(&value).map_err(json_err)?;
        self.with(py, |t| t.set_user_attr(&key, v))
    }

    fn set_constraints(&self, py: Python<'_>, values: Vec<f64>) -> PyResult<()> {
        self.with(py, |t| t.set_constraints(&values))
    }

    /// The trial as stored so far (parameters, reports, attributes), as JSON.
    fn snapshot(&self, py: Python<'_>) -> PyResult<String> {
        let v = self.with(py, |t| Ok(frozen_json(t.snapshot())))?;
        to_json(&v)
    }

    /// Finishes this trial (see `NativeStudy.tell`) without reading it back.
    #[pyo3(signature = (state, values=None, message=None))]
    fn finish(&self, py: Python<'_>, state: &str, values: Option<Vec<f64>>, message: Option<String>) -> PyResult<NativeFrozen> {
        let outcome = outcome(state, values, message)?;
        let study = self.study.clone();
        let done = py
            .detach(|| {
                let mut g = self.trial.lock().unwrap_or_else(|e| e.into_inner());
                match g.as_ref() {
                    Some(t) => {
                        let r = study.tell_trial(t, outcome);
                        if r.is_ok() {
                            *g = None;
                            if let Some(running) = self.running.upgrade() {
                                running.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
                            }
                        }
                        r
                    }
                    None => Err(ferrotune::Error::TrialFinished { number: self.number, state: "finished".into() }),
                }
            })
            .map_err(err)?;
        Ok(NativeFrozen { trial: done })
    }
}

/// The extension module.
#[pymodule]
fn _ferrotune(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeStorage>()?;
    m.add_class::<NativeStudy>()?;
    m.add_class::<NativeTrial>()?;
    m.add_class::<NativeFrozen>()?;
    m.add("FerrotuneError", m.py().get_type::<FerrotuneError>())?;
    m.add("DuplicatedStudyError", m.py().get_type::<DuplicatedStudyError>())?;
    m.add("StorageInternalError", m.py().get_type::<StorageInternalError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
