//! Text for people: the answer to a request, tables of cases, a case's timeline and the node's
//! status, from the control API's JSON. Pure functions; every text that came from the API
//! (possibly from a peer) is made safe for a terminal first.

use crate::fields::field_order;
use crate::human::{self, paint, Tone};
use crate::settings::Mailbox;
use poc247_api::Role;
use poc247_api::{
    AttachmentTransfer, CaseAnswer, CaseList, CaseView, Direction, DryRun, Event, EventKind,
    ExternalRecord, Pending, Stats, Status, Submitted, SubmittedCases, Track,
};
use poc247_protocol::{AttachmentRef, Urgency, UtcMs};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Text made safe to print: control characters (but newline and tab) and the bidirectional
/// overrides are shown escaped, so a peer's text cannot move the cursor, change colours or
/// reorder what the officer reads.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}');
        if (c.is_control() && c != '\n' && c != '\t') || bidi {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON value as one clean line of text (`-` for null).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => clean(s),
        Value::Null => "-".to_owned(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        other => clean(&other.to_string()),
    }
}

/// An instant from the API (RFC 3339 or Unix ms) in the one time format for people: local
/// time and how far from now ([`human::moment`]).
pub fn when(v: &Value) -> String {
    human::moment(v)
}

/// [`when`] of an instant the API gives as RFC 3339 text.
fn at(t: &str) -> String {
    human::moment(&Value::String(t.to_owned()))
}

/// [`at`], or `-` when there is none.
fn at_opt(t: Option<&str>) -> String {
    t.map_or_else(|| "-".to_owned(), at)
}

/// Urgency for a table or a header, typed: an emergency stands out.
fn urgency_of(u: Urgency) -> (String, Option<Tone>) {
    match u {
        Urgency::Emergency => ("EMERGENCY".to_owned(), Some(Tone::Emergency)),
        other => (other.as_str().to_owned(), None),
    }
}

/// An answer of the API that does not read as its type: said, not guessed at.
fn unreadable(what: &str, why: &str) -> String {
    format!(
        "the node's answer to {what} does not read as this poc247 expects ({}); --json shows it as is\n",
        clean(why)
    )
}

/// An urgency as the statistics name it (`emergency` …), for a table: an emergency stands out.
fn urgency_named(u: &str) -> (String, Option<Tone>) {
    match Urgency::parse(u) {
        Some(u) => urgency_of(u),
        None => (clean(u), None),
    }
}

/// The answer to a created request: a line per case opened (`to` names the recipients the
/// request was addressed to, when the answer does not).
pub fn submitted(body: &Value, to: &str) -> String {
    let line = |c: &Submitted| {
        format!(
            "queued {} (message {}) to {}\n",
            c.case_ref, c.message_id, c.to
        )
    };
    if let Ok(several) = poc247_api::read::<SubmittedCases>(body) {
        return several.cases.iter().map(line).collect();
    }
    match poc247_api::read::<Submitted>(body) {
        Ok(one) => line(&one),
        Err(e) => unreadable(&format!("the request to {}", clean(to)), &e),
    }
}

/// The answer to a dry run: each message as it would be sent, its warnings and its body;
/// nothing was sent or stored.
pub fn dry_run(body: &Value) -> String {
    match poc247_api::read::<DryRun>(body) {
        Ok(d) => dry_run_of(&d),
        Err(e) => unreadable("a dry run", &e),
    }
}

/// [`dry_run`], typed.
pub fn dry_run_of(d: &DryRun) -> String {
    let mut out = String::from("dry run: nothing was sent or stored\n");
    if d.messages.is_empty() {
        let _ = writeln!(
            out,
            "would change {} on this node only; case would be {}",
            d.case_ref
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string),
            d.state.as_deref().map_or_else(|| "-".to_owned(), clean)
        );
    }
    for m in &d.messages {
        let case = match &m.case_ref {
            Some(c) => c.to_string(),
            None => "a new case".to_owned(),
        };
        let verb = if m.recorded_only {
            "would record"
        } else {
            "would send"
        };
        let _ = writeln!(
            out,
            "{verb} {} to {} in {case} ({}, {}); case would be {}",
            m.kind,
            m.to,
            m.urgency,
            m.language,
            clean(&m.state),
        );
        for w in &m.warnings {
            let _ = writeln!(out, "  warning: {}", clean(w));
        }
        let pretty = serde_json::to_string_pretty(&m.body).unwrap_or_default();
        for line in pretty.lines() {
            let _ = writeln!(out, "  {}", clean(line));
        }
    }
    out
}

/// The answer to an action on a case (`case`, named in the command, says which when the
/// answer does not read): the message it sent ([`Submitted`]), or the case as the action left
/// it ([`CaseAnswer`]: `close`, `notified`).
pub fn acted(body: &Value, case: &str) -> String {
    if let Ok(sent) = poc247_api::read::<Submitted>(body) {
        return sent_of(&sent);
    }
    match poc247_api::read::<CaseAnswer>(body) {
        Ok(done) => acted_on(&done),
        Err(e) => unreadable(&format!("the action on {}", clean(case)), &e),
    }
}

/// [`acted`] of a message sent.
fn sent_of(sent: &Submitted) -> String {
    format!(
        "sent {} in {} (message {}); case is now {}\n",
        sent.kind,
        sent.case_ref,
        sent.message_id,
        clean(&sent.state),
    )
}

/// [`acted`] of an action that sent nothing (`close`, `notified`).
fn acted_on(done: &CaseAnswer) -> String {
    let case = &done.case_ref;
    if done.notified == Some(true) {
        return format!("recorded in {case} that the person concerned was informed (CIC 67-1)\n");
    }
    match done.state.as_str() {
        "closed" => format!("closed {case}\n"),
        state => format!("{case}: case is now {}\n", clean(state)),
    }
}

