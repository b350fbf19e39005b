//! The timer task: sleeps until the next deadline not fired yet, fires each once (recorded on
//! the case, audited, published as a `deadline` event), and purges closed cases past their
//! retention. The deadlines are the store's index of deadlines, written with each change of a
//! case ([`crate::store::deadlines`]); the task wakes at each of the node's events to look at
//! it again. The [`Board`] that `/metrics`, the status and `GET /v1/pending` read is that
//! index; [`Deadlines::catch_up`] lets a reader wait until the task has seen every change made
//! before it asked.

use crate::attachments::Attachments;
use crate::audit::Actor;
use crate::events::EventKind;
use crate::lifecycle::CaseRecord;
use crate::outgoing::Cases;
use crate::ready::Ready;
use crate::store::deadlines::{Counts, DeadlineIndex, Indexed};
use crate::store::Store;
use crate::tracks::{Deadline, Track};
use poc247_protocol::{CaseRef, PartyId, UtcMs};
use std::collections::HashMap;
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

/// Whether the follow-up request of a preservation is still undecided (BC 29(7)). The index
/// of deadlines reads the same inside the transaction that changes a case.
pub fn follow_up_undecided(store: &Store, case: &CaseRecord) -> bool {
    match &case.follow_up_mla {
        None => false,
        Some(r) => match store.case(r) {
            // A case that took the reference of a follow-up gone (purged) follows nothing.
            Ok(Some(f)) => {
                f.preservation_case.as_ref() == Some(&case.case_ref)
                    && f.decided_at.is_none()
                    && !f.state.is_terminal()
            }
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
    crate::store::deadlines::deadlines_of(case, settings, follow_up_undecided(store, case), |id| {
        match store.outbox_entry(id) {
            Ok(Some(o)) => Some((o.peer, o.queued_at)),
            _ => None,
        }
    })
}

/// Renders the texts (`what`, `settle`) of a case's deadline from the case as it stands.
type Render = dyn Fn(&CaseRef, &str) -> Option<(String, String)> + Send + Sync;

/// The node's clock, as the board reads it.
type Now = dyn Fn() -> UtcMs + Send + Sync;

/// Every deadline of every case, fired or not, and the number of cases in each role: what
/// `/metrics` and the status count (deadlines overdue per track, cases, the inbox), what
/// `GET /v1/pending` lists and what the timer task fires. It reads the store's index of
/// deadlines ([`crate::store::deadlines`]), which every change of a case keeps in its own
/// transaction: the board holds no deadline in memory, a start reads no case, and what it
/// answers is what the store holds the moment it is asked. The timer task gives it the index
/// when it starts (before that it is empty).
#[derive(Default)]
pub struct Board {
    index: Option<DeadlineIndex>,
    now: Option<Arc<Now>>,
    render: Option<Arc<Render>>,
}

/// One deadline as [`Board::page`] lists it; `what` and `settle` are rendered from the case
/// only when they are read or serialized.
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

/// A value a listing shares; it reads, prints, compares and serializes as the value itself.
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

/// Logs a failed read of the index once per call site and gives nothing.
fn read<T: Default>(r: crate::error::Result<T>) -> T {
    r.unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot read the index of deadlines");
        T::default()
    })
}

impl Board {
    /// The clock's time (the system's before the timer task gave the node's).
    fn now(&self) -> UtcMs {
        match &self.now {
            Some(n) => n(),
            None => crate::clock::Clock::now(&crate::clock::SystemClock),
        }
    }

