//! The control API: HTTP/1.1 with JSON bodies on a Unix socket in the data directory (mode
//! 0660), versioned under `/v1`. The caller's uid (SO_PEERCRED) is logged as the actor.
//! Errors are `{ "error": { "code", "message", "fields" } }`: 4xx for caller mistakes, 5xx
//! otherwise.

use crate::audit::{Actor, AuditRecord};
use crate::driver::{NewRequest, Shared, SubmitError};
use crate::error::{NodeError, Result};
use crate::lifecycle::{CaseRecord, Role};
use crate::store::{DeliveryState, StoredMessage};
use axum::body::Bytes;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::IncomingStream;
use axum::{Json, Router};
use poc247_protocol::{
    codec, fingerprint, Body, CaseRef, Envelope, FieldError, Language, MessageKind, PartyId,
    Problem, SignedEnvelope, Urgency,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

/// Who is calling: the peer credentials of the socket connection.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The caller's uid.
    pub uid: Option<u32>,
}

impl Connected<IncomingStream<'_, UnixListener>> for Caller {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        Caller {
            uid: stream.io().peer_cred().ok().map(|c| c.uid()),
        }
    }
}

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

/// Serves the API until `cancel` fires.
pub async fn serve(shared: Arc<Shared>, listener: UnixListener, cancel: CancellationToken) {
    let app = router(shared);
    let r = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<Caller>(),
    )
    .with_graceful_shutdown(cancel.cancelled_owned())
    .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "control API stopped");
    }
}

/// The API's routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/requests", post(create_request))
        .route("/v1/cases", get(list_cases))
        .route("/v1/cases/{case_ref}", get(show_case))
        .route("/v1/events", get(events))
        .route("/v1/audit", get(audit_export))
        .route("/v1/audit/verify", get(audit_verify))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such endpoint")
        })
        .with_state(shared)
}

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: Vec<FieldError>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }
    fn invalid(fields: Vec<FieldError>) -> Self {
        let names: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid-fields",
            message: format!("invalid request: {}", names.join("; ")),
            fields,
        }
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::NotFound(what) => Self::new(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("{what} not found"),
            ),
            NodeError::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                e.to_string(),
            ),
            NodeError::Storage(_) | NodeError::Io { .. } => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage-unavailable",
                format!("the node cannot store now: {e}"),
            ),
            other => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                other.to_string(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": {
            "code": self.code,
            "message": self.message,
            "fields": self.fields,
        }});
        (self.status, Json(body)).into_response()
    }
}

type ApiResult<T> = std::result::Result<T, ApiError>;

async fn status(State(s): State<Arc<Shared>>) -> ApiResult<Json<Value>> {
    let now = s.clock.now();
    let cases = s.store.cases()?;
    let outbox = s.store.outbox()?.len();
    let directory = s.directory();
    let connected = s.conns.connected();
    let peers: Vec<Value> = directory
        .iter()
        .filter(|e| e.id != s.party)
        .map(|e| json!({ "party": e.id, "name": e.name, "connected": connected.contains(&e.id) }))
        .collect();
    Ok(Json(json!({
        "party": s.party,
        "version": env!("CARGO_PKG_VERSION"),
        "dev": s.cfg.dev,
        "listen": s.local_addr().ok().map(|a| a.to_string()),
        "started_at": s.started_at.rfc3339(),
        "uptime_s": now.since(s.started_at) / 1000,
        "signing_key": fingerprint(&s.signing.verifying_key()),
        "messages": s.store.message_count(),
        "cases": cases.len(),
        "inbox": cases.iter().filter(|c| c.role == Role::Requested).count(),
        "outbox_queued": outbox,
        "peers": peers,
    })))
}

async fn create_request(
    State(s): State<Arc<Shared>>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req = parse_new_request(&body)?;
    let kind = req.body.kind();
    match s.submit(req, Actor::Local { uid: caller.uid }).await {
        Ok(done) => {
            tracing::info!(uid = ?caller.uid, case = %done.case_ref, kind = %kind, "request created through the API");
            Ok((StatusCode::CREATED, Json(json!(done))))
        }
        Err(SubmitError::Invalid(fields)) => Err(ApiError::invalid(fields)),
        Err(SubmitError::Node(e)) => Err(e.into()),
    }
}

