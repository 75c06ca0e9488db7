//! Every pruner's decisions on hand-built histories, boundary cases included.

use ferrotune::pruners::{
    HyperbandPruner, PatientPruner, PercentilePruner, Pruner, PrunerConfig, SuccessiveHalvingPruner, ThresholdPruner,
    ParetoPruner, WilcoxonPruner,
};
use ferrotune::storage::SqliteStorage;
use ferrotune::{Direction, ObjectiveError, Optimize, Study, TellOutcome, Trial, TrialState};
use std::sync::Arc;

/// A study whose complete trials reported these curves.
fn history(direction: Direction, curves: &[&[f64]], pruner: Arc<dyn Pruner>) -> Study {
    let s = Study::builder("h").direction(direction).pruner_arc(pruner).create().unwrap();
    for c in curves {
        let mut t = s.ask().unwrap();
        for (i, v) in c.iter().enumerate() {
            t.report(i as u64, *v).unwrap();
        }
        s.tell(t.number(), TellOutcome::Values(vec![*c.last().unwrap()])).unwrap();
    }
    s
}

/// A new trial reporting `curve`; returns the decision after its last report.
fn decide(s: &Study, curve: &[f64]) -> bool {
    let mut t = s.ask().unwrap();
    for (i, v) in curve.iter().enumerate() {
        t.report(i as u64, *v).unwrap();
    }
    t.should_prune().unwrap()
}

fn median(n_startup: usize, warmup: u64) -> Arc<dyn Pruner> {
    Arc::new(PercentilePruner { n_startup_trials: n_startup, n_warmup_steps: warmup, ..PercentilePruner::median() })
}

#[test]
fn median_rule() {
    let curves: &[&[f64]] = &[&[1.0, 0.8, 0.6], &[1.0, 0.7, 0.5], &[1.0, 0.9, 0.7]];
    let s = history(Direction::Minimize, curves, median(3, 0));
    // Median at step 1 is 0.8: worse is pruned, better or equal is kept.
    assert!(decide(&s, &[1.0, 0.95]));
    assert!(!decide(&s, &[1.0, 0.8]), "a tie with the median continues");
    assert!(!decide(&s, &[1.0, 0.75]));
    // Best so far counts, not the last value.
    assert!(!decide(&s, &[0.5, 0.95]));
    // A step nobody else reached has nothing to compare with.
    assert!(!decide(&s, &[1.0, 0.75, 0.6, 9.0]));
    // NaN everywhere is pruned.
    assert!(decide(&s, &[f64::NAN]));
    // Maximisation flips the comparison (best so far = the largest value).
    let s = history(Direction::Maximize, curves, median(3, 0));
    assert!(decide(&s, &[0.6, 0.75]));
    assert!(!decide(&s, &[0.6, 0.85]));
    assert!(!decide(&s, &[1.0, 0.75]), "its step-0 value 1.0 beats the median");
}

#[test]
fn startup_and_warmup_protect_trials() {
    let curves: &[&[f64]] = &[&[1.0, 0.1], &[1.0, 0.1]];
    let s = history(Direction::Minimize, curves, median(3, 0));
    assert!(!decide(&s, &[1.0, 5.0]), "only 2 complete trials, 3 needed");
    let s = history(Direction::Minimize, curves, median(1, 2));
    assert!(!decide(&s, &[1.0, 5.0]), "step 1 is inside the warm-up");
    let s = history(Direction::Minimize, &[], median(0, 0));
    assert!(!decide(&s, &[5.0]), "the first trial has nobody to compare with");
}

#[test]
fn percentile_and_interval() {
    let curves: &[&[f64]] = &[&[0.1], &[0.2], &[0.3], &[0.4], &[0.5]];
    let p = PercentilePruner { percentile: 25.0, n_startup_trials: 0, ..Default::default() };
    let s = history(Direction::Minimize, curves, Arc::new(p));
    assert!(decide(&s, &[0.25]), "25th percentile is 0.2");
    assert!(!decide(&s, &[0.2]));
    let p = PercentilePruner { percentile: 25.0, n_startup_trials: 0, interval_steps: 2, ..Default::default() };
    let s = history(Direction::Minimize, &[&[0.1, 0.1], &[0.2, 0.2]], Arc::new(p));
    assert!(!decide(&s, &[0.0, 9.0]), "step 1 is not on the interval");
    assert!(PercentilePruner { percentile: 120.0, ..Default::default() }.validate().is_err());
}

