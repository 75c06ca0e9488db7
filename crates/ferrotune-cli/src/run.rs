//! `ferrotune run study.toml`: the study loop with a progress bar on a
//! terminal, plain lines elsewhere, and Ctrl-C handling.

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrotune::objective::command::OutputSink;
use ferrotune::study_file::{ObjectiveKind, StudyFile};
use ferrotune::{FrozenTrial, StopReason, Study, TrialState};

use crate::output::num;
use crate::ui::{self, outln, status, usage};
use crate::EXIT_INTERRUPTED;

pub struct RunArgs {
    pub study_file: PathBuf,
    pub storage: Option<String>,
    pub n_trials: Option<usize>,
    pub timeout: Option<Duration>,
    pub n_jobs: Option<usize>,
    pub quiet: bool,
    pub verbose: bool,
    pub allow_space_change: bool,
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

/// The flags over the file: storage (a flag beats the file, the file beats
/// the environment), budget, jobs, space changes.
fn apply_overrides(file: &mut StudyFile, a: &RunArgs) -> Result<()> {
    // A flag beats the file, the file beats the environment.
    match (&a.storage, std::env::var("FERROTUNE_STORAGE").ok().filter(|s| !s.is_empty())) {
        (Some(url), _) => file.storage_url = url.clone(),
        (None, Some(env)) if !file.storage_in_file => {
            if !a.quiet {
                status!("storage from FERROTUNE_STORAGE: {env}");
            }
            file.storage_url = env;
        }
        (None, Some(env)) if env != file.storage_url && !a.quiet => {
            status!("note: FERROTUNE_STORAGE ({env}) is ignored: the study file names its storage ({})", file.storage_url);
        }
        _ => {}
    }
    if let Some(n) = a.n_trials {
        file.n_trials = Some(n);
    }
    if let Some(t) = a.timeout {
        file.timeout = Some(ferrotune::study_file::check_timeout("--timeout", t)?);
    }
    if let Some(j) = a.n_jobs {
        if j == 0 || j > ferrotune::study::MAX_JOBS {
            usage!("--n-jobs must be between 1 and {}, got {j}", ferrotune::study::MAX_JOBS);
        }
        file.n_jobs = j;
    }
    file.allow_space_change = a.allow_space_change;
    Ok(())
}

/// First Ctrl-C: stop starting trials, stop the running ones (marked
/// failed, "interrupted"). Second: kill the running programs' process
/// groups and leave at once; the next run marks their trials stale.
fn install_ctrl_c(stop: Arc<AtomicBool>) -> Result<()> {
    ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            ferrotune::objective::command::kill_running_commands();
            std::process::exit(EXIT_INTERRUPTED as i32);
        }
        status!("\ninterrupted: stopping running trials (Ctrl-C again to quit at once)");
    })
    .context("installing the Ctrl-C handler")
}

/// The study's progress bar on a terminal: trials done / budget, ETA, best.
fn progress_bar(remaining: Option<usize>) -> ProgressBar {
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
}

