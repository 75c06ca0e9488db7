//! SQLite storage: the embedded default. One file, WAL mode, every change a
//! transaction, so several processes on one machine can share a study and a
//! `kill -9` loses nothing that was committed.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{check_finished, corrupt, json, AttrKind, NewTrial, Storage, StudyId, StudyRecord, StudySummary, TrialId};
use crate::distribution::Distribution;
use crate::error::{Error, Result};
use crate::direction::Direction;
use crate::trial::{now_unix, FrozenTrial, Owner, ParamRecord, TrialState};

/// The version this ferrotune writes; [`SqliteStorage::open`] refuses
/// others (older ones with the `ferrotune storage upgrade` command to run).
pub const SCHEMA_VERSION: i64 = 2;

/// Version 1, as ferrotune 0.1 created it. A new database gets it and then
/// every migration, so a fresh database and an upgraded one are the same.
const V1: &str = r#"
CREATE TABLE ferrotune_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE studies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    directions TEXT NOT NULL,
    created_at REAL NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE study_attrs (
    study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (study_id, kind, key)
);
CREATE TABLE trials (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    vals TEXT,
    message TEXT,
    started_at REAL,
    completed_at REAL,
    owner TEXT,
    heartbeat REAL,
    seq INTEGER NOT NULL,
    UNIQUE (study_id, number)
);
CREATE INDEX trials_by_seq ON trials (study_id, seq);
CREATE INDEX trials_by_state ON trials (study_id, state, number);
CREATE TABLE trial_params (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    pos INTEGER NOT NULL,
    name TEXT NOT NULL,
    distribution TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (trial_id, name)
);
CREATE TABLE trial_intermediate (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    value REAL,
    PRIMARY KEY (trial_id, step)
);
CREATE TABLE trial_attrs (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (trial_id, kind, key)
);
"#;

/// `MIGRATIONS[i]` takes version `i + 1` to `i + 2`.
const MIGRATIONS: &[&str] = &[
    // 1 -> 2: the next trial number kept on the study row (as on
    // PostgreSQL), and the study's last change, for study lists.
    r#"
    ALTER TABLE studies ADD COLUMN next_number INTEGER NOT NULL DEFAULT 0;
    UPDATE studies SET next_number = COALESCE((SELECT MAX(number) + 1 FROM trials t WHERE t.study_id = studies.id), 0);
    ALTER TABLE studies ADD COLUMN updated_at REAL;
    UPDATE studies SET updated_at = MAX(created_at, COALESCE((SELECT MAX(MAX(COALESCE(started_at, 0), COALESCE(completed_at, 0),
        COALESCE(heartbeat, 0))) FROM trials t WHERE t.study_id = studies.id), 0));
    "#,
];

