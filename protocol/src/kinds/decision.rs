//! The decision on a request (BC 25(4), 27(4)–(7), 27(9)(c), 29(5), 30(2); CARICOM emergency
//! MLA para. 4, emergency production para. 8): its outcome, the ground of a refusal, and the
//! rules that tie them to the other fields and to the case.

use super::{closed_set, required};
use crate::body::MessageKind;
use crate::body::Urgency;
use crate::date::Date;
use crate::ids::PartyId;
use crate::validate::{FieldError, Problem, Report, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use serde::{Deserialize, Serialize};

closed_set! {
    /// What the requested Party decided.
    pub enum Outcome {
        /// Executed in full; `executed_on` is mandatory.
        Executed = "executed",
        /// Executed in part, after considering it instead of a refusal or postponement
        /// (BC 27(6)); `executed_on` and `reasons` are mandatory.
        PartiallyExecuted = "partially_executed",
        /// Refused (BC 25(4), 27(4), 29(5), 30(2)); `reasons` (27(7)) and `refusal_ground`
        /// are mandatory.
        Refused = "refused",
        /// Postponed because execution would prejudice domestic investigations or
        /// proceedings (BC 27(5)); `reasons` are mandatory (27(7)).
        Postponed = "postponed",
        /// Sent on to the competent authority (BC 27(9)(c)); `forwarded_to` is mandatory.
        Forwarded = "forwarded",
        /// The requested Party did not conclude that an emergency exists: the case goes on as
        /// an ordinary request (CARICOM emergency MLA para. 4).
        EmergencyNotEstablished = "emergency_not_established",
    }
}

closed_set! {
    /// The ground of a refusal.
    ///
    /// There is deliberately no fiscal-offence or bank-secrecy ground: assistance may not be
    /// refused solely because the offence is also considered to involve fiscal matters, nor on
    /// the ground of bank secrecy (CARICOM MLA paras. 8 and 27).
    pub enum RefusalGround {
        /// The offence is a political offence or connected with one (BC 27(4)(a), 29(5)(a)).
        PoliticalOffence = "political_offence",
        /// Execution is likely to prejudice sovereignty, security, ordre public or other
        /// essential interests (BC 27(4)(b), 29(5)(b)).
        SovereigntySecurityPublicOrder = "sovereignty_security_public_order",
        /// The conduct is not an offence under the requested Party's law: only where the
        /// 29(4) reservation (or a treaty) allows it.
        DualCriminality = "dual_criminality",
        /// The request does not conform to the provisions on requests (CARICOM MLA 26(a)).
        RequestNonconforming = "request_nonconforming",
        /// A ground of the requested Party's law or of the applicable treaty (BC 25(4)).
        DomesticLaw = "domestic_law",
    }
}

/// The decision on a request: its outcome and what each outcome requires (BC 25(4),
/// 27(4)–(7), 27(9)(c), 29(5); CARICOM emergency MLA para. 4, emergency production para. 8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Decision {
    /// What was decided; mandatory.
    pub outcome: Option<Outcome>,
    /// Why; mandatory for `refused`, `postponed` and `partially_executed` (BC 27(7)).
    pub reasons: Option<String>,
    /// The ground of a refusal; mandatory for `refused` and allowed only then.
    pub refusal_ground: Option<RefusalGround>,
    /// The competent authority the request was sent on to; mandatory for `forwarded`
    /// (BC 27(9)(c)).
    pub forwarded_to: Option<PartyId>,
    /// When it was executed; mandatory for `executed` and `partially_executed`.
    pub executed_on: Option<Date>,
    /// For a preservation, the date until which the data are preserved (BC 29(7)); mandatory
    /// when a preservation is `executed` (checked by [`crate::Body::validate_in_case`]).
    pub preserved_until: Option<Date>,
    /// Other forms of cooperation offered (BC 27(6); emergency production para. 8).
    pub alternatives: Option<String>,
    /// The legal basis of the execution, such as CIC 48-25 or 67-1 (execution record).
    pub legal_basis: Option<String>,
    /// Who authorised it, such as the magistrate who agreed (execution record).
    pub authorised_by: Option<String>,
    /// The date of the domestic order (execution record).
    pub order_date: Option<Date>,
}

