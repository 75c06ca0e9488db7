//! Parameter distributions: the domain one hyperparameter is drawn from.
//!
//! Every distribution has an *internal* representation as one `f64`, which is
//! what storage keeps and what samplers work with (as in Optuna): floats and
//! ints are themselves, a categorical value is the index of its choice. The
//! *external* value ([`ParamValue`]) is what the user's objective sees.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::{invalid, Result};

/// A parameter value as the objective sees it. Categorical choices are
/// `ParamValue`s too, so a choice can be a string, an integer, a float or a bool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A boolean choice.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A real number.
    Float(f64),
    /// A string choice.
    Str(String),
}

impl ParamValue {
    /// The value as a float (ints widen; bools and strings give `None`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Float(x) => Some(*x),
            ParamValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    /// The value as an integer (floats only when they are whole numbers).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ParamValue::Int(i) => Some(*i),
            ParamValue::Float(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Some(*x as i64),
            _ => None,
        }
    }
    /// The value as a string (strings only).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ParamValue::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The value as a boolean (booleans only).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ParamValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The value as JSON (strings stay strings, numbers stay numbers).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a ParamValue always serializes")
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x}"),
            ParamValue::Str(s) => f.write_str(s),
        }
    }
}

macro_rules! param_value_from {
    ($($t:ty => $v:ident as $c:ty),*) => {$(
        impl From<$t> for ParamValue {
            fn from(x: $t) -> Self { ParamValue::$v(x as $c) }
        }
    )*};
}
param_value_from!(f64 => Float as f64, f32 => Float as f64, i64 => Int as i64, i32 => Int as i64,
                  u32 => Int as i64, usize => Int as i64, bool => Bool as bool);
impl From<&str> for ParamValue {
    fn from(s: &str) -> Self {
        ParamValue::Str(s.to_string())
    }
}
impl From<String> for ParamValue {
    fn from(s: String) -> Self {
        ParamValue::Str(s)
    }
}

/// Parameters and their distributions, in order.
pub type SearchSpace = indexmap::IndexMap<String, Distribution>;

/// The largest integer magnitude an int parameter may have: 2^53, where
/// the internal `f64` still holds every integer exactly.
pub const MAX_EXACT_INT: u64 = 1 << 53;

/// The domain of one hyperparameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Distribution {
    /// A real number in `[low, high]`; uniform, log-uniform, or on a grid of `step`.
    Float {
        /// The smallest value.
        low: f64,
        /// The largest value.
        high: f64,
        #[serde(default)]
        /// Sample uniformly in log space (low > 0).
        log: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        /// Only values `low + k * step`.
        step: Option<f64>,
    },
    /// An integer in `[low, high]`, on a grid of `step` (1 by default), or log-uniform.
    Int {
        /// The smallest value.
        low: i64,
        /// The largest value.
        high: i64,
        #[serde(default)]
        /// Sample uniformly in log space (low >= 1).
        log: bool,
        #[serde(default = "one")]
        /// Only values `low + k * step`.
        step: i64,
    },
    /// One of a fixed list of values.
    Categorical {
        /// The values it takes; internally, a value is its index here.
        choices: Vec<ParamValue>,
    },
}

fn one() -> i64 {
    1
}

/// Relative tolerance when checking that a float step divides the range.
const STEP_TOLERANCE: f64 = 1e-8;

