//! Tree-structured Parzen Estimator (Bergstra et al., NeurIPS 2011; the
//! multivariate form of Falkner et al., BOHB, ICML 2018; group decomposition
//! and constant liar as in Optuna; multi-objective MOTPE after Ozaki et al.,
//! GECCO 2020 / JAIR 2022).
//!
//! Each ask splits the observed trials into the best `gamma(n)` ("below")
//! and the rest ("above"), fits a Parzen estimator `l(x)` to the first and
//! `g(x)` to the second, draws `n_ei_candidates` points from `l`, and returns
//! the one maximising `l(x) / g(x)` — which maximises expected improvement
//! under the TPE model.
//!
//! "Best" is decided by `samplers::ranking`: feasible before infeasible
//! (constraints), complete before pruned. With several objectives the split
//! follows non-dominated rank, and within the last front that is needed,
//! crowding distance (Deb 2002). This is a simplification of MOTPE, which
//! uses hypervolume subset selection there and hypervolume-contribution
//! weights for the "below" kernels; we use crowding distance and the same
//! weights as for one objective.

mod parzen;

use indexmap::IndexMap;
use serde::Deserialize;
use std::sync::{Arc, Mutex};

use self::parzen::{DimKind, Parzen, ParzenOptions};
use super::ranking::{rank_multi, rank_single};
use super::observations::Observations;
use super::search_space::is_observed;
use super::transform::UnitAxis;
use super::{RandomSampler, RelativeSample, Sampler, SearchSpace};
use crate::distribution::Distribution;
use crate::error::Result;
use crate::rng::{fresh_seed, rng_for};
use crate::study::Study;
use crate::trial::{FrozenTrial, TrialState};

/// TPE options; the defaults follow Optuna's, except that the multivariate,
/// group-decomposed estimator is on (it models interactions between
/// parameters and handles conditional spaces, and it is what Optuna's own
/// benchmarks recommend).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TpeOptions {
    /// Random trials before the model is used.
    pub n_startup_trials: usize,
    /// Points drawn from l(x) per ask; the best by l/g wins.
    pub n_ei_candidates: usize,
    /// Model the parameters jointly instead of one by one.
    pub multivariate: bool,
    /// With `multivariate`, model groups of parameters that occur together
    /// separately (for conditional spaces).
    pub group: bool,
    /// Treat running trials as bad ones, so parallel workers spread out.
    pub constant_liar: bool,
    /// Weight of the prior kernel (uniform-ish over the range).
    pub prior_weight: f64,
    /// Lower-bound kernel widths by range / min(100, n + 1).
    pub consider_magic_clip: bool,
    /// Let the outermost kernels reach the bounds.
    pub consider_endpoints: bool,
    /// Fraction of observed trials in "below"...
    pub gamma: f64,
    /// ...but at most this many.
    pub gamma_max: usize,
}

impl Default for TpeOptions {
    fn default() -> Self {
        TpeOptions {
            n_startup_trials: 10,
            n_ei_candidates: 24,
            multivariate: true,
            group: true,
            constant_liar: false,
            prior_weight: 1.0,
            consider_magic_clip: true,
            consider_endpoints: false,
            gamma: 0.1,
            gamma_max: 25,
        }
    }
}

/// The TPE sampler.
pub struct TpeSampler {
    seed: u64,
    opts: TpeOptions,
    random: RandomSampler,
    state: Mutex<State>,
}

/// Derived from storage on every ask (incrementally); never the source of truth.
#[derive(Default)]
struct State {
    obs: Observations,
    /// Observed rows best first, computed when this many trials were
    /// observed (finished trials never change, so the ranking only changes
    /// when another one finishes).
    ranked_at: Option<usize>,
    ranked: Vec<usize>,
    /// Position of each row in `ranked` (usize::MAX when not observed).
    rank_pos: Vec<usize>,
    running: Vec<usize>,
}

