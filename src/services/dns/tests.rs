use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use super::*;
use crate::model::Lab;
use crate::template::{self, Options};

/// The embedded default lab (loaded once: the property tests ask for it per case).
pub(crate) fn default_lab() -> Lab {
    static LAB: std::sync::OnceLock<Lab> = std::sync::OnceLock::new();
    LAB.get_or_init(|| {
        template::load_default(&Options::default()).expect("the embedded default lab loads")
    })
    .clone()
}

pub(crate) fn query(id: u16, name: &str, qt: RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), qt));
    m.to_vec().unwrap()
}

fn reply(o: Outcome) -> Message {
    match o {
        Outcome::Reply { bytes, .. } => Message::from_vec(&bytes).unwrap(),
        Outcome::Drop(e) => panic!("dropped: {e}"),
    }
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn ask(r: &Resolver, vpc: &VpcId, name: &str, qt: RecordType) -> Message {
    let m = reply(r.answer(Some(vpc), &query(7, name, qt), Transport::Udp));
    assert_eq!(m.id(), 7);
    assert_eq!(m.message_type(), MessageType::Response);
    assert!(m.recursion_available());
    m
}

fn vpc_named<'a>(lab: &'a Lab, cidr: &str) -> &'a model::Vpc {
    lab.vpcs
        .iter()
        .find(|v| v.cidr.to_string() == cidr)
        .unwrap_or_else(|| panic!("no VPC {cidr}"))
}

#[test]
fn private_names_resolve_to_the_eni_address_case_insensitively() {
    let lab = default_lab();
    let r = Resolver::new(&lab);
    let vpc = vpc_named(&lab, "10.0.0.0/16");
    let inst = lab.instances.iter().find(|i| i.vpc == vpc.id).unwrap();
    let name = format!(
        "{}.ap-northeast-2.compute.internal",
        model::ip_hostname(inst.private_ip)
    );
    let m = ask(&r, &vpc.id, &name, RecordType::A);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(a_records(&m), vec![inst.private_ip]);
    // DNS 0x20: the question and the answer keep the asker's case.
    let mixed: String = name
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    let m = ask(&r, &vpc.id, &format!("{mixed}."), RecordType::A);
    assert_eq!(a_records(&m), vec![inst.private_ip]);
    assert_eq!(m.answers()[0].name().to_ascii(), format!("{mixed}."));
    assert_eq!(m.queries()[0].name().to_ascii(), format!("{mixed}."));
}

#[test]
fn reverse_lookups_give_the_private_name() {
    let lab = default_lab();
    let r = Resolver::new(&lab);
    let vpc = vpc_named(&lab, "10.0.0.0/16");
    let inst = lab.instances.iter().find(|i| i.vpc == vpc.id).unwrap();
    let m = ask(&r, &vpc.id, &reverse_name(inst.private_ip), RecordType::PTR);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    let ptr: Vec<String> = m
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        })
        .collect();
    assert_eq!(
        ptr,
        vec![format!(
            "{}.ap-northeast-2.compute.internal.",
            model::ip_hostname(inst.private_ip)
        )]
    );
    let m = ask(&r, &vpc.id, "1.2.3.4.in-addr.arpa", RecordType::PTR);
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
}

#[test]
fn public_names_are_split_horizon() {
    let lab = default_lab();
    let r = Resolver::new(&lab);
    let inst = lab
        .instances
        .iter()
        .find(|i| i.public_ip.is_some() && !i.public_dns_name.is_empty())
        .expect("the default lab has a public instance");
    let other = lab.vpcs.iter().find(|v| v.id != inst.vpc).unwrap();
    let inside = ask(&r, &inst.vpc, &inst.public_dns_name, RecordType::A);
    assert_eq!(a_records(&inside), vec![inst.private_ip]);
    let outside = ask(&r, &other.id, &inst.public_dns_name, RecordType::A);
    assert_eq!(a_records(&outside), vec![inst.public_ip.unwrap()]);
    // The other VPC does not see this VPC's private names.
    let private = ask(&r, &other.id, &inst.private_dns_name, RecordType::A);
    assert_eq!(private.response_code(), ResponseCode::NXDomain);
}

