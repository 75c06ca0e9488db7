//! Times fANOVA's parts on N random trials of a 5-parameter function:
//! `cargo run --release -p ferrotune --example importance_time -- 10000`.
use std::time::Instant;
use ferrotune::{samplers::RandomSampler, Study, TellOutcome};

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10000);
    let s = Study::builder("t").sampler(RandomSampler::new(Some(1))).create().unwrap();
    for _ in 0..n {
        let mut t = s.ask().unwrap();
        let lr = t.suggest_float("lr", 1e-5, 1e-1).log().sample().unwrap();
        let u = t.suggest_int("units", 16, 512).step(16).sample().unwrap();
        let o = t.suggest_categorical("opt", ["sgd", "adam", "rmsprop"]).unwrap();
        let m = if o == "sgd" { t.suggest_float("momentum", 0.0, 0.99).sample().unwrap() } else { 0.9 };
        let d = t.suggest_float("dropout", 0.0, 0.5).sample().unwrap();
        let y = 0.02 * (lr.log10() + 3.0).powi(2) + 0.1 * (u as f64 / 512.0 - 0.5).powi(2) + 0.05 * (m - 0.9).abs() + 0.1 * d;
        s.tell(t.number(), TellOutcome::Values(vec![y])).unwrap();
    }
    let t0 = Instant::now();
    let imp = ferrotune::importance::evaluate(&s, &Default::default()).unwrap();
    println!("fanova total {:.2} s: {:?}", t0.elapsed().as_secs_f64(), imp.params.iter().map(|p| (&p.name, p.importance)).collect::<Vec<_>>());
}
