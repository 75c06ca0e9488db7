//! ferrotune's benchmark binary. Speed goals live here, never in timed tests.
//!
//!     cargo run --release -p ferrotune-bench -- storage
//!     cargo run --release -p ferrotune-bench -- quality
//!     cargo run --release -p ferrotune-bench -- pruning
//!     cargo run --release -p ferrotune-bench -- epoch
//!     cargo run --release -p ferrotune-bench -- workers --python "$(benchmarks/venv.sh)"
//!     cargo run --release -p ferrotune-bench -- overhead   # (benchmarks/python_overhead.py runs it)
//!     cargo run --release -p ferrotune-bench -- plots --python "$(benchmarks/venv.sh plotly scikit-learn)" --chromedriver chromedriver
//!
//! `storage`: ask + tell round trips per second against an SQLite study that
//! already holds N trials, through the library (one process, one open
//! database) and through the CLI (`ferrotune ask` / `ferrotune tell`, a new
//! process and connection per call, as a language-neutral driver uses it).

mod epoch;
mod overhead;
mod problems;
mod pruning;
mod plots;
mod quality;
mod workers;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use ferrotune::samplers::{QmcSampler, RandomSampler, Sampler};
use ferrotune::storage::SqliteStorage;
use ferrotune::{SpaceSpec, Study, TellOutcome};

#[derive(Parser)]
#[command(about = "ferrotune benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Early stopping on learning curves: best final value vs epochs spent.
    Pruning {
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// Trials the no-pruning baseline runs (each for every epoch).
        #[arg(long, default_value_t = 60)]
        trials: usize,
        /// How close (absolute loss) counts as reaching the baseline.
        #[arg(long, default_value_t = 0.01)]
        tolerance: f64,
    },
    /// Simple regret of each sampler on standard problems over many seeds.
    Quality {
        /// Samplers to compare (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "random,qmc,tpe,gp,cmaes,nsga2")]
        samplers: Vec<String>,
        /// Only problems whose name contains one of these (comma-separated).
        #[arg(long, value_delimiter = ',')]
        problems: Vec<String>,
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        #[arg(long, default_value_t = 100)]
        trials: usize,
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Seconds per MNIST training epoch (built-in trainer), vs GEMM peak and PyTorch.
    Epoch {
        /// Layer widths, comma-separated models.
        #[arg(long, value_delimiter = ',', default_value = "784-128-10,784-512-512-10")]
        models: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        /// Epochs per measurement (the best is reported).
        #[arg(long, default_value_t = 2)]
        epochs: usize,
        /// Skip the PyTorch comparison.
        #[arg(long)]
        no_torch: bool,
    },
    /// Time to build and render each plot at 1,000 and 10,000 trials, beside
    /// optuna.visualization (`--python`), and the dashboard page's time to
    /// interactive in headless Chromium (`--chromedriver`).
    Plots {
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        trials: Vec<usize>,
        /// A Python with Optuna, plotly and scikit-learn (benchmarks/venv.sh plotly scikit-learn).
        #[arg(long)]
        python: Option<PathBuf>,
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// chromedriver, to time the dashboard page.
        #[arg(long)]
        chromedriver: Option<String>,
        /// Keep a copy of each generated study database in this directory.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Trials per second with many worker processes on one study, SQLite
    /// and PostgreSQL, beside Optuna's RDBStorage (`--python`, a venv from
    /// `benchmarks/venv.sh`).
    Workers {
        /// Worker process counts (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
        workers: Vec<usize>,
        /// Seconds each measurement runs.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Backends (comma-separated): sqlite, postgresql.
        #[arg(long, value_delimiter = ',', default_value = "sqlite,postgresql")]
        backends: Vec<String>,
        /// A PostgreSQL server where fresh databases may be created.
        #[arg(long, env = "FERROTUNE_BENCH_POSTGRES", default_value = "postgresql://postgres@127.0.0.1:5432/test")]
        postgres: String,
        /// A Python with Optuna (benchmarks/venv.sh); without it, ferrotune only.
        #[arg(long)]
        python: Option<PathBuf>,
        /// Intermediate values reported per trial.
        #[arg(long, default_value_t = 5)]
        reports: u64,
    },
    /// One worker process of `workers` (started by it).
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        storage: String,
        #[arg(long)]
        study: String,
        #[arg(long)]
        ready: PathBuf,
        #[arg(long)]
        index: usize,
        #[arg(long, default_value_t = 5)]
        reports: u64,
    },
    /// Microseconds per trial through the Rust API (ask, suggest, tell) on
    /// the spaces `benchmarks/python_overhead.py` uses; JSON lines.
    Overhead {
        #[arg(long, value_delimiter = ',', default_value = "floats10,mixed10")]
        spaces: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "tpe,random")]
        samplers: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "100,300,1000")]
        trials: Vec<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// ask + tell round trips per second with SQLite storage.
    Storage {
        /// Stored trials before measuring (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        stored: Vec<usize>,
        /// Round trips measured through the library.
        #[arg(long, default_value_t = 1000)]
        rounds: usize,
        /// Round trips measured through the CLI (0 to skip).
        #[arg(long, default_value_t = 100)]
        cli_rounds: usize,
        /// The ferrotune binary for the CLI measurement.
        #[arg(long, default_value = "target/release/ferrotune")]
        ferrotune: PathBuf,
    },
}

