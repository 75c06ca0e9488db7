//! A column-oriented index of the study's trials for model-based samplers,
//! kept in step with [`Study::trials`] incrementally: only trials whose
//! snapshot changed since the last sync are re-read (finished trials never
//! change), so an ask costs O(changed trials × parameters) bookkeeping
//! instead of O(all trials × parameters) string lookups.
//!
//! Rows are trial numbers. Each parameter seen in any trial has a column of
//! internal values, NaN where the trial lacks it or used another
//! distribution. Group decomposition needs, for each parameter, the set of
//! observed trials that have it; two parameters always occur together iff
//! these sets are equal, which we test with a 64-bit signature (XOR of a
//! hash of each member's number).

use indexmap::IndexMap;
use std::sync::Arc;

use super::search_space::is_observed;
use super::SearchSpace;
use crate::distribution::Distribution;
use crate::rng::splitmix64;
use crate::study::{History, Study};
use crate::trial::FrozenTrial;

/// One parameter's column.
#[derive(Debug, Clone)]
pub struct Column {
    /// The distribution of the first trial that had it; rows with another
    /// distribution count as missing.
    pub dist: Distribution,
    /// Internal values by trial number; NaN = missing.
    pub values: Vec<f64>,
    /// Signature of the set of observed trials having it.
    sig: u64,
    /// How many observed trials have it.
    pub count: usize,
    /// How many observed trials have it with another distribution.
    mismatched: usize,
}

/// The index. Create one per sampler; it follows whichever study it is
/// synced with (a different study resets it).
#[derive(Debug, Default)]
pub struct Observations {
    study_id: Option<i64>,
    /// The last synced snapshot, held weakly: a strong reference would make
    /// the study copy its whole trial list (`Arc::make_mut`) on every write.
    snapshot: std::sync::Weak<Vec<Arc<FrozenTrial>>>,
    rows: Vec<Arc<FrozenTrial>>,
    counted: Vec<bool>,
    columns: IndexMap<String, Column>,
    n_observed: usize,
    /// Rows in the order they became observed (each once).
    observed_order: Vec<usize>,
}

impl Observations {
    /// Brings the index up to date with the study; returns the snapshot.
    pub fn sync(&mut self, study: &Study) -> crate::Result<History> {
        let history = study.trials()?;
        if self.study_id != Some(study.id()) {
            *self = Observations { study_id: Some(study.id()), ..Default::default() };
        }
        if std::ptr::eq(self.snapshot.as_ptr(), Arc::as_ptr(&history)) {
            return Ok(history);
        }
        let n = history.len();
        for col in self.columns.values_mut() {
            col.values.resize(n, f64::NAN);
        }
        self.counted.resize(n, false);
        for (i, t) in history.iter().enumerate() {
            if i < self.rows.len() && Arc::ptr_eq(&self.rows[i], t) {
                continue;
            }
            self.update_row(i, t);
            if i < self.rows.len() {
                self.rows[i] = t.clone();
            } else {
                self.rows.push(t.clone());
            }
        }
        self.rows.truncate(n);
        self.snapshot = Arc::downgrade(&history);
        Ok(history)
    }

    fn update_row(&mut self, i: usize, t: &Arc<FrozenTrial>) {
        let n = self.counted.len();
        let observe = is_observed(t) && !self.counted[i];
        for (name, p) in &t.params {
            let col = self.columns.entry(name.clone()).or_insert_with(|| Column {
                dist: p.distribution.clone(),
                values: vec![f64::NAN; n],
                sig: 0,
                count: 0,
                mismatched: 0,
            });
            if col.dist == p.distribution {
                col.values[i] = p.internal;
                if observe {
                    col.sig ^= splitmix64(t.number ^ 0xA5A5_A5A5);
                    col.count += 1;
                }
            } else if observe {
                col.mismatched += 1;
            }
        }
        if observe {
            self.counted[i] = true;
            self.n_observed += 1;
            self.observed_order.push(i);
        }
    }

    /// The trial of row `i` in the last synced snapshot.
    pub fn trial(&self, i: usize) -> &Arc<FrozenTrial> {
        &self.rows[i]
    }
    /// Observed (complete or pruned) trials so far.
    pub fn n_observed(&self) -> usize {
        self.n_observed
    }
    /// Rows in the order they became observed: a model that has consumed
    /// the first `k` only needs `observed_order()[k..]`.
    pub fn observed_order(&self) -> &[usize] {
        &self.observed_order
    }

    /// Parameters every observed trial has, with one distribution.
    pub fn intersection(&self) -> SearchSpace {
        if self.n_observed == 0 {
            return SearchSpace::new();
        }
        self.columns
            .iter()
            .filter(|(_, c)| c.count == self.n_observed)
            .map(|(k, c)| (k.clone(), c.dist.clone()))
            .collect()
    }

