//! The routes on cases: new requests, the case list and one case, the actions on a case,
//! recording a request that came another way, attachments (upload, fetch), `pending`, the
//! audit log, and a drill's clock.

use super::error::*;
use crate::attachments::Attachments;
use crate::audit::{Actor, AuditRecord};
use crate::error::NodeError;
use crate::handles::{Clocks, Identity};
use crate::lifecycle::CaseRecord;
use crate::operator::Ops;
use crate::outgoing::Cases;
use crate::outgoing::{ExternalRequest, Mode, NewRequest, Sent, SubmitError, WouldSend};
use crate::ready::Ready;
use crate::store::{DeliveryState, StoredMessage};
use crate::timers::Deadlines;
use axum::body::Bytes;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use poc247_api::{ActionBody, AttachmentRef, Recipients, RequestBody};
use poc247_api::{
    AuditEntryView, AuditPage, AuditVerification, CaseAnswer, CaseList, CaseSummary, CaseView,
    DrillMove, DrillMoved, DryRun, ExternalRecordView, MessageContent, MessageView, NoteFields,
    Pending, PendingItem, PurgeAnswer, PurgeFields, ReceiptView, RecordBody, ResendFields, Resent,
    SendMode, SubmittedCases, Uploaded,
};
use poc247_protocol::{
    codec, fingerprint, Body, CaseRef, Envelope, FieldError, Language, MessageKind, PartyId,
    Problem, SignedEnvelope, Urgency,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub(crate) async fn create_request(
    State(s): State<Cases>,
    State(attachments): State<Attachments>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (mut req, several, files, mode) = read_new_request(&body)?;
    let kind = req.body.kind();
    // Copied in before the request is stored; a refusal from here on deletes the copies.
    let intake = take_attachments(&s, &attachments, None, &mut req.body, files).await?;
    let mut done = match s
        .submit_with(req, Actor::Local { uid: caller.uid }, mode)
        .await?
    {
        Sent::Stored(done) => done,
        // Nothing stored: the copies of the attachments go with the intake.
        Sent::DryRun(would) => return Ok((StatusCode::OK, Json(json!(dry_run_answer(would))))),
    };
    if let Some(intake) = intake {
        keep(&s, intake, &submitted_ids(&s, &done));
    }
    for d in &done {
        tracing::info!(uid = caller.uid, case = %d.case_ref, kind = %kind, "request created through the API");
    }
    let body = match (several, done.len()) {
        (false, 1) => json!(done.remove(0)),
        _ => json!(SubmittedCases { cases: done }),
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// `{ "dry_run": true, "warnings": [ … ], "messages": [ … ] }`: what would be sent.
fn dry_run_answer(would: Vec<WouldSend>) -> DryRun {
    DryRun {
        case_ref: None,
        dry_run: true,
        state: None,
        warnings: would.iter().flat_map(|w| w.warnings.clone()).collect(),
        messages: would,
    }
}

/// The members `dry_run` and `confirm_warnings` of a request's or an action's body (each
/// `true` or `false`): how it is carried out, and each member of another type named (a 422
/// with the body's other faults).
fn send_mode(v: &serde_json::Map<String, Value>) -> (Mode, Vec<FieldError>) {
    let (mode, wrong) = SendMode::read(v);
    (mode_of(mode), wrong)
}

/// How a body's [`SendMode`] has it carried out.
fn mode_of(mode: SendMode) -> Mode {
    match (mode.dry_run, mode.confirm_warnings) {
        (true, _) => Mode::DryRun,
        (false, true) => Mode::Commit,
        (false, false) => Mode::ConfirmWarnings,
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Unconfirmed(warnings) => ApiError::unconfirmed(warnings),
            SubmitError::Invalid(fields) => ApiError::invalid(fields),
            SubmitError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            SubmitError::NoCase(c) => {
                ApiError::new(StatusCode::NOT_FOUND, "not-found", format!("no case {c}"))
            }
            SubmitError::Node(e) => e.into(),
        }
    }
}

/// Parses the body of `POST /v1/requests`:
/// `{ "kind", "to", "urgency", "language", "exercise"?, "fields": { … }, "attachments"? }`:
/// the request, whether `to` was a list, and the local files to attach (not read yet).
/// Every problem with the envelope fields and the body's fields is named at once.
pub fn parse_new_request(body: &[u8]) -> ApiResult<(NewRequest, bool, Vec<FileToAttach>)> {
    let (req, several, files, _) = read_new_request(body)?;
    Ok((req, several, files))
}

/// [`parse_new_request`], with how it is to be carried out (its `dry_run` and
/// `confirm_warnings`, typed with the rest).
fn read_new_request(body: &[u8]) -> ApiResult<(NewRequest, bool, Vec<FileToAttach>, Mode)> {
    let (req, body) = RequestBody::read(body)?;
    let several = matches!(req.to, Recipients::Several(_));
    let files = files_to_attach(req.attachments).map_err(|e| ApiError::invalid(vec![e]))?;
    Ok((
        NewRequest {
            to: req.to.parties(),
            urgency: req.urgency,
            language: req.language,
            exercise: req.exercise,
            language_override: req.language_override,
            subscriber_only_override: req.subscriber_only_override,
            body,
        },
        several,
        files,
        mode_of(req.mode),
    ))
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
    exercise: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

pub(crate) async fn list_cases(
    State(s): State<Cases>,
    filter: std::result::Result<Query<CaseFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<CaseList>> {
    let Query(mut f) = filter.map_err(|e| ApiError::bad(e.body_text()))?;
    // A value no case can have is refused, named, with the accepted ones: a typo must never
    // make the inbox look empty.
    let kinds: Vec<&str> = MessageKind::ALL.iter().map(|k| k.as_str()).collect();
    let mut wrong = Vec::new();
    for (name, given, accepted) in [
        ("role", &f.role, &["requester", "requested"][..]),
        ("state", &f.state, crate::lifecycle::CaseState::NAMES),
        ("kind", &f.kind, &kinds[..]),
        (
            "urgency",
            &f.urgency,
            &["emergency", "urgent", "routine"][..],
        ),
        ("exercise", &f.exercise, &["yes", "no", "true", "false"][..]),
    ] {
        if let Some(v) = given.as_deref().filter(|v| !accepted.contains(v)) {
            wrong.push(FieldError {
                field: name.into(),
                problem: Problem::Invalid(not_one_of(v, accepted)),
            });
        }
    }
    // Party codes are taken in any case (`fr` is FR).
    if let Some(p) = f.peer.as_mut() {
        match PartyId::parse(&p.to_ascii_uppercase()) {
            Ok(id) => *p = id.as_str().to_owned(),
            Err(e) => wrong.push(FieldError {
                field: "peer".into(),
                problem: Problem::Invalid(e.to_string()),
            }),
        }
    }
    if !wrong.is_empty() {
        return Err(ApiError::mistyped(wrong));
    }
    let limit = match f.limit {
        None => DEFAULT_PAGE,
        Some(n) if (1..=MAX_PAGE).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::mistyped(vec![FieldError {
                field: "limit".into(),
                problem: Problem::Invalid(format!("{n} is not from 1 to {MAX_PAGE}")),
            }]))
        }
    };
    let filters = format!(
        "{:?}",
        (&f.role, &f.state, &f.kind, &f.peer, &f.urgency, &f.exercise)
    );
    let after = match f.cursor.as_deref() {
        None => None,
        Some(c) => Some(cursor_open(&s, &filters, c).ok_or_else(|| {
            ApiError::mistyped(vec![FieldError {
                field: "cursor".into(),
                problem: Problem::Invalid(
                    "not a cursor this node gave for these filters: start again without it".into(),
                ),
            }])
        })?),
    };
    let wanted = |c: &CaseRecord| {
        f.role.as_deref().is_none_or(|r| r == c.role.as_str())
            && f.state.as_deref().is_none_or(|st| st == c.state.name())
            && f.kind.as_deref().is_none_or(|k| k == c.kind.as_str())
            && f.peer.as_deref().is_none_or(|p| p == c.peer().as_str())
            && f.urgency.as_deref().is_none_or(|u| u == c.urgency.as_str())
            && match f.exercise.as_deref() {
                Some("yes") | Some("true") => c.exercise,
                Some("no") | Some("false") => !c.exercise,
                _ => true,
            }
    };
    // One page, read a case at a time from the index of the role, the state or both (every
    // filter is still checked on the case); one match more tells whether there is a next page.
    let by = match (&f.role, &f.state) {
        (Some(r), Some(st)) => Some(("role_state", format!("{r}\0{st}"))),
        (None, Some(st)) => Some(("state", st.clone())),
        (Some(r), None) => Some(("role", r.clone())),
        (None, None) => None,
    };
    let found: Box<dyn Iterator<Item = crate::error::Result<CaseRecord>>> = match &by {
        Some((name, v)) => Box::new(s.store.cases_where(name, v, after.as_ref())),
        None => Box::new(s.store.cases_after(after.as_ref())),
    };
    let mut page: Vec<CaseRecord> = Vec::new();
    let mut more = false;
    for c in found {
        let c = c?;
        if !wanted(&c) {
            continue;
        }
        if page.len() == limit {
            more = true;
            break;
        }
        page.push(c);
    }
    let next = match page.last() {
        Some(last) if more => Some(cursor_for(&s, &filters, &last.case_ref)),
        _ => None,
    };
    Ok(Json(CaseList {
        cases: page.iter().map(case_summary).collect(),
        next_cursor: next,
    }))
}

/// Cases on one page of `GET /v1/cases` unless `limit` says otherwise.
const DEFAULT_PAGE: usize = 200;

/// The largest page.
const MAX_PAGE: usize = 1_000;

/// The key of this node's cursors: from its signing key, so another node's cursor, or a
/// forged one, does not open here.
fn cursor_mac(s: &Cases, filters: &str, case: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"poc247/v1/cursor\0");
    h.update(s.me.signing().to_bytes());
    h.update(filters.as_bytes());
    h.update([0]);
    h.update(case.as_bytes());
    hex::encode(&h.finalize()[..12])
}

/// An opaque cursor: the last case of a page, and a MAC over it and the filters.
fn cursor_for(s: &Cases, filters: &str, last: &CaseRef) -> String {
    cursor_token(s, filters, last.as_str())
}

/// The case a cursor continues after, if this node gave it for these filters.
fn cursor_open(s: &Cases, filters: &str, cursor: &str) -> Option<CaseRef> {
    CaseRef::parse(&cursor_payload(s, filters, cursor)?).ok()
}

/// An opaque cursor of any listing: where its page ended (`payload`), and a MAC over it and
/// the listing's name and filters (`filters`).
pub(crate) fn cursor_token(s: &Cases, filters: &str, payload: &str) -> String {
    format!(
        "{}.{}",
        hex::encode(payload),
        cursor_mac(s, filters, payload)
    )
}

/// Where a cursor says its page ended, if this node gave it for this listing and filters.
pub(crate) fn cursor_payload(s: &Cases, filters: &str, cursor: &str) -> Option<String> {
    let (case, mac) = cursor.split_once('.')?;
    let case = String::from_utf8(hex::decode(case).ok()?).ok()?;
    let want = cursor_mac(s, filters, &case);
    // The MAC is compared whole, byte for byte, whatever differs first.
    let same = want.len() == mac.len()
        && want
            .bytes()
            .zip(mac.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return None;
    }
    Some(case)
}

/// The 400 of a cursor this node did not give for this listing and these filters.
fn bad_cursor(why: &str) -> ApiError {
    ApiError::mistyped(vec![FieldError {
        field: "cursor".into(),
        problem: Problem::Invalid(why.into()),
    }])
}

/// A case without its messages.
pub fn case_summary(c: &CaseRecord) -> CaseSummary {
    let reason = match &c.state {
        crate::lifecycle::CaseState::Failed { reason } => Some(reason.clone()),
        crate::lifecycle::CaseState::AwaitingRequester { article } => Some(format!(
            "waiting for the requester to proceed or withdraw (art. {article})"
        )),
        _ => None,
    };
    let outcome = match &c.state {
        crate::lifecycle::CaseState::Decided { outcome } => Some(*outcome),
        _ => None,
    };
    CaseSummary {
        case_ref: c.case_ref.clone(),
        kind: c.kind,
        role: c.role,
        requester: c.requester.clone(),
        requested: c.requested.clone(),
        peer: c.peer().clone(),
        urgency: c.urgency,
        language: c.language.clone(),
        exercise: c.exercise,
        state: c.state.name().to_owned(),
        failure_reason: reason,
        outcome,
        opened_at: c.opened_at.rfc3339(),
        updated_at: c.updated_at.rfc3339(),
        messages: c.messages.len(),
        acknowledged_at: c.acknowledged_at.map(|t| t.rfc3339()),
        decided_at: c.decided_at.map(|t| t.rfc3339()),
        preserved_until: c.preserved_until,
        released: c.released,
        confirmation: c.confirmation,
        confirmation_required: c.context.confirmation_required,
        mla_basis: c.context.mla_basis,
        open_info_requests: c.open_info_requests.clone(),
        pending_conditions: c.pending_conditions,
        follow_up_mla: c.follow_up_mla.clone(),
        preservation_case: c.preservation_case.clone(),
        copy_case: c.copy_case.clone(),
        copy_of: c.copy_of.clone(),
        language_override: c.language_override,
        warnings: c.warnings.clone(),
        recorded_external: c.recorded_external.as_ref().map(|r| ExternalRecordView {
            channel: r.channel.clone(),
            received_at: r.received_at.rfc3339(),
            summary: r.summary.clone(),
            document_sha256: r.document_sha256.clone(),
            oral: r.oral,
        }),
    }
}

pub(crate) async fn show_case(
    State(s): State<Cases>,
    State(attachments): State<Attachments>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    UrlPath(case_ref): UrlPath<String>,
) -> ApiResult<Json<CaseView>> {
    // In any case: `lu-2026-000001` is LU-2026-000001.
    let case_ref =
        CaseRef::parse(&case_ref.to_ascii_uppercase()).map_err(|e| ApiError::bad(e.to_string()))?;
    let Some(case) = s.store.case(&case_ref)? else {
        if let Some((at, reason)) = s.store.purged_case(&case_ref)? {
            return Err(ApiError::new(
                StatusCode::GONE,
                "purged",
                format!(
                    "case {case_ref} was purged on {} on an officer's order (CIC 67-1(3)): {reason}",
                    at.rfc3339()
                ),
            ));
        }
        return Err(NodeError::NotFound(format!("case {case_ref}")).into());
    };
    // Every read of a case is an audit event (CIC 67-1(2)).
    s.store.audit(&AuditRecord {
        at: s.clocks.now(),
        actor: Actor::Local { uid: caller.uid },
        event: "case_read".into(),
        case_ref: Some(case_ref.clone()),
        message_id: None,
    })?;
    tracing::info!(uid = caller.uid, case = %case_ref, "case read through the API");
    let directory = s.directory();
    let mut timeline = Vec::new();
    for id in &case.messages {
        if let Some(m) = s.store.message(*id)? {
            let mut view = message_view(&m, &directory, &s.store);
            view.attachment_transfers = attachments.transfers(&m);
            timeline.push(view);
        }
    }
    Ok(Json(CaseView {
        case: case_summary(&case),
        timeline,
    }))
}

/// `GET /v1/cases/{ref}/export?attachments=hashes|files`: the case as one signed file
/// (`crate::export`).
pub(crate) async fn export_case(
    State(s): State<Cases>,
    State(attachments): State<Attachments>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    UrlPath(case_ref): UrlPath<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> ApiResult<Response> {
    use crate::export::{self, ExportError};
    let case_ref =
        CaseRef::parse(&case_ref.to_ascii_uppercase()).map_err(|e| ApiError::bad(e.to_string()))?;
    let with_files = export::with_files(&q).map_err(ApiError::bad)?;
    let cfg = s.me.cfg();
    let (directory, version) = (s.directory(), crate::peers::version_in_force(cfg).ok());
    let signing = s.me.signing();
    let src = export::Source {
        store: &s.store,
        attachments: &attachments,
        directory: &directory,
        version: version.flatten(),
        registry_key: Some(cfg.registry_key),
        party: s.me.party(),
        signing: &signing,
    };
    let actor = Actor::Local { uid: caller.uid };
    match export::export(
        &src,
        &case_ref,
        with_files,
        actor,
        s.clocks.now(),
        |c: &CaseRecord| json!(case_summary(c)),
    )
    .await
    {
        Ok(b) => Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], b).into_response()),
        Err(ExportError::TooLarge(m)) => {
            Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", m))
        }
        Err(ExportError::Node(e)) => Err(e.into()),
    }
}

