//! Metrics in the Prometheus text format (`GET /metrics` on the control socket) and their
//! summary in `GET /v1/status`. Messages in and out by kind and result and the delivery
//! latency are counted from the node's events since it started; queue depth per peer, peers
//! connected and certificate days are read when asked, and overdue deadlines per track and the
//! number of cases from the timer task's board ([`crate::timers::Board`]), so that a scrape
//! reads no case from the store, however many there are.

use crate::control::ApiError;
use crate::error::Result;
use crate::events::{EventKind, NodeEvent};
use crate::handles::{Deadlines, Net, Ops};
use crate::outgoing::Cases;
use crate::store::Store;
use crate::tracks::Track;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use poc247_protocol::{MessageId, PartyId, UtcMs};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds of the delivery latency histogram, in seconds.
pub const LATENCY_BUCKETS_S: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// Queued messages whose queuing time is remembered for the latency; beyond, a delivery
/// reads it from the store.
const MAX_REMEMBERED: usize = 65_536;

/// Every track, so that each has its line even at zero.
const TRACKS: [Track; 9] = [
    Track::Acknowledgement,
    Track::Delivery,
    Track::FormalConfirmation,
    Track::Preservation,
    Track::LegalCap,
    Track::RespondBy,
    Track::Retention,
    Track::Answer,
    Track::Tracing,
];

/// A histogram of durations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket of [`LATENCY_BUCKETS_S`] (not cumulative); one more at the
    /// end for those above the last bound.
    counts: Vec<u64>,
    sum_ms: u64,
    count: u64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&mut self, ms: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; LATENCY_BUCKETS_S.len() + 1];
        }
        let secs = ms as f64 / 1000.0;
        let i = LATENCY_BUCKETS_S
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS_S.len());
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        self.sum_ms = self.sum_ms.saturating_add(ms);
        self.count += 1;
    }

    /// Observations.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Cumulative counts per bound (the `_bucket` lines), `+Inf` last.
    pub fn cumulative(&self) -> Vec<(String, u64)> {
        let mut acc = 0;
        let mut out = Vec::new();
        for (i, b) in LATENCY_BUCKETS_S.iter().enumerate() {
            acc += self.counts.get(i).copied().unwrap_or(0);
            out.push((format!("{b}"), acc));
        }
        out.push(("+Inf".to_owned(), self.count));
        out
    }

    /// The bound under which a share `q` (0..1) of the observations fall: `None` if there are
    /// none, or if they fall above the last bound.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let target = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut acc = 0;
        for (i, b) in LATENCY_BUCKETS_S.iter().enumerate() {
            acc += self.counts.get(i).copied().unwrap_or(0);
            if acc >= target {
                return Some(*b);
            }
        }
        None
    }
}

