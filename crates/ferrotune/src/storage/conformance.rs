//! The same behavioural tests for every [`Storage`] backend.

use std::sync::Arc;

use super::*;
use crate::trial::TrialState;

/// Memory, SQLite and, when `FERROTUNE_TEST_POSTGRES` names a server,
/// PostgreSQL (a fresh database each time). The second element keeps the
/// backend's files or database alive until the storage is dropped.
type Backend = (Arc<dyn Storage>, Option<Box<dyn std::any::Any>>);

fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStorage::open(dir.path().join("t.db")).unwrap();
    let mut out: Vec<Backend> = vec![(Arc::new(InMemoryStorage::new()), None), (Arc::new(sqlite), Some(Box::new(dir)))];
    if let Some((url, guard)) = super::postgres::testdb::fresh() {
        out.push((Arc::new(PostgresStorage::open(&url).unwrap()), Some(Box::new(guard))));
    }
    out
}

#[test]
fn studies_create_list_delete() {
    for (s, _d) in backends() {
        let a = s.create_study("a", &[Direction::Minimize]).unwrap();
        assert!(matches!(s.create_study("a", &[Direction::Minimize]), Err(Error::StudyExists(_))));
        s.create_study("b", &[Direction::Maximize, Direction::Minimize]).unwrap();
        assert_eq!(s.get_study("b").unwrap().unwrap().directions, vec![Direction::Maximize, Direction::Minimize]);
        s.set_study_attr(a.id, AttrKind::User, "k", &serde_json::json!({"x": 1})).unwrap();
        assert_eq!(s.get_study("a").unwrap().unwrap().user_attrs["k"], serde_json::json!({"x": 1}));
        s.create_trial(a.id, NewTrial::default()).unwrap();
        let list = s.list_studies().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].n_trials, 1);
        s.delete_study("a").unwrap();
        assert!(s.get_study("a").unwrap().is_none());
        assert!(matches!(s.delete_study("a"), Err(Error::StudyNotFound(_))));
    }
}

#[test]
fn trial_lifecycle_and_incremental_reads() {
    for (s, _d) in backends() {
        let st = s.create_study("s", &[Direction::Minimize]).unwrap();
        let t0 = s.create_trial(st.id, NewTrial::default()).unwrap();
        let t1 = s.create_trial(st.id, NewTrial::default()).unwrap();
        assert_eq!((t0.number, t1.number, t0.state), (0, 1, TrialState::Running));
        let d = crate::Distribution::float_log(1e-3, 1.0);
        s.set_trial_param(t0.id, "lr", &d, 0.01).unwrap();
        s.set_trial_param(t0.id, "a", &crate::Distribution::int(0, 3), 2.0).unwrap();
        s.set_trial_intermediate(t0.id, 1, 0.5).unwrap();
        s.set_trial_intermediate(t0.id, 2, f64::NAN).unwrap();
        s.set_trial_attr(t0.id, AttrKind::User, "note", &"hi".into()).unwrap();
        let (all, seq) = s.trials_since(st.id, 0).unwrap();
        assert_eq!(all.len(), 2);
        let got = &all[0];
        assert_eq!(got.params.keys().collect::<Vec<_>>(), ["lr", "a"], "parameter order is kept");
        assert_eq!(got.params["lr"].distribution, d);
        assert_eq!(got.intermediate_values[&1], 0.5);
        assert!(got.intermediate_values[&2].is_nan());
        assert_eq!(got.user_attrs["note"], "hi");
        // Nothing changed: nothing returned.
        assert!(s.trials_since(st.id, seq).unwrap().0.is_empty());
        let done = s.finish_trial(t1.id, TrialState::Complete, Some(&[1.5]), None).unwrap();
        assert_eq!(done.values, Some(vec![1.5]));
        let (changed, _) = s.trials_since(st.id, seq).unwrap();
        assert_eq!(changed.iter().map(|t| t.number).collect::<Vec<_>>(), [1]);
        // A finished trial is immutable, and cannot be told twice.
        assert!(matches!(s.finish_trial(t1.id, TrialState::Failed, None, None), Err(Error::TrialFinished { .. })));
        assert!(matches!(s.set_trial_param(t1.id, "x", &d, 0.1), Err(Error::TrialFinished { .. })));
        assert!(matches!(s.set_trial_intermediate(t1.id, 1, 0.1), Err(Error::TrialFinished { .. })));
        assert_eq!(s.running_trials(st.id).unwrap().len(), 1);
        assert_eq!(s.get_trial_by_number(st.id, 1).unwrap().unwrap().state, TrialState::Complete);
        assert!(s.get_trial_by_number(st.id, 7).unwrap().is_none());
    }
}