/// The answer to `record` (`record` is what was recorded).
pub fn recorded(body: &CaseAnswer, record: &ExternalRecord) -> String {
    format!(
        "recorded {} ({} from {}, received by {}); case is now {}\n",
        body.case_ref,
        record.kind,
        record.from,
        clean(&record.channel),
        clean(&body.state),
    )
}

/// An instant of the API in Unix ms, in the one time format for people.
fn ms(t: UtcMs) -> String {
    when(&Value::from(t.0))
}

/// A track's name as the API gives it (`acknowledgement`, `formal_confirmation` …).
fn track_name(t: Track) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|t| t.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The details of an event beside its columns, as `(key, value)`: its type's own members in
/// the order the node sends them, then the case's kind and urgency. Every instant reads as a
/// local time.
fn event_details(e: &Event) -> Vec<(&'static str, String)> {
    let n = |v: u64| v.to_string();
    let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let mut d = match &e.kind {
        EventKind::Queued
        | EventKind::Received
        | EventKind::PeerConnected
        | EventKind::Closed
        | EventKind::Recorded
        | EventKind::Purged
        | EventKind::Notified => Vec::new(),
        EventKind::Delivered { receiver_key } => vec![("receiver_key", clean(receiver_key))],
        EventKind::DeliveryFailed { reason } => vec![("reason", clean(reason))],
        EventKind::Rejected { code } => vec![("code", clean(code))],
        EventKind::Deadline {
            track,
            label,
            due,
            owed_by,
            escalation,
        } => vec![
            ("track", track_name(*track)),
            ("label", clean(label)),
            ("due", ms(*due)),
            ("owed_by", owed_by.to_string()),
            ("escalation", yes(*escalation)),
        ],
        EventKind::AttachmentReceived { sha256, size } => {
            vec![("sha256", clean(sha256)), ("size", n(*size))]
        }
        EventKind::AttachmentDelivered {
            sha256,
            size,
            receiver_key,
        } => vec![
            ("sha256", clean(sha256)),
            ("size", n(*size)),
            ("receiver_key", clean(receiver_key)),
        ],
        EventKind::AttachmentFailed {
            sha256,
            size,
            reason,
        } => vec![
            ("sha256", clean(sha256)),
            ("size", n(*size)),
            ("reason", clean(reason)),
        ],
        EventKind::CertificateExpiring {
            party,
            days,
            not_after,
        } => vec![
            ("party", party.to_string()),
            ("days", days.to_string()),
            ("not_after", ms(*not_after)),
        ],
        EventKind::DirectoryRefused { serial, reason } => {
            vec![("serial", n(*serial)), ("reason", clean(reason))]
        }
        EventKind::DirectoryOverdue {
            serial,
            next_update,
        } => vec![("serial", n(*serial)), ("next_update", ms(*next_update))],
        EventKind::HookFailed {
            event_seq,
            event_type,
            runs,
            reason,
        } => vec![
            ("event_seq", n(*event_seq)),
            ("event_type", clean(event_type)),
            ("runs", runs.to_string()),
            ("reason", clean(reason)),
        ],
    };
    if let Some(k) = e.case_kind {
        d.push(("case_kind", k.to_string()));
    }
    if let Some(u) = e.urgency {
        d.push(("urgency", u.as_str().to_owned()));
    }
    d
}

/// One event of the stream as a line: `time  type  case  kind  peer  key=value…`, the time
/// in the one format for people, any other instant (`due`, `not_after`) too.
pub fn event_line(e: &Event) -> String {
    // An emergency, a deadline and a failure stand out (on a terminal).
    let kind = format!("{:<15}", clean(&e.kind.name()));
    let tone = match &e.kind {
        _ if e.urgency == Some(Urgency::Emergency) => Some(Tone::Emergency),
        EventKind::Deadline { .. }
        | EventKind::DeliveryFailed { .. }
        | EventKind::AttachmentFailed { .. }
        | EventKind::HookFailed { .. }
        | EventKind::Rejected { .. } => Some(Tone::Overdue),
        EventKind::CertificateExpiring { .. } | EventKind::DirectoryRefused { .. } => {
            Some(Tone::Warning)
        }
        _ => None,
    };
    let kind = match tone {
        Some(t) => paint(&kind, t),
        None => kind,
    };
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let mut line = format!(
        "{}  {kind}  {:<17}  {:<25}  {}",
        ms(e.at),
        or_dash(e.case_ref.as_ref().map(ToString::to_string)),
        or_dash(e.message_kind.map(|k| k.to_string())),
        or_dash(e.peer.as_ref().map(ToString::to_string)),
    );
    for (k, v) in event_details(e) {
        let _ = write!(line, "  {k}={v}");
    }
    line.trim_end().replace('\n', " ")
}

/// An event of the stream that does not read as the node's event type: said, not guessed at.
pub fn unreadable_event(why: &str) -> String {
    unreadable("the event stream", why).trim_end().to_owned()
}

/// A table of cases (the body of `GET /v1/cases`).
pub fn case_table(mailbox: Mailbox, list: &CaseList) -> String {
    let cases = &list.cases;
    if cases.is_empty() {
        return format!("{}: no cases\n", mailbox.name());
    }
    let header = ["CASE", "KIND", "PEER", "URGENCY", "STATE", "OPENED", "MSGS"];
    let mut rows: Vec<Vec<human::Cell>> =
        vec![header.iter().map(|h| ((*h).to_owned(), None)).collect()];
    for c in cases {
        let mut case = c.case_ref.to_string();
        if c.exercise {
            case.push_str(" [EXERCISE]");
        }
        let (urgency, tone) = urgency_of(c.urgency);
        rows.push(vec![
            (case, tone),
            (c.kind.to_string(), None),
            (c.peer.to_string(), None),
            (urgency, tone),
            (clean(&c.state), None),
            (at(&c.opened_at), None),
            (c.messages.to_string(), None),
        ]);
    }
    let mut out = human::table(&rows);
    let n = cases.len();
    match &list.next_cursor {
        Some(cursor) => {
            let _ = writeln!(
                out,
                "{n} case{} of the {} shown; more: poc247 {} --cursor {} (or --all)",
                if n == 1 { "" } else { "s" },
                mailbox.name(),
                mailbox.name(),
                clean(cursor)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "{n} case{} in the {}",
                if n == 1 { "" } else { "s" },
                mailbox.name()
            );
        }
    }
    out
}

