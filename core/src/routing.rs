//! Routing by the directory's declarations: where a request goes and what the officer is told
//! (art. 27(9), the languages, emergency production paras. 2, 3 and 7), and what the directory
//! says of a case between two Parties ([`context_for`]). Pure functions of the directory in
//! force; the node looks up what it stores and calls them (`poc247_node::outgoing`).

use crate::directory::{Directory, MlaBasis, PartyEntry};
use crate::lifecycle::CaseContext;
use poc247_protocol::{Body, CaseRef, FieldError, Language, MessageKind, PartyId, Problem};

/// Why the directory's rules do not let a message go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Fields that name no possible recipient or case.
    #[error("invalid request: {}", .0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The declarations forbid it.
    #[error("{0}")]
    Conflict(String),
}

/// What [`route`] reads of a request.
#[derive(Debug, Clone, Copy)]
pub struct RouteRequest<'a> {
    /// The body.
    pub body: &'a Body,
    /// Language of the free text.
    pub language: &'a Language,
    /// Send in a language the recipient does not list (recorded on the case).
    pub language_override: bool,
    /// Send a subscriber-only emergency production to a Party that declared it does not
    /// execute them (emergency production para. 3).
    pub subscriber_only_override: bool,
}

/// Where one request goes, and what the officer is told, after the directory's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The Party it is addressed to.
    pub to: PartyId,
    /// Sent in a language `to` does not list, on the officer's override.
    pub language_override: bool,
    /// The own central authority that receives the 27(9)(a) copy.
    pub copy_to: Option<PartyId>,
    /// What the officer is told.
    pub warnings: Vec<String>,
}

fn field(name: &str, why: impl Into<String>) -> FieldError {
    FieldError {
        field: name.to_owned(),
        problem: Problem::Invalid(why.into()),
    }
}

/// What the directory says of a request of `kind` from `requester` to `requested`.
///
/// A formal confirmation follows only a request that asks the requested Party to act under
/// its law: a preservation or a mutual-assistance request sent by expedited means, where that
/// Party requires one (BC 25(3)), and an emergency production where it declared that the
/// request is submitted formally after execution (emergency production para. 7). Advice,
/// volunteered information and its offer are not requests to confirm.
pub fn context_for(
    directory: &Directory,
    requester: &PartyId,
    requested: &PartyId,
    kind: MessageKind,
) -> CaseContext {
    let mut c = CaseContext {
        preservation_min_days: 60,
        ..CaseContext::default()
    };
    if let Some(e) = directory.get(requested) {
        let d = &e.declarations;
        match kind {
            MessageKind::Preservation | MessageKind::MutualAssistance => {
                c.confirmation_required = d.formal_confirmation_required;
            }
            MessageKind::EmergencyProduction => {
                c.confirmation_required =
                    d.formal_confirmation_required || d.confirmation_after_execution;
                c.confirmation_after_execution = d.confirmation_after_execution;
            }
            _ => {}
        }
        c.confirmation_days = d.formal_confirmation_days;
        c.preservation_min_days = d.preservation_min_days;
        c.legal_max_days = d.legal_max_days;
        c.mla_basis = d
            .mla_basis
            .get(requester.as_str())
            .copied()
            .unwrap_or_default();
    }
    if let Some(e) = directory.get(requester) {
        if let Some(b) = e.declarations.mla_basis.get(requested.as_str()) {
            if *b == MlaBasis::Treaty {
                c.mla_basis = MlaBasis::Treaty;
            }
        }
    }
    c
}

