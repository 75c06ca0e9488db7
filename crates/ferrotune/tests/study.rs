//! Behaviour of studies and trials that users rely on.

use ferrotune::samplers::{
    CmaEsOptions, CmaEsSampler, GpOptions, GpSampler, GridSampler, Nsga2Options, Nsga2Sampler, QmcSampler, RandomSampler,
    Sampler, TpeOptions, TpeSampler,
};
use ferrotune::storage::{InMemoryStorage, SqliteStorage, Storage};
use ferrotune::{
    Direction, Distribution, Error, ObjectiveError, Optimize, ParamValue, SpaceSpec, StopReason, Study, TellOutcome,
    Trial, TrialState,
};
use indexmap::IndexMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn study_with(sampler: impl Sampler + 'static) -> Study {
    Study::builder("s").sampler(sampler).create().unwrap()
}

fn mixed(trial: &mut Trial) -> Result<f64, ObjectiveError> {
    let x = trial.suggest_float("x", -5.0, 10.0).sample()?;
    let lr = trial.suggest_float("lr", 1e-5, 1e-1).log().sample()?;
    let units = trial.suggest_int("units", 16, 256).step(16).sample()?;
    let act = trial.suggest_categorical("act", ["relu", "tanh"])?;
    Ok(x * x + lr + units as f64 / 256.0 + if act == "relu" { 0.0 } else { 1.0 })
}

fn params_of(study: &Study) -> Vec<IndexMap<String, ParamValue>> {
    study.trials().unwrap().iter().map(|t| t.param_values()).collect()
}

#[test]
fn a_seed_reproduces_the_same_parameters_trial_for_trial() {
    for make in [
        (|s| Box::new(RandomSampler::new(Some(s))) as Box<dyn Sampler>) as fn(u64) -> Box<dyn Sampler>,
        |s| Box::new(QmcSampler::new(Some(s))),
    ] {
        let run = |seed| {
            let st = Study::builder("s").sampler_arc(Arc::from(make(seed))).create().unwrap();
            st.optimize(mixed, Optimize::trials(15)).unwrap();
            params_of(&st)
        };
        let (a, b, c) = (run(7), run(7), run(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Parallel jobs draw the same set: each draw depends on (seed, trial number, name).
        let st = Study::builder("s").sampler_arc(Arc::from(make(7))).create().unwrap();
        st.optimize(mixed, Optimize::trials(15).n_jobs(3)).unwrap();
        assert_eq!(params_of(&st), a);
    }
}

#[test]
fn a_resumed_study_continues_exactly_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let open = || {
        Study::builder("resume")
            .storage(Arc::new(SqliteStorage::open(&db).unwrap()))
            .sampler(RandomSampler::new(Some(3)))
            .load_or_create()
            .unwrap()
    };
    open().optimize(mixed, Optimize::trials(6)).unwrap();
    let s = open();
    s.optimize(mixed, Optimize::trials(6)).unwrap();
    let resumed = params_of(&s);
    assert_eq!(s.trials().unwrap().iter().map(|t| t.number).collect::<Vec<_>>(), (0..12).collect::<Vec<_>>());
    let straight = study_with(RandomSampler::new(Some(3)));
    straight.optimize(mixed, Optimize::trials(12)).unwrap();
    assert_eq!(resumed, params_of(&straight));
}

#[test]
fn enqueued_trials_run_first_and_exactly_once() {
    let s = study_with(RandomSampler::new(Some(1)));
    for x in [1.0, 2.0, 3.0] {
        s.enqueue_trial([("x", x)]).unwrap();
    }
    s.optimize(mixed, Optimize::trials(8).n_jobs(3)).unwrap();
    let trials = s.trials().unwrap();
    assert_eq!(trials.len(), 8);
    let xs: Vec<f64> = trials.iter().take(3).map(|t| t.param("x").unwrap().as_f64().unwrap()).collect();
    assert_eq!(xs, [1.0, 2.0, 3.0]);
    // Parameters the queue did not fix were sampled.
    assert!(trials[0].params.contains_key("lr"));
    assert!(trials.iter().all(|t| t.state == TrialState::Complete));
    // A value outside the distribution fails that trial with a clear reason.
    s.enqueue_trial([("x", 99.0)]).unwrap();
    s.optimize(mixed, Optimize::trials(1)).unwrap();
    let t = s.trials().unwrap()[8].clone();
    assert_eq!(t.state, TrialState::Failed);
    assert!(t.message.as_deref().unwrap().contains("parameter 'x': the enqueued value does not fit"), "{:?}", t.message);
}

#[test]
fn failing_nan_and_panicking_objectives_fail_their_trial_and_the_study_goes_on() {
    let s = study_with(RandomSampler::new(Some(1)));
    let calls = AtomicUsize::new(0);
    let report = s
        .optimize(
            |t: &mut Trial| -> Result<f64, ObjectiveError> {
                let x = t.suggest_float("x", 0.0, 1.0).sample()?;
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(ObjectiveError::msg("CUDA out of memory")),
                    1 => Ok(f64::NAN),
                    2 => panic!("shape mismatch"),
                    3 => Ok(f64::INFINITY),
                    4 => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "data.csv").into()),
                    _ => Ok(x),
                }
            },
            Optimize::trials(7),
        )
        .unwrap();
    assert_eq!((report.complete, report.failed), (2, 5));
    let msgs: Vec<String> = s.trials().unwrap().iter().map(|t| t.message.clone().unwrap_or_default()).collect();
    assert_eq!(msgs[0], "CUDA out of memory");
    assert!(msgs[1].contains("NaN is not a finite number"), "{}", msgs[1]);
    assert!(msgs[2].contains("objective panicked: shape mismatch"), "{}", msgs[2]);
    assert!(msgs[3].contains("inf is not a finite number"), "{}", msgs[3]);
    assert_eq!(msgs[4], "data.csv");
    assert!(s.best_trial().unwrap().unwrap().number >= 5);
}

