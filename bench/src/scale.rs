//! `poc247 bench store --cases N`: a node's store filled with N cases of realistic size and
//! history, written through the store's own API (no QUIC), then a real `poc247 run` process on
//! that data directory, measured: ready after start, idle RSS, the first page of each listing,
//! `show`, `pending`, `/metrics`, `audit verify`, and the submit rate at 64 in flight against
//! an empty store's in the same run: rounds of submits taken in turn, on the full store (LU
//! started again each time) and on a fresh empty network, the ratio of their medians, so that
//! the machine's drift over a run falls on both sides alike. Then retention at scale: LU is
//! started again with a retention period of [`RETENTION_DAYS`] days, which a tenth of the
//! cases (closed by the fill that long ago and a day more) are past; while its timer task
//! purges them, submits at 64 in flight are measured against the rounds' median p99 without
//! it, and the disk is measured before and after (file lengths, and sled's own
//! `size_on_disk`).
//!
//! The filled node is LU; its peer FR runs beside it (empty) so that submits are delivered.
//! Half the cases are LU's preservation requests to FR, half FR's to LU. Every case holds its
//! request (an envelope of about 1.3 KiB) and its receipt; two in three an acknowledgement,
//! one in three a decision (executed, preserved 90 days), one in six is closed (on either
//! side); each change with its audit entry, as the node itself writes them. A tenth of all
//! cases are closed with a closing time [`RETENTION_DAYS`] + 1 days back (the rest of the closed
//! ones now): a case's retention runs from its last change, which for those is the closing.

use crate::{
    bench_err, cpu_model, follow, latency, level, lu_and_fr, spawn_node_within, usage, Deliveries,
    Latency, Proc,
};
use poc247_devnet::localnet::LocalNetwork;
use poc247_node::audit::{Actor, AuditRecord};
use poc247_node::clock::{Clock, SystemClock};
use poc247_node::error::{NodeError, Result};
use poc247_node::lifecycle::{CaseRecord, Role, Step};
use poc247_node::outgoing::context_for;
use poc247_node::store::{DeliveryState, Direction, Store, StoredMessage};
use poc247_node::tracks::TrackSettings;
use poc247_node::{Directory, LoadDirectory};
use poc247_protocol::{
    envelope_sha256, Body, CaseRef, Date, Envelope, Header, Language, MessageId, MessageKind,
    PartyId, Receipt, SignedReceipt, SigningKey, Urgency, UtcMs, PROTOCOL_VERSION,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The retention period (`[deadlines] retention_days`) LU runs with for the purge: the cases the
/// fill closed this many days ago and a day more are due for purging when it starts.
pub const RETENTION_DAYS: u32 = 30;

const DAY_MS: u64 = 86_400_000;

/// What to measure.
#[derive(Debug, Clone)]
pub struct StoreBenchOptions {
    /// The `poc247` binary that runs the nodes.
    pub exe: PathBuf,
    /// Cases written into the store before the node starts.
    pub cases: usize,
    /// Requests submitted at 64 in flight, on the empty store and on the full one, each round.
    pub submits: usize,
    /// Rounds of submits in turn: the full store, then a fresh empty one (at least 1).
    pub rounds: usize,
    /// Keep the networks (configurations, keys, data directories) in this folder instead of a
    /// temporary one, to profile the filled node afterwards.
    pub keep: Option<PathBuf>,
    /// The longest any one measured call may take before it is reported as not finished.
    pub cap: Duration,
}

impl Default for StoreBenchOptions {
    fn default() -> Self {
        StoreBenchOptions {
            exe: PathBuf::from("poc247"),
            cases: 10_000,
            submits: 4_000,
            rounds: 3,
            keep: None,
            cap: Duration::from_secs(600),
        }
    }
}

/// What the fill wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Fill {
    /// Cases.
    pub cases: usize,
    /// Of which LU requested (LU → FR).
    pub requester_cases: usize,
    /// Of which LU was asked (FR → LU).
    pub requested_cases: usize,
    /// Messages stored (requests, acknowledgements, decisions).
    pub messages: usize,
    /// Cases acknowledged.
    pub acknowledged: usize,
    /// Cases decided.
    pub decided: usize,
    /// Cases closed.
    pub closed: usize,
    /// Of which closed [`RETENTION_DAYS`] + 1 days back: past the retention period the purge
    /// run sets (a tenth of all cases).
    pub closed_past_retention: usize,
    /// A request's signed envelope, bytes (the same text in each).
    pub request_envelope_bytes: usize,
    /// Audit entries in the store after the fill.
    pub audit_entries: u64,
    /// Seconds the fill took.
    pub secs: f64,
    /// Cases written per second.
    pub cases_per_s: f64,
    /// Size of the sled folder after the fill, MiB (file lengths).
    pub disk_mib: f64,
    /// Seconds the store took to close after the fill (its last flush, and sled's snapshot
    /// of its page table over the log the fill wrote).
    pub close_s: f64,
}

/// One call to the control API.
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    /// What it is.
    pub name: String,
    /// The request.
    pub path: String,
    /// HTTP status of the first call (0: it did not finish within the cap).
    pub status: u16,
    /// The first call after the node settled, ms.
    pub first_ms: f64,
    /// Median of the calls after it, ms (the first when there are none).
    pub median_ms: f64,
    /// Calls after the first.
    pub repeats: usize,
    /// Bytes of the answer.
    pub bytes: usize,
    /// Items in the answer (cases, deadlines), when it lists some.
    pub items: Option<usize>,
    /// Whether the first call ran past the cap (then nothing else is measured of it).
    pub timed_out: bool,
}

/// Submits at a depth in flight.
#[derive(Debug, Clone, Serialize)]
pub struct Submits {
    /// Requests in flight.
    pub in_flight: usize,
    /// Durable requests per second (submit → verified receipt stored at LU).
    pub per_s: f64,
    /// Latency.
    pub latency: Latency,
}

/// One start of LU on a store.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRun {
    /// Cases in the store when it started.
    pub cases: usize,
    /// From the process's start to the first answer of `GET /v1/status`, ms.
    pub ready_ms: f64,
    /// From the process's start to the first answer of `GET /v1/pending?limit=1`, which waits
    /// for the deadline board, ms.
    pub board_ms: f64,
    /// RSS once started and settled (VmRSS unchanged ±0.25 MiB for 1 s), MiB.
    pub idle_rss_mib: f64,
    /// Seconds waited for it to settle.
    pub settle_s: f64,
    /// RSS after the calls measured (before the submits), MiB.
    pub rss_after_reads_mib: f64,
    /// Peak RSS over the whole run (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// CPU seconds of the process over the run.
    pub cpu_s: f64,
    /// The submits.
    pub submits: Submits,
    /// From SIGTERM, once the submits ended, to the process's exit (a clean stop: the last
    /// flush, and sled's snapshot over the log written since the start), ms.
    pub stop_ms: f64,
}

