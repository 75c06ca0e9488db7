//! A `[trainer]` study run from Rust with the library and `ferrotune-train`
//! alone — what `ferrotune run` does, without the CLI: tune an MLP on
//! MNIST, retrain the best configuration on train + validation, score it
//! once on the test set, save it.
//!
//!     cargo run --release -p ferrotune-train --example tune_study
//!
//! It uses MNIST from FERROTUNE_DATA_DIR when that holds it, else the small
//! subset in the repository's `fixtures/data`.

use ferrotune::study_file::StudyFile;
use ferrotune_train::data::mnist::DataLocation;
use ferrotune_train::tune;

const STUDY: &str = r#"
[study]
name = "mnist-from-rust"
direction = "maximize"
storage = "memory:"
seed = 7

[sampler]
type = "tpe"
n_startup_trials = 2

[pruner]
type = "median"
n_startup_trials = 1

[budget]
n_trials = 3

[trainer]
dataset = "mnist"
limit = 1000
validation = 0.2

[trainer.params]
epochs = 1
batch_size = 64

[space.lr]
type = "float"
low = 1e-4
high = 1e-2
log = true

[space.units]
type = "int"
low = 16
high = 64
log = true
"#;

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = tempfile_dir()?;
    let mut file = StudyFile::parse(STUDY, &out.join("study.toml"))?;
    file.path = out.join("study.toml"); // models go beside the "file"
    let mut loc = DataLocation::from_env();
    if loc.data_dir.as_ref().is_none_or(|d| !d.join("mnist/train-images-idx3-ubyte.gz").is_file()) {
        loc.data_dir = Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/data"));
        loc.download = false;
    }
    let (report, best) = tune::run_study(&file, &loc)?;
    println!("{} complete, {} pruned, {} failed", report.complete, report.pruned, report.failed);
    let best = best.ok_or("no trial completed")?;
    let acc = best.retrained.test.accuracy.ok_or("a classification task has an accuracy")?;
    println!(
        "trial {} (validation {:.4}) retrained on {} rows: test accuracy {acc:.4}, model in {}",
        best.trial,
        best.validation.unwrap_or(f64::NAN),
        best.rows,
        best.retrained.model_dir.display()
    );
    assert!(acc > 0.5, "1,000 images and one epoch: far above chance");
    assert!(best.retrained.model_dir.join("model.json").is_file());
    std::fs::remove_dir_all(&out)?;
    Ok(())
}

/// A fresh directory for the example's model.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("ferrotune-example-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
