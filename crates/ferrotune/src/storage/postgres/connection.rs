//! Connections to PostgreSQL: the URL's options, TLS as libpq does it, a
//! small pool with prepared statements, and which errors mean "the
//! connection is gone, try again".

use postgres::config::SslMode;
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// How long a lost connection is retried before the call fails, unless the
/// URL says otherwise (`?reconnect_timeout=`).
pub const DEFAULT_RECONNECT_TIMEOUT: Duration = Duration::from_secs(120);

/// `sslmode` as libpq reads it. `prefer` and `require` encrypt without
/// checking the certificate (libpq's meaning); `verify-ca` checks it against
/// `sslrootcert`, `verify-full` also checks the host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// `sslmode=disable`: plain TCP.
    Disable,
    /// `sslmode=prefer` (the default): TLS when the server offers it.
    Prefer,
    /// `sslmode=require`: TLS, any certificate (a CA-checked one with `sslrootcert`).
    Require,
    /// `sslmode=verify-ca`: TLS, a certificate signed by a trusted CA.
    VerifyCa,
    /// `sslmode=verify-full`: TLS, a trusted certificate for this host name.
    VerifyFull,
}

/// Everything needed to (re)connect, parsed once from the URL.
pub(crate) struct Target {
    pub config: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    pub reconnect_timeout: Duration,
    pub read_only: bool,
    /// The URL without its password, for messages.
    pub shown: String,
}

/// `url` with any password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let mut out = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    };
    // A password can also be a query option.
    if let Some((base, query)) = out.clone().split_once('?') {
        let q: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some(("password", _)) => "password=***".to_string(),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{base}?{}", q.join("&"));
    }
    out
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("url", &self.shown).field("tls", &self.tls.is_some()).finish()
    }
}