/// One round of the submits taken in turn: LU started on the full store, then on a fresh
/// empty network's store.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// LU on the full store (the first round's is [`StoreBenchReport::full`]; later ones are
    /// restarts of the same store, holding the earlier rounds' submits too).
    pub full: NodeRun,
    /// LU on a store that was empty when it started.
    pub empty: NodeRun,
    /// `full.submits.per_s / empty.submits.per_s`.
    pub ratio: f64,
}

/// Retention at scale: LU started again on the filled store with a retention period of
/// [`RETENTION_DAYS`] days, purging the closed cases past it while submits run.
#[derive(Debug, Clone, Serialize)]
pub struct Purge {
    /// The retention period set, days.
    pub retention_days: u32,
    /// Closed cases past it when LU started (the fill's).
    pub due: usize,
    /// Seconds the index of deadlines took to be built again with the retention setting, at the
    /// store's opening before LU starts (what a node does once after its settings change).
    pub reindex_s: f64,
    /// Cases purged (`purged` events of the run).
    pub purged: usize,
    /// Retention deadlines still owed after the run (`poc247_overdue{track="retention"}`).
    pub left_due: u64,
    /// From LU's process start to the first `purged` event's arrival, ms.
    pub first_purge_ms: f64,
    /// From the first to the last `purged` event, by the node's clock (their `at`), s.
    pub secs: f64,
    /// Cases purged per second over `secs`.
    pub per_s: f64,
    /// Submits at 64 in flight from LU's start while the purge ran (at most five times the
    /// run's submit count): those that ended before the last case was purged.
    pub submits: Submits,
    /// Submits made in all (some may have ended after the purge).
    pub submits_made: usize,
    /// `submits.latency.p99_ms` over the p99 of the full store's submits without a purge (the
    /// median of the rounds' p99; issue 21: at most 2).
    pub p99_ratio: f64,
    /// `GET /v1/pending?limit=200` asked once the purge had begun (it waits for the deadline
    /// board to catch up), ms; 0 if the purge ended first.
    pub pending_during_ms: f64,
    /// `GET /v1/audit/verify` after the purge: status and ms.
    pub audit_verify_status: u16,
    /// Its time, ms.
    pub audit_verify_ms: f64,
    /// Peak RSS of LU over the run, MiB.
    pub peak_rss_mib: f64,
    /// The sled folder's file lengths after the full store's run (its submits, without a
    /// purge), before the index's rebuild, MiB: against `Fill::disk_mib`, what those submits
    /// added.
    pub disk_after_full_run_mib: f64,
    /// The sled folder's file lengths before LU started (after the index's rebuild), MiB.
    pub disk_before_mib: f64,
    /// sled's `size_on_disk` then (the store opened offline), MiB.
    pub sled_before_mib: f64,
    /// sled's `size_on_disk` at the purge's end, from LU's `poc247_store_disk_bytes`, MiB.
    pub sled_at_end_mib: f64,
    /// The sled folder's file lengths once LU stopped, MiB.
    pub disk_after_mib: f64,
    /// sled's `size_on_disk` then (the store opened offline), MiB.
    pub sled_after_mib: f64,
    /// What became of the purged cases' space.
    pub reclaim: Reclaim,
}

/// Whether sled reuses the space of the purged cases, and what an offline compaction gives
/// back: after the purge run, as many new cases as were purged are written into LU's store
/// (offline, through the store's API, as the fill), the store is compacted (`poc247 compact`'s
/// code), and as many cases again are written into the compacted store, which has no freed
/// space: the growth of the two writes compared. Every figure is sled's `size_on_disk` with
/// the store opened offline.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reclaim {
    /// Cases written in each of the two writes.
    pub cases: usize,
    /// sled's `size_on_disk` after the purge run, MiB (`Purge::sled_after_mib`).
    pub after_purge_mib: f64,
    /// After the first write, into the purged store, MiB.
    pub after_write_mib: f64,
    /// What the first write added, MiB.
    pub write_growth_mib: f64,
    /// The compaction: `size_on_disk` before (= `after_write_mib`, the store reopened) and
    /// after, MiB.
    pub compact_before_mib: f64,
    /// After the compaction, MiB.
    pub compact_after_mib: f64,
    /// Seconds the compaction took (copy, check, swap).
    pub compact_secs: f64,
    /// Entries it copied and compared.
    pub compact_entries: u64,
    /// Their keys' and values' bytes (the live data), MiB.
    pub live_mib: f64,
    /// After the second write, into the compacted store, MiB.
    pub after_second_write_mib: f64,
    /// What the second write added, MiB.
    pub second_write_growth_mib: f64,
}

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
pub struct StoreBenchReport {
    /// Build profile of the bench binary.
    pub profile: &'static str,
    /// CPU model.
    pub cpu: String,
    /// Cores.
    pub cores: usize,
    /// The fill.
    pub fill: Fill,
    /// LU on an empty store, in the same run (the first round's).
    pub empty: NodeRun,
    /// LU on the filled store, its first start after the fill (the first round's).
    pub full: NodeRun,
    /// The calls measured on the filled store.
    pub operations: Vec<Operation>,
    /// Every round of submits, in the order taken (full, empty, full, empty, …).
    pub rounds: Vec<Round>,
    /// The median of the full store's submit rates over the rounds, per second.
    pub full_submits_median_per_s: f64,
    /// The median of the empty stores' submit rates over the rounds, per second.
    pub empty_submits_median_per_s: f64,
    /// `full_submits_median_per_s / empty_submits_median_per_s` (issue 21: at least 0.9).
    pub submit_ratio: f64,
    /// Retention at scale, after the full store's run.
    pub purge: Purge,
    /// The folder kept, if asked.
    pub kept: Option<PathBuf>,
}