#[test]
fn regional_service_names_of_every_region_resolve_to_the_catalog() {
    let lab = default_lab();
    let r = Resolver::new(&lab);
    let vpc = &lab.vpcs[0].id;
    for region in catalog::REGIONS {
        let s3 = region.gateway_service("s3").unwrap().ips();
        let ddb = region.gateway_service("dynamodb").unwrap().ips();
        for name in [
            format!("s3.{}.amazonaws.com", region.name),
            format!("S3.{}.AmazonAWS.com.", region.name),
            format!("s3-{}.amazonaws.com", region.name),
            format!("s3.dualstack.{}.amazonaws.com", region.name),
            format!("my-bucket.s3.{}.amazonaws.com", region.name),
            format!("a.b.dotted.bucket.s3.{}.amazonaws.com", region.name),
        ] {
            let m = ask(&r, vpc, &name, RecordType::A);
            assert_eq!(m.response_code(), ResponseCode::NoError, "{name}");
            assert_eq!(a_records(&m), s3, "{name}");
        }
        let m = ask(
            &r,
            vpc,
            &format!("dynamodb.{}.amazonaws.com", region.name),
            RecordType::A,
        );
        assert_eq!(a_records(&m), ddb);
        for s in region.interface_services {
            let m = ask(
                &r,
                vpc,
                &format!("{}.{}.amazonaws.com", s.short, region.name),
                RecordType::A,
            );
            assert_eq!(a_records(&m), s.ips(), "{}", s.short);
        }
    }
    let use1 = catalog::region("us-east-1")
        .unwrap()
        .gateway_service("s3")
        .unwrap()
        .ips();
    for name in [
        "s3.amazonaws.com",
        "bucket.s3.amazonaws.com",
        "s3-external-1.amazonaws.com",
    ] {
        assert_eq!(
            a_records(&ask(&r, vpc, name, RecordType::A)),
            use1,
            "{name}"
        );
    }
    // The seed's address for CloudFormation.
    let m = ask(
        &r,
        vpc,
        "cloudformation.ap-northeast-2.amazonaws.com",
        RecordType::A,
    );
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(52, 95, 193, 132)]);
}

#[test]
fn unknown_names_are_nxdomain_and_known_names_without_the_type_are_nodata() {
    let lab = default_lab();
    let r = Resolver::new(&lab);
    let vpc = &lab.vpcs[0].id;
    for name in [
        "www.example.com",
        "amazonaws.com",
        "s3.mars-central-1.amazonaws.com",
        "dynamodb.amazonaws.com",
        "bucket.dynamodb.ap-northeast-2.amazonaws.com",
        "ip-10-9-9-9.ap-northeast-2.compute.internal",
    ] {
        let m = ask(&r, vpc, name, RecordType::A);
        assert_eq!(m.response_code(), ResponseCode::NXDomain, "{name}");
        assert!(m.answers().is_empty());
    }
    let m = ask(&r, vpc, "s3.ap-northeast-2.amazonaws.com", RecordType::AAAA);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
    let m = ask(&r, vpc, "s3.ap-northeast-2.amazonaws.com", RecordType::MX);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
    let m = ask(&r, vpc, "s3.ap-northeast-2.amazonaws.com", RecordType::ANY);
    assert_eq!(a_records(&m).len(), 2);
}

#[test]
fn dns_hostnames_off_hides_instance_names_but_not_services() {
    let mut lab = default_lab();
    lab.vpcs[0].enable_dns_hostnames = false;
    let r = Resolver::new(&lab);
    let vpc = lab.vpcs[0].id.clone();
    let inst = lab.instances.iter().find(|i| i.vpc == vpc).unwrap();
    let name = format!(
        "{}.ap-northeast-2.compute.internal",
        model::ip_hostname(inst.private_ip)
    );
    assert_eq!(
        ask(&r, &vpc, &name, RecordType::A).response_code(),
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(&r, &vpc, &reverse_name(inst.private_ip), RecordType::PTR).response_code(),
        ResponseCode::NXDomain
    );
    if let Some(ip) = inst.public_ip {
        let public = model::public_hostname(ip, lab.region());
        assert_eq!(
            ask(&r, &vpc, &public, RecordType::A).response_code(),
            ResponseCode::NXDomain
        );
    }
    let m = ask(&r, &vpc, "s3.ap-northeast-2.amazonaws.com", RecordType::A);
    assert_eq!(a_records(&m).len(), 2);
}

