//! Content-free statistics of the cases opened in a period (CARICOM; the twice-yearly meetings
//! of the 24/7 network): counts by kind, role and state (with the decision's outcome),
//! acknowledgement and decision latency percentiles, and overdue acknowledgements. Exercise
//! cases are left out (BC 35(3)). Nothing but kinds, states, urgencies and numbers leaves
//! here: no party, case reference or text. Pure: cases, period and `now` in, numbers out.

use crate::lifecycle::{CaseRecord, CaseState, Role};
use crate::tracks::TrackSettings;
use poc247_protocol::{MessageKind, Urgency, UtcMs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The cases counted: those opened in `[since, until)`; an open end is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    /// First instant included.
    pub since: Option<UtcMs>,
    /// First instant no longer included.
    pub until: Option<UtcMs>,
}

impl Period {
    /// Whether `t` falls in the period.
    pub fn contains(&self, t: UtcMs) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// The statistics of one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// The period (RFC 3339; `null` for an open end).
    pub period: PeriodView,
    /// The instant the overdue counts refer to: the end of the period, or now if earlier.
    pub as_of: String,
    /// Cases counted.
    pub cases: u64,
    /// Exercise cases opened in the period and left out.
    pub exercise_cases_left_out: u64,
    /// Cases by kind, role, state and outcome.
    pub counts: Vec<CountRow>,
    /// Latency percentiles, by measure and urgency (`all` first).
    pub latency: Vec<LatencyRow>,
    /// Acknowledgements overdue (open past their deadline) or late (made after it).
    pub overdue: Vec<OverdueRow>,
}

/// The period as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodView {
    /// First instant included.
    pub since: Option<String>,
    /// First instant no longer included.
    pub until: Option<String>,
}

/// How many cases of one kind, role and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountRow {
    /// The kind of the opening request.
    pub kind: String,
    /// `requester` (this Party asked) or `requested` (this Party was asked).
    pub role: String,
    /// The case's state now.
    pub state: String,
    /// The decision's outcome, while the state is `decided`.
    pub outcome: Option<String>,
    /// How many.
    pub count: u64,
}

/// Percentiles of one latency, in seconds (nearest rank); `null` when nothing was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// `acknowledgement` (opened → acknowledged) or `decision` (opened → decided).
    pub measure: String,
    /// `all`, `emergency`, `urgent` or `routine`.
    pub urgency: String,
    /// Cases measured.
    pub count: u64,
    /// Median.
    pub p50_s: Option<f64>,
    /// 90th percentile.
    pub p90_s: Option<f64>,
    /// 99th percentile.
    pub p99_s: Option<f64>,
    /// Longest.
    pub max_s: Option<f64>,
}

/// Overdue acknowledgements of one role and urgency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueRow {
    /// The track (`acknowledgement`).
    pub track: String,
    /// The role of this node in the cases.
    pub role: String,
    /// The urgency.
    pub urgency: String,
    /// The deadline, in seconds after the case was opened.
    pub sla_s: u64,
    /// Not acknowledged nor decided at `as_of`, past the deadline.
    pub open: u64,
    /// Acknowledged after the deadline.
    pub late: u64,
}

fn seconds(ms: u64) -> f64 {
    // Milliseconds fit f64 exactly up to 2^53 ms (285,000 years).
    ms as f64 / 1000.0
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    let n = u64::try_from(sorted.len()).ok()?;
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).clamp(1, n);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

fn latency_row(measure: &str, urgency: &str, mut v: Vec<u64>) -> LatencyRow {
    v.sort_unstable();
    let pct = |p| percentile(&v, p).map(seconds);
    LatencyRow {
        measure: measure.into(),
        urgency: urgency.into(),
        count: v.len() as u64,
        p50_s: pct(50),
        p90_s: pct(90),
        p99_s: pct(99),
        max_s: v.last().copied().map(seconds),
    }
}