/// Parses the body of `POST /v1/requests`:
/// `{ "kind", "to", "urgency", "language", "exercise"?, "fields": { … } }`.
/// Every problem with the envelope fields and the body's fields is named at once.
pub fn parse_new_request(body: &[u8]) -> ApiResult<NewRequest> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("body is not JSON: {e}")))?;
    let Value::Object(map) = v else {
        return Err(ApiError::bad("body must be a JSON object"));
    };
    const KNOWN: [&str; 6] = ["kind", "to", "urgency", "language", "exercise", "fields"];
    if let Some(k) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::bad(format!(
            "unknown member {k:?}; expected {}",
            KNOWN.join(", ")
        )));
    }
    let text = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut errors = Vec::new();
    let mut field = |name: &str, problem: Problem| {
        errors.push(FieldError {
            field: name.to_owned(),
            problem,
        })
    };
    let kind = match text("kind") {
        "" => {
            field("kind", Problem::Missing);
            None
        }
        k => MessageKind::parse(k)
            .filter(|k| k.is_request())
            .or_else(|| {
                field(
                    "kind",
                    Problem::Invalid(format!("{k:?} is not a request kind")),
                );
                None
            }),
    };
    let to = match text("to") {
        "" => {
            field("to", Problem::Missing);
            None
        }
        t => PartyId::parse(t)
            .map_err(|e| field("to", Problem::Invalid(e.to_string())))
            .ok(),
    };
    let urgency = match text("urgency") {
        "" => {
            field("urgency", Problem::Missing);
            None
        }
        u => Urgency::parse(u).or_else(|| {
            field(
                "urgency",
                Problem::Invalid("must be emergency, urgent or routine".into()),
            );
            None
        }),
    };
    let language = match text("language") {
        "" => {
            field("language", Problem::Missing);
            None
        }
        l => Language::parse(l)
            .map_err(|e| field("language", Problem::Invalid(e.to_string())))
            .ok(),
    };
    let exercise = match map.get("exercise") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            field("exercise", Problem::Invalid("must be true or false".into()));
            false
        }
    };
    let fields = map.get("fields").cloned().unwrap_or(json!({}));
    let body = match kind {
        Some(k) => match Body::from_json(k, fields) {
            Ok(b) => Some(b),
            Err(e) => {
                errors.push(e);
                None
            }
        },
        None => None,
    };
    if let (Some(b), Some(u)) = (&body, urgency) {
        if let Err(mut fs) = b.validate(u) {
            errors.append(&mut fs);
        }
    }
    match (to, urgency, language, body) {
        (Some(to), Some(urgency), Some(language), Some(body)) if errors.is_empty() => {
            Ok(NewRequest {
                to,
                urgency,
                language,
                exercise,
                body,
            })
        }
        _ => Err(ApiError::invalid(errors)),
    }
}

/// Filters of `GET /v1/cases`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CaseFilter {
    role: Option<String>,
    state: Option<String>,
    kind: Option<String>,
    peer: Option<String>,
    urgency: Option<String>,
}

async fn list_cases(
    State(s): State<Arc<Shared>>,
    filter: std::result::Result<Query<CaseFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(f) = filter.map_err(|e| ApiError::bad(e.body_text()))?;
    if let Some(r) = &f.role {
        if r != "requester" && r != "requested" {
            return Err(ApiError::bad("role must be requester or requested"));
        }
    }
    let cases: Vec<Value> = s
        .store
        .cases()?
        .iter()
        .filter(|c| f.role.as_deref().is_none_or(|r| r == c.role.as_str()))
        .filter(|c| f.state.as_deref().is_none_or(|st| st == c.state.name()))
        .filter(|c| f.kind.as_deref().is_none_or(|k| k == c.kind.as_str()))
        .filter(|c| f.peer.as_deref().is_none_or(|p| p == c.peer().as_str()))
        .filter(|c| f.urgency.as_deref().is_none_or(|u| u == c.urgency.as_str()))
        .map(case_summary)
        .collect();
    Ok(Json(json!({ "cases": cases })))
}

/// A case without its messages.
pub fn case_summary(c: &CaseRecord) -> Value {
    let reason = match &c.state {
        crate::lifecycle::CaseState::Failed { reason } => Some(reason.clone()),
        _ => None,
    };
    json!({
        "case_ref": c.case_ref,
        "kind": c.kind,
        "role": c.role,
        "requester": c.requester,
        "requested": c.requested,
        "peer": c.peer(),
        "urgency": c.urgency,
        "language": c.language,
        "exercise": c.exercise,
        "state": c.state.name(),
        "failure_reason": reason,
        "opened_at": c.opened_at.rfc3339(),
        "updated_at": c.updated_at.rfc3339(),
        "messages": c.messages.len(),
    })
}

async fn show_case(
    State(s): State<Arc<Shared>>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    UrlPath(case_ref): UrlPath<String>,
) -> ApiResult<Json<Value>> {
    let case_ref = CaseRef::parse(&case_ref).map_err(|e| ApiError::bad(e.to_string()))?;
    let case = s
        .store
        .case(&case_ref)?
        .ok_or_else(|| NodeError::NotFound(format!("case {case_ref}")))?;
    // Every read of a case is an audit event (CIC 67-1(2)).
    s.store.audit(&AuditRecord {
        at: s.clock.now(),
        actor: Actor::Local { uid: caller.uid },
        event: "case_read".into(),
        case_ref: Some(case_ref.clone()),
        message_id: None,
    })?;
    tracing::info!(uid = ?caller.uid, case = %case_ref, "case read through the API");
    let directory = s.directory();
    let mut timeline = Vec::new();
    for id in &case.messages {
        if let Some(m) = s.store.message(*id)? {
            timeline.push(message_view(&m, &directory));
        }
    }
    let mut v = case_summary(&case);
    v["timeline"] = Value::Array(timeline);
    Ok(Json(v))
}

