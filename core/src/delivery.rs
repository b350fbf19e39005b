//! The delivery engine, sans-IO: per-peer queues of outbound messages, capped exponential
//! backoff with jitter, an immediate retry when a peer is seen again, and a bound on messages
//! in flight per peer. The driver feeds it `now` and outcomes, and asks it what to send next.

use poc247_protocol::{MessageId, PartyId, UtcMs};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Retry policy.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// Delay before the first retry, in ms.
    pub initial_backoff_ms: u64,
    /// Longest delay between two attempts, in ms.
    pub max_backoff_ms: u64,
    /// Messages in flight to one peer at once.
    pub max_in_flight_per_peer: usize,
}

/// Retry settings of the delivery engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySettings {
    /// First retry delay, in milliseconds.
    pub initial_backoff_ms: u64,
    /// Longest delay between two attempts, in milliseconds (at most 30 s).
    pub max_backoff_ms: u64,
    /// Messages in flight to one peer at once.
    pub max_in_flight_per_peer: usize,
    /// How long one attempt may take, connection included, in milliseconds.
    pub attempt_timeout_ms: u64,
}
impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            initial_backoff_ms: 250,
            max_backoff_ms: 30_000,
            max_in_flight_per_peer: 256,
            attempt_timeout_ms: 10_000,
        }
    }
}

impl From<&DeliverySettings> for DeliveryPolicy {
    fn from(s: &DeliverySettings) -> Self {
        DeliveryPolicy {
            initial_backoff_ms: s.initial_backoff_ms,
            max_backoff_ms: s.max_backoff_ms,
            max_in_flight_per_peer: s.max_in_flight_per_peer,
        }
    }
}

/// An attempt the driver should make now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// To whom.
    pub peer: PartyId,
    /// Which message.
    pub id: MessageId,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A verified receipt was stored.
    Delivered,
    /// The attempt failed in a way worth retrying (no connection, timeout, `rate-limited`,
    /// `storage-unavailable`).
    Retry {
        /// Why, for logs.
        reason: String,
    },
    /// The peer refused the message for good.
    Final {
        /// Code and reason.
        reason: String,
    },
}

#[derive(Debug, Default)]
struct PeerQueue {
    /// Messages waiting, by the time they are due.
    waiting: BTreeSet<(UtcMs, MessageId)>,
    /// For each waiting message, when it is due and how many attempts it had.
    due: HashMap<MessageId, (UtcMs, u32)>,
    /// Messages being attempted now, with their attempt count.
    in_flight: HashMap<MessageId, u32>,
}

impl PeerQueue {
    fn len(&self) -> usize {
        self.due.len() + self.in_flight.len()
    }
}

/// The engine.
#[derive(Debug)]
pub struct Delivery {
    policy: DeliveryPolicy,
    peers: BTreeMap<PartyId, PeerQueue>,
    rng: u64,
}

impl Delivery {
    /// An empty engine; `seed` drives the jitter, so a test can replay a run.
    pub fn new(policy: DeliveryPolicy, seed: u64) -> Self {
        Delivery {
            policy,
            peers: BTreeMap::new(),
            rng: seed | 1,
        }
    }

    /// Queues a message for `peer`, due at once. Queuing one already queued does nothing.
    pub fn enqueue(&mut self, peer: PartyId, id: MessageId, now: UtcMs) {
        let q = self.peers.entry(peer).or_default();
        if q.due.contains_key(&id) || q.in_flight.contains_key(&id) {
            return;
        }
        q.due.insert(id, (now, 0));
        q.waiting.insert((now, id));
    }

    /// The next attempt to make at `now`, if any is due and the peer has room in flight.
    pub fn poll_transmit(&mut self, now: UtcMs) -> Option<Transmit> {
        let cap = self.policy.max_in_flight_per_peer;
        for (peer, q) in self.peers.iter_mut() {
            if q.in_flight.len() >= cap {
                continue;
            }
            let Some(&(due, id)) = q.waiting.first() else {
                continue;
            };
            if due > now {
                continue;
            }
            q.waiting.remove(&(due, id));
            let attempts = q.due.remove(&id).map_or(0, |(_, a)| a) + 1;
            q.in_flight.insert(id, attempts);
            return Some(Transmit {
                peer: peer.clone(),
                id,
                attempt: attempts,
            });
        }
        None
    }