/// Runs the store benchmark; `progress` is told what is being measured.
pub async fn store(opts: &StoreBenchOptions, progress: impl Fn(&str)) -> Result<StoreBenchReport> {
    let (dir, temporary) = match &opts.keep {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("poc247-bench-store-{}", std::process::id())),
            true,
        ),
    };
    if dir.exists() && std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_some()) {
        if temporary {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            return Err(bench_err(format!(
                "--keep {}: the folder must be empty or absent",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| NodeError::io(&dir, e))?;
    let result = store_in(opts, &dir, &progress).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mut r = result?;
    r.kept = opts.keep.clone();
    Ok(r)
}

async fn store_in(
    opts: &StoreBenchOptions,
    dir: &Path,
    progress: &impl Fn(&str),
) -> Result<StoreBenchReport> {
    if opts.rounds == 0 {
        return Err(bench_err("rounds: at least one round of submits is needed"));
    }
    progress(&format!(
        "writing {} cases into LU's store through the store's API",
        opts.cases
    ));
    let net = lu_and_fr(&dir.join("full"))?;
    let fill = fill(&net, opts.cases, progress).await?;
    progress(&format!(
        "filled in {:.1} s ({:.0} cases/s, {:.1} MiB on disk)",
        fill.secs, fill.cases_per_s, fill.disk_mib
    ));
    let mut rounds: Vec<Round> = Vec::with_capacity(opts.rounds);
    let mut operations = Vec::new();
    for i in 0..opts.rounds {
        let first = i == 0;
        progress(&format!(
            "round {} of {}: LU on the full store{}",
            i + 1,
            opts.rounds,
            if first {
                " (its first start after the fill)"
            } else {
                " (started again)"
            }
        ));
        let cases = opts.cases + i * opts.submits;
        let (full, ops) =
            measure_node(opts, &net, dir.join("full"), cases, first, progress).await?;
        if first {
            operations = ops;
        }
        progress(&format!(
            "round {} of {}: LU on a fresh empty store",
            i + 1,
            opts.rounds
        ));
        let empty_dir = dir.join(format!("empty-{}", i + 1));
        let empty_net = lu_and_fr(&empty_dir)?;
        let (empty, _) = measure_node(opts, &empty_net, empty_dir, 0, false, progress).await?;
        let ratio = ratio(full.submits.per_s, empty.submits.per_s);
        progress(&format!(
            "round {}: {:.0} /s on the full store, {:.0} /s on the empty one ({:.2})",
            i + 1,
            full.submits.per_s,
            empty.submits.per_s,
            ratio
        ));
        rounds.push(Round { full, empty, ratio });
    }
    let full_median = median(rounds.iter().map(|r| r.full.submits.per_s));
    let empty_median = median(rounds.iter().map(|r| r.empty.submits.per_s));
    let p99_median = median(rounds.iter().map(|r| r.full.submits.latency.p99_ms));
    let (full, empty) = (rounds[0].full.clone(), rounds[0].empty.clone());
    progress(&format!(
        "retention: LU started again with retention_days = {RETENTION_DAYS}, {} closed cases \
         past it; submits at 64 in flight while it purges them",
        fill.closed_past_retention
    ));
    let purge = measure_purge(opts, &net, &dir.join("full"), &fill, p99_median, progress).await?;
    progress(&format!(
        "purged {} cases in {:.1} s ({:.0} /s); submit p99 {:.1} ms against {:.1} ms without \
         the purge",
        purge.purged, purge.secs, purge.per_s, purge.submits.latency.p99_ms, p99_median
    ));
    Ok(StoreBenchReport {
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        fill,
        empty,
        full,
        operations,
        rounds,
        full_submits_median_per_s: full_median,
        empty_submits_median_per_s: empty_median,
        submit_ratio: ratio(full_median, empty_median),
        purge,
        kept: None,
    })
}

/// `a / b`, or 0 when `b` is not above 0.
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// The median of some figures (the mean of the middle two for an even count; 0 for none).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Starts FR then LU as processes on `net`, measures LU (and, if `reads`, the calls of the
/// table), submits at 64 in flight, stops both.
async fn measure_node(
    opts: &StoreBenchOptions,
    net: &LocalNetwork,
    dir: PathBuf,
    cases: usize,
    reads: bool,
    progress: &impl Fn(&str),
) -> Result<(NodeRun, Vec<Operation>)> {
    let fr = spawn_node_within(&opts.exe, net, "FR", &dir.join("fr.log"), opts.cap).await?;
    let started = Instant::now();
    let lu = match spawn_node_within(&opts.exe, net, "LU", &dir.join("lu.log"), opts.cap).await {
        Ok(lu) => lu,
        Err(e) => {
            fr.stop().await;
            return Err(e);
        }
    };
    let outcome = measure_started(opts, &lu, started, cases, reads, progress).await;
    let stopped = lu.stop().await;
    fr.stop().await;
    let (mut run, operations) = outcome?;
    run.stop_ms = stopped.as_secs_f64() * 1e3;
    Ok((run, operations))
}

async fn measure_started(
    opts: &StoreBenchOptions,
    lu: &Proc,
    started: Instant,
    cases: usize,
    reads: bool,
    progress: &impl Fn(&str),
) -> Result<(NodeRun, Vec<Operation>)> {
    let ready_ms = started.elapsed().as_secs_f64() * 1e3;
    let board = call(lu, "/v1/pending?limit=1", opts.cap).await;
    if board.timed_out {
        return Err(bench_err(
            "LU's deadline board was not ready within the cap",
        ));
    }
    let board_ms = started.elapsed().as_secs_f64() * 1e3;
    let pid = lu.pid().ok_or_else(|| bench_err("LU has no process id"))?;
    let settling = Instant::now();
    let idle_rss_mib = settle(pid).await;
    let settle_s = settling.elapsed().as_secs_f64();
    let mut operations = Vec::new();
    if reads {
        progress("the calls on the filled store");
        for (name, path, repeats) in calls(cases) {
            let op = operation(lu, name, &path, repeats, opts.cap).await;
            progress(&format!(
                "{name}: {} in {:.1} ms{}",
                op.status,
                op.first_ms,
                if op.timed_out { " (cap reached)" } else { "" }
            ));
            operations.push(op);
        }
    }
    let rss_after_reads_mib = usage(pid).map_or(0.0, |u| u.0);
    progress(&format!(
        "{} submits at 64 in flight on a store of {cases} cases",
        opts.submits
    ));
    let deliveries = Deliveries::default();
    let follower = follow(&lu.client, deliveries.clone()).await?;
    let submitted = level(&lu.client, &deliveries, opts.submits, 64).await;
    follower.abort();
    let (per_s, lat) = submitted?;
    let (_, peak_rss_mib, cpu_s) = usage(pid).unwrap_or_default();
    Ok((
        NodeRun {
            cases,
            ready_ms,
            board_ms,
            idle_rss_mib,
            settle_s,
            rss_after_reads_mib,
            peak_rss_mib,
            cpu_s,
            submits: Submits {
                in_flight: 64,
                per_s,
                latency: latency(lat),
            },
            stop_ms: 0.0,
        },
        operations,
    ))
}

/// Sets LU's retention period in its `node.toml`.
fn set_retention(net: &LocalNetwork, days: u32) -> Result<()> {
    let path = net.dir().join("lu").join("node.toml");
    let mut text = std::fs::read_to_string(&path).map_err(|e| NodeError::io(&path, e))?;
    if text.contains("[deadlines]") {
        return Err(bench_err(format!(
            "{}: has a [deadlines] section already",
            path.display()
        )));
    }
    text.push_str(&format!("\n[deadlines]\nretention_days = {days}\n"));
    std::fs::write(&path, text).map_err(|e| NodeError::io(&path, e))
}

/// Opens LU's store (its node not running) with `deadlines`, which builds its index of
/// deadlines again if they changed; returns the seconds that took and sled's `size_on_disk`.
async fn open_offline(net: &LocalNetwork, deadlines: &TrackSettings) -> Result<(f64, u64)> {
    let cfg = net.config(&PartyId::parse("LU").map_err(bench_err)?)?;
    let key = poc247_node::keys::load_signing_key(&cfg.signing_key)?;
    let t = Instant::now();
    let (store, committer) = Store::open_with(&cfg.data_dir, &cfg.store, deadlines, key)?;
    let secs = t.elapsed().as_secs_f64();
    let size = store.size_on_disk()?;
    drop(store);
    let _ = committer.await;
    Ok((secs, size))
}

/// What the purge run's event follower saw.
#[derive(Default)]
struct Purges {
    /// `purged` events: how many, the first's and the last's `at`.
    count: usize,
    first_at: Option<u64>,
    last_at: Option<u64>,
    /// When the first and the last arrived here.
    first_seen: Option<Instant>,
    last_seen: Option<Instant>,
}

/// Follows LU's events from its first stored one: deliveries for the submits, `purged` events
/// for the purge.
async fn follow_purges(
    client: &poc247_api::client::ControlClient,
    deliveries: Deliveries,
    purges: Arc<Mutex<Purges>>,
) -> Result<tokio::task::JoinHandle<()>> {
    let mut events = client.events_after(0).await.map_err(bench_err)?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(ev)) = events.next().await {
            if ev["type"] == "delivered" {
                if let Some(id) = ev["message_id"].as_str() {
                    deliveries.arrived(id.to_owned(), Instant::now());
                }
            } else if ev["type"] == "purged" && ev["message_id"].is_null() {
                let mut p = purges.lock().unwrap_or_else(|p| p.into_inner());
                let (now, at) = (Instant::now(), ev["at"].as_u64());
                p.count += 1;
                p.first_at = p.first_at.or(at);
                p.last_at = at.or(p.last_at);
                p.first_seen = p.first_seen.or(Some(now));
                p.last_seen = Some(now);
            }
        }
    }))
}