fn message_view(
    m: &StoredMessage,
    directory: &crate::peers::directory::Directory,
    store: &crate::store::Store,
) -> MessageView {
    let envelope: Option<Envelope> = SignedEnvelope::from_bytes(&m.envelope)
        .ok()
        .and_then(|s| codec::decode(&s.payload).ok());
    let (state, reason) = match &m.delivery {
        DeliveryState::Queued => ("queued", None),
        DeliveryState::Delivered => ("delivered", None),
        DeliveryState::Received => ("received", None),
        DeliveryState::Failed { reason } => ("failed", Some(reason.clone())),
        DeliveryState::Local => ("recorded", None),
    };
    let receipt = m.receipt.as_ref().map(|r| {
        // The receiver's key now, then every key of it this node has seen: a receipt stays
        // verified after the receiver changes its key.
        let mut keys: Vec<poc247_protocol::VerifyingKey> = directory
            .get(&r.receipt.receiver)
            .map(|e| e.keys.iter().map(|w| w.value).collect())
            .unwrap_or_default();
        let sha = poc247_protocol::envelope_sha256(&m.envelope);
        if !keys
            .iter()
            .any(|k| r.verify(&r.receipt.receiver, k, m.id, &sha).is_ok())
        {
            keys.extend(store.peer_keys(&r.receipt.receiver).unwrap_or_default());
        }
        let signer = keys
            .iter()
            .find(|k| r.verify(&r.receipt.receiver, k, m.id, &sha).is_ok());
        let verified = signer.is_some();
        let key = signer.or(keys.first()).copied();
        ReceiptView {
            receiver: r.receipt.receiver.clone(),
            received_at: r.receipt.received_at.rfc3339(),
            envelope_sha256: hex::encode(r.receipt.envelope_sha256),
            receiver_key: key.map(|k| fingerprint(&k)),
            verified,
        }
    });
    MessageView {
        id: m.id,
        kind: m.kind,
        direction: m.direction,
        from: m.from.clone(),
        to: m.to.clone(),
        created_at: m.created_at.rfc3339(),
        stored_at: m.stored_at.rfc3339(),
        delivery: state.to_owned(),
        failure_reason: reason,
        purged: m.envelope.is_empty(),
        receipt,
        content: envelope.map(|e| MessageContent {
            body: match e.body.to_json() {
                Value::Object(fields) => fields,
                _ => serde_json::Map::new(),
            },
            exercise: e.header.exercise,
            in_reply_to: e.header.in_reply_to,
            language: e.header.language,
            urgency: e.header.urgency,
        }),
        attachment_transfers: Vec::new(),
    }
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
    /// Where the page before ended (its `next_cursor`); `from` is then not given.
    #[serde(default)]
    cursor: Option<String>,
}

