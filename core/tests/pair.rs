//! Two cores on an in-memory wire with a manual clock, in the manner of quinn's `Pair`: LU
//! and FR each keep their cases in memory, sign what they send with their own key, and take
//! what arrives through the core's inbound gate ([`poc247_core::inbound`]) and the case
//! lifecycle, exactly the decisions the node makes between its reads and writes of the store.
//! A request goes through acknowledgement, decision and formal confirmation; hostile frames
//! are refused with the code a peer would be told, and change nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use poc247_core::inbound::{self, Gate};
use poc247_core::lifecycle::{CaseContext, CaseRecord, Role, Step};
use poc247_core::window::Window;
use poc247_protocol::{
    Acknowledgement, Body, CaseRef, ConfirmationChannel, Date, Decision, Envelope,
    FormalConfirmation, Header, Language, MessageId, Outcome, PartyId, Preservation, Receipt,
    RejectionCode, Reply, SigningKey, UtcMs, VerifyingKey, PROTOCOL_VERSION,
};
use std::collections::{BTreeMap, VecDeque};

/// The key of seed `seed`, valid always.
fn key(seed: u8) -> Vec<Window<VerifyingKey>> {
    vec![Window {
        value: SigningKey::from_bytes(&[seed; 32]).verifying_key(),
        from: None,
        until: None,
    }]
}

fn party(p: &str) -> PartyId {
    PartyId::parse(p).unwrap()
}

/// One side: its Party, its key, the keys it knows, its cases and the receipts it gave.
struct Core {
    me: PartyId,
    key: SigningKey,
    directory: BTreeMap<PartyId, Vec<Window<VerifyingKey>>>,
    cases: BTreeMap<CaseRef, CaseRecord>,
    receipts: BTreeMap<MessageId, Reply>,
    context: CaseContext,
}

impl Core {
    fn new(me: &str, seed: u8) -> Core {
        Core {
            me: party(me),
            key: SigningKey::from_bytes(&[seed; 32]),
            directory: BTreeMap::new(),
            cases: BTreeMap::new(),
            receipts: BTreeMap::new(),
            context: CaseContext {
                preservation_min_days: 60,
                confirmation_required: true,
                confirmation_days: 30,
                ..CaseContext::default()
            },
        }
    }

    /// A frame from this side: a new request (`case` is new) or a message in a case, applied
    /// here first as the node applies what it sends.
    fn send(
        &mut self,
        to: &PartyId,
        case_ref: &CaseRef,
        body: Body,
        in_reply_to: Option<MessageId>,
        now: UtcMs,
    ) -> Vec<u8> {
        let header = Header {
            version: PROTOCOL_VERSION,
            id: MessageId::new(now),
            from: self.me.clone(),
            to: to.clone(),
            created_at: now,
            case_ref: case_ref.clone(),
            in_reply_to,
            urgency: poc247_protocol::Urgency::Urgent,
            language: Language::parse("en").unwrap(),
            exercise: false,
        };
        let frame = self.frame(header.clone(), body.clone());
        match self.cases.get_mut(case_ref) {
            None => {
                let case =
                    CaseRecord::open(&header, &body, Role::Requester, self.context.clone(), now);
                self.cases.insert(case_ref.clone(), case);
            }
            Some(case) => {
                let step = Step {
                    id: header.id,
                    from: &header.from,
                    in_reply_to,
                    at: now,
                    body: &body,
                };
                case.apply_message(step, now)
                    .expect("the sender's own check");
            }
        }
        frame
    }

    /// A frame signed by this side with no check of its own: what a faulty or hostile peer
    /// could send.
    fn frame(&self, header: Header, body: Body) -> Vec<u8> {
        Envelope { header, body }
            .sign(&self.key)
            .unwrap()
            .to_bytes()
            .unwrap()
    }

    /// What the node does with a frame from `peer`, without the store: the gate's three
    /// stages, then the case opened or changed, then the signed receipt.
    fn receive(&mut self, peer: &PartyId, frame: &[u8], now: UtcMs) -> Reply {
        let verified =
            match inbound::authenticate(frame, peer, self.directory.get(peer).map(Vec::as_slice)) {
                Ok(v) => v,
                Err(r) => return Reply::Rejection(r),
            };
        let header = verified.header().clone();
        if let Some(r) = self.receipts.get(&header.id) {
            return r.clone();
        }
        let gate = Gate {
            me: &self.me,
            now,
            clock_skew_secs: 300,
            drill: false,
        };
        if let Err(r) = inbound::admit(&header, &gate) {
            return Reply::Rejection(r);
        }
        let existing = self.cases.get(&header.case_ref);
        let opens = match inbound::check_body(&verified, existing, Vec::new) {
            Ok(o) => o,
            Err(r) => return Reply::Rejection(r),
        };
        let body = verified.body();
        if opens {
            let case = CaseRecord::open(&header, body, Role::Requested, self.context.clone(), now);
            self.cases.insert(header.case_ref.clone(), case);
        } else {
            let Some(case) = self.cases.get_mut(&header.case_ref) else {
                return Reply::Rejection(poc247_protocol::Rejection::new(
                    RejectionCode::InvalidBody,
                    format!("no case {} here", header.case_ref),
                ));
            };
            let step = Step {
                id: header.id,
                from: &header.from,
                in_reply_to: header.in_reply_to,
                at: header.created_at,
                body,
            };
            if let Err(e) = case.apply_message(step, now) {
                return Reply::Rejection(poc247_protocol::Rejection::new(
                    RejectionCode::InvalidBody,
                    e.to_string(),
                ));
            }
        }
        let receipt = Receipt {
            message_id: header.id,
            envelope_sha256: poc247_protocol::envelope_sha256(frame),
            receiver: self.me.clone(),
            received_at: now,
        }
        .sign(&self.key)
        .unwrap();
        let reply = Reply::Receipt(receipt);
        self.receipts.insert(header.id, reply.clone());
        reply
    }
}

