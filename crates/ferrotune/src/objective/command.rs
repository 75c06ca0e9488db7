//! Tuning any program: the objective is an external command.
//!
//! ## The protocol
//!
//! **In.** Each trial runs the command once (no shell is involved), with the
//! trial's parameters given three ways, use whichever suits the program:
//!
//! * placeholders in the argument list: `--lr={lr}` becomes `--lr=0.0031`;
//!   `{trial}`, `{study}` and `{params_file}` are also known, `{{`/`}}` are
//!   literal braces. An argument that mentions an *inactive* conditional
//!   parameter is left out entirely, so write `--momentum={momentum}` as one
//!   argument;
//! * environment variables `FERROTUNE_PARAM_<NAME>` (name upper-cased, other
//!   characters as `_`), plus `FERROTUNE_TRIAL`, `FERROTUNE_STUDY` and
//!   `FERROTUNE_PARAMS_FILE`;
//! * a JSON file, `{"study": ..., "trial": N, "params": {...}}`, whose path is
//!   in `FERROTUNE_PARAMS_FILE` (and `{params_file}`).
//!
//! **Out.** The program prints, on stdout, among any other output:
//!
//! * `ferrotune: value=0.973` — the objective value (the last one printed
//!   counts); `value=0.97,0.12` for several objectives;
//! * `ferrotune: report step=3 value=0.91` — an intermediate value
//!   (`value=0.91,0.2`: one per objective);
//! * `ferrotune: constraints=0.2,-1` — constraint values (feasible when all
//!   are <= 0);
//! * or the same as JSON lines: `{"ferrotune": "value", "value": 0.973}`,
//!   `{"ferrotune": "value", "values": [0.97, 0.12]}`,
//!   `{"ferrotune": "report", "step": 3, "value": 0.91}`.
//!
//! A non-zero exit, a missing value line, or a per-trial timeout fails the
//! trial, with the tail of stderr stored as its message. When the pruner says
//! stop after a report, or the run is interrupted, the program gets SIGTERM,
//! then SIGKILL after a grace period (its whole process group, so the
//! children it started go too).

use indexmap::IndexMap;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::distribution::ParamValue;
use crate::error::{Error, Result};
use crate::objective::ObjectiveError;
use crate::study::Trial;

/// Bytes of stderr kept for a failed trial's message.
const STDERR_TAIL: usize = 2000;
/// Placeholders every command may use besides parameter names.
const BUILTINS: [&str; 3] = ["trial", "study", "params_file"];

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Var(String),
}

/// An external program as an objective. See the module docs for the protocol.
#[derive(Debug, Clone)]
pub struct CommandObjective {
    program: String,
    args: Vec<Vec<Piece>>,
    env: Vec<(String, String)>,
    workdir: Option<PathBuf>,
    timeout: Option<Duration>,
    kill_grace: Duration,
}

fn parse_template(arg: &str) -> Result<Vec<Piece>> {
    let mut out = vec![];
    let mut text = String::new();
    let mut chars = arg.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed || name.is_empty() || name.contains('{') {
                    return Err(Error::Objective(format!(
                        "argument '{arg}' has a malformed placeholder; write {{name}}, or {{{{ and }}}} for literal braces"
                    )));
                }
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(Piece::Var(name));
            }
            '}' => {
                return Err(Error::Objective(format!(
                    "argument '{arg}' has a '}}' without '{{'; write }}}} for a literal brace"
                )))
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// `FERROTUNE_PARAM_` + the name upper-cased, non-alphanumerics as `_`.
pub fn env_var_name(param: &str) -> String {
    let mut s = String::from("FERROTUNE_PARAM_");
    s.extend(param.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }));
    s
}

/// One thing the program said on stdout.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Value(Vec<f64>),
    Constraints(Vec<f64>),
    /// One value, or one per objective (`value=0.9,0.2`).
    Report { step: u64, values: Vec<f64> },
}

