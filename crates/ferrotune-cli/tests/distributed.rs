//! Many workers on one study (issue 12), end to end through the binary on
//! a real PostgreSQL server: a crowd of workers, a worker killed mid-trial,
//! the server dropping every connection mid-run; and schema upgrades.
//! The PostgreSQL tests need `FERROTUNE_TEST_POSTGRES` (CI sets it); without
//! it they say how to enable them and return.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrotune::{FrozenTrial, TrialState};

/// Every trial of `study` at `url`, straight from storage.
fn stored(url: &str, study: &str) -> Vec<FrozenTrial> {
    let s = ferrotune::storage::open_read_only(url).unwrap();
    let rec = s.get_study(study).unwrap().unwrap();
    s.trials_since(rec.id, 0).unwrap().0
}

/// An objective that reports twice and returns `x` itself, so every stored
/// value can be checked against the trial's own parameter.
const ECHO_X: &str = r#"command = ["printf", "ferrotune: report step=0 value={x}\nferrotune: report step=1 value={x}\nferrotune: value={x}\n"]"#;

/// 16 `ferrotune run` processes share one study's budget of 16 x 1,000
/// trials: numbers dense and unique, every value and intermediate value
/// stored, overshoot at most one trial per worker, and every trial carries
/// its worker's host, pid and heartbeat.
#[test]
fn sixteen_workers_share_sixteen_thousand_trials() {
    let Some(db) = pg_db("crowd") else { return };
    let e = Env::new();
    let (workers, per_worker) = (16usize, 1000usize);
    let budget = workers * per_worker;
    // Random sampling: this is about storage under concurrency; the default
    // (auto, GP-BO first) would spend the test fitting GPs in a debug build.
    let f = study_file(&e, "crowd", "", ECHO_X, &format!("n_trials = {budget}\n[sampler]\ntype = \"random\""));
    let start = Instant::now();
    let children: Vec<_> = (0..workers).map(|_| spawn_worker(&e, &f, &db.url)).collect();
    let pids: std::collections::HashSet<u32> = children.iter().map(|c| c.id()).collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    eprintln!("{budget} trials by {workers} workers in {:.1} s", start.elapsed().as_secs_f64());
    let t = stored(&db.url, "crowd");
    assert!((budget..=budget + workers).contains(&t.len()), "budget {budget}, {workers} workers: {} trials", t.len());
    assert!(t.iter().enumerate().all(|(i, t)| t.number == i as u64), "numbers dense and unique");
    for t in &t {
        assert_eq!(t.state, TrialState::Complete, "trial {}: {:?}", t.number, t.message);
        let x = t.param("x").unwrap().as_f64().unwrap();
        assert_eq!(t.values, Some(vec![x]), "trial {}: the told value", t.number);
        assert_eq!(t.intermediate_values.values().copied().collect::<Vec<_>>(), [x, x], "trial {}", t.number);
        let owner = t.owner.as_ref().expect("an owner");
        assert!(pids.contains(&owner.pid) && !owner.host.is_empty(), "trial {}: {owner:?}", t.number);
        assert!(t.heartbeat.is_some());
    }
    let per: std::collections::HashMap<u32, usize> = t.iter().fold(Default::default(), |mut m, t| {
        *m.entry(t.owner.as_ref().unwrap().pid).or_default() += 1;
        m
    });
    assert_eq!(per.len(), workers, "every worker ran trials: {per:?}");
    // `trials` shows which worker ran each trial.
    let out = e.ft(&["trials", "--study", "crowd", "--storage", &db.url, "--columns", "number,worker", "--format", "csv"]);
    let csv = text(&out.stdout);
    let first = csv.lines().nth(1).unwrap();
    assert!(pids.iter().any(|p| first.ends_with(&format!(":{p}"))), "{first}");
}