/// Applies the directory's routing rules to a request `req` from `me` for `to`: where it goes
/// (art. 27(9)(e): to the requested Party's central authority), the 27(9)(a) copy, the
/// declarations of emergency production (paras. 2, 3, 7), the language (CARICOM MLA para. 18).
///
/// A mutual-assistance request that follows a preservation (`preservation_case`) goes to the
/// Party that preserved the data or its central authority (BC 29(1), 29(7)): `preserved_by`
/// answers, for that case, the Party that preserved the data if it is a preservation `me`
/// requested, and `None` if it is not one (the node reads it from its store; its error is
/// returned as it is).
pub fn route<E: From<RouteError>>(
    directory: &Directory,
    me: &PartyId,
    req: &RouteRequest<'_>,
    to: &PartyId,
    preserved_by: impl FnOnce(&CaseRef) -> Result<Option<PartyId>, E>,
) -> Result<Route, E> {
    if to == me {
        return Err(RouteError::Invalid(vec![field(
            "to",
            "a node does not send requests to itself",
        )])
        .into());
    }
    let Some(entry) = directory.get(to) else {
        return Err(RouteError::Invalid(vec![field(
            "to",
            format!("{to} is not in the directory"),
        )])
        .into());
    };
    let d = &entry.declarations;
    let mut route = Route {
        to: to.clone(),
        language_override: false,
        copy_to: None,
        warnings: Vec::new(),
    };
    match req.body {
        Body::MutualAssistance(m) => {
            // Within one Party (a central authority forwarding to its own 24/7 node or
            // competent authority, 27(9)(c)), the declarations made to other Parties do
            // not apply.
            let domestic = to.state() == me.state();
            if let Some(p) = &m.preservation_case {
                match preserved_by(p)? {
                    Some(preserved_by) => {
                        // The follow-up goes to the Party that preserved the data, or to its
                        // central authority (BC 29(1), 29(7)).
                        let its_ca = directory
                            .get(&preserved_by)
                            .and_then(|e| e.central_authority.as_ref())
                            == Some(to);
                        if &preserved_by != to && !its_ca {
                            return Err(RouteError::Invalid(vec![field(
                                "preservation_case",
                                format!(
                                    "{p} is a preservation by {preserved_by}; its follow-up \
                                     goes to {preserved_by}, not {to} (BC 29(1))"
                                ),
                            )])
                            .into());
                        }
                    }
                    None => {
                        return Err(RouteError::Invalid(vec![field(
                            "preservation_case",
                            format!("{p} is not a preservation this node requested"),
                        )])
                        .into())
                    }
                }
            }
            // The requested Party's central authority, if it has a node in the directory.
            let ca = entry
                .central_authority
                .clone()
                .filter(|ca| ca != to && ca != me && directory.get(ca).is_some());
            if domestic {
            } else if let Some(ca) = ca.filter(|_| d.urgent_requests_to_central_authority_only) {
                route.warnings.push(format!(
                    "{to} declared that urgent requests go to its central authority only \
                     (art. 27(9)(e)): addressed to {ca}"
                ));
                route.to = ca;
            } else if !d.accepts_mla_via_247 && !to.is_authority() {
                return Err(RouteError::Conflict(format!(
                    "{to} does not accept mutual-assistance requests on the 24/7 channel \
                     (CARICOM emergency MLA para. 9); send it to its central authority{}",
                    entry
                        .central_authority
                        .as_ref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                ))
                .into());
            }
            // Art. 27(9)(a): a request sent directly goes with a copy through the own
            // central authority (not a copy or a forward itself).
            if !route.to.is_authority() && !domestic && m.relayed.is_none() {
                route.copy_to = directory
                    .get(me)
                    .and_then(|me| me.central_authority.clone())
                    .filter(|ca| directory.get(ca).is_some() && ca != me);
            }
        }
        Body::EmergencyProduction(e) => {
            if d.withholds_until_emergency_mla {
                route.warnings.push(format!(
                    "{to} withholds the data until an emergency mutual-assistance request \
                     arrives (emergency production para. 2): {}",
                    mla_route_advice(directory, entry)
                ));
            }
            if e.subscriber_only && d.no_subscriber_only {
                if !req.subscriber_only_override {
                    return Err(RouteError::Conflict(format!(
                        "{to} declared that it does not execute requests for subscriber \
                         information only (emergency production para. 3): override to send anyway"
                    ))
                    .into());
                }
                route.warnings.push(format!(
                    "sent although {to} does not execute subscriber-only requests (para. 3)"
                ));
            }
            if d.confirmation_after_execution {
                route.warnings.push(format!(
                    "{to} requires the request to be submitted formally after execution \
                     (emergency production para. 7)"
                ));
            }
        }
        _ => {}
    }
    let target = directory.get(&route.to).unwrap_or(entry);
    route.language_override = check_language(target, req.language, req.language_override)?;
    if route.language_override {
        route.warnings.push(format!(
            "sent in {} which {} does not list, on the officer's override",
            req.language, route.to
        ));
    }
    Ok(route)
}

