//! Early stopping on learning curves: best final value found vs epochs spent,
//! for random search without pruning, the median rule, ASHA and Hyperband.
//!
//! The curve model (documented, deterministic per seed): a configuration x
//! in [0,1]^4 (think log learning rate, width, dropout, weight decay) has
//! validation loss after epoch e (1-based)
//!
//!     loss(x, e) = a(x) + b(x) · exp(−c(x) · e) + ε,   ε ~ N(0, 0.005²)
//!
//! with final quality a(x) = 0.1 + (x0 − 0.3)² + 0.5 (x1 − 0.6)² + 0.2 x2 x3,
//! initial excess b(x) = 1 + 2 x1 (wide models start worse), and speed
//! c(x) = 0.05 + 0.4 x0 (larger learning rates converge faster) — so curves
//! cross and the early leaders are not always the final ones ("crossing").
//!
//! A second, typical family ("power law") follows the power-law learning
//! curves Domhan, Springenberg & Hutter (IJCAI 2015) found to fit neural
//! network training: every network starts near the same loss L0 = 2.3 (a
//! random 10-class classifier) and approaches a(x) as
//!
//!     loss(x, e) = a(x) + (L0 − a(x)) · e^(−α(x)) + ε,   α(x) = 0.3 + 0.7 x0,
//!
//! so fast learners lead early, and curves cross only where a fast learner
//! plateaus higher.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use ferrotune::pruners::{HyperbandPruner, NopPruner, PercentilePruner, Pruner, SuccessiveHalvingPruner};
use ferrotune::samplers::RandomSampler;
use ferrotune::{ObjectiveError, Optimize, Study};
use rand::{Rng, SeedableRng};

const MAX_EPOCHS: u64 = 27;

/// Which curve family.
#[derive(Debug, Clone, Copy)]
pub enum Curves {
    Crossing,
    PowerLaw,
}

fn loss(model: Curves, x: &[f64], epoch: u64, noise: f64) -> f64 {
    let a = 0.1 + (x[0] - 0.3).powi(2) + 0.5 * (x[1] - 0.6).powi(2) + 0.2 * x[2] * x[3];
    match model {
        Curves::Crossing => {
            let b = 1.0 + 2.0 * x[1];
            let c = 0.05 + 0.4 * x[0];
            a + b * (-c * epoch as f64).exp() + noise
        }
        Curves::PowerLaw => {
            let alpha = 0.3 + 0.7 * x[0];
            a + (2.3 - a) * (epoch as f64).powf(-alpha) + noise
        }
    }
}

/// The best final (complete-trial) value among trials that *finished within*
/// `epoch_budget` epochs, and the epochs that had been used when it was
/// found. (The run stops after the trial that crosses the budget; that
/// trial does not count.)
fn run(model: Curves, pruner: Arc<dyn Pruner>, seed: u64, epoch_budget: usize) -> (f64, usize) {
    let study = Study::builder("curves").sampler(RandomSampler::new(Some(seed))).pruner_arc(pruner).create().expect("study");
    let epochs = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (e2, s2) = (epochs.clone(), stop.clone());
    // (epochs used when the trial completed, its final value)
    let finished: Arc<std::sync::Mutex<Vec<(usize, f64)>>> = Arc::default();
    let f2 = finished.clone();
    let objective = move |t: &mut ferrotune::Trial| -> Result<f64, ObjectiveError> {
        let x: Vec<f64> = (0..4).map(|i| t.suggest_float(&format!("x{i}"), 0.0, 1.0).sample()).collect::<Result<_, _>>()?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ (t.number() << 20));
        let mut v = f64::NAN;
        for e in 1..=MAX_EPOCHS {
            let noise = 0.005 * rng.sample::<f64, _>(rand_distr::StandardNormal);
            v = loss(model, &x, e, noise);
            e2.fetch_add(1, Ordering::SeqCst);
            t.report(e, v)?;
            if t.should_prune()? {
                return Err(ObjectiveError::Pruned);
            }
        }
        f2.lock().expect("lock").push((e2.load(Ordering::SeqCst), v));
        Ok(v)
    };
    let opts = Optimize::trials(100_000).stop_flag(stop.clone()).on_trial_end(move |_, _| {
        if epochs.load(Ordering::SeqCst) >= epoch_budget {
            s2.store(true, Ordering::SeqCst);
        }
    });
    study.optimize(objective, opts).expect("optimize");
    let done = finished.lock().expect("lock");
    let within: Vec<&(usize, f64)> = done.iter().filter(|(e, _)| *e <= epoch_budget).collect();
    let best = within.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
    let at = within.iter().find(|x| x.1 == best).map_or(0, |x| x.0);
    (best, at)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) }
}

pub fn run_all(seeds: u64, n_trials_no_pruning: usize, tolerance: f64) -> anyhow::Result<()> {
    for (title, model) in [("crossing curves", Curves::Crossing), ("power-law curves (Domhan et al. 2015)", Curves::PowerLaw)] {
        println!("### {title}");
        println!();
        run_model(model, seeds, n_trials_no_pruning, tolerance)?;
        println!();
    }
    Ok(())
}

fn run_model(model: Curves, seeds: u64, n_trials_no_pruning: usize, tolerance: f64) -> anyhow::Result<()> {
    let full_budget = n_trials_no_pruning * MAX_EPOCHS as usize;
    let strategies: Vec<(&str, Arc<dyn Pruner>, usize)> = vec![
        ("no pruning", Arc::new(NopPruner), full_budget),
        ("median", Arc::new(PercentilePruner { n_startup_trials: 5, n_warmup_steps: 3, ..PercentilePruner::median() }), full_budget / 3),
        ("asha (η=3, min 1)", Arc::new(SuccessiveHalvingPruner { min_resource: 1, reduction_factor: 3, ..Default::default() }), full_budget / 3),
        ("hyperband (η=3, 1..27)", Arc::new(HyperbandPruner { min_resource: 1, max_resource: MAX_EPOCHS, reduction_factor: 3 }), full_budget / 3),
    ];
    println!("| strategy | epoch budget | median best final loss | mean best | median epochs when the best was found |");
    println!("|---|---:|---:|---:|---:|");
    let mut reference = None;
    let mut verdicts = vec![];
    for (name, pruner, budget) in strategies {
        let runs: Vec<(f64, usize)> = (0..seeds).map(|s| run(model, pruner.clone(), s, budget)).collect();
        let best = median(runs.iter().map(|r| r.0).collect());
        let mean = runs.iter().map(|r| r.0).sum::<f64>() / runs.len() as f64;
        let used = median(runs.iter().map(|r| r.1 as f64).collect());
        println!("| {name} | {budget} | {best:.4} | {mean:.4} | {used:.0} |");
        match reference {
            None => reference = Some(best),
            Some(r) => verdicts.push(format!(
                "{name}: median best {best:.4} vs no-pruning {r:.4} with a third of the epochs -> {}",
                if best <= r + tolerance { "within tolerance" } else { "NOT within tolerance" }
            )),
        }
    }
    println!();
    println!("No pruning runs {n_trials_no_pruning} trials x {MAX_EPOCHS} epochs; the others get a third of those epochs. Tolerance {tolerance}.");
    for v in verdicts {
        println!("- {v}");
    }
    Ok(())
}
