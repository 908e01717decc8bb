//! Any bytes as frames on any port of the seed-2 topology: `Router::process`
//! never panics, and its state stays bounded (connection tracking within its
//! capacity, the flow log a fixed ring).
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use vpclab::dataplane::router::{Config, Router};
use vpclab::dataplane::testkit::Count;
use vpclab::dataplane::time::Instant;
use vpclab::dataplane::topology::{PortId, Snapshot};

const CAPACITY: usize = 64;

fn router() -> &'static Mutex<(Router, u64)> {
    static ROUTER: OnceLock<Mutex<(Router, u64)>> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let text = include_str!("../../templates/seed2-gateway-endpoint.yaml");
        let lab = vpclab::template::load(text, &Default::default()).expect("seed-2 loads");
        let snap = Snapshot::build(&lab, None).expect("snapshot");
        let config = Config {
            conntrack_capacity: CAPACITY,
            flow_log_capacity: 16,
            ..Config::default()
        };
        Mutex::new((Router::new(Arc::new(snap), config), 0))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut guard = router().lock().unwrap_or_else(|e| e.into_inner());
    let (router, clock) = &mut *guard;
    let ports = router.snapshot().ports.len() as u8 + 1;
    *clock += u64::from(sel >> 4) * 1000;
    let mut buf = rest.to_vec();
    let mut sink = Count::default();
    router.process(Instant::from_millis(*clock), PortId(u32::from(sel % ports)), &mut buf, &mut sink);
    assert!(router.tracked_flows() <= CAPACITY);
});
