//! One training epoch on MNIST with the built-in trainer, against the
//! machine's measured float32 GEMM peak and (when installed) PyTorch.
//!
//!     FERROTUNE_DATA_DIR=../shared/data cargo run --release -p ferrotune-bench -- epoch
//!
//! FLOPs per epoch ≈ 6 × samples × Σ in·out (forward 2, backward 4 per
//! multiply-add of each linear layer), the convention of Kaplan et al. 2020.

use anyhow::{Context, Result};
use burn::tensor::{Device, Distribution, Tensor};
use ferrotune_train::data::mnist::{load, DataLocation, ImageSet};
use ferrotune_train::data::Standardizer;
use ferrotune_train::train::{fit, with_threads, Control, FitOptions};
use ferrotune_train::Hyperparams;
use std::time::Instant;

/// GFLOP/s of a 1024³ f32 matmul through Burn's CPU backend (gemm), best of 5.
fn gemm_peak(threads: usize) -> f64 {
    with_threads(threads, || {
        let dev = Device::flex();
        let n = 1024;
        let a = Tensor::<2>::random([n, n], Distribution::Default, &dev);
        let b = Tensor::<2>::random([n, n], Distribution::Default, &dev);
        let _ = a.clone().matmul(b.clone()).sum().into_scalar::<f32>();
        (0..5)
            .map(|_| {
                let t = Instant::now();
                let _ = a.clone().matmul(b.clone()).sum().into_scalar::<f32>();
                2.0 * (n * n * n) as f64 / t.elapsed().as_secs_f64() / 1e9
            })
            .fold(0.0, f64::max)
    })
}

pub fn run(models: &[String], threads: &[usize], epochs: usize, torch: bool) -> Result<()> {
    let data = load(ImageSet::Mnist, &DataLocation::from_env()).context("MNIST (set FERROTUNE_DATA_DIR)")?;
    let mut train = data.train;
    Standardizer::fit_global(&train).apply(&mut train);
    let n = train.len();
    println!("| model | threads | ferrotune s/epoch | GFLOP/s | % of GEMM peak | PyTorch s/epoch | ferrotune / PyTorch |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for &t in threads {
        let peak = gemm_peak(t);
        eprintln!("GEMM peak at {t} thread(s): {peak:.1} GFLOP/s");
        for m in models {
            let widths: Vec<usize> = m.split('-').map(|w| w.parse().context("model like 784-128-10")).collect::<Result<_>>()?;
            let hidden = &widths[1..widths.len() - 1];
            let hp = Hyperparams {
                layers: hidden.len(),
                layer_units: hidden.to_vec(),
                batch_size: 64,
                epochs,
                ..Hyperparams::default()
            };
            let opts = FitOptions { threads: t, ..FitOptions::default() };
            let f = fit(&hp, &train, None, &opts, &mut |_| Control::Continue)?;
            // The first epoch includes warm-up (allocator, caches); report the best.
            let secs = f.history.iter().map(|h| h.seconds).fold(f64::INFINITY, f64::min);
            let flops = 6.0 * n as f64 * widths.windows(2).map(|w| (w[0] * w[1]) as f64).sum::<f64>();
            let gflops = flops / secs / 1e9;
            let torch_secs = if torch { pytorch_epoch(m, t, epochs) } else { None };
            println!(
                "| {m} | {t} | {secs:.2} | {gflops:.1} | {:.0}% | {} | {} |",
                100.0 * gflops / peak,
                torch_secs.map_or("–".into(), |s| format!("{s:.2}")),
                torch_secs.map_or("–".into(), |s| format!("{:.2}×", secs / s)),
            );
        }
    }
    Ok(())
}

/// Runs `benchmarks/torch_epoch.py` (same model, batch, optimiser, data); None if PyTorch is missing.
fn pytorch_epoch(model: &str, threads: usize, epochs: usize) -> Option<f64> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../benchmarks/torch_epoch.py");
    let out = std::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .args([script, "--model", model, "--threads", &threads.to_string(), "--epochs", &epochs.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("PyTorch run failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
        return None;
    }
    String::from_utf8_lossy(&out.stdout).lines().last()?.trim().parse().ok()
}
