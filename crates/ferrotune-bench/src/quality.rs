//! Sampler quality: simple regret (best value found minus the known optimum)
//! after 10, 20, 30, 50 and 100 trials, over many seeds, per problem.

use std::sync::Arc;
use std::time::Instant;

use ferrotune::samplers::{Sampler, SamplerConfig};
use ferrotune::{Optimize, Study};

use crate::problems::{self, Problem};

pub const CHECKPOINTS: [usize; 5] = [10, 20, 30, 50, 100];

fn make(name: &str, seed: u64) -> anyhow::Result<Arc<dyn Sampler>> {
    Ok(SamplerConfig::from_name(name)?.build(seed, None)?)
}

/// Best-so-far regret after each checkpoint for one run.
fn run_once(p: &Problem, sampler: &str, seed: u64, n: usize) -> anyhow::Result<Vec<f64>> {
    let study = Study::builder(p.name).sampler_arc(make(sampler, seed)?).create()?;
    study.optimize(p.objective, Optimize::trials(n))?;
    let mut best = f64::INFINITY;
    let mut curve = Vec::with_capacity(n);
    for t in study.trials()?.iter() {
        if let Some(v) = t.value() {
            best = best.min(v);
        }
        curve.push(best - p.optimum);
    }
    Ok(CHECKPOINTS.iter().filter(|&&c| c <= n).map(|&c| curve[c - 1].max(0.0)).collect())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

pub fn run(samplers: &[String], problems_filter: &[String], seeds: u64, n: usize, threads: usize) -> anyhow::Result<()> {
    let problems: Vec<Problem> = problems::all()
        .into_iter()
        .filter(|p| problems_filter.is_empty() || problems_filter.iter().any(|f| p.name.contains(f.as_str())))
        .collect();
    let checkpoints: Vec<usize> = CHECKPOINTS.iter().copied().filter(|&c| c <= n).collect();
    // mean regret [problem][sampler][checkpoint]
    let mut means = vec![vec![vec![0.0; checkpoints.len()]; samplers.len()]; problems.len()];
    println!("| problem | sampler | {} | seconds |", checkpoints.iter().map(|c| format!("mean / median @{c}")).collect::<Vec<_>>().join(" | "));
    println!("|---|---|{}---:|", "---:|".repeat(checkpoints.len()));
    for (pi, p) in problems.iter().enumerate() {
        for (si, s) in samplers.iter().enumerate() {
            let start = Instant::now();
            let jobs: Vec<u64> = (0..seeds).collect();
            let results: Vec<anyhow::Result<Vec<f64>>> = std::thread::scope(|sc| {
                let chunks: Vec<Vec<u64>> = (0..threads).map(|k| jobs.iter().copied().filter(|j| j % threads as u64 == k as u64).collect()).collect();
                let handles: Vec<_> = chunks
                    .into_iter()
                    .map(|chunk| sc.spawn(move || chunk.into_iter().map(|seed| run_once(p, s, seed, n)).collect::<Vec<_>>()))
                    .collect();
                handles.into_iter().flat_map(|h| h.join().expect("benchmark thread")).collect()
            });
            let runs: Vec<Vec<f64>> = results.into_iter().collect::<anyhow::Result<_>>()?;
            let mut cells = vec![];
            for (ci, _) in checkpoints.iter().enumerate() {
                let mut col: Vec<f64> = runs.iter().map(|r| r[ci]).collect();
                let mean = col.iter().sum::<f64>() / col.len() as f64;
                means[pi][si][ci] = mean;
                cells.push(format!("{} / {}", fmt(mean), fmt(median(&mut col))));
            }
            println!("| {} | {} | {} | {:.1} |", p.name, s, cells.join(" | "), start.elapsed().as_secs_f64());
        }
    }
    // Average rank (1 = best mean regret) over problems, per checkpoint.
    println!();
    println!("| sampler | {} |", checkpoints.iter().map(|c| format!("avg rank @{c}")).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---:|".repeat(checkpoints.len()));
    for (si, s) in samplers.iter().enumerate() {
        let ranks: Vec<String> = (0..checkpoints.len())
            .map(|ci| {
                let total: f64 = (0..problems.len())
                    .map(|pi| {
                        let mine = means[pi][si][ci];
                        let better = means[pi].iter().filter(|m| m[ci] < mine).count() as f64;
                        let ties = means[pi].iter().filter(|m| m[ci] == mine).count() as f64;
                        1.0 + better + (ties - 1.0) / 2.0
                    })
                    .sum();
                format!("{:.2}", total / problems.len() as f64)
            })
            .collect();
        println!("| {s} | {} |", ranks.join(" | "));
    }
    Ok(())
}

fn fmt(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.abs() >= 0.01 && x.abs() < 1e4 {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    }
}
