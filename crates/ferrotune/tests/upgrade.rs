//! Databases written by older ferrotune releases: refused with the command
//! that upgrades them, upgraded in one transaction, nothing lost. The
//! SQLite file in `fixtures/storage` was written by ferrotune 0.1 (schema
//! version 1); the PostgreSQL dump beside it is tested in the library's
//! PostgreSQL tests.

use ferrotune::storage::{self, SqliteStorage, Storage};
use ferrotune::{ParamValue, TrialState};

fn v1_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/storage/schema-v1.sqlite"), &db).unwrap();
    (dir, db)
}

#[test]
fn a_version_1_sqlite_database_is_upgraded_intact() {
    let (_dir, db) = v1_copy();
    let url = format!("sqlite:///{}", db.display());
    let digest = |p: &std::path::Path| {
        let b = std::fs::read(p).unwrap();
        (b.len(), b.iter().fold(0u64, |h, x| h.wrapping_mul(31).wrapping_add(*x as u64)))
    };
    let before = digest(&db);
    for e in [SqliteStorage::open(&db).unwrap_err(), SqliteStorage::open_read_only(&db).unwrap_err()] {
        let e = e.to_string();
        assert!(e.contains("schema version 1, older") && e.contains(&format!("ferrotune storage upgrade --storage {url}")), "{e}");
    }
    assert!(digest(&db) == before, "refusing an old database wrote to it");
    assert_eq!(storage::upgrade(&url).unwrap(), (1, 2));
    assert_eq!(storage::upgrade(&url).unwrap(), (2, 2), "a second upgrade does nothing");
    let s = SqliteStorage::open(&db).unwrap();
    let st = s.get_study("v1-study").unwrap().unwrap();
    let (trials, _) = s.trials_since(st.id, 0).unwrap();
    assert_eq!(trials.iter().map(|t| t.number).collect::<Vec<_>>(), (0..9).collect::<Vec<_>>());
    let first = &trials[0];
    assert_eq!(first.state, TrialState::Complete);
    assert_eq!(first.param("x"), Some(ParamValue::Float(0.123456789012345)));
    assert_eq!(first.param("act"), Some(ParamValue::Str("relu".into())));
    assert_eq!(first.intermediate_values.len(), 3);
    assert!(first.values.is_some() && first.owner.is_some());
    assert_eq!(trials.iter().filter(|t| t.state == TrialState::Failed).count(), 6);
    assert_eq!(trials[8].state, TrialState::Running);
    let list = s.list_studies().unwrap();
    let last = list[0].last_activity.unwrap();
    assert!(last >= trials[7].completed_at.unwrap(), "the last change is carried over");
    let next = s.create_trial(st.id, Default::default()).unwrap();
    assert_eq!(next.number, 9, "numbering continues");
}

#[test]
fn upgrading_what_is_not_a_ferrotune_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let e = storage::upgrade(&format!("sqlite:///{}", dir.path().join("missing.db").display())).unwrap_err().to_string();
    assert!(e.contains("no such database"), "{e}");
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE x (a)").unwrap();
    let e = storage::upgrade(&format!("sqlite:///{}", other.display())).unwrap_err().to_string();
    assert!(e.contains("not a ferrotune database"), "{e}");
}
