//! The timer task: keeps every case's deadlines in memory, compactly (the [`Board`]), sleeps
//! until the next one not fired yet, fires each once (recorded on the case, audited, published as a `deadline` event),
//! and purges closed cases past their retention. Driven by the node's events, so a case's
//! deadlines are recomputed whenever it changes. It keeps the [`Board`] that `/metrics`, the
//! status and `GET /v1/pending` read; [`Deadlines::catch_up`] lets a reader see every change made before
//! it asked.

use crate::attachments::Attachments;
use crate::audit::Actor;
use crate::events::EventKind;
use crate::lifecycle::{CaseRecord, Role};
use crate::outgoing::Cases;
use crate::ready::Ready;
use crate::store::Store;
use crate::tracks::{self, Deadline, Track};
use poc247_protocol::{CaseRef, PartyId, UtcMs};
use std::collections::{BTreeMap, HashMap, HashSet};
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

/// Where a deadline stands on the [`Board`]: when, whose, which. The case reference and the
/// label are shared with the case's entry and with every deadline of the same label, not
/// copied per deadline.
type Key = (UtcMs, Arc<CaseRef>, Arc<str>);

/// What the board keeps of a deadline besides its key: what `/metrics`, the status and the
/// timer's firing need. The human texts (`what`, `settle`) are rendered from the case when a
/// listing shows them.
#[derive(Clone)]
struct Slot {
    track: Track,
    owed_by: Arc<PartyId>,
    escalation: bool,
    exercise: bool,
}

/// A case on the board: its role, and where its deadlines stand (`true`: fired already).
struct Entry {
    role: Role,
    keys: Box<[(UtcMs, Arc<str>, bool)]>,
}

/// Renders the texts (`what`, `settle`) of a case's deadline from the case as it stands.
type Render = dyn Fn(&CaseRef, &str) -> Option<(String, String)> + Send + Sync;

/// Every deadline of every case, fired or not, and each case's role: what `/metrics` and the
/// status count (deadlines overdue per track, cases, the inbox), what `GET /v1/pending` lists
/// and what the timer task fires, without reading every case from the store. Each deadline is
/// held once: among those still to fire, or among those fired. The timer task keeps it, so it
/// follows a case's change within the moment the task gathers events (50 ms, or at once for a
/// [`Deadlines::catch_up`]), and it is whole again after each start.
#[derive(Default)]
pub struct Board {
    /// Deadlines not fired yet, by due time: what the timer task fires.
    open: BTreeMap<Key, Slot>,
    /// Deadlines fired already and still owed, by due time.
    fired: BTreeMap<Key, Slot>,
    cases: HashMap<Arc<CaseRef>, Entry>,
    /// How many of `cases` are [`Role::Requested`].
    inbox: usize,
    /// Every label in use, shared by the keys.
    labels: HashSet<Arc<str>>,
    /// How many labels `labels` held after its last pruning.
    labels_kept: usize,
    /// Every Party owing something, shared by the slots.
    parties: HashSet<Arc<PartyId>>,
    render: Option<Arc<Render>>,
}

/// One deadline as [`Board::pending`] lists it: shared with the board, nothing copied; `what`
/// and `settle` are rendered from the case only when they are read or serialized.
pub struct Listed {
    /// The case.
    pub case_ref: Shared<CaseRef>,
    /// The track.
    pub track: Track,
    /// Unique within the case.
    pub label: Shared<str>,
    /// When it is due.
    pub due: UtcMs,
    /// Who owes what is due.
    pub owed_by: Shared<PartyId>,
    /// What is owed, for people.
    pub what: Text,
    /// The command that settles it.
    pub settle: Text,
    /// Whether it escalates.
    pub escalation: bool,
    /// Training traffic.
    pub exercise: bool,
}

impl Listed {
    /// Where this deadline stands in the listing's order: a page ending here goes on after it.
    pub fn position(&self) -> (UtcMs, CaseRef, String) {
        (self.due, (*self.case_ref).clone(), self.label.to_string())
    }
}

/// A value the board shares with a listing; it reads, prints, compares and serializes as the
/// value itself.
pub struct Shared<T: ?Sized>(Arc<T>);

