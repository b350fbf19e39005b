//! The case lifecycle, sans-IO: a case record and the transitions messages cause, with `now`
//! as a parameter. Both sides of a case run the same machine on the same messages — the
//! sender when it queues a message, the receiver when it stores it — so their views agree.
//! States follow docs/design.md "Case lifecycle"; the rules of the articles are cited where they
//! are enforced.

use poc247_protocol::{
    Body, CaseRef, Date, Header, Language, MessageId, MessageKind, Outcome, PartyId, RelayKind,
    Urgency, UtcMs,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which side of the case this node is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// This node's Party made the request (or offered the information).
    Requester,
    /// This node's Party was asked (or offered the information).
    Requested,
}

impl Role {
    /// Its name in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Requested => "requested",
        }
    }
}

/// The state of a case, the same seen from either side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Stored at the requester, not yet receipted by the requested Party.
    Queued,
    /// Receipted by the requested Party's node (for an offer: offered).
    Delivered,
    /// An officer of the requested Party took it in charge.
    Acknowledged,
    /// The requested Party asked for more information.
    InfoRequested,
    /// The requester answered every open question.
    InfoProvided,
    /// The requester asked where things stand.
    StatusRequested,
    /// The requested Party said where things stand.
    StatusReported,
    /// The requested Party told of a delay (BC 27(7)).
    DelayNotified,
    /// The next move is the requester's: go on (`proceed`) or withdraw (BC 29(6), 27(8)).
    AwaitingRequester {
        /// The article that put it there.
        article: String,
    },
    /// The requested Party set conditions (BC 28(2)); they await the requester's reply.
    ConditionsProposed,
    /// Decided.
    Decided {
        /// The outcome.
        outcome: Outcome,
    },
    /// An offer of information with conditions was accepted (BC 26(2)).
    OfferAccepted,
    /// An offer of information with conditions was declined; the sender decides.
    OfferDeclined,
    /// Spontaneous information was sent (BC 26).
    Sent,
    /// Closed by this node's officer.
    Closed,
    /// The requester withdrew the request.
    Withdrawn,
    /// The requested Party's node refused the opening message itself.
    Failed {
        /// The rejection code and reason.
        reason: String,
    },
}

impl CaseState {
    /// Its name in JSON and tables.
    pub fn name(&self) -> &'static str {
        match self {
            CaseState::Queued => "queued",
            CaseState::Delivered => "delivered",
            CaseState::Acknowledged => "acknowledged",
            CaseState::InfoRequested => "info_requested",
            CaseState::InfoProvided => "info_provided",
            CaseState::StatusRequested => "status_requested",
            CaseState::StatusReported => "status_reported",
            CaseState::DelayNotified => "delay_notified",
            CaseState::AwaitingRequester { .. } => "awaiting_requester",
            CaseState::ConditionsProposed => "conditions_proposed",
            CaseState::Decided { .. } => "decided",
            CaseState::OfferAccepted => "offer_accepted",
            CaseState::OfferDeclined => "offer_declined",
            CaseState::Sent => "sent",
            CaseState::Closed => "closed",
            CaseState::Withdrawn => "withdrawn",
            CaseState::Failed { .. } => "failed",
        }
    }

    /// Every state's name, as `name` gives it.
    pub const NAMES: &'static [&'static str] = &[
        "queued",
        "delivered",
        "acknowledged",
        "info_requested",
        "info_provided",
        "status_requested",
        "status_reported",
        "delay_notified",
        "awaiting_requester",
        "conditions_proposed",
        "decided",
        "offer_accepted",
        "offer_declined",
        "sent",
        "closed",
        "withdrawn",
        "failed",
    ];

    /// Nothing more happens in the case.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            CaseState::Closed | CaseState::Withdrawn | CaseState::Failed { .. }
        )
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseState::Decided { outcome } => write!(f, "decided ({})", outcome.as_str()),
            other => f.write_str(other.name()),
        }
    }
}

/// Whether arts. 27–28 apply between two Parties, or a treaty does (BC 27(1), 28(1)); the
/// directory declares it per pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MlaBasis {
    /// A mutual-assistance treaty or uniform legislation is in force.
    Treaty,
    /// None is: the Convention's arts. 27–28 apply.
    #[default]
    Convention,
}

/// What the directory said of the pair when the case was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseContext {
    /// The requested Party requires a formal confirmation (BC 25(3)).
    pub confirmation_required: bool,
    /// Within how many days of its start event.
    pub confirmation_days: u32,
    /// The confirmation is owed only after execution (emergency production para. 7).
    pub confirmation_after_execution: bool,
    /// Whether arts. 27–28 apply between the two Parties (27(1), 28(1)).
    pub mla_basis: MlaBasis,
    /// The request concerns traffic data (opens art. 30; refusals only on 30(2) grounds).
    pub traffic_data: bool,
    /// The request asked for confidentiality (BC 27(8)).
    pub confidential: bool,
    /// The requested Party's minimum preservation in days (BC 29(7)).
    pub preservation_min_days: u32,
    /// The requested Party's legal cap on a preservation order, in days.
    pub legal_max_days: Option<u32>,
}

/// A request that came by phone, fax, e-mail or INTERPOL I-24/7 and was recorded by an officer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalRecord {
    /// `phone`, `fax`, `email`, `interpol_i247`, `other`.
    pub channel: String,
    /// When it came.
    pub received_at: UtcMs,
    /// What it asked, in a few words.
    pub summary: String,
    /// SHA-256 of the document received, hex.
    pub document_sha256: Option<String>,
    /// An oral request: to be confirmed in writing without delay (CARICOM MLA para. 18).
    pub oral: bool,
}

