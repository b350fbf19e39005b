//! `poc247 bench`: two nodes as separate `poc247 run` processes on loopback, with ephemeral
//! dev certificates in a temporary folder, driven through the real control API. Measures
//! latency (submit → verified receipt stored at the sender, seen on the sender's event
//! stream), throughput at several depths in flight, latency under an offered rate, CPU and
//! RSS of each node process, and, in the same run, this machine's ceiling for the work each
//! message needs.

use ed25519_dalek::{Signer, SigningKey};
use poc247_api::client::ControlClient;
use poc247_devnet::localnet::{LocalNetwork, Pki};
use poc247_node::error::{NodeError, Result};
use poc247_protocol::PartyId;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

mod scale;
pub use scale::{render_store, store, StoreBenchOptions, StoreBenchReport};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The `poc247` binary that runs the nodes.
    pub exe: PathBuf,
    /// Sequential requests for the single-in-flight latency.
    pub latency_samples: usize,
    /// Requests per throughput level.
    pub messages: usize,
    /// Depths in flight.
    pub levels: Vec<usize>,
    /// Offered rate for the open-loop run, requests/s.
    pub offered_rate: u32,
    /// Length of the open-loop run, seconds.
    pub offered_secs: u64,
    /// Also run the deepest level with one flush per message (group commit off).
    pub compare_group_commit: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            exe: PathBuf::from("poc247"),
            latency_samples: 500,
            messages: 4000,
            levels: vec![1, 16, 64, 256],
            offered_rate: 1000,
            offered_secs: 5,
            compare_group_commit: true,
        }
    }
}

/// Latency figures, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Samples.
    pub samples: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

/// One throughput level.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    /// Requests in flight.
    pub in_flight: usize,
    /// Whether writers shared flushes.
    pub group_commit: bool,
    /// Durable requests per second (submit → verified receipt stored).
    pub per_s: f64,
    /// `per_s` over the ceiling measured in the same run.
    pub of_ceiling: f64,
    /// Latency at this depth.
    pub latency: Latency,
    /// Store flushes per request at the sender and at the receiver (`poc247_store_flushes_total`
    /// before and after): below 1 when writers share flushes.
    pub flushes_per_request: [f64; 2],
}

/// The open-loop run.
#[derive(Debug, Clone, Serialize)]
pub struct Offered {
    /// Requests offered per second.
    pub rate: u32,
    /// Requests offered.
    pub offered: usize,
    /// Latency of those delivered.
    pub latency: Latency,
}

/// The machine's ceiling for this work.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    /// Cores.
    pub cores: usize,
    /// One ed25519 signature over 2 KiB, µs.
    pub sign_2k_us: f64,
    /// One `verify_strict` over 2 KiB, µs.
    pub verify_strict_2k_us: f64,
    /// The disk itself: 2 KiB appended to a file, then `fdatasync`, p50, µs (what a sled
    /// flush costs at the least, now that it ends with an `fdatasync`).
    pub fdatasync_2k_p50_us: f64,
    /// One sled insert + flush, p50, µs.
    pub sled_insert_flush_p50_us: f64,
    /// sled inserts per second with 64 inserts sharing a flush.
    pub sled_grouped_inserts_per_s: f64,
    /// Not in the ceiling, for comparison: sled transactions per second over five trees (the
    /// writes of one of this node's state changes), 64 sharing a flush.
    pub sled_grouped_transactions_per_s: f64,
    /// Not in the ceiling: the same state changes, 64 in one transaction and one flush.
    pub sled_batched_changes_per_s: f64,
    /// Not in the ceiling: one such state change alone and its flush, p50, µs.
    pub sled_change_flush_p50_us: f64,
    /// Per message: 2 signatures + 2 verifications + one grouped insert per side, on all
    /// cores: messages per second.
    pub messages_per_s: f64,
}

/// What the other parts of one request cost on this machine, each alone, in this process (not
/// in the ceiling): with the ceiling's crypto and sled figures, the CPU the design needs per
/// request before any of the node's own work.
#[derive(Debug, Clone, Serialize)]
pub struct Floor {
    /// QUIC exchanges per second, 64 in flight on one connection: a new bidirectional stream
    /// each, a 2,100-byte frame one way and a 160-byte frame back (a request and its receipt),
    /// the nodes' TLS and transport settings.
    pub quic_exchanges_per_s: f64,
    /// CPU per QUIC exchange, both ends, µs.
    pub quic_cpu_us: f64,
    /// One exchange alone (one in flight), median, µs.
    pub quic_p50_us: f64,
    /// HTTP/1.1 POSTs per second on a Unix socket, 64 in flight: the bench's request body to
    /// an axum route that parses it as JSON and answers 201 with a 150-byte JSON body, through
    /// the control client.
    pub http_posts_per_s: f64,
    /// CPU per POST, both ends, µs.
    pub http_cpu_us: f64,
    /// One POST alone (one in flight), median, µs.
    pub http_p50_us: f64,
    /// One of this node's state changes (five trees) when 64 share a transaction and a flush,
    /// µs of one thread (from the ceiling's figure).
    pub state_change_us: f64,
    /// Per request: two signatures, two `verify_strict`, three state changes (stored at the
    /// sender, at the receiver, the receipt at the sender), one QUIC exchange, one POST, µs.
    pub per_request_us: f64,
    /// Requests per second that CPU allows on all cores.
    pub requests_per_s: f64,
    /// One request alone, in the order the design requires (a durable commit at the sender
    /// before the 201 and the send, at the receiver before the receipt, and of the receipt at
    /// the sender): three insert+flush medians, the four signatures and verifications, one QUIC
    /// exchange and one POST alone, µs.
    pub single_request_us: f64,
    /// The same with this design's state changes in place of the plain inserts: three
    /// five-tree transactions, each alone with its flush (docs/design.md, Storage: every state
    /// change one transaction over the trees it touches, flushed before its promise), µs.
    pub single_request_changes_us: f64,
}

