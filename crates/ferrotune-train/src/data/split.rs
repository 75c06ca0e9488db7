//! Evaluation splits: a seeded hold-out partition and k-fold
//! cross-validation. Both shuffle with ChaCha8 from the given seed, so the
//! same seed gives the same split on every machine.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TrainError};

/// Row indices of a hold-out split. Disjoint; together they cover `0..n`.
#[derive(Debug, Clone, PartialEq)]
pub struct Holdout {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test: Vec<usize>,
}

/// Shuffles `0..n` and cuts off `validation` and `test` fractions.
pub fn holdout(n: usize, validation: f64, test: f64, seed: u64) -> Result<Holdout> {
    for (name, f) in [("validation", validation), ("test", test)] {
        if !(0.0..1.0).contains(&f) {
            return Err(TrainError::Config(format!("{name} fraction must be in [0, 1), got {f}")));
        }
    }
    if validation + test >= 1.0 {
        return Err(TrainError::Config(format!(
            "validation ({validation}) + test ({test}) fractions leave no training data; keep their sum below 1"
        )));
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_val = (validation * n as f64).round() as usize;
    let n_test = (test * n as f64).round() as usize;
    if (validation > 0.0 && n_val == 0) || n - n_val - n_test == 0 {
        return Err(TrainError::Config(format!("{n} rows are too few for a validation fraction of {validation}")));
    }
    let test_idx = idx.split_off(n - n_test);
    let val_idx = idx.split_off(idx.len() - n_val);
    Ok(Holdout { train: idx, validation: val_idx, test: test_idx })
}

/// `k` folds of (train, validation) indices: every row is in exactly one
/// validation fold; fold sizes differ by at most one.
pub fn kfold(n: usize, k: usize, seed: u64) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
    if k < 2 {
        return Err(TrainError::Config(format!("folds must be at least 2, got {k}")));
    }
    if k > n {
        return Err(TrainError::Config(format!("{k} folds need at least {k} rows, the data has {n}")));
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let bounds: Vec<usize> = (0..=k).map(|f| f * n / k).collect();
    Ok((0..k)
        .map(|f| {
            let val = idx[bounds[f]..bounds[f + 1]].to_vec();
            let train = idx[..bounds[f]].iter().chain(&idx[bounds[f + 1]..]).copied().collect();
            (train, val)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn holdout_is_disjoint_complete_and_seeded() {
        let h = holdout(1000, 0.1, 0.2, 3).unwrap();
        assert_eq!((h.train.len(), h.validation.len(), h.test.len()), (700, 100, 200));
        let all: HashSet<usize> = h.train.iter().chain(&h.validation).chain(&h.test).copied().collect();
        assert_eq!(all.len(), 1000);
        assert_eq!(h, holdout(1000, 0.1, 0.2, 3).unwrap());
        assert_ne!(h.validation, holdout(1000, 0.1, 0.2, 4).unwrap().validation);
        assert!(holdout(10, 0.6, 0.5, 0).unwrap_err().to_string().contains("no training data"));
        assert!(holdout(10, 1.5, 0.0, 0).is_err());
    }

    #[test]
    fn kfold_covers_every_row_once() {
        let folds = kfold(103, 5, 9).unwrap();
        let mut seen = vec![0; 103];
        for (train, val) in &folds {
            assert!((20..=21).contains(&val.len()));
            assert_eq!(train.len() + val.len(), 103);
            let v: HashSet<_> = val.iter().collect();
            assert!(train.iter().all(|t| !v.contains(t)));
            for &i in val {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
        assert!(kfold(3, 5, 0).is_err() && kfold(10, 1, 0).is_err());
    }
}
