//! PostgreSQL-only behaviour: calls retried after a lost connection never
//! happen twice, outages are survived (or end in a clear error), TLS
//! follows libpq's `sslmode`, and version-1 databases upgrade intact. (The
//! shared behaviour is in `storage/conformance.rs`.) Each test needs
//! `FERROTUNE_TEST_POSTGRES`; without it, they return at once.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::testdb::{self, Proxy};
use super::*;
use crate::storage::Storage;

fn lose_next(s: &PostgresStorage) {
    s.lose_next_ack.store(true, Ordering::SeqCst);
}

/// A commit whose acknowledgement never arrived is retried; the retry must
/// find the first one's work instead of doing it again.
#[test]
fn a_call_retried_after_a_lost_acknowledgement_happens_once() {
    let Some((url, _guard)) = testdb::fresh() else { return };
    let s = PostgresStorage::open(&url).unwrap();
    lose_next(&s);
    let st = s.create_study("s", &[Direction::Minimize]).unwrap();
    assert_eq!(s.list_studies().unwrap().len(), 1);
    lose_next(&s);
    let t0 = s.create_trial(st.id, NewTrial::default()).unwrap();
    assert_eq!(t0.number, 0);
    assert_eq!(s.trials_since(st.id, 0).unwrap().0.len(), 1, "one trial, not two");
    // Two enqueued trials: a lost claim is still one claim.
    let waiting = |x: f64| NewTrial {
        state: Some(TrialState::Waiting),
        fixed_params: Some([("x".to_string(), crate::ParamValue::Float(x))].into_iter().collect()),
        ..Default::default()
    };
    s.create_trial(st.id, waiting(1.0)).unwrap();
    s.create_trial(st.id, waiting(2.0)).unwrap();
    lose_next(&s);
    let c1 = s.claim_waiting_trial(st.id, None).unwrap().unwrap();
    let c2 = s.claim_waiting_trial(st.id, None).unwrap().unwrap();
    assert_eq!((c1.number, c2.number), (1, 2));
    assert!(s.claim_waiting_trial(st.id, None).unwrap().is_none());
    lose_next(&s);
    let e = s.enqueue_once(st.id, waiting(3.0)).unwrap();
    assert_eq!(e.map(|t| t.number), Some(3), "the retry reports the trial it made");
    assert!(s.enqueue_once(st.id, waiting(3.0)).unwrap().is_none());
    lose_next(&s);
    let done = s.finish_trial(t0.id, TrialState::Complete, Some(&[1.5]), None).unwrap();
    assert_eq!((done.state, done.values.clone()), (TrialState::Complete, Some(vec![1.5])));
    // A different outcome for a finished trial is still refused.
    assert!(matches!(s.finish_trial(t0.id, TrialState::Failed, None, None), Err(Error::TrialFinished { .. })));
    lose_next(&s);
    let imported = s.import_trial(st.id, &done).unwrap();
    assert_eq!(imported.number, 4);
    assert_eq!(s.trials_since(st.id, 0).unwrap().0.len(), 5);
    lose_next(&s);
    s.delete_study("s").unwrap();
    assert!(s.get_study("s").unwrap().is_none());
}

/// What `create_trial` returns is what a later read finds.
#[test]
fn a_new_trial_is_returned_as_stored() {
    let Some((url, _guard)) = testdb::fresh() else { return };
    let s = PostgresStorage::open(&url).unwrap();
    let st = s.create_study("s", &[Direction::Minimize]).unwrap();
    let owner = Owner { host: "gpu-7".into(), pid: 42, start: Some(9), pid_space: Some("b/ns".into()), grace_period: Some(60.0) };
    let new = NewTrial {
        state: Some(TrialState::Running),
        owner: Some(owner),
        fixed_params: Some([("lr".to_string(), crate::ParamValue::Float(0.1))].into_iter().collect()),
        user_attrs: vec![("note".into(), serde_json::json!({"a": [1, 2.5]}))],
        system_attrs: vec![("retried_from".into(), serde_json::json!(7))],
    };
    let t = s.create_trial(st.id, new).unwrap();
    assert_eq!(s.get_trial(t.id).unwrap(), t);
}