pub(crate) async fn audit_export(
    State(s): State<Cases>,
    q: std::result::Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<AuditPage>> {
    let Query(q) = q.map_err(|e| ApiError::bad(e.body_text()))?;
    let since = match q.since.as_deref() {
        None => 0,
        Some(t) => parse_time(t).ok_or_else(|| {
            ApiError::bad(format!(
                "since: {t:?} is not RFC 3339, a date, or Unix milliseconds"
            ))
        })?,
    };
    let limit = q.limit.unwrap_or(10_000).clamp(1, 100_000);
    let filters = format!("audit {:?}", q.since);
    let from =
        match (q.cursor.as_deref(), q.from) {
            (None, from) => from.unwrap_or(1),
            (Some(_), Some(_)) => return Err(ApiError::bad(
                "from and cursor: a cursor says where the next page starts, give one or the other",
            )),
            (Some(c), None) => cursor_payload(&s, &filters, c)
                .and_then(|p| p.parse::<u64>().ok())
                .ok_or_else(|| {
                    bad_cursor("not a cursor this node gave for this since: start again without it")
                })?,
        };
    // Read one entry at a time from `from`, as far as the page needs and one more.
    let mut page = Vec::new();
    let mut next = None;
    for e in s.store.audit_from(from) {
        let e = e?;
        if e.at.0 < since {
            continue;
        }
        if page.len() == limit {
            next = Some(cursor_token(&s, &filters, &e.seq.to_string()));
            break;
        }
        page.push(e);
    }
    let entries = page
        .into_iter()
        .map(|e| AuditEntryView {
            seq: e.seq,
            at: e.at.rfc3339(),
            actor: e.actor,
            event: e.event,
            case_ref: e.case_ref,
            message_id: e.message_id,
            prev: hex::encode(e.prev),
        })
        .collect();
    Ok(Json(AuditPage {
        entries,
        next_cursor: next,
    }))
}

pub(crate) async fn audit_verify(State(s): State<Cases>) -> ApiResult<Json<AuditVerification>> {
    let v = s.store.verify_audit(&s.me.signing().verifying_key())?;
    Ok(Json(v))
}

/// `POST /v1/cases/{ref}/{action}`: `{ "fields", "in_reply_to"?, "language"?,
/// "language_override"? }` → 201 with the message queued; `close` → 200.
pub(crate) async fn case_action(
    State(s): State<Cases>,
    State(attachments): State<Attachments>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    UrlPath((case_ref, action)): UrlPath<(String, String)>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // In any case: `lu-2026-000001` is LU-2026-000001.
    let case_ref =
        CaseRef::parse(&case_ref.to_ascii_uppercase()).map_err(|e| ApiError::bad(e.to_string()))?;
    // One list of actions for the API and the CLI; either's name, in any case.
    let Some(found) = poc247_protocol::Action::find(&action) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!(
                "no action on a case: {}",
                not_one_of(&action, &poc247_protocol::Action::names())
            ),
        ));
    };
    let action = found.name;
    let actor = Actor::Local { uid: caller.uid };
    let map = ActionBody::members(&body)?;
    let (mode, mode_errors) = send_mode(&map);
    if !mode_errors.is_empty() && found.kind.is_none() {
        return Err(ApiError::invalid(mode_errors));
    }
    if action == "purge" {
        // CIC 67-1(3): data about persons not targeted are removed and destroyed; the audit
        // log keeps that it happened and why. Nothing is guessed: the target is named, and a
        // member misspelt or of the wrong type refuses the whole order.
        let mut order = purge_order(map.get("fields"))?;
        order.dry_run |= mode == Mode::DryRun;
        let (reason, message, attachment) =
            (order.reason.as_str(), order.message, order.attachment);
        use crate::attachments::{self as att, PurgeTarget};
        let (target, what) = match (message, attachment) {
            (Some(id), _) => (
                PurgeTarget::Message(&case_ref, id),
                format!("message {id} in case {case_ref}"),
            ),
            (None, Some(sha)) => (
                PurgeTarget::Attachment(&case_ref, sha),
                format!(
                    "attachment {} in case {case_ref}",
                    poc247_protocol::sha256_hex(&sha)
                ),
            ),
            (None, None) => (PurgeTarget::Case(&case_ref), format!("case {case_ref}")),
        };
        if order.dry_run {
            let case = s
                .store
                .case(&case_ref)?
                .ok_or_else(|| NodeError::NotFound(format!("case {case_ref}")))?;
            let found = match (message, attachment) {
                (Some(id), _) => case.messages.contains(&id),
                (None, Some(sha)) => att::case_lists(&s.store, &case, &sha)?,
                (None, None) => true,
            };
            if !found {
                return Err(NodeError::NotFound(what).into());
            }
            return Ok((
                StatusCode::OK,
                Json(json!(PurgeAnswer {
                    case_ref,
                    dry_run: Some(true),
                    purged: false,
                    would_purge: Some(what),
                    messages: Some(match message {
                        Some(id) => vec![id],
                        None if attachment.is_some() => Vec::new(),
                        None => case.messages.clone(),
                    }),
                })),
            ));
        }
        let now = s.clocks.now();
        if !att::purge(&s.store, &attachments, target, reason, actor, now).await? {
            return Err(NodeError::NotFound(what).into());
        }
        // The purge flushed its own write.
        let ready = Ready::flushed().notice(
            crate::events::EventKind::Purged,
            Some(case_ref.clone()),
            None,
            None,
            None,
        );
        s.apply(ready).await?;
        return Ok((
            StatusCode::OK,
            Json(json!(PurgeAnswer {
                case_ref,
                dry_run: None,
                purged: true,
                would_purge: None,
                messages: None,
            })),
        ));
    }
    if mode == Mode::DryRun && (action == "resend" || action == "notified") {
        return Err(ApiError::mistyped(vec![FieldError {
            field: "dry_run".into(),
            problem: Problem::Invalid(format!("{action} sends nothing new: it has no dry run")),
        }]));
    }
    if action == "resend" {
        return resend(&s, &case_ref, &map, actor).await;
    }
    if action == "notified" {
        // CIC 67-1: the person concerned by a tracing was informed; recorded with the note,
        // and the deadline to inform is settled.
        let note = NoteFields::read(&map, "notified")?.note;
        let case = s
            .record_tracing_notice(&case_ref, actor, note.as_deref())
            .await?;
        return Ok((
            StatusCode::OK,
            Json(json!(CaseAnswer {
                case_ref: case.case_ref,
                state: case.state.name().to_owned(),
                notified: Some(true),
            })),
        ));
    }
    if action == "close" {
        // Closing takes a note and nothing else: a member given anyway was meant for
        // something else, and the close is not made on a guess.
        let note = NoteFields::read(&map, "close")?.note;
        if mode == Mode::DryRun {
            let mut case = s
                .store
                .case(&case_ref)?
                .ok_or_else(|| NodeError::NotFound(format!("case {case_ref}")))?;
            case.close(s.clocks.now())
                .map_err(|e| SubmitError::Conflict(e.to_string()))?;
            return Ok((
                StatusCode::OK,
                Json(json!(DryRun {
                    case_ref: Some(case.case_ref),
                    dry_run: true,
                    state: Some(case.state.name().to_owned()),
                    warnings: Vec::new(),
                    messages: Vec::new(),
                })),
            ));
        }
        let case = s.close_case(&case_ref, actor, note.as_deref()).await?;
        return Ok((
            StatusCode::OK,
            Json(json!(CaseAnswer {
                case_ref: case.case_ref,
                state: case.state.name().to_owned(),
                notified: None,
            })),
        ));
    }
    let kind = found.kind.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no action {action:?} on a case"),
        )
    })?;
    let (action_body, mut body) = ActionBody::read(&map, kind, mode_errors)?;
    let (in_reply_to, language, language_override) = (
        action_body.in_reply_to,
        action_body.language,
        action_body.language_override,
    );
    let files = files_to_attach(action_body.attachments).map_err(|e| ApiError::invalid(vec![e]))?;
    // Copied in before the message is stored; a refusal from here on deletes the copies.
    let intake = take_attachments(&s, &attachments, Some(&case_ref), &mut body, files).await?;
    let sent = s
        .respond_with(
            &case_ref,
            body,
            in_reply_to,
            language,
            language_override,
            actor,
            mode,
        )
        .await?;
    let done = match sent {
        Sent::DryRun(would) => return Ok((StatusCode::OK, Json(json!(dry_run_answer(would))))),
        Sent::Stored(mut done) => done
            .pop()
            .ok_or_else(|| SubmitError::Conflict("nothing sent".into()))?,
    };
    if let Some(intake) = intake {
        keep(&s, intake, &[done.message_id]);
    }
    tracing::info!(uid = caller.uid, case = %case_ref, kind = %kind, "response created through the API");
    Ok((StatusCode::CREATED, Json(json!(done))))
}

