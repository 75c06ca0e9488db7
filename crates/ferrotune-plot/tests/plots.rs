//! Every plot kind built from real studies, checked structurally: one mark
//! per trial, log axes where a parameter is log-scaled, categories where it
//! is categorical, conditional parameters absent (not zero), and the SVG,
//! PNG and HTML files carrying them.

use std::sync::Arc;

use ferrotune::samplers::RandomSampler;
use ferrotune::storage::InMemoryStorage;
use ferrotune::{Direction, ObjectiveError, Optimize, Study, TrialState};
use ferrotune_plot::figure::{Role, Scale, Series};
use ferrotune_plot::{build, to_html, to_svg, write_png, Figure, Kind, Options, StudyData};

/// A study like a real tuning job: a log learning rate, integer units, an
/// optimiser with a momentum only for SGD, five epochs reported, some trials
/// pruned, one failing, a constraint on a few.
fn study(name: &str) -> Study {
    let study = Study::builder(name)
        .direction(Direction::Minimize)
        .storage(Arc::new(InMemoryStorage::new()))
        .sampler(RandomSampler::new(Some(4)))
        .create()
        .unwrap();
    study
        .optimize(
            |t: &mut ferrotune::Trial| -> Result<f64, ObjectiveError> {
                let lr = t.suggest_float("lr", 1e-5, 1e-1).log().sample()?;
                let units = t.suggest_int("units", 16, 256).step(16).sample()?;
                let opt = t.suggest_categorical("optimizer", ["sgd", "adam"])?;
                let momentum = if opt == "sgd" { t.suggest_float("momentum", 0.0, 0.99).sample()? } else { 0.0 };
                if t.number() == 7 {
                    return Err(ObjectiveError::Failed("out of memory".into()));
                }
                let base = (lr.log10() + 3.0).powi(2) + 0.001 * units as f64 + momentum;
                for epoch in 0..5u64 {
                    t.report(epoch, base + 1.0 / (epoch + 1) as f64)?;
                    if t.number() % 5 == 4 && epoch == 2 {
                        return Err(ObjectiveError::Pruned);
                    }
                }
                if t.number() % 9 == 3 {
                    t.set_constraints(&[1.0])?;
                }
                Ok(base)
            },
            Optimize::trials(40),
        )
        .unwrap();
    study
}

fn complete(study: &Study) -> usize {
    study.trials().unwrap().iter().filter(|t| t.state == TrialState::Complete).count()
}

fn points(fig: &Figure, panel: usize, role: Role) -> usize {
    fig.panels[panel]
        .series
        .iter()
        .filter_map(|s| match s {
            Series::Points { role: r, points, .. } if *r == role => Some(points.len()),
            _ => None,
        })
        .sum()
}

fn fig(study: &Study, kind: Kind) -> Figure {
    build(kind, &StudyData::load(study).unwrap(), &Options::default()).unwrap()
}

#[test]
fn history_has_every_complete_trial_and_a_best_line() {
    let s = study("h");
    let f = fig(&s, Kind::History);
    let (ok, bad) = (points(&f, 0, Role::Trial), points(&f, 0, Role::Infeasible));
    assert_eq!(ok + bad, complete(&s), "one mark per complete trial");
    assert!(bad > 0, "infeasible trials are marked apart");
    let best = f.panels[0].series.iter().find_map(|s| match s {
        Series::Line { role: Role::Best, points, .. } => Some(points.clone()),
        _ => None,
    });
    let best = best.expect("a best-so-far line");
    assert!(best.windows(2).all(|w| w[1][1] <= w[0][1]), "minimising: the best never rises");
    assert_eq!(best.last().unwrap()[1], s.best_value().unwrap().unwrap());
    assert!(f.trials.contains_key(&0) && f.trials[&0].params.contains_key("lr"), "hover text for each trial");
}

#[test]
fn intermediate_curves_mark_where_pruned_trials_stopped() {
    let s = study("i");
    let f = fig(&s, Kind::Intermediate);
    let trials = s.trials().unwrap();
    let with_reports = trials.iter().filter(|t| !t.intermediate_values.is_empty()).count();
    let lines = f.panels[0].series.iter().filter(|s| matches!(s, Series::Line { trial: Some(_), .. })).count();
    assert_eq!(lines, with_reports);
    let pruned = trials.iter().filter(|t| t.state == TrialState::Pruned).count();
    assert!(pruned > 0);
    assert_eq!(points(&f, 0, Role::Pruned), pruned, "a marker where each pruned trial stopped");
    // A cap on the number of curves, with a note saying so.
    let few = build(Kind::Intermediate, &StudyData::load(&s).unwrap(), &Options { max_lines: 10, ..Default::default() }).unwrap();
    let shown = few.panels[0].series.iter().filter(|s| matches!(s, Series::Line { .. })).count();
    assert_eq!(shown, 10);
    assert!(few.notes[0].contains("10 of"), "{:?}", few.notes);
}

