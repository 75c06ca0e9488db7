//! ferrotune's web dashboard: a study list, study pages with interactive
//! plots, importances and a trial table that sorts, filters and pages, and
//! trial pages; live while any worker runs a study (the page follows a
//! server-sent event stream the server feeds by polling storage every
//! second). Also [`report`]: the same study page in one static HTML file.
//!
//! Safe by default: it binds 127.0.0.1, opens the storage read-only, sends
//! a Content-Security-Policy that allows no inline script, and the page
//! writes every study-supplied string as text. Changing anything (notes,
//! failing or telling a trial) needs `allow_write`.
//!
//! The core library has no async runtime in it; this crate runs axum on
//! tokio, and calls the (synchronous) storage on blocking threads.

#![warn(missing_docs)]

mod api;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

pub use state::AppState;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From the library (storage).
    #[error(transparent)]
    Ferrotune(#[from] ferrotune::Error),
    /// From plotting.
    #[error(transparent)]
    Plot(ferrotune_plot::Error),
    /// No such study or trial (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// A request that cannot be served as asked (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// A change on a read-only dashboard (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// The server could not start.
    #[error("{0}")]
    Serve(String),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to serve.
#[derive(Debug, Clone)]
pub struct Options {
    /// The storage URL.
    pub storage: String,
    /// The address to bind (127.0.0.1 by default; anything else is reachable
    /// by others on the network).
    pub host: std::net::IpAddr,
    /// The port (0: any free port).
    pub port: u16,
    /// Allow notes, failing and telling trials.
    pub allow_write: bool,
}

/// A running dashboard: its address, and a handle to stop it.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Stops serving and waits for the server to finish.
    pub async fn stop(mut self) {
        self.state.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        // Open pages end their streams within a second; do not wait longer.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.task).await;
        self.task.abort();
    }

    /// Serves until the process is stopped (Ctrl-C).
    pub async fn wait(self) -> Result<()> {
        self.task.await.map_err(|e| Error::Serve(e.to_string()))?.map_err(|e| Error::Serve(e.to_string()))
    }
}

/// Opens the storage and starts serving on a tokio runtime (call from
/// within one).
pub async fn serve(opts: Options) -> Result<Server> {
    let url = opts.storage.clone();
    let allow_write = opts.allow_write;
    let state = tokio::task::spawn_blocking(move || AppState::open(&url, allow_write))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    let listener = tokio::net::TcpListener::bind((opts.host, opts.port)).await.map_err(|e| {
        Error::Serve(format!(
            "cannot listen on {}:{}: {e}{}",
            opts.host,
            opts.port,
            if e.kind() == std::io::ErrorKind::AddrInUse { " (the port is taken: pick another with --port)" } else { "" }
        ))
    })?;
    let addr = listener.local_addr().map_err(|e| Error::Serve(e.to_string()))?;
    let state = Arc::new(state);
    // Read every study's trials now, so the first page does not wait for it.
    let warm = state.clone();
    tokio::task::spawn_blocking(move || {
        if let Ok(list) = warm.storage.list_studies() {
            for s in list {
                if let Ok(study) = warm.study(&s.record.name) {
                    let _ = study.trials();
                }
            }
        }
    });
    let app = api::router(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    Ok(Server { addr, state, shutdown: Some(tx), task })
}

/// Serves on a runtime of its own until Ctrl-C (what `ferrotune
/// dashboard` does); `ready` is called with the address once listening.
pub fn serve_until_interrupted(opts: Options, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Serve(format!("cannot start the server's runtime: {e}")))?;
    rt.block_on(async move {
        let server = serve(opts).await?;
        ready(server.addr);
        let _ = tokio::signal::ctrl_c().await;
        server.stop().await;
        Ok(())
    })
}

/// Study `name`'s page — summary, every plot, importances and every trial
/// in full — as one self-contained HTML file that opens without a server
/// (`ferrotune report`).
pub fn report(storage_url: &str, name: &str) -> Result<String> {
    let state = AppState::open(storage_url, false)?;
    let summary = state.summary(name)?;
    let study = state.study(name)?;
    let trials = study.trials()?;
    let notes = study.system_attrs()?;
    let full: Vec<serde_json::Value> = trials
        .iter()
        .map(|t| state::trial_json(t, notes.get(&format!("{}:{}", state::NOTE, t.number)).cloned(), None, false))
        .collect();
    let mut figures = serde_json::Map::new();
    for kind in ferrotune_plot::Kind::ALL {
        // A plot that does not apply (a Pareto plot of one objective) is left out.
        if let Ok(f) = state.figure(name, kind.name(), None, 0) {
            figures.insert(kind.name().to_string(), serde_json::from_str(&f).map_err(|e| Error::Internal(e.to_string()))?);
        }
    }
    let importance = state.importance(name, "fanova").ok();
    let data = serde_json::json!({ "summary": summary, "trials": full, "figures": figures, "importance": importance });
    api::report_page(&data)
}
