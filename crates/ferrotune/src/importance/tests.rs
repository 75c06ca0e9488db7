//! Importances on functions whose answer is known.

use super::*;
use crate::distribution::Distribution;
use crate::storage::InMemoryStorage;
use std::sync::Arc;
use crate::study::TellOutcome;

/// A study of `n` random trials (seeded) of `f` over `space`, each
/// parameter suggested only when `active` says so.
fn study_of(
    n: usize,
    space: &[(&str, Distribution)],
    active: impl Fn(&str, &indexmap::IndexMap<String, ParamValue>) -> bool,
    f: impl Fn(&indexmap::IndexMap<String, ParamValue>) -> f64,
) -> Study {
    let study = Study::builder("imp")
        .storage(Arc::new(InMemoryStorage::new()))
        .sampler(crate::samplers::RandomSampler::new(Some(11)))
        .create()
        .unwrap();
    for _ in 0..n {
        let mut t = study.ask().unwrap();
        let mut p = indexmap::IndexMap::new();
        for (name, d) in space {
            if active(name, &p) {
                p.insert(name.to_string(), t.suggest(name, d).unwrap());
            }
        }
        study.tell(t.number(), TellOutcome::Values(vec![f(&p)])).unwrap();
    }
    study
}

fn x(p: &indexmap::IndexMap<String, ParamValue>, k: &str) -> f64 {
    p.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN)
}

fn by_name(imp: &Importances) -> std::collections::HashMap<String, &ParamImportance> {
    imp.params.iter().map(|p| (p.name.clone(), p)).collect()
}

fn uniform3() -> Vec<(&'static str, Distribution)> {
    vec![("x1", Distribution::float(0.0, 1.0)), ("x2", Distribution::float(0.0, 1.0)), ("x3", Distribution::float(0.0, 1.0))]
}

/// f = 10·x1 + x2 + 0·x3 over uniform inputs: main-effect variances are
/// 100/12, 1/12 and 0, so the shares are about 0.990, 0.0099 and 0.
#[test]
fn an_additive_function_gets_its_known_shares() {
    let s = study_of(300, &uniform3(), |_, _| true, |p| 10.0 * x(p, "x1") + x(p, "x2"));
    let imp = evaluate(&s, &Options::default()).unwrap();
    let m = by_name(&imp);
    assert_eq!(imp.params[0].name, "x1");
    assert!(m["x1"].importance > 0.97, "{imp:?}");
    assert!((0.002..0.025).contains(&m["x2"].importance), "{imp:?}");
    assert!(m["x3"].importance < 0.005, "{imp:?}");
    assert!(m["x1"].variance_fraction.unwrap() > 0.9, "the main effect explains nearly all the variance");
    assert!((imp.params.iter().map(|p| p.importance).sum::<f64>() - 1.0).abs() < 1e-9);
    // PED-ANOVA agrees on the order of the extremes.
    let ped = evaluate(&s, &Options { method: Method::PedAnova, ..Default::default() }).unwrap();
    assert_eq!(ped.params[0].name, "x1", "{ped:?}");
    assert_eq!(ped.params[2].name, "x3", "{ped:?}");
    assert!(by_name(&ped)["x1"].importance > 0.6, "{ped:?}");
}

/// f = x1·x2 on [-1, 1]²: no main effects at all, one interaction.
#[test]
fn a_pure_interaction_shows_as_a_pair_not_as_main_effects() {
    let space = vec![
        ("x1", Distribution::float(-1.0, 1.0)),
        ("x2", Distribution::float(-1.0, 1.0)),
        ("x3", Distribution::float(-1.0, 1.0)),
    ];
    let s = study_of(400, &space, |_, _| true, |p| x(p, "x1") * x(p, "x2"));
    let imp = evaluate(&s, &Options::default()).unwrap();
    for p in &imp.params {
        assert!(p.variance_fraction.unwrap() < 0.1, "{} has no main effect: {imp:?}", p.name);
    }
    let top = &imp.interactions[0];
    let mut pair = top.params.clone();
    pair.sort();
    assert_eq!(pair, ["x1".to_string(), "x2".to_string()], "{imp:?}");
    assert!(top.variance_fraction > 0.6, "{imp:?}");
    for i in &imp.interactions[1..] {
        assert!(i.variance_fraction < 0.1, "{imp:?}");
    }
}