#[test]
fn dns_support_off_means_no_answer() {
    let mut lab = default_lab();
    lab.vpcs[0].enable_dns_support = false;
    let r = Resolver::new(&lab);
    let vpc = lab.vpcs[0].id.clone();
    let o = r.answer(
        Some(&vpc),
        &query(1, "s3.ap-northeast-2.amazonaws.com", RecordType::A),
        Transport::Udp,
    );
    assert_eq!(o, Outcome::Drop(Error::DnsDisabled(vpc)));
}

#[test]
fn malformed_queries_get_formerr_or_are_dropped() {
    let lab = default_lab();
    let r = Resolver::new(&lab);
    let vpc = &lab.vpcs[0].id;
    // Too short for a header.
    assert!(matches!(
        r.answer(Some(vpc), &[1, 2, 3], Transport::Udp),
        Outcome::Drop(Error::Unreadable(_))
    ));
    // A header that claims a question that is not there.
    let mut q = query(0x1234, "s3.ap-northeast-2.amazonaws.com", RecordType::A);
    q.truncate(12 + 5);
    let m = reply(r.answer(Some(vpc), &q, Transport::Udp));
    assert_eq!(m.id(), 0x1234);
    assert_eq!(m.response_code(), ResponseCode::FormErr);
    // A response is never answered.
    let mut resp = query(9, "s3.ap-northeast-2.amazonaws.com", RecordType::A);
    resp[2] |= 0x80;
    assert_eq!(
        r.answer(Some(vpc), &resp, Transport::Udp),
        Outcome::Drop(Error::NotAQuery)
    );
    // Two questions: FORMERR. No question: FORMERR.
    let mut two = Message::new();
    two.set_id(3)
        .add_query(Query::query(
            Name::from_ascii("a.com").unwrap(),
            RecordType::A,
        ))
        .add_query(Query::query(
            Name::from_ascii("b.com").unwrap(),
            RecordType::A,
        ));
    let m = reply(r.answer(Some(vpc), &two.to_vec().unwrap(), Transport::Udp));
    assert_eq!(m.response_code(), ResponseCode::FormErr);
    let mut none = Message::new();
    none.set_id(4);
    let m = reply(r.answer(Some(vpc), &none.to_vec().unwrap(), Transport::Udp));
    assert_eq!(m.response_code(), ResponseCode::FormErr);
    // Another opcode: NOTIMP.
    let mut upd = Message::new();
    upd.set_id(5).set_op_code(OpCode::Update);
    let m = reply(r.answer(Some(vpc), &upd.to_vec().unwrap(), Transport::Udp));
    assert_eq!(m.response_code(), ResponseCode::NotImp);
    // Another class: REFUSED.
    let mut ch = Message::new();
    let mut cq = Query::query(Name::from_ascii("version.bind").unwrap(), RecordType::TXT);
    cq.set_query_class(DNSClass::CH);
    ch.set_id(6).add_query(cq);
    let m = reply(r.answer(Some(vpc), &ch.to_vec().unwrap(), Transport::Udp));
    assert_eq!(m.response_code(), ResponseCode::Refused);
}

#[test]
fn edns_is_echoed_and_big_udp_answers_are_truncated_but_not_over_tcp() {
    let lab = default_lab();
    let mut r = Resolver::new(&lab);
    let vpc = lab.vpcs[0].id.clone();
    let many: Vec<Ipv4Addr> = (1..=60).map(|i| Ipv4Addr::new(10, 0, 9, i)).collect();
    r.overrides_mut(&vpc)
        .unwrap()
        .insert_a("big.example", &many);

    let classic = query(1, "big.example", RecordType::A);
    match r.answer(Some(&vpc), &classic, Transport::Udp) {
        Outcome::Reply {
            bytes, truncated, ..
        } => {
            assert!(truncated);
            assert!(bytes.len() <= CLASSIC_UDP_PAYLOAD);
            let m = Message::from_vec(&bytes).unwrap();
            assert!(m.truncated());
            assert!(m.answers().is_empty());
        }
        o => panic!("{o:?}"),
    }
    let m = reply(r.answer(Some(&vpc), &classic, Transport::Tcp));
    assert!(!m.truncated());
    assert_eq!(a_records(&m).len(), 60);

    let mut with_edns = Message::from_vec(&classic).unwrap();
    let mut e = Edns::new();
    e.set_max_payload(4096);
    with_edns.set_edns(e);
    let m = reply(r.answer(Some(&vpc), &with_edns.to_vec().unwrap(), Transport::Udp));
    // About 1 KB: over 512, within the 1232 bytes EDNS allows.
    assert!(!m.truncated());
    assert_eq!(a_records(&m).len(), 60);
    assert_eq!(m.extensions().as_ref().unwrap().max_payload(), EDNS_PAYLOAD);
}