/// The value of metric `name` (the whole series name, labels included) in `/metrics`' text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Retention at scale: LU (stopped) is given a retention period that the fill's old closed
/// cases are past, started, and measured while its timer task purges them.
async fn measure_purge(
    opts: &StoreBenchOptions,
    net: &LocalNetwork,
    dir: &Path,
    fill: &Fill,
    p99_without_ms: f64,
    progress: &impl Fn(&str),
) -> Result<Purge> {
    const MIB: f64 = (1 << 20) as f64;
    let sled_dir = net
        .config(&PartyId::parse("LU").map_err(bench_err)?)?
        .data_dir
        .join("sled");
    let disk_after_full_run = folder_bytes(&sled_dir);
    set_retention(net, RETENTION_DAYS)?;
    let deadlines = TrackSettings {
        retention_days: Some(RETENTION_DAYS),
        ..TrackSettings::default()
    };
    let (reindex_s, sled_before) = open_offline(net, &deadlines).await?;
    let disk_before = folder_bytes(&sled_dir);
    progress(&format!(
        "index of deadlines built again with the retention period in {reindex_s:.1} s; sled \
         folder {:.1} MiB, sled's size_on_disk {:.1} MiB",
        disk_before as f64 / MIB,
        sled_before as f64 / MIB
    ));
    let fr = spawn_node_within(&opts.exe, net, "FR", &dir.join("fr-purge.log"), opts.cap).await?;
    let started = Instant::now();
    let lu =
        match spawn_node_within(&opts.exe, net, "LU", &dir.join("lu-purge.log"), opts.cap).await {
            Ok(lu) => lu,
            Err(e) => {
                fr.stop().await;
                return Err(e);
            }
        };
    let outcome = purge_started(
        opts,
        &lu,
        started,
        fill.closed_past_retention,
        p99_without_ms,
    )
    .await;
    lu.stop().await;
    fr.stop().await;
    let mut p = outcome?;
    p.reindex_s = reindex_s;
    p.disk_after_full_run_mib = disk_after_full_run as f64 / MIB;
    p.disk_before_mib = disk_before as f64 / MIB;
    p.sled_before_mib = sled_before as f64 / MIB;
    p.disk_after_mib = folder_bytes(&sled_dir) as f64 / MIB;
    p.sled_after_mib = open_offline(net, &deadlines).await?.1 as f64 / MIB;
    p.reclaim = reclaim(net, fill, p.purged, p.sled_after_mib, &deadlines, progress).await?;
    Ok(p)
}

/// [`Reclaim`]: LU's store (its node stopped) after the purge run.
async fn reclaim(
    net: &LocalNetwork,
    fill: &Fill,
    purged: usize,
    after_purge_mib: f64,
    deadlines: &TrackSettings,
    progress: &impl Fn(&str),
) -> Result<Reclaim> {
    const MIB: f64 = (1 << 20) as f64;
    let n = purged.max(1);
    progress(&format!(
        "space: {n} new cases written into the purged store, then compacted, then {n} more"
    ));
    let mut r = Reclaim {
        cases: n,
        after_purge_mib,
        ..Reclaim::default()
    };
    // FR's case numbers go on after the fill's (and the first write's).
    let mut last_fr = fill.requested_cases as u64;
    let first = fill_from(net, n, last_fr, false, progress).await?;
    last_fr += first.requested_cases as u64;
    r.after_write_mib = open_offline(net, deadlines).await?.1 as f64 / MIB;
    r.write_growth_mib = r.after_write_mib - after_purge_mib;
    let data_dir = net
        .config(&PartyId::parse("LU").map_err(bench_err)?)?
        .data_dir;
    let done = tokio::task::spawn_blocking(move || poc247_node::store::compact::compact(&data_dir))
        .await
        .map_err(bench_err)?
        .map_err(|e| bench_err(format!("compact: {e}")))?;
    r.compact_before_mib = done.bytes_before as f64 / MIB;
    r.compact_after_mib = done.bytes_after as f64 / MIB;
    r.compact_secs = done.secs;
    r.compact_entries = done.entries;
    r.live_mib = done.live_bytes as f64 / MIB;
    progress(&format!(
        "compacted in {:.1} s: {:.1} → {:.1} MiB",
        done.secs, r.compact_before_mib, r.compact_after_mib
    ));
    fill_from(net, n, last_fr, false, progress).await?;
    r.after_second_write_mib = open_offline(net, deadlines).await?.1 as f64 / MIB;
    r.second_write_growth_mib = r.after_second_write_mib - r.compact_after_mib;
    Ok(r)
}

