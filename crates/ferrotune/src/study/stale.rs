//! Finding trials whose worker died (`kill -9`, power loss, OOM killer).
//!
//! A trial run by `optimize` records its owner: host name, pid, the
//! process's start time, and the identity of its pid space (boot id and pid
//! namespace). Only when the judge shares that pid space is a dead owner
//! certain (the pid is gone, or now belongs to a process that started at
//! another time). Anywhere else — another host, a container, another pid
//! namespace on the same hostname — the judge is the heartbeat, which
//! `optimize` refreshes every heartbeat interval ([`HEARTBEAT_INTERVAL`] by
//! default): a trial silent for its worker's grace period ([`STALE_AFTER`]
//! by default, stored with the owner) is stale. A pid is never compared
//! across pid spaces.
//!
//! Trials from `ask` have no owner process. They are judged stale only when
//! asked with a lease ([`LEASE_ATTR`]) that has run out.

use std::time::Duration;

use crate::trial::{now_unix, FrozenTrial, Owner};

/// How often `optimize` refreshes the heartbeat of its running trials, by
/// default ([`crate::study::StudyBuilder::heartbeat`] sets it).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(20);
/// By default, a running trial of another host with no heartbeat for this
/// long is stale (the worker's grace period).
pub const STALE_AFTER: Duration = Duration::from_secs(300);

/// System attribute of an asked trial: seconds it may stay running without
/// being told before it is judged stale (`ferrotune ask --lease`).
pub use crate::attrs::LEASE as LEASE_ATTR;

pub(crate) fn this_process() -> Owner {
    let pid = std::process::id();
    Owner { host: hostname(), pid, start: process_start(pid), pid_space: pid_space(), grace_period: None }
}

/// `<pid>-<start>-<space>`: names this process's temporary directories, so
/// a later process can tell whether their owner is gone. `<space>` is a
/// hash of the pid space (boot id and pid namespace): processes in other
/// pid namespaces may share the temporary directory (containers with a
/// shared `/tmp`, `unshare --pid`), and must never judge each other's pids.
pub(crate) fn this_process_tag() -> String {
    let me = this_process();
    format!("{}-{}-{}", me.pid, me.start.unwrap_or(0), space_tag(me.pid_space.as_deref()))
}

fn space_tag(space: Option<&str>) -> String {
    format!("{:016x}", crate::rng::stable_hash(space.unwrap_or("")))
}

/// Whether the process a [`this_process_tag`] names has exited. Only a tag
/// of this process's own pid space is judged; any other tag (another pid
/// namespace, or the two-part tags of older releases, whose space is
/// unknown) is never called dead: a live process's files are never removed.
pub(crate) fn process_tag_is_dead(tag: &str) -> bool {
    let mut parts = tag.splitn(3, '-');
    let (Some(pid), Some(start), Some(space)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else { return false };
    let me = this_process();
    if space != space_tag(me.pid_space.as_deref()) || me.pid_space.is_none() {
        return false;
    }
    !process_alive(&Owner { pid, start: (start != 0).then_some(start), ..me })
}

/// Boot id and pid namespace: two processes compare pids only when both match.
fn pid_space() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), ns.display()))
}

