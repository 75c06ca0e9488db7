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

mod joint;
mod parzen;
mod univariate;
mod weights;

use indexmap::IndexMap;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use self::joint::JointAbove;
use self::parzen::{DimKind, Parzen, ParzenOptions};
use self::univariate::UniAbove;
use self::weights::weights_by_number;
use super::observations::{Column, Observations};
use super::ranking::{cmp_keys, feasible_value, key as rank_key, rank_multi, RankKey};
use super::transform::UnitAxis;
use super::{RandomSampler, RelativeSample, Sampler, SearchSpace};
use crate::distribution::Distribution;
use crate::error::Result;
use crate::rng::{fresh_seed, rng_for};
use crate::study::Study;
use crate::trial::{FrozenTrial, TrialState};

/// TPE options. The estimators are Optuna 5's: multivariate (it models
/// interactions between parameters) over the parameters every trial has,
/// the others one at a time. `group` models each set of parameters that
/// occur together jointly instead; on the quality benchmark's conditional
/// space it was worse (mean regret at 60 trials 0.172 against 0.138, 30
/// seeds; docs/benchmarks.md), so it is off, as in Optuna.
///
/// Three defaults differ from Optuna's, chosen together on the quality
/// benchmark (docs/benchmarks.md, "TPE with EI weights"): the below
/// kernels weigh by improvement (`ei_weights`), the below group is the
/// best 15% (`gamma`, Optuna 10%) and the prior weighs 2 (Optuna 1). The
/// weights alone exploit the best trials harder; the larger group and
/// prior give back the breadth that costs. Together they were better than
/// Optuna's settings on all ten fast problems at 60 trials on 100 fresh
/// seeds.
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
    /// Weigh each "below" kernel by its improvement over the best "above"
    /// trial (Watanabe 2023, the "EI" weighting), instead of uniformly.
    pub ei_weights: bool,
}