/// Whether an officer is expected to acknowledge the case: requests, not offers of
/// information nor the copies sent to the own central authority (BC 27(9)(a)).
fn needs_acknowledgement(c: &CaseRecord) -> bool {
    !matches!(
        c.kind,
        MessageKind::SpontaneousInformation | MessageKind::InformationOffer
    ) && c.copy_of.is_none()
}

/// Whether the acknowledgement of `c` was still owed at `at`, past its deadline.
fn acknowledgement_open_at(c: &CaseRecord, at: UtcMs, sla: &TrackSettings) -> bool {
    let due = c.opened_at.plus_ms(sla.ack_sla(c.urgency));
    let by = |t: Option<UtcMs>| t.is_some_and(|t| t <= at);
    // Never delivered: nothing to acknowledge yet.
    let undelivered = matches!(c.state, CaseState::Queued | CaseState::Failed { .. });
    let ended = c.state.is_terminal() && c.updated_at <= at;
    let handled = by(c.acknowledged_at) || by(c.decided_at);
    due < at && !undelivered && !ended && !handled
}

const URGENCIES: [Urgency; 3] = [Urgency::Emergency, Urgency::Urgent, Urgency::Routine];

/// The place of `u` in [`URGENCIES`].
fn urgency_index(u: Urgency) -> usize {
    match u {
        Urgency::Emergency => 0,
        Urgency::Urgent => 1,
        Urgency::Routine => 2,
    }
}

/// The roles of the overdue rows, in their order.
const ROLES: [Role; 2] = [Role::Requested, Role::Requester];

/// The statistics of a period, fed one case at a time ([`Tally::add`]) and made once every
/// case was seen ([`Tally::finish`]): what it holds grows with the kinds, states and outcomes
/// met, and by one latency per measure and case counted (the percentiles need them), never
/// by a case. The order the cases come in does not change the result.
#[derive(Debug, Clone)]
pub struct Tally<'a> {
    period: Period,
    as_of: UtcMs,
    sla: &'a TrackSettings,
    cases: u64,
    exercise: u64,
    counts: BTreeMap<
        (
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
        ),
        u64,
    >,
    /// Milliseconds from opening to acknowledgement (`[0]`) and to decision (`[1]`), by
    /// urgency (in the order of [`URGENCIES`]).
    latency: [[Vec<u64>; 3]; 2],
    /// Acknowledgements open past their deadline and made late, by role (in the order of
    /// [`ROLES`]) and urgency.
    overdue: [[(u64, u64); 3]; 2],
}

impl<'a> Tally<'a> {
    /// Nothing counted yet, for the cases opened in `period`; overdue counts as of the end of
    /// the period, or `now` if that is earlier; acknowledgement deadlines are `sla`.
    pub fn new(period: &Period, now: UtcMs, sla: &'a TrackSettings) -> Self {
        Tally {
            period: *period,
            as_of: period.until.map_or(now, |u| u.min(now)),
            sla,
            cases: 0,
            exercise: 0,
            counts: BTreeMap::new(),
            latency: Default::default(),
            overdue: Default::default(),
        }
    }

    /// Counts `c` if it was opened in the period (any other case is passed over); an exercise
    /// case only as left out.
    pub fn add(&mut self, c: &CaseRecord) {
        if !self.period.contains(c.opened_at) {
            return;
        }
        if c.exercise {
            self.exercise += 1;
            return;
        }
        self.cases += 1;
        let outcome = match &c.state {
            CaseState::Decided { outcome } => Some(outcome.as_str()),
            _ => None,
        };
        *self
            .counts
            .entry((c.kind.as_str(), c.role.as_str(), c.state.name(), outcome))
            .or_default() += 1;
        let u = urgency_index(c.urgency);
        for (m, at) in [c.acknowledged_at, c.decided_at].into_iter().enumerate() {
            if let Some(t) = at {
                self.latency[m][u].push(t.since(c.opened_at));
            }
        }
        if needs_acknowledgement(c) {
            let r = usize::from(c.role != ROLES[0]);
            let (open, late) = &mut self.overdue[r][u];
            if acknowledgement_open_at(c, self.as_of, self.sla) {
                *open += 1;
            }
            if c.acknowledged_at
                .is_some_and(|a| a.since(c.opened_at) > self.sla.ack_sla(c.urgency))
            {
                *late += 1;
            }
        }
    }