    /// The deadlines not fired yet (`false`) or fired, after `after`, soonest first.
    fn rows<'a>(
        &'a self,
        fired: bool,
        after: Option<&(UtcMs, CaseRef, String)>,
    ) -> Box<dyn Iterator<Item = Indexed> + 'a> {
        match &self.index {
            Some(i) => Box::new(i.rows(fired, after).map_while(|r| match r {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the index of deadlines");
                    None
                }
            })),
            None => Box::new(std::iter::empty()),
        }
    }

    fn counts(&self) -> Counts {
        match &self.index {
            Some(i) => read(i.counts()),
            None => Counts::default(),
        }
    }

    /// How many deadlines of each track are due at `now` and not met: every deadline fired
    /// (it fired because it was due), and those not fired yet whose time has come.
    pub fn overdue(&self, now: UtcMs) -> HashMap<Track, u64> {
        let mut out = HashMap::new();
        for ((_, track), n) in self.counts().fired {
            *out.entry(track).or_default() += n;
        }
        for r in self.rows(false, None) {
            if r.row.due > now {
                break;
            }
            *out.entry(r.row.slot.track).or_default() += 1;
        }
        out
    }

    /// One page of the deadlines that `keep` keeps (given who owes each and when it is due),
    /// soonest first: how many it keeps in all, the first `limit` of them after `after` (all
    /// without a limit; `after` is a [`Listed::position`] a page before ended at), and whether
    /// more follow. Only the page is read, and the count reads no deadline but those not fired
    /// whose time has come: `keep` is asked once per Party for that Party's deadlines fired
    /// (with the due time of the first deadline fired: each fired because its time had come)
    /// and once for its deadlines not due yet (with the due time of the first of them), so it
    /// must depend on the due time only through whether it has come, as `pending`'s filters do.
    pub fn page(
        &self,
        keep: impl Fn(&PartyId, UtcMs) -> bool,
        after: Option<&(UtcMs, CaseRef, String)>,
        limit: Option<usize>,
    ) -> (usize, Vec<Listed>, bool) {
        let now = self.now();
        let counts = self.counts();
        let mut total = 0u64;
        // Not fired and come: each one. The first not come stands for the rest.
        let mut come: HashMap<PartyId, u64> = HashMap::new();
        let mut later_due = None;
        for r in self.rows(false, None) {
            if r.row.due > now {
                later_due = Some(r.row.due);
                break;
            }
            if keep(&r.row.slot.owed_by, r.row.due) {
                total += 1;
            }
            *come.entry(r.row.slot.owed_by).or_default() += 1;
        }
        let mut later_kept = 0;
        if let Some(due) = later_due {
            for (p, n) in &counts.unfired {
                let n = n.saturating_sub(come.get(p).copied().unwrap_or(0));
                if n > 0 && keep(p, due) {
                    later_kept += n;
                }
            }
        }
        total += later_kept;
        let mut fired_kept = 0;
        if let Some(first) = self.rows(true, None).next() {
            let mut by_party: HashMap<&PartyId, u64> = HashMap::new();
            for ((p, _), n) in &counts.fired {
                *by_party.entry(p).or_default() += n;
            }
            for (p, n) in by_party {
                if keep(p, first.row.due) {
                    fired_kept += n;
                }
            }
        }
        total += fired_kept;
        // The page: fired deadlines are read only if some are kept, those not due yet only
        // while some are.
        let mut items = Vec::new();
        let mut more = false;
        let unfired = self
            .rows(false, after)
            .take_while(|r| later_kept > 0 || r.row.due <= now);
        let fired: Box<dyn Iterator<Item = Indexed>> = if fired_kept > 0 {
            self.rows(true, after)
        } else {
            Box::new(std::iter::empty())
        };
        let (mut a, mut b) = (unfired.peekable(), fired.peekable());
        let key = |r: &Indexed| (r.row.due, r.case_ref.clone(), r.row.label.clone());
        let merged = std::iter::from_fn(move || match (a.peek(), b.peek()) {
            (Some(ra), Some(rb)) => {
                if key(ra) <= key(rb) {
                    a.next()
                } else {
                    b.next()
                }
            }
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        });
        for r in merged {
            if !keep(&r.row.slot.owed_by, r.row.due) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                more = true;
                break;
            }
            items.push(self.listed(r));
        }
        (usize::try_from(total).unwrap_or(usize::MAX), items, more)
    }

    /// A deadline as a listing shows it.
    fn listed(&self, r: Indexed) -> Listed {
        let case_ref = Arc::new(r.case_ref);
        let label: Arc<str> = Arc::from(r.row.label.as_str());
        let text = |settle| Text {
            case_ref: case_ref.clone(),
            label: label.clone(),
            render: self.render.clone(),
            settle,
        };
        Listed {
            what: text(false),
            settle: text(true),
            case_ref: Shared(case_ref.clone()),
            track: r.row.slot.track,
            label: Shared(label.clone()),
            due: r.row.due,
            owed_by: Shared(Arc::new(r.row.slot.owed_by)),
            escalation: r.row.slot.escalation,
            exercise: r.row.slot.exercise,
        }
    }

    /// How many cases there are, and how many of them this node was asked in (its inbox).
    pub fn cases(&self) -> (usize, usize) {
        let c = self.counts();
        let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        (n(c.requester + c.requested), n(c.requested))
    }

    /// The first `limit` deadlines not fired yet and due at `now`, soonest first, and when the
    /// next one after them is due (due already if the page is full and more are).
    fn due_at(&self, now: UtcMs, limit: usize) -> (Vec<Firing>, Option<UtcMs>) {
        let mut due = Vec::new();
        for r in self.rows(false, None) {
            if r.row.due > now || due.len() >= limit {
                return (due, Some(r.row.due));
            }
            due.push(Firing {
                case_ref: r.case_ref,
                track: r.row.slot.track,
                label: r.row.label,
                due: r.row.due,
                owed_by: r.row.slot.owed_by,
                escalation: r.row.slot.escalation,
            });
        }
        (due, None)
    }
}

