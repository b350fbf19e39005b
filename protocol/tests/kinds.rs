//! Every message kind on the wire: property round-trips through the signed envelope and
//! through JSON, a golden byte fixture per kind, and truncated bytes refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use poc247_protocol::*;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

fn party(s: &str) -> PartyId {
    PartyId::parse(s).unwrap()
}

fn date(s: &str) -> Option<Date> {
    Some(Date::parse(s).unwrap())
}

fn text(s: &str) -> String {
    s.to_owned()
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn message_id(last: u8) -> MessageId {
    MessageId::from_bytes([
        0x01, 0x93, 0x5c, 0x1e, 0x40, 0x00, 0x70, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        last,
    ])
    .unwrap()
}

/// The fixed header of the golden fixtures: the one of `wire.rs` (so that the preservation
/// fixture is the same bytes), answering an earlier message when the kind is a response.
fn fixed_header(kind: MessageKind) -> Header {
    Header {
        version: PROTOCOL_VERSION,
        id: message_id(1),
        from: party("LU"),
        to: party("FR"),
        created_at: UtcMs(1_732_000_000_000),
        case_ref: CaseRef::parse("LU-2026-000001").unwrap(),
        in_reply_to: (!kind.is_request()).then(|| message_id(2)),
        urgency: Urgency::Urgent,
        language: Language::parse("fr").unwrap(),
        exercise: false,
    }
}

fn communication() -> Communication {
    Communication {
        origin: some("203.0.113.7"),
        destination: some("198.51.100.9"),
        route: some("AS64500 -> AS64501"),
        date: some("2026-11-20"),
        time: some("14:03:07Z"),
        duration: some("00:02:11"),
        size: some("18 KB"),
        type_of_service: some("SMTP"),
    }
}

/// A body of `kind` with every field filled, so that the fixture pins the encoding of each.
/// The preservation is the one of `wire.rs`.
fn example(kind: MessageKind) -> Body {
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    match kind {
        MessageKind::Preservation => Body::Preservation(common::preservation()),
        MessageKind::EmergencyProduction => Body::EmergencyProduction(EmergencyProduction {
            requesting_authority: text("Police grand-ducale, service de police judiciaire"),
            requested_on: date("2026-11-23"),
            convention_statement: true,
            service_providers: vec![
                ServiceProvider {
                    name: text("ExampleMail SAS"),
                    address: text("1 rue de l'Exemple, 75001 Paris"),
                },
                ServiceProvider {
                    name: text("Example Cloud SARL"),
                    address: text("2 avenue du Test, 69001 Lyon"),
                },
            ],
            offences: text("enlèvement de mineur"),
            legal_provisions: text("Code pénal art. 368: réclusion de 5 à 10 ans"),
            data_description: text("adresses IP de connexion depuis le 2026-11-20"),
            special_instructions: some("ne pas aviser le titulaire"),
            other_information: some("compte créé le 2026-11-19"),
            subscriber_only: false,
            emergency_facts: some("enfant enlevé, demande de rançon envoyée de ce compte"),
            respond_by: date("2026-11-23"),
            respond_by_reason: some("vie en danger"),
            attachments: vec![AttachmentRef {
                sha256: hash.into(),
                size: 204_800,
                name: text("capture de la demande de rançon.png"),
            }],
        }),
        MessageKind::MutualAssistance => Body::MutualAssistance(MutualAssistance {
            requesting_authority: text("Parquet de Luxembourg"),
            measure: Some(Measure::StoredDataAccess),
            investigation: text("escroquerie; juge d'instruction, cabinet 3, Luxembourg"),
            facts: text("campagne d'hameçonnage visant des clients de banques"),
            assistance_sought: text("saisie du contenu de la boîte aux lettres"),
            persons: some("John Doe, 1 Main St, Kingston, jamaïcain"),
            purpose: text("preuve devant la chambre criminelle"),
            coercive: true,
            data_volatile: true,
            confidential: true,
            preservation_case: Some(CaseRef::parse("LU-2026-000001").unwrap()),
            emergency_facts: None,
            respond_by: date("2026-12-15"),
            respond_by_reason: some("audience fixée"),
            attachments: vec![
                AttachmentRef {
                    sha256: hash.into(),
                    size: 1 << 20,
                    name: text("ordonnance du juge d'instruction.pdf"),
                },
                AttachmentRef {
                    sha256: "0f".repeat(32),
                    size: 3,
                    name: text("liste.txt"),
                },
            ],
            relayed: Some(Relayed {
                how: RelayKind::Forward,
                case: CaseRef::parse("JM-2026-000042").unwrap(),
                requester: party("JM"),
                requested: party("FR-CA"),
            }),
        }),
        MessageKind::Assistance => Body::Assistance(Assistance {
            requesting_authority: text("SPJ cybercriminalité"),
            assistance_type: Some(AssistanceType::SuspectLocation),
            question: text("à qui est attribuée l'adresse 203.0.113.7 le 2026-11-20 ?"),
            offence: text("accès frauduleux"),
            facts: some("intrusion dans un hôpital"),
            emergency_facts: None,
            respond_by: None,
            respond_by_reason: None,
            attachments: vec![AttachmentRef {
                sha256: hash.into(),
                size: 65_536,
                name: text("journal du pare-feu.log"),
            }],
        }),
        MessageKind::SpontaneousInformation => {
            Body::SpontaneousInformation(SpontaneousInformation {
                information: text("serveur de commande à 198.51.100.1"),
                relevance: text("hébergé sur votre territoire"),
                conditions: None,
                emergency_facts: None,
                respond_by: None,
                respond_by_reason: None,
                attachments: vec![AttachmentRef {
                    sha256: hash.into(),
                    size: 4_096,
                    name: text("échantillon du logiciel malveillant.bin"),
                }],
            })
        }
        MessageKind::InformationOffer => Body::InformationOffer(InformationOffer {
            conditions: text("confidentiel; usage limité à l'enquête"),
            relevance: text("victimes sur votre territoire"),
            emergency_facts: None,
            respond_by: date("2026-12-01"),
            respond_by_reason: some("serveur bientôt déplacé"),
        }),
        MessageKind::Acknowledgement => Body::Acknowledgement(Acknowledgement {
            officer: text("officier de permanence 24/7"),
            note: some("pris en charge"),
        }),
        MessageKind::InfoRequest => Body::InfoRequest(InfoRequest {
            questions: text("quel fuseau horaire ?"),
        }),
        MessageKind::InfoProvided => Body::InfoProvided(InfoProvided {
            answers: text("UTC"),
        }),
        MessageKind::StatusRequest => Body::StatusRequest(StatusRequest {
            question: some("l'ordonnance est-elle signée ?"),
        }),
        MessageKind::StatusReport => Body::StatusReport(StatusReport {
            status: text("ordonnance demandée au juge"),
            expected_by: date("2026-11-26"),
        }),
        MessageKind::DelayNotice => Body::DelayNotice(DelayNotice {
            reason: text("fournisseur en maintenance"),
            expected_by: date("2026-11-30"),
        }),
        MessageKind::ConfidentialityReply => Body::ConfidentialityReply(ConfidentialityReply {
            can_comply: false,
            explanation: some("le fournisseur doit être notifié"),
        }),
        MessageKind::Decision => Body::Decision(Decision {
            outcome: Some(Outcome::Executed),
            reasons: some("exécuté en entier"),
            refusal_ground: None,
            forwarded_to: Some(party("FR-CA")),
            executed_on: date("2026-11-24"),
            preserved_until: date("2027-01-23"),
            alternatives: some("saisie directe possible"),
            legal_basis: some("CIC 48-25"),
            authorised_by: some("juge d'instruction Dupont"),
            order_date: date("2026-11-24"),
        }),
        MessageKind::PreservationInsufficient => {
            Body::PreservationInsufficient(PreservationInsufficient {
                explanation: text("le fournisseur préviendrait le suspect"),
            })
        }
        MessageKind::Conditions => Body::Conditions(Conditions {
            confidential: true,
            use_limited_to: some("affaire LU-2026-000001"),
            text: text("confidentiel; usage limité à cette affaire"),
        }),
        MessageKind::ConditionsReply => Body::ConditionsReply(ConditionsReply {
            accepted: true,
            explanation: some("acceptées"),
        }),
        MessageKind::UseExplanationRequest => Body::UseExplanationRequest(UseExplanationRequest {
            text: text("quel usage a été fait des données ?"),
        }),
        MessageKind::UseExplanation => Body::UseExplanation(UseExplanation {
            text: text("versées au dossier d'instruction"),
        }),
        MessageKind::UseConsentRequest => Body::UseConsentRequest(UseConsentRequest {
            purpose: text("procédure connexe pour blanchiment"),
        }),
        MessageKind::UseConsent => Body::UseConsent(UseConsent {
            granted: true,
            conditions: some("mêmes conditions"),
        }),
        MessageKind::DisclosureNotice => Body::DisclosureNotice(DisclosureNotice {
            text: text("élément à décharge communiqué à la défense"),
            prior: true,
        }),
        MessageKind::TrafficDataDisclosure => Body::TrafficDataDisclosure(TrafficDataDisclosure {
            service_provider: text("Example Telecom SA"),
            provider_state: text("BE"),
            path: text("ExampleMail -> Example Telecom -> abonné"),
            communications: vec![
                communication(),
                Communication {
                    origin: some("203.0.113.8"),
                    ..Default::default()
                },
            ],
            attachments: vec![AttachmentRef {
                sha256: hash.into(),
                size: 18_432,
                name: text("cdr-2026-11-20.csv"),
            }],
        }),
        MessageKind::Results => Body::Results(Results {
            summary: text("export de la boîte aux lettres"),
            preliminary: true,
            channel: some("courriel chiffré"),
            sent_sha256: some(hash),
            attachments: vec![
                AttachmentRef {
                    sha256: hash.into(),
                    size: 5 << 20,
                    name: text("boite.mbox"),
                },
                AttachmentRef {
                    sha256: "0f".repeat(32),
                    size: 1,
                    name: text("hashes.txt"),
                },
            ],
            communications: vec![TracedCommunication {
                date: some("2026-11-20"),
                time: some("14:03:07Z"),
                duration: some("00:02:11"),
                place: some("Luxembourg-Gare, cellule 4711"),
            }],
        }),
        MessageKind::FormalConfirmation => Body::FormalConfirmation(FormalConfirmation {
            reference: text("CA-LU 2026/123"),
            channel: Some(ConfirmationChannel::InterpolI247),
            sent_on: date("2026-11-25"),
            document_sha256: some(hash),
        }),
        MessageKind::PreservationExtension => Body::PreservationExtension(PreservationExtension {
            until: date("2027-03-24"),
            reason: text("demande d'entraide en cours"),
        }),
        MessageKind::PreservationRelease => Body::PreservationRelease(PreservationRelease {
            reason: some("données obtenues"),
        }),
        MessageKind::Withdrawal => Body::Withdrawal(Withdrawal {
            reason: some("plus nécessaire"),
        }),
        MessageKind::Proceed => Body::Proceed(Proceed {
            note: some("poursuivre malgré tout"),
        }),
    }
}

fn fixed_envelope(kind: MessageKind) -> Envelope {
    Envelope {
        header: fixed_header(kind),
        body: example(kind),
    }
}

#[test]
fn every_example_is_a_valid_message_of_its_kind() {
    for &kind in MessageKind::ALL {
        let env = fixed_envelope(kind);
        assert_eq!(env.body.kind(), kind);
        let case = if kind.is_request() {
            kind
        } else {
            MessageKind::Preservation
        };
        assert_eq!(
            env.body.validate_in_case(env.header.urgency, case, false),
            Ok(()),
            "{kind}"
        );
    }
}

/// One fixture per kind pins the encoding of every field of that kind (run with
/// POC247_BLESS=1 to rewrite them). `preservation.hex` is the fixture of `wire.rs`: this test
/// checks it but never rewrites it.
#[test]
fn golden_envelope_bytes_of_every_kind_are_pinned() {
    let bless = std::env::var_os("POC247_BLESS").is_some();
    for &kind in MessageKind::ALL {
        let bytes = fixed_envelope(kind)
            .sign(&key(7))
            .unwrap()
            .to_bytes()
            .unwrap();
        let path = format!(
            "{}/tests/fixtures/{}.hex",
            env!("CARGO_MANIFEST_DIR"),
            kind.as_str()
        );
        if bless && kind != MessageKind::Preservation {
            std::fs::write(&path, hex::encode(&bytes)).unwrap();
        }
        let golden = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run with POC247_BLESS=1)"));
        let golden = hex::decode(golden.trim()).unwrap();
        assert_eq!(bytes, golden, "wire format of a signed {kind} changed");
        let back = SignedEnvelope::from_bytes(&golden).unwrap();
        let v = back.verify(&party("LU"), &key(7).verifying_key()).unwrap();
        assert_eq!(v.envelope(), &fixed_envelope(kind), "{kind}");
    }
}

