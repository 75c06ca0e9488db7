//! Helpers shared by the binary's end-to-end tests: a temporary directory
//! to run in, the binary, and assertions on what a user sees.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ferrotune");

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env { dir: tempfile::tempdir().unwrap() }
    }
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    pub fn storage(&self) -> String {
        format!("sqlite:///{}", self.path("t.db").display()).replacen("sqlite:////", "sqlite:////", 1)
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    pub fn ft(&self, args: &[&str]) -> Output {
        Command::new(BIN).args(args).current_dir(self.dir.path()).env_remove("FERROTUNE_STORAGE").output().unwrap()
    }
    /// Starts `ferrotune run FILE` with the test storage in the background
    /// (output discarded unless `stderr` is piped by the caller later).
    pub fn spawn_run(&self, file: &Path, extra: &[&str], env: &[(&str, &Path)]) -> std::process::Child {
        let s = self.storage();
        let mut cmd = Command::new(BIN);
        cmd.args(["run", file.to_str().unwrap(), "--storage", &s])
            .args(extra)
            .current_dir(self.dir.path())
            .env_remove("FERROTUNE_STORAGE")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().unwrap()
    }
    /// Runs with the test storage appended.
    pub fn fts(&self, args: &[&str]) -> Output {
        let s = self.storage();
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--storage", &s]);
        self.ft(&a)
    }
    pub fn trials(&self, study: &str) -> Vec<Value> {
        let out = self.fts(&["trials", "--study", study, "--format", "json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A user mistake: non-zero exit, one clear message, no panic trace.
pub fn assert_user_error(out: &Output, needle: &str) {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "expected failure; stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
}


pub fn study_file(e: &Env, name: &str, extra_space: &str, objective: &str, budget: &str) -> PathBuf {
    e.write(
        &format!("{name}.toml"),
        &format!(
            r#"
[study]
name = "{name}"
direction = "minimize"
seed = 5
[budget]
{budget}
[objective]
{objective}
[space.x]
type = "float"
low = -2
high = 2
{extra_space}
"#
        ),
    )
}

extern "C" {
    #[link_name = "kill"]
    pub fn libc_kill(pid: i32, sig: i32) -> i32;
}


/// Waits up to `secs` for `path` to exist.
pub fn wait_for(path: &Path, secs: u64) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < Duration::from_secs(secs), "{} did not appear within {secs} s", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process is gone (or a zombie waiting for its parent).
pub fn process_gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// Waits up to `secs` for a process to be gone.
pub fn wait_gone(pid: &str, secs: u64) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if process_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Starts `ferrotune run FILE --storage URL --quiet` in the background, as
/// one worker of a study (stderr piped, for the failure message).
pub fn spawn_worker(e: &Env, file: &Path, url: &str) -> std::process::Child {
    Command::new(BIN)
        .args(["run", file.to_str().unwrap(), "--storage", url, "--quiet"])
        .current_dir(e.dir.path())
        .env_remove("FERROTUNE_STORAGE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A fresh PostgreSQL database for one test, dropped at the end. `None`
/// (with one line saying how to enable these tests) when
/// `FERROTUNE_TEST_POSTGRES` is unset; CI sets it.
pub struct PgDb {
    pub url: String,
    admin: String,
    name: String,
}

pub fn pg_db(tag: &str) -> Option<PgDb> {
    let Ok(admin) = std::env::var("FERROTUNE_TEST_POSTGRES") else {
        eprintln!("skipped: set FERROTUNE_TEST_POSTGRES=postgresql://postgres@127.0.0.1:5432/test to run the PostgreSQL tests");
        return None;
    };
    let name = format!("ferrotune_{tag}_{}", std::process::id());
    let db = PgDb { url: format!("{}/{name}", admin.rsplit_once('/').expect("a URL ending in /database").0), admin, name };
    db.psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name));
    db.psql(&format!("CREATE DATABASE {}", db.name));
    Some(db)
}

impl PgDb {
    /// Runs `sql` as the administrator (psql is the server's own client).
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql").args([self.admin.as_str(), "-q", "-At", "-c", sql]).output().expect("psql");
        assert!(out.status.success(), "{sql}: {}", text(&out.stderr));
        text(&out.stdout)
    }
    /// Terminates every connection to this database (a failover, an admin).
    pub fn kill_backends(&self) -> usize {
        let n = self.psql(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{}'",
            self.name
        ));
        n.trim().parse().unwrap_or(0)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([self.admin.as_str(), "-q", "-c", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
            .output();
    }
}