/// `GET /v1/cases/{ref}/attachments/{sha256}`: the bytes of an attachment a message of the
/// case lists and this node holds complete (sent or received and verified), streamed.
pub(crate) async fn fetch_attachment(
    State(s): State<Cases>,
    State(attachments): State<Attachments>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    UrlPath((case_ref, sha)): UrlPath<(String, String)>,
) -> ApiResult<Response> {
    use crate::attachments as att;
    // In any case: `lu-2026-000001` is LU-2026-000001.
    let case_ref =
        CaseRef::parse(&case_ref.to_ascii_uppercase()).map_err(|e| ApiError::bad(e.to_string()))?;
    let hash = poc247_protocol::parse_sha256_hex(&sha)
        .ok_or_else(|| ApiError::bad("the attachment is named by 64 lowercase hex digits"))?;
    let case = s
        .store
        .case(&case_ref)?
        .ok_or_else(|| NodeError::NotFound(format!("case {case_ref}")))?;
    // A message of the case that lists it and whose copy was not purged; or when it was.
    let mut listing = None;
    let mut purged = None;
    for id in &case.messages {
        if let Some(at) = attachments.purged_at(*id, &hash)? {
            purged = Some(at);
            continue;
        }
        if let Some(m) = s.store.message(*id)? {
            if att::body_of(&m.envelope)
                .is_some_and(|b| att::listed(&b).iter().any(|a| a.sha256 == sha))
            {
                listing = Some(m.id);
                break;
            }
        }
    }
    let not_found = || NodeError::NotFound(format!("attachment {sha} in case {case_ref}"));
    let id = match (listing, purged) {
        (Some(id), _) => id,
        (None, Some(at)) => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "purged",
                format!(
                    "attachment {sha} of case {case_ref} was purged on {} (CIC 67-1(3))",
                    at.rfc3339()
                ),
            ))
        }
        (None, None) => return Err(not_found().into()),
    };
    let rec = attachments.record(&hash)?.ok_or_else(not_found)?;
    let file = tokio::fs::File::open(attachments.path(&hash))
        .await
        .map_err(|_| not_found())?;
    s.store.audit(&AuditRecord {
        at: s.clocks.now(),
        actor: Actor::Local { uid: caller.uid },
        event: format!("attachment_read:{sha}"),
        case_ref: Some(case_ref.clone()),
        message_id: Some(id),
    })?;
    s.apply(Ready::after_flush()).await?;
    let stream = futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; att::CHUNK];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    Ok((
        StatusCode::OK,
        [
            ("content-type", "application/octet-stream".to_owned()),
            ("content-length", rec.size.to_string()),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

fn attachment_error(why: impl Into<String>) -> ApiError {
    ApiError::invalid(vec![FieldError {
        field: "attachments".into(),
        problem: Problem::Invalid(why.into()),
    }])
}

/// A file to attach, from a top-level `"attachments"` member: a file uploaded through
/// `POST /v1/uploads`, or an absolute path on the node's host with the SHA-256 the caller
/// computed, if it sent one, that the node's copy must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileToAttach {
    /// A file the node reads itself.
    Path {
        /// The file.
        path: std::path::PathBuf,
        /// Its SHA-256 as the caller saw it.
        sha256: Option<[u8; 32]>,
    },
    /// A file uploaded through the socket.
    Upload {
        /// Its SHA-256, as the upload answered.
        sha256: [u8; 32],
        /// The name to list it under, if not the one it was uploaded with.
        name: Option<String>,
    },
}

/// The files to attach, as read ([`AttachmentRef::read_list`]), as the intake takes them.
fn files_to_attach(
    given: Vec<AttachmentRef>,
) -> std::result::Result<Vec<FileToAttach>, FieldError> {
    let sha = |h: &str| {
        poc247_protocol::parse_sha256_hex(h).ok_or_else(|| FieldError {
            field: "attachments".into(),
            problem: Problem::Invalid(format!("{h:?}: 64 lowercase hexadecimal digits, a SHA-256")),
        })
    };
    given
        .into_iter()
        .map(|a| match a {
            AttachmentRef::Path(p) => Ok(FileToAttach::Path {
                path: p.into(),
                sha256: None,
            }),
            AttachmentRef::Upload { upload, name } => Ok(FileToAttach::Upload {
                sha256: sha(&upload)?,
                name,
            }),
            AttachmentRef::Hashed { path, sha256 } => Ok(FileToAttach::Path {
                path: path.into(),
                sha256: sha256.as_deref().map(sha).transpose()?,
            }),
        })
        .collect()
}

/// `POST /v1/drill/advance`: `{ "days"?, "hours"? }` moves a drill node's clock forward,
/// audited (`drill_clock_advanced:+<ms>`), stored before the answer so that a restart never
/// runs it back, and the deadlines come due at once. A node not in drill mode refuses (409):
/// a real node's clock is never moved.
pub(crate) async fn drill_advance(
    State(s): State<Cases>,
    State(deadlines): State<Deadlines>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    body: Bytes,
) -> ApiResult<Json<DrillMoved>> {
    let Some(drill) = s.clocks.drill().cloned() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not-a-drill-node",
            format!(
                "{} is not a drill node ([drill] enabled = false in its node.toml): a real \
                 node's clock is never moved",
                s.me.party()
            ),
        ));
    };
    let by_ms = DrillMove::read(&body)?.ms();
    let offset = drill.offset_ms().saturating_add(by_ms);
    let rec = AuditRecord {
        at: s.clocks.now(),
        actor: Actor::Local { uid: caller.uid },
        event: format!("drill_clock_advanced:+{by_ms}ms"),
        case_ref: None,
        message_id: None,
    };
    s.store.set_drill_offset(offset, &rec).await?;
    drill.advance(by_ms);
    tracing::warn!(by_ms, offset_ms = offset, "drill clock moved forward");
    deadlines.kick();
    Ok(Json(DrillMoved {
        party: s.me.party().clone(),
        moved_ms: by_ms,
        clock_offset_ms: drill.offset_ms(),
        now: s.clocks.now().rfc3339(),
    }))
}