/// Appends `label: value` with the value wrapped to the width and continuation lines indented.
fn labelled(out: &mut String, indent: usize, label: &str, value: &str) {
    let first = format!("{:indent$}{label}: ", "");
    let cont = " ".repeat(indent + 2);
    let mut prefix = first;
    let mut lines = Vec::new();
    for paragraph in value.split('\n') {
        let mut line = std::mem::replace(&mut prefix, cont.clone());
        let mut empty = true;
        for word in paragraph.split(' ') {
            let fits = line.chars().count() + word.chars().count() < human::width();
            if !empty && !fits {
                lines.push(std::mem::replace(&mut line, cont.clone()));
            } else if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        lines.push(line);
    }
    for l in lines {
        out.push_str(l.trim_end());
        out.push('\n');
    }
}

/// The body's fields in the order of docs/requests.md, then any other, as `name: value` lines;
/// the files it lists as a table, each with where its transfer stands (`transfers`, if told).
fn fields(
    out: &mut String,
    kind: &str,
    body: &Map<String, Value>,
    transfers: &[AttachmentTransfer],
    indent: usize,
) {
    let order = field_order(kind);
    let mut keys: Vec<&String> = body.keys().collect();
    keys.sort_by_key(|k| {
        (
            order.iter().position(|o| o == *k).unwrap_or(order.len()),
            (*k).clone(),
        )
    });
    for k in keys {
        match &body[k] {
            Value::Null => {}
            Value::Object(inner) => {
                let _ = writeln!(out, "{:indent$}{}:", "", clean(k));
                fields(out, "", inner, transfers, indent + 2);
            }
            v => match listed_files(k, v) {
                Some(files) if files.is_empty() => {}
                Some(files) => attachments(out, &files, transfers, indent),
                None => labelled(out, indent, &clean(k), &text(v)),
            },
        }
    }
}

/// Bytes for people: `812 B`, `1.5 KiB`, `2.0 MiB`, `3.1 GiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// The files a body lists (its member `attachments`), if `v` is that member and reads as them.
fn listed_files(key: &str, v: &Value) -> Option<Vec<AttachmentRef>> {
    if key != "attachments" {
        return None;
    }
    serde_json::from_value(v.clone()).ok()
}

/// The files a message lists, as a table: name, size, where its transfer stands (when the
/// node says), SHA-256 (for `poc247 fetch`).
fn attachments(
    out: &mut String,
    files: &[AttachmentRef],
    transfers: &[AttachmentTransfer],
    indent: usize,
) {
    let _ = writeln!(out, "{:indent$}attachments ({}):", "", files.len());
    let state = |f: &AttachmentRef| {
        transfers
            .iter()
            .find(|t| t.sha256 == f.sha256)
            .map(|t| t.state.as_str())
    };
    let states = files.iter().any(|f| state(f).is_some());
    let mut header = vec![("NAME".to_owned(), None), ("SIZE".to_owned(), None)];
    if states {
        header.push(("TRANSFER".to_owned(), None));
    }
    header.push(("SHA-256".to_owned(), None));
    let mut rows: Vec<Vec<human::Cell>> = vec![header];
    for f in files {
        let mut row = vec![(clean(&f.name), None), (bytes(f.size), None)];
        if states {
            let tone = match state(f) {
                Some("refused") => Some(Tone::Overdue),
                Some("sending" | "waiting" | "receiving") => Some(Tone::Warning),
                Some("delivered" | "received") => Some(Tone::Good),
                _ => None,
            };
            row.push((state(f).map_or_else(|| "-".to_owned(), clean), tone));
        }
        row.push((clean(&f.sha256), None));
        rows.push(row);
    }
    let pad = indent + 2;
    let table = human::table_to(&rows, human::width().saturating_sub(pad));
    for line in table.lines() {
        let _ = writeln!(out, "{:pad$}{line}", "");
    }
}

/// The node's warnings, one `! …` line each.
fn warning_lines(out: &mut String, warnings: &[String], indent: usize) {
    for w in warnings {
        labelled(out, indent, "warning", &clean(w));
    }
}

const EXERCISE_BANNER: &str = "*** EXERCISE — training traffic, not a real request ***";

/// A case with its timeline (the body of `GET /v1/cases/{ref}`).
pub fn timeline(view: &CaseView) -> String {
    let mut out = String::new();
    let case = &view.case;
    if case.exercise {
        let _ = writeln!(out, "{EXERCISE_BANNER}");
    }
    let role = match case.role {
        Role::Requester => format!("requester (we asked {})", case.requested),
        Role::Requested => format!("requested ({} asked us)", case.requester),
    };
    let mut urg = urgency_of(case.urgency).0;
    if case.urgency == Urgency::Emergency {
        urg = paint(
            "EMERGENCY (risk to the life or safety of a person)",
            Tone::Emergency,
        );
    }
    let mut language = case.language.to_string();
    if case.language_override {
        language.push_str(" (sent with the language override: the recipient does not list it)");
    }
    let mut state = clean(&case.state);
    if let Some(r) = &case.failure_reason {
        let _ = write!(state, ": {}", clean(r));
    }
    let header = [
        ("case", case.case_ref.to_string()),
        ("kind", case.kind.to_string()),
        ("role", role),
        (
            "parties",
            format!("{} → {}", case.requester, case.requested),
        ),
        ("urgency", urg),
        ("language", language),
        ("state", state),
        ("opened", at(&case.opened_at)),
        ("updated", at(&case.updated_at)),
    ];
    for (k, v) in header {
        let _ = writeln!(out, "{k:<9} {v}");
    }
    let links: Vec<String> = [
        (&case.follow_up_mla, "follow-up mutual assistance"),
        (&case.preservation_case, "follows the preservation"),
    ]
    .iter()
    .filter_map(|(c, label)| c.as_ref().map(|c| format!("{label} {c}")))
    .collect();
    if !links.is_empty() {
        let _ = writeln!(out, "{:<9} {}", "links", links.join("; "));
    }
    warning_lines(&mut out, &case.warnings, 0);
    if let Some(r) = &case.recorded_external {
        let _ = writeln!(out, "\nrecorded outside the node");
        labelled(&mut out, 4, "channel", &clean(&r.channel));
        labelled(&mut out, 4, "received_at", &at(&r.received_at));
        labelled(&mut out, 4, "summary", &clean(&r.summary));
        if let Some(d) = &r.document_sha256 {
            labelled(&mut out, 4, "document_sha256", &clean(d));
        }
        labelled(&mut out, 4, "oral", if r.oral { "yes" } else { "no" });
    }
    let _ = writeln!(out, "\nmessages ({})", view.timeline.len());
    for (i, m) in view.timeline.iter().enumerate() {
        let arrow = match m.direction {
            Direction::Outbound => "→ sent",
            Direction::Inbound => "← received",
        };
        let _ = writeln!(
            out,
            "\n[{}] {}  {arrow}  {} → {}  {}  {}",
            i + 1,
            at(&m.stored_at),
            m.from,
            m.to,
            m.kind,
            match m.delivery.as_str() {
                "failed" => paint("FAILED", Tone::Overdue),
                "queued" => paint("QUEUED", Tone::Warning),
                other => clean(other).to_uppercase(),
            },
        );
        if m.content.as_ref().is_some_and(|c| c.exercise) {
            let _ = writeln!(out, "    [EXERCISE]");
        }
        if let Some(r) = m.content.as_ref().and_then(|c| c.in_reply_to) {
            let _ = writeln!(out, "    in reply to {r}");
        }
        if let Some(r) = &m.failure_reason {
            labelled(&mut out, 4, "refused by the peer", &clean(r));
        }
        if let Some(receipt) = &m.receipt {
            let verified = if receipt.verified {
                paint("verified ✓", Tone::Good)
            } else {
                paint(
                    "NOT VERIFIED ✗ (does not verify against the directory's key)",
                    Tone::Overdue,
                )
            };
            let key = match &receipt.receiver_key {
                Some(k) => format!(", {} key {}", receipt.receiver, clean(k)),
                None => format!(", {} has no key in the directory", receipt.receiver),
            };
            let _ = writeln!(
                out,
                "    receipt: {} at {}, {verified}{key}",
                receipt.receiver,
                at(&receipt.received_at),
            );
        } else if m.direction == Direction::Outbound {
            let _ = writeln!(out, "    receipt: none yet");
        }
        let _ = writeln!(out, "    created {} by {}", at(&m.created_at), m.from);
        let _ = writeln!(out, "    id {}", m.id);
        if let Some(content) = &m.content {
            // Each file with where its transfer stands (`attachment_transfers`), if told.
            out.push('\n');
            fields(
                &mut out,
                m.kind.as_str(),
                &content.body,
                &m.attachment_transfers,
                4,
            );
        }
    }
    if case.exercise {
        let _ = writeln!(out, "\n{EXERCISE_BANNER}");
    }
    human::fit(&out)
}

/// Seconds as `3 d 4 h`, `1 h 02 min`, `5 min 03 s` or `12 s`.
fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m:02} min")
    } else if m > 0 {
        format!("{m} min {s:02} s")
    } else {
        format!("{s} s")
    }
}

