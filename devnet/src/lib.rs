//! poc247 development networks, outside the node library: the development PKI
//! ([`devnet`]: a dev CA, each party's keys, certificate and `node.toml`, the directory, and
//! the small network checked in under `certs-dev/network/`) and a local network of real nodes
//! on loopback ([`localnet`]) for the demo, the tests and the benchmark. DEVELOPMENT ONLY.

pub mod devnet;
pub mod localnet;
