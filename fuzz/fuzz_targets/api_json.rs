//! Bodies a local script posts to the control API: the readers of poc247-api's request bodies
//! (a request, an action, a record, a drill's move, a purge order) and every response kind's
//! JSON must answer with field errors, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use poc247_protocol::{Body, MessageKind, Urgency};

fuzz_target!(|data: &[u8]| {
    let _ = poc247_api::RequestBody::read(data);
    let _ = poc247_api::RecordBody::read(data, |_| None);
    let _ = poc247_api::DrillMove::read(data);
    if let Ok(map) = poc247_api::ActionBody::members(data) {
        let _ = poc247_api::ActionBody::read(&map, MessageKind::Acknowledgement, Vec::new());
        let _ = poc247_api::NoteFields::read(&map, "close");
        let _ = poc247_api::ResendFields::read(&map);
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = poc247_api::PurgeFields::read(Some(&v));
        for kind in MessageKind::ALL {
            if let Ok(b) = Body::from_json(*kind, v.clone()) {
                let _ = b.validate(Urgency::Emergency);
                let _ = b.validate_in_case(Urgency::Urgent, MessageKind::Preservation, true);
            }
        }
    }
});
