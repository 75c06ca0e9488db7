//! The `ferrotune` binary, end to end: real processes, real files.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SPACE: &str = r#"{"x": {"type": "float", "low": -5, "high": 10}, "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": true}, "units": {"type": "int", "low": 16, "high": 256, "step": 16}, "act": {"type": "categorical", "choices": ["relu", "tanh"]}}"#;

#[test]
fn ask_prints_exactly_one_json_object_and_tell_records_it() {
    let e = Env::new();
    e.write("space.json", SPACE);
    for expected in 0..3u64 {
        let out = e.fts(&["ask", "--study", "p", "--space", "space.json", "--seed", "4"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
        let v: Value = serde_json::from_str(&stdout).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.keys().collect::<Vec<_>>(), ["trial", "params"]);
        assert_eq!(v["trial"], expected);
        let p = v["params"].as_object().unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), ["x", "lr", "units", "act"]);
        let x = p["x"].as_f64().unwrap();
        assert!((-5.0..=10.0).contains(&x));
        let lr = p["lr"].as_f64().unwrap();
        assert!((1e-5..=1e-1).contains(&lr));
        let units = p["units"].as_i64().expect("an int parameter is a JSON integer");
        assert!(units % 16 == 0 && (16..=256).contains(&units));
        assert!(["relu", "tanh"].contains(&p["act"].as_str().unwrap()));
        let tell = e.fts(&["tell", "--study", "p", "--trial", &expected.to_string(), "--value", &format!("{}", x * x)]);
        assert!(tell.status.success(), "{}", text(&tell.stderr));
        assert!(tell.stdout.is_empty());
    }
    let trials = e.trials("p");
    assert_eq!(trials.len(), 3);
    assert!(trials.iter().all(|t| t["state"] == "complete"));
    // The same seed in a fresh storage gives the same parameters.
    let e2 = Env::new();
    e2.write("space.json", SPACE);
    let again: Value =
        serde_json::from_slice(&e2.fts(&["ask", "--study", "p", "--space", "space.json", "--seed", "4"]).stdout).unwrap();
    assert_eq!(again["params"], trials[0]["params"]);
}

#[test]
fn tell_variants_and_mistakes() {
    let e = Env::new();
    e.write("space.json", SPACE);
    for _ in 0..3 {
        e.fts(&["ask", "--study", "p", "--space", "space.json", "--direction", "minimize", "--direction", "maximize"]);
    }
    assert_user_error(&e.fts(&["tell", "--study", "p", "--trial", "0", "--value", "1"]), "has 2 objective(s), but 1 value(s)");
    assert!(e.fts(&["tell", "--study", "p", "--trial", "0", "--values", "1,-2"]).status.success());
    assert!(e.fts(&["tell", "--study", "p", "--trial", "1", "--state", "fail", "--message", "CUDA OOM"]).status.success());
    assert!(e.fts(&["tell", "--study", "p", "--trial", "2", "--state", "pruned"]).status.success());
    assert_user_error(&e.fts(&["tell", "--study", "p", "--trial", "0", "--values", "1,2"]), "already complete");
    assert_user_error(&e.fts(&["tell", "--study", "p", "--trial", "9", "--values", "1,2"]), "no trial number 9");
    assert_user_error(&e.fts(&["tell", "--study", "nope", "--trial", "0", "--value", "1"]), "no study named 'nope'");
    assert_user_error(&e.fts(&["tell", "--study", "p", "--trial", "0", "--state", "complete"]), "--state must be");
    let t = e.trials("p");
    assert_eq!(t[0]["values"], serde_json::json!([1.0, -2.0]));
    assert_eq!(t[1]["message"], "CUDA OOM");
    assert_eq!(t[2]["state"], "pruned");
    // Directions are fixed once the study exists.
    assert_user_error(
        &e.fts(&["ask", "--study", "p", "--space", "space.json", "--direction", "minimize"]),
        "stored with directions",
    );
    // The Pareto front of a multi-objective study.
    let best = e.fts(&["best", "--study", "p", "--format", "json"]);
    let best: Value = serde_json::from_slice(&best.stdout).unwrap();
    assert_eq!(best.as_array().unwrap().len(), 1);
}