impl Distribution {
    /// A float in `[low, high]`.
    pub fn float(low: f64, high: f64) -> Self {
        Distribution::Float { low, high, log: false, step: None }
    }
    /// A float in `[low, high]` on a log scale.
    pub fn float_log(low: f64, high: f64) -> Self {
        Distribution::Float { low, high, log: true, step: None }
    }
    /// A float in `[low, high]` in steps of `step`.
    pub fn float_step(low: f64, high: f64, step: f64) -> Self {
        Distribution::Float { low, high, log: false, step: Some(step) }
    }
    /// An integer in `[low, high]`.
    pub fn int(low: i64, high: i64) -> Self {
        Distribution::Int { low, high, log: false, step: 1 }
    }
    /// An integer in `[low, high]` on a log scale.
    pub fn int_log(low: i64, high: i64) -> Self {
        Distribution::Int { low, high, log: true, step: 1 }
    }
    /// An integer in `[low, high]` in steps of `step`.
    pub fn int_step(low: i64, high: i64, step: i64) -> Self {
        Distribution::Int { low, high, log: false, step }
    }
    /// One of `choices`.
    pub fn categorical<T: Into<ParamValue>>(choices: impl IntoIterator<Item = T>) -> Self {
        Distribution::Categorical { choices: choices.into_iter().map(Into::into).collect() }
    }

