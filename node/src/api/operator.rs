//! The operator's routes: `GET /v1/status`, `GET /v1/peers`, `POST /v1/peers/reload`,
//! `POST /v1/directory` and `GET /metrics`.

use super::error::*;
use crate::audit::Actor;
use crate::error::Result;
use crate::events::EventKind;
use crate::handles::Net;
use crate::metrics::Metrics;
use crate::metrics::{header, label, track_name, TRACKS};
use crate::operator::Ops;
use crate::outgoing::Cases;
use crate::peers::ReloadError;
use crate::timers::Deadlines;
use crate::wire::Wire;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use poc247_api::{
    Alarm, AttachmentLimits, DirectorySource, DirectoryVersion, DrillClock, HookHealth, Latency,
    MessagesIn, MessagesOut, MetricsSummary, PeerList, PeerView, QueueDepth, Reloaded, Status,
    StatusPeer,
};
use poc247_protocol::UtcMs;
use poc247_protocol::{fingerprint, PartyId};
use std::collections::BTreeMap;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

pub(crate) async fn status(State(src): State<Sources>) -> ApiResult<Json<Status>> {
    let s = &src.cases;
    let now = s.clocks.now();
    let (cases, inbox) = src.deadlines.board().cases();
    let outbox = s.store.outbox()?.len();
    let directory = s.directory();
    let connected = src.net.conns().connected();
    let peers: Vec<StatusPeer> = directory
        .iter()
        .filter(|e| &e.id != s.me.party())
        .map(|e| StatusPeer {
            party: e.id.clone(),
            name: e.name.clone(),
            connected: connected.contains(&e.id),
        })
        .collect();
    Ok(Json(Status {
        party: s.me.party().clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        dev: s.me.cfg().dev,
        listen: src.net.local_addr().ok().map(|a| a.to_string()),
        started_at: s.me.started_at().rfc3339(),
        uptime_s: now.since(s.me.started_at()) / 1000,
        signing_key: fingerprint(&s.me.signing().verifying_key()),
        messages: s.store.message_count(),
        cases,
        inbox,
        outbox_queued: outbox,
        store: if s.store.has_failed() { "failed" } else { "ok" }.to_owned(),
        hook: hook_health(s.me.cfg(), &src.ops),
        directory_version: directory_version(s.me.cfg(), now),
        drill: s.clocks.drill().map(|d| DrillClock {
            clock_offset_ms: d.offset_ms(),
            now: now.rfc3339(),
        }),
        peers,
        certificates: crate::upkeep::statuses(&src.ops, s),
        attachments: AttachmentLimits {
            max_file_bytes: s.me.cfg().attachments.max_file_bytes,
            max_case_bytes: s.me.cfg().attachments.max_case_bytes,
        },
        metrics: summary(&src)?,
    }))
}

/// The signed directory version in force for `status`: `None` when none was applied here.
/// `next_update_passed`: the registry's next version is overdue; the node keeps serving with
/// this one.
fn directory_version(
    cfg: &crate::config::NodeConfig,
    now: poc247_protocol::UtcMs,
) -> Option<DirectoryVersion> {
    use poc247_protocol::UtcMs;
    match crate::peers::version_in_force(cfg) {
        Ok(Some(v)) => Some(DirectoryVersion::InForce {
            serial: v.version.serial,
            issued_at: UtcMs(v.version.issued_at).rfc3339(),
            next_update: UtcMs(v.version.next_update).rfc3339(),
            next_update_passed: now.0 > v.version.next_update,
        }),
        Ok(None) => None,
        Err(error) => Some(DirectoryVersion::Unreadable { error }),
    }
}

/// The hook's health for `status`: `None` without a hook.
fn hook_health(cfg: &crate::config::NodeConfig, ops: &Ops) -> Option<HookHealth> {
    cfg.hook.as_ref()?;
    let h = ops.hook.get();
    Some(HookHealth {
        failing: h.failing_since.is_some(),
        failing_since: h.failing_since.map(|t| t.rfc3339()),
        last_error: h.last_error,
        events_failed: h.events_failed,
    })
}

