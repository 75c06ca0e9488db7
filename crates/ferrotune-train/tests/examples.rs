//! The trainer's examples run as tests, so they stay true.

#[path = "../examples/tune_study.rs"]
mod tune_study;

/// A `[trainer]` study from Rust alone (issue 11: the CLI holds no
/// tuning or training policy).
#[test]
fn a_trainer_study_runs_from_rust_without_the_cli() {
    tune_study::main().unwrap();
}
