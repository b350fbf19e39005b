//! The timer task: keeps an in-memory index of every case's open deadlines, sleeps until the
//! next one, fires each once (recorded on the case, audited, published as a `deadline` event),
//! and purges closed cases past their retention. Driven by the node's events, so a case's
//! deadlines are recomputed whenever it changes. It keeps the [`Board`] that `/metrics`, the
//! status and `GET /v1/pending` read; [`Deadlines::catch_up`] lets a reader see every change made before
//! it asked.

use crate::attachments::Attachments;
use crate::audit::Actor;
use crate::events::EventKind;
use crate::lifecycle::{CaseRecord, Role};
use crate::outgoing::Cases;
use crate::store::Store;
use crate::tracks::{self, Deadline, Track};
use poc247_protocol::{CaseRef, UtcMs};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, mpsc, oneshot};

/// A reader's request that the timer task bring its board up to date; answered once done.
pub type CatchUp = oneshot::Sender<()>;

/// Every case's deadlines, kept by the timer task: the board it fills, and how to wake it.
#[derive(Clone)]
pub struct Deadlines(Arc<DeadlinesInner>);

struct DeadlinesInner {
    board: std::sync::Mutex<Board>,
    kick: tokio::sync::Notify,
    catch_up: mpsc::UnboundedSender<CatchUp>,
}

impl Deadlines {
    /// The board, and the receiving end of its catch-up requests (for the timer task).
    pub fn new() -> (Self, mpsc::UnboundedReceiver<CatchUp>) {
        let (catch_up, rx) = mpsc::unbounded_channel();
        (
            Deadlines(Arc::new(DeadlinesInner {
                board: Default::default(),
                kick: tokio::sync::Notify::new(),
                catch_up,
            })),
            rx,
        )
    }
    /// The board (even if a thread panicked holding it: each of its changes is whole).
    pub fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.0.board.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Makes the timer task look at the clock now (after a drill moved it).
    pub fn kick(&self) {
        self.0.kick.notify_one();
    }
    /// Fires when [`Deadlines::kick`] is called.
    pub(crate) async fn kicked(&self) {
        self.0.kick.notified().await
    }
    /// Waits until the timer task has put on the board every change published before this
    /// call (a reader of the board then sees its own writes). Returns at once if the task is
    /// not running.
    pub async fn catch_up(&self) {
        let (tx, rx) = oneshot::channel();
        if self.0.catch_up.send(tx).is_ok() {
            let _ = rx.await;
        }
    }
}

impl std::fmt::Debug for Deadlines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deadlines").finish_non_exhaustive()
    }
}

/// What the timer task uses: the cases (to read them, record a fired deadline and publish
/// it), the board it keeps, and the attachments (a case purged at the end of its retention
/// takes the files only it lists).
#[derive(Clone, Debug)]
pub struct Timers {
    /// The cases.
    pub cases: Cases,
    /// The board.
    pub deadlines: Deadlines,
    /// The attachments.
    pub attachments: Attachments,
}

/// Whether the follow-up request of a preservation is still undecided (BC 29(7)).
pub fn follow_up_undecided(store: &Store, case: &CaseRecord) -> bool {
    match &case.follow_up_mla {
        None => false,
        Some(r) => match store.case(r) {
            Ok(Some(f)) => f.decided_at.is_none() && !f.state.is_terminal(),
            _ => false,
        },
    }
}

/// Every deadline of a case, fired or not, with the delivery alerts of its unreceipted
/// messages.
pub fn case_deadlines(
    store: &Store,
    settings: &crate::tracks::TrackSettings,
    case: &CaseRecord,
) -> Vec<Deadline> {
    let mut all = tracks::deadlines(case, settings, follow_up_undecided(store, case));
    for id in &case.messages {
        if let Ok(Some(o)) = store.outbox_entry(*id) {
            all.push(tracks::delivery_alert(
                case,
                &o.peer,
                o.queued_at,
                settings,
                &id.to_string(),
            ));
        }
    }
    all
}

/// Where a deadline stands in a [`Due`]: when, whose, which.
type Key = (UtcMs, CaseRef, String);

