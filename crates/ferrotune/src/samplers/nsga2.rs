//! NSGA-II (Deb, Pratap, Agarwal & Meyarivan, "A Fast and Elitist
//! Multiobjective Genetic Algorithm: NSGA-II", IEEE TEVC 2002), which for one
//! objective is an elitist (μ + λ) genetic algorithm — the `ga` sampler.
//!
//! * Generation 0 is random. Each later trial is a child of two parents
//!   picked by binary tournament (non-dominated rank, then crowding distance)
//!   from the current population.
//! * Numerical parameters (in unit coordinates) use simulated binary
//!   crossover (SBX, Deb & Agrawal 1995) and polynomial mutation; categorical
//!   ones uniform crossover and random reset; integers and steps are rounded
//!   when decoded.
//! * The population of generation g+1 is the best `population_size` of
//!   generation g's population and its complete children, by constrained
//!   non-dominated sorting (feasible before infeasible, Deb 2000) and
//!   crowding distance.
//!
//! Every trial records its generation; populations are recomputed from
//! stored trials (cached per process), so resumed and parallel studies agree.

use indexmap::IndexMap;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::ranking::{crowding_distance, nondominated_fronts, violation};
use super::observations::SharedObservations;
use super::transform::UnitAxis;
use super::{RandomSampler, RelativeSample, Sampler, SearchSpace};
use crate::distribution::Distribution;
use crate::error::Result;
use crate::rng::{fresh_seed, rng_for};
use crate::study::Study;
use crate::trial::{FrozenTrial, TrialState};

use crate::attrs::NSGA2_GENERATION as ATTR;

/// NSGA-II options (Deb 2002's operators and constants).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Nsga2Options {
    /// Trials per generation.
    pub population_size: usize,
    /// Probability that a child is made by crossover (else it copies a parent).
    pub crossover_prob: f64,
    /// Per-parameter mutation probability (default 1 / number of parameters).
    pub mutation_prob: Option<f64>,
    /// SBX distribution index η_c (larger: children closer to parents).
    pub eta_crossover: f64,
    /// Polynomial mutation distribution index η_m.
    pub eta_mutation: f64,
}

impl Default for Nsga2Options {
    fn default() -> Self {
        Nsga2Options { population_size: 50, crossover_prob: 0.9, mutation_prob: None, eta_crossover: 20.0, eta_mutation: 20.0 }
    }
}

/// Trial numbers of each generation's population, best first.
type Populations = BTreeMap<u64, Vec<u64>>;

/// The NSGA-II / genetic-algorithm sampler.
pub struct Nsga2Sampler {
    seed: u64,
    opts: Nsga2Options,
    random: RandomSampler,
    obs: SharedObservations,
    /// Populations by generation (trial numbers), for one study.
    cache: Mutex<Option<(i64, Populations)>>,
    /// Generation of each finished trial by number (finished trials never
    /// change, so each attribute is read once), for one study.
    gens: Mutex<(i64, Vec<Option<Option<u64>>>)>,
}

impl std::fmt::Debug for Nsga2Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nsga2Sampler").field("seed", &self.seed).field("opts", &self.opts).finish()
    }
}

fn generation_of(t: &FrozenTrial) -> Option<u64> {
    t.system_attrs.get(ATTR).and_then(|v| v.as_u64())
}

/// Objective values with a sign so that smaller is better in every position.
fn key_values(study: &Study, t: &FrozenTrial) -> Vec<f64> {
    t.values.clone().unwrap_or_default()
        .iter()
        .zip(study.directions())
        .map(|(v, d)| d.loss(*v))
        .collect()
}

impl Nsga2Sampler {
    /// An NSGA-II sampler; `None` draws a seed.
    pub fn new(seed: Option<u64>, opts: Nsga2Options) -> Self {
        let seed = seed.unwrap_or_else(fresh_seed);
        Nsga2Sampler {
            seed,
            opts,
            random: RandomSampler::new(Some(seed)),
            obs: SharedObservations::default(),
            cache: Mutex::new(None),
            gens: Mutex::new((-1, vec![])),
        }
    }

