//! `ferrotune plot` and `ferrotune importance` end to end.

mod common;

use common::*;
use serde_json::Value;

/// A study of 30 trials of a three-parameter command objective with reports.
fn env_with_study() -> Env {
    let e = Env::new();
    let f = study_file(
        &e,
        "v",
        "[space.lr]\ntype = \"float\"\nlow = 1e-5\nhigh = 1e-1\nlog = true\n[space.act]\ntype = \"categorical\"\nchoices = [\"relu\", \"tanh\"]\n",
        r#"command = ["python3", "-c", "import sys, math; x, lr = float(sys.argv[1]), float(sys.argv[2]); v = 10 * x * x + abs(math.log10(lr) + 3); print('ferrotune: report step=0 value=%r' % (v + 1)); print('ferrotune: value=%r' % v)", "{x}", "{lr}"]"#,
        "n_trials = 30",
    );
    let out = e.fts(&["run", f.to_str().unwrap(), "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    e
}

#[test]
fn every_plot_kind_writes_svg_png_and_html() {
    let e = env_with_study();
    for kind in ["history", "intermediate", "parallel", "slice", "contour", "importance", "edf", "timeline", "rank"] {
        for ext in ["svg", "png", "html"] {
            let file = e.path(&format!("{kind}.{ext}"));
            let out = e.fts(&["plot", kind, "--study", "v", "-o", file.to_str().unwrap()]);
            assert!(out.status.success(), "{kind}.{ext}: {}", text(&out.stderr));
            let bytes = std::fs::read(&file).unwrap();
            match ext {
                "svg" => assert!(bytes.starts_with(b"<svg"), "{kind}"),
                "png" => assert!(bytes.starts_with(b"\x89PNG"), "{kind}"),
                _ => assert!(text(&bytes).contains("ferrotuneFigure.render"), "{kind}"),
            }
        }
    }
    let svg = text(&std::fs::read(e.path("history.svg")).unwrap());
    assert_eq!(svg.matches("<circle").count(), 30, "one mark per trial");
    let out = e.fts(&["plot", "slice", "--study", "v", "--params", "lr", "-o", e.path("lr.svg").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("wrote"), "{}", text(&out.stderr));
}

#[test]
fn plot_mistakes_are_clear() {
    let e = env_with_study();
    let o = e.path("p.svg");
    let o = o.to_str().unwrap();
    assert_user_error(&e.fts(&["plot", "histogram", "--study", "v", "-o", o]), "unknown plot 'histogram'");
    assert_user_error(&e.fts(&["plot", "history", "--study", "v", "-o", "p.pdf"]), ".svg, .png or .html");
    assert_user_error(&e.fts(&["plot", "history", "--study", "nope", "-o", o]), "no study named 'nope'");
    assert_user_error(&e.fts(&["plot", "pareto", "--study", "v", "-o", o]), "needs 2 or 3 objectives");
    assert_user_error(&e.fts(&["plot", "slice", "--study", "v", "--params", "dropout", "-o", o]), "'dropout'");
    assert_user_error(&e.fts(&["plot", "history", "--study", "v", "-o", "/nonexistent/dir/p.png"]), "does not exist");
    assert_user_error(&e.fts(&["plot", "importance", "--study", "v", "--method", "shap", "-o", o]), "fanova or ped-anova");
}

#[test]
fn importance_ranks_the_parameter_that_matters() {
    let e = env_with_study();
    let out = e.fts(&["importance", "--study", "v", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["method"], "fanova");
    assert_eq!(v["n_trials"], 30);
    let names: Vec<&str> = v["params"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3);
    assert_eq!(names[2], "act", "the parameter the objective ignores comes last: {v}");
    let total: f64 = v["params"].as_array().unwrap().iter().map(|p| p["importance"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9);
    let out = e.fts(&["importance", "--study", "v", "--method", "ped-anova"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("PED-ANOVA") && t.contains("lr") && t.contains("act"), "{t}");
    // Deterministic: the same numbers twice.
    let a = e.fts(&["importance", "--study", "v", "--format", "csv"]);
    let b = e.fts(&["importance", "--study", "v", "--format", "csv"]);
    assert_eq!(a.stdout, b.stdout);
    assert_user_error(&e.fts(&["importance", "--study", "v", "--params", "nope"]), "'nope'");
}