/// `resend`: `{ "fields": { "message_id" } }`, a message of the case this node sent and the
/// peer refused for good, queued again (signed again with a fresh time when it goes).
async fn resend(
    s: &Cases,
    case_ref: &CaseRef,
    map: &serde_json::Map<String, Value>,
    actor: Actor,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = ResendFields::read(map)?.message_id;
    if s.store.message(id)?.is_none_or(|m| &m.case_ref != case_ref) {
        return Err(NodeError::NotFound(format!("message {id} in case {case_ref}")).into());
    }
    let now = s.clocks.now();
    let (msg, reason) = match s.store.requeue(id, actor, now).await? {
        Ok(r) => r,
        Err(why) => return Err(ApiError::new(StatusCode::CONFLICT, "conflict", why)),
    };
    // The store flushed the requeue.
    let ready = Ready::flushed()
        .notice(
            crate::events::EventKind::Queued,
            Some(msg.case_ref.clone()),
            Some(id),
            Some(msg.kind),
            Some(msg.to.clone()),
        )
        .send(msg.to.clone(), id);
    s.apply(ready).await?;
    Ok((
        StatusCode::OK,
        Json(json!(Resent {
            case_ref: msg.case_ref,
            message_id: id,
            delivery: "queued".to_owned(),
            had_failed: reason,
        })),
    ))
}