#[test]
fn suggesting_a_parameter_twice() {
    let s = study_with(RandomSampler::new(Some(1)));
    let mut t = s.ask().unwrap();
    let a = t.suggest_float("x", 0.0, 1.0).sample().unwrap();
    assert_eq!(t.suggest_float("x", 0.0, 1.0).sample().unwrap(), a, "same distribution: same value");
    let e = t.suggest_float("x", 0.0, 2.0).sample().unwrap_err().to_string();
    assert!(e.contains("parameter 'x': already suggested in this trial as float [0, 1]"), "{e}");
    let e = t.suggest_int("x", 0, 1).sample().unwrap_err().to_string();
    assert!(e.contains("already suggested"), "{e}");
    let e = t.suggest_float("y", 1.0, 0.0).sample().unwrap_err().to_string();
    assert!(e.contains("parameter 'y': low (1) is greater than high (0)"), "{e}");
    let e = t.suggest_categorical::<&str>("c", []).unwrap_err().to_string();
    assert!(e.contains("parameter 'c': categorical parameter has no choices"), "{e}");
}

#[test]
fn conditional_parameters_define_by_run_and_declarative() {
    let s = study_with(RandomSampler::new(Some(5)));
    s.optimize(
        |t: &mut Trial| -> Result<f64, ObjectiveError> {
            let n = t.suggest_int("n_layers", 1, 3).sample()?;
            for i in 0..n {
                t.suggest_int(&format!("units_l{i}"), 8, 64).log().sample()?;
            }
            Ok(n as f64)
        },
        Optimize::trials(30),
    )
    .unwrap();
    for t in s.trials().unwrap().iter() {
        let n = t.param("n_layers").unwrap().as_i64().unwrap();
        for i in 0..3 {
            assert_eq!(t.params.contains_key(&format!("units_l{i}")), i < n);
        }
    }

    // A condition on a continuous float would (almost) never hold: refused.
    let e = SpaceSpec::from_json_str(
        r#"{"momentum": {"type": "float", "low": 0.0, "high": 0.99},
            "nesterov": {"type": "categorical", "choices": [true, false], "when": {"momentum": 0.5}}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("continuous float"), "{e}");
    let space = SpaceSpec::from_json_str(
        r#"{"optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
            "momentum": {"type": "float", "low": 0.0, "high": 0.99, "when": {"optimizer": "sgd"}},
            "beta1": {"type": "float", "low": 0.8, "high": 0.999, "when": {"optimizer": ["adam"]}}}"#,
    )
    .unwrap();
    let s = study_with(RandomSampler::new(Some(5)));
    for _ in 0..30 {
        let mut t = s.ask().unwrap();
        let p = space.suggest_all(&mut t).unwrap();
        let sgd = p["optimizer"] == ParamValue::from("sgd");
        assert_eq!(p.contains_key("momentum"), sgd);
        assert_eq!(p.contains_key("beta1"), !sgd);
        s.tell(t.number(), TellOutcome::Values(vec![0.0])).unwrap();
    }
}

