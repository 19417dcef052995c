//! HTTP: `/healthz`, a small status page at `/`, and the JSON API under
//! `/api/v1` (bearer token). Each resource module exposes a `router()`.

mod api;
mod backend;
pub mod console;
mod form;
mod refusal;
mod status;

use crate::app::{App, AppError};
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

pub type AppState = Arc<App>;

pub fn router(app: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(status::router())
        .merge(crate::web::console::router())
        .route("/api/v1/openapi.json", get(openapi))
        .nest("/api/v1", api::router(app.clone()))
        .merge(channel_routes(&app))
        .layer(axum::extract::DefaultBodyLimit::max(
            app.config.max_body_bytes,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs_f64(app.config.request_timeout_seconds),
        ))
        .layer(axum::middleware::from_fn(request_id))
        .with_state(app)
}

/// Starts the HTTP server and the scheduler; returns when `shutdown` fires
/// and the work in flight is done.
///
/// Shutting down: the dispatcher stops claiming at once; the HTTP server
/// stops accepting and finishes the requests it has (each webhook is
/// answered only once stored); the batch in flight finishes and records
/// its results, for at most `dispatcher.shutdown_grace_seconds`; then the
/// database is closed, its write-ahead log checkpointed.
pub async fn serve(
    app: AppState,
    listener: tokio::net::TcpListener,
    shutdown: tokio::sync::watch::Receiver<bool>,
    scheduler: bool,
) -> std::io::Result<()> {
    let sched = scheduler.then(|| tokio::spawn(app.scheduler.clone().run(shutdown.clone())));
    let stopper = {
        let (app, mut shutdown) = (app.clone(), shutdown.clone());
        tokio::spawn(async move {
            if shutdown.wait_for(|s| *s).await.is_ok() {
                app.dispatcher.stop();
            }
        })
    };
    let mut http_shutdown = shutdown.clone();
    axum::serve(
        listener,
        router(app.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = http_shutdown.wait_for(|s| *s).await;
    })
    .await?;
    stopper.abort();
    // The stopper may not have run yet (it races the server for the same
    // signal): without this, a busy day's drain would go on claiming until
    // the grace ran out and leave its last batch claimed.
    app.dispatcher.stop();
    if let Some(s) = sched {
        let grace = std::time::Duration::from_secs(app.config.dispatcher.shutdown_grace_seconds);
        let abort = s.abort_handle();
        if tokio::time::timeout(grace, s).await.is_err() {
            abort.abort();
            tracing::warn!(
                grace_seconds = grace.as_secs(),
                "sends still in flight at the end of the grace period; their messages return when their lease ends"
            );
        }
        // Only the scheduler claims: with it stopped, nothing should be
        // left claimed. Say so if something is.
        match app.store.claimed_count().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(claimed = n, "messages left claimed at shutdown"),
            Err(e) => tracing::warn!(error = %e, "could not count claimed messages at shutdown"),
        }
        app.store.close().await;
    }
    Ok(())
}

/// Every channel's webhooks (and the cht-gateway poll), with the app as
/// their backend.
fn channel_routes(app: &AppState) -> Router<AppState> {
    let backend: crate::gateway::backend::SharedBackend = app.clone();
    crate::gateway::channels::webhook_routes(backend.clone()).with_state(backend)
}

/// Prometheus metrics (OpenMetrics text). Counts and ids only: no names,
/// numbers or texts.
async fn metrics(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    let mut snap = match app.store.metrics_snapshot(app.clock.now()).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).into_response(),
    };
    snap.last_success = app
        .gateways
        .names()
        .filter_map(|n| {
            let e = app.gateways.get(n)?;
            e.last_success().map(|t| (n.to_string(), t.timestamp()))
        })
        .collect();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(&snap),
    )
        .into_response()
}

/// The API's OpenAPI description (no token needed to read it).
async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("../../api/openapi.json"),
    )
        .into_response()
}

