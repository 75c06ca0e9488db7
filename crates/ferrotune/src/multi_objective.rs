//! Pareto dominance for studies with several directions.

use crate::direction::Direction;

/// Whether `a` Pareto-dominates `b`: no worse in every objective, strictly
/// better in at least one.
pub fn dominates(a: &[f64], b: &[f64], directions: &[Direction]) -> bool {
    let mut strictly = false;
    for ((x, y), d) in a.iter().zip(b).zip(directions) {
        let (x, y) = (d.loss(*x), d.loss(*y));
        if x > y {
            return false;
        }
        if x < y {
            strictly = true;
        }
    }
    strictly
}

/// Indices of the non-dominated points (the Pareto front), in input order.
/// O(n² · m), which is fine for the front of a tuning study.
pub fn pareto_front(points: &[&[f64]], directions: &[Direction]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| !points.iter().enumerate().any(|(j, p)| j != i && dominates(p, points[i], directions)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::*;

    #[test]
    fn front_of_two_minimized_objectives() {
        let pts: Vec<&[f64]> = vec![&[1.0, 5.0], &[2.0, 2.0], &[3.0, 3.0], &[5.0, 1.0], &[2.0, 2.0]];
        assert_eq!(pareto_front(&pts, &[Minimize, Minimize]), vec![0, 1, 3, 4]);
    }

    #[test]
    fn directions_are_respected() {
        assert!(dominates(&[2.0, 1.0], &[1.0, 1.0], &[Maximize, Minimize]));
        assert!(!dominates(&[2.0, 1.0], &[1.0, 1.0], &[Minimize, Minimize]));
        assert!(!dominates(&[1.0, 1.0], &[1.0, 1.0], &[Minimize, Minimize]));
    }
}
