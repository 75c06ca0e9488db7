//! The dashboard in a real browser: headless Chromium driven through
//! WebDriver (chromedriver). The test serves a real SQLite study, runs
//! trials into it while the page is open, and checks the DOM: live counts,
//! sorting, paging, filtering, the trial page, and a study named
//! `<script>alert(1)</script>` shown as text. Screenshots go to
//! `target/tmp/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them
//! and sets FERROTUNE_TEST_BROWSER=1, which makes a missing browser an
//! error). Elsewhere, without them, the test says so and returns.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use ferrotune::samplers::RandomSampler;
use ferrotune::storage::SqliteStorage;
use ferrotune::{ObjectiveError, Optimize, Study};

const XSS: &str = "<script>alert(1)</script>";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find(var: &str, names: &[&str]) -> Option<String> {
    if let Ok(p) = std::env::var(var) {
        return Some(p);
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p.display().to_string());
            }
        }
    }
    None
}

/// chromedriver and the browser, or `None` (with a line) where there are none.
fn browser() -> Option<(String, String)> {
    let required = std::env::var("FERROTUNE_TEST_BROWSER").is_ok_and(|v| v == "1");
    let driver = find("FERROTUNE_TEST_CHROMEDRIVER", &["chromedriver"]);
    let chrome = find("FERROTUNE_TEST_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]);
    match (driver, chrome) {
        (Some(d), Some(c)) => Some((d, c)),
        _ if required => panic!("FERROTUNE_TEST_BROWSER=1 but chromium and chromedriver were not found (apt-get install chromium chromium-driver)"),
        _ => {
            eprintln!("browser test skipped: install chromium and chromium-driver (Debian) to run it, as CI does");
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn connect(driver: &str, chrome: &str) -> (Driver, Client) {
    // The WebDriver client's TLS stack needs a crypto provider named (it is never used: chromedriver is plain HTTP).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = free_port();
    let child = Command::new(driver).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let guard = Driver(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let profile = tempfile::tempdir().unwrap().keep();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chrome,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1400,1600", format!("--user-data-dir={}", profile.display())]
        }),
    );
    let client = ClientBuilder::rustls().unwrap().capabilities(caps).connect(&format!("http://127.0.0.1:{port}")).await.unwrap();
    (guard, client)
}

/// Waits until `body[data-ready=what]` (the page set it after drawing).
async fn ready(c: &Client, what: &str) {
    let start = Instant::now();
    loop {
        let v = c.execute("return document.body.dataset.ready || ''", vec![]).await.unwrap();
        if v.as_str() == Some(what) {
            return;
        }
        let err = c.execute("var e = document.getElementById('error'); return e ? e.textContent : ''", vec![]).await.unwrap();
        assert!(err.as_str().unwrap_or("").is_empty(), "the page shows an error: {err}");
        assert!(start.elapsed() < Duration::from_secs(30), "page not ready ({what})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![]).await.unwrap()
}

/// The value column of the trial table, top to bottom.
async fn value_column(c: &Client) -> Vec<f64> {
    let v = js(c, "return Array.from(document.querySelectorAll('#trials tbody td.value')).map(function (td) { return td.textContent; })").await;
    v.as_array().unwrap().iter().filter_map(|x| x.as_str().and_then(|s| s.parse().ok())).collect()
}

async fn until(c: &Client, script: &str, want: impl Fn(&serde_json::Value) -> bool, secs: u64, what: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let v = js(c, script).await;
        if want(&v) {
            return v;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let errors = js(c, "return Array.from(document.querySelectorAll('.error')).map(function (e) { return e.textContent; }).join(' | ')").await;
            panic!("{what}: still {v}; errors on the page: {errors}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn run_trials(study: &Study, n: usize) {
    study
        .optimize(
            |t: &mut ferrotune::Trial| -> Result<f64, ObjectiveError> {
                let lr = t.suggest_float("lr", 1e-4, 1e-1).log().sample()?;
                let act = t.suggest_categorical("act", ["relu", "tanh"])?;
                for e in 0..3 {
                    t.report(e, lr * (3 - e) as f64)?;
                }
                Ok(lr.log10().abs() + if act == "tanh" { 0.5 } else { 0.0 })
            },
            Optimize::trials(n),
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let Some((driver, chrome)) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let storage = Arc::new(SqliteStorage::open(&db).unwrap());
    let live = Study::builder("live").storage(storage.clone()).sampler(RandomSampler::new(Some(1))).create().unwrap();
    run_trials(&live, 60);
    let evil = Study::builder(XSS).storage(storage.clone()).sampler(RandomSampler::new(Some(2))).create().unwrap();
    run_trials(&evil, 3);
    evil.set_user_attr("x", XSS).unwrap();

    let server = ferrotune_dashboard::serve(ferrotune_dashboard::Options {
        storage: format!("sqlite:///{}", db.display()),
        host: "127.0.0.1".parse().unwrap(),
        port: 0,
        allow_write: false,
    })
    .await
    .unwrap();
    let base = format!("http://{}", server.addr);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let (_driver, c) = connect(&driver, &chrome).await;

    // The study list: the hostile name is text, no script ran.
    c.goto(&format!("{base}/")).await.unwrap();
    ready(&c, "studies").await;
    let names = js(&c, "return Array.from(document.querySelectorAll('a.study-link')).map(function (a) { return a.textContent; })").await;
    assert_eq!(names, serde_json::json!(["live", XSS]));
    assert!(c.get_alert_text().await.is_err(), "no alert: the study name was not run as script");
    assert_eq!(js(&c, "return document.scripts.length").await, 3, "only the page's own scripts");
    std::fs::write(shots.join("studies.png"), c.screenshot().await.unwrap()).unwrap();

    // The hostile study's own page.
    c.goto(&format!("{base}/#/study/{}", "%3Cscript%3Ealert(1)%3C%2Fscript%3E")).await.unwrap();
    ready(&c, "study").await;
    assert_eq!(js(&c, "return document.getElementById('study-name').textContent").await, XSS);
    assert!(c.get_alert_text().await.is_err());
    assert_eq!(js(&c, "return document.querySelectorAll('#study-name script').length").await, 0);

    // A live study: trials run by another worker appear without a reload.
    c.goto(&format!("{base}/#/study/live")).await.unwrap();
    ready(&c, "study").await;
    assert_eq!(js(&c, "return document.getElementById('trial-count').dataset.count").await, "60");
    assert_eq!(js(&c, "return document.getElementById('plot').dataset.marks").await, "60", "one mark per trial in the history plot");
    std::fs::write(shots.join("study.png"), c.screenshot().await.unwrap()).unwrap();
    let l2 = live.clone();
    tokio::task::spawn_blocking(move || run_trials(&l2, 5)).await.unwrap();
    until(&c, "return document.getElementById('trial-count').dataset.count", |v| v == "65", 15, "the count follows the study").await;
    until(&c, "return document.getElementById('plot').dataset.marks", |v| v == "65", 15, "the plot follows the study").await;

    // Sorting by value, both ways; paging.
    c.find(Locator::Css("th[data-sort='value']")).await.unwrap().click().await.unwrap();
    until(&c, "return document.querySelector(\"th[data-sort='value']\").dataset.order || ''", |v| v == "asc", 10, "sorted").await;
    let up = value_column(&c).await;
    assert_eq!(up.len(), 50, "a page of 50 rows");
    assert!(up.windows(2).all(|w| w[0] <= w[1]), "ascending: {up:?}");
    c.find(Locator::Css("th[data-sort='value']")).await.unwrap().click().await.unwrap();
    until(&c, "return document.querySelector(\"th[data-sort='value']\").dataset.order || ''", |v| v == "desc", 10, "sorted").await;
    let down = value_column(&c).await;
    assert!(down.windows(2).all(|w| w[0] >= w[1]), "descending: {down:?}");
    assert_eq!(down[0], up.iter().cloned().fold(f64::MIN, f64::max).max(down[0]));
    c.find(Locator::Id("next")).await.unwrap().click().await.unwrap();
    until(&c, "return document.getElementById('rows').textContent", |v| v == "rows 51–65 of 65", 10, "page two").await;
    // Filtering by state.
    let state = c.find(Locator::Id("state-filter")).await.unwrap();
    state.select_by_value("failed").await.unwrap();
    until(&c, "return document.getElementById('rows').textContent", |v| v == "no trials", 10, "no failed trials").await;
    state.select_by_value("").await.unwrap();

    // Other plots draw.
    for kind in ["intermediate", "parallel", "slice", "contour", "importance", "timeline"] {
        c.find(Locator::Css(&format!("button[data-kind='{kind}']"))).await.unwrap().click().await.unwrap();
        until(&c, "return document.getElementById('plot').dataset.kind || ''", |v| v == kind, 15, kind).await;
    }
    std::fs::write(shots.join("parallel-or-last.png"), c.screenshot().await.unwrap()).unwrap();

    // A trial's page.
    c.goto(&format!("{base}/#/study/live/trial/3")).await.unwrap();
    ready(&c, "trial").await;
    let params = js(&c, "return document.querySelectorAll('#params tbody tr').length").await;
    assert_eq!(params, 2);
    std::fs::write(shots.join("trial.png"), c.screenshot().await.unwrap()).unwrap();

    c.close().await.unwrap();
    server.stop().await;
}

/// With --allow-write: a study note, failing a running trial, telling a
/// waiting one. And the static report opens from a file, no server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_with_allow_write_and_the_static_report() {
    let Some((driver, chrome)) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let url = format!("sqlite:///{}", db.display());
    let storage = Arc::new(SqliteStorage::open(&db).unwrap());
    let study = Study::builder("w").storage(storage.clone()).sampler(RandomSampler::new(Some(3))).create().unwrap();
    run_trials(&study, 4);
    let running = study.ask().unwrap().number(); // asked, never told
    let waiting = study.enqueue_trial([("lr", ferrotune::ParamValue::Float(0.01))]).unwrap();

    // Read-only first: the API refuses, the page offers nothing.
    let ro = ferrotune_dashboard::serve(ferrotune_dashboard::Options {
        storage: url.clone(),
        host: "127.0.0.1".parse().unwrap(),
        port: 0,
        allow_write: false,
    })
    .await
    .unwrap();
    let (_driver, c) = connect(&driver, &chrome).await;
    c.goto(&format!("http://{}/#/study/w/trial/{running}", ro.addr)).await.unwrap();
    ready(&c, "trial").await;
    assert_eq!(js(&c, "return document.querySelectorAll('#fail, #tell, #trial-note').length").await, 0);
    let refused = js(
        &c,
        "return fetch('/api/studies/w/note', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{\"note\":\"x\"}'}).then(function (r) { return r.status; })",
    )
    .await;
    assert_eq!(refused, 403);
    ro.stop().await;

    let rw = ferrotune_dashboard::serve(ferrotune_dashboard::Options {
        storage: url.clone(),
        host: "127.0.0.1".parse().unwrap(),
        port: 0,
        allow_write: true,
    })
    .await
    .unwrap();
    let base = format!("http://{}", rw.addr);
    c.goto(&format!("{base}/#/study/w")).await.unwrap();
    ready(&c, "study").await;
    let note = c.find(Locator::Id("study-note")).await.unwrap();
    note.send_keys("try larger batches next").await.unwrap();
    c.find(Locator::XPath("//button[text()='save note']")).await.unwrap().click().await.unwrap();
    let s2 = study.clone();
    let start = Instant::now();
    loop {
        let attrs = tokio::task::spawn_blocking({
            let s = s2.clone();
            move || s.system_attrs().unwrap()
        })
        .await
        .unwrap();
        if attrs.get("dashboard:note") == Some(&serde_json::json!("try larger batches next")) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the note was not stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Fail the running trial.
    c.goto(&format!("{base}/#/study/w/trial/{running}")).await.unwrap();
    ready(&c, "trial").await;
    c.find(Locator::Id("fail")).await.unwrap().click().await.unwrap();
    until(&c, "var b = document.querySelector('.state'); return b ? b.textContent : ''", |v| v == "failed", 10, "failed").await;
    // Tell the waiting trial a value.
    c.goto(&format!("{base}/#/study/w/trial/{waiting}")).await.unwrap();
    ready(&c, "trial").await;
    c.find(Locator::Id("tell-value")).await.unwrap().send_keys("0.25").await.unwrap();
    c.find(Locator::Id("tell")).await.unwrap().click().await.unwrap();
    until(&c, "var b = document.querySelector('.state'); return b ? b.textContent : ''", |v| v == "complete", 10, "told").await;
    let told = tokio::task::spawn_blocking(move || s2.trial(waiting).unwrap()).await.unwrap();
    assert_eq!(told.values, Some(vec![0.25]));
    rw.stop().await;

    // The report: one file, opened without a server.
    let page = tokio::task::spawn_blocking({
        let url = url.clone();
        move || ferrotune_dashboard::report(&url, "w").unwrap()
    })
    .await
    .unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, page).unwrap();
    c.goto(&format!("file://{}", file.display())).await.unwrap();
    ready(&c, "study").await;
    assert_eq!(js(&c, "return document.getElementById('trial-count').dataset.count").await, "6");
    assert_eq!(js(&c, "return document.getElementById('live').textContent").await, "static report");
    c.find(Locator::Css("button[data-kind='slice']")).await.unwrap().click().await.unwrap();
    until(&c, "return document.getElementById('plot').dataset.kind || ''", |v| v == "slice", 10, "slice in the report").await;
    c.find(Locator::Css("th[data-sort='value']")).await.unwrap().click().await.unwrap();
    until(&c, "return document.querySelector(\"th[data-sort='value']\").dataset.order || ''", |v| v == "asc", 10, "sorted").await;
    assert!(value_column(&c).await.windows(2).all(|w| w[0] <= w[1]));
    c.goto(&format!("file://{}#/study/w/trial/0", file.display())).await.unwrap();
    ready(&c, "trial").await;
    c.close().await.unwrap();
}
