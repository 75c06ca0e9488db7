//! Functional ANOVA on a random forest (Hutter, Hoos & Leyton-Brown, "An
//! Efficient Approach for Assessing Hyperparameter Importance", ICML 2014).
//!
//! Each tree is a piecewise-constant function over the box of features. Its
//! variance over the box splits into parts: the variance of the marginal of
//! one feature (the others averaged out) is that feature's main effect; the
//! variance of a pair's marginal, less both main effects, is their
//! interaction. A marginal is constant between the tree's split points on
//! its features, so it is computed exactly on those cells: a leaf covers a
//! run of cells and adds its value times the measure of its box in the
//! other features. Fractions of variance are averaged over the trees (Hutter
//! et al. §3), then normalised to sum to 1 over the parameters, as Optuna's
//! `FanovaImportanceEvaluator` reports them.

use super::encode::Feature;
use super::forest::{Forest, Node, Tree};

/// A leaf: its value and its box, one `(low, high)` per feature.
struct Leaf {
    value: f64,
    bounds: Vec<(f64, f64)>,
    /// The measure of the box (product over features).
    mass: f64,
}

fn leaves(tree: &Tree, features: &[Feature]) -> Vec<Leaf> {
    let d = features.len();
    let mut out = vec![];
    let mut stack = vec![(0usize, vec![(-1.0f64, 1.0f64); d])];
    while let Some((i, b)) = stack.pop() {
        match tree.nodes[i] {
            Node::Leaf { value } => {
                let mass = b.iter().zip(features).map(|((lo, hi), f)| f.mass(*lo, *hi)).product();
                out.push(Leaf { value, bounds: b, mass });
            }
            Node::Split { feature, threshold, left, right } => {
                let (lo, hi) = b[feature];
                let mut l = b.clone();
                l[feature] = (lo, threshold.min(hi));
                let mut r = b;
                r[feature] = (threshold.max(lo), hi);
                stack.push((left as usize, l));
                stack.push((right as usize, r));
            }
        }
    }
    out
}

/// The cell edges of feature `f`: the domain ends and every split point on it.
fn edges(tree: &Tree, f: usize) -> Vec<f64> {
    let mut e: Vec<f64> = tree
        .nodes
        .iter()
        .filter_map(|n| match *n {
            Node::Split { feature, threshold, .. } if feature == f => Some(threshold),
            _ => None,
        })
        .filter(|t| *t > -1.0 && *t < 1.0)
        .collect();
    e.push(-1.0);
    e.push(1.0);
    e.sort_by(f64::total_cmp);
    e.dedup();
    e
}

/// The cells `[first, last)` of `edges` inside `(lo, hi)`.
fn covered(edges: &[f64], lo: f64, hi: f64) -> (usize, usize) {
    let first = edges.partition_point(|e| *e < lo - 1e-15);
    let last = edges.partition_point(|e| *e < hi - 1e-15);
    (first.min(edges.len() - 1), last.min(edges.len() - 1))
}

/// Cells per axis of a pair's grid (see `decompose`).
const PAIR_CELLS: usize = 64;

/// At most `k` cells: every n-th edge of `edges`, keeping both ends.
fn coarsen(edges: &[f64], k: usize) -> Vec<f64> {
    let cells = edges.len() - 1;
    if cells <= k {
        return edges.to_vec();
    }
    let mut out: Vec<f64> = (0..k).map(|c| edges[c * cells / k]).collect();
    out.push(edges[cells]);
    out.dedup();
    out
}

/// A leaf's interval `(lo, hi)` over the cells of `bins`, as runs of
/// cells `[from, to)` with the share of each cell it covers: its end cells
/// in part, the cells between whole.
fn runs(bins: &[f64], mass: &[f64], f: &Feature, (lo, hi): (f64, f64)) -> Runs {
    let first = bins.partition_point(|e| *e <= lo).saturating_sub(1);
    let last = bins.partition_point(|e| *e < hi).clamp(first + 1, bins.len() - 1); // exclusive
    let share = |c: usize| {
        if mass[c] > 0.0 {
            f.mass(lo.max(bins[c]), hi.min(bins[c + 1])) / mass[c]
        } else {
            0.0
        }
    };
    let mut out = Runs { items: [(0, 0, 0.0); 3], len: 0 };
    let mut push = |r: (usize, usize, f64)| {
        out.items[out.len] = r;
        out.len += 1;
    };
    if last - first == 1 {
        push((first, last, share(first)));
        return out;
    }
    push((first, first + 1, share(first)));
    if last - first > 2 {
        push((first + 1, last - 1, 1.0));
    }
    push((last - 1, last, share(last - 1)));
    out
}

