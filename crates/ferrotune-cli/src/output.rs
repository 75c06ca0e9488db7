//! Printing studies and trials as tables, CSV or JSON.

use anyhow::Result;
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use std::collections::BTreeSet;
use std::sync::Arc;

use ferrotune::{FrozenTrial, Study};

use crate::Format;

fn open_study(url: &str, name: &str) -> Result<Study> {
    let storage = ferrotune::storage::open(url)?;
    Ok(Study::builder(name).storage(storage).load()?)
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
    })
}

fn print_trials(study: &Study, trials: &[Arc<FrozenTrial>], format: Format) -> Result<()> {
    let params: Vec<String> = {
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
    match format {
        Format::Json => {
            let arr: Vec<_> = trials.iter().map(|t| trial_json(t)).collect();
            println!("{}", serde_json::to_string_pretty(&arr)?);
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            let mut header = vec!["number".to_string(), "state".into()];
            header.extend(value_cols.iter().cloned());
            header.extend(params.iter().map(|p| format!("params_{p}")));
            header.extend(["started_at", "completed_at", "duration_s", "message"].map(String::from));
            w.write_record(&header)?;
            for t in trials {
                let mut row = vec![t.number.to_string(), t.state.to_string()];
                for i in 0..value_cols.len() {
                    row.push(t.values.as_ref().and_then(|v| v.get(i)).map(|x| x.to_string()).unwrap_or_default());
                }
                for p in &params {
                    row.push(t.param(p).map(|v| v.to_string()).unwrap_or_default());
                }
                row.push(rfc3339(t.started_at));
                row.push(rfc3339(t.completed_at));
                row.push(t.duration().map(|d| format!("{d:.3}")).unwrap_or_default());
                row.push(t.message.clone().unwrap_or_default());
                w.write_record(&row)?;
            }
            w.flush()?;
        }
        Format::Table => {
            let mut table = Table::new();
            table.load_preset(UTF8_BORDERS_ONLY);
            let mut header = vec!["#".to_string(), "state".into(), value_cols.join(", ")];
            header.extend(params.iter().cloned());
            header.extend(["duration".to_string(), "message".into()]);
            table.set_header(header);
            for t in trials {
                let mut row = vec![t.number.to_string(), t.state.to_string(), values_text(t)];
                for p in &params {
                    row.push(match t.param(p) {
                        Some(ferrotune::ParamValue::Float(x)) => num(x),
                        Some(v) => v.to_string(),
                        None => "–".into(),
                    });
                }
                row.push(t.duration().map(|d| format!("{d:.1}s")).unwrap_or_default());
                row.push(t.message.as_deref().map(|m| first_line(m, 60)).unwrap_or_default());
                table.add_row(row);
            }
            println!("{table}");
        }
    }
    Ok(())
}

pub fn trials(url: &str, name: &str, format: Format) -> Result<()> {
    let study = open_study(url, name)?;
    let trials = study.trials()?;
    print_trials(&study, &trials, format)
}

pub fn best(url: &str, name: &str, format: Format) -> Result<()> {
    let study = open_study(url, name)?;
    let best = study.best_trials()?;
    if best.is_empty() {
        anyhow::bail!("study '{name}' has no complete trial yet");
    }
    // For one objective, every tie is on the front; show the first (lowest number).
    let shown: Vec<_> = if study.is_multi_objective() { best } else { vec![study.best_trial()?.expect("non-empty")] };
    print_trials(&study, &shown, format)
}

pub fn studies(url: &str, format: Format) -> Result<()> {
    let storage = ferrotune::storage::open(url)?;
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
            println!("{}", serde_json::to_string_pretty(&arr)?);
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
                let mut table = Table::new();
                table.load_preset(UTF8_BORDERS_ONLY);
                table.set_header(header);
                for r in rows {
                    table.add_row(r);
                }
                println!("{table}");
            }
        }
    }
    Ok(())
}