/// A log-scale parameter, a categorical and an integer: the objective is
/// log10(lr) alone.
#[test]
fn log_scale_and_mixed_parameters() {
    let space = vec![
        ("lr", Distribution::float_log(1e-5, 1e-1)),
        ("act", Distribution::categorical(["relu", "tanh", "gelu"])),
        ("units", Distribution::int_step(16, 256, 16)),
    ];
    let s = study_of(200, &space, |_, _| true, |p| x(p, "lr").log10());
    let imp = evaluate(&s, &Options::default()).unwrap();
    assert_eq!(imp.params[0].name, "lr");
    assert!(imp.params[0].importance > 0.95, "{imp:?}");
    // A categorical that decides everything.
    let s = study_of(200, &space, |_, _| true, |p| match p["act"].as_str() {
        Some("relu") => 0.0,
        Some("tanh") => 5.0,
        _ => 10.0,
    });
    let imp = evaluate(&s, &Options::default()).unwrap();
    assert_eq!(imp.params[0].name, "act");
    assert!(imp.params[0].importance > 0.95, "{imp:?}");
}

/// momentum exists only with sgd. The objective depends on the optimiser
/// and on momentum (where it exists); the third parameter not at all.
#[test]
fn conditional_parameters_count_where_they_are_absent() {
    let space = vec![
        ("optimizer", Distribution::categorical(["sgd", "adam"])),
        ("momentum", Distribution::float(0.0, 1.0)),
        ("noise", Distribution::float(0.0, 1.0)),
    ];
    let s = study_of(
        300,
        &space,
        |name, p| name != "momentum" || p.get("optimizer").and_then(|v| v.as_str()) == Some("sgd"),
        |p| {
            if p["optimizer"].as_str() == Some("sgd") {
                1.0 + 4.0 * (x(p, "momentum") - 0.9).powi(2)
            } else {
                0.5
            }
        },
    );
    for method in [Method::Fanova, Method::PedAnova] {
        let imp = evaluate(&s, &Options { method, ..Default::default() }).unwrap();
        let m = by_name(&imp);
        assert!(m["momentum"].trials < 300 && m["momentum"].trials > 100, "{imp:?}");
        assert!(m["noise"].importance < m["momentum"].importance, "{method:?}: {imp:?}");
        assert!(m["noise"].importance < m["optimizer"].importance, "{method:?}: {imp:?}");
    }
}

#[test]
fn seeded_and_checked() {
    let s = study_of(100, &uniform3(), |_, _| true, |p| x(p, "x1") + 0.5 * x(p, "x2").sin());
    let a = evaluate(&s, &Options::default()).unwrap();
    assert_eq!(a, evaluate(&s, &Options::default()).unwrap(), "same seed, same numbers");
    let b = evaluate(&s, &Options { seed: 7, ..Default::default() }).unwrap();
    assert_eq!(a.params[0].name, b.params[0].name);
    let only = evaluate(&s, &Options { params: Some(vec!["x2".into(), "x3".into()]), ..Default::default() }).unwrap();
    assert_eq!(only.params.len(), 2);
    let e = evaluate(&s, &Options { params: Some(vec!["lr".into()]), ..Default::default() }).unwrap_err().to_string();
    assert!(e.contains("'lr'") && e.contains("x1, x2, x3"), "{e}");
    let e = evaluate(&s, &Options { objective: 1, ..Default::default() }).unwrap_err().to_string();
    assert!(e.contains("objective 1 does not exist"), "{e}");
    let e = evaluate(&s, &Options { method: Method::PedAnova, target_quantile: 0.5, region_quantile: 0.2, ..Default::default() })
        .unwrap_err()
        .to_string();
    assert!(e.contains("must not exceed"), "{e}");
    let empty = Study::builder("e").create().unwrap();
    let e = evaluate(&empty, &Options::default()).unwrap_err().to_string();
    assert!(e.contains("at least 2 complete trials"), "{e}");
    assert_eq!(Method::parse("PED_ANOVA").unwrap(), Method::PedAnova);
    assert!(Method::parse("shap").unwrap_err().to_string().contains("fanova or ped-anova"));
}

#[test]
fn the_surrogate_surface_follows_the_function() {
    let s = study_of(300, &uniform3(), |_, _| true, |p| 10.0 * x(p, "x1") + x(p, "x2"));
    let trials = s.trials().unwrap();
    let refs: Vec<&FrozenTrial> = trials.iter().map(|t| t.as_ref()).collect();
    let sur = Surrogate::fit(&refs, 0, 0).unwrap();
    let surf = sur.surface("x1", "x3", 10).unwrap();
    assert_eq!((surf.xs.len(), surf.ys.len(), surf.z.len()), (10, 10, 10));
    // Rising along x1, flat along x3.
    let row = &surf.z[5];
    assert!(row[9] - row[0] > 6.0, "{row:?}");
    let col: Vec<f64> = surf.z.iter().map(|r| r[5]).collect();
    let spread = col.iter().cloned().fold(f64::MIN, f64::max) - col.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 1.0, "{col:?}");
}
