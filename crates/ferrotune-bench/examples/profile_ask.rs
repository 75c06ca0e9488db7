//! Runs asks in a loop for a profiler:
//!     cargo run --profile profiling -p ferrotune-bench --example profile_ask -- tpe float40 1000 200
use ferrotune_bench::speed::{ask_tell, study_with, Space};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let space = match a.get(2).map(String::as_str) {
        Some("float10") => Space::Float10,
        Some("mixed10") => Space::Mixed10,
        _ => Space::Float40,
    };
    let n: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let reps: usize = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(100);
    let (study, sp) = study_with(a.get(1).map(String::as_str).unwrap_or("tpe"), space, n);
    let t = std::time::Instant::now();
    for _ in 0..reps {
        ask_tell(&study, &sp);
    }
    println!("{:.3} ms per ask", t.elapsed().as_secs_f64() * 1000.0 / reps as f64);
}
