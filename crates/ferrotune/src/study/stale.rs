//! Finding trials whose worker died (`kill -9`, power loss, OOM killer).
//!
//! A trial run by `optimize` records its owner: host name, pid and the
//! process's start time. On the same host a dead owner is certain (the pid is
//! gone, or now belongs to a process that started at another time). For an
//! owner on another host we can only go by its heartbeat, which `optimize`
//! refreshes every [`HEARTBEAT_INTERVAL`]; a trial silent for [`STALE_AFTER`]
//! is stale. Trials from `ask` have no owner and are never judged stale.

use std::time::Duration;

use crate::trial::{now_unix, FrozenTrial, Owner};

/// How often `optimize` refreshes the heartbeat of its running trials.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(20);
/// A running trial of another host with no heartbeat for this long is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(300);

pub(crate) fn this_process() -> Owner {
    let pid = std::process::id();
    Owner { host: hostname(), pid, start: process_start(pid) }
}

/// Why `t` is stale, or `None` if its owner may still be at work.
pub(crate) fn why_stale(t: &FrozenTrial, me: &Owner) -> Option<String> {
    let owner = t.owner.as_ref()?;
    if owner.host == me.host {
        if owner.pid == me.pid && owner.start == me.start {
            return None;
        }
        if !process_alive(owner) {
            return Some(format!(
                "stale: its worker (pid {} on {}) died before finishing it",
                owner.pid, owner.host
            ));
        }
        return None;
    }
    let silent = now_unix() - t.heartbeat.or(t.started_at)?;
    (silent > STALE_AFTER.as_secs_f64()).then(|| {
        format!("stale: no heartbeat from its worker (pid {} on {}) for {silent:.0} s", owner.pid, owner.host)
    })
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it on success (we also stop at the buffer's end).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The start time of a process in clock ticks since boot (Linux), from
/// field 22 of `/proc/PID/stat`, counted after the command name, which may
/// itself contain spaces and parentheses.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    Some((state, fields.get(19)?.parse().ok()?))
}

fn process_start(pid: u32) -> Option<u64> {
    proc_stat(pid).map(|(_, start)| start)
}

fn process_alive(owner: &Owner) -> bool {
    if std::path::Path::new("/proc/self/stat").exists() {
        return match proc_stat(owner.pid) {
            None => false,
            Some(('Z', _)) | Some(('X', _)) => false,
            Some((_, start)) => owner.start.is_none_or(|s| s == start),
        };
    }
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(owner.pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_not() {
        let me = this_process();
        assert!(process_alive(&me));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = process_start(pid);
        child.wait().unwrap();
        assert!(!process_alive(&Owner { host: me.host.clone(), pid, start }));
        // Same pid, different start time: a reused pid is not our worker.
        assert!(!process_alive(&Owner { start: me.start.map(|s| s + 1), ..me.clone() }));
    }
}