/// Deadlines of every case by due time, each with a `V`, and the keys of each case's, so that a
/// case's deadlines are replaced whole.
struct Due<V> {
    by_time: BTreeMap<Key, V>,
    of_case: HashMap<CaseRef, Vec<Key>>,
}

impl<V> Default for Due<V> {
    fn default() -> Self {
        Due {
            by_time: BTreeMap::new(),
            of_case: HashMap::new(),
        }
    }
}

impl<V> Due<V> {
    /// Replaces the deadlines of `case_ref` with `items` (none: the case has none, or is gone).
    fn put(&mut self, case_ref: &CaseRef, items: impl IntoIterator<Item = (Key, V)>) {
        for k in self.of_case.remove(case_ref).unwrap_or_default() {
            self.by_time.remove(&k);
        }
        let keys: Vec<Key> = items
            .into_iter()
            .map(|(k, v)| {
                self.by_time.insert(k.clone(), v);
                k
            })
            .collect();
        if !keys.is_empty() {
            self.of_case.insert(case_ref.clone(), keys);
        }
    }
}

/// The key of a deadline.
fn key(d: &Deadline) -> Key {
    (d.due, d.case_ref.clone(), d.label.clone())
}

/// Every deadline of every case, fired or not, and each case's role: what `/metrics` and the
/// status count (deadlines overdue per track, cases, the inbox) and what `GET /v1/pending`
/// lists, without reading every case from the store. The timer task keeps it with its index,
/// so it follows a case's change within the moment the task gathers events (50 ms, or at once
/// for a [`Deadlines::catch_up`]), and it is whole again after each start.
#[derive(Default)]
pub struct Board {
    due: Due<Arc<Deadline>>,
    roles: HashMap<CaseRef, Role>,
    /// How many of `roles` are [`Role::Requested`].
    inbox: usize,
}

impl Board {
    /// Puts a case with its deadlines (`None`: the case is gone).
    fn set(&mut self, case_ref: &CaseRef, case: Option<(Role, &[Arc<Deadline>])>) {
        if self.roles.remove(case_ref) == Some(Role::Requested) {
            self.inbox = self.inbox.saturating_sub(1);
        }
        let Some((role, deadlines)) = case else {
            self.due.put(case_ref, []);
            return;
        };
        if role == Role::Requested {
            self.inbox += 1;
        }
        self.roles.insert(case_ref.clone(), role);
        self.due
            .put(case_ref, deadlines.iter().map(|d| (key(d), d.clone())));
    }

    fn clear(&mut self) {
        *self = Board::default();
    }

    /// How many deadlines of each track are due at `now` and not met.
    pub fn overdue(&self, now: UtcMs) -> HashMap<Track, u64> {
        let mut out = HashMap::new();
        for ((at, _, _), d) in &self.due.by_time {
            if *at > now {
                break;
            }
            *out.entry(d.track).or_default() += 1;
        }
        out
    }

    /// Every deadline, soonest first (then by case and label): shared, so that the board's lock
    /// is held only while they are counted out.
    pub fn pending(&self) -> Vec<Arc<Deadline>> {
        self.due.by_time.values().cloned().collect()
    }

    /// How many cases there are, and how many of them this node was asked in (its inbox).
    pub fn cases(&self) -> (usize, usize) {
        (self.roles.len(), self.inbox)
    }
}

/// The open deadlines of every case, soonest first. It lives in memory only: it is derived
/// from the cases (each fired label is stored on its case) and rebuilt from them at start, so
/// keeping it on disk would cost a write per case change and recover nothing.
#[derive(Default)]
struct Index {
    open: Due<Arc<Deadline>>,
}

impl Index {
    /// Re-indexes a case read from the store; returns the preservation it follows, if any.
    fn refresh(&mut self, t: &Timers, case_ref: &CaseRef) -> Option<CaseRef> {
        match t.cases.store.case(case_ref) {
            Ok(case) => {
                self.index(t, case_ref, case.as_ref());
                case.and_then(|c| c.preservation_case)
            }
            Err(e) => {
                tracing::error!(error = %e, case = %case_ref, "cannot read a case for its deadlines");
                None
            }
        }
    }

