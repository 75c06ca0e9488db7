//! Whether an objective is to be made small or large, and the comparisons
//! every sampler, pruner and study needs: written once here, so "better"
//! means one thing everywhere.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Whether an objective is to be made small or large.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Smaller is better (a loss, an error rate).
    Minimize,
    /// Larger is better (an accuracy).
    Maximize,
}

impl Direction {
    /// Parses `minimize`/`maximize` (also `min`/`max`).
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "minimize" | "min" => Ok(Direction::Minimize),
            "maximize" | "max" => Ok(Direction::Maximize),
            _ => Err(Error::InvalidSpec(format!("direction '{s}' is not 'minimize' or 'maximize'"))),
        }
    }

    /// Whether `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Minimize => a < b,
            Direction::Maximize => a > b,
        }
    }

    /// `1.0` to minimise, `-1.0` to maximise: `sign() * value` is a loss,
    /// so code written for minimisation serves both directions.
    pub fn sign(self) -> f64 {
        match self {
            Direction::Minimize => 1.0,
            Direction::Maximize => -1.0,
        }
    }

    /// `value` as a loss (smaller is better): `sign() * value`.
    pub fn loss(self, value: f64) -> f64 {
        self.sign() * value
    }

    /// Whether `a` improves on `b` by more than `min_delta` (early stopping
    /// of a study, the patient pruner).
    pub fn improves(self, a: f64, b: f64, min_delta: f64) -> bool {
        self.loss(a) < self.loss(b) - min_delta
    }

    /// The worst possible value: a start for "best so far".
    pub fn worst(self) -> f64 {
        self.sign() * f64::INFINITY
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Minimize => "minimize",
            Direction::Maximize => "maximize",
        })
    }
}

/// Directions as users write them, comma-separated ("minimize, maximize"),
/// for messages.
pub fn names(ds: &[Direction]) -> String {
    ds.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_agree_in_both_directions() {
        let (min, max) = (Direction::Minimize, Direction::Maximize);
        assert!(min.better(1.0, 2.0) && max.better(2.0, 1.0));
        assert!(min.improves(1.0, 2.0, 0.5) && !min.improves(1.8, 2.0, 0.5));
        assert!(max.improves(3.0, 2.0, 0.5) && !max.improves(2.2, 2.0, 0.5));
        assert_eq!((min.loss(3.0), max.loss(3.0)), (3.0, -3.0));
        assert!(min.better(1e300, min.worst()) && max.better(-1e300, max.worst()));
        assert_eq!(Direction::parse("MAX").unwrap(), max);
        assert!(Direction::parse("up").is_err());
    }
}
