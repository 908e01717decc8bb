//! Any bytes as a DNS message to Amazon DNS, over UDP and TCP: a reply or a drop, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vpclab::model::Lab;
use vpclab::services::dns::{serve_stream, Resolver, Transport};

fn lab() -> &'static (Lab, Resolver) {
    static L: OnceLock<(Lab, Resolver)> = OnceLock::new();
    L.get_or_init(|| {
        let lab = vpclab::template::load_default(&Default::default()).expect("default lab");
        let r = Resolver::new(&lab);
        (lab, r)
    })
}

fuzz_target!(|data: &[u8]| {
    let (lab, r) = lab();
    let vpc = &lab.vpcs[0].id;
    let _ = r.answer(Some(vpc), data, Transport::Udp);
    let _ = r.answer(Some(vpc), data, Transport::Tcp);
    let mut input = data.to_vec();
    let mut out = Vec::new();
    let _ = serve_stream(r, Some(vpc), &mut input, &mut out);
});
