//! A random forest of regression trees (Breiman 2001), the surrogate
//! fANOVA decomposes: bootstrap samples, CART splits that minimise the
//! squared error, trees grown until their leaves are pure, as Optuna's
//! fANOVA grows scikit-learn's (64 trees, depth up to 64, all features
//! considered at every split).
//!
//! Each tree sorts its sample once per feature; a node is a range of those
//! sorted lists, and a split partitions the range stably, so a level of the
//! tree costs O(samples × features) rather than a sort per node.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A node of a tree: a split or a leaf.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// Go left when `x[feature] <= threshold`.
    Split { feature: usize, threshold: f64, left: u32, right: u32 },
    /// A prediction.
    Leaf { value: f64 },
}

/// One regression tree; node 0 is the root.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub nodes: Vec<Node>,
}

/// Settings of the forest.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForestOptions {
    pub n_trees: usize,
    pub max_depth: usize,
    pub min_samples_leaf: usize,
    pub seed: u64,
}

impl Default for ForestOptions {
    fn default() -> Self {
        ForestOptions { n_trees: 64, max_depth: 64, min_samples_leaf: 1, seed: 0 }
    }
}

/// The fitted forest.
#[derive(Debug, Clone)]
pub(crate) struct Forest {
    pub trees: Vec<Tree>,
}

impl Forest {
    /// Fits `n_trees` trees to rows `x` and targets `y`, in up to two
    /// threads; tree `i` draws its bootstrap sample from `(seed, i)`, so the
    /// forest does not depend on the thread count.
    pub fn fit(x: &[Vec<f64>], y: &[f64], opts: ForestOptions) -> Forest {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        let mut trees: Vec<Option<Tree>> = vec![None; opts.n_trees];
        std::thread::scope(|s| {
            for (k, chunk) in trees.chunks_mut(opts.n_trees.div_ceil(threads).max(1)).enumerate() {
                let per = opts.n_trees.div_ceil(threads).max(1);
                s.spawn(move || {
                    for (j, slot) in chunk.iter_mut().enumerate() {
                        let i = k * per + j;
                        let mut rng = ChaCha8Rng::seed_from_u64(crate::rng::combine(&[opts.seed, i as u64]));
                        let sample: Vec<usize> = (0..y.len()).map(|_| rng.random_range(0..y.len())).collect();
                        *slot = Some(grow(x, y, &sample, opts));
                    }
                });
            }
        });
        Forest { trees: trees.into_iter().map(|t| t.expect("every tree grown")).collect() }
    }

    /// The mean prediction of the trees for one row.
    #[cfg(test)]
    pub fn predict(&self, row: &[f64]) -> f64 {
        self.trees.iter().map(|t| t.predict(row)).sum::<f64>() / self.trees.len() as f64
    }
}

impl Tree {
    #[cfg(test)]
    pub fn predict(&self, row: &[f64]) -> f64 {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                Node::Leaf { value } => return value,
                Node::Split { feature, threshold, left, right } => {
                    i = if row[feature] <= threshold { left as usize } else { right as usize };
                }
            }
        }
    }
}