/// At most three runs (see [`runs`]), without allocating.
struct Runs {
    items: [(usize, usize, f64); 3],
    len: usize,
}

impl std::ops::Deref for Runs {
    type Target = [(usize, usize, f64)];
    fn deref(&self) -> &Self::Target {
        &self.items[..self.len]
    }
}

/// One tree's decomposition.
pub(crate) struct TreeParts {
    pub variance: f64,
    /// Variance of each feature's marginal (its main effect).
    pub main: Vec<f64>,
    /// Interaction variance of pairs `(i, j, v)`.
    pub pairs: Vec<(usize, usize, f64)>,
}

/// Decomposes one tree's variance into main effects (all features) and
/// the interactions of `pairs`.
pub(crate) fn decompose(tree: &Tree, features: &[Feature], pairs: &[(usize, usize)]) -> TreeParts {
    let leaves = leaves(tree, features);
    let mean: f64 = leaves.iter().map(|l| l.mass * l.value).sum();
    let variance: f64 = leaves.iter().map(|l| l.mass * (l.value - mean).powi(2)).sum();
    let d = features.len();
    let edges: Vec<Vec<f64>> = (0..d).map(|f| edges(tree, f)).collect();
    let cell_mass = |f: usize, k: usize| features[f].mass(edges[f][k], edges[f][k + 1]);
    let main: Vec<f64> = (0..d)
        .map(|f| {
            let cells = edges[f].len() - 1;
            // A leaf adds to a run of cells: a difference array makes that O(1).
            let mut diff = vec![0.0; cells + 1];
            for l in &leaves {
                let (lo, hi) = l.bounds[f];
                let own = features[f].mass(lo, hi);
                if own <= 0.0 {
                    continue;
                }
                let w = l.value * l.mass / own;
                let (a, b) = covered(&edges[f], lo, hi);
                diff[a] += w;
                diff[b] -= w;
            }
            let mut run = 0.0;
            (0..cells)
                .map(|k| {
                    run += diff[k];
                    cell_mass(f, k) * (run - mean).powi(2)
                })
                .sum()
        })
        .collect();
    // Pairs on coarser cells: a tree grown on thousands of trials has
    // thousands of split points per feature, and the exact grid of a pair
    // (their product) would dominate the whole evaluation. Each axis keeps
    // at most `PAIR_CELLS` cells (every k-th split point); each cell holds
    // the exact marginal averaged over it, so the interaction is a lower
    // bound of the exact one (Jensen), exact when the tree has few splits.
    let bins: Vec<Vec<f64>> = edges.iter().map(|e| coarsen(e, PAIR_CELLS)).collect();
    let pairs = pairs
        .iter()
        .map(|&(i, j)| {
            let (bi, bj) = (&bins[i], &bins[j]);
            let (ci, cj) = (bi.len() - 1, bj.len() - 1);
            let mass_i: Vec<f64> = (0..ci).map(|a| features[i].mass(bi[a], bi[a + 1])).collect();
            let mass_j: Vec<f64> = (0..cj).map(|b| features[j].mass(bj[b], bj[b + 1])).collect();
            // Cell averages of the marginals, built from each leaf's
            // coverage: a share of each cell (1 for cells inside the leaf),
            // as constant-weight rectangles in 2-D (and 1-D) difference
            // arrays, so a leaf costs O(1) whatever it spans.
            let mut d2 = vec![0.0; (ci + 1) * (cj + 1)];
            let (mut di, mut dj) = (vec![0.0; ci + 1], vec![0.0; cj + 1]);
            for l in &leaves {
                let (own_i, own_j) = (features[i].mass(l.bounds[i].0, l.bounds[i].1), features[j].mass(l.bounds[j].0, l.bounds[j].1));
                if own_i <= 0.0 || own_j <= 0.0 {
                    continue;
                }
                let w = l.value * l.mass / (own_i * own_j);
                let ri = runs(bi, &mass_i, &features[i], l.bounds[i]);
                let rj = runs(bj, &mass_j, &features[j], l.bounds[j]);
                for &(a0, a1, wa) in ri.iter() {
                    di[a0] += w * wa * own_j;
                    di[a1] -= w * wa * own_j;
                    for &(b0, b1, wb) in rj.iter() {
                        let v = w * wa * wb;
                        d2[a0 * (cj + 1) + b0] += v;
                        d2[a0 * (cj + 1) + b1] -= v;
                        d2[a1 * (cj + 1) + b0] -= v;
                        d2[a1 * (cj + 1) + b1] += v;
                    }
                }
                for &(b0, b1, wb) in rj.iter() {
                    dj[b0] += w * wb * own_i;
                    dj[b1] -= w * wb * own_i;
                }
            }
            let prefix1 = |d: &[f64]| -> Vec<f64> {
                let mut run = 0.0;
                d[..d.len() - 1].iter().map(|x| { run += x; run }).collect()
            };
            let (mi, mj) = (prefix1(&di), prefix1(&dj));
            // 2-D prefix sums, in place.
            for a in 0..=ci {
                for b in 1..=cj {
                    d2[a * (cj + 1) + b] += d2[a * (cj + 1) + b - 1];
                }
            }
            for a in 1..=ci {
                for b in 0..=cj {
                    d2[a * (cj + 1) + b] += d2[(a - 1) * (cj + 1) + b];
                }
            }
            let var1 = |m: &[f64], mass: &[f64]| -> f64 {
                m.iter().zip(mass).filter(|(_, w)| **w > 0.0).map(|(v, w)| (v - mean).powi(2) * w).sum()
            };
            let (vi, vj) = (var1(&mi, &mass_i), var1(&mj, &mass_j));
            let mut total = 0.0;
            for a in 0..ci {
                for b in 0..cj {
                    let cell = mass_i[a] * mass_j[b];
                    if cell > 0.0 {
                        total += (d2[a * (cj + 1) + b] - mean).powi(2) * cell;
                    }
                }
            }
            (i, j, (total - vi - vj).max(0.0))
        })
        .collect();
    TreeParts { variance, main, pairs }
}