const SPACE: &str = r#"{"x": {"type": "float", "low": -5, "high": 10}, "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": true}, "units": {"type": "int", "low": 16, "high": 256, "step": 16}, "act": {"type": "categorical", "choices": ["relu", "tanh"]}}"#;

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Epoch { models, threads, epochs, no_torch } => epoch::run(&models, &threads, epochs, !no_torch),
        Cmd::Pruning { seeds, trials, tolerance } => pruning::run_all(seeds, trials, tolerance),
        Cmd::Quality { samplers, problems, seeds, trials, threads } => quality::run(&samplers, &problems, seeds, trials, threads.max(1)),
        Cmd::Plots { trials, python, repeat, chromedriver, keep } => {
            plots::run(&plots::Options { trials, python, repeat: repeat.max(1), chromedriver, keep })
        }
        Cmd::Workers { workers, seconds, backends, postgres, python, reports } => {
            workers::run(&workers::Options { workers, seconds, backends, postgres, python, reports })
        }
        Cmd::Worker { storage, study, ready, index, reports } => workers::worker(&storage, &study, &ready, index, reports),
        Cmd::Overhead { spaces, samplers, trials, seed } => overhead::run(&spaces, &samplers, &trials, seed),
        Cmd::Storage { stored, rounds, cli_rounds, ferrotune } => storage(&stored, rounds, cli_rounds, &ferrotune),
    }
}

fn round_trip(study: &Study, space: &SpaceSpec) -> Result<()> {
    let mut t = study.ask()?;
    let p = space.suggest_all(&mut t)?;
    let x = p["x"].as_f64().unwrap_or(0.0);
    study.tell(t.number(), TellOutcome::Values(vec![x * x]))?;
    Ok(())
}

fn open(db: &Path, sampler: Arc<dyn Sampler>) -> Result<Study> {
    Ok(Study::builder("bench").storage(Arc::new(SqliteStorage::open(db)?)).sampler_arc(sampler).load_or_create()?)
}

fn storage(stored: &[usize], rounds: usize, cli_rounds: usize, ferrotune: &Path) -> Result<()> {
    let space = SpaceSpec::from_json_str(SPACE)?;
    println!("| stored trials | driver | sampler | round trips | total (s) | round trips/s | ms per ask+tell |");
    println!("|---:|---|---|---:|---:|---:|---:|");
    for &n in stored {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("bench.db");
        let fill = Instant::now();
        {
            let study = open(&db, Arc::new(RandomSampler::new(Some(0))))?;
            for _ in 0..n {
                round_trip(&study, &space)?;
            }
        }
        eprintln!("filled {n} trials in {:.1} s", fill.elapsed().as_secs_f64());
        for (name, sampler) in [
            ("random", Arc::new(RandomSampler::new(Some(1))) as Arc<dyn Sampler>),
            ("qmc", Arc::new(QmcSampler::new(Some(1)))),
        ] {
            let study = open(&db, sampler)?;
            let start = Instant::now();
            for _ in 0..rounds {
                round_trip(&study, &space)?;
            }
            report(n, "library", name, rounds, start.elapsed().as_secs_f64());
        }
        if cli_rounds > 0 {
            let space_file = dir.path().join("space.json");
            std::fs::write(&space_file, SPACE)?;
            let url = format!("sqlite:///{}", db.display());
            let start = Instant::now();
            for _ in 0..cli_rounds {
                let out = std::process::Command::new(ferrotune)
                    .args(["ask", "--storage", &url, "--study", "bench", "--space"])
                    .arg(&space_file)
                    .output()
                    .with_context(|| format!("running {} (build it with cargo build --release)", ferrotune.display()))?;
                anyhow::ensure!(out.status.success(), "ask failed: {}", String::from_utf8_lossy(&out.stderr));
                let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
                let trial = v["trial"].to_string();
                let st = std::process::Command::new(ferrotune)
                    .args(["tell", "--storage", &url, "--study", "bench", "--trial", &trial, "--value", "1.0"])
                    .status()?;
                anyhow::ensure!(st.success(), "tell failed");
            }
            report(n, "CLI processes", "random", cli_rounds, start.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

fn report(n: usize, driver: &str, sampler: &str, rounds: usize, secs: f64) {
    println!(
        "| {n} | {driver} | {sampler} | {rounds} | {secs:.2} | {:.0} | {:.2} |",
        rounds as f64 / secs,
        secs * 1000.0 / rounds as f64
    );
}
