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

/// Sends one HTTP/1.1 GET and returns the whole response.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Starts `ferrotune dashboard` and returns it with the address it printed.
fn start_dashboard(e: &Env, extra: &[&str]) -> (std::process::Child, String, String) {
    use std::io::BufRead;
    let s = e.storage();
    let mut child = std::process::Command::new(BIN)
        .args(["dashboard", "--storage", &s, "--port", "0"])
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = String::new();
    let addr = loop {
        let line = lines.next().expect("the dashboard says where it listens").unwrap();
        said.push_str(&line);
        said.push('\n');
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    (child, addr, said)
}

#[test]
fn dashboard_serves_read_only_on_loopback_and_warns_elsewhere() {
    let e = env_with_study();
    let (mut child, addr, said) = start_dashboard(&e, &[]);
    assert!(addr.starts_with("127.0.0.1:") && said.contains("read-only"), "{said}");
    let r = http_get(&addr, "/api/studies");
    assert!(r.starts_with("HTTP/1.1 200") && r.contains("\"name\":\"v\""), "{r}");
    assert!(r.to_lowercase().contains("content-security-policy: default-src 'self'; script-src 'self'"), "{r}");
    let r = http_get(&addr, "/api/studies/v/plots/history");
    assert!(r.starts_with("HTTP/1.1 200") && r.contains("\"kind\":\"history\""));
    let r = http_get(&addr, "/api/studies/nope");
    assert!(r.starts_with("HTTP/1.1 404") && r.contains("no study named 'nope'"), "{r}");
    let r = http_get(&addr, "/api/studies/v/plots/histogram");
    assert!(r.starts_with("HTTP/1.1 400") && r.contains("unknown plot"), "{r}");
    let r = http_get(&addr, "/");
    assert!(r.contains("<script src=\"/assets/app.js\"></script>"));
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, addr, said) = start_dashboard(&e, &["--host", "0.0.0.0", "--allow-write"]);
    assert!(said.contains("warning: listening on 0.0.0.0") && said.contains("change them"), "{said}");
    assert!(http_get(&addr, "/api/studies").contains("\"allow_write\":true"));
    child.kill().unwrap();
    child.wait().unwrap();

    assert_user_error(&e.ft(&["dashboard", "--storage", "sqlite:///missing.db"]), "no such database");
}

#[test]
fn report_writes_one_self_contained_page() {
    let e = env_with_study();
    let out = e.fts(&["report", "--study", "v", "-o", e.path("r.html").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = text(&std::fs::read(e.path("r.html")).unwrap());
    assert!(page.contains("id=\"report-data\"") && page.contains("ferrotuneFigure") && !page.contains("src=\"/assets/"), "inline, no server");
    let start = page.find("id=\"report-data\">").unwrap() + "id=\"report-data\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    let data: Value = serde_json::from_str(&page[start..end]).unwrap();
    assert_eq!(data["trials"].as_array().unwrap().len(), 30);
    assert!(data["figures"]["history"].is_object() && data["figures"]["contour"].is_object());
    assert!(data["figures"].get("pareto").is_none(), "a plot that does not apply is left out");
    assert_user_error(&e.fts(&["report", "--study", "v", "-o", "r.txt"]), "an .html file");
    assert_user_error(&e.fts(&["report", "--study", "nope", "-o", "r.html"]), "no study named 'nope'");
}