/// What `pending` says before the deadlines: the alarms of the node itself (a hook that fails
/// cannot page anyone, so the officer who looks must see it).
pub(crate) fn alarms(cfg: &crate::config::NodeConfig, ops: &Ops) -> Vec<Alarm> {
    let h = ops.hook.get();
    match h.failing_since {
        Some(since) if cfg.hook.is_some() => vec![Alarm {
            alarm: "hook_failing".to_owned(),
            since: since.rfc3339(),
            what: format!(
                "the hook fails ({}): events since {} may not have paged anyone",
                h.last_error.unwrap_or_default(),
                since.rfc3339()
            ),
            settle: "fix the hook command; the next event it takes clears this".to_owned(),
        }],
        _ => Vec::new(),
    }
}

/// One peer's line of `GET /v1/peers`.
fn peer_view(
    ops: &Ops,
    party: &PartyId,
    entry: Option<&crate::peers::directory::PartyEntry>,
    connected: &BTreeSet<PartyId>,
    queue: Option<&(usize, UtcMs)>,
    certificates: &HashMap<PartyId, UtcMs>,
    now: UtcMs,
) -> PeerView {
    let rfc = |t: Option<UtcMs>| t.map(UtcMs::rfc3339);
    let oldest = queue.map(|q| q.1);
    PeerView {
        party: party.clone(),
        name: entry.map(|e| e.name.clone()),
        in_directory: entry.is_some(),
        addresses: entry.map(|e| e.addresses.clone()).unwrap_or_default(),
        signing_key: entry.map(|e| fingerprint(&e.signing_key)),
        connected: connected.contains(party),
        last_seen: rfc(ops.peers.last_seen(party)),
        last_error: ops.peers.last_error(party),
        queue_depth: queue.map_or(0, |q| q.0 as u64),
        oldest_undelivered: rfc(oldest),
        oldest_undelivered_age_s: oldest.map(|t| now.since(t) / 1000),
        certificate: certificates
            .get(party)
            .map(|t| crate::wire::certs::status(party.clone(), false, *t, now)),
    }
}

/// `GET /v1/peers`: every peer of the directory (and any party still owed a queued message),
/// with its connection, when it was last seen, its queue and its certificate.
pub async fn list(State(s): State<Wire>) -> Result<Json<PeerList>, ApiError> {
    let now = s.cases.clocks.now();
    let directory = s.cases.directory();
    let connected: BTreeSet<PartyId> = s.net.conns().connected().into_iter().collect();
    let mut queues: BTreeMap<PartyId, (usize, UtcMs)> = BTreeMap::new();
    for (_, e) in s.cases.store.outbox()? {
        let q = queues.entry(e.peer).or_insert((0, e.queued_at));
        q.0 += 1;
        q.1 = q.1.min(e.queued_at);
    }
    let certificates: HashMap<PartyId, UtcMs> = s.ops.peers.certificates().into_iter().collect();
    let mut peers: Vec<PeerView> = directory
        .iter()
        .filter(|e| &e.id != s.cases.me.party())
        .map(|e| {
            peer_view(
                &s.ops,
                &e.id,
                Some(e),
                &connected,
                queues.get(&e.id),
                &certificates,
                now,
            )
        })
        .collect();
    for (p, q) in &queues {
        if directory.get(p).is_none() {
            peers.push(peer_view(
                &s.ops,
                p,
                None,
                &connected,
                Some(q),
                &certificates,
                now,
            ));
        }
    }
    Ok(Json(PeerList {
        directory: DirectorySource {
            file: s.cases.me.cfg().directory.display().to_string(),
            loaded_at: s.ops.peers.loaded_at().rfc3339(),
            parties: directory.iter().count() as u64,
        },
        peers,
    }))
}

/// `POST /v1/peers/reload`: 200 with what changed, or 422 `invalid-directory` /
/// `invalid-certificate` with the reason (the old directory and certificate stay in force).
pub async fn reload_route(
    State(s): State<Wire>,
    ConnectInfo(caller): ConnectInfo<Caller>,
) -> Result<Json<Reloaded>, ApiError> {
    match crate::peers::reload(&s, Actor::Local { uid: caller.uid }).await {
        Ok(r) => {
            tracing::info!(uid = caller.uid, "directory reloaded through the API");
            Ok(Json(r))
        }
        Err(ReloadError::Directory(m)) => {
            tracing::warn!(uid = caller.uid, reason = %m, "directory reload refused; the old one stays");
            Err(ApiError::with_code(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-directory",
                format!("{m}; the directory in force is unchanged"),
            ))
        }
        Err(ReloadError::Certificate(m)) => {
            tracing::warn!(uid = caller.uid, reason = %m, "certificate reload refused; the old one stays");
            Err(ApiError::with_code(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-certificate",
                format!("{m}; the directory and certificate in force are unchanged"),
            ))
        }
        Err(ReloadError::Node(e)) => Err(e.into()),
    }
}

