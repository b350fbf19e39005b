//! Runs of real `poc247 run` processes under faults, and the checks of what their stores hold
//! afterwards: LU takes requests through its control API while LU (the sender) and FR (the
//! receiver) are, at seeded random moments, SIGKILLed or cut from power, and restarted. Once
//! LU's outbox has drained and both nodes stopped cleanly, their sled stores are opened in
//! this process and checked: every request the API accepted is in FR's store exactly once, LU
//! holds a receipt for it that verifies against FR's key and is the one FR stored, nothing
//! reached FR that LU does not hold, each is audited once on each side, and both audit chains
//! verify.
//!
//! A power cut ([`Fault::PowerCut`]) puts each node's data folder on a [`Disk`]: the disk
//! stops answering, the process is SIGKILLed, and the disk comes back with only what was
//! synced. A SIGKILL alone leaves every write in the kernel's page cache, so only the power cut
//! shows what a receipt given before an `fdatasync` would lose.
//!
//! The seed is printed; `POC247_CRASH_SEED=<n>` replays a schedule. The retry timescale is
//! compressed (retries at most 1 s apart, an attempt abandoned after 2 s, instead of 30 s and
//! 10 s) so that the nodes recover from each fault in seconds.

use crate::powercut::{Disk, DiskStats};
use crate::procs::NodeProcess;
use crate::{party, preservation_request};
use anyhow::{anyhow, bail, ensure, Context, Result};
use poc247_api::client::{ClientError, ControlClient};
use poc247_node::config::StoreSettings;
use poc247_node::lifecycle::{CaseRecord, CaseState, Role};
use poc247_node::store::{DeliveryState, Direction, Store, StoredMessage};
use poc247_node::{Directory, LoadDirectory, NodeConfig};
use poc247_protocol::{envelope_sha256, CaseRef, MessageId};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A seed for runs whose test names none of its own.
pub const DEFAULT_SEED: u64 = 0x2001_1123; // Budapest, 23 November 2001

/// Appended to each generated `node.toml`: the compressed retry timescale.
const DELIVERY_SETTINGS: &str = "
[delivery]
initial_backoff_ms = 50
max_backoff_ms = 1000
attempt_timeout_ms = 2000
";

/// How long a clean stop may take.
const STOP_LIMIT: Duration = Duration::from_secs(20);

/// What a fault does to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL: the process dies, the kernel keeps everything it wrote.
    Sigkill,
    /// A power cut: the node's data folder is on a [`Disk`] that stops answering, the process
    /// is SIGKILLed, and the disk comes back with only what was synced.
    PowerCut,
}

/// Which nodes the faults hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Victims {
    /// LU and FR in turn, LU first and FR last.
    Both,
    /// FR only.
    Receiver,
    /// LU only.
    Sender,
}

/// The size and shape of one run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Requests to have accepted by the API.
    pub requests: usize,
    /// Of every `large_of` requests, `large` carry two 30,000-character fields (about 60 KiB
    /// stored), so that sled writes pages too large for its log to files of their own.
    pub large: usize,
    /// See `large`; 0 for none.
    pub large_of: usize,
    /// What a fault does.
    pub fault: Fault,
    /// Whom the faults hit.
    pub victims: Victims,
    /// Faults per victim.
    pub kills_each: usize,
    /// Concurrent submitters.
    pub concurrency: usize,
    /// Longest a killed node stays down before its restart, in ms.
    pub max_down_ms: u64,
    /// Longest the submissions may stall (LU refusing or down) before the run fails.
    pub stall: Duration,
    /// Longest the outbox may take to drain after the schedule.
    pub drain: Duration,
}

/// xorshift64*: a small generator whose sequence the seed fixes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The seed of this run: `POC247_CRASH_SEED` (decimal or `0x` hex) or `default`.
fn seed(default: u64) -> u64 {
    let Ok(s) = std::env::var("POC247_CRASH_SEED") else {
        return default;
    };
    let s = s.trim();
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("POC247_CRASH_SEED={s:?} is not a u64: {e}"))
}

/// Which node a kill hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    /// FR, the receiver.
    Receiver,
    /// LU, the sender, whose API takes the requests.
    Sender,
}

/// One kill of the schedule.
#[derive(Debug, Clone, Copy)]
struct Kill {
    victim: Victim,
    /// Once this many requests were accepted…
    after_accepted: usize,
    /// …and this much longer, in ms, the node is killed…
    jitter_ms: u64,
    /// …and restarted after this many ms.
    down_ms: u64,
}

