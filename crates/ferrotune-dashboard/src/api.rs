//! The HTTP side: the page and its assets, the JSON API, the event stream.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use crate::state::{AppState, TableQuery};
use crate::{Error, Result};

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// No inline script may run: every study-supplied string stays text.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/app.js", get(|| async { asset(APP_JS, "text/javascript; charset=utf-8", false) }))
        .route("/assets/app.css", get(|| async { asset(APP_CSS, "text/css; charset=utf-8", false) }))
        .route("/assets/figure.js", get(|| async { asset(ferrotune_plot::FIGURE_JS, "text/javascript; charset=utf-8", false) }))
        .route(
            "/assets/echarts-6.1.0.min.js",
            get(|| async { asset(ferrotune_plot::ECHARTS_JS, "text/javascript; charset=utf-8", true) }),
        )
        .route("/assets/licenses.txt", get(|| async { asset(ferrotune_plot::ECHARTS_LICENSE, "text/plain; charset=utf-8", true) }))
        .route("/api/studies", get(studies))
        .route("/api/studies/{name}", get(summary))
        .route("/api/studies/{name}/note", post(study_note))
        .route("/api/studies/{name}/trials", get(trials))
        .route("/api/studies/{name}/trials/{number}", get(trial))
        .route("/api/studies/{name}/trials/{number}/note", post(trial_note))
        .route("/api/studies/{name}/trials/{number}/fail", post(fail))
        .route("/api/studies/{name}/trials/{number}/tell", post(tell))
        .route("/api/studies/{name}/plots/{kind}", get(plot))
        .route("/api/studies/{name}/importance", get(importance))
        .route("/api/events", get(events))
        .fallback(|| async { error_response(Error::NotFound("no such page".into())) })
        .layer(axum::middleware::map_response(secure))
        .with_state(state)
}

async fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn asset(body: &'static str, kind: &'static str, immutable: bool) -> Response {
    let cache = if immutable { "public, max-age=86400, immutable" } else { "no-cache" };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, cache)], body).into_response()
}

async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX).into_response()
}

fn error_response(e: Error) -> Response {
    let status = match &e {
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::BadRequest(_) => StatusCode::BAD_REQUEST,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::Ferrotune(ferrotune::Error::StudyNotFound(_) | ferrotune::Error::TrialNotFound { .. }) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(serde_json::json!({ "error": e.to_string() }))).into_response()
}

/// Runs `f` on a blocking thread (storage calls are synchronous).
async fn blocking<T: serde::Serialize + Send + 'static>(
    state: Arc<AppState>,
    f: impl FnOnce(&AppState) -> Result<T> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(move || f(&state)).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => error_response(e),
        Err(e) => error_response(Error::Internal(e.to_string())),
    }
}

async fn studies(State(s): State<Arc<AppState>>) -> Response {
    blocking(s, |s| s.studies()).await
}

async fn summary(State(s): State<Arc<AppState>>, Path(name): Path<String>) -> Response {
    blocking(s, move |s| s.summary(&name)).await
}

async fn trials(State(s): State<Arc<AppState>>, Path(name): Path<String>, Query(q): Query<TableQuery>) -> Response {
    blocking(s, move |s| s.trials(&name, &q)).await
}

async fn trial(State(s): State<Arc<AppState>>, Path((name, number)): Path<(String, u64)>) -> Response {
    blocking(s, move |s| s.trial(&name, number)).await
}

#[derive(Deserialize)]
struct PlotQuery {
    params: Option<String>,
    objective: Option<usize>,
}

async fn plot(State(s): State<Arc<AppState>>, Path((name, kind)): Path<(String, String)>, Query(q): Query<PlotQuery>) -> Response {
    let params = q.params.filter(|p| !p.is_empty()).map(|p| p.split(',').map(str::to_string).collect());
    let r = tokio::task::spawn_blocking(move || s.figure(&name, &kind, params, q.objective.unwrap_or(0))).await;
    match r {
        Ok(Ok(json)) => ([(header::CONTENT_TYPE, "application/json")], json.as_str().to_string()).into_response(),
        Ok(Err(e)) => error_response(e),
        Err(e) => error_response(Error::Internal(e.to_string())),
    }
}