/// The server goes away (every connection reset, none accepted) and comes
/// back: a change made meanwhile waits and then lands. A longer outage than
/// `reconnect_timeout` ends in an error that says what happened and what to do.
#[test]
fn an_outage_is_waited_out_and_a_long_one_is_a_clear_error() {
    let Some((url, _guard)) = testdb::fresh() else { return };
    let admin = std::env::var(testdb::ENV).unwrap();
    let direct = PostgresStorage::open(&url).unwrap();
    let proxy = Proxy::start(&admin, 0);
    let port = proxy.port;
    let s = PostgresStorage::open(&proxy.url(&url, "reconnect_timeout=30")).unwrap();
    let st = s.create_study("s", &[Direction::Minimize]).unwrap();
    let t = s.create_trial(st.id, NewTrial::default()).unwrap();
    s.set_trial_intermediate(t.id, 0, 0.25).unwrap();
    proxy.cut();
    drop(proxy);
    let back = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        Proxy::start(&std::env::var(testdb::ENV).unwrap(), port)
    });
    let start = Instant::now();
    s.set_trial_intermediate(t.id, 1, 0.5).unwrap();
    let done = s.finish_trial(t.id, TrialState::Complete, Some(&[0.5]), None).unwrap();
    assert!(start.elapsed() >= Duration::from_secs(1), "the call waited for the server");
    assert_eq!(done.intermediate_values.len(), 2);
    let stored = direct.get_trial(t.id).unwrap();
    assert_eq!((stored.state, stored.intermediate_values.get(&1).copied()), (TrialState::Complete, Some(0.5)));
    let proxy = back.join().unwrap();

    let impatient = PostgresStorage::open(&proxy.url(&url, "reconnect_timeout=1")).unwrap();
    let t2 = impatient.create_trial(st.id, NewTrial::default()).unwrap();
    proxy.cut();
    let start = Instant::now();
    let e = impatient.finish_trial(t2.id, TrialState::Complete, Some(&[1.0]), None).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(10));
    let msg = e.to_string();
    assert!(msg.contains("lost the connection") && msg.contains("reconnect_timeout") && msg.contains("intact"), "{msg}");
    assert!(std::error::Error::source(&e).is_some(), "the driver's error is kept");
    assert_eq!(direct.get_trial(t2.id).unwrap().state, TrialState::Running, "nothing half-done");
}

/// An administrator (or a failover) terminates the backends: the next
/// calls reconnect and nothing is lost.
#[test]
fn terminated_backends_are_replaced() {
    let Some((url, _guard)) = testdb::fresh() else { return };
    let s = PostgresStorage::open(&url).unwrap();
    let st = s.create_study("s", &[Direction::Minimize]).unwrap();
    let t = s.create_trial(st.id, NewTrial::default()).unwrap();
    for step in 0..5u64 {
        assert!(testdb::kill_backends(&url) >= 1);
        s.set_trial_intermediate(t.id, step, step as f64).unwrap();
        s.set_trial_param(t.id, &format!("p{step}"), &crate::Distribution::float(0.0, 1.0), 0.5).unwrap();
    }
    testdb::kill_backends(&url);
    let done = s.finish_trial(t.id, TrialState::Complete, Some(&[3.0]), None).unwrap();
    assert_eq!(done.intermediate_values.len(), 5);
    assert_eq!(done.params.len(), 5);
    testdb::kill_backends(&url);
    assert_eq!(s.trials_since(st.id, 0).unwrap().0, vec![done]);
}

