//! Kernel weights of the "above" estimator g(x): Optuna's `default_weights`
//! (the 25 newest kernels weigh 1, older ones ramp down linearly to 1/m),
//! expressed over trial numbers so that a weight is `α + β · number`.
//!
//! Why numbers and not positions: with positions, every trial that moves
//! between "below" and "above" would shift the position, hence the weight,
//! of every newer kernel, and the incremental estimators could not keep
//! their sums. With numbers, a weight changes only through the two scalars
//! α and β. In a sequential study without conditional parameters, numbers
//! and positions differ by a constant and the weights are Optuna's exactly;
//! otherwise the ramp follows trial age rather than rank in the set.

/// Kernels at least this new weigh 1 (Optuna's window).
pub(super) const RECENT: usize = 25;

/// The linear ramp over the older kernels: weight = `alpha + beta * number`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Ramp {
    pub alpha: f64,
    pub beta: f64,
}

impl Ramp {
    /// `m`: kernels in the set; `lo`, `hi`: smallest and largest trial
    /// number among its older (non-recent) kernels, `n_old` of them.
    pub fn new(m: usize, n_old: usize, lo: usize, hi: usize) -> Ramp {
        let first = 1.0 / m.max(1) as f64;
        if n_old <= 1 || hi <= lo {
            return Ramp { alpha: first, beta: 0.0 };
        }
        let beta = (1.0 - first) / (hi - lo) as f64;
        Ramp { alpha: first - beta * lo as f64, beta }
    }

    pub fn weight(&self, number: usize) -> f64 {
        self.alpha + self.beta * number as f64
    }
}

/// Weights of a set given its kernels' trial numbers (any order): the
/// [`RECENT`] largest numbers weigh 1, the rest follow the [`Ramp`].
pub(super) fn weights_by_number(numbers: &[usize]) -> Vec<f64> {
    let m = numbers.len();
    if m <= RECENT {
        return vec![1.0; m];
    }
    let mut sorted = numbers.to_vec();
    let (_, &mut threshold, _) = sorted.select_nth_unstable(m - RECENT);
    let old = &sorted[..m - RECENT];
    let (lo, hi) = (old.iter().copied().min().unwrap_or(0), old.iter().copied().max().unwrap_or(0));
    let ramp = Ramp::new(m, m - RECENT, lo, hi);
    numbers.iter().map(|&k| if k >= threshold { 1.0 } else { ramp.weight(k) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_numbers_give_optunas_default_weights() {
        // Optuna: 1/n + (1 - 1/n) * i / (ramp - 1) for the first n - 25, then 1.
        let n = 30;
        let w = weights_by_number(&(100..100 + n).collect::<Vec<_>>());
        let ramp = n - 25;
        for (i, wi) in w.iter().enumerate() {
            let expect = if i >= ramp { 1.0 } else { 1.0 / n as f64 + (1.0 - 1.0 / n as f64) * i as f64 / (ramp - 1) as f64 };
            assert!((wi - expect).abs() < 1e-12, "{i}: {wi} vs {expect}");
        }
        assert_eq!(weights_by_number(&[3, 1, 2]), vec![1.0; 3]);
    }

    #[test]
    fn order_of_the_numbers_does_not_matter() {
        let nums: Vec<usize> = (0..60).map(|i| (i * 37) % 61).collect();
        let w = weights_by_number(&nums);
        let mut by_number: Vec<(usize, f64)> = nums.iter().copied().zip(w.iter().copied()).collect();
        by_number.sort_by_key(|p| p.0);
        assert!((by_number[0].1 - 1.0 / 60.0).abs() < 1e-12);
        assert!(by_number.windows(2).all(|p| p[0].1 < p[1].1 || p[1].1 == 1.0));
        assert!(by_number[35..].iter().all(|p| p.1 == 1.0));
        assert!(by_number[33].1 < 1.0);
    }
}
