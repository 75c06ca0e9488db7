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
//! A non-zero exit, a missing or malformed protocol line, or a per-trial
//! timeout fails the trial, with the tail of stderr stored as its message.
//! When the pruner says stop after a report, or the run is interrupted, the
//! program gets SIGTERM, then SIGKILL after a grace period (its whole process
//! group, so the children it started go too).
//!
//! ## Supervision (Unix only)
//!
//! * Output is read as bytes, line by line, each line capped at
//!   [`protocol::MAX_LINE`]; both pipes are drained until the program exits,
//!   so no output can block or kill it (SIGPIPE). Everything it prints goes
//!   to the trial's log file when a log directory is set.
//! * A trial ends at its timeout even if a grandchild keeps the pipes open:
//!   once the program itself has exited, the pipes get [`DRAIN_AFTER_EXIT`]
//!   more, then what is left of its process group is killed.
//! * Every program has a watcher: a tiny `/bin/sh` process whose stdin is a
//!   pipe that only this process holds. If this process dies in any way
//!   (`kill -9`, a second Ctrl-C), the pipe closes and the watcher kills the
//!   program's whole process group, so no training is left running as an
//!   orphan. [`kill_running_commands`] does the same at once.
//! * The parameter file lives in a per-process directory under the temporary
//!   directory; a later process removes the directories of dead ones.



use indexmap::IndexMap;
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::distribution::ParamValue;
use crate::error::{Error, Result};
use crate::objective::protocol::{self, parse_line_bytes, LineSplitter, Message};
use crate::objective::ObjectiveError;
use crate::study::Trial;

/// Bytes of stderr kept for a failed trial's message.
const STDERR_TAIL: usize = 2000;
/// Placeholders every command may use besides parameter names.
const BUILTINS: [&str; 3] = ["trial", "study", "params_file"];
/// How long the pipes may stay open after the program itself exited (a
/// background grandchild holding them); then the trial ends regardless.
pub const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Var(String),
}

/// Called with (trial number, one line of the program's stdout or stderr),
/// e.g. to echo it with `ferrotune run -v`.
pub type OutputSink = Arc<dyn Fn(u64, &str) + Send + Sync>;

/// An external program as an objective. See the module docs for the protocol.
#[derive(Clone)]
pub struct CommandObjective {
    program: String,
    args: Vec<Vec<Piece>>,
    env: Vec<(String, String)>,
    workdir: Option<PathBuf>,
    timeout: Option<Duration>,
    kill_grace: Duration,
    log_dir: Option<PathBuf>,
    on_output: Option<OutputSink>,
}

impl std::fmt::Debug for CommandObjective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandObjective")
            .field("program", &self.program)
            .field("workdir", &self.workdir)
            .field("timeout", &self.timeout)
            .field("log_dir", &self.log_dir)
            .finish()
    }
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

/// Checks that a search space's parameter names can be handed to a program:
/// none is a reserved placeholder, and no two map to one environment variable.
pub fn check_param_names(param_names: &[&str]) -> Result<()> {
    if let Some(bad) = param_names.iter().find(|n| BUILTINS.contains(n)) {
        return Err(Error::Objective(format!(
            "parameter '{bad}' has a reserved name: {{{bad}}} already means the {}; rename the parameter (reserved: {})",
            match *bad {
                "trial" => "trial number",
                "study" => "study name",
                _ => "parameter file's path",
            },
            BUILTINS.join(", ")
        )));
    }
    let mut seen: HashMap<String, &str> = HashMap::new();
    for n in param_names {
        if let Some(other) = seen.insert(env_var_name(n), n) {
            return Err(Error::Objective(format!(
                "parameters '{other}' and '{n}' would both be passed as ${}; rename one of them",
                env_var_name(n)
            )));
        }
    }
    Ok(())
}

/// Process groups of the programs running now (their leaders' pids).
fn running_groups() -> &'static Mutex<Vec<libc::pid_t>> {
    static GROUPS: OnceLock<Mutex<Vec<libc::pid_t>>> = OnceLock::new();
    GROUPS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Kills (SIGKILL) the whole process group of every objective program this