/// Grows one tree on the rows `sample` (with repeats) of `x`.
fn grow(x: &[Vec<f64>], y: &[f64], sample: &[usize], opts: ForestOptions) -> Tree {
    let d = x.first().map_or(0, |r| r.len());
    let n = sample.len();
    // Per feature, positions 0..n of the sample sorted by that feature.
    let mut sorted: Vec<Vec<u32>> = (0..d)
        .map(|f| {
            let mut idx: Vec<u32> = (0..n as u32).collect();
            idx.sort_by(|&a, &b| x[sample[a as usize]][f].total_cmp(&x[sample[b as usize]][f]));
            idx
        })
        .collect();
    let value = |p: u32| y[sample[p as usize]];
    let feat = |p: u32, f: usize| x[sample[p as usize]][f];
    let mut nodes: Vec<Node> = vec![];
    let mut goes_left = vec![false; n];
    let mut scratch: Vec<u32> = Vec::with_capacity(n);
    // (node index, range start, range end, depth)
    let mut stack: Vec<(usize, usize, usize, usize)> = vec![];
    nodes.push(Node::Leaf { value: 0.0 });
    stack.push((0, 0, n, 0));
    while let Some((node, lo, hi, depth)) = stack.pop() {
        let count = hi - lo;
        let (sum, lo_v, hi_v) = sorted.first().map_or((0.0, 0.0, 0.0), |s| {
            s[lo..hi].iter().fold((0.0, f64::INFINITY, f64::NEG_INFINITY), |(a, mn, mx), &p| {
                (a + value(p), mn.min(value(p)), mx.max(value(p)))
            })
        });
        let mean = if count > 0 { sum / count as f64 } else { 0.0 };
        let pure = lo_v >= hi_v;
        if d == 0 || count < 2 * opts.min_samples_leaf.max(1) || depth >= opts.max_depth || pure {
            nodes[node] = Node::Leaf { value: mean };
            continue;
        }
        // The best split: the largest drop in squared error, i.e. the
        // largest S_L²/n_L + S_R²/n_R.
        let mut best: Option<(f64, usize, f64, usize)> = None; // (score, feature, threshold, left count)
        for (f, list) in sorted.iter().enumerate() {
            let range = &list[lo..hi];
            let mut left_sum = 0.0;
            for k in 0..count - 1 {
                left_sum += value(range[k]);
                let (a, b) = (feat(range[k], f), feat(range[k + 1], f));
                let nl = k + 1;
                if a == b || nl < opts.min_samples_leaf || count - nl < opts.min_samples_leaf {
                    continue;
                }
                let right_sum = sum - left_sum;
                let score = left_sum * left_sum / nl as f64 + right_sum * right_sum / (count - nl) as f64;
                if best.is_none_or(|(s, ..)| score > s) {
                    best = Some((score, f, 0.5 * (a + b), nl));
                }
            }
        }
        let Some((_, feature, threshold, _)) = best else {
            nodes[node] = Node::Leaf { value: mean };
            continue;
        };
        // Partition every feature's range stably: left part first.
        for &p in &sorted[feature][lo..hi] {
            goes_left[p as usize] = feat(p, feature) <= threshold;
        }
        let mut mid = lo;
        for list in sorted.iter_mut() {
            scratch.clear();
            let range = &mut list[lo..hi];
            let mut w = 0;
            for k in 0..range.len() {
                let p = range[k];
                if goes_left[p as usize] {
                    range[w] = p;
                    w += 1;
                } else {
                    scratch.push(p);
                }
            }
            range[w..].copy_from_slice(&scratch);
            mid = lo + w;
        }
        let left = nodes.len();
        nodes.push(Node::Leaf { value: 0.0 });
        nodes.push(Node::Leaf { value: 0.0 });
        nodes[node] = Node::Split { feature, threshold, left: left as u32, right: left as u32 + 1 };
        stack.push((left, lo, mid, depth + 1));
        stack.push((left + 1, mid, hi, depth + 1));
    }
    Tree { nodes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_fits_its_sample_exactly_and_the_forest_generalises() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x: Vec<Vec<f64>> = (0..300).map(|_| vec![rng.random::<f64>(), rng.random::<f64>()]).collect();
        let f = |r: &[f64]| if r[0] < 0.3 { 1.0 } else { 5.0 } + 2.0 * r[1];
        let y: Vec<f64> = x.iter().map(|r| f(r)).collect();
        let all: Vec<usize> = (0..x.len()).collect();
        let tree = grow(&x, &y, &all, ForestOptions::default());
        for (r, v) in x.iter().zip(&y) {
            assert_eq!(tree.predict(r), *v, "a fully grown tree interpolates its sample");
        }
        let forest = Forest::fit(&x, &y, ForestOptions { n_trees: 32, ..Default::default() });
        let err: f64 = (0..200)
            .map(|_| {
                let r = [rng.random::<f64>(), rng.random::<f64>()];
                (forest.predict(&r) - f(&r)).abs()
            })
            .sum::<f64>()
            / 200.0;
        assert!(err < 0.15, "mean absolute error on new points {err}");
        // Seeded: the same forest again.
        let again = Forest::fit(&x, &y, ForestOptions { n_trees: 32, ..Default::default() });
        assert!(forest.trees.iter().zip(&again.trees).all(|(a, b)| a.nodes == b.nodes));
    }
}
