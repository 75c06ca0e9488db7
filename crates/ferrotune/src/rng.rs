//! Seed derivation. Every random choice in ferrotune flows from the study's
//! seed through these functions, keyed by trial number and parameter name,
//! so a draw does not depend on thread timing or the order of suggestions:
//! the same seed gives the same parameters, trial for trial, even after a
//! resume or in another process.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a: a hash of a name that is the same in every process and release
/// (std's `DefaultHasher` is not guaranteed to be).
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3))
}

/// Combines seed parts into one seed.
pub fn combine(parts: &[u64]) -> u64 {
    parts.iter().fold(0x5EED_u64, |acc, p| splitmix64(acc ^ splitmix64(*p)))
}

/// A generator for one purpose within one trial.
pub fn rng_for(seed: u64, trial_number: u64, purpose: &str) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(combine(&[seed, trial_number, stable_hash(purpose)]))
}

/// A fresh seed when the user gave none.
pub fn fresh_seed() -> u64 {
    rand::random()
}