impl std::fmt::Debug for TpeSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TpeSampler").field("seed", &self.seed).field("opts", &self.opts).finish()
    }
}

/// Optuna's `default_weights`: recent trials count fully, older ones (beyond
/// the latest 25) ramp down linearly, so the model tracks where the search is.
fn default_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> = (0..ramp)
        .map(|i| if ramp == 1 { 1.0 / n as f64 } else { 1.0 / n as f64 + (1.0 - 1.0 / n as f64) * i as f64 / (ramp - 1) as f64 })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

impl TpeSampler {
    pub fn new(seed: Option<u64>, opts: TpeOptions) -> Self {
        let seed = seed.unwrap_or_else(fresh_seed);
        TpeSampler { seed, opts, random: RandomSampler::new(Some(seed)), state: Mutex::new(State::default()) }
    }

    fn gamma(&self, n: usize) -> usize {
        ((self.opts.gamma * n as f64).ceil() as usize).min(self.opts.gamma_max)
    }

    /// Syncs the index and ranks the observed trials (once per snapshot).
    fn synced<'a>(&self, study: &Study, st: &'a mut State) -> Result<&'a mut State> {
        let history = st.obs.sync(study)?;
        st.running = history.iter().filter(|t| t.state == TrialState::Running).map(|t| t.number as usize).collect();
        if st.ranked_at == Some(st.obs.n_observed()) {
            return Ok(st);
        }
        let observed: Vec<Arc<FrozenTrial>> = history.iter().filter(|t| is_observed(t)).cloned().collect();
        let ranked = if study.is_multi_objective() {
            let mut r = rank_multi(&observed, study.directions());
            r.extend(observed.iter().filter(|t| t.state == TrialState::Pruned).cloned());
            r
        } else {
            rank_single(&observed, study.direction())
        };
        st.ranked = ranked.iter().map(|t| t.number as usize).collect();
        st.rank_pos = vec![usize::MAX; history.len()];
        for (pos, &row) in st.ranked.iter().enumerate() {
            st.rank_pos[row] = pos;
        }
        st.ranked_at = Some(st.obs.n_observed());
        Ok(st)
    }

    /// Samples `space` jointly for `trial`; internal values by name.
    fn sample_space(
        &self,
        st: &State,
        trial: &FrozenTrial,
        space: &SearchSpace,
        multivariate: bool,
    ) -> IndexMap<String, f64> {
        let cols = st.obs.columns_for(space);
        let has_all = |r: &usize| cols.as_ref().is_some_and(|c| c.iter().all(|c| !c.values[*r].is_nan()));
        // Observed rows with every parameter, in trial-number order (what the
        // weights need); the best `gamma(n)` of them by rank go below. A
        // selection on rank positions, no sort.
        let rows: Vec<usize> = (0..st.rank_pos.len()).filter(|&r| st.rank_pos[r] != usize::MAX && has_all(&r)).collect();
        let n_below = self.gamma(rows.len());
        let cutoff = if n_below == 0 {
            0
        } else {
            let mut pos: Vec<usize> = rows.iter().map(|&r| st.rank_pos[r]).collect();
            let (_, nth, _) = pos.select_nth_unstable(n_below - 1);
            *nth + 1
        };
        let (below, mut above): (Vec<usize>, Vec<usize>) = rows.iter().partition(|&&r| st.rank_pos[r] < cutoff);
        if self.opts.constant_liar {
            above.extend(st.running.iter().copied().filter(|&r| r != trial.number as usize).filter(has_all));
            above.sort_unstable();
        }

        let axes: Vec<Option<UnitAxis>> = space.values().map(UnitAxis::new).collect();
        let kinds: Vec<DimKind> = space
            .values()
            .map(|d| match d {
                Distribution::Categorical { choices } => DimKind::Categorical(choices.len()),
                _ => DimKind::Numerical,
            })
            .collect();
        let columns = |rows: &[usize]| -> Vec<Vec<f64>> {
            let Some(cols) = &cols else { return vec![vec![]; space.len()] };
            cols.iter()
                .zip(&axes)
                .map(|(c, axis)| {
                    rows.iter()
                        .map(|&r| {
                            let x = c.values[r];
                            axis.as_ref().map_or(x, |a| a.encode(x))
                        })
                        .collect()
                })
                .collect()
        };
        let po = ParzenOptions {
            prior_weight: self.opts.prior_weight,
            magic_clip: self.opts.consider_magic_clip,
            consider_endpoints: self.opts.consider_endpoints,
            multivariate,
        };
        let l = Parzen::new(&kinds, columns(&below), &default_weights(below.len()), po);
        let g = Parzen::new(&kinds, columns(&above), &default_weights(above.len()), po);
        let purpose: String = std::iter::once("tpe").chain(space.keys().map(String::as_str)).collect::<Vec<_>>().join("/");
        let mut rng = rng_for(self.seed, trial.number, &purpose);
        let candidates = l.sample(&mut rng, self.opts.n_ei_candidates.max(1));
        let (ll, lg) = (l.log_pdf(&candidates), g.log_pdf(&candidates));
        let best = (0..candidates.len())
            .max_by(|&a, &b| (ll[a] - lg[a]).total_cmp(&(ll[b] - lg[b])).then(b.cmp(&a)))
            .unwrap_or(0);
        space
            .iter()
            .zip(&axes)
            .zip(&candidates[best])
            .map(|(((k, d), axis), &u)| {
                let x = match axis {
                    Some(a) => a.decode(u),
                    None => d.clamp_internal(u),
                };
                (k.clone(), x)
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Sampler for TpeSampler {
    fn name(&self) -> &'static str {
        "tpe"
    }

    fn infer_relative_search_space(&self, study: &Study, _trial: &FrozenTrial) -> Result<SearchSpace> {
        if !self.opts.multivariate {
            return Ok(SearchSpace::new());
        }
        let mut st = self.lock();
        let st = self.synced(study, &mut st)?;
        Ok(if self.opts.group { st.obs.groups().into_iter().flatten().collect() } else { st.obs.intersection() })
    }

    fn sample_relative(&self, study: &Study, trial: &FrozenTrial, space: &SearchSpace) -> Result<RelativeSample> {
        let mut st = self.lock();
        let st = self.synced(study, &mut st)?;
        if space.is_empty() || st.obs.n_observed() < self.opts.n_startup_trials {
            return Ok(RelativeSample::default());
        }
        let groups = if self.opts.group {
            st.obs.groups().into_iter().filter(|g| g.keys().all(|k| space.contains_key(k))).collect()
        } else {
            vec![space.clone()]
        };
        let mut values = IndexMap::new();
        for g in groups {
            values.extend(self.sample_space(st, trial, &g, true));
        }
        Ok(RelativeSample { values, system_attrs: vec![] })
    }

    fn sample_independent(&self, study: &Study, trial: &FrozenTrial, name: &str, dist: &Distribution) -> Result<f64> {
        let mut st = self.lock();
        let st = self.synced(study, &mut st)?;
        if st.obs.n_observed() < self.opts.n_startup_trials {
            return self.random.sample_independent(study, trial, name, dist);
        }
        let space: SearchSpace = [(name.to_string(), dist.clone())].into_iter().collect();
        Ok(self.sample_space(st, trial, &space, false)[name])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_ramp_for_old_trials() {
        assert_eq!(default_weights(3), vec![1.0; 3]);
        let w = default_weights(30);
        assert_eq!(w.len(), 30);
        assert!((w[0] - 1.0 / 30.0).abs() < 1e-12);
        assert!(w[..5].windows(2).all(|p| p[0] < p[1]));
        assert!(w[5..].iter().all(|&x| x == 1.0));
    }
}