/// A purge order, as its typed body names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeOrder {
    /// Why (kept in the audit log).
    pub reason: String,
    /// The message whose content goes (target `message`).
    pub message: Option<poc247_protocol::MessageId>,
    /// The attachment that goes (target `attachment`).
    pub attachment: Option<[u8; 32]>,
    /// Say what would go, and erase nothing.
    pub dry_run: bool,
}

/// Reads a purge's `fields` ([`PurgeFields::read`]): `target` (`case`, `message` or
/// `attachment`) and `reason` required, `message_id` with target `message` and `attachment`
/// with target `attachment` only, `dry_run` a boolean. An unknown member or one of the wrong
/// type is a 400, a missing or unacceptable value a 422; either way every member at fault is
/// named at once.
pub fn purge_order(fields: Option<&Value>) -> ApiResult<PurgeOrder> {
    let f = PurgeFields::read(fields)?;
    Ok(PurgeOrder {
        reason: f.reason,
        message: f.message_id,
        attachment: f
            .attachment
            .as_deref()
            .and_then(poc247_protocol::parse_sha256_hex),
        dry_run: f.dry_run,
    })
}

/// A refused intake: 507 when this node's disk refused it, else 422 naming the file.
fn intake_error(e: crate::attachments::IntakeError) -> ApiError {
    match e {
        crate::attachments::IntakeError::Disk(m) => ApiError::from(NodeError::Storage(m)),
        other => attachment_error(other.to_string()),
    }
}