impl Decision {
    /// Every missing or malformed field at once, by the rules of the outcome. The urgency does
    /// not matter for a decision.
    pub fn validate(&self, _urgency: Urgency) -> Result<(), Vec<FieldError>> {
        let mut r = Report::new();
        required(&mut r, "outcome", self.outcome);
        let outcome = self.outcome;
        let is = |set: &[Outcome]| outcome.is_some_and(|o| set.contains(&o));
        if is(&[
            Outcome::Refused,
            Outcome::Postponed,
            Outcome::PartiallyExecuted,
        ]) {
            r.text(
                "reasons",
                self.reasons.as_deref().unwrap_or_default(),
                MAX_LONG_TEXT,
            );
        } else {
            r.optional_text("reasons", self.reasons.as_deref(), MAX_LONG_TEXT);
        }
        match (outcome, self.refusal_ground) {
            (Some(Outcome::Refused), None) => r.push("refusal_ground", Problem::Missing),
            (Some(o), Some(_)) if o != Outcome::Refused => r.push(
                "refusal_ground",
                Problem::Invalid(format!("only a refusal has a ground, not {o}")),
            ),
            _ => {}
        }
        if is(&[Outcome::Forwarded]) {
            required(&mut r, "forwarded_to", self.forwarded_to.as_ref());
        }
        if is(&[Outcome::Executed, Outcome::PartiallyExecuted]) {
            required(&mut r, "executed_on", self.executed_on);
        }
        r.optional_text("alternatives", self.alternatives.as_deref(), MAX_LONG_TEXT);
        r.optional_text("legal_basis", self.legal_basis.as_deref(), MAX_SHORT_TEXT);
        r.optional_text(
            "authorised_by",
            self.authorised_by.as_deref(),
            MAX_SHORT_TEXT,
        );
        r.finish()
    }

