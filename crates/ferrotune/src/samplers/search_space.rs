//! Which parameters a model-based sampler can model jointly, inferred from
//! the study's finished trials (define-by-run spaces are only known from
//! what trials actually suggested).

#[cfg(test)]
use indexmap::IndexMap;
#[cfg(test)]
use std::collections::BTreeSet;

#[cfg(test)]
use super::SearchSpace;
use crate::trial::{FrozenTrial, TrialState};

/// Trials a sampler learns from: complete and pruned ones.
pub fn is_observed(t: &FrozenTrial) -> bool {
    matches!(t.state, TrialState::Complete | TrialState::Pruned)
}

#[cfg(test)]
/// Parameters present, with the same distribution, in every observed trial
/// (Optuna's `IntersectionSearchSpace`). Order follows the first trial.
///
/// This is the direct O(trials × parameters) computation, kept as the
/// reference the samplers' incremental index (`observations.rs`) is tested
/// against; samplers use the index.
pub fn intersection(trials: &[std::sync::Arc<FrozenTrial>]) -> SearchSpace {
    let mut space: Option<SearchSpace> = None;
    for t in trials.iter().filter(|t| is_observed(t)) {
        let this: SearchSpace = t.params.iter().map(|(k, p)| (k.clone(), p.distribution.clone())).collect();
        space = Some(match space {
            None => this,
            Some(s) => s.into_iter().filter(|(k, d)| this.get(k) == Some(d)).collect(),
        });
    }
    space.unwrap_or_default()
}

#[cfg(test)]
/// (Reference implementation, as for [`intersection`].)
/// Splits the parameters seen into groups that always occur together
/// (Optuna's group decomposition, used by multivariate TPE for conditional
/// spaces): each trial's parameter set cuts every existing group in two, and
/// its remaining parameters form a new group.
pub fn group_decomposition(trials: &[std::sync::Arc<FrozenTrial>]) -> Vec<SearchSpace> {
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    let mut dists: IndexMap<String, crate::Distribution> = IndexMap::new();
    for t in trials.iter().filter(|t| is_observed(t)) {
        let names: BTreeSet<String> = t.params.keys().cloned().collect();
        for (k, p) in &t.params {
            dists.entry(k.clone()).or_insert_with(|| p.distribution.clone());
        }
        let mut next = Vec::with_capacity(groups.len() + 1);
        let mut covered = BTreeSet::new();
        for g in groups {
            let inside: BTreeSet<String> = g.intersection(&names).cloned().collect();
            let outside: BTreeSet<String> = g.difference(&names).cloned().collect();
            covered.extend(inside.iter().cloned());
            next.extend([inside, outside].into_iter().filter(|s| !s.is_empty()));
        }
        let fresh: BTreeSet<String> = names.difference(&covered).cloned().collect();
        if !fresh.is_empty() {
            next.push(fresh);
        }
        groups = next;
    }
    // Keep declaration order within each group, and only parameters whose
    // distribution never changed (a changed one is sampled independently).
    groups
        .into_iter()
        .map(|g| {
            dists
                .iter()
                .filter(|(k, d)| {
                    g.contains(*k)
                        && trials
                            .iter()
                            .filter(|t| is_observed(t))
                            .all(|t| t.params.get(*k).is_none_or(|p| &p.distribution == *d))
                })
                .map(|(k, d)| (k.clone(), d.clone()))
                .collect::<SearchSpace>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trial::ParamRecord;
    use crate::Distribution;
    use std::sync::Arc;

    fn trial(params: &[&str]) -> Arc<FrozenTrial> {
        Arc::new(FrozenTrial {
            values: Some(vec![0.0]),
            params: params
                .iter()
                .map(|p| (p.to_string(), ParamRecord { distribution: Distribution::float(0.0, 1.0), internal: 0.5 }))
                .collect(),
            ..FrozenTrial::blank(0, TrialState::Complete)
        })
    }

    #[test]
    fn groups_of_parameters_that_occur_together() {
        let trials = vec![trial(&["opt", "lr", "momentum"]), trial(&["opt", "lr", "beta1", "beta2"]), trial(&["opt", "lr"])];
        let groups: Vec<Vec<String>> = group_decomposition(&trials).iter().map(|g| g.keys().cloned().collect()).collect();
        assert_eq!(groups, vec![vec!["opt", "lr"], vec!["momentum"], vec!["beta1", "beta2"]]);
        assert_eq!(intersection(&trials).keys().collect::<Vec<_>>(), ["opt", "lr"]);
    }
}
