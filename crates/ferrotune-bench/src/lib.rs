//! Shared pieces of ferrotune's benchmarks.

pub mod speed;
