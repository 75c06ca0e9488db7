//! What an objective returns, and objectives that are not Rust closures.

pub mod command;
pub mod protocol;

use std::fmt;

/// Why an objective did not produce a value.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectiveError {
    /// The objective stopped early because the pruner said so.
    Pruned,
    /// The run was stopped from outside (Ctrl-C): the trial is marked failed, "interrupted".
    Interrupted,
    /// Anything else: the trial is marked failed with this message.
    Failed(String),
}

impl ObjectiveError {
    /// A failure with a message.
    pub fn msg(m: impl fmt::Display) -> Self {
        ObjectiveError::Failed(m.to_string())
    }
}

impl fmt::Display for ObjectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectiveError::Pruned => f.write_str("pruned"),
            ObjectiveError::Interrupted => f.write_str("interrupted"),
            ObjectiveError::Failed(m) => f.write_str(m),
        }
    }
}

/// Any error converts, so `?` works inside an objective; the message keeps
/// the whole source chain.
impl<E: std::error::Error> From<E> for ObjectiveError {
    fn from(e: E) -> Self {
        let mut msg = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        ObjectiveError::Failed(msg)
    }
}

/// What an objective may return: one value, or one per direction.
pub trait ObjectiveValue {
    /// The values, one per direction.
    fn into_values(self) -> Vec<f64>;
}

impl ObjectiveValue for f64 {
    fn into_values(self) -> Vec<f64> {
        vec![self]
    }
}
impl ObjectiveValue for f32 {
    fn into_values(self) -> Vec<f64> {
        vec![self as f64]
    }
}
impl ObjectiveValue for Vec<f64> {
    fn into_values(self) -> Vec<f64> {
        self
    }
}
impl<const N: usize> ObjectiveValue for [f64; N] {
    fn into_values(self) -> Vec<f64> {
        self.to_vec()
    }
}
impl ObjectiveValue for (f64, f64) {
    fn into_values(self) -> Vec<f64> {
        vec![self.0, self.1]
    }
}
impl ObjectiveValue for (f64, f64, f64) {
    fn into_values(self) -> Vec<f64> {
        vec![self.0, self.1, self.2]
    }
}
