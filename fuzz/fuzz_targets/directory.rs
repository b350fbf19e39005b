//! Directory files an administrator writes (or a file damaged on its way): parsing must answer
//! with an error naming the fault, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = poc247_node::Directory::from_toml(text);
    }
});
