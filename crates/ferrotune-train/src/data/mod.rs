//! Datasets in memory: features as a row-major f32 matrix, targets as class
//! labels or real values, plus the loaders (IDX for MNIST and
//! Fashion-MNIST, CSV for tables) and the evaluation splits.

pub mod csv;
pub mod idx;
pub mod mnist;
pub mod split;

use serde::{Deserialize, Serialize};

/// What is predicted.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Class indices in `0..n_classes`.
    Classes {
        /// The class of each row, from 0.
        labels: Vec<u32>,
        /// How many classes there are.
        n_classes: usize,
    },
    /// Real values (regression).
    Values(Vec<f32>),
}

/// A dataset held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// `len() × n_features`, row-major.
    pub features: Vec<f32>,
    /// Values per row.
    pub n_features: usize,
    /// What each row should predict.
    pub targets: Targets,
}

impl Dataset {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match &self.targets {
            Targets::Classes { labels, .. } => labels.len(),
            Targets::Values(v) => v.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of outputs the model needs: classes, or 1 for regression.
    pub fn n_outputs(&self) -> usize {
        match &self.targets {
            Targets::Classes { n_classes, .. } => *n_classes,
            Targets::Values(_) => 1,
        }
    }

    /// Whether the targets are classes.
    pub fn is_classification(&self) -> bool {
        matches!(self.targets, Targets::Classes { .. })
    }

    /// The rows at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let d = self.n_features;
        let mut features = Vec::with_capacity(idx.len() * d);
        for &i in idx {
            features.extend_from_slice(&self.features[i * d..(i + 1) * d]);
        }
        let targets = match &self.targets {
            Targets::Classes { labels, n_classes } => {
                Targets::Classes { labels: idx.iter().map(|&i| labels[i]).collect(), n_classes: *n_classes }
            }
            Targets::Values(v) => Targets::Values(idx.iter().map(|&i| v[i]).collect()),
        };
        Dataset { features, n_features: d, targets }
    }

    /// This dataset followed by `other` (same columns and task).
    pub fn concat(&self, other: &Dataset) -> Dataset {
        let mut features = self.features.clone();
        features.extend_from_slice(&other.features);
        let targets = match (&self.targets, &other.targets) {
            (Targets::Classes { labels: a, n_classes }, Targets::Classes { labels: b, .. }) => {
                Targets::Classes { labels: a.iter().chain(b).copied().collect(), n_classes: *n_classes }
            }
            (Targets::Values(a), Targets::Values(b)) => Targets::Values(a.iter().chain(b).copied().collect()),
            _ => panic!("concat of a classification and a regression dataset"),
        };
        Dataset { features, n_features: self.n_features, targets }
    }
}

/// Per-feature standardisation, fitted on training rows only (so nothing of
/// the validation or test rows leaks into training) and saved with a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Per-feature mean of the rows it was fitted on.
    pub mean: Vec<f32>,
    /// Per-feature standard deviation (1 where a feature is constant).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Per-column mean and standard deviation; constant columns get std 1.
    pub fn fit(ds: &Dataset) -> Standardizer {
        let d = ds.n_features;
        let n = ds.len().max(1) as f64;
        let mut mean = vec![0f64; d];
        let mut sq = vec![0f64; d];
        for row in ds.features.chunks_exact(d) {
            for (j, &x) in row.iter().enumerate() {
                mean[j] += x as f64;
                sq[j] += (x as f64) * (x as f64);
            }
        }
        let mean: Vec<f64> = mean.iter().map(|m| m / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| {
                let v = (s / n - m * m).max(0.0).sqrt();
                if v < 1e-8 { 1.0 } else { v as f32 }
            })
            .collect();
        Standardizer { mean: mean.iter().map(|&m| m as f32).collect(), std }
    }

    /// One mean and deviation for every feature (images: per-pixel
    /// statistics would blow up the always-black border pixels).
    pub fn fit_global(ds: &Dataset) -> Standardizer {
        let n = ds.features.len().max(1) as f64;
        let mean = ds.features.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = ds.features.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let std = if var.sqrt() < 1e-8 { 1.0 } else { var.sqrt() as f32 };
        Standardizer { mean: vec![mean as f32; ds.n_features], std: vec![std; ds.n_features] }
    }

    /// Standardises `ds` in place: (x - mean) / std per feature.
    pub fn apply(&self, ds: &mut Dataset) {
        for row in ds.features.chunks_exact_mut(ds.n_features) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = (*x - m) / s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_concat_and_standardize() {
        let ds = Dataset {
            features: vec![1.0, 10.0, 2.0, 10.0, 3.0, 10.0],
            n_features: 2,
            targets: Targets::Classes { labels: vec![0, 1, 2], n_classes: 3 },
        };
        let s = ds.subset(&[2, 0]);
        assert_eq!(s.features, vec![3.0, 10.0, 1.0, 10.0]);
        assert_eq!(s.targets, Targets::Classes { labels: vec![2, 0], n_classes: 3 });
        assert_eq!(s.concat(&ds).len(), 5);
        let st = Standardizer::fit(&ds);
        let mut t = ds.clone();
        st.apply(&mut t);
        assert!((t.features[0] + 1.2247).abs() < 1e-3 && t.features[1] == 0.0, "{:?}", t.features);
    }
}