/// Whether every key and value of a query string is UTF-8 once percent-decoded.
fn query_is_utf8(query: &str) -> bool {
    query.split(['&', '=']).all(|part| {
        let bytes = part.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            let hex = |c: u8| (c as char).to_digit(16);
            match (
                b,
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (b'%', Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                (b'+', _, _) => {
                    out.push(b' ');
                    i += 1;
                }
                (b, _, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        std::str::from_utf8(&out).is_ok()
    })
}

/// Query of `POST /v1/uploads`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file's name, as messages will list it.
    name: Option<String>,
}

/// `POST /v1/uploads?name=…`: the body is a file's bytes. Stored under the node's attachments
/// folder while hashed, and held for a submission to list it as `{ "upload": "<sha256>" }`.
/// A `Content-Length` over `[attachments] max_file_bytes` is refused before the body is read.
pub(crate) async fn upload(
    State(me): State<Identity>,
    State(clocks): State<Clocks>,
    State(attachments): State<Attachments>,
    q: std::result::Result<
        axum::extract::Query<UploadQuery>,
        axum::extract::rejection::QueryRejection,
    >,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let named = q
        .map_err(|e| ApiError::bad(e.body_text()))
        .and_then(|axum::extract::Query(q)| {
            // The query's decoder replaces bytes that are not UTF-8: a name would be stored
            // other than it was sent. Refused instead.
            if !query_is_utf8(uri.query().unwrap_or_default()) {
                return Err(attachment_error(
                    "name: not valid UTF-8 once percent-decoded".to_owned(),
                ));
            }
            poc247_api::bodies::file_name(q.name.as_deref()).map_err(attachment_error)
        });
    let name = match named {
        Ok(n) => n,
        Err(e) => return Err(drained(body, announced, e).await),
    };
    let max = me.cfg().attachments.max_file_bytes;
    // Refused on its head, before a byte of the body is read (the client can check the limit
    // beforehand: it is in the status).
    if let Some(n) = announced.filter(|n| *n > max) {
        return Err(attachment_error(format!(
            "{name}: {n} bytes is over the limit of {max} bytes per file"
        )));
    }
    let up = attachments
        .upload(body.into_data_stream(), max, name, clocks.now())
        .await
        .map_err(intake_error)?;
    tracing::info!(sha256 = %up.sha256, size = up.size, "file uploaded");
    Ok((
        StatusCode::CREATED,
        Json(json!(Uploaded {
            upload: up.sha256,
            size: up.size,
            name: up.name,
            keep_until: up.keep_until.rfc3339(),
        })),
    ))
}

/// A body of at most this many bytes is read and dropped before an upload is refused for its
/// query (its name): a client still writing it then reads the answer, not a closed connection.
const DRAIN_MAX: u64 = 8 << 20;

/// Reads and drops up to [`DRAIN_MAX`] bytes of `body` (none if it announced more), then
/// gives back `e`.
async fn drained(body: axum::body::Body, announced: Option<u64>, e: ApiError) -> ApiError {
    use futures_util::StreamExt;
    if announced.is_some_and(|n| n > DRAIN_MAX) {
        return e;
    }
    let mut stream = body.into_data_stream();
    let mut read = 0u64;
    while let Some(Ok(piece)) = stream.next().await {
        read += piece.len() as u64;
        if read > DRAIN_MAX {
            break;
        }
    }
    e
}

/// The local files of a message, before it is stored: checked against the limits (with the
/// bytes the case's messages list already, for a case) before anything is read, then hashed
/// and copied into the node's folder and listed in the body. The intake returned must be
/// kept once the message is stored; dropped, it deletes the copies nothing else needs.
async fn take_attachments(
    s: &Cases,
    attachments: &Attachments,
    case_ref: Option<&CaseRef>,
    body: &mut Body,
    files: Vec<FileToAttach>,
) -> ApiResult<Option<crate::attachments::Intake>> {
    use crate::attachments::{self as att, IntakeError};
    if !att::listed(body).is_empty() {
        return Err(attachment_error(
            "list files by their path in the top-level \"attachments\" member",
        ));
    }
    if files.is_empty() {
        return Ok(None);
    }
    let kind = body.kind();
    let Some(list) = att::listed_mut(body) else {
        return Err(attachment_error(if kind == MessageKind::InformationOffer {
            "an information offer carries the conditions, not the information (art. 26(2)): \
             attach the files to the spontaneous information sent once they are accepted"
                .to_owned()
        } else {
            format!(
                "a {kind} carries no attachments; requests, results and traffic data \
                 disclosures do"
            )
        }));
    };
    let already = match case_ref {
        Some(c) => {
            let case = s
                .store
                .case(c)?
                .ok_or_else(|| NodeError::NotFound(format!("case {c}")))?;
            att::case_bytes(&s.store, &case)?
        }
        None => 0,
    };
    // Uploads are taken over first (they are held already); each local file is opened if
    // `[attachments] read_from` allows it; then the limits are checked on every file's size,
    // before any byte is read.
    let mut intake = attachments.intake();
    let mut items = Vec::with_capacity(files.len());
    let mut paths = Vec::new();
    for (at, f) in files.into_iter().enumerate() {
        match f {
            FileToAttach::Upload { sha256, name } => items.push(att::Item::Held(
                intake
                    .adopt(&sha256, name)
                    .map_err(|e| attachment_error(e.to_string()))?,
            )),
            // Put back at its place in the list once opened, in order.
            FileToAttach::Path { path, sha256 } => paths.push((at, path, sha256)),
        }
    }
    let limits = s.me.cfg().attachments.clone();
    let local = att::LocalFiles::new(s.me.cfg());
    let (intake, refs) = tokio::task::spawn_blocking(move || {
        let opened = paths.into_iter().try_for_each(|(at, path, sha256)| {
            let f = local.open(&path, sha256)?;
            items.insert(at.min(items.len()), att::Item::Local(f));
            Ok::<_, IntakeError>(())
        });
        let refs = opened
            .and_then(|()| att::check_limits(&items, already, &limits))
            .and_then(|()| {
                items
                    .into_iter()
                    .map(|item| match item {
                        att::Item::Held(r) => Ok(r),
                        att::Item::Local(f) => {
                            let (path, sha256) = (f.path.clone(), f.sha256);
                            let r = intake.copy_blocking(f)?;
                            match sha256.map(|h| poc247_protocol::sha256_hex(&h)) {
                                Some(expected) if expected != r.sha256 => {
                                    Err(IntakeError::Io(format!(
                                        "{}: its SHA-256 is {}, not {expected} as the sender \
                                     computed it: the file changed meanwhile",
                                        path.display(),
                                        r.sha256
                                    )))
                                }
                                _ => Ok(r),
                            }
                        }
                    })
                    .collect::<std::result::Result<Vec<_>, IntakeError>>()
            });
        (intake, refs)
    })
    .await
    .map_err(|e| ApiError::from(NodeError::Storage(e.to_string())))?;
    *list = refs.map_err(intake_error)?;
    Ok(Some(intake))
}

/// The submission is stored: its copies are linked to the messages that list them. A link
/// that cannot be written is logged; the next start links it from the stored message.
fn keep(s: &Cases, intake: crate::attachments::Intake, ids: &[poc247_protocol::MessageId]) {
    if let Err(e) = intake.keep(ids, s.clocks.now()) {
        tracing::error!(error = %e, "cannot link attachments to their message");
    }
}

/// The messages a submission stored: each case's request and, where the request was copied
/// to the central authority (art. 27(9)(a)), the copy's.
fn submitted_ids(
    s: &Cases,
    done: &[crate::outgoing::Submitted],
) -> Vec<poc247_protocol::MessageId> {
    let mut ids = Vec::new();
    for d in done {
        ids.push(d.message_id);
        let copy = s
            .store
            .case(&d.case_ref)
            .ok()
            .flatten()
            .and_then(|c| c.copy_case);
        if let Some(copy) = copy.and_then(|c| s.store.case(&c).ok().flatten()) {
            ids.extend(copy.messages);
        }
    }
    ids
}

/// `POST /v1/cases`: `{ "record_external": { channel, received_at, from, kind, urgency,
/// language, summary, document_sha256?, oral?, exercise? } }`.
pub(crate) async fn create_case(
    State(s): State<Cases>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (body, received_at) = RecordBody::read(&body, parse_time)?;
    let r = body.record_external;
    let req = ExternalRequest {
        channel: r.channel,
        received_at: received_at.unwrap_or_else(|| s.clocks.now()),
        from: r.from,
        kind: r.kind,
        urgency: r.urgency.unwrap_or(Urgency::Urgent),
        language: match r.language {
            Some(l) => l,
            None => Language::parse("en").map_err(|e| ApiError::bad(e.to_string()))?,
        },
        summary: r.summary,
        document_sha256: r.document_sha256,
        oral: r.oral,
        exercise: r.exercise,
    };
    let case = s
        .record_external(req, Actor::Local { uid: caller.uid })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!(CaseAnswer {
            case_ref: case.case_ref,
            state: case.state.name().to_owned(),
            notified: None,
        })),
    ))
}

