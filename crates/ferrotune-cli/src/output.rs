//! Printing studies and trials as tables, CSV or JSON.

use anyhow::Result;
use comfy_table::{presets::UTF8_BORDERS_ONLY, ContentArrangement, Table};
use std::collections::BTreeSet;
use std::sync::Arc;

use ferrotune::{FrozenTrial, Study};

use crate::ui::{outln, usage};
use crate::Format;

/// Read commands open the storage read-only: they never create a database,
/// never write to one (no stale-trial sweep), and work on read-only files.
pub(crate) fn open_study(url: &str, name: &str) -> Result<Study> {
    let storage = ferrotune::storage::open_read_only(url)?;
    Ok(Study::builder(name).storage(storage).read_only().load()?)
}

pub(crate) fn table() -> Table {
    let mut t = Table::new();
    // Fit the terminal (cells wrap) when there is one.
    t.load_preset(UTF8_BORDERS_ONLY).set_content_arrangement(ContentArrangement::Dynamic);
    t
}

/// Which of a trial table's columns to show.
struct Columns {
    params: Vec<String>,
    fixed: Vec<&'static str>,
}

const TRIAL_COLUMNS: [&str; 9] = ["number", "state", "value", "params", "started", "completed", "duration", "worker", "message"];

impl Columns {
    /// `wanted` empty: the defaults. Else each entry is a fixed column or a
    /// parameter name; `params` means every parameter.
    fn choose(wanted: &[String], all_params: &[String], csv: bool) -> Result<Columns> {
        if wanted.is_empty() {
            let fixed: Vec<&str> = if csv {
                TRIAL_COLUMNS.to_vec()
            } else {
                vec!["number", "state", "value", "params", "duration", "message"]
            };
            return Ok(Columns { params: all_params.to_vec(), fixed });
        }
        let mut params = vec![];
        let mut fixed = vec![];
        for w in wanted {
            let w = w.trim();
            if let Some(c) = TRIAL_COLUMNS.iter().find(|c| **c == w) {
                fixed.push(*c);
                if *c == "params" {
                    params.extend(all_params.iter().cloned());
                }
            } else if all_params.iter().any(|p| p == w) {
                if !fixed.contains(&"params") {
                    fixed.push("params");
                }
                params.push(w.to_string());
            } else {
                usage!(
                    "--columns: '{w}' is neither a column ({}) nor a parameter of this study ({})",
                    TRIAL_COLUMNS.join(", "),
                    if all_params.is_empty() { "none yet".to_string() } else { all_params.join(", ") }
                );
            }
        }
        Ok(Columns { params, fixed })
    }
}

/// A number short enough for a table, exact enough to copy.
pub fn num(x: f64) -> String {
    if x == 0.0 || (1e-4..1e6).contains(&x.abs()) {
        let s = format!("{x:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{x:.4e}")
    }
}

fn values_text(t: &FrozenTrial) -> String {
    t.values.as_ref().map(|v| v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ")).unwrap_or_default()
}

fn rfc3339(t: Option<f64>) -> String {
    t.map(|s| {
        let d = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(s.max(0.0));
        humantime::format_rfc3339_millis(d).to_string()
    })
    .unwrap_or_default()
}

fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max).collect::<String>())
    } else {
        line.to_string()
    }
}

pub fn trial_json(t: &FrozenTrial) -> serde_json::Value {
    serde_json::json!({
        "number": t.number,
        "state": t.state,
        "values": t.values,
        "params": t.param_values(),
        "intermediate_values": t.intermediate_values.iter().map(|(k, v)| (k.to_string(), serde_json::json!(*v))).collect::<serde_json::Map<_, _>>(),
        "user_attrs": t.user_attrs,
        "message": t.message,
        "started_at": t.started_at.map(|_| rfc3339(t.started_at)),
        "completed_at": t.completed_at.map(|_| rfc3339(t.completed_at)),
        "duration_s": t.duration(),
        "worker": t.owner.as_ref().map(|o| serde_json::json!({"host": o.host, "pid": o.pid})),
        "heartbeat": t.heartbeat.map(|_| rfc3339(t.heartbeat)),
    })
}

