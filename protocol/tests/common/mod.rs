//! What both wire tests build: the preservation request whose signed bytes
//! `fixtures/preservation.hex` pins (`wire.rs` pins it, `kinds.rs` checks it with every kind).
#![allow(clippy::unwrap_used)]

use poc247_protocol::*;

/// The example preservation request of the fixtures.
pub fn preservation() -> Preservation {
    Preservation {
        requesting_authority: "Parquet de Luxembourg".into(),
        offence: "escroquerie informatique".into(),
        facts: "campagne d'hameçonnage".into(),
        data: "contenu de la boîte aux lettres".into(),
        relation_to_offence: "reçoit les identifiants".into(),
        custodian_or_location: "ExampleMail SAS, Paris".into(),
        necessity: "conservation 7 jours chez le fournisseur".into(),
        mla_intent: true,
        includes_traffic_data: true,
        communication: Some(Communication {
            origin: Some("203.0.113.7".into()),
            date: Some("2026-11-20".into()),
            ..Default::default()
        }),
        emergency_facts: None,
        respond_by: Some(Date::parse("2026-11-25").unwrap()),
        respond_by_reason: Some("provider deletes after 7 days".into()),
        attachments: vec![AttachmentRef {
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            size: 18_432,
            name: "en-têtes du courriel.eml".into(),
        }],
    }
}