    /// Parameters some observed trial has, each with one distribution in
    /// every trial that has it (one whose distribution changed is left
    /// out, as from the intersection); in order of first appearance. Equal
    /// to [`Self::intersection`] unless the space is conditional.
    pub fn union(&self) -> SearchSpace {
        self.columns
            .iter()
            .filter(|(_, c)| c.count > 0 && c.mismatched == 0)
            .map(|(k, c)| (k.clone(), c.dist.clone()))
            .collect()
    }

    /// Groups of parameters that occur in exactly the same observed trials.
    pub fn groups(&self) -> Vec<SearchSpace> {
        let mut groups: IndexMap<u64, SearchSpace> = IndexMap::new();
        for (k, c) in self.columns.iter().filter(|(_, c)| c.count > 0) {
            groups.entry(c.sig).or_default().insert(k.clone(), c.dist.clone());
        }
        groups.into_values().collect()
    }

    /// Columns for `space` (None if any parameter was never seen or its
    /// distribution differs from the requested one).
    pub fn columns_for(&self, space: &SearchSpace) -> Option<Vec<&Column>> {
        space.iter().map(|(k, d)| self.columns.get(k).filter(|c| &c.dist == d)).collect()
    }
}

/// An index behind a lock, for samplers that only need the joint space.
#[derive(Debug, Default)]
pub struct SharedObservations(std::sync::Mutex<Observations>);

impl SharedObservations {
    /// The intersection search space of the study's observed trials.
    pub fn intersection(&self, study: &Study) -> crate::Result<SearchSpace> {
        self.synced(study, Observations::intersection)
    }

    /// The union search space of the study's observed trials.
    pub fn union(&self, study: &Study) -> crate::Result<SearchSpace> {
        self.synced(study, Observations::union)
    }

    fn synced<T>(&self, study: &Study, f: impl FnOnce(&Observations) -> T) -> crate::Result<T> {
        let mut o = self.0.lock().unwrap_or_else(|e| e.into_inner());
        o.sync(study)?;
        Ok(f(&o))
    }
}

#[cfg(test)]
mod tests {
    use super::super::search_space::group_decomposition;
    use crate::study::Study;
    use crate::{ObjectiveError, Optimize, Trial};

    #[test]
    fn matches_the_direct_computation_as_the_study_grows() {
        let s = Study::builder("o").sampler(crate::samplers::RandomSampler::new(Some(1))).create().unwrap();
        let mut idx = super::Observations::default();
        for round in 0..4 {
            s.optimize(
                |t: &mut Trial| -> Result<f64, ObjectiveError> {
                    let opt = t.suggest_categorical("opt", ["sgd", "adam"])?;
                    if opt == "sgd" {
                        t.suggest_float("momentum", 0.0, 1.0).sample()?;
                    } else {
                        t.suggest_float("beta1", 0.0, 1.0).sample()?;
                        t.suggest_float("beta2", 0.0, 1.0).sample()?;
                    }
                    Ok(t.suggest_float("lr", 1e-4, 1.0).log().sample()?)
                },
                Optimize::trials(5),
            )
            .unwrap();
            let _running = s.ask().unwrap(); // a running trial is not observed
            idx.sync(&s).unwrap();
            let direct = group_decomposition(&s.trials().unwrap());
            let mut a: Vec<Vec<String>> = idx.groups().iter().map(|g| g.keys().cloned().collect()).collect();
            let mut b: Vec<Vec<String>> = direct.iter().map(|g| g.keys().cloned().collect()).collect();
            a.iter_mut().for_each(|g| g.sort());
            b.iter_mut().for_each(|g| g.sort());
            a.sort();
            b.sort();
            assert_eq!(a, b, "round {round}");
            assert_eq!(idx.n_observed(), 5 * (round + 1));
            assert_eq!(idx.intersection().keys().collect::<Vec<_>>(), ["opt", "lr"]);
            let mut union: Vec<String> = idx.union().keys().cloned().collect();
            let mut seen: Vec<String> = direct.iter().flat_map(|g| g.keys().cloned()).collect();
            union.sort();
            seen.sort();
            assert_eq!(union, seen, "round {round}");
        }
    }

    /// A user who widens a range mid-study: the parameter leaves the union
    /// (as the intersection), so a model never mixes the two
    /// distributions nor drops the newer trials.
    #[test]
    fn a_parameter_whose_distribution_changed_leaves_the_union() {
        let s = Study::builder("u").sampler(crate::samplers::RandomSampler::new(Some(2))).create().unwrap();
        for high in [1.0, 2.0] {
            s.optimize(
                |t: &mut Trial| -> Result<f64, ObjectiveError> {
                    let y = t.suggest_float("y", 0.0, 1.0).sample()?;
                    Ok(t.suggest_float("x", 0.0, high).sample()? + y)
                },
                Optimize::trials(3),
            )
            .unwrap();
        }
        let mut idx = super::Observations::default();
        idx.sync(&s).unwrap();
        assert_eq!(idx.union().keys().collect::<Vec<_>>(), ["y"]);
        assert_eq!(idx.intersection().keys().collect::<Vec<_>>(), ["y"]);
    }
}