/// A case: the request that opened it and every message exchanged about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// Its reference.
    pub case_ref: CaseRef,
    /// The kind of the opening request.
    pub kind: MessageKind,
    /// This node's side.
    pub role: Role,
    /// The requesting Party (the offering Party for spontaneous information).
    pub requester: PartyId,
    /// The requested Party.
    pub requested: PartyId,
    /// Urgency of the request (an emergency not established goes on as urgent).
    pub urgency: Urgency,
    /// Language of the request.
    pub language: Language,
    /// Training traffic.
    pub exercise: bool,
    /// When the request was created.
    pub opened_at: UtcMs,
    /// When the case last changed.
    pub updated_at: UtcMs,
    /// The current state.
    pub state: CaseState,
    /// Every message of the case, oldest first.
    pub messages: Vec<MessageId>,
    /// What the directory said of the pair.
    pub context: CaseContext,
    /// When an officer of the requested Party acknowledged it.
    pub acknowledged_at: Option<UtcMs>,
    /// Questions asked and not yet answered.
    pub open_info_requests: Vec<MessageId>,
    /// Art. 28(2) conditions awaiting the requester's reply.
    pub pending_conditions: Option<MessageId>,
    /// Requests for an explanation of use (28(4)) or for consent (MLA para. 24) not answered.
    pub open_use_requests: Vec<MessageId>,
    /// The decision, once made.
    pub decided_at: Option<UtcMs>,
    /// For an executed preservation: until when the data are kept.
    pub preserved_until: Option<Date>,
    /// When it was executed.
    pub executed_on: Option<Date>,
    /// The preservation was released.
    pub released: bool,
    /// The formal confirmation (BC 25(3)), once sent or received: the message id.
    pub confirmation: Option<MessageId>,
    /// The mutual-assistance request that follows this preservation (BC 29(7)).
    pub follow_up_mla: Option<CaseRef>,
    /// The preservation this mutual-assistance request follows.
    pub preservation_case: Option<CaseRef>,
    /// Sent in a language the recipient does not list, on an officer's override.
    pub language_override: bool,
    /// The copy of this request sent to the own central authority (BC 27(9)(a)).
    pub copy_case: Option<CaseRef>,
    /// The case this one is a copy of (BC 27(9)(a)).
    pub copy_of: Option<CaseRef>,
    /// Warnings shown to the officers.
    pub warnings: Vec<String>,
    /// A request that came by another channel and was recorded here.
    pub recorded_external: Option<ExternalRecord>,
    /// The requester's suggested deadline (CARICOM MLA para. 29).
    pub respond_by: Option<Date>,
    /// Deadlines that fired already (each fires once), by label.
    pub fired: Vec<String>,
}

/// Why a transition is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The message does not belong to this case.
    #[error("message {0} is not part of case {1}")]
    NotInCase(MessageId, CaseRef),
    /// The sender is not a party of the case, or not the side that may send this.
    #[error("{kind} in case {case} comes from the {expected}, not from {from}")]
    WrongSide {
        /// The case.
        case: CaseRef,
        /// The kind.
        kind: MessageKind,
        /// Who sent it.
        from: PartyId,
        /// Who may.
        expected: &'static str,
    },
    /// The case's state does not allow it.
    #[error("case {case} is {state}: {why}")]
    NotAllowed {
        /// The case.
        case: CaseRef,
        /// Its state.
        state: String,
        /// Why not.
        why: String,
    },
}

/// A message as the lifecycle sees it.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// Its id.
    pub id: MessageId,
    /// Its sender.
    pub from: &'a PartyId,
    /// The message it answers.
    pub in_reply_to: Option<MessageId>,
    /// When its sender made it (its header's `created_at`): the same on both sides, so the
    /// dates it sets (acknowledged, decided) and the deadlines counted from them agree.
    pub at: UtcMs,
    /// Its body.
    pub body: &'a Body,
}

/// What happened to a case outside its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The requested Party's node receipted message `id`.
    Receipted {
        /// The message.
        id: MessageId,
    },
    /// The requested Party's node refused message `id` for good.
    Refused {
        /// The message.
        id: MessageId,
        /// Code and reason.
        reason: String,
    },
}

/// Which side sends a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Requester,
    Requested,
    Either,
}

/// The requester's suggested deadline carried by a request.
pub fn respond_by_of(body: &Body) -> Option<Date> {
    match body {
        Body::Preservation(b) => b.respond_by,
        Body::EmergencyProduction(b) => b.respond_by,
        Body::MutualAssistance(b) => b.respond_by,
        Body::Assistance(b) => b.respond_by,
        Body::SpontaneousInformation(b) => b.respond_by,
        Body::InformationOffer(b) => b.respond_by,
        _ => None,
    }
}

fn side_of(kind: MessageKind, case_kind: MessageKind) -> Side {
    use MessageKind::*;
    // In spontaneous information the requester of the case is the Party that supplies the
    // information: it asks how it was used (28(4)) and gives consent to other uses (MLA para.
    // 24); the receiver, which uses it, explains and asks for consent.
    let spontaneous = matches!(case_kind, SpontaneousInformation | InformationOffer);
    match kind {
        UseExplanationRequest | UseConsent if spontaneous => Side::Requester,
        UseExplanation | UseConsentRequest if spontaneous => Side::Requested,
        // Art. 26(2): the receiver of an offer answers its conditions; art. 28(3): the
        // requester answers the requested Party's conditions.
        ConditionsReply if case_kind == InformationOffer => Side::Requested,
        ConditionsReply => Side::Requester,
        InfoProvided
        | StatusRequest
        | Proceed
        | FormalConfirmation
        | Withdrawal
        | UseExplanation
        | UseConsentRequest
        | SpontaneousInformation => Side::Requester,
        Acknowledgement
        | InfoRequest
        | StatusReport
        | DelayNotice
        | ConfidentialityReply
        | Decision
        | PreservationInsufficient
        | Conditions
        | UseExplanationRequest
        | UseConsent
        | TrafficDataDisclosure
        | Results => Side::Requested,
        _ => Side::Either,
    }
}

impl CaseRecord {
    /// Opens a case from its request, on either side: the requester when it queues the
    /// request, the requested Party when it stores the request it received (delivered).
    pub fn open(
        header: &Header,
        body: &Body,
        role: Role,
        context: CaseContext,
        now: UtcMs,
    ) -> Self {
        let mut c = CaseRecord {
            case_ref: header.case_ref.clone(),
            kind: body.kind(),
            role,
            requester: header.from.clone(),
            requested: header.to.clone(),
            urgency: header.urgency,
            language: header.language.clone(),
            exercise: header.exercise,
            opened_at: header.created_at,
            updated_at: now,
            state: match role {
                Role::Requester => CaseState::Queued,
                Role::Requested => CaseState::Delivered,
            },
            messages: vec![header.id],
            context,
            acknowledged_at: None,
            open_info_requests: Vec::new(),
            pending_conditions: None,
            open_use_requests: Vec::new(),
            decided_at: None,
            preserved_until: None,
            executed_on: None,
            released: false,
            confirmation: None,
            follow_up_mla: None,
            preservation_case: None,
            language_override: false,
            copy_case: None,
            copy_of: None,
            warnings: Vec::new(),
            recorded_external: None,
            respond_by: respond_by_of(body),
            fired: Vec::new(),
        };
        if let Body::MutualAssistance(m) = body {
            c.preservation_case = m.preservation_case.clone();
            c.context.confidential = m.confidential;
            if let Some(r) = &m.relayed {
                match r.how {
                    // For information: no acknowledgement, decision or confirmation is owed.
                    RelayKind::Copy => {
                        c.copy_of = Some(r.case.clone());
                        c.context.confirmation_required = false;
                    }
                    RelayKind::Forward => c.warnings.push(format!(
                        "forwarded by {} from {}'s case {} as the competent authority (art. 27(9)(c))",
                        header.from, r.requester, r.case
                    )),
                }
            }
        }
        if let Body::Preservation(p) = body {
            c.context.traffic_data = p.includes_traffic_data;
        }
        c
    }

