//! ferrotune's tables on PostgreSQL, their version, and the migrations
//! between versions. A new database gets version 1 and then every
//! migration, so a fresh database and an upgraded one are the same.

use postgres::Client;

use crate::error::{Error, Result};

/// The version this ferrotune writes; older databases need
/// `ferrotune storage upgrade`, newer ones a newer ferrotune.
pub const SCHEMA_VERSION: i64 = 2;

/// Any value, so concurrent first connections create the schema once.
const SCHEMA_LOCK: i64 = 0x6665_7272_6f74_756e; // "ferrotun"

/// Version 1, as ferrotune 0.1 created it.
const V1: &str = r#"
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

/// `MIGRATIONS[i]` takes version `i + 1` to `i + 2`.
const MIGRATIONS: &[&str] = &[
    // 1 -> 2: every write is one statement (no round trips while the study
    // row is locked), so the next trial number lives on the study row;
    // the last change per study, for study lists; tokens that let a call
    // whose connection was lost find out whether it committed (looked up
    // only then, within the study, so they need no index: an index would
    // cost every change to a trial an entry).
    r#"
    ALTER TABLE studies ADD COLUMN next_number BIGINT NOT NULL DEFAULT 0;
    UPDATE studies s SET next_number = COALESCE((SELECT MAX(number) + 1 FROM trials t WHERE t.study_id = s.id), 0);
    ALTER TABLE studies ADD COLUMN updated_at DOUBLE PRECISION;
    UPDATE studies s SET updated_at = GREATEST(s.created_at,
        (SELECT MAX(GREATEST(t.started_at, t.completed_at, t.heartbeat)) FROM trials t WHERE t.study_id = s.id));
    ALTER TABLE studies ADD COLUMN token TEXT;
    ALTER TABLE trials ADD COLUMN token TEXT;
    ALTER TABLE trials ADD COLUMN claim_token TEXT;
    "#,
];

/// The stored schema version; `None` when the database has no ferrotune tables.
fn stored_version(tx: &mut postgres::Transaction) -> Result<Option<i64>> {
    let has_meta: bool = tx.query_one("SELECT to_regclass('ferrotune_meta') IS NOT NULL", &[])?.get(0);
    if !has_meta {
        return Ok(None);
    }
    let found: Option<String> =
        tx.query_opt("SELECT value FROM ferrotune_meta WHERE key = 'schema_version'", &[])?.map(|r| r.get(0));
    Ok(Some(found.and_then(|v| v.parse::<i64>().ok()).unwrap_or(-1)))
}

fn mismatch(shown: &str, found: i64, url: &str) -> Error {
    Error::SchemaMismatch { location: shown.to_string(), found, expected: SCHEMA_VERSION, upgrade_url: url.to_string() }
}

/// Creates the tables in an empty database, or checks their version.
pub(crate) fn ensure(client: &mut Client, shown: &str) -> Result<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    match stored_version(&mut tx)? {
        Some(v) if v == SCHEMA_VERSION => {}
        Some(v) => return Err(mismatch(shown, v, shown)),
        None => {
            let other: i64 = tx
                .query_one(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename IN ('studies', 'trials')",
                    &[],
                )?
                .get(0);
            if other > 0 {
                return Err(Error::Storage(format!(
                    "{shown} already has tables named studies or trials that are not ferrotune's; use another database or schema"
                )));
            }
            tx.batch_execute(V1)?;
            for m in MIGRATIONS {
                tx.batch_execute(m)?;
            }
            tx.execute(
                "INSERT INTO ferrotune_meta (key, value) VALUES ('schema_version', $1)",
                &[&SCHEMA_VERSION.to_string()],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Checks the version without writing (read-only opens).
pub(crate) fn check(client: &mut Client, shown: &str) -> Result<()> {
    let mut tx = client.build_transaction().read_only(true).start()?;
    match stored_version(&mut tx)? {
        Some(v) if v == SCHEMA_VERSION => Ok(()),
        Some(v) => Err(mismatch(shown, v, shown)),
        None => Err(Error::Storage(format!(
            "{shown} has no ferrotune tables: nothing is stored there yet (check the database name; `ferrotune run` or `ferrotune ask` creates them)"
        ))),
    }
}

/// Migrates the tables to [`SCHEMA_VERSION`] in one transaction; returns
/// the version found. An empty database gets the current tables.
pub(crate) fn upgrade(client: &mut Client, shown: &str) -> Result<i64> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    let found = match stored_version(&mut tx)? {
        None => {
            drop(tx);
            ensure(client, shown)?;
            return Ok(0);
        }
        Some(v) if v > SCHEMA_VERSION => return Err(mismatch(shown, v, shown)),
        Some(v) if v < 1 => {
            return Err(Error::Storage(format!("{shown}: the stored schema version is unreadable; restore a backup")))
        }
        Some(v) => v,
    };
    for m in &MIGRATIONS[(found - 1) as usize..] {
        tx.batch_execute(m)?;
    }
    tx.execute("UPDATE ferrotune_meta SET value = $1 WHERE key = 'schema_version'", &[&SCHEMA_VERSION.to_string()])?;
    tx.commit()?;
    Ok(found)
}
