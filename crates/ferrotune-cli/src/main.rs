//! `ferrotune`: run declarative studies, drive studies from any language with
//! ask/tell, and inspect what is stored. All tuning logic lives in the
//! `ferrotune` library; this crate parses arguments and prints.

mod ask_tell;
mod output;
mod run;
mod trainer;
mod ui;
mod visual;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

use ferrotune::storage::DEFAULT_STORAGE_URL;

#[derive(Parser)]
#[command(name = "ferrotune", version, about = "Hyperparameter tuning for deep learning", propagate_version = true)]
struct Cli {
    /// Print nothing but results and errors (no progress bar, no per-trial lines).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Also show what each trial's program prints, line by line (`run`).
    #[arg(long, short, global = true, conflicts_with = "quiet")]
    verbose: bool,
    /// Append every status line (progress, per-trial lines, notes) to this file.
    #[arg(long, global = true, value_name = "FILE")]
    log_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Where studies are kept. `sqlite:///relative.db`, `sqlite:////absolute.db`,
/// `postgresql://user@host/db` or `memory:`.
#[derive(clap::Args, Clone)]
struct StorageArg {
    #[arg(long, env = "FERROTUNE_STORAGE", default_value = DEFAULT_STORAGE_URL)]
    storage: String,
}

/// Which study to show, and how.
#[derive(clap::Args)]
struct StudyQuery {
    /// The study's name (list them with `ferrotune studies`).
    #[arg(long)]
    study: String,
    #[command(flatten)]
    storage: StorageArg,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Columns to show, comma-separated: number, state, value, params (all
    /// of them), a parameter's name, duration, started, completed, worker
    /// (host:pid), message.
    /// Default: all that fit the terminal.
    #[arg(long, value_delimiter = ',')]
    columns: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Train one MLP with the built-in trainer and print per-epoch metrics.
    #[command(after_help = trainer::HYPERPARAMETER_HELP)]
    Train {
        /// Hyperparameters: a JSON file's path, or a JSON object itself,
        /// e.g. '{"lr": 0.001, "units": 128, "dropout": 0.2}'.
        #[arg(long, value_name = "FILE|JSON")]
        config: Option<String>,
        /// A hyperparameter, key=value (repeatable; overrides --config).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// mnist, fashion-mnist or csv.
        #[arg(long, default_value = "mnist")]
        dataset: String,
        /// CSV file (with --dataset csv).
        #[arg(long)]
        path: Option<PathBuf>,
        /// CSV column to predict.
        #[arg(long)]
        target: Option<String>,
        /// The CSV target is a real value (default: classes).
        #[arg(long)]
        regression: bool,
        /// Fraction of the training data held out for validation.
        #[arg(long, default_value_t = 0.1)]
        validation: f64,
        /// Use only the first N training rows.
        #[arg(long)]
        limit: Option<usize>,
        /// Threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Save the trained model (model.bpk + model.json) into this directory.
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// Predict with a saved model (`ferrotune train --save`, or the model a
    /// trainer study retrains) and, where the true labels are known, score it.
    Predict {
        /// Directory holding model.bpk and model.json.
        #[arg(long)]
        model: PathBuf,
        /// mnist or fashion-mnist: that set's official test images (default
        /// for models trained on them).
        #[arg(long, conflicts_with = "path")]
        dataset: Option<String>,
        /// CSV rows to predict: every column a feature, except --target.
        #[arg(long)]
        path: Option<PathBuf>,
        /// CSV column with the true labels: not a feature; used to score.
        #[arg(long, requires = "path")]
        target: Option<String>,
        /// Write one prediction per line to this file. Without it, the
        /// predictions go to standard output only when that is not a terminal.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Run a study file: sample, run the objective command, store every trial.
    Run {
        /// The study file (TOML).
        study_file: PathBuf,
        /// Overrides the file's storage. (FERROTUNE_STORAGE is used only
        /// when the file names none.)
        #[arg(long)]
        storage: Option<String>,
        /// Overrides the file's n_trials (the study's total).
        #[arg(long)]
        n_trials: Option<usize>,
        /// Overrides the file's timeout for this run, e.g. "10m".
        #[arg(long)]
        timeout: Option<humantime::Duration>,
        /// Overrides the file's n_jobs.
        #[arg(long)]
        n_jobs: Option<usize>,
        /// Continue the study although its search space differs from the
        /// one stored with it (samplers use what old and new trials share).
        #[arg(long)]
        allow_space_change: bool,
    },
    /// Start a trial and print `{"trial": N, "params": {...}}` (creates the study on first use).
    Ask(ask_tell::AskArgs),
    /// Report a trial's result.
    Tell(ask_tell::TellArgs),
    /// List the studies in a storage.
    Studies {
        #[command(flatten)]
        storage: StorageArg,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// List a study's trials.
    Trials(StudyQuery),
    /// Show the best trial (the Pareto front for several objectives).
    Best(StudyQuery),
    /// Delete a study and all its trials.
    Delete {
        /// The study's name.
        #[arg(long)]
        study: String,
        #[command(flatten)]
        storage: StorageArg,
    },
    /// Copy a study, with every trial, attribute and intermediate value,
    /// from one storage to another (e.g. SQLite on a laptop to PostgreSQL
    /// on a cluster, and back).
    Copy {
        /// The storage to copy from (opened read-only).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The storage to copy to (must not have the study yet).
        #[arg(long, value_name = "URL")]
        to: String,
        /// The study's name.
        #[arg(long)]
        study: String,
    },
    /// Draw a plot of a study: history, intermediate, parallel, slice,
    /// contour, importance, pareto, edf, timeline or rank, as SVG, PNG or
    /// interactive HTML (by the output file's extension).
    Plot {
        /// The kind of plot.
        #[arg(value_name = "KIND")]
        kind: String,
        /// The study's name.
        #[arg(long)]
        study: String,
        #[command(flatten)]
        storage: StorageArg,
        /// The file to write: .svg, .png or .html.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Only these parameters (comma-separated; slice, parallel, contour, rank, importance).
        #[arg(long, value_delimiter = ',')]
        params: Vec<String>,
        /// Which objective of a multi-objective study (0, 1, ...).
        #[arg(long, default_value_t = 0)]
        objective: usize,
        /// The importance method of the importance plot: fanova or ped-anova.
        #[arg(long, default_value = "fanova")]
        method: String,
        /// Seed of the models behind contour and importance plots.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Rank the parameters by how much they matter (fANOVA, or PED-ANOVA
    /// for the best trials).
    Importance {
        /// The study's name.
        #[arg(long)]
        study: String,
        #[command(flatten)]
        storage: StorageArg,
        /// fanova (a random forest's variance decomposition) or ped-anova.
        #[arg(long, default_value = "fanova")]
        method: String,
        /// Only these parameters (comma-separated).
        #[arg(long, value_delimiter = ',')]
        params: Vec<String>,
        /// Which objective of a multi-objective study (0, 1, ...).
        #[arg(long, default_value_t = 0)]
        objective: usize,
        /// The forest's seed (fANOVA).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Serve the web dashboard: studies, trials, plots and importances, live
    /// while studies run. Binds 127.0.0.1 and opens the storage read-only
    /// unless told otherwise.
    Dashboard {
        #[command(flatten)]
        storage: StorageArg,
        /// The address to listen on. Anything but a loopback address lets
        /// others on the network read the studies (there is no login).
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// The port (0: any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Allow changes from the page: notes, marking a running trial
        /// failed, telling a trial its value.
        #[arg(long)]
        allow_write: bool,
    },
    /// Write a study's dashboard page (summary, every plot, importances,
    /// every trial) into one self-contained HTML file, for sharing.
    Report {
        /// The study's name.
        #[arg(long)]
        study: String,
        #[command(flatten)]
        storage: StorageArg,
        /// The HTML file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Manage a storage itself (schema upgrades).
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Print everything a trial's program printed (stdout and stderr), as
    /// kept beside the database.
    Logs {
        /// The study's name.
        #[arg(long)]
        study: String,
        /// The trial number.
        #[arg(long)]
        trial: u64,
        #[command(flatten)]
        storage: StorageArg,
    },
}

#[derive(Subcommand)]
enum StorageCommand {
    /// Migrate a database written by an older ferrotune to this release's
    /// schema, in one transaction (back it up first; stop workers of the
    /// older release, which cannot read the new schema).
    Upgrade {
        #[command(flatten)]
        storage: StorageArg,
    },
}

/// Exit code when a sampler has nothing left to propose (`ask` on a finished grid).
pub const EXIT_EXHAUSTED: u8 = 3;
/// Exit code after Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Exit code for a mistake in the command line (clap uses it too).
pub const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(f) = &cli.log_file {
        if let Err(e) = ui::set_log_file(f) {
            ui::status_line(&format!("error: {e:#}"));
            return ExitCode::from(EXIT_USAGE);
        }
    }
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) if ui::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let code = match e.downcast_ref::<ferrotune::Error>() {
                Some(ferrotune::Error::SamplerExhausted(_)) => EXIT_EXHAUSTED,
                _ if e.downcast_ref::<ui::UsageError>().is_some() => EXIT_USAGE,
                _ => 1,
            };
            ui::status_line(&format!("error: {e:#}"));
            ExitCode::from(code)
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Run { study_file, storage, n_trials, timeout, n_jobs, allow_space_change } => run::run(run::RunArgs {
            study_file,
            storage,
            n_trials,
            timeout: timeout.map(Into::into),
            n_jobs,
            quiet,
            verbose: cli.verbose,
            allow_space_change,
        }),
        Command::Train { config, set, dataset, path, target, regression, validation, limit, threads, save } => {
            trainer::train(trainer::TrainArgs { config, set, dataset, path, target, regression, validation, limit, threads, save })
                .map(|_| ExitCode::SUCCESS)
        }
        Command::Predict { model, dataset, path, target, output } => {
            trainer::predict(trainer::PredictArgs { model, dataset, path, target, output }).map(|_| ExitCode::SUCCESS)
        }
        Command::Ask(a) => ask_tell::ask(a, quiet).map(|_| ExitCode::SUCCESS),
        Command::Tell(a) => ask_tell::tell(a, quiet).map(|_| ExitCode::SUCCESS),
        Command::Studies { storage, format } => output::studies(&storage.storage, format).map(|_| ExitCode::SUCCESS),
        Command::Trials(q) => output::trials(&q.storage.storage, &q.study, q.format, &q.columns).map(|_| ExitCode::SUCCESS),
        Command::Best(q) => output::best(&q.storage.storage, &q.study, q.format, &q.columns).map(|_| ExitCode::SUCCESS),
        Command::Logs { study, trial, storage } => output::logs(&storage.storage, &study, trial).map(|_| ExitCode::SUCCESS),
        Command::Copy { from, to, study } => {
            let source = ferrotune::storage::open_read_only(&from)?;
            let target = ferrotune::storage::open(&to)?;
            let n = ferrotune::storage::copy_study(source.as_ref(), target.as_ref(), &study)
                .map_err(|e| {
                    let (from, to) = (ferrotune::storage::redact_url(&from), ferrotune::storage::redact_url(&to));
                    anyhow::anyhow!("copying study '{study}' from {from} to {to}: {e}")
                })?;
            if !quiet {
                let (from, to) = (ferrotune::storage::redact_url(&from), ferrotune::storage::redact_url(&to));
                ui::status!("copied study '{study}' ({n} trials) from {from} to {to}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plot { kind, study, storage, output, params, objective, method, seed } => visual::plot(visual::PlotArgs {
            kind,
            study,
            storage: storage.storage,
            output,
            params,
            objective,
            method,
            seed,
            quiet,
        })
        .map(|_| ExitCode::SUCCESS),
        Command::Importance { study, storage, method, params, objective, seed, format } => {
            visual::importance(visual::ImportanceArgs { study, storage: storage.storage, method, params, objective, seed, format })
                .map(|_| ExitCode::SUCCESS)
        }
        Command::Dashboard { storage, host, port, allow_write } => {
            let shown = ferrotune::storage::redact_url(&storage.storage);
            if !host.is_loopback() {
                ui::status_line(&format!(
                    "warning: listening on {host}: anyone who can reach this machine can read these studies{} (there is no login)",
                    if allow_write { " and change them" } else { "" }
                ));
            }
            let opts = ferrotune_dashboard::Options { storage: storage.storage.clone(), host, port, allow_write };
            ferrotune_dashboard::serve_until_interrupted(opts, |addr| {
                let url = if addr.ip().is_unspecified() { format!("http://127.0.0.1:{}", addr.port()) } else { format!("http://{addr}") };
                ui::status_line(&format!(
                    "ferrotune dashboard on {url} ({shown}, {}); Ctrl-C to stop",
                    if allow_write { "changes allowed" } else { "read-only" }
                ));
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { study, storage, output } => {
            let ext = output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
            if !matches!(ext.as_deref(), Some("html" | "htm")) {
                ui::usage!("-o {}: a report is an .html file", output.display());
            }
            let page = ferrotune_dashboard::report(&storage.storage, &study)?;
            std::fs::write(&output, page).map_err(|e| anyhow::anyhow!("{}: {e}", output.display()))?;
            if !quiet {
                ui::status!("wrote {} (study '{study}')", output.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Storage(StorageCommand::Upgrade { storage }) => {
            let shown = ferrotune::storage::redact_url(&storage.storage);
            let (from, to) = ferrotune::storage::upgrade(&storage.storage)?;
            if from == to {
                ui::status!("{shown} is already at schema version {to}; nothing to do");
            } else if from == 0 {
                ui::status!("{shown} had no ferrotune tables; created them at schema version {to}");
            } else {
                ui::status!("upgraded {shown} from schema version {from} to {to}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Delete { study, storage } => {
            // Never create a database just to find the study is not there.
            drop(ferrotune::storage::open_read_only(&storage.storage)?);
            let s = ferrotune::storage::open(&storage.storage)?;
            s.delete_study(&study)?;
            if let Some(dir) = ferrotune::storage::log_dir(&storage.storage, &study) {
                let _ = std::fs::remove_dir_all(dir);
            }
            if !quiet {
                ui::status!("deleted study '{study}'");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