#[derive(Deserialize)]
struct ImportanceQuery {
    method: Option<String>,
}

async fn importance(State(s): State<Arc<AppState>>, Path(name): Path<String>, Query(q): Query<ImportanceQuery>) -> Response {
    blocking(s, move |s| s.importance(&name, q.method.as_deref().unwrap_or("fanova"))).await
}

#[derive(Deserialize)]
struct Note {
    note: String,
}

async fn study_note(State(s): State<Arc<AppState>>, Path(name): Path<String>, Json(n): Json<Note>) -> Response {
    blocking(s, move |s| s.set_note(&name, None, &n.note).map(|_| serde_json::json!({ "ok": true }))).await
}

async fn trial_note(State(s): State<Arc<AppState>>, Path((name, number)): Path<(String, u64)>, Json(n): Json<Note>) -> Response {
    blocking(s, move |s| s.set_note(&name, Some(number), &n.note).map(|_| serde_json::json!({ "ok": true }))).await
}

async fn fail(State(s): State<Arc<AppState>>, Path((name, number)): Path<(String, u64)>) -> Response {
    blocking(s, move |s| s.fail(&name, number).map(|_| serde_json::json!({ "ok": true }))).await
}

#[derive(Deserialize)]
struct Tell {
    values: Vec<f64>,
}

async fn tell(State(s): State<Arc<AppState>>, Path((name, number)): Path<(String, u64)>, Json(t): Json<Tell>) -> Response {
    blocking(s, move |s| s.tell(&name, number, &t.values).map(|_| serde_json::json!({ "ok": true }))).await
}

#[derive(Deserialize)]
struct EventsQuery {
    study: Option<String>,
}

/// One event per change: the page refetches what it shows. The server
/// looks every second (storage has no notifications that work across
/// SQLite files and PostgreSQL servers alike).
async fn events(State(s): State<Arc<AppState>>, Query(q): Query<EventsQuery>, _h: HeaderMap) -> Sse<impl futures_util::Stream<Item = std::result::Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold((s, q.study, None::<u64>), |(s, study, last)| async move {
        loop {
            if s.closing.load(std::sync::atomic::Ordering::SeqCst) {
                return None;
            }
            let (s2, name) = (s.clone(), study.clone());
            let v = tokio::task::spawn_blocking(move || -> Result<u64> {
                match name {
                    Some(n) => crate::state::version(&s2.study(&n)?),
                    None => {
                        let list = s2.storage.list_studies()?;
                        Ok(list.iter().fold(list.len() as u64, |h, st| {
                            h.rotate_left(5) ^ st.n_trials ^ st.last_activity.map_or(0, f64::to_bits)
                        }))
                    }
                }
            })
            .await;
            let v = match v {
                Ok(Ok(v)) => v,
                _ => u64::MAX, // the study is gone or storage failed: say so once
            };
            if last != Some(v) {
                let ev = Event::default().event("change").data(v.to_string());
                return Some((Ok(ev), (s, study, Some(v))));
            }
            for _ in 0..10 {
                if s.closing.load(std::sync::atomic::Ordering::SeqCst) {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The page, its assets and `data` in one file (see [`crate::report`]).
pub fn report_page(data: &serde_json::Value) -> Result<String> {
    let json = ferrotune_plot_json(data)?;
    let inline = |js: &str| format!("<script>{}</script>", js.replace("</script", "<\\/script"));
    let page = INDEX
        .replace("<link rel=\"stylesheet\" href=\"/assets/app.css\">", &format!("<style>{APP_CSS}</style>"))
        .replace(
            "<script src=\"/assets/echarts-6.1.0.min.js\"></script>",
            &format!("<script type=\"application/json\" id=\"report-data\">{json}</script>\n{}", inline(ferrotune_plot::ECHARTS_JS)),
        )
        .replace("<script src=\"/assets/figure.js\"></script>", &inline(ferrotune_plot::FIGURE_JS))
        .replace("<script src=\"/assets/app.js\"></script>", &inline(APP_JS));
    Ok(page)
}

fn ferrotune_plot_json(v: &serde_json::Value) -> Result<String> {
    let s = serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(s.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026"))
}
