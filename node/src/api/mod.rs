//! The control API: HTTP/1.1 with JSON bodies on a Unix socket in the data directory (mode
//! 0660), versioned under `/v1`. The caller's uid (SO_PEERCRED) is logged as the actor.
//! Errors are `{ "error": { "code", "message", "fields" } }`: 4xx for caller mistakes, 5xx
//! otherwise.
//!
//! This module serves the socket and holds the router and its state ([`App`]); the routes are
//! in [`cases`] (requests, cases, actions, attachments, pending, audit, drill), [`feeds`]
//! (events, statistics) and [`operator`] (status, peers, directory, metrics); their errors in
//! [`error`].

pub mod cases;
pub mod error;
pub mod feeds;
pub mod operator;

pub use error::{not_one_of, parse_time, ApiError, ApiResult, Caller};

use crate::api::operator::Sources;
use crate::attachments::Attachments;
use crate::error::{NodeError, Result};
use crate::handles::{Clocks, DirectoryHandle, Events, Identity, Net, Tasks};
use crate::operator::Ops;
use crate::outgoing::Cases;
use crate::store::Store;
use crate::timers::Deadlines;
use crate::wire::Wire;
use axum::extract::FromRef;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

/// Binds the control socket: removes a stale socket file, binds, sets mode 0660. The caller
/// holds the sled lock already, so no other node owns this data directory.
pub fn bind(path: &Path) -> Result<UnixListener> {
    if path.as_os_str().len() >= 100 {
        return Err(NodeError::Config {
            file: path.to_path_buf(),
            message: "control socket path is too long for a Unix socket (100 bytes at most)".into(),
        });
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| NodeError::io(dir, e))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(NodeError::io(path, e)),
    }
    let listener = UnixListener::bind(path).map_err(|e| NodeError::io(path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| NodeError::io(path, e))?;
    Ok(listener)
}

pub use crate::config::max_connections;

/// How long a caller may take to send a request's head; then its connection is closed.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a stop waits for the connections still open to finish.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The API's state: every handle a route may take. No route takes it whole: each names the
/// handles it uses (`State<Cases>`, `State<Attachments>` …), which [`FromRef`] gives it.
#[derive(Clone, Debug)]
pub struct App {
    /// The network side, and through it the cases, tasks, operator and attachments.
    pub wire: Wire,
    /// The deadlines' board.
    pub deadlines: Deadlines,
}

macro_rules! from_app {
    ($($t:ty => |$a:ident| $e:expr;)*) => {$(
        impl FromRef<App> for $t {
            fn from_ref($a: &App) -> Self {
                $e
            }
        }
    )*};
}

from_app! {
    Wire => |a| a.wire.clone();
    Cases => |a| a.wire.cases.clone();
    Store => |a| a.wire.cases.store.clone();
    Identity => |a| a.wire.cases.me.clone();
    Clocks => |a| a.wire.cases.clocks.clone();
    Events => |a| a.wire.cases.events.clone();
    DirectoryHandle => |a| a.wire.cases.directory.clone();
    Deadlines => |a| a.deadlines.clone();
    Attachments => |a| a.wire.attachments.clone();
    Ops => |a| a.wire.ops.clone();
    Net => |a| a.wire.net.clone();
    Tasks => |a| a.wire.tasks.clone();
    Sources => |a| Sources {
        cases: a.wire.cases.clone(),
        ops: a.wire.ops.clone(),
        net: a.wire.net.clone(),
        deadlines: a.deadlines.clone(),
    };
}

