//! Storage in this process's memory: fast, shared by threads, gone at exit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::{check_finished, AttrKind, NewTrial, Storage, StudyId, StudyRecord, StudySummary, TrialId};
use crate::distribution::Distribution;
use crate::error::{Error, Result};
use crate::direction::Direction;
use crate::trial::{now_unix, FrozenTrial, Owner, ParamRecord, TrialState};

/// Keeps studies in memory behind one lock. Every operation is atomic.
#[derive(Debug, Default)]
pub struct InMemoryStorage {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    studies: BTreeMap<StudyId, MemStudy>,
    /// trial id -> (study, index in its study)
    trials: HashMap<TrialId, (StudyId, usize)>,
    next_study: StudyId,
    next_trial: TrialId,
}

#[derive(Debug)]
struct MemStudy {
    record: StudyRecord,
    /// Boxed so the scan of `trials_since` strides 16 bytes, not a whole trial.
    trials: Vec<(Box<FrozenTrial>, u64)>,
    seq: u64,
    /// No trial before this index waits: trials are only ever created
    /// waiting, never made so later, so the search for one to claim starts
    /// here rather than at the study's first trial on every ask.
    waiting_from: usize,
}

impl InMemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves whole records behind (every
        // mutation is a single assignment), so the data is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn study_mut(&mut self, id: StudyId) -> Result<&mut MemStudy> {
        self.studies.get_mut(&id).ok_or_else(|| Error::Storage(format!("no study with id {id}")))
    }

    /// Applies `f` to a running trial and bumps the study's sequence number.
    fn with_running<T>(&mut self, trial: TrialId, f: impl FnOnce(&mut FrozenTrial) -> T) -> Result<T> {
        let (sid, idx) = *self.trials.get(&trial).ok_or_else(|| Error::Storage(format!("no trial with id {trial}")))?;
        let study = self.study_mut(sid)?;
        study.seq += 1;
        let seq = study.seq;
        let (t, tseq) = &mut study.trials[idx];
        if t.state != TrialState::Running {
            return Err(Error::TrialFinished { number: t.number, state: t.state.to_string() });
        }
        *tseq = seq;
        Ok(f(t))
    }
}

impl Inner {
    fn create(&mut self, study: StudyId, new: NewTrial) -> Result<FrozenTrial> {
        let state = new.initial_state()?;
        let g = self;
        g.next_trial += 1;
        let id = g.next_trial;
        let s = g.study_mut(study)?;
        s.seq += 1;
        let now = now_unix();
        let mut system_attrs = BTreeMap::new();
        if let Some(fixed) = &new.fixed_params {
            system_attrs.insert(super::FIXED_PARAMS_ATTR.to_string(), serde_json::to_value(fixed).expect("params serialize"));
        }
        for (k, v) in new.system_attrs {
            system_attrs.insert(k, v);
        }
        let running = state == TrialState::Running;
        let t = FrozenTrial {
            id,
            number: s.trials.len() as u64,
            state,
            values: None,
            params: Default::default(),
            intermediate_values: BTreeMap::new(),
            user_attrs: new.user_attrs.into_iter().collect(),
            system_attrs,
            message: None,
            started_at: running.then_some(now),
            completed_at: None,
            owner: if running { new.owner } else { None },
            heartbeat: running.then_some(now),
        };
        let idx = s.trials.len();
        let seq = s.seq;
        s.trials.push((Box::new(t.clone()), seq));
        g.trials.insert(id, (study, idx));
        Ok(t)
    }
}

impl Storage for InMemoryStorage {
    fn create_study(&self, name: &str, directions: &[Direction]) -> Result<StudyRecord> {
        let mut g = self.lock();
        if g.studies.values().any(|s| s.record.name == name) {
            return Err(Error::StudyExists(name.to_string()));
        }
        g.next_study += 1;
        let record = StudyRecord {
            id: g.next_study,
            name: name.to_string(),
            directions: directions.to_vec(),
            user_attrs: BTreeMap::new(),
            system_attrs: BTreeMap::new(),
            created_at: now_unix(),
        };
        g.studies.insert(record.id, MemStudy { record: record.clone(), trials: vec![], seq: 0, waiting_from: 0 });
        Ok(record)
    }

    fn get_study(&self, name: &str) -> Result<Option<StudyRecord>> {
        Ok(self.lock().studies.values().find(|s| s.record.name == name).map(|s| s.record.clone()))
    }

    fn list_studies(&self) -> Result<Vec<StudySummary>> {
        let g = self.lock();
        Ok(g.studies
            .values()
            .map(|s| {
                let mut counts: BTreeMap<TrialState, u64> = BTreeMap::new();
                for (t, _) in &s.trials {
                    *counts.entry(t.state).or_default() += 1;
                }
                let last_activity = s
                    .trials
                    .iter()
                    .flat_map(|(t, _)| [t.started_at, t.completed_at, t.heartbeat])
                    .flatten()
                    .fold(s.record.created_at, f64::max);
                StudySummary {
                    record: s.record.clone(),
                    n_trials: s.trials.len() as u64,
                    counts: counts.into_iter().collect(),
                    last_activity: Some(last_activity),
                }
            })
            .collect())
    }

    fn delete_study(&self, name: &str) -> Result<()> {
        let mut g = self.lock();
        let id = g.studies.values().find(|s| s.record.name == name).map(|s| s.record.id);
        let id = id.ok_or_else(|| Error::StudyNotFound(name.to_string()))?;
        g.studies.remove(&id);
        g.trials.retain(|_, (sid, _)| *sid != id);
        Ok(())
    }

