//! Exhaustive grid search: every combination of the given values, each once.

use indexmap::IndexMap;

use super::{RelativeSample, Sampler, SearchSpace};
use crate::distribution::{Distribution, ParamValue};
use crate::error::{invalid, Error, Result};
use crate::rng::combine;
use crate::study::Study;
use crate::trial::FrozenTrial;

use crate::attrs::GRID_ID;

/// Visits the Cartesian product of per-parameter value lists. Each trial is
/// given one grid point when it starts (stored as its `grid_id`); points
/// already taken by any trial of the study — running, failed or complete, in
/// any process — are skipped, and the study stops with
/// [`crate::study::StopReason::SamplerExhausted`] when none is left.
///
/// Within one process, points are handed out under a lock, so parallel jobs
/// never share one. Two *processes* asking at the same instant can, rarely,
/// both take the same point; it is then run twice, which is harmless.
#[derive(Debug, Clone)]
pub struct GridSampler {
    axes: IndexMap<String, Vec<ParamValue>>,
    size: u64,
    /// Visit order: `id = (a * k + b) mod size` with `gcd(a, size) = 1`, a
    /// bijection, so a seeded grid is visited in a scattered order without
    /// materialising a permutation. `a = 1, b = 0` is row-major order.
    a: u64,
    b: u64,
}

impl GridSampler {
    /// A grid from explicit values per parameter.
    pub fn new<K: Into<String>, V: Into<ParamValue>>(
        grid: impl IntoIterator<Item = (K, Vec<V>)>,
    ) -> Result<Self> {
        let axes: IndexMap<String, Vec<ParamValue>> =
            grid.into_iter().map(|(k, v)| (k.into(), v.into_iter().map(Into::into).collect())).collect();
        if axes.is_empty() {
            return Err(Error::InvalidSpec("the grid has no parameters".into()));
        }
        let mut size: u64 = 1;
        for (name, values) in &axes {
            if values.is_empty() {
                return Err(invalid(name, "the grid gives it no values"));
            }
            size = size
                .checked_mul(values.len() as u64)
                .ok_or_else(|| Error::InvalidSpec("the grid has more than 2^64 points".into()))?;
        }
        Ok(GridSampler { axes, size, a: 1, b: 0 })
    }

    /// A grid over a search space: every value of discrete parameters with at
    /// most `points_per_axis` values (every categorical choice), and
    /// `points_per_axis` evenly spaced (log-spaced for `log`) values otherwise.
    pub fn from_space(space: &SearchSpace, points_per_axis: usize) -> Result<Self> {
        if points_per_axis == 0 {
            return Err(Error::InvalidSpec("grid points_per_axis must be at least 1 (the default is 5)".into()));
        }
        Self::new(space.iter().map(|(name, d)| {
            let values: Vec<ParamValue> = d.grid(points_per_axis).into_iter().map(|x| d.to_external(x)).collect();
            (name.clone(), values)
        }))
    }

    /// Visit the points in a seeded scattered order instead of row-major.
    pub fn shuffled(mut self, seed: u64) -> Self {
        if self.size > 1 {
            let mut a = combine(&[seed, 1]) % self.size;
            while gcd(a, self.size) != 1 {
                a = (a + 1) % self.size;
            }
            self.a = a;
            self.b = combine(&[seed, 2]) % self.size;
        }
        self
    }

    /// Number of grid points.
    pub fn len(&self) -> u64 {
        self.size
    }
    /// Whether the grid has no points.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The value of `name` at grid point `id` (mixed-radix decoding).
    fn value_at(&self, id: u64, name: &str) -> Option<&ParamValue> {
        let mut rest = id;
        for (axis, values) in self.axes.iter().rev() {
            let n = values.len() as u64;
            let v = &values[(rest % n) as usize];
            if axis == name {
                return Some(v);
            }
            rest /= n;
        }
        None
    }

    fn visited(study: &Study, except: i64) -> Result<std::collections::HashSet<u64>> {
        Ok(study
            .trials()?
            .iter()
            .filter(|t| t.id != except)
            .filter_map(|t| t.system_attrs.get(GRID_ID).and_then(|v| v.as_u64()))
            .collect())
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Sampler for GridSampler {
    fn name(&self) -> &'static str {
        "grid"
    }

    fn sample_relative(&self, study: &Study, trial: &FrozenTrial, _space: &SearchSpace) -> Result<RelativeSample> {
        let visited = Self::visited(study, trial.id)?;
        let next = (0..self.size)
            .map(|k| ((self.a as u128 * k as u128 + self.b as u128) % self.size as u128) as u64)
            .find(|id| !visited.contains(id));
        let Some(id) = next else {
            // Enqueued trials still run after the grid is spent; they simply
            // get no grid point (their fixed values are used).
            return Ok(RelativeSample::default());
        };
        Ok(RelativeSample { values: IndexMap::new(), system_attrs: vec![(GRID_ID.into(), id.into())] })
    }

    fn sample_independent(&self, _study: &Study, trial: &FrozenTrial, name: &str, dist: &Distribution) -> Result<f64> {
        let id = trial.system_attrs.get(GRID_ID).and_then(|v| v.as_u64()).ok_or_else(|| {
            Error::SamplerExhausted(format!("all {} grid points have been tried", self.size))
        })?;
        let v = self.value_at(id, name).ok_or_else(|| {
            invalid(name, "is not in the grid; give it grid values, or use another sampler")
        })?;
        dist.to_internal(name, v).map_err(|e| invalid(name, format!("grid value does not fit its distribution: {e}")))
    }

    fn exhausted(&self, study: &Study) -> Result<Option<String>> {
        let n = Self::visited(study, -1)?.len() as u64;
        Ok((n >= self.size).then(|| format!("the grid is exhausted: all {} grid points have been tried", self.size)))
    }
}
