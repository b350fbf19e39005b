//! Deadlines, sans-IO: what each case owes and when, computed from the case record and the
//! node's settings with `now` as a parameter. The node's store writes them to its index of
//! deadlines in the transaction that changes the case; the timer task fires each once from it
//! (its label is then recorded on the case, with its audit entry), and `pending` lists them.

use crate::lifecycle::{CaseRecord, CaseState, Role};
use poc247_protocol::{CaseRef, Date, MessageKind, PartyId, Urgency, UtcMs};
use serde::{Deserialize, Serialize};

const MINUTE: u64 = 60_000;
const DAY: u64 = 86_400_000;

/// Deadline settings (`[deadlines]` in node.toml).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackSettings {
    /// Officer acknowledgement of an emergency request, minutes.
    pub ack_emergency_minutes: u64,
    /// Officer acknowledgement of an urgent request, minutes.
    pub ack_urgent_minutes: u64,
    /// Officer acknowledgement of a routine request, minutes.
    pub ack_routine_minutes: u64,
    /// An outbound message without receipt raises an alert after this many minutes.
    pub delivery_alert_minutes: u64,
    /// Reminders before a preservation ends, days.
    pub preservation_reminder_days: Vec<u32>,
    /// Warning before a legal cap is reached while the follow-up request is undecided, days.
    pub legal_cap_warning_days: u32,
    /// Closed cases are purged after this many days (none: kept).
    pub retention_days: Option<u32>,
    /// This Party's law limits an order to trace traffic data to this many days, renewable
    /// (CIC 67-1: one month); none: no such track.
    pub tracing_order_days: Option<u32>,
    /// The person concerned is informed of a tracing within this many days of its end (CIC
    /// 67-1: 12 months); none: no such track.
    pub tracing_notice_days: Option<u32>,
}

impl Default for TrackSettings {
    fn default() -> Self {
        TrackSettings {
            ack_emergency_minutes: 15,
            ack_urgent_minutes: 60,
            ack_routine_minutes: 24 * 60,
            delivery_alert_minutes: 5,
            preservation_reminder_days: vec![14, 3],
            legal_cap_warning_days: 7,
            retention_days: None,
            tracing_order_days: None,
            tracing_notice_days: None,
        }
    }
}

/// What a deadline is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Track {
    /// An officer must acknowledge an inbound request (BC 35).
    Acknowledgement,
    /// An outbound message waits for its receipt.
    Delivery,
    /// A formal confirmation is owed (BC 25(3); CARICOM MLA para. 18; emergency production para. 7).
    FormalConfirmation,
    /// A preservation ends (BC 29(7)).
    Preservation,
    /// A domestic cap on a preservation order approaches (CIC 48-25).
    LegalCap,
    /// The requester's suggested deadline (CARICOM MLA para. 29).
    RespondBy,
    /// A closed case is due for purging.
    Retention,
    /// A question asked in the case (MLA para. 21; emergency MLA para. 3) or conditions set
    /// (BC 28(3)) wait for the other side's answer.
    Answer,
    /// A tracing of traffic data this Party executed: its order ends, and the person
    /// concerned is to be informed (CIC 67-1).
    Tracing,
}

/// The label of the deadline to inform the person concerned of a tracing.
pub const TRACING_NOTICE: &str = "tracing_notice_due";
/// Recorded among the case's labels (`fired`) once an officer recorded that the person was
/// informed (`notified`): the deadline is then settled and no longer owed.
pub const TRACING_NOTICE_GIVEN: &str = "tracing_notice_given";

/// One deadline of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// The case.
    pub case_ref: CaseRef,
    /// The track.
    pub track: Track,
    /// Unique within the case; a deadline with a label already fired does not fire again.
    pub label: String,
    /// When it is due.
    pub due: UtcMs,
    /// Who owes what is due.
    pub owed_by: PartyId,
    /// What is owed, for people.
    pub what: String,
    /// The command that settles it.
    pub settle: String,
    /// Whether it escalates (an unacknowledged request past its SLA).
    pub escalation: bool,
    /// Training traffic.
    pub exercise: bool,
}