/// libpq's `sslmode` meanings, against the local server's own certificate.
#[test]
fn tls_follows_sslmode() {
    let Some((url, _guard)) = testdb::fresh() else { return };
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let ssl: String = admin.query_one("SHOW ssl", &[]).unwrap().get(0);
    if ssl != "on" {
        eprintln!("TLS test skipped: the server at {} has ssl = off", redact(&url));
        return;
    }
    let cert: String = admin.query_one("SHOW ssl_cert_file", &[]).unwrap().get(0);
    let encrypted = |u: &str| -> bool {
        let target = Target::parse(u, false).unwrap();
        let mut c = target.connect(Durability::Transaction).unwrap_or_else(|e| panic!("{u}: {e:?}"));
        c.client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).unwrap().get(0)
    };
    let with = |opts: &str| format!("{url}{}{opts}", if url.contains('?') { "&" } else { "?" });
    assert!(!encrypted(&with("sslmode=disable")));
    assert!(encrypted(&with("sslmode=prefer")), "prefer uses TLS when the server offers it");
    assert!(encrypted(&with("sslmode=require")), "require accepts the self-signed certificate");
    // The storage itself works over TLS.
    let s = PostgresStorage::open(&with("sslmode=require")).unwrap();
    s.create_study("tls", &[Direction::Minimize]).unwrap();
    // Verification needs a trusted root; the host name must match for
    // verify-full (Debian's snake-oil certificate names "localhost").
    if std::fs::read_to_string(&cert).is_err() {
        eprintln!("TLS verification checks skipped: cannot read {cert}");
        return;
    }
    let cn = "localhost";
    let e = PostgresStorage::open(&with("sslmode=verify-full")).unwrap_err();
    assert!(format!("{e:?}").contains("UnknownIssuer") || format!("{e:?}").contains("certificate"), "{e:?}");
    let cfg: postgres::Config = url.parse().unwrap();
    let via = |host: &str, mode: &str| {
        format!(
            "postgresql://{}@{host}:{}/{}?sslmode={mode}&sslrootcert={cert}",
            cfg.get_user().unwrap_or("postgres"),
            cfg.get_ports().first().copied().unwrap_or(5432),
            cfg.get_dbname().unwrap()
        )
    };
    assert!(encrypted(&via(cn, "verify-full")), "the certificate names {cn}");
    assert!(encrypted(&via("127.0.0.1", "verify-ca")), "verify-ca does not compare the host name");
    let e = PostgresStorage::open(&via("127.0.0.1", "verify-full")).unwrap_err();
    assert!(format!("{e:?}").contains("NotValidForName"), "{e:?}");
    let e = PostgresStorage::open(&via(cn, "verify-full").replace(&cert, "/nonexistent.pem")).unwrap_err().to_string();
    assert!(e.contains("sslrootcert=/nonexistent.pem"), "{e}");
}

/// A database written by ferrotune 0.1 (schema version 1; the dump in
/// `fixtures/storage`) is refused with the command to run, upgraded in one
/// step, and then continues with nothing lost.
#[test]
fn a_version_1_database_is_upgraded_intact() {
    let Some((url, _guard)) = testdb::fresh() else { return };
    let dump = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/storage/schema-v1.postgres.sql")).unwrap();
    postgres::Client::connect(&url, postgres::NoTls).unwrap().batch_execute(&dump).unwrap();
    let e = PostgresStorage::open(&url).unwrap_err().to_string();
    assert!(e.contains("schema version 1") && e.contains("ferrotune storage upgrade --storage"), "{e}");
    let e = PostgresStorage::open_read_only(&url).unwrap_err().to_string();
    assert!(e.contains("ferrotune storage upgrade"), "{e}");
    assert_eq!(crate::storage::upgrade(&url).unwrap(), (1, SCHEMA_VERSION));
    assert_eq!(crate::storage::upgrade(&url).unwrap(), (SCHEMA_VERSION, SCHEMA_VERSION), "a second upgrade does nothing");
    let s = PostgresStorage::open(&url).unwrap();
    let st = s.get_study("v1-study").unwrap().unwrap();
    assert!(st.system_attrs.contains_key("space") && st.system_attrs.contains_key("seed"));
    let (trials, _) = s.trials_since(st.id, 0).unwrap();
    assert_eq!(trials.iter().map(|t| t.number).collect::<Vec<_>>(), (0..9).collect::<Vec<_>>());
    assert_eq!(trials[0].state, TrialState::Complete);
    assert_eq!(trials[0].param("x"), Some(crate::ParamValue::Float(0.123456789012345)));
    assert_eq!(trials[0].intermediate_values.len(), 3);
    assert!(trials[0].system_attrs.contains_key("fixed_params"));
    assert_eq!(trials.iter().filter(|t| t.state == TrialState::Failed).count(), 6);
    assert_eq!(trials[8].state, TrialState::Running, "the asked trial is still running");
    let summary = s.list_studies().unwrap();
    assert!(summary[0].last_activity.unwrap() >= st.created_at);
    // New trials continue the numbering.
    assert_eq!(s.create_trial(st.id, NewTrial::default()).unwrap().number, 9);
}