/// `POST /v1/directory`: a signed directory version (the file `poc247 registry publish`
/// writes). Taken only if the registry key pinned in node.toml signed it, it is newer than
/// and chained to the version in force, every entry is signed by its Party, and it lists this
/// node with its key; then it replaces directory.toml and is put in force as a reload does.
/// Refused (422 `version-refused`, a `directory_refused` event), nothing changes.
pub async fn apply_route(
    State(s): State<Wire>,
    ConnectInfo(caller): ConnectInfo<Caller>,
    body: axum::body::Bytes,
) -> Result<Json<Reloaded>, ApiError> {
    let actor = Actor::Local { uid: caller.uid };
    let refused = |serial: Option<u64>, m: String| {
        tracing::warn!(uid = caller.uid, reason = %m, "directory version refused; the one in force stays");
        s.cases.events.publish(
            EventKind::DirectoryRefused {
                serial: serial.unwrap_or(0),
                reason: m.clone(),
            },
            None,
            None,
            None,
            None,
        );
        ApiError::with_code(
            StatusCode::UNPROCESSABLE_ENTITY,
            "version-refused",
            format!("{m}; the directory in force is unchanged"),
        )
    };
    let registry_key = s.cases.me.cfg().registry_key;
    let next = crate::peers::registry::SignedVersion::parse(&body).map_err(|m| refused(None, m))?;
    let serial = next.version.serial;
    let one_at_a_time = s.ops.reload_lock().await;
    crate::peers::install_version(
        s.cases.me.cfg(),
        &registry_key,
        &s.cases.me.signing().verifying_key(),
        &next,
    )
    .map_err(|m| refused(Some(serial), m))?;
    // Put in force under the same lock: another reload may not take its difference first.
    let reloaded = crate::peers::reload_for_version(&s, actor, serial, &one_at_a_time).await;
    drop(one_at_a_time);
    match reloaded {
        Ok(r) => {
            tracing::info!(serial, "signed directory version in force");
            // Offered to every peer at once: each takes it on the connection.
            crate::peers::dirsync::spread(&s);
            Ok(Json(r))
        }
        Err(ReloadError::Node(e)) => Err(e.into()),
        Err(ReloadError::Directory(m)) | Err(ReloadError::Certificate(m)) => {
            Err(refused(Some(serial), m))
        }
    }
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
    for s in crate::upkeep::statuses(&shared.ops, &shared.cases) {
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
    header(
        &mut out,
        "poc247_store_disk_bytes",
        "gauge",
        "Bytes the store's files take on disk, as sled counts them (its log file and blobs).",
    );
    let _ = writeln!(
        out,
        "poc247_store_disk_bytes {}",
        shared.cases.store.size_on_disk()?
    );
    Ok(out)
}

/// `metrics` of `GET /v1/status`: the same figures, shaped for a person.
pub fn summary(shared: &Sources) -> Result<MetricsSummary> {
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
    let queue: Vec<QueueDepth> = g
        .queues
        .iter()
        .filter(|(_, (n, _))| *n > 0)
        .map(|(p, (n, oldest))| QueueDepth {
            peer: p.clone(),
            depth: *n,
            oldest_undelivered: oldest.map(UtcMs::rfc3339),
        })
        .collect();
    Ok(MetricsSummary {
        since: shared.cases.me.started_at().rfc3339(),
        messages_out: MessagesOut {
            queued: n(&out_totals, "queued"),
            delivered: n(&out_totals, "delivered"),
            failed: n(&out_totals, "failed"),
        },
        messages_in: MessagesIn {
            received: n(&in_totals, "received"),
            rejected: n(&in_totals, "rejected"),
        },
        delivery_latency: Latency {
            count: latency.count(),
            mean_s: (latency.count > 0)
                .then(|| latency.sum_ms as f64 / 1000.0 / latency.count as f64),
            p50_le_s: latency.quantile_bound(0.5),
            p95_le_s: latency.quantile_bound(0.95),
        },
        queue,
        overdue: g.overdue,
        peers_connected: g.connected.values().filter(|c| **c).count(),
        peers: g.connected.len(),
    })
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
