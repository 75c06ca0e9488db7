//! What the dashboard shows, computed from storage: synchronous, and
//! called from the web handlers on blocking threads. Studies are opened
//! once and kept, so each request reads only what changed since the last
//! (the study's incremental trial cache); figures are cached by the study's
//! version and rebuilt only when a trial changed.

use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferrotune::storage::{self, Storage};
use ferrotune::{FrozenTrial, ParamValue, Study, TrialState};
use ferrotune_plot::{Kind, StudyData};

use crate::{Error, Result};

/// The most rows one page of the trial table holds.
pub const MAX_PAGE: usize = 500;

/// Shared by every request.
pub struct AppState {
    /// The storage URL (for trial logs beside SQLite files).
    pub url: String,
    /// Opened read-only unless writes are allowed.
    pub storage: Arc<dyn Storage>,
    /// Whether notes, failing and telling trials are allowed.
    pub allow_write: bool,
    studies: Mutex<HashMap<String, Study>>,
    figures: Mutex<HashMap<String, (u64, Arc<String>)>>,
    /// Set when the server stops: live-update streams end, so a graceful
    /// shutdown does not wait for open pages.
    pub closing: std::sync::atomic::AtomicBool,
}

/// A study's version: its sequence number and what its running trials have
/// reported (which some backends do not count in the sequence number).
pub fn version(study: &Study) -> Result<u64> {
    let (_, seq) = study.trials_and_sequence()?;
    let mut h: u64 = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for t in study.storage().running_trials(study.id())? {
        h = h.rotate_left(7) ^ (t.id as u64).wrapping_mul(31) ^ (t.intermediate_values.len() as u64) << 32;
    }
    Ok(h)
}

impl AppState {
    /// Opens the storage at `url`: read-only, unless `allow_write`.
    pub fn open(url: &str, allow_write: bool) -> Result<AppState> {
        let storage = if allow_write { storage::open(url)? } else { storage::open_read_only(url)? };
        Ok(AppState {
            url: url.to_string(),
            storage,
            allow_write,
            studies: Mutex::new(HashMap::new()),
            figures: Mutex::new(HashMap::new()),
            closing: Default::default(),
        })
    }