    /// The other Party of the case, seen from this node.
    pub fn peer(&self) -> &PartyId {
        match self.role {
            Role::Requester => &self.requested,
            Role::Requested => &self.requester,
        }
    }

    fn refuse(&self, why: impl Into<String>) -> LifecycleError {
        LifecycleError::NotAllowed {
            case: self.case_ref.clone(),
            state: self.state.to_string(),
            why: why.into(),
        }
    }

    /// The state a case returns to once an interlude (information, status, conditions, a
    /// requester's answer) is over.
    fn resting_state(&self) -> CaseState {
        if self.acknowledged_at.is_some() {
            CaseState::Acknowledged
        } else {
            CaseState::Delivered
        }
    }

    fn decided_outcome(&self) -> Option<Outcome> {
        match &self.state {
            CaseState::Decided { outcome } => Some(*outcome),
            _ => None,
        }
    }

    /// Whether a final decision was made: postponement and an emergency not established
    /// leave the request open for a later decision (BC 27(5); emergency MLA para. 4).
    fn finally_decided(&self) -> bool {
        self.decided_at.is_some()
            && !matches!(
                self.decided_outcome(),
                Some(Outcome::Postponed) | Some(Outcome::EmergencyNotEstablished)
            )
            && !matches!(
                self.state,
                CaseState::AwaitingRequester { .. } | CaseState::ConditionsProposed
            )
    }

    /// A message of the case refused for good is sent again (an officer's `resend`): the
    /// opening request of a failed case puts the case back to queued; a later message leaves
    /// the case as it is. The record is unchanged on error.
    pub fn requeue(&mut self, id: MessageId, now: UtcMs) -> Result<(), LifecycleError> {
        if !self.messages.contains(&id) {
            return Err(LifecycleError::NotInCase(id, self.case_ref.clone()));
        }
        let opening = self.messages.first() == Some(&id);
        match &self.state {
            CaseState::Failed { .. } if opening => self.state = CaseState::Queued,
            _ if opening => return Err(self.refuse("only a request that failed can be sent again")),
            _ => {}
        }
        self.updated_at = now;
        Ok(())
    }

    /// The message an answer of `kind` answers when the officer names none: the one open
    /// question or request for an explanation or consent (none when several are open), the
    /// conditions it settles; else the request that opened the case. `None` in a case
    /// recorded from another channel.
    pub fn answered(&self, kind: MessageKind) -> Option<MessageId> {
        use MessageKind as K;
        let only = |open: &[MessageId]| match open {
            [one] => Some(*one),
            _ => None,
        };
        match kind {
            // None when several are open: the lifecycle then asks which one.
            K::InfoProvided => only(&self.open_info_requests),
            K::UseExplanation | K::UseConsent => only(&self.open_use_requests),
            K::ConditionsReply => self
                .pending_conditions
                .or_else(|| self.messages.first().copied()),
            _ => self.messages.first().copied(),
        }
    }

    /// Applies a receipt or a final refusal of a message; the record is unchanged on error.
    pub fn apply(&mut self, t: &Transition, now: UtcMs) -> Result<(), LifecycleError> {
        let id = match t {
            Transition::Receipted { id } | Transition::Refused { id, .. } => *id,
        };
        if !self.messages.contains(&id) {
            return Err(LifecycleError::NotInCase(id, self.case_ref.clone()));
        }
        let opening = self.messages.first() == Some(&id);
        match (t, &self.state) {
            (Transition::Receipted { .. }, CaseState::Queued) if opening => {
                self.state = CaseState::Delivered
            }
            // A receipt of a later message, or a duplicate, does not move the case.
            (Transition::Receipted { .. }, _) => {}
            (Transition::Refused { reason, .. }, CaseState::Queued) if opening => {
                self.state = CaseState::Failed {
                    reason: reason.clone(),
                }
            }
            // A later message refused for good is marked failed on its own; the case stays.
            (Transition::Refused { .. }, _) if !opening => {}
            (Transition::Refused { .. }, _) => {
                return Err(self.refuse("a request already receipted cannot be refused"))
            }
        }
        self.updated_at = now;
        Ok(())
    }

    /// Applies a message of the case (not the opening request), sent or received; the record
    /// is unchanged on error. Returns the warnings the message raises.
    pub fn apply_message(
        &mut self,
        step: Step<'_>,
        now: UtcMs,
    ) -> Result<Vec<String>, LifecycleError> {
        let mut next = self.clone();
        let warnings = next.transition(step, now)?;
        next.messages.push(step.id);
        next.updated_at = now;
        next.warnings.extend(warnings.iter().cloned());
        *self = next;
        Ok(warnings)
    }

    /// One message of the case: first whether it may come now, from its sender
    /// ([`CaseRecord::admit`]), then what it changes, by concern: the exchange before a
    /// decision, the requester's choices, an offer of spontaneous information, the decision,
    /// the execution, the use of what was given, the formal confirmation.
    fn transition(&mut self, step: Step<'_>, now: UtcMs) -> Result<Vec<String>, LifecycleError> {
        if let Some(kept) = self.admit(step, now)? {
            return Ok(kept);
        }
        let from_requested = step.from == &self.requested;
        let offer = self.kind == MessageKind::InformationOffer;
        let mut warnings = Vec::new();
        match step.body {
            // The exchange before a decision.
            Body::Acknowledgement(_) => self.acknowledge(step.at)?,
            Body::InfoRequest(_) => {
                self.before_decision("ask for information")?;
                self.open_info_requests.push(step.id);
                self.state = CaseState::InfoRequested;
            }
            Body::InfoProvided(_) => self.answer_info(step.in_reply_to)?,
            Body::StatusRequest(_) => {
                self.before_decision("ask for the status")?;
                self.state = CaseState::StatusRequested;
            }
            Body::StatusReport(_) => {
                self.before_decision("report the status")?;
                self.state = CaseState::StatusReported;
            }
            Body::DelayNotice(_) => {
                self.before_decision("notify a delay")?;
                self.state = CaseState::DelayNotified;
            }
            // What the requester must choose before the case goes on.
            Body::ConfidentialityReply(r) => self.answer_confidentiality(r.can_comply)?,
            Body::PreservationInsufficient(_) => self.insufficient()?,
            Body::Proceed(_) => self.proceed()?,
            Body::Conditions(_) => self.set_conditions(step.id, &mut warnings)?,
            Body::ConditionsReply(r) if offer => self.answer_offer(r.accepted)?,
            Body::ConditionsReply(_) => self.answer_conditions()?,
            // Spontaneous information sent after its offer.
            Body::SpontaneousInformation(_) => self.send_offered(offer, &mut warnings)?,
            // The decision.
            Body::Decision(d) => self.decide(d, step.at, &mut warnings)?,
            // The use of what was given.
            Body::UseExplanationRequest(_) | Body::UseConsentRequest(_) => {
                self.open_use_requests.push(step.id);
            }
            Body::UseExplanation(_) | Body::UseConsent(_) => self.answer_use(step.in_reply_to)?,
            // The execution.
            Body::DisclosureNotice(_) | Body::Results(_) => {}
            Body::TrafficDataDisclosure(_) => self.disclose_traffic_data()?,
            Body::PreservationExtension(e) => {
                self.extend(e.until, from_requested, &mut warnings)?
            }
            Body::PreservationRelease(_) => {
                if self.kind != MessageKind::Preservation || self.released {
                    return Err(self.refuse("only a preservation not yet released can be released"));
                }
                self.released = true;
            }
            // The formal confirmation, and the end.
            Body::FormalConfirmation(_) => self.confirm(step.id)?,
            Body::Withdrawal(_) => self.state = CaseState::Withdrawn,
            Body::Preservation(_)
            | Body::EmergencyProduction(_)
            | Body::MutualAssistance(_)
            | Body::Assistance(_)
            | Body::InformationOffer(_) => {
                let kind = step.body.kind();
                return Err(self.refuse(format!("a {kind} opens a case of its own")));
            }
        }
        Ok(warnings)
    }