/// LU and FR, the frames in flight between them, and the clock.
struct Pair {
    lu: Core,
    fr: Core,
    wire: VecDeque<(PartyId, Vec<u8>)>,
    now: UtcMs,
    replies: Vec<Reply>,
}

impl Pair {
    fn new() -> Pair {
        let mut lu = Core::new("LU", 1);
        let mut fr = Core::new("FR", 2);
        for c in [&mut lu, &mut fr] {
            c.directory.insert(party("LU"), key(1));
            c.directory.insert(party("FR"), key(2));
        }
        Pair {
            lu,
            fr,
            wire: VecDeque::new(),
            now: UtcMs(1_780_000_000_000),
            replies: Vec::new(),
        }
    }

    fn side(&mut self, p: &PartyId) -> &mut Core {
        if p.as_str() == "LU" {
            &mut self.lu
        } else {
            &mut self.fr
        }
    }

    /// `from` sends `body` in `case`: on the wire, not yet delivered.
    fn send(&mut self, from: &str, case: &CaseRef, body: Body, in_reply_to: Option<MessageId>) {
        self.now = self.now.plus_ms(60_000);
        let (from, to) = (party(from), party(if from == "LU" { "FR" } else { "LU" }));
        let now = self.now;
        let frame = self.side(&from).send(&to, case, body, in_reply_to, now);
        self.wire.push_back((from, frame));
    }

    /// Delivers every frame in flight, one step each; the replies are kept.
    fn step(&mut self) {
        while let Some((from, frame)) = self.wire.pop_front() {
            let to = party(if from.as_str() == "LU" { "FR" } else { "LU" });
            let now = self.now;
            let reply = self.side(&to).receive(&from, &frame, now);
            self.replies.push(reply);
        }
    }

    fn last_reply(&self) -> &Reply {
        self.replies.last().expect("a reply")
    }

    /// Both sides hold the same case, but for the side each is on.
    fn agree(&self, case: &CaseRef) {
        let mut a = self.lu.cases[case].clone();
        let mut b = self.fr.cases[case].clone();
        a.role = Role::Requested;
        a.updated_at = UtcMs(0);
        b.updated_at = UtcMs(0);
        assert_eq!(a, b, "the two sides disagree");
    }
}

fn preservation() -> Body {
    Body::Preservation(Preservation {
        requesting_authority: "Parquet de Luxembourg".into(),
        offence: "fraud".into(),
        facts: "phishing campaign".into(),
        data: "mailbox".into(),
        relation_to_offence: "used to receive credentials".into(),
        custodian_or_location: "ExampleMail SAS, Paris".into(),
        necessity: "retention 7 days".into(),
        mla_intent: true,
        ..Default::default()
    })
}

fn receipted(r: &Reply) -> bool {
    matches!(r, Reply::Receipt(_))
}

fn refused(r: &Reply) -> RejectionCode {
    match r {
        Reply::Rejection(r) => r.code,
        Reply::Receipt(_) => panic!("receipted, expected a refusal"),
    }
}

#[test]
fn a_preservation_goes_through_acknowledgement_decision_and_confirmation_on_both_sides() {
    let mut p = Pair::new();
    let case = CaseRef::new(&party("LU"), 2026, 1);
    p.send("LU", &case, preservation(), None);
    p.step();
    assert!(receipted(p.last_reply()));
    assert_eq!(p.fr.cases[&case].role, Role::Requested);
    let request = p.fr.cases[&case].messages[0];

    p.send(
        "FR",
        &case,
        Body::Acknowledgement(Acknowledgement {
            officer: "duty officer".into(),
            note: None,
        }),
        Some(request),
    );
    p.step();
    assert!(receipted(p.last_reply()));
    p.agree(&case);
    assert_eq!(p.lu.cases[&case].state.name(), "acknowledged");

    p.send(
        "FR",
        &case,
        Body::Decision(Decision {
            outcome: Some(Outcome::Executed),
            executed_on: Date::parse("2026-06-01").ok(),
            preserved_until: Date::parse("2026-09-01").ok(),
            ..Decision::default()
        }),
        Some(request),
    );
    p.step();
    assert!(receipted(p.last_reply()), "{:?}", p.last_reply());
    p.agree(&case);

    p.send(
        "LU",
        &case,
        Body::FormalConfirmation(FormalConfirmation {
            reference: "MLA 2026/117".into(),
            channel: Some(ConfirmationChannel::CentralAuthority),
            sent_on: Date::parse("2026-06-02").ok(),
            document_sha256: None,
        }),
        None,
    );
    p.step();
    assert!(receipted(p.last_reply()), "{:?}", p.last_reply());
    p.agree(&case);
    assert!(
        p.fr.cases[&case].confirmation.is_some(),
        "the confirmation is recorded"
    );
}