    /// The study called `name`, opened once and kept.
    pub fn study(&self, name: &str) -> Result<Study> {
        if let Some(s) = self.studies.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
            return Ok(s.clone());
        }
        let s = Study::builder(name).storage(self.storage.clone()).read_only().load().map_err(|e| match e {
            ferrotune::Error::StudyNotFound(n) => Error::NotFound(format!("no study named '{n}'")),
            e => e.into(),
        })?;
        self.studies.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), s.clone());
        Ok(s)
    }

    /// Every study with its counts, best value and last activity.
    pub fn studies(&self) -> Result<Value> {
        let list = self.storage.list_studies()?;
        let mut out = vec![];
        for s in list {
            let name = s.record.name.clone();
            let best = match self.study(&name) {
                Ok(study) if !study.is_multi_objective() => study.best_value().ok().flatten(),
                _ => None,
            };
            out.push(json!({
                "name": name,
                "directions": s.record.directions,
                "n_trials": s.n_trials,
                "counts": s.counts.iter().map(|(st, n)| (st.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "best_value": best,
                "created_at": s.record.created_at,
                "last_activity": s.last_activity,
            }));
        }
        Ok(json!({ "studies": out, "allow_write": self.allow_write }))
    }

    /// A study's summary: directions, counts, best trial(s), parameters.
    pub fn summary(&self, name: &str) -> Result<Value> {
        let study = self.study(name)?;
        let (trials, seq) = study.trials_and_sequence()?;
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        let mut params: Vec<String> = vec![];
        for t in trials.iter() {
            *counts.entry(t.state.to_string()).or_default() += 1;
            for k in t.params.keys() {
                if !params.contains(k) {
                    params.push(k.clone());
                }
            }
        }
        let best: Vec<Value> = if study.is_multi_objective() {
            study.best_trials()?.iter().map(|t| row(t)).collect()
        } else {
            study.best_trial()?.map(|t| row(&t)).into_iter().collect()
        };
        let attrs = study.system_attrs()?;
        Ok(json!({
            "name": study.name(),
            "directions": study.directions(),
            "n_trials": trials.len(),
            "counts": counts,
            "best": best,
            "params": params,
            "user_attrs": study.user_attrs()?,
            "note": attrs.get(NOTE).cloned(),
            "sampler": attrs.get(ferrotune::attrs::STUDY_SAMPLER).cloned(),
            "version": version(&study)?,
            "sequence": seq,
            "allow_write": self.allow_write,
        }))
    }

    /// One page of the trial table: filtered by state and text, sorted,
    /// from `offset`. Sorting and filtering run here, so a 10,000-trial
    /// study sends the browser 50 rows, not 10,000.
    pub fn trials(&self, name: &str, q: &TableQuery) -> Result<Value> {
        let study = self.study(name)?;
        let trials = study.trials()?;
        let states: Vec<&str> = q.state.as_deref().map(|s| s.split(',').filter(|x| !x.is_empty()).collect()).unwrap_or_default();
        let needle = q.filter.as_deref().unwrap_or("").to_lowercase();
        let mut rows: Vec<&Arc<FrozenTrial>> = trials
            .iter()
            .filter(|t| states.is_empty() || states.contains(&t.state.as_str()))
            .filter(|t| {
                needle.is_empty()
                    || t.number.to_string() == needle
                    || t.params.iter().any(|(k, p)| format!("{k}={}", p.value()).to_lowercase().contains(&needle))
                    || t.message.as_deref().is_some_and(|m| m.to_lowercase().contains(&needle))
            })
            .collect();
        let key = q.sort.as_deref().unwrap_or("number");
        let objective = key.strip_prefix("value").and_then(|i| if i.is_empty() { Some(0) } else { i.parse().ok() });
        let sort_key = |t: &FrozenTrial| -> SortKey {
            match (key, objective) {
                (_, Some(i)) => SortKey::Num(t.values.as_ref().and_then(|v| v.get(i)).copied()),
                ("state", _) => SortKey::Text(Some(t.state.to_string())),
                ("duration", _) => SortKey::Num(t.duration()),
                ("started", _) => SortKey::Num(t.started_at),
                (k, _) if k.starts_with("param:") => match t.param(&k[6..]) {
                    Some(ParamValue::Float(x)) => SortKey::Num(Some(x)),
                    Some(ParamValue::Int(x)) => SortKey::Num(Some(x as f64)),
                    Some(v) => SortKey::Text(Some(v.to_string())),
                    None => SortKey::Num(None),
                },
                _ => SortKey::Num(Some(t.number as f64)),
            }
        };
        let desc = q.order.as_deref() == Some("desc");
        rows.sort_by(|a, b| {
            let (x, y) = (sort_key(a), sort_key(b));
            // Missing values last, whichever the order.
            match (x.is_missing(), y.is_missing()) {
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ => {
                    let o = x.cmp(&y);
                    if desc {
                        o.reverse()
                    } else {
                        o
                    }
                }
            }
            .then(a.number.cmp(&b.number))
        });
        let total = rows.len();
        let offset = q.offset.unwrap_or(0).min(total);
        let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
        let page: Vec<Value> = rows[offset..(offset + limit).min(total)].iter().map(|t| row(t)).collect();
        Ok(json!({ "total": total, "offset": offset, "rows": page }))
    }

    /// One trial, whole: parameters with their distributions, values,
    /// intermediate values, attributes, times, worker, failure reason, note
    /// and the tail of its program's log.
    pub fn trial(&self, name: &str, number: u64) -> Result<Value> {
        let study = self.study(name)?;
        let t = match study.trial(number) {
            Ok(t) => t,
            Err(ferrotune::Error::TrialNotFound { .. }) => {
                return Err(Error::NotFound(format!("study '{name}' has no trial number {number}")))
            }
            Err(e) => return Err(e.into()),
        };
        let log = storage::log_dir(&self.url, name).and_then(|d| tail(&d.join(format!("trial-{number}.log")), 8192));
        let note = study.system_attrs()?.get(&format!("{NOTE}:{number}")).cloned();
        Ok(trial_json(&t, note, log, self.allow_write))
    }

    /// A figure as JSON, rebuilt only when the study changed.
    pub fn figure(&self, name: &str, kind: &str, params: Option<Vec<String>>, objective: usize) -> Result<Arc<String>> {
        let kind = Kind::parse(kind).map_err(|e| Error::BadRequest(e.to_string()))?;
        let study = self.study(name)?;
        let v = version(&study)?;
        let key = format!("{name}\u{0}{}\u{0}{params:?}\u{0}{objective}", kind.name());
        if let Some((cached, json)) = self.figures.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            if *cached == v {
                return Ok(json.clone());
            }
        }
        let opts = ferrotune_plot::Options { params, objective, ..Default::default() };
        let plot_error = |e| match e {
            ferrotune_plot::Error::Invalid(m) => Error::BadRequest(m),
            e => Error::Plot(e),
        };
        let data = StudyData::load(&study).map_err(plot_error)?;
        let fig = ferrotune_plot::build(kind, &data, &opts).map_err(plot_error)?;
        let json = Arc::new(serde_json::to_string(&fig).map_err(|e| Error::Internal(e.to_string()))?);
        self.figures.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (v, json.clone()));
        Ok(json)
    }

    /// Importances (fANOVA or PED-ANOVA).
    pub fn importance(&self, name: &str, method: &str) -> Result<Value> {
        let study = self.study(name)?;
        let method = ferrotune::importance::Method::parse(method).map_err(|e| Error::BadRequest(e.to_string()))?;
        let imp = ferrotune::importance::evaluate(&study, &ferrotune::importance::Options { method, ..Default::default() })
            .map_err(|e| match e {
                ferrotune::Error::InvalidSpec(m) => Error::BadRequest(m),
                e => e.into(),
            })?;
        serde_json::to_value(imp).map_err(|e| Error::Internal(e.to_string()))
    }

    fn writable(&self) -> Result<()> {
        if !self.allow_write {
            return Err(Error::Forbidden(
                "the dashboard is read-only; start it with --allow-write to change studies".into(),
            ));
        }
        Ok(())
    }

    /// Sets the note of a study (`trial` = None) or of one of its trials.
    pub fn set_note(&self, name: &str, trial: Option<u64>, note: &str) -> Result<()> {
        self.writable()?;
        let study = self.study(name)?;
        let key = match trial {
            Some(n) => {
                study.trial(n)?;
                format!("{NOTE}:{n}")
            }
            None => NOTE.to_string(),
        };
        study.set_system_attr(&key, &json!(note))?;
        Ok(())
    }

    /// Marks a running (or waiting) trial failed.
    pub fn fail(&self, name: &str, number: u64) -> Result<()> {
        self.writable()?;
        let study = self.study(name)?;
        let t = study.trial(number)?;
        if t.state == TrialState::Waiting {
            return Err(Error::BadRequest(format!("trial {number} is waiting (enqueued); there is nothing to fail yet")));
        }
        self.storage.finish_trial(t.id, TrialState::Failed, None, Some("marked failed in the dashboard"))?;
        Ok(())
    }

    /// Tells a running trial, or a waiting one (claimed first), its values.
    pub fn tell(&self, name: &str, number: u64, values: &[f64]) -> Result<()> {
        self.writable()?;
        let study = self.study(name)?;
        let t = study.trial(number)?;
        if t.state == TrialState::Waiting {
            // Waiting trials are claimed lowest number first.
            let next = study.trials()?.iter().find(|t| t.state == TrialState::Waiting).map(|t| t.number);
            if next != Some(number) {
                return Err(Error::BadRequest(format!(
                    "trial {number} is not the next waiting trial{}; tell that one first",
                    next.map(|n| format!(" (trial {n} is)")).unwrap_or_default()
                )));
            }
            // A worker may claim it at the same instant: then the trial
            // claimed here is failed and enqueued again, as a preempted one is.
            let claimed = self.storage.claim_waiting_trial(study.id(), None)?;
            match claimed {
                Some(c) if c.number == number => {}
                Some(c) => {
                    let _ = self.storage.finish_trial(c.id, TrialState::Failed, None, Some("claimed by mistake; enqueued again"));
                    study.retry_trial(&c, usize::MAX)?;
                    return Err(Error::BadRequest(format!(
                        "trial {number} is not the next waiting trial (trial {} is); tell that one first",
                        c.number
                    )));
                }
                None => return Err(Error::BadRequest(format!("trial {number} is no longer waiting"))),
            }
        }
        study.tell(number, ferrotune::TellOutcome::Values(values.to_vec())).map_err(|e| match e {
            ferrotune::Error::InvalidValue(m) => Error::BadRequest(m),
            ferrotune::Error::TrialFinished { .. } => Error::BadRequest(e.to_string()),
            e => e.into(),
        })?;
        Ok(())
    }
}