#[test]
fn parallel_coordinates_use_log_and_category_axes_and_skip_absent_parameters() {
    let s = study("p");
    let f = fig(&s, Kind::Parallel);
    let par = f.parallel.as_ref().unwrap();
    let labels: Vec<&str> = par.axes.iter().map(|a| a.label.as_str()).collect();
    assert_eq!(&labels[..4], ["lr", "units", "optimizer", "momentum"]);
    assert_eq!(par.axes[0].scale, Scale::Log);
    assert_eq!(par.axes[2].scale, Scale::Category { labels: vec!["sgd".into(), "adam".into()] });
    assert_eq!(par.lines.len(), complete(&s));
    let adam: Vec<_> = par.lines.iter().filter(|l| l.values[2] == Some(1.0)).collect();
    assert!(!adam.is_empty() && adam.iter().all(|l| l.values[3].is_none()), "momentum absent for adam, not zero");
}

#[test]
fn slices_contours_ranks_importance_edf_timeline() {
    let s = study("k");
    let n = complete(&s);
    let sl = fig(&s, Kind::Slice);
    assert_eq!(sl.panels.len(), 4);
    assert_eq!(sl.panels[0].x.scale, Scale::Log, "lr on a log axis");
    assert_eq!(points(&sl, 0, Role::Trial), n);
    let sgd = s.trials().unwrap().iter().filter(|t| t.state == TrialState::Complete && t.params.contains_key("momentum")).count();
    assert_eq!(points(&sl, 3, Role::Trial), sgd, "the momentum slice shows only trials that have it");

    let c = build(Kind::Contour, &StudyData::load(&s).unwrap(), &Options { params: Some(vec!["lr".into(), "units".into()]), grid: 12, ..Default::default() }).unwrap();
    assert_eq!(c.panels.len(), 1);
    let heat = c.panels[0].series.iter().find_map(|s| match s {
        Series::Heatmap { xs, ys, z, .. } => Some((xs.len(), ys.len(), z.len())),
        _ => None,
    });
    assert_eq!(heat, Some((12, 12, 12)));
    assert_eq!(points(&c, 0, Role::Trial), n);
    // Three or more parameters without --params: the three most important, pairwise.
    assert_eq!(fig(&s, Kind::Contour).panels.len(), 3);

    let r = fig(&s, Kind::Rank);
    let colors: Vec<f64> = r.panels[0].series.iter().flat_map(|s| match s {
        Series::Points { points, .. } => points.iter().filter_map(|p| p.color).collect(),
        _ => vec![],
    }).collect();
    assert!(colors.iter().all(|c| (0.0..=1.0).contains(c)) && colors.contains(&0.0), "ranks from 0 (best)");

    let imp = fig(&s, Kind::Importance);
    match &imp.panels[0].series[0] {
        Series::Bars { values, .. } => assert_eq!(values.len(), 4),
        other => panic!("{other:?}"),
    }
    if let Scale::Category { labels } = &imp.panels[0].y.scale {
        assert_eq!(labels.last().map(String::as_str), Some("lr"), "the most important on top: {labels:?}");
    }

    let e = fig(&s, Kind::Edf);
    match &e.panels[0].series[0] {
        Series::Line { points, .. } => {
            assert_eq!(points.len(), n);
            assert_eq!(points.last().unwrap()[1], 1.0);
        }
        other => panic!("{other:?}"),
    }

    let t = fig(&s, Kind::Timeline);
    assert_eq!(t.panels[0].series[0].marks(), 40, "every started trial");
}

#[test]
fn pareto_fronts_of_two_objectives() {
    let s = Study::builder("mo")
        .directions([Direction::Minimize, Direction::Maximize])
        .sampler(RandomSampler::new(Some(2)))
        .create()
        .unwrap();
    s.optimize(
        |t: &mut ferrotune::Trial| -> Result<Vec<f64>, ObjectiveError> {
            let x = t.suggest_float("x", 0.0, 1.0).sample()?;
            if t.number() == 3 {
                t.set_constraints(&[0.5])?;
            }
            Ok(vec![x, x.sqrt() * 0.8 + 0.2 * (7.0 * x).sin().abs()])
        },
        Optimize::trials(30),
    )
    .unwrap();
    let f = fig(&s, Kind::Pareto);
    assert_eq!(points(&f, 0, Role::Front), s.best_trials().unwrap().len());
    assert_eq!(points(&f, 0, Role::Front) + points(&f, 0, Role::Trial) + points(&f, 0, Role::Infeasible), 30);
    assert_eq!(points(&f, 0, Role::Infeasible), 1);
    let one = study("single");
    let e = build(Kind::Pareto, &StudyData::load(&one).unwrap(), &Options::default()).unwrap_err().to_string();
    assert!(e.contains("needs 2 or 3 objectives"), "{e}");
}