    /// Indexes the open deadlines of a case as it stands (`None`: the case is gone).
    fn index(&mut self, t: &Timers, case_ref: &CaseRef, case: Option<&CaseRecord>) {
        let Some(c) = case else {
            self.open.put(case_ref, []);
            t.deadlines.board().set(case_ref, None);
            return;
        };
        let all: Vec<Arc<Deadline>> =
            case_deadlines(&t.cases.store, &t.cases.me.cfg().deadlines, c)
                .into_iter()
                .map(Arc::new)
                .collect();
        t.deadlines.board().set(case_ref, Some((c.role, &all)));
        let open = all.into_iter().filter(|d| !c.fired.contains(&d.label));
        self.open.put(case_ref, open.map(|d| (key(&d), d)));
    }

    fn rebuild(&mut self, t: &Timers) {
        self.open = Due::default();
        t.deadlines.board().clear();
        match t.cases.store.cases() {
            Ok(cases) => {
                for c in cases {
                    self.index(t, &c.case_ref, Some(&c));
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read cases for their deadlines"),
        }
    }

    /// The deadlines due at `now`, soonest first, and when the next one after is due.
    fn due_at(&self, now: UtcMs) -> (Vec<Arc<Deadline>>, Option<UtcMs>) {
        let mut due = Vec::new();
        for ((at, _, _), d) in &self.open.by_time {
            if *at > now {
                return (due, Some(*at));
            }
            due.push(d.clone());
        }
        (due, None)
    }
}

/// Fires every indexed deadline due at `now`; returns when the next one is due.
async fn fire_due(t: &Timers, index: &mut Index, now: UtcMs) -> Option<UtcMs> {
    let (due, next) = index.due_at(now);
    for d in due {
        let fired = match t.cases.store.fire_deadline(&d.case_ref, &d.label, now) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, case = %d.case_ref, "cannot record a deadline");
                continue;
            }
        };
        if fired && t.cases.store.commit().await.is_ok() {
            tracing::warn!(case = %d.case_ref, track = %crate::metrics::track_name(d.track), label = %d.label, owed_by = %d.owed_by, "deadline due");
            t.cases.events.publish(
                EventKind::Deadline {
                    track: d.track,
                    label: d.label.clone(),
                    due: d.due,
                    owed_by: d.owed_by.clone(),
                    escalation: d.escalation,
                },
                Some(d.case_ref.clone()),
                None,
                None,
                None,
            );
            if d.track == Track::Retention {
                // The case and the attachment files only it lists; flushed.
                let case = crate::attachments::PurgeTarget::Case(&d.case_ref);
                let reason = "retention period over";
                let purged = crate::attachments::purge(
                    &t.cases.store,
                    &t.attachments,
                    case,
                    reason,
                    Actor::Node,
                    now,
                )
                .await;
                if matches!(purged, Ok(true)) {
                    t.cases.events.publish(
                        EventKind::Purged,
                        Some(d.case_ref.clone()),
                        None,
                        None,
                        None,
                    );
                }
            }
        }
        index.refresh(t, &d.case_ref);
    }
    next
}