/// Notes live in study system attributes (study: this key; trial N: `key:N`).
pub const NOTE: &str = "dashboard:note";

/// The query of a trial-table page.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct TableQuery {
    /// `number`, `value` (`value1`, ...), `state`, `duration`, `started`, `param:NAME`.
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// Comma-separated states to keep.
    pub state: Option<String>,
    /// Text to find in parameters (`lr=0.01`), messages, or a trial number.
    pub filter: Option<String>,
    /// The first row.
    pub offset: Option<usize>,
    /// Rows per page (at most [`MAX_PAGE`]).
    pub limit: Option<usize>,
}

#[derive(PartialEq, PartialOrd)]
enum SortKey {
    Num(Option<f64>),
    Text(Option<String>),
}

impl SortKey {
    fn is_missing(&self) -> bool {
        matches!(self, SortKey::Num(None) | SortKey::Text(None)) || matches!(self, SortKey::Num(Some(x)) if x.is_nan())
    }
    fn cmp(&self, o: &SortKey) -> std::cmp::Ordering {
        match (self, o) {
            (SortKey::Num(Some(a)), SortKey::Num(Some(b))) => a.total_cmp(b),
            (SortKey::Text(Some(a)), SortKey::Text(Some(b))) => a.cmp(b),
            (SortKey::Num(_), SortKey::Text(_)) => std::cmp::Ordering::Less,
            (SortKey::Text(_), SortKey::Num(_)) => std::cmp::Ordering::Greater,
            _ => std::cmp::Ordering::Equal,
        }
    }
}