/// Parses one stdout line. `None` for ordinary output; `Some(Err)` for a
/// protocol line that is malformed.
pub fn parse_line(line: &str) -> Option<std::result::Result<Message, String>> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("ferrotune:") {
        return Some(parse_text(rest.trim()).map_err(|e| format!("cannot read '{line}': {e}")));
    }
    if line.starts_with('{') && line.contains("\"ferrotune\"") {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let kind = v.get("ferrotune")?.as_str()?.to_string();
        return Some(parse_json(&kind, &v).map_err(|e| format!("cannot read '{line}': {e}")));
    }
    None
}

fn float(s: &str) -> std::result::Result<f64, String> {
    s.trim().parse::<f64>().map_err(|_| format!("'{s}' is not a number"))
}

fn parse_text(rest: &str) -> std::result::Result<Message, String> {
    let mut words = rest.split_whitespace();
    let first = words.next().ok_or("nothing after 'ferrotune:'")?;
    let kv = |w: &str| w.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()));
    if first == "report" {
        let mut step = None;
        let mut values = None;
        for w in words {
            match kv(w) {
                Some((k, v)) if k == "step" => step = Some(v.parse::<u64>().map_err(|_| format!("step '{v}' is not a whole number"))?),
                Some((k, v)) if k == "value" || k == "values" => {
                    values = Some(v.split(',').map(float).collect::<std::result::Result<Vec<f64>, _>>()?)
                }
                _ => return Err(format!("unexpected '{w}'; expected step=N value=X")),
            }
        }
        return Ok(Message::Report { step: step.ok_or("report needs step=N")?, values: values.ok_or("report needs value=X")? });
    }
    let list = |v: &str| v.split(',').map(float).collect::<std::result::Result<Vec<f64>, _>>();
    match kv(first) {
        Some((k, v)) if k == "value" || k == "values" => Ok(Message::Value(list(&v)?)),
        Some((k, v)) if k == "constraints" => Ok(Message::Constraints(list(&v)?)),
        _ => Err(format!(
            "unknown message '{first}'; expected value=X, constraints=C1,C2 or report step=N value=X"
        )),
    }
}

fn parse_json(kind: &str, v: &serde_json::Value) -> std::result::Result<Message, String> {
    let num = |x: &serde_json::Value| -> std::result::Result<f64, String> {
        match x {
            serde_json::Value::Number(n) => n.as_f64().ok_or_else(|| "bad number".to_string()),
            serde_json::Value::String(s) => float(s), // "nan", "inf"
            other => Err(format!("{other} is not a number")),
        }
    };
    match kind {
        "value" => {
            if let Some(vals) = v.get("values").and_then(|x| x.as_array()) {
                Ok(Message::Value(vals.iter().map(num).collect::<std::result::Result<_, _>>()?))
            } else {
                Ok(Message::Value(vec![num(v.get("value").ok_or("needs \"value\" or \"values\"")?)?]))
            }
        }
        "constraints" => Ok(Message::Constraints(
            v.get("values").and_then(|x| x.as_array()).ok_or("needs a \"values\" list")?.iter().map(num).collect::<std::result::Result<_, _>>()?,
        )),
        "report" => Ok(Message::Report {
            step: v.get("step").and_then(|s| s.as_u64()).ok_or("needs a whole-number \"step\"")?,
            values: match v.get("values").and_then(|x| x.as_array()) {
                Some(vals) => vals.iter().map(num).collect::<std::result::Result<_, _>>()?,
                None => vec![num(v.get("value").ok_or("needs \"value\" or \"values\"")?)?],
            },
        }),
        other => Err(format!("unknown message kind '{other}'")),
    }
}

enum Event {
    Line(String),
    Eof,
}