#[test]
fn overrides_come_first_and_survive_a_model_update() {
    let lab = default_lab();
    let mut r = Resolver::new(&lab);
    let vpc = lab.vpcs[0].id.clone();
    let name = "cloudformation.ap-northeast-2.amazonaws.com";
    let ep = Ipv4Addr::new(10, 0, 0, 200);
    r.overrides_mut(&vpc).unwrap().insert_a(name, &[ep]);
    r.overrides_mut(&vpc)
        .unwrap()
        .insert_wildcard_a("s3.ap-northeast-2.amazonaws.com", &[ep]);
    r.update(&lab);
    assert_eq!(r.lookup(&vpc, name).unwrap().a, vec![ep]);
    assert_eq!(
        r.lookup(&vpc, "bkt.s3.ap-northeast-2.amazonaws.com")
            .unwrap()
            .a,
        vec![ep]
    );
    // The exact name is not covered by the wildcard: the catalog answers it.
    assert_eq!(
        r.lookup(&vpc, "s3.ap-northeast-2.amazonaws.com")
            .unwrap()
            .a
            .len(),
        2
    );
    // Other VPCs are not affected.
    let other = &lab.vpcs[1].id;
    assert_eq!(
        r.lookup(other, name).unwrap().a,
        vec![Ipv4Addr::new(52, 95, 193, 132)]
    );
}

#[test]
fn tcp_stream_answers_complete_messages_and_keeps_the_rest() {
    let lab = default_lab();
    let r = Resolver::new(&lab);
    let vpc = &lab.vpcs[0].id;
    let q = query(11, "s3.ap-northeast-2.amazonaws.com", RecordType::A);
    let mut input = Vec::new();
    for _ in 0..2 {
        input.extend_from_slice(&(q.len() as u16).to_be_bytes());
        input.extend_from_slice(&q);
    }
    input.extend_from_slice(&(q.len() as u16).to_be_bytes());
    input.extend_from_slice(&q[..5]);
    let mut out = Vec::new();
    let outcomes = serve_stream(&r, Some(vpc), &mut input, &mut out);
    assert_eq!(outcomes.len(), 2);
    assert_eq!(input.len(), 2 + 5);
    let len = u16::from_be_bytes([out[0], out[1]]) as usize;
    let m = Message::from_vec(&out[2..2 + len]).unwrap();
    assert_eq!(a_records(&m).len(), 2);
    assert_eq!(out.len(), 2 * (2 + len));
}

#[test]
fn counters_follow_outcomes() {
    let lab = default_lab();
    let r = Resolver::new(&lab);
    let vpc = &lab.vpcs[0].id;
    let mut c = DnsCounters::default();
    c.count(&r.answer(
        Some(vpc),
        &query(1, "s3.ap-northeast-2.amazonaws.com", RecordType::A),
        Transport::Udp,
    ));
    c.count(&r.answer(
        Some(vpc),
        &query(1, "nope.example", RecordType::A),
        Transport::Udp,
    ));
    c.count(&r.answer(Some(vpc), &[0], Transport::Udp));
    assert_eq!((c.messages, c.noerror, c.nxdomain, c.dropped), (3, 1, 1, 1));
}

#[test]
fn interface_endpoint_names_resolve_to_their_enis_from_every_vpc() {
    let lab = default_lab();
    let r = Resolver::new(&lab);
    let ep = lab
        .vpc_endpoints
        .iter()
        .find(|e| e.service_name.ends_with(".cloudformation"))
        .unwrap();
    let model::EndpointKind::Interface {
        network_interfaces,
        dns_entries,
        ..
    } = &ep.kind
    else {
        panic!("interface endpoint")
    };
    let mut ips: Vec<Ipv4Addr> = network_interfaces
        .iter()
        .map(|e| lab.eni(e).unwrap().private_ip)
        .collect();
    ips.sort();
    assert_eq!(ips.len(), 2, "one ENI per subnet, as in the seed");
    for vpc in &lab.vpcs {
        let mut got = a_records(&ask(&r, &vpc.id, &dns_entries[0].0, RecordType::A));
        got.sort();
        assert_eq!(got, ips, "regional name from {}", vpc.id);
    }
    for (zonal, _) in &dns_entries[1..] {
        let eni = network_interfaces
            .iter()
            .map(|e| lab.eni(e).unwrap())
            .find(|e| zonal.contains(&lab.subnet(&e.subnet).unwrap().availability_zone))
            .unwrap();
        let got = a_records(&ask(&r, &lab.vpcs[0].id, zonal, RecordType::A));
        assert_eq!(got, vec![eni.private_ip], "{zonal}");
    }
    // Private DNS is off in the seed: the service name still gives the public address.
    let m = ask(
        &r,
        &ep.vpc,
        "cloudformation.ap-northeast-2.amazonaws.com",
        RecordType::A,
    );
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(52, 95, 193, 132)]);
}