/// Takes the index, the clock and the renderer from the board when the timer task ends, so
/// that the board does not keep the store open.
struct RenderGuard(Deadlines);

impl Drop for RenderGuard {
    fn drop(&mut self) {
        let mut board = self.0.board();
        board.render = None;
        board.index = None;
        board.now = None;
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

/// Due deadlines fired per call of [`fire_due`]: a page read from the index, fired with one
/// flush, and the cases at the end of their retention among them purged with one more. Between
/// pages the timer task goes back to its loop (readers waiting for the board, the node's
/// events), so that thousands of deadlines due at once (a retention period set on a node holding
/// years of closed cases) are fired a page at a time: never all held in memory, never holding
/// the board's readers for more than a page.
const PAGE: usize = 64;

/// Fires the first [`PAGE`] indexed deadlines due at `now`; returns when the next one is due
/// (due already if more are).
async fn fire_due(t: &Timers, now: UtcMs) -> Option<UtcMs> {
    let (due, next) = t.deadlines.board().due_at(now, PAGE);
    let mut fired = Vec::new();
    for d in due {
        match t.cases.store.fire_deadline(&d.case_ref, &d.label, now) {
            Ok(true) => fired.push(d),
            Ok(false) => {
                // Not recorded now: fired already, or the case is gone. The index, kept with
                // every change of a case, says otherwise only if it is wrong: put the case
                // again.
                if let Err(e) = t.cases.store.reindex_case(&d.case_ref) {
                    tracing::error!(error = %e, case = %d.case_ref, "cannot index a case's deadlines");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, case = %d.case_ref, "cannot record a deadline");
            }
        }
        // Each record is a transaction on this task's thread: let the node's other tasks run
        // between them.
        tokio::task::yield_now().await;
    }
    if fired.is_empty() {
        return next;
    }
    // The page's records flushed at once, then their events.
    let mut ready = Ready::after_flush();
    for d in &fired {
        ready = ready.notice(
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
    }
    if t.cases.apply(ready).await.is_err() {
        return next;
    }
    let mut retention = Vec::new();
    for d in &fired {
        if d.track == Track::Retention {
            // The end of a closed case's retention owes nothing to anyone: not a warning
            // (a purge of thousands would fill the log with them).
            tracing::debug!(case = %d.case_ref, label = %d.label, "retention over");
            if !retention.contains(&d.case_ref) {
                retention.push(d.case_ref.clone());
            }
        } else {
            tracing::warn!(case = %d.case_ref, track = %crate::metrics::track_name(d.track), label = %d.label, owed_by = %d.owed_by, "deadline due");
        }
    }
    if !retention.is_empty() {
        // The cases and the attachment files only they list; flushed once for the page.
        let reason = "retention period over";
        match crate::attachments::purge_cases(
            &t.cases.store,
            &t.attachments,
            &retention,
            reason,
            Actor::Node,
            now,
        )
        .await
        {
            Ok(purged) => {
                tracing::info!(cases = purged.len(), "purged at the end of their retention");
                // The purge flushed its own writes.
                let mut ready = Ready::flushed();
                for c in purged {
                    ready = ready.notice(EventKind::Purged, Some(c), None, None, None);
                }
                let _ = t.cases.apply(ready).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot purge the cases at the end of their retention");
            }
        }
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
        let (r, clocks) = (t.clone(), t.cases.clocks.clone());
        let mut board = t.deadlines.board();
        board.render = Some(Arc::new(move |c: &CaseRef, l: &str| render(&r, c, l)));
        board.now = Some(Arc::new(move || clocks.now()));
        board.index = Some(t.cases.store.deadline_index());
    }
    loop {
        let now = t.cases.clocks.now();
        let next = fire_due(&t, now).await;
        let wait = next.map(|at| Duration::from_millis(at.since(t.cases.clocks.now()).max(1)));
        let mut waiting = Vec::new();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = t.deadlines.kicked() => {}
            ev = events.recv() => {
                // Under load, gather the events of the next moment and look at the index once:
                // deadlines are minutes away, taking a change into account 50 ms later changes
                // nothing. A reader waiting for the board ends the gathering.
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    Some(c) = catch_ups.recv() => waiting.push(c),
                }
                if !absorb(&mut events, Some(ev)) {
                    return;
                }
            }
            Some(c) = catch_ups.recv() => {
                waiting.push(c);
                if !absorb(&mut events, None) {
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

/// Takes `first` and the events waiting after it (each case's change is in the index of
/// deadlines already, written with it); false once the node's event channel is closed.
fn absorb(
    events: &mut broadcast::Receiver<crate::events::NodeEvent>,
    first: Option<Result<crate::events::NodeEvent, RecvError>>,
) -> bool {
    let mut next = first.or_else(|| try_next(events));
    while let Some(ev) = next.take() {
        if let Err(RecvError::Closed) = ev {
            return false;
        }
        next = try_next(events);
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
    use crate::lifecycle::Role;

    impl Board {
        /// A board on a fresh index of its own.
        fn on_new_index() -> (Board, tempfile::TempDir) {
            let dir = tempfile::tempdir().unwrap();
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            let board = Board {
                index: Some(DeadlineIndex(db.open_tree("deadlines").unwrap())),
                ..Board::default()
            };
            (board, dir)
        }

        /// Puts a case held in role `was` (`None`: not held) with its deadlines, none of them
        /// fired (`None`: the case is gone), in the index, as a change of the case does.
        fn set(
            &mut self,
            case_ref: &CaseRef,
            was: Option<Role>,
            case: Option<(Role, &[Arc<Deadline>])>,
        ) {
            let Some(DeadlineIndex(tree)) = &self.index else {
                return;
            };
            let case = case.map(|(role, d)| (role, d.iter().map(|d| (**d).clone()).collect()));
            crate::store::deadlines::put_deadlines(tree, case_ref, was, case).unwrap();
        }

        /// Empties the index.
        fn clear(&mut self) {
            if let Some(DeadlineIndex(tree)) = &self.index {
                tree.clear().unwrap();
            }
        }
    }

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
        let (mut board, _dir) = Board::on_new_index();
        let first = [
            Arc::new(deadline(&a, Track::Acknowledgement, "ack", 10)),
            Arc::new(deadline(&a, Track::Preservation, "end", 30)),
        ];
        board.set(&a, None, Some((Role::Requested, &first)));
        board.set(
            &b,
            None,
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
        board.set(
            &a,
            Some(Role::Requested),
            Some((Role::Requested, &first[1..])),
        );
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
        board.set(&a, Some(Role::Requested), None);
        assert_eq!(board.cases(), (1, 0));
        assert_eq!(board.overdue(UtcMs(30)).get(&Track::Preservation), None);
        board.clear();
        assert_eq!(board.cases(), (0, 0));
    }
}