impl CommandObjective {
    /// A command from its argument list (program first).
    pub fn new<S: AsRef<str>>(argv: &[S]) -> Result<Self> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| Error::Objective("the objective command is empty; give the program and its arguments".into()))?;
        let program = program.as_ref().to_string();
        if program.contains('{') {
            return Err(Error::Objective("the program itself cannot be a placeholder".into()));
        }
        Ok(CommandObjective {
            program,
            args: args.iter().map(|a| parse_template(a.as_ref())).collect::<Result<_>>()?,
            env: vec![],
            workdir: None,
            timeout: None,
            kill_grace: Duration::from_secs(5),
        })
    }
    /// Extra environment variables.
    pub fn env(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env.extend(vars);
        self
    }
    /// The working directory (this process's, by default).
    pub fn workdir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workdir = Some(dir.into());
        self
    }
    /// Fail a trial whose program runs longer than this.
    pub fn timeout(mut self, t: Option<Duration>) -> Self {
        self.timeout = t;
        self
    }
    /// Time between SIGTERM and SIGKILL when stopping the program.
    pub fn kill_grace(mut self, t: Duration) -> Self {
        self.kill_grace = t;
        self
    }

    /// Checks, before any trial runs, that every placeholder names a known
    /// parameter and that the program exists.
    pub fn check(&self, param_names: &[&str]) -> Result<()> {
        for piece in self.args.iter().flatten() {
            if let Piece::Var(v) = piece {
                if !param_names.contains(&v.as_str()) && !BUILTINS.contains(&v.as_str()) {
                    return Err(Error::Objective(format!(
                        "placeholder {{{v}}} names no parameter of the search space (known: {}, and {})",
                        param_names.join(", "),
                        BUILTINS.join(", ")
                    )));
                }
            }
        }
        self.resolve_program().map(|_| ())
    }

    fn resolve_program(&self) -> Result<PathBuf> {
        let p = Path::new(&self.program);
        if self.program.contains('/') {
            let full = match &self.workdir {
                Some(d) if p.is_relative() => d.join(p),
                _ => p.to_path_buf(),
            };
            return if full.is_file() {
                Ok(full)
            } else {
                Err(Error::Objective(format!("objective command '{}' does not exist", full.display())))
            };
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|d| d.join(p))
            .find(|c| c.is_file())
            .ok_or_else(|| Error::Objective(format!("objective command '{}' was not found on PATH", self.program)))
    }

    /// The argument list for one trial.
    fn render_args(&self, vars: &IndexMap<String, String>) -> Vec<String> {
        self.args
            .iter()
            .filter_map(|pieces| {
                let mut s = String::new();
                for p in pieces {
                    match p {
                        Piece::Text(t) => s.push_str(t),
                        Piece::Var(v) => s.push_str(vars.get(v)?),
                    }
                }
                Some(s)
            })
            .collect()
    }

    /// Runs the program for `trial` with the given (active) parameters.
    pub fn run(&self, trial: &mut Trial, params: &IndexMap<String, ParamValue>) -> Result<Vec<f64>, ObjectiveError> {
        let file = tempfile::Builder::new()
            .prefix(&format!("ferrotune-trial-{}-", trial.number()))
            .suffix(".json")
            .tempfile()
            .map_err(|e| ObjectiveError::msg(format!("cannot write the parameter file: {e}")))?;
        let json = serde_json::json!({
            "study": trial.study().name(),
            "trial": trial.number(),
            "params": params,
        });
        std::fs::write(file.path(), serde_json::to_vec_pretty(&json).expect("json"))
            .map_err(|e| ObjectiveError::msg(format!("cannot write the parameter file: {e}")))?;
        let path_str = file.path().display().to_string();

        let mut vars: IndexMap<String, String> = params.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        vars.insert("trial".into(), trial.number().to_string());
        vars.insert("study".into(), trial.study().name().to_string());
        vars.insert("params_file".into(), path_str.clone());

        let mut cmd = Command::new(&self.program);
        cmd.args(self.render_args(&vars))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("FERROTUNE_TRIAL", trial.number().to_string())
            .env("FERROTUNE_STUDY", trial.study().name())
            .env("FERROTUNE_PARAMS_FILE", &path_str)
            // Its own process group: a timeout or prune stops its children
            // too, and a Ctrl-C in the terminal reaches only us; we stop it.
            .process_group(0);
        for (k, v) in params {
            cmd.env(env_var_name(k), v.to_string());
        }
        cmd.envs(self.env.iter().cloned());
        if let Some(d) = &self.workdir {
            cmd.current_dir(d);
        }
        let mut child = cmd.spawn().map_err(|e| {
            ObjectiveError::msg(format!("cannot start objective command '{}': {e}", self.program))
        })?;
        let result = self.supervise(trial, &mut child);
        drop(file);
        result
    }

    fn supervise(&self, trial: &mut Trial, child: &mut Child) -> Result<Vec<f64>, ObjectiveError> {
        let start = Instant::now();
        let (tx, rx) = mpsc::channel::<Event>();
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(Event::Line(l)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send(Event::Eof);
        });
        let mut stderr = child.stderr.take().expect("piped");
        let stderr_thread = std::thread::spawn(move || {
            let mut tail: VecDeque<u8> = VecDeque::with_capacity(STDERR_TAIL);
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                tail.extend(&buf[..n]);
                let excess = tail.len().saturating_sub(STDERR_TAIL);
                tail.drain(..excess);
            }
            String::from_utf8_lossy(tail.make_contiguous()).trim().to_string()
        });

        let mut value: Option<Vec<f64>> = None;
        let mut protocol_error: Option<String> = None;
        let mut eof = false;
        let stop = loop {
            if trial.is_interrupted() {
                break Some(ObjectiveError::Interrupted);
            }
            if let Some(t) = self.timeout {
                if start.elapsed() >= t {
                    break Some(ObjectiveError::msg(format!("timed out after {} s (objective timeout)", t.as_secs_f64())));
                }
            }
            if eof {
                match child.try_wait() {
                    Ok(Some(_)) => break None,
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    Err(e) => break Some(ObjectiveError::msg(format!("lost track of the objective process: {e}"))),
                }
                continue;
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Event::Line(line)) => match parse_line(&line) {
                    None => {}
                    Some(Err(e)) => protocol_error = protocol_error.or(Some(e)),
                    Some(Ok(Message::Value(v))) => value = Some(v),
                    Some(Ok(Message::Constraints(c))) => {
                        if let Err(e) = trial.set_constraints(&c) {
                            protocol_error = protocol_error.or(Some(e.to_string()));
                        }
                    }
                    Some(Ok(Message::Report { step, values })) => {
                        let stored = if values.len() == 1 { trial.report(step, values[0]) } else { trial.report_values(step, &values) };
                        if let Err(e) = stored {
                            break Some(ObjectiveError::msg(format!("storing report failed: {e}")));
                        }
                        match trial.should_prune() {
                            Ok(true) => break Some(ObjectiveError::Pruned),
                            Ok(false) => {}
                            Err(e) => break Some(ObjectiveError::msg(format!("pruner failed: {e}"))),
                        }
                    }
                },
                Ok(Event::Eof) | Err(mpsc::RecvTimeoutError::Disconnected) => eof = true,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        };
        if let Some(reason) = stop {
            self.terminate(child);
            let _ = stderr_thread.join();
            return Err(reason);
        }
        let status = child.wait().map_err(|e| ObjectiveError::msg(format!("waiting for the objective: {e}")))?;
        let tail = stderr_thread.join().unwrap_or_default();
        let with_tail = |m: String| {
            if tail.is_empty() {
                m
            } else {
                format!("{m}; stderr tail:\n{tail}")
            }
        };
        if !status.success() {
            let how = match (status.code(), status.signal()) {
                (Some(c), _) => format!("objective command exited with code {c}"),
                (None, Some(s)) => format!("objective command was killed by signal {s}"),
                _ => "objective command failed".to_string(),
            };
            return Err(ObjectiveError::msg(with_tail(how)));
        }
        if let Some(e) = protocol_error {
            return Err(ObjectiveError::msg(with_tail(e)));
        }
        value.ok_or_else(|| {
            ObjectiveError::msg(with_tail(
                "objective command exited successfully but printed no 'ferrotune: value=...' line".into(),
            ))
        })
    }

    /// SIGTERM to the process group, SIGKILL after the grace period.
    fn terminate(&self, child: &mut Child) {
        let pgid = child.id() as libc::pid_t;
        // SAFETY: signalling a process group we created; failure (already
        // gone) is harmless.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + self.kill_grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                // Stragglers in the group (grandchildren) go now.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lines() {
        assert_eq!(parse_line("ferrotune: value=0.973"), Some(Ok(Message::Value(vec![0.973]))));
        assert_eq!(parse_line("  ferrotune: value=1,2.5 "), Some(Ok(Message::Value(vec![1.0, 2.5]))));
        assert_eq!(parse_line("ferrotune: report step=3 value=0.91"), Some(Ok(Message::Report { step: 3, values: vec![0.91] })));
        assert_eq!(parse_line(r#"{"ferrotune": "value", "value": 0.5}"#), Some(Ok(Message::Value(vec![0.5]))));
        assert_eq!(parse_line(r#"{"ferrotune": "value", "values": [1, 2]}"#), Some(Ok(Message::Value(vec![1.0, 2.0]))));
        assert_eq!(
            parse_line(r#"{"ferrotune": "report", "step": 2, "value": 0.1}"#),
            Some(Ok(Message::Report { step: 2, values: vec![0.1] }))
        );
        assert!(matches!(parse_line("ferrotune: value=abc"), Some(Err(e)) if e.contains("'abc' is not a number")));
        assert!(matches!(parse_line("ferrotune: report value=1"), Some(Err(e)) if e.contains("needs step")));
        assert_eq!(
            parse_line("ferrotune: report step=4 value=0.9,0.2"),
            Some(Ok(Message::Report { step: 4, values: vec![0.9, 0.2] }))
        );
        assert_eq!(parse_line("ferrotune: constraints=0.5,-1"), Some(Ok(Message::Constraints(vec![0.5, -1.0]))));
        assert_eq!(
            parse_line(r#"{"ferrotune": "constraints", "values": [0.5]}"#),
            Some(Ok(Message::Constraints(vec![0.5])))
        );
        assert_eq!(parse_line("epoch 3 loss=0.2"), None);
        assert_eq!(parse_line(r#"{"loss": 0.2}"#), None);
        assert!(matches!(parse_line("ferrotune: value=nan"), Some(Ok(Message::Value(v))) if v[0].is_nan()));
    }

    #[test]
    fn templates() {
        let c = CommandObjective::new(&["prog", "--lr={lr}", "{{x}}", "--m={momentum}", "t{trial}"]).unwrap();
        let vars: IndexMap<String, String> =
            [("lr".to_string(), "0.1".to_string()), ("trial".to_string(), "4".to_string())].into_iter().collect();
        assert_eq!(c.render_args(&vars), ["--lr=0.1", "{x}", "t4"]);
        assert!(CommandObjective::new(&["prog", "{lr"]).is_err());
        assert!(CommandObjective::new(&["prog", "a}b"]).is_err());
        let e = c.check(&["lr"]).unwrap_err().to_string();
        assert!(e.contains("{momentum} names no parameter"), "{e}");
        let e = CommandObjective::new(&["no-such-program-xyz"]).unwrap().check(&[]).unwrap_err().to_string();
        assert!(e.contains("'no-such-program-xyz' was not found on PATH"), "{e}");
        assert_eq!(env_var_name("units_l0"), "FERROTUNE_PARAM_UNITS_L0");
        assert_eq!(env_var_name("a.b-c"), "FERROTUNE_PARAM_A_B_C");
    }
}
