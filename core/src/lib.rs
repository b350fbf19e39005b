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
//! - [`window`]: a key or pin with the window in which it is valid;
//! - [`directory`]: the network directory's entries and declarations, parsed and checked, and
//!   the directory in force with its lookups;
//! - [`dirversion`]: signed directory versions, and the check a node makes before it takes
//!   one (the registry's signature, the serial, the chain, each Party's signature);
//! - [`routing`]: where a request goes by the directory's declarations, and what the directory
//!   says of a case between two Parties.
//!
//! Nothing here does I/O or reads a clock; the node (`poc247-node`) stores, sends and
//! publishes what these decide.

pub mod audit;
pub mod delivery;
pub mod directory;
pub mod dirversion;
pub mod events;
pub mod inbound;
pub mod lifecycle;
pub mod ratelimit;
pub mod ready;
pub mod routing;
pub mod stats;
pub mod tracks;
pub mod window;
