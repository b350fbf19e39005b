//! poc247's sans-IO core: the decisions of a node as functions of what it holds and `now`.
//!
//! - [`lifecycle`]: a case and the transitions its messages cause, the same on both sides;
//! - [`tracks`]: the deadlines each case owes;
//! - [`delivery`]: when each queued message is sent again, per peer;
//! - [`inbound`]: the checks a frame from a peer passes before it is stored;
//! - [`ratelimit`]: per-peer token buckets;
//! - [`audit`]: the audit chain's entries, checkpoints and the node's key history;
//! - [`stats`]: content-free statistics of a period;
//! - [`events`]: what the node publishes when something happens (ids, kinds, outcomes);
//! - [`ready`]: a decision's effects — flush, events, queue — as one value the node releases
//!   in one order;
//! - [`window`]: a key or pin with the window in which it is valid.
//!
//! Nothing here does I/O or reads a clock; the node (`poc247-node`) stores, sends and
//! publishes what these decide.

pub mod audit;
pub mod delivery;
pub mod events;
pub mod inbound;
pub mod lifecycle;
pub mod ratelimit;
pub mod ready;
pub mod stats;
pub mod tracks;
pub mod window;