impl TrackSettings {
    /// How long an officer has to acknowledge a request of urgency `u`, in milliseconds.
    pub fn ack_sla(&self, u: Urgency) -> u64 {
        MINUTE
            * match u {
                Urgency::Emergency => self.ack_emergency_minutes,
                Urgency::Urgent => self.ack_urgent_minutes,
                Urgency::Routine => self.ack_routine_minutes,
            }
    }
}

fn date_ms(d: Date) -> UtcMs {
    UtcMs(d.start_utc_ms())
}

/// Every deadline of `case` as it stands, fired or not. `follow_up_undecided`: the
/// mutual-assistance request that follows this preservation is not decided yet (the data
/// stay preserved until it is, BC 29(7)).
pub fn deadlines(case: &CaseRecord, s: &TrackSettings, follow_up_undecided: bool) -> Vec<Deadline> {
    let mut out = Vec::new();
    let c = &case.case_ref;
    let mut push = |track: Track,
                    label: String,
                    due: UtcMs,
                    owed_by: &PartyId,
                    what: String,
                    settle: String,
                    escalation: bool| {
        out.push(Deadline {
            case_ref: c.clone(),
            track,
            label,
            due,
            owed_by: owed_by.clone(),
            what,
            settle,
            escalation,
            exercise: case.exercise,
        })
    };
    if matches!(case.state, CaseState::Withdrawn | CaseState::Failed { .. }) {
        return out;
    }
    let closed = case.state == CaseState::Closed;
    // A copy for information (BC 27(9)(a)) owes nothing but its keeping.
    let copy = case.copy_of.is_some() && case.kind == MessageKind::MutualAssistance;
    let spontaneous = matches!(
        case.kind,
        MessageKind::SpontaneousInformation | MessageKind::InformationOffer
    );
    let received_at = case
        .recorded_external
        .as_ref()
        .map_or(case.opened_at, |r| r.received_at);

    if !closed
        && !spontaneous
        && !copy
        && case.acknowledged_at.is_none()
        && case.decided_at.is_none()
    {
        push(
            Track::Acknowledgement,
            "acknowledgement_overdue".into(),
            received_at.plus_ms(s.ack_sla(case.urgency)),
            &case.requested,
            format!(
                "an officer of {} acknowledges the {} request",
                case.requested, case.urgency
            ),
            format!("poc247 ack {c} --officer NAME"),
            true,
        );
    }
    if !closed && case.context.confirmation_required && case.confirmation.is_none() {
        let start = if case.recorded_external.as_ref().is_some_and(|r| r.oral) {
            Some(received_at)
        } else if case.context.confirmation_after_execution {
            case.decided_at
        } else {
            Some(case.opened_at)
        };
        if let Some(start) = start {
            let days = if case.recorded_external.as_ref().is_some_and(|r| r.oral) {
                0
            } else {
                u64::from(case.context.confirmation_days)
            };
            push(
                Track::FormalConfirmation,
                "confirmation_overdue".into(),
                start.plus_ms(days * DAY),
                &case.requester,
                format!(
                    "{} confirms the request formally to {}",
                    case.requester, case.requested
                ),
                format!(
                    "poc247 confirm {c} --reference REF --channel central_authority --sent-on DATE"
                ),
                false,
            );
        }
    }
    // A tracing this Party executed (a preservation of traffic data, or a mutual-assistance
    // request) under a law that limits the order and has the person informed (CIC 67-1).
    let traced = (case.kind == MessageKind::Preservation && case.context.traffic_data)
        || case.kind == MessageKind::MutualAssistance;
    if let (Role::Requested, true, Some(order_days), Some(executed)) = (
        case.role,
        traced && case.copy_of.is_none(),
        s.tracing_order_days,
        case.executed_on,
    ) {
        let ends = executed.plus_days(i64::from(order_days));
        if !closed {
            push(
                Track::Tracing,
                format!("tracing_order_end_{ends}"),
                date_ms(ends),
                &case.requested,
                format!(
                    "the tracing order (CIC 67-1) ends on {ends}, {order_days} days after \
                     execution: renew it or end the measure"
                ),
                format!("poc247 show {c}"),
                false,
            );
        }
        let given = case.fired.iter().any(|l| l == TRACING_NOTICE_GIVEN);
        if let Some(notice_days) = s.tracing_notice_days.filter(|_| !given) {
            let by = ends.plus_days(i64::from(notice_days));
            push(
                Track::Tracing,
                TRACING_NOTICE.to_owned(),
                date_ms(by),
                &case.requested,
                format!(
                    "inform the person concerned of the tracing by {by} (CIC 67-1), then \
                     record it"
                ),
                format!("poc247 notified {c} --note …"),
                false,
            );
        }
    }
    if case.kind == MessageKind::Preservation && !case.released {
        if let Some(until) = case.preserved_until {
            let end = date_ms(until);
            if follow_up_undecided {
                if let (Some(cap), Some(executed)) = (case.context.legal_max_days, case.executed_on)
                {
                    let cap_at = date_ms(executed.plus_days(i64::from(cap)));
                    push(
                        Track::LegalCap,
                        "legal_cap_warning".into(),
                        UtcMs(cap_at.0.saturating_sub(u64::from(s.legal_cap_warning_days) * DAY)),
                        &case.requested,
                        format!(
                            "{}'s legal cap of {cap} days is reached on {} while the follow-up request is undecided",
                            case.requested,
                            executed.plus_days(i64::from(cap))
                        ),
                        format!("poc247 show {c}"),
                        false,
                    );
                }
            } else {
                for d in &s.preservation_reminder_days {
                    push(
                        Track::Preservation,
                        format!("preservation_reminder_{d}d_{until}"),
                        UtcMs(end.0.saturating_sub(u64::from(*d) * DAY)),
                        &case.requester,
                        format!("the preservation ends on {until}: send the mutual-assistance request, extend, or release"),
                        format!("poc247 send mutual-assistance --preservation-case {c} …"),
                        false,
                    );
                }
                push(
                    Track::Preservation,
                    format!("preservation_ended_{until}"),
                    end,
                    &case.requester,
                    format!("the preservation ended on {until}"),
                    format!("poc247 show {c}"),
                    false,
                );
            }
        }
    }
    // What the other side asked and waits for: each open question, and conditions set, owed
    // within the time an acknowledgement of the case's urgency is.
    if !closed {
        for q in &case.open_info_requests {
            push(
                Track::Answer,
                format!("answer_overdue_{q}"),
                q.created_at().plus_ms(s.ack_sla(case.urgency)),
                &case.requester,
                format!(
                    "{} asked questions: {} answers them",
                    case.requested, case.requester
                ),
                format!("poc247 answer {c} --in-reply-to {q} --answers …"),
                false,
            );
        }
        if let Some(q) = case.pending_conditions {
            push(
                Track::Answer,
                format!("conditions_answer_overdue_{q}"),
                q.created_at().plus_ms(s.ack_sla(case.urgency)),
                &case.requester,
                format!(
                    "{} set conditions (art. 28(2)): {} accepts or declines them",
                    case.requested, case.requester
                ),
                format!("poc247 conditions-reply {c} --accepted|--explanation …"),
                false,
            );
        }
    }
    if let Some(by) = case.respond_by {
        if case.decided_at.is_none() && !closed && !copy {
            push(
                Track::RespondBy,
                "respond_by_passed".into(),
                date_ms(by.plus_days(1)),
                &case.requested,
                format!("{} suggested an answer by {by}", case.requester),
                format!("poc247 decide {c} --outcome …"),
                false,
            );
        }
    }
    if closed {
        if let Some(days) = s.retention_days {
            push(
                Track::Retention,
                "retention_purge".into(),
                case.updated_at.plus_ms(u64::from(days) * DAY),
                match case.role {
                    Role::Requester => &case.requester,
                    Role::Requested => &case.requested,
                },
                format!("closed case kept {days} days: purged"),
                String::new(),
                false,
            );
        }
    }
    out
}