impl<T: ?Sized> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized + std::fmt::Display> std::fmt::Display for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: ?Sized + serde::Serialize> serde::Serialize for Shared<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<T: ?Sized + PartialEq> PartialEq<T> for Shared<T> {
    fn eq(&self, other: &T) -> bool {
        *self.0 == *other
    }
}

/// A deadline's text for people (`what`, or `settle`), rendered from its case when read (empty
/// if the case no longer owes this deadline).
pub struct Text {
    case_ref: Arc<CaseRef>,
    label: Arc<str>,
    render: Option<Arc<Render>>,
    settle: bool,
}

impl Text {
    /// The text, rendered now.
    pub fn render(&self) -> String {
        let texts = self
            .render
            .as_ref()
            .and_then(|r| r(&self.case_ref, &self.label));
        match texts {
            Some((what, settle)) => {
                if self.settle {
                    settle
                } else {
                    what
                }
            }
            None => String::new(),
        }
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.render(), f)
    }
}

impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.render())
    }
}

/// A deadline due for firing: what the timer task records and publishes.
struct Firing {
    case_ref: CaseRef,
    track: Track,
    label: String,
    due: UtcMs,
    owed_by: PartyId,
    escalation: bool,
}

impl Board {
    fn label(&mut self, l: &str) -> Arc<str> {
        if let Some(a) = self.labels.get(l) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(l);
        self.labels.insert(a.clone());
        a
    }

    fn party(&mut self, p: &PartyId) -> Arc<PartyId> {
        if let Some(a) = self.parties.get(p) {
            return a.clone();
        }
        let a = Arc::new(p.clone());
        self.parties.insert(a.clone());
        a
    }

    /// Puts a case with its deadlines (`None`: the case is gone); a deadline whose label is
    /// in `fired` is kept among those fired.
    fn put(&mut self, case_ref: &CaseRef, case: Option<(Role, &[Deadline], &[String])>) {
        let old = self.cases.remove_entry(case_ref);
        let shared = match old {
            Some((shared, e)) => {
                if e.role == Role::Requested {
                    self.inbox = self.inbox.saturating_sub(1);
                }
                for (due, label, fired) in e.keys.into_vec() {
                    let k = (due, shared.clone(), label);
                    if fired {
                        self.fired.remove(&k);
                    } else {
                        self.open.remove(&k);
                    }
                }
                shared
            }
            None => Arc::new(case_ref.clone()),
        };
        let Some((role, deadlines, fired_labels)) = case else {
            self.prune();
            return;
        };
        if role == Role::Requested {
            self.inbox += 1;
        }
        let mut keys = Vec::with_capacity(deadlines.len());
        for d in deadlines {
            let label = self.label(&d.label);
            let slot = Slot {
                track: d.track,
                owed_by: self.party(&d.owed_by),
                escalation: d.escalation,
                exercise: d.exercise,
            };
            let fired = fired_labels.contains(&d.label);
            let k = (d.due, shared.clone(), label.clone());
            if fired {
                self.fired.insert(k, slot);
            } else {
                self.open.insert(k, slot);
            }
            keys.push((d.due, label, fired));
        }
        self.cases.insert(
            shared,
            Entry {
                role,
                keys: keys.into_boxed_slice(),
            },
        );
    }

    /// Forgets labels no deadline uses any more, once they have doubled since last time.
    fn prune(&mut self) {
        if self.labels.len() > 2 * self.labels_kept + 1024 {
            self.labels.retain(|l| Arc::strong_count(l) > 1);
            self.labels_kept = self.labels.len();
        }
    }

    /// Puts a case with its deadlines, none of them fired (`None`: the case is gone).
    #[cfg(test)]
    fn set(&mut self, case_ref: &CaseRef, case: Option<(Role, &[Arc<Deadline>])>) {
        let all: Vec<Deadline> = case
            .map(|(_, d)| d.iter().map(|d| (**d).clone()).collect())
            .unwrap_or_default();
        self.put(
            case_ref,
            case.map(|(role, _)| (role, all.as_slice(), &[][..])),
        );
    }

    fn clear(&mut self) {
        let render = self.render.take();
        *self = Board {
            render,
            ..Board::default()
        };
    }