async fn purge_started(
    opts: &StoreBenchOptions,
    lu: &Proc,
    started: Instant,
    due: usize,
    p99_without_ms: f64,
) -> Result<Purge> {
    let pid = lu.pid().ok_or_else(|| bench_err("LU has no process id"))?;
    let deliveries = Deliveries::default();
    let purges = Arc::new(Mutex::new(Purges::default()));
    let follower = follow_purges(&lu.client, deliveries.clone(), purges.clone()).await?;
    let purged = {
        let purges = purges.clone();
        move || purges.lock().unwrap_or_else(|p| p.into_inner()).count
    };
    let deadline = Instant::now() + opts.cap;
    // Submits at 64 in flight until the purge is over (or the cap): each with when it ended.
    let running = Arc::new(AtomicBool::new(true));
    let made = Arc::new(AtomicUsize::new(0));
    let most = opts.submits.saturating_mul(5);
    let body = Arc::new(crate::request_body());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (client, deliveries, body, running, made) = (
            lu.client.clone(),
            deliveries.clone(),
            body.clone(),
            running.clone(),
            made.clone(),
        );
        tasks.spawn(async move {
            let mut lat = Vec::new();
            while running.load(Ordering::Relaxed) && made.fetch_add(1, Ordering::Relaxed) < most {
                let d = crate::one(&client, &deliveries, &body).await?;
                lat.push((Instant::now(), d));
            }
            Ok::<_, NodeError>(lat)
        });
    }
    // Once the purge has begun, the deadline board asked for a page.
    let mut pending_during_ms = 0.0;
    while due > 0 && purged() == 0 && Instant::now() < deadline && !tasks.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if purged() > 0 && purged() < due {
        pending_during_ms = call(lu, "/v1/pending?limit=200", opts.cap).await.ms;
    }
    while purged() < due && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.store(false, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut failed = None;
    while let Some(r) = tasks.join_next().await {
        match r.map_err(bench_err).and_then(|r| r) {
            Ok(l) => all.extend(l),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    if let Some(e) = failed {
        follower.abort();
        return Err(e);
    }
    let (_, peak_rss_mib, _) = usage(pid).unwrap_or_default();
    let metrics = call(lu, "/metrics", opts.cap).await;
    let verify = call(lu, "/v1/audit/verify", opts.cap).await;
    follower.abort();
    let p = purges.lock().unwrap_or_else(|p| p.into_inner());
    let end = p.last_seen.unwrap_or_else(Instant::now);
    let during: Vec<Duration> = all
        .iter()
        .filter(|(at, _)| *at <= end)
        .map(|(_, d)| *d)
        .collect();
    let secs = match (p.first_at, p.last_at) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e3,
        _ => 0.0,
    };
    let window = end.saturating_duration_since(started).as_secs_f64();
    let lat = latency(during);
    Ok(Purge {
        retention_days: RETENTION_DAYS,
        due,
        reindex_s: 0.0,
        purged: p.count,
        left_due: metric(&metrics.text, "poc247_overdue{track=\"retention\"}")
            .map_or(u64::MAX, |v| v as u64),
        first_purge_ms: p.first_seen.map_or(0.0, |t| {
            t.saturating_duration_since(started).as_secs_f64() * 1e3
        }),
        secs,
        per_s: if secs > 0.0 {
            p.count as f64 / secs
        } else {
            0.0
        },
        p99_ratio: ratio(lat.p99_ms, p99_without_ms),
        submits: Submits {
            in_flight: 64,
            per_s: if window > 0.0 {
                lat.samples as f64 / window
            } else {
                0.0
            },
            latency: lat,
        },
        submits_made: all.len(),
        pending_during_ms,
        audit_verify_status: verify.status,
        audit_verify_ms: verify.ms,
        peak_rss_mib,
        disk_after_full_run_mib: 0.0,
        disk_before_mib: 0.0,
        sled_before_mib: 0.0,
        sled_at_end_mib: metric(&metrics.text, "poc247_store_disk_bytes")
            .map_or(0.0, |b| b / (1 << 20) as f64),
        disk_after_mib: 0.0,
        sled_after_mib: 0.0,
        reclaim: Reclaim::default(),
    })
}

/// The calls measured, in order: name, path, calls after the first.
fn calls(cases: usize) -> Vec<(&'static str, String, usize)> {
    let now = SystemClock.now().0;
    let year = Date::from_utc_ms(now).year();
    // A case LU requested, from the middle of the fill.
    let middle = (cases / 4).max(1);
    vec![
        ("status", "/v1/status".into(), 5),
        ("cases, first page", "/v1/cases".into(), 5),
        (
            "inbox (role=requested)",
            "/v1/cases?role=requested".into(),
            5,
        ),
        (
            "outbox (role=requester)",
            "/v1/cases?role=requester".into(),
            5,
        ),
        (
            "state=acknowledged",
            "/v1/cases?state=acknowledged".into(),
            5,
        ),
        (
            "role=requested&state=delivered",
            "/v1/cases?role=requested&state=delivered".into(),
            5,
        ),
        (
            "role=requester&state=closed",
            "/v1/cases?role=requester&state=closed".into(),
            5,
        ),
        ("pending, first 200", "/v1/pending?limit=200".into(), 5),
        (
            "pending, as the CLI asks (first page)",
            "/v1/pending".into(),
            3,
        ),
        (
            "show one case",
            format!("/v1/cases/LU-{year}-{middle:06}"),
            5,
        ),
        ("metrics", "/metrics".into(), 5),
        ("stats", "/v1/stats".into(), 3),
        // The fill opens every case now: the last 30 days hold them all, the 30 days before
        // hold none (what a period costs beside the cases it counts).
        (
            "stats, last 30 days",
            format!("/v1/stats?since={}", now.saturating_sub(30 * DAY_MS)),
            3,
        ),
        (
            "stats, the 30 days before",
            format!(
                "/v1/stats?since={}&until={}",
                now.saturating_sub(60 * DAY_MS),
                now.saturating_sub(30 * DAY_MS)
            ),
            3,
        ),
        (
            "audit export, first 1,000",
            "/v1/audit?limit=1000".into(),
            3,
        ),
        ("audit verify", "/v1/audit/verify".into(), 1),
    ]
}

/// One answer, timed.
struct Answer {
    status: u16,
    ms: f64,
    text: String,
    timed_out: bool,
}

async fn call(p: &Proc, path: &str, cap: Duration) -> Answer {
    let t = Instant::now();
    match tokio::time::timeout(cap, p.client.get_text(path)).await {
        Ok(Ok(r)) => Answer {
            status: r.status.as_u16(),
            ms: t.elapsed().as_secs_f64() * 1e3,
            text: r.text,
            timed_out: false,
        },
        Ok(Err(e)) => Answer {
            status: 0,
            ms: t.elapsed().as_secs_f64() * 1e3,
            text: e.to_string(),
            timed_out: false,
        },
        Err(_) => Answer {
            status: 0,
            ms: t.elapsed().as_secs_f64() * 1e3,
            text: String::new(),
            timed_out: true,
        },
    }
}

async fn operation(p: &Proc, name: &str, path: &str, repeats: usize, cap: Duration) -> Operation {
    let first = call(p, path, cap).await;
    let items = serde_json::from_str::<Value>(&first.text)
        .ok()
        .and_then(|v| {
            ["cases", "pending", "entries"]
                .iter()
                .find_map(|k| v[*k].as_array().map(Vec::len))
        });
    let mut times = Vec::new();
    if !first.timed_out {
        for _ in 0..repeats {
            let a = call(p, path, cap).await;
            if a.timed_out {
                break;
            }
            times.push(a.ms);
        }
    }
    times.sort_by(f64::total_cmp);
    Operation {
        name: name.to_owned(),
        path: path.to_owned(),
        status: first.status,
        first_ms: first.ms,
        median_ms: times.get(times.len() / 2).copied().unwrap_or(first.ms),
        repeats: times.len(),
        bytes: first.text.len(),
        items,
        timed_out: first.timed_out,
    }
}

/// Waits until the process's RSS stays within ±0.25 MiB for 1 s (at most 30 s); returns it.
async fn settle(pid: u32) -> f64 {
    let rss = || usage(pid).map_or(0.0, |u| u.0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = rss();
    let mut steady = 0;
    while steady < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = rss();
        if (now - last).abs() <= 0.25 {
            steady += 1;
        } else {
            steady = 0;
        }
        last = now;
    }
    last
}

/// Cases written per batch: the requests of a batch share one transaction and one flush (as
/// concurrent submissions do), the inbound requests share flushes.
const BATCH: usize = 256;

/// The keys and facts the fill signs with.
struct Writer {
    store: Store,
    lu: PartyId,
    fr: PartyId,
    lu_key: SigningKey,
    fr_key: SigningKey,
    directory: Directory,
    request: Body,
    ack: Body,
    decision: Body,
    language: Language,
    year: u16,
    next_fr: u64,
    /// Whether a tenth of the cases are closed [`RETENTION_DAYS`] + 1 days back (the fill),
    /// or every close is now (the cases written after the purge).
    past_closes: bool,
}

fn request_fields() -> Value {
    json!({
        "requesting_authority": "Parquet de Luxembourg, cabinet d'instruction",
        "offence": "computer fraud",
        "facts": "A phishing kit collected bank credentials of residents; the kit forwards \
                  them to a mailbox hosted by the provider named below. "
            .repeat(7),
        "data": "Mailbox contents and access logs of kit-drop@example.fr, 2026-10-01 to date",
        "relation_to_offence": "The kit mails the stolen credentials to this mailbox.",
        "custodian_or_location": "ExampleMail SAS, Paris",
        "necessity": "The provider deletes access logs after 7 days.",
        "mla_intent": true
    })
}

fn body(kind: MessageKind, fields: &Value) -> Result<Body> {
    let b = Body::from_json_ref(kind, fields).map_err(|e| bench_err(format!("{kind}: {e}")))?;
    b.validate(Urgency::Urgent)
        .map_err(|e| bench_err(format!("{kind}: {e:?}")))?;
    Ok(b)
}

impl Writer {
    fn header(&self, from: &PartyId, case_ref: &CaseRef, reply_to: Option<MessageId>) -> Header {
        let now = SystemClock.now();
        Header {
            version: PROTOCOL_VERSION,
            id: MessageId::new(now),
            from: from.clone(),
            to: if from == &self.lu {
                self.fr.clone()
            } else {
                self.lu.clone()
            },
            created_at: now,
            case_ref: case_ref.clone(),
            in_reply_to: reply_to,
            urgency: Urgency::Urgent,
            language: self.language.clone(),
            exercise: false,
        }
    }

    fn key(&self, p: &PartyId) -> &SigningKey {
        if p == &self.lu {
            &self.lu_key
        } else {
            &self.fr_key
        }
    }

    /// A message signed by its sender, as LU stores it: LU's own queued, a peer's with the
    /// receipt LU gave.
    fn message(&self, header: Header, body: &Body) -> Result<StoredMessage> {
        let kind = body.kind();
        let envelope = Envelope {
            header,
            body: body.clone(),
        };
        let bytes = envelope.sign(self.key(&envelope.header.from))?.to_bytes()?;
        let h = envelope.header;
        let inbound = h.from != self.lu;
        let receipt = if inbound {
            Some(self.receipt(h.id, &bytes, &self.lu, h.created_at)?)
        } else {
            None
        };
        Ok(StoredMessage {
            id: h.id,
            case_ref: h.case_ref,
            kind,
            direction: if inbound {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            from: h.from,
            to: h.to,
            created_at: h.created_at,
            stored_at: h.created_at,
            envelope: bytes,
            receipt,
            delivery: if inbound {
                DeliveryState::Received
            } else {
                DeliveryState::Queued
            },
        })
    }

    fn receipt(
        &self,
        id: MessageId,
        envelope: &[u8],
        receiver: &PartyId,
        at: UtcMs,
    ) -> Result<SignedReceipt> {
        Ok(Receipt {
            message_id: id,
            envelope_sha256: envelope_sha256(envelope),
            receiver: receiver.clone(),
            received_at: at,
        }
        .sign(self.key(receiver))?)
    }

    /// LU's own message delivered: its receipt from FR stored with the case's transition.
    fn settle(&self, msg: &StoredMessage) -> Result<()> {
        let at = SystemClock.now();
        let r = self.receipt(msg.id, &msg.envelope, &self.fr, at)?;
        self.store.settle_outbound(msg.id, Ok(r), at)?;
        Ok(())
    }

    /// A message in an existing case, from `from`, answering `reply_to`; delivered.
    fn answer(
        &self,
        from: &PartyId,
        case_ref: &CaseRef,
        reply_to: MessageId,
        body: &Body,
    ) -> Result<()> {
        let h = self.header(from, case_ref, Some(reply_to));
        let msg = self.message(h, body)?;
        let outbound = from == &self.lu;
        let actor = if outbound {
            Actor::Local { uid: None }
        } else {
            Actor::Peer(from.clone())
        };
        let stored = self
            .store
            .insert_in_case(&msg, outbound.then_some(&self.fr), actor, |c| {
                c.apply_message(
                    Step {
                        id: msg.id,
                        from,
                        in_reply_to: Some(reply_to),
                        at: msg.created_at,
                        body,
                    },
                    msg.stored_at,
                )
            })?;
        if let Err(e) = stored {
            return Err(bench_err(format!(
                "{case_ref}: {} refused: {e:?}",
                body.kind()
            )));
        }
        if outbound {
            self.settle(&msg)?;
        }
        Ok(())
    }

    /// Closes a case as of `now` (the closing time the case and its audit entry record).
    fn close(&self, case_ref: &CaseRef, now: UtcMs) -> Result<()> {
        let rec = AuditRecord {
            at: now,
            actor: Actor::Local { uid: None },
            event: "closed".into(),
            case_ref: Some(case_ref.clone()),
            message_id: None,
        };
        if let Err(e) = self.store.update_case(case_ref, &rec, |c| c.close(now))? {
            return Err(bench_err(format!("{case_ref}: close refused: {e:?}")));
        }
        Ok(())
    }
}

/// Writes `n` cases into LU's store (LU's node not running), through the store's API.
async fn fill(net: &LocalNetwork, n: usize, progress: &impl Fn(&str)) -> Result<Fill> {
    fill_from(net, n, 0, true, progress).await
}

/// [`fill`] into a store that holds cases already: FR's case numbers follow `last_fr`, and
/// with `past_closes` false every close is now.
async fn fill_from(
    net: &LocalNetwork,
    n: usize,
    last_fr: u64,
    past_closes: bool,
    progress: &impl Fn(&str),
) -> Result<Fill> {
    let lu = PartyId::parse("LU").map_err(bench_err)?;
    let fr = PartyId::parse("FR").map_err(bench_err)?;
    let cfg = net.config(&lu)?;
    let fr_cfg = net.config(&fr)?;
    let lu_key = poc247_node::keys::load_signing_key(&cfg.signing_key)?;
    let fr_key = poc247_node::keys::load_signing_key(&fr_cfg.signing_key)?;
    let directory = Directory::load(&cfg.directory)?;
    let (store, committer) =
        Store::open_with(&cfg.data_dir, &cfg.store, &cfg.deadlines, lu_key.clone())?;
    let today = Date::from_utc_ms(SystemClock.now().0);
    let w = Writer {
        store,
        request: body(MessageKind::Preservation, &request_fields())?,
        ack: body(
            MessageKind::Acknowledgement,
            &json!({"officer": "permanence", "note": "taken in charge; order requested"}),
        )?,
        decision: body(
            MessageKind::Decision,
            &json!({
                "outcome": "executed",
                "executed_on": today.to_string(),
                "preserved_until": today.plus_days(90).to_string(),
                "legal_basis": "CIC 48-25",
                "authorised_by": "juge d'instruction"
            }),
        )?,
        language: Language::parse("fr").map_err(bench_err)?,
        year: u16::try_from(today.year()).unwrap_or(0),
        next_fr: last_fr,
        past_closes,
        lu,
        fr,
        lu_key,
        fr_key,
        directory,
    };
    let t0 = Instant::now();
    let result = fill_with(w, n, t0, progress).await;
    let (w, mut fill) = result?;
    w.store.commit().await?;
    fill.secs = t0.elapsed().as_secs_f64();
    fill.cases_per_s = n as f64 / fill.secs.max(1e-9);
    // The chain as the node will verify it: a fill that broke it is no bench.
    let verified = w.store.verify_audit(&w.lu_key.verifying_key())?;
    if let Some(b) = verified.broken {
        return Err(bench_err(format!("the fill broke the audit chain: {b:?}")));
    }
    fill.audit_entries = verified.entries;
    // The store closes once its committer has ended.
    let closing = Instant::now();
    drop(w);
    let _ = committer.await;
    fill.close_s = closing.elapsed().as_secs_f64();
    fill.disk_mib = folder_bytes(&cfg.data_dir.join("sled")) as f64 / (1 << 20) as f64;
    Ok(fill)
}

async fn fill_with(
    mut w: Writer,
    n: usize,
    t0: Instant,
    progress: &impl Fn(&str),
) -> Result<(Writer, Fill)> {
    let mut f = Fill {
        cases: n,
        requester_cases: 0,
        requested_cases: 0,
        messages: 0,
        acknowledged: 0,
        decided: 0,
        closed: 0,
        closed_past_retention: 0,
        request_envelope_bytes: 0,
        audit_entries: 0,
        secs: 0.0,
        cases_per_s: 0.0,
        disk_mib: 0.0,
        close_s: 0.0,
    };
    let mut reported = Instant::now();
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        // The requests of the batch: LU's in one transaction, FR's stored concurrently.
        let mut batch: Vec<(usize, StoredMessage, CaseRecord)> = Vec::new();
        for i in start..end {
            let (from, role) = if i % 2 == 0 {
                (w.lu.clone(), Role::Requester)
            } else {
                (w.fr.clone(), Role::Requested)
            };
            let case_ref = if role == Role::Requester {
                w.store.next_case_ref(&w.lu, w.year)?
            } else {
                w.next_fr += 1;
                CaseRef::new(&w.fr, w.year, w.next_fr)
            };
            let h = w.header(&from, &case_ref, None);
            let context = context_for(&w.directory, &h.from, &h.to, MessageKind::Preservation);
            let case = CaseRecord::open(&h, &w.request, role, context, h.created_at);
            let msg = w.message(h, &w.request)?;
            f.request_envelope_bytes = msg.envelope.len();
            batch.push((i, msg, case));
        }
        let items: Vec<(&StoredMessage, &CaseRecord, &PartyId)> = batch
            .iter()
            .filter(|(_, _, c)| c.role == Role::Requester)
            .map(|(_, m, c)| (m, c, &w.fr))
            .collect();
        f.requester_cases += items.len();
        if !items.is_empty() {
            w.store
                .insert_outbound_durably(&items, Actor::Local { uid: None })
                .await??;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (_, m, c) in batch.iter().filter(|(_, _, c)| c.role == Role::Requested) {
            let (store, m, c) = (w.store.clone(), m.clone(), c.clone());
            f.requested_cases += 1;
            tasks.spawn(async move {
                store
                    .insert_inbound_durably(&m, &c)
                    .await
                    .map_err(|e| bench_err(format!("{}: {e}", c.case_ref)))
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.map_err(bench_err)??;
        }
        f.messages += batch.len();
        // Then each case's history: LU's request receipted, the requested Party's answers,
        // the local officer's close; flushed after each case, as the node flushes after each
        // change. Unflushed, the log writes of thousands of transactions queue up in sled's
        // I/O pool, and sled 0.34.7 then deadlocks when it truncates its file: the thread
        // that holds the segment accountant waits for a truncation queued behind log writes
        // that wait for the accountant (fixed on sled's main branch, not in 0.34.7:
        // spacejam/sled#1269).
        for (i, m, c) in &batch {
            if c.role == Role::Requester {
                w.settle(m)?;
            }
            if i % 3 != 0 {
                w.answer(&c.requested, &c.case_ref, m.id, &w.ack)?;
                f.acknowledged += 1;
                f.messages += 1;
            }
            if i % 3 == 2 {
                w.answer(&c.requested, &c.case_ref, m.id, &w.decision)?;
                f.decided += 1;
                f.messages += 1;
                // Half the decided cases, on either side, are closed; of all cases a tenth,
                // spread over the fill, long enough ago to be past the purge run's retention.
                if (i / 6) % 2 == 1 {
                    let now = SystemClock.now();
                    let at = if w.past_closes && f.closed_past_retention * 10 < i + 1 {
                        f.closed_past_retention += 1;
                        UtcMs(now.0.saturating_sub(u64::from(RETENTION_DAYS + 1) * DAY_MS))
                    } else {
                        now
                    };
                    w.close(&c.case_ref, at)?;
                    f.closed += 1;
                }
            }
            w.store.commit().await?;
        }
        start = end;
        if reported.elapsed() > Duration::from_secs(10) {
            reported = Instant::now();
            progress(&format!(
                "{start} of {n} cases written in {:.0} s",
                t0.elapsed().as_secs_f64()
            ));
        }
    }
    Ok((w, f))
}

/// The length of every file under `dir`, bytes.
fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => folder_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// The report as tables for people.
pub fn render_store(r: &StoreBenchReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let f = &r.fill;
    let _ = writeln!(
        s,
        "poc247 bench store ({} build) on {} × {}",
        r.profile, r.cores, r.cpu
    );
    let _ = writeln!(
        s,
        "fill: {} cases ({} requested by LU, {} asked of LU; {} acknowledged, {} decided, {} \
         closed, {} of them {} days ago), {} messages, {} audit entries, request envelope {} \
         bytes: {:.1} s, {:.0} cases/s; sled folder {:.1} MiB; closed in {:.2} s",
        f.cases,
        f.requester_cases,
        f.requested_cases,
        f.acknowledged,
        f.decided,
        f.closed,
        f.closed_past_retention,
        RETENTION_DAYS + 1,
        f.messages,
        f.audit_entries,
        f.request_envelope_bytes,
        f.secs,
        f.cases_per_s,
        f.disk_mib,
        f.close_s
    );
    let (e, u) = (&r.empty, &r.full);
    let _ = writeln!(
        s,
        "{:<40} {:>14} {:>14}",
        "LU",
        "empty store",
        format!("{} cases", u.cases)
    );
    let mut row = |name: &str, a: String, b: String| {
        let _ = writeln!(s, "{name:<40} {a:>14} {b:>14}");
    };
    row(
        "ready (start → /v1/status answers)",
        format!("{:.0} ms", e.ready_ms),
        format!("{:.0} ms", u.ready_ms),
    );
    row(
        "clean stop (SIGTERM after the submits → exit)",
        format!("{:.0} ms", e.stop_ms),
        format!("{:.0} ms", u.stop_ms),
    );
    row(
        "deadline board (start → pending answers)",
        format!("{:.0} ms", e.board_ms),
        format!("{:.0} ms", u.board_ms),
    );
    row(
        "idle RSS",
        format!("{:.1} MiB", e.idle_rss_mib),
        format!("{:.1} MiB", u.idle_rss_mib),
    );
    row(
        "RSS after the calls below",
        "-".into(),
        format!("{:.1} MiB", u.rss_after_reads_mib),
    );
    row(
        "peak RSS over the run",
        format!("{:.1} MiB", e.peak_rss_mib),
        format!("{:.1} MiB", u.peak_rss_mib),
    );
    row(
        "submits, 64 in flight",
        format!("{:.0} /s", e.submits.per_s),
        format!("{:.0} /s", u.submits.per_s),
    );
    row(
        "  p50 / p99",
        format!(
            "{:.1}/{:.1} ms",
            e.submits.latency.p50_ms, e.submits.latency.p99_ms
        ),
        format!(
            "{:.1}/{:.1} ms",
            u.submits.latency.p50_ms, u.submits.latency.p99_ms
        ),
    );
    for (i, round) in r.rounds.iter().enumerate() {
        let _ = writeln!(
            s,
            "round {} of submits in turn: full store ({} cases, ready in {:.0} ms) {:.0} /s, p99 \
             {:.1} ms; empty store {:.0} /s, p99 {:.1} ms; {:.2}",
            i + 1,
            round.full.cases,
            round.full.ready_ms,
            round.full.submits.per_s,
            round.full.submits.latency.p99_ms,
            round.empty.submits.per_s,
            round.empty.submits.latency.p99_ms,
            round.ratio
        );
    }
    let _ = writeln!(
        s,
        "submit rate on {} cases: {:.0} % of the empty store's (medians over {} round{} taken \
         in turn: {:.0} against {:.0} /s)",
        u.cases,
        r.submit_ratio * 100.0,
        r.rounds.len(),
        if r.rounds.len() == 1 { "" } else { "s" },
        r.full_submits_median_per_s,
        r.empty_submits_median_per_s
    );
    let p = &r.purge;
    let mib = |m: f64| format!("{m:.1} MiB");
    let _ = writeln!(
        s,
        "retention at scale: LU started again with retention_days = {}, {} closed cases past it",
        p.retention_days, p.due
    );
    let mut row = |name: &str, v: String| {
        let _ = writeln!(s, "  {name:<52} {v}");
    };
    row(
        "index of deadlines rebuilt at opening (settings changed)",
        format!("{:.1} s", p.reindex_s),
    );
    row(
        "cases purged / retention deadlines left",
        format!("{} / {}", p.purged, p.left_due),
    );
    row(
        "purge: first after start / duration / rate",
        format!(
            "{:.0} ms / {:.1} s / {:.0} cases/s",
            p.first_purge_ms, p.secs, p.per_s
        ),
    );
    row(
        "submits during it, 64 in flight (of those made)",
        format!(
            "{} of {}: {:.0} /s",
            p.submits.latency.samples, p.submits_made, p.submits.per_s
        ),
    );
    row(
        "  p50 / p99 during the purge, p99 without it (median)",
        format!(
            "{:.1}/{:.1} ms, {:.1} ms: {:.2}× (target ≤ 2×)",
            p.submits.latency.p50_ms,
            p.submits.latency.p99_ms,
            median(r.rounds.iter().map(|x| x.full.submits.latency.p99_ms)),
            p.p99_ratio
        ),
    );
    row(
        "pending?limit=200 during it",
        format!("{:.1} ms", p.pending_during_ms),
    );
    row(
        "audit verify after it",
        format!("{} in {:.0} ms", p.audit_verify_status, p.audit_verify_ms),
    );
    row("peak RSS over the run", mib(p.peak_rss_mib));
    row(
        "sled folder: fill / full run / reindex / purge run",
        format!(
            "{} / {} / {} / {}",
            mib(r.fill.disk_mib),
            mib(p.disk_after_full_run_mib),
            mib(p.disk_before_mib),
            mib(p.disk_after_mib)
        ),
    );
    row(
        "sled size_on_disk before / at the end / after",
        format!(
            "{} / {} / {}",
            mib(p.sled_before_mib),
            mib(p.sled_at_end_mib),
            mib(p.sled_after_mib)
        ),
    );
    let c = &p.reclaim;
    row(
        &format!("{} new cases: size_on_disk", c.cases),
        format!(
            "{} → {} (+{})",
            mib(c.after_purge_mib),
            mib(c.after_write_mib),
            mib(c.write_growth_mib)
        ),
    );
    row(
        "compaction: size_on_disk, time",
        format!(
            "{} → {} in {:.1} s ({} entries, {} live)",
            mib(c.compact_before_mib),
            mib(c.compact_after_mib),
            c.compact_secs,
            c.compact_entries,
            mib(c.live_mib)
        ),
    );
    row(
        &format!("{} more on the compacted store", c.cases),
        format!(
            "{} → {} (+{})",
            mib(c.compact_after_mib),
            mib(c.after_second_write_mib),
            mib(c.second_write_growth_mib)
        ),
    );
    let _ = writeln!(
        s,
        "{:<32} {:>6} {:>10} {:>10} {:>7} {:>10}  request",
        "call", "status", "first ms", "median ms", "items", "bytes"
    );
    for o in &r.operations {
        let _ = writeln!(
            s,
            "{:<32} {:>6} {:>10} {:>10.1} {:>7} {:>10}  {}",
            o.name,
            o.status,
            if o.timed_out {
                format!(">{:.0}", o.first_ms)
            } else {
                format!("{:.1}", o.first_ms)
            },
            o.median_ms,
            o.items.map_or("-".into(), |n| n.to_string()),
            o.bytes,
            o.path
        );
    }
    if let Some(k) = &r.kept {
        let _ = writeln!(s, "kept: {}", k.display());
    }
    s
}