    /// Records how an attempt ended. Returns `true` when the message left the engine
    /// (delivered, or refused for good).
    pub fn on_outcome(
        &mut self,
        peer: &PartyId,
        id: MessageId,
        outcome: &Outcome,
        now: UtcMs,
    ) -> bool {
        let Some(q) = self.peers.get_mut(peer) else {
            return false;
        };
        let Some(attempts) = q.in_flight.remove(&id) else {
            return false;
        };
        match outcome {
            Outcome::Delivered | Outcome::Final { .. } => true,
            Outcome::Retry { .. } => {
                let delay = backoff(&self.policy, attempts, &mut self.rng);
                let due = now.plus_ms(delay);
                q.due.insert(id, (due, attempts));
                q.waiting.insert((due, id));
                false
            }
        }
    }

    /// The peer was seen (it connected, or a handshake succeeded): its waiting messages are
    /// due at once.
    pub fn on_peer_seen(&mut self, peer: &PartyId, now: UtcMs) {
        if let Some(q) = self.peers.get_mut(peer) {
            let ids: Vec<(UtcMs, MessageId)> = q.waiting.iter().copied().collect();
            q.waiting.clear();
            for (_, id) in ids {
                let attempts = q.due.get(&id).map_or(0, |&(_, a)| a);
                q.due.insert(id, (now, attempts));
                q.waiting.insert((now, id));
            }
        }
    }

    /// Drops a message from the engine (its peer left the directory, or it was purged).
    pub fn remove(&mut self, peer: &PartyId, id: MessageId) {
        if let Some(q) = self.peers.get_mut(peer) {
            if let Some((due, _)) = q.due.remove(&id) {
                q.waiting.remove(&(due, id));
            }
            q.in_flight.remove(&id);
        }
    }

    /// When the engine next has something to do, if it is idle until then.
    pub fn poll_timeout(&self) -> Option<UtcMs> {
        self.peers
            .values()
            .filter(|q| q.in_flight.len() < self.policy.max_in_flight_per_peer)
            .filter_map(|q| q.waiting.first().map(|&(due, _)| due))
            .min()
    }

    /// Messages queued or in flight for `peer`.
    pub fn queue_depth(&self, peer: &PartyId) -> usize {
        self.peers.get(peer).map_or(0, PeerQueue::len)
    }

    /// Messages queued or in flight, all peers.
    pub fn total_depth(&self) -> usize {
        self.peers.values().map(PeerQueue::len).sum()
    }

    /// Whether `id` is waiting or in flight.
    pub fn contains(&self, id: MessageId) -> bool {
        self.peers
            .values()
            .any(|q| q.due.contains_key(&id) || q.in_flight.contains_key(&id))
    }

    /// Ids in flight now (for diagnostics).
    pub fn in_flight(&self) -> HashSet<MessageId> {
        self.peers
            .values()
            .flat_map(|q| q.in_flight.keys().copied())
            .collect()
    }
}