/// Serves the API until `cancel` fires: at most `[control] max_connections` at once, each
/// closed if its request's head is not complete within [`HEADER_TIMEOUT`].
pub async fn serve(state: App, listener: UnixListener, cancel: CancellationToken) {
    let cap = state.wire.cases.me.cfg().max_connections;
    let app = router(state);
    let slots = Arc::new(tokio::sync::Semaphore::new(cap));
    let tasks = tokio_util::task::TaskTracker::new();
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => break,
            a = listener.accept() => match a {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most likely: give the open ones time to end.
                    tracing::warn!(error = %e, "control socket: cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tasks.spawn(refuse_busy(stream, cap));
            continue;
        };
        let caller = Caller {
            uid: stream.peer_cred().ok().map(|c| c.uid()),
        };
        let (app, cancel) = (app.clone(), cancel.clone());
        tasks.spawn(async move {
            let _slot = slot;
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(caller));
                tower::ServiceExt::oneshot(app.clone(), req.map(axum::body::Body::new))
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(
                    hyper_util::rt::TokioIo::new(JsonParseErrors::new(stream)),
                    svc,
                );
            tokio::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "control connection ended");
            }
        });
    }
    tasks.close();
    if tokio::time::timeout(DRAIN, tasks.wait()).await.is_err() {
        tracing::warn!("control API: connections still open at stop were dropped");
    }
}

/// The control socket's stream, with the answers hyper makes itself to a request it cannot
/// parse (400 for a malformed request, 414 for a URI too long, 431 for a head too large: a
/// status and no body) given the API's JSON error body. The API's own errors always carry a
/// body (`json_errors`), so an error status with `content-length: 0` is hyper's.
struct JsonParseErrors<S> {
    inner: S,
    /// A replacement answer still to write, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> JsonParseErrors<S> {
    fn new(inner: S) -> Self {
        JsonParseErrors {
            inner,
            pending: None,
        }
    }

