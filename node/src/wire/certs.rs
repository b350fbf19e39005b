//! Certificate expiry: this node's certificate and every certificate a peer presented, the
//! days each has left, and a warning from 30 days before it expires (a `certificate_expiring`
//! event, and `certificates` in `GET /v1/status`). Also holds the client configuration a
//! reload renews, so new connections present the renewed certificate.

use crate::wire::tls::{self, TlsMaterial};
use poc247_api::Certificate;
use poc247_protocol::{PartyId, UtcMs};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

/// A certificate is warned about from this many days before it expires.
pub const WARN_DAYS: i64 = 30;
/// How often the node looks at the certificates again (besides start and reload).
pub const CHECK_EVERY: Duration = Duration::from_secs(24 * 3600);
const DAY_MS: i128 = 86_400_000;

/// Whole days from `now` until `not_after` (rounded down; negative once expired).
pub fn days_left(not_after: UtcMs, now: UtcMs) -> i64 {
    let ms = i128::from(not_after.0) - i128::from(now.0);
    i64::try_from(ms.div_euclid(DAY_MS)).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

/// Whether a certificate expiring at `not_after` is within [`WARN_DAYS`] of `now` (or past).
pub fn needs_warning(not_after: UtcMs, now: UtcMs) -> bool {
    i128::from(not_after.0) - i128::from(now.0) <= i128::from(WARN_DAYS) * DAY_MS
}

/// The status of `party`'s certificate expiring at `not_after`, as the API shows it at `now`
/// (`certificates` of `GET /v1/status`, a peer's of `GET /v1/peers`, a reload's).
pub fn status(party: PartyId, own: bool, not_after: UtcMs, now: UtcMs) -> Certificate {
    Certificate {
        party,
        own,
        not_after: not_after.rfc3339(),
        not_after_ms: not_after.0,
        days_left: days_left(not_after, now),
        warning: needs_warning(not_after, now),
    }
}

/// This node's certificate expiry and the client configuration a reload renewed.
pub struct CertWatch {
    own: Mutex<Option<UtcMs>>,
    client: RwLock<Option<quinn::ClientConfig>>,
}

impl std::fmt::Debug for CertWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertWatch")
            .field("own", &self.own_not_after())
            .finish_non_exhaustive()
    }
}

fn end_entity_not_after(material: &TlsMaterial) -> Option<UtcMs> {
    material
        .chain
        .first()
        .and_then(|c| tls::not_after_ms(c).ok())
        .map(UtcMs)
}

impl CertWatch {
    /// The watch of a node started with `material`.
    pub fn new(material: &TlsMaterial) -> Self {
        CertWatch {
            own: Mutex::new(end_entity_not_after(material)),
            client: RwLock::new(None),
        }
    }

    /// When this node's certificate expires.
    pub fn own_not_after(&self) -> Option<UtcMs> {
        *self.own.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The client configuration of a renewed certificate, if a reload made one.
    pub fn client_config(&self) -> Option<quinn::ClientConfig> {
        self.client
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Puts renewed TLS material in force for new outbound connections.
    pub(crate) fn renew(&self, material: &TlsMaterial, client: quinn::ClientConfig) {
        *self.own.lock().unwrap_or_else(|p| p.into_inner()) = end_entity_not_after(material);
        match self.client.write() {
            Ok(mut c) => *c = Some(client),
            Err(p) => *p.into_inner() = Some(client),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    #[test]
    fn days_left_round_down_and_go_negative_once_expired() {
        let now = UtcMs(1_000 * DAY);
        assert_eq!(days_left(now.plus_ms(10 * DAY), now), 10);
        assert_eq!(days_left(now.plus_ms(10 * DAY - 1), now), 9);
        assert_eq!(days_left(now, now), 0);
        assert_eq!(days_left(UtcMs(now.0 - 1), now), -1);
        assert_eq!(days_left(UtcMs(now.0 - 3 * DAY), now), -3);
    }

    #[test]
    fn the_warning_starts_30_days_before_expiry() {
        let now = UtcMs(1_000 * DAY);
        assert!(!needs_warning(now.plus_ms(30 * DAY + 1), now));
        assert!(needs_warning(now.plus_ms(30 * DAY), now));
        assert!(needs_warning(now.plus_ms(DAY), now));
        assert!(needs_warning(UtcMs(now.0 - DAY), now), "expired");
        let party = PartyId::parse("FR").unwrap_or_else(|e| panic!("{e}"));
        let s = status(party, false, now.plus_ms(12 * DAY), now);
        assert_eq!((s.days_left, s.warning), (12, true));
    }
}