/// CPU and memory of one node process.
#[derive(Debug, Clone, Serialize)]
pub struct NodeUsage {
    /// Its party.
    pub party: String,
    /// RSS once started and idle, MiB.
    pub idle_rss_mib: f64,
    /// Peak RSS over the run, MiB.
    pub peak_rss_mib: f64,
    /// CPU time over the whole run, seconds.
    pub cpu_s: f64,
}

/// Everything measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Build profile of the bench binary.
    pub profile: &'static str,
    /// CPU model.
    pub cpu: String,
    /// The ceiling.
    pub ceiling: Ceiling,
    /// The floor of the other parts of a request.
    pub floor: Floor,
    /// Single in flight.
    pub single: Latency,
    /// Throughput levels.
    pub levels: Vec<Level>,
    /// Open loop.
    pub offered: Offered,
    /// Per node.
    pub nodes: Vec<NodeUsage>,
    /// Requests delivered in all.
    pub total_delivered: usize,
}

pub(crate) fn bench_err(m: impl std::fmt::Display) -> NodeError {
    NodeError::Transport(format!("bench: {m}"))
}

/// A node running as a child process.
pub(crate) struct Proc {
    party: String,
    child: tokio::process::Child,
    pub(crate) client: ControlClient,
}

impl Proc {
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }
    /// Stops the node with SIGTERM (SIGKILL if it has not exited 10 s later); returns the time
    /// from the signal to its exit.
    pub(crate) async fn stop(mut self) -> Duration {
        let signalled = Instant::now();
        if let Some(pid) = self.pid() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        signalled.elapsed()
    }
}

async fn spawn_node(exe: &Path, net: &LocalNetwork, party: &str, log: &Path) -> Result<Proc> {
    spawn_node_within(exe, net, party, log, Duration::from_secs(20)).await
}

