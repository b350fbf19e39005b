//! This node's own messages: a new request (routed by the directory's declarations), a
//! response in a case (allowed by the lifecycle), closing a case, and recording a request
//! that came by another channel. Each is validated, signed, stored with its outbox entry in
//! one transaction and flushed before the caller hears "queued".

use crate::audit::{Actor, AuditRecord};
use crate::error::NodeError;
use crate::events::EventKind;
use crate::handles::{Clocks, DeliveryCmd, DirectoryHandle, Events, Identity, Outbox};
use crate::lifecycle::{CaseRecord, ExternalRecord, Role, Step};
use crate::peers::directory::Directory;
use crate::ready::{Durability, Ready};
use crate::store::Store;
use crate::store::{CaseRefusal, DeliveryState, Direction, StoredMessage};
pub use poc247_core::routing::context_for;
use poc247_core::routing::{self, check_language, Route, RouteError, RouteRequest};
use poc247_protocol::{
    Body, CaseRef, Date, Envelope, FieldError, Header, Language, MessageId, MessageKind, PartyId,
    Problem, RelayKind, Relayed, Urgency, UtcMs, PROTOCOL_VERSION,
};

/// A new request, as the control API receives it.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// The requested Party (several only for spontaneous information: one case each).
    pub to: Vec<PartyId>,
    /// Urgency.
    pub urgency: Urgency,
    /// Language of the free text.
    pub language: Language,
    /// Training traffic.
    pub exercise: bool,
    /// Send in a language the recipient does not list (recorded on the case).
    pub language_override: bool,
    /// Send a subscriber-only emergency production to a Party that declared it does not
    /// execute them (emergency production para. 3).
    pub subscriber_only_override: bool,
    /// The body.
    pub body: Body,
}

/// A message stored and queued: the control API's own type.
pub use poc247_api::cases::Submitted;

/// How a submission or a response is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Checked, stored, flushed, queued (warnings returned with the result).
    #[default]
    Commit,
    /// As `Commit`, but a check that produced a warning stops it before anything is stored:
    /// the caller confirms the warnings and asks again.
    ConfirmWarnings,
    /// Everything checked and built (routing, the lifecycle's transition, the signed
    /// envelope), nothing stored, queued or published: what would be sent.
    DryRun,
}

/// A message as it would be sent, from a dry run: the control API's own type.
pub use poc247_api::cases::WouldSend;

/// What a submission or a response did.
#[derive(Debug, Clone)]
pub enum Sent {
    /// Stored and queued.
    Stored(Vec<Submitted>),
    /// A dry run: what would be sent.
    DryRun(Vec<WouldSend>),
}

/// Why a message was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The checks produced warnings the caller did not confirm: nothing was stored.
    #[error("not sent: the checks gave warnings to confirm: {}", .0.join("; "))]
    Unconfirmed(Vec<String>),
    /// Fields missing or malformed.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// The directory's declarations or the case's lifecycle forbid it.
    #[error("{0}")]
    Conflict(String),
    /// No such case.
    #[error("case {0} not found")]
    NoCase(CaseRef),
    /// A node failure.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl From<RouteError> for SubmitError {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::Invalid(fields) => SubmitError::Invalid(fields),
            RouteError::Conflict(m) => SubmitError::Conflict(m),
        }
    }
}

fn field(name: &str, why: impl Into<String>) -> FieldError {
    FieldError {
        field: name.to_owned(),
        problem: Problem::Invalid(why.into()),
    }
}

/// Remembers every Party's signing key of `directory`, so that receipts and messages they
/// signed stay verifiable after a key change. A failure is logged: it costs only a later
/// verification.
pub(crate) fn note_peer_keys(store: &Store, directory: &Directory, now: UtcMs) {
    for e in directory.iter() {
        for w in &e.keys {
            if let Err(err) = store.note_peer_key(&e.id, &w.value, now) {
                tracing::error!(error = %err, "cannot record a peer's signing key");
            }
        }
    }
}

/// Where this node's cases change on its own initiative (submit, respond, close, record,
/// relay), and the one place that releases what any change decided ([`Cases::apply`]): the
/// write flushed, then the events published and the messages handed to the delivery task;
/// the caller answers once that returned. The API's routes, the receiver, the delivery task's
/// settlement and the timer task all release their changes through it.
#[derive(Clone, Debug)]
pub struct Cases {
    pub(crate) me: Identity,
    pub(crate) directory: DirectoryHandle,
    pub(crate) store: Store,
    pub(crate) clocks: Clocks,
    pub(crate) events: Events,
    pub(crate) outbox: Outbox,
}

