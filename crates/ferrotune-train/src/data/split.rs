//! Evaluation splits: a seeded hold-out partition and k-fold
//! cross-validation, plain or stratified (each class split on its own, so
//! every part keeps the class proportions, as scikit-learn's
//! `StratifiedKFold` and `train_test_split(stratify=y)`). All shuffle with
//! ChaCha8 from the given seed, so the same seed gives the same split on
//! every machine.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TrainError};

/// Row indices of a hold-out split. Disjoint; together they cover `0..n`.
#[derive(Debug, Clone, PartialEq)]
pub struct Holdout {
    /// Row indices to train on.
    pub train: Vec<usize>,
    /// Row indices to validate on.
    pub validation: Vec<usize>,
    /// Row indices kept for the final test.
    pub test: Vec<usize>,
}

fn check_fractions(validation: f64, test: f64) -> Result<()> {
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
    Ok(())
}

/// Shuffles `0..n` and cuts off `validation` and `test` fractions.
pub fn holdout(n: usize, validation: f64, test: f64, seed: u64) -> Result<Holdout> {
    check_fractions(validation, test)?;
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

fn check_folds(n: usize, k: usize) -> Result<()> {
    if k < 2 {
        return Err(TrainError::Config(format!("folds must be at least 2, got {k}")));
    }
    if k > n {
        return Err(TrainError::Config(format!("{k} folds need at least {k} rows, the data has {n}")));
    }
    Ok(())
}

/// `k` folds of (train, validation) indices: every row is in exactly one
/// validation fold; fold sizes differ by at most one.
pub fn kfold(n: usize, k: usize, seed: u64) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
    check_folds(n, k)?;
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

/// Rows of each class (labels in `0..n_classes`), each list shuffled; one
/// random stream over the classes in order.
fn shuffled_classes(labels: &[u32], seed: u64) -> Vec<Vec<usize>> {
    let n_classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut by_class = vec![vec![]; n_classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for rows in &mut by_class {
        rows.shuffle(&mut rng);
    }
    by_class
}

/// As [`holdout`], cutting the fractions from each class separately.
pub fn holdout_stratified(labels: &[u32], validation: f64, test: f64, seed: u64) -> Result<Holdout> {
    check_fractions(validation, test)?;
    let mut h = Holdout { train: vec![], validation: vec![], test: vec![] };
    for mut rows in shuffled_classes(labels, seed) {
        let n = rows.len();
        let n_test = (test * n as f64).round() as usize;
        let n_val = ((validation * n as f64).round() as usize).min(n - n_test);
        h.test.extend(rows.split_off(n - n_test));
        h.validation.extend(rows.split_off(rows.len() - n_val));
        h.train.extend(rows);
    }
    if h.train.is_empty() || (validation > 0.0 && h.validation.is_empty()) {
        return Err(TrainError::Config(format!(
            "{} rows are too few for a validation fraction of {validation}",
            labels.len()
        )));
    }
    Ok(h)
}

/// As [`kfold`], dealing each class's rows over the folds in turn, so every
/// fold holds each class in nearly the same share (counts differ by at
/// most one per class), and fold sizes differ by at most one.
pub fn kfold_stratified(labels: &[u32], k: usize, seed: u64) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
    let n = labels.len();
    check_folds(n, k)?;
    let mut fold_of = vec![0usize; n];
    let mut next = 0;
    for rows in shuffled_classes(labels, seed) {
        for r in rows {
            fold_of[r] = next % k;
            next += 1;
        }
    }
    Ok((0..k)
        .map(|f| {
            let (val, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|&r| fold_of[r] == f);
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

    /// Labels with unequal classes: 60% class 0, 30% class 1, 10% class 2.
    fn unbalanced(n: usize) -> Vec<u32> {
        (0..n).map(|i| match (i * 7919) % 10 { 0..=5 => 0, 6..=8 => 1, _ => 2 }).collect()
    }

    fn count(labels: &[u32], rows: &[usize], class: u32) -> usize {
        rows.iter().filter(|&&r| labels[r] == class).count()
    }

    #[test]
    fn stratified_holdout_keeps_class_shares() {
        let labels = unbalanced(1000);
        let h = holdout_stratified(&labels, 0.1, 0.2, 5).unwrap();
        let all: HashSet<usize> = h.train.iter().chain(&h.validation).chain(&h.test).copied().collect();
        assert_eq!(all.len(), 1000);
        assert_eq!(h.train.len() + h.validation.len() + h.test.len(), 1000);
        for (class, total) in [(0, 600), (1, 300), (2, 100)] {
            assert_eq!(count(&labels, &h.validation, class), total / 10, "class {class}");
            assert_eq!(count(&labels, &h.test, class), total / 5, "class {class}");
        }
        assert_eq!(h, holdout_stratified(&labels, 0.1, 0.2, 5).unwrap());
        assert_ne!(h.validation, holdout_stratified(&labels, 0.1, 0.2, 6).unwrap().validation);
        assert!(holdout_stratified(&labels, 0.7, 0.3, 0).is_err());
    }

    #[test]
    fn stratified_kfold_covers_every_row_once_with_balanced_classes() {
        let labels = unbalanced(103);
        let folds = kfold_stratified(&labels, 5, 2).unwrap();
        let mut seen = vec![0; 103];
        for (train, val) in &folds {
            assert!((20..=21).contains(&val.len()), "{}", val.len());
            assert_eq!(train.len() + val.len(), 103);
            for &i in val {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
        for class in 0..3 {
            let per_fold: Vec<usize> = folds.iter().map(|(_, v)| count(&labels, v, class)).collect();
            let (lo, hi) = (per_fold.iter().min().unwrap(), per_fold.iter().max().unwrap());
            assert!(hi - lo <= 1, "class {class}: {per_fold:?}");
        }
        assert_eq!(folds, kfold_stratified(&labels, 5, 2).unwrap());
        assert!(kfold_stratified(&labels[..3], 5, 0).is_err() && kfold_stratified(&labels, 1, 0).is_err());
    }
}