    /// Checks the distribution, naming `name` in the error.
    pub fn validate(&self, name: &str) -> Result<()> {
        match self {
            Distribution::Float { low, high, log, step } => {
                if !low.is_finite() || !high.is_finite() {
                    return Err(invalid(name, format!("bounds must be finite numbers, got low={low}, high={high}")));
                }
                if low > high {
                    return Err(invalid(name, format!("low ({low}) is greater than high ({high}); swap them")));
                }
                if !(high - low).is_finite() {
                    return Err(invalid(
                        name,
                        format!("the range [{low}, {high}] is too wide: its width overflows a 64-bit float; narrow it, or use `log` for a positive range"),
                    ));
                }
                if *log && *low <= 0.0 {
                    return Err(invalid(
                        name,
                        format!("a log-scale range needs low > 0, got low={low}; use a positive lower bound or drop `log`"),
                    ));
                }
                if let Some(step) = step {
                    if *log {
                        return Err(invalid(name, "`step` and `log` cannot be combined; pick one"));
                    }
                    if !(step.is_finite() && *step > 0.0) {
                        return Err(invalid(name, format!("step must be a positive number, got {step}")));
                    }
                    let n = (high - low) / step;
                    if (n - n.round()).abs() > STEP_TOLERANCE * n.abs().max(1.0) {
                        return Err(invalid(
                            name,
                            format!(
                                "step {step} does not fit the range [{low}, {high}]: high - low must be a multiple \
                                 of the step (e.g. high = {})",
                                low + n.floor() * step
                            ),
                        ));
                    }
                }
            }
            Distribution::Int { low, high, log, step } => {
                if low.unsigned_abs() > MAX_EXACT_INT || high.unsigned_abs() > MAX_EXACT_INT {
                    return Err(invalid(
                        name,
                        format!("int bounds must lie within ±2^53 ({MAX_EXACT_INT}), where every integer is exact; got [{low}, {high}]"),
                    ));
                }
                if low > high {
                    return Err(invalid(name, format!("low ({low}) is greater than high ({high}); swap them")));
                }
                if *log && *low < 1 {
                    return Err(invalid(
                        name,
                        format!("a log-scale integer range needs low >= 1, got low={low}; raise it or drop `log`"),
                    ));
                }
                if *step < 1 {
                    return Err(invalid(name, format!("step must be a positive integer, got {step}")));
                }
                if *log && *step != 1 {
                    return Err(invalid(name, "`step` and `log` cannot be combined; pick one"));
                }
                if (high - low) % step != 0 {
                    return Err(invalid(
                        name,
                        format!(
                            "step {step} does not fit the range [{low}, {high}]: high - low must be a multiple of \
                             the step (e.g. high = {})",
                            high - (high - low) % step
                        ),
                    ));
                }
            }
            Distribution::Categorical { choices } => {
                if choices.is_empty() {
                    return Err(invalid(name, "categorical parameter has no choices; give at least one"));
                }
                for (i, c) in choices.iter().enumerate() {
                    if let ParamValue::Float(x) = c {
                        if !x.is_finite() {
                            return Err(invalid(name, format!("choice {x} is not a finite number")));
                        }
                    }
                    if choices[..i].contains(c) {
                        return Err(invalid(name, format!("choice '{c}' is listed twice")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Number of distinct values, if finite.
    pub fn cardinality(&self) -> Option<u64> {
        match self {
            Distribution::Float { low, high, step: Some(step), .. } => Some(((high - low) / step).round() as u64 + 1),
            Distribution::Float { low, high, .. } => (low == high).then_some(1),
            Distribution::Int { low, high, step, .. } => Some(((high - low) / step) as u64 + 1),
            Distribution::Categorical { choices } => Some(choices.len() as u64),
        }
    }

    /// Maps a uniform draw `u` in `[0, 1)` to an internal value: the inverse
    /// CDF of the distribution. Random and quasi-random samplers both use it,
    /// so a low-discrepancy `u` stays low-discrepancy in parameter space.
    pub fn from_unit(&self, u: f64) -> f64 {
        let u = u.clamp(0.0, 1.0);
        let pick = |n: u64| ((u * n as f64) as u64).min(n - 1) as f64;
        match self {
            Distribution::Float { low, high, log: true, .. } => {
                let (a, b) = (low.ln(), high.ln());
                (a + u * (b - a)).exp().clamp(*low, *high)
            }
            Distribution::Float { low, step: Some(step), .. } => {
                let n = self.cardinality().unwrap_or(1);
                self.clamp_internal(low + pick(n) * step)
            }
            Distribution::Float { low, high, .. } => (low + u * (high - low)).clamp(*low, *high),
            Distribution::Int { low, high, log: true, .. } => {
                // Sample the continuous log range widened by half a unit on each
                // side, then round, so the end points get their fair share.
                let (a, b) = ((*low as f64 - 0.5).max(0.5).ln(), (*high as f64 + 0.5).ln());
                ((a + u * (b - a)).exp().round()).clamp(*low as f64, *high as f64)
            }
            Distribution::Int { low, step, .. } => {
                let n = self.cardinality().unwrap_or(1);
                *low as f64 + pick(n) * *step as f64
            }
            Distribution::Categorical { choices } => pick(choices.len() as u64),
        }
    }

    /// Snaps an internal value onto the distribution's grid and bounds.
    pub fn clamp_internal(&self, x: f64) -> f64 {
        match self {
            Distribution::Float { low, high, step: Some(step), .. } => {
                let k = ((x - low) / step).round();
                // Keep the decimal representation clean (0.1 + 2*0.1 => 0.3).
                let v = low + k * step;
                let digits = decimals(*step).max(decimals(*low));
                let p = 10f64.powi(digits as i32);
                (if digits < 15 { (v * p).round() / p } else { v }).clamp(*low, *high)
            }
            Distribution::Float { low, high, .. } => x.clamp(*low, *high),
            Distribution::Int { low, high, step, .. } => {
                let k = ((x - *low as f64) / *step as f64).round();
                (*low as f64 + k * *step as f64).clamp(*low as f64, *high as f64)
            }
            Distribution::Categorical { choices } => x.round().clamp(0.0, (choices.len() - 1) as f64),
        }
    }

    /// Whether an internal value belongs to the distribution.
    pub fn contains(&self, x: f64) -> bool {
        if !x.is_finite() {
            return false;
        }
        match self {
            Distribution::Float { low, high, step, .. } => {
                let in_range = *low <= x && x <= *high;
                match step {
                    Some(s) => {
                        let k = (x - low) / s;
                        in_range && (k - k.round()).abs() < 1e-6
                    }
                    None => in_range,
                }
            }
            Distribution::Int { low, high, step, .. } => {
                x.fract() == 0.0 && *low as f64 <= x && x <= *high as f64 && ((x as i64 - low) % step == 0)
            }
            Distribution::Categorical { choices } => x.fract() == 0.0 && x >= 0.0 && (x as usize) < choices.len(),
        }
    }

    /// The external value for an internal one.
    pub fn to_external(&self, x: f64) -> ParamValue {
        match self {
            Distribution::Float { .. } => ParamValue::Float(x),
            Distribution::Int { .. } => ParamValue::Int(x.round() as i64),
            Distribution::Categorical { choices } => choices[(x.round() as usize).min(choices.len() - 1)].clone(),
        }
    }

    /// The internal value for an external one, or an error saying why it does
    /// not belong (used for enqueued trials and `tell`-style user input).
    pub fn to_internal(&self, name: &str, v: &ParamValue) -> Result<f64> {
        let x = match self {
            Distribution::Float { .. } => v
                .as_f64()
                .ok_or_else(|| invalid(name, format!("expected a number, got '{v}'")))?,
            Distribution::Int { .. } => v
                .as_i64()
                .map(|i| i as f64)
                .ok_or_else(|| invalid(name, format!("expected an integer, got '{v}'")))?,
            Distribution::Categorical { choices } => {
                let idx = choices.iter().position(|c| c == v || numeric_eq(c, v));
                match idx {
                    Some(i) => i as f64,
                    None => {
                        let list: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
                        return Err(invalid(name, format!("'{v}' is not one of the choices [{}]", list.join(", "))));
                    }
                }
            }
        };
        if !self.contains(x) {
            return Err(invalid(name, format!("value {v} is outside its distribution {self}")));
        }
        Ok(x)
    }

    /// Representative internal values for a grid over this distribution:
    /// every value of a discrete distribution with at most `n` values (every
    /// choice of a categorical one), else `n` evenly spaced points (log-spaced
    /// for `log`), snapped onto the distribution's own grid.
    pub fn grid(&self, n: usize) -> Vec<f64> {
        let n = n.max(1);
        let mut v: Vec<f64> = match (self, self.cardinality()) {
            (Distribution::Categorical { choices }, _) => (0..choices.len()).map(|i| i as f64).collect(),
            (Distribution::Float { low, step, .. }, Some(c)) if c <= n as u64 => {
                (0..c).map(|k| self.clamp_internal(low + k as f64 * step.unwrap_or(0.0))).collect()
            }
            (Distribution::Int { low, step, .. }, Some(c)) if c <= n as u64 => {
                (0..c).map(|k| (low + k as i64 * step) as f64).collect()
            }
            _ => (0..n)
                .map(|k| if n == 1 { 0.5 } else { k as f64 / (n - 1) as f64 })
                .map(|u| self.clamp_internal(self.from_unit(u)))
                .collect(),
        };
        v.dedup();
        v
    }
}

fn numeric_eq(a: &ParamValue, b: &ParamValue) -> bool {
    matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
        && !matches!(a, ParamValue::Bool(_))
        && !matches!(b, ParamValue::Bool(_))
}

fn decimals(x: f64) -> u32 {
    let mut d = 0;
    let mut v = x.abs();
    while d < 15 && (v - v.round()).abs() > 1e-9 * v.max(1.0) {
        v *= 10.0;
        d += 1;
    }
    d
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Distribution::Float { low, high, log, step } => {
                write!(f, "float [{low}, {high}]")?;
                if *log {
                    write!(f, " log")?;
                }
                if let Some(s) = step {
                    write!(f, " step {s}")?;
                }
                Ok(())
            }
            Distribution::Int { low, high, log, step } => {
                write!(f, "int [{low}, {high}]")?;
                if *log {
                    write!(f, " log")?;
                }
                if *step != 1 {
                    write!(f, " step {step}")?;
                }
                Ok(())
            }
            Distribution::Categorical { choices } => {
                let list: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
                write!(f, "categorical [{}]", list.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(d: Distribution) -> String {
        d.validate("p").unwrap_err().to_string()
    }

    #[test]
    fn validation_errors_name_the_parameter_and_the_problem() {
        assert!(err(Distribution::float(2.0, 1.0)).contains("parameter 'p': low (2) is greater than high (1)"));
        assert!(err(Distribution::float_log(0.0, 1.0)).contains("needs low > 0"));
        assert!(err(Distribution::float_step(0.0, 1.0, 0.3)).contains("does not fit the range"));
        assert!(err(Distribution::float_step(0.0, 1.0, -0.5)).contains("positive"));
        assert!(err(Distribution::Float { low: 1.0, high: 2.0, log: true, step: Some(0.5) }).contains("cannot be combined"));
        assert!(err(Distribution::int(5, 1)).contains("greater than high"));
        assert!(err(Distribution::int_log(0, 10)).contains("low >= 1"));
        assert!(err(Distribution::int_step(16, 250, 16)).contains("e.g. high = 240"));
        assert!(err(Distribution::int_step(0, 10, 0)).contains("positive integer"));
        assert!(err(Distribution::Categorical { choices: vec![] }).contains("no choices"));
        assert!(err(Distribution::categorical(["a", "a"])).contains("listed twice"));
        assert!(err(Distribution::float(f64::NAN, 1.0)).contains("finite"));
    }

    #[test]
    fn valid_distributions_pass() {
        for d in [
            Distribution::float(-5.0, 10.0),
            Distribution::float(1.0, 1.0),
            Distribution::float_log(1e-5, 1e-1),
            Distribution::float_step(0.0, 1.0, 0.1),
            Distribution::int(0, 0),
            Distribution::int_step(16, 256, 16),
            Distribution::int_log(1, 1024),
            Distribution::categorical([1, 2, 3]),
            Distribution::categorical([true, false]),
        ] {
            d.validate("p").unwrap();
        }
    }

    #[test]
    fn from_unit_covers_every_value_and_stays_inside() {
        let d = Distribution::int_step(16, 256, 16);
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..1000 {
            let x = d.from_unit(k as f64 / 1000.0);
            assert!(d.contains(x), "{x}");
            seen.insert(x as i64);
        }
        assert_eq!(seen.len(), 16);
        let d = Distribution::float_step(0.0, 1.0, 0.1);
        for k in 0..100 {
            let x = d.from_unit(k as f64 / 100.0);
            assert!(d.contains(x), "{x}");
            assert!(format!("{x}").len() <= 3, "{x} should print cleanly");
        }
        let d = Distribution::float_log(1e-5, 1e-1);
        assert!((d.from_unit(0.5) - 1e-3).abs() < 1e-12);
        assert_eq!(d.from_unit(1.0), 1e-1);
        let d = Distribution::int_log(1, 8);
        let xs: std::collections::BTreeSet<i64> = (0..100).map(|k| d.from_unit(k as f64 / 100.0) as i64).collect();
        assert_eq!(xs.into_iter().collect::<Vec<_>>(), (1..=8).collect::<Vec<_>>());
    }

    #[test]
    fn external_values_round_trip() {
        let d = Distribution::categorical(vec![ParamValue::from("relu"), 3.into(), 0.5.into(), true.into()]);
        for (i, c) in ["relu", "3", "0.5", "true"].iter().enumerate() {
            let v = d.to_external(i as f64);
            assert_eq!(v.to_string(), *c);
            assert_eq!(d.to_internal("p", &v).unwrap(), i as f64);
        }
        assert!(d.to_internal("p", &"gelu".into()).unwrap_err().to_string().contains("not one of the choices"));
        let d = Distribution::int(1, 10);
        assert!(d.to_internal("p", &11.into()).is_err());
        assert!(d.to_internal("p", &2.5.into()).unwrap_err().to_string().contains("expected an integer"));
        assert_eq!(d.to_internal("p", &4.0.into()).unwrap(), 4.0);
    }

    #[test]
    fn grid_points() {
        assert_eq!(Distribution::int_step(0, 10, 5).grid(5), vec![0.0, 5.0, 10.0]);
        assert_eq!(Distribution::float(0.0, 1.0).grid(3), vec![0.0, 0.5, 1.0]);
        let g = Distribution::float_log(1e-4, 1e-2).grid(3);
        assert!((g[1] - 1e-3).abs() < 1e-12);
        assert_eq!(Distribution::categorical(["a", "b"]).grid(1), vec![0.0, 1.0]);
    }
}