/// The kills, one at a random point of each of as many equal stretches of the submissions
/// (between 5 % and 95 % of them). With both victims, `2 × kills_each` kills, sender and
/// receiver in turn: the receiver is killed last, so that the sender, not restarted since, must
/// find it again by itself.
fn schedule(plan: &Plan, rng: &mut Rng) -> Vec<Kill> {
    let n = match plan.victims {
        Victims::Both => 2 * plan.kills_each,
        Victims::Receiver | Victims::Sender => plan.kills_each,
    };
    let first = plan.requests / 20;
    let stretch = (plan.requests * 9 / 10 / n.max(1)).max(1);
    (0..n)
        .map(|i| Kill {
            victim: match plan.victims {
                Victims::Both if i % 2 == 1 => Victim::Receiver,
                Victims::Both | Victims::Sender => Victim::Sender,
                Victims::Receiver => Victim::Receiver,
            },
            after_accepted: first + i * stretch + rng.below(stretch as u64) as usize,
            jitter_ms: rng.below(25),
            down_ms: rng.below(plan.max_down_ms + 1),
        })
        .collect()
}

/// What the API answered to the submitters.
#[derive(Debug, Default)]
pub struct Tally {
    /// 201: message id and case reference.
    accepted: Vec<(MessageId, CaseRef)>,
    /// The connection broke during the call: the request may or may not be stored.
    in_doubt: usize,
    /// Nobody listened: the request never reached LU.
    unreachable: usize,
    /// 507: the node could not store it (its disk was cut a moment before its process was
    /// killed); tried again.
    storage_refused: usize,
    /// Any other answer (none is expected).
    refused: Vec<String>,
}

/// A preservation request to `to` whose facts and data are 30,000 characters each.
pub fn large_preservation_request(to: &str) -> Value {
    let mut body = preservation_request(to);
    body["fields"]["facts"] = Value::from("f".repeat(30_000));
    body["fields"]["data"] = Value::from("d".repeat(30_000));
    body
}