/// A trial in full, as the trial page shows it.
pub fn trial_json(t: &FrozenTrial, note: Option<Value>, log: Option<String>, allow_write: bool) -> Value {
    let mut v = row(t);
    let o = v.as_object_mut().expect("a row is an object");
    o.insert(
        "distributions".into(),
        t.params.iter().map(|(k, p)| (k.clone(), serde_json::to_value(&p.distribution).unwrap_or(Value::Null))).collect(),
    );
    o.insert(
        "intermediate".into(),
        t.intermediate_values.iter().map(|(s, v)| json!([s, if v.is_finite() { json!(v) } else { Value::Null }])).collect(),
    );
    o.insert("user_attrs".into(), json!(t.user_attrs));
    o.insert("retried_from".into(), json!(ferrotune::attrs::retried_from(t)));
    o.insert("completed_at".into(), json!(t.completed_at));
    o.insert("heartbeat".into(), json!(t.heartbeat));
    o.insert("log_tail".into(), json!(log));
    o.insert("note".into(), json!(note));
    o.insert("allow_write".into(), json!(allow_write));
    v
}

/// A trial as a table row.
pub fn row(t: &FrozenTrial) -> Value {
    #[derive(Serialize)]
    struct Row<'a> {
        number: u64,
        state: &'a str,
        values: Option<Vec<Option<f64>>>,
        params: serde_json::Map<String, Value>,
        duration: Option<f64>,
        started_at: Option<f64>,
        worker: Option<String>,
        message: Option<&'a str>,
        reports: usize,
    }
    let values = t.values.as_ref().map(|v| v.iter().map(|x| x.is_finite().then_some(*x)).collect());
    serde_json::to_value(Row {
        number: t.number,
        state: t.state.as_str(),
        values,
        params: t.param_values().into_iter().map(|(k, v)| (k, v.to_json())).collect(),
        duration: t.duration().or_else(|| {
            (t.state == TrialState::Running).then(|| ferrotune_now() - t.started_at.unwrap_or(ferrotune_now())).filter(|d| *d >= 0.0)
        }),
        started_at: t.started_at,
        worker: t.owner.as_ref().map(|o| format!("{}:{}", o.host, o.pid)),
        message: t.message.as_deref(),
        reports: t.intermediate_values.len(),
    })
    .unwrap_or(Value::Null)
}

fn ferrotune_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// The last `max` bytes of a file, as text.
fn tail(path: &std::path::Path, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max))).ok()?;
    let mut buf = vec![];
    f.read_to_end(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}
