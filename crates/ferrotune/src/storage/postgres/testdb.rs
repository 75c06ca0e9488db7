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

/// A TCP proxy in front of the test server that a test can cut (every
/// connection reset, no new ones), to stage the server going away; a new
/// proxy on the same port brings it back.
pub struct Proxy {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    live: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    /// Forwards `127.0.0.1:port` (0: any free port) to the server of `admin`.
    pub fn start(admin: &str, port: u16) -> Proxy {
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let config: postgres::Config = admin.parse().expect("a PostgreSQL URL");
        let host = match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_string(),
        };
        let target = format!("{host}:{}", config.get_ports().first().copied().unwrap_or(5432));
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the proxy");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (stop2, live2) = (stop.clone(), live.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(&target) else { continue };
                        let mut l = live2.lock().unwrap();
                        l.push(client.try_clone().unwrap());
                        l.push(server.try_clone().unwrap());
                        for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)] {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut from, &mut to);
                                let _ = to.shutdown(std::net::Shutdown::Both);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Proxy { port, stop, live }
    }

    /// Resets every connection and stops listening.
    pub fn cut(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        std::thread::sleep(std::time::Duration::from_millis(20)); // the listener closes
    }

    /// `url` (of a test database) reached through this proxy, with extra options.
    pub fn url(&self, url: &str, options: &str) -> String {
        let config: postgres::Config = url.parse().expect("a PostgreSQL URL");
        format!(
            "postgresql://{}@127.0.0.1:{}/{}?sslmode=disable&{options}",
            config.get_user().unwrap_or("postgres"),
            self.port,
            config.get_dbname().unwrap_or("postgres")
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Terminates every other connection to the database of `url` (what an
/// administrator or a failover does), returning how many there were.
pub fn kill_backends(url: &str) -> i64 {
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    c.query_one(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        &[],
    )
    .unwrap()
    .get(0)
}