/// process is running. For a last-resort exit, e.g. a second Ctrl-C: the
/// trials are left running in storage and the next run marks them stale.
pub fn kill_running_commands() {
    let groups = running_groups().lock().unwrap_or_else(|e| e.into_inner());
    for &pgid in groups.iter() {
        // SAFETY: signalling a process group we created.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}

/// This process's directory for parameter files, made on first use; the
/// directories of dead processes are removed then.
fn run_dir() -> std::result::Result<&'static Path, String> {
    static DIR: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = std::env::temp_dir();
        sweep_dead_run_dirs(&tmp);
        let me = crate::study::this_process_tag();
        let dir = tmp.join(format!("ferrotune-run-{me}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(dir)
    })
    .as_ref()
    .map(PathBuf::as_path)
    .map_err(Clone::clone)
}

/// Removes `ferrotune-run-<pid>-<start>` directories whose process is gone.
fn sweep_dead_run_dirs(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(tag) = name.to_str().and_then(|n| n.strip_prefix("ferrotune-run-")) else { continue };
        if crate::study::process_tag_is_dead(tag) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The most a trial's log file keeps (a runaway program must not fill the
/// disk beside the database); the rest is counted, not kept.
pub const MAX_LOG_BYTES: u64 = 100 << 20;

/// Where a trial's output goes: the log file and the caller's sink.
struct Output {
    trial: u64,
    /// The log file and the bytes written to it so far.
    file: Option<Mutex<(std::fs::File, u64)>>,
    sink: Option<OutputSink>,
}

impl Output {
    fn raw(&self, bytes: &[u8]) {
        if let Some(f) = &self.file {
            let mut g = f.lock().unwrap_or_else(|e| e.into_inner());
            let (file, written) = &mut *g;
            if *written >= MAX_LOG_BYTES {
                return;
            }
            let room = (MAX_LOG_BYTES - *written) as usize;
            let keep = &bytes[..bytes.len().min(room)];
            let _ = file.write_all(keep);
            *written += keep.len() as u64;
            if *written >= MAX_LOG_BYTES {
                let _ = write!(file, "\n[ferrotune: the log stops here, at {} MiB; the program's output went on]\n", MAX_LOG_BYTES >> 20);
            }
        }
    }
    fn line(&self, line: &[u8]) {
        if let Some(sink) = &self.sink {
            sink(self.trial, &String::from_utf8_lossy(line));
        }
    }
}

/// A program's process group, its watcher, and our entry in the registry;
/// dropping it kills what is left of the group and retires the watcher.
struct Group {
    pgid: libc::pid_t,
    watcher: Option<Child>,
}

impl Group {
    fn new(child: &Child) -> Group {
        let pgid = child.id() as libc::pid_t;
        running_groups().lock().unwrap_or_else(|e| e.into_inner()).push(pgid);
        // The watcher reads its stdin, which only we hold open; at EOF (we
        // died) it kills the group. Its own group, so a terminal's Ctrl-C
        // does not take it first.
        let watcher = Command::new("/bin/sh")
            .args(["-c", "read _line; kill -KILL -\"$1\" 2>/dev/null", "ferrotune-watch", &pgid.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .ok();
        Group { pgid, watcher }
    }
    fn signal(&self, sig: libc::c_int) {
        // SAFETY: signalling a process group we created; failure (already
        // gone) is harmless.
        unsafe { libc::kill(-self.pgid, sig) };
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
        running_groups().lock().unwrap_or_else(|e| e.into_inner()).retain(|&g| g != self.pgid);
        if let Some(mut w) = self.watcher.take() {
            // Kill it before closing its stdin, so it never signals a group
            // whose number might be reused.
            let _ = w.kill();
            let _ = w.wait();
        }
    }
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
        if program.is_empty() {
            return Err(Error::Objective("the objective command's program is an empty string".into()));
        }
        Ok(CommandObjective {
            program,
            args: args.iter().map(|a| parse_template(a.as_ref())).collect::<Result<_>>()?,
            env: vec![],
            workdir: None,
            timeout: None,
            kill_grace: Duration::from_secs(5),
            log_dir: None,
            on_output: None,
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
    /// Keep each trial's whole stdout and stderr in `dir/trial-<N>.log`.
    pub fn log_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.log_dir = dir;
        self
    }
    /// Hand every output line to `sink` as it arrives.
    pub fn on_output(mut self, sink: Option<OutputSink>) -> Self {
        self.on_output = sink;
        self
    }

    /// Checks, before any trial runs, that every placeholder names a known
    /// parameter, that no parameter name collides with a reserved one, that
    /// the working directory exists, and that the program can be executed.
    pub fn check(&self, param_names: &[&str]) -> Result<()> {
        check_param_names(param_names)?;
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
        self.check_workdir()?;
        let program = self.resolve_program()?;
        check_executable(&program, &self.program)
    }

    fn check_workdir(&self) -> Result<()> {
        match &self.workdir {
            Some(d) if !d.is_dir() => Err(Error::Objective(format!(
                "the objective's workdir {} does not exist (or is not a directory); create it or fix [objective] workdir",
                d.display()
            ))),
            _ => Ok(()),
        }
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
            .find(|c| c.is_file() && is_executable(c))
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
        let dir = run_dir().map_err(|e| ObjectiveError::msg(format!("cannot write the parameter file: {e}")))?;
        let file = tempfile::Builder::new()
            .prefix(&format!("trial-{}-", trial.number()))
            .suffix(".json")
            .tempfile_in(dir)
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

        // Checked per trial too: a directory removed mid-study would
        // otherwise be reported as a missing program.
        self.check_workdir().map_err(ObjectiveError::msg)?;
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
        let log = match &self.log_dir {
            Some(d) => {
                let path = d.join(format!("trial-{}.log", trial.number()));
                let f = std::fs::create_dir_all(d).and_then(|_| std::fs::File::create(&path)).map_err(|e| {
                    ObjectiveError::msg(format!("cannot write the trial's log file {}: {e}", path.display()))
                })?;
                Some(Mutex::new((f, 0)))
            }
            None => None,
        };
        let output = Arc::new(Output { trial: trial.number(), file: log, sink: self.on_output.clone() });
        let mut child = cmd.spawn().map_err(|e| {
            ObjectiveError::msg(format!("cannot start objective command '{}': {e}", self.program))
        })?;
        let group = Group::new(&child);
        let result = self.supervise(trial, &mut child, &group, output);
        drop(group);
        drop(file);
        result
    }

    fn supervise(
        &self,
        trial: &mut Trial,
        child: &mut Child,
        group: &Group,
        output: Arc<Output>,
    ) -> Result<Vec<f64>, ObjectiveError> {
        let start = Instant::now();
        let (tx, rx) = mpsc::channel::<protocol::Line>();
        let stdout = child.stdout.take().expect("piped");
        let out = output.clone();
        // Readers drain their pipe to the end whatever happens to the
        // receiver, so the program never blocks on a full pipe or dies of
        // SIGPIPE; a reader blocked by a grandchild is simply left behind.
        std::thread::spawn(move || {
            let mut splitter = LineSplitter::default();
            pump(stdout, |bytes| {
                out.raw(bytes);
                splitter.push(bytes, |line| {
                    out.line(&line.bytes);
                    let _ = tx.send(line);
                });
            });
            if let Some(line) = splitter.finish() {
                out.line(&line.bytes);
                let _ = tx.send(line);
            }
        });
        let stderr = child.stderr.take().expect("piped");
        let tail = Arc::new(Mutex::new((VecDeque::<u8>::with_capacity(STDERR_TAIL), false)));
        {
            let tail = tail.clone();
            let out = output.clone();
            std::thread::spawn(move || {
                let mut splitter = LineSplitter::default();
                pump(stderr, |bytes| {
                    out.raw(bytes);
                    splitter.push(bytes, |line| out.line(&line.bytes));
                    let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                    t.0.extend(bytes);
                    let excess = t.0.len().saturating_sub(STDERR_TAIL);
                    t.0.drain(..excess);
                });
                if let Some(line) = splitter.finish() {
                    out.line(&line.bytes);
                }
                tail.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
            });
        }

        let mut value: Option<Vec<f64>> = None;
        let mut protocol_error: Option<String> = None;
        let mut stdout_open = true;
        let mut exited: Option<(ExitStatus, Instant)> = None;
        let stop = loop {
            if trial.is_interrupted() {
                break Some(ObjectiveError::Interrupted);
            }
            if let Some(t) = self.timeout {
                if start.elapsed() >= t {
                    break Some(ObjectiveError::msg(format!("timed out after {} s (objective timeout)", t.as_secs_f64())));
                }
            }
            if exited.is_none() {
                match child.try_wait() {
                    Ok(Some(status)) => exited = Some((status, Instant::now())),
                    Ok(None) => {}
                    Err(e) => break Some(ObjectiveError::msg(format!("lost track of the objective process: {e}"))),
                }
            }
            // Even a grandchild that keeps printing cannot hold the trial open.
            if exited.is_some_and(|(_, at)| at.elapsed() >= DRAIN_AFTER_EXIT) {
                break None;
            }
            let line = if stdout_open {
                match rx.recv_timeout(Duration::from_millis(20)) {
                    Ok(line) => Some(line),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        stdout_open = false;
                        None
                    }
                }
            } else {
                std::thread::sleep(Duration::from_millis(10));
                None
            };
            if let Some(line) = line {
                match parse_line_bytes(&line) {
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
                }
                continue;
            }
            let stderr_done = tail.lock().unwrap_or_else(|e| e.into_inner()).1;
            if let Some((_, at)) = exited {
                if (!stdout_open && stderr_done) || at.elapsed() >= DRAIN_AFTER_EXIT {
                    break None;
                }
            }
        };
        if let Some(reason) = stop {
            self.terminate(child, group);
            return Err(reason);
        }
        let (status, _) = exited.expect("the loop ends normally only after the program exited");
        let tail = {
            let t = tail.lock().unwrap_or_else(|e| e.into_inner());
            let bytes: Vec<u8> = t.0.iter().copied().collect();
            String::from_utf8_lossy(&bytes).trim().to_string()
        };
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

    /// SIGTERM to the process group, SIGKILL after the grace period (the
    /// group's leftovers are killed when `group` is dropped).
    fn terminate(&self, child: &mut Child, group: &Group) {
        group.signal(libc::SIGTERM);
        let deadline = Instant::now() + self.kill_grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        group.signal(libc::SIGKILL);
        let _ = child.wait();
    }
}

/// Reads `r` to its end, handing every chunk to `f`.
fn pump(mut r: impl Read, mut f: impl FnMut(&[u8])) {
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => f(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else { return false };
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
}

/// The program must be executable by us and be a binary or a script with a
/// `#!` line whose interpreter exists; otherwise every trial would fail.
fn check_executable(path: &Path, as_written: &str) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::Objective(format!("objective command '{}': {e}", path.display())))?;
    let via = |why: String| {
        Error::Objective(format!(
            "objective command '{}' {why}; or run it through its interpreter, e.g. command = [\"python3\", \"{as_written}\", ...]",
            path.display()
        ))
    };
    if meta.permissions().mode() & 0o111 == 0 || !is_executable(path) {
        return Err(via(format!("is not executable; make it so with `chmod +x {}`", path.display())));
    }
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    let head = &head[..n];
    if head.starts_with(b"\x7fELF") {
        return Ok(());
    }
    if let Some(rest) = head.strip_prefix(b"#!") {
        let line = String::from_utf8_lossy(rest.split(|&b| b == b'\n').next().unwrap_or_default()).into_owned();
        let interpreter = line.split_whitespace().next().unwrap_or("");
        if interpreter.is_empty() {
            return Err(via("has an empty #! line".into()));
        }
        if !Path::new(interpreter).is_file() {
            return Err(via(format!("starts with #!{}, but {interpreter} does not exist", line.trim_end())));
        }
        return Ok(());
    }
    Err(via("is neither a program nor a script with a #! line (start it with e.g. #!/usr/bin/env python3)".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Issue 10 §2.6: reserved placeholder names and environment-variable
    /// collisions were silently accepted.
    #[test]
    fn reserved_and_colliding_parameter_names_are_refused() {
        for name in BUILTINS {
            let e = check_param_names(&["x", name]).unwrap_err().to_string();
            assert!(e.contains(&format!("parameter '{name}' has a reserved name")), "{e}");
        }
        let e = check_param_names(&["a-b", "a_b"]).unwrap_err().to_string();
        assert!(e.contains("'a-b' and 'a_b' would both be passed as $FERROTUNE_PARAM_A_B"), "{e}");
        assert!(check_param_names(&["lr", "units_0", "units_1"]).is_ok());
    }

    /// Issue 10 §2.4: programs that cannot start, found before any trial.
    #[test]
    fn programs_that_cannot_start_are_found_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str, mode: u32| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        };
        let check = |prog: &Path| CommandObjective::new(&[prog.to_str().unwrap()]).unwrap().check(&[]).map_err(|e| e.to_string());
        let e = check(&write("noexec.sh", "#!/bin/sh\necho hi\n", 0o644)).unwrap_err();
        assert!(e.contains("is not executable") && e.contains("chmod +x"), "{e}");
        let e = check(&write("noshebang.py", "print('hi')\n", 0o755)).unwrap_err();
        assert!(e.contains("#! line") && e.contains("python3"), "{e}");
        let e = check(&write("badinterp.sh", "#!/no/such/python\nprint(1)\n", 0o755)).unwrap_err();
        assert!(e.contains("/no/such/python does not exist"), "{e}");
        assert!(check(&write("ok.sh", "#!/bin/sh\necho ferrotune: value=1\n", 0o755)).is_ok());
        let e = CommandObjective::new(&["true"]).unwrap().workdir(dir.path().join("gone")).check(&[]).unwrap_err().to_string();
        assert!(e.contains("workdir") && e.contains("gone") && e.contains("does not exist"), "{e}");
    }
}