    /// Whether `step` may come now, from its sender: the side that may send its kind, a case
    /// still open, a message not seen before, a kind that fits the case. `Some` is a message
    /// of substance that arrived after this side closed the case: kept, with its warning.
    fn admit(&mut self, step: Step<'_>, now: UtcMs) -> Result<Option<Vec<String>>, LifecycleError> {
        use MessageKind as K;
        let kind = step.body.kind();
        if kind.is_request() && kind != K::SpontaneousInformation {
            return Err(self.refuse(format!("a {kind} opens a case of its own")));
        }
        let from_requester = step.from == &self.requester;
        let from_requested = step.from == &self.requested;
        let side = side_of(kind, self.kind);
        // In a case recorded from another channel, the requested Party records the written
        // confirmation it received (CARICOM MLA para. 18); the requester has no node here.
        let recorded_confirmation =
            kind == K::FormalConfirmation && self.recorded_external.is_some() && from_requested;
        let ok_side = recorded_confirmation
            || match side {
                Side::Requester => from_requester,
                Side::Requested => from_requested,
                Side::Either => from_requester || from_requested,
            };
        if !ok_side {
            return Err(LifecycleError::WrongSide {
                case: self.case_ref.clone(),
                kind,
                from: step.from.clone(),
                expected: match side {
                    Side::Requester => "requesting Party",
                    Side::Requested => "requested Party",
                    Side::Either => "two Parties of the case",
                },
            });
        }
        // A case one side closed is its own bookkeeping: what the other Party still sends of
        // substance (the results, the traffic data, a notice) is evidence, taken into the case,
        // which stays closed, with a warning for the officer. Nothing else is.
        if self.state == CaseState::Closed
            && step.from == self.peer()
            && matches!(
                kind,
                K::Results | K::TrafficDataDisclosure | K::DisclosureNotice | K::StatusReport
            )
            && !self.messages.contains(&step.id)
        {
            self.updated_at = now;
            return Ok(Some(vec![format!(
                "{kind} from {} arrived after this case was closed here; it is kept in the case",
                step.from
            )]));
        }
        if self.state.is_terminal() {
            return Err(self.refuse("nothing more can happen in this case"));
        }
        if self.messages.contains(&step.id) {
            return Err(self.refuse("this message is already part of the case"));
        }
        // Any message from the requested Party shows the request reached it.
        if from_requested && self.state == CaseState::Queued {
            self.state = CaseState::Delivered;
        }
        let offer = self.kind == K::InformationOffer;
        let spontaneous = offer || self.kind == K::SpontaneousInformation;
        if spontaneous
            && !matches!(
                kind,
                K::ConditionsReply
                    | K::SpontaneousInformation
                    | K::Withdrawal
                    | K::DisclosureNotice
                    | K::UseConsentRequest
                    | K::UseConsent
                    | K::UseExplanationRequest
                    | K::UseExplanation
                    | K::Acknowledgement
            )
        {
            return Err(self.refuse(format!("a {kind} has no place in spontaneous information")));
        }
        if self.copy_of.is_some() && kind != K::Acknowledgement {
            return Err(self.refuse(format!(
                "this is a copy for information (art. 27(9)(a)); a {kind} belongs in the case \
                 of the request itself"
            )));
        }
        Ok(None)
    }
}

/// Which of the `open` questions a reply answers: the one it names, or the only one open.
fn answered(open: &[MessageId], in_reply_to: Option<MessageId>) -> Option<usize> {
    match in_reply_to {
        Some(q) => open.iter().position(|x| *x == q),
        None if open.len() == 1 => Some(0),
        None => None,
    }
}

/// The exchange before a decision: acknowledgement and questions.
impl CaseRecord {
    fn acknowledge(&mut self, at: UtcMs) -> Result<(), LifecycleError> {
        if self.acknowledged_at.is_some() {
            return Err(self.refuse("it was acknowledged already"));
        }
        if self.decided_at.is_some() {
            return Err(self.refuse("it was decided already"));
        }
        self.acknowledged_at = Some(at);
        if self.state == CaseState::Delivered {
            self.state = CaseState::Acknowledged;
        }
        Ok(())
    }

    fn answer_info(&mut self, in_reply_to: Option<MessageId>) -> Result<(), LifecycleError> {
        let answered = answered(&self.open_info_requests, in_reply_to);
        let Some(i) = answered else {
            return Err(self.refuse(match in_reply_to {
                Some(q) => format!("no open information request {q} to answer"),
                None if self.open_info_requests.is_empty() => {
                    "no information was requested".to_owned()
                }
                None => {
                    "several questions are open: name the one answered (in_reply_to)".to_owned()
                }
            }));
        };
        self.open_info_requests.remove(i);
        if self.open_info_requests.is_empty() && self.state == CaseState::InfoRequested {
            self.state = CaseState::InfoProvided;
        }
        Ok(())
    }
}

/// What the requester must choose before the case goes on: confidentiality (art. 27(8)), an
/// insufficient preservation (art. 29(6)), conditions (art. 28).
impl CaseRecord {
    fn answer_confidentiality(&mut self, can_comply: bool) -> Result<(), LifecycleError> {
        if !self.context.confidential {
            return Err(self.refuse("the request did not ask for confidentiality (art. 27(8))"));
        }
        self.before_decision("answer on confidentiality")?;
        if !can_comply {
            self.state = CaseState::AwaitingRequester {
                article: "27(8)".into(),
            };
        }
        Ok(())
    }