#[test]
fn multi_objective_best_trials_are_the_pareto_front() {
    let s = Study::builder("mo").directions([Direction::Minimize, Direction::Maximize]).create().unwrap();
    let points = [(1.0, 1.0), (2.0, 3.0), (2.0, 2.0), (0.5, 0.5), (3.0, 3.0), (1.0, 1.0)];
    for (a, b) in points {
        let t = s.ask().unwrap();
        s.tell(t.number(), TellOutcome::Values(vec![a, b])).unwrap();
    }
    let t = s.ask().unwrap();
    s.tell(t.number(), TellOutcome::Failed(None)).unwrap();
    let mut front: Vec<u64> = s.best_trials().unwrap().iter().map(|t| t.number).collect();
    front.sort();
    // (2,3) beats (2,2) and (3,3); (1,1) twice and (0.5,0.5) are incomparable with it.
    assert_eq!(front, vec![0, 1, 3, 5]);
    assert!(s.best_trial().unwrap_err().to_string().contains("use best_trials()"));
    // The objective must return one value per direction.
    let r = s.optimize(|_t: &mut Trial| Ok(1.0), Optimize::trials(1)).unwrap();
    assert_eq!(r.failed, 1);
    let last = s.trials().unwrap().last().unwrap().clone();
    assert!(last.message.as_deref().unwrap().contains("returned 1 value(s), but the study has 2"));
    // (0.1, 9) dominates every earlier point: it alone is the front now.
    let r = s.optimize(|_t: &mut Trial| Ok((0.1, 9.0)), Optimize::trials(1)).unwrap();
    assert_eq!(r.complete, 1);
    assert_eq!(s.best_trials().unwrap().iter().map(|t| t.number).collect::<Vec<_>>(), vec![8]);
}

#[test]
fn ask_tell_rules() {
    let s = study_with(RandomSampler::new(Some(1)));
    let mut t = s.ask().unwrap();
    t.suggest_float("x", 0.0, 1.0).sample().unwrap();
    t.report(1, 0.7).unwrap();
    t.report(2, 0.4).unwrap();
    t.set_user_attr("gpu", "A100").unwrap();
    let n = t.number();
    let e = s.tell(n, TellOutcome::Values(vec![1.0, 2.0])).unwrap_err().to_string();
    assert!(e.contains("has 1 objective(s), but 2 value(s) were given"), "{e}");
    assert_eq!(s.trial(n).unwrap().state, TrialState::Running, "a bad tell changes nothing");
    s.tell(n, TellOutcome::Pruned).unwrap();
    let stored = s.trial(n).unwrap();
    assert_eq!(stored.state, TrialState::Pruned);
    assert_eq!(stored.values, Some(vec![0.4]), "a pruned trial keeps its last reported value");
    assert_eq!(stored.intermediate_values.len(), 2);
    assert_eq!(stored.user_attrs["gpu"], "A100");
    assert!(matches!(s.tell(n, TellOutcome::Values(vec![1.0])), Err(Error::TrialFinished { .. })));
    assert!(matches!(s.tell(99, TellOutcome::Values(vec![1.0])), Err(Error::TrialNotFound { .. })));
    s.set_user_attr("dataset", "mnist").unwrap();
    assert_eq!(s.user_attrs().unwrap()["dataset"], "mnist");
}

