//! Standard test functions with known optima (definitions and domains as in
//! Surjanovic & Bingham's Virtual Library of Simulation Experiments and
//! BoTorch's `test_functions.synthetic`), plus a mixed hyperparameter-like
//! space. All are minimised.

use ferrotune::{ObjectiveError, Trial};
use std::f64::consts::PI;

pub struct Problem {
    pub name: &'static str,
    /// The known minimum.
    pub optimum: f64,
    pub objective: fn(&mut Trial) -> Result<f64, ObjectiveError>,
}

fn xs(t: &mut Trial, n: usize, lo: f64, hi: f64) -> Result<Vec<f64>, ObjectiveError> {
    (0..n).map(|i| Ok(t.suggest_float(&format!("x{i}"), lo, hi).sample()?)).collect()
}

fn branin(t: &mut Trial) -> Result<f64, ObjectiveError> {
    let x1 = t.suggest_float("x1", -5.0, 10.0).sample()?;
    let x2 = t.suggest_float("x2", 0.0, 15.0).sample()?;
    let (b, c, r, s, tt) = (5.1 / (4.0 * PI * PI), 5.0 / PI, 6.0, 10.0, 1.0 / (8.0 * PI));
    Ok((x2 - b * x1 * x1 + c * x1 - r).powi(2) + s * (1.0 - tt) * x1.cos() + s)
}

fn hartmann6(t: &mut Trial) -> Result<f64, ObjectiveError> {
    let x = xs(t, 6, 0.0, 1.0)?;
    const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
    const A: [[f64; 6]; 4] = [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    const P: [[f64; 6]; 4] = [
        [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    Ok(-(0..4)
        .map(|i| ALPHA[i] * (-(0..6).map(|j| A[i][j] * (x[j] - P[i][j]).powi(2)).sum::<f64>()).exp())
        .sum::<f64>())
}

fn rosenbrock5(t: &mut Trial) -> Result<f64, ObjectiveError> {
    let x = xs(t, 5, -5.0, 10.0)?;
    Ok(x.windows(2).map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2)).sum())
}

fn ackley10(t: &mut Trial) -> Result<f64, ObjectiveError> {
    let x = xs(t, 10, -32.768, 32.768)?;
    let n = x.len() as f64;
    let s1 = x.iter().map(|v| v * v).sum::<f64>() / n;
    let s2 = x.iter().map(|v| (2.0 * PI * v).cos()).sum::<f64>() / n;
    Ok(-20.0 * (-0.2 * s1.sqrt()).exp() - s2.exp() + 20.0 + std::f64::consts::E)
}

fn levy10(t: &mut Trial) -> Result<f64, ObjectiveError> {
    let x = xs(t, 10, -10.0, 10.0)?;
    let w: Vec<f64> = x.iter().map(|v| 1.0 + (v - 1.0) / 4.0).collect();
    let d = w.len();
    let mid: f64 = w[..d - 1].iter().map(|wi| (wi - 1.0).powi(2) * (1.0 + 10.0 * (PI * wi + 1.0).sin().powi(2))).sum();
    Ok((PI * w[0]).sin().powi(2) + mid + (w[d - 1] - 1.0).powi(2) * (1.0 + (2.0 * PI * w[d - 1]).sin().powi(2)))
}

fn styblinski_tang8(t: &mut Trial) -> Result<f64, ObjectiveError> {
    let x = xs(t, 8, -5.0, 5.0)?;
    Ok(0.5 * x.iter().map(|v| v.powi(4) - 16.0 * v * v + 5.0 * v).sum::<f64>())
}

/// A hyperparameter-like space: learning rate (log), width (stepped int),
/// activation (categorical), dropout; the optimum 0 is at lr = 1e-3,
/// units = 256, relu, dropout = 0.2.
fn mixed(t: &mut Trial) -> Result<f64, ObjectiveError> {
    let lr = t.suggest_float("lr", 1e-5, 1e-1).log().sample()?;
    let units = t.suggest_int("units", 16, 512).step(16).sample()?;
    let act = t.suggest_categorical("activation", ["relu", "tanh", "sigmoid"])?;
    let dropout = t.suggest_float("dropout", 0.0, 0.5).sample()?;
    let penalty = match act {
        "relu" => 0.0,
        "tanh" => 0.5,
        _ => 1.0,
    };
    Ok((lr.log10() + 3.0).powi(2) + ((units as f64 - 256.0) / 128.0).powi(2) + penalty + 4.0 * (dropout - 0.2).powi(2))
}

pub fn all() -> Vec<Problem> {
    vec![
        Problem { name: "branin-2d", optimum: 0.397_887_357_729_738, objective: branin },
        Problem { name: "hartmann-6d", optimum: -3.322_368_011_415_515, objective: hartmann6 },
        Problem { name: "rosenbrock-5d", optimum: 0.0, objective: rosenbrock5 },
        Problem { name: "ackley-10d", optimum: 0.0, objective: ackley10 },
        Problem { name: "levy-10d", optimum: 0.0, objective: levy10 },
        Problem { name: "styblinski-tang-8d", optimum: -39.166_165_703_771_41 * 8.0, objective: styblinski_tang8 },
        Problem { name: "mixed-4d", optimum: 0.0, objective: mixed },
    ]
}