impl Default for TpeOptions {
    fn default() -> Self {
        TpeOptions {
            n_startup_trials: 10,
            n_ei_candidates: 24,
            multivariate: true,
            group: false,
            constant_liar: false,
            prior_weight: 2.0,
            consider_magic_clip: true,
            consider_endpoints: false,
            gamma: 0.15,
            gamma_max: 25,
            ei_weights: true,
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

/// Derived from storage on every ask (incrementally); never the source of
/// truth: a sampler given a resumed study rebuilds all of it.
#[derive(Default)]
struct State {
    obs: Observations,
    study_id: Option<i64>,
    /// The trial the index was last synced for: one trial's suggestions all
    /// use the history as it was at its first (as Optuna caches the trial
    /// list per trial), instead of re-reading storage for each parameter.
    synced_for: Option<(i64, u64)>,
    /// Observed rows best first, as of `ranked_at` observed trials
    /// (finished trials never change, so the ranking only changes when
    /// another one finishes).
    ranked_at: usize,
    ranked: Vec<usize>,
    /// Single objective: the ranking's sort keys, kept sorted so a new
    /// trial is inserted instead of everything re-sorted.
    keys: Vec<(RankKey, usize)>,
    /// Running trials (for the constant liar).
    running: Vec<usize>,
    /// Groups of the decomposition, as of `groups_at` observed trials.
    groups_at: Option<usize>,
    groups: Vec<SearchSpace>,
    /// One estimator pair per search space sampled: a parameter
    /// (univariate)...
    models: HashMap<String, SpaceModel>,
    /// ...or a group (multivariate).
    joint_models: HashMap<String, SpaceModel>,
}

/// What is kept for one search space between asks: which observed trials
/// have all of its parameters, which of them are "below", and the
/// incremental "above" estimator g(x) over the others.
struct SpaceModel {
    space: SearchSpace,
    axes: Vec<Option<UnitAxis>>,
    /// The axes of the grid dimensions (integers, steps), whose kernels
    /// the multivariate estimators discretise; `None` elsewhere.
    grids: Vec<Option<UnitAxis>>,
    kinds: Vec<DimKind>,
    /// How much of `Observations::observed_order` has been looked at.
    seen: usize,
    is_member: Vec<bool>,
    n_members: usize,
    below: Vec<usize>,
    /// l(x), fitted to `below`; rebuilt only when `below` or its weights
    /// change (at 1,000 trials, when a new trial makes the top 26).
    l: Option<Parzen>,
    /// The kernel weights `l` was fitted with.
    l_weights: Vec<f64>,
    above: Above,
}

enum Above {
    Uni(UniAbove),
    Joint(JointAbove),
}

impl SpaceModel {
    fn new(space: &SearchSpace, multivariate: bool, po: ParzenOptions) -> SpaceModel {
        let axes: Vec<Option<UnitAxis>> = space.values().map(UnitAxis::new).collect();
        let kinds: Vec<DimKind> = space
            .values()
            .map(|d| match d {
                Distribution::Categorical { choices } => DimKind::Categorical(choices.len()),
                _ => DimKind::Numerical,
            })
            .collect();
        let grids: Vec<Option<UnitAxis>> = axes.iter().map(|a| a.clone().filter(UnitAxis::is_discrete)).collect();
        let above = if multivariate {
            Above::Joint(JointAbove::new(&kinds, &grids, po))
        } else {
            Above::Uni(UniAbove::new(kinds[0], po))
        };
        SpaceModel { space: space.clone(), axes, grids, kinds, seen: 0, is_member: vec![], n_members: 0, below: vec![], l: None, l_weights: vec![], above }
    }

    /// The unit coordinates (or choice indices) of trial `row`.
    fn encode(&self, cols: &[&Column], row: usize) -> Vec<f64> {
        cols.iter().zip(&self.axes).map(|(c, axis)| axis.as_ref().map_or(c.values[row], |a| a.encode(c.values[row]))).collect()
    }

    fn insert(&mut self, cols: &[&Column], row: usize) {
        let x = self.encode(cols, row);
        match &mut self.above {
            Above::Uni(u) => u.insert(row, x[0]),
            Above::Joint(j) => j.insert(row, &x),
        }
    }

    fn remove(&mut self, row: usize) {
        match &mut self.above {
            Above::Uni(u) => u.remove(row),
            Above::Joint(j) => j.remove(row),
        }
    }

    /// Takes in the trials observed since the last call and re-splits:
    /// the members among the best `n_below(observed trials)` of all observed
    /// trials by `ranked` go below, the other members above. Only the
    /// difference reaches the estimator, so this costs O(new trials +
    /// below) rather than O(all trials).
    fn update(&mut self, obs: &Observations, cols: Option<&[&Column]>, ranked: &[usize], n_below: impl Fn(usize) -> usize) {
        let order = obs.observed_order();
        let mut new_members = vec![];
        if let Some(cols) = cols {
            for &r in &order[self.seen.min(order.len())..] {
                if cols.iter().all(|c| !c.values[r].is_nan()) {
                    if self.is_member.len() <= r {
                        self.is_member.resize(r + 1, false);
                    }
                    self.is_member[r] = true;
                    new_members.push(r);
                }
            }
        }
        self.seen = order.len();
        let Some(cols) = cols else { return };
        self.n_members += new_members.len();
        // The split is over every observed trial, and then only the members
        // (trials that have these parameters) are kept, as Optuna does: when
        // none of the study's best trials took this branch of a conditional
        // space, l(x) is the prior alone and the branch is explored, rather
        // than exploited around its best (possibly poor) member.
        let k = n_below(ranked.len());
        let mut below = Vec::with_capacity(k);
        for &r in ranked.iter().take(k) {
            if self.is_member.get(r).copied().unwrap_or(false) {
                below.push(r);
            }
        }
        let old_below = std::mem::take(&mut self.below);
        for &r in &below {
            if !old_below.contains(&r) && !new_members.contains(&r) {
                self.remove(r);
            }
        }
        for &r in &old_below {
            if !below.contains(&r) {
                self.insert(cols, r);
            }
        }
        for &r in &new_members {
            if !below.contains(&r) {
                self.insert(cols, r);
            }
        }
        if below != old_below {
            self.l = None;
        }
        self.below = below;
    }
}

/// The "EI" weights of the below kernels (Watanabe 2023, sec. 3): each
/// trial's improvement over the threshold, the best trial not below,
/// scaled to mean 1 so the prior keeps its share. `keys`: the single
/// objective's ranking, `k` trials below. `None` (uniform weights) where
/// the threshold or a below trial is not a complete, feasible value, or
/// with several objectives (no `keys`).
fn ei_weights(below: &[usize], keys: &[(RankKey, usize)], k: usize) -> Option<Vec<f64>> {
    let threshold = keys.get(k).and_then(|e| feasible_value(&e.0))?;
    let gains: Vec<f64> = below
        .iter()
        .map(|&r| keys[..k].iter().find(|e| e.1 == r).and_then(|e| feasible_value(&e.0)).map(|v| (threshold - v).max(1e-12)))
        .collect::<Option<_>>()?;
    let mean = gains.iter().sum::<f64>() / gains.len().max(1) as f64;
    (mean > 0.0).then(|| gains.iter().map(|g| g / mean).collect())
}

/// Index of the largest score (the first of equal ones).
fn argmax(score: &[f64]) -> usize {
    (0..score.len()).max_by(|&a, &b| score[a].total_cmp(&score[b]).then(b.cmp(&a))).unwrap_or(0)
}

impl std::fmt::Debug for TpeSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TpeSampler").field("seed", &self.seed).field("opts", &self.opts).finish()
    }
}

impl TpeSampler {
    /// A TPE sampler; `None` draws a seed.
    pub fn new(seed: Option<u64>, opts: TpeOptions) -> Self {
        let seed = seed.unwrap_or_else(fresh_seed);
        TpeSampler { seed, opts, random: RandomSampler::new(Some(seed)), state: Mutex::new(State::default()) }
    }