/// The node's status (the body of `GET /v1/status`).
pub fn status(v: &Status) -> String {
    let mut out = String::new();
    let mut node = v.party.to_string();
    if v.dev {
        node.push_str("   (DEVELOPMENT network: dev CA accepted — never in service)");
    }
    let uptime = duration(v.uptime_s);
    let lines = [
        ("node", node),
        ("version", clean(&v.version)),
        (
            "listening",
            format!(
                "{} (QUIC, UDP)",
                v.listen.as_deref().map_or_else(|| "-".to_owned(), clean)
            ),
        ),
        ("started", format!("{} (up {uptime})", at(&v.started_at))),
        ("signing key", clean(&v.signing_key)),
        ("cases", format!("{} ({} in the inbox)", v.cases, v.inbox)),
        ("messages", v.messages.to_string()),
        (
            "outbox",
            format!("{} waiting for delivery", v.outbox_queued),
        ),
    ];
    for (k, val) in lines {
        let _ = writeln!(out, "{k:<12} {val}");
    }
    if let Some(h) = v.hook.as_ref().filter(|h| h.failing) {
        let _ = writeln!(
            out,
            "{:<12} FAILING since {}: {} ({} events not passed)",
            "hook",
            at_opt(h.failing_since.as_deref()),
            h.last_error
                .as_deref()
                .map_or_else(|| "-".to_owned(), clean),
            h.events_failed
        );
    }
    if let Some(d) = &v.drill {
        let _ = writeln!(
            out,
            "{:<12} DRILL node, exercise traffic only: its clock reads {} ({} h ahead)",
            "drill",
            at(&d.now),
            d.clock_offset_ms / 3_600_000
        );
    }
    let width = v
        .peers
        .iter()
        .map(|p| p.party.as_str().chars().count())
        .max()
        .unwrap_or(0);
    for (i, p) in v.peers.iter().enumerate() {
        let connected = if p.connected {
            "connected"
        } else {
            "not connected"
        };
        let _ = writeln!(
            out,
            "{:<12} {:<width$}  {:<13}  {}",
            if i == 0 { "peers" } else { "" },
            p.party.as_str(),
            connected,
            clean(&p.name),
        );
    }
    if v.peers.is_empty() {
        let _ = writeln!(out, "{:<12} none in the directory", "peers");
    }
    operations(&mut out, v);
    human::fit(&out)
}