/// Starts `party`'s node as a process and waits until its control API answers, at most `cap`.
pub(crate) async fn spawn_node_within(
    exe: &Path,
    net: &LocalNetwork,
    party: &str,
    log: &Path,
    cap: Duration,
) -> Result<Proc> {
    let p = PartyId::parse(party).map_err(bench_err)?;
    let cfg = net.config(&p)?;
    let cfg_path = net.dir().join(party.to_ascii_lowercase()).join("node.toml");
    let stderr = std::fs::File::create(log).map_err(|e| NodeError::io(log, e))?;
    let child = tokio::process::Command::new(exe)
        .args(["run", "--config"])
        .arg(&cfg_path)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| bench_err(format!("cannot start {}: {e}", exe.display())))?;
    let client = ControlClient::new(cfg.socket);
    // A child process gives no readiness event: ask its API until it answers (bounded).
    let deadline = Instant::now() + cap;
    loop {
        if let Ok(r) = client.get("/v1/status").await {
            if r.status.is_success() {
                break;
            }
        }
        if Instant::now() > deadline {
            return Err(bench_err(format!(
                "{party} did not start; see {}",
                log.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(Proc {
        party: party.to_owned(),
        child,
        client,
    })
}

enum Slot {
    Waiting(oneshot::Sender<Instant>),
    Arrived(Instant),
}

/// Matches delivered events from the sender's stream with the submitters waiting for them.
#[derive(Clone, Default)]
pub(crate) struct Deliveries(Arc<Mutex<HashMap<String, Slot>>>);

impl Deliveries {
    fn arrived(&self, id: String, at: Instant) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match m.remove(&id) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send(at);
            }
            _ => {
                m.insert(id, Slot::Arrived(at));
            }
        }
    }
    fn wait(&self, id: String) -> oneshot::Receiver<Instant> {
        let (tx, rx) = oneshot::channel();
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match m.remove(&id) {
            Some(Slot::Arrived(at)) => {
                let _ = tx.send(at);
            }
            _ => {
                m.insert(id, Slot::Waiting(tx));
            }
        }
        rx
    }
}

fn request_body() -> Value {
    let facts = "A phishing kit collected bank credentials of residents; the kit forwards them \
                 to a mailbox hosted by the provider named below. "
        .repeat(12);
    json!({
        "kind": "preservation",
        "to": "FR",
        "urgency": "urgent",
        "language": "fr",
        "fields": {
            "requesting_authority": "Parquet de Luxembourg, cabinet d'instruction",
            "offence": "computer fraud",
            "facts": facts,
            "data": "Mailbox contents and access logs of kit-drop@example.fr, 2026-10-01 to date",
            "relation_to_offence": "The kit mails the stolen credentials to this mailbox.",
            "custodian_or_location": "ExampleMail SAS, Paris",
            "necessity": "The provider deletes access logs after 7 days.",
            "mla_intent": true
        }
    })
}

/// Submits one request and waits for its verified receipt; returns the latency.
pub(crate) async fn one(
    client: &ControlClient,
    deliveries: &Deliveries,
    body: &Value,
) -> Result<Duration> {
    let t0 = Instant::now();
    let r = client.post("/v1/requests", body).await.map_err(bench_err)?;
    if r.status.as_u16() != 201 {
        return Err(bench_err(format!("submit: {} {}", r.status, r.body)));
    }
    let id = r.body["message_id"].as_str().unwrap_or_default().to_owned();
    let at = tokio::time::timeout(Duration::from_secs(60), deliveries.wait(id))
        .await
        .map_err(|_| bench_err("no receipt within 60 s"))?
        .map_err(bench_err)?;
    Ok(at.saturating_duration_since(t0))
}

/// Runs `n` requests with `depth` in flight; returns (requests/s, latencies).
pub(crate) async fn level(
    client: &ControlClient,
    deliveries: &Deliveries,
    n: usize,
    depth: usize,
) -> Result<(f64, Vec<Duration>)> {
    let body = Arc::new(request_body());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..depth.max(1) {
        let (client, deliveries, body, next) = (
            client.clone(),
            deliveries.clone(),
            body.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                lat.push(one(&client, &deliveries, &body).await?);
            }
            Ok::<_, NodeError>(lat)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        all.extend(r.map_err(bench_err)??);
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok((all.len() as f64 / secs, all))
}

pub(crate) fn latency(mut v: Vec<Duration>) -> Latency {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let pct = |p: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        ms(v[i])
    };
    Latency {
        samples: v.len(),
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        max_ms: v.last().map_or(0.0, |d| ms(*d)),
    }
}

/// Measures this machine's ceiling for the work of one message.
pub fn measure_ceiling(scratch: &Path) -> Result<Ceiling> {
    let key = SigningKey::from_bytes(&[7; 32]);
    let msg = vec![0x5au8; 2048];
    let n = 2000;
    let t = Instant::now();
    let mut sig = key.sign(&msg);
    for _ in 0..n {
        sig = key.sign(std::hint::black_box(&msg));
    }
    let sign_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let vk = key.verifying_key();
    let t = Instant::now();
    for _ in 0..n {
        let _ = std::hint::black_box(vk.verify_strict(&msg, &sig));
    }
    let verify_us = t.elapsed().as_secs_f64() * 1e6 / n as f64;

    let fdatasync_p50_us = {
        use std::io::Write as _;
        let path = scratch.join("ceiling-fdatasync");
        let mut file = std::fs::File::create(&path).map_err(|e| NodeError::io(&path, e))?;
        let mut times = Vec::with_capacity(300);
        for _ in 0..300 {
            let t = Instant::now();
            file.write_all(&msg).map_err(|e| NodeError::io(&path, e))?;
            file.sync_data().map_err(|e| NodeError::io(&path, e))?;
            times.push(t.elapsed());
        }
        times.sort();
        let _ = std::fs::remove_file(&path);
        times[times.len() / 2].as_secs_f64() * 1e6
    };

    let db = sled::Config::new()
        .path(scratch.join("ceiling-sled"))
        .cache_capacity(8 << 20)
        .flush_every_ms(None)
        .open()?;
    let value = vec![0xa5u8; 2048];
    let mut single = Vec::new();
    for i in 0u64..300 {
        let t = Instant::now();
        db.insert(i.to_be_bytes(), value.as_slice())?;
        db.flush()?;
        single.push(t.elapsed());
    }
    single.sort();
    let flush_p50_us = single[single.len() / 2].as_secs_f64() * 1e6;
    let t = Instant::now();
    let mut inserted = 0u64;
    while t.elapsed() < Duration::from_millis(1000) {
        for _ in 0..64 {
            db.insert((1_000_000 + inserted).to_be_bytes(), value.as_slice())?;
            inserted += 1;
        }
        db.flush()?;
    }
    let grouped = inserted as f64 / t.elapsed().as_secs_f64();
    use sled::Transactional;
    // The same writes as one of this node's state changes: a transaction over five trees
    // (message 2 KiB, case, outbox entry, audit entry, audit head), 64 sharing a flush.
    let trees = ["messages", "cases", "outbox", "audit", "meta"]
        .map(|name| db.open_tree(name))
        .into_iter()
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let (case, small) = (vec![0x3cu8; 512], vec![0x11u8; 200]);
    // `count` state changes in one transaction, keyed from `from`.
    let changes = |from: u64, count: u64| -> Result<()> {
        trees
            .as_slice()
            .transaction(|tx| {
                if let [m, c, o, a, meta] = tx.as_slice() {
                    for k in (from..from + count).map(u64::to_be_bytes) {
                        m.insert(&k, value.as_slice())?;
                        c.insert(&k, case.as_slice())?;
                        o.insert(&k, small.as_slice())?;
                        a.insert(&k, small.as_slice())?;
                        meta.insert("head", &k)?;
                    }
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| bench_err(format!("sled transaction: {e:?}")))
    };
    // `per_tx` state changes in each transaction, 64 per flush, for a second: changes per second.
    let mut next = 0u64;
    let mut changes_per_s = |per_tx: u64| -> Result<f64> {
        let t = Instant::now();
        let start = next;
        while t.elapsed() < Duration::from_millis(1000) {
            for _ in 0..64 / per_tx {
                changes(next, per_tx)?;
                next += per_tx;
            }
            db.flush()?;
        }
        Ok((next - start) as f64 / t.elapsed().as_secs_f64())
    };
    let grouped_tx = changes_per_s(1)?;
    // And 64 such state changes in one transaction, one flush: what batching gives.
    let batched_tx = changes_per_s(64)?;
    // One such state change alone, then its flush, as one request in flight commits: median.
    let mut alone = Vec::with_capacity(300);
    for _ in 0..300 {
        let t = Instant::now();
        changes(next, 1)?;
        db.flush()?;
        alone.push(t.elapsed());
        next += 1;
    }
    alone.sort();
    let change_flush_p50_us = alone[alone.len() / 2].as_secs_f64() * 1e6;
    drop(trees);
    drop(db);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_message_us = 2.0 * sign_us + 2.0 * verify_us + 2.0 * 1e6 / grouped;
    Ok(Ceiling {
        cores,
        sign_2k_us: sign_us,
        verify_strict_2k_us: verify_us,
        fdatasync_2k_p50_us: fdatasync_p50_us,
        sled_insert_flush_p50_us: flush_p50_us,
        sled_grouped_inserts_per_s: grouped,
        sled_grouped_transactions_per_s: grouped_tx,
        sled_batched_changes_per_s: batched_tx,
        sled_change_flush_p50_us: change_flush_p50_us,
        messages_per_s: cores as f64 * 1e6 / per_message_us,
    })
}

/// RSS, peak RSS (MiB) and CPU seconds of a process, from /proc.
pub(crate) fn usage(pid: u32) -> Option<(f64, f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |name: &str| -> Option<f64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (USER_HZ = 100).
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some((
        kib("VmRSS:")? / 1024.0,
        kib("VmHWM:")? / 1024.0,
        ticks / 100.0,
    ))
}

pub(crate) async fn follow(
    client: &ControlClient,
    deliveries: Deliveries,
) -> Result<tokio::task::JoinHandle<()>> {
    let mut events = client.events().await.map_err(bench_err)?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(ev)) = events.next().await {
            if ev["type"] == "delivered" {
                if let Some(id) = ev["message_id"].as_str() {
                    deliveries.arrived(id.to_owned(), Instant::now());
                }
            }
        }
    }))
}

