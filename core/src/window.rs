//! A key or a pin with the window in which it is valid: a Party rolls a key in beside the
//! current one, then the old one out, and each is taken only within its window.

use poc247_protocol::UtcMs;

/// A key or pin with the window in which it is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window<T> {
    /// The key or pin.
    pub value: T,
    /// Valid from (none: always before).
    pub from: Option<UtcMs>,
    /// Valid until (none: no end).
    pub until: Option<UtcMs>,
}

impl<T> Window<T> {
    /// Whether `at` is within the window.
    pub fn covers(&self, at: UtcMs) -> bool {
        self.from.is_none_or(|f| at >= f) && self.until.is_none_or(|u| at <= u)
    }

    /// Why `at` is outside the window, if it is.
    pub fn outside(&self, at: UtcMs) -> Option<String> {
        match (self.from, self.until) {
            (Some(f), _) if at < f => Some(format!("not valid before {}", f.rfc3339())),
            (_, Some(u)) if at > u => Some(format!("valid until {}", u.rfc3339())),
            _ => None,
        }
    }
}