/// Gives every request an id (the caller's `X-Request-Id` if it sent a
/// sane one), logs it with method, path, status and duration, and returns
/// it in the answer. Never the body, the query or the caller's address.
async fn request_id(mut req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use tracing::Instrument;
    let given = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_string);
    let id = given.unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        req.headers_mut().insert("x-request-id", v);
    }
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let started = std::time::Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            status = res.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "answered"
        )
    });
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// Ready to serve: the database answers and is writable, its schema is the
/// one this binary writes, which backend it is, and when each gateway last
/// accepted a message.
async fn readyz(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    let db = app.store.writable(app.clock.now()).await;
    let schema = app.store.applied_schema_version().await.ok().flatten();
    let current = crate::store::schema_version();
    let gateways: serde_json::Map<String, serde_json::Value> = app
        .gateways
        .names()
        .map(|n| {
            let last = app.gateways.get(n).and_then(|e| e.last_success());
            (n.to_string(), serde_json::json!({ "last_success": last }))
        })
        .collect();
    // SQLite's write-ahead log is a file beside the database; PostgreSQL
    // keeps its own, watched with its own tools.
    let wal_bytes = match app.config.database.sqlite_path() {
        Some(p) => Some(app.store.wal_bytes(p).await),
        None => None,
    };
    let ready = db.is_ok() && schema == Some(current);
    let body = serde_json::json!({
        "ready": ready,
        "database": match &db {
            Ok(()) => "writable".to_string(),
            Err(e @ crate::store::StoreError::DiskFull(_)) => e.to_string(),
            Err(_) => "unavailable".to_string(),
        },
        "schema": schema,
        "schema_expected": current,
        "backend": if app.store.is_postgres() { "postgres" } else { "sqlite" },
        "gateways": gateways,
        "wal_bytes": wal_bytes,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn healthz(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// Refuses every call without the configured bearer token (all calls, when none is configured).
pub(crate) async fn require_token(
    axum::extract::State(app): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    crate::gateway::hooks::bearer_gate(app.config.api_token.as_deref(), req, next).await
}

/// The one place errors become HTTP answers: the client gets a clear reason
/// for its own mistakes and nothing of our internals.
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl ApiError {
    /// The status and the words the caller gets; internals are logged, not told.
    pub fn parts(&self) -> (StatusCode, String) {
        use crate::domain::PeriodError;
        match &self.0 {
            AppError::Input(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            // What cannot be read is 400; a period read but refused (it ends
            // before it starts, lies ahead, two at once) is 422.
            AppError::Period(
                e @ (PeriodError::BadQuarter(_)
                | PeriodError::BadYear(_)
                | PeriodError::BadDate { .. }
                | PeriodError::Other(_)),
            ) => (StatusCode::BAD_REQUEST, e.to_string()),
            AppError::Period(e) => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            AppError::Refused(m) => (StatusCode::UNPROCESSABLE_ENTITY, m.clone()),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            AppError::Store(StoreError::NotFound(what)) => {
                (StatusCode::NOT_FOUND, format!("{what} not found"))
            }
            AppError::Store(StoreError::Conflict(m)) => (StatusCode::CONFLICT, m.clone()),
            AppError::NotYet(_) => (StatusCode::SERVICE_UNAVAILABLE, self.0.to_string()),
            other => {
                tracing::error!(error = %other, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                )
            }
        }
    }
}

impl ApiError {
    /// What kind of refusal it is, for a program to act on: `input` (a
    /// field could not be read), `refused` (a rule said no), `bad_period`,
    /// `unauthorized` (the API token; answered before this), `forbidden`, `not_found`, `conflict`, `not_yet`, `internal`.
    pub fn code(&self) -> &'static str {
        match &self.0 {
            AppError::Input(_) => "input",
            AppError::Period(_) => "bad_period",
            AppError::Refused(_) => "refused",
            AppError::Forbidden(_) => "forbidden",
            AppError::Store(StoreError::NotFound(_)) => "not_found",
            AppError::Store(StoreError::Conflict(_)) => "conflict",
            AppError::NotYet(_) => "not_yet",
            _ => "internal",
        }
    }
}

/// A refusal as JSON: `error` in English (as the log and the command line
/// have it), `code` ([`ApiError::code`]), `field` when the refusal names
/// one (`phone: not a phone number`), and `error_zh`, the same refusal in
/// Chinese as the console shows it, for a client that shows it to staff.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, msg) = self.parts();
        let mut body = serde_json::json!({
            "error": msg,
            "code": self.code(),
            "error_zh": refusal::in_language("zh-CN", &msg),
        });
        if let Some(field) = refusal::field_of(&msg) {
            body["field"] = field.into();
        }
        (status, Json(body)).into_response()
    }
}