/// LU's and FR's configurations, keys and fresh dev certificates under `dir/net`, their ports
/// let go for the node processes to bind.
pub(crate) fn lu_and_fr(dir: &Path) -> Result<LocalNetwork> {
    let pki = Pki::Fresh(vec![
        PartyId::parse("LU").map_err(bench_err)?,
        PartyId::parse("FR").map_err(bench_err)?,
    ]);
    let mut net = LocalNetwork::prepare(&dir.join("net"), &pki)?;
    net.release_ports();
    Ok(net)
}

async fn start_pair(exe: &Path, dir: &Path, group_commit: bool) -> Result<(Proc, Proc)> {
    let net = lu_and_fr(dir)?;
    if !group_commit {
        for p in ["lu", "fr"] {
            let path = dir.join("net").join(p).join("node.toml");
            let mut text = std::fs::read_to_string(&path).map_err(|e| NodeError::io(&path, e))?;
            text.push_str("\n[store]\ngroup_commit = false\n");
            std::fs::write(&path, text).map_err(|e| NodeError::io(&path, e))?;
        }
    }
    let fr = spawn_node(exe, &net, "FR", &dir.join("fr.log")).await?;
    let lu = spawn_node(exe, &net, "LU", &dir.join("lu.log")).await?;
    Ok((lu, fr))
}