    /// The JSON answer for one of hyper's own error heads, if `buf` is one.
    fn replacement(buf: &[u8]) -> Option<Vec<u8>> {
        let text = std::str::from_utf8(buf).ok()?;
        let status_line = text.strip_prefix("HTTP/1.1 ")?.lines().next()?;
        let code: u16 = status_line.get(..3)?.parse().ok()?;
        let lower = text.to_ascii_lowercase();
        if !(400..600).contains(&code) || !lower.contains("\r\ncontent-length: 0\r\n") {
            return None;
        }
        let message = match code {
            414 => "the request's URI is too long",
            431 => "the request's head is too large",
            _ => "not an HTTP/1.1 request this API can read",
        };
        let status = StatusCode::from_u16(code).ok()?;
        Some(raw_error(status_line, error_code(status), message))
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> JsonParseErrors<S> {
    /// Writes what is left of a replacement answer.
    fn drive(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        while let Some((bytes, done)) = self.pending.as_mut() {
            let rest = bytes.get(*done..).unwrap_or_default();
            if rest.is_empty() {
                self.pending = None;
                break;
            }
            match std::pin::Pin::new(&mut self.inner).poll_write(cx, rest) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for JsonParseErrors<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for JsonParseErrors<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        match self.drive(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        if let Some(answer) = Self::replacement(buf) {
            self.pending = Some((answer, 0));
            // The original is taken whole; the replacement goes out in its place.
            return match self.drive(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Ready(Ok(buf.len())),
            };
        }
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        match self.drive(cx) {
            Poll::Ready(Ok(())) => std::pin::Pin::new(&mut self.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        match self.drive(cx) {
            Poll::Ready(Ok(())) => std::pin::Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

/// Answers a connection over the cap ([`max_connections`]) with a 503 `busy` and closes it.
async fn refuse_busy(mut stream: tokio::net::UnixStream, cap: usize) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let answer = raw_error(
        "503 Service Unavailable",
        "busy",
        &format!("the control socket serves {cap} connections at once; try again"),
    );
    // The request's head is read first (a second at most), so that a client still writing it
    // reads the answer instead of finding the connection closed under it.
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        let mut buf = [0u8; 4096];
        while seen.len() < 16 << 10 && !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(buf.get(..n).unwrap_or_default()),
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(HEADER_TIMEOUT, async {
        let _ = stream.write_all(&answer).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// A whole HTTP/1.1 answer with the API's JSON error body, written on the socket directly
/// (where no handler runs): `status_line` as `503 Service Unavailable`.
fn raw_error(status_line: &str, code: &str, message: &str) -> Vec<u8> {
    let body = serde_json::to_string(&poc247_api::ErrorBody::new(
        code,
        message,
        Vec::new(),
        Vec::new(),
    ))
    .unwrap_or_default();
    format!(
        "HTTP/1.1 {status_line}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The API's error code for an error status that no handler named (axum's or hyper's own).
fn error_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad-request",
        404 => "not-found",
        405 => "method-not-allowed",
        413 => "too-large",
        414 => "uri-too-long",
        415 => "unsupported-media-type",
        431 => "headers-too-large",
        503 => "shutting-down",
        _ if status.is_client_error() => "bad-request",
        _ => "internal",
    }
}

/// Gives every error response the API's JSON form: those axum makes itself (405 for a method
/// a route does not take, 413 for a body over its limit, a rejected path or query) come as
/// plain text, which is kept as the message.
async fn json_errors(resp: axum::response::Response) -> axum::response::Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let code = error_code(status);
    let text = axum::body::to_bytes(resp.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    ApiError::new(status, code, message).into_response()
}

/// The API's routes.
pub fn router(state: App) -> Router {
    Router::new()
        .route("/v1/status", get(operator::status))
        .route("/v1/requests", post(cases::create_request))
        .route("/v1/uploads", post(cases::upload))
        .route("/v1/cases", get(cases::list_cases))
        .route("/v1/cases", post(cases::create_case))
        .route("/v1/cases/{case_ref}", get(cases::show_case))
        .route("/v1/cases/{case_ref}/export", get(cases::export_case))
        .route("/v1/cases/{case_ref}/{action}", post(cases::case_action))
        .route(
            "/v1/cases/{case_ref}/attachments/{sha256}",
            get(cases::fetch_attachment),
        )
        .route("/v1/events", get(feeds::events))
        .route("/v1/stats", get(feeds::stats))
        .route("/v1/pending", get(cases::pending))
        .route("/v1/drill/advance", post(cases::drill_advance))
        .route("/v1/audit", get(cases::audit_export))
        .route("/v1/audit/verify", get(cases::audit_verify))
        .route("/v1/peers", get(operator::list))
        .route("/v1/peers/reload", post(operator::reload_route))
        .route("/v1/directory", post(operator::apply_route))
        .route("/metrics", get(operator::handler))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such endpoint")
        })
        .layer(axum::middleware::from_fn_with_state(
            (state.wire.tasks.clone(), state.wire.cases.store.clone()),
            to_completion,
        ))
        .layer(axum::middleware::map_response(json_errors))
        .with_state(state)
}

/// Runs each request's handler in a task of its own, which the node waits for at shutdown, and
/// answers with what it returns. A caller that hangs up (an officer's Ctrl-C, a script killed,
/// a client's timeout) drops only the wait for the answer: a change already handed to the store
/// is not cut short between its commit and what follows it (its event, its queueing for
/// delivery, the links that keep its attachments).
async fn to_completion(
    State((tasks, store)): State<(Tasks, Store)>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // A store that failed a write may hold in memory what never reached the disk: nothing is
    // read from it or promised until it is opened again (`poc247 run` does that by itself
    // once the disk takes writes). Only the status, which says so, and the metrics answer.
    if store.has_failed() && !matches!(req.uri().path(), "/v1/status" | "/metrics") {
        return ApiError::from(NodeError::Storage(
            "the store failed a write at the disk (full or failing); the node reopens it by \
             itself once the disk takes writes again: try again then"
                .into(),
        ))
        .into_response();
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    tasks.spawn(async move {
        let _ = tx.send(next.run(req).await);
    });
    match rx.await {
        Ok(r) => r,
        Err(_) => ApiError::from(NodeError::ShuttingDown).into_response(),
    }
}

/// Serves `GET /metrics`, and nothing else, on `listener` until `cancel` fires (`[metrics]
/// listen`): for a Prometheus server. Any other path is 404.
pub async fn serve_metrics(
    state: App,
    listener: tokio::net::TcpListener,
    cancel: CancellationToken,
) {
    let app = Router::new()
        .route("/metrics", get(operator::handler))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "only /metrics is served here",
            )
        })
        .with_state(state);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}
