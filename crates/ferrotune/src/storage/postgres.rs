//! PostgreSQL storage: one study shared by workers on many machines.
//!
//! The same tables and guarantees as `sqlite.rs`. Every write is one
//! transaction that first bumps its study's sequence number
//! (`UPDATE studies SET seq = seq + 1 ... RETURNING seq`): that row lock
//! serialises the writers of one study, so trial numbers are dense and
//! unique, an enqueued trial is claimed once and finishing is
//! compare-and-set, under any number of connections. Readers take a
//! repeatable-read snapshot so the trials and the sequence number agree.
//!
//! The driver is the synchronous `postgres` crate (rust-postgres); the
//! connection runs without TLS (`sslmode=disable` or `prefer` work; a server
//! that requires TLS is refused with a clear error).

use postgres::{Client, NoTls, Transaction};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::{check_finished, corrupt, json, AttrKind, NewTrial, Storage, StudyId, StudyRecord, StudySummary, TrialId};
use crate::direction::Direction;
use crate::distribution::Distribution;
use crate::error::{Error, Result};
use crate::trial::{now_unix, FrozenTrial, Owner, ParamRecord, TrialState};

/// Bump when the tables change; [`PostgresStorage::open`] refuses other versions.
pub const SCHEMA_VERSION: i64 = 1;

/// Any value, so concurrent first connections create the schema once.
const SCHEMA_LOCK: i64 = 0x6665_7272_6f74_756e; // "ferrotun"

const SCHEMA: &str = r#"
CREATE TABLE ferrotune_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE studies (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    directions TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE study_attrs (
    study_id BIGINT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (study_id, kind, key)
);
CREATE TABLE trials (
    id BIGSERIAL PRIMARY KEY,
    study_id BIGINT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    state TEXT NOT NULL,
    vals TEXT,
    message TEXT,
    started_at DOUBLE PRECISION,
    completed_at DOUBLE PRECISION,
    owner TEXT,
    heartbeat DOUBLE PRECISION,
    seq BIGINT NOT NULL,
    UNIQUE (study_id, number)
);
CREATE INDEX trials_by_seq ON trials (study_id, seq);
CREATE INDEX trials_by_state ON trials (study_id, state, number);
CREATE TABLE trial_params (
    trial_id BIGINT NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    pos INTEGER NOT NULL,
    name TEXT NOT NULL,
    distribution TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (trial_id, name)
);
CREATE TABLE trial_intermediate (
    trial_id BIGINT NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    step BIGINT NOT NULL,
    value DOUBLE PRECISION,
    PRIMARY KEY (trial_id, step)
);
CREATE TABLE trial_attrs (
    trial_id BIGINT NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (trial_id, kind, key)
);
"#;

/// A study database on a PostgreSQL server.
pub struct PostgresStorage {
    /// The URL without its password, for messages.
    shown: String,
    client: Mutex<Client>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").field("url", &self.shown).finish()
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        let message = if e.is_closed() {
            "the connection to PostgreSQL was lost"
        } else {
            match e.code().map(|c| c.code()) {
                Some("25006") => "the database cannot be written: this connection is read-only",
                Some("53100") => "the database server's disk is full; nothing was stored for this change",
                Some(_) => "a PostgreSQL statement failed",
                None => "a PostgreSQL call failed",
            }
        };
        Error::Database { message: message.to_string(), source: Box::new(e) }
    }
}

