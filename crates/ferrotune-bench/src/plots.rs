//! `plots`: how long each plot takes to build and render at 1,000 and
//! 10,000 trials, beside `optuna.visualization` on the same trials
//! (exported as JSON to `benchmarks/optuna_plots.py`), and how soon the
//! dashboard's study page is interactive in headless Chromium.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrotune::samplers::RandomSampler;
use ferrotune::storage::SqliteStorage;
use ferrotune::{Direction, ObjectiveError, Optimize, Study};
use ferrotune_plot::{Kind, StudyData};

pub struct Options {
    pub trials: Vec<usize>,
    pub python: Option<PathBuf>,
    pub repeat: usize,
    pub chromedriver: Option<String>,
    pub keep: Option<PathBuf>,
}

/// A study like a tuning job: log learning rate, units, an optimiser with a
/// conditional momentum, dropout; ten reports a trial, every seventh pruned.
fn synthetic(storage: Arc<SqliteStorage>, name: &str, n: usize, objectives: usize) -> Result<Study> {
    let dirs = if objectives == 1 { vec![Direction::Minimize] } else { vec![Direction::Minimize, Direction::Minimize] };
    let study = Study::builder(name).directions(dirs).storage(storage).sampler(RandomSampler::new(Some(7))).create()?;
    study.optimize(
        |t: &mut ferrotune::Trial| -> Result<Vec<f64>, ObjectiveError> {
            let lr = t.suggest_float("lr", 1e-5, 1e-1).log().sample()?;
            let units = t.suggest_int("units", 16, 512).step(16).sample()?;
            let opt = t.suggest_categorical("optimizer", ["sgd", "adam", "rmsprop"])?;
            let momentum = if opt == "sgd" { t.suggest_float("momentum", 0.0, 0.99).sample()? } else { 0.9 };
            let dropout = t.suggest_float("dropout", 0.0, 0.5).sample()?;
            let loss = 0.02 * (lr.log10() + 3.0).powi(2) + 0.1 * (units as f64 / 512.0 - 0.5).powi(2) + 0.05 * (momentum - 0.9).abs() + 0.1 * dropout;
            for e in 0..10u64 {
                t.report(e, loss + 1.0 / (e + 1) as f64)?;
                if objectives == 1 && t.number() % 7 == 6 && e == 4 {
                    return Err(ObjectiveError::Pruned);
                }
            }
            Ok(if objectives == 1 { vec![loss] } else { vec![loss, units as f64 / 512.0 + dropout] })
        },
        Optimize::trials(n),
    )?;
    Ok(study)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The study as `optuna_plots.py` reads it.
fn export(study: &Study) -> Result<serde_json::Value> {
    let trials = study.trials()?;
    let rows: Vec<serde_json::Value> = trials
        .iter()
        .map(|t| {
            serde_json::json!({
                "state": t.state.as_str(),
                "values": t.values,
                "params": t.param_values().into_iter().map(|(k, v)| (k, v.to_json())).collect::<serde_json::Map<_, _>>(),
                "distributions": t.params.iter().map(|(k, p)| (k.clone(), serde_json::to_value(&p.distribution).unwrap())).collect::<serde_json::Map<_, _>>(),
                "intermediate": t.intermediate_values.iter().map(|(s, v)| (s.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
                "started_at": t.started_at,
                "completed_at": t.completed_at,
            })
        })
        .collect();
    Ok(serde_json::json!({
        "directions": study.directions().iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        "trials": rows,
    }))
}

pub fn run(o: &Options) -> Result<()> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benchmarks/optuna_plots.py");
    for &n in &o.trials {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("plots.db");
        let storage = Arc::new(SqliteStorage::open(&db)?);
        let t0 = Instant::now();
        let study = synthetic(storage.clone(), "bench", n, 1)?;
        let pareto = synthetic(storage, "bench-mo", n, 2)?;
        eprintln!("{n} trials generated in {:.1} s", t0.elapsed().as_secs_f64());
        if let Some(keep) = &o.keep {
            std::fs::copy(&db, keep.join(format!("plots-{n}.db")))?;
        }
        let pair = vec!["lr".to_string(), "units".to_string(), "dropout".to_string()];
        let mut optuna: std::collections::HashMap<String, serde_json::Value> = Default::default();
        if let Some(py) = &o.python {
            for (s, extra) in [(&study, vec!["--params".to_string(), pair.join(",")]), (&pareto, vec![])] {
                let file = dir.path().join(format!("{}.json", s.name()));
                std::fs::write(&file, serde_json::to_string(&export(s)?)?)?;
                let out = Command::new(py)
                    .arg(&script)
                    .arg(&file)
                    .args(["--repeat", &o.repeat.to_string()])
                    .args(&extra)
                    .output()
                    .context("running benchmarks/optuna_plots.py")?;
                if !out.status.success() {
                    bail!("optuna_plots.py failed: {}", String::from_utf8_lossy(&out.stderr));
                }
                for line in String::from_utf8_lossy(&out.stdout).lines() {
                    let v: serde_json::Value = serde_json::from_str(line)?;
                    optuna.insert(v["kind"].as_str().unwrap_or("").to_string(), v);
                }
            }
        }
        println!("\n{n} trials (ms, medians of {}):\n", o.repeat);
        println!("| plot | ferrotune: figure | + SVG | + HTML | Optuna: figure | + HTML |");
        println!("|---|---:|---:|---:|---:|---:|");
        for kind in Kind::ALL {
            let s = if kind == Kind::Pareto { &pareto } else { &study };
            let data = StudyData::load(s)?;
            let opts = ferrotune_plot::Options {
                params: matches!(kind, Kind::Contour | Kind::Rank).then(|| pair.clone()),
                ..Default::default()
            };
            let (mut fb, mut sv, mut ht) = (vec![], vec![], vec![]);
            for _ in 0..o.repeat {
                let a = Instant::now();
                let fig = ferrotune_plot::build(kind, &data, &opts)?;
                let b = Instant::now();
                ferrotune_plot::to_svg(&fig)?;
                let c = Instant::now();
                ferrotune_plot::to_html(&fig)?;
                let d = Instant::now();
                fb.push((b - a).as_secs_f64() * 1e3);
                sv.push((c - b).as_secs_f64() * 1e3);
                ht.push((d - c).as_secs_f64() * 1e3);
            }
            let opt = optuna.get(kind.name());
            let cell = |k: &str| match opt {
                Some(v) if v.get("error").is_some() => format!("error: {}", v["error"].as_str().unwrap_or("")),
                Some(v) => format!("{:.0}", v[k].as_f64().unwrap_or(f64::NAN)),
                None => "–".into(),
            };
            println!(
                "| {} | {:.1} | {:.1} | {:.1} | {} | {} |",
                kind.name(),
                median(fb),
                median(sv),
                median(ht),
                cell("figure_ms"),
                cell("html_ms")
            );
        }
        if let Some(driver) = &o.chromedriver {
            let url = format!("sqlite:///{}", db.display());
            page(&url, driver, n)?;
        }
    }
    Ok(())
}

/// Serves the study and measures, in headless Chromium, when its page is
/// interactive (the page marks itself ready after the summary, the first
/// table page and the history plot are drawn): first on a fresh server,
/// then again with the server's caches warm.
fn page(url: &str, driver: &str, n: usize) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server = ferrotune_dashboard::serve(ferrotune_dashboard::Options {
            storage: url.to_string(),
            host: "127.0.0.1".parse()?,
            port: 0,
            allow_write: false,
        })
        .await?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut child = Command::new(driver).arg(format!("--port={port}")).spawn()?;
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir()?;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": "/usr/bin/chromium", "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,1600", format!("--user-data-dir={}", profile.path().display())]}),
        );
        let c = fantoccini::ClientBuilder::rustls()?.capabilities(caps).connect(&format!("http://127.0.0.1:{port}")).await?;
        println!("\nDashboard study page, {n} trials, headless Chromium on this machine:\n");
        println!("| load | interactive after (ms) | summary API (ms) | trials page API (ms) | history figure API (ms) |");
        println!("|---|---:|---:|---:|---:|");
        for load in ["first (fresh server)", "second (warm caches)", "third"] {
            // The API alone, from a client on the same machine.
            let api = |path: &str| {
                let t = Instant::now();
                let _ = http_get(&server.addr.to_string(), path);
                t.elapsed().as_secs_f64() * 1e3
            };
            let (a, b, h) = if load.starts_with("first") {
                (f64::NAN, f64::NAN, f64::NAN)
            } else {
                (api("/api/studies/bench"), api("/api/studies/bench/trials?limit=50"), api("/api/studies/bench/plots/history"))
            };
            c.goto("about:blank").await?;
            c.goto(&format!("http://{}/#/study/bench", server.addr)).await?;
            let start = Instant::now();
            let t = loop {
                let v = c.execute("return document.body.dataset.ready === 'study' ? window.__ferrotuneReady : null", vec![]).await?;
                if let Some(ms) = v.as_f64() {
                    break ms;
                }
                if start.elapsed() > Duration::from_secs(60) {
                    bail!("the page did not become ready");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            let fmt = |x: f64| if x.is_nan() { "–".to_string() } else { format!("{x:.0}") };
            println!("| {load} | {t:.0} | {} | {} | {} |", fmt(a), fmt(b), fmt(h));
        }
        c.close().await?;
        let _ = child.kill();
        server.stop().await;
        Ok(())
    })
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("the dashboard");
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}