/// Fractions of variance averaged over the trees with any variance: main
/// effects per feature, and the interactions of `pairs`.
pub(crate) fn fractions(forest: &Forest, features: &[Feature], pairs: &[(usize, usize)]) -> (Vec<f64>, Vec<f64>) {
    let d = features.len();
    let (mut main, mut inter, mut used) = (vec![0.0; d], vec![0.0; pairs.len()], 0usize);
    for t in &forest.trees {
        let parts = decompose(t, features, pairs);
        if parts.variance <= 0.0 {
            continue;
        }
        used += 1;
        for (a, v) in main.iter_mut().zip(&parts.main) {
            *a += v / parts.variance;
        }
        for (a, (_, _, v)) in inter.iter_mut().zip(&parts.pairs) {
            *a += v / parts.variance;
        }
    }
    let n = used.max(1) as f64;
    (main.into_iter().map(|v| v / n).collect(), inter.into_iter().map(|v| v / n).collect())
}

/// The marginal prediction of the forest with some features fixed (the
/// others averaged over their measure): the surface a contour plot draws.
pub(crate) fn marginal(forest: &Forest, features: &[Feature], fixed: &[(usize, f64)]) -> f64 {
    let mut total = 0.0;
    for t in &forest.trees {
        let mut stack = vec![(0usize, 1.0f64, vec![(-1.0f64, 1.0f64); features.len()])];
        while let Some((i, w, b)) = stack.pop() {
            match t.nodes[i] {
                Node::Leaf { value } => total += w * value,
                Node::Split { feature, threshold, left, right } => {
                    if let Some(&(_, x)) = fixed.iter().find(|(f, _)| *f == feature) {
                        stack.push((if x <= threshold { left } else { right } as usize, w, b));
                        continue;
                    }
                    let (lo, hi) = b[feature];
                    let whole = features[feature].mass(lo, hi);
                    if whole <= 0.0 {
                        continue;
                    }
                    let (lm, rm) = (features[feature].mass(lo, threshold.min(hi)), features[feature].mass(threshold.max(lo), hi));
                    let mut l = b.clone();
                    l[feature] = (lo, threshold.min(hi));
                    let mut r = b;
                    r[feature] = (threshold.max(lo), hi);
                    if lm > 0.0 {
                        stack.push((left as usize, w * lm / whole, l));
                    }
                    if rm > 0.0 {
                        stack.push((right as usize, w * rm / whole, r));
                    }
                }
            }
        }
    }
    total / forest.trees.len().max(1) as f64
}
