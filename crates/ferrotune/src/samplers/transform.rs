//! The unit-cube view of numerical parameters that CMA-ES, GP-BO and the
//! genetic operators work in: log parameters in log space, integers and
//! steps widened by half a step on each side so every value owns an equal
//! slice of `[0, 1]`, and rounded back when decoded.

use crate::distribution::Distribution;

/// Maps one numerical distribution to and from `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitAxis {
    lo: f64,
    hi: f64,
    log: bool,
    dist: Distribution,
}

impl UnitAxis {
    /// `None` for categorical distributions.
    pub fn new(dist: &Distribution) -> Option<Self> {
        let (lo, hi, log) = match *dist {
            Distribution::Float { low, high, log, step: None } => (low, high, log),
            Distribution::Float { low, high, step: Some(s), .. } => (low - s / 2.0, high + s / 2.0, false),
            Distribution::Int { low, high, log: true, .. } => ((low as f64 - 0.5).max(0.5), high as f64 + 0.5, true),
            Distribution::Int { low, high, step, .. } => {
                (low as f64 - step as f64 / 2.0, high as f64 + step as f64 / 2.0, false)
            }
            Distribution::Categorical { .. } => return None,
        };
        let (lo, hi) = if log { (lo.ln(), hi.ln()) } else { (lo, hi) };
        Some(UnitAxis { lo, hi, log, dist: dist.clone() })
    }

    /// Internal value → `[0, 1]`.
    pub fn encode(&self, x: f64) -> f64 {
        // `ln` behind a call the optimiser cannot speculate: written as a
        // plain `if`, it was turned into a select that computed ln for
        // linear axes too (a profile showed it at 14% of a TPE ask).
        let v = if self.log { ln_not_speculated(x) } else { x };
        if self.hi > self.lo {
            ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
        } else {
            0.5
        }
    }

    /// `[0, 1]` → internal value on the distribution's grid.
    pub fn decode(&self, u: f64) -> f64 {
        let v = self.lo + u.clamp(0.0, 1.0) * (self.hi - self.lo);
        self.dist.clamp_internal(if self.log { v.exp() } else { v })
    }

    /// Whether the axis takes a grid of values (integers, stepped floats).
    pub fn is_discrete(&self) -> bool {
        matches!(self.dist, Distribution::Float { step: Some(_), .. } | Distribution::Int { .. })
    }

    /// The unit coordinate of the grid value `u` decodes to (`u` itself,
    /// up to rounding, on a continuous axis).
    pub fn snap(&self, u: f64) -> f64 {
        self.encode(self.decode(u))
    }

    /// The unit coordinates of the grid values either side of the one `u`
    /// decodes to (those inside the range); none on a continuous axis.
    pub fn neighbours(&self, u: f64) -> Vec<f64> {
        let (step, low, high) = match self.dist {
            Distribution::Float { step: Some(s), low, high, .. } => (s, low, high),
            Distribution::Int { step, low, high, .. } => (step as f64, low as f64, high as f64),
            _ => return vec![],
        };
        let v = self.decode(u);
        [v - step, v + step].into_iter().filter(|w| *w >= low - 1e-9 && *w <= high + 1e-9).map(|w| self.encode(w)).collect()
    }

    /// Width of one discrete value in unit coordinates (`None` if continuous).
    pub fn unit_step(&self) -> Option<f64> {
        match self.dist {
            Distribution::Float { step: Some(_), .. } | Distribution::Int { log: false, .. } => {
                Some(1.0 / self.dist.cardinality().unwrap_or(1) as f64)
            }
            _ => None,
        }
    }

}

#[inline(never)]
fn ln_not_speculated(x: f64) -> f64 {
    x.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_fair_slices() {
        let a = UnitAxis::new(&Distribution::int_step(16, 256, 16)).unwrap();
        for v in (16..=256).step_by(16) {
            assert_eq!(a.decode(a.encode(v as f64)), v as f64);
        }
        assert_eq!(a.decode(0.0), 16.0);
        assert_eq!(a.decode(1.0), 256.0);
        assert_eq!(a.unit_step(), Some(1.0 / 16.0));
        let l = UnitAxis::new(&Distribution::float_log(1e-5, 1e-1)).unwrap();
        assert!((l.encode(1e-3) - 0.5).abs() < 1e-12);
        assert!((l.decode(0.5) - 1e-3).abs() < 1e-15);
        assert!(UnitAxis::new(&Distribution::categorical(["a"])).is_none());
    }
}
