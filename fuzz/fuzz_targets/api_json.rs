//! Bodies a local script posts to the control API: the request parser, the typed purge order
//! and every response kind's JSON must answer with field errors, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poc247_protocol::{Body, MessageKind, Urgency};

fuzz_target!(|data: &[u8]| {
    let _ = poc247_node::control::parse_new_request(data);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = poc247_node::control::purge_order(Some(&v));
        for kind in MessageKind::ALL {
            if let Ok(b) = Body::from_json(*kind, v.clone()) {
                let _ = b.validate(Urgency::Emergency);
                let _ = b.validate_in_case(Urgency::Urgent, MessageKind::Preservation, true);
            }
        }
    }
});