impl Cases {
    /// The 27(9)(a) copy of `body`, a request of case `case` to `requested`: it says what it
    /// is, which case it copies and which Party was asked, so that this Party's central
    /// authority relays it to the requested Party's.
    fn copy_body(&self, body: &Body, case: &CaseRef, requested: &PartyId) -> Body {
        let mut copy = body.clone();
        if let Body::MutualAssistance(m) = &mut copy {
            m.preservation_case = None;
            m.relayed = Some(Relayed {
                how: RelayKind::Copy,
                case: case.clone(),
                requester: self.me.party().clone(),
                requested: requested.clone(),
            });
        }
        copy
    }

    /// The directory in force.
    pub fn directory(&self) -> std::sync::Arc<Directory> {
        self.directory.get()
    }

    /// Puts a new directory in force (a reload or a version checked it whole first), and
    /// remembers its Parties' signing keys.
    pub(crate) fn set_directory(&self, directory: std::sync::Arc<Directory>) {
        note_peer_keys(&self.store, &directory, self.clocks.now());
        self.directory.set(directory);
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// This node.
    pub fn me(&self) -> &Identity {
        &self.me
    }

    /// The clocks.
    pub fn clocks(&self) -> &Clocks {
        &self.clocks
    }

    /// The events.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Releases a decision's effects, in the one order: its write flushed (unless a group
    /// commit flushed it already), the cases it opened remembered, its events published, its
    /// messages handed to the delivery task. An error means the flush failed: nothing was
    /// published or queued, and the caller must not promise anything.
    pub(crate) async fn apply(&self, ready: Ready) -> Result<(), NodeError> {
        if ready.durability == Durability::Flush {
            self.store.commit().await?;
        }
        for (case_ref, kind, urgency) in &ready.opened {
            self.events.know(case_ref, *kind, *urgency);
        }
        for n in ready.notices {
            self.events
                .publish(n.kind, n.case_ref, n.message_id, n.message_kind, n.peer);
        }
        for (to, id) in ready.send {
            self.outbox.send(DeliveryCmd::Enqueue(to, id)).await;
        }
        Ok(())
    }

    /// Applies the directory's routing rules to a request for `to` (the core's `route`), the
    /// preservation a mutual-assistance request follows read from the store.
    fn route(
        &self,
        directory: &Directory,
        req: &NewRequest,
        to: &PartyId,
    ) -> Result<Route, SubmitError> {
        let request = RouteRequest {
            body: &req.body,
            language: &req.language,
            language_override: req.language_override,
            subscriber_only_override: req.subscriber_only_override,
        };
        routing::route(directory, self.me.party(), &request, to, |p| {
            Ok(self
                .store
                .case(p)?
                .filter(|c| c.kind == MessageKind::Preservation && c.role == Role::Requester)
                .map(|c| c.requested))
        })
    }

    fn new_case_ref(&self, now: UtcMs) -> Result<CaseRef, NodeError> {
        let year = u16::try_from(Date::from_utc_ms(now.0).year()).unwrap_or(0);
        self.store.next_case_ref(self.me.party(), year)
    }

    fn outbound(&self, header: Header, body: Body, now: UtcMs) -> Result<StoredMessage, NodeError> {
        let kind = body.kind();
        let envelope = Envelope { header, body };
        let bytes = envelope.sign(&self.me.signing())?.to_bytes()?;
        let h = envelope.header;
        Ok(StoredMessage {
            id: h.id,
            case_ref: h.case_ref,
            kind,
            direction: Direction::Outbound,
            from: h.from,
            to: h.to,
            created_at: now,
            stored_at: now,
            envelope: bytes,
            receipt: None,
            delivery: DeliveryState::Queued,
        })
    }

    fn header(
        &self,
        to: &PartyId,
        case_ref: CaseRef,
        urgency: Urgency,
        language: Language,
        exercise: bool,
        now: UtcMs,
    ) -> Header {
        Header {
            version: PROTOCOL_VERSION,
            id: MessageId::new(now),
            from: self.me.party().clone(),
            to: to.clone(),
            created_at: now,
            case_ref,
            in_reply_to: None,
            urgency,
            language,
            exercise,
        }
    }

    /// Validates, routes, signs, stores and queues a new request (one case per recipient, and
    /// the art. 27(9)(a) copy); returns once everything is on disk.
    pub async fn submit(
        &self,
        req: NewRequest,
        actor: Actor,
    ) -> Result<Vec<Submitted>, SubmitError> {
        match self.submit_with(req, actor, Mode::Commit).await? {
            Sent::Stored(done) => Ok(done),
            Sent::DryRun(_) => Err(SubmitError::Conflict("nothing sent".into())),
        }
    }

    /// As [`Cases::submit`], in `mode`: a dry run, or one that stops at unconfirmed warnings.
    pub async fn submit_with(
        &self,
        req: NewRequest,
        actor: Actor,
        mode: Mode,
    ) -> Result<Sent, SubmitError> {
        let kind = req.body.kind();
        let mut fields = req.body.validate(req.urgency).err().unwrap_or_default();
        if !kind.is_request() {
            fields.push(field("kind", format!("{kind} is not a request")));
        }
        if req.to.is_empty() {
            fields.push(FieldError {
                field: "to".into(),
                problem: Problem::Missing,
            });
        }
        let spontaneous = matches!(
            kind,
            MessageKind::SpontaneousInformation | MessageKind::InformationOffer
        );
        // A suggested deadline already past asks for nothing the requested Party could meet
        // (CARICOM MLA para. 29).
        let today = Date::from_utc_ms(self.clocks.now().0);
        if let Some(by) = crate::lifecycle::respond_by_of(&req.body).filter(|by| *by < today) {
            fields.push(field(
                "respond_by",
                format!("{by} is in the past (today is {today}): a deadline the requested Party can meet"),
            ));
        }
        if matches!(&req.body, Body::MutualAssistance(m) if m.relayed.is_some())
            && actor != Actor::Node
        {
            fields.push(field(
                "relayed",
                "set by the nodes for a copy or a forward (art. 27(9)), never by a caller",
            ));
        }
        if self.clocks.drill().is_some() && !req.exercise {
            fields.push(field(
                "exercise",
                "this is a drill node: it sends exercise traffic only (exercise: true)",
            ));
        }
        if req.to.len() > 1 && !spontaneous {
            fields.push(field(
                "to",
                "only spontaneous information goes to several Parties at once",
            ));
        }
        if !fields.is_empty() {
            return Err(SubmitError::Invalid(fields));
        }
        let directory = self.directory();
        let mut routes = Vec::new();
        for to in &req.to {
            routes.push(self.route(&directory, &req, to)?);
        }
        let now = self.clocks.now();
        if mode == Mode::ConfirmWarnings {
            let several = routes.len() > 1;
            let mut warnings = Vec::new();
            for route in &routes {
                let mut w = route.warnings.clone();
                if let Some(ca) = &route.copy_to {
                    w.push(format!(
                        "a copy goes to {ca}, for the requested Party's central authority (art. 27(9)(a))"
                    ));
                }
                warnings.extend(w.into_iter().map(|w| match several {
                    true => format!("to {}: {w}", route.to),
                    false => w,
                }));
            }
            if !warnings.is_empty() {
                return Err(SubmitError::Unconfirmed(warnings));
            }
        }
        if mode == Mode::DryRun {
            return self
                .preview_requests(&directory, &req, routes, now)
                .map(Sent::DryRun);
        }
        let mut rows: Vec<(StoredMessage, CaseRecord, PartyId)> = Vec::new();
        let mut done = Vec::new();
        for route in routes {
            let case_ref = self.new_case_ref(now)?;
            let header = self.header(
                &route.to,
                case_ref.clone(),
                req.urgency,
                req.language.clone(),
                req.exercise,
                now,
            );
            let context = context_for(&directory, self.me.party(), &route.to, kind);
            let mut case = CaseRecord::open(&header, &req.body, Role::Requester, context, now);
            case.language_override = route.language_override;
            case.warnings = route.warnings.clone();
            let msg = self.outbound(header, req.body.clone(), now)?;
            if let Some(ca) = &route.copy_to {
                let copy_ref = self.new_case_ref(now)?;
                let h = self.header(
                    ca,
                    copy_ref.clone(),
                    req.urgency,
                    req.language.clone(),
                    req.exercise,
                    now,
                );
                let copy_body = self.copy_body(&req.body, &case_ref, &route.to);
                let mut copy = CaseRecord::open(
                    &h,
                    &copy_body,
                    Role::Requester,
                    context_for(&directory, self.me.party(), ca, kind),
                    now,
                );
                copy.copy_of = Some(case_ref.clone());
                case.copy_case = Some(copy_ref.clone());
                case.warnings.push(format!(
                    "a copy goes to {ca} as {copy_ref}, for the requested Party's central authority (art. 27(9)(a))"
                ));
                let copy_msg = self.outbound(h, copy_body, now)?;
                rows.push((copy_msg, copy, ca.clone()));
            }
            done.push(Submitted {
                case_ref: case_ref.clone(),
                message_id: msg.id,
                kind,
                to: route.to.clone(),
                state: case.state.name().to_owned(),
                warnings: case.warnings.clone(),
            });
            rows.push((msg, case, route.to));
        }
        let items: Vec<(&StoredMessage, &CaseRecord, &PartyId)> =
            rows.iter().map(|(m, c, p)| (m, c, p)).collect();
        // Stored in a batch with the other submissions of the moment, flushed with them.
        match self.store.insert_outbound_durably(&items, actor).await {
            Ok(refused) => refused?,
            Err(e) => {
                // Told it failed, the caller will submit again: none of these may ever leave.
                for (m, c, _) in &rows {
                    let _ = self.store.remove_outbound_request(m.id, &c.case_ref);
                }
                return Err(e.into());
            }
        }
        let mut ready = Ready::flushed();
        for (m, c, p) in rows {
            tracing::info!(case = %c.case_ref, id = %m.id, kind = %m.kind, to = %p, "request queued");
            ready = ready
                .opened(&c.case_ref, c.kind, c.urgency)
                .notice(
                    EventKind::Queued,
                    Some(c.case_ref),
                    Some(m.id),
                    Some(m.kind),
                    Some(p.clone()),
                )
                .send(p, m.id);
        }
        self.apply(ready).await?;
        Ok(Sent::Stored(done))
    }

    /// What a new request would send on `routes`: each message built and signed as it would
    /// be, nothing stored (no case reference is taken: one is given when it is stored).
    fn preview_requests(
        &self,
        directory: &Directory,
        req: &NewRequest,
        routes: Vec<Route>,
        now: UtcMs,
    ) -> Result<Vec<WouldSend>, SubmitError> {
        let kind = req.body.kind();
        let year = u16::try_from(Date::from_utc_ms(now.0).year()).unwrap_or(0);
        let placeholder = CaseRef::new(self.me.party(), year, 0);
        let mut out = Vec::new();
        for route in routes {
            let mut targets = vec![(route.to.clone(), req.body.clone(), route.warnings.clone())];
            if let Some(ca) = &route.copy_to {
                targets[0].2.push(format!(
                    "a copy goes to {ca}, for the requested Party's central authority (art. 27(9)(a))"
                ));
                let copy_body = self.copy_body(&req.body, &placeholder, &route.to);
                targets.push((ca.clone(), copy_body, Vec::new()));
            }
            for (to, body, warnings) in targets {
                let header = self.header(
                    &to,
                    placeholder.clone(),
                    req.urgency,
                    req.language.clone(),
                    req.exercise,
                    now,
                );
                let context = context_for(directory, self.me.party(), &to, kind);
                let case = CaseRecord::open(&header, &body, Role::Requester, context, now);
                // Built and signed as it would be sent, to be sure it can be.
                self.outbound(header.clone(), body.clone(), now)?;
                out.push(WouldSend {
                    case_ref: None,
                    kind,
                    from: header.from,
                    to,
                    urgency: header.urgency,
                    language: header.language,
                    exercise: header.exercise,
                    in_reply_to: None,
                    state: case.state.name().to_owned(),
                    recorded_only: false,
                    warnings,
                    body: body.to_json(),
                });
            }
        }
        Ok(out)
    }

    /// Sends a response in a case (acknowledgement, decision, confirmation, …) once the case's
    /// lifecycle allows it; in a case recorded from another channel it is only recorded here.
    pub async fn respond(
        &self,
        case_ref: &CaseRef,
        body: Body,
        in_reply_to: Option<MessageId>,
        language: Option<Language>,
        language_override: bool,
        actor: Actor,
    ) -> Result<Submitted, SubmitError> {
        let sent = self
            .respond_with(
                case_ref,
                body,
                in_reply_to,
                language,
                language_override,
                actor,
                Mode::Commit,
            )
            .await?;
        match sent {
            Sent::Stored(mut done) => done
                .pop()
                .ok_or_else(|| SubmitError::Conflict("nothing sent".into())),
            Sent::DryRun(_) => Err(SubmitError::Conflict("nothing sent".into())),
        }
    }

    /// As [`Cases::respond`], in `mode`: a dry run, or one that stops at unconfirmed warnings.
    #[allow(clippy::too_many_arguments)]
    pub async fn respond_with(
        &self,
        case_ref: &CaseRef,
        body: Body,
        in_reply_to: Option<MessageId>,
        language: Option<Language>,
        language_override: bool,
        actor: Actor,
        mode: Mode,
    ) -> Result<Sent, SubmitError> {
        let case = self
            .store
            .case(case_ref)?
            .ok_or_else(|| SubmitError::NoCase(case_ref.clone()))?;
        let kind = body.kind();
        let mut fields = body
            .validate_in_case(case.urgency, case.kind, case.context.traffic_data)
            .err()
            .unwrap_or_default();
        fields.extend(self.directory().check_decision(self.me.party(), &body));
        // BC 29(7): a preservation is kept for at least the Party's minimum. Said by another
        // Party, it is taken with a warning; said here, it is refused before it leaves, as it
        // could not be taken back.
        if let (Body::Decision(d), MessageKind::Preservation) = (&body, case.kind) {
            if let (Some(poc247_protocol::Outcome::Executed), Some(until)) =
                (d.outcome, d.preserved_until)
            {
                let executed = d
                    .executed_on
                    .unwrap_or_else(|| Date::from_utc_ms(self.clocks.now().0));
                let minimum = executed.plus_days(i64::from(case.context.preservation_min_days));
                if until < minimum {
                    fields.push(field(
                        "preserved_until",
                        format!(
                            "{until} is earlier than execution + the minimum of {} days \
                             ({minimum}, art. 29(7))",
                            case.context.preservation_min_days
                        ),
                    ));
                }
            }
        }
        if !fields.is_empty() {
            return Err(SubmitError::Invalid(fields));
        }
        if let Body::Decision(d) = &body {
            if let (Some(poc247_protocol::Outcome::Forwarded), Some(to)) =
                (d.outcome, &d.forwarded_to)
            {
                self.check_forward(&case, to).map_err(|e| {
                    SubmitError::Conflict(format!(
                        "the request cannot be forwarded to {to} (art. 27(9)(c)), so the \
                         decision is not sent: {e}"
                    ))
                })?;
            }
        }
        let peer = case.peer().clone();
        let local_only = case.recorded_external.is_some();
        // Every answer names the message it answers; the node picks it when the officer
        // does not.
        let in_reply_to = in_reply_to.or_else(|| case.answered(kind));
        let language = language.unwrap_or_else(|| case.language.clone());
        let mut warnings = Vec::new();
        if !local_only && language != case.language {
            if let Some(entry) = self.directory().get(&peer) {
                if check_language(entry, &language, language_override)? {
                    warnings.push(format!(
                        "sent in {language}, which {peer} does not list, on the officer's override"
                    ));
                }
            }
        }
        let now = self.clocks.now();
        let mut header = self.header(
            &peer,
            case_ref.clone(),
            case.urgency,
            language,
            case.exercise,
            now,
        );
        header.in_reply_to = in_reply_to;
        let mut msg = self.outbound(header.clone(), body.clone(), now)?;
        if local_only {
            msg.delivery = DeliveryState::Local;
        }
        let me = self.me.party().clone();
        if mode != Mode::Commit {
            // The lifecycle's transition, on a copy of the case: what it would warn of, and
            // the state it would leave.
            let mut probe = case.clone();
            let mut w = probe
                .apply_message(
                    Step {
                        id: msg.id,
                        from: &me,
                        in_reply_to,
                        at: now,
                        body: &body,
                    },
                    now,
                )
                .map_err(|e| SubmitError::Conflict(e.to_string()))?;
            let mut all = warnings.clone();
            all.append(&mut w);
            if mode == Mode::ConfirmWarnings && !all.is_empty() {
                return Err(SubmitError::Unconfirmed(all));
            }
            if mode == Mode::DryRun {
                return Ok(Sent::DryRun(vec![WouldSend {
                    case_ref: Some(case_ref.clone()),
                    kind,
                    from: header.from,
                    to: peer,
                    urgency: header.urgency,
                    language: header.language,
                    exercise: header.exercise,
                    in_reply_to,
                    state: probe.state.name().to_owned(),
                    recorded_only: local_only,
                    warnings: all,
                    body: body.to_json(),
                }]));
            }
        }
        let step_body = body;
        let result =
            self.store
                .insert_in_case(&msg, (!local_only).then_some(&peer), actor, |c| {
                    c.apply_message(
                        Step {
                            id: msg.id,
                            from: &me,
                            in_reply_to,
                            at: now,
                            body: &step_body,
                        },
                        now,
                    )
                })?;
        let (case, mut w) = match result {
            Ok(v) => v,
            Err(CaseRefusal::NoCase(c)) => return Err(SubmitError::NoCase(c)),
            Err(CaseRefusal::Lifecycle(e)) => return Err(SubmitError::Conflict(e.to_string())),
            Err(CaseRefusal::Duplicate(_)) => {
                return Err(SubmitError::Conflict("message already stored".into()))
            }
        };
        warnings.append(&mut w);
        let mut ready = Ready::after_flush().notice(
            EventKind::Queued,
            Some(case_ref.clone()),
            Some(msg.id),
            Some(kind),
            Some(peer.clone()),
        );
        if !local_only {
            ready = ready.send(peer.clone(), msg.id);
        }
        self.apply(ready).await?;
        tracing::info!(case = %case_ref, id = %msg.id, kind = %kind, to = %peer, "response queued");
        if let Body::Decision(d) = &step_body {
            if let (Some(poc247_protocol::Outcome::Forwarded), Some(to)) =
                (d.outcome, &d.forwarded_to)
            {
                match self.forward(&case, to).await {
                    Ok(f) => warnings.push(format!(
                        "forwarded to {to} as {} (art. 27(9)(c))",
                        f.case_ref
                    )),
                    Err(e) => {
                        warnings.push(format!("the request could not be forwarded to {to}: {e}"))
                    }
                }
            }
        }
        Ok(Sent::Stored(vec![Submitted {
            case_ref: case_ref.clone(),
            message_id: msg.id,
            kind,
            to: peer,
            state: case.state.name().to_owned(),
            warnings,
        }]))
    }

    /// The request of `case` as sent on to `to`: the same body, marked as forwarded (or, for
    /// a copy, relayed as it came) with the requester's case (art. 27(9)).
    fn relayed_request(
        &self,
        case: &CaseRecord,
        to: &PartyId,
        how: RelayKind,
    ) -> Result<NewRequest, SubmitError> {
        let first = case.messages.first().copied();
        let msg = match first {
            Some(id) => self.store.message(id)?,
            None => None,
        };
        let envelope: Envelope = msg
            .and_then(|m| poc247_protocol::SignedEnvelope::from_bytes(&m.envelope).ok())
            .and_then(|s| poc247_protocol::codec::decode(&s.payload).ok())
            .ok_or_else(|| {
                SubmitError::Conflict("the original request is not stored here".into())
            })?;
        let mut body = envelope.body;
        if let Body::MutualAssistance(m) = &mut body {
            // A request forwarded again keeps the first requester's case.
            if m.relayed.is_none() || how == RelayKind::Forward {
                let first = m.relayed.take();
                m.relayed = Some(match first {
                    Some(r) if r.how == RelayKind::Forward => r,
                    _ => Relayed {
                        how,
                        case: case.case_ref.clone(),
                        requester: case.requester.clone(),
                        requested: case.requested.clone(),
                    },
                });
            }
            m.preservation_case = None;
        }
        Ok(NewRequest {
            to: vec![to.clone()],
            urgency: case.urgency,
            language: case.language.clone(),
            exercise: case.exercise,
            language_override: true,
            subscriber_only_override: true,
            body,
        })
    }

    /// Whether the request of `case` can be forwarded to `to` (art. 27(9)(c)): checked before
    /// the decision that says so is sent, so that no requester is told of a forward that did
    /// not happen.
    fn check_forward(&self, case: &CaseRecord, to: &PartyId) -> Result<(), SubmitError> {
        let req = self.relayed_request(case, to, RelayKind::Forward)?;
        self.route(&self.directory(), &req, to).map(|_| ())
    }

    /// Sends the request of `case` on to the competent authority `to` (art. 27(9)(c)), as a
    /// new case of this node's.
    async fn forward(&self, case: &CaseRecord, to: &PartyId) -> Result<Submitted, SubmitError> {
        let req = self.relayed_request(case, to, RelayKind::Forward)?;
        let mut done = self.submit(req, crate::audit::Actor::Node).await?;
        done.pop()
            .ok_or_else(|| SubmitError::Conflict("nothing forwarded".into()))
    }

    /// At a central authority, relays the copies of art. 27(9)(a) its own Party's nodes sent
    /// it to the requested Party's central authority, once each (the relay is recorded as the
    /// case's `copy_case`): the case `only` when a request arrives, every case at start (the
    /// cases this node was requested in, read one at a time from the index of roles).
    pub async fn relay_copies(&self, only: Option<&CaseRef>) -> Result<(), SubmitError> {
        if !self.me.party().is_authority() {
            return Ok(());
        }
        let directory = self.directory();
        let mut after: Option<CaseRef> = None;
        loop {
            let case = match only {
                Some(c) if after.is_none() => self.store.case(c)?.filter(|c| self.copy_to_relay(c)),
                Some(_) => None,
                None => self.next_copy_to_relay(after.as_ref())?,
            };
            let Some(case) = case else { break };
            after = Some(case.case_ref.clone());
            let Some(original) = &case.copy_of else {
                continue;
            };
            let Some(Body::MutualAssistance(m)) = self.opening_body(&case)? else {
                continue;
            };
            let Some(relayed) = m.relayed else { continue };
            let target = directory
                .get(&relayed.requested)
                .and_then(|e| e.central_authority.clone())
                .filter(|ca| ca != self.me.party() && directory.get(ca).is_some());
            let Some(target) = target else {
                tracing::warn!(case = %case.case_ref, copy_of = %original, "no central authority node of the requested Party to relay the copy to");
                continue;
            };
            let req = self.relayed_request(&case, &target, RelayKind::Copy)?;
            let done = self.submit(req, Actor::Node).await?;
            let Some(relay) = done.first() else { continue };
            let rec = AuditRecord {
                at: self.clocks.now(),
                actor: Actor::Node,
                event: format!("copy_relayed:{}", relay.case_ref),
                case_ref: Some(case.case_ref.clone()),
                message_id: None,
            };
            let relay_ref = relay.case_ref.clone();
            let to = target.clone();
            let _ = self.store.update_case(&case.case_ref, &rec, |c| {
                c.copy_case = Some(relay_ref.clone());
                c.warnings.push(format!(
                    "relayed to {to} as {relay_ref}, the requested Party's central authority (art. 27(9)(a))"
                ));
                Ok(())
            })?;
            self.apply(Ready::after_flush()).await?;
        }
        Ok(())
    }

    /// Whether `case` is a copy of art. 27(9)(a) from this node's own Party not relayed yet.
    fn copy_to_relay(&self, case: &CaseRecord) -> bool {
        case.copy_of.is_some()
            && case.role == Role::Requested
            && case.requester.state() == self.me.party().state()
            && case.copy_case.is_none()
    }

    /// The first case after `after` (in case-reference order) that is a copy to relay.
    fn next_copy_to_relay(
        &self,
        after: Option<&CaseRef>,
    ) -> Result<Option<CaseRecord>, SubmitError> {
        for c in self
            .store
            .cases_where("role", Role::Requested.as_str(), after)
        {
            let c = c?;
            if self.copy_to_relay(&c) {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// The body of the request that opened `case`, if stored here.
    fn opening_body(&self, case: &CaseRecord) -> Result<Option<Body>, SubmitError> {
        let Some(id) = case.messages.first() else {
            return Ok(None);
        };
        Ok(self
            .store
            .message(*id)?
            .and_then(|m| poc247_protocol::SignedEnvelope::from_bytes(&m.envelope).ok())
            .and_then(|s| poc247_protocol::codec::decode::<Envelope>(&s.payload).ok())
            .map(|e| e.body))
    }

    /// Records that the person concerned by a tracing this node's Party executed was informed
    /// (CIC 67-1): audited `tracing_notice_given:<note>`, and the deadline to inform settled.
    /// Refused where no such deadline is owed.
    pub async fn record_tracing_notice(
        &self,
        case_ref: &CaseRef,
        actor: Actor,
        note: Option<&str>,
    ) -> Result<CaseRecord, SubmitError> {
        let now = self.clocks.now();
        let case = self
            .store
            .case(case_ref)?
            .ok_or_else(|| SubmitError::NoCase(case_ref.clone()))?;
        let owed = crate::tracks::deadlines(&case, &self.me.cfg().deadlines, false)
            .iter()
            .any(|d| d.label == crate::tracks::TRACING_NOTICE);
        if !owed {
            return Err(SubmitError::Conflict(format!(
                "no notice of a tracing is owed in {case_ref}: it is owed where this Party \
                 executed a tracing and its law has the person informed ([deadlines] \
                 tracing_order_days and tracing_notice_days)"
            )));
        }
        self.change_locally(
            case_ref,
            actor,
            "tracing_notice_given",
            note,
            EventKind::Notified,
            |c| {
                if !c
                    .fired
                    .iter()
                    .any(|l| l == crate::tracks::TRACING_NOTICE_GIVEN)
                {
                    c.fired.push(crate::tracks::TRACING_NOTICE_GIVEN.to_owned());
                }
                c.updated_at = now;
                Ok(())
            },
        )
        .await
    }

    /// Closes a case on this node (no message is sent).
    pub async fn close_case(
        &self,
        case_ref: &CaseRef,
        actor: Actor,
        note: Option<&str>,
    ) -> Result<CaseRecord, SubmitError> {
        let now = self.clocks.now();
        self.change_locally(case_ref, actor, "closed", note, EventKind::Closed, |c| {
            c.close(now)
        })
        .await
    }

    /// A change of a case made on this node only (no message): applied with its audit entry
    /// `<event>`, or `<event>:<the note's first line>` as a purge keeps its reason, flushed,
    /// then published as `published`.
    async fn change_locally(
        &self,
        case_ref: &CaseRef,
        actor: Actor,
        event: &str,
        note: Option<&str>,
        published: EventKind,
        apply: impl Fn(&mut CaseRecord) -> Result<(), crate::lifecycle::LifecycleError>,
    ) -> Result<CaseRecord, SubmitError> {
        let rec = AuditRecord {
            at: self.clocks.now(),
            actor,
            event: match note
                .map(crate::store::short)
                .filter(|n| !n.trim().is_empty())
            {
                Some(n) => format!("{event}:{n}"),
                None => event.to_owned(),
            },
            case_ref: Some(case_ref.clone()),
            message_id: None,
        };
        let case = match self.store.update_case(case_ref, &rec, apply)? {
            Ok(c) => c,
            Err(CaseRefusal::NoCase(c)) => return Err(SubmitError::NoCase(c)),
            Err(CaseRefusal::Lifecycle(e)) => return Err(SubmitError::Conflict(e.to_string())),
            Err(CaseRefusal::Duplicate(_)) => {
                return Err(SubmitError::Conflict("unexpected".into()))
            }
        };
        self.apply(Ready::after_flush().notice(
            published,
            Some(case_ref.clone()),
            None,
            Some(case.kind),
            Some(case.peer().clone()),
        ))
        .await?;
        Ok(case)
    }

    /// Records a request that came by phone, fax, e-mail or INTERPOL I-24/7 as a case here.
    pub async fn record_external(
        &self,
        r: ExternalRequest,
        actor: Actor,
    ) -> Result<CaseRecord, SubmitError> {
        let mut fields = Vec::new();
        if !["phone", "fax", "email", "interpol_i247", "other"].contains(&r.channel.as_str()) {
            fields.push(field(
                "channel",
                "must be phone, fax, email, interpol_i247 or other",
            ));
        }
        if !r.kind.is_request() {
            fields.push(field("kind", format!("{} is not a request kind", r.kind)));
        }
        if r.summary.trim().is_empty() {
            fields.push(FieldError {
                field: "summary".into(),
                problem: Problem::Missing,
            });
        }
        if let Some(h) = &r.document_sha256 {
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                fields.push(field("document_sha256", "must be 64 hex digits"));
            }
        }
        if r.from == *self.me.party() {
            fields.push(field(
                "from",
                "a request recorded here comes from another Party",
            ));
        }
        if !fields.is_empty() {
            return Err(SubmitError::Invalid(fields));
        }
        let directory = self.directory();
        let accepts_oral = directory
            .get(self.me.party())
            .is_some_and(|me| me.declarations.accepts_oral);
        if r.oral && !accepts_oral {
            return Err(SubmitError::Conflict(format!(
                "{} does not accept oral requests (its directory entry declares accepts_oral = \
                 false; CARICOM MLA para. 18): ask {} for the request in writing and record that",
                self.me.party(),
                r.from
            )));
        }
        let now = self.clocks.now();
        let case_ref = self.new_case_ref(now)?;
        let header = self.header(
            self.me.party(),
            case_ref.clone(),
            r.urgency,
            r.language.clone(),
            r.exercise,
            now,
        );
        let header = Header {
            from: r.from.clone(),
            to: self.me.party().clone(),
            created_at: r.received_at,
            ..header
        };
        let placeholder = Body::from_json(r.kind, serde_json::json!({}))
            .map_err(|e| SubmitError::Invalid(vec![e]))?;
        let mut case = CaseRecord::open(
            &header,
            &placeholder,
            Role::Requested,
            context_for(&directory, &r.from, self.me.party(), r.kind),
            now,
        );
        case.messages.clear();
        // An oral request is confirmed in writing without delay (CARICOM MLA para. 18),
        // whatever the kind.
        if r.oral {
            case.context.confirmation_required = true;
            case.context.confirmation_after_execution = false;
        }
        case.recorded_external = Some(ExternalRecord {
            channel: r.channel,
            received_at: r.received_at,
            summary: r.summary,
            document_sha256: r.document_sha256,
            oral: r.oral,
        });
        let rec = AuditRecord {
            at: now,
            actor,
            event: "recorded_external".into(),
            case_ref: Some(case_ref.clone()),
            message_id: None,
        };
        self.store.insert_case(&case, &rec)?;
        self.apply(
            Ready::after_flush()
                .opened(&case_ref, r.kind, r.urgency)
                .notice(
                    EventKind::Recorded,
                    Some(case_ref),
                    None,
                    Some(r.kind),
                    Some(r.from),
                ),
        )
        .await?;
        Ok(case)
    }
}

/// A request that came by another channel, as an officer records it.
#[derive(Debug, Clone)]
pub struct ExternalRequest {
    /// `phone`, `fax`, `email`, `interpol_i247`, `other`.
    pub channel: String,
    /// When it came.
    pub received_at: UtcMs,
    /// From which Party.
    pub from: PartyId,
    /// Which kind of request.
    pub kind: MessageKind,
    /// Urgency.
    pub urgency: Urgency,
    /// Language.
    pub language: Language,
    /// What it asks, in a few words.
    pub summary: String,
    /// SHA-256 of the document, hex.
    pub document_sha256: Option<String>,
    /// It was oral.
    pub oral: bool,
    /// Training.
    pub exercise: bool,
}

/// At a central authority's node, relays the copies of art. 27(9)(a): at start (a copy may have
/// arrived just before a stop) and whenever a mutual-assistance request arrives.
pub async fn run_relay(cases: Cases, cancel: tokio_util::sync::CancellationToken) {
    use tokio::sync::broadcast::error::RecvError;
    let mut events = cases.events.subscribe();
    let relay = |cases: Cases, only: Option<CaseRef>| async move {
        if let Err(e) = cases.relay_copies(only.as_ref()).await {
            tracing::error!(error = %e, "cannot relay a copy to the requested Party's central authority");
        }
    };
    relay(cases.clone(), None).await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            ev = events.recv() => match ev {
                Ok(ev) if ev.kind == EventKind::Received
                    && ev.message_kind == Some(MessageKind::MutualAssistance) =>
                {
                    if let Some(c) = ev.case_ref {
                        relay(cases.clone(), Some(c)).await
                    }
                }
                Ok(_) => {}
                // Missed events: look at every case again.
                Err(RecvError::Lagged(_)) => relay(cases.clone(), None).await,
                Err(RecvError::Closed) => return,
            },
        }
    }
}
