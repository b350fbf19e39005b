//! Metrics in the Prometheus text format (`GET /metrics` on the control socket) and their
//! summary in `GET /v1/status`. Messages in and out by kind and result and the delivery
//! latency are counted from the node's events since it started; queue depth per peer, peers
//! connected and certificate days are read when asked, and overdue deadlines per track and the
//! number of cases from the timer task's board ([`crate::timers::Board`]), so that a scrape
//! reads no case from the store, however many there are.

use crate::events::{EventKind, NodeEvent};
use crate::store::Store;
use crate::tracks::Track;
use poc247_protocol::{MessageId, UtcMs};
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
pub(crate) const TRACKS: [Track; 9] = [
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
    pub(crate) counts: Vec<u64>,
    pub(crate) sum_ms: u64,
    pub(crate) count: u64,
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
pub(crate) struct Counters {
    /// (kind, result) → outbound messages.
    pub(crate) out: BTreeMap<(String, &'static str), u64>,
    /// (kind, result) → inbound messages.
    pub(crate) inbound: BTreeMap<(String, &'static str), u64>,
    /// Rejection code → inbound frames refused.
    pub(crate) rejections: BTreeMap<String, u64>,
    pub(crate) latency: Histogram,
    pub(crate) queued_at: HashMap<MessageId, UtcMs>,
    pub(crate) missed: u64,
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
    pub(crate) fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
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

    pub(crate) fn totals(
        map: &BTreeMap<(String, &'static str), u64>,
    ) -> BTreeMap<&'static str, u64> {
        let mut t = BTreeMap::new();
        for ((_, result), n) in map {
            *t.entry(*result).or_default() += n;
        }
        t
    }
}

pub(crate) fn track_name(t: Track) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{t:?}"))
}

/// A label value with `\`, `"` and newlines escaped.
pub(crate) fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(crate) fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
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