/// Why `t` is stale, or `None` if its owner may still be at work.
pub(crate) fn why_stale(t: &FrozenTrial, me: &Owner) -> Option<String> {
    let silent = now_unix() - t.heartbeat.or(t.started_at)?;
    let Some(owner) = t.owner.as_ref() else {
        let lease = crate::attrs::lease(t)?;
        return (silent > lease).then(|| {
            format!("stale: asked {silent:.0} s ago and never told (its lease was {lease:.0} s)")
        });
    };
    let same_pid_space = owner.host == me.host && owner.pid_space.is_some() && owner.pid_space == me.pid_space;
    if same_pid_space {
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
    let grace = owner.grace_period.unwrap_or(STALE_AFTER.as_secs_f64());
    (silent > grace).then(|| {
        format!(
            "stale: no heartbeat from its worker (pid {} on {}) for {silent:.0} s (its grace period: {grace:.0} s)",
            owner.pid, owner.host
        )
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
        assert!(!process_alive(&Owner { host: me.host.clone(), pid, start, pid_space: me.pid_space.clone(), grace_period: None }));
        // Same pid, different start time: a reused pid is not our worker.
        assert!(!process_alive(&Owner { start: me.start.map(|s| s + 1), ..me.clone() }));
        let space = space_tag(me.pid_space.as_deref());
        assert!(process_tag_is_dead(&format!("{pid}-{}-{space}", start.unwrap_or(0))));
        assert!(!process_tag_is_dead(&this_process_tag()));
        // A dead-looking pid of another pid space, or an old two-part tag,
        // is never judged: it may be a live process in another namespace.
        assert!(!process_tag_is_dead(&format!("{pid}-{}-{}", start.unwrap_or(0), space_tag(Some("other/ns")))));
        assert!(!process_tag_is_dead(&format!("{pid}-{}", start.unwrap_or(0))));
    }

    fn running(owner: Option<Owner>, heartbeat_age: f64) -> FrozenTrial {
        let now = now_unix();
        FrozenTrial {
            id: 1,
            number: 0,
            state: crate::trial::TrialState::Running,
            values: None,
            params: Default::default(),
            intermediate_values: Default::default(),
            user_attrs: Default::default(),
            system_attrs: Default::default(),
            message: None,
            started_at: Some(now - heartbeat_age),
            completed_at: None,
            owner,
            heartbeat: Some(now - heartbeat_age),
        }
    }

    /// Issue 10 §3.1: a judge in another pid namespace on the same hostname
    /// saw live workers' pids as dead. Across pid spaces only the heartbeat counts.
    #[test]
    fn a_pid_from_another_pid_space_is_never_judged_by_its_pid() {
        let me = this_process();
        assert!(me.pid_space.is_some());
        // A pid that does not exist here, from a worker in another pid namespace.
        let other = Owner {
            host: me.host.clone(),
            pid: 999_999_999,
            start: Some(1),
            pid_space: Some("other/pid:[1]".into()),
            grace_period: None,
        };
        assert_eq!(why_stale(&running(Some(other.clone()), 5.0), &me), None);
        let old = why_stale(&running(Some(other.clone()), STALE_AFTER.as_secs_f64() + 10.0), &me).unwrap();
        assert!(old.starts_with("stale: no heartbeat"), "{old}");
        // Records written before pid spaces were stored: heartbeat only.
        let legacy = Owner { pid_space: None, ..other.clone() };
        assert_eq!(why_stale(&running(Some(legacy), 5.0), &me), None);
        // The worker's own grace period decides, not the judge's.
        let quick = Owner { grace_period: Some(10.0), ..other.clone() };
        assert_eq!(why_stale(&running(Some(quick.clone()), 5.0), &me), None);
        let old = why_stale(&running(Some(quick), 12.0), &me).unwrap();
        assert!(old.contains("for 12 s") && old.contains("grace period: 10 s"), "{old}");
        let patient = Owner { grace_period: Some(3600.0), ..other.clone() };
        assert_eq!(why_stale(&running(Some(patient), STALE_AFTER.as_secs_f64() + 10.0), &me), None);
        // Same pid space: a dead pid is certain at once.
        let dead = Owner { pid: 999_999_999, ..me.clone() };
        assert!(why_stale(&running(Some(dead), 1.0), &me).unwrap().contains("died before finishing"));
    }

    /// Issue 10 §3.2: asked trials never told stayed running forever.
    #[test]
    fn an_asked_trial_goes_stale_when_its_lease_runs_out() {
        let me = this_process();
        let mut t = running(None, 120.0);
        assert_eq!(why_stale(&t, &me), None, "no lease: never stale");
        t.system_attrs.insert(LEASE_ATTR.into(), serde_json::json!(600.0));
        assert_eq!(why_stale(&t, &me), None);
        t.system_attrs.insert(LEASE_ATTR.into(), serde_json::json!(60.0));
        assert!(why_stale(&t, &me).unwrap().contains("never told"));
    }
}