/// Runs the benchmark; `progress` is told what is being measured.
pub async fn run(opts: &BenchOptions, progress: impl Fn(&str)) -> Result<BenchReport> {
    let tmp = std::env::temp_dir().join(format!("poc247-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| NodeError::io(&tmp, e))?;
    let result = run_in(opts, &tmp, &progress).await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

async fn run_in(opts: &BenchOptions, tmp: &Path, progress: &impl Fn(&str)) -> Result<BenchReport> {
    progress("measuring the machine's ceiling (ed25519, sled)");
    let ceiling = measure_ceiling(tmp)?;
    progress("starting LU and FR as two processes");
    let (lu, fr) = start_pair(&opts.exe, &tmp.join("grouped"), true).await?;
    let mut idle = HashMap::new();
    for p in [&lu, &fr] {
        if let Some((rss, _, _)) = p.pid().and_then(usage) {
            idle.insert(p.party.clone(), rss);
        }
    }
    let deliveries = Deliveries::default();
    let follower = follow(&lu.client, deliveries.clone()).await?;
    let mut total = 0;

    progress("latency, one request in flight");
    let body = request_body();
    let mut single = Vec::new();
    for _ in 0..opts.latency_samples {
        single.push(one(&lu.client, &deliveries, &body).await?);
    }
    total += single.len();
    let mut levels = Vec::new();
    for &depth in &opts.levels {
        progress(&format!("throughput, {depth} in flight"));
        let before = flushes(&lu, &fr).await;
        let (per_s, lat) = level(&lu.client, &deliveries, opts.messages, depth).await?;
        let flushes_per_request = per_request(before, flushes(&lu, &fr).await, lat.len());
        total += lat.len();
        levels.push(Level {
            in_flight: depth,
            group_commit: true,
            per_s,
            of_ceiling: per_s / ceiling.messages_per_s,
            latency: latency(lat),
            flushes_per_request,
        });
    }
    progress(&format!(
        "latency at {} requests/s offered",
        opts.offered_rate
    ));
    let offered = open_loop(
        &lu.client,
        &deliveries,
        opts.offered_rate,
        opts.offered_secs,
    )
    .await?;
    total += offered.latency.samples;
    let mut nodes = Vec::new();
    for p in [&lu, &fr] {
        if let Some((_, peak, cpu)) = p.pid().and_then(usage) {
            nodes.push(NodeUsage {
                party: p.party.clone(),
                idle_rss_mib: idle.get(&p.party).copied().unwrap_or(0.0),
                peak_rss_mib: peak,
                cpu_s: cpu,
            });
        }
    }
    follower.abort();
    lu.stop().await;
    fr.stop().await;
    progress("measuring QUIC exchanges and control-socket POSTs alone");
    let floor = measure_floor(&tmp.join("floor"), &ceiling, opts.messages * 5).await?;

    if opts.compare_group_commit {
        let depth = opts.levels.iter().copied().find(|&d| d == 64).unwrap_or(64);
        progress(&format!(
            "throughput, {depth} in flight, one flush per message"
        ));
        let (lu, fr) = start_pair(&opts.exe, &tmp.join("per-message"), false).await?;
        let deliveries = Deliveries::default();
        let follower = follow(&lu.client, deliveries.clone()).await?;
        let before = flushes(&lu, &fr).await;
        let (per_s, lat) = level(&lu.client, &deliveries, opts.messages.min(2000), depth).await?;
        let flushes_per_request = per_request(before, flushes(&lu, &fr).await, lat.len());
        total += lat.len();
        levels.push(Level {
            in_flight: depth,
            group_commit: false,
            per_s,
            of_ceiling: per_s / ceiling.messages_per_s,
            latency: latency(lat),
            flushes_per_request,
        });
        follower.abort();
        lu.stop().await;
        fr.stop().await;
    }
    Ok(BenchReport {
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        cpu: cpu_model(),
        ceiling,
        floor,
        single: latency(single),
        levels,
        offered,
        nodes,
        total_delivered: total,
    })
}

/// Calls timed one at a time for the floor's latencies.
const LATENCY_CALLS: usize = 300;

/// The median time of `n` calls of `call` made one after another, µs.
async fn median_us<F, Fut>(n: usize, call: &F) -> Result<f64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        call().await?;
        times.push(t.elapsed());
    }
    Ok(latency(times).p50_ms * 1e3)
}

/// Runs `n` calls of `call` with `depth` in flight, on this process's runtime: calls per second
/// and this process's CPU per call, µs.
async fn rate_and_cpu<F, Fut>(n: usize, depth: usize, call: F) -> Result<(f64, f64)>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let me = std::process::id();
    let cpu0 = usage(me).map_or(0.0, |u| u.2);
    let t0 = Instant::now();
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(n));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..depth {
        let (call, left) = (call.clone(), left.clone());
        tasks.spawn(async move {
            while left
                .fetch_update(
                    std::sync::atomic::Ordering::AcqRel,
                    std::sync::atomic::Ordering::Acquire,
                    |l| l.checked_sub(1),
                )
                .is_ok()
            {
                call().await?;
            }
            Ok::<_, NodeError>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(bench_err)??;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = usage(me).map_or(0.0, |u| u.2) - cpu0;
    Ok((n as f64 / secs, cpu * 1e6 / n as f64))
}

/// Measures the [`Floor`] in `dir` over `n` exchanges of each kind, with the ceiling measured
/// before.
async fn measure_floor(dir: &Path, ceiling: &Ceiling, n: usize) -> Result<Floor> {
    let net = lu_and_fr(dir)?;

    // QUIC: the receiver answers each stream's frame with a receipt-sized frame.
    let (server, addr, client) = quic_pair(&net)?;
    let serving = tokio::spawn(async move {
        let Some(incoming) = server.accept().await else {
            return;
        };
        let Ok(conn) = incoming.await else {
            return;
        };
        while let Ok((mut send, mut recv)) = conn.accept_bi().await {
            tokio::spawn(async move {
                if poc247_node::wire::transport::read_frame(&mut recv, 1 << 20)
                    .await
                    .is_ok()
                {
                    let _ =
                        poc247_node::wire::transport::write_frame(&mut send, &[0x22; 160]).await;
                }
            });
        }
        drop(server);
    });
    let conn = client
        .connect(addr, &PartyId::parse("LU").map_err(bench_err)?.dns_name())
        .map_err(bench_err)?
        .await
        .map_err(bench_err)?;
    let frame = Arc::new(vec![0x5au8; 2100]);
    let quic_call = {
        let conn = conn.clone();
        move || {
            let (conn, frame) = (conn.clone(), frame.clone());
            async move {
                let (mut send, mut recv) = conn.open_bi().await.map_err(bench_err)?;
                poc247_node::wire::transport::write_frame(&mut send, &frame)
                    .await
                    .map_err(bench_err)?;
                poc247_node::wire::transport::read_frame(&mut recv, 1 << 20)
                    .await
                    .map_err(bench_err)?;
                Ok(())
            }
        }
    };
    let quic_p50_us = median_us(LATENCY_CALLS, &quic_call).await?;
    let (quic_per_s, quic_cpu_us) = rate_and_cpu(n, 64, quic_call).await?;
    conn.close(0u32.into(), b"done");
    client.wait_idle().await;
    serving.abort();

    // HTTP: the control API's stack (axum, hyper, a Unix socket) and its client.
    let sock = dir.join("floor.sock");
    let listener = tokio::net::UnixListener::bind(&sock).map_err(|e| NodeError::io(&sock, e))?;
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/v1/requests",
        post(|axum::Json(v): axum::Json<Value>| async move {
            let answer = json!({
                "case_ref": "LU-2026-000001",
                "message_id": "01a20803-5f95-70ff-ac10-8990fea24647",
                "kind": "preservation",
                "fields": v.as_object().map_or(0, |o| o.len()),
            });
            (axum::http::StatusCode::CREATED, axum::Json(answer))
        }),
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let api = ControlClient::new(&sock);
    let body = Arc::new(request_body());
    let http_call = move || {
        let (api, body) = (api.clone(), body.clone());
        async move {
            let r = api.post("/v1/requests", &body).await.map_err(bench_err)?;
            if r.status != 201 {
                return Err(bench_err(format!("floor POST answered {}", r.status)));
            }
            Ok(())
        }
    };
    let http_p50_us = median_us(LATENCY_CALLS, &http_call).await?;
    let (http_per_s, http_cpu_us) = rate_and_cpu(n, 64, http_call).await?;
    server.abort();

    let state_change_us = 1e6 / ceiling.sled_batched_changes_per_s;
    let per_request_us = 2.0 * ceiling.sign_2k_us
        + 2.0 * ceiling.verify_strict_2k_us
        + 3.0 * state_change_us
        + quic_cpu_us
        + http_cpu_us;
    let rest_us =
        2.0 * ceiling.sign_2k_us + 2.0 * ceiling.verify_strict_2k_us + quic_p50_us + http_p50_us;
    let single_request_us = 3.0 * ceiling.sled_insert_flush_p50_us + rest_us;
    let single_request_changes_us = 3.0 * ceiling.sled_change_flush_p50_us + rest_us;
    Ok(Floor {
        quic_exchanges_per_s: quic_per_s,
        quic_cpu_us,
        quic_p50_us,
        http_posts_per_s: http_per_s,
        http_cpu_us,
        http_p50_us,
        state_change_us,
        per_request_us,
        requests_per_s: ceiling.cores as f64 * 1e6 / per_request_us,
        single_request_us,
        single_request_changes_us,
    })
}

/// Store flushes so far at LU and FR, from their `/metrics`.
async fn flushes(lu: &Proc, fr: &Proc) -> [u64; 2] {
    let mut out = [0; 2];
    for (slot, p) in out.iter_mut().zip([lu, fr]) {
        if let Ok(r) = p.client.get_text("/metrics").await {
            *slot = r
                .text
                .lines()
                .find_map(|l| l.strip_prefix("poc247_store_flushes_total "))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
        }
    }
    out
}

fn per_request(before: [u64; 2], after: [u64; 2], requests: usize) -> [f64; 2] {
    let n = requests.max(1) as f64;
    [
        after[0].saturating_sub(before[0]) as f64 / n,
        after[1].saturating_sub(before[1]) as f64 / n,
    ]
}

async fn open_loop(
    client: &ControlClient,
    deliveries: &Deliveries,
    rate: u32,
    secs: u64,
) -> Result<Offered> {
    let body = Arc::new(request_body());
    let n = (u64::from(rate) * secs) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        tick.tick().await;
        let (client, deliveries, body) = (client.clone(), deliveries.clone(), body.clone());
        tasks.spawn(async move { one(&client, &deliveries, &body).await });
    }
    let mut lat = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        lat.push(r.map_err(bench_err)??);
    }
    Ok(Offered {
        rate,
        offered: n,
        latency: latency(lat),
    })
}

pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The report as a table for people.
pub fn render(r: &BenchReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let c = &r.ceiling;
    let _ = writeln!(
        s,
        "poc247 bench ({} build) on {} × {}",
        r.profile, c.cores, r.cpu
    );
    let _ = writeln!(
        s,
        "ceiling: sign 2 KiB {:.1} µs, verify_strict {:.1} µs, disk write+fdatasync p50 {:.0} µs, \
         sled insert+flush p50 {:.0} µs, 64 inserts/flush {:.0}/s → {:.0} messages/s",
        c.sign_2k_us,
        c.verify_strict_2k_us,
        c.fdatasync_2k_p50_us,
        c.sled_insert_flush_p50_us,
        c.sled_grouped_inserts_per_s,
        c.messages_per_s
    );
    let _ = writeln!(
        s,
        "for comparison, not in the ceiling: sled 5-tree transactions, 64 per flush: {:.0}/s; \
         64 such changes in one transaction: {:.0}/s",
        c.sled_grouped_transactions_per_s, c.sled_batched_changes_per_s
    );
    let f = &r.floor;
    let _ = writeln!(
        s,
        "each alone: QUIC exchange (2 KiB frame, receipt back) p50 {:.0} µs, 64 in flight \
         {:.0}/s, {:.0} µs CPU; control-socket POST p50 {:.0} µs, 64 in flight {:.0}/s, {:.0} µs CPU",
        f.quic_p50_us,
        f.quic_exchanges_per_s,
        f.quic_cpu_us,
        f.http_p50_us,
        f.http_posts_per_s,
        f.http_cpu_us
    );
    let _ = writeln!(
        s,
        "floor per request: 2 signs + 2 verify_strict + 3 state changes ({:.0} µs each) + \
         1 QUIC exchange + 1 POST = {:.0} µs CPU → at most {:.0} requests/s on {} cores",
        f.state_change_us, f.per_request_us, f.requests_per_s, c.cores
    );
    let _ = writeln!(
        s,
        "floor of one request alone: 3 insert+flush + 2 signs + 2 verify_strict + 1 QUIC \
         exchange + 1 POST = {:.0} µs; with 3 state changes (5-tree transaction + flush, p50 \
         {:.0} µs) in place of the inserts: {:.0} µs",
        f.single_request_us, c.sled_change_flush_p50_us, f.single_request_changes_us
    );
    let l = &r.single;
    let _ = writeln!(
        s,
        "single in flight ({} requests): p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        l.samples, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
    );
    let _ = writeln!(
        s,
        "{:>9} {:>6} {:>10} {:>9} {:>9} {:>9} {:>16}",
        "in flight", "group", "req/s", "ceiling", "p50 ms", "p99 ms", "flushes/req LU FR"
    );
    for v in &r.levels {
        let _ = writeln!(
            s,
            "{:>9} {:>6} {:>10.0} {:>8.0}% {:>9.2} {:>9.2} {:>10.2} {:>5.2}",
            v.in_flight,
            if v.group_commit { "yes" } else { "no" },
            v.per_s,
            v.of_ceiling * 100.0,
            v.latency.p50_ms,
            v.latency.p99_ms,
            v.flushes_per_request[0],
            v.flushes_per_request[1]
        );
    }
    let o = &r.offered;
    let _ = writeln!(
        s,
        "{} requests/s offered ({} requests): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        o.rate, o.offered, o.latency.p50_ms, o.latency.p99_ms, o.latency.max_ms
    );
    for n in &r.nodes {
        let _ = writeln!(
            s,
            "node {}: idle RSS {:.1} MiB, peak RSS {:.1} MiB, CPU {:.2} s",
            n.party, n.idle_rss_mib, n.peak_rss_mib, n.cpu_s
        );
    }
    let _ = writeln!(s, "requests delivered in all: {}", r.total_delivered);
    s
}

