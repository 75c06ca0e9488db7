//! The examples are run as tests, so they stay true.

#[path = "../examples/define_by_run.rs"]
mod define_by_run;

#[test]
fn define_by_run_example_runs() {
    define_by_run::main().unwrap();
}