#[test]
fn waiting_trials_are_claimed_in_order_and_once() {
    for (s, _d) in backends() {
        let st = s.create_study("s", &[Direction::Minimize]).unwrap();
        let fixed: IndexMap<String, crate::ParamValue> = [("x".to_string(), 1.0.into())].into_iter().collect();
        for _ in 0..3 {
            s.create_trial(
                st.id,
                NewTrial { state: Some(TrialState::Waiting), fixed_params: Some(fixed.clone()), ..Default::default() },
            )
            .unwrap();
        }
        let owner = Owner { host: "h".into(), pid: 1, start: None, pid_space: None, grace_period: None };
        let a = s.claim_waiting_trial(st.id, Some(&owner)).unwrap().unwrap();
        let b = s.claim_waiting_trial(st.id, None).unwrap().unwrap();
        assert_eq!((a.number, b.number), (0, 1));
        assert_eq!(a.state, TrialState::Running);
        assert_eq!(a.owner.as_ref(), Some(&owner));
        assert!(a.system_attrs.contains_key("fixed_params"));
        s.claim_waiting_trial(st.id, None).unwrap().unwrap();
        assert!(s.claim_waiting_trial(st.id, None).unwrap().is_none());
        // A trial enqueued after the queue ran dry, behind running ones, is
        // still found (the in-memory store resumes its search where the
        // last one ended).
        s.create_trial(st.id, NewTrial::default()).unwrap();
        s.create_trial(st.id, NewTrial { state: Some(TrialState::Waiting), ..Default::default() }).unwrap();
        assert_eq!(s.claim_waiting_trial(st.id, None).unwrap().map(|t| t.number), Some(4));
        assert!(s.claim_waiting_trial(st.id, None).unwrap().is_none());
    }
}

#[test]
fn concurrent_workers_get_distinct_numbers_and_claims() {
    for (s, _d) in backends() {
        let st = s.create_study("s", &[Direction::Minimize]).unwrap();
        for _ in 0..20 {
            s.create_trial(st.id, NewTrial { state: Some(TrialState::Waiting), ..Default::default() }).unwrap();
        }
        let claimed: Vec<u64> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let s = s.clone();
                    sc.spawn(move || {
                        let mut mine = vec![];
                        while let Some(t) = s.claim_waiting_trial(st.id, None).unwrap() {
                            mine.push(t.number);
                            mine.push(s.create_trial(st.id, NewTrial::default()).unwrap().number);
                        }
                        mine
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = claimed.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), claimed.len(), "no number handed out twice");
        assert_eq!(sorted, (0..40).collect::<Vec<_>>());
    }
}

#[test]
fn values_round_trip_bit_for_bit() {
    let tricky = [0.1 + 0.2, 1.0 / 3.0, 1.946_859_824_627_645_8, 5e-324, -1.7976931348623157e308, 123_456_789.123_456_79];
    for (s, _d) in backends() {
        let st = s.create_study("s", &[Direction::Minimize; 6]).unwrap();
        let t = s.create_trial(st.id, NewTrial::default()).unwrap();
        for (i, x) in tricky.iter().enumerate() {
            s.set_trial_param(t.id, &format!("p{i}"), &crate::Distribution::float(-f64::MAX, f64::MAX), *x).unwrap();
        }
        s.finish_trial(t.id, TrialState::Complete, Some(&tricky), None).unwrap();
        let back = s.get_trial(t.id).unwrap();
        assert_eq!(back.values.unwrap(), tricky);
        assert_eq!(back.params.values().map(|p| p.internal).collect::<Vec<_>>(), tricky);
    }
}

