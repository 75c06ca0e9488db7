//! Faults and bad input, end to end (issue 10): each test names the item it
//! guards. `docs/reliability.md` lists them by class.

mod common;

use common::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SPACE: &str = r#"{"x": {"type": "float", "low": -5, "high": 10}}"#;

fn run_file(e: &Env, f: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", f.to_str().unwrap()];
    args.extend_from_slice(extra);
    e.fts(&args)
}

fn executable(e: &Env, name: &str, text: &str) -> std::path::PathBuf {
    let p = e.write(name, text);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// §2.1: one byte that is not UTF-8 on stdout killed a good trial (SIGPIPE).
#[test]
fn output_that_is_not_utf8_is_ignored_and_the_trial_completes() {
    let e = Env::new();
    executable(&e, "obj.sh", "#!/bin/sh\nprintf 'caf\\351\\n'\nhead -c 300000 /dev/urandom\necho\necho ferrotune: value=1\n");
    let f = study_file(&e, "u", "", "command = [\"./obj.sh\"]", "n_trials = 2");
    let out = run_file(&e, &f, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = e.trials("u");
    assert!(t.iter().all(|t| t["state"] == "complete" && t["values"] == serde_json::json!([1.0])), "{t:?}");
}

/// §2.2: a grandchild holding the pipes kept a trial past its timeout.
#[test]
fn a_trial_ends_at_its_timeout_even_when_a_grandchild_holds_the_pipes() {
    let e = Env::new();
    // Finishes at once but leaves a background child holding stderr.
    executable(&e, "bg.sh", "#!/bin/sh\necho ferrotune: value=1\nsleep 30 >/dev/null &\n");
    // Finishes at once but leaves a grandchild printing forever.
    executable(&e, "chatty.sh", "#!/bin/sh\necho ferrotune: value=2\n(while true; do echo noise; sleep 0.01; done) &\n");
    // Runs past the timeout, with a grandchild in its own session.
    executable(&e, "slow.sh", "#!/bin/sh\nsetsid sleep 30 &\nsleep 30\n");
    let f = study_file(&e, "bg", "", "command = [\"./bg.sh\"]\ntimeout = 2", "n_trials = 1");
    let start = Instant::now();
    let out = run_file(&e, &f, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
    assert_eq!(e.trials("bg")[0]["state"], "complete");
    let f = study_file(&e, "chatty", "", "command = [\"./chatty.sh\"]", "n_trials = 1");
    let start = Instant::now();
    let out = run_file(&e, &f, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
    assert_eq!(e.trials("chatty")[0]["values"], serde_json::json!([2.0]));
    let f = study_file(&e, "slow", "", "command = [\"./slow.sh\"]\ntimeout = 2", "n_trials = 1");
    let start = Instant::now();
    let out = run_file(&e, &f, &[]);
    assert!(start.elapsed() < Duration::from_secs(12), "took {:?}", start.elapsed());
    assert!(!out.status.success());
    let t = e.trials("slow");
    assert!(t[0]["message"].as_str().unwrap().contains("timed out after 2 s"), "{t:?}");
}

/// §2.3: `kill -9` of `ferrotune run` left the training processes running.
#[test]
fn killing_ferrotune_kills_its_trials_programs() {
    let e = Env::new();
    // A shell that starts the "training" as a grandchild and waits for it.
    executable(&e, "train.sh", "#!/bin/sh\nsleep 300 &\necho $! > grandchild\nwait\n");
    let f = study_file(&e, "orphan", "", "command = [\"./train.sh\"]", "n_trials = 1");
    let mut child = e.spawn_run(&f, &["--quiet"], &[]);
    wait_for(&e.path("grandchild"), 20);
    std::thread::sleep(Duration::from_millis(200));
    let pid = std::fs::read_to_string(e.path("grandchild")).unwrap();
    assert!(!process_gone(&pid));
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    assert!(wait_gone(&pid, 10), "the trial's grandchild {pid} outlived ferrotune");
}

/// §2.3: a second Ctrl-C while the objective ignores SIGTERM left it running.
#[test]
fn a_second_ctrl_c_kills_the_programs_before_exiting() {
    let e = Env::new();
    executable(&e, "stubborn.sh", "#!/bin/sh\ntrap '' TERM INT\necho $$ > pid\nwhile true; do sleep 1; done\n");
    let f = study_file(&e, "stub", "", "command = [\"./stubborn.sh\"]", "n_trials = 1");
    let mut child = e.spawn_run(&f, &[], &[]);
    wait_for(&e.path("pid"), 20);
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc_kill(child.id() as i32, 2) };
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc_kill(child.id() as i32, 2) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let pid = std::fs::read_to_string(e.path("pid")).unwrap();
    assert!(wait_gone(&pid, 10), "the objective {pid} survived the second Ctrl-C");
}

/// §2.4: a command that cannot start burned the budget and `run` exited 0.
#[test]
fn commands_that_cannot_start_are_refused_before_any_trial() {
    let e = Env::new();
    e.write("noexec.sh", "#!/bin/sh\necho ferrotune: value=1\n");
    executable(&e, "noshebang.py", "print('ferrotune: value=1')\n");
    for (cmd, needle) in [
        ("command = [\"./noexec.sh\"]", "is not executable"),
        ("command = [\"./noshebang.py\"]", "#! line"),
        ("command = [\"true\"]\nworkdir = \"gone\"", "workdir"),
    ] {
        let f = study_file(&e, "ns", "", cmd, "n_trials = 3");
        let out = run_file(&e, &f, &[]);
        assert_user_error(&out, needle);
        assert!(!text(&out.stderr).contains("/bin/sh"), "{}", text(&out.stderr));
    }
    assert!(!e.path("t.db").exists(), "refused before anything was stored");
    // Every trial of the run failing is an error, not success.
    let f = study_file(&e, "allfail", "", "command = [\"false\"]", "n_trials = 2");
    let out = run_file(&e, &f, &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error: every trial of this run failed (2)") && err.contains("exited with code 1"), "{err}");
    assert!(err.contains("ferrotune logs --study allfail --trial 0"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// §2.5: `value=0.5 (accuracy)` was accepted.
#[test]
fn a_malformed_protocol_line_fails_the_trial_quoting_it() {
    let e = Env::new();
    executable(&e, "obj.sh", "#!/bin/sh\necho 'ferrotune: value=0.5 (accuracy)'\n");
    let f = study_file(&e, "m", "", "command = [\"./obj.sh\"]", "n_trials = 1");
    run_file(&e, &f, &[]);
    let t = e.trials("m");
    assert_eq!(t[0]["state"], "failed");
    assert!(t[0]["message"].as_str().unwrap().contains("'ferrotune: value=0.5 (accuracy)'"), "{t:?}");
}

/// §2.6: parameters named like placeholders, or mapping to one variable.
#[test]
fn reserved_and_colliding_parameter_names_are_refused_at_load() {
    let e = Env::new();
    let f = study_file(&e, "r", "[space.trial]\ntype = \"int\"\nlow = 0\nhigh = 3", "command = [\"true\"]", "n_trials = 1");
    assert_user_error(&run_file(&e, &f, &[]), "parameter 'trial' has a reserved name");
    let f = study_file(
        &e,
        "c",
        "[space.a-b]\ntype = \"int\"\nlow = 0\nhigh = 3\n[space.a_b]\ntype = \"int\"\nlow = 0\nhigh = 3",
        "command = [\"true\"]",
        "n_trials = 1",
    );
    assert_user_error(&run_file(&e, &f, &[]), "would both be passed as $FERROTUNE_PARAM_A_B");
}

/// §2.7: a huge line without a newline was buffered whole.
#[test]
fn a_huge_line_is_drained_without_being_kept_and_the_trial_completes() {
    let e = Env::new();
    // 200 MB on one line, then a pause to measure ferrotune's peak memory.
    executable(
        &e,
        "obj.sh",
        "#!/bin/sh\nhead -c 200000000 /dev/zero | tr '\\0' x\necho\ntouch printed\nsleep 1\necho ferrotune: value=3\n",
    );
    let f = study_file(&e, "h", "", "command = [\"./obj.sh\"]", "n_trials = 1");
    let child = e.spawn_run(&f, &["--quiet"], &[]);
    wait_for(&e.path("printed"), 60);
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(e.trials("h")[0]["values"], serde_json::json!([3.0]));
    assert!(peak_kb < 120_000, "ferrotune's peak memory was {peak_kb} kB while a 200 MB line went by");
    // The trial's log keeps at most 100 MiB, and says where it stopped.
    let log = e.path("t.db.logs/h/trial-0.log");
    let len = std::fs::metadata(&log).unwrap().len();
    assert!(len > 100 << 20 && len < (100 << 20) + 200, "{len}");
}

/// §2.8: parameter files leaked in the temporary directory after kill -9.
#[test]
fn parameter_files_of_dead_runs_are_swept() {
    let e = Env::new();
    let tmp = e.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    executable(&e, "obj.sh", "#!/bin/sh\ndirname \"$FERROTUNE_PARAMS_FILE\" > dir\nsleep 300\n");
    let f = study_file(&e, "p", "", "command = [\"./obj.sh\"]", "n_trials = 1");
    let mut child = e.spawn_run(&f, &["--quiet"], &[("TMPDIR", tmp.as_path())]);
    wait_for(&e.path("dir"), 20);
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let dir = std::fs::read_to_string(e.path("dir")).unwrap();
    let dir = std::path::PathBuf::from(dir.trim());
    assert!(dir.starts_with(&tmp) && dir.is_dir(), "{}", dir.display());
    // The next run removes the dead run's directory, and leaves none itself.
    executable(&e, "obj.sh", "#!/bin/sh\necho ferrotune: value=1\n");
    let out = e.spawn_run(&f, &["--quiet", "--n-trials", "2"], &[("TMPDIR", tmp.as_path())]).wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!dir.exists(), "the dead run's directory was not swept");
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().filter(|d| d.path().read_dir().unwrap().next().is_some()).collect();
    assert!(left.is_empty(), "files left: {left:?}");
}

/// Found by the issue-12 tests running side by side: a `ferrotune run` in
/// another pid namespace sharing the temporary directory saw a live
/// worker's pid as dead and removed its parameter files mid-study.
#[test]
fn a_run_in_another_pid_namespace_never_sweeps_a_live_runs_files() {
    let probe = Command::new("unshare").args(["--pid", "--fork", "--mount-proc", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: `unshare --pid --fork --mount-proc` is not available here (needs root)");
        return;
    }
    let e = Env::new();
    let tmp = e.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    executable(&e, "obj.sh", "#!/bin/sh
dirname \"$FERROTUNE_PARAMS_FILE\" > dir\nwhile [ ! -f release ]; do sleep 0.1; done\ncat \"$FERROTUNE_PARAMS_FILE\" > /dev/null && echo ferrotune: value=1\n");
    let f = study_file(&e, "live", "", "command = [\"./obj.sh\"]", "n_trials = 1");
    let child = e.spawn_run(&f, &["--quiet"], &[("TMPDIR", tmp.as_path())]);
    wait_for(&e.path("dir"), 20);
    // The file exists as soon as the shell opens it; wait for its line.
    let start = std::time::Instant::now();
    let mut line = String::new();
    while !line.ends_with('\n') && start.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(20));
        line = std::fs::read_to_string(e.path("dir")).unwrap();
    }
    let dir = std::path::PathBuf::from(line.trim());
    assert!(dir.is_dir(), "the objective reported its parameter directory: {line:?}");
    executable(&e, "other.sh", "#!/bin/sh\necho ferrotune: value=2\n");
    let g = study_file(&e, "other", "", "command = [\"./other.sh\"]", "n_trials = 1");
    let s = e.storage();
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", BIN, "run", g.to_str().unwrap(), "--storage", &s, "--quiet"])
        .current_dir(e.dir.path())
        .env("TMPDIR", &tmp)
        .env_remove("FERROTUNE_STORAGE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.is_dir(), "a run in another pid namespace removed the live run's directory {}", dir.display());
    e.write("release", "");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(e.trials("live")[0]["state"], "complete");
}

/// §3.1: a reader in another pid namespace judged live workers dead, and
/// read commands wrote to the database.
#[test]
fn another_pid_namespace_neither_writes_nor_kills_live_trials() {
    let probe = Command::new("unshare").args(["--pid", "--fork", "--mount-proc", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: `unshare --pid --fork --mount-proc` is not available here (needs root)");
        return;
    }
    let e = Env::new();
    executable(&e, "obj.sh", "#!/bin/sh\ntouch started\nwhile [ ! -f release ]; do sleep 0.1; done\necho ferrotune: value=2\n");
    let f = study_file(&e, "ns", "", "command = [\"./obj.sh\"]", "n_trials = 1");
    let s = e.storage();
    let child = e.spawn_run(&f, &["--quiet"], &[]);
    wait_for(&e.path("started"), 20);
    let db = e.path("t.db");
    let before = std::fs::read(&db).unwrap();
    for args in [vec!["trials", "--study", "ns"], vec!["studies"], vec!["best", "--study", "ns"]] {
        let mut cmd = vec!["--pid", "--fork", "--mount-proc", BIN];
        cmd.extend(args.iter().copied());
        cmd.extend(["--storage", s.as_str()]);
        Command::new("unshare").args(&cmd).current_dir(e.dir.path()).output().unwrap();
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "a read command changed the database");
    // A writer in another pid namespace (an `ask`) opens the study too.
    e.write("space.json", r#"{"x": {"type": "float", "low": -2, "high": 2}}"#);
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", BIN, "ask", "--study", "ns", "--space", "space.json", "--storage", &s])
        .current_dir(e.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(e.trials("ns")[0]["state"], "running", "the live trial was judged dead from another pid space");
    e.write("release", "");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = e.trials("ns");
    assert_eq!(t[0]["state"], "complete");
    assert_eq!(t[0]["values"], serde_json::json!([2.0]));
}

/// §3.2: trials from `ask` that were never told held the budget forever.
#[test]
fn an_asked_trial_past_its_lease_is_stale_and_frees_the_budget() {
    let e = Env::new();
    e.write("space.json", r#"{"x": {"type": "float", "low": -2, "high": 2}}"#);
    let out = e.fts(&["ask", "--study", "l", "--space", "space.json", "--lease", "1s"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(1500));
    let f = study_file(&e, "l", "", "command = [\"python3\", \"-c\", \"print('ferrotune: value=1')\"]", "n_trials = 2");
    let out = run_file(&e, &f, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = e.trials("l");
    assert_eq!(t[0]["state"], "failed");
    assert!(t[0]["message"].as_str().unwrap().contains("never told"), "{t:?}");
    assert_eq!(t.iter().filter(|t| t["state"] == "complete").count(), 2, "the stale trial did not count: {t:?}");
}

/// §3.3: a changed search space was silently accepted.
#[test]
fn a_changed_space_is_an_error_unless_allowed() {
    let e = Env::new();
    let ok = "command = [\"python3\", \"-c\", \"print('ferrotune: value=1')\"]";
    let f = study_file(&e, "sp", "", ok, "n_trials = 1");
    assert!(run_file(&e, &f, &[]).status.success());
    let f2 = e.write("sp.toml", &std::fs::read_to_string(&f).unwrap().replace("type = \"float\"\nlow = -2\nhigh = 2", "type = \"int\"\nlow = 100\nhigh = 200"));
    let out = run_file(&e, &f2, &["--n-trials", "2"]);
    assert_user_error(&out, "'x' was float [-2, 2], now int [100, 200]");
    assert!(text(&out.stderr).contains("--allow-space-change"));
    let out = run_file(&e, &f2, &["--n-trials", "2", "--allow-space-change"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    e.write("space.json", r#"{"y": {"type": "float", "low": 0, "high": 1}}"#);
    assert_user_error(&e.fts(&["ask", "--study", "sp", "--space", "space.json"]), "'y' (float [0, 1]) is new");
}

/// §3.4: enqueued trials ran twice under concurrent starts, were lost when
/// their worker died, and bad `[[enqueue]]` entries were accepted.
#[test]
fn enqueued_trials_run_once_are_retried_when_their_worker_dies_and_are_checked() {
    let e = Env::new();
    let ok = "command = [\"python3\", \"-c\", \"print('ferrotune: value=1')\"]";
    let enq = "[[enqueue]]\nx = 0.5\n";
    for round in 0..3 {
        let name = format!("q{round}");
        let f = e.write(&format!("{name}.toml"), &format!("{}{enq}", std::fs::read_to_string(study_file(&e, &name, "", ok, "n_trials = 8")).unwrap()));
        let children: Vec<_> = (0..8).map(|_| e.spawn_run(&f, &["--quiet"], &[])).collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
        let t = e.trials(&name);
        let enqueued = t.iter().filter(|t| t["params"]["x"] == serde_json::json!(0.5)).count();
        assert_eq!(enqueued, 1, "round {round}: the enqueued trial ran {enqueued} times");
    }
    // kill -9 while the enqueued trial runs: the next run retries it.
    executable(&e, "obj.sh", "#!/bin/sh\nif [ \"$FERROTUNE_PARAM_X\" = 0.5 ] && [ ! -f once ]; then touch once; sleep 300; fi\necho ferrotune: value=1\n");
    let f = e.write("k.toml", &format!("{}{enq}", std::fs::read_to_string(study_file(&e, "k", "", "command = [\"./obj.sh\"]", "n_trials = 2")).unwrap()));
    let mut child = e.spawn_run(&f, &["--quiet"], &[]);
    wait_for(&e.path("once"), 20);
    child.kill().unwrap();
    child.wait().unwrap();
    let out = run_file(&e, &f, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = e.trials("k");
    assert_eq!(t[0]["state"], "failed");
    assert!(t[0]["message"].as_str().unwrap().starts_with("stale"), "{t:?}");
    let retried: Vec<&Value> = t.iter().filter(|t| t["params"]["x"] == serde_json::json!(0.5) && t["state"] == "complete").collect();
    assert_eq!(retried.len(), 1, "{t:?}");
    // Unknown keys and out-of-range values are errors at load.
    let bad = e.write("b.toml", &format!("{}[[enqueue]]\nz = 1\n", std::fs::read_to_string(study_file(&e, "b", "", ok, "n_trials = 1")).unwrap()));
    assert_user_error(&run_file(&e, &bad, &[]), "'z' is not a parameter of [space]");
    let bad = e.write("b.toml", &format!("{}[[enqueue]]\nx = 9.0\n", std::fs::read_to_string(study_file(&e, "b", "", ok, "n_trials = 1")).unwrap()));
    assert_user_error(&run_file(&e, &bad, &[]), "outside");
}

/// §3.5: FERROTUNE_STORAGE silently overrode the file's storage.
#[test]
fn the_file_storage_beats_the_environment_and_the_flag_beats_both() {
    let e = Env::new();
    let f = e.write(
        "s.toml",
        "[study]\nname = \"s\"\nstorage = \"sqlite:///file.db\"\n[budget]\nn_trials = 1\n[objective]\ncommand = [\"python3\", \"-c\", \"print('ferrotune: value=1')\"]\n[space.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n",
    );
    let out = Command::new(BIN).args(["run", f.to_str().unwrap()]).env("FERROTUNE_STORAGE", "sqlite:///env.db").current_dir(e.dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(e.path("file.db").exists() && !e.path("env.db").exists());
    assert!(text(&out.stderr).contains("FERROTUNE_STORAGE (sqlite:///env.db) is ignored"), "{}", text(&out.stderr));
    let out = Command::new(BIN)
        .args(["run", f.to_str().unwrap(), "--storage", "sqlite:///flag.db"])
        .env("FERROTUNE_STORAGE", "sqlite:///env.db")
        .current_dir(e.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(e.path("flag.db").exists() && !e.path("env.db").exists());
    // The end of a run says where the trials are and how to list them.
    assert!(text(&out.stderr).contains("ferrotune trials --study s --storage sqlite:///flag.db"), "{}", text(&out.stderr));
}

/// §3.6: a damaged database gave misleading messages; unknown states vanished.
#[test]
fn a_damaged_database_is_named_as_such() {
    let e = Env::new();
    e.write("space.json", SPACE);
    for i in 0..40 {
        e.fts(&["ask", "--study", "d", "--space", "space.json"]);
        e.fts(&["tell", "--study", "d", "--trial", &i.to_string(), "--value", "1"]);
    }
    let db = e.path("t.db");
    let conn = rusqlite_free_update(&db, "UPDATE trials SET state = 'exploded' WHERE number = 3");
    assert!(conn, "sqlite3 not available");
    assert_user_error(&e.fts(&["studies"]), "'exploded'");
    assert_user_error(&e.fts(&["trials", "--study", "d"]), "damaged");
    // Overwrite the middle of the file: reads name the damage.
    let mut bytes = std::fs::read(&db).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n / 3..n / 3 + 8192] {
        *b = 0xAB;
    }
    std::fs::write(&db, &bytes).unwrap();
    let out = e.fts(&["trials", "--study", "d"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("damaged") || text(&out.stderr).contains("malformed"), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"));

    // Truncated while a client holds an asked trial: telling it names the
    // damage instead of "has no trial number".
    let e = Env::new();
    e.write("space.json", SPACE);
    for _ in 0..200 {
        e.fts(&["ask", "--study", "tr", "--space", "space.json"]);
    }
    let db = e.path("t.db");
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&db).unwrap().set_len(len / 2).unwrap();
    let out = e.fts(&["tell", "--study", "tr", "--trial", "199", "--value", "1"]);
    let err = text(&out.stderr);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains("damaged") || err.contains("malformed"), "{err}");
}

/// Edits an SQLite file with Python's sqlite3 (the tests have no SQLite of
/// their own): `true` when it worked.
fn rusqlite_free_update(db: &std::path::Path, sql: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import sqlite3; c = sqlite3.connect({:?}); c.execute({sql:?}); c.commit()", db.to_str().unwrap())])
        .status()
        .is_ok_and(|s| s.success())
}

/// §4: panics on a closed pipe, a full disk, huge numbers; exit codes.
#[test]
fn closed_pipes_full_disks_and_huge_numbers_end_cleanly() {
    let e = Env::new();
    e.write("space.json", SPACE);
    for i in 0..30 {
        e.fts(&["ask", "--study", "p", "--space", "space.json"]);
        e.fts(&["tell", "--study", "p", "--trial", &i.to_string(), "--value", "1"]);
    }
    for args in [vec!["trials", "--study", "p"], vec!["studies"], vec!["trials", "--study", "p", "--format", "csv"]] {
        let s = e.storage();
        let mut cmd = Command::new(BIN);
        cmd.args(&args).args(["--storage", &s]).current_dir(e.dir.path()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        drop(child.stdout.take()); // the reader goes away, like `| head -0`
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
    }
    // ask > /dev/full: an error, and the trial is not left running.
    let s = e.storage();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Command::new(BIN)
        .args(["ask", "--study", "p", "--space", "space.json", "--storage", &s])
        .current_dir(e.dir.path())
        .stdout(full)
        .output()
        .unwrap();
    assert_user_error(&out, "No space left on device");
    let t = e.trials("p");
    assert_eq!(t.last().unwrap()["state"], "failed");
    assert!(t.iter().all(|t| t["state"] != "running"));
    // Huge budgets and job counts.
    let f = study_file(&e, "big", "", "command = [\"true\"]\ntimeout = 1e300", "n_trials = 1");
    assert_user_error(&e.fts(&["run", f.to_str().unwrap()]), "[objective] timeout is longer than a year");
    let f = study_file(&e, "big", "", "command = [\"true\"]", "timeout = 1e20");
    assert_user_error(&e.fts(&["run", f.to_str().unwrap()]), "[budget] timeout is longer than a year");
    let f = study_file(&e, "big", "", "command = [\"true\"]", "n_trials = 1\nn_jobs = 100000");
    assert_user_error(&e.fts(&["run", f.to_str().unwrap()]), "n_jobs = 100000 is more than 1024");
    let f = study_file(&e, "big", "", "command = [\"true\"]", "n_trials = 1");
    let out = e.fts(&["run", f.to_str().unwrap(), "--n-jobs", "100000"]);
    assert_user_error(&out, "--n-jobs must be between 1 and 1024");
    assert_eq!(out.status.code(), Some(2));
    // tell: usage mistakes exit 2; NaN is not a result and leaves the trial running.
    let out = e.fts(&["ask", "--study", "p", "--space", "space.json"]);
    let n = serde_json::from_slice::<Value>(&out.stdout).unwrap()["trial"].as_u64().unwrap().to_string();
    let out = e.fts(&["tell", "--study", "p", "--trial", &n]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = e.fts(&["tell", "--study", "p", "--trial", &n, "--value", "nan"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not a finite number"));
    assert_eq!(e.trials("p").last().unwrap()["state"], "running");
}

/// §5: what a newcomer meets on the command line.
#[test]
fn help_texts_and_messages_a_newcomer_meets() {
    let e = Env::new();
    let help = text(&e.ft(&["ask", "--help"]).stdout);
    for name in ["auto", "random", "grid", "qmc", "tpe", "gp", "cmaes", "nsga2"] {
        assert!(help.contains(name), "ask --help lacks {name}: {help}");
    }
    for cmd in ["ask", "tell", "trials", "best", "delete", "logs"] {
        let h = text(&e.ft(&[cmd, "--help"]).stdout);
        let line = h.lines().find(|l| l.trim_start().starts_with("--study")).unwrap_or_else(|| panic!("{cmd}: {h}"));
        assert!(line.trim().len() > "--study <STUDY>".len(), "{cmd}: empty --study help: {line}");
    }
    let h = text(&e.ft(&["train", "--help"]).stdout);
    assert!(h.contains("batch_size") && h.contains("weight_decay") && h.contains("FILE|JSON"), "{h}");
    // One OS error text, not two.
    let out = e.ft(&["run", "nonexist.toml"]);
    assert_user_error(&out, "nonexist.toml");
    assert_eq!(text(&out.stderr).matches("No such file or directory").count(), 1, "{}", text(&out.stderr));
    // TOML syntax errors: one line that says where.
    let f = e.write("bad.toml", "[study]\nname = \"x\"\n[budget\nn_trials = 1\n");
    let out = e.ft(&["run", f.to_str().unwrap()]);
    assert_user_error(&out, "bad.toml: line 3");
    assert_eq!(text(&out.stderr).trim_end().lines().count(), 1, "{}", text(&out.stderr));
    // Three slashes for an absolute path.
    assert_user_error(&e.ft(&["studies", "--storage", "sqlite:///tmp/nowhere-ferrotune/x.db"]), "four slashes");
    // Trainer errors worded for the command line, not the study file.
    let out = e.ft(&["train", "--set", "dropout=1.5"]);
    assert_user_error(&out, "dropout must be in [0, 1)");
    assert!(!text(&out.stderr).contains("[trainer"), "{}", text(&out.stderr));
    // --config takes a JSON object as well as a path.
    let out = e.ft(&["train", "--config", "{\"dropout\": 2}"]);
    assert_user_error(&out, "dropout must be in [0, 1)");
    let out = e.ft(&["train", "--config", "{not json"]);
    assert_user_error(&out, "--config: not valid JSON");
    // --columns picks columns; an unknown one is a usage error.
    e.write("space.json", SPACE);
    e.fts(&["ask", "--study", "c", "--space", "space.json"]);
    let out = e.fts(&["trials", "--study", "c", "--columns", "number,x", "--format", "csv"]);
    assert_eq!(text(&out.stdout).lines().next(), Some("number,params_x"));
    let out = e.fts(&["trials", "--study", "c", "--columns", "number,nope"]);
    assert_user_error(&out, "'nope' is neither a column");
    assert_eq!(out.status.code(), Some(2));
}

/// §5: the program's output is kept per trial (`ferrotune logs`) and shown with -v.
#[test]
fn trial_output_is_kept_and_shown_with_verbose() {
    let e = Env::new();
    executable(&e, "obj.sh", "#!/bin/sh\necho \"epoch 1 loss 0.5\"\necho \"warning: slow\" >&2\necho ferrotune: value=4\n");
    let f = study_file(&e, "lg", "", "command = [\"./obj.sh\"]", "n_trials = 1");
    let out = run_file(&e, &f, &["-v"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("[trial 0] epoch 1 loss 0.5") && err.contains("[trial 0] warning: slow"), "{err}");
    let out = e.fts(&["logs", "--study", "lg", "--trial", "0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = text(&out.stdout);
    assert!(log.contains("epoch 1 loss 0.5") && log.contains("warning: slow") && log.contains("ferrotune: value=4"), "{log}");
    assert_user_error(&e.fts(&["logs", "--study", "lg", "--trial", "7"]), "no trial number 7");
    // --log-file gets the status lines.
    let out = run_file(&e, &f, &["--n-trials", "2", "--log-file", "run.log"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = std::fs::read_to_string(e.path("run.log")).unwrap();
    assert!(log.contains("trial 1 complete: value=4"), "{log}");
}

/// Issue 12: `[budget] max_retries` enqueues a failed trial again with the
/// same parameters (`retried_from`); a SIGTERM, as a scheduler sends before
/// preemption, marks the running trial interrupted and enqueues it again,
/// so the next worker resumes that configuration first.
#[test]
fn failed_and_preempted_trials_are_enqueued_again_with_their_parameters() {
    let e = Env::new();
    // Fails the first time it ever runs, then succeeds.
    executable(&e, "flaky.sh", "#!/bin/sh\nif [ ! -f failed_once ]; then touch failed_once; exit 3; fi\necho ferrotune: value=1\n");
    let file_text = std::fs::read_to_string(study_file(&e, "r", "", "command = [\"./flaky.sh\"]", "n_trials = 2\nmax_retries = 1")).unwrap();
    let f = e.write("r.toml", &file_text);
    let out = run_file(&e, &f, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = e.trials("r");
    assert_eq!(t[0]["state"], "failed");
    assert_eq!(t[1]["state"], "complete");
    assert_eq!(t[1]["params"], t[0]["params"], "the retry runs the failed trial's parameters");

    // SIGTERM mid-trial: interrupted, enqueued again, resumed by the next run.
    executable(&e, "slow.sh", "#!/bin/sh\nif [ ! -f once ]; then touch once; sleep 300; fi\necho ferrotune: value=2\n");
    let f = study_file(&e, "pre", "", "command = [\"./slow.sh\"]", "n_trials = 1");
    let child = e.spawn_run(&f, &["--quiet"], &[]);
    wait_for(&e.path("once"), 20);
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc_kill(child.id() as i32, 15) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let t = e.trials("pre");
    assert_eq!(t.len(), 2, "{t:?}");
    assert!(t[0]["message"].as_str().unwrap().starts_with("interrupted"), "{t:?}");
    assert_eq!(t[1]["state"], "waiting");
    let out = run_file(&e, &f, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = e.trials("pre");
    assert_eq!(t.len(), 2, "the resumed configuration filled the budget: {t:?}");
    assert_eq!(t[1]["state"], "complete");
    assert_eq!(t[1]["params"], t[0]["params"]);
}