    /// The statistics of the cases added.
    pub fn finish(mut self) -> Stats {
        let mut latency = Vec::new();
        for (m, measure) in ["acknowledgement", "decision"].into_iter().enumerate() {
            let by_urgency = std::mem::take(&mut self.latency[m]);
            latency.push(latency_row(measure, "all", by_urgency.concat()));
            for (u, v) in URGENCIES.into_iter().zip(by_urgency) {
                if !v.is_empty() {
                    latency.push(latency_row(measure, u.as_str(), v));
                }
            }
        }
        let mut overdue = Vec::new();
        for (r, role) in ROLES.into_iter().enumerate() {
            for (u, urgency) in URGENCIES.into_iter().enumerate() {
                let (open, late) = self.overdue[r][u];
                if open + late > 0 {
                    overdue.push(OverdueRow {
                        track: "acknowledgement".into(),
                        role: role.as_str().into(),
                        urgency: urgency.as_str().into(),
                        sla_s: self.sla.ack_sla(urgency) / 1000,
                        open,
                        late,
                    });
                }
            }
        }
        Stats {
            period: PeriodView {
                since: self.period.since.map(UtcMs::rfc3339),
                until: self.period.until.map(UtcMs::rfc3339),
            },
            as_of: self.as_of.rfc3339(),
            cases: self.cases,
            exercise_cases_left_out: self.exercise,
            counts: self
                .counts
                .into_iter()
                .map(|((kind, role, state, outcome), count)| CountRow {
                    kind: kind.into(),
                    role: role.into(),
                    state: state.into(),
                    outcome: outcome.map(str::to_owned),
                    count,
                })
                .collect(),
            latency,
            overdue,
        }
    }
}

/// The statistics of the cases opened in `period`, exercise cases left out; overdue counts
/// as of the end of the period, or `now` if that is earlier.
/// Acknowledgement deadlines are the node's own (`[deadlines]`). The cases are read one at a
/// time ([`Tally`]).
pub fn compute<'c>(
    cases: impl IntoIterator<Item = &'c CaseRecord>,
    period: &Period,
    now: UtcMs,
    sla: &TrackSettings,
) -> Stats {
    let mut t = Tally::new(period, now, sla);
    for c in cases {
        t.add(c);
    }
    t.finish()
}

/// The CSV header of [`Stats::to_csv`].
pub const CSV_HEADER: &str =
    "section,kind,role,state,outcome,urgency,count,p50_s,p90_s,p99_s,max_s";

impl Stats {
    /// The statistics as CSV (RFC 4180, one header line): `cases` rows by kind, role, state
    /// and outcome; `latency_acknowledgement` and `latency_decision` rows by urgency;
    /// `overdue_acknowledgement_open` and `overdue_acknowledgement_late` rows by role and
    /// urgency; then `total` and `exercise_left_out`. Cells that do not apply are empty.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let mut row = |cells: [&str; 11]| {
            let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            let _ = writeln!(out, "{}", line.join(","));
        };
        let num = |v: Option<f64>| v.map(|s| format!("{s:.3}")).unwrap_or_default();
        row([
            "section", "kind", "role", "state", "outcome", "urgency", "count", "p50_s", "p90_s",
            "p99_s", "max_s",
        ]);
        for c in &self.counts {
            let count = c.count.to_string();
            let outcome = c.outcome.as_deref().unwrap_or_default();
            row([
                "cases", &c.kind, &c.role, &c.state, outcome, "", &count, "", "", "", "",
            ]);
        }
        for l in &self.latency {
            let section = format!("latency_{}", l.measure);
            let count = l.count.to_string();
            let (p50, p90, p99, max) = (num(l.p50_s), num(l.p90_s), num(l.p99_s), num(l.max_s));
            row([
                &section, "", "", "", "", &l.urgency, &count, &p50, &p90, &p99, &max,
            ]);
        }
        for o in &self.overdue {
            for (what, n) in [("open", o.open), ("late", o.late)] {
                let section = format!("overdue_{}_{what}", o.track);
                let count = n.to_string();
                row([
                    &section, "", &o.role, "", "", &o.urgency, &count, "", "", "", "",
                ]);
            }
        }
        let total = self.cases.to_string();
        row(["total", "", "", "", "", "", &total, "", "", "", ""]);
        let exercise = self.exercise_cases_left_out.to_string();
        row([
            "exercise_left_out",
            "",
            "",
            "",
            "",
            "",
            &exercise,
            "",
            "",
            "",
            "",
        ]);
        out
    }
}