fn message_view(m: &StoredMessage, directory: &crate::directory::Directory) -> Value {
    let envelope: Option<Envelope> = SignedEnvelope::from_bytes(&m.envelope)
        .ok()
        .and_then(|s| codec::decode(&s.payload).ok());
    let (state, reason) = match &m.delivery {
        DeliveryState::Queued => ("queued", None),
        DeliveryState::Delivered => ("delivered", None),
        DeliveryState::Received => ("received", None),
        DeliveryState::Failed { reason } => ("failed", Some(reason.clone())),
    };
    let receipt = m.receipt.as_ref().map(|r| {
        let key = directory.get(&r.receipt.receiver).map(|e| e.signing_key);
        let verified = key.is_some_and(|k| {
            r.verify(
                &r.receipt.receiver,
                &k,
                m.id,
                &poc247_protocol::envelope_sha256(&m.envelope),
            )
            .is_ok()
        });
        json!({
            "receiver": r.receipt.receiver,
            "received_at": r.receipt.received_at.rfc3339(),
            "envelope_sha256": hex::encode(r.receipt.envelope_sha256),
            "receiver_key": key.map(|k| fingerprint(&k)),
            "verified": verified,
        })
    });
    let mut fields = BTreeMap::new();
    if let Some(e) = &envelope {
        fields.insert("in_reply_to", json!(e.header.in_reply_to));
        fields.insert("urgency", json!(e.header.urgency));
        fields.insert("language", json!(e.header.language));
        fields.insert("exercise", json!(e.header.exercise));
        fields.insert("body", e.body.to_json());
    }
    let mut v = json!({
        "id": m.id,
        "kind": m.kind,
        "direction": m.direction,
        "from": m.from,
        "to": m.to,
        "created_at": m.created_at.rfc3339(),
        "stored_at": m.stored_at.rfc3339(),
        "delivery": state,
        "failure_reason": reason,
        "receipt": receipt,
    });
    for (k, val) in fields {
        v[k] = val;
    }
    v
}

/// `GET /v1/events`: the node's events as server-sent events, `id` = the event's `seq`,
/// `data` = its JSON. The stream ends when the node stops.
async fn events(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let rx = s.subscribe();
    let cancel = s.cancel_token();
    let stream = futures_util::stream::unfold((rx, cancel), |(mut rx, cancel)| async move {
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => return None,
                r = rx.recv() => r,
            };
            match next {
                Ok(ev) => {
                    let data = serde_json::to_string(&ev).unwrap_or_default();
                    let item = Event::default().id(ev.seq.to_string()).data(data);
                    return Some((Ok::<_, std::convert::Infallible>(item), (rx, cancel)));
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "an event stream reader fell behind");
                    continue;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// First position.
    #[serde(default)]
    from: Option<u64>,
    /// Only entries at or after this time (RFC 3339, a date, or Unix ms).
    #[serde(default)]
    since: Option<String>,
    /// At most this many entries (default 10,000).
    #[serde(default)]
    limit: Option<usize>,
}

async fn audit_export(
    State(s): State<Arc<Shared>>,
    q: std::result::Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(|e| ApiError::bad(e.body_text()))?;
    let since = match q.since.as_deref() {
        None => 0,
        Some(t) => parse_time(t).ok_or_else(|| {
            ApiError::bad(format!(
                "since: {t:?} is not RFC 3339, a date, or Unix milliseconds"
            ))
        })?,
    };
    let limit = q.limit.unwrap_or(10_000).min(100_000);
    let entries: Vec<Value> = s
        .store
        .audit_entries(q.from.unwrap_or(1), usize::MAX)?
        .into_iter()
        .filter(|e| e.at.0 >= since)
        .take(limit)
        .map(|e| {
            json!({
                "seq": e.seq,
                "at": e.at.rfc3339(),
                "actor": e.actor,
                "event": e.event,
                "case_ref": e.case_ref,
                "message_id": e.message_id,
                "prev": hex::encode(e.prev),
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}

/// Parses RFC 3339, a date (`YYYY-MM-DD`, its first millisecond UTC) or Unix milliseconds.
pub fn parse_time(t: &str) -> Option<u64> {
    if let Ok(ms) = t.parse::<u64>() {
        return Some(ms);
    }
    if let Ok(d) = poc247_protocol::Date::parse(t) {
        return Some(d.start_utc_ms());
    }
    let odt =
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(odt.unix_timestamp_nanos() / 1_000_000).ok()
}

async fn audit_verify(State(s): State<Arc<Shared>>) -> ApiResult<Json<Value>> {
    let v = s.store.verify_audit(&s.signing.verifying_key())?;
    Ok(Json(json!(v)))
}