pub fn run(a: RunArgs) -> Result<ExitCode> {
    let mut file = StudyFile::load(&a.study_file)?;
    apply_overrides(&mut file, &a)?;
    let study = file.open_study(None).with_context(|| format!("opening study '{}' at {}", file.name, file.storage_url))?;
    let remaining = file.remaining_trials(&study)?;
    if remaining == Some(0) && file.timeout.is_none() {
        if !a.quiet {
            status!(
                "study '{}' already has its {} trials; raise n_trials (or pass --n-trials) to run more",
                study.name(),
                file.n_trials.unwrap_or(0)
            );
        }
        print_summary(&study)?;
        print_where(&file, a.quiet);
        return Ok(ExitCode::SUCCESS);
    }

    let stop = Arc::new(AtomicBool::new(false));
    install_ctrl_c(stop.clone())?;

    let show = !a.quiet;
    let tty = std::io::stderr().is_terminal();
    let bar = (show && tty).then(|| progress_bar(remaining));
    let say = {
        let bar = bar.clone();
        move |line: String| match &bar {
            Some(pb) => {
                pb.println(&line);
                ui::log_only(&line);
            }
            None => ui::status_line(&line),
        }
    };
    if show {
        say(format!(
            "study '{}' ({}) in {}: sampler {}, {}{}",
            study.name(),
            study.directions().iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
            file.storage_url,
            study.sampler().name(),
            remaining.map(|n| format!("{n} trials to run")).unwrap_or_else(|| "no trial limit".into()),
            file.timeout.map(|t| format!(", timeout {}", humantime::format_duration(t))).unwrap_or_default(),
        ));
    }
    let first_failure: Arc<Mutex<Option<(u64, String)>>> = Arc::default();
    let opts = {
        let (bar, say, first_failure) = (bar.clone(), say.clone(), first_failure.clone());
        file.optimize_options().stop_flag(stop.clone()).on_trial_end(move |study, t| {
            if t.state == TrialState::Failed {
                let mut f = first_failure.lock().unwrap_or_else(|e| e.into_inner());
                if f.is_none() {
                    *f = Some((t.number, t.message.as_deref().unwrap_or("(no message)").to_string()));
                }
            }
            if !show {
                return;
            }
            say(trial_line(t));
            if let Some(pb) = &bar {
                let best_text = if study.is_multi_objective() {
                    study.best_trials().ok().map(|f| format!("Pareto front: {} trials", f.len()))
                } else {
                    study
                        .best_trial()
                        .ok()
                        .flatten()
                        .map(|b| format!("best value {} (trial {})", num(b.value().unwrap_or(f64::NAN)), b.number))
                };
                pb.inc(1);
                pb.set_message(best_text.unwrap_or_default());
            }
        })
    };
    let (report, trainer) = match &file.objective {
        ObjectiveKind::Trainer(_) => {
            let task = crate::trainer::load_task(&file)?;
            let threads = ferrotune_train::tune::threads(&file, &task);
            let progress = bar.as_ref().map(|pb| {
                let m = MultiProgress::new();
                m.add(pb.clone());
                crate::trainer::progress_bars(m)
            });
            let report = study.optimize(ferrotune_train::tune::objective(&file, &task, threads, progress), opts);
            (report, Some((task, threads)))
        }
        ObjectiveKind::Command(_) => {
            let sink: Option<OutputSink> = a.verbose.then(|| {
                let say = say.clone();
                Arc::new(move |trial: u64, line: &str| say(format!("  [trial {trial}] {line}"))) as OutputSink
            });
            let objective = file.objective_with_output(sink).expect("a command study has a command objective");
            (study.optimize(objective, opts), None)
        }
    };
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    let report = report?;
    if show {
        status!(
            "stopped: {}; this run: {} complete, {} pruned, {} failed",
            stop_reason(report.stop),
            report.complete,
            report.pruned,
            report.failed
        );
    }
    print_summary(&study)?;
    print_where(&file, a.quiet);
    if report.stop == StopReason::Interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if report.failed > 0 && report.complete == 0 && report.pruned == 0 {
        let (number, why) = first_failure.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
        let logs = match (&file.objective, file.log_dir()) {
            (ObjectiveKind::Command(_), Some(_)) => format!(
                "; its whole output: ferrotune logs --study {} --trial {number} --storage {}",
                shell_word(&file.name),
                shell_word(&file.storage_url)
            ),
            _ => String::new(),
        };
        anyhow::bail!("every trial of this run failed ({}); the first, trial {number}: {why}{logs}", report.failed);
    }
    if let Some((task, threads)) = &trainer {
        crate::trainer::retrain_best(&file, task, &study, *threads)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn stop_reason(r: StopReason) -> &'static str {
    match r {
        StopReason::Budget => "budget reached",
        StopReason::Timeout => "timeout reached",
        StopReason::Interrupted => "interrupted",
        StopReason::SamplerExhausted => "the sampler is exhausted (every grid point tried)",
        StopReason::NoImprovement => "no improvement over the last [budget] patience trials",
    }
}

/// Where the trials are, and the command that shows them.
fn print_where(file: &StudyFile, quiet: bool) {
    if !quiet {
        status!(
            "trials stored in {}; list them with: ferrotune trials --study {} --storage {}",
            file.storage_url,
            shell_word(&file.name),
            shell_word(&file.storage_url)
        );
    }
}

/// `s` quoted for a POSIX shell when it needs to be.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The result on stdout: the best trial, or the Pareto front.
fn print_summary(study: &Study) -> Result<()> {
    if study.is_multi_objective() {
        let front = study.best_trials()?;
        outln!("Pareto front of study '{}': {} trial(s)", study.name(), front.len())?;
        for t in front {
            outln!("  {}", trial_line(&t))?;
        }
        return Ok(());
    }
    match study.best_trial()? {
        Some(b) => {
            outln!("best trial of study '{}': #{} value={}", study.name(), b.number, num(b.value().unwrap_or(f64::NAN)))?;
            for (k, v) in b.param_values() {
                outln!("  {k} = {v}")?;
            }
        }
        None => outln!("study '{}' has no complete trial yet", study.name())?,
    }
    Ok(())
}
