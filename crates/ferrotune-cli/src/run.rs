//! `ferrotune run study.toml`: the study loop with a progress bar on a
//! terminal, plain lines elsewhere, and Ctrl-C handling.

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferrotune::study_file::{ObjectiveKind, StudyFile};
use ferrotune::{FrozenTrial, StopReason, Study, TrialState};

use crate::output::num;
use crate::EXIT_INTERRUPTED;

pub struct RunArgs {
    pub study_file: PathBuf,
    pub storage: Option<String>,
    pub n_trials: Option<usize>,
    pub timeout: Option<Duration>,
    pub n_jobs: Option<usize>,
    pub quiet: bool,
}

/// One line per finished trial: number, state, value(s), parameters.
fn trial_line(t: &FrozenTrial) -> String {
    let params: Vec<String> = t
        .param_values()
        .iter()
        .map(|(k, v)| match v {
            ferrotune::ParamValue::Float(x) => format!("{k}={}", num(*x)),
            v => format!("{k}={v}"),
        })
        .collect();
    let dur = t.duration().map(|d| format!(" ({d:.1}s)")).unwrap_or_default();
    match t.state {
        TrialState::Complete => {
            let vals: Vec<String> = t.values.iter().flatten().map(|x| num(*x)).collect();
            format!("trial {} complete: value={} | {}{dur}", t.number, vals.join(","), params.join(" "))
        }
        TrialState::Pruned => format!("trial {} pruned | {}{dur}", t.number, params.join(" ")),
        _ => {
            let msg = t.message.as_deref().unwrap_or("").lines().collect::<Vec<_>>().join(" ⏎ ");
            let msg: String = msg.chars().take(300).collect();
            format!("trial {} failed: {msg} | {}{dur}", t.number, params.join(" "))
        }
    }
}

pub fn run(a: RunArgs) -> Result<ExitCode> {
    let mut file = StudyFile::load(&a.study_file)?;
    if let Some(url) = &a.storage {
        file.storage_url = url.clone();
    }
    if let Some(n) = a.n_trials {
        file.n_trials = Some(n);
    }
    if let Some(t) = a.timeout {
        file.timeout = Some(t);
    }
    if let Some(j) = a.n_jobs {
        anyhow::ensure!(j >= 1, "--n-jobs must be at least 1");
        file.n_jobs = j;
    }
    let study = file.open_study(None).with_context(|| format!("opening study '{}' at {}", file.name, file.storage_url))?;
    let remaining = file.remaining_trials(&study)?;
    if remaining == Some(0) && file.timeout.is_none() {
        if !a.quiet {
            eprintln!(
                "study '{}' already has its {} trials; raise n_trials (or pass --n-trials) to run more",
                study.name(),
                file.n_trials.unwrap_or(0)
            );
        }
        print_summary(&study)?;
        return Ok(ExitCode::SUCCESS);
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // First Ctrl-C: stop starting trials, stop the running ones (marked
        // failed, "interrupted"). Second: leave at once; the next run marks
        // anything left running as stale.
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(EXIT_INTERRUPTED as i32);
            }
            eprintln!("\ninterrupted: stopping running trials (Ctrl-C again to quit at once)");
        })
        .context("installing the Ctrl-C handler")?;
    }

    let show = !a.quiet;
    let tty = std::io::stderr().is_terminal();
    let bar = (show && tty).then(|| {
        let pb = match remaining {
            Some(n) => ProgressBar::new(n as u64),
            None => ProgressBar::new_spinner(),
        };
        let template = if remaining.is_some() {
            "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} trials, ETA {eta} {msg}"
        } else {
            "{spinner} [{elapsed_precise}] {pos} trials {msg}"
        };
        pb.set_style(ProgressStyle::with_template(template).expect("valid template"));
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    });
    if show {
        let line = format!(
            "study '{}' ({}) in {}: sampler {}, {}{}",
            study.name(),
            study.directions().iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
            file.storage_url,
            study.sampler().name(),
            remaining.map(|n| format!("{n} trials to run")).unwrap_or_else(|| "no trial limit".into()),
            file.timeout.map(|t| format!(", timeout {}", humantime::format_duration(t))).unwrap_or_default(),
        );
        match &bar {
            Some(pb) => pb.println(line),
            None => eprintln!("{line}"),
        }
    }
    let opts = {
        let bar = bar.clone();
        file.optimize_options().stop_flag(stop.clone()).on_trial_end(move |study, t| {
            if !show {
                return;
            }
            let line = trial_line(t);
            let best_text = if study.is_multi_objective() {
                study.best_trials().ok().map(|f| format!("Pareto front: {} trials", f.len()))
            } else {
                study.best_trial().ok().flatten().map(|b| format!("best value {} (trial {})", num(b.value().unwrap_or(f64::NAN)), b.number))
            };
            match &bar {
                Some(pb) => {
                    pb.println(line);
                    pb.inc(1);
                    pb.set_message(best_text.unwrap_or_default());
                }
                None => eprintln!("{line}"),
            }
        })
    };
    let trainer = match &file.objective {
        ObjectiveKind::Trainer(spec) => {
            let task = crate::trainer::load_task(&file, spec)?;
            let threads = task.spec.threads.unwrap_or_else(|| crate::trainer::threads_per_trial(file.n_jobs));
            Some((task, threads))
        }
        ObjectiveKind::Command(_) => None,
    };
    let report = match (&trainer, file.objective()) {
        (Some((task, threads)), _) => {
            let bars = bar.as_ref().map(|pb| {
                let m = MultiProgress::new();
                m.add(pb.clone());
                m
            });
            study.optimize(crate::trainer::objective(&file, task, *threads, bars), opts)
        }
        (None, Some(objective)) => study.optimize(objective, opts),
        (None, None) => unreachable!("a study file has a command or a trainer"),
    };
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    let report = report?;
    if show {
        let why = match report.stop {
            StopReason::Budget => "budget reached",
            StopReason::Timeout => "timeout reached",
            StopReason::Interrupted => "interrupted",
            StopReason::SamplerExhausted => "the sampler is exhausted (every grid point tried)",
            StopReason::NoImprovement => "no improvement over the last [budget] patience trials",
        };
        eprintln!(
            "stopped: {why}; this run: {} complete, {} pruned, {} failed",
            report.complete, report.pruned, report.failed
        );
    }
    print_summary(&study)?;
    if let (Some((task, threads)), false) = (&trainer, report.stop == StopReason::Interrupted) {
        crate::trainer::retrain_best(&file, task, &study, *threads)?;
    }
    Ok(if report.stop == StopReason::Interrupted { ExitCode::from(EXIT_INTERRUPTED) } else { ExitCode::SUCCESS })
}

/// The result on stdout: the best trial, or the Pareto front.
fn print_summary(study: &Study) -> Result<()> {
    if study.is_multi_objective() {
        let front = study.best_trials()?;
        println!("Pareto front of study '{}': {} trial(s)", study.name(), front.len());
        for t in front {
            println!("  {}", trial_line(&t));
        }
        return Ok(());
    }
    match study.best_trial()? {
        Some(b) => {
            println!("best trial of study '{}': #{} value={}", study.name(), b.number, num(b.value().unwrap_or(f64::NAN)));
            for (k, v) in b.param_values() {
                println!("  {k} = {v}");
            }
        }
        None => println!("study '{}' has no complete trial yet", study.name()),
    }
    Ok(())
}
