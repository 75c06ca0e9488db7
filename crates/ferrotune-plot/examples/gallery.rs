//! Renders every plot kind of a synthetic tuning study into a directory
//! (SVG, PNG and HTML), to look at:
//! `cargo run -p ferrotune-plot --example gallery -- DIR`.

use std::sync::Arc;

use ferrotune::pruners::PercentilePruner;
use ferrotune::samplers::TpeSampler;
use ferrotune::storage::InMemoryStorage;
use ferrotune::{Direction, ObjectiveError, Optimize, Study};
use ferrotune_plot::{build, write, Kind, Options, StudyData};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "gallery".into()));
    std::fs::create_dir_all(&dir)?;
    let study = Study::builder("mlp-demo")
        .direction(Direction::Minimize)
        .storage(Arc::new(InMemoryStorage::new()))
        .sampler(TpeSampler::new(Some(1), Default::default()))
        .pruner(PercentilePruner::median())
        .create()?;
    study.optimize(
        |t: &mut ferrotune::Trial| -> Result<f64, ObjectiveError> {
            let lr = t.suggest_float("lr", 1e-5, 1e-1).log().sample()?;
            let units = t.suggest_int("units", 16, 256).step(16).sample()?;
            let opt = t.suggest_categorical("optimizer", ["sgd", "adam"])?;
            let momentum = if opt == "sgd" { t.suggest_float("momentum", 0.0, 0.99).sample()? } else { 0.9 };
            let base = 0.05
                + 0.02 * (lr.log10() + 3.0).powi(2)
                + 0.0002 * (units as f64 - 128.0).abs() / 16.0
                + 0.05 * (momentum - 0.9).abs();
            for epoch in 0..10u64 {
                t.report(epoch, base + 0.5 / (epoch + 1) as f64)?;
                if t.should_prune()? {
                    return Err(ObjectiveError::Pruned);
                }
            }
            Ok(base)
        },
        Optimize::trials(80),
    )?;
    let data = StudyData::load(&study)?;
    for kind in Kind::ALL {
        let fig = match build(kind, &data, &Options::default()) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{}: {e}", kind.name());
                continue;
            }
        };
        for ext in ["svg", "png", "html"] {
            write(&fig, &dir.join(format!("{}.{ext}", kind.name())))?;
        }
    }
    println!("wrote {}", dir.display());
    Ok(())
}