#[test]
fn studies_are_created_loaded_and_checked() {
    let storage: Arc<dyn Storage> = Arc::new(InMemoryStorage::new());
    Study::builder("a").storage(storage.clone()).direction(Direction::Maximize).create().unwrap();
    assert!(matches!(Study::builder("a").storage(storage.clone()).create(), Err(Error::StudyExists(_))));
    assert!(matches!(Study::builder("b").storage(storage.clone()).load(), Err(Error::StudyNotFound(_))));
    let e = Study::builder("a").storage(storage.clone()).direction(Direction::Minimize).load().unwrap_err();
    assert!(e.to_string().contains("stored with directions [maximize]"), "{e}");
    assert_eq!(Study::builder("a").storage(storage).load().unwrap().direction(), Direction::Maximize);
}

#[test]
fn grid_search_visits_every_point_once_then_stops() {
    let grid = GridSampler::new([("x", vec![0.0, 1.0, 2.0]), ("y", vec![10.0, 20.0])]).unwrap();
    let s = study_with(grid);
    let obj = |t: &mut Trial| -> Result<f64, ObjectiveError> {
        Ok(t.suggest_float("x", 0.0, 5.0).sample()? + t.suggest_float("y", 0.0, 50.0).sample()?)
    };
    let r = s.optimize(obj, Optimize::trials(100).n_jobs(2)).unwrap();
    assert_eq!(r.stop, StopReason::SamplerExhausted);
    assert_eq!(r.complete, 6);
    let mut seen: Vec<(i64, i64)> = s
        .trials()
        .unwrap()
        .iter()
        .map(|t| (t.param("x").unwrap().as_f64().unwrap() as i64, t.param("y").unwrap().as_f64().unwrap() as i64))
        .collect();
    seen.sort();
    assert_eq!(seen, vec![(0, 10), (0, 20), (1, 10), (1, 20), (2, 10), (2, 20)]);
    assert!(matches!(s.ask(), Err(Error::SamplerExhausted(_))));
    // A grid from a space, in a seeded scattered order, covers the same points.
    let space = SpaceSpec::from_json_str(
        r#"{"u": {"type": "int", "low": 16, "high": 64, "step": 16}, "a": {"type": "categorical", "choices": ["relu", "tanh"]}}"#,
    )
    .unwrap();
    let g = GridSampler::from_space(&space.search_space(), 5).unwrap().shuffled(9);
    assert_eq!(g.len(), 8);
    let s = study_with(g);
    let r = s.optimize(|t: &mut Trial| -> Result<f64, ObjectiveError> { space.suggest_all(t)?; Ok(0.0) }, Optimize::trials(20));
    assert_eq!(r.unwrap().complete, 8);
}

#[test]
fn timeout_budget_stops_starting_trials() {
    let s = study_with(RandomSampler::new(Some(1)));
    let r = s
        .optimize(
            |t: &mut Trial| -> Result<f64, ObjectiveError> {
                std::thread::sleep(std::time::Duration::from_millis(30));
                Ok(t.suggest_float("x", 0.0, 1.0).sample()?)
            },
            Optimize::default().timeout(std::time::Duration::from_millis(200)),
        )
        .unwrap();
    assert_eq!(r.stop, StopReason::Timeout);
    assert!(r.complete >= 2 && r.complete <= 10, "{r:?}");
    assert!(s.optimize(|_t: &mut Trial| Ok(0.0), Optimize::default()).is_err(), "no budget at all is an error");
}

