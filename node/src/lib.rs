//! poc247 node: configuration, directory, keys and TLS, the sled store, the sans-IO case
//! lifecycle and delivery engine, the QUIC transport, the control API, and the driver that
//! wires them.

pub mod config;
pub mod devnet;
pub mod directory;
pub mod error;
pub mod keys;
pub mod tls;
