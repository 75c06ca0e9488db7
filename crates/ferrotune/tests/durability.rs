//! Crash safety and multi-process sharing of SQLite studies, with real
//! processes: this test binary re-runs itself as the worker.

use ferrotune::samplers::RandomSampler;
use ferrotune::storage::{SqliteStorage, Storage};
use ferrotune::{ObjectiveError, Optimize, Study, Trial, TrialState};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROLE: &str = "FERROTUNE_TEST_WORKER";

fn objective(sleep_ms: u64) -> impl Fn(&mut Trial) -> Result<f64, ObjectiveError> + Sync {
    move |t: &mut Trial| {
        let x = t.suggest_float("x", -10.0, 10.0).sample()?;
        for step in 0..3 {
            t.report(step, x * x + step as f64)?;
            std::thread::sleep(Duration::from_millis(sleep_ms));
        }
        Ok(x * x)
    }
}

fn open(db: &Path, seed: u64) -> Study {
    Study::builder("shared")
        .storage(Arc::new(SqliteStorage::open(db).unwrap()))
        .sampler(RandomSampler::new(Some(seed)))
        .load_or_create()
        .unwrap()
}

/// The worker process: does nothing in a normal test run.
#[test]
fn worker_entry_point() {
    let Ok(spec) = std::env::var(ROLE) else { return };
    let parts: Vec<&str> = spec.split(';').collect();
    let (db, trials, sleep_ms) = (parts[0], parts[1].parse().unwrap(), parts[2].parse().unwrap());
    let study = open(Path::new(db), 11);
    study.optimize(objective(sleep_ms), Optimize::trials(trials)).unwrap();
}

fn spawn_worker(db: &Path, trials: usize, sleep_ms: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "worker_entry_point", "--test-threads=1", "--quiet"])
        .env(ROLE, format!("{};{trials};{sleep_ms}", db.display()))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kill_dash_nine_loses_nothing_told_and_the_study_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let mut child = spawn_worker(&db, 10_000, 40);
    let watcher = SqliteStorage::open(&db).unwrap();
    let counts = |s: &SqliteStorage| {
        let Some(st) = s.get_study("shared").unwrap() else { return (0, 0) };
        let (all, _) = s.trials_since(st.id, 0).unwrap();
        let done = all.iter().filter(|t| t.state == TrialState::Complete).count();
        let running_with_report =
            all.iter().filter(|t| t.state == TrialState::Running && !t.intermediate_values.is_empty()).count();
        (done, running_with_report)
    };
    wait_until("5 complete trials and one mid-way", || {
        let (done, running) = counts(&watcher);
        done >= 5 && running == 1
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let before = {
        let st = watcher.get_study("shared").unwrap().unwrap();
        watcher.trials_since(st.id, 0).unwrap().0
    };
    let complete: Vec<_> = before.iter().filter(|t| t.state == TrialState::Complete).cloned().collect();
    assert!(complete.len() >= 5);
    for t in &complete {
        let x = t.param("x").unwrap().as_f64().unwrap();
        assert_eq!(t.values, Some(vec![x * x]), "told values survive intact");
        assert_eq!(t.intermediate_values.len(), 3);
    }
    let dead = before.iter().find(|t| t.state == TrialState::Running).expect("the killed worker's trial").clone();

    // Resume: the dead worker's trial is marked failed (stale); numbering continues.
    let study = open(&db, 11);
    let stale = study.trial(dead.number).unwrap();
    assert_eq!(stale.state, TrialState::Failed);
    assert!(stale.message.as_deref().unwrap().starts_with("stale: its worker (pid"), "{:?}", stale.message);
    assert!(!stale.intermediate_values.is_empty(), "its reports are kept");
    study.optimize(objective(0), Optimize::trials(4)).unwrap();
    let after = study.trials().unwrap();
    assert_eq!(after.len(), before.len() + 4);
    assert_eq!(after.iter().map(|t| t.number).collect::<Vec<_>>(), (0..after.len() as u64).collect::<Vec<_>>());
    for t in &complete {
        assert_eq!(**after.iter().find(|a| a.number == t.number).unwrap(), *t, "nothing told was changed");
    }
    // The sampler continues the seeded sequence as if nothing had happened.
    let reference = Study::builder("ref").sampler(RandomSampler::new(Some(11))).create().unwrap();
    reference.optimize(objective(0), Optimize::trials(after.len())).unwrap();
    let reference = reference.trials().unwrap();
    for t in after.iter().filter(|t| t.number > dead.number) {
        assert_eq!(t.param("x"), reference[t.number as usize].param("x"));
    }
}

#[test]
fn two_processes_share_one_sqlite_study() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let study = open(&db, 11);
    for i in 0..6 {
        study.enqueue_trial([("x", i as f64)]).unwrap();
    }
    let mut a = spawn_worker(&db, 15, 5);
    let mut b = spawn_worker(&db, 15, 5);
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let trials = study.trials().unwrap();
    assert_eq!(trials.len(), 30);
    assert_eq!(trials.iter().map(|t| t.number).collect::<Vec<_>>(), (0..30).collect::<Vec<_>>());
    assert!(trials.iter().all(|t| t.state == TrialState::Complete));
    // Each enqueued trial ran exactly once, as the first six.
    let mut xs: Vec<f64> = trials.iter().take(6).map(|t| t.param("x").unwrap().as_f64().unwrap()).collect();
    xs.sort_by(f64::total_cmp);
    assert_eq!(xs, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let owners: std::collections::HashSet<u32> = trials.iter().filter_map(|t| t.owner.as_ref().map(|o| o.pid)).collect();
    assert_eq!(owners.len(), 2, "both processes ran trials");
}

#[test]
fn a_schema_mismatch_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    drop(SqliteStorage::open(&db).unwrap());
    set_schema_version(&db, "99");
    let e = SqliteStorage::open(&db).unwrap_err().to_string();
    assert!(e.contains("schema version 99") && e.contains("newer ferrotune"), "{e}");
    let other = dir.path().join("other.db");
    std::fs::write(&other, b"this is not a database at all, just text that is long enough").unwrap();
    let e = SqliteStorage::open(&other).unwrap_err().to_string();
    assert!(e.contains("other.db"), "{e}");
    let e = SqliteStorage::open(dir.path().join("missing/dir/x.db")).unwrap_err().to_string();
    assert!(e.contains("does not exist"), "{e}");
}

/// Simulates a database written by another ferrotune release.
fn set_schema_version(db: &Path, version: &str) {
    let c = rusqlite::Connection::open(db).unwrap();
    let n = c.execute("UPDATE ferrotune_meta SET value = ?1 WHERE key = 'schema_version'", [version]).unwrap();
    assert_eq!(n, 1);
}

/// Workers started together all open the same new database: setting it up
/// (WAL mode, schema) races, and every one of them must get in, not fail
/// with "database is locked" (seen in CI with two `ferrotune run`s).
#[test]
fn workers_opening_a_new_database_at_once_all_get_in() {
    for round in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new.db");
        let barrier = Arc::new(std::sync::Barrier::new(6));
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    SqliteStorage::open(&db).map(|_| ()).map_err(|e| e.to_string())
                })
            })
            .collect();
        for h in handles {
            let r = h.join().unwrap();
            assert!(r.is_ok(), "round {round}: {r:?}");
        }
    }
}
