//! Test databases: the environment variable that names a server, a fresh
//! database per use, dropped afterwards.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The variable holding a PostgreSQL URL for the tests (CI sets it).
pub const ENV: &str = "FERROTUNE_TEST_POSTGRES";

/// Drops its database when dropped.
pub struct Guard {
    admin: String,
    name: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// `url` with its database replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    format!("{}/{db}{query}", &base[..host_end])
}

/// A URL of a fresh, empty database, or `None` (with one line saying how
/// to enable these tests) when no server is configured.
pub fn fresh() -> Option<(String, Guard)> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let Ok(admin) = std::env::var(ENV) else {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            eprintln!("PostgreSQL storage tests skipped: set {ENV}=postgresql://postgres@127.0.0.1:5432/test to run them")
        });
        return None;
    };
    let name = format!("ferrotune_test_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    let mut c = postgres::Client::connect(&admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("{ENV} is set but the server cannot be reached: {e}"));
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).expect("drop an old test database");
    c.batch_execute(&format!("CREATE DATABASE {name}")).expect("create a test database");
    let url = with_database(&admin, &name);
    Some((url, Guard { admin, name }))
}

#[test]
fn test_database_urls() {
    assert_eq!(with_database("postgresql://u@h:5432/test", "x"), "postgresql://u@h:5432/x");
    assert_eq!(with_database("postgres://h/test?sslmode=disable", "x"), "postgres://h/x?sslmode=disable");
    assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
}