    /// Ranks `members` best first: fronts, then crowding distance.
    fn rank(study: &Study, members: &[Arc<FrozenTrial>]) -> Vec<Arc<FrozenTrial>> {
        let values: Vec<Vec<f64>> = members.iter().map(|t| key_values(study, t)).collect();
        let viol: Vec<f64> = members.iter().map(|t| violation(t)).collect();
        let mins = vec![crate::Direction::Minimize; study.directions().len()];
        let mut out = vec![];
        for front in nondominated_fronts(&values, &viol, &mins) {
            let cd = crowding_distance(&values, &front);
            let mut idx: Vec<usize> = (0..front.len()).collect();
            idx.sort_by(|&a, &b| cd[b].total_cmp(&cd[a]).then(members[front[a]].number.cmp(&members[front[b]].number)));
            out.extend(idx.into_iter().map(|i| members[front[i]].clone()));
        }
        out
    }

    /// The population that breeds generation `g` (empty for g = 0).
    fn population(&self, study: &Study, trials: &[Arc<FrozenTrial>], gens: &[Option<u64>], g: u64) -> Vec<Arc<FrozenTrial>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let pops = match cache.as_mut() {
            Some((id, p)) if *id == study.id() => p,
            _ => {
                *cache = Some((study.id(), BTreeMap::new()));
                &mut cache.as_mut().expect("just set").1
            }
        };
        pops.entry(0).or_default();
        let complete_in = |gen: u64| -> Vec<Arc<FrozenTrial>> {
            trials
                .iter()
                .zip(gens)
                .filter(|(t, tg)| t.state == TrialState::Complete && **tg == Some(gen) && t.values.is_some())
                .map(|(t, _)| t.clone())
                .collect()
        };
        for gen in 1..=g {
            if pops.contains_key(&gen) {
                continue;
            }
            let mut pool: Vec<Arc<FrozenTrial>> =
                pops[&(gen - 1)].iter().map(|&n| trials[n as usize].clone()).collect();
            let mut children = complete_in(gen - 1);
            children.sort_by_key(|t| t.number);
            // A generation counts once it has `population_size` children.
            children.truncate(self.opts.population_size);
            pool.extend(children);
            let survivors: Vec<u64> =
                Self::rank(study, &pool).into_iter().take(self.opts.population_size).map(|t| t.number).collect();
            pops.insert(gen, survivors);
        }
        pops[&g].iter().map(|&n| trials[n as usize].clone()).collect()
    }

    /// Every trial's generation, by trial number.
    fn generations(&self, study: &Study, trials: &[Arc<FrozenTrial>]) -> Vec<Option<u64>> {
        let mut c = self.gens.lock().unwrap_or_else(|e| e.into_inner());
        if c.0 != study.id() {
            *c = (study.id(), vec![]);
        }
        c.1.resize(trials.len(), None);
        trials
            .iter()
            .zip(c.1.iter_mut())
            .map(|(t, known)| match known {
                Some(g) => *g,
                None => {
                    let g = generation_of(t);
                    if t.state.is_finished() {
                        *known = Some(g);
                    }
                    g
                }
            })
            .collect()
    }

    /// The generation a new trial belongs to.
    fn current_generation(&self, trials: &[Arc<FrozenTrial>], gens: &[Option<u64>]) -> u64 {
        let g = gens.iter().flatten().copied().max().unwrap_or(0);
        let done = trials
            .iter()
            .zip(gens)
            .filter(|(t, tg)| t.state == TrialState::Complete && **tg == Some(g))
            .count();
        if done >= self.opts.population_size {
            g + 1
        } else {
            g
        }
    }

    fn tournament<'a>(&self, ranked: &'a [Arc<FrozenTrial>], rng: &mut impl Rng) -> &'a Arc<FrozenTrial> {
        // The population is sorted best first, so the smaller index wins.
        let a = rng.random_range(0..ranked.len());
        let b = rng.random_range(0..ranked.len());
        &ranked[a.min(b)]
    }

    /// SBX for one coordinate in [0, 1] (Deb & Agrawal 1995, bounded form).
    fn sbx(&self, p1: f64, p2: f64, rng: &mut impl Rng) -> f64 {
        if (p1 - p2).abs() < 1e-14 {
            return p1;
        }
        let (y1, y2) = (p1.min(p2), p1.max(p2));
        let eta = self.opts.eta_crossover;
        let u: f64 = rng.random();
        let spread = |beta: f64| -> f64 {
            let alpha = 2.0 - beta.powf(-(eta + 1.0));
            if u <= 1.0 / alpha {
                (u * alpha).powf(1.0 / (eta + 1.0))
            } else {
                (1.0 / (2.0 - u * alpha)).powf(1.0 / (eta + 1.0))
            }
        };
        let c1 = 0.5 * ((y1 + y2) - spread(1.0 + 2.0 * y1 / (y2 - y1)) * (y2 - y1));
        let c2 = 0.5 * ((y1 + y2) + spread(1.0 + 2.0 * (1.0 - y2) / (y2 - y1)) * (y2 - y1));
        (if rng.random::<bool>() { c1 } else { c2 }).clamp(0.0, 1.0)
    }

    /// Polynomial mutation for one coordinate in [0, 1] (Deb & Goyal 1996).
    fn mutate(&self, y: f64, rng: &mut impl Rng) -> f64 {
        let eta = self.opts.eta_mutation;
        let u: f64 = rng.random();
        let pow = 1.0 / (eta + 1.0);
        let dq = if u < 0.5 {
            let xy = 1.0 - y;
            (2.0 * u + (1.0 - 2.0 * u) * xy.powf(eta + 1.0)).powf(pow) - 1.0
        } else {
            let xy = y;
            1.0 - (2.0 * (1.0 - u) + 2.0 * (u - 0.5) * xy.powf(eta + 1.0)).powf(pow)
        };
        (y + dq).clamp(0.0, 1.0)
    }
}