#[test]
fn mistakes_are_clear() {
    let s = study("m");
    let data = StudyData::load(&s).unwrap();
    let e = build(Kind::Slice, &data, &Options { params: Some(vec!["dropout".into()]), ..Default::default() }).unwrap_err().to_string();
    assert!(e.contains("'dropout'") && e.contains("lr, units, optimizer, momentum"), "{e}");
    let e = Kind::parse("histogram").unwrap_err().to_string();
    assert!(e.contains("unknown plot 'histogram'") && e.contains("history, intermediate"), "{e}");
    let empty = Study::builder("empty").create().unwrap();
    let e = build(Kind::History, &StudyData::load(&empty).unwrap(), &Options::default()).unwrap_err().to_string();
    assert!(e.contains("no complete trials to plot yet"), "{e}");
    let e = ferrotune_plot::write(&fig(&s, Kind::History), std::path::Path::new("plot.pdf")).unwrap_err().to_string();
    assert!(e.contains(".svg, .png or .html"), "{e}");
}

/// The text of every `<text>` element of an SVG document.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text").skip(1).filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim().to_string())).collect()
}

#[test]
fn svg_has_axes_and_one_circle_per_trial() {
    let s = study("svg");
    let h = to_svg(&fig(&s, Kind::History)).unwrap();
    assert!(h.starts_with("<svg") && h.contains("</svg>"));
    assert_eq!(h.matches("<circle").count(), complete(&s), "one circle per complete trial");
    let t = texts(&h);
    assert!(t.iter().any(|x| x == "trial") && t.iter().any(|x| x == "objective value (minimize)"), "axis labels: {t:?}");
    let t = texts(&to_svg(&fig(&s, Kind::Slice)).unwrap());
    let powers: Vec<&String> = t.iter().filter(|x| x.starts_with("1e-")).collect();
    assert!(powers.len() >= 3, "log ticks as powers of ten: {t:?}");
    assert!(!t.iter().any(|x| x.contains("e-5") && !x.starts_with("1e-")), "only powers of ten on a log axis: {t:?}");
    assert!(t.iter().any(|x| x == "adam") && t.iter().any(|x| x == "sgd"), "category ticks: {t:?}");
    let t = texts(&to_svg(&fig(&s, Kind::Parallel)).unwrap());
    assert!(t.iter().any(|x| x == "momentum") && t.iter().any(|x| x == "optimizer"), "{t:?}");
    for kind in [Kind::Intermediate, Kind::Contour, Kind::Importance, Kind::Edf, Kind::Timeline, Kind::Rank] {
        let svg = to_svg(&fig(&s, kind)).unwrap();
        assert!(svg.len() > 1000 && svg.ends_with("</svg>\n") || svg.ends_with("</svg>"), "{kind:?}");
    }
}

#[test]
fn png_and_html_files() {
    let s = study("<script>alert(1)</script>");
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("h.png");
    write_png(&fig(&s, Kind::Contour), &png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 10_000, "a real picture: {} bytes", bytes.len());
    let e = write_png(&fig(&s, Kind::History), &dir.path().join("nodir/x.png")).unwrap_err().to_string();
    assert!(e.contains("does not exist"), "{e}");

    let f = fig(&s, Kind::Slice);
    let html = to_html(&f).unwrap();
    assert!(html.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt; — slice</title>"), "the name is escaped");
    assert!(!html.contains("<script>alert(1)"), "no raw study name in the page");
    let start = html.find("id=\"figure-data\">").unwrap() + "id=\"figure-data\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(parsed, serde_json::to_value(&f).unwrap(), "the page carries the whole figure");
    assert_eq!(parsed["panels"][0]["x"]["scale"]["type"], "log");
    assert!(html.contains("echarts") && html.contains("ferrotuneFigure.render"), "self-contained: ECharts and the renderer inline");
    ferrotune_plot::write(&f, &dir.path().join("s.html")).unwrap();
    ferrotune_plot::write(&f, &dir.path().join("s.svg")).unwrap();
}