/// `pending`: one line per deadline, soonest first.
pub fn pending(v: &Value) -> String {
    match poc247_api::read::<Pending>(v) {
        Ok(p) => pending_of(&p),
        Err(e) => unreadable("GET /v1/pending", &e),
    }
}

/// [`pending`], typed.
pub fn pending_of(v: &Pending) -> String {
    let mut out = String::new();
    // The node's own alarms first: a failing hook pages nobody.
    for a in &v.alarms {
        out.push_str(&format!(
            "{} {}\n          → {}\n",
            paint(&format!("{:<9}", "ALARM"), Tone::Overdue),
            clean(&a.what),
            clean(&a.settle)
        ));
    }
    if v.pending.is_empty() {
        out.push_str("nothing pending\n");
        return human::fit(&out);
    }
    let shown = v.pending.len();
    for i in &v.pending {
        let (flag, tone) = if i.escalation && i.overdue {
            ("ESCALATED", Some(Tone::Emergency))
        } else if i.overdue {
            ("OVERDUE", Some(Tone::Overdue))
        } else {
            ("due", None)
        };
        let flag = match tone {
            Some(t) => paint(&format!("{flag:<9}"), t),
            None => format!("{flag:<9}"),
        };
        let exercise = if i.exercise { " [EXERCISE]" } else { "" };
        let track = track_name(i.track);
        out.push_str(&format!(
            "{} {}  {}{}  {}  owed by {}: {}\n          → {}\n",
            flag,
            at(&i.due),
            i.case_ref,
            exercise,
            track,
            i.owed_by,
            clean(&i.what),
            clean(&i.settle),
        ));
    }
    let total = v.total.max(shown);
    match v.next_cursor.as_deref() {
        // The cursor on a line of its own, never wrapped, to be copied whole.
        Some(cursor) if total > shown => {
            out.push_str(&format!(
                "… and {} more: the same command with --cursor CURSOR (or --all)\n",
                total - shown
            ));
            let mut out = human::fit(&out);
            out.push_str(&format!("CURSOR {cursor}\n"));
            return out;
        }
        _ if total > shown => out.push_str(&format!("… and {} more (--limit)\n", total - shown)),
        _ => {}
    }
    human::fit(&out)
}

/// Seconds as a duration for people (`-` when nothing was measured).
fn seconds(v: Option<f64>) -> String {
    match v {
        Some(s) if s < 60.0 => format!("{s:.1} s"),
        Some(s) => duration(s as u64),
        None => "-".to_owned(),
    }
}

/// `stats`: the period, then the cases, the latencies and the late acknowledgements as tables.
pub fn stats(v: &Value) -> String {
    match poc247_api::read::<Stats>(v) {
        Ok(st) => stats_of(&st),
        Err(e) => unreadable("stats", &e),
    }
}

/// [`stats`] of the answer read.
fn stats_of(v: &Stats) -> String {
    let mut out = String::new();
    let cell = |s: String| (s, None);
    let head = |names: &[&str]| -> Vec<human::Cell> {
        names.iter().map(|n| ((*n).to_owned(), None)).collect()
    };
    let bound = |b: &Option<String>, none: &str| b.as_deref().map_or_else(|| none.to_owned(), at);
    let _ = writeln!(
        out,
        "period   {} → {}",
        bound(&v.period.since, "the first case"),
        bound(&v.period.until, "now")
    );
    let _ = writeln!(out, "as of    {}", at(&v.as_of));
    let _ = writeln!(
        out,
        "cases    {} opened ({} exercise cases left out)",
        v.cases, v.exercise_cases_left_out
    );
    let opt = |s: &Option<String>| s.as_deref().map_or_else(|| "-".to_owned(), clean);
    out.push('\n');
    if v.counts.is_empty() {
        out.push_str("no case opened in the period\n");
    } else {
        let mut rows = vec![head(&["KIND", "ROLE", "STATE", "OUTCOME", "CASES"])];
        for c in &v.counts {
            rows.push(vec![
                cell(clean(&c.kind)),
                cell(clean(&c.role)),
                cell(clean(&c.state)),
                cell(opt(&c.outcome)),
                cell(c.count.to_string()),
            ]);
        }
        out.push_str(&human::table(&rows));
    }
    if !v.latency.is_empty() {
        out.push('\n');
        let mut rows = vec![head(&[
            "LATENCY", "URGENCY", "COUNT", "HALF", "90 %", "99 %", "MAX",
        ])];
        for l in &v.latency {
            rows.push(vec![
                cell(clean(&l.measure)),
                cell(clean(&l.urgency)),
                cell(l.count.to_string()),
                cell(seconds(l.p50_s)),
                cell(seconds(l.p90_s)),
                cell(seconds(l.p99_s)),
                cell(seconds(l.max_s)),
            ]);
        }
        out.push_str(&human::table(&rows));
    }
    out.push('\n');
    if v.overdue.is_empty() {
        out.push_str("no acknowledgement late or overdue\n");
    } else {
        let mut rows = vec![head(&[
            "OVERDUE", "ROLE", "URGENCY", "DEADLINE", "OPEN", "LATE",
        ])];
        for o in &v.overdue {
            let tone = (o.open > 0).then_some(Tone::Overdue);
            rows.push(vec![
                cell(clean(&o.track)),
                cell(clean(&o.role)),
                urgency_named(&o.urgency),
                cell(duration(o.sla_s)),
                (o.open.to_string(), tone),
                cell(o.late.to_string()),
            ]);
        }
        out.push_str(&human::table(&rows));
    }
    human::fit(&out)
}

