//! Sampler overhead: the time of one ask (+ suggesting the whole space and
//! telling a value) on a study that already holds N complete trials.
//!
//!     cargo bench -p ferrotune-bench --bench ask
//!     cargo bench -p ferrotune-bench --bench ask -- tpe    # one sampler

use ferrotune_bench::speed::{ask_tell, study_with, Space};

fn main() {
    divan::main();
}

const TRIALS: &[usize] = &[100, 300, 1000, 10_000];
/// GP-BO is cubic in the number of trials; it is measured up to 1,000.
const GP_TRIALS: &[usize] = &[100, 300, 1000];

fn bench(b: divan::Bencher, sampler: &str, space: Space, n: usize) {
    let (study, sp) = study_with(sampler, space, n);
    b.bench_local(|| ask_tell(&study, &sp));
}

macro_rules! sampler_benches {
    ($($module:ident => $name:literal, $trials:expr;)*) => {$(
        mod $module {
            use super::*;
            #[divan::bench(args = $trials, sample_count = 20, sample_size = 5)]
            fn float10(b: divan::Bencher, n: usize) { bench(b, $name, Space::Float10, n) }
            #[divan::bench(args = $trials, sample_count = 20, sample_size = 5)]
            fn mixed10(b: divan::Bencher, n: usize) { bench(b, $name, Space::Mixed10, n) }
            #[divan::bench(args = $trials, sample_count = 20, sample_size = 5)]
            fn float40(b: divan::Bencher, n: usize) { bench(b, $name, Space::Float40, n) }
        }
    )*};
}

sampler_benches! {
    random => "random", TRIALS;
    qmc => "qmc", TRIALS;
    tpe => "tpe", TRIALS;
    tpe_univariate => "tpe-univariate", TRIALS;
    cmaes => "cmaes", TRIALS;
    nsga2 => "nsga2", TRIALS;
    gp => "gp", GP_TRIALS;
}
