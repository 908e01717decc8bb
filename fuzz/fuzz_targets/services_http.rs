//! Any bytes as an HTTP stream to instance metadata: responses or a 4xx, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpclab::dataplane::time::Instant;
use vpclab::services::http::{serve_stream, ConnState};
use vpclab::services::imds::Imds;

fuzz_target!(|data: &[u8]| {
    static LAB: std::sync::OnceLock<vpclab::model::Lab> = std::sync::OnceLock::new();
    let lab = LAB.get_or_init(|| {
        vpclab::template::load_default(&Default::default()).expect("default lab")
    });
    let mut imds = Imds::new(lab, [0; 32]);
    let inst = &lab.instances[0];
    let mut input = data.to_vec();
    let mut out = Vec::new();
    let _ = serve_stream(&mut input, &mut out, 16 * 1024, &mut ConnState::default(), |req| {
        imds.handle(Instant::from_secs(1), &inst.vpc, inst.private_ip, req)
    });
});
