//! Frames from a peer: decoding, the unauthenticated header peek, verification and replies
//! must return an error on any input, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poc247_protocol::{PartyId, Reply, SignedEnvelope, SigningKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = SignedEnvelope::from_bytes(data) {
        let _ = s.unverified_header();
        if let Ok(p) = PartyId::parse("LU") {
            let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
            let _ = s.verify(&p, &key);
        }
    }
    let _ = Reply::from_bytes(data);
});