/// Posts requests to LU until `target` were accepted (counted in `count`). A submitter posts
/// only with one of the `slots` left in hand, and gives it back when its call was not
/// accepted, so that exactly `target` are. The slot's number chooses a small or a large
/// request (`plan.large` of every `plan.large_of`).
async fn submitter(
    client: ControlClient,
    plan: Plan,
    slots: Arc<AtomicUsize>,
    tally: Arc<Mutex<Tally>>,
    count: Arc<watch::Sender<usize>>,
) {
    let small = preservation_request("FR");
    let large = large_preservation_request("FR");
    while let Ok(slot) =
        slots.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
    {
        let body = if plan.large_of > 0 && slot % plan.large_of < plan.large {
            &large
        } else {
            &small
        };
        match client.post("/v1/requests", body).await {
            Ok(r) if r.status.as_u16() == 201 => {
                let id: MessageId = r.body["message_id"].as_str().unwrap().parse().unwrap();
                let case = CaseRef::parse(r.body["case_ref"].as_str().unwrap()).unwrap();
                tally.lock().unwrap().accepted.push((id, case));
                count.send_modify(|n| *n += 1);
            }
            Ok(r) if r.status.as_u16() == 507 => {
                slots.fetch_add(1, Ordering::SeqCst);
                tally.lock().unwrap().storage_refused += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(r) => {
                let refusal = format!("{} {}", r.status, r.body);
                tally.lock().unwrap().refused.push(refusal);
                return;
            }
            Err(e) => {
                slots.fetch_add(1, Ordering::SeqCst);
                match e {
                    ClientError::Unreachable { .. } => tally.lock().unwrap().unreachable += 1,
                    ClientError::Protocol(_) => tally.lock().unwrap().in_doubt += 1,
                }
                // LU is down or dying; the controller restarts it.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Waits until LU's outbox is empty: follows its `delivered` events, and asks its status again
/// whenever as many arrived as the outbox held (or none came for a second, as events may be
/// dropped for a slow reader). A `delivery_failed` event fails the run.
pub async fn wait_outbox_empty(lu: &ControlClient, limit: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut events = lu.events().await?;
    loop {
        let status = lu.get("/v1/status").await?;
        let mut left = status.body["outbox_queued"]
            .as_u64()
            .with_context(|| format!("status without outbox_queued: {}", status.body))?;
        if left == 0 {
            return Ok(());
        }
        while left > 0 {
            if tokio::time::Instant::now() >= deadline {
                bail!("LU's outbox still holds {left} messages after {limit:?}");
            }
            let next = tokio::time::timeout(Duration::from_secs(1), events.next()).await;
            let Ok(next) = next else { break };
            let ev = next.context("LU's event stream ended")??;
            match ev["type"].as_str() {
                Some("delivered") => left -= 1,
                Some("delivery_failed") => {
                    bail!("FR refused {} for good: {}", ev["message_id"], ev["reason"])
                }
                _ => {}
            }
        }
    }
}

/// What a run did, for the summary line.
#[derive(Debug)]
pub struct Summary {
    accepted: usize,
    stored_unanswered: usize,
    in_doubt: usize,
    unreachable: usize,
    storage_refused: usize,
    kills_fr: usize,
    kills_lu: usize,
    /// LU's outbox at each kill: what was on its way when a node died.
    queued_at_kills: Vec<u64>,
    submit: Duration,
    drain: Duration,
    /// What the disks counted (power cuts only): LU's, then FR's.
    disks: Option<(DiskStats, DiskStats)>,
}

/// LU and FR of `bin` under `tmp`; for a power cut, each with its data folder on a disk of its
/// own (mounted where its `node.toml` puts it) and its control socket beside it.
pub fn pair(fault: Fault, bin: &Path, tmp: &Path) -> Result<(NodeProcess, NodeProcess, Disks)> {
    let extra = |p: &str| match fault {
        Fault::Sigkill => DELIVERY_SETTINGS.to_owned(),
        Fault::PowerCut => {
            let socket = tmp.join(format!("{p}.sock"));
            format!("{DELIVERY_SETTINGS}\n[control]\nsocket = {:?}\n", socket)
        }
    };
    let (lu, fr) = crate::procs::lu_fr_pair_each(bin, tmp, extra)?;
    let disks = match fault {
        Fault::Sigkill => None,
        Fault::PowerCut => {
            // The new disk hides what the network's preparation wrote to the data folder: the
            // directory version is installed on it again, as `directory apply --offline` does.
            let mount = |n: &NodeProcess| -> Result<Disk> {
                let cfg = n.config();
                let dir = &cfg.data_dir;
                std::fs::create_dir_all(dir)?;
                let version = poc247_node::peers::version_in_force(cfg)
                    .map_err(anyhow::Error::msg)?
                    .context("no directory version in force")?;
                let disk = Disk::mount(dir).with_context(|| {
                    format!("mount the power-cut disk on {} (FUSE)", dir.display())
                })?;
                let registry = cfg.registry_key;
                let me = poc247_node::keys::load_signing_key(&cfg.signing_key)?.verifying_key();
                poc247_node::peers::install_version(cfg, &registry, &me, &version)
                    .map_err(anyhow::Error::msg)?;
                Ok(disk)
            };
            Some((mount(&lu)?, mount(&fr)?))
        }
    };
    Ok((lu, fr, disks))
}

/// LU's and FR's disks, for a power cut.
pub type Disks = Option<(Disk, Disk)>;

/// Ends `node`'s process by `fault`: SIGKILL, or a power cut of its disk around the SIGKILL.
pub async fn fault(node: &mut NodeProcess, disk: Option<&Disk>) -> Result<()> {
    match disk {
        None => node.kill().await,
        Some(disk) => {
            disk.power_cut();
            let killed = node.kill().await;
            disk.power_on();
            killed
        }
    }
}

/// Runs the schedule of `seed` under `tmp` with the nodes of `bin`, and checks the stores.
async fn crash_run(plan: Plan, seed: u64, bin: &Path, tmp: &Path) -> Result<Summary> {
    let (mut lu, mut fr, disks) = pair(plan.fault, bin, tmp)?;
    fr.start(None).await?;
    lu.start(None).await?;

    let mut rng = Rng::new(seed);
    let kills = schedule(&plan, &mut rng);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let (count_tx, mut count_rx) = watch::channel(0usize);
    let count = Arc::new(count_tx);
    let slots = Arc::new(AtomicUsize::new(plan.requests));
    let started = Instant::now();
    let submitters: Vec<_> = (0..plan.concurrency)
        .map(|_| {
            tokio::spawn(submitter(
                lu.client(),
                plan,
                slots.clone(),
                tally.clone(),
                count.clone(),
            ))
        })
        .collect();

    let (mut kills_fr, mut kills_lu) = (0, 0);
    let mut queued_at_kills = Vec::new();
    for k in &kills {
        // `wait_for` answers with a read guard of the count: drop it at once, as the
        // submitters write the count.
        let reached = tokio::time::timeout(plan.stall, async {
            count_rx.wait_for(|n| *n >= k.after_accepted).await.is_ok()
        })
        .await;
        if reached != Ok(true) {
            let t = tally.lock().unwrap();
            bail!(
                "submissions stalled at {} of {} accepted (refused: {:?})",
                t.accepted.len(),
                plan.requests,
                t.refused
            );
        }
        tokio::time::sleep(Duration::from_millis(k.jitter_ms)).await;
        let status = lu.client().get("/v1/status").await?;
        queued_at_kills.push(status.body["outbox_queued"].as_u64().unwrap_or(0));
        let (node, disk) = match k.victim {
            Victim::Receiver => {
                kills_fr += 1;
                (&mut fr, disks.as_ref().map(|d| &d.1))
            }
            Victim::Sender => {
                kills_lu += 1;
                (&mut lu, disks.as_ref().map(|d| &d.0))
            }
        };
        fault(node, disk).await?;
        tokio::time::sleep(Duration::from_millis(k.down_ms)).await;
        node.start(None).await?;
    }
    for s in submitters {
        tokio::time::timeout(plan.stall, s)
            .await
            .map_err(|_| anyhow!("a submitter did not finish within {:?}", plan.stall))??;
    }
    let submit = started.elapsed();
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    ensure!(
        tally.refused.is_empty(),
        "LU's API refused valid requests: {:?}",
        tally.refused
    );

    let drain_started = Instant::now();
    wait_outbox_empty(&lu.client(), plan.drain).await?;
    let drain = drain_started.elapsed();
    for node in [&mut lu, &mut fr] {
        let status = node.stop(STOP_LIMIT).await?;
        ensure!(
            status.success(),
            "{} exited with {status} after SIGTERM",
            node.party()
        );
    }

    let lu_cfg = lu.config().clone();
    let fr_cfg = fr.config().clone();
    let stored_unanswered = check_stores(&lu_cfg, &fr_cfg, &tally).await?;
    Ok(Summary {
        accepted: tally.accepted.len(),
        stored_unanswered,
        in_doubt: tally.in_doubt,
        unreachable: tally.unreachable,
        storage_refused: tally.storage_refused,
        kills_fr,
        kills_lu,
        queued_at_kills,
        submit,
        drain,
        disks: disks.as_ref().map(|(l, f)| (l.stats(), f.stats())),
    })
}

/// One node's store, read offline.
struct Contents {
    /// Every case, with its single message.
    cases: BTreeMap<CaseRef, (CaseRecord, StoredMessage)>,
    /// Case of each message id.
    by_id: HashMap<MessageId, CaseRef>,
    /// How many audit entries of each (event, message id).
    audit: HashMap<(String, MessageId), usize>,
    /// Messages in the `messages` tree.
    message_count: usize,
    /// Outbox entries.
    outbox: usize,
}

/// Opens `cfg`'s store, checks its audit chain and that each case holds exactly one message
/// of the role's direction, and reads it all.
async fn read_store(cfg: &NodeConfig, role: Role) -> Result<Contents> {
    let key = poc247_node::keys::load_signing_key(&cfg.signing_key)?;
    let (store, committer) = Store::open_with(
        &cfg.data_dir,
        &StoreSettings::default(),
        &cfg.deadlines,
        key.clone(),
    )?;
    let party = &cfg.party;
    // The index of deadlines was written in each change's transaction: exact after every
    // fault, as the store opens it (with the node's settings, so not built again here).
    ensure!(
        store.check_deadline_index()?.is_none(),
        "{party}'s index of deadlines differs from its cases: {:?}",
        store.check_deadline_index()?
    );
    let verification = store.verify_audit(&key.verifying_key())?;
    ensure!(
        verification.broken.is_none(),
        "{party}'s audit chain is broken: {:?}",
        verification.broken
    );
    let direction = match role {
        Role::Requester => Direction::Outbound,
        Role::Requested => Direction::Inbound,
    };
    let mut cases = BTreeMap::new();
    let mut by_id = HashMap::new();
    for case in store.cases()? {
        ensure!(case.role == role, "{party} holds {case:?} in another role");
        let [id] = case.messages[..] else {
            bail!(
                "{party}'s case {} holds {} messages: {:?}",
                case.case_ref,
                case.messages.len(),
                case.messages
            );
        };
        let msg = store
            .message(id)?
            .with_context(|| format!("{party}'s case {} names {id}, not stored", case.case_ref))?;
        ensure!(
            msg.direction == direction && msg.case_ref == case.case_ref,
            "{party}: message {id} is {:?} of case {}, listed in case {}",
            msg.direction,
            msg.case_ref,
            case.case_ref
        );
        if let Some(other) = by_id.insert(id, case.case_ref.clone()) {
            bail!(
                "{party}: message {id} is in cases {other} and {}",
                case.case_ref
            );
        }
        cases.insert(case.case_ref.clone(), (case, msg));
    }
    let mut audit = HashMap::new();
    for e in store.audit_entries(1, usize::MAX)? {
        if let Some(id) = e.message_id {
            // `queued:preservation` counts as `queued`: the kind follows the event's name.
            let event = e.event.split(':').next().unwrap_or_default().to_owned();
            *audit.entry((event, id)).or_insert(0) += 1;
        }
    }
    let contents = Contents {
        message_count: store.message_count(),
        outbox: store.outbox()?.len(),
        cases,
        by_id,
        audit,
    };
    drop(store);
    committer.await?;
    Ok(contents)
}

/// The offline checks; returns how many requests LU stored and sent although their caller got
/// no answer.
async fn check_stores(lu_cfg: &NodeConfig, fr_cfg: &NodeConfig, tally: &Tally) -> Result<usize> {
    let directory = Directory::load(&lu_cfg.directory)?;
    let fr = party("FR");
    let fr_key = directory
        .get(&fr)
        .context("FR not in the directory")?
        .signing_key;
    let at_lu = read_store(lu_cfg, Role::Requester).await?;
    let at_fr = read_store(fr_cfg, Role::Requested).await?;

    // Nothing stored twice: one message per case, one case per message, no stray message.
    for (name, c) in [("LU", &at_lu), ("FR", &at_fr)] {
        ensure!(
            c.message_count == c.cases.len(),
            "{name} stores {} messages in {} cases",
            c.message_count,
            c.cases.len()
        );
    }
    ensure!(at_lu.outbox == 0, "LU's outbox holds {}", at_lu.outbox);

    // Every accepted request: at LU, delivered with a receipt that verifies; at FR, once.
    let mut seen = BTreeSet::new();
    for (id, case_ref) in &tally.accepted {
        ensure!(seen.insert(*id), "the API answered 201 twice for {id}");
        ensure!(
            at_lu.by_id.get(id) == Some(case_ref),
            "accepted {id} ({case_ref}) is not in LU's store as that case"
        );
        ensure!(
            at_fr.by_id.get(id) == Some(case_ref),
            "accepted {id} ({case_ref}) is not in FR's store (or in another case: {:?})",
            at_fr.by_id.get(id)
        );
    }

    // Every request LU holds, answered or not, went to FR exactly once and nothing else did.
    let lu_ids: BTreeSet<&MessageId> = at_lu.by_id.keys().collect();
    let fr_ids: BTreeSet<&MessageId> = at_fr.by_id.keys().collect();
    ensure!(
        lu_ids == fr_ids,
        "LU and FR hold different messages: only at LU {:?}, only at FR {:?}",
        lu_ids.difference(&fr_ids).collect::<Vec<_>>(),
        fr_ids.difference(&lu_ids).collect::<Vec<_>>()
    );
    let unanswered = lu_ids.len() - seen.len();
    ensure!(
        unanswered <= tally.in_doubt,
        "LU stores {unanswered} requests nobody was told of, but only {} calls broke off",
        tally.in_doubt
    );
    for (case_ref, (case, sent)) in &at_lu.cases {
        let id = sent.id;
        ensure!(
            sent.delivery == DeliveryState::Delivered && case.state == CaseState::Delivered,
            "LU: {id} of {case_ref} is {:?}, its case {:?}",
            sent.delivery,
            case.state
        );
        let receipt = sent
            .receipt
            .as_ref()
            .with_context(|| format!("LU: delivered {id} has no receipt"))?;
        receipt
            .verify(&fr, &fr_key, id, &envelope_sha256(&sent.envelope))
            .map_err(|e| anyhow!("LU: the receipt of {id} does not verify: {e}"))?;
        let (_, received) = &at_fr.cases[case_ref];
        ensure!(
            received.envelope == sent.envelope,
            "FR stores other bytes for {id}"
        );
        ensure!(
            received.delivery == DeliveryState::Received && received.from == party("LU"),
            "FR: {id} is {:?} from {}",
            received.delivery,
            received.from
        );
        ensure!(
            received.receipt.as_ref() == Some(receipt),
            "LU holds a receipt for {id} that FR's store does not: FR gave it before a flush \
             that never happened"
        );
        for (node, audit, event) in [
            ("LU", &at_lu.audit, "queued"),
            ("LU", &at_lu.audit, "delivered"),
            ("FR", &at_fr.audit, "received"),
        ] {
            let n = audit.get(&(event.to_owned(), id)).copied().unwrap_or(0);
            ensure!(
                n == 1,
                "{node}'s audit log records {event} of {id} {n} times"
            );
        }
    }
    Ok(unanswered)
}

/// Runs `plan` with the seed of the environment (or `default_seed`), prints a summary line, and
/// on failure keeps the folder with the nodes' logs and stores and names the seed.
pub async fn crash_test(plan: Plan, default_seed: u64, bin: &Path) -> Result<()> {
    let seed = seed(default_seed);
    eprintln!("crash: seed {seed} (POC247_CRASH_SEED={seed} replays it), {plan:?}");
    let tmp = tempfile::tempdir()?;
    let started = Instant::now();
    match crash_run(plan, seed, bin, tmp.path()).await {
        Ok(s) => {
            eprintln!(
                "crash: seed {seed}: {} accepted, {} more stored without an answer \
                 ({} calls broke off, {} found LU down), kills FR {} LU {} ({} with \
                 messages on their way, up to {}), {} answers 507 while a disk was cut, \
                 submit {:.1?}, drain {:.1?}, elapsed {:.1?}{}",
                s.accepted,
                s.stored_unanswered,
                s.in_doubt,
                s.unreachable,
                s.kills_fr,
                s.kills_lu,
                s.queued_at_kills.iter().filter(|q| **q > 0).count(),
                s.queued_at_kills.iter().max().unwrap_or(&0),
                s.storage_refused,
                s.submit,
                s.drain,
                started.elapsed(),
                match s.disks {
                    None => String::new(),
                    Some((l, f)) => format!("; disks: LU {l:?}, FR {f:?}"),
                }
            );
            Ok(())
        }
        Err(e) => {
            let kept = tmp.keep();
            for p in ["lu", "fr"] {
                let log =
                    std::fs::read_to_string(kept.join(format!("{p}.log"))).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                eprintln!(
                    "---- {p}.log (last 40 lines) ----\n{}",
                    lines[lines.len().saturating_sub(40)..].join("\n")
                );
            }
            Err(e.context(format!(
                "crash test failed with seed {seed} (rerun with POC247_CRASH_SEED={seed}); \
                 logs and stores kept in {}",
                kept.display()
            )))
        }
    }
}

/// Submits `body` to LU `n` times (each must be accepted) and waits until LU's outbox is
/// empty (at most `limit`).
pub async fn submit_and_deliver(
    lu: &ControlClient,
    body: &Value,
    n: usize,
    limit: Duration,
) -> Result<()> {
    for _ in 0..n {
        let r = lu.post("/v1/requests", body).await?;
        ensure!(r.status.as_u16() == 201, "{} {}", r.status, r.body);
    }
    wait_outbox_empty(lu, limit).await
}

/// Reads `events` until `attachment_delivered` for `sha` (at most `secs`); an
/// `attachment_failed` for it fails.
pub async fn attachment_delivered(
    events: &mut poc247_api::client::EventStream,
    sha: &str,
    secs: u64,
) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        let ev = crate::next_event(events, left.max(1)).await?;
        if ev["type"] == "attachment_delivered" && ev["sha256"] == sha {
            return Ok(ev);
        }
        ensure!(ev["type"] != "attachment_failed", "refused for good: {ev}");
    }
}

/// Checks each node's audit chain through its API (`GET /v1/audit/verify`).
pub async fn audit_chains_verify(nodes: &[&NodeProcess]) -> Result<()> {
    for node in nodes {
        let v = node.client().get("/v1/audit/verify").await?;
        ensure!(
            v.status.is_success() && v.body["broken"].is_null(),
            "{}'s audit chain: {}",
            node.party(),
            v.body
        );
    }
    Ok(())
}