/// A study database in one SQLite file.
#[derive(Debug)]
pub struct SqliteStorage {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn schema_mismatch(path: &Path, found: i64) -> Error {
    Error::SchemaMismatch {
        location: path.display().to_string(),
        found,
        expected: SCHEMA_VERSION,
        upgrade_url: format!("sqlite:///{}", path.display()),
    }
}

/// A path as the path part of an SQLite `file:` URI.
fn uri_path(p: &Path) -> String {
    let mut out = String::new();
    for b in p.display().to_string().bytes() {
        match b {
            b'?' | b'#' | b'%' => out.push_str(&format!("%{b:02X}")),
            _ => out.push(b as char),
        }
    }
    out
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let ctx = |e: rusqlite::Error| Error::Storage(format!("cannot open SQLite database {}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(Error::Storage(format!(
                    "cannot open SQLite database {}: directory {} does not exist; create it first",
                    path.display(),
                    dir.display()
                )));
            }
        }
        let mut conn = Connection::open(&path).map_err(ctx)?;
        conn.busy_timeout(Duration::from_secs(60)).map_err(ctx)?;
        // Refuse another release's database before changing anything in it
        // (switching to WAL writes to the file).
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM ferrotune_meta WHERE key='schema_version' \
                 AND EXISTS (SELECT 1 FROM sqlite_master WHERE type='table' AND name='ferrotune_meta')",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap_or(None);
        if let Some(v) = version {
            let found = v.parse::<i64>().unwrap_or(-1);
            if found != SCHEMA_VERSION {
                return Err(schema_mismatch(&path, found));
            }
        }
        // WAL lets readers and one writer proceed together across processes;
        // synchronous=NORMAL in WAL mode survives any process crash (kill -9),
        // and can lose only the last commits on power loss, never corrupt.
        //
        // Switching a new file to WAL needs an exclusive lock, and SQLite
        // answers "locked" at once, without its busy handler, when another
        // connection is doing the same (workers started together): retry
        // within the same minute the busy timeout allows.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Err(rusqlite::Error::SqliteFailure(f, _))
                    if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                r => break r.map_err(ctx)?,
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(ctx)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(ctx)?;
        Self::ensure_schema(&mut conn, &path)?;
        Ok(SqliteStorage { path, conn: Mutex::new(conn) })
    }

    /// Opens an existing database for reading only: nothing can be written
    /// through it, a missing file is an error (never created), and a file on
    /// a read-only mount or owned by another user can still be inspected.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self> {
        use rusqlite::OpenFlags;
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(Error::Storage(format!(
                "no such database: {} (check the path; `ferrotune run` or `ferrotune ask` creates it)",
                path.display()
            )));
        }
        let ctx = |e: rusqlite::Error| Error::Storage(format!("cannot open SQLite database {} for reading: {e}", path.display()));
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let try_open = |uri: &str| -> rusqlite::Result<Connection> {
            let conn = Connection::open_with_flags(uri, flags)?;
            conn.busy_timeout(Duration::from_secs(60))?;
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
            Ok(conn)
        };
        let uri = format!("file:{}", uri_path(&path));
        // A WAL database needs its -shm file to be read; where it is absent
        // and cannot be created (read-only directory), nobody can be writing,
        // so the file can be read as immutable.
        let conn = match try_open(&uri) {
            Ok(c) => c,
            Err(_) => try_open(&format!("{uri}?immutable=1")).map_err(ctx)?,
        };
        Self::check_schema_read_only(&conn, &path)?;
        Ok(SqliteStorage { path, conn: Mutex::new(conn) })
    }

    fn check_schema_read_only(conn: &Connection, path: &Path) -> Result<()> {
        let has_meta: bool = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='ferrotune_meta'",
            [],
            |r| r.get::<_, i64>(0),
        )? > 0;
        if !has_meta {
            return Err(Error::Storage(format!("{} is not a ferrotune database (it has no ferrotune tables)", path.display())));
        }
        let found: Option<String> =
            conn.query_row("SELECT value FROM ferrotune_meta WHERE key='schema_version'", [], |r| r.get(0)).optional()?;
        let found = found.and_then(|v| v.parse::<i64>().ok()).unwrap_or(-1);
        if found != SCHEMA_VERSION {
            return Err(schema_mismatch(path, found));
        }
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn ensure_schema(conn: &mut Connection, path: &Path) -> Result<()> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let has_meta: bool = tx.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='ferrotune_meta'",
            [],
            |r| r.get::<_, i64>(0),
        )? > 0;
        if has_meta {
            let found: Option<String> = tx
                .query_row("SELECT value FROM ferrotune_meta WHERE key='schema_version'", [], |r| r.get(0))
                .optional()?;
            let found = found.and_then(|v| v.parse::<i64>().ok()).unwrap_or(-1);
            if found != SCHEMA_VERSION {
                return Err(schema_mismatch(path, found));
            }
        } else {
            let other: i64 = tx.query_row("SELECT count(*) FROM sqlite_master WHERE type='table'", [], |r| r.get(0))?;
            if other > 0 {
                return Err(Error::Storage(format!(
                    "{} is an SQLite database, but not a ferrotune one (it has other tables); point the storage at a \
                     new file",
                    path.display()
                )));
            }
            tx.execute_batch(V1)?;
            for m in MIGRATIONS {
                tx.execute_batch(m)?;
            }
            tx.execute("INSERT INTO ferrotune_meta (key, value) VALUES ('schema_version', ?1)", [SCHEMA_VERSION.to_string()])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Migrates the database at `path` to the current `SCHEMA_VERSION` in one
    /// transaction; returns the version it had. The file must exist.
    pub fn upgrade(path: impl AsRef<Path>) -> Result<i64> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::Storage(format!("no such database: {} (check the path)", path.display())));
        }
        let mut conn = Connection::open(path)
            .map_err(|e| Error::Storage(format!("cannot open SQLite database {}: {e}", path.display())))?;
        conn.busy_timeout(Duration::from_secs(60))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: Option<String> = tx
            .query_row("SELECT value FROM ferrotune_meta WHERE key='schema_version'", [], |r| r.get(0))
            .optional()
            .map_err(|_| Error::Storage(format!("{} is not a ferrotune database (it has no ferrotune tables)", path.display())))?;
        let found = found.and_then(|v| v.parse::<i64>().ok()).unwrap_or(-1);
        if !(1..=SCHEMA_VERSION).contains(&found) {
            return Err(schema_mismatch(path, found));
        }
        for m in &MIGRATIONS[(found - 1) as usize..] {
            tx.execute_batch(m)?;
        }
        tx.execute("UPDATE ferrotune_meta SET value = ?1 WHERE key = 'schema_version'", [SCHEMA_VERSION.to_string()])?;
        tx.commit()?;
        Ok(found)
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in an IMMEDIATE transaction (the write lock is taken up front,
    /// so concurrent writers queue instead of failing half-way).
    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn read_study(conn: &Connection, where_sql: &str, arg: &dyn rusqlite::ToSql) -> Result<Option<StudyRecord>> {
        let row = conn
            .query_row(
                &format!("SELECT id, name, directions, created_at FROM studies WHERE {where_sql}"),
                [arg],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, f64>(3)?)),
            )
            .optional()?;
        let Some((id, name, dirs, created_at)) = row else { return Ok(None) };
        let directions: Vec<Direction> = serde_json::from_str(&dirs).map_err(|e| corrupt("directions", e))?;
        let mut rec = StudyRecord {
            id,
            name,
            directions,
            user_attrs: BTreeMap::new(),
            system_attrs: BTreeMap::new(),
            created_at,
        };
        let mut stmt = conn.prepare_cached("SELECT kind, key, value FROM study_attrs WHERE study_id = ?1")?;
        let rows = stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        for row in rows {
            let (kind, key, value) = row?;
            let value = serde_json::from_str(&value).map_err(|e| corrupt("study attribute", e))?;
            if kind == "user" { &mut rec.user_attrs } else { &mut rec.system_attrs }.insert(key, value);
        }
        Ok(Some(rec))
    }

    /// Loads full trials matching `filter` (an SQL condition on `t`).
    fn load_trials(conn: &Connection, filter: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<FrozenTrial>> {
        let mut trials: Vec<FrozenTrial> = Vec::new();
        let mut index: HashMap<i64, usize> = HashMap::new();
        {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT t.id, t.number, t.state, t.vals, t.message, t.started_at, t.completed_at, t.owner, t.heartbeat \
                 FROM trials t WHERE {filter} ORDER BY t.number"
            ))?;
            let mut rows = stmt.query(args)?;
            while let Some(r) = rows.next()? {
                let state: String = r.get(2)?;
                let vals: Option<String> = r.get(3)?;
                let owner: Option<String> = r.get(7)?;
                let t = FrozenTrial {
                    id: r.get(0)?,
                    number: r.get::<_, i64>(1)? as u64,
                    state: TrialState::parse(&state).ok_or_else(|| corrupt("trial state", &state))?,
                    values: vals.map(|v| serde_json::from_str(&v)).transpose().map_err(|e| corrupt("values", e))?,
                    params: Default::default(),
                    intermediate_values: BTreeMap::new(),
                    user_attrs: BTreeMap::new(),
                    system_attrs: BTreeMap::new(),
                    message: r.get(4)?,
                    started_at: r.get(5)?,
                    completed_at: r.get(6)?,
                    owner: owner.map(|o| serde_json::from_str::<Owner>(&o)).transpose().map_err(|e| corrupt("owner", e))?,
                    heartbeat: r.get(8)?,
                };
                index.insert(t.id, trials.len());
                trials.push(t);
            }
        }
        if trials.is_empty() {
            return Ok(trials);
        }
        let sub = format!("SELECT t.id FROM trials t WHERE {filter}");
        {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT trial_id, name, distribution, value FROM trial_params WHERE trial_id IN ({sub}) ORDER BY trial_id, pos"
            ))?;
            let mut rows = stmt.query(args)?;
            while let Some(r) = rows.next()? {
                let Some(&i) = index.get(&r.get::<_, i64>(0)?) else { continue };
                let dist: String = r.get(2)?;
                let distribution: Distribution = serde_json::from_str(&dist).map_err(|e| corrupt("distribution", e))?;
                trials[i].params.insert(r.get(1)?, ParamRecord { distribution, internal: r.get(3)? });
            }
        }
        {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT trial_id, step, value FROM trial_intermediate WHERE trial_id IN ({sub})"
            ))?;
            let mut rows = stmt.query(args)?;
            while let Some(r) = rows.next()? {
                let Some(&i) = index.get(&r.get::<_, i64>(0)?) else { continue };
                let v: Option<f64> = r.get(2)?;
                trials[i].intermediate_values.insert(r.get::<_, i64>(1)? as u64, v.unwrap_or(f64::NAN));
            }
        }
        {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT trial_id, kind, key, value FROM trial_attrs WHERE trial_id IN ({sub})"))?;
            let mut rows = stmt.query(args)?;
            while let Some(r) = rows.next()? {
                let Some(&i) = index.get(&r.get::<_, i64>(0)?) else { continue };
                let kind: String = r.get(1)?;
                let value: String = r.get(3)?;
                let value = serde_json::from_str(&value).map_err(|e| corrupt("trial attribute", e))?;
                let t = &mut trials[i];
                if kind == "user" { &mut t.user_attrs } else { &mut t.system_attrs }.insert(r.get(2)?, value);
            }
        }
        Ok(trials)
    }

    /// Checks that `trial` is running, bumps its study's sequence number and
    /// stamps the trial with it. Returns the trial number.
    fn touch_running(tx: &rusqlite::Transaction, trial: TrialId) -> Result<u64> {
        let row: Option<(i64, i64, String)> = tx
            .query_row("SELECT study_id, number, state FROM trials WHERE id = ?1", [trial], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let (study, number, state) = row.ok_or_else(|| Error::Storage(format!("no trial with id {trial}")))?;
        if state != "running" {
            return Err(Error::TrialFinished { number: number as u64, state });
        }
        let seq = Self::bump(tx, study)?;
        tx.execute("UPDATE trials SET seq = ?1 WHERE id = ?2", params![seq, trial])?;
        Ok(number as u64)
    }

    /// Inserts a new trial with the study's next number (inside `tx`).
    fn insert_trial(tx: &rusqlite::Transaction, study: StudyId, new: &NewTrial) -> Result<FrozenTrial> {
        let state = new.initial_state()?;
        let (seq, number) = Self::next_number(tx, study)?;
        let running = state == TrialState::Running;
        let now = now_unix();
        let owner = if running { new.owner.as_ref().map(json) } else { None };
        tx.execute(
            "INSERT INTO trials (study_id, number, state, started_at, owner, heartbeat, seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6)",
            params![study, number, state.as_str(), running.then_some(now), owner, seq],
        )?;
        let id = tx.last_insert_rowid();
        if let Some(fixed) = &new.fixed_params {
            tx.execute(
                "INSERT INTO trial_attrs (trial_id, kind, key, value) VALUES (?1, 'system', ?2, ?3)",
                params![id, super::FIXED_PARAMS_ATTR, json(fixed)],
            )?;
        }
        for (k, v) in &new.system_attrs {
            tx.execute(
                "INSERT OR REPLACE INTO trial_attrs (trial_id, kind, key, value) VALUES (?1, 'system', ?2, ?3)",
                params![id, k, json(v)],
            )?;
        }
        for (k, v) in &new.user_attrs {
            tx.execute(
                "INSERT OR REPLACE INTO trial_attrs (trial_id, kind, key, value) VALUES (?1, 'user', ?2, ?3)",
                params![id, k, json(v)],
            )?;
        }
        Self::one_trial(tx, id)
    }

    fn bump(tx: &rusqlite::Transaction, study: StudyId) -> Result<i64> {
        let seq = tx
            .query_row("UPDATE studies SET seq = seq + 1, updated_at = ?2 WHERE id = ?1 RETURNING seq", params![study, now_unix()], |r| {
                r.get(0)
            })
            .optional()?;
        seq.ok_or_else(|| Error::Storage(format!("no study with id {study} (was it deleted?)")))
    }

    /// Bumps the sequence number and takes the study's next trial number.
    fn next_number(tx: &rusqlite::Transaction, study: StudyId) -> Result<(i64, i64)> {
        let row = tx
            .query_row(
                "UPDATE studies SET seq = seq + 1, next_number = next_number + 1, updated_at = ?2 WHERE id = ?1 \
                 RETURNING seq, next_number - 1",
                params![study, now_unix()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.ok_or_else(|| Error::Storage(format!("no study with id {study} (was it deleted?)")))
    }

    fn one_trial(conn: &Connection, trial: TrialId) -> Result<FrozenTrial> {
        Self::load_trials(conn, "t.id = ?1", &[&trial])?
            .pop()
            .ok_or_else(|| Error::Storage(format!("no trial with id {trial}")))
    }
}

impl Storage for SqliteStorage {
    fn create_study(&self, name: &str, directions: &[Direction]) -> Result<StudyRecord> {
        self.write(|tx| {
            let exists: i64 = tx.query_row("SELECT count(*) FROM studies WHERE name = ?1", [name], |r| r.get(0))?;
            if exists > 0 {
                return Err(Error::StudyExists(name.to_string()));
            }
            tx.execute(
                "INSERT INTO studies (name, directions, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                params![name, json(&directions), now_unix()],
            )?;
            Self::read_study(tx, "name = ?1", &name)?.ok_or_else(|| Error::Storage("study vanished".into()))
        })
    }

    fn get_study(&self, name: &str) -> Result<Option<StudyRecord>> {
        Self::read_study(&self.conn(), "name = ?1", &name)
    }

    fn list_studies(&self) -> Result<Vec<StudySummary>> {
        let conn = self.conn();
        let ids: Vec<i64> = conn
            .prepare("SELECT id FROM studies ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::new();
        for id in ids {
            let Some(record) = Self::read_study(&conn, "id = ?1", &id)? else { continue };
            let mut stmt = conn.prepare_cached("SELECT state, count(*) FROM trials WHERE study_id = ?1 GROUP BY state")?;
            let mut counts: Vec<(TrialState, u64)> = vec![];
            for row in stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (state, n) = row?;
                let state = TrialState::parse(&state).ok_or_else(|| corrupt(&format!("trial state of study '{}'", record.name), &state))?;
                counts.push((state, n as u64));
            }
            counts.sort();
            let n_trials = counts.iter().map(|c| c.1).sum();
            let last_activity: Option<f64> =
                conn.query_row("SELECT updated_at FROM studies WHERE id = ?1", [id], |r| r.get(0))?;
            out.push(StudySummary { record, n_trials, counts, last_activity });
        }
        Ok(out)
    }

    fn delete_study(&self, name: &str) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute("DELETE FROM studies WHERE name = ?1", [name])?;
            if n == 0 {
                return Err(Error::StudyNotFound(name.to_string()));
            }
            Ok(())
        })
    }

    fn set_study_attr(&self, study: StudyId, kind: AttrKind, key: &str, value: &serde_json::Value) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO study_attrs (study_id, kind, key, value) VALUES (?1, ?2, ?3, ?4)",
                params![study, kind.as_str(), key, json(value)],
            )?;
            Ok(())
        })
    }

    fn create_trial(&self, study: StudyId, new: NewTrial) -> Result<FrozenTrial> {
        self.write(|tx| Self::insert_trial(tx, study, &new))
    }

    fn import_trial(&self, study: StudyId, t: &FrozenTrial) -> Result<FrozenTrial> {
        self.write(|tx| {
            let (seq, number) = Self::next_number(tx, study)?;
            tx.execute(
                "INSERT INTO trials (study_id, number, state, vals, message, started_at, completed_at, owner, heartbeat, seq) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    study,
                    number,
                    t.state.as_str(),
                    t.values.as_ref().map(json),
                    t.message,
                    t.started_at,
                    t.completed_at,
                    t.owner.as_ref().map(json),
                    t.heartbeat,
                    seq
                ],
            )?;
            let id = tx.last_insert_rowid();
            for (pos, (name, p)) in t.params.iter().enumerate() {
                tx.execute(
                    "INSERT INTO trial_params (trial_id, pos, name, distribution, value) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, pos as i64, name, json(&p.distribution), p.internal],
                )?;
            }
            for (step, v) in &t.intermediate_values {
                tx.execute(
                    "INSERT INTO trial_intermediate (trial_id, step, value) VALUES (?1, ?2, ?3)",
                    params![id, *step as i64, (!v.is_nan()).then_some(*v)],
                )?;
            }
            for (kind, attrs) in [("user", &t.user_attrs), ("system", &t.system_attrs)] {
                for (k, v) in attrs {
                    tx.execute(
                        "INSERT INTO trial_attrs (trial_id, kind, key, value) VALUES (?1, ?2, ?3, ?4)",
                        params![id, kind, k, json(v)],
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
            let present: i64 = tx.query_row(
                "SELECT count(*) FROM trial_attrs a JOIN trials t ON t.id = a.trial_id \
                 WHERE t.study_id = ?1 AND a.kind = 'system' AND a.key = ?2 AND a.value = ?3",
                params![study, super::FIXED_PARAMS_ATTR, fixed],
                |r| r.get(0),
            )?;
            if present > 0 {
                return Ok(None);
            }
            Self::insert_trial(tx, study, &new).map(Some)
        })
    }

    fn claim_waiting_trial(&self, study: StudyId, owner: Option<&Owner>) -> Result<Option<FrozenTrial>> {
        self.write(|tx| {
            let id: Option<i64> = tx
                .query_row(
                    "SELECT id FROM trials WHERE study_id = ?1 AND state = 'waiting' ORDER BY number LIMIT 1",
                    [study],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else { return Ok(None) };
            let seq = Self::bump(tx, study)?;
            let now = now_unix();
            tx.execute(
                "UPDATE trials SET state = 'running', started_at = ?1, heartbeat = ?1, owner = ?2, seq = ?3 WHERE id = ?4",
                params![now, owner.map(json), seq, id],
            )?;
            Ok(Some(Self::one_trial(tx, id)?))
        })
    }

    fn set_trial_param(&self, trial: TrialId, name: &str, distribution: &Distribution, internal: f64) -> Result<()> {
        self.write(|tx| {
            Self::touch_running(tx, trial)?;
            tx.execute(
                "INSERT OR REPLACE INTO trial_params (trial_id, pos, name, distribution, value) \
                 VALUES (?1, (SELECT count(*) FROM trial_params WHERE trial_id = ?1), ?2, ?3, ?4)",
                params![trial, name, json(distribution), internal],
            )?;
            Ok(())
        })
    }

    fn set_trial_intermediate(&self, trial: TrialId, step: u64, value: f64) -> Result<()> {
        self.write(|tx| {
            Self::touch_running(tx, trial)?;
            let v = (!value.is_nan()).then_some(value);
            tx.execute(
                "INSERT OR REPLACE INTO trial_intermediate (trial_id, step, value) VALUES (?1, ?2, ?3)",
                params![trial, step as i64, v],
            )?;
            Ok(())
        })
    }

    fn set_trial_attr(&self, trial: TrialId, kind: AttrKind, key: &str, value: &serde_json::Value) -> Result<()> {
        self.write(|tx| {
            Self::touch_running(tx, trial)?;
            tx.execute(
                "INSERT OR REPLACE INTO trial_attrs (trial_id, kind, key, value) VALUES (?1, ?2, ?3, ?4)",
                params![trial, kind.as_str(), key, json(value)],
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
                "UPDATE trials SET state = ?1, vals = ?2, message = ?3, completed_at = ?4 WHERE id = ?5",
                params![state.as_str(), values.map(json), message, now_unix(), trial],
            )?;
            Self::one_trial(tx, trial)
        })
    }

    fn heartbeat(&self, trials: &[TrialId]) -> Result<()> {
        self.write(|tx| {
            let now = now_unix();
            for id in trials {
                tx.execute("UPDATE trials SET heartbeat = ?1 WHERE id = ?2 AND state = 'running'", params![now, id])?;
            }
            Ok(())
        })
    }

    fn get_trial(&self, trial: TrialId) -> Result<FrozenTrial> {
        Self::one_trial(&self.conn(), trial)
    }

    fn get_trial_by_number(&self, study: StudyId, number: u64) -> Result<Option<FrozenTrial>> {
        Ok(Self::load_trials(&self.conn(), "t.study_id = ?1 AND t.number = ?2", &[&study, &(number as i64)])?.pop())
    }

    fn trials_since(&self, study: StudyId, after: u64) -> Result<(Vec<FrozenTrial>, u64)> {
        let mut conn = self.conn();
        // One read transaction, so the trials and the sequence number agree.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let seq: i64 = tx
            .query_row("SELECT seq FROM studies WHERE id = ?1", [study], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::Storage(format!("no study with id {study} (was it deleted?)")))?;
        let trials = Self::load_trials(&tx, "t.study_id = ?1 AND t.seq > ?2", &[&study, &(after as i64)])?;
        tx.commit()?;
        Ok((trials, seq as u64))
    }

    fn check_integrity(&self) -> Result<()> {
        let conn = self.conn();
        let report: rusqlite::Result<Vec<String>> =
            conn.prepare("PRAGMA quick_check").and_then(|mut st| st.query_map([], |r| r.get(0))?.collect());
        match report {
            Ok(lines) if lines.len() == 1 && lines[0] == "ok" => Ok(()),
            Ok(lines) => Err(Error::Storage(format!(
                "the database {} is damaged ({}); restore it from a backup",
                self.path.display(),
                lines.join("; ")
            ))),
            Err(e) => Err(Error::Storage(format!("the database {} is damaged ({e}); restore it from a backup", self.path.display()))),
        }
    }

    fn running_trials(&self, study: StudyId) -> Result<Vec<FrozenTrial>> {
        Self::load_trials(&self.conn(), "t.study_id = ?1 AND t.state = 'running'", &[&study])
    }
}