/// One CSV cell, quoted if it must be (RFC 4180).
fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::CaseContext;
    use poc247_protocol::{
        Body, CaseRef, Header, Language, MessageId, Outcome, PartyId, Preservation,
        PROTOCOL_VERSION,
    };

    const T0: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    const MIN: u64 = 60_000;

    fn p(s: &str) -> PartyId {
        PartyId::parse(s).unwrap()
    }

    /// A preservation case opened at `T0 + opened_min` minutes.
    fn case(n: u64, role: Role, urgency: Urgency, opened_min: u64) -> CaseRecord {
        let at = UtcMs(T0 + opened_min * MIN);
        let header = Header {
            version: PROTOCOL_VERSION,
            id: MessageId::new(at),
            from: p("LU"),
            to: p("FR"),
            created_at: at,
            case_ref: CaseRef::new(&p("LU"), 2026, n),
            in_reply_to: None,
            urgency,
            language: Language::parse("fr").unwrap(),
            exercise: false,
        };
        let body = Body::Preservation(Preservation::default());
        let mut c = CaseRecord::open(&header, &body, role, CaseContext::default(), at);
        c.state = CaseState::Delivered;
        c
    }

    fn ack(mut c: CaseRecord, after_min: u64) -> CaseRecord {
        c.acknowledged_at = Some(c.opened_at.plus_ms(after_min * MIN));
        c.state = CaseState::Acknowledged;
        c
    }

    fn decide(mut c: CaseRecord, after_min: u64, outcome: Outcome) -> CaseRecord {
        c.decided_at = Some(c.opened_at.plus_ms(after_min * MIN));
        c.state = CaseState::Decided { outcome };
        c
    }

    fn row<'a>(s: &'a Stats, measure: &str, urgency: &str) -> &'a LatencyRow {
        s.latency
            .iter()
            .find(|l| l.measure == measure && l.urgency == urgency)
            .unwrap()
    }

    #[test]
    fn exercise_cases_are_left_out_of_every_number_bc_35_3() {
        let mut drill = decide(
            ack(case(9, Role::Requested, Urgency::Urgent, 0), 1),
            2,
            Outcome::Executed,
        );
        drill.exercise = true;
        let real = ack(case(1, Role::Requested, Urgency::Urgent, 0), 10);
        let s = compute(
            &[drill, real],
            &Period::default(),
            UtcMs(T0 + 600 * MIN),
            &TrackSettings::default(),
        );
        assert_eq!(s.cases, 1);
        assert_eq!(s.exercise_cases_left_out, 1);
        assert_eq!(s.counts.len(), 1);
        assert_eq!(s.counts[0].state, "acknowledged");
        assert_eq!(row(&s, "acknowledgement", "all").count, 1);
        assert_eq!(row(&s, "acknowledgement", "all").max_s, Some(600.0));
        assert_eq!(row(&s, "decision", "all").count, 0);
        assert_eq!(row(&s, "decision", "all").p50_s, None);
    }

    #[test]
    fn counts_are_by_kind_role_state_and_outcome() {
        let cases = [
            decide(
                case(1, Role::Requester, Urgency::Urgent, 0),
                30,
                Outcome::Executed,
            ),
            decide(
                case(2, Role::Requester, Urgency::Urgent, 0),
                30,
                Outcome::Executed,
            ),
            decide(
                case(3, Role::Requester, Urgency::Urgent, 0),
                30,
                Outcome::Refused,
            ),
            case(4, Role::Requested, Urgency::Routine, 0),
        ];
        let s = compute(
            &cases,
            &Period::default(),
            UtcMs(T0 + MIN),
            &TrackSettings::default(),
        );
        let got: Vec<(&str, &str, &str, Option<&str>, u64)> = s
            .counts
            .iter()
            .map(|r| {
                (
                    r.kind.as_str(),
                    r.role.as_str(),
                    r.state.as_str(),
                    r.outcome.as_deref(),
                    r.count,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("preservation", "requested", "delivered", None, 1),
                ("preservation", "requester", "decided", Some("executed"), 2),
                ("preservation", "requester", "decided", Some("refused"), 1),
            ]
        );
    }

    #[test]
    fn latency_percentiles_are_nearest_rank_in_seconds() {
        // Acknowledged after 1, 2, …, 100 minutes.
        let cases: Vec<CaseRecord> = (1..=100)
            .map(|n| ack(case(n, Role::Requested, Urgency::Routine, 0), n))
            .collect();
        let s = compute(
            &cases,
            &Period::default(),
            UtcMs(T0 + 1000 * MIN),
            &TrackSettings::default(),
        );
        let all = row(&s, "acknowledgement", "all");
        assert_eq!(all.count, 100);
        assert_eq!(all.p50_s, Some(50.0 * 60.0));
        assert_eq!(all.p90_s, Some(90.0 * 60.0));
        assert_eq!(all.p99_s, Some(99.0 * 60.0));
        assert_eq!(all.max_s, Some(100.0 * 60.0));
        assert_eq!(row(&s, "acknowledgement", "routine").count, 100);
        assert!(!s.latency.iter().any(|l| l.urgency == "emergency"));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn only_cases_opened_in_the_period_count() {
        let cases = [
            case(1, Role::Requested, Urgency::Urgent, 0),
            case(2, Role::Requested, Urgency::Urgent, 60),
            case(3, Role::Requested, Urgency::Urgent, 120),
        ];
        let period = Period {
            since: Some(UtcMs(T0 + 60 * MIN)),
            until: Some(UtcMs(T0 + 120 * MIN)),
        };
        let s = compute(
            &cases,
            &period,
            UtcMs(T0 + 1000 * MIN),
            &TrackSettings::default(),
        );
        assert_eq!(s.cases, 1, "since is included, until is not");
        assert_eq!(s.period.since.as_deref(), Some("2026-01-01T01:00:00Z"));
        assert_eq!(
            s.as_of, "2026-01-01T02:00:00Z",
            "the end of the period, before now"
        );
    }

    #[test]
    fn acknowledgements_past_their_deadline_are_overdue_or_late() {
        let now = UtcMs(T0 + 120 * MIN);
        let cases = [
            // Emergency, opened 20 min before now, never acknowledged: open past 15 min.
            case(1, Role::Requested, Urgency::Emergency, 100),
            // Emergency, opened 10 min before now: not yet due.
            case(2, Role::Requested, Urgency::Emergency, 110),
            // Urgent, acknowledged after 90 min: late.
            ack(case(3, Role::Requested, Urgency::Urgent, 0), 90),
            // Urgent, decided without acknowledgement: nothing owed.
            decide(
                case(4, Role::Requested, Urgency::Urgent, 0),
                10,
                Outcome::Refused,
            ),
            // Routine, 2 h old: within 24 h.
            case(5, Role::Requested, Urgency::Routine, 0),
            // Our own request, still queued: the peer cannot acknowledge it yet.
            {
                let mut c = case(6, Role::Requester, Urgency::Emergency, 0);
                c.state = CaseState::Queued;
                c
            },
            // Our own request, delivered, not acknowledged by the peer in time.
            case(7, Role::Requester, Urgency::Urgent, 0),
        ];
        let s = compute(&cases, &Period::default(), now, &TrackSettings::default());
        let got: Vec<(&str, &str, u64, u64, u64)> = s
            .overdue
            .iter()
            .map(|o| (o.role.as_str(), o.urgency.as_str(), o.sla_s, o.open, o.late))
            .collect();
        assert_eq!(
            got,
            [
                ("requested", "emergency", 900, 1, 0),
                ("requested", "urgent", 3600, 0, 1),
                ("requester", "urgent", 3600, 1, 0),
            ]
        );
        // As of a period's end before the emergency was due, it was not overdue yet.
        let early = Period {
            since: None,
            until: Some(UtcMs(T0 + 110 * MIN)),
        };
        let s = compute(&cases, &early, now, &TrackSettings::default());
        assert!(!s.overdue.iter().any(|o| o.urgency == "emergency"));
    }

    #[test]
    fn csv_has_one_header_and_rows_of_equal_width() {
        let mut drill = case(9, Role::Requested, Urgency::Urgent, 0);
        drill.exercise = true;
        let cases = [
            decide(
                ack(case(1, Role::Requester, Urgency::Urgent, 0), 5),
                30,
                Outcome::Executed,
            ),
            case(2, Role::Requested, Urgency::Emergency, 0),
            drill,
        ];
        let s = compute(
            &cases,
            &Period::default(),
            UtcMs(T0 + 60 * MIN),
            &TrackSettings::default(),
        );
        let csv = s.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert!(lines.iter().all(|l| l.split(',').count() == 11), "{csv}");
        assert!(lines.contains(&"cases,preservation,requester,decided,executed,,1,,,,"));
        assert!(
            lines.contains(&"latency_acknowledgement,,,,,all,1,300.000,300.000,300.000,300.000")
        );
        assert!(lines.contains(&"overdue_acknowledgement_open,,requested,,,emergency,1,,,,"));
        assert!(lines.contains(&"total,,,,,,2,,,,"));
        assert!(lines.contains(&"exercise_left_out,,,,,,1,,,,"));
        assert_eq!(csv_cell("a,\"b\""), "\"a,\"\"b\"\"\"");
    }

    /// [`compute`] as it was before [`Tally`]: every case in one slice, filtered and counted
    /// measure by measure.
    fn reference(cases: &[CaseRecord], period: &Period, now: UtcMs, sla: &TrackSettings) -> Stats {
        let as_of = period.until.map_or(now, |u| u.min(now));
        let in_period: Vec<&CaseRecord> = cases
            .iter()
            .filter(|c| period.contains(c.opened_at))
            .collect();
        let exercise = in_period.iter().filter(|c| c.exercise).count() as u64;
        let counted: Vec<&CaseRecord> = in_period.into_iter().filter(|c| !c.exercise).collect();

        let mut counts: BTreeMap<(&str, &str, &str, Option<&str>), u64> = BTreeMap::new();
        for c in &counted {
            let outcome = match &c.state {
                CaseState::Decided { outcome } => Some(outcome.as_str()),
                _ => None,
            };
            *counts
                .entry((c.kind.as_str(), c.role.as_str(), c.state.name(), outcome))
                .or_default() += 1;
        }
        let counts = counts
            .into_iter()
            .map(|((kind, role, state, outcome), count)| CountRow {
                kind: kind.into(),
                role: role.into(),
                state: state.into(),
                outcome: outcome.map(str::to_owned),
                count,
            })
            .collect();

        let mut latency = Vec::new();
        type Measure = fn(&CaseRecord) -> Option<UtcMs>;
        let measures: [(&str, Measure); 2] = [
            ("acknowledgement", |c| c.acknowledged_at),
            ("decision", |c| c.decided_at),
        ];
        for (measure, at) in measures {
            let of = |u: Option<Urgency>| -> Vec<u64> {
                counted
                    .iter()
                    .filter(|c| u.is_none_or(|u| c.urgency == u))
                    .filter_map(|c| at(c).map(|t| t.since(c.opened_at)))
                    .collect()
            };
            latency.push(latency_row(measure, "all", of(None)));
            for u in URGENCIES {
                let v = of(Some(u));
                if !v.is_empty() {
                    latency.push(latency_row(measure, u.as_str(), v));
                }
            }
        }

        let mut overdue = Vec::new();
        for role in [Role::Requested, Role::Requester] {
            for u in URGENCIES {
                let sla_ms = sla.ack_sla(u);
                let owed: Vec<&&CaseRecord> = counted
                    .iter()
                    .filter(|c| c.role == role && c.urgency == u && needs_acknowledgement(c))
                    .collect();
                let open = owed
                    .iter()
                    .filter(|c| acknowledgement_open_at(c, as_of, sla))
                    .count() as u64;
                let late = owed
                    .iter()
                    .filter(|c| {
                        c.acknowledged_at
                            .is_some_and(|a| a.since(c.opened_at) > sla_ms)
                    })
                    .count() as u64;
                if open + late > 0 {
                    overdue.push(OverdueRow {
                        track: "acknowledgement".into(),
                        role: role.as_str().into(),
                        urgency: u.as_str().into(),
                        sla_s: sla_ms / 1000,
                        open,
                        late,
                    });
                }
            }
        }

        Stats {
            period: PeriodView {
                since: period.since.map(UtcMs::rfc3339),
                until: period.until.map(UtcMs::rfc3339),
            },
            as_of: as_of.rfc3339(),
            cases: counted.len() as u64,
            exercise_cases_left_out: exercise,
            counts,
            latency,
            overdue,
        }
    }

    #[test]
    fn counted_one_at_a_time_the_stats_are_those_of_every_case_at_once_in_any_order() {
        // A small generator (no randomness crate in the core): every mix of kind, role,
        // urgency, state, exercise, copy and delays, reproducibly.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let urgencies = [Urgency::Emergency, Urgency::Urgent, Urgency::Routine];
        let mut cases = Vec::new();
        for n in 1..=400 {
            let role = if next(2) == 0 {
                Role::Requested
            } else {
                Role::Requester
            };
            let mut c = case(n, role, urgencies[next(3) as usize], next(2000));
            c.kind = match next(4) {
                0 => MessageKind::SpontaneousInformation,
                1 => MessageKind::MutualAssistance,
                _ => MessageKind::Preservation,
            };
            c.exercise = next(6) == 0;
            if next(8) == 0 {
                c.copy_of = Some(CaseRef::new(&p("LU"), 2026, 9000 + n));
            }
            match next(6) {
                0 => c.state = CaseState::Queued,
                1 => c = ack(c, next(200)),
                2 => c = decide(ack(c, next(100)), 100 + next(500), Outcome::Executed),
                3 => c = decide(c, next(900), Outcome::Refused),
                4 => {
                    c = ack(c, next(50));
                    c.state = CaseState::Closed;
                    c.updated_at = c.opened_at.plus_ms(next(3000) * MIN);
                }
                _ => {}
            }
            cases.push(c);
        }
        let at = |m: u64| Some(UtcMs(T0 + m * MIN));
        let periods = [
            (None, None),
            (at(500), None),
            (None, at(1500)),
            (at(300), at(900)),
            (at(1999), at(2000)),
            (at(900), at(300)),
        ];
        let sla = TrackSettings::default();
        for (since, until) in periods {
            let period = Period { since, until };
            for now in [T0 + 600 * MIN, T0 + 5000 * MIN] {
                let want = reference(&cases, &period, UtcMs(now), &sla);
                assert_eq!(
                    compute(&cases, &period, UtcMs(now), &sla),
                    want,
                    "{period:?}"
                );
                assert_eq!(
                    compute(cases.iter().rev(), &period, UtcMs(now), &sla),
                    want,
                    "{period:?}, backwards"
                );
            }
        }
        let all = compute(&cases, &Period::default(), UtcMs(T0 + 5000 * MIN), &sla);
        assert!(
            all.cases > 250 && !all.overdue.is_empty() && all.latency.len() == 8,
            "{all:?}"
        );
    }
}