#[test]
fn threshold_and_patience() {
    let t = ThresholdPruner { lower: Some(0.0), upper: Some(1.0), n_warmup_steps: 1, interval_steps: None };
    let s = history(Direction::Minimize, &[], Arc::new(t));
    assert!(!decide(&s, &[5.0]), "warm-up");
    assert!(decide(&s, &[0.5, 1.5]));
    assert!(decide(&s, &[0.5, -0.1]));
    assert!(decide(&s, &[0.5, f64::NAN]));
    assert!(!decide(&s, &[0.5, 1.0]), "on the bound is inside");

    let s = history(Direction::Minimize, &[], Arc::new(PatientPruner::new(2, 0.0).unwrap()));
    assert!(!decide(&s, &[1.0, 1.1]), "not enough reports yet");
    assert!(decide(&s, &[1.0, 1.1, 1.2]), "no improvement in 2 steps");
    assert!(!decide(&s, &[1.0, 1.1, 0.9]));
    let s = history(Direction::Minimize, &[], Arc::new(PatientPruner::new(2, 0.2).unwrap()));
    assert!(decide(&s, &[1.0, 1.1, 0.9]), "an improvement smaller than min_delta does not count");
    assert!(PatientPruner::new(1, -1.0).is_err());
}

#[test]
fn successive_halving_keeps_the_top_fraction_at_each_rung() {
    let sh = SuccessiveHalvingPruner { min_resource: 1, reduction_factor: 2, ..Default::default() };
    let s = Study::builder("sh").pruner(sh).create().unwrap();
    let mut decisions = vec![];
    // Rung 0 is at step 1. Values at step 1: 0.5, 0.3, 0.9, 0.1, 0.7.
    for v in [0.5, 0.3, 0.9, 0.1, 0.7] {
        let mut t = s.ask().unwrap();
        t.report(0, 1.0).unwrap();
        assert!(!t.should_prune().unwrap(), "before the first rung nothing is pruned");
        t.report(1, v).unwrap();
        decisions.push(t.should_prune().unwrap());
        s.tell(t.number(), TellOutcome::Values(vec![v])).unwrap();
    }
    // First trial always continues; then: 0.3 of [0.5,0.3] top-1 yes; 0.9 of
    // three: top-1 is 0.3 -> no; 0.1 of four: top-2 -> yes; 0.7 of five: top-2 -> no.
    assert_eq!(decisions, [false, false, true, false, true]);
    // Rung records are stored on the trials, so other processes see them.
    let stored = s.trials().unwrap();
    assert!(stored.iter().all(|t| t.system_attrs.contains_key("sh:0:rung0")));
}

#[test]
fn hyperband_brackets_are_deterministic_and_cover_all() {
    let hb = HyperbandPruner { min_resource: 1, max_resource: 27, reduction_factor: 3 };
    assert_eq!(hb.n_brackets(), 4);
    let brackets: Vec<u32> = (0..400).map(|n| hb.bracket_of("study", n)).collect();
    assert_eq!(brackets, (0..400).map(|n| hb.bracket_of("study", n)).collect::<Vec<_>>());
    for b in 0..4 {
        assert!(brackets.contains(&b), "bracket {b} never used");
    }
    // The most aggressive bracket gets the most trials.
    let count = |b| brackets.iter().filter(|x| **x == b).count();
    assert!(count(0) > count(3), "{} vs {}", count(0), count(3));
    assert!(HyperbandPruner { min_resource: 5, max_resource: 2, reduction_factor: 3 }.validate().is_err());
}