/// What `poc247 bench --attachment SIZE` measured.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentBench {
    /// The attachment's size.
    pub bytes: u64,
    /// Hashing and copying it into the sender's folder (before the 201), seconds.
    pub intake_s: f64,
    /// From the 201 to the file complete and verified at the receiver, seconds.
    pub transfer_s: f64,
    /// Attachment throughput, MB/s (10^6 bytes).
    pub mb_per_s: f64,
    /// One raw QUIC stream between endpoints with the same certificates and transport
    /// settings on this machine, in the same run, MB/s.
    pub raw_quic_mb_per_s: f64,
    /// `mb_per_s / raw_quic_mb_per_s`.
    pub of_raw: f64,
    /// Peak RSS growth of the sending node during the transfer, MiB.
    pub sender_rss_growth_mib: f64,
    /// Peak RSS growth of the receiving node during the transfer, MiB.
    pub receiver_rss_growth_mib: f64,
}

/// Sizes such as `1GiB`, `64MiB`, `500MB`, `4096`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult).filter(|&b| b > 0)
}

/// Measures one attachment of `bytes` from FR to LU, two node processes on loopback, and a raw
/// QUIC stream in the same run.
pub async fn attachment(
    exe: &Path,
    bytes: u64,
    progress: impl Fn(&str),
) -> Result<AttachmentBench> {
    let tmp = std::env::temp_dir().join(format!("poc247-bench-att-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| NodeError::io(&tmp, e))?;
    let result = attachment_in(exe, bytes, &tmp, &progress).await;
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn write_random(path: &Path, bytes: u64) -> Result<()> {
    use rand::RngCore;
    use std::io::Write;
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| NodeError::io(path, e))?);
    let mut buf = vec![0u8; 1 << 20];
    let mut rng = rand::thread_rng();
    let mut left = bytes;
    while left > 0 {
        rng.fill_bytes(&mut buf);
        let n = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        f.write_all(buf.get(..n).unwrap_or_default())
            .map_err(|e| NodeError::io(path, e))?;
        left -= n as u64;
    }
    f.flush().map_err(|e| NodeError::io(path, e))
}

async fn attachment_in(
    exe: &Path,
    bytes: u64,
    tmp: &Path,
    progress: &impl Fn(&str),
) -> Result<AttachmentBench> {
    let file = tmp.join("evidence.bin");
    progress(&format!("writing {bytes} random bytes"));
    write_random(&file, bytes)?;
    let net = lu_and_fr(tmp)?;
    for p in ["lu", "fr"] {
        // Large attachments are the point here; FR reads the file from the bench's folder.
        let path = tmp.join("net").join(p).join("node.toml");
        let mut text = std::fs::read_to_string(&path).map_err(|e| NodeError::io(&path, e))?;
        text.push_str(&format!(
            "\n[attachments]\nmax_file_bytes = {bytes}\nmax_case_bytes = {bytes}\n\
             read_from = [{:?}]\n",
            tmp.display().to_string()
        ));
        std::fs::write(&path, text).map_err(|e| NodeError::io(&path, e))?;
    }
    progress("starting LU and FR as two processes");
    let fr = spawn_node(exe, &net, "FR", &tmp.join("fr.log")).await?;
    let lu = spawn_node(exe, &net, "LU", &tmp.join("lu.log")).await?;
    let outcome = attachment_run(&net, &lu, &fr, &file, bytes, progress).await;
    lu.stop().await;
    fr.stop().await;
    let mut r = outcome?;
    progress("one raw QUIC stream of the same size");
    r.raw_quic_mb_per_s = tokio::time::timeout(Duration::from_secs(600), raw_quic(&net, bytes))
        .await
        .map_err(|_| bench_err("the raw QUIC stream did not finish in 600 s"))??;
    r.of_raw = r.mb_per_s / r.raw_quic_mb_per_s;
    Ok(r)
}

async fn attachment_run(
    net: &LocalNetwork,
    lu: &Proc,
    fr: &Proc,
    file: &Path,
    bytes: u64,
    progress: &impl Fn(&str),
) -> Result<AttachmentBench> {
    let assist = json!({ "kind": "assistance", "to": "FR", "urgency": "routine", "language": "fr",
        "fields": { "requesting_authority": "bench", "assistance_type": "technical_advice",
            "question": "bench", "offence": "bench" } });
    let r = lu
        .client
        .post("/v1/requests", &assist)
        .await
        .map_err(bench_err)?;
    if !r.status.is_success() {
        return Err(bench_err(format!("request refused: {}", r.body)));
    }
    let case = r.body["case_ref"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fr
        .client
        .get(&format!("/v1/cases/{case}"))
        .await
        .is_ok_and(|r| r.status.is_success())
    {
        if Instant::now() > deadline {
            return Err(bench_err("FR never received the request"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pids = (lu.pid(), fr.pid());
    let base = |pid: Option<u32>| pid.and_then(usage).map_or(0.0, |u| u.0);
    let (lu_base, fr_base) = (base(pids.0), base(pids.1));
    let peaks = Arc::new(Mutex::new((lu_base, fr_base)));
    let stop = tokio_util::sync::CancellationToken::new();
    let sampler = {
        let (peaks, stop) = (peaks.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let now = (base(pids.0), base(pids.1));
                if let Ok(mut p) = peaks.lock() {
                    p.0 = p.0.max(now.0);
                    p.1 = p.1.max(now.1);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    progress("FR sends the results with the attachment");
    let t0 = Instant::now();
    let body = json!({ "fields": { "summary": "bench" }, "attachments": [file] });
    let r = fr
        .client
        .post(&format!("/v1/cases/{case}/results"), &body)
        .await
        .map_err(bench_err)?;
    if !r.status.is_success() {
        stop.cancel();
        return Err(bench_err(format!("results refused: {}", r.body)));
    }
    let t1 = Instant::now();
    let text = fr
        .client
        .get(&format!("/v1/cases/{case}"))
        .await
        .map_err(bench_err)?
        .body
        .to_string();
    let sha = text
        .split("\"sha256\":\"")
        .nth(1)
        .and_then(|s| s.get(..64))
        .unwrap_or_default()
        .to_owned();
    let lu_cfg = net.config(&PartyId::parse("LU").map_err(bench_err)?)?;
    let done = lu_cfg.data_dir.join("attachments").join(&sha);
    let deadline = Instant::now() + Duration::from_secs(600);
    while !done.is_file() {
        if Instant::now() > deadline {
            stop.cancel();
            return Err(bench_err("the attachment never arrived"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let t2 = Instant::now();
    stop.cancel();
    let _ = sampler.await;
    let (lu_peak, fr_peak) = peaks.lock().map(|p| *p).unwrap_or_default();
    let transfer_s = t2.duration_since(t1).as_secs_f64();
    Ok(AttachmentBench {
        bytes,
        intake_s: t1.duration_since(t0).as_secs_f64(),
        transfer_s,
        mb_per_s: bytes as f64 / 1e6 / transfer_s,
        raw_quic_mb_per_s: 0.0,
        of_raw: 0.0,
        sender_rss_growth_mib: fr_peak - fr_base,
        receiver_rss_growth_mib: lu_peak - lu_base,
    })
}

/// A server endpoint with LU's certificate, its address, and a client endpoint with FR's,
/// with the nodes' TLS and transport settings and sockets sized as a node sizes its own.
fn quic_pair(
    net: &LocalNetwork,
) -> Result<(quinn::Endpoint, std::net::SocketAddr, quinn::Endpoint)> {
    let lu = net.config(&PartyId::parse("LU").map_err(bench_err)?)?;
    let fr = net.config(&PartyId::parse("FR").map_err(bench_err)?)?;
    let server_cfg =
        poc247_node::wire::tls::server_config(&poc247_node::wire::tls::load(&lu)?, 16)?;
    let client_cfg =
        poc247_node::wire::tls::client_config(&poc247_node::wire::tls::load(&fr)?, 16)?;
    // Sockets sized as a node sizes its own.
    let endpoint = |server: Option<quinn::ServerConfig>| -> Result<quinn::Endpoint> {
        let socket = std::net::UdpSocket::bind(("127.0.0.1", 0)).map_err(bench_err)?;
        poc247_node::wire::transport::size_udp_buffers(&socket);
        let runtime = quinn::default_runtime().ok_or_else(|| bench_err("no async runtime"))?;
        quinn::Endpoint::new(quinn::EndpointConfig::default(), server, socket, runtime)
            .map_err(bench_err)
    };
    let server = endpoint(Some(server_cfg))?;
    let addr = server.local_addr().map_err(bench_err)?;
    let mut client = endpoint(None)?;
    client.set_default_client_config(client_cfg);
    Ok((server, addr, client))
}

/// One QUIC stream of `bytes` from an endpoint with FR's certificate to one with LU's, the
/// same TLS and transport settings as the nodes, in this process: MB/s.
async fn raw_quic(net: &LocalNetwork, bytes: u64) -> Result<f64> {
    let (server, addr, client) = quic_pair(net)?;
    let accept = tokio::spawn(async move {
        let conn = server.accept().await?.await.ok()?;
        // The nodes' transport allows bidirectional streams only.
        let (_send, mut recv) = conn.accept_bi().await.ok()?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0u64;
        while let Ok(Some(n)) = recv.read(&mut buf).await {
            got += n as u64;
        }
        Some((got, conn, server))
    });
    let conn = client
        .connect(addr, &PartyId::parse("LU").map_err(bench_err)?.dns_name())
        .map_err(bench_err)?
        .await
        .map_err(bench_err)?;
    let t0 = Instant::now();
    let (mut send, _recv) = conn.open_bi().await.map_err(bench_err)?;
    let chunk = vec![0x5au8; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
        send.write_all(chunk.get(..n).unwrap_or_default())
            .await
            .map_err(bench_err)?;
        left -= n as u64;
    }
    send.finish().map_err(bench_err)?;
    let (got, _conn, _server) = accept
        .await
        .map_err(bench_err)?
        .ok_or_else(|| bench_err("raw stream failed"))?;
    let secs = t0.elapsed().as_secs_f64();
    conn.close(0u32.into(), b"done");
    if got != bytes {
        return Err(bench_err(format!(
            "raw stream carried {got} of {bytes} bytes"
        )));
    }
    Ok(bytes as f64 / 1e6 / secs)
}

/// The attachment figures as a short table.
pub fn render_attachment(r: &AttachmentBench) -> String {
    format!(
        "attachment of {} bytes, FR -> LU, two node processes on loopback\n\
         intake (hash + copy before the 201)  {:>8.2} s\n\
         transfer (201 -> verified at LU)     {:>8.2} s  {:>8.1} MB/s\n\
         raw QUIC stream, same run            {:>19.1} MB/s\n\
         attachment / raw                     {:>18.0} %\n\
         peak RSS growth: sender {:.1} MiB, receiver {:.1} MiB\n",
        r.bytes,
        r.intake_s,
        r.transfer_s,
        r.mb_per_s,
        r.raw_quic_mb_per_s,
        r.of_raw * 100.0,
        r.sender_rss_growth_mib,
        r.receiver_rss_growth_mib
    )
}