/// Whether a message in `language` to the Party of `entry` goes on the officer's override
/// (`true`: the Party lists other languages, and `overridden`), goes as it is (`false`: the
/// Party lists it, or lists none), or is refused (CARICOM MLA para. 18).
pub fn check_language(
    entry: &PartyEntry,
    language: &Language,
    overridden: bool,
) -> Result<bool, RouteError> {
    if entry.languages.is_empty() || entry.languages.contains(language) {
        return Ok(false);
    }
    let listed: Vec<&str> = entry.languages.iter().map(Language::as_str).collect();
    if overridden {
        return Ok(true);
    }
    Err(RouteError::Conflict(format!(
        "{} accepts requests in {} (CARICOM MLA para. 18), not {language}: write in one of those, \
         or override (the override is recorded on the case)",
        entry.id,
        listed.join(", ")
    )))
}

/// How an emergency mutual-assistance request reaches the Party of `entry` from here, as the
/// routing rules of [`route`] would send it.
pub fn mla_route_advice(directory: &Directory, entry: &PartyEntry) -> String {
    let to = &entry.id;
    let d = &entry.declarations;
    let ca = entry
        .central_authority
        .as_ref()
        .filter(|ca| *ca != to && directory.get(ca).is_some());
    let send = format!("`poc247 send mutual-assistance --to {to} --urgency emergency …`");
    match ca {
        Some(ca) if d.urgent_requests_to_central_authority_only => {
            format!("send it now with {send}; it goes to {ca} (art. 27(9)(e))")
        }
        _ if d.accepts_mla_via_247 => format!("send it now with {send}"),
        Some(ca) => format!(
            "send it now to its central authority with \
             `poc247 send mutual-assistance --to {ca} --urgency emergency …`"
        ),
        None => match &entry.central_authority {
            Some(ca) => format!(
                "{to} takes no mutual-assistance request on the 24/7 channel and its central \
                 authority {ca} has no node here: send it to {ca} by its own channel"
            ),
            None => format!(
                "{to} takes no mutual-assistance request on the 24/7 channel: send it through \
                 its central authority by its own channel"
            ),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use poc247_protocol::{EmergencyProduction, MutualAssistance, Preservation};

    const KEY: &str = "cNVUclZ3LylE4YD7hzySOy4tkYaYYAUrBJc5kROcmBE=";

    fn p(s: &str) -> PartyId {
        PartyId::parse(s).unwrap()
    }

    fn lang(s: &str) -> Language {
        Language::parse(s).unwrap()
    }

    /// A directory of `[[party]]` tables: each `(id, further lines)`.
    fn directory(parties: &[(&str, &str)]) -> Directory {
        let text: String = parties
            .iter()
            .map(|(id, more)| {
                format!(
                    "[[party]]\nid = \"{id}\"\nname = \"{id}\"\naddresses = [\"127.0.0.1:1\"]\n\
                     signing_key = \"{KEY}\"\n{more}\n"
                )
            })
            .collect();
        Directory::from_toml(&text).unwrap()
    }

    fn request<'a>(body: &'a Body, language: &'a Language) -> RouteRequest<'a> {
        RouteRequest {
            body,
            language,
            language_override: false,
            subscriber_only_override: false,
        }
    }

    fn none(_: &CaseRef) -> Result<Option<PartyId>, RouteError> {
        Ok(None)
    }

    fn mla() -> Body {
        Body::MutualAssistance(MutualAssistance::default())
    }

    #[test]
    fn an_urgent_request_goes_to_the_central_authority_a_party_declared_27_9_e() {
        let d = directory(&[
            ("LU", "central_authority = \"LU-CA\""),
            ("LU-CA", ""),
            (
                "FR",
                "central_authority = \"FR-CA\"\nurgent_requests_to_central_authority_only = true",
            ),
            ("FR-CA", ""),
        ]);
        let (body, en) = (mla(), lang("en"));
        let r = route(&d, &p("LU"), &request(&body, &en), &p("FR"), none).unwrap();
        assert_eq!(r.to, p("FR-CA"));
        assert_eq!(r.copy_to, None, "an authority is not copied (27(9)(a))");
        assert!(r.warnings[0].contains("art. 27(9)(e)"), "{:?}", r.warnings);
        // Its central authority without a node here: the request is refused on the 24/7
        // channel, which FR does not open to it.
        let d = directory(&[
            ("LU", ""),
            (
                "FR",
                "central_authority = \"FR-CA\"\nurgent_requests_to_central_authority_only = true",
            ),
        ]);
        let err = route(&d, &p("LU"), &request(&body, &en), &p("FR"), none).unwrap_err();
        assert!(
            matches!(&err, RouteError::Conflict(m) if m.contains("(FR-CA)") && m.contains("para. 9")),
            "{err}"
        );
    }

    #[test]
    fn a_request_sent_directly_is_copied_to_the_own_central_authority_27_9_a() {
        let d = directory(&[
            ("LU", "central_authority = \"LU-CA\""),
            ("LU-CA", ""),
            ("FR", "accepts_mla_via_247 = true"),
        ]);
        let (body, en) = (mla(), lang("en"));
        let r = route(&d, &p("LU"), &request(&body, &en), &p("FR"), none).unwrap();
        assert_eq!((r.to, r.copy_to), (p("FR"), Some(p("LU-CA"))));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        // Within one Party, no copy and no declaration to other Parties.
        let r = route(&d, &p("LU"), &request(&body, &en), &p("LU-CA"), none).unwrap();
        assert_eq!((r.to, r.copy_to), (p("LU-CA"), None));
    }

    #[test]
    fn a_language_the_party_does_not_list_is_refused_unless_overridden() {
        let d = directory(&[("LU", ""), ("FR", "languages = [\"fr\", \"en\"]")]);
        let body = Body::Preservation(Preservation::default());
        let de = lang("de");
        let err = route(&d, &p("LU"), &request(&body, &de), &p("FR"), none).unwrap_err();
        match err {
            RouteError::Conflict(m) => {
                assert!(m.starts_with("FR accepts requests in fr, en"), "{m}");
                assert!(m.contains("not de"), "{m}");
            }
            e => panic!("{e}"),
        }
        let overridden = RouteRequest {
            language_override: true,
            ..request(&body, &de)
        };
        let r = route(&d, &p("LU"), &overridden, &p("FR"), none).unwrap();
        assert!(r.language_override);
        assert!(r.warnings[0].contains("sent in de which FR does not list"));
        // Listed, or no list at all: no override.
        let fr = lang("fr");
        assert!(
            !route(&d, &p("LU"), &request(&body, &fr), &p("FR"), none)
                .unwrap()
                .language_override
        );
        assert_eq!(
            check_language(d.get(&p("LU")).unwrap(), &de, false),
            Ok(false)
        );
    }

    #[test]
    fn a_recipient_not_in_the_directory_or_the_node_itself_is_an_invalid_to() {
        let d = directory(&[("LU", "")]);
        let (body, en) = (mla(), lang("en"));
        for (to, why) in [("LU", "to itself"), ("FR", "FR is not in the directory")] {
            match route(&d, &p("LU"), &request(&body, &en), &p(to), none).unwrap_err() {
                RouteError::Invalid(f) => {
                    assert_eq!(f[0].field, "to");
                    assert!(f[0].to_string().contains(why), "{}", f[0]);
                }
                e => panic!("{e}"),
            }
        }
    }

    #[test]
    fn a_follow_up_goes_to_the_party_that_preserved_the_data_29_1() {
        let d = directory(&[
            ("LU", ""),
            (
                "FR",
                "accepts_mla_via_247 = true\ncentral_authority = \"FR-CA\"",
            ),
            ("FR-CA", ""),
            ("DE", "accepts_mla_via_247 = true"),
        ]);
        let case = CaseRef::parse("LU-2026-000001").unwrap();
        let body = Body::MutualAssistance(MutualAssistance {
            preservation_case: Some(case.clone()),
            ..MutualAssistance::default()
        });
        let en = lang("en");
        let by_fr = |c: &CaseRef| -> Result<Option<PartyId>, RouteError> {
            assert_eq!(c, &case);
            Ok(Some(p("FR")))
        };
        assert!(route(&d, &p("LU"), &request(&body, &en), &p("FR"), by_fr).is_ok());
        assert!(route(&d, &p("LU"), &request(&body, &en), &p("FR-CA"), by_fr).is_ok());
        for (to, lookup) in [("DE", true), ("FR", false)] {
            let err = if lookup {
                route(&d, &p("LU"), &request(&body, &en), &p(to), by_fr)
            } else {
                route(&d, &p("LU"), &request(&body, &en), &p(to), none)
            }
            .unwrap_err();
            assert!(
                matches!(&err, RouteError::Invalid(f) if f[0].field == "preservation_case"),
                "{err}"
            );
        }
        // The lookup's own error is returned as it is.
        let failed = route(&d, &p("LU"), &request(&body, &en), &p("FR"), |_| {
            Err::<Option<PartyId>, _>(RouteError::Conflict("store failed".into()))
        });
        assert_eq!(failed, Err(RouteError::Conflict("store failed".into())));
    }

    #[test]
    fn an_emergency_production_carries_the_declarations_of_paras_2_3_and_7() {
        let d = directory(&[
            ("LU", ""),
            (
                "FR",
                "central_authority = \"FR-CA\"\nwithholds_until_emergency_mla = true\n\
                 no_subscriber_only = true\nconfirmation_after_execution = true",
            ),
            ("FR-CA", ""),
        ]);
        let body = Body::EmergencyProduction(EmergencyProduction {
            subscriber_only: true,
            ..EmergencyProduction::default()
        });
        let en = lang("en");
        let err = route(&d, &p("LU"), &request(&body, &en), &p("FR"), none).unwrap_err();
        assert!(
            matches!(&err, RouteError::Conflict(m) if m.contains("para. 3")),
            "{err}"
        );
        let overridden = RouteRequest {
            subscriber_only_override: true,
            ..request(&body, &en)
        };
        let r = route(&d, &p("LU"), &overridden, &p("FR"), none).unwrap();
        assert_eq!(r.to, p("FR"));
        assert_eq!(r.warnings.len(), 3, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("para. 2"));
        assert!(
            r.warnings[0].contains("--to FR-CA --urgency emergency"),
            "the MLA advice: {}",
            r.warnings[0]
        );
        assert!(r.warnings[1].contains("para. 3"));
        assert!(r.warnings[2].contains("para. 7"));
    }

    #[test]
    fn the_mla_advice_follows_the_routing_rules() {
        let d = directory(&[
            (
                "FR",
                "central_authority = \"FR-CA\"\nurgent_requests_to_central_authority_only = true",
            ),
            ("FR-CA", ""),
            ("DE", "accepts_mla_via_247 = true"),
            ("NL", "central_authority = \"NL-CA\""),
            ("NL-CA", ""),
            ("BE", "central_authority = \"BE-CA\""),
            ("IT", ""),
        ]);
        let advice = |id: &str| mla_route_advice(&d, d.get(&p(id)).unwrap());
        assert!(
            advice("FR").ends_with("it goes to FR-CA (art. 27(9)(e))"),
            "{}",
            advice("FR")
        );
        assert_eq!(
            advice("DE"),
            "send it now with `poc247 send mutual-assistance --to DE --urgency emergency …`"
        );
        assert!(advice("NL").contains("--to NL-CA"), "{}", advice("NL"));
        assert!(
            advice("BE").contains("its central authority BE-CA has no node here"),
            "{}",
            advice("BE")
        );
        assert!(
            advice("IT").ends_with("by its own channel"),
            "{}",
            advice("IT")
        );
    }

    #[test]
    fn the_case_context_carries_the_requested_partys_declarations() {
        let d = directory(&[
            ("LU", "[party.mla_basis]\nFR = \"treaty\""),
            (
                "FR",
                "formal_confirmation_required = true\nformal_confirmation_days = 20\n\
                 preservation_min_days = 90\nlegal_max_days = 120\nconfirmation_after_execution = true",
            ),
        ]);
        let c = context_for(&d, &p("LU"), &p("FR"), MessageKind::Preservation);
        assert!(c.confirmation_required && !c.confirmation_after_execution);
        assert_eq!(
            (
                c.confirmation_days,
                c.preservation_min_days,
                c.legal_max_days
            ),
            (20, 90, Some(120))
        );
        assert_eq!(
            c.mla_basis,
            MlaBasis::Treaty,
            "LU's declaration of a treaty with FR"
        );
        let c = context_for(&d, &p("LU"), &p("FR"), MessageKind::EmergencyProduction);
        assert!(c.confirmation_required && c.confirmation_after_execution);
        // A Party not in the directory: the defaults, 60 days of preservation (BC 29(7)).
        let c = context_for(&d, &p("FR"), &p("DE"), MessageKind::Preservation);
        assert_eq!(c.preservation_min_days, 60);
        assert!(!c.confirmation_required);
        assert_eq!(c.mla_basis, MlaBasis::default());
    }
}
