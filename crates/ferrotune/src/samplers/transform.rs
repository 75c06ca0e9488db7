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

    /// Width of one discrete value in unit coordinates (`None` if continuous).
    pub fn unit_step(&self) -> Option<f64> {
        match self.dist {
            Distribution::Float { step: Some(_), .. } | Distribution::Int { log: false, .. } => {
                Some(1.0 / self.dist.cardinality().unwrap_or(1) as f64)
            }
            _ => None,
        }
    }

    /// (low, step) of a grid axis.
    fn grid(&self) -> Option<(f64, f64)> {
        match self.dist {
            Distribution::Float { step: Some(s), low, .. } => Some((low, s)),
            Distribution::Int { step, low, .. } => Some((low as f64, step as f64)),
            _ => None,
        }
    }

    /// How many values a grid axis takes (0 on a continuous one).
    pub fn grid_len(&self) -> usize {
        if self.grid().is_some() {
            self.dist.cardinality().unwrap_or(0) as usize
        } else {
            0
        }
    }

    /// The unit coordinate of the `k`-th grid value.
    pub fn grid_point(&self, k: usize) -> f64 {
        let (low, step) = self.grid().unwrap_or((0.0, 0.0));
        self.encode(low + k as f64 * step)
    }

    /// The position on the grid of the value `u` decodes to.
    pub fn grid_index(&self, u: f64) -> usize {
        let (low, step) = self.grid().unwrap_or((0.0, 1.0));
        (((self.decode(u) - low) / step).round().max(0.0) as usize).min(self.grid_len().saturating_sub(1))
    }

    /// The slice of `[0, 1]` owned by the grid value `u` decodes to, as
    /// (lower, upper) edges (`None` on a continuous axis): what TPE's
    /// discretised kernels integrate over. On a log-integer axis the slices
    /// narrow as the values grow: the value v owns ln(v − ½) .. ln(v + ½).
    pub fn slice(&self, u: f64) -> Option<(f64, f64)> {
        match self.dist {
            Distribution::Int { log: true, .. } => {
                // The lowest value's slice starts at the axis's own lower end.
                let v = self.decode(u);
                let at = |x: f64| ((x.ln().clamp(self.lo, self.hi)) - self.lo) / (self.hi - self.lo);
                Some((at(v - 0.5), at(v + 0.5)))
            }
            _ => {
                let w = self.unit_step()?;
                let k = self.grid_index(u) as f64;
                Some((k * w, ((k + 1.0) * w).min(1.0)))
            }
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

    #[test]
    fn grid_positions_and_slices() {
        let a = UnitAxis::new(&Distribution::int_step(16, 256, 16)).unwrap();
        assert_eq!(a.grid_len(), 16);
        for k in 0..16 {
            assert_eq!(a.decode(a.grid_point(k)), 16.0 + 16.0 * k as f64);
            assert_eq!(a.grid_index(a.grid_point(k)), k);
        }
        assert_eq!(a.slice(0.3), Some((4.0 / 16.0, 5.0 / 16.0)));
        assert_eq!(a.slice(1.0), Some((15.0 / 16.0, 1.0)));
        // On a log-integer axis small values own wide slices; the slices
        // tile [0, 1] and each holds its own value.
        let l = UnitAxis::new(&Distribution::int_log(1, 1000)).unwrap();
        let width = |v: f64| l.slice(l.encode(v)).map(|(lo, hi)| hi - lo).unwrap();
        assert!(width(2.0) > 10.0 * width(500.0));
        let mut edge = 0.0;
        for v in 1..=1000 {
            let (lo, hi) = l.slice(l.encode(v as f64)).unwrap();
            assert!((lo - edge).abs() < 1e-12 && lo < l.encode(v as f64) && l.encode(v as f64) < hi, "{v}");
            edge = hi;
        }
        assert!((edge - 1.0).abs() < 1e-12);
        assert_eq!(UnitAxis::new(&Distribution::float(0.0, 1.0)).unwrap().slice(0.5), None);
    }
}