#[test]
fn asha_promotions_agree_across_two_workers_on_one_sqlite_study() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("asha.db");
    let open = || {
        Study::builder("asha")
            .storage(Arc::new(SqliteStorage::open(&db).unwrap()))
            .pruner(SuccessiveHalvingPruner { min_resource: 1, reduction_factor: 3, ..Default::default() })
            .load_or_create()
            .unwrap()
    };
    let objective = |t: &mut Trial| -> Result<f64, ObjectiveError> {
        let x = t.suggest_float("x", 0.0, 1.0).sample()?;
        for step in 0..9 {
            t.report(step, x + 1.0 / (step as f64 + 1.0))?;
            if t.should_prune()? {
                return Err(ObjectiveError::Pruned);
            }
        }
        Ok(x)
    };
    let (a, b) = (open(), open());
    std::thread::scope(|sc| {
        sc.spawn(|| a.optimize(objective, Optimize::trials(15)).unwrap());
        sc.spawn(|| b.optimize(objective, Optimize::trials(15)).unwrap());
    });
    let trials = a.trials().unwrap();
    assert_eq!(trials.len(), 30);
    let pruned = trials.iter().filter(|t| t.state == TrialState::Pruned).count();
    assert!(pruned >= 10, "ASHA pruned {pruned} of 30");
    // Everyone who reached rung 1 (step 3) was in the top third at rung 0
    // among the records present when it was judged; and the best trial ran
    // to completion.
    let best = trials.iter().filter(|t| t.state == TrialState::Complete).map(|t| t.value().unwrap()).fold(f64::INFINITY, f64::min);
    let best_x = trials.iter().map(|t| t.param("x").unwrap().as_f64().unwrap()).fold(f64::INFINITY, f64::min);
    assert!(best <= best_x + 0.15, "the best configuration is not pruned away: {best} vs {best_x}");
    for t in trials.iter().filter(|t| t.state == TrialState::Pruned) {
        assert!(t.values.is_some(), "a pruned trial keeps its last value");
    }
}

#[test]
fn study_files_name_pruners() {
    let cfg: PrunerConfig = toml::from_str("type = \"hyperband\"\nmax_resource = 9").unwrap();
    assert!(matches!(cfg, PrunerConfig::Hyperband(h) if h.max_resource == 9 && h.reduction_factor == 3));
    let cfg: PrunerConfig = toml::from_str("type = \"asha\"\nreduction_factor = 2").unwrap();
    cfg.build().unwrap();
    let e = toml::from_str::<PrunerConfig>("type = \"median\"\nwarmup = 3").unwrap_err().to_string();
    assert!(e.contains("unknown field `warmup`"), "{e}");
    let bad: PrunerConfig = toml::from_str("type = \"successive_halving\"\nreduction_factor = 1").unwrap();
    assert!(bad.build().err().unwrap().to_string().contains("at least 2"));
}

#[test]
fn wilcoxon_prunes_a_trial_consistently_worse_on_the_same_folds() {
    // The best trial's per-fold losses; the objective is their mean.
    let folds: &[f64] = &[0.30, 0.25, 0.40, 0.35, 0.20, 0.30];
    let mut best = folds.to_vec();
    best.push(0.3);
    let s = history(Direction::Minimize, &[&best], Arc::new(WilcoxonPruner { p_threshold: 0.1, n_startup_steps: 2 }));
    // Worse on every fold: after 4 folds p = 1/16 < 0.1.
    assert!(!decide(&s, &[0.35, 0.30, 0.45]), "3 folds: p = 1/8, not yet");
    assert!(decide(&s, &[0.35, 0.30, 0.45, 0.40]));
    // Better on some folds, worse on others: no verdict.
    assert!(!decide(&s, &[0.28, 0.30, 0.38, 0.40, 0.18, 0.35]));
    // Fewer paired folds than n_startup_steps: no verdict.
    assert!(!decide(&s, &[9.0]));
    // No complete trial yet: nothing to compare with.
    let empty = history(Direction::Minimize, &[], Arc::new(WilcoxonPruner::default()));
    assert!(!decide(&empty, &[9.0, 9.0, 9.0]));
}