#[test]
fn ask_rejects_bad_spaces_with_the_parameter_named() {
    let e = Env::new();
    e.write("bad.json", r#"{"x": {"type": "float", "low": -5, "high": 10, "lo": 1}}"#);
    let out = e.fts(&["ask", "--study", "p", "--space", "bad.json"]);
    assert_user_error(&out, "parameter 'x': unknown field `lo`");
    assert!(out.stdout.is_empty());
    e.write("bad2.json", r#"{"u": {"type": "int", "low": 16, "high": 250, "step": 16}}"#);
    assert_user_error(&e.fts(&["ask", "--study", "p", "--space", "bad2.json"]), "step 16 does not fit the range");
    assert_user_error(&e.fts(&["ask", "--study", "p", "--space", "missing.json"]), "missing.json");
    e.write("space.json", SPACE);
    assert_user_error(&e.fts(&["ask", "--study", "p", "--space", "space.json", "--sampler", "bayes"]), "unknown sampler 'bayes'; available: auto, random, grid, qmc, tpe, gp, cmaes, nsga2, ga");
}

#[test]
fn grid_ask_ends_with_exit_code_3() {
    let e = Env::new();
    e.write("g.json", r#"{"a": {"type": "categorical", "choices": ["x", "y"]}, "b": {"type": "int", "low": 0, "high": 2}}"#);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let out = e.fts(&["ask", "--study", "g", "--space", "g.json", "--sampler", "grid"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        seen.insert(v["params"].to_string());
    }
    assert_eq!(seen.len(), 6, "every grid point once");
    let out = e.fts(&["ask", "--study", "g", "--space", "g.json", "--sampler", "grid"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("grid is exhausted: all 6 grid points"), "{}", text(&out.stderr));
}

#[test]
fn run_executes_the_command_protocol() {
    let e = Env::new();
    // Echo back what arrived three ways, then answer with x^2.
    e.write(
        "obj.py",
        r#"
import json, os, sys
args = sys.argv[1:]
params = json.load(open(os.environ["FERROTUNE_PARAMS_FILE"]))
x = float(os.environ["FERROTUNE_PARAM_X"])
assert params["params"]["x"] == x and args[0] == "--x=" + repr(x).replace("'", ""), (args, params)
with open("seen-%s.json" % os.environ["FERROTUNE_TRIAL"], "w") as f:
    json.dump({"args": args, "params": params, "env_opt": os.environ.get("FERROTUNE_PARAM_OPT")}, f)
print("some training log line")
print("ferrotune: report step=1 value=%f" % (x * x + 1))
print('{"ferrotune": "report", "step": 2, "value": %f}' % (x * x + 0.5))
print("ferrotune: value=%r" % (x * x))
"#,
    );
    let f = study_file(
        &e,
        "proto",
        r#"[space.opt]
type = "categorical"
choices = ["sgd", "adam"]
[space.momentum]
type = "float"
low = 0.0
high = 0.9
when = { opt = "sgd" }"#,
        r#"command = ["python3", "obj.py", "--x={x}", "--opt={opt}", "--momentum={momentum}", "--trial={trial}"]"#,
        "n_trials = 6",
    );
    let out = e.fts(&["run", f.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("best trial of study 'proto'"), "{stdout}");
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().filter(|l| l.contains(" complete: value=")).count(), 6, "one line per trial: {stderr}");
    let trials = e.trials("proto");
    assert_eq!(trials.len(), 6);
    for t in &trials {
        assert_eq!(t["state"], "complete", "{t}");
        let x = t["params"]["x"].as_f64().unwrap();
        assert_eq!(t["values"][0].as_f64().unwrap(), x * x);
        assert_eq!(t["intermediate_values"].as_object().unwrap().len(), 2);
        let seen: Value = serde_json::from_str(&std::fs::read_to_string(e.path(&format!("seen-{}.json", t["number"]))).unwrap()).unwrap();
        let args: Vec<&str> = seen["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        let sgd = t["params"]["opt"] == "sgd";
        assert_eq!(args.iter().any(|a| a.starts_with("--momentum=")), sgd, "inactive parameter's argument is left out: {args:?}");
        assert_eq!(seen["params"]["params"], t["params"]);
        assert_eq!(seen["env_opt"], t["params"]["opt"]);
        assert_eq!(*args.last().unwrap(), format!("--trial={}", t["number"]));
    }
    // n_trials is the study's total: running the file again runs nothing more.
    let again = e.fts(&["run", f.to_str().unwrap()]);
    assert!(again.status.success());
    assert!(text(&again.stderr).contains("already has its 6 trials"), "{}", text(&again.stderr));
    assert_eq!(e.trials("proto").len(), 6);
    // ...and a larger total continues the same study.
    assert!(e.fts(&["run", f.to_str().unwrap(), "--n-trials", "8", "--quiet"]).status.success());
    assert_eq!(e.trials("proto").len(), 8);
}

#[test]
fn failing_commands_fail_their_trial_with_the_reason() {
    let e = Env::new();
    e.write(
        "obj.py",
        r#"
import os, sys, time
n = int(os.environ["FERROTUNE_TRIAL"])
open("pid-%d" % n, "w").write(str(os.getpid()))
if n == 0:
    sys.stderr.write("Traceback: something broke\nValueError: boom\n"); sys.exit(3)
if n == 1:
    print("training finished but forgot the value")
if n == 2:
    time.sleep(60)
if n == 3:
    print("ferrotune: value=nan")
if n == 4:
    print("ferrotune: value=oops")
if n >= 5:
    print("ferrotune: value=1.5")
"#,
    );
    let f = study_file(&e, "fails", "", "command = [\"python3\", \"obj.py\"]\ntimeout = 1", "n_trials = 6");
    let start = Instant::now();
    let out = e.fts(&["run", f.to_str().unwrap()]);
    assert!(out.status.success(), "the study goes on: {}", text(&out.stderr));
    assert!(start.elapsed() < Duration::from_secs(30));
    let t = e.trials("fails");
    let msg = |i: usize| t[i]["message"].as_str().unwrap_or("").to_string();
    assert!(msg(0).contains("exited with code 3") && msg(0).contains("ValueError: boom"), "{}", msg(0));
    assert!(msg(1).contains("printed no 'ferrotune: value=...' line"), "{}", msg(1));
    assert!(msg(2).contains("timed out after 1 s"), "{}", msg(2));
    assert!(msg(3).contains("NaN is not a finite number"), "{}", msg(3));
    assert!(msg(4).contains("'oops' is not a number"), "{}", msg(4));
    assert_eq!(t[5]["state"], "complete");
    assert!(t[..5].iter().all(|t| t["state"] == "failed"));
    // The timed-out program is gone, not left running.
    let pid = std::fs::read_to_string(e.path("pid-2")).unwrap();
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "process {pid} still alive");
}

#[test]
fn ctrl_c_marks_the_running_trial_interrupted_and_stops_its_program() {
    let e = Env::new();
    e.write("slow.py", "import os, time\nopen('pid', 'w').write(str(os.getpid()))\ntime.sleep(60)\n");
    let f = study_file(&e, "slow", "", "command = [\"python3\", \"slow.py\"]", "n_trials = 3");
    let s = e.storage();
    let mut child = Command::new(BIN)
        .args(["run", f.to_str().unwrap(), "--storage", &s])
        .current_dir(e.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !e.path("pid").exists() {
        assert!(start.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    unsafe { libc_kill(child.id() as i32, 2) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let t = e.trials("slow");
    assert_eq!(t.len(), 2, "the interrupted trial, and its configuration enqueued again");
    assert_eq!(t[0]["state"], "failed");
    assert_eq!(t[0]["message"], "interrupted");
    assert_eq!(t[1]["state"], "waiting");
    let pid = std::fs::read_to_string(e.path("pid")).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "objective process {pid} still alive");
    // The interrupted trial does not use up the budget.
    e.write("slow.py", "print('ferrotune: value=1')\n");
    assert!(e.fts(&["run", f.to_str().unwrap(), "--quiet"]).status.success());
    assert_eq!(e.trials("slow").len(), 4);
}

#[test]
fn two_runs_of_one_study_share_its_budget() {
    let e = Env::new();
    e.write("obj.py", "import time\ntime.sleep(0.05)\nprint('ferrotune: value=1')\n");
    let f = study_file(&e, "shared", "", "command = [\"python3\", \"obj.py\"]", "n_trials = 12\nn_jobs = 2");
    let s = e.storage();
    let spawn = || {
        Command::new(BIN)
            .args(["run", f.to_str().unwrap(), "--storage", &s, "--quiet"])
            .current_dir(e.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let t = e.trials("shared");
    let numbers: Vec<u64> = t.iter().map(|t| t["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (0..numbers.len() as u64).collect::<Vec<_>>(), "no number twice");
    // Checked before each trial: two processes may each overshoot by one.
    assert!((12..=14).contains(&t.len()), "{} trials", t.len());
}

#[test]
fn mistakes_give_one_clear_message() {
    let e = Env::new();
    let f = e.write("bad.toml", "[study\nname = 1");
    assert_user_error(&e.fts(&["run", f.to_str().unwrap()]), "bad.toml");
    let f = study_file(&e, "k", "", "command = [\"true\"]\nretries = 2", "n_trials = 1");
    assert_user_error(&e.fts(&["run", f.to_str().unwrap()]), "unknown field `retries`");
    let f = study_file(&e, "k", "", "command = [\"no-such-trainer\", \"--x={x}\"]", "n_trials = 1");
    assert_user_error(&e.fts(&["run", f.to_str().unwrap()]), "'no-such-trainer' was not found on PATH");
    let f = study_file(&e, "k", "", "command = [\"./missing.py\"]", "n_trials = 1");
    assert_user_error(&e.fts(&["run", f.to_str().unwrap()]), "missing.py' does not exist");
    let f = study_file(&e, "k", "", "command = [\"true\", \"{y}\"]", "n_trials = 1");
    assert_user_error(&e.fts(&["run", f.to_str().unwrap()]), "{y} names no parameter");
    assert_user_error(&e.ft(&["run", "nope.toml"]), "nope.toml");
    let f = study_file(&e, "k", "", "command = [\"true\"]", "n_trials = 1");
    for (url, needle, read_needle) in [
        ("sqlite:////no/such/dir/x.db", "directory /no/such/dir does not exist", "no such database: /no/such/dir/x.db"),
        ("sqlite:/x.db", "three or four slashes", "three or four slashes"),
        ("postgres://127.0.0.1:1/test", "cannot connect to PostgreSQL", "cannot connect to PostgreSQL"),
        ("mysql://x", "unknown storage", "unknown storage"),
    ] {
        assert_user_error(&e.ft(&["run", f.to_str().unwrap(), "--storage", url]), needle);
        assert_user_error(&e.ft(&["studies", "--storage", url]), read_needle);
    }
    e.write("junk.db", "not a database, definitely not, just some text here to fill the header");
    assert_user_error(&e.ft(&["studies", "--storage", "sqlite:///junk.db"]), "junk.db");
    // Issue 10 §3.7: read commands (and delete) on a database that is not
    // there say so, and create nothing.
    assert_user_error(&e.fts(&["trials", "--study", "ghost"]), "no such database");
    assert_user_error(&e.fts(&["delete", "--study", "ghost"]), "no such database");
    assert_user_error(&e.ft(&["studies", "--storage", "sqlite:///typo.db"]), "no such database: typo.db");
    assert!(!e.path("t.db").exists() && !e.path("typo.db").exists(), "a read never creates a database");
    e.write("space.json", SPACE);
    assert!(e.fts(&["ask", "--study", "real", "--space", "space.json"]).status.success());
    assert_user_error(&e.fts(&["trials", "--study", "ghost"]), "no study named 'ghost'");
    assert_user_error(&e.fts(&["delete", "--study", "ghost"]), "no study named 'ghost'");
}

#[test]
fn listing_formats_and_delete() {
    let e = Env::new();
    e.write("space.json", SPACE);
    for i in 0..2 {
        e.fts(&["ask", "--study", "a", "--space", "space.json"]);
        e.fts(&["tell", "--study", "a", "--trial", &i.to_string(), "--value", &format!("{}", 3 - i)]);
    }
    let csv = text(&e.fts(&["trials", "--study", "a", "--format", "csv"]).stdout);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "number,state,value,params_x,params_lr,params_units,params_act,started_at,completed_at,duration_s,worker,message"
    );
    assert_eq!(lines.count(), 2);
    let table = text(&e.fts(&["trials", "--study", "a"]).stdout);
    assert!(table.contains("complete") && table.contains("units"), "{table}");
    let best: Value = serde_json::from_slice(&e.fts(&["best", "--study", "a", "--format", "json"]).stdout).unwrap();
    assert_eq!(best[0]["number"], 1);
    let studies: Value = serde_json::from_slice(&e.fts(&["studies", "--format", "json"]).stdout).unwrap();
    assert_eq!(studies[0]["name"], "a");
    assert_eq!(studies[0]["states"]["complete"], 2);
    assert!(e.fts(&["delete", "--study", "a"]).status.success());
    let studies: Value = serde_json::from_slice(&e.fts(&["studies", "--format", "json"]).stdout).unwrap();
    assert_eq!(studies, serde_json::json!([]));
}

#[test]
fn the_readme_example_study_runs() {
    let e = Env::new();
    let f = repo().join("examples/mlp-spirals.toml");
    let out = Command::new(BIN)
        .args(["run", f.to_str().unwrap(), "--n-trials", "4", "--storage", &e.storage()])
        .env("SPIRALS_EPOCHS", "5")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = e.trials("mlp-spirals");
    assert_eq!(t.len(), 4);
    assert_eq!(t[0]["params"]["lr"], 0.05, "the enqueued configuration runs first");
    assert!(t.iter().all(|t| t["state"] == "complete"), "{t:?}");
    assert!(t.iter().all(|t| t["intermediate_values"].as_object().unwrap().len() == 5));
}

#[test]
fn the_ask_tell_shell_example_runs() {
    let e = Env::new();
    let out = Command::new("bash")
        .arg(repo().join("examples/ask_tell.sh"))
        .env("FERROTUNE", BIN)
        .env("STORAGE", e.storage())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(e.trials("ask-tell-demo").len(), 5);
}

#[test]
fn a_pruned_command_objective_is_stopped_and_marked_pruned() {
    let e = Env::new();
    e.write(
        "slow.py",
        "import os, sys, time\nopen('pid-%s' % os.environ['FERROTUNE_TRIAL'], 'w').write(str(os.getpid()))\nprint('ferrotune: report step=1 value=0.9', flush=True)\nprint('ferrotune: report step=2 value=7.5', flush=True)\ntime.sleep(60)\nprint('ferrotune: value=1')\n",
    );
    let f = study_file(&e, "pruned", "", "command = [\"python3\", \"slow.py\"]", "n_trials = 2");
    let file = std::fs::read_to_string(&f).unwrap() + "\n[pruner]\ntype = \"threshold\"\nupper = 5.0\n";
    std::fs::write(&f, file).unwrap();
    let start = Instant::now();
    let out = e.fts(&["run", f.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(start.elapsed() < Duration::from_secs(30), "pruning did not stop the program");
    let t = e.trials("pruned");
    assert_eq!(t.len(), 2);
    for tr in &t {
        assert_eq!(tr["state"], "pruned", "{tr}");
        assert_eq!(tr["values"][0], 7.5, "the last reported value is kept");
        let pid = std::fs::read_to_string(e.path(&format!("pid-{}", tr["number"]))).unwrap();
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "objective process {pid} still alive");
    }
}

/// Model-based samplers driven by separate `ask`/`tell` processes rebuild
/// their state from storage on every call; the same seed gives the same
/// sequence as in another storage.
#[test]
fn model_based_samplers_work_through_ask_and_tell_processes() {
    for sampler in ["tpe", "gp", "cmaes", "nsga2"] {
        let run = || {
            let e = Env::new();
            e.write("space.json", SPACE);
            for i in 0..12u64 {
                let out = e.fts(&["ask", "--study", "m", "--space", "space.json", "--sampler", sampler, "--seed", "5"]);
                assert!(out.status.success(), "{sampler}: {}", text(&out.stderr));
                let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(v["trial"], i);
                let x = v["params"]["x"].as_f64().unwrap();
                let tell = e.fts(&["tell", "--study", "m", "--trial", &i.to_string(), "--value", &format!("{}", (x - 2.0).powi(2))]);
                assert!(tell.status.success(), "{sampler}: {}", text(&tell.stderr));
            }
            let t = e.trials("m");
            assert!(t.iter().all(|t| t["state"] == "complete"), "{sampler}");
            t.iter().map(|t| t["params"].clone()).collect::<Vec<_>>()
        };
        assert_eq!(run(), run(), "{sampler} reproduces across processes and storages");
    }
}

/// MNIST for the trainer tests: the full set from FERROTUNE_DATA_DIR or
/// `../shared/data` beside the repository (where CI has it), else the small
/// subset the repository ships in `fixtures/data` (a fresh clone, offline).
/// Returns the directory and the number of test images it holds.
fn mnist_data_dir() -> (PathBuf, usize) {
    let full = std::env::var_os("FERROTUNE_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared/data"));
    if full.join("mnist/train-images-idx3-ubyte.gz").is_file() {
        return (full, 10_000);
    }
    let fixtures = repo().join("fixtures/data");
    assert!(fixtures.join("mnist/t10k-images-idx3-ubyte.gz").is_file(), "the repository's fixtures/data/mnist is missing");
    (fixtures, 1_000)
}

/// The README's quick start (examples/mnist-mlp.toml) on a short budget:
/// 3,000 training images, 1 epoch, 3 trials; then the retrain and the one
/// test-set score, and a model on disk.
#[test]
fn mnist_study_runs_end_to_end_and_retrains_the_best() {
    let env = Env::new();
    let text = std::fs::read_to_string(repo().join("examples/mnist-mlp.toml")).unwrap();
    let text = text.replace("epochs = 5", "epochs = 1").replace("validation = 0.1 ", "limit = 3000\nvalidation = 0.1 ");
    assert!(text.contains("limit = 3000") && text.contains("epochs = 1"));
    let file = env.write("mnist.toml", &text);
    let s = env.storage();
    let out = Command::new(BIN)
        .args(["run", file.to_str().unwrap(), "--storage", &s, "--n-trials", "3"])
        .current_dir(env.dir.path())
        .env("FERROTUNE_DATA_DIR", mnist_data_dir().0)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches(" complete: value=").count(), 3, "{stderr}");
    let acc: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("test accuracy: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no test accuracy in {stdout}"));
    // 3,000 images and one epoch: far from 97%, far above chance.
    assert!(acc > 0.6, "{acc}");
    let info: Value = serde_json::from_str(&std::fs::read_to_string(env.path("models/mnist-mlp/model.json")).unwrap()).unwrap();
    assert_eq!(info["test"]["accuracy"].as_f64().map(|a| (a * 1e4).round()), Some((acc * 1e4).round()));
    assert!(env.path("models/mnist-mlp/model.bpk").is_file());
    // Each trial reported its validation accuracy per epoch (for pruners).
    let trials = env.fts(&["trials", "--study", "mnist-mlp", "--format", "json"]);
    let t: Value = serde_json::from_slice(&trials.stdout).unwrap();
    let t = t.as_array().unwrap();
    assert_eq!(t.len(), 3, "{t:?}");
    assert!(t.iter().all(|x| x["intermediate_values"].as_object().is_some_and(|iv| iv.len() == 1)), "{t:?}");
}

#[test]
fn train_command_prints_epochs_and_rejects_bad_hyperparameters() {
    let env = Env::new();
    let cfg = env.write("p.json", r#"{"lr": 0.003, "units": 32, "epochs": 2}"#);
    let out = Command::new(BIN)
        .args(["train", "--config", cfg.to_str().unwrap(), "--limit", "2000", "--set", "activation=tanh", "--save", "m"])
        .current_dir(env.dir.path())
        .env("FERROTUNE_DATA_DIR", mnist_data_dir().0)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit())).count(), 2, "{stdout}");
    assert!(stdout.contains("test accuracy: "), "{stdout}");
    assert!(env.path("m/model.json").is_file());
    // The saved model, loaded back by `predict` on the same test set, scores
    // exactly what training reported.
    let out = Command::new(BIN)
        .args(["predict", "--model", "m", "--output", "pred.txt"])
        .current_dir(env.dir.path())
        .env("FERROTUNE_DATA_DIR", mnist_data_dir().0)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let reported = stdout.lines().find_map(|l| l.strip_prefix("test accuracy: ")).unwrap();
    assert!(stderr.contains(&format!("accuracy: {reported}")), "train said {reported}; predict said {stderr}");
    let preds = std::fs::read_to_string(env.path("pred.txt")).unwrap();
    assert_eq!(preds.lines().count(), mnist_data_dir().1);
    assert!(preds.lines().all(|l| l.len() == 1 && l.chars().all(|c| c.is_ascii_digit())), "{}", &preds[..40]);
    let bad = env.write("bad.json", r#"{"dropout": 1.5}"#);
    let out = env.ft(&["train", "--config", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("dropout must be in [0, 1)") && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn predict_scores_a_saved_csv_model_and_explains_mistakes() {
    let env = Env::new();
    // Two well-separated classes, named by text.
    let mut csv = String::from("a,b,kind\n");
    for i in 0..200 {
        let (x, y) = ((i % 17) as f64 / 17.0, (i % 13) as f64 / 13.0);
        let kind = if x + y > 1.0 { "big" } else { "small" };
        csv.push_str(&format!("{x},{y},{kind}\n"));
    }
    let data = env.write("t.csv", &csv);
    let out = env.ft(&[
        "train", "--dataset", "csv", "--path", data.to_str().unwrap(), "--target", "kind", "--set", "epochs=40",
        "--set", "lr=0.01", "--save", "m",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = env.ft(&["predict", "--model", "m", "--path", data.to_str().unwrap(), "--target", "kind"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.lines().count(), 200);
    assert!(stdout.lines().all(|l| l == "big" || l == "small"), "{stdout}");
    let acc: f64 = stderr.lines().find_map(|l| l.strip_prefix("accuracy: ")).unwrap().parse().unwrap();
    assert!(acc > 0.9, "{stderr}");

    // The model's target column in the file, without --target: it is not
    // taken for a feature (issue 10 §5); the rows are scored against it.
    let out = env.ft(&["predict", "--model", "m", "--path", data.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("column 'kind' is the model's target") && stderr.contains("accuracy: "), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 200);

    // New rows without labels: only predictions.
    let new = env.write("new.csv", "a,b\n0.9,0.9\n0.05,0.1\n");
    let out = env.ft(&["predict", "--model", "m", "--path", new.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(), ["big", "small"]);

    // Mistakes: a column too many, a class the model never saw, no rows given.
    for (file, text, expect) in [
        ("wide.csv", "a,b,c\n1,2,3\n", "has 3 feature columns (a, b, c), the model was trained on 2"),
        ("odd.csv", "a,b,kind\n1,2,medium\n", "class \"medium\" was not among the classes the model was trained on (big, small)"),
    ] {
        let p = env.write(file, text);
        let mut args = vec!["predict", "--model", "m", "--path", p.to_str().unwrap()];
        if file == "odd.csv" {
            args.extend(["--target", "kind"]);
        }
        let out = env.ft(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(expect) && !stderr.contains("panicked"), "{file}: {stderr}");
    }
    let out = env.ft(&["predict", "--model", "m"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--path FILE.csv"), "{stderr}");
    let out = env.ft(&["predict", "--model", "nowhere", "--path", new.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("nowhere") && !stderr.contains("panicked"), "{stderr}");
}

/// Issue 11: a resumed `run` without `seed` continues the same seeded
/// sequence (the seed drawn at creation is stored with the study), as `ask` does.
#[test]
fn a_resumed_run_without_a_seed_continues_the_same_sequence() {
    let e = Env::new();
    let file_text = std::fs::read_to_string(study_file(&e, "rs", "", "command = [\"python3\", \"-c\", \"print('ferrotune: value=1')\"]", "n_trials = 2"))
        .unwrap()
        .replace("seed = 5\n", "");
    let f = e.write("rs.toml", &file_text);
    assert!(e.fts(&["run", f.to_str().unwrap()]).status.success());
    assert!(e.fts(&["run", f.to_str().unwrap(), "--n-trials", "4"]).status.success());
    let resumed: Vec<Value> = e.trials("rs").iter().map(|t| t["params"].clone()).collect();
    let seed = Command::new("python3")
        .args(["-c", &format!(
            "import sqlite3; print(sqlite3.connect({:?}).execute(\"SELECT value FROM study_attrs WHERE kind='system' AND key='seed'\").fetchone()[0])",
            e.path("t.db").to_str().unwrap()
        )])
        .output()
        .unwrap();
    let seed = text(&seed.stdout).trim().to_string();
    assert!(seed.parse::<u64>().is_ok(), "stored seed: {seed:?}");
    // The same four trials in one go, with that seed given explicitly.
    let e2 = Env::new();
    let f2 = e2.write("rs.toml", &file_text.replace("name = \"rs\"", &format!("name = \"rs\"\nseed = {seed}")));
    assert!(e2.fts(&["run", f2.to_str().unwrap(), "--n-trials", "4"]).status.success());
    let straight: Vec<Value> = e2.trials("rs").iter().map(|t| t["params"].clone()).collect();
    assert_eq!(resumed, straight);
}

/// Issue 12 (first part): workers in separate processes share one study on
/// PostgreSQL: dense, unique trial numbers, every told value stored, the
/// budget overshot by at most one trial per worker. Needs a server in
/// FERROTUNE_TEST_POSTGRES (CI sets it); skipped with one line otherwise.
#[test]
fn workers_share_a_study_on_postgresql() {
    let Some(db) = pg_db("cli") else { return };
    let e = Env::new();
    let f = study_file(&e, "pg", "", "command = [\"python3\", \"-c\", \"print('ferrotune: value=1')\"]", "n_trials = 40");
    let workers: Vec<_> = (0..4).map(|_| spawn_worker(&e, &f, &db.url)).collect();
    for w in workers {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let url = &db.url;
    let out = e.ft(&["trials", "--study", "pg", "--storage", url, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t: Vec<Value> = serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone();
    let numbers: Vec<u64> = t.iter().map(|t| t["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (0..t.len() as u64).collect::<Vec<_>>(), "dense and unique");
    assert!((40..=44).contains(&t.len()), "budget 40, at most one extra per worker: {}", t.len());
    assert!(t.iter().all(|t| t["state"] == "complete" && t["values"] == serde_json::json!([1.0])), "{t:?}");
    // The study is listed by the read commands on PostgreSQL too.
    let out = e.ft(&["studies", "--storage", url, "--format", "json"]);
    assert!(text(&out.stdout).contains("\"pg\""), "{}", text(&out.stdout));
}

/// Issue 12: `ferrotune copy` moves a study between storages (to
/// PostgreSQL and back when a server is configured) with its trials intact.
#[test]
fn copy_moves_a_study_between_storages() {
    let e = Env::new();
    let f = study_file(&e, "cp", "", "command = [\"python3\", \"-c\", \"print('ferrotune: report step=1 value=0.5'); print('ferrotune: value=1')\"]", "n_trials = 3");
    assert!(e.fts(&["run", f.to_str().unwrap()]).status.success());
    let a = e.storage();
    let b = format!("sqlite:///{}", e.path("b.db").display());
    let mut hops = vec![a.clone(), b.clone()];
    let pg = std::env::var("FERROTUNE_TEST_POSTGRES").ok().map(|admin| {
        let db = format!("ferrotune_copy_{}", std::process::id());
        for sql in [format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"), format!("CREATE DATABASE {db}")] {
            assert!(Command::new("psql").args([admin.as_str(), "-q", "-c", &sql]).status().unwrap().success());
        }
        (admin.rsplit_once('/').unwrap().0.to_string() + "/" + &db, admin, db)
    });
    if let Some((url, _, _)) = &pg {
        hops.push(url.clone());
    }
    hops.push(format!("sqlite:///{}", e.path("c.db").display()));
    let listing = |url: &str| {
        let out = e.ft(&["trials", "--study", "cp", "--storage", url, "--format", "json"]);
        assert!(out.status.success(), "{url}: {}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let original = listing(&a);
    for w in hops.windows(2) {
        let out = e.ft(&["copy", "--from", &w[0], "--to", &w[1], "--study", "cp"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("copied study 'cp' (3 trials)"), "{}", text(&out.stderr));
        assert_eq!(listing(&w[1]), original, "{} -> {}", w[0], w[1]);
    }
    assert_user_error(&e.ft(&["copy", "--from", &a, "--to", &b, "--study", "cp"]), "already exists");
    assert_user_error(&e.ft(&["copy", "--from", &a, "--to", &b, "--study", "nope"]), "no study named 'nope'");
    if let Some((_, admin, db)) = pg {
        Command::new("psql").args([admin.as_str(), "-q", "-c", &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")]).status().unwrap();
    }
}