/// The deadlines not fired yet.
pub fn open_deadlines(
    case: &CaseRecord,
    s: &TrackSettings,
    follow_up_undecided: bool,
) -> Vec<Deadline> {
    deadlines(case, s, follow_up_undecided)
        .into_iter()
        .filter(|d| !case.fired.contains(&d.label))
        .collect()
}

/// The deadlines due at `now` and not fired yet.
pub fn due(
    case: &CaseRecord,
    s: &TrackSettings,
    follow_up_undecided: bool,
    now: UtcMs,
) -> Vec<Deadline> {
    open_deadlines(case, s, follow_up_undecided)
        .into_iter()
        .filter(|d| d.due <= now)
        .collect()
}

/// The delivery alert of an outbound message queued at `queued_at` and still unreceipted.
pub fn delivery_alert(
    case: &CaseRecord,
    to: &PartyId,
    queued_at: UtcMs,
    s: &TrackSettings,
    message: &str,
) -> Deadline {
    Deadline {
        case_ref: case.case_ref.clone(),
        track: Track::Delivery,
        label: format!("delivery_overdue_{message}"),
        due: queued_at.plus_ms(s.delivery_alert_minutes * MINUTE),
        owed_by: to.clone(),
        what: format!("no receipt from {to} yet; retries go on"),
        settle: format!("poc247 peers   # is {to} reachable?"),
        escalation: false,
        exercise: case.exercise,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::lifecycle::{CaseContext, Step};
    use poc247_protocol::kinds::*;
    use poc247_protocol::*;

    const T0: UtcMs = UtcMs(1_780_000_000_000); // 2026-05-28T20:26:40Z

    fn p(s: &str) -> PartyId {
        PartyId::parse(s).unwrap()
    }

    /// The requested Party's view of a preservation from LU, received at T0.
    fn case(min_days: u32, cap: Option<u32>) -> CaseRecord {
        let lu = p("LU");
        let h = Header {
            version: PROTOCOL_VERSION,
            id: MessageId::new(T0),
            from: lu.clone(),
            to: p("FR"),
            created_at: T0,
            case_ref: CaseRef::new(&lu, 2026, 1),
            in_reply_to: None,
            urgency: Urgency::Emergency,
            language: Language::parse("fr").unwrap(),
            exercise: false,
        };
        let ctx = CaseContext {
            preservation_min_days: min_days,
            legal_max_days: cap,
            ..CaseContext::default()
        };
        CaseRecord::open(
            &h,
            &Body::Preservation(Preservation::default()),
            Role::Requested,
            ctx,
            T0,
        )
    }

    fn execute(c: &mut CaseRecord, until: Option<Date>) {
        let executed_on = Date::from_utc_ms(T0.0);
        let body = Body::Decision(Decision {
            outcome: Some(Outcome::Executed),
            executed_on: Some(executed_on),
            preserved_until: until,
            ..Decision::default()
        });
        let fr = p("FR");
        c.apply_message(
            Step {
                id: MessageId::new(T0.plus_ms(1)),
                from: &fr,
                in_reply_to: None,
                at: T0,
                body: &body,
            },
            T0,
        )
        .unwrap();
    }

    fn day(n: u64) -> UtcMs {
        // Midnight of the execution day, plus n days: preservation dates are whole days.
        UtcMs(Date::from_utc_ms(T0.0).start_utc_ms() + n * DAY)
    }

    /// Fires what is due at `now` (recording the labels, as the driver does); returns them.
    fn fire(c: &mut CaseRecord, s: &TrackSettings, follow_up: bool, now: UtcMs) -> Vec<String> {
        let labels: Vec<String> = due(c, s, follow_up, now)
            .into_iter()
            .map(|d| d.label)
            .collect();
        c.fired.extend(labels.iter().cloned());
        labels
    }

    #[test]
    fn a_preservation_reported_until_day_60_ends_on_day_60_not_59_art_29_7() {
        let s = TrackSettings::default();
        let mut c = case(60, None);
        let until = Date::from_utc_ms(day(60).0);
        execute(&mut c, Some(until));
        c.acknowledged_at = Some(T0);
        let f46 = fire(&mut c, &s, false, day(46));
        assert_eq!(f46, [format!("preservation_reminder_14d_{until}")]);
        let f59 = fire(&mut c, &s, false, day(59).plus_ms(DAY - 1));
        assert_eq!(
            f59,
            [format!("preservation_reminder_3d_{until}")],
            "day 59: not ended yet"
        );
        let f60 = fire(&mut c, &s, false, day(60));
        assert_eq!(f60, [format!("preservation_ended_{until}")]);
        assert!(
            fire(&mut c, &s, false, day(61)).is_empty(),
            "day 61: nothing fires twice"
        );
    }

    #[test]
    fn a_90_day_party_without_a_reported_date_ends_on_day_90_caricom() {
        let s = TrackSettings::default();
        let mut c = case(90, None);
        execute(&mut c, None);
        c.acknowledged_at = Some(T0);
        assert_eq!(c.preserved_until, Some(Date::from_utc_ms(day(90).0)));
        let ended = |v: &[String]| v.iter().any(|l| l.starts_with("preservation_ended"));
        assert!(!ended(&fire(&mut c, &s, false, day(89))));
        assert!(ended(&fire(&mut c, &s, false, day(90))));
        assert!(fire(&mut c, &s, false, day(91)).is_empty());
    }

    #[test]
    fn a_follow_up_request_keeps_the_data_preserved_past_day_60_with_a_cap_warning_art_29_7() {
        let s = TrackSettings::default();
        let mut c = case(60, Some(90));
        execute(&mut c, Some(Date::from_utc_ms(day(60).0)));
        c.acknowledged_at = Some(T0);
        fire(&mut c, &s, false, day(49));
        // Day 50: the mutual-assistance request arrives and stays undecided.
        let after = fire(&mut c, &s, true, day(61));
        assert!(
            after.iter().all(|l| !l.starts_with("preservation_ended")),
            "{after:?}"
        );
        let cap = fire(&mut c, &s, true, day(84));
        assert_eq!(
            cap,
            ["legal_cap_warning"],
            "warned 7 days before the 90-day cap"
        );
        assert!(fire(&mut c, &s, true, day(200)).is_empty());
    }

    #[test]
    fn an_unacknowledged_emergency_escalates_after_15_minutes_exactly_once() {
        let s = TrackSettings::default();
        let mut c = case(60, None);
        assert!(fire(&mut c, &s, false, T0.plus_ms(15 * MINUTE - 1)).is_empty());
        let d = due(&c, &s, false, T0.plus_ms(15 * MINUTE));
        assert_eq!(d.len(), 1);
        assert!(d[0].escalation);
        assert_eq!(d[0].owed_by.as_str(), "FR");
        assert_eq!(
            fire(&mut c, &s, false, T0.plus_ms(15 * MINUTE)),
            ["acknowledgement_overdue"]
        );
        assert!(
            fire(&mut c, &s, false, T0.plus_ms(60 * MINUTE)).is_empty(),
            "exactly once"
        );
        c.acknowledged_at = Some(T0.plus_ms(61 * MINUTE));
        assert!(deadlines(&c, &s, false)
            .iter()
            .all(|d| d.track != Track::Acknowledgement));
    }

    #[test]
    fn a_formal_confirmation_is_due_its_listed_days_after_sending_art_25_3() {
        let s = TrackSettings::default();
        let mut c = case(60, None);
        c.context.confirmation_required = true;
        c.context.confirmation_days = 10;
        let d: Vec<Deadline> = deadlines(&c, &s, false)
            .into_iter()
            .filter(|d| d.track == Track::FormalConfirmation)
            .collect();
        assert_eq!(d[0].due, T0.plus_ms(10 * DAY));
        assert_eq!(d[0].owed_by.as_str(), "LU");
        // After execution for emergency production (para. 7): nothing owed before a decision.
        c.context.confirmation_after_execution = true;
        assert!(deadlines(&c, &s, false)
            .iter()
            .all(|d| d.track != Track::FormalConfirmation));
    }
}