    /// Every deadline, fired or not, soonest first (then by case and label), after `after`
    /// (from the first with `None`).
    fn all(&self, after: Option<&Key>) -> impl Iterator<Item = (&Key, &Slot)> {
        use std::ops::Bound;
        let from = match after {
            Some(k) => Bound::Excluded(k.clone()),
            None => Bound::Unbounded,
        };
        let (mut a, mut b) = (
            self.open.range((from.clone(), Bound::Unbounded)).peekable(),
            self.fired.range((from, Bound::Unbounded)).peekable(),
        );
        std::iter::from_fn(move || match (a.peek(), b.peek()) {
            (Some((ka, _)), Some((kb, _))) => {
                if ka <= kb {
                    a.next()
                } else {
                    b.next()
                }
            }
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        })
    }

    /// How many deadlines of each track are due at `now` and not met.
    pub fn overdue(&self, now: UtcMs) -> HashMap<Track, u64> {
        let mut out = HashMap::new();
        for map in [&self.open, &self.fired] {
            for ((at, _, _), d) in map {
                if *at > now {
                    break;
                }
                *out.entry(d.track).or_default() += 1;
            }
        }
        out
    }

    /// One page of the deadlines that `keep` keeps (given who owes each and when it is due),
    /// soonest first: how many it keeps in all, the first `limit` of them after `after` (all
    /// without a limit; `after` is a [`Listed::position`] a page before ended at), and whether
    /// more follow. Only the page is copied out, so a listing's page costs a count, not a copy
    /// of every deadline.
    pub fn page(
        &self,
        keep: impl Fn(&PartyId, UtcMs) -> bool,
        after: Option<&(UtcMs, CaseRef, String)>,
        limit: Option<usize>,
    ) -> (usize, Vec<Listed>, bool) {
        let total = self
            .all(None)
            .filter(|(k, s)| keep(&s.owed_by, k.0))
            .count();
        let after = after.map(|(due, case, label)| {
            (
                *due,
                Arc::new(case.clone()),
                Arc::<str>::from(label.as_str()),
            )
        });
        let mut items = Vec::new();
        let mut more = false;
        for (k, s) in self.all(after.as_ref()) {
            if !keep(&s.owed_by, k.0) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                more = true;
                break;
            }
            items.push(self.listed(k, s));
        }
        (total, items, more)
    }

    /// A deadline as a listing shows it.
    fn listed(&self, (due, case_ref, label): &Key, s: &Slot) -> Listed {
        let text = |settle| Text {
            case_ref: case_ref.clone(),
            label: label.clone(),
            render: self.render.clone(),
            settle,
        };
        Listed {
            case_ref: Shared(case_ref.clone()),
            track: s.track,
            label: Shared(label.clone()),
            due: *due,
            owed_by: Shared(s.owed_by.clone()),
            what: text(false),
            settle: text(true),
            escalation: s.escalation,
            exercise: s.exercise,
        }
    }

    /// How many cases there are, and how many of them this node was asked in (its inbox).
    pub fn cases(&self) -> (usize, usize) {
        (self.cases.len(), self.inbox)
    }

    /// The deadlines not fired yet and due at `now`, soonest first, and when the next one
    /// after is due.
    fn due_at(&self, now: UtcMs) -> (Vec<Firing>, Option<UtcMs>) {
        let mut due = Vec::new();
        for ((at, case_ref, label), s) in &self.open {
            if *at > now {
                return (due, Some(*at));
            }
            due.push(Firing {
                case_ref: (**case_ref).clone(),
                track: s.track,
                label: label.to_string(),
                due: *at,
                owed_by: (*s.owed_by).clone(),
                escalation: s.escalation,
            });
        }
        (due, None)
    }
}

/// Clears the board's renderer when the timer task ends, so that the board does not keep the
/// store open.
struct RenderGuard(Deadlines);

impl Drop for RenderGuard {
    fn drop(&mut self) {
        self.0.board().render = None;
    }
}

/// Re-indexes a case read from the store; returns the preservation it follows, if any.
fn refresh(t: &Timers, case_ref: &CaseRef) -> Option<CaseRef> {
    match t.cases.store.case(case_ref) {
        Ok(case) => {
            index(t, case_ref, case.as_ref());
            case.and_then(|c| c.preservation_case)
        }
        Err(e) => {
            tracing::error!(error = %e, case = %case_ref, "cannot read a case for its deadlines");
            None
        }
    }
}