    /// The rules that need the case, added to `report`: an executed preservation reports
    /// `preserved_until` (BC 29(7)); a refusal to disclose traffic data rests only on the
    /// political-offence or sovereignty grounds (BC 30(2)); a preservation is refused only on
    /// those or for dual criminality (BC 29(4), 29(5)); dual criminality is a ground only in a
    /// preservation case (the 29(4) reservation).
    pub(crate) fn check_in_case(&self, case_kind: MessageKind, traffic_data: bool, r: &mut Report) {
        if self.outcome == Some(Outcome::Executed)
            && case_kind == MessageKind::Preservation
            && self.preserved_until.is_none()
        {
            r.push("preserved_until", Problem::Missing);
        }
        let Some(ground) = self.refusal_ground else {
            return;
        };
        if self.outcome != Some(Outcome::Refused) {
            return; // a ground on another outcome is already reported by `validate`
        }
        if traffic_data
            && !matches!(
                ground,
                RefusalGround::PoliticalOffence | RefusalGround::SovereigntySecurityPublicOrder
            )
        {
            r.push(
                "refusal_ground",
                Problem::Invalid(format!(
                    "disclosure of traffic data may be refused only as a political offence or \
                     on sovereignty, security or ordre public (BC 30(2)), not {ground}"
                )),
            );
        } else if case_kind == MessageKind::Preservation
            && !matches!(
                ground,
                RefusalGround::PoliticalOffence
                    | RefusalGround::SovereigntySecurityPublicOrder
                    | RefusalGround::DualCriminality
            )
        {
            r.push(
                "refusal_ground",
                Problem::Invalid(format!(
                    "a preservation may be refused only as a political offence or on \
                     sovereignty, security or ordre public (BC 29(5)), or for dual criminality \
                     under the 29(4) reservation, not {ground}"
                )),
            );
        } else if ground == RefusalGround::DualCriminality && case_kind != MessageKind::Preservation
        {
            r.push(
                "refusal_ground",
                Problem::Invalid(format!(
                    "dual criminality is a ground only for a preservation (BC 29(4)), not for \
                     {case_kind}"
                )),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::names;

    fn date(s: &str) -> Option<Date> {
        Date::parse(s).ok()
    }

    fn decided(outcome: Outcome) -> Decision {
        Decision {
            outcome: Some(outcome),
            ..Default::default()
        }
    }

    fn check(d: &Decision) -> Vec<String> {
        names(d.validate(Urgency::Routine))
    }

    fn in_case(d: &Decision, case_kind: MessageKind, traffic_data: bool) -> Vec<String> {
        let mut r = Report::new();
        d.check_in_case(case_kind, traffic_data, &mut r);
        names(r.finish())
    }

    fn refusal(ground: RefusalGround) -> Decision {
        Decision {
            refusal_ground: Some(ground),
            reasons: Some("see ground".into()),
            ..decided(Outcome::Refused)
        }
    }

    #[test]
    fn a_decision_needs_an_outcome() {
        assert_eq!(check(&Decision::default()), ["outcome"]);
    }

    #[test]
    fn refusal_needs_reasons_and_a_ground_art_27_4() {
        assert_eq!(
            check(&decided(Outcome::Refused)),
            ["reasons", "refusal_ground"]
        );
        assert!(check(&refusal(RefusalGround::PoliticalOffence)).is_empty());
        let blank = Decision {
            reasons: Some(" ".into()),
            ..refusal(RefusalGround::PoliticalOffence)
        };
        assert_eq!(check(&blank), ["reasons"]);
    }

    #[test]
    fn postponement_needs_reasons_art_27_5_and_27_7() {
        assert_eq!(check(&decided(Outcome::Postponed)), ["reasons"]);
        let d = Decision {
            reasons: Some("would prejudice a domestic investigation".into()),
            ..decided(Outcome::Postponed)
        };
        assert!(check(&d).is_empty());
    }

    #[test]
    fn partial_execution_needs_reasons_and_its_date_art_27_6() {
        assert_eq!(
            check(&decided(Outcome::PartiallyExecuted)),
            ["reasons", "executed_on"]
        );
        let d = Decision {
            reasons: Some("only one of the two accounts exists".into()),
            executed_on: date("2026-11-24"),
            ..decided(Outcome::PartiallyExecuted)
        };
        assert!(check(&d).is_empty());
    }

    #[test]
    fn execution_needs_its_date() {
        assert_eq!(check(&decided(Outcome::Executed)), ["executed_on"]);
        let d = Decision {
            executed_on: date("2026-11-24"),
            ..decided(Outcome::Executed)
        };
        assert!(check(&d).is_empty());
    }

    #[test]
    fn forwarding_names_the_competent_authority_art_27_9_c() {
        assert_eq!(check(&decided(Outcome::Forwarded)), ["forwarded_to"]);
        let d = Decision {
            forwarded_to: PartyId::parse("FR-CA").ok(),
            ..decided(Outcome::Forwarded)
        };
        assert!(check(&d).is_empty());
    }

    #[test]
    fn emergency_not_established_needs_nothing_more_emergency_mla_para_4() {
        assert!(check(&decided(Outcome::EmergencyNotEstablished)).is_empty());
    }

    #[test]
    fn only_a_refusal_has_a_ground() {
        for &o in Outcome::ALL {
            if o == Outcome::Refused {
                continue;
            }
            let d = Decision {
                refusal_ground: Some(RefusalGround::DomesticLaw),
                reasons: Some("r".into()),
                executed_on: date("2026-11-24"),
                forwarded_to: PartyId::parse("FR-CA").ok(),
                ..decided(o)
            };
            let errs = d.validate(Urgency::Routine).unwrap_err();
            assert_eq!(errs.len(), 1, "{o}");
            assert_eq!(errs[0].field, "refusal_ground");
            assert!(matches!(errs[0].problem, Problem::Invalid(_)));
        }
    }

    #[test]
    fn there_is_no_fiscal_or_bank_secrecy_ground_caricom_mla_8_and_27() {
        assert_eq!(RefusalGround::ALL.len(), 5);
        for name in ["fiscal", "fiscal_offence", "bank_secrecy"] {
            assert_eq!(RefusalGround::parse(name), None);
            assert!(serde_json::from_value::<Decision>(
                serde_json::json!({"outcome": "refused", "refusal_ground": name})
            )
            .is_err());
        }
    }

    #[test]
    fn executed_preservation_reports_preserved_until_art_29_7() {
        let d = Decision {
            executed_on: date("2026-11-24"),
            ..decided(Outcome::Executed)
        };
        assert_eq!(
            in_case(&d, MessageKind::Preservation, false),
            ["preserved_until"]
        );
        assert!(in_case(&d, MessageKind::MutualAssistance, false).is_empty());
        let d = Decision {
            preserved_until: date("2027-02-22"),
            ..d
        };
        assert!(in_case(&d, MessageKind::Preservation, false).is_empty());
    }

    #[test]
    fn traffic_data_refusal_only_on_30_2_grounds() {
        for &g in RefusalGround::ALL {
            let allowed = matches!(
                g,
                RefusalGround::PoliticalOffence | RefusalGround::SovereigntySecurityPublicOrder
            );
            for case in [MessageKind::Preservation, MessageKind::MutualAssistance] {
                let errs = in_case(&refusal(g), case, true);
                assert_eq!(errs.is_empty(), allowed, "{g} in {case}");
            }
        }
    }

    #[test]
    fn a_preservation_is_refused_only_on_the_grounds_of_art_29_5_or_29_4() {
        for &g in RefusalGround::ALL {
            let allowed = matches!(
                g,
                RefusalGround::PoliticalOffence
                    | RefusalGround::SovereigntySecurityPublicOrder
                    | RefusalGround::DualCriminality
            );
            let errs = in_case(&refusal(g), MessageKind::Preservation, false);
            assert_eq!(errs.is_empty(), allowed, "{g}: {errs:?}");
        }
    }

    #[test]
    fn dual_criminality_only_in_a_preservation_case_art_29_4() {
        let d = refusal(RefusalGround::DualCriminality);
        assert!(in_case(&d, MessageKind::Preservation, false).is_empty());
        for &case in MessageKind::ALL {
            if case != MessageKind::Preservation {
                assert_eq!(in_case(&d, case, false), ["refusal_ground"], "{case}");
            }
        }
        for g in [
            RefusalGround::PoliticalOffence,
            RefusalGround::SovereigntySecurityPublicOrder,
            RefusalGround::RequestNonconforming,
            RefusalGround::DomesticLaw,
        ] {
            assert!(in_case(&refusal(g), MessageKind::MutualAssistance, false).is_empty());
        }
    }
}