impl Target {
    /// Parses `url`, taking out the options the driver does not know
    /// (`sslmode` beyond disable/prefer/require, `sslrootcert`,
    /// `reconnect_timeout`) and filling in ferrotune's defaults for the rest
    /// (a 10 s connect timeout, TCP keepalives after 30 s, the application
    /// name "ferrotune").
    pub fn parse(url: &str, read_only: bool) -> Result<Target> {
        let shown = redact(url);
        let bad = |reason: String| Error::StorageUrl { url: shown.clone(), reason };
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept: Vec<&str> = vec![];
        let mut mode = TlsMode::Prefer;
        let mut root: Option<String> = None;
        let mut reconnect_timeout = DEFAULT_RECONNECT_TIMEOUT;
        let mut given: Vec<String> = vec![];
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            given.push(k.to_string());
            match k {
                "sslmode" => {
                    mode = match v {
                        "disable" => TlsMode::Disable,
                        "allow" | "prefer" => TlsMode::Prefer,
                        "require" => TlsMode::Require,
                        "verify-ca" => TlsMode::VerifyCa,
                        "verify-full" => TlsMode::VerifyFull,
                        _ => {
                            return Err(bad(format!(
                                "sslmode={v} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                            )))
                        }
                    }
                }
                "sslrootcert" => root = Some(percent_decode(v)),
                "reconnect_timeout" => {
                    reconnect_timeout = parse_duration(v).ok_or_else(|| {
                        bad(format!("reconnect_timeout={v}: give seconds or a duration such as 30s, 5m"))
                    })?
                }
                _ => kept.push(kv),
            }
        }
        let driver_url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        let mut config = postgres::Config::from_str(&driver_url).map_err(|e| {
            bad(format!("{e}; the form is postgresql://user[:password]@host[:port]/database[?option=value&...]"))
        })?;
        if !given.iter().any(|k| k == "connect_timeout") {
            config.connect_timeout(Duration::from_secs(10));
        }
        if !given.iter().any(|k| k == "keepalives_idle") {
            config.keepalives_idle(Duration::from_secs(30));
        }
        if !given.iter().any(|k| k == "application_name") {
            config.application_name("ferrotune");
        }
        if matches!(mode, TlsMode::VerifyCa | TlsMode::VerifyFull) && root.is_none() {
            // libpq's default place for the CA; else the Mozilla roots.
            if let Some(home) = std::env::var_os("HOME") {
                let p = std::path::Path::new(&home).join(".postgresql/root.crt");
                if p.is_file() {
                    root = Some(p.display().to_string());
                }
            }
        }
        let tls = match mode {
            TlsMode::Disable => {
                config.ssl_mode(SslMode::Disable);
                None
            }
            m => {
                config.ssl_mode(if m == TlsMode::Prefer { SslMode::Prefer } else { SslMode::Require });
                Some(super::tls::connector(m, root.as_deref()).map_err(|e| bad(e.to_string()))?)
            }
        };
        Ok(Target { config, tls, reconnect_timeout, read_only, shown })
    }

    /// A new connection for changes of `durability` (and reads), set up
    /// for ferrotune's statements.
    pub fn connect(&self, durability: Durability) -> std::result::Result<Conn, postgres::Error> {
        let mut client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone())?,
            None => self.config.connect(NoTls)?,
        };
        // Floats as text (messages, psql) round-trip exactly; the session
        // starts with synchronous commits, as the server is configured.
        let mut setup = String::from("SET extra_float_digits = 3");
        if self.read_only {
            setup.push_str("; SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
        }
        // The server's own setting (on, or a replication level), for flushes.
        let server_commit: String = client.query_one("SHOW synchronous_commit", &[])?.get(0);
        if durability.pool() == 1 {
            setup.push_str("; SET synchronous_commit TO off");
        }
        client.batch_execute(&setup)?;
        let flush = format!(
            "BEGIN; SET LOCAL synchronous_commit TO {}; SELECT pg_current_xact_id(); COMMIT",
            if server_commit == "off" { "on" } else { server_commit.as_str() }
        );
        Ok(Conn { client, statements: HashMap::new(), flush })
    }
}

/// What a change waits for before it returns.
///
/// The study row is the lock every writer of a study takes, so it must be
/// held for microseconds, not for a disk flush: single-statement changes
/// commit without waiting for the WAL flush (`synchronous_commit = off`,
/// which releases the row at once). A change that must survive a crash of
/// the database server once it has returned (a new trial, a claim, a
/// result) is then made durable by committing a tiny transaction that does
/// wait for the flush ([`Conn::flush`]): the WAL is written in order, so
/// that flush covers the change, and the wait happens with the lock already
/// released (and is shared with other workers' flushes: group commit).
/// Parameters, intermediate values, attributes and heartbeats do not wait:
/// a crash of the server itself (not a lost connection) can lose the last
/// fraction of a second of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// A multi-statement transaction that commits as the server is configured.
    Transaction,
    /// One statement; returns before the WAL flush.
    Fast,
    /// One statement, then [`Conn::flush`]: durable when it returns.
    Flushed,
}

impl Durability {
    /// Which pool a change of this kind takes its connection from.
    pub fn pool(self) -> usize {
        match self {
            Durability::Transaction => 0,
            Durability::Fast | Durability::Flushed => 1,
        }
    }
}

/// One connection with its prepared statements; each commits with one
/// [`Durability`], so nothing is switched per call.
pub(crate) struct Conn {
    pub client: Client,
    statements: HashMap<&'static str, Statement>,
    /// A transaction that writes (an xid) and commits waiting for the flush.
    flush: String,
}

impl Conn {
    /// Waits until everything this connection committed is on disk (see [`Durability`]).
    pub fn flush(&mut self) -> std::result::Result<(), postgres::Error> {
        self.client.batch_execute(&self.flush)
    }