/// Runs until the node stops; `catch_ups` are readers' [`Deadlines::catch_up`] requests.
pub async fn run(
    t: Timers,
    cancel: tokio_util::sync::CancellationToken,
    mut catch_ups: mpsc::UnboundedReceiver<CatchUp>,
) {
    let mut events = t.cases.events.subscribe();
    let mut index = Index::default();
    index.rebuild(&t);
    loop {
        let now = t.cases.clocks.now();
        let next = fire_due(&t, &mut index, now).await;
        let wait = next.map(|at| Duration::from_millis(at.since(t.cases.clocks.now()).max(1)));
        let mut waiting = Vec::new();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = t.deadlines.kicked() => {}
            ev = events.recv() => {
                // Under load, gather the events of the next moment and refresh each case once:
                // deadlines are minutes away, re-indexing them 50 ms later changes nothing. A
                // reader waiting for the board ends the gathering.
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    Some(c) = catch_ups.recv() => waiting.push(c),
                }
                if !absorb(&t, &mut index, &mut events, Some(ev)) {
                    return;
                }
            }
            Some(c) = catch_ups.recv() => {
                waiting.push(c);
                if !absorb(&t, &mut index, &mut events, None) {
                    return;
                }
            }
            _ = async {
                match wait {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
        for c in waiting {
            let _ = c.send(());
        }
    }
}

/// Refreshes every case named by `first` and by the events waiting after it; false once the
/// node's event channel is closed.
fn absorb(
    t: &Timers,
    index: &mut Index,
    events: &mut broadcast::Receiver<crate::events::NodeEvent>,
    first: Option<Result<crate::events::NodeEvent, RecvError>>,
) -> bool {
    let mut dirty = std::collections::BTreeSet::new();
    let mut next = first.or_else(|| try_next(events));
    while let Some(ev) = next.take() {
        match ev {
            Ok(ev) => {
                dirty.extend(ev.case_ref);
            }
            Err(RecvError::Lagged(_)) => {
                index.rebuild(t);
                dirty.clear();
            }
            Err(RecvError::Closed) => return false,
        }
        next = try_next(events);
    }
    for c in &dirty {
        // A follow-up request changes its preservation's deadlines too.
        if let Some(p) = index.refresh(t, c) {
            index.refresh(t, &p);
        }
    }
    true
}

/// The next event already waiting, if any.
fn try_next(
    events: &mut broadcast::Receiver<crate::events::NodeEvent>,
) -> Option<Result<crate::events::NodeEvent, RecvError>> {
    match events.try_recv() {
        Ok(e) => Some(Ok(e)),
        Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
        Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
        Err(TryRecvError::Empty) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poc247_protocol::PartyId;

    fn deadline(case: &CaseRef, track: Track, label: &str, due: u64) -> Deadline {
        Deadline {
            case_ref: case.clone(),
            track,
            label: label.into(),
            due: UtcMs(due),
            owed_by: PartyId::parse("FR").unwrap(),
            what: String::new(),
            settle: String::new(),
            escalation: false,
            exercise: false,
        }
    }

    #[test]
    fn the_board_counts_what_is_due_and_forgets_a_case_put_again_or_gone() {
        let lu = PartyId::parse("LU").unwrap();
        let (a, b) = (CaseRef::new(&lu, 2026, 1), CaseRef::new(&lu, 2026, 2));
        let mut board = Board::default();
        let first = [
            Arc::new(deadline(&a, Track::Acknowledgement, "ack", 10)),
            Arc::new(deadline(&a, Track::Preservation, "end", 30)),
        ];
        board.set(&a, Some((Role::Requested, &first)));
        board.set(
            &b,
            Some((
                Role::Requester,
                &[Arc::new(deadline(&b, Track::Acknowledgement, "ack", 20))],
            )),
        );
        assert_eq!(board.cases(), (2, 1));
        assert!(board.overdue(UtcMs(9)).is_empty());
        assert_eq!(
            board.overdue(UtcMs(20)).get(&Track::Acknowledgement),
            Some(&2)
        );
        assert_eq!(board.overdue(UtcMs(30)).get(&Track::Preservation), Some(&1));
        let order: Vec<_> = board
            .pending()
            .iter()
            .map(|d| (d.case_ref.to_string(), d.due.0))
            .collect();
        let (a_, b_) = (a.to_string(), b.to_string());
        assert_eq!(
            order,
            [(a_.clone(), 10), (b_, 20), (a_, 30)],
            "soonest first"
        );
        // Acknowledged: the case is put again without that deadline.
        board.set(&a, Some((Role::Requested, &first[1..])));
        assert_eq!(
            board.overdue(UtcMs(30)).get(&Track::Acknowledgement),
            Some(&1)
        );
        assert_eq!(board.cases(), (2, 1));
        // Purged.
        board.set(&a, None);
        assert_eq!(board.cases(), (1, 0));
        assert_eq!(board.overdue(UtcMs(30)).get(&Track::Preservation), None);
        board.clear();
        assert_eq!(board.cases(), (0, 0));
    }
}