/// The filters of `GET /v1/pending`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingFilter {
    /// `us`, `them`, or a Party's code: only what that side owes.
    owed_by: Option<String>,
    /// Only what is overdue (`true`), or only what is not yet (`false`).
    overdue: Option<bool>,
    /// At most this many, soonest first (default 200).
    limit: Option<usize>,
    /// Where the page before ended (its `next_cursor`).
    cursor: Option<String>,
}

/// Deadlines on one page of `GET /v1/pending` unless `limit` says otherwise.
const PENDING_PAGE: usize = 200;

/// Who a `pending` item must be owed by.
enum OwedBy {
    Us,
    Them,
    Party(poc247_protocol::PartyId),
}

impl PendingFilter {
    fn owed_by(&self) -> ApiResult<Option<OwedBy>> {
        let Some(o) = self.owed_by.as_deref() else {
            return Ok(None);
        };
        Ok(Some(match o {
            "us" => OwedBy::Us,
            "them" => OwedBy::Them,
            p => OwedBy::Party(poc247_protocol::PartyId::parse(p).map_err(|_| {
                ApiError::bad(format!(
                    "owed_by: {p:?} is neither us, them nor a Party's code"
                ))
            })?),
        }))
    }
}

/// `GET /v1/pending`: every open obligation across all cases, soonest first, with what is
/// owed, by whom, whether it is overdue, and the command that settles it; filtered by who owes
/// it and whether it is overdue, and cut at `limit` (`total` counts all that match).
pub(crate) async fn pending(
    State(s): State<Cases>,
    State(deadlines): State<Deadlines>,
    State(ops): State<Ops>,
    filter: std::result::Result<Query<PendingFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Pending>> {
    let Query(f) = filter.map_err(|e| ApiError::bad(e.body_text()))?;
    let owed_by_filter = f.owed_by()?;
    if f.limit == Some(0) {
        return Err(ApiError::bad("limit: must be at least 1"));
    }
    let filters = format!("pending {:?}", (&f.owed_by, f.overdue));
    let after = match f.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            cursor_payload(&s, &filters, c)
                .and_then(|p| {
                    let mut parts = p.splitn(3, '\0');
                    let due = parts.next()?.parse().ok()?;
                    let case = CaseRef::parse(parts.next()?).ok()?;
                    Some((poc247_protocol::UtcMs(due), case, parts.next()?.to_owned()))
                })
                .ok_or_else(|| {
                    bad_cursor(
                        "not a cursor this node gave for these filters: start again without it",
                    )
                })?,
        ),
    };
    let limit = f.limit.unwrap_or(PENDING_PAGE);
    // The timer task's board, once it holds every change made before this request.
    deadlines.catch_up().await;
    let now = s.clocks.now();
    let me = s.me.party().clone();
    // Counted on the board; only the page is copied out of it.
    let (total, page, more) = deadlines.board().page(
        |owed_by, due| {
            let owed = match &owed_by_filter {
                None => true,
                Some(OwedBy::Us) => *owed_by == me,
                Some(OwedBy::Them) => *owed_by != me,
                Some(OwedBy::Party(p)) => owed_by == p,
            };
            owed && f.overdue.is_none_or(|o| o == (due <= now))
        },
        after.as_ref(),
        Some(limit),
    );
    let next = match page.last() {
        Some(last) if more => {
            let (due, case, label) = last.position();
            Some(cursor_token(
                &s,
                &filters,
                &format!("{}\0{case}\0{label}", due.0),
            ))
        }
        _ => None,
    };
    let mut items = Vec::with_capacity(page.len());
    for d in page {
        items.push(PendingItem {
            case_ref: d.case_ref.clone(),
            track: d.track,
            label: d.label.to_string(),
            due: d.due.rfc3339(),
            due_ms: d.due.0,
            overdue: d.due <= now,
            owed_by: d.owed_by.clone(),
            owed_by_us: d.owed_by == *s.me.party(),
            what: d.what.to_string(),
            settle: d.settle.to_string(),
            escalation: d.escalation,
            exercise: d.exercise,
        });
    }
    Ok(Json(Pending {
        now: now.rfc3339(),
        alarms: super::operator::alarms(s.me.cfg(), &ops),
        total,
        pending: items,
        next_cursor: next,
    }))
}
