//! `workers`: storage throughput with many worker processes on one study,
//! ferrotune beside Optuna's RDBStorage on the same databases.
//!
//! Each worker process sets itself up (imports, connection, study), says it
//! is ready, waits for a common start time T0, then runs trials until T1:
//! ask, suggest one float, report 5 intermediate values, tell (random
//! sampler, no pruner, a trivial objective). A trial counts when it was told
//! by T1. Throughput is the trials of all workers over T1 - T0. ferrotune's
//! workers are this binary (`worker`); Optuna's are
//! `benchmarks/optuna_workers.py` run by `--python` (a venv made by
//! `benchmarks/venv.sh`).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrotune::samplers::RandomSampler;
use ferrotune::{Direction, Study, TellOutcome};

/// Which implementation a measurement runs.
#[derive(Clone, Copy, PartialEq)]
enum Tuner {
    Ferrotune,
    Optuna,
}

pub struct Options {
    pub workers: Vec<usize>,
    pub seconds: f64,
    pub backends: Vec<String>,
    pub postgres: String,
    pub python: Option<PathBuf>,
    pub reports: u64,
}

pub fn run(o: &Options) -> Result<()> {
    let me = std::env::current_exe()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benchmarks/optuna_workers.py");
    println!("| backend | tuner | workers | trials | seconds | trials/s | errors |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for backend in &o.backends {
        for &n in &o.workers {
            let mut tuners = vec![Tuner::Ferrotune];
            if o.python.is_some() {
                tuners.push(Tuner::Optuna);
            }
            for tuner in tuners {
                let db = Database::new(backend, &o.postgres)?;
                let url = match tuner {
                    Tuner::Ferrotune => db.url.clone(),
                    Tuner::Optuna => db.optuna_url(),
                };
                let study = "throughput";
                let ready = tempfile::tempdir()?;
                let worker = |i: usize| -> Command {
                    let mut c = match tuner {
                        Tuner::Ferrotune => {
                            let mut c = Command::new(&me);
                            c.arg("worker");
                            c
                        }
                        Tuner::Optuna => {
                            let mut c = Command::new(o.python.as_ref().expect("python"));
                            c.arg(&script).arg("worker");
                            c
                        }
                    };
                    c.args(["--storage", &url, "--study", study, "--index", &i.to_string()])
                        .arg("--ready")
                        .arg(ready.path())
                        .args(["--reports", &o.reports.to_string()]);
                    c
                };
                // The study exists before any worker starts.
                match tuner {
                    Tuner::Ferrotune => {
                        Study::builder(study)
                            .direction(Direction::Minimize)
                            .storage(ferrotune::storage::open(&url)?)
                            .create()?;
                    }
                    Tuner::Optuna => {
                        let st = Command::new(o.python.as_ref().expect("python"))
                            .arg(&script)
                            .args(["create", "--storage", &url, "--study", study])
                            .status()?;
                        anyhow::ensure!(st.success(), "creating the Optuna study failed");
                    }
                }
                let children: Vec<Child> = (0..n)
                    .map(|i| worker(i).stdout(Stdio::piped()).spawn().context("starting a worker"))
                    .collect::<Result<_>>()?;
                let setup = Instant::now();
                while std::fs::read_dir(ready.path())?.count() < n {
                    if setup.elapsed() > Duration::from_secs(600) {
                        bail!("workers not ready after 10 minutes");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let t0 = unix_now() + 0.5;
                let t1 = t0 + o.seconds;
                let tmp = ready.path().join("go.tmp");
                std::fs::write(&tmp, format!("{t0} {t1}"))?;
                std::fs::rename(&tmp, ready.path().join("go"))?;
                let (mut trials, mut errors) = (0u64, 0u64);
                for c in children {
                    let out = c.wait_with_output()?;
                    anyhow::ensure!(out.status.success(), "a worker failed: {}", out.status);
                    let text = String::from_utf8_lossy(&out.stdout);
                    for word in text.split_whitespace() {
                        if let Some(v) = word.strip_prefix("trials=") {
                            trials += v.parse::<u64>()?;
                        }
                        if let Some(v) = word.strip_prefix("errors=") {
                            errors += v.parse::<u64>()?;
                        }
                    }
                }
                let name = if tuner == Tuner::Ferrotune { "ferrotune" } else { "Optuna" };
                println!(
                    "| {backend} | {name} | {n} | {trials} | {:.1} | {:.0} | {errors} |",
                    o.seconds,
                    trials as f64 / o.seconds
                );
            }
        }
    }
    Ok(())
}

/// A fresh database of one backend, removed afterwards.
struct Database {
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Database {
    fn new(backend: &str, postgres: &str) -> Result<Self> {
        match backend {
            "sqlite" => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite:///{}", dir.path().join("bench.db").display());
                Ok(Database { url, _dir: Some(dir), pg: None })
            }
            "postgresql" => {
                let name = format!("ferrotune_bench_{}", std::process::id());
                let mut c = postgres::Client::connect(postgres, postgres::NoTls)
                    .with_context(|| format!("connecting to {postgres} (set --postgres)"))?;
                c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
                c.batch_execute(&format!("CREATE DATABASE {name}"))?;
                let (base, _) = postgres.split_once('?').unwrap_or((postgres, ""));
                let host_end = base.rfind('/').filter(|&i| i > base.find("://").map_or(0, |j| j + 2)).unwrap_or(base.len());
                let url = format!("{}/{name}", &base[..host_end]);
                Ok(Database { url, _dir: None, pg: Some((postgres.to_string(), name)) })
            }
            other => bail!("unknown backend {other}: sqlite or postgresql"),
        }
    }

    /// The same database as SQLAlchemy names it.
    fn optuna_url(&self) -> String {
        match self.url.split_once("://") {
            Some(("postgresql" | "postgres", rest)) => format!("postgresql+psycopg2://{rest}"),
            _ => self.url.clone(),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            if let Ok(mut c) = postgres::Client::connect(admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// One ferrotune worker process (see the module docs).
pub fn worker(storage: &str, study: &str, ready: &Path, index: usize, reports: u64) -> Result<()> {
    let study = Study::builder(study)
        .storage(ferrotune::storage::open(storage)?)
        .sampler(RandomSampler::new(Some(index as u64)))
        .load()?;
    std::fs::write(ready.join(format!("ready-{index}")), "")?;
    let go = ready.join("go");
    while !go.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = std::fs::read_to_string(&go)?;
    let mut it = text.split_whitespace().map(|w| w.parse::<f64>());
    let (t0, t1) = (it.next().context("T0")??, it.next().context("T1")??);
    while unix_now() < t0 {
        std::thread::sleep(Duration::from_micros(500));
    }
    let mut n = 0u64;
    while unix_now() < t1 {
        let mut t = study.ask()?;
        let x = t.suggest_float("x", -10.0, 10.0).sample()?;
        for step in 0..reports {
            t.report(step, x * x + 1.0 / (step + 1) as f64)?;
        }
        study.tell_trial(&t, TellOutcome::Values(vec![x * x]))?;
        if unix_now() <= t1 {
            n += 1;
        }
    }
    println!("trials={n} errors=0");
    Ok(())
}