/// The metrics and certificates of a status, for a person: traffic since start, delivery
/// latency, queues, overdue deadlines, certificate expiry.
fn operations(out: &mut String, v: &Status) {
    let m = &v.metrics;
    let _ = writeln!(
        out,
        "{:<12} out {} queued, {} delivered, {} failed; in {} received, {} refused (since {})",
        "traffic",
        m.messages_out.queued,
        m.messages_out.delivered,
        m.messages_out.failed,
        m.messages_in.received,
        m.messages_in.rejected,
        at(&m.since),
    );
    let l = &m.delivery_latency;
    let latency = match l.count {
        0 => "no delivery yet".to_owned(),
        count => {
            let bound = |x: Option<f64>| {
                x.map_or_else(|| "over 1 h".to_owned(), |s| format!("within {s} s"))
            };
            format!(
                "{count} delivered: mean {:.3} s; half {}, 95 % {}",
                l.mean_s.unwrap_or_default(),
                bound(l.p50_le_s),
                bound(l.p95_le_s),
            )
        }
    };
    let _ = writeln!(out, "{:<12} {latency}", "latency");
    let queues: Vec<String> = m
        .queue
        .iter()
        .map(|q| {
            format!(
                "{} {} (oldest {})",
                q.peer,
                q.depth,
                at_opt(q.oldest_undelivered.as_deref())
            )
        })
        .collect();
    let queues = if queues.is_empty() {
        "empty".to_owned()
    } else {
        queues.join("; ")
    };
    let _ = writeln!(out, "{:<12} {queues}", "queues");
    let overdue: Vec<String> = m
        .overdue
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(track, n)| format!("{} {n}", clean(track)))
        .collect();
    let overdue = if overdue.is_empty() {
        "nothing".to_owned()
    } else {
        format!("{} (poc247 pending)", overdue.join(", "))
    };
    let _ = writeln!(out, "{:<12} {overdue}", "overdue");
    for (i, c) in v.certificates.iter().enumerate() {
        let mut line = format!(
            "{} expires {} ({} days)",
            c.party,
            at(&c.not_after),
            c.days_left
        );
        if c.warning {
            line = format!("{line}  WARNING: renew it, then poc247 peers reload");
        }
        let _ = writeln!(
            out,
            "{:<12} {line}",
            if i == 0 { "certificates" } else { "" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn terminal_escapes_and_bidi_overrides_from_a_peer_are_shown_escaped() {
        assert_eq!(clean("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(clean("x\u{202E}y"), "x\\u{202e}y");
        assert_eq!(clean("line\nnext\tcol"), "line\nnext\tcol");
    }

    #[test]
    fn instants_read_in_the_one_format_for_people() {
        let shown = when(&json!("2026-05-01T14:03:07.123Z"));
        assert!(shown.starts_with("2026-05-01 "), "{shown}");
        assert!(shown.ends_with(" ago)"), "{shown}");
        assert_eq!(shown, when(&json!(1_777_644_187_123u64)));
        assert_eq!(when(&json!("soon")), "soon");
        assert_eq!(when(&Value::Null), "-");
    }

    #[test]
    fn long_text_is_wrapped_under_its_label() {
        let mut out = String::new();
        labelled(&mut out, 4, "facts", &"word ".repeat(60));
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() > 2, "{out}");
        assert!(
            lines.iter().all(|l| l.chars().count() <= human::width()),
            "{out}"
        );
        assert!(lines[0].starts_with("    facts: word"));
        assert!(lines[1].starts_with("      word"));
    }

    #[test]
    fn the_table_marks_exercise_cases_and_emergencies() {
        let body = json!({"cases": [case_summary()], "next_cursor": null});
        let list: CaseList = serde_json::from_value(body).unwrap_or_else(|e| panic!("{e}"));
        let t = case_table(Mailbox::Outbox, &list);
        assert!(t.contains("\nLU-2026-000001  "), "{t}");
        assert!(t.contains("\n[EXERCISE]  "), "{t}");
        assert!(t.lines().all(|l| l.chars().count() <= 80), "{t}");
        assert!(t.contains("EMERGENCY"), "{t}");
        assert!(t.contains("1 case in the outbox"), "{t}");
        let empty = CaseList {
            cases: Vec::new(),
            next_cursor: None,
        };
        assert_eq!(case_table(Mailbox::Inbox, &empty), "inbox: no cases\n");
    }

    /// A case with its timeline as the node gives it: [`case_summary`] with `over` laid on it.
    fn case_view(over: Value, timeline: Vec<Value>) -> Value {
        let mut v = case_summary();
        for (k, x) in over.as_object().into_iter().flatten() {
            v[k] = x.clone();
        }
        v["timeline"] = Value::Array(timeline);
        v
    }

    /// One message of a timeline as the node gives it, with `over` laid on it.
    fn message(over: Value) -> Value {
        let mut m = json!({
            "id": "01a20668-0000-7000-8000-000000000001", "kind": "preservation",
            "direction": "outbound", "from": "LU", "to": "FR",
            "created_at": "2026-05-01T14:03:07Z", "stored_at": "2026-05-01T14:03:07Z",
            "delivery": "queued", "failure_reason": null, "purged": false, "receipt": null,
            "body": {}, "exercise": false, "in_reply_to": null, "language": "en",
            "urgency": "urgent", "attachment_transfers": []
        });
        for (k, x) in over.as_object().into_iter().flatten() {
            m[k] = x.clone();
        }
        m
    }

    fn read<T: serde::de::DeserializeOwned>(v: &Value) -> T {
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
    }

    /// A case's summary as the node gives it (docs/api.md).
    fn case_summary() -> Value {
        json!({
            "case_ref": "LU-2026-000001", "kind": "preservation", "role": "requester",
            "requester": "LU", "requested": "FR", "peer": "FR", "urgency": "emergency",
            "language": "en", "exercise": true, "state": "delivered", "failure_reason": null,
            "outcome": null, "opened_at": "2026-05-01T14:03:07Z",
            "updated_at": "2026-05-01T14:03:07Z", "messages": 1, "acknowledged_at": null,
            "decided_at": null, "preserved_until": null, "released": false,
            "confirmation": null, "confirmation_required": false, "mla_basis": "convention",
            "open_info_requests": [], "pending_conditions": null, "follow_up_mla": null,
            "preservation_case": null, "copy_case": null, "copy_of": null,
            "language_override": false, "warnings": [], "recorded_external": null
        })
    }

    #[test]
    fn the_timeline_shows_the_receipt_and_the_fields_in_order() {
        let case = case_view(
            json!({"urgency": "urgent", "language": "fr", "exercise": false}),
            vec![message(json!({
                "kind": "preservation", "direction": "outbound", "from": "LU", "to": "FR",
                "delivery": "delivered",
                "receipt": {"receiver": "FR", "received_at": "2026-05-01T14:03:08Z",
                    "envelope_sha256": "6ea0", "verified": true, "receiver_key": "aa:bb"},
                "body": {"offence": "fraud", "requesting_authority": "Parquet",
                    "communication": {"origin": "a@b"}, "respond_by": null}
            }))],
        );
        let t = timeline(&read(&case));
        assert!(
            t.contains("→ sent  LU → FR  preservation  DELIVERED"),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "receipt: FR at {}, verified ✓, FR key aa:bb",
                when(&json!("2026-05-01T14:03:08Z"))
            )),
            "{t}"
        );
        let ra = t.find("requesting_authority: Parquet");
        let of = t.find("offence: fraud");
        assert!(ra.is_some() && ra < of, "{t}");
        assert!(t.contains("    communication:\n      origin: a@b"), "{t}");
        assert!(!t.contains("respond_by"), "{t}");
        let mut unverified = case.clone();
        unverified["timeline"][0]["receipt"]["verified"] = json!(false);
        unverified["exercise"] = json!(true);
        let t = timeline(&read(&unverified));
        assert!(t.contains("NOT VERIFIED"), "{t}");
        assert!(t.starts_with(EXERCISE_BANNER), "{t}");
    }

    #[test]
    fn answers_to_requests_actions_and_records_read_as_one_line_each() {
        let id = |n: u8| format!("01a20668-0000-7000-8000-00000000000{n}");
        let one = json!({"case_ref": "LU-2026-000001", "message_id": id(1),
            "kind": "preservation", "to": "FR", "state": "queued", "warnings": []});
        assert_eq!(
            submitted(&one, "FR"),
            format!("queued LU-2026-000001 (message {}) to FR\n", id(1))
        );
        let many = json!({"cases": [
            {"case_ref": "LU-2026-000002", "message_id": id(2), "kind": "spontaneous_information",
             "state": "queued", "to": "FR", "warnings": []},
            {"case_ref": "LU-2026-000003", "message_id": id(3), "kind": "spontaneous_information",
             "state": "queued", "to": "CO", "warnings": []}]});
        assert_eq!(
            submitted(&many, "FR,CO"),
            format!(
                "queued LU-2026-000002 (message {}) to FR\nqueued LU-2026-000003 (message {}) to CO\n",
                id(2),
                id(3)
            )
        );
        assert!(
            submitted(&json!({"case_ref": 1}), "FR").contains("does not read"),
            "an answer that is not one is said so"
        );
        let sent = json!({"case_ref": "FR-2026-000001", "message_id": id(4),
            "kind": "acknowledgement", "to": "FR", "state": "acknowledged", "warnings": []});
        assert_eq!(
            acted(&sent, "FR-2026-000001"),
            format!(
                "sent acknowledgement in FR-2026-000001 (message {}); case is now acknowledged\n",
                id(4)
            )
        );
        let closed = json!({"case_ref": "FR-2026-000001", "state": "closed"});
        assert_eq!(acted(&closed, "FR-2026-000001"), "closed FR-2026-000001\n");
        let notified = json!({"case_ref": "FR-2026-000001", "state": "decided", "notified": true});
        assert_eq!(
            acted(&notified, "FR-2026-000001"),
            "recorded in FR-2026-000001 that the person concerned was informed (CIC 67-1)\n"
        );
        assert!(
            acted(&json!({"state": "closed"}), "FR-2026-000001").contains("does not read"),
            "an answer that is not one is said so"
        );
        let rec: Result<ExternalRecord, _> = poc247_api::read(
            &json!({"kind": "preservation", "from": "FR", "channel": "phone", "summary": "s"}),
        );
        let answer: Result<CaseAnswer, _> =
            poc247_api::read(&json!({"case_ref": "LU-2026-000004", "state": "delivered"}));
        let (Ok(rec), Ok(answer)) = (rec, answer) else {
            panic!("the record and its answer read");
        };
        assert_eq!(
            recorded(&answer, &rec),
            "recorded LU-2026-000004 (preservation from FR, received by phone); case is now \
             delivered\n"
        );
    }

    /// An event as the node sends it, of `kind`, about nothing.
    fn event(seq: u64, at: u64, kind: EventKind) -> Event {
        Event {
            seq,
            at: UtcMs(at),
            kind,
            case_ref: None,
            message_id: None,
            message_kind: None,
            peer: None,
            case_kind: None,
            urgency: None,
        }
    }

    #[test]
    fn an_event_is_one_clean_line_with_its_details() {
        let p = |s: &str| poc247_protocol::PartyId::parse(s).unwrap_or_else(|e| panic!("{e}"));
        let e = Event {
            case_ref: Some(
                poc247_protocol::CaseRef::parse("LU-2026-000001").unwrap_or_else(|e| panic!("{e}")),
            ),
            message_id: Some(
                "01a20668-0000-7000-8000-000000000001"
                    .parse()
                    .unwrap_or_else(|e| panic!("{e:?}")),
            ),
            message_kind: Some(poc247_protocol::MessageKind::Preservation),
            peer: Some(p("FR")),
            ..event(
                3,
                1_777_644_187_123,
                EventKind::DeliveryFailed {
                    reason: "invalid-body: offence\n\u{1b}[2J".into(),
                },
            )
        };
        let line = event_line(&e);
        let at = when(&json!(1_777_644_187_123u64));
        assert!(
            line.starts_with(&format!(
                "{at}  delivery_failed  LU-2026-000001     preservation"
            )),
            "{line}"
        );
        assert!(
            line.contains("  FR  reason=invalid-body: offence \\u{1b}[2J"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
        // 2026-05-01T14:03:07.5Z.
        let e = Event {
            peer: Some(p("CO")),
            ..event(
                4,
                1_777_644_187_500,
                EventKind::Deadline {
                    track: Track::Acknowledgement,
                    label: "acknowledgement_overdue".into(),
                    due: UtcMs(1_796_357_324_646),
                    owed_by: p("CO"),
                    escalation: false,
                },
            )
        };
        let line = event_line(&e);
        assert!(
            line.starts_with(&format!(
                "{}  {:<15}  {:<17}  {:<25}  CO  track=acknowledgement  \
                 label=acknowledgement_overdue  due=",
                when(&json!("2026-05-01T14:03:07.5Z")),
                "deadline",
                "-",
                "-"
            )),
            "{line}"
        );
        assert!(!line.contains("1796357324646"), "{line}");
        assert!(line.contains(&when(&json!(1_796_357_324_646u64))), "{line}");
    }

    #[test]
    fn the_timeline_shows_replies_links_warnings_and_external_records() {
        let case = case_view(
            json!({"case_ref": "LU-2026-000002", "kind": "mutual_assistance",
                "role": "requested", "requester": "FR", "requested": "LU", "urgency": "urgent",
                "language": "es", "language_override": true, "state": "acknowledged",
                "exercise": false, "follow_up_mla": null, "preservation_case": "FR-2026-000001",
                "warnings": ["the formal confirmation is due in 3 days"],
                "recorded_external": {"channel": "phone", "received_at": "2026-05-01T14:03:07Z",
                    "summary": "call from the duty officer", "document_sha256": null,
                    "oral": true}}),
            vec![message(
                json!({"id": "01a20668-0000-7000-8000-000000000002",
                "kind": "acknowledgement", "direction": "outbound", "from": "LU", "to": "FR",
                "in_reply_to": "01a20668-0000-7000-8000-000000000001",
                "delivery": "delivered",
                "body": {"note": "on it", "officer": "duty officer"}}),
            )],
        );
        let t = timeline(&read(&case));
        assert!(
            t.contains("language  es (sent with the language override"),
            "{t}"
        );
        assert!(
            t.contains("links     follows the preservation FR-2026-000001\n"),
            "{t}"
        );
        assert!(!t.contains("follow-up"), "{t}");
        assert!(
            t.contains("warning: the formal confirmation is due in 3 days"),
            "{t}"
        );
        assert!(
            t.contains("recorded outside the node\n    channel: phone\n"),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "    received_at: {}",
                when(&json!("2026-05-01T14:03:07Z"))
            )),
            "{t}"
        );
        assert!(t.contains("    oral: yes"), "{t}");
        assert!(
            t.contains("    in reply to 01a20668-0000-7000-8000-000000000001\n"),
            "{t}"
        );
        let of = t.find("officer: duty officer");
        assert!(of.is_some() && of < t.find("note: on it"), "{t}");
        // None of it when the node does not say it.
        let bare = timeline(&read(&case_view(
            json!({"case_ref": "LU-2026-000003"}),
            Vec::new(),
        )));
        for absent in ["links", "warning", "recorded outside", "in reply to"] {
            assert!(!bare.contains(absent), "{bare}");
        }
    }

    #[test]
    fn the_status_summarises_metrics_and_warns_of_certificates() {
        let v = json!({"party": "LU", "version": "0.1.0", "dev": false, "listen": null,
            "started_at": "2026-05-01T14:03:07Z", "uptime_s": 5, "signing_key": "aa:bb",
            "messages": 4, "cases": 2, "inbox": 1, "outbox_queued": 1, "store": "ok",
            "hook": null, "directory_version": null, "drill": null, "peers": [],
            "attachments": {"max_file_bytes": 1, "max_case_bytes": 2},
            "metrics": {
            "since": "2026-05-01T14:03:07Z",
            "messages_out": {"queued": 3, "delivered": 2, "failed": 1},
            "messages_in": {"received": 4, "rejected": 0},
            "delivery_latency": {"count": 2, "mean_s": 0.04, "p50_le_s": 0.05, "p95_le_s": null},
            "queue": [{"peer": "FR", "depth": 1, "oldest_undelivered": "2026-05-01T14:04:00Z"}],
            "overdue": {"acknowledgement": 1, "delivery": 0},
            "peers_connected": 0, "peers": 1},
            "certificates": [
                {"party": "LU", "own": true, "not_after": "2046-05-01T00:00:00Z",
                 "not_after_ms": 2_408_832_000_000u64, "days_left": 7300, "warning": false},
                {"party": "FR", "own": false, "not_after": "2026-05-10T00:00:00Z",
                 "not_after_ms": 1_778_371_200_000u64, "days_left": 9, "warning": true}]});
        let v: Status = serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"));
        let t = status(&v);
        assert!(
            t.contains("traffic      out 3 queued, 2 delivered, 1 failed; in 4 received"),
            "{t}"
        );
        assert!(t.contains("half within 0.05 s, 95 % over 1 h"), "{t}");
        assert!(
            t.contains(&format!(
                "queues       FR 1 (oldest {})",
                when(&json!("2026-05-01T14:04:00Z"))
            )),
            "{t}"
        );
        assert!(
            t.contains("overdue      acknowledgement 1 (poc247 pending)"),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "certificates LU expires {} (7300 days)\n",
                when(&json!("2046-05-01T00:00:00Z"))
            )),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "FR expires {} (9 days)  WARNING",
                when(&json!("2026-05-10T00:00:00Z"))
            )),
            "{t}"
        );
    }

    #[test]
    fn uptime_reads_naturally() {
        assert_eq!(duration(12), "12 s");
        assert_eq!(duration(303), "5 min 03 s");
        assert_eq!(duration(3720), "1 h 02 min");
        assert_eq!(duration(3 * 86_400 + 4 * 3600), "3 d 4 h");
    }
}