fn cloudformation_endpoint(lab: &mut Lab) -> &mut model::VpcEndpoint {
    lab.vpc_endpoints
        .iter_mut()
        .find(|e| e.service_name.ends_with(".cloudformation"))
        .unwrap()
}

fn set_private_dns(ep: &mut model::VpcEndpoint, on: bool) {
    if let model::EndpointKind::Interface {
        private_dns_enabled,
        ..
    } = &mut ep.kind
    {
        *private_dns_enabled = on;
    }
}

fn eni_ips(lab: &Lab, ep: &model::VpcEndpoint) -> Vec<Ipv4Addr> {
    let model::EndpointKind::Interface {
        network_interfaces, ..
    } = &ep.kind
    else {
        panic!("interface endpoint")
    };
    let mut ips: Vec<Ipv4Addr> = network_interfaces
        .iter()
        .map(|e| lab.eni(e).unwrap().private_ip)
        .collect();
    ips.sort();
    ips
}

#[test]
fn private_dns_of_an_interface_endpoint_follows_updates_inside_its_vpc_only() {
    let mut lab = default_lab();
    let mut r = Resolver::new(&lab);
    let name = "cloudformation.ap-northeast-2.amazonaws.com";
    let public = vec![Ipv4Addr::new(52, 95, 193, 132)];
    let ep = cloudformation_endpoint(&mut lab).clone();
    let other = lab.vpcs.iter().find(|v| v.id != ep.vpc).unwrap().id.clone();
    let ips = eni_ips(&lab, &ep);
    assert_eq!(a_records(&ask(&r, &ep.vpc, name, RecordType::A)), public);

    // modify-vpc-endpoint --private-dns-enabled on a running lab: at once.
    set_private_dns(cloudformation_endpoint(&mut lab), true);
    r.update(&lab);
    let mut got = a_records(&ask(&r, &ep.vpc, &name.to_ascii_uppercase(), RecordType::A));
    got.sort();
    assert_eq!(got, ips);
    assert_eq!(
        a_records(&ask(&r, &other, name, RecordType::A)),
        public,
        "other VPCs"
    );
    // Other services keep their public address.
    assert_eq!(
        a_records(&ask(
            &r,
            &ep.vpc,
            "sqs.ap-northeast-2.amazonaws.com",
            RecordType::A
        )),
        vec![Ipv4Addr::new(52, 95, 194, 160)]
    );

    // Needs both DNS attributes.
    let vpc = lab.vpcs.iter_mut().find(|v| v.id == ep.vpc).unwrap();
    vpc.enable_dns_hostnames = false;
    r.update(&lab);
    assert_eq!(a_records(&ask(&r, &ep.vpc, name, RecordType::A)), public);
    lab.vpcs
        .iter_mut()
        .find(|v| v.id == ep.vpc)
        .unwrap()
        .enable_dns_hostnames = true;
    r.update(&lab);
    assert_eq!(a_records(&ask(&r, &ep.vpc, name, RecordType::A)).len(), 2);

    // An endpoint that does not carry traffic has no private DNS.
    cloudformation_endpoint(&mut lab).state = "pending".into();
    r.update(&lab);
    assert_eq!(a_records(&ask(&r, &ep.vpc, name, RecordType::A)), public);
    cloudformation_endpoint(&mut lab).state = "available".into();

    // Off again.
    set_private_dns(cloudformation_endpoint(&mut lab), false);
    r.update(&lab);
    assert_eq!(a_records(&ask(&r, &ep.vpc, name, RecordType::A)), public);
}