/// The delay after the `attempts`-th failed attempt: `initial × 2^(attempts−1)`, capped at
/// the maximum, with jitter drawn from its upper half.
fn backoff(p: &DeliveryPolicy, attempts: u32, rng: &mut u64) -> u64 {
    let exp = attempts.saturating_sub(1).min(32);
    let full = p
        .initial_backoff_ms
        .saturating_mul(1u64 << exp)
        .min(p.max_backoff_ms)
        .max(1);
    // xorshift64*: deterministic for a seed, no I/O.
    *rng ^= *rng >> 12;
    *rng ^= *rng << 25;
    *rng ^= *rng >> 27;
    let r = rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let half = full / 2;
    half + r % (full - half + 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn policy() -> DeliveryPolicy {
        DeliveryPolicy {
            initial_backoff_ms: 250,
            max_backoff_ms: 30_000,
            max_in_flight_per_peer: 2,
        }
    }
    fn fr() -> PartyId {
        PartyId::parse("FR").unwrap()
    }
    fn id(n: u64) -> MessageId {
        MessageId::new(UtcMs(n))
    }

    #[test]
    fn retries_back_off_exponentially_and_never_wait_more_than_30_s() {
        let mut d = Delivery::new(policy(), 42);
        let m = id(1);
        d.enqueue(fr(), m, UtcMs(0));
        let mut now = UtcMs(0);
        let mut last_gap = 0;
        for attempt in 1..=20u32 {
            let t = d.poll_transmit(now).unwrap();
            assert_eq!(t.attempt, attempt);
            assert!(!d.on_outcome(
                &fr(),
                m,
                &Outcome::Retry {
                    reason: "down".into()
                },
                now
            ));
            let due = d.poll_timeout().unwrap();
            let gap = due.since(now);
            assert!(gap <= 30_000, "gap {gap} at attempt {attempt}");
            if attempt <= 6 {
                assert!(gap >= last_gap / 2, "backoff grows");
            }
            assert!(
                d.poll_transmit(now.plus_ms(gap - 1)).is_none(),
                "not before due"
            );
            last_gap = gap;
            now = due;
        }
        assert!(
            last_gap >= 15_000,
            "capped near the maximum, got {last_gap}"
        );
    }

    #[test]
    fn seeing_the_peer_again_makes_its_queue_due_at_once() {
        let mut d = Delivery::new(policy(), 7);
        d.enqueue(fr(), id(1), UtcMs(0));
        let t = d.poll_transmit(UtcMs(0)).unwrap();
        d.on_outcome(
            &fr(),
            t.id,
            &Outcome::Retry { reason: "x".into() },
            UtcMs(0),
        );
        assert!(d.poll_transmit(UtcMs(1)).is_none());
        d.on_peer_seen(&fr(), UtcMs(1));
        assert_eq!(d.poll_transmit(UtcMs(1)).unwrap().attempt, 2);
    }

    #[test]
    fn in_flight_is_bounded_per_peer() {
        let mut d = Delivery::new(policy(), 7);
        for n in 0..5 {
            d.enqueue(fr(), id(n), UtcMs(0));
        }
        assert!(d.poll_transmit(UtcMs(0)).is_some());
        assert!(d.poll_transmit(UtcMs(0)).is_some());
        assert!(d.poll_transmit(UtcMs(0)).is_none(), "cap of 2 reached");
        assert_eq!(d.poll_timeout(), None, "nothing to do until an outcome");
        assert_eq!(d.queue_depth(&fr()), 5);
        let first = d.in_flight().into_iter().next().unwrap();
        assert!(d.on_outcome(&fr(), first, &Outcome::Delivered, UtcMs(1)));
        assert!(d.poll_transmit(UtcMs(1)).is_some());
        assert_eq!(d.queue_depth(&fr()), 4);
    }

    #[test]
    fn a_final_refusal_leaves_the_engine_and_duplicates_are_ignored() {
        let mut d = Delivery::new(policy(), 7);
        let m = id(1);
        d.enqueue(fr(), m, UtcMs(0));
        d.enqueue(fr(), m, UtcMs(0));
        assert_eq!(d.queue_depth(&fr()), 1);
        let t = d.poll_transmit(UtcMs(0)).unwrap();
        d.enqueue(fr(), t.id, UtcMs(0));
        assert!(d.on_outcome(
            &fr(),
            t.id,
            &Outcome::Final {
                reason: "bad-signature".into()
            },
            UtcMs(0)
        ));
        assert!(!d.contains(t.id));
        assert!(
            !d.on_outcome(&fr(), t.id, &Outcome::Delivered, UtcMs(0)),
            "late outcome ignored"
        );
        assert_eq!(d.total_depth(), 0);
    }

    /// A seeded lossy network between one sender's engine and three receivers: attempts are
    /// dropped, duplicated, reordered (delayed at random) and partitioned, on a manual clock.
    /// Receivers store by id (idempotent) and answer with a receipt, which may be lost too.
    struct Sim {
        rng: u64,
        drop_pct: u64,
        dup_pct: u64,
        partitioned: std::collections::HashSet<PartyId>,
        /// (arrival time, peer, id, attempt) of frames on their way.
        wire: Vec<(UtcMs, PartyId, MessageId, u32)>,
        /// (arrival time, peer, id) of receipts on their way back.
        back: Vec<(UtcMs, PartyId, MessageId)>,
        stored: HashMap<PartyId, HashMap<MessageId, u32>>,
    }

    impl Sim {
        fn roll(&mut self, pct: u64) -> bool {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            self.rng % 100 < pct
        }
        fn delay(&mut self) -> u64 {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            1 + self.rng % 400
        }
    }

    fn simulate(seed: u64, messages: u64) -> (Delivery, Sim, UtcMs) {
        let peers = [
            fr(),
            PartyId::parse("CO").unwrap(),
            PartyId::parse("LU-CA").unwrap(),
        ];
        let mut d = Delivery::new(
            DeliveryPolicy {
                max_in_flight_per_peer: 8,
                ..policy()
            },
            seed,
        );
        let mut sim = Sim {
            rng: seed | 1,
            drop_pct: 20,
            dup_pct: 10,
            partitioned: Default::default(),
            wire: Vec::new(),
            back: Vec::new(),
            stored: HashMap::new(),
        };
        let mut now = UtcMs(0);
        for n in 0..messages {
            // Fixed ids, so that a seed replays exactly.
            let mut b = [0u8; 16];
            b[8..].copy_from_slice(&n.to_be_bytes());
            b[6] = 0x70; // version 7
            b[8] = 0x80; // variant (n < 2^56 leaves this byte free)
            let fixed = MessageId::from_bytes(b).unwrap();
            d.enqueue(peers[(n % 3) as usize].clone(), fixed, now);
        }
        // Attempts whose answer is lost time out after 1 s and are retried.
        let mut pending: Vec<(UtcMs, PartyId, MessageId)> = Vec::new();
        for step in 0..200_000u64 {
            // CO is cut off between 2 s and 40 s.
            if now.0 == 2_000 {
                sim.partitioned.insert(peers[1].clone());
            }
            if now.0 == 40_000 {
                sim.partitioned.clear();
                d.on_peer_seen(&peers[1], now);
            }
            while let Some(t) = d.poll_transmit(now) {
                let cut = sim.partitioned.contains(&t.peer);
                if !cut && !sim.roll(sim.drop_pct) {
                    let at = now.plus_ms(sim.delay());
                    sim.wire.push((at, t.peer.clone(), t.id, t.attempt));
                    if sim.roll(sim.dup_pct) {
                        let again = now.plus_ms(sim.delay());
                        sim.wire.push((again, t.peer.clone(), t.id, t.attempt));
                    }
                }
                pending.push((now.plus_ms(1_000), t.peer, t.id));
            }
            // Frames arrive in the order of their random delays: reordered.
            let (arrived, rest): (Vec<_>, Vec<_>) = sim.wire.drain(..).partition(|w| w.0 <= now);
            sim.wire = rest;
            for (_, peer, mid, _) in arrived {
                *sim.stored
                    .entry(peer.clone())
                    .or_default()
                    .entry(mid)
                    .or_default() += 1;
                if !sim.roll(sim.drop_pct) {
                    let at = now.plus_ms(sim.delay());
                    sim.back.push((at, peer, mid));
                }
            }
            let (receipts, rest): (Vec<_>, Vec<_>) = sim.back.drain(..).partition(|b| b.0 <= now);
            sim.back = rest;
            for (_, peer, mid) in receipts {
                if let Some(i) = pending.iter().position(|p| p.1 == peer && p.2 == mid) {
                    pending.remove(i);
                    d.on_outcome(&peer, mid, &Outcome::Delivered, now);
                }
            }
            let (expired, rest): (Vec<_>, Vec<_>) = pending.drain(..).partition(|p| p.0 <= now);
            pending = rest;
            for (_, peer, mid) in expired {
                d.on_outcome(
                    &peer,
                    mid,
                    &Outcome::Retry {
                        reason: "no answer".into(),
                    },
                    now,
                );
            }
            if d.total_depth() == 0 && sim.wire.is_empty() {
                let _ = step;
                break;
            }
            now = now.plus_ms(10);
        }
        (d, sim, now)
    }

    #[test]
    fn a_lossy_duplicating_reordering_partitioned_network_loses_nothing() {
        for seed in [1u64, 7, 42, 2026, 0xdead_beef] {
            let (d, sim, end) = simulate(seed, 300);
            assert_eq!(
                d.total_depth(),
                0,
                "seed {seed}: the queue drained by {end:?}"
            );
            let mut seen = std::collections::HashSet::new();
            for per_peer in sim.stored.values() {
                for mid in per_peer.keys() {
                    assert!(seen.insert(*mid), "seed {seed}: {mid} reached two peers");
                }
            }
            assert_eq!(
                seen.len(),
                300,
                "seed {seed}: every message reached its peer"
            );
            let dups: u32 = sim
                .stored
                .values()
                .flat_map(|m| m.values())
                .map(|n| n - 1)
                .sum();
            assert!(
                dups > 0,
                "seed {seed}: the network did duplicate (receivers dedupe by id)"
            );
            assert!(
                end.0 > 40_000,
                "seed {seed}: the partition held until it lifted"
            );
        }
    }

    #[test]
    fn the_same_seed_replays_the_same_run() {
        let (_, a, ea) = simulate(99, 100);
        let (_, b, eb) = simulate(99, 100);
        assert_eq!(ea, eb);
        assert_eq!(a.stored, b.stored);
    }
}
