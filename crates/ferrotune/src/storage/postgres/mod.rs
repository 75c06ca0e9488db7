//! PostgreSQL storage: one study shared by workers on many machines.
//!
//! The same guarantees as `sqlite.rs`, under any number of connections:
//!
//! * **One statement per change.** Every change on the hot path (a new
//!   trial, a parameter, an intermediate value, an attribute, a result) is
//!   a single SQL statement that first bumps its study's sequence number
//!   (`UPDATE studies SET seq = seq + 1 ...`). That row lock serialises the
//!   writers of one study for the few microseconds the statement runs, so
//!   changes commit in sequence order and a reader that asks for "changes
//!   after N" never misses one. The next trial number is kept on the study
//!   row (`next_number`), so numbers are dense and unique.
//! * **Compare-and-set.** A change to a trial updates it `WHERE state =
//!   'running'`; PostgreSQL re-checks that condition on the newest row
//!   version, so a trial finished by someone else is never changed again.
//!   An enqueued trial is claimed with `FOR UPDATE SKIP LOCKED`.
//! * **Reads** are one statement too (a consistent snapshot), returning
//!   trials with their parameters, intermediate values and attributes as
//!   arrays: one round trip for any number of trials.
//! * **Lost connections** (a restarted server, a failover, a killed
//!   backend) are retried on a new connection with backoff for up to
//!   `reconnect_timeout` (URL option, default 120 s). A call whose
//!   connection broke may or may not have committed; the calls that would
//!   do harm twice (a new trial, a claim, a study, an import) carry a random
//!   token, and the retry first looks for it; finishing a trial that is
//!   already finished exactly as asked counts as done.
//!
//! The driver is the synchronous `postgres` crate (rust-postgres), with a
//! small pool of connections (one per concurrent caller) and statements
//! prepared once per connection. TLS goes through rustls with libpq's
//! `sslmode` meanings (`tls.rs`). Durability: see [`connection::Durability`].

mod connection;
mod schema;
mod tls;

pub(crate) use connection::redact;
pub use connection::DEFAULT_RECONNECT_TIMEOUT;
pub use schema::SCHEMA_VERSION;

use postgres::Row;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use self::connection::{is_transient, transient, Conn, Durability, Target};
use super::{check_finished, corrupt, json, AttrKind, NewTrial, Storage, StudyId, StudyRecord, StudySummary, TrialId};
use crate::direction::Direction;
use crate::distribution::Distribution;
use crate::error::{Error, Result};
use crate::trial::{now_unix, FrozenTrial, Owner, ParamRecord, TrialState};