    fn set_study_attr(&self, study: StudyId, kind: AttrKind, key: &str, value: &serde_json::Value) -> Result<()> {
        let mut g = self.lock();
        let s = g.study_mut(study)?;
        let map = match kind {
            AttrKind::User => &mut s.record.user_attrs,
            AttrKind::System => &mut s.record.system_attrs,
        };
        map.insert(key.to_string(), value.clone());
        Ok(())
    }

    fn create_trial(&self, study: StudyId, new: NewTrial) -> Result<FrozenTrial> {
        self.lock().create(study, new)
    }

    fn import_trial(&self, study: StudyId, t: &FrozenTrial) -> Result<FrozenTrial> {
        let mut g = self.lock();
        g.next_trial += 1;
        let id = g.next_trial;
        let s = g.study_mut(study)?;
        s.seq += 1;
        let (idx, seq) = (s.trials.len(), s.seq);
        let copy = FrozenTrial { id, number: idx as u64, ..t.clone() };
        s.trials.push((Box::new(copy.clone()), seq));
        g.trials.insert(id, (study, idx));
        Ok(copy)
    }

    fn enqueue_once(&self, study: StudyId, new: NewTrial) -> Result<Option<FrozenTrial>> {
        let mut g = self.lock();
        let fixed = new.fixed_params.as_ref().map(|f| serde_json::to_value(f).expect("params serialize"));
        let s = g.study_mut(study)?;
        if s.trials.iter().any(|(t, _)| t.system_attrs.get(super::FIXED_PARAMS_ATTR) == fixed.as_ref()) {
            return Ok(None);
        }
        g.create(study, NewTrial { state: Some(TrialState::Waiting), ..new }).map(Some)
    }

    fn claim_waiting_trial(&self, study: StudyId, owner: Option<&Owner>) -> Result<Option<FrozenTrial>> {
        let mut g = self.lock();
        let s = g.study_mut(study)?;
        let from = s.waiting_from.min(s.trials.len());
        let Some(idx) = s.trials[from..].iter().position(|(t, _)| t.state == TrialState::Waiting).map(|i| from + i) else {
            s.waiting_from = s.trials.len();
            return Ok(None);
        };
        s.waiting_from = idx + 1;
        s.seq += 1;
        let seq = s.seq;
        let (t, tseq) = &mut s.trials[idx];
        let now = now_unix();
        t.state = TrialState::Running;
        t.started_at = Some(now);
        t.heartbeat = Some(now);
        t.owner = owner.cloned();
        *tseq = seq;
        Ok(Some((**t).clone()))
    }

    fn set_trial_param(&self, trial: TrialId, name: &str, distribution: &Distribution, internal: f64) -> Result<()> {
        self.lock().with_running(trial, |t| {
            t.params.insert(name.to_string(), ParamRecord { distribution: distribution.clone(), internal });
        })
    }

    fn set_trial_intermediate(&self, trial: TrialId, step: u64, value: f64) -> Result<()> {
        self.lock().with_running(trial, |t| {
            t.intermediate_values.insert(step, value);
        })
    }

    fn set_trial_attr(&self, trial: TrialId, kind: AttrKind, key: &str, value: &serde_json::Value) -> Result<()> {
        self.lock().with_running(trial, |t| {
            let map = match kind {
                AttrKind::User => &mut t.user_attrs,
                AttrKind::System => &mut t.system_attrs,
            };
            map.insert(key.to_string(), value.clone());
        })
    }

    fn finish_trial(
        &self,
        trial: TrialId,
        state: TrialState,
        values: Option<&[f64]>,
        message: Option<&str>,
    ) -> Result<FrozenTrial> {
        check_finished(state)?;
        self.lock().with_running(trial, |t| {
            t.state = state;
            t.values = values.map(<[f64]>::to_vec);
            t.message = message.map(str::to_string);
            t.completed_at = Some(now_unix());
            t.clone()
        })
    }

    fn heartbeat(&self, trials: &[TrialId]) -> Result<()> {
        let mut g = self.lock();
        let now = now_unix();
        for id in trials {
            if let Some(&(sid, idx)) = g.trials.get(id) {
                let t = &mut g.study_mut(sid)?.trials[idx].0;
                if t.state == TrialState::Running {
                    t.heartbeat = Some(now);
                }
            }
        }
        Ok(())
    }

    fn get_trial(&self, trial: TrialId) -> Result<FrozenTrial> {
        let g = self.lock();
        let (sid, idx) = *g.trials.get(&trial).ok_or_else(|| Error::Storage(format!("no trial with id {trial}")))?;
        Ok((*g.studies[&sid].trials[idx].0).clone())
    }

    fn get_trial_by_number(&self, study: StudyId, number: u64) -> Result<Option<FrozenTrial>> {
        let g = self.lock();
        let s = g.studies.get(&study).ok_or_else(|| Error::Storage(format!("no study with id {study}")))?;
        Ok(s.trials.get(number as usize).map(|(t, _)| (**t).clone()))
    }

    fn trials_since(&self, study: StudyId, after: u64) -> Result<(Vec<FrozenTrial>, u64)> {
        let g = self.lock();
        let s = g.studies.get(&study).ok_or_else(|| Error::Storage(format!("no study with id {study}")))?;
        Ok((s.trials.iter().filter(|(_, seq)| *seq > after).map(|(t, _)| (**t).clone()).collect(), s.seq))
    }

    fn running_trials(&self, study: StudyId) -> Result<Vec<FrozenTrial>> {
        let g = self.lock();
        let s = g.studies.get(&study).ok_or_else(|| Error::Storage(format!("no study with id {study}")))?;
        Ok(s.trials.iter().filter(|(t, _)| t.state == TrialState::Running).map(|(t, _)| (**t).clone()).collect())
    }
}