/// Puts the deadlines of a case as it stands on the board (`None`: the case is gone).
fn index(t: &Timers, case_ref: &CaseRef, case: Option<&CaseRecord>) {
    let Some(c) = case else {
        t.deadlines.board().put(case_ref, None);
        return;
    };
    let all = case_deadlines(&t.cases.store, &t.cases.me.cfg().deadlines, c);
    t.deadlines
        .board()
        .put(case_ref, Some((c.role, &all, &c.fired)));
}

/// Puts every case on the board again, reading the cases one at a time.
fn rebuild(t: &Timers) {
    t.deadlines.board().clear();
    for c in t.cases.store.each_case() {
        match c {
            Ok(c) => index(t, &c.case_ref, Some(&c)),
            Err(e) => {
                tracing::error!(error = %e, "cannot read cases for their deadlines");
                return;
            }
        }
    }
}

/// The texts of deadline `label` of a case, as the case stands.
fn render(t: &Timers, case_ref: &CaseRef, label: &str) -> Option<(String, String)> {
    let case = t.cases.store.case(case_ref).ok()??;
    case_deadlines(&t.cases.store, &t.cases.me.cfg().deadlines, &case)
        .into_iter()
        .find(|d| d.label == label)
        .map(|d| (d.what, d.settle))
}

/// Fires every indexed deadline due at `now`; returns when the next one is due.
async fn fire_due(t: &Timers, now: UtcMs) -> Option<UtcMs> {
    let (due, next) = t.deadlines.board().due_at(now);
    for d in due {
        let fired = match t.cases.store.fire_deadline(&d.case_ref, &d.label, now) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(error = %e, case = %d.case_ref, "cannot record a deadline");
                continue;
            }
        };
        let ready = Ready::after_flush().notice(
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
        if fired && t.cases.apply(ready).await.is_ok() {
            tracing::warn!(case = %d.case_ref, track = %crate::metrics::track_name(d.track), label = %d.label, owed_by = %d.owed_by, "deadline due");
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
                    // The purge flushed its own write.
                    let ready = Ready::flushed().notice(
                        EventKind::Purged,
                        Some(d.case_ref.clone()),
                        None,
                        None,
                        None,
                    );
                    let _ = t.cases.apply(ready).await;
                }
            }
        }
        refresh(t, &d.case_ref);
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
    let _guard = RenderGuard(t.deadlines.clone());
    {
        let r = t.clone();
        t.deadlines.board().render = Some(Arc::new(move |c: &CaseRef, l: &str| render(&r, c, l)));
    }
    rebuild(&t);
    loop {
        let now = t.cases.clocks.now();
        let next = fire_due(&t, now).await;
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
                if !absorb(&t, &mut events, Some(ev)) {
                    return;
                }
            }
            Some(c) = catch_ups.recv() => {
                waiting.push(c);
                if !absorb(&t, &mut events, None) {
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
                rebuild(t);
                dirty.clear();
            }
            Err(RecvError::Closed) => return false,
        }
        next = try_next(events);
    }
    for c in &dirty {
        // A follow-up request changes its preservation's deadlines too.
        if let Some(p) = refresh(t, c) {
            refresh(t, &p);
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
            .page(|_, _| true, None, None)
            .1
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
        let (total, page, more) = board.page(|_, due| due <= UtcMs(30), None, Some(1));
        assert_eq!(total, 2, "a page counts every deadline kept");
        assert_eq!(page.len(), 1);
        assert!(more);
        assert_eq!(page[0].due, UtcMs(20), "soonest first");
        let after = page[0].position();
        let (total, page, more) = board.page(|_, due| due <= UtcMs(30), Some(&after), Some(1));
        assert_eq!((total, page.len(), more), (2, 1, false));
        assert_eq!(
            page[0].due,
            UtcMs(30),
            "the next page goes on after the last"
        );
        // Purged.
        board.set(&a, None);
        assert_eq!(board.cases(), (1, 0));
        assert_eq!(board.overdue(UtcMs(30)).get(&Track::Preservation), None);
        board.clear();
        assert_eq!(board.cases(), (0, 0));
    }
}