    /// `sql`, prepared once per connection.
    pub fn statement(&mut self, sql: &'static str) -> std::result::Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Runs a prepared `sql` and returns its rows.
    pub fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> std::result::Result<Vec<postgres::Row>, postgres::Error> {
        let st = self.statement(sql)?;
        self.client.query(&st, params)
    }
}

/// Whether `e` means the connection (or the server) went away, or the
/// transaction was rolled back by a conflict: the call may be retried on a
/// new connection. (Whether the lost call committed is the caller's
/// question; see `PostgresStorage::call`.)
pub(crate) fn is_transient(e: &Error) -> bool {
    let Error::Database { source, .. } = e else { return false };
    let Some(pe) = source.downcast_ref::<postgres::Error>() else { return false };
    transient(pe)
}

pub(crate) fn transient(pe: &postgres::Error) -> bool {
    if pe.is_closed() {
        return true;
    }
    if let Some(code) = pe.code() {
        let c = code.code();
        // 08: connection exception; 57P01-3: the server is shutting down,
        // crashed or starting; 40001/40P01: serialization failure, deadlock.
        return c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03" | "40001" | "40P01");
    }
    // I/O errors (a reset or refused connection, a timeout) come as the source.
    let mut src = std::error::Error::source(pe);
    while let Some(s) = src {
        if s.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        src = s.source();
    }
    false
}

/// Seconds (`30`, `2.5`) or a humantime duration (`30s`, `5m`).
fn parse_duration(v: &str) -> Option<Duration> {
    let d = match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Duration::from_secs_f64(s),
        Ok(_) => return None,
        Err(_) => humantime::parse_duration(v).ok()?,
    };
    (d <= crate::study_file::MAX_TIMEOUT).then_some(d)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("postgresql://u:secret@h:5432/db"), "postgresql://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgresql://h/db"), "postgresql://h/db");
        assert_eq!(redact("postgresql://h/db?password=x&sslmode=disable"), "postgresql://h/db?password=***&sslmode=disable");
        assert_eq!(redact("postgresql://u:p@ss@h/db"), "postgresql://u:***@h/db");
    }

    /// No server at the address: an error at once that names it (a typo
    /// should not wait for the reconnect timeout).
    #[test]
    fn an_unreachable_server_is_an_error_at_once() {
        let start = std::time::Instant::now();
        let e = crate::storage::open("postgresql://u:pw@127.0.0.1:1/db?sslmode=disable").unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        let msg = e.to_string();
        assert!(msg.contains("cannot connect to PostgreSQL at postgresql://u:***@127.0.0.1:1/db") && !msg.contains("pw"), "{msg}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn ferrotune_options_are_taken_out_and_checked() {
        let t = Target::parse("postgresql://u@h/db?reconnect_timeout=5m&sslmode=disable&connect_timeout=3", false).unwrap();
        assert_eq!(t.reconnect_timeout, Duration::from_secs(300));
        assert_eq!(t.config.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(t.config.get_ssl_mode(), SslMode::Disable);
        assert!(t.tls.is_none());
        let t = Target::parse("postgresql://u@h/db?reconnect_timeout=2.5", false).unwrap();
        assert_eq!(t.reconnect_timeout, Duration::from_millis(2500));
        assert_eq!(t.config.get_connect_timeout(), Some(&Duration::from_secs(10)));
        assert_eq!(t.config.get_ssl_mode(), SslMode::Prefer);
        let e = Target::parse("postgresql://u:pw@h/db?sslmode=sometimes", false).unwrap_err().to_string();
        assert!(e.contains("sslmode=sometimes") && e.contains("verify-full") && !e.contains("pw@"), "{e}");
        let e = Target::parse("postgresql://u@h/db?reconnect_timeout=soon", false).unwrap_err().to_string();
        assert!(e.contains("reconnect_timeout=soon"), "{e}");
        let e = Target::parse("postgresql://u@h/db?frobnicate=1", false).unwrap_err().to_string();
        assert!(e.contains("frobnicate"), "{e}");
    }
}
