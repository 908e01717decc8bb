//! Any bytes as a template: the loader returns a lab or problems, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vpclab::template::load(text, &vpclab::template::Options::default());
    }
});
