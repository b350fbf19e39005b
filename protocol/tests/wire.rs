//! Wire-format tests: property round-trips, golden bytes, hostile bytes, tampering.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use poc247_protocol::*;
use proptest::prelude::*;

fn party(s: &str) -> PartyId {
    PartyId::parse(s).unwrap()
}

fn fixed_envelope() -> Envelope {
    let id = MessageId::from_bytes([
        0x01, 0x93, 0x5c, 0x1e, 0x40, 0x00, 0x70, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01,
    ])
    .unwrap();
    Envelope {
        header: Header {
            version: PROTOCOL_VERSION,
            id,
            from: party("LU"),
            to: party("FR"),
            created_at: UtcMs(1_732_000_000_000),
            case_ref: CaseRef::parse("LU-2026-000001").unwrap(),
            in_reply_to: None,
            urgency: Urgency::Urgent,
            language: Language::parse("fr").unwrap(),
            exercise: false,
        },
        body: Body::Preservation(common::preservation()),
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The encoding of the fixed envelope, signed with the fixed key, is pinned: a change to the
/// wire format must change this fixture deliberately (run with POC247_BLESS=1 to rewrite it).
#[test]
fn golden_preservation_envelope_bytes_are_pinned() {
    let signed = fixed_envelope().sign(&key(7)).unwrap();
    let bytes = signed.to_bytes().unwrap();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/preservation.hex"
    );
    if std::env::var_os("POC247_BLESS").is_some() {
        std::fs::write(path, hex::encode(&bytes)).unwrap();
    }
    let golden = hex::decode(std::fs::read_to_string(path).unwrap().trim()).unwrap();
    assert_eq!(
        bytes, golden,
        "wire format of a signed preservation changed"
    );
    let back = SignedEnvelope::from_bytes(&golden).unwrap();
    let v = back.verify(&party("LU"), &key(7).verifying_key()).unwrap();
    assert_eq!(v.envelope(), &fixed_envelope());
}

#[test]
fn a_flipped_bit_anywhere_fails_verification() {
    let signed = fixed_envelope().sign(&key(7)).unwrap();
    let vk = key(7).verifying_key();
    for i in 0..signed.payload.len() {
        let mut t = signed.clone();
        t.payload[i] ^= 0x10;
        assert!(t.verify(&party("LU"), &vk).is_err(), "payload byte {i}");
    }
    for i in 0..64 {
        let mut t = signed.clone();
        t.signature.0[i] ^= 0x01;
        assert!(t.verify(&party("LU"), &vk).is_err(), "signature byte {i}");
    }
    assert!(signed
        .verify(&party("LU"), &key(8).verifying_key())
        .is_err());
}

#[test]
fn receipts_verify_only_for_their_message_and_receiver() {
    let signed = fixed_envelope().sign(&key(7)).unwrap();
    let bytes = signed.to_bytes().unwrap();
    let sha = envelope_sha256(&bytes);
    let id = fixed_envelope().header.id;
    let r = Receipt {
        message_id: id,
        envelope_sha256: sha,
        receiver: party("FR"),
        received_at: UtcMs(1_732_000_000_123),
    }
    .sign(&key(9))
    .unwrap();
    let fr = key(9).verifying_key();
    r.verify(&party("FR"), &fr, id, &sha).unwrap();
    assert!(r
        .verify(&party("FR"), &key(7).verifying_key(), id, &sha)
        .is_err());
    assert!(r.verify(&party("CO"), &fr, id, &sha).is_err());
    assert!(r.verify(&party("FR"), &fr, id, &[0; 32]).is_err());
    let mut t = r.clone();
    t.receipt.received_at = UtcMs(1);
    assert!(t.verify(&party("FR"), &fr, id, &sha).is_err());
    let reply = Reply::Receipt(r);
    assert_eq!(
        Reply::from_bytes(&reply.to_bytes().unwrap()).unwrap(),
        reply
    );
}

#[test]
fn every_truncation_of_a_frame_is_an_error() {
    let bytes = fixed_envelope().sign(&key(7)).unwrap().to_bytes().unwrap();
    for n in 0..bytes.len() {
        assert!(
            SignedEnvelope::from_bytes(&bytes[..n]).is_err(),
            "prefix {n}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(SignedEnvelope::from_bytes(&longer).is_err());
}

#[test]
fn a_huge_length_claim_is_refused_without_allocating_it() {
    // A varint announcing a payload of u64::MAX bytes.
    let bytes = [0xFFu8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    assert!(SignedEnvelope::from_bytes(&bytes).is_err());
    assert!(Reply::from_bytes(&bytes).is_err());
}

fn arb_text() -> impl Strategy<Value = String> {
    "\\PC{0,40}"
}

fn arb_party() -> impl Strategy<Value = PartyId> {
    "[A-Z]{2}(-[A-Z0-9]{1,10})?".prop_map(|s| PartyId::parse(&s).unwrap())
}

prop_compose! {
    fn arb_preservation()(
        texts in proptest::collection::vec(arb_text(), 7),
        mla_intent in any::<bool>(),
        includes_traffic_data in any::<bool>(),
        origin in proptest::option::of(arb_text()),
        emergency_facts in proptest::option::of(arb_text()),
        respond_by in proptest::option::of(0i64..40_000),
    ) -> Preservation {
        Preservation {
            requesting_authority: texts[0].clone(),
            offence: texts[1].clone(),
            facts: texts[2].clone(),
            data: texts[3].clone(),
            relation_to_offence: texts[4].clone(),
            custodian_or_location: texts[5].clone(),
            necessity: texts[6].clone(),
            mla_intent,
            includes_traffic_data,
            communication: origin.map(|o| Communication { origin: Some(o), ..Default::default() }),
            emergency_facts,
            respond_by: respond_by.map(Date::from_days_since_epoch),
            respond_by_reason: None,
            attachments: Vec::new(),
        }
    }
}

prop_compose! {
    fn arb_envelope()(
        from in arb_party(), to in arb_party(), ms in 0u64..4_000_000_000_000,
        seq in 1u64..1_000_000, urgency in prop_oneof![Just(Urgency::Emergency), Just(Urgency::Urgent), Just(Urgency::Routine)],
        exercise in any::<bool>(), reply in any::<bool>(), body in arb_preservation(),
    ) -> Envelope {
        Envelope {
            header: Header {
                version: PROTOCOL_VERSION,
                id: MessageId::new(UtcMs(ms)),
                from: from.clone(),
                to,
                created_at: UtcMs(ms),
                case_ref: CaseRef::new(&from, 2026, seq),
                in_reply_to: reply.then(|| MessageId::new(UtcMs(ms))),
                urgency,
                language: Language::parse("en").unwrap(),
                exercise,
            },
            body: Body::Preservation(body),
        }
    }
}

proptest! {
    #[test]
    fn signed_envelopes_round_trip(env in arb_envelope(), seed in any::<u8>()) {
        let signed = env.sign(&key(seed)).unwrap();
        let bytes = signed.to_bytes().unwrap();
        let back = SignedEnvelope::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &signed);
        prop_assert_eq!(back.unverified_header().unwrap(), env.header.clone());
        let v = back.verify(&env.header.from, &key(seed).verifying_key()).unwrap();
        prop_assert_eq!(v.envelope(), &env);
    }

    #[test]
    fn replies_round_trip(code in 0usize..10, reason in arb_text()) {
        let codes = [RejectionCode::BadFrame, RejectionCode::TooLarge, RejectionCode::BadSignature,
            RejectionCode::UnknownParty, RejectionCode::WrongRecipient, RejectionCode::Stale,
            RejectionCode::InvalidBody, RejectionCode::UnsupportedVersion, RejectionCode::RateLimited,
            RejectionCode::StorageUnavailable];
        let reply = Reply::Rejection(Rejection {
            code: codes[code],
            reason,
            fields: vec![FieldError { field: "offence".into(), problem: Problem::Missing }],
        });
        prop_assert_eq!(Reply::from_bytes(&reply.to_bytes().unwrap()).unwrap(), reply);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = SignedEnvelope::from_bytes(&bytes);
        let _ = Reply::from_bytes(&bytes);
        if let Ok(s) = SignedEnvelope::from_bytes(&bytes) {
            let _ = s.unverified_header();
            prop_assert!(s.verify(&party("LU"), &key(1).verifying_key()).is_err());
        }
    }

    #[test]
    fn ids_round_trip_through_text(p in arb_party(), seq in 1u64..999_999_999, year in 2000u16..2100) {
        let c = CaseRef::new(&p, year, seq);
        prop_assert_eq!(CaseRef::parse(c.as_str()).unwrap().opener(), p.clone());
        prop_assert_eq!(PartyId::from_dns_name(&p.dns_name()).unwrap(), p);
    }
}

/// The frames of an attachment stream are pinned too: the magic, a hello and both answers
/// (run with POC247_BLESS=1 to rewrite `attachment_frames.hex`).
#[test]
fn golden_attachment_stream_frames_are_pinned() {
    let hello = AttachmentHello {
        message_id: fixed_envelope().header.id,
        sha256: [0x9f; 32],
        size: 5 << 20,
    };
    let resume = AttachmentReply::Resume { offset: 1 << 20 };
    let refused =
        AttachmentReply::Rejection(Rejection::new(RejectionCode::TooLarge, "over the limit"));
    let mut bytes = ATTACHMENT_MAGIC.to_vec();
    for part in [
        hello.to_bytes().unwrap(),
        resume.to_bytes().unwrap(),
        refused.to_bytes().unwrap(),
    ] {
        bytes.extend(poc247_protocol::wire::frame(&part).unwrap());
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/attachment_frames.hex"
    );
    if std::env::var_os("POC247_BLESS").is_some() {
        std::fs::write(path, hex::encode(&bytes)).unwrap();
    }
    let golden = hex::decode(std::fs::read_to_string(path).unwrap().trim()).unwrap();
    assert_eq!(
        bytes, golden,
        "wire format of the attachment frames changed"
    );
    // The magic read as a length announces more than any receiver reads.
    assert!(u32::from_be_bytes(ATTACHMENT_MAGIC) > 1 << 30);
    assert_eq!(
        AttachmentHello::from_bytes(&hello.to_bytes().unwrap()).unwrap(),
        hello
    );
    for r in [resume, refused] {
        assert_eq!(
            AttachmentReply::from_bytes(&r.to_bytes().unwrap()).unwrap(),
            r
        );
        let b = r.to_bytes().unwrap();
        for cut in 0..b.len() {
            assert!(
                AttachmentReply::from_bytes(&b[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }
    let b = hello.to_bytes().unwrap();
    for cut in 0..b.len() {
        assert!(
            AttachmentHello::from_bytes(&b[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}