    fn insufficient(&mut self) -> Result<(), LifecycleError> {
        if self.kind != MessageKind::Preservation {
            return Err(self.refuse("only a preservation can be insufficient (art. 29(6))"));
        }
        self.before_decision("say a preservation is insufficient")?;
        self.state = CaseState::AwaitingRequester {
            article: "29(6)".into(),
        };
        Ok(())
    }

    fn proceed(&mut self) -> Result<(), LifecycleError> {
        if !matches!(self.state, CaseState::AwaitingRequester { .. }) {
            return Err(self.refuse("there is nothing to proceed from (arts. 29(6), 27(8))"));
        }
        self.state = self.resting_state();
        Ok(())
    }

    fn set_conditions(
        &mut self,
        id: MessageId,
        warnings: &mut Vec<String>,
    ) -> Result<(), LifecycleError> {
        if self.pending_conditions.is_some() {
            return Err(self.refuse("conditions already await an answer"));
        }
        self.before_decision("set conditions")?;
        if self.context.mla_basis == MlaBasis::Treaty {
            warnings.push(
                "a treaty is in force between the Parties: art. 28 applies only as it provides \
                 (art. 28(1))"
                    .to_owned(),
            );
        }
        self.pending_conditions = Some(id);
        self.state = CaseState::ConditionsProposed;
        Ok(())
    }

    fn answer_conditions(&mut self) -> Result<(), LifecycleError> {
        if self.pending_conditions.take().is_none() {
            return Err(self.refuse("no conditions await an answer (art. 28(3))"));
        }
        self.state = self.resting_state();
        Ok(())
    }
}

/// Spontaneous information offered under conditions (art. 26(2)).
impl CaseRecord {
    fn answer_offer(&mut self, accepted: bool) -> Result<(), LifecycleError> {
        if self.state != CaseState::Delivered && self.state != CaseState::Acknowledged {
            return Err(self.refuse("the offer was answered already (art. 26(2))"));
        }
        self.state = if accepted {
            CaseState::OfferAccepted
        } else {
            CaseState::OfferDeclined
        };
        Ok(())
    }

    fn send_offered(
        &mut self,
        offer: bool,
        warnings: &mut Vec<String>,
    ) -> Result<(), LifecycleError> {
        if !offer {
            return Err(
                self.refuse("spontaneous information without an offer opens a case of its own")
            );
        }
        match self.state {
            CaseState::OfferAccepted => {}
            CaseState::OfferDeclined => warnings.push(
                "the receiver declined the conditions: sent anyway on the sender's decision \
                 (art. 26(2))"
                    .to_owned(),
            ),
            _ => {
                return Err(self.refuse(
                    "the conditions must be answered before the information is sent (art. 26(2))",
                ))
            }
        }
        self.state = CaseState::Sent;
        Ok(())
    }
}

/// The decision, and the minimum preservation it owes (art. 29(7)).
impl CaseRecord {
    fn decide(
        &mut self,
        d: &poc247_protocol::Decision,
        at: UtcMs,
        warnings: &mut Vec<String>,
    ) -> Result<(), LifecycleError> {
        if self.finally_decided() {
            return Err(self.refuse("it was decided already"));
        }
        if let CaseState::AwaitingRequester { article } = &self.state {
            return Err(self.refuse(format!(
                "the requester must first proceed or withdraw (art. {article})"
            )));
        }
        if self.pending_conditions.is_some() {
            return Err(self.refuse("the conditions must be answered first (art. 28(3))"));
        }
        let Some(outcome) = d.outcome else {
            return Err(self.refuse("a decision needs an outcome"));
        };
        self.decided_at = Some(at);
        self.executed_on = d.executed_on.or(self.executed_on);
        if outcome == Outcome::EmergencyNotEstablished {
            // It goes on as an ordinary request (emergency MLA para. 4).
            self.urgency = Urgency::Urgent;
        }
        if self.kind == MessageKind::Preservation && outcome == Outcome::Executed {
            let executed = d.executed_on.unwrap_or_else(|| Date::from_utc_ms(at.0));
            let minimum = executed.plus_days(i64::from(self.context.preservation_min_days));
            let until = d.preserved_until.unwrap_or(minimum);
            if until < minimum {
                warnings.push(format!(
                    "preserved until {until}, earlier than execution + the Party's minimum of {} \
                     days ({minimum}) (art. 29(7))",
                    self.context.preservation_min_days
                ));
            }
            self.preserved_until = Some(until);
        }
        self.state = CaseState::Decided { outcome };
        Ok(())
    }
}

/// The execution: traffic data disclosed (art. 30(1)), a preservation extended.
impl CaseRecord {
    fn disclose_traffic_data(&self) -> Result<(), LifecycleError> {
        // Art. 30(1): in the course of executing a request to preserve traffic data.
        if self.kind != MessageKind::Preservation || !self.context.traffic_data {
            return Err(self.refuse(
                "traffic data are disclosed only in executing a preservation of traffic data \
                 (art. 30(1))",
            ));
        }
        if self.decided_outcome() == Some(Outcome::Refused) {
            return Err(self.refuse(
                "the preservation was refused: nothing is executed in which traffic data could \
                 be disclosed (art. 30(1))",
            ));
        }
        Ok(())
    }

    fn extend(
        &mut self,
        until: Option<Date>,
        from_requested: bool,
        warnings: &mut Vec<String>,
    ) -> Result<(), LifecycleError> {
        if self.kind != MessageKind::Preservation || self.preserved_until.is_none() || self.released
        {
            return Err(self.refuse("only an executed, unreleased preservation can be extended"));
        }
        if from_requested {
            self.preserved_until = until.or(self.preserved_until);
        } else {
            // The requester asks; the data are kept longer only once the requested Party
            // renews its order and says so (BC 16(2), 29(7)).
            warnings.push(format!(
                "{} asks to extend the preservation{}: {} answers with its own extension",
                self.requester,
                until.map(|u| format!(" until {u}")).unwrap_or_default(),
                self.requested
            ));
        }
        Ok(())
    }
}

/// The use of what was given (arts. 28(4), 26): questions about it and their answers.
impl CaseRecord {
    fn answer_use(&mut self, in_reply_to: Option<MessageId>) -> Result<(), LifecycleError> {
        let answered = answered(&self.open_use_requests, in_reply_to);
        let Some(i) = answered else {
            return Err(self.refuse("no open request for an explanation or consent to answer"));
        };
        self.open_use_requests.remove(i);
        Ok(())
    }
}