#[test]
fn every_truncation_of_every_kind_is_an_error() {
    for &kind in MessageKind::ALL {
        let env = fixed_envelope(kind);
        let signed = env.sign(&key(7)).unwrap();
        let bytes = signed.to_bytes().unwrap();
        for n in 0..bytes.len() {
            assert!(
                SignedEnvelope::from_bytes(&bytes[..n]).is_err(),
                "{kind}: prefix {n}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(SignedEnvelope::from_bytes(&longer).is_err(), "{kind}");
        for n in 0..signed.payload.len() {
            assert!(
                codec::decode::<Envelope>(&signed.payload[..n]).is_err(),
                "{kind}: payload prefix {n}"
            );
        }
    }
}

#[test]
fn every_example_round_trips_through_json() {
    for &kind in MessageKind::ALL {
        let body = example(kind);
        assert_eq!(
            Body::from_json(kind, body.to_json()).unwrap(),
            body,
            "{kind}"
        );
    }
}

// ---- property round-trips: one strategy per kind ----

fn arb_text() -> impl Strategy<Value = String> {
    "\\PC{0,40}"
}

fn arb_opt_text() -> impl Strategy<Value = Option<String>> {
    option::of(arb_text())
}

fn arb_date() -> impl Strategy<Value = Date> {
    (0i64..40_000).prop_map(Date::from_days_since_epoch)
}

fn arb_opt_date() -> impl Strategy<Value = Option<Date>> {
    option::of(arb_date())
}

fn arb_party() -> impl Strategy<Value = PartyId> {
    "[A-Z]{2}(-[A-Z0-9]{1,10})?".prop_map(|s| PartyId::parse(&s).unwrap())
}

fn arb_case_ref() -> impl Strategy<Value = CaseRef> {
    (arb_party(), 2000u16..2100, 1u64..999_999_999).prop_map(|(p, y, s)| CaseRef::new(&p, y, s))
}

fn arb_texts(n: usize) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(arb_text(), n)
}

prop_compose! {
    fn arb_communication()(t in proptest::collection::vec(arb_opt_text(), 8)) -> Communication {
        Communication {
            origin: t[0].clone(), destination: t[1].clone(), route: t[2].clone(),
            date: t[3].clone(), time: t[4].clone(), duration: t[5].clone(),
            size: t[6].clone(), type_of_service: t[7].clone(),
        }
    }
}

prop_compose! {
    fn arb_preservation()(
        t in arb_texts(7), mla_intent in any::<bool>(), includes_traffic_data in any::<bool>(),
        communication in option::of(arb_communication()), emergency_facts in arb_opt_text(),
        respond_by in arb_opt_date(), respond_by_reason in arb_opt_text(),
    ) -> Preservation {
        Preservation {
            requesting_authority: t[0].clone(), offence: t[1].clone(), facts: t[2].clone(),
            data: t[3].clone(), relation_to_offence: t[4].clone(),
            custodian_or_location: t[5].clone(), necessity: t[6].clone(), mla_intent,
            includes_traffic_data, communication, emergency_facts, respond_by,
            respond_by_reason, attachments: arb_attachments_of(&t),
        }
    }
}

prop_compose! {
    fn arb_service_provider()(name in arb_text(), address in arb_text()) -> ServiceProvider {
        ServiceProvider { name, address }
    }
}

prop_compose! {
    fn arb_emergency_production()(
        t in arb_texts(4), requested_on in arb_opt_date(), convention_statement in any::<bool>(),
        service_providers in proptest::collection::vec(arb_service_provider(), 0..4),
        special_instructions in arb_opt_text(), other_information in arb_opt_text(),
        subscriber_only in any::<bool>(), emergency_facts in arb_opt_text(),
        respond_by in arb_opt_date(), respond_by_reason in arb_opt_text(),
    ) -> EmergencyProduction {
        EmergencyProduction {
            requesting_authority: t[0].clone(), requested_on, convention_statement,
            service_providers, offences: t[1].clone(), legal_provisions: t[2].clone(),
            data_description: t[3].clone(), special_instructions, other_information,
            subscriber_only, emergency_facts, respond_by, respond_by_reason,
            attachments: arb_attachments_of(&t),
        }
    }
}

prop_compose! {
    fn arb_mutual_assistance()(
        t in arb_texts(5), measure in option::of(select(Measure::ALL)),
        persons in arb_opt_text(), flags in any::<(bool, bool, bool)>(),
        preservation_case in option::of(arb_case_ref()), emergency_facts in arb_opt_text(),
        respond_by in arb_opt_date(), respond_by_reason in arb_opt_text(),
        relayed in option::of((select(RelayKind::ALL), arb_case_ref(), arb_party(), arb_party())),
    ) -> MutualAssistance {
        MutualAssistance {
            requesting_authority: t[0].clone(), measure, investigation: t[1].clone(),
            facts: t[2].clone(), assistance_sought: t[3].clone(), persons,
            purpose: t[4].clone(), coercive: flags.0, data_volatile: flags.1,
            confidential: flags.2, preservation_case, emergency_facts, respond_by,
            respond_by_reason, attachments: arb_attachments_of(&t),
            relayed: relayed.map(|(how, case, requester, requested)| Relayed {
                how, case, requester, requested,
            }),
        }
    }
}

prop_compose! {
    fn arb_assistance()(
        t in arb_texts(3), assistance_type in option::of(select(AssistanceType::ALL)),
        facts in arb_opt_text(), emergency_facts in arb_opt_text(),
        respond_by in arb_opt_date(), respond_by_reason in arb_opt_text(),
    ) -> Assistance {
        Assistance {
            requesting_authority: t[0].clone(), assistance_type, question: t[1].clone(),
            offence: t[2].clone(), facts, emergency_facts, respond_by, respond_by_reason,
            attachments: arb_attachments_of(&t),
        }
    }
}

prop_compose! {
    fn arb_spontaneous_information()(
        information in arb_text(), relevance in arb_text(), conditions in arb_opt_text(),
        emergency_facts in arb_opt_text(), respond_by in arb_opt_date(),
        respond_by_reason in arb_opt_text(),
    ) -> SpontaneousInformation {
        SpontaneousInformation {
            attachments: arb_attachments_of(std::slice::from_ref(&information)),
            information, relevance, conditions, emergency_facts, respond_by, respond_by_reason,
        }
    }
}

prop_compose! {
    fn arb_information_offer()(
        conditions in arb_text(), relevance in arb_text(), emergency_facts in arb_opt_text(),
        respond_by in arb_opt_date(), respond_by_reason in arb_opt_text(),
    ) -> InformationOffer {
        InformationOffer { conditions, relevance, emergency_facts, respond_by, respond_by_reason }
    }
}

prop_compose! {
    fn arb_decision()(
        outcome in option::of(select(Outcome::ALL)), reasons in arb_opt_text(),
        refusal_ground in option::of(select(RefusalGround::ALL)),
        forwarded_to in option::of(arb_party()), executed_on in arb_opt_date(),
        preserved_until in arb_opt_date(), alternatives in arb_opt_text(),
        legal_basis in arb_opt_text(), authorised_by in arb_opt_text(),
        order_date in arb_opt_date(),
    ) -> Decision {
        Decision {
            outcome, reasons, refusal_ground, forwarded_to, executed_on, preserved_until,
            alternatives, legal_basis, authorised_by, order_date,
        }
    }
}

/// Attachments derived from generated texts (empty when the first text is).
fn arb_attachments_of(t: &[String]) -> Vec<AttachmentRef> {
    t.iter()
        .take(1)
        .filter(|s| !s.is_empty())
        .map(|s| AttachmentRef {
            sha256: format!("{:064x}", s.len()),
            size: s.len() as u64,
            name: s.clone(),
        })
        .collect()
}

prop_compose! {
    fn arb_traffic_data_disclosure()(
        t in arb_texts(3),
        communications in proptest::collection::vec(arb_communication(), 0..4),
    ) -> TrafficDataDisclosure {
        TrafficDataDisclosure {
            service_provider: t[0].clone(), provider_state: t[1].clone(), path: t[2].clone(),
            communications, attachments: arb_attachments_of(&t),
        }
    }
}

prop_compose! {
    fn arb_traced()(t in proptest::collection::vec(arb_opt_text(), 4)) -> TracedCommunication {
        TracedCommunication {
            date: t[0].clone(), time: t[1].clone(), duration: t[2].clone(), place: t[3].clone(),
        }
    }
}

prop_compose! {
    fn arb_results()(
        summary in arb_text(), preliminary in any::<bool>(), channel in arb_opt_text(),
        sent_sha256 in option::of("[0-9a-f]{64}|\\PC{0,10}"),
        communications in proptest::collection::vec(arb_traced(), 0..3),
    ) -> Results {
        Results { attachments: arb_attachments_of(std::slice::from_ref(&summary)), summary, preliminary, channel, sent_sha256, communications }
    }
}

prop_compose! {
    fn arb_formal_confirmation()(
        reference in arb_text(), channel in option::of(select(ConfirmationChannel::ALL)),
        sent_on in arb_opt_date(), document_sha256 in option::of("[0-9a-f]{64}"),
    ) -> FormalConfirmation {
        FormalConfirmation { reference, channel, sent_on, document_sha256 }
    }
}

prop_compose! {
    fn arb_header()(
        from in arb_party(), to in arb_party(), ms in 0u64..4_000_000_000_000,
        seq in 1u64..1_000_000,
        urgency in select(&[Urgency::Emergency, Urgency::Urgent, Urgency::Routine][..]),
        exercise in any::<bool>(), reply in any::<bool>(),
    ) -> Header {
        Header {
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
        }
    }
}

/// sign → to_bytes → from_bytes → verify gives the same envelope, and the body's JSON gives
/// the same body.
fn check_round_trip(header: Header, body: Body, seed: u8) -> Result<(), TestCaseError> {
    let env = Envelope { header, body };
    let signed = env.sign(&key(seed)).unwrap();
    let bytes = signed.to_bytes().unwrap();
    let back = SignedEnvelope::from_bytes(&bytes).unwrap();
    prop_assert_eq!(&back, &signed);
    prop_assert_eq!(back.unverified_header().unwrap(), env.header.clone());
    let v = back
        .verify(&env.header.from, &key(seed).verifying_key())
        .unwrap();
    prop_assert_eq!(v.envelope(), &env);
    let kind = env.body.kind();
    prop_assert_eq!(Body::from_json(kind, env.body.to_json()).unwrap(), env.body);
    Ok(())
}

macro_rules! round_trips {
    ($( $test:ident: $variant:ident($strategy:expr); )+) => {
        proptest! {
            $(
                #[test]
                fn $test(header in arb_header(), body in $strategy, seed in any::<u8>()) {
                    check_round_trip(header, Body::$variant(body), seed)?;
                }
            )+
        }

        /// The kinds with a round-trip property above.
        const ROUND_TRIPPED: &[MessageKind] = &[$(MessageKind::$variant),+];
    };
}

round_trips! {
    preservation_round_trips: Preservation(arb_preservation());
    emergency_production_round_trips: EmergencyProduction(arb_emergency_production());
    mutual_assistance_round_trips: MutualAssistance(arb_mutual_assistance());
    assistance_round_trips: Assistance(arb_assistance());
    spontaneous_information_round_trips: SpontaneousInformation(arb_spontaneous_information());
    information_offer_round_trips: InformationOffer(arb_information_offer());
    acknowledgement_round_trips: Acknowledgement(
        (arb_text(), arb_opt_text()).prop_map(|(officer, note)| Acknowledgement { officer, note }));
    info_request_round_trips: InfoRequest(
        arb_text().prop_map(|questions| InfoRequest { questions }));
    info_provided_round_trips: InfoProvided(
        arb_text().prop_map(|answers| InfoProvided { answers }));
    status_request_round_trips: StatusRequest(
        arb_opt_text().prop_map(|question| StatusRequest { question }));
    status_report_round_trips: StatusReport(
        (arb_text(), arb_opt_date())
            .prop_map(|(status, expected_by)| StatusReport { status, expected_by }));
    delay_notice_round_trips: DelayNotice(
        (arb_text(), arb_opt_date())
            .prop_map(|(reason, expected_by)| DelayNotice { reason, expected_by }));
    confidentiality_reply_round_trips: ConfidentialityReply(
        (any::<bool>(), arb_opt_text()).prop_map(|(can_comply, explanation)| {
            ConfidentialityReply { can_comply, explanation }
        }));
    decision_round_trips: Decision(arb_decision());
    preservation_insufficient_round_trips: PreservationInsufficient(
        arb_text().prop_map(|explanation| PreservationInsufficient { explanation }));
    conditions_round_trips: Conditions(
        (any::<bool>(), arb_opt_text(), arb_text()).prop_map(|(confidential, use_limited_to, text)| {
            Conditions { confidential, use_limited_to, text }
        }));
    conditions_reply_round_trips: ConditionsReply(
        (any::<bool>(), arb_opt_text())
            .prop_map(|(accepted, explanation)| ConditionsReply { accepted, explanation }));
    use_explanation_request_round_trips: UseExplanationRequest(
        arb_text().prop_map(|text| UseExplanationRequest { text }));
    use_explanation_round_trips: UseExplanation(
        arb_text().prop_map(|text| UseExplanation { text }));
    use_consent_request_round_trips: UseConsentRequest(
        arb_text().prop_map(|purpose| UseConsentRequest { purpose }));
    use_consent_round_trips: UseConsent(
        (any::<bool>(), arb_opt_text())
            .prop_map(|(granted, conditions)| UseConsent { granted, conditions }));
    disclosure_notice_round_trips: DisclosureNotice(
        (arb_text(), any::<bool>()).prop_map(|(text, prior)| DisclosureNotice { text, prior }));
    traffic_data_disclosure_round_trips: TrafficDataDisclosure(arb_traffic_data_disclosure());
    results_round_trips: Results(arb_results());
    formal_confirmation_round_trips: FormalConfirmation(arb_formal_confirmation());
    preservation_extension_round_trips: PreservationExtension(
        (arb_opt_date(), arb_text())
            .prop_map(|(until, reason)| PreservationExtension { until, reason }));
    preservation_release_round_trips: PreservationRelease(
        arb_opt_text().prop_map(|reason| PreservationRelease { reason }));
    withdrawal_round_trips: Withdrawal(arb_opt_text().prop_map(|reason| Withdrawal { reason }));
    proceed_round_trips: Proceed(arb_opt_text().prop_map(|note| Proceed { note }));
}

#[test]
fn every_kind_has_a_round_trip_property() {
    assert_eq!(ROUND_TRIPPED, MessageKind::ALL);
}

/// A body's member of the wrong type, or unknown, is named by its own name, never as `body`.
#[test]
fn a_member_of_the_wrong_type_or_unknown_is_named() {
    let wrong = serde_json::json!({ "requesting_authority": "x", "mla_intent": "yes" });
    let e = Body::from_json(MessageKind::Preservation, wrong).unwrap_err();
    assert_eq!(e.field, "mla_intent", "{e}");
    let unknown = serde_json::json!({ "requesting_authority": "x", "ofence": "fraud" });
    let e = Body::from_json(MessageKind::Preservation, unknown).unwrap_err();
    assert_eq!(e.field, "ofence", "{e}");
    assert!(!e.to_string().contains("line 1"), "{e}");
}

/// A suggested deadline comes with its reason (CARICOM MLA para. 29), for every request kind
/// that carries one.
#[test]
fn respond_by_needs_its_reason_caricom_mla_para_29() {
    let with = serde_json::json!({ "requesting_authority": "x", "offence": "fraud",
        "facts": "f", "data": "d", "relation_to_offence": "r", "custodian_or_location": "c",
        "necessity": "n", "respond_by": "2026-12-24" });
    let body = Body::from_json(MessageKind::Preservation, with.clone()).unwrap();
    let errs = body.validate(Urgency::Urgent).unwrap_err();
    assert!(
        errs.iter()
            .any(|e| e.field == "respond_by_reason" && e.problem == Problem::Missing),
        "{errs:?}"
    );
    let mut reasoned = with;
    reasoned["respond_by_reason"] = serde_json::json!("the provider deletes logs on 31 Dec");
    let body = Body::from_json(MessageKind::Preservation, reasoned).unwrap();
    let errs = body.validate(Urgency::Urgent).err().unwrap_or_default();
    assert!(
        errs.iter().all(|e| e.field != "respond_by_reason"),
        "{errs:?}"
    );
}