impl Sampler for Nsga2Sampler {
    fn name(&self) -> &'static str {
        "nsga2"
    }

    fn infer_relative_search_space(&self, study: &Study, _trial: &FrozenTrial) -> Result<SearchSpace> {
        Ok(self.obs.intersection(study)?.into_iter().filter(|(_, d)| d.cardinality() != Some(1)).collect())
    }

    fn sample_relative(&self, study: &Study, trial: &FrozenTrial, space: &SearchSpace) -> Result<RelativeSample> {
        let trials = study.trials()?;
        let gens = self.generations(study, &trials);
        let g = self.current_generation(&trials, &gens);
        let tag = vec![(ATTR.to_string(), serde_json::json!(g))];
        if g == 0 || space.is_empty() {
            return Ok(RelativeSample { values: IndexMap::new(), system_attrs: tag });
        }
        // Populations are stored best first (survival ranks them).
        let ranked = self.population(study, &trials, &gens, g);
        if ranked.is_empty() {
            return Ok(RelativeSample { values: IndexMap::new(), system_attrs: tag });
        }
        let mut rng = rng_for(self.seed, trial.number, "nsga2");
        let p1 = self.tournament(&ranked, &mut rng).clone();
        let p2 = self.tournament(&ranked, &mut rng).clone();
        let cross = rng.random::<f64>() < self.opts.crossover_prob;
        let pm = self.opts.mutation_prob.unwrap_or(1.0 / space.len() as f64);
        let mut values = IndexMap::new();
        for (k, d) in space {
            // Members of the population have every parameter of the joint
            // space; anything else is left to independent sampling.
            let (Some(a), Some(b)) = (p1.params.get(k), p2.params.get(k)) else { continue };
            let (a, b) = (a.internal, b.internal);
            let x = match (d, UnitAxis::new(d)) {
                (_, Some(axis)) => {
                    let (ua, ub) = (axis.encode(a), axis.encode(b));
                    let mut u = if cross && rng.random::<bool>() { self.sbx(ua, ub, &mut rng) } else { ua };
                    if rng.random::<f64>() < pm {
                        u = self.mutate(u, &mut rng);
                    }
                    axis.decode(u)
                }
                (Distribution::Categorical { choices }, None) => {
                    let mut c = if cross && rng.random::<bool>() { b } else { a };
                    if rng.random::<f64>() < pm {
                        c = rng.random_range(0..choices.len()) as f64;
                    }
                    c
                }
                _ => a,
            };
            values.insert(k.clone(), x);
        }
        Ok(RelativeSample { values, system_attrs: tag })
    }

    fn sample_independent(&self, study: &Study, trial: &FrozenTrial, name: &str, dist: &Distribution) -> Result<f64> {
        self.random.sample_independent(study, trial, name, dist)
    }
}