#[test]
fn hostile_frames_are_refused_with_their_code_and_change_nothing() {
    let mut p = Pair::new();
    let case = CaseRef::new(&party("LU"), 2026, 1);
    p.send("LU", &case, preservation(), None);
    let (_, frame) = p.wire.pop_front().unwrap();
    let now = p.now;
    let fr_before = p.fr.cases.clone();

    // Not an envelope at all.
    let r = p.fr.receive(&party("LU"), b"\x00\x01garbage", now);
    assert_eq!(refused(&r), RejectionCode::BadFrame);
    // One byte of the payload changed: the signature no longer verifies.
    let mut tampered = frame.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    let r = p.fr.receive(&party("LU"), &tampered, now);
    assert!(
        matches!(
            refused(&r),
            RejectionCode::BadSignature | RejectionCode::BadFrame
        ),
        "{r:?}"
    );
    // Sent over a connection of another Party than the one that signed it.
    let r = p.fr.receive(&party("FR"), &frame, now);
    assert_eq!(refused(&r), RejectionCode::BadSignature);
    // From a Party this node does not know.
    p.fr.directory.remove(&party("LU"));
    let r = p.fr.receive(&party("LU"), &frame, now);
    assert_eq!(refused(&r), RejectionCode::UnknownParty);
    p.fr.directory.insert(party("LU"), key(1));
    // Signed by LU with another key than the directory's.
    p.fr.directory.insert(party("LU"), key(9));
    let r = p.fr.receive(&party("LU"), &frame, now);
    assert_eq!(refused(&r), RejectionCode::BadSignature);
    p.fr.directory.insert(party("LU"), key(1));
    // Outside the clock window, both ways.
    let r = p.fr.receive(&party("LU"), &frame, now.plus_ms(301_000));
    assert_eq!(refused(&r), RejectionCode::Stale);
    let r = p.fr.receive(&party("LU"), &frame, UtcMs(now.0 - 301_000));
    assert_eq!(refused(&r), RejectionCode::Stale);
    // Addressed to another Party.
    let r = p.lu.receive(&party("LU"), &frame, now);
    assert_eq!(refused(&r), RejectionCode::WrongRecipient);
    assert_eq!(p.fr.cases, fr_before, "nothing refused changed a case");

    // The real one is taken, and a replay gets the same receipt without a second case.
    let first = p.fr.receive(&party("LU"), &frame, now);
    assert!(receipted(&first));
    let again = p.fr.receive(&party("LU"), &frame, now.plus_ms(3_600_000));
    assert_eq!(
        first, again,
        "the receipt given the first time, whatever its age"
    );
    assert_eq!(p.fr.cases.len(), 1);

    // A case opened in LU's name by FR is refused.
    let forged = p.fr.send(
        &party("LU"),
        &CaseRef::new(&party("LU"), 2026, 2),
        preservation(),
        None,
        now,
    );
    let r = p.lu.receive(&party("FR"), &forged, now);
    assert_eq!(refused(&r), RejectionCode::InvalidBody);
    // A request without its mandatory fields names every one.
    let empty = p.lu.send(
        &party("FR"),
        &CaseRef::new(&party("LU"), 2026, 3),
        Body::Preservation(Preservation::default()),
        None,
        now,
    );
    match p.fr.receive(&party("LU"), &empty, now) {
        Reply::Rejection(r) => {
            assert_eq!(r.code, RejectionCode::InvalidBody);
            assert!(r.fields.len() >= 5, "{:?}", r.fields);
        }
        other => panic!("{other:?}"),
    }
    // An acknowledgement from the requester is the lifecycle's refusal, and changes nothing.
    let request = p.fr.cases[&case].messages[0];
    let before = p.fr.cases.clone();
    let mut header = poc247_protocol::SignedEnvelope::from_bytes(&frame)
        .unwrap()
        .unverified_header()
        .unwrap();
    header.id = MessageId::new(now.plus_ms(1));
    header.in_reply_to = Some(request);
    let early = p.lu.frame(
        header,
        Body::Acknowledgement(Acknowledgement {
            officer: "not the requested Party".into(),
            note: None,
        }),
    );
    let r = p.fr.receive(&party("LU"), &early, now);
    assert_eq!(refused(&r), RejectionCode::InvalidBody);
    assert_eq!(p.fr.cases, before);
}