#[test]
fn a_stop_flag_interrupts_the_running_trial() {
    let s = study_with(RandomSampler::new(Some(1)));
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f2 = flag.clone();
    let r = s
        .optimize(
            move |t: &mut Trial| -> Result<f64, ObjectiveError> {
                if t.number() == 2 {
                    f2.store(true, Ordering::SeqCst);
                }
                if t.is_interrupted() {
                    return Err(ObjectiveError::Interrupted);
                }
                Ok(1.0)
            },
            Optimize::trials(10).stop_flag(flag),
        )
        .unwrap();
    assert_eq!(r.stop, StopReason::Interrupted);
    let trials = s.trials().unwrap();
    assert_eq!(trials.len(), 4);
    assert_eq!(trials[2].state, TrialState::Failed);
    assert_eq!(trials[2].message.as_deref(), Some("interrupted"));
    // The interrupted configuration is enqueued again, to resume first.
    assert_eq!(trials[3].state, TrialState::Waiting);
    assert_eq!(trials[3].system_attrs.get("retried_from"), Some(&serde_json::json!(2)));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn distribution() -> impl Strategy<Value = Distribution> {
        prop_oneof![
            (-1e6f64..1e6, 0f64..1e6).prop_map(|(lo, w)| Distribution::float(lo, lo + w)),
            (1e-8f64..1e3, 1f64..1e6).prop_map(|(lo, f)| Distribution::float_log(lo, lo * f)),
            (-100i64..100, 0u32..50, 1i64..7).prop_map(|(lo, k, s)| Distribution::int_step(lo, lo + k as i64 * s, s)),
            (1i64..1000, 0i64..100_000).prop_map(|(lo, w)| Distribution::int_log(lo, lo + w)),
            (-10f64..10.0, 0u32..40).prop_map(|(lo, k)| Distribution::float_step(lo, lo + k as f64 * 0.25, 0.25)),
            (1usize..6).prop_map(|n| Distribution::categorical((0..n).map(|i| format!("c{i}")))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Every sampler keeps every value inside its distribution.
        #[test]
        fn samples_stay_inside_their_distributions(dists in proptest::collection::vec(distribution(), 1..6), seed in 0u64..1000) {
            let space: ferrotune::samplers::SearchSpace =
                dists.iter().enumerate().map(|(i, d)| (format!("p{i}"), d.clone())).collect();
            // Model-based samplers start modelling after two or three trials,
            // so most asks below come from their models, not their start-up.
            let samplers: Vec<Arc<dyn Sampler>> = vec![
                Arc::new(RandomSampler::new(Some(seed))),
                Arc::new(QmcSampler::new(Some(seed))),
                Arc::new(GridSampler::from_space(&space, 3).unwrap().shuffled(seed)),
                Arc::new(TpeSampler::new(Some(seed), TpeOptions { n_startup_trials: 2, ..Default::default() })),
                Arc::new(TpeSampler::new(Some(seed), TpeOptions { n_startup_trials: 2, multivariate: false, ..Default::default() })),
                Arc::new(GpSampler::new(Some(seed), GpOptions { n_initial_points: 3, n_candidates: 32, ..Default::default() })),
                Arc::new(CmaEsSampler::new(Some(seed), CmaEsOptions { popsize: Some(4), ..Default::default() })),
                Arc::new(Nsga2Sampler::new(Some(seed), Nsga2Options { population_size: 3, ..Default::default() })),
            ];
            for sampler in samplers {
                let s = Study::builder("p").sampler_arc(sampler).create().unwrap();
                for i in 0..10 {
                    let mut t = match s.ask() { Ok(t) => t, Err(Error::SamplerExhausted(_)) => break, Err(e) => panic!("{e}") };
                    for (name, d) in &space {
                        let v = t.suggest(name, d).unwrap();
                        let x = d.to_internal(name, &v).unwrap();
                        prop_assert!(d.contains(x), "{name}: {v} outside {d}");
                    }
                    // Varying values, so the models have something to fit.
                    s.tell(t.number(), TellOutcome::Values(vec![((i * 7919) % 13) as f64])).unwrap();
                }
            }
        }
    }
}


#[test]
fn a_study_wide_total_is_exact_within_a_process_and_ignores_interrupted_trials() {
    let s = study_with(RandomSampler::new(Some(1)));
    let t = s.ask().unwrap();
    s.tell(t.number(), TellOutcome::Failed(Some("interrupted".into()))).unwrap();
    let t = s.ask().unwrap();
    s.tell(t.number(), TellOutcome::Failed(Some("CUDA OOM".into()))).unwrap();
    let r = s.optimize(|t: &mut Trial| Ok(t.suggest_float("x", 0.0, 1.0).sample()?), Optimize::default().study_total(10).n_jobs(4)).unwrap();
    assert_eq!(r.stop, StopReason::Budget);
    // 10 counted: the genuine failure and 9 new ones; the interrupted one is free.
    assert_eq!(r.complete, 9);
    assert_eq!(s.trials().unwrap().len(), 11);
}

#[test]
fn the_study_stops_when_the_best_value_stops_improving() {
    let s = study_with(RandomSampler::new(Some(1)));
    // Values: 5, 4, 3.99, 3.995, 10, 9, 8 ... never below 3.99 again.
    let values = [5.0, 4.0, 3.99, 3.995, 10.0, 9.0, 8.0, 7.0, 6.0, 5.5, 5.4, 5.3];
    let calls = AtomicUsize::new(0);
    let r = s
        .optimize(
            |_t: &mut Trial| -> Result<f64, ObjectiveError> { Ok(values[calls.fetch_add(1, Ordering::SeqCst)]) },
            Optimize::trials(12).stop_after_no_improvement(4, 0.05),
        )
        .unwrap();
    assert_eq!(r.stop, StopReason::NoImprovement);
    // 4.0 was the last improvement by more than 0.05 (3.99 is too small a
    // gain), so trials 2..=5 are the four without improvement.
    assert_eq!(s.trials().unwrap().len(), 6);
    assert_eq!(s.trials_without_improvement(0.05).unwrap(), 4);
    let mo = Study::builder("mo").directions([Direction::Minimize; 2]).create().unwrap();
    assert!(mo.optimize(|_t: &mut Trial| Ok((1.0, 1.0)), Optimize::trials(2).stop_after_no_improvement(2, 0.0)).is_err());
}

/// Issue 10 §3.3: a changed search space was silently accepted. It is
/// stored with the study; a different one is an error naming the change.
#[test]
fn a_changed_search_space_is_refused_unless_allowed() {
    let s = Study::builder("space").create().unwrap();
    let old = SpaceSpec::from_json_str(r#"{"x": {"type": "float", "low": -5, "high": 10}, "a": {"type": "categorical", "choices": ["p", "q"]}}"#).unwrap();
    s.check_space(&old, false).unwrap();
    // The same space in another order is the same space.
    let same = SpaceSpec::from_json_str(r#"{"a": {"type": "categorical", "choices": ["p", "q"]}, "x": {"type": "float", "low": -5, "high": 10}}"#).unwrap();
    s.check_space(&same, false).unwrap();
    let new = SpaceSpec::from_json_str(r#"{"x": {"type": "int", "low": 100, "high": 200}, "b": {"type": "float", "low": 0, "high": 1}}"#).unwrap();
    let e = s.check_space(&new, false).unwrap_err().to_string();
    assert!(e.contains("search space differs"), "{e}");
    assert!(e.contains("'x' was float [-5, 10], now int [100, 200]"), "{e}");
    assert!(e.contains("'a' (categorical [p, q]) was removed") && e.contains("'b' (float [0, 1]) is new"), "{e}");
    assert!(e.contains("--allow-space-change"), "{e}");
    s.check_space(&new, true).unwrap();
    s.check_space(&new, false).unwrap();
    assert!(s.check_space(&old, false).is_err());
}