    fn gamma(&self, n: usize) -> usize {
        ((self.opts.gamma * n as f64).ceil() as usize).min(self.opts.gamma_max)
    }

    /// Syncs the index (once per trial) and ranks the observed trials
    /// (once per newly observed trial).
    fn synced<'a>(&self, study: &Study, trial: &FrozenTrial, st: &'a mut State) -> Result<&'a mut State> {
        if st.synced_for == Some((study.id(), trial.number)) {
            return Ok(st);
        }
        let history = st.obs.sync(study)?;
        if st.study_id != Some(study.id()) {
            let obs = std::mem::take(&mut st.obs);
            *st = State { obs, study_id: Some(study.id()), ..State::default() };
        }
        st.synced_for = Some((study.id(), trial.number));
        if self.opts.constant_liar {
            st.running = history.iter().filter(|t| t.state == TrialState::Running).map(|t| t.number as usize).collect();
        }
        let n = st.obs.n_observed();
        if st.ranked_at == n {
            return Ok(st);
        }
        if study.is_multi_objective() {
            let mut rows = st.obs.observed_order().to_vec();
            rows.sort_unstable();
            let observed: Vec<Arc<FrozenTrial>> = rows.iter().map(|&r| st.obs.trial(r).clone()).collect();
            let mut r = rank_multi(&observed, study.directions());
            r.extend(observed.iter().filter(|t| t.state == TrialState::Pruned).cloned());
            st.ranked = r.iter().map(|t| t.number as usize).collect();
        } else {
            let d = study.direction();
            for &row in &st.obs.observed_order()[st.ranked_at..] {
                let k = (rank_key(st.obs.trial(row), d), row);
                let pos = st.keys.partition_point(|e| cmp_keys(e.0, k.0).then(e.1.cmp(&k.1)).is_lt());
                st.keys.insert(pos, k);
            }
            st.ranked.clear();
            st.ranked.extend(st.keys.iter().map(|e| e.1));
        }
        st.ranked_at = n;
        Ok(st)
    }

    fn groups<'a>(&self, st: &'a mut State) -> &'a [SearchSpace] {
        let n = st.obs.n_observed();
        if st.groups_at != Some(n) {
            st.groups = if self.opts.group { st.obs.groups() } else { vec![st.obs.intersection()] };
            st.groups_at = Some(n);
        }
        &st.groups
    }

    /// Samples `space` jointly (`multivariate`) or its one parameter, for
    /// `trial`; internal values by name.
    fn sample_space(
        &self,
        st: &mut State,
        trial: &FrozenTrial,
        space: &SearchSpace,
        multivariate: bool,
    ) -> IndexMap<String, f64> {
        let po = ParzenOptions {
            prior_weight: self.opts.prior_weight,
            magic_clip: self.opts.consider_magic_clip,
            consider_endpoints: self.opts.consider_endpoints,
            multivariate,
        };
        let names: Vec<&str> = space.keys().map(String::as_str).collect();
        let models = if multivariate { &mut st.joint_models } else { &mut st.models };
        if models.len() > 256 {
            // Spaces of conditional studies come and go; start over rather
            // than keep estimators for groups that no longer occur.
            models.clear();
        }
        // Keyed by the parameter names (joined for a group); looked up
        // without allocating, as this runs once per parameter per ask.
        let joined;
        let key: &str = if names.len() == 1 {
            names[0]
        } else {
            joined = names.join("\u{1f}");
            &joined
        };
        if !models.contains_key(key) {
            models.insert(key.to_string(), SpaceModel::new(space, multivariate, po));
        }
        let model = models.get_mut(key).expect("just inserted");
        if model.space != *space {
            *model = SpaceModel::new(space, multivariate, po);
        }
        let cols = st.obs.columns_for(space);
        model.update(&st.obs, cols.as_deref(), &st.ranked, |n| self.gamma(n));

        let liars: Vec<Vec<f64>> = match &cols {
            Some(cols) if self.opts.constant_liar => st
                .running
                .iter()
                .copied()
                .filter(|&r| r != trial.number as usize && cols.iter().all(|c| c.values.get(r).is_some_and(|v| !v.is_nan())))
                .map(|r| model.encode(cols, r))
                .collect(),
            _ => vec![],
        };
        let ei = if self.opts.ei_weights { ei_weights(&model.below, &st.keys, self.gamma(st.ranked.len())) } else { None };
        let l_weights = ei.unwrap_or_else(|| weights_by_number(&model.below));
        if model.l_weights != l_weights {
            model.l = None;
        }
        if model.l.is_none() {
            let below_cols: Vec<Vec<f64>> = match &cols {
                Some(cols) => {
                    let rows: Vec<Vec<f64>> = model.below.iter().map(|&r| model.encode(cols, r)).collect();
                    (0..space.len()).map(|d| rows.iter().map(|x| x[d]).collect()).collect()
                }
                None => vec![vec![]; space.len()],
            };
            model.l = Some(Parzen::with_grids(&model.kinds, below_cols, &model.grids, &l_weights, po));
            model.l_weights = l_weights;
        }
        let l = model.l.as_ref().expect("just built");
        let purpose: String = std::iter::once("tpe").chain(names.iter().copied()).collect::<Vec<_>>().join("/");
        let mut rng = rng_for(self.seed, trial.number, &purpose);
        let m = self.opts.n_ei_candidates.max(1);
        // The winner maximises l(x) / g(x).
        let best: Vec<f64> = match &mut model.above {
            Above::Uni(u) => {
                let xs = l.sample_flat(&mut rng, m);
                let lv: Vec<f64> = liars.iter().map(|c| c[0]).collect();
                // Compared as a ratio of densities where both estimators give
                // them (no logarithms), else as ln l − ln g.
                let score: Vec<f64> = match (l.pdf_1d(&xs), u.pdf(&xs, &lv)) {
                    (Some(pl), Some(pg)) => pl.iter().zip(&pg).map(|(a, b)| a / b).collect(),
                    _ => {
                        let ll = l.log_pdf(&xs.iter().map(|&x| vec![x]).collect::<Vec<_>>());
                        u.log_pdf(&xs, &lv).iter().zip(&ll).map(|(g, l)| l - g).collect()
                    }
                };
                vec![xs[argmax(&score)]]
            }
            Above::Joint(j) => {
                let candidates = l.sample(&mut rng, m);
                let ll = l.log_pdf(&candidates);
                let lg = if liars.is_empty() {
                    j.log_pdf(&candidates)
                } else {
                    // The constant liar's running trials are extra kernels
                    // of weight 1, which move their neighbours' widths for
                    // this ask only: the exact mixture, built once.
                    let (numbers, mut gcols) = j.members();
                    let mut w = weights_by_number(&numbers);
                    w.extend(std::iter::repeat_n(1.0, liars.len()));
                    for (d, c) in gcols.iter_mut().enumerate() {
                        c.extend(liars.iter().map(|x| x[d]));
                    }
                    Parzen::with_grids(&model.kinds, gcols, &model.grids, &w, po).log_pdf(&candidates)
                };
                let score: Vec<f64> = lg.iter().zip(&ll).map(|(g, l)| l - g).collect();
                candidates.into_iter().nth(argmax(&score)).unwrap_or_default()
            }
        };
        space
            .iter()
            .zip(&model.axes)
            .zip(&best)
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

    fn infer_relative_search_space(&self, study: &Study, trial: &FrozenTrial) -> Result<SearchSpace> {
        if !self.opts.multivariate {
            return Ok(SearchSpace::new());
        }
        let mut st = self.lock();
        let st = self.synced(study, trial, &mut st)?;
        Ok(self.groups(st).iter().flatten().map(|(k, d)| (k.clone(), d.clone())).collect())
    }

    fn sample_relative(&self, study: &Study, trial: &FrozenTrial, space: &SearchSpace) -> Result<RelativeSample> {
        let mut st = self.lock();
        let st = self.synced(study, trial, &mut st)?;
        if space.is_empty() || st.obs.n_observed() < self.opts.n_startup_trials {
            return Ok(RelativeSample::default());
        }
        let groups: Vec<SearchSpace> =
            self.groups(st).iter().filter(|g| !g.is_empty() && g.keys().all(|k| space.contains_key(k))).cloned().collect();
        let mut values = IndexMap::new();
        for g in groups {
            values.extend(self.sample_space(st, trial, &g, true));
        }
        Ok(RelativeSample { values, system_attrs: vec![] })
    }

    fn sample_independent(&self, study: &Study, trial: &FrozenTrial, name: &str, dist: &Distribution) -> Result<f64> {
        let mut st = self.lock();
        let st = self.synced(study, trial, &mut st)?;
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

    /// A complete, feasible trial's key for minimised value `v`.
    fn done(v: f64) -> RankKey {
        (0.0, 0, 0.0, v)
    }

    #[test]
    fn ei_weights_follow_the_improvement_over_the_threshold() {
        // Rows 7, 3, 5 below (values 1, 2, 4), row 9 the threshold (5).
        let keys = vec![(done(1.0), 7), (done(2.0), 3), (done(4.0), 5), (done(5.0), 9), (done(8.0), 1)];
        let w = ei_weights(&[7, 3, 5], &keys, 3).unwrap();
        // Gains 4, 3, 1 scaled to mean 1.
        let expect = [4.0 / (8.0 / 3.0), 3.0 / (8.0 / 3.0), 1.0 / (8.0 / 3.0)];
        assert!(w.iter().zip(expect).all(|(a, b)| (a - b).abs() < 1e-12), "{w:?}");
        // Only the members below count (a conditional space): their own
        // gains, in their order.
        let w = ei_weights(&[5, 7], &keys, 3).unwrap();
        assert!((w[0] - 2.0 * 1.0 / 5.0).abs() < 1e-12 && (w[1] - 2.0 * 4.0 / 5.0).abs() < 1e-12, "{w:?}");
        // A tie with the threshold keeps a tiny positive weight.
        let tie = vec![(done(1.0), 0), (done(3.0), 1), (done(3.0), 2)];
        let w = ei_weights(&[0, 1], &tie, 2).unwrap();
        assert!(w[1] > 0.0 && w[1] < 1e-9 && w[0] > 1.99, "{w:?}");
    }

    #[test]
    fn ei_weights_fall_back_to_uniform_without_a_usable_threshold() {
        let pruned: RankKey = (0.0, 1, -3.0, 0.5);
        let infeasible: RankKey = (1.5, 0, 0.0, 0.1);
        // The threshold is a pruned trial, or there is none beyond below.
        assert_eq!(ei_weights(&[0, 1], &[(done(1.0), 0), (done(2.0), 1), (pruned, 2)], 2), None);
        assert_eq!(ei_weights(&[0, 1], &[(done(1.0), 0), (done(2.0), 1)], 2), None);
        // A below trial is infeasible or pruned.
        assert_eq!(ei_weights(&[0, 1], &[(done(1.0), 0), (infeasible, 1), (done(3.0), 2)], 2), None);
        // Several objectives: no single-objective keys at all.
        assert_eq!(ei_weights(&[0], &[], 1), None);
    }
}
