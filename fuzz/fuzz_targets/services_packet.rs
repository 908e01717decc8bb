//! Any bytes as a packet from the router, on every kind of service port: counted, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpclab::dataplane::time::Instant;
use vpclab::services::{Config, ServicePort, Services};

fuzz_target!(|data: &[u8]| {
    static LAB: std::sync::OnceLock<vpclab::model::Lab> = std::sync::OnceLock::new();
    let lab = LAB.get_or_init(|| {
        vpclab::template::load_default(&Default::default()).expect("default lab")
    });
    let mut s = Services::new(lab, Config::default()).expect("services");
    let mut ports = vec![ServicePort::Region];
    ports.extend(lab.vpcs.iter().map(|v| ServicePort::AmazonProvided { vpc: v.id.clone() }));
    ports.extend(lab.vpc_endpoints.iter().map(|e| ServicePort::GatewayEndpoint { vpce: e.id.clone() }));
    for p in &ports {
        s.receive(Instant::from_secs(1), p, data);
    }
    s.poll(Instant::from_secs(1), |_, _| {});
});
