//! The operator's surface: what the node keeps for `GET /v1/peers`, certificate expiry,
//! `GET /metrics` and the hook's health, and the lock that keeps two reloads apart. The task
//! that fills it is in [`crate::upkeep`].

use crate::metrics::Metrics;
use crate::wire::certs::CertWatch;
use crate::wire::tls::TlsMaterial;
use poc247_protocol::{PartyId, UtcMs};
use std::collections::HashMap;
use std::sync::Mutex;

/// The operator's surface, shared by the tasks and routes that use it.
pub type Ops = std::sync::Arc<Operator>;

/// What the operator's surface keeps.
#[derive(Debug)]
pub struct Operator {
    /// Peers seen.
    pub peers: PeerBook,
    /// Certificates.
    pub certs: CertWatch,
    /// Counters.
    pub metrics: Metrics,
    /// Whether the hook works.
    pub hook: std::sync::Arc<crate::hook::HookHealth>,
    reload: tokio::sync::Mutex<()>,
}

impl Operator {
    /// The state of a node started at `now` with `material`.
    pub fn new(material: &TlsMaterial, now: UtcMs) -> Self {
        Operator {
            peers: PeerBook::new(now),
            certs: CertWatch::new(material),
            metrics: Metrics::default(),
            hook: Default::default(),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    /// Held by a reload, so two never interleave.
    pub(crate) async fn reload_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.reload.lock().await
    }
}

#[derive(Debug, Default)]
struct Book {
    last_seen: HashMap<PartyId, UtcMs>,
    /// Why the last attempt to reach a peer failed, until it is seen again.
    last_error: HashMap<PartyId, String>,
    certificates: HashMap<PartyId, UtcMs>,
    loaded_at: UtcMs,
}

/// What the node saw of each peer since it started.
#[derive(Debug)]
pub struct PeerBook {
    inner: Mutex<Book>,
}

impl PeerBook {
    /// An empty book; the directory was loaded at `now`.
    pub fn new(now: UtcMs) -> Self {
        PeerBook {
            inner: Mutex::new(Book {
                loaded_at: now,
                ..Book::default()
            }),
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `peer` was seen at `at` (a connection admitted, a message or receipt from it).
    pub fn seen(&self, peer: &PartyId, at: UtcMs) {
        let mut b = self.book();
        let last = b.last_seen.entry(peer.clone()).or_insert(at);
        *last = (*last).max(at);
        b.last_error.remove(peer);
    }

    /// The last attempt to reach `peer` failed: why (a peer that refused this node says why
    /// in the reason it closes with, such as a pin that does not match).
    pub fn unreachable(&self, peer: &PartyId, why: &str) {
        self.book().last_error.insert(peer.clone(), why.to_owned());
    }

    /// Why the last attempt to reach `peer` failed, if it has not been seen since.
    pub fn last_error(&self, peer: &PartyId) -> Option<String> {
        self.book().last_error.get(peer).cloned()
    }

    /// When `peer` was last seen.
    pub fn last_seen(&self, peer: &PartyId) -> Option<UtcMs> {
        self.book().last_seen.get(peer).copied()
    }

    /// Records when the certificate `peer` presented expires; `true` if it is not the one
    /// recorded before.
    pub fn certificate(&self, peer: &PartyId, not_after: UtcMs) -> bool {
        self.book().certificates.insert(peer.clone(), not_after) != Some(not_after)
    }

    /// Every peer certificate seen, with its expiry.
    pub fn certificates(&self) -> Vec<(PartyId, UtcMs)> {
        self.book()
            .certificates
            .iter()
            .map(|(p, t)| (p.clone(), *t))
            .collect()
    }

    /// Forgets a party that left the directory.
    pub fn forget(&self, peer: &PartyId) {
        let mut b = self.book();
        b.last_seen.remove(peer);
        b.last_error.remove(peer);
        b.certificates.remove(peer);
    }

    /// When the directory in force was loaded.
    pub fn loaded_at(&self) -> UtcMs {
        self.book().loaded_at
    }

    pub(crate) fn set_loaded_at(&self, at: UtcMs) {
        self.book().loaded_at = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PartyId {
        PartyId::parse(s).unwrap()
    }

    #[test]
    fn the_book_keeps_the_latest_sighting_and_notices_a_new_certificate() {
        let book = PeerBook::new(UtcMs(1));
        book.seen(&p("FR"), UtcMs(10));
        book.seen(&p("FR"), UtcMs(5));
        assert_eq!(book.last_seen(&p("FR")), Some(UtcMs(10)));
        assert!(book.certificate(&p("FR"), UtcMs(100)));
        assert!(
            !book.certificate(&p("FR"), UtcMs(100)),
            "the same one again"
        );
        assert!(book.certificate(&p("FR"), UtcMs(200)), "renewed");
        book.forget(&p("FR"));
        assert_eq!(book.last_seen(&p("FR")), None);
        assert!(book.certificates().is_empty());
    }
}
