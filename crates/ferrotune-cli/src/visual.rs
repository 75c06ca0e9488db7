//! `ferrotune plot` and `ferrotune importance`: the plots and importances
//! of `ferrotune-plot` and `ferrotune::importance`, printed or written.

use anyhow::{Context, Result};
use std::path::PathBuf;

use ferrotune::importance::{self, Method};
use ferrotune_plot::{Kind, StudyData};

use crate::output::{num, open_study, table};
use crate::ui::{outln, status, usage};
use crate::Format;

pub struct PlotArgs {
    pub kind: String,
    pub study: String,
    pub storage: String,
    pub output: PathBuf,
    pub params: Vec<String>,
    pub objective: usize,
    pub method: String,
    pub seed: u64,
    pub quiet: bool,
}

pub fn plot(a: PlotArgs) -> Result<()> {
    let kind = match Kind::parse(&a.kind) {
        Ok(k) => k,
        Err(e) => usage!("{e}"),
    };
    let method = match Method::parse(&a.method) {
        Ok(m) => m,
        Err(e) => usage!("--method: {e}"),
    };
    let ext = a.output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("svg" | "png" | "html" | "htm")) {
        usage!("-o {}: write the plot to a .svg, .png or .html file", a.output.display());
    }
    let study = open_study(&a.storage, &a.study)?;
    let opts = ferrotune_plot::Options {
        params: (!a.params.is_empty()).then(|| a.params.clone()),
        objective: a.objective,
        importance: method,
        seed: a.seed,
        ..Default::default()
    };
    let fig = ferrotune_plot::build(kind, &StudyData::load(&study)?, &opts)?;
    ferrotune_plot::write(&fig, &a.output).with_context(|| format!("writing {}", a.output.display()))?;
    if !a.quiet {
        for n in &fig.notes {
            status!("note: {n}");
        }
        status!("wrote {} ({} plot of study '{}')", a.output.display(), kind.name(), a.study);
    }
    Ok(())
}

pub struct ImportanceArgs {
    pub study: String,
    pub storage: String,
    pub method: String,
    pub params: Vec<String>,
    pub objective: usize,
    pub seed: u64,
    pub format: Format,
}

pub fn importance(a: ImportanceArgs) -> Result<()> {
    let method = match Method::parse(&a.method) {
        Ok(m) => m,
        Err(e) => usage!("--method: {e}"),
    };
    let study = open_study(&a.storage, &a.study)?;
    let opts = importance::Options {
        method,
        params: (!a.params.is_empty()).then(|| a.params.clone()),
        objective: a.objective,
        seed: a.seed,
        ..Default::default()
    };
    let imp = importance::evaluate(&study, &opts)?;
    if imp.n_trials < 10 {
        status!("note: only {} complete trials: importances this early are rough", imp.n_trials);
    }
    match a.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&imp)?)?,
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(["rank", "parameter", "importance", "variance_fraction", "trials"])?;
            for (i, p) in imp.params.iter().enumerate() {
                w.write_record([
                    (i + 1).to_string(),
                    p.name.clone(),
                    p.importance.to_string(),
                    p.variance_fraction.map(|v| v.to_string()).unwrap_or_default(),
                    p.trials.to_string(),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            let name = match method {
                Method::Fanova => "fANOVA",
                Method::PedAnova => "PED-ANOVA (top 10% of trials)",
            };
            outln!("importance of the parameters of study '{}' by {name}, over {} complete trials", a.study, imp.n_trials)?;
            let mut t = table();
            let mut header = vec!["#", "parameter", "importance"];
            if method == Method::Fanova {
                header.push("variance explained alone");
            }
            header.push("trials with it");
            t.set_header(header);
            for (i, p) in imp.params.iter().enumerate() {
                let mut row = vec![(i + 1).to_string(), p.name.clone(), format!("{:.3}", p.importance)];
                if let Some(v) = p.variance_fraction {
                    row.push(format!("{:.1}%", 100.0 * v));
                }
                row.push(p.trials.to_string());
                t.add_row(row);
            }
            outln!("{t}")?;
            let strong: Vec<_> = imp.interactions.iter().filter(|i| i.variance_fraction >= 0.01).take(5).collect();
            if !strong.is_empty() {
                outln!("interactions (share of the variance explained only together):")?;
                for i in strong {
                    outln!("  {} × {}: {}%", i.params[0], i.params[1], num(100.0 * i.variance_fraction))?;
                }
            }
        }
    }
    Ok(())
}