#[test]
fn an_endpoint_to_an_endpoint_service_has_its_own_names_too() {
    let lab = default_lab();
    let r = Resolver::new(&lab);
    let ep = lab
        .vpc_endpoints
        .iter()
        .find(|e| e.service_name.starts_with("com.amazonaws.vpce."))
        .expect("the default lab's endpoint to lab 4's service");
    let model::EndpointKind::Interface { dns_entries, .. } = &ep.kind else {
        panic!("interface endpoint")
    };
    let ips = eni_ips(&lab, ep);
    assert!(!ips.is_empty());
    let mut got = a_records(&ask(&r, &lab.vpcs[1].id, &dns_entries[0].0, RecordType::A));
    got.sort();
    assert_eq!(got, ips);
    for (zonal, _) in &dns_entries[1..] {
        assert_eq!(
            a_records(&ask(&r, &ep.vpc, zonal, RecordType::A)).len(),
            1,
            "{zonal}"
        );
    }
}

#[test]
fn load_balancer_names_resolve_to_their_nodes_from_every_vpc() {
    let mut lab = default_lab();
    let lb = lab.load_balancers[0].clone();
    assert_eq!(lb.scheme, "internet-facing");
    assert!(
        lb.dns_name.ends_with(".elb.ap-northeast-2.amazonaws.com"),
        "{}",
        lb.dns_name
    );
    let publics: Vec<Ipv4Addr> = lb
        .nodes
        .iter()
        .map(|n| lab.eni(&n.eni).unwrap().public_ip.unwrap())
        .collect();
    assert_eq!(publics.len(), 2);
    let r = Resolver::new(&lab);
    for vpc in &lab.vpcs {
        let mut got = a_records(&ask(&r, &vpc.id, &lb.dns_name, RecordType::A));
        got.sort();
        let mut want = publics.clone();
        want.sort();
        assert_eq!(got, want, "from {}", vpc.id);
    }
    for (node, ip) in lb.nodes.iter().zip(&publics) {
        let zonal = format!("{}.{}", node.availability_zone, lb.dns_name);
        assert_eq!(
            a_records(&ask(&r, &lab.vpcs[0].id, &zonal, RecordType::A)),
            vec![*ip]
        );
    }
    let m = ask(
        &r,
        &lab.vpcs[0].id,
        &format!("x{}", lb.dns_name),
        RecordType::A,
    );
    assert_eq!(m.response_code(), ResponseCode::NXDomain);

    // internal: the private IPs, still from every VPC (the name is public).
    lab.load_balancers[0].scheme = "internal".into();
    for n in &lab.load_balancers[0].nodes.clone() {
        lab.network_interfaces
            .iter_mut()
            .find(|e| e.id == n.eni)
            .unwrap()
            .public_ip = None;
    }
    let r = Resolver::new(&lab);
    let mut got = a_records(&ask(&r, &lab.vpcs[0].id, &lb.dns_name, RecordType::A));
    got.sort();
    let mut want: Vec<Ipv4Addr> = lb.nodes.iter().map(|n| n.private_ip).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn the_internet_sees_public_names_only() {
    let lab = default_lab();
    let r = Resolver::new(&lab);
    let ask = |name: &str| reply(r.answer(None, &query(3, name, RecordType::A), Transport::Udp));
    // An internet-facing load balancer: its nodes' public IPs.
    let nlb = &lab.load_balancers[0];
    let publics: Vec<std::net::Ipv4Addr> = lab
        .network_interfaces
        .iter()
        .filter(|e| e.owner == crate::model::EniOwner::LoadBalancer(nlb.arn.clone()))
        .filter_map(|e| e.public_ip)
        .collect();
    let mut got = a_records(&ask(&nlb.dns_name));
    got.sort();
    let mut want = publics.clone();
    want.sort();
    assert_eq!(got, want);
    // The region's services, and an instance's public name (to its public IP).
    assert!(!a_records(&ask("s3.ap-northeast-2.amazonaws.com")).is_empty());
    let web1 = lab
        .instances
        .iter()
        .find(|i| i.public_ip.is_some())
        .unwrap();
    assert_eq!(
        a_records(&ask(&web1.public_dns_name)),
        vec![web1.public_ip.unwrap()]
    );
    // No private name: a VPC's hostnames are NXDOMAIN outside it.
    let private = format!(
        "{}.ap-northeast-2.compute.internal",
        crate::model::ip_hostname(web1.private_ip)
    );
    assert_eq!(ask(&private).response_code(), ResponseCode::NXDomain);
}