#[derive(Debug, Default)]
struct Counters {
    /// (kind, result) → outbound messages.
    out: BTreeMap<(String, &'static str), u64>,
    /// (kind, result) → inbound messages.
    inbound: BTreeMap<(String, &'static str), u64>,
    /// Rejection code → inbound frames refused.
    rejections: BTreeMap<String, u64>,
    latency: Histogram,
    queued_at: HashMap<MessageId, UtcMs>,
    missed: u64,
}

/// The counters kept from the node's events.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
}

fn kind_of(ev: &NodeEvent) -> String {
    ev.message_kind
        .map_or_else(|| "unknown".to_owned(), |k| k.as_str().to_owned())
}

impl Metrics {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one event. A delivery's latency runs from its `queued` event, or from when the
    /// message was stored if that event came before the node started.
    pub fn observe(&self, store: &Store, ev: &NodeEvent) {
        let kind = kind_of(ev);
        let bump = |map: &mut BTreeMap<(String, &'static str), u64>, result: &'static str| {
            *map.entry((kind.clone(), result)).or_default() += 1;
        };
        match &ev.kind {
            EventKind::Queued => {
                // A message of a case recorded from another channel is stored, never sent.
                let local = ev
                    .message_id
                    .and_then(|id| store.message(id).ok().flatten())
                    .is_some_and(|m| m.delivery == crate::store::DeliveryState::Local);
                let mut c = self.counters();
                if local {
                    bump(&mut c.out, "recorded");
                    return;
                }
                bump(&mut c.out, "queued");
                if let Some(id) = ev.message_id {
                    if c.queued_at.len() < MAX_REMEMBERED {
                        c.queued_at.insert(id, ev.at);
                    }
                }
            }
            EventKind::Delivered { .. } => {
                let remembered = ev
                    .message_id
                    .and_then(|id| self.counters().queued_at.remove(&id));
                let queued = remembered.or_else(|| {
                    ev.message_id
                        .and_then(|id| store.message(id).ok().flatten())
                        .map(|m| m.stored_at)
                });
                let mut c = self.counters();
                bump(&mut c.out, "delivered");
                if let Some(q) = queued {
                    c.latency.observe(ev.at.since(q));
                }
            }
            EventKind::DeliveryFailed { .. } => {
                let mut c = self.counters();
                bump(&mut c.out, "failed");
                if let Some(id) = ev.message_id {
                    c.queued_at.remove(&id);
                }
            }
            EventKind::Received => bump(&mut self.counters().inbound, "received"),
            EventKind::Rejected { code } => {
                let mut c = self.counters();
                bump(&mut c.inbound, "rejected");
                *c.rejections.entry(code.clone()).or_default() += 1;
            }
            _ => {}
        }
    }

    /// Events the counting task missed (it fell behind).
    pub fn missed(&self, n: u64) {
        self.counters().missed += n;
    }

    /// The delivery latency so far.
    pub fn latency(&self) -> Histogram {
        self.counters().latency.clone()
    }

    fn totals(map: &BTreeMap<(String, &'static str), u64>) -> BTreeMap<&'static str, u64> {
        let mut t = BTreeMap::new();
        for ((_, result), n) in map {
            *t.entry(*result).or_default() += n;
        }
        t
    }
}

/// What is read when metrics are asked for.
struct Gauges {
    /// Per peer: queued messages and the oldest one's queuing time.
    queues: BTreeMap<PartyId, (usize, Option<UtcMs>)>,
    /// Per track name: deadlines due and not met.
    overdue: BTreeMap<String, u64>,
    /// Peers of the directory and whether each is connected.
    connected: BTreeMap<PartyId, bool>,
    /// Cases stored.
    cases: usize,
}

fn track_name(t: Track) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{t:?}"))
}

/// What the metrics read: the cases (the store, the directory, this node), the operator's
/// counters, the connections and the deadlines' board.
#[derive(Clone, Debug)]
pub struct Sources {
    /// The cases.
    pub cases: Cases,
    /// The operator's surface.
    pub ops: Ops,
    /// The connections.
    pub net: Net,
    /// The deadlines' board.
    pub deadlines: Deadlines,
}

fn gauges(shared: &Sources) -> Result<Gauges> {
    let now = shared.cases.clocks.now();
    let directory = shared.cases.directory();
    let mut queues: BTreeMap<PartyId, (usize, Option<UtcMs>)> = directory
        .iter()
        .filter(|e| e.id != *shared.cases.me.party())
        .map(|e| (e.id.clone(), (0, None)))
        .collect();
    for (_, e) in shared.cases.store.outbox()? {
        let q = queues.entry(e.peer).or_insert((0, None));
        q.0 += 1;
        q.1 = Some(q.1.map_or(e.queued_at, |t| t.min(e.queued_at)));
    }
    let mut overdue: BTreeMap<String, u64> = TRACKS.iter().map(|t| (track_name(*t), 0)).collect();
    let (due, (cases, _)) = {
        let board = shared.deadlines.board();
        (board.overdue(now), board.cases())
    };
    for (track, n) in due {
        *overdue.entry(track_name(track)).or_default() += n;
    }
    let live = shared.net.conns().connected();
    let connected = directory
        .iter()
        .filter(|e| e.id != *shared.cases.me.party())
        .map(|e| (e.id.clone(), live.contains(&e.id)))
        .collect();
    Ok(Gauges {
        queues,
        overdue,
        connected,
        cases,
    })
}

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The metrics in the Prometheus text format (version 0.0.4).
pub fn render(shared: &Sources) -> Result<String> {
    let g = gauges(shared)?;
    let now = shared.cases.clocks.now();
    let (out_counts, in_counts, rejections, latency, missed) = {
        let c = shared.ops.metrics.counters();
        (
            c.out.clone(),
            c.inbound.clone(),
            c.rejections.clone(),
            c.latency.clone(),
            c.missed,
        )
    };
    let mut out = String::new();
    if let Ok(Some(v)) = crate::peers::version_in_force(shared.cases.me.cfg()) {
        header(
            &mut out,
            "poc247_directory_serial",
            "gauge",
            "The serial of the signed directory version in force.",
        );
        let _ = writeln!(out, "poc247_directory_serial {}", v.version.serial);
        header(
            &mut out,
            "poc247_directory_next_update_passed",
            "gauge",
            "1 once the registry's next version is overdue (the node keeps serving with this \
             one), else 0.",
        );
        let passed = u8::from(now.0 > v.version.next_update);
        let _ = writeln!(out, "poc247_directory_next_update_passed {passed}");
    }
    if shared.cases.me.cfg().hook.is_some() {
        let h = shared.ops.hook.get();
        header(
            &mut out,
            "poc247_hook_failing",
            "gauge",
            "1 from the first event the hook gave up on until a run succeeds, else 0.",
        );
        let failing = u8::from(h.failing_since.is_some());
        let _ = writeln!(out, "poc247_hook_failing {failing}");
        header(
            &mut out,
            "poc247_hook_events_failed_total",
            "counter",
            "Events the hook gave up on after its retries, since start.",
        );
        let _ = writeln!(out, "poc247_hook_events_failed_total {}", h.events_failed);
    }
    header(
        &mut out,
        "poc247_messages_out_total",
        "counter",
        "Outbound messages since start, by kind and result (queued, delivered, failed; \
         recorded: a reply in a case recorded from another channel, stored and not sent).",
    );
    for ((kind, result), n) in &out_counts {
        let _ = writeln!(
            out,
            "poc247_messages_out_total{{kind=\"{}\",result=\"{result}\"}} {n}",
            label(kind)
        );
    }
    header(
        &mut out,
        "poc247_messages_in_total",
        "counter",
        "Inbound messages since start, by kind and result (received, rejected; a rejected \
         frame's kind is unknown).",
    );
    for ((kind, result), n) in &in_counts {
        let _ = writeln!(
            out,
            "poc247_messages_in_total{{kind=\"{}\",result=\"{result}\"}} {n}",
            label(kind)
        );
    }
    header(
        &mut out,
        "poc247_inbound_rejections_total",
        "counter",
        "Inbound frames refused since start, by rejection code.",
    );
    for (code, n) in &rejections {
        let _ = writeln!(
            out,
            "poc247_inbound_rejections_total{{code=\"{}\"}} {n}",
            label(code)
        );
    }
    header(
        &mut out,
        "poc247_delivery_latency_seconds",
        "histogram",
        "From queued to a verified receipt stored, per outbound message delivered since start.",
    );
    for (le, n) in latency.cumulative() {
        let _ = writeln!(
            out,
            "poc247_delivery_latency_seconds_bucket{{le=\"{le}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "poc247_delivery_latency_seconds_sum {}",
        latency.sum_ms as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "poc247_delivery_latency_seconds_count {}",
        latency.count
    );
    header(
        &mut out,
        "poc247_queue_depth",
        "gauge",
        "Outbound messages waiting for their receipt, per peer.",
    );
    for (peer, (n, _)) in &g.queues {
        let _ = writeln!(
            out,
            "poc247_queue_depth{{peer=\"{}\"}} {n}",
            label(peer.as_str())
        );
    }
    header(
        &mut out,
        "poc247_oldest_undelivered_seconds",
        "gauge",
        "Age of the oldest message waiting for its receipt, per peer with a queue.",
    );
    for (peer, (_, oldest)) in &g.queues {
        if let Some(t) = oldest {
            let _ = writeln!(
                out,
                "poc247_oldest_undelivered_seconds{{peer=\"{}\"}} {}",
                label(peer.as_str()),
                now.since(*t) as f64 / 1000.0
            );
        }
    }
    header(
        &mut out,
        "poc247_overdue",
        "gauge",
        "Deadlines due and not met, per track.",
    );
    for (track, n) in &g.overdue {
        let _ = writeln!(out, "poc247_overdue{{track=\"{}\"}} {n}", label(track));
    }
    header(
        &mut out,
        "poc247_peers_connected",
        "gauge",
        "Peers of the directory with a live connection.",
    );
    let _ = writeln!(
        out,
        "poc247_peers_connected {}",
        g.connected.values().filter(|c| **c).count()
    );
    header(
        &mut out,
        "poc247_peer_connected",
        "gauge",
        "1 if the peer has a live connection, else 0.",
    );
    for (peer, c) in &g.connected {
        let _ = writeln!(
            out,
            "poc247_peer_connected{{peer=\"{}\"}} {}",
            label(peer.as_str()),
            u8::from(*c)
        );
    }
    header(
        &mut out,
        "poc247_certificate_days_left",
        "gauge",
        "Whole days until a certificate expires: this node's and each peer's seen.",
    );
    for s in crate::certs::statuses(&shared.ops, &shared.cases) {
        let _ = writeln!(
            out,
            "poc247_certificate_days_left{{party=\"{}\",own=\"{}\"}} {}",
            label(s.party.as_str()),
            s.own,
            s.days_left
        );
    }
    header(&mut out, "poc247_cases", "gauge", "Cases stored.");
    let _ = writeln!(out, "poc247_cases {}", g.cases);
    header(
        &mut out,
        "poc247_uptime_seconds",
        "gauge",
        "Seconds since the node started.",
    );
    let _ = writeln!(
        out,
        "poc247_uptime_seconds {}",
        now.since(shared.cases.me.started_at()) / 1000
    );
    header(
        &mut out,
        "poc247_metrics_events_missed_total",
        "counter",
        "Events the counters missed because their task fell behind.",
    );
    let _ = writeln!(out, "poc247_metrics_events_missed_total {missed}");
    header(
        &mut out,
        "poc247_store_flushes_total",
        "counter",
        "Group commits: flushes of the store, each shared by every writer waiting for it.",
    );
    let _ = writeln!(
        out,
        "poc247_store_flushes_total {}",
        shared.cases.store.flush_count()
    );
    Ok(out)
}

/// `metrics` of `GET /v1/status`: the same figures, shaped for a person.
pub fn summary(shared: &Sources) -> Result<Value> {
    let g = gauges(shared)?;
    let (out_totals, in_totals, latency) = {
        let c = shared.ops.metrics.counters();
        (
            Metrics::totals(&c.out),
            Metrics::totals(&c.inbound),
            c.latency.clone(),
        )
    };
    let n = |m: &BTreeMap<&'static str, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    let queue: Vec<Value> = g
        .queues
        .iter()
        .filter(|(_, (n, _))| *n > 0)
        .map(|(p, (n, oldest))| {
            json!({ "peer": p, "depth": n, "oldest_undelivered": oldest.map(UtcMs::rfc3339) })
        })
        .collect();
    Ok(json!({
        "since": shared.cases.me.started_at().rfc3339(),
        "messages_out": {
            "queued": n(&out_totals, "queued"),
            "delivered": n(&out_totals, "delivered"),
            "failed": n(&out_totals, "failed"),
        },
        "messages_in": {
            "received": n(&in_totals, "received"),
            "rejected": n(&in_totals, "rejected"),
        },
        "delivery_latency": {
            "count": latency.count(),
            "mean_s": (latency.count > 0).then(|| latency.sum_ms as f64 / 1000.0 / latency.count as f64),
            "p50_le_s": latency.quantile_bound(0.5),
            "p95_le_s": latency.quantile_bound(0.95),
        },
        "queue": queue,
        "overdue": g.overdue,
        "peers_connected": g.connected.values().filter(|c| **c).count(),
        "peers": g.connected.len(),
    }))
}

/// `GET /metrics`.
pub async fn handler(
    State(cases): State<Cases>,
    State(ops): State<Ops>,
    State(net): State<Net>,
    State(deadlines): State<Deadlines>,
) -> std::result::Result<Response, ApiError> {
    let text = render(&Sources {
        cases,
        ops,
        net,
        deadlines,
    })?;
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_counts_cumulatively_and_bounds_its_quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_bound(0.5), None);
        for ms in [3, 8, 40, 40, 700] {
            h.observe(ms);
        }
        h.observe(5_000_000);
        let c = h.cumulative();
        assert_eq!(c[0], ("0.005".to_owned(), 1));
        assert_eq!(c[1], ("0.01".to_owned(), 2));
        assert_eq!(c[3], ("0.05".to_owned(), 4));
        assert_eq!(c.last(), Some(&("+Inf".to_owned(), 6)));
        assert_eq!(c[c.len() - 2].1, 5, "the last bound leaves out the slowest");
        assert_eq!(h.quantile_bound(0.5), Some(0.05));
        assert_eq!(h.quantile_bound(0.8), Some(1.0));
        assert_eq!(h.quantile_bound(1.0), None, "above the last bound");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn every_track_has_its_name() {
        let names: Vec<String> = TRACKS.iter().map(|t| track_name(*t)).collect();
        assert!(names.contains(&"acknowledgement".to_owned()), "{names:?}");
        assert!(
            names.contains(&"formal_confirmation".to_owned()),
            "{names:?}"
        );
    }
}
