//! What the binary prints, and where.
//!
//! * Results go to stdout through [`outln!`], which returns the write error
//!   instead of panicking: a closed pipe (`ferrotune trials | head -2`) ends
//!   the command quietly with success, a full disk is an `error:` line.
//! * Status lines (progress, per-trial lines, notes) go to stderr through
//!   [`status!`], which never fails: a closed stderr loses them, nothing
//!   else. With `--log-file FILE` they are appended to FILE as well.

use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

static LOG: OnceLock<Mutex<std::fs::File>> = OnceLock::new();

/// Appends every status line to `path` from now on.
pub fn set_log_file(path: &Path) -> anyhow::Result<()> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("--log-file {}: {e}", path.display()))?;
    let _ = LOG.set(Mutex::new(f));
    Ok(())
}

/// Writes `line` to the log file, if any (progress-bar lines use this).
pub fn log_only(line: &str) {
    if let Some(f) = LOG.get() {
        let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(f, "{line}");
    }
}

/// A status line on stderr (and in the log file).
pub fn status_line(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
    log_only(line);
}

/// One line of results on stdout.
pub fn out_line(args: std::fmt::Arguments) -> std::io::Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_fmt(args)?;
    o.write_all(b"\n")?;
    o.flush()
}

/// `outln!(...)`: `println!` that returns its error (use with `?`).
macro_rules! outln {
    ($($t:tt)*) => { $crate::ui::out_line(format_args!($($t)*)) };
}

/// `status!(...)`: `eprintln!` that never panics and also logs.
macro_rules! status {
    ($($t:tt)*) => { $crate::ui::status_line(&format!($($t)*)) };
}

pub(crate) use {outln, status};

/// Whether an error is a closed output pipe (the reader went away: not a
/// failure of ours).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<csv::Error>()
                .is_some_and(|ce| matches!(ce.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe))
    })
}

/// A mistake in how the command was called: exit code 2, like clap's own.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `Err(UsageError)` with a formatted message.
macro_rules! usage {
    ($($t:tt)*) => { return Err($crate::ui::UsageError(format!($($t)*)).into()) };
}

pub(crate) use usage;