/// The formal confirmation (art. 25(3)) and the officer's own acts on the case.
impl CaseRecord {
    fn confirm(&mut self, id: MessageId) -> Result<(), LifecycleError> {
        if !self.context.confirmation_required {
            return Err(self.refuse(format!(
                "{} requires no formal confirmation (art. 25(3))",
                self.requested
            )));
        }
        if self.confirmation.is_some() {
            return Err(self.refuse("the formal confirmation was given already"));
        }
        self.confirmation = Some(id);
        Ok(())
    }

    fn before_decision(&self, what: &str) -> Result<(), LifecycleError> {
        if self.finally_decided() {
            return Err(self.refuse(format!("cannot {what} once it is decided")));
        }
        Ok(())
    }

    /// Closes the case on this node (an officer's act; no message is sent).
    pub fn close(&mut self, now: UtcMs) -> Result<(), LifecycleError> {
        if self.state.is_terminal() {
            return Err(self.refuse("it is over already"));
        }
        if self.pending_conditions.is_some() && self.context.mla_basis == MlaBasis::Convention {
            return Err(
                self.refuse("the conditions must be answered before the case closes (art. 28(3))")
            );
        }
        let done = self.finally_decided()
            || self.copy_of.is_some()
            || matches!(self.state, CaseState::Sent)
            || (self.kind == MessageKind::SpontaneousInformation
                && matches!(self.state, CaseState::Delivered | CaseState::Acknowledged))
            || self.recorded_external.is_some();
        if !done {
            return Err(self.refuse("only a decided case (or information sent) can be closed"));
        }
        self.state = CaseState::Closed;
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use poc247_protocol::kinds::*;
    use poc247_protocol::*;

    fn p(s: &str) -> PartyId {
        PartyId::parse(s).unwrap()
    }

    /// `CaseState::NAMES` (what a listing's `state` filter accepts) and `name()` say the same.
    /// The match has no wildcard: a new state does not compile here until it is listed.
    #[test]
    fn every_state_is_named_in_the_list_of_names() {
        let all = [
            CaseState::Queued,
            CaseState::Delivered,
            CaseState::Acknowledged,
            CaseState::InfoRequested,
            CaseState::InfoProvided,
            CaseState::StatusRequested,
            CaseState::StatusReported,
            CaseState::DelayNotified,
            CaseState::AwaitingRequester {
                article: String::new(),
            },
            CaseState::ConditionsProposed,
            CaseState::Decided {
                outcome: Outcome::Executed,
            },
            CaseState::OfferAccepted,
            CaseState::OfferDeclined,
            CaseState::Sent,
            CaseState::Closed,
            CaseState::Withdrawn,
            CaseState::Failed {
                reason: String::new(),
            },
        ];
        for state in &all {
            match state {
                CaseState::Queued
                | CaseState::Delivered
                | CaseState::Acknowledged
                | CaseState::InfoRequested
                | CaseState::InfoProvided
                | CaseState::StatusRequested
                | CaseState::StatusReported
                | CaseState::DelayNotified
                | CaseState::AwaitingRequester { .. }
                | CaseState::ConditionsProposed
                | CaseState::Decided { .. }
                | CaseState::OfferAccepted
                | CaseState::OfferDeclined
                | CaseState::Sent
                | CaseState::Closed
                | CaseState::Withdrawn
                | CaseState::Failed { .. } => {}
            }
            assert!(CaseState::NAMES.contains(&state.name()), "{state:?}");
        }
        assert_eq!(all.len(), CaseState::NAMES.len());
    }
    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    /// Both sides of one case, driven by the same messages.
    struct Pair {
        requester: CaseRecord,
        requested: CaseRecord,
        now: UtcMs,
        last: MessageId,
    }

    impl Pair {
        fn open(body: Body, context: CaseContext) -> Pair {
            let now = UtcMs(1_780_000_000_000);
            let lu = p("LU");
            let header = Header {
                version: PROTOCOL_VERSION,
                id: MessageId::new(now),
                from: lu.clone(),
                to: p("FR"),
                created_at: now,
                case_ref: CaseRef::new(&lu, 2026, 1),
                in_reply_to: None,
                urgency: Urgency::Urgent,
                language: Language::parse("fr").unwrap(),
                exercise: false,
            };
            let mut requester =
                CaseRecord::open(&header, &body, Role::Requester, context.clone(), now);
            requester
                .apply(&Transition::Receipted { id: header.id }, now)
                .unwrap();
            let requested = CaseRecord::open(&header, &body, Role::Requested, context, now);
            let pair = Pair {
                requester,
                requested,
                now,
                last: header.id,
            };
            pair.agree();
            pair
        }

        fn preservation() -> Pair {
            Pair::open(
                Body::Preservation(Preservation::default()),
                CaseContext {
                    preservation_min_days: 60,
                    confirmation_required: true,
                    ..CaseContext::default()
                },
            )
        }

        /// The two views must be the same but for the side each node is on.
        fn agree(&self) {
            let mut a = self.requester.clone();
            let mut b = self.requested.clone();
            a.role = Role::Requested;
            a.updated_at = UtcMs(0);
            b.updated_at = UtcMs(0);
            assert_eq!(a, b, "the two sides disagree");
        }

        /// `from` sends `body`: both sides apply it, or both refuse it unchanged.
        fn send(&mut self, from: &str, body: Body) -> Result<Vec<String>, LifecycleError> {
            self.send_reply(from, body, None)
        }

        fn send_reply(
            &mut self,
            from: &str,
            body: Body,
            in_reply_to: Option<MessageId>,
        ) -> Result<Vec<String>, LifecycleError> {
            self.now = self.now.plus_ms(60_000);
            let id = MessageId::new(self.now);
            let from = p(from);
            let step = Step {
                id,
                from: &from,
                in_reply_to,
                at: self.now,
                body: &body,
            };
            let (before_a, before_b) = (self.requester.clone(), self.requested.clone());
            let a = self.requester.apply_message(step, self.now);
            let b = self.requested.apply_message(step, self.now);
            assert_eq!(a, b, "the two sides judged {} differently", body.kind());
            if a.is_err() {
                assert_eq!(self.requester, before_a, "unchanged on refusal");
                assert_eq!(self.requested, before_b, "unchanged on refusal");
            } else {
                self.last = id;
            }
            self.agree();
            a
        }

        fn state(&self) -> &str {
            self.requester.state.name()
        }
    }

    fn ack() -> Body {
        Body::Acknowledgement(Acknowledgement {
            officer: "duty officer".into(),
            note: None,
        })
    }
    fn decide(outcome: Outcome) -> Decision {
        Decision {
            outcome: Some(outcome),
            ..Decision::default()
        }
    }
    fn executed(until: Option<&str>) -> Body {
        Body::Decision(Decision {
            executed_on: Some(d("2026-06-01")),
            preserved_until: until.map(d),
            ..decide(Outcome::Executed)
        })
    }

    #[test]
    fn preservation_acknowledged_executed_extended_released_closed() {
        let mut c = Pair::preservation();
        c.send("FR", ack()).unwrap();
        assert_eq!(c.state(), "acknowledged");
        let w = c.send("FR", executed(Some("2026-08-15"))).unwrap();
        assert!(w.is_empty());
        assert_eq!(c.state(), "decided");
        assert_eq!(c.requester.preserved_until, Some(d("2026-08-15")));
        let ext = PreservationExtension {
            until: Some(d("2026-10-15")),
            reason: "order renewed".into(),
        };
        c.send("FR", Body::PreservationExtension(ext)).unwrap();
        assert_eq!(c.requested.preserved_until, Some(d("2026-10-15")));
        c.send(
            "LU",
            Body::PreservationRelease(PreservationRelease::default()),
        )
        .unwrap();
        assert!(c.requester.released);
        c.requester.close(c.now).unwrap();
        c.requested.close(c.now).unwrap();
        c.agree();
        assert!(c.send("FR", ack()).is_err(), "nothing after closure");
    }

    #[test]
    fn preserved_until_earlier_than_the_minimum_warns_art_29_7() {
        let mut c = Pair::preservation();
        let w = c.send("FR", executed(Some("2026-06-30"))).unwrap();
        assert!(w[0].contains("29(7)"), "{w:?}");
        let mut c = Pair::preservation();
        c.send("FR", executed(None)).unwrap();
        assert_eq!(
            c.requester.preserved_until,
            Some(d("2026-07-31")),
            "fallback: execution + 60 days"
        );
    }

    #[test]
    fn a_decision_on_a_case_not_yet_acknowledged_is_allowed_but_not_a_second_one() {
        let mut c = Pair::preservation();
        let refused = Decision {
            reasons: Some("political offence".into()),
            refusal_ground: Some(RefusalGround::PoliticalOffence),
            ..decide(Outcome::Refused)
        };
        c.send("FR", Body::Decision(refused)).unwrap();
        assert!(c.send("FR", executed(Some("2026-09-01"))).is_err());
        assert!(
            c.send("FR", ack()).is_err(),
            "no acknowledgement after the decision"
        );
    }

    #[test]
    fn postponement_leaves_room_for_a_later_decision_art_27_5() {
        let mut c = Pair::preservation();
        let postponed = Decision {
            reasons: Some("ongoing domestic investigation".into()),
            ..decide(Outcome::Postponed)
        };
        c.send("FR", Body::Decision(postponed)).unwrap();
        c.send("FR", executed(Some("2026-09-01"))).unwrap();
        assert!(c.requester.requester == p("LU"));
        assert!(c.send("FR", executed(Some("2026-09-01"))).is_err());
    }

    #[test]
    fn only_the_requested_party_decides_and_only_the_requester_confirms() {
        let mut c = Pair::preservation();
        assert!(matches!(
            c.send("LU", executed(None)),
            Err(LifecycleError::WrongSide { .. })
        ));
        assert!(matches!(
            c.send("CO", ack()),
            Err(LifecycleError::WrongSide { .. })
        ));
        let confirm = FormalConfirmation {
            reference: "MLA-2026-17".into(),
            channel: Some(ConfirmationChannel::CentralAuthority),
            sent_on: Some(d("2026-06-02")),
            document_sha256: None,
        };
        assert!(c
            .send("FR", Body::FormalConfirmation(confirm.clone()))
            .is_err());
        c.send("LU", Body::FormalConfirmation(confirm.clone()))
            .unwrap();
        assert!(
            c.send("LU", Body::FormalConfirmation(confirm)).is_err(),
            "given once"
        );
    }

    #[test]
    fn no_confirmation_for_a_party_that_requires_none_art_25_3() {
        let mut c = Pair::open(
            Body::Preservation(Preservation::default()),
            CaseContext::default(),
        );
        let confirm = FormalConfirmation {
            reference: "x".into(),
            ..FormalConfirmation::default()
        };
        let e = c.send("LU", Body::FormalConfirmation(confirm)).unwrap_err();
        assert!(e.to_string().contains("25(3)"), "{e}");
    }

    #[test]
    fn information_is_answered_only_when_it_was_requested() {
        let mut c = Pair::preservation();
        let answer = Body::InfoProvided(InfoProvided {
            answers: "the account id is 42".into(),
        });
        assert!(c.send("LU", answer.clone()).is_err(), "never asked");
        c.send(
            "FR",
            Body::InfoRequest(InfoRequest {
                questions: "which account?".into(),
            }),
        )
        .unwrap();
        let q1 = c.last;
        c.send(
            "FR",
            Body::InfoRequest(InfoRequest {
                questions: "which period?".into(),
            }),
        )
        .unwrap();
        assert!(c.send("LU", answer.clone()).is_err(), "two open: say which");
        c.send_reply("LU", answer.clone(), Some(q1)).unwrap();
        assert_eq!(c.state(), "info_requested");
        c.send("LU", answer.clone()).unwrap();
        assert_eq!(c.state(), "info_provided");
        assert!(c.send("LU", answer).is_err(), "nothing left to answer");
    }

    #[test]
    fn an_insufficient_preservation_waits_for_the_requester_art_29_6() {
        let mut c = Pair::preservation();
        c.send("FR", ack()).unwrap();
        let insufficient = PreservationInsufficient {
            explanation: "provider keeps logs 24 h".into(),
        };
        c.send("FR", Body::PreservationInsufficient(insufficient))
            .unwrap();
        assert_eq!(c.state(), "awaiting_requester");
        assert!(
            c.send("FR", executed(None)).is_err(),
            "the requester decides first"
        );
        c.send("LU", Body::Proceed(Proceed::default())).unwrap();
        assert_eq!(c.state(), "acknowledged");
        c.send("FR", executed(None)).unwrap();
    }

    fn confidential_mla() -> Pair {
        let body = Body::MutualAssistance(MutualAssistance {
            confidential: true,
            ..MutualAssistance::default()
        });
        Pair::open(body, CaseContext::default())
    }

    #[test]
    fn confidentiality_that_cannot_be_kept_hands_the_choice_back_art_27_8() {
        let mut c = confidential_mla();
        let reply = ConfidentialityReply {
            can_comply: false,
            explanation: Some("court disclosure".into()),
        };
        c.send("FR", Body::ConfidentialityReply(reply)).unwrap();
        assert_eq!(c.state(), "awaiting_requester");
        c.send("LU", Body::Withdrawal(Withdrawal::default()))
            .unwrap();
        assert_eq!(c.state(), "withdrawn");
        assert!(c.send("FR", ack()).is_err(), "nothing after withdrawal");
        let mut plain = Pair::preservation();
        let reply = ConfidentialityReply {
            can_comply: true,
            explanation: None,
        };
        assert!(
            plain.send("FR", Body::ConfidentialityReply(reply)).is_err(),
            "not asked"
        );
    }

    #[test]
    fn conditions_must_be_answered_before_a_decision_or_closure_art_28() {
        let mut c = confidential_mla();
        let conditions = Conditions {
            confidential: true,
            use_limited_to: Some("case 17".into()),
            text: "use only in case 17".into(),
        };
        c.send("FR", Body::Conditions(conditions)).unwrap();
        assert_eq!(c.state(), "conditions_proposed");
        assert!(c.send("FR", executed(None)).is_err());
        let declined = ConditionsReply {
            accepted: false,
            explanation: Some("cannot limit use".into()),
        };
        c.send("LU", Body::ConditionsReply(declined)).unwrap();
        // After a decline the requested Party decides whether to provide anyway.
        c.send("FR", executed(None)).unwrap();
        c.requester.close(c.now).unwrap();
    }

    #[test]
    fn spontaneous_information_is_sent_after_its_conditions_are_answered_art_26_2() {
        let offer = InformationOffer {
            conditions: "confidential".into(),
            relevance: "botnet C2 in your territory".into(),
            ..InformationOffer::default()
        };
        let mut c = Pair::open(Body::InformationOffer(offer), CaseContext::default());
        let info = Body::SpontaneousInformation(SpontaneousInformation {
            information: "C2 at 198.51.100.4".into(),
            relevance: "botnet".into(),
            ..SpontaneousInformation::default()
        });
        assert!(c.send("LU", info.clone()).is_err(), "not before the reply");
        let declined = ConditionsReply {
            accepted: false,
            explanation: Some("cannot keep it confidential".into()),
        };
        assert!(
            c.send("LU", Body::ConditionsReply(declined.clone()))
                .is_err(),
            "the receiver replies"
        );
        c.send("FR", Body::ConditionsReply(declined)).unwrap();
        assert_eq!(c.state(), "offer_declined");
        let w = c.send("LU", info).unwrap();
        assert!(w[0].contains("26(2)"));
        assert_eq!(c.state(), "sent");
        c.requested.close(c.now).unwrap();
    }

    #[test]
    fn the_supplier_of_spontaneous_information_asks_how_it_was_used_art_28_4_mla_para_24() {
        let info = Body::SpontaneousInformation(SpontaneousInformation {
            information: "C2 at 198.51.100.4".into(),
            relevance: "botnet".into(),
            ..SpontaneousInformation::default()
        });
        let mut c = Pair::open(info, CaseContext::default());
        let ask = Body::UseExplanationRequest(UseExplanationRequest {
            text: "how was it used?".into(),
        });
        assert!(c.send("FR", ask.clone()).is_err(), "not the receiver");
        c.send("LU", ask).unwrap();
        c.send(
            "FR",
            Body::UseExplanation(UseExplanation {
                text: "to identify the operators".into(),
            }),
        )
        .unwrap();
        let consent = Body::UseConsentRequest(UseConsentRequest {
            purpose: "a related fraud case".into(),
        });
        assert!(c.send("LU", consent.clone()).is_err(), "the user asks");
        c.send("FR", consent).unwrap();
        c.send(
            "LU",
            Body::UseConsent(UseConsent {
                granted: true,
                conditions: None,
            }),
        )
        .unwrap();
    }

    #[test]
    fn traffic_data_are_disclosed_only_in_executing_a_preservation_of_traffic_data_art_30_1() {
        let mut c = confidential_mla();
        let disclosure = TrafficDataDisclosure {
            service_provider: "ISP".into(),
            ..TrafficDataDisclosure::default()
        };
        assert!(c
            .send("FR", Body::TrafficDataDisclosure(disclosure.clone()))
            .is_err());
        // A preservation of other data.
        let mut c = Pair::preservation();
        assert!(c
            .send("FR", Body::TrafficDataDisclosure(disclosure.clone()))
            .is_err());
        let traffic = || {
            Pair::open(
                Body::Preservation(Preservation {
                    includes_traffic_data: true,
                    ..Preservation::default()
                }),
                CaseContext::default(),
            )
        };
        // A preservation of traffic data that was refused: nothing is executed.
        let mut c = traffic();
        c.send("FR", Body::Decision(refused_political())).unwrap();
        assert!(c
            .send("FR", Body::TrafficDataDisclosure(disclosure.clone()))
            .is_err());
        let mut c = traffic();
        c.send("FR", Body::TrafficDataDisclosure(disclosure))
            .unwrap();
    }

    fn refused_political() -> Decision {
        Decision {
            outcome: Some(Outcome::Refused),
            refusal_ground: Some(poc247_protocol::RefusalGround::PoliticalOffence),
            reasons: Some("political offence".into()),
            ..Decision::default()
        }
    }

    #[test]
    fn an_emergency_not_established_goes_on_as_an_ordinary_request() {
        let mut c = Pair::preservation();
        c.requester.urgency = Urgency::Emergency;
        c.requested.urgency = Urgency::Emergency;
        c.send(
            "FR",
            Body::Decision(decide(Outcome::EmergencyNotEstablished)),
        )
        .unwrap();
        assert_eq!(c.requester.urgency, Urgency::Urgent);
        c.send("FR", executed(None)).unwrap();
    }

    #[test]
    fn a_case_is_closed_only_once_decided() {
        let mut c = Pair::preservation();
        assert!(c.requester.close(c.now).is_err());
        c.send("FR", executed(None)).unwrap();
        c.requester.close(c.now).unwrap();
        assert!(c.requester.close(c.now).is_err());
    }

    #[test]
    fn a_request_does_not_travel_inside_another_case() {
        let mut c = Pair::preservation();
        assert!(c
            .send("LU", Body::Preservation(Preservation::default()))
            .is_err());
    }

    #[test]
    fn a_refused_request_fails_and_a_delivered_one_cannot_be_refused() {
        let c = Pair::preservation();
        let mut d = c.requester.clone();
        let id = d.messages[0];
        assert!(d
            .apply(
                &Transition::Refused {
                    id,
                    reason: "x".into()
                },
                UtcMs(3)
            )
            .is_err());
        let mut q = c.requester.clone();
        q.state = CaseState::Queued;
        q.apply(
            &Transition::Refused {
                id,
                reason: "bad-signature: x".into(),
            },
            UtcMs(3),
        )
        .unwrap();
        assert_eq!(q.state.name(), "failed");
        assert!(q.state.is_terminal());
    }
}