/// A study database on a PostgreSQL server.
pub struct PostgresStorage {
    target: Target,
    /// Idle connections by [`Durability::pool`]; a caller takes one (or
    /// opens one) and gives it back.
    pool: Mutex<[Vec<Conn>; 2]>,
    /// Tests: the next call that succeeds acts as if its acknowledgement
    /// was lost (the connection broke after the commit), so it is retried.
    #[cfg(test)]
    lose_next_ack: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").field("url", &self.target.shown).finish()
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        let message = if e.is_closed() || transient(&e) {
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

/// The columns of a full trial (see [`trial_from_row`]), from `trials t`
/// and three lateral joins that gather its children as arrays.
macro_rules! trials_query {
    ($lead:literal, $from:literal, $cond:literal) => {
        concat!(
            "SELECT ",
            $lead,
            "t.id, t.number, t.state, t.vals, t.message, t.started_at, t.completed_at, t.owner, t.heartbeat, ",
            "p.names, p.dists, p.vals, i.steps, i.vals, a.kinds, a.keys, a.vals FROM ",
            $from,
            " LEFT JOIN LATERAL (SELECT array_agg(name ORDER BY pos) AS names, array_agg(distribution ORDER BY pos) AS dists, ",
            "array_agg(value ORDER BY pos) AS vals FROM trial_params WHERE trial_id = t.id) p ON true",
            " LEFT JOIN LATERAL (SELECT array_agg(step ORDER BY step) AS steps, array_agg(value ORDER BY step) AS vals ",
            "FROM trial_intermediate WHERE trial_id = t.id) i ON true",
            " LEFT JOIN LATERAL (SELECT array_agg(kind ORDER BY kind, key) AS kinds, array_agg(key ORDER BY kind, key) AS keys, ",
            "array_agg(value ORDER BY kind, key) AS vals FROM trial_attrs WHERE trial_id = t.id) a ON true",
            " WHERE ",
            $cond,
            " ORDER BY t.number"
        )
    };
}

const TRIAL_BY_ID: &str = trials_query!("", "trials t", "t.id = $1");
const TRIAL_BY_NUMBER: &str = trials_query!("", "trials t", "t.study_id = $1 AND t.number = $2");
const TRIAL_BY_TOKEN: &str = trials_query!("", "trials t", "t.study_id = $1 AND t.token = $2");
const TRIAL_BY_CLAIM: &str = trials_query!("", "trials t", "t.study_id = $1 AND t.claim_token = $2");
const RUNNING_TRIALS: &str = trials_query!("", "trials t", "t.study_id = $1 AND t.state = 'running'");
/// The study's sequence number and the trials changed after `$2`, in one
/// snapshot (a study with no such trial gives one row of NULL trial columns).
const TRIALS_SINCE: &str =
    trials_query!("s.seq, ", "studies s LEFT JOIN trials t ON t.study_id = s.id AND t.seq > $2", "s.id = $1");

macro_rules! study_query {
    ($cond:literal) => {
        concat!(
            "SELECT s.id, s.name, s.directions, s.created_at, s.updated_at, s.token, a.kinds, a.keys, a.vals, c.states, c.counts ",
            "FROM studies s ",
            "LEFT JOIN LATERAL (SELECT array_agg(kind ORDER BY kind, key) AS kinds, array_agg(key ORDER BY kind, key) AS keys, ",
            "array_agg(value ORDER BY kind, key) AS vals FROM study_attrs WHERE study_id = s.id) a ON true ",
            "LEFT JOIN LATERAL (SELECT array_agg(state ORDER BY state) AS states, array_agg(n ORDER BY state) AS counts ",
            "FROM (SELECT state, count(*) AS n FROM trials WHERE study_id = s.id GROUP BY state) x) c ON true ",
            "WHERE ",
            $cond,
            " ORDER BY s.id"
        )
    };
}
const STUDY_BY_NAME: &str = study_query!("s.name = $1");
const ALL_STUDIES: &str = study_query!("true");

/// A new trial with the study's next number, its attributes in the same statement.
const CREATE_TRIAL: &str = "WITH s AS (\
        UPDATE studies SET seq = seq + 1, next_number = next_number + 1, updated_at = $6 \
        WHERE id = $1 RETURNING id, seq, next_number - 1 AS number), \
    ins AS (INSERT INTO trials (study_id, number, state, started_at, owner, heartbeat, seq, token) \
        SELECT s.id, s.number, $2, $3, $4, $3, s.seq, $5 FROM s RETURNING id, number), \
    att AS (INSERT INTO trial_attrs (trial_id, kind, key, value) \
        SELECT ins.id, x.kind, x.key, x.value FROM ins, unnest($7::text[], $8::text[], $9::text[]) AS x(kind, key, value)) \
    SELECT id, number FROM ins";

const CLAIM: &str = "WITH c AS (\
        SELECT id FROM trials WHERE study_id = $1 AND state = 'waiting' ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED), \
    s AS (UPDATE studies SET seq = seq + 1, updated_at = $2 WHERE id = $1 AND EXISTS (SELECT 1 FROM c) RETURNING seq) \
    UPDATE trials t SET state = 'running', started_at = $2, heartbeat = $2, owner = $3, seq = s.seq, claim_token = $4 \
    FROM s, c WHERE t.id = c.id RETURNING t.id";

/// The part every change to a running trial shares: lock the study row and
/// bump its sequence number, then stamp the trial, if it is still running.
macro_rules! touch_running {
    ($rest:literal) => {
        concat!(
            "WITH s AS (UPDATE studies SET seq = seq + 1, updated_at = $2 ",
            "WHERE id = (SELECT study_id FROM trials WHERE id = $1 AND state = 'running') RETURNING seq), ",
            "t AS (UPDATE trials SET seq = s.seq FROM s WHERE trials.id = $1 AND trials.state = 'running' RETURNING trials.id) ",
            $rest
        )
    };
}
const SET_PARAM: &str = touch_running!(
    "INSERT INTO trial_params (trial_id, pos, name, distribution, value) \
     SELECT t.id, (SELECT count(*) FROM trial_params WHERE trial_id = $1)::INTEGER, $3, $4, $5 FROM t \
     ON CONFLICT (trial_id, name) DO UPDATE SET distribution = EXCLUDED.distribution, value = EXCLUDED.value \
     RETURNING trial_id"
);
/// An intermediate value: the hot path of a study (one per epoch per
/// trial), so it does not take the study row's lock or bump the sequence
/// number. A share lock on the running trial orders it against the trial's
/// end (a finished trial gets no more values); readers see the value when
/// the trial next changes (a parameter, an attribute, its end), and
/// `running_trials` reads it fresh.
const SET_INTERMEDIATE: &str = "INSERT INTO trial_intermediate (trial_id, step, value) \
    SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM trials WHERE id = $1 AND state = 'running' FOR SHARE) \
    ON CONFLICT (trial_id, step) DO UPDATE SET value = EXCLUDED.value RETURNING trial_id";
const SET_ATTR: &str = touch_running!(
    "INSERT INTO trial_attrs (trial_id, kind, key, value) SELECT t.id, $3, $4, $5 FROM t \
     ON CONFLICT (trial_id, kind, key) DO UPDATE SET value = EXCLUDED.value RETURNING trial_id"
);
/// Finishes a running trial and returns it whole (its row from RETURNING,
/// its children from the statement's snapshot, which this statement did
/// not change).
const FINISH: &str = concat!(
    "WITH s AS (UPDATE studies SET seq = seq + 1, updated_at = $2 ",
    "WHERE id = (SELECT study_id FROM trials WHERE id = $1 AND state = 'running') RETURNING seq), ",
    "u AS (UPDATE trials SET state = $3, vals = $4, message = $5, completed_at = $2, seq = s.seq ",
    "FROM s WHERE trials.id = $1 AND trials.state = 'running' RETURNING trials.*) ",
    trials_query!("", "u t", "true")
);

/// A random token for a call that must not happen twice.
fn token() -> String {
    format!("{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>())
}

/// Reads a trial whose columns start at `at` (see [`trials_query`]);
/// `None` when they are NULL (no trial in this row).
fn trial_from_row(r: &Row, at: usize) -> Result<Option<FrozenTrial>> {
    let Some(id) = r.get::<_, Option<i64>>(at) else { return Ok(None) };
    let state: String = r.get(at + 2);
    let vals: Option<String> = r.get(at + 3);
    let owner: Option<String> = r.get(at + 7);
    let mut t = FrozenTrial {
        id,
        number: r.get::<_, i64>(at + 1) as u64,
        state: TrialState::parse(&state).ok_or_else(|| corrupt("trial state", &state))?,
        values: vals.map(|v| serde_json::from_str(&v)).transpose().map_err(|e| corrupt("values", e))?,
        params: Default::default(),
        intermediate_values: BTreeMap::new(),
        user_attrs: BTreeMap::new(),
        system_attrs: BTreeMap::new(),
        message: r.get(at + 4),
        started_at: r.get(at + 5),
        completed_at: r.get(at + 6),
        owner: owner.map(|o| serde_json::from_str::<Owner>(&o)).transpose().map_err(|e| corrupt("owner", e))?,
        heartbeat: r.get(at + 8),
    };
    let names: Vec<String> = r.get::<_, Option<_>>(at + 9).unwrap_or_default();
    let dists: Vec<String> = r.get::<_, Option<_>>(at + 10).unwrap_or_default();
    let pvals: Vec<f64> = r.get::<_, Option<_>>(at + 11).unwrap_or_default();
    for ((name, dist), v) in names.into_iter().zip(dists).zip(pvals) {
        let distribution: Distribution = serde_json::from_str(&dist).map_err(|e| corrupt("distribution", e))?;
        t.params.insert(name, ParamRecord { distribution, internal: v });
    }
    let steps: Vec<i64> = r.get::<_, Option<_>>(at + 12).unwrap_or_default();
    let ivals: Vec<Option<f64>> = r.get::<_, Option<_>>(at + 13).unwrap_or_default();
    for (s, v) in steps.into_iter().zip(ivals) {
        t.intermediate_values.insert(s as u64, v.unwrap_or(f64::NAN));
    }
    read_attrs(r, at + 14, &mut t.user_attrs, &mut t.system_attrs, "trial attribute")?;
    Ok(Some(t))
}

/// Three parallel arrays (kinds, keys, JSON values) into the two maps.
fn read_attrs(
    r: &Row,
    at: usize,
    user: &mut BTreeMap<String, serde_json::Value>,
    system: &mut BTreeMap<String, serde_json::Value>,
    what: &str,
) -> Result<()> {
    let kinds: Vec<String> = r.get::<_, Option<_>>(at).unwrap_or_default();
    let keys: Vec<String> = r.get::<_, Option<_>>(at + 1).unwrap_or_default();
    let vals: Vec<String> = r.get::<_, Option<_>>(at + 2).unwrap_or_default();
    for ((kind, key), v) in kinds.into_iter().zip(keys).zip(vals) {
        let value = serde_json::from_str(&v).map_err(|e| corrupt(what, e))?;
        if kind == "user" { &mut *user } else { &mut *system }.insert(key, value);
    }
    Ok(())
}

/// A study row of [`study_query`] with its trial counts.
fn study_from_row(r: &Row) -> Result<(StudySummary, Option<String>)> {
    let dirs: String = r.get(2);
    let directions: Vec<Direction> = serde_json::from_str(&dirs).map_err(|e| corrupt("directions", e))?;
    let mut record = StudyRecord {
        id: r.get(0),
        name: r.get(1),
        directions,
        user_attrs: BTreeMap::new(),
        system_attrs: BTreeMap::new(),
        created_at: r.get(3),
    };
    read_attrs(r, 6, &mut record.user_attrs, &mut record.system_attrs, "study attribute")?;
    let states: Vec<String> = r.get::<_, Option<_>>(9).unwrap_or_default();
    let ns: Vec<i64> = r.get::<_, Option<_>>(10).unwrap_or_default();
    let mut counts = vec![];
    for (s, n) in states.into_iter().zip(ns) {
        let state = TrialState::parse(&s).ok_or_else(|| corrupt(&format!("trial state of study '{}'", record.name), &s))?;
        counts.push((state, n as u64));
    }
    counts.sort();
    let n_trials = counts.iter().map(|c| c.1).sum();
    let last_activity: Option<f64> = r.get(4);
    Ok((StudySummary { record, n_trials, counts, last_activity }, r.get(5)))
}

/// Attributes by (kind, key).
type AttrMap = BTreeMap<(String, String), serde_json::Value>;

/// The attributes of a new trial as three arrays (kinds, keys, JSON
/// values) and as a map, later keys winning (fixed parameters, then
/// system, then user attributes).
fn new_attrs(new: &NewTrial) -> (Vec<String>, Vec<String>, Vec<String>, AttrMap) {
    let mut all: AttrMap = BTreeMap::new();
    if let Some(fixed) = &new.fixed_params {
        all.insert(("system".into(), super::FIXED_PARAMS_ATTR.into()), serde_json::to_value(fixed).expect("params serialize"));
    }
    for (kind, attrs) in [("system", &new.system_attrs), ("user", &new.user_attrs)] {
        for (k, v) in attrs {
            all.insert((kind.to_string(), k.clone()), v.clone());
        }
    }
    let (mut kinds, mut keys, mut vals) = (vec![], vec![], vec![]);
    for ((kind, key), v) in &all {
        kinds.push(kind.clone());
        keys.push(key.clone());
        vals.push(json(v));
    }
    (kinds, keys, vals, all)
}

impl PostgresStorage {
    /// Connects to `url` (`postgresql://user[:password]@host[:port]/db`; driver
    /// options such as `?sslmode=` and `?connect_timeout=` pass through, and
    /// `?reconnect_timeout=` sets how long a lost connection is retried) and
    /// creates ferrotune's tables in an empty database, or checks their version.
    pub fn open(url: &str) -> Result<Self> {
        Self::open_with(url, false)
    }

    /// Connects for reading only: the sessions refuse every write, and a
    /// database without ferrotune's tables is an error (nothing is created).
    pub fn open_read_only(url: &str) -> Result<Self> {
        Self::open_with(url, true)
    }

    fn open_with(url: &str, read_only: bool) -> Result<Self> {
        let target = Target::parse(url, read_only)?;
        // A server that cannot be reached at all is an error at once (a typo
        // in the URL should not wait); a connection lost after it was made
        // (a restart, a terminated backend) is retried as any call is.
        let start = Instant::now();
        let conn = loop {
            let mut conn = target.connect(Durability::Transaction).map_err(|e| connect_error(&target, e))?;
            let checked = if read_only {
                schema::check(&mut conn.client, &target.shown)
            } else {
                schema::ensure(&mut conn.client, &target.shown)
            };
            match checked {
                Ok(()) => break conn,
                Err(e) if is_transient(&e) && start.elapsed() < target.reconnect_timeout => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        };
        Ok(PostgresStorage {
            target,
            pool: Mutex::new([vec![conn], vec![]]),
            #[cfg(test)]
            lose_next_ack: Default::default(),
        })
    }

    /// Migrates the database at `url` to this ferrotune's schema version
    /// (`ferrotune storage upgrade`); returns the version it had (0: none,
    /// the tables were created).
    pub fn upgrade(url: &str) -> Result<i64> {
        let target = Target::parse(url, false)?;
        let mut conn = target.connect(Durability::Transaction).map_err(|e| connect_error(&target, e))?;
        schema::upgrade(&mut conn.client, &target.shown)
    }

    /// Runs `f` on a pooled connection. When the connection turns out to be
    /// lost, every pooled connection is dropped and `f` runs again on a new
    /// one, with backoff, until [`Target::reconnect_timeout`]; `f` is told
    /// (`retry = true`) that an earlier attempt may have committed.
    fn call<T>(&self, durability: Durability, mut f: impl FnMut(&mut Conn, bool) -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(20);
        let mut retry = false;
        loop {
            let kind = durability.pool();
            let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner())[kind].pop();
            let e = match pooled.map(Ok).unwrap_or_else(|| self.target.connect(durability)) {
                Err(e) if transient(&e) => Error::from(e),
                Err(e) => return Err(connect_error(&self.target, e)),
                Ok(mut conn) => match f(&mut conn, retry).and_then(|out| {
                    if durability == Durability::Flushed {
                        conn.flush()?;
                    }
                    Ok(out)
                }) {
                    Err(e) if is_transient(&e) => {
                        retry = true;
                        e
                    }
                    #[cfg(test)]
                    Ok(_) if self.lose_next_ack.swap(false, std::sync::atomic::Ordering::SeqCst) => {
                        retry = true;
                        Error::Storage("(test) acknowledgement lost".into())
                    }
                    r => {
                        if !conn.client.is_closed() {
                            self.pool.lock().unwrap_or_else(|e| e.into_inner())[kind].push(conn);
                        }
                        return r;
                    }
                },
            };
            // The server went away: the other pooled connections are gone too.
            *self.pool.lock().unwrap_or_else(|e| e.into_inner()) = [vec![], vec![]];
            if start.elapsed() + delay > self.target.reconnect_timeout {
                return Err(self.gave_up(e, start.elapsed()));
            }
            let jitter = Duration::from_micros(rand::random::<u64>() % (delay.as_micros() as u64 / 2 + 1));
            std::thread::sleep(delay + jitter);
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    fn gave_up(&self, e: Error, waited: Duration) -> Error {
        let source: Box<dyn std::error::Error + Send + Sync> = match e {
            Error::Database { source, .. } => source,
            other => Box::new(other),
        };
        Error::Database {
            message: format!(
                "lost the connection to PostgreSQL at {} and could not get it back in {:.0} s; this change was not stored \
                 (or its outcome is unknown), everything stored before it is intact. Run again to continue the study; \
                 to wait longer for the server, add ?reconnect_timeout=10m (for example) to the storage URL",
                self.target.shown,
                waited.as_secs_f64()
            ),
            source,
        }
    }

    /// Runs `f` in one transaction on a pooled connection (with retries, see [`Self::call`]).
    fn transaction<T>(&self, f: impl Fn(&mut postgres::Transaction<'_>, bool) -> Result<T>) -> Result<T> {
        self.call(Durability::Transaction, |conn, retry| {
            let mut tx = conn.client.transaction()?;
            let out = f(&mut tx, retry)?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn load_one(conn: &mut Conn, sql: &'static str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<Option<FrozenTrial>> {
        match conn.query(sql, params)?.first() {
            Some(r) => trial_from_row(r, 0),
            None => Ok(None),
        }
    }

    fn trial_by_id(conn: &mut Conn, trial: TrialId) -> Result<FrozenTrial> {
        Self::load_one(conn, TRIAL_BY_ID, &[&trial])?.ok_or_else(|| Error::Storage(format!("no trial with id {trial}")))
    }

    /// Why a change to `trial` touched nothing: it is not running, or gone.
    fn not_running(conn: &mut Conn, trial: TrialId) -> Error {
        let row = conn.client.query_opt("SELECT number, state FROM trials WHERE id = $1", &[&trial]);
        match row {
            Ok(Some(r)) => Error::TrialFinished { number: r.get::<_, i64>(0) as u64, state: r.get(1) },
            Ok(None) => Error::Storage(format!("no trial with id {trial}")),
            Err(e) => e.into(),
        }
    }

    /// Runs one of the `touch_running` statements on trial `$1`.
    fn touch(&self, sql: &'static str, trial: TrialId, rest: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<()> {
        self.call(Durability::Fast, |conn, _| {
            let now = now_unix();
            let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&trial, &now];
            params.extend_from_slice(rest);
            if conn.query(sql, &params)?.is_empty() {
                return Err(Self::not_running(conn, trial));
            }
            Ok(())
        })
    }

    fn create_trial_with(
        c: &mut impl postgres::GenericClient,
        st: &postgres::Statement,
        study: StudyId,
        new: &NewTrial,
        tok: &str,
    ) -> Result<FrozenTrial> {
        let state = new.initial_state()?;
        let running = state == TrialState::Running;
        let now = now_unix();
        let started = running.then_some(now);
        let owner = if running { new.owner.as_ref().map(json) } else { None };
        let (kinds, keys, vals, attrs) = new_attrs(new);
        let rows = c.query(st, &[&study, &state.as_str(), &started, &owner, &tok, &now, &kinds, &keys, &vals])?;
        let r = rows.first().ok_or_else(|| Error::Storage(format!("no study with id {study} (was it deleted?)")))?;
        let mut t = FrozenTrial {
            id: r.get(0),
            number: r.get::<_, i64>(1) as u64,
            state,
            values: None,
            params: Default::default(),
            intermediate_values: BTreeMap::new(),
            user_attrs: BTreeMap::new(),
            system_attrs: BTreeMap::new(),
            message: None,
            started_at: started,
            completed_at: None,
            owner: if running { new.owner.clone() } else { None },
            heartbeat: started,
        };
        for ((kind, key), v) in attrs {
            if kind == "user" { &mut t.user_attrs } else { &mut t.system_attrs }.insert(key, v);
        }
        Ok(t)
    }
}

fn connect_error(target: &Target, e: postgres::Error) -> Error {
    Error::Database {
        message: format!(
            "cannot connect to PostgreSQL at {}; check that the server runs, the URL's host, port, database and user \
             (and, for TLS, sslmode and sslrootcert)",
            target.shown
        ),
        source: Box::new(e),
    }
}

impl Storage for PostgresStorage {
    fn create_study(&self, name: &str, directions: &[Direction]) -> Result<StudyRecord> {
        let tok = token();
        self.call(Durability::Transaction, |conn, retry| {
            let now = now_unix();
            let inserted = conn.client.execute(
                "INSERT INTO studies (name, directions, created_at, updated_at, token) VALUES ($1, $2, $3, $3, $4) \
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &json(&directions), &now, &tok],
            )?;
            let row = conn.query(STUDY_BY_NAME, &[&name])?;
            let (summary, stored_token) = match row.first() {
                Some(r) => study_from_row(r)?,
                None => return Err(Error::Storage("study vanished".into())),
            };
            if inserted == 0 && !(retry && stored_token.as_deref() == Some(tok.as_str())) {
                return Err(Error::StudyExists(name.to_string()));
            }
            Ok(summary.record)
        })
    }

    fn get_study(&self, name: &str) -> Result<Option<StudyRecord>> {
        self.call(Durability::Fast, |conn, _| match conn.query(STUDY_BY_NAME, &[&name])?.first() {
            Some(r) => Ok(Some(study_from_row(r)?.0.record)),
            None => Ok(None),
        })
    }

    fn list_studies(&self) -> Result<Vec<StudySummary>> {
        self.call(Durability::Fast, |conn, _| {
            conn.query(ALL_STUDIES, &[])?.iter().map(|r| study_from_row(r).map(|s| s.0)).collect()
        })
    }

    fn delete_study(&self, name: &str) -> Result<()> {
        self.call(Durability::Transaction, |conn, retry| {
            if conn.client.execute("DELETE FROM studies WHERE name = $1", &[&name])? == 0 && !retry {
                return Err(Error::StudyNotFound(name.to_string()));
            }
            Ok(())
        })
    }

    fn set_study_attr(&self, study: StudyId, kind: AttrKind, key: &str, value: &serde_json::Value) -> Result<()> {
        let v = json(value);
        self.call(Durability::Transaction, |conn, _| {
            conn.query(
                "INSERT INTO study_attrs (study_id, kind, key, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (study_id, kind, key) DO UPDATE SET value = EXCLUDED.value RETURNING study_id",
                &[&study, &kind.as_str(), &key, &v],
            )?;
            Ok(())
        })
    }

    fn create_trial(&self, study: StudyId, new: NewTrial) -> Result<FrozenTrial> {
        let tok = token();
        self.call(Durability::Flushed, |conn, retry| {
            if retry {
                if let Some(t) = Self::load_one(conn, TRIAL_BY_TOKEN, &[&study, &tok])? {
                    return Ok(t);
                }
            }
            let st = conn.statement(CREATE_TRIAL)?;
            Self::create_trial_with(&mut conn.client, &st, study, &new, &tok)
        })
    }

    fn import_trial(&self, study: StudyId, t: &FrozenTrial) -> Result<FrozenTrial> {
        let tok = token();
        self.transaction(|tx, retry| {
            if retry {
                if let Some(id) = tx.query_opt("SELECT id FROM trials WHERE study_id = $1 AND token = $2", &[&study, &tok])? {
                    let id: i64 = id.get(0);
                    return Self::load_in(tx, id);
                }
            }
            let row = tx
                .query_opt(
                    "UPDATE studies SET seq = seq + 1, next_number = next_number + 1, updated_at = $2 \
                     WHERE id = $1 RETURNING seq, next_number - 1",
                    &[&study, &now_unix()],
                )?
                .ok_or_else(|| Error::Storage(format!("no study with id {study} (was it deleted?)")))?;
            let (seq, number): (i64, i64) = (row.get(0), row.get(1));
            let id: i64 = tx
                .query_one(
                    "INSERT INTO trials (study_id, number, state, vals, message, started_at, completed_at, owner, heartbeat, seq, token) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
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
                        &tok,
                    ],
                )?
                .get(0);
            let names: Vec<&str> = t.params.keys().map(String::as_str).collect();
            let dists: Vec<String> = t.params.values().map(|p| json(&p.distribution)).collect();
            let values: Vec<f64> = t.params.values().map(|p| p.internal).collect();
            tx.execute(
                "INSERT INTO trial_params (trial_id, pos, name, distribution, value) \
                 SELECT $1, (x.ord - 1)::INTEGER, x.name, x.dist, x.value \
                 FROM unnest($2::text[], $3::text[], $4::float8[]) WITH ORDINALITY AS x(name, dist, value, ord)",
                &[&id, &names, &dists, &values],
            )?;
            let steps: Vec<i64> = t.intermediate_values.keys().map(|s| *s as i64).collect();
            let ivals: Vec<Option<f64>> = t.intermediate_values.values().map(|v| (!v.is_nan()).then_some(*v)).collect();
            tx.execute(
                "INSERT INTO trial_intermediate (trial_id, step, value) SELECT $1, x.step, x.value \
                 FROM unnest($2::int8[], $3::float8[]) AS x(step, value)",
                &[&id, &steps, &ivals],
            )?;
            let (mut kinds, mut keys, mut vals) = (vec![], vec![], vec![]);
            for (kind, attrs) in [("user", &t.user_attrs), ("system", &t.system_attrs)] {
                for (k, v) in attrs {
                    kinds.push(kind);
                    keys.push(k.as_str());
                    vals.push(json(v));
                }
            }
            tx.execute(
                "INSERT INTO trial_attrs (trial_id, kind, key, value) SELECT $1, x.kind, x.key, x.value \
                 FROM unnest($2::text[], $3::text[], $4::text[]) AS x(kind, key, value)",
                &[&id, &kinds, &keys, &vals],
            )?;
            Self::load_in(tx, id)
        })
    }

    fn enqueue_once(&self, study: StudyId, new: NewTrial) -> Result<Option<FrozenTrial>> {
        let fixed = new.fixed_params.as_ref().map(json);
        let new = NewTrial { state: Some(TrialState::Waiting), ..new };
        let tok = token();
        self.call(Durability::Transaction, |conn, retry| {
            let st = conn.statement(CREATE_TRIAL)?;
            let mut tx = conn.client.transaction()?;
            // The study lock first, so two workers cannot both see "absent".
            if tx.execute("SELECT 1 FROM studies WHERE id = $1 FOR UPDATE", &[&study])? == 0 {
                return Err(Error::Storage(format!("no study with id {study} (was it deleted?)")));
            }
            if retry {
                if let Some(r) = tx.query_opt("SELECT id FROM trials WHERE study_id = $1 AND token = $2", &[&study, &tok])? {
                    let t = Self::load_in(&mut tx, r.get(0))?;
                    tx.commit()?;
                    return Ok(Some(t));
                }
            }
            let present: i64 = tx
                .query_one(
                    "SELECT count(*) FROM trial_attrs a JOIN trials t ON t.id = a.trial_id \
                     WHERE t.study_id = $1 AND a.kind = 'system' AND a.key = $2 AND a.value = $3",
                    &[&study, &super::FIXED_PARAMS_ATTR, &fixed],
                )?
                .get(0);
            let out = if present > 0 { None } else { Some(Self::create_trial_with(&mut tx, &st, study, &new, &tok)?) };
            tx.commit()?;
            Ok(out)
        })
    }

    fn claim_waiting_trial(&self, study: StudyId, owner: Option<&Owner>) -> Result<Option<FrozenTrial>> {
        let tok = token();
        let owner = owner.map(json);
        self.call(Durability::Fast, |conn, retry| {
            if retry {
                if let Some(t) = Self::load_one(conn, TRIAL_BY_CLAIM, &[&study, &tok])? {
                    return Ok(Some(t));
                }
            }
            let now = now_unix();
            let Some(r) = conn.query(CLAIM, &[&study, &now, &owner, &tok])?.into_iter().next() else { return Ok(None) };
            conn.flush()?; // a claim, like a new trial, is durable when it returns
            Self::trial_by_id(conn, r.get(0)).map(Some)
        })
    }

    fn set_trial_param(&self, trial: TrialId, name: &str, distribution: &Distribution, internal: f64) -> Result<()> {
        let dist = json(distribution);
        self.touch(SET_PARAM, trial, &[&name, &dist, &internal])
    }

    fn set_trial_intermediate(&self, trial: TrialId, step: u64, value: f64) -> Result<()> {
        let v = (!value.is_nan()).then_some(value);
        let step = step as i64;
        self.call(Durability::Fast, |conn, _| {
            if conn.query(SET_INTERMEDIATE, &[&trial, &step, &v])?.is_empty() {
                return Err(Self::not_running(conn, trial));
            }
            Ok(())
        })
    }

    fn set_trial_attr(&self, trial: TrialId, kind: AttrKind, key: &str, value: &serde_json::Value) -> Result<()> {
        let v = json(value);
        self.touch(SET_ATTR, trial, &[&kind.as_str(), &key, &v])
    }

    fn finish_trial(
        &self,
        trial: TrialId,
        state: TrialState,
        values: Option<&[f64]>,
        message: Option<&str>,
    ) -> Result<FrozenTrial> {
        check_finished(state)?;
        let vals = values.map(json);
        self.call(Durability::Flushed, |conn, retry| {
            let now = now_unix();
            let rows = conn.query(FINISH, &[&trial, &now, &state.as_str(), &vals, &message])?;
            if let Some(t) = rows.first().map(|r| trial_from_row(r, 0)).transpose()?.flatten() {
                return Ok(t);
            }
            // A lost acknowledgement: finished by us exactly as asked.
            if retry {
                let t = Self::trial_by_id(conn, trial)?;
                if t.state == state && t.values.as_ref().map(json) == vals && t.message.as_deref() == message {
                    return Ok(t);
                }
            }
            Err(Self::not_running(conn, trial))
        })
    }

    fn heartbeat(&self, trials: &[TrialId]) -> Result<()> {
        self.call(Durability::Fast, |conn, _| {
            conn.query(
                "UPDATE trials SET heartbeat = $1 WHERE id = ANY($2) AND state = 'running' RETURNING id",
                &[&now_unix(), &trials],
            )?;
            Ok(())
        })
    }

    fn get_trial(&self, trial: TrialId) -> Result<FrozenTrial> {
        self.call(Durability::Fast, |conn, _| Self::trial_by_id(conn, trial))
    }

    fn get_trial_by_number(&self, study: StudyId, number: u64) -> Result<Option<FrozenTrial>> {
        let n = number as i64;
        self.call(Durability::Fast, |conn, _| Self::load_one(conn, TRIAL_BY_NUMBER, &[&study, &n]))
    }

    fn trials_since(&self, study: StudyId, after: u64) -> Result<(Vec<FrozenTrial>, u64)> {
        let after = after as i64;
        self.call(Durability::Fast, |conn, _| {
            let rows = conn.query(TRIALS_SINCE, &[&study, &after])?;
            let first = rows.first().ok_or_else(|| Error::Storage(format!("no study with id {study} (was it deleted?)")))?;
            let seq: i64 = first.get(0);
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                if let Some(t) = trial_from_row(r, 1)? {
                    out.push(t);
                }
            }
            Ok((out, seq as u64))
        })
    }

    fn running_trials(&self, study: StudyId) -> Result<Vec<FrozenTrial>> {
        self.call(Durability::Fast, |conn, _| {
            conn.query(RUNNING_TRIALS, &[&study])?.iter().filter_map(|r| trial_from_row(r, 0).transpose()).collect()
        })
    }
}

impl PostgresStorage {
    fn load_in(tx: &mut impl postgres::GenericClient, id: i64) -> Result<FrozenTrial> {
        let rows = tx.query(TRIAL_BY_ID, &[&id])?;
        match rows.first() {
            Some(r) => trial_from_row(r, 0)?.ok_or_else(|| Error::Storage(format!("no trial with id {id}"))),
            None => Err(Error::Storage(format!("no trial with id {id}"))),
        }
    }
}

#[cfg(test)]
pub(crate) mod testdb;
#[cfg(test)]
mod tests;