/// `url` with any password replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl PostgresStorage {
    /// Connects to `url` (`postgresql://user[:password]@host[:port]/db`,
    /// options such as `?sslmode=` passed to the driver) and creates or
    /// checks ferrotune's tables.
    pub fn open(url: &str) -> Result<Self> {
        let shown = redact(url);
        let mut client = Client::connect(url, NoTls).map_err(|e| Error::Database {
            message: format!(
                "cannot connect to PostgreSQL at {shown}; check that the server runs, the URL's host, port, \
                 database and user, and that it does not require TLS (this build connects without it)"
            ),
            source: Box::new(e),
        })?;
        Self::ensure_schema(&mut client, &shown)?;
        Ok(PostgresStorage { shown, client: Mutex::new(client) })
    }

    /// Connects for reading only: the session refuses every write.
    pub fn open_read_only(url: &str) -> Result<Self> {
        let s = Self::open(url)?;
        s.client().batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")?;
        Ok(s)
    }

    fn ensure_schema(client: &mut Client, shown: &str) -> Result<()> {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
        let has_meta: bool = tx
            .query_one("SELECT to_regclass('ferrotune_meta') IS NOT NULL", &[])?
            .get(0);
        if has_meta {
            let found: Option<String> = tx
                .query_opt("SELECT value FROM ferrotune_meta WHERE key = 'schema_version'", &[])?
                .map(|r| r.get(0));
            let found = found.and_then(|v| v.parse::<i64>().ok()).unwrap_or(-1);
            if found != SCHEMA_VERSION {
                return Err(Error::Storage(format!(
                    "database {shown} has ferrotune schema version {found}, but this ferrotune uses version \
                     {SCHEMA_VERSION}; use a ferrotune release that matches the database, or another database"
                )));
            }
        } else {
            let other: i64 = tx
                .query_one("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename IN ('studies', 'trials')", &[])?
                .get(0);
            if other > 0 {
                return Err(Error::Storage(format!(
                    "{shown} already has tables named studies or trials that are not ferrotune's; use another database or schema"
                )));
            }
            tx.batch_execute(SCHEMA)?;
            tx.execute(
                "INSERT INTO ferrotune_meta (key, value) VALUES ('schema_version', $1)",
                &[&SCHEMA_VERSION.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn client(&self) -> std::sync::MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in one transaction.
    fn write<T>(&self, f: impl FnOnce(&mut Transaction) -> Result<T>) -> Result<T> {
        let mut client = self.client();
        let mut tx = client.transaction()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on one repeatable-read snapshot.
    fn read<T>(&self, f: impl FnOnce(&mut Transaction) -> Result<T>) -> Result<T> {
        let mut client = self.client();
        let mut tx =
            client.build_transaction().isolation_level(postgres::IsolationLevel::RepeatableRead).read_only(true).start()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Bumps the study's sequence number, which also locks its row until
    /// the transaction ends: the writers of one study go one at a time.
    fn bump(tx: &mut Transaction, study: StudyId) -> Result<i64> {
        tx.query_opt("UPDATE studies SET seq = seq + 1 WHERE id = $1 RETURNING seq", &[&study])?
            .map(|r| r.get(0))
            .ok_or_else(|| Error::Storage(format!("no study with id {study} (was it deleted?)")))
    }

    /// Checks that `trial` is running (after taking its study's lock, so the
    /// answer holds until commit), bumps the sequence and stamps the trial.
    fn touch_running(tx: &mut Transaction, trial: TrialId) -> Result<u64> {
        let study: i64 = tx
            .query_opt("SELECT study_id FROM trials WHERE id = $1", &[&trial])?
            .map(|r| r.get(0))
            .ok_or_else(|| Error::Storage(format!("no trial with id {trial}")))?;
        let seq = Self::bump(tx, study)?;
        let row = tx.query_one("SELECT number, state FROM trials WHERE id = $1", &[&trial])?;
        let (number, state): (i64, String) = (row.get(0), row.get(1));
        if state != "running" {
            return Err(Error::TrialFinished { number: number as u64, state });
        }
        tx.execute("UPDATE trials SET seq = $1 WHERE id = $2", &[&seq, &trial])?;
        Ok(number as u64)
    }

    fn read_study(tx: &mut Transaction, by_name: Option<&str>, by_id: Option<i64>) -> Result<Option<StudyRecord>> {
        let row = match (by_name, by_id) {
            (Some(n), _) => tx.query_opt("SELECT id, name, directions, created_at FROM studies WHERE name = $1", &[&n])?,
            (None, Some(id)) => tx.query_opt("SELECT id, name, directions, created_at FROM studies WHERE id = $1", &[&id])?,
            _ => None,
        };
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.get(0);
        let dirs: String = row.get(2);
        let directions: Vec<Direction> = serde_json::from_str(&dirs).map_err(|e| corrupt("directions", e))?;
        let mut rec = StudyRecord {
            id,
            name: row.get(1),
            directions,
            user_attrs: BTreeMap::new(),
            system_attrs: BTreeMap::new(),
            created_at: row.get(3),
        };
        for r in tx.query("SELECT kind, key, value FROM study_attrs WHERE study_id = $1", &[&id])? {
            let (kind, key, value): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            let value = serde_json::from_str(&value).map_err(|e| corrupt("study attribute", e))?;
            if kind == "user" { &mut rec.user_attrs } else { &mut rec.system_attrs }.insert(key, value);
        }
        Ok(Some(rec))
    }

    /// Loads full trials matching `filter` (an SQL condition on `t`, with
    /// `$1`, `$2` bound to `a`, `b`).
    fn load_trials(tx: &mut Transaction, filter: &str, a: i64, b: Option<i64>) -> Result<Vec<FrozenTrial>> {
        let args: Vec<&(dyn postgres::types::ToSql + Sync)> = match &b {
            Some(b) => vec![&a, b],
            None => vec![&a],
        };
        let q = format!(
            "SELECT t.id, t.number, t.state, t.vals, t.message, t.started_at, t.completed_at, t.owner, t.heartbeat \
             FROM trials t WHERE {filter} ORDER BY t.number"
        );
        let mut trials: Vec<FrozenTrial> = Vec::new();
        let mut index: HashMap<i64, usize> = HashMap::new();
        for r in tx.query(q.as_str(), &args)? {
            let state: String = r.get(2);
            let vals: Option<String> = r.get(3);
            let owner: Option<String> = r.get(7);
            let t = FrozenTrial {
                id: r.get(0),
                number: r.get::<_, i64>(1) as u64,
                state: TrialState::parse(&state).ok_or_else(|| corrupt("trial state", &state))?,
                values: vals.map(|v| serde_json::from_str(&v)).transpose().map_err(|e| corrupt("values", e))?,
                params: Default::default(),
                intermediate_values: BTreeMap::new(),
                user_attrs: BTreeMap::new(),
                system_attrs: BTreeMap::new(),
                message: r.get(4),
                started_at: r.get(5),
                completed_at: r.get(6),
                owner: owner.map(|o| serde_json::from_str::<Owner>(&o)).transpose().map_err(|e| corrupt("owner", e))?,
                heartbeat: r.get(8),
            };
            index.insert(t.id, trials.len());
            trials.push(t);
        }
        if trials.is_empty() {
            return Ok(trials);
        }
        let sub = format!("SELECT t.id FROM trials t WHERE {filter}");
        let q = format!(
            "SELECT trial_id, name, distribution, value FROM trial_params WHERE trial_id IN ({sub}) ORDER BY trial_id, pos"
        );
        for r in tx.query(q.as_str(), &args)? {
            let Some(&i) = index.get(&r.get::<_, i64>(0)) else { continue };
            let dist: String = r.get(2);
            let distribution: Distribution = serde_json::from_str(&dist).map_err(|e| corrupt("distribution", e))?;
            trials[i].params.insert(r.get(1), ParamRecord { distribution, internal: r.get(3) });
        }
        let q = format!("SELECT trial_id, step, value FROM trial_intermediate WHERE trial_id IN ({sub})");
        for r in tx.query(q.as_str(), &args)? {
            let Some(&i) = index.get(&r.get::<_, i64>(0)) else { continue };
            let v: Option<f64> = r.get(2);
            trials[i].intermediate_values.insert(r.get::<_, i64>(1) as u64, v.unwrap_or(f64::NAN));
        }
        let q = format!("SELECT trial_id, kind, key, value FROM trial_attrs WHERE trial_id IN ({sub})");
        for r in tx.query(q.as_str(), &args)? {
            let Some(&i) = index.get(&r.get::<_, i64>(0)) else { continue };
            let kind: String = r.get(1);
            let value: String = r.get(3);
            let value = serde_json::from_str(&value).map_err(|e| corrupt("trial attribute", e))?;
            let t = &mut trials[i];
            if kind == "user" { &mut t.user_attrs } else { &mut t.system_attrs }.insert(r.get(2), value);
        }
        Ok(trials)
    }

    fn one_trial(tx: &mut Transaction, trial: TrialId) -> Result<FrozenTrial> {
        Self::load_trials(tx, "t.id = $1", trial, None)?.pop().ok_or_else(|| Error::Storage(format!("no trial with id {trial}")))
    }

    fn insert_trial(tx: &mut Transaction, study: StudyId, new: &NewTrial) -> Result<FrozenTrial> {
        let state = new.initial_state()?;
        let seq = Self::bump(tx, study)?;
        let number: i64 =
            tx.query_one("SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study_id = $1", &[&study])?.get(0);
        let running = state == TrialState::Running;
        let now = running.then(now_unix);
        let owner = if running { new.owner.as_ref().map(json) } else { None };
        let id: i64 = tx
            .query_one(
                "INSERT INTO trials (study_id, number, state, started_at, owner, heartbeat, seq) \
                 VALUES ($1, $2, $3, $4, $5, $4, $6) RETURNING id",
                &[&study, &number, &state.as_str(), &now, &owner, &seq],
            )?
            .get(0);
        if let Some(fixed) = &new.fixed_params {
            tx.execute(
                "INSERT INTO trial_attrs (trial_id, kind, key, value) VALUES ($1, 'system', $2, $3)",
                &[&id, &super::FIXED_PARAMS_ATTR, &json(fixed)],
            )?;
        }
        for (kind, attrs) in [("system", &new.system_attrs), ("user", &new.user_attrs)] {
            for (k, v) in attrs {
                tx.execute(
                    "INSERT INTO trial_attrs (trial_id, kind, key, value) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (trial_id, kind, key) DO UPDATE SET value = EXCLUDED.value",
                    &[&id, &kind, k, &json(v)],
                )?;
            }
        }
        Self::one_trial(tx, id)
    }
}

impl Storage for PostgresStorage {
    fn create_study(&self, name: &str, directions: &[Direction]) -> Result<StudyRecord> {
        self.write(|tx| {
            let inserted = tx.execute(
                "INSERT INTO studies (name, directions, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                &[&name, &json(&directions), &now_unix()],
            )?;
            if inserted == 0 {
                return Err(Error::StudyExists(name.to_string()));
            }
            Self::read_study(tx, Some(name), None)?.ok_or_else(|| Error::Storage("study vanished".into()))
        })
    }

    fn get_study(&self, name: &str) -> Result<Option<StudyRecord>> {
        self.read(|tx| Self::read_study(tx, Some(name), None))
    }

    fn list_studies(&self) -> Result<Vec<StudySummary>> {
        self.read(|tx| {
            let ids: Vec<i64> = tx.query("SELECT id FROM studies ORDER BY id", &[])?.iter().map(|r| r.get(0)).collect();
            let mut out = Vec::new();
            for id in ids {
                let Some(record) = Self::read_study(tx, None, Some(id))? else { continue };
                let mut counts: Vec<(TrialState, u64)> = vec![];
                for r in tx.query("SELECT state, count(*) FROM trials WHERE study_id = $1 GROUP BY state", &[&id])? {
                    let (state, n): (String, i64) = (r.get(0), r.get(1));
                    let state = TrialState::parse(&state)
                        .ok_or_else(|| corrupt(&format!("trial state of study '{}'", record.name), &state))?;
                    counts.push((state, n as u64));
                }
                counts.sort();
                let n_trials = counts.iter().map(|c| c.1).sum();
                out.push(StudySummary { record, n_trials, counts });
            }
            Ok(out)
        })
    }

    fn delete_study(&self, name: &str) -> Result<()> {
        self.write(|tx| {
            if tx.execute("DELETE FROM studies WHERE name = $1", &[&name])? == 0 {
                return Err(Error::StudyNotFound(name.to_string()));
            }
            Ok(())
        })
    }

    fn set_study_attr(&self, study: StudyId, kind: AttrKind, key: &str, value: &serde_json::Value) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO study_attrs (study_id, kind, key, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (study_id, kind, key) DO UPDATE SET value = EXCLUDED.value",
                &[&study, &kind.as_str(), &key, &json(value)],
            )?;
            Ok(())
        })
    }

    fn create_trial(&self, study: StudyId, new: NewTrial) -> Result<FrozenTrial> {
        self.write(|tx| Self::insert_trial(tx, study, &new))
    }

    fn import_trial(&self, study: StudyId, t: &FrozenTrial) -> Result<FrozenTrial> {
        self.write(|tx| {
            let seq = Self::bump(tx, study)?;
            let number: i64 =
                tx.query_one("SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study_id = $1", &[&study])?.get(0);
            let id: i64 = tx
                .query_one(
                    "INSERT INTO trials (study_id, number, state, vals, message, started_at, completed_at, owner, heartbeat, seq) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                    &[
                        &study,
                        &number,
                        &t.state.as_str(),
                        &t.values.as_ref().map(json),
                        &t.message,
                        &t.started_at,
                        &t.completed_at,
                        &t.owner.as_ref().map(json),
                        &t.heartbeat,
                        &seq,
                    ],
                )?
                .get(0);
            for (pos, (name, p)) in t.params.iter().enumerate() {
                tx.execute(
                    "INSERT INTO trial_params (trial_id, pos, name, distribution, value) VALUES ($1, $2, $3, $4, $5)",
                    &[&id, &(pos as i32), name, &json(&p.distribution), &p.internal],
                )?;
            }
            for (step, v) in &t.intermediate_values {
                tx.execute(
                    "INSERT INTO trial_intermediate (trial_id, step, value) VALUES ($1, $2, $3)",
                    &[&id, &(*step as i64), &(!v.is_nan()).then_some(*v)],
                )?;
            }
            for (kind, attrs) in [("user", &t.user_attrs), ("system", &t.system_attrs)] {
                for (k, v) in attrs {
                    tx.execute(
                        "INSERT INTO trial_attrs (trial_id, kind, key, value) VALUES ($1, $2, $3, $4)",
                        &[&id, &kind, k, &json(v)],
                    )?;
                }
            }
            Self::one_trial(tx, id)
        })
    }

    fn enqueue_once(&self, study: StudyId, new: NewTrial) -> Result<Option<FrozenTrial>> {
        let fixed = new.fixed_params.as_ref().map(json);
        let new = NewTrial { state: Some(TrialState::Waiting), ..new };
        self.write(|tx| {
            // The study lock first, so two workers cannot both see "absent".
            Self::bump(tx, study)?;
            let present: i64 = tx
                .query_one(
                    "SELECT count(*) FROM trial_attrs a JOIN trials t ON t.id = a.trial_id \
                     WHERE t.study_id = $1 AND a.kind = 'system' AND a.key = $2 AND a.value = $3",
                    &[&study, &super::FIXED_PARAMS_ATTR, &fixed],
                )?
                .get(0);
            if present > 0 {
                return Ok(None);
            }
            Self::insert_trial(tx, study, &new).map(Some)
        })
    }

    fn claim_waiting_trial(&self, study: StudyId, owner: Option<&Owner>) -> Result<Option<FrozenTrial>> {
        self.write(|tx| {
            let seq = Self::bump(tx, study)?;
            let id: Option<i64> = tx
                .query_opt(
                    "SELECT id FROM trials WHERE study_id = $1 AND state = 'waiting' ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED",
                    &[&study],
                )?
                .map(|r| r.get(0));
            let Some(id) = id else { return Ok(None) };
            let now = now_unix();
            tx.execute(
                "UPDATE trials SET state = 'running', started_at = $1, heartbeat = $1, owner = $2, seq = $3 WHERE id = $4",
                &[&now, &owner.map(json), &seq, &id],
            )?;
            Ok(Some(Self::one_trial(tx, id)?))
        })
    }

    fn set_trial_param(&self, trial: TrialId, name: &str, distribution: &Distribution, internal: f64) -> Result<()> {
        self.write(|tx| {
            Self::touch_running(tx, trial)?;
            tx.execute(
                "INSERT INTO trial_params (trial_id, pos, name, distribution, value) \
                 VALUES ($1, (SELECT count(*) FROM trial_params WHERE trial_id = $1)::INTEGER, $2, $3, $4) \
                 ON CONFLICT (trial_id, name) DO UPDATE SET distribution = EXCLUDED.distribution, value = EXCLUDED.value",
                &[&trial, &name, &json(distribution), &internal],
            )?;
            Ok(())
        })
    }

    fn set_trial_intermediate(&self, trial: TrialId, step: u64, value: f64) -> Result<()> {
        self.write(|tx| {
            Self::touch_running(tx, trial)?;
            let v = (!value.is_nan()).then_some(value);
            tx.execute(
                "INSERT INTO trial_intermediate (trial_id, step, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (trial_id, step) DO UPDATE SET value = EXCLUDED.value",
                &[&trial, &(step as i64), &v],
            )?;
            Ok(())
        })
    }

    fn set_trial_attr(&self, trial: TrialId, kind: AttrKind, key: &str, value: &serde_json::Value) -> Result<()> {
        self.write(|tx| {
            Self::touch_running(tx, trial)?;
            tx.execute(
                "INSERT INTO trial_attrs (trial_id, kind, key, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (trial_id, kind, key) DO UPDATE SET value = EXCLUDED.value",
                &[&trial, &kind.as_str(), &key, &json(value)],
            )?;
            Ok(())
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
        self.write(|tx| {
            Self::touch_running(tx, trial)?;
            tx.execute(
                "UPDATE trials SET state = $1, vals = $2, message = $3, completed_at = $4 WHERE id = $5",
                &[&state.as_str(), &values.map(json), &message, &now_unix(), &trial],
            )?;
            Self::one_trial(tx, trial)
        })
    }

    fn heartbeat(&self, trials: &[TrialId]) -> Result<()> {
        self.write(|tx| {
            let now = now_unix();
            tx.execute("UPDATE trials SET heartbeat = $1 WHERE id = ANY($2) AND state = 'running'", &[&now, &trials])?;
            Ok(())
        })
    }

    fn get_trial(&self, trial: TrialId) -> Result<FrozenTrial> {
        self.read(|tx| Self::one_trial(tx, trial))
    }

    fn get_trial_by_number(&self, study: StudyId, number: u64) -> Result<Option<FrozenTrial>> {
        self.read(|tx| Ok(Self::load_trials(tx, "t.study_id = $1 AND t.number = $2", study, Some(number as i64))?.pop()))
    }

    fn trials_since(&self, study: StudyId, after: u64) -> Result<(Vec<FrozenTrial>, u64)> {
        self.read(|tx| {
            let seq: i64 = tx
                .query_opt("SELECT seq FROM studies WHERE id = $1", &[&study])?
                .map(|r| r.get(0))
                .ok_or_else(|| Error::Storage(format!("no study with id {study} (was it deleted?)")))?;
            let trials = Self::load_trials(tx, "t.study_id = $1 AND t.seq > $2", study, Some(after as i64))?;
            Ok((trials, seq as u64))
        })
    }

    fn running_trials(&self, study: StudyId) -> Result<Vec<FrozenTrial>> {
        self.read(|tx| Self::load_trials(tx, "t.study_id = $1 AND t.state = 'running'", study, None))
    }
}

/// Test databases: the environment variable that names a server, a fresh
/// database per use, dropped afterwards.
#[cfg(test)]
pub(crate) mod testdb {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The variable holding a PostgreSQL URL for the tests (CI sets it).
    pub const ENV: &str = "FERROTUNE_TEST_POSTGRES";

    /// Drops its database when dropped.
    pub struct Guard {
        admin: String,
        name: String,
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
            }
        }
    }

    /// `url` with its database replaced by `db`.
    pub fn with_database(url: &str, db: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (url, String::new()),
        };
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
        format!("{}/{db}{query}", &base[..host_end])
    }

    /// A URL of a fresh, empty database, or `None` (with one line saying how
    /// to enable these tests) when no server is configured.
    pub fn fresh() -> Option<(String, Guard)> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let Ok(admin) = std::env::var(ENV) else {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!("PostgreSQL storage tests skipped: set {ENV}=postgresql://postgres@127.0.0.1:5432/test to run them")
            });
            return None;
        };
        let name = format!("ferrotune_test_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let mut c = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("{ENV} is set but the server cannot be reached: {e}"));
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drop an old test database");
        c.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a test database");
        let url = with_database(&admin, &name);
        Some((url, Guard { admin, name }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_database_urls() {
        assert_eq!(testdb::with_database("postgresql://u@h:5432/test", "x"), "postgresql://u@h:5432/x");
        assert_eq!(testdb::with_database("postgres://h/test?sslmode=disable", "x"), "postgres://h/x?sslmode=disable");
        assert_eq!(testdb::with_database("postgresql://h", "x"), "postgresql://h/x");
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("postgresql://u:secret@h:5432/db"), "postgresql://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgresql://h/db"), "postgresql://h/db");
    }
}
