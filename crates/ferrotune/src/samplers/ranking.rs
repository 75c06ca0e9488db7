//! Ordering observed trials from best to worst, the way every model-based
//! sampler needs it: feasible before infeasible (by total violation, Deb's
//! constrained domination), complete before pruned (pruned by how far they
//! got), and for several objectives by non-dominated rank.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::multi_objective::dominates;
use crate::direction::Direction;
use crate::trial::{FrozenTrial, TrialState};

/// Sum of positive constraint values (0 when feasible or unconstrained).
pub fn violation(t: &FrozenTrial) -> f64 {
    t.constraints().map(|c| c.iter().map(|v| v.max(0.0)).sum()).unwrap_or(0.0)
}

/// (violation, complete-or-pruned, −step, signed value): smaller is better.
pub type RankKey = (f64, u8, f64, f64);

/// A single-objective sort key (TPE keeps its trials sorted by it, ties
/// by trial number).
pub fn key(t: &FrozenTrial, d: Direction) -> RankKey {
    let sign = d.sign();
    match t.state {
        TrialState::Complete => (violation(t), 0, 0.0, sign * t.value().unwrap_or(f64::INFINITY)),
        // Pruned trials rank after complete ones: further along is better,
        // then by their last intermediate value.
        _ => {
            let (step, v) = t.last_intermediate().unwrap_or((0, f64::NAN));
            let v = if v.is_finite() { sign * v } else { f64::INFINITY };
            (violation(t), 1, -(step as f64), v)
        }
    }
}

/// The signed value (smaller is better) of a key that is a complete,
/// feasible trial's finite value; `None` for pruned or infeasible trials.
pub fn feasible_value(k: &RankKey) -> Option<f64> {
    (k.0 == 0.0 && k.1 == 0 && k.3.is_finite()).then_some(k.3)
}

pub fn cmp_keys(a: RankKey, b: RankKey) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.total_cmp(&b.2)).then(a.3.total_cmp(&b.3))
}

/// Non-dominated sorting (Deb et al. 2002, NSGA-II) under constrained
/// domination: a feasible point beats an infeasible one, two infeasible ones
/// compare by violation. Returns fronts of indices, best front first.
pub fn nondominated_fronts(values: &[Vec<f64>], violations: &[f64], dirs: &[Direction]) -> Vec<Vec<usize>> {
    let n = values.len();
    let beats = |i: usize, j: usize| -> bool {
        match (violations[i] > 0.0, violations[j] > 0.0) {
            (false, true) => true,
            (true, false) => false,
            (true, true) => violations[i] < violations[j],
            (false, false) => dominates(&values[i], &values[j], dirs),
        }
    };
    let mut dominated_by = vec![0usize; n];
    let mut dominates_list: Vec<Vec<usize>> = vec![vec![]; n];
    for i in 0..n {
        for j in (i + 1)..n {
            if beats(i, j) {
                dominates_list[i].push(j);
                dominated_by[j] += 1;
            } else if beats(j, i) {
                dominates_list[j].push(i);
                dominated_by[i] += 1;
            }
        }
    }
    let mut fronts = vec![];
    let mut current: Vec<usize> = (0..n).filter(|&i| dominated_by[i] == 0).collect();
    while !current.is_empty() {
        let mut next = vec![];
        for &i in &current {
            for &j in &dominates_list[i] {
                dominated_by[j] -= 1;
                if dominated_by[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        fronts.push(current);
        current = next;
    }
    fronts
}

/// Crowding distance of each point within one front (NSGA-II): larger means
/// more isolated, preferred to keep the front spread out.
pub fn crowding_distance(values: &[Vec<f64>], front: &[usize]) -> Vec<f64> {
    let m = values.first().map_or(0, |v| v.len());
    let mut dist = vec![0.0; front.len()];
    if front.len() <= 2 {
        return vec![f64::INFINITY; front.len()];
    }
    for k in 0..m {
        let mut order: Vec<usize> = (0..front.len()).collect();
        order.sort_by(|&a, &b| values[front[a]][k].total_cmp(&values[front[b]][k]));
        let lo = values[front[order[0]]][k];
        let hi = values[front[order[front.len() - 1]]][k];
        dist[order[0]] = f64::INFINITY;
        dist[order[front.len() - 1]] = f64::INFINITY;
        if hi > lo {
            for w in 1..front.len() - 1 {
                let gap = values[front[order[w + 1]]][k] - values[front[order[w - 1]]][k];
                dist[order[w]] += gap / (hi - lo);
            }
        }
    }
    dist
}

/// Multi-objective ranking: complete trials by front, within a front by
/// crowding distance (most isolated first).
pub fn rank_multi(trials: &[Arc<FrozenTrial>], dirs: &[Direction]) -> Vec<Arc<FrozenTrial>> {
    let complete: Vec<&Arc<FrozenTrial>> =
        trials.iter().filter(|t| t.state == TrialState::Complete && t.values.as_ref().is_some_and(|v| v.len() == dirs.len())).collect();
    let values: Vec<Vec<f64>> = complete.iter().map(|t| t.values.clone().unwrap_or_default()).collect();
    let viol: Vec<f64> = complete.iter().map(|t| violation(t)).collect();
    let mut out = vec![];
    for front in nondominated_fronts(&values, &viol, dirs) {
        let cd = crowding_distance(&values, &front);
        let mut idx: Vec<usize> = (0..front.len()).collect();
        idx.sort_by(|&a, &b| cd[b].total_cmp(&cd[a]).then(front[a].cmp(&front[b])));
        out.extend(idx.into_iter().map(|i| complete[front[i]].clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::*;

    #[test]
    fn fronts_and_crowding() {
        let v = vec![vec![1.0, 4.0], vec![2.0, 2.0], vec![4.0, 1.0], vec![3.0, 3.0], vec![5.0, 5.0]];
        let f = nondominated_fronts(&v, &[0.0; 5], &[Minimize, Minimize]);
        assert_eq!(f, vec![vec![0, 1, 2], vec![3], vec![4]]);
        let cd = crowding_distance(&v, &f[0]);
        assert!(cd[0].is_infinite() && cd[2].is_infinite() && cd[1].is_finite());
        // An infeasible point loses to every feasible one.
        let f = nondominated_fronts(&v, &[1.0, 0.0, 0.0, 0.0, 0.0], &[Minimize, Minimize]);
        assert_eq!(f[0], vec![1, 2]);
    }
}