#[test]
fn pareto_pruning_for_several_objectives() {
    // Two objectives, both minimised (say validation loss and latency).
    let s = Study::builder("mo")
        .directions([Direction::Minimize, Direction::Minimize])
        .pruner(ParetoPruner { n_startup_trials: 4, ..Default::default() })
        .create()
        .unwrap();
    for v in [[0.2, 5.0], [0.3, 3.0], [0.5, 1.0], [0.4, 4.0]] {
        let mut t = s.ask().unwrap();
        t.report_values(1, &v).unwrap();
        s.tell(t.number(), TellOutcome::Values(v.to_vec())).unwrap();
    }
    let decide_mo = |v: [f64; 2]| {
        let mut t = s.ask().unwrap();
        t.report_values(1, &v).unwrap();
        t.should_prune().unwrap()
    };
    // Dominated by all four: pruned. A new trade-off nobody dominates: kept.
    assert!(decide_mo([0.6, 6.0]));
    assert!(!decide_mo([0.1, 6.0]));
    assert!(!decide_mo([0.6, 0.5]));
    // Dominated by only one of four (25% < 50%): kept.
    assert!(!decide_mo([0.35, 4.5]), "only [0.3, 3.0] dominates it");
    assert!(decide_mo([0.45, 4.5]), "[0.3, 3.0] and [0.4, 4.0] dominate it: half");
    // NaN in any objective: pruned.
    assert!(decide_mo([f64::NAN, 1.0]));
    // A vector of the wrong length is refused.
    let mut t = s.ask().unwrap();
    assert!(t.report_values(2, &[1.0]).unwrap_err().to_string().contains("2 objective(s)"));
    assert!(ParetoPruner { fraction: 0.0, ..Default::default() }.validate().is_err());
}

#[test]
fn successive_halving_ties_and_maximisation() {
    let sh = SuccessiveHalvingPruner { min_resource: 1, reduction_factor: 2, ..Default::default() };
    let s = Study::builder("tie").direction(Direction::Maximize).pruner(sh).create().unwrap();
    let mut decisions = vec![];
    for v in [0.5, 0.5, 0.7, 0.5] {
        let mut t = s.ask().unwrap();
        t.report(1, v).unwrap();
        decisions.push(t.should_prune().unwrap());
        s.tell(t.number(), TellOutcome::Values(vec![v])).unwrap();
    }
    // [0.5, 0.5]: top-1 is 0.5, a tie is promoted; [0.5, 0.5, 0.7]: top-1
    // is 0.7 -> 0.7 continues; four: top-2 = {0.7, 0.5}, a tie at 0.5 continues.
    assert_eq!(decisions, [false, false, false, false]);
    let mut t = s.ask().unwrap();
    t.report(1, 0.4).unwrap();
    assert!(t.should_prune().unwrap(), "below the top half at maximisation");
}

#[test]
fn hyperband_compares_trials_only_within_their_bracket() {
    let hb = HyperbandPruner { min_resource: 1, max_resource: 9, reduction_factor: 3 };
    let s = Study::builder("hb").pruner(hb.clone()).create().unwrap();
    // Run trials until two land in bracket 0 (first rung at step 1).
    let mut in_b0 = vec![];
    for _ in 0..40 {
        let mut t = s.ask().unwrap();
        let b = hb.bracket_of("hb", t.number());
        // Bracket 0: the first trial is good, each later one worse than all
        // before it (ties at the boundary would be promoted, as in ASHA).
        let v = if b == 0 && in_b0.is_empty() { 0.1 } else { 0.9 + 0.01 * t.number() as f64 };
        t.report(1, v).unwrap();
        let pruned = t.should_prune().unwrap();
        if b == 0 {
            in_b0.push(pruned);
        } else {
            // Brackets 1 and 2 have their first rung at step 3 or 9: step 1 never prunes.
            assert!(!pruned, "bracket {b} pruned at step 1");
        }
        s.tell(t.number(), TellOutcome::Values(vec![v])).unwrap();
    }
    assert!(in_b0.len() >= 3, "bracket 0 is the most used");
    assert!(!in_b0[0], "the first trial of a bracket always continues");
    assert!(in_b0[1..].iter().all(|p| *p), "later, worse bracket-0 trials are pruned: {in_b0:?}");
}