/// A worker killed with SIGKILL mid-trial, in another pid namespace (as on
/// another machine: only its heartbeat can tell), is judged dead by a
/// running worker once its grace period has passed; its trial is failed as
/// stale and, with `max_retries`, run again with the same parameters.
#[test]
fn a_killed_worker_is_judged_by_its_heartbeat_and_its_trial_retried() {
    let probe = Command::new("unshare").args(["--pid", "--fork", "--mount-proc", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: `unshare --pid --fork --mount-proc` is not available here (needs root)");
        return;
    }
    let Some(db) = pg_db("killed") else { return };
    let e = Env::new();
    let obj = e.write(
        "obj.sh",
        "#!/bin/sh\nif [ ! -f fast ]; then touch started; sleep 600; fi\nsleep 0.7\necho \"ferrotune: value=$1\"\n",
    );
    std::fs::set_permissions(&obj, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let f = e.write(
        "k.toml",
        r#"
[study]
name = "k"
seed = 3
heartbeat_interval = "1s"
grace_period = "3s"
[budget]
n_trials = 8
max_retries = 1
[objective]
command = ["./obj.sh", "{x}"]
[space.x]
type = "float"
low = -2
high = 2
"#,
    );
    let victim = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", BIN, "run", f.to_str().unwrap(), "--storage", &db.url, "--quiet"])
        .current_dir(e.dir.path())
        .env_remove("FERROTUNE_STORAGE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&e.path("started"), 30);
    // The ferrotune process is unshare's child (pid 1 of its namespace).
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", victim.id())).unwrap();
    let worker: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    assert_eq!(unsafe { libc_kill(worker, 9) }, 0);
    let mut victim = victim;
    victim.wait().unwrap();
    let killed_at = Instant::now();
    let first = stored(&db.url, "k");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].state, TrialState::Running, "nobody has noticed yet");
    e.write("fast", "");
    let out = spawn_worker(&e, &f, &db.url).wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = stored(&db.url, "k");
    let dead = &t[0];
    assert_eq!(dead.state, TrialState::Failed);
    let why = dead.message.as_deref().unwrap();
    assert!(why.contains("no heartbeat") && why.contains("grace period: 3 s"), "{why}");
    assert!(killed_at.elapsed() >= Duration::from_secs(3), "judged only after the grace period");
    let retry = t.iter().find(|t| t.system_attrs.get("retried_from") == Some(&serde_json::json!(0))).expect("a retry");
    assert_eq!(retry.state, TrialState::Complete);
    assert_eq!(retry.param("x"), dead.param("x"), "the same parameters");
    assert_eq!(t.iter().filter(|t| t.state == TrialState::Complete).count(), 8, "the stale trial did not use the budget");
}

/// The server drops every connection again and again while four workers
/// run: they reconnect and finish, and nothing is lost or done twice.
#[test]
fn workers_survive_the_server_dropping_their_connections() {
    let Some(db) = pg_db("dropped") else { return };
    let e = Env::new();
    let budget = 400;
    let f = study_file(&e, "dropped", "", ECHO_X, &format!("n_trials = {budget}\n[sampler]\ntype = \"random\""));
    let children: Vec<_> = (0..4).map(|_| spawn_worker(&e, &f, &db.url)).collect();
    // Let them start, then cut every connection every 200 ms until they finish.
    let start = Instant::now();
    let progress = |url: &str| {
        let s = ferrotune::storage::open_read_only(url).ok()?;
        let rec = s.get_study("dropped").ok()??;
        Some(s.trials_since(rec.id, 0).ok()?.0.len())
    };
    while progress(&db.url).unwrap_or(0) < 20 {
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let (done, url) = (done.clone(), db.url.clone());
        let admin = std::env::var("FERROTUNE_TEST_POSTGRES").unwrap();
        std::thread::spawn(move || {
            let name = url.rsplit('/').next().unwrap().to_string();
            let mut rounds = 0;
            while !done.load(Ordering::SeqCst) {
                let out = Command::new("psql")
                    .args([
                        admin.as_str(),
                        "-qAt",
                        "-c",
                        &format!("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}'"),
                    ])
                    .output()
                    .unwrap();
                if text(&out.stdout).trim().parse::<usize>().unwrap_or(0) > 0 {
                    rounds += 1;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            rounds
        })
    };
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "a worker gave up: {}", text(&out.stderr));
    }
    done.store(true, Ordering::SeqCst);
    let rounds = killer.join().unwrap();
    assert!(rounds >= 3, "the connections were cut {rounds} times only");
    let t = stored(&db.url, "dropped");
    assert!((budget..=budget + 4).contains(&t.len()), "{} trials", t.len());
    assert!(t.iter().enumerate().all(|(i, t)| t.number == i as u64), "numbers dense and unique");
    for t in &t {
        assert_eq!(t.state, TrialState::Complete, "trial {}: {:?}", t.number, t.message);
        let x = t.param("x").unwrap().as_f64().unwrap();
        assert_eq!(t.values, Some(vec![x]));
        assert_eq!(t.intermediate_values.len(), 2, "trial {}", t.number);
    }
}

/// A database of an older release: read commands say how to upgrade it,
/// `ferrotune storage upgrade` does, and a second upgrade is a no-op.
#[test]
fn storage_upgrade_migrates_an_old_database() {
    let e = Env::new();
    let db = e.path("old.db");
    std::fs::copy(repo().join("fixtures/storage/schema-v1.sqlite"), &db).unwrap();
    let url = format!("sqlite:///{}", db.display());
    assert_user_error(
        &e.ft(&["trials", "--study", "v1-study", "--storage", &url]),
        &format!("upgrade it with `ferrotune storage upgrade --storage {url}`"),
    );
    let out = e.ft(&["storage", "upgrade", "--storage", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("from schema version 1 to 2"), "{}", text(&out.stderr));
    let out = e.ft(&["trials", "--study", "v1-study", "--storage", &url, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap().as_array().unwrap().len(), 9);
    let out = e.ft(&["storage", "upgrade", "--storage", &url]);
    assert!(out.status.success() && text(&out.stderr).contains("already at schema version 2"), "{}", text(&out.stderr));
    assert_user_error(&e.ft(&["storage", "upgrade", "--storage", "sqlite:///nope.db"]), "no such database");
}