fn print_trials(study: &Study, trials: &[Arc<FrozenTrial>], format: Format, columns: &[String]) -> Result<()> {
    let all_params: Vec<String> = {
        let mut seen = BTreeSet::new();
        let mut order = vec![];
        for t in trials {
            for k in t.params.keys() {
                if seen.insert(k.clone()) {
                    order.push(k.clone());
                }
            }
        }
        order
    };
    let value_cols: Vec<String> = if study.is_multi_objective() {
        (0..study.directions().len()).map(|i| format!("value_{i}")).collect()
    } else {
        vec!["value".into()]
    };
    if format == Format::Json {
        let arr: Vec<_> = trials.iter().map(|t| trial_json(t)).collect();
        return Ok(outln!("{}", serde_json::to_string_pretty(&arr)?)?);
    }
    let cols = Columns::choose(columns, &all_params, format == Format::Csv)?;
    let csv = format == Format::Csv;
    let mut header: Vec<String> = vec![];
    for c in &cols.fixed {
        match *c {
            "number" => header.push(if csv { "number".into() } else { "#".into() }),
            "value" if csv => header.extend(value_cols.iter().cloned()),
            "value" => header.push(value_cols.join(", ")),
            "params" if csv => header.extend(cols.params.iter().map(|p| format!("params_{p}"))),
            "params" => header.extend(cols.params.iter().cloned()),
            "duration" if csv => header.push("duration_s".into()),
            "started" => header.push(if csv { "started_at".into() } else { "started".into() }),
            "completed" => header.push(if csv { "completed_at".into() } else { "completed".into() }),
            other => header.push(other.to_string()),
        }
    }
    let row = |t: &FrozenTrial| -> Vec<String> {
        let mut row = vec![];
        for c in &cols.fixed {
            match *c {
                "number" => row.push(t.number.to_string()),
                "state" => row.push(t.state.to_string()),
                "value" if csv => {
                    for i in 0..value_cols.len() {
                        row.push(t.values.as_ref().and_then(|v| v.get(i)).map(|x| x.to_string()).unwrap_or_default());
                    }
                }
                "value" => row.push(values_text(t)),
                "params" => {
                    for p in &cols.params {
                        row.push(match (t.param(p), csv) {
                            (Some(v), true) => v.to_string(),
                            (Some(ferrotune::ParamValue::Float(x)), false) => num(x),
                            (Some(v), false) => v.to_string(),
                            // Absent (an inactive conditional parameter) is not zero.
                            (None, true) => String::new(),
                            (None, false) => "–".into(),
                        });
                    }
                }
                "duration" if csv => row.push(t.duration().map(|d| format!("{d:.3}")).unwrap_or_default()),
                "duration" => row.push(t.duration().map(|d| format!("{d:.1}s")).unwrap_or_default()),
                "started" => row.push(rfc3339(t.started_at)),
                "completed" => row.push(rfc3339(t.completed_at)),
                "worker" => row.push(t.owner.as_ref().map(|o| format!("{}:{}", o.host, o.pid)).unwrap_or_default()),
                "message" if csv => row.push(t.message.clone().unwrap_or_default()),
                "message" => row.push(t.message.as_deref().map(|m| first_line(m, 60)).unwrap_or_default()),
                _ => {}
            }
        }
        row
    };
    if csv {
        let mut w = csv::Writer::from_writer(std::io::stdout());
        w.write_record(&header)?;
        for t in trials {
            w.write_record(row(t))?;
        }
        w.flush()?;
    } else {
        let mut table = table();
        table.set_header(header);
        for t in trials {
            table.add_row(row(t));
        }
        outln!("{table}")?;
    }
    Ok(())
}

pub fn trials(url: &str, name: &str, format: Format, columns: &[String]) -> Result<()> {
    let study = open_study(url, name)?;
    let trials = study.trials()?;
    print_trials(&study, &trials, format, columns)
}

pub fn best(url: &str, name: &str, format: Format, columns: &[String]) -> Result<()> {
    let study = open_study(url, name)?;
    let best = study.best_trials()?;
    if best.is_empty() {
        anyhow::bail!("study '{name}' has no complete trial yet");
    }
    // For one objective, every tie is on the front; show the first (lowest number).
    let shown: Vec<_> = if study.is_multi_objective() { best } else { vec![study.best_trial()?.expect("non-empty")] };
    print_trials(&study, &shown, format, columns)
}

/// `ferrotune logs`: a trial's kept program output.
pub fn logs(url: &str, name: &str, number: u64) -> Result<()> {
    let study = open_study(url, name)?;
    study.trial(number)?;
    let Some(dir) = ferrotune::storage::log_dir(url, name) else {
        anyhow::bail!("{url} keeps no log files (only SQLite storages keep trial output, beside the database)");
    };
    let path = dir.join(format!("trial-{number}.log"));
    let bytes = std::fs::read(&path).map_err(|e| {
        anyhow::anyhow!(
            "no log for trial {number} of study '{name}' ({}: {e}); only trials of a study file's [objective] command keep one",
            path.display()
        )
    })?;
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    o.write_all(&bytes)?;
    o.flush()?;
    Ok(())
}

pub fn studies(url: &str, format: Format) -> Result<()> {
    let storage = ferrotune::storage::open_read_only(url)?;
    let list = storage.list_studies()?;
    match format {
        Format::Json => {
            let arr: Vec<_> = list
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "name": s.record.name,
                        "directions": s.record.directions,
                        "n_trials": s.n_trials,
                        "states": s.counts.iter().map(|(st, n)| (st.to_string(), serde_json::json!(*n))).collect::<serde_json::Map<_, _>>(),
                        "created_at": rfc3339(Some(s.record.created_at)),
                    })
                })
                .collect();
            outln!("{}", serde_json::to_string_pretty(&arr)?)?;
        }
        Format::Csv | Format::Table => {
            let header = ["name", "directions", "trials", "complete", "pruned", "failed", "running", "created"];
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|s| {
                    let count = |st: ferrotune::TrialState| {
                        s.counts.iter().find(|(x, _)| *x == st).map(|c| c.1).unwrap_or(0).to_string()
                    };
                    vec![
                        s.record.name.clone(),
                        s.record.directions.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","),
                        s.n_trials.to_string(),
                        count(ferrotune::TrialState::Complete),
                        count(ferrotune::TrialState::Pruned),
                        count(ferrotune::TrialState::Failed),
                        count(ferrotune::TrialState::Running),
                        rfc3339(Some(s.record.created_at)),
                    ]
                })
                .collect();
            if format == Format::Csv {
                let mut w = csv::Writer::from_writer(std::io::stdout());
                w.write_record(header)?;
                for r in rows {
                    w.write_record(r)?;
                }
                w.flush()?;
            } else {
                let mut table = table();
                table.set_header(header);
                for r in rows {
                    table.add_row(r);
                }
                outln!("{table}")?;
            }
        }
    }
    Ok(())
}