/// Issue 10 §3.4: `[[enqueue]]` with 8 concurrent starts once ran the
/// enqueued configuration twice. Check and insert are one transaction.
#[test]
fn enqueue_once_is_atomic_under_concurrency() {
    for (s, _d) in backends() {
        let st = s.create_study("s", &[Direction::Minimize]).unwrap();
        let fixed: IndexMap<String, crate::ParamValue> = [("x".to_string(), 0.5.into())].into_iter().collect();
        for _round in 0..10 {
            let made: usize = std::thread::scope(|sc| {
                (0..8)
                    .map(|_| {
                        let (s, fixed) = (s.clone(), fixed.clone());
                        sc.spawn(move || {
                            s.enqueue_once(st.id, NewTrial { fixed_params: Some(fixed), ..Default::default() }).unwrap().is_some()
                                as usize
                        })
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .sum()
            });
            assert!(made <= 1);
        }
        let (all, _) = s.trials_since(st.id, 0).unwrap();
        assert_eq!(all.len(), 1, "enqueued exactly once over 10 rounds of 8 racing workers");
        assert_eq!(all[0].state, TrialState::Waiting);
        let other: IndexMap<String, crate::ParamValue> = [("x".to_string(), 0.25.into())].into_iter().collect();
        assert!(s.enqueue_once(st.id, NewTrial { fixed_params: Some(other), ..Default::default() }).unwrap().is_some());
    }
}

/// Issue 10 §3.7: read commands created a missing database and could not
/// open a read-only one.
#[test]
fn read_only_opening_never_creates_or_writes() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo.db");
    let e = super::SqliteStorage::open_read_only(&missing).unwrap_err().to_string();
    assert!(e.contains("no such database") && e.contains("typo.db"), "{e}");
    assert!(!missing.exists(), "a read never creates a file");
    let url = format!("sqlite:///{}", missing.display());
    assert!(super::open_read_only(&url).is_err());
    assert!(!missing.exists());

    let path = dir.path().join("s.db");
    {
        let w = super::SqliteStorage::open(&path).unwrap();
        let st = w.create_study("s", &[Direction::Minimize]).unwrap();
        w.create_trial(st.id, NewTrial::default()).unwrap();
    }
    // A read-only directory and file (as on a read-only mount): still readable.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let r = super::SqliteStorage::open_read_only(&path);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = r.unwrap();
    let st = r.get_study("s").unwrap().unwrap();
    assert_eq!(r.trials_since(st.id, 0).unwrap().0.len(), 1);
    assert!(r.create_trial(st.id, NewTrial::default()).is_err(), "nothing can be written through it");
    let not_ours = dir.path().join("other.db");
    rusqlite::Connection::open(&not_ours).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
    let e = super::SqliteStorage::open_read_only(&not_ours).unwrap_err().to_string();
    assert!(e.contains("not a ferrotune database"), "{e}");
}

#[test]
fn storage_urls() {
    assert!(open("memory:").is_ok());
    let dir = tempfile::tempdir().unwrap();
    let abs = format!("sqlite:///{}", dir.path().join("a.db").display());
    assert!(abs.starts_with("sqlite:////"));
    open(&abs).unwrap();
    assert!(dir.path().join("a.db").exists());
    for (url, needle) in [
        ("sqlite:/x.db", "three or four slashes"),
        ("sqlite://x.db", "three or four slashes"),
        ("sqlite:///", "no database file"),
        // Nothing listens on port 1: a clear connection error, naming no password.
        ("postgresql://u:secret@127.0.0.1:1/test", "cannot connect to PostgreSQL at postgresql://u:***@127.0.0.1:1/test"),
        ("redis://x", "unknown storage"),
        // Issue 10 §5: three slashes for an absolute path.
        ("sqlite:///tmp/ferrotune-typo/x.db", "write four slashes: sqlite:////tmp/ferrotune-typo/x.db"),
    ] {
        let e = open(url).unwrap_err().to_string();
        assert!(e.contains(needle) && (e.contains(url) || url.contains("secret")), "{url}: {e}");
        assert!(!e.contains("secret"), "{e}");
    }
}

/// Issue 12: `copy_study` moves a study between backends with every trial,
/// attribute and intermediate value intact — through every pair of backends
/// (SQLite → PostgreSQL → SQLite included when a server is configured).
#[test]
fn a_copied_study_is_identical_on_every_backend() {
    let bs = backends();
    let (src, _) = &bs[0];
    let st = src.create_study("c", &[Direction::Maximize, Direction::Minimize]).unwrap();
    src.set_study_attr(st.id, AttrKind::User, "note", &serde_json::json!({"owner": "me", "tags": [1, 2]})).unwrap();
    src.set_study_attr(st.id, AttrKind::System, "seed", &serde_json::json!(12345)).unwrap();
    let d = crate::Distribution::float_log(1e-5, 1.0);
    let c = crate::Distribution::categorical(["relu", "tanh"]);
    let big = serde_json::json!({"blob": "x".repeat(100_000)});
    for i in 0..6u64 {
        let fixed: IndexMap<String, crate::ParamValue> = [("lr".to_string(), 0.01.into())].into_iter().collect();
        let new = if i == 5 {
            NewTrial { state: Some(TrialState::Waiting), fixed_params: Some(fixed), ..Default::default() }
        } else {
            NewTrial { owner: Some(Owner { host: "h".into(), pid: 7, start: Some(9), pid_space: Some("b/p".into()), grace_period: Some(30.0) }), ..Default::default() }
        };
        let t = src.create_trial(st.id, new).unwrap();
        if i == 5 {
            continue;
        }
        src.set_trial_param(t.id, "lr", &d, (1.0 / 3.0) * (i + 1) as f64 / 6.0).unwrap();
        src.set_trial_param(t.id, "act", &c, (i % 2) as f64).unwrap();
        src.set_trial_intermediate(t.id, 1, 0.1 * i as f64).unwrap();
        src.set_trial_intermediate(t.id, 2, f64::NAN).unwrap();
        src.set_trial_attr(t.id, AttrKind::User, "big", &big).unwrap();
        src.set_trial_attr(t.id, AttrKind::System, "constraints", &serde_json::json!([-1.5])).unwrap();
        match i {
            0 | 1 => {
                src.finish_trial(t.id, TrialState::Complete, Some(&[0.1 + 0.2, -1.0 / 3.0]), None).unwrap();
            }
            2 => {
                src.finish_trial(t.id, TrialState::Pruned, None, None).unwrap();
            }
            3 => {
                src.finish_trial(t.id, TrialState::Failed, None, Some("CUDA OOM\nstderr tail")).unwrap();
            }
            _ => {} // left running
        }
    }
    let (original, _) = src.trials_since(st.id, 0).unwrap();
    let strip = |ts: Vec<FrozenTrial>| -> Vec<FrozenTrial> { ts.into_iter().map(|t| FrozenTrial { id: 0, ..t }).collect() };
    let original = strip(original);
    // Along the chain memory -> SQLite -> PostgreSQL (if configured) -> a
    // second SQLite file.
    let dir = tempfile::tempdir().unwrap();
    let last: Arc<dyn Storage> = Arc::new(SqliteStorage::open(dir.path().join("back.db")).unwrap());
    let mut chain: Vec<Arc<dyn Storage>> = bs.iter().map(|(s, _)| s.clone()).collect();
    chain.push(last);
    for w in chain.windows(2) {
        let n = copy_study(w[0].as_ref(), w[1].as_ref(), "c").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n, 6);
        let rec = w[1].get_study("c").unwrap().unwrap();
        assert_eq!(rec.directions, vec![Direction::Maximize, Direction::Minimize]);
        assert_eq!(rec.user_attrs["note"], serde_json::json!({"owner": "me", "tags": [1, 2]}));
        assert_eq!(rec.system_attrs["seed"], serde_json::json!(12345));
        let (copied, _) = w[1].trials_since(rec.id, 0).unwrap();
        let copied = strip(copied);
        assert_eq!(copied.len(), original.len());
        for (a, b) in original.iter().zip(&copied) {
            // NaN != NaN: compare intermediate values by bits.
            let bits = |t: &FrozenTrial| t.intermediate_values.iter().map(|(k, v)| (*k, v.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(a), bits(b), "trial {}", a.number);
            let no_iv = |t: &FrozenTrial| FrozenTrial { intermediate_values: Default::default(), ..t.clone() };
            assert_eq!(no_iv(a), no_iv(b), "trial {}", a.number);
        }
        // Copying onto a storage that has the study already is refused.
        assert!(matches!(copy_study(w[0].as_ref(), w[1].as_ref(), "c"), Err(Error::StudyExists(_))));
    }
    assert!(matches!(copy_study(chain[0].as_ref(), chain[1].as_ref(), "nope"), Err(Error::StudyNotFound(_))));
}
