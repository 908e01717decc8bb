//! Benchmarks of the services: Amazon DNS answering one query (resolver only), and one
//! query through the whole path (admission, smoltcp UDP, resolver, reply packet).
//!
//! Run: `cargo bench --bench services -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` and `criterion_main!` generate public functions without docs; a bench
// target is no library, so the crate's `missing_docs` lint has nothing to say here.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use etherparse::PacketBuilder;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use vpclab::dataplane::time::Instant;
use vpclab::services::dns::{Resolver, Transport};
use vpclab::services::{Config, ServicePort, Services};

fn query(name: &str) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(1)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(
            Name::from_ascii(name).expect("name"),
            RecordType::A,
        ));
    m.to_vec().expect("query")
}

fn dns(c: &mut Criterion) {
    let lab = vpclab::template::load_default(&Default::default()).expect("default lab");
    let inst = lab.instances[0].clone();
    let q = query("s3.ap-northeast-2.amazonaws.com");
    let resolver = Resolver::new(&lab);
    let mut g = c.benchmark_group("dns");
    g.throughput(Throughput::Elements(1));
    g.bench_function("resolver_answer", |b| {
        b.iter(|| black_box(resolver.answer(Some(&inst.vpc), black_box(&q), Transport::Udp)))
    });
    let mut s = Services::new(
        &lab,
        Config {
            dns_packets_per_second: u32::MAX,
            ..Config::default()
        },
    )
    .expect("services");
    let port = ServicePort::AmazonProvided {
        vpc: inst.vpc.clone(),
    };
    let mut pkt = Vec::new();
    PacketBuilder::ipv4(inst.private_ip.octets(), [169, 254, 169, 253], 64)
        .udp(40000, 53)
        .write(&mut pkt, &q)
        .expect("packet");
    let mut t = 0u64;
    g.bench_function("udp_query_through_services", |b| {
        b.iter(|| {
            t += 1;
            let now = Instant::from_millis(t);
            s.receive(now, &port, black_box(&pkt));
            let mut n = 0;
            s.poll(now, |_, p| n += p.len());
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, dns);
criterion_main!(benches);
