use super::*;
use crate::template::{self, Options};

fn lab(file: &str) -> Lab {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    template::load_file(&path, &Options::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn all_nodes(sc: &Scene) -> Vec<&Node> {
    let mut out: Vec<&Node> = sc.internet.iter().collect();
    for v in &sc.vpcs {
        out.extend(v.igw.iter());
        out.extend(v.route_tables.iter());
        out.extend(v.band.iter());
        for az in &v.azs {
            for s in &az.subnets {
                out.extend(s.nodes.iter());
            }
        }
    }
    out
}

fn text_of(n: &Node) -> String {
    n.lines
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn subnets_with_a_route_to_the_internet_gateway_are_public_the_others_private() {
    let l = lab("templates/seed2-gateway-endpoint.yaml");
    let sc = scene(&l, None);
    let subnets: Vec<&SubnetBox> = sc.vpcs[0].azs.iter().flat_map(|a| &a.subnets).collect();
    assert_eq!(subnets.len(), 2);
    for s in subnets {
        let id = SubnetId::parse(&s.key).expect("subnet key is its id");
        let expected = lab_is_public(&l, &id);
        assert_eq!(s.public, expected, "{}", s.lines[0].text);
        assert!(s.lines[1]
            .text
            .starts_with(if expected { "Public" } else { "Private" }));
    }
    assert!(sc.vpcs[0]
        .azs
        .iter()
        .flat_map(|a| &a.subnets)
        .any(|s| s.public));
    assert!(sc.vpcs[0]
        .azs
        .iter()
        .flat_map(|a| &a.subnets)
        .any(|s| !s.public));
}

fn lab_is_public(l: &Lab, s: &SubnetId) -> bool {
    let rt = l.route_table_for(s).expect("every subnet has a table");
    rt.routes.iter().any(|r| {
        matches!(r.target, RouteTarget::InternetGateway(_))
            && r.destination == Destination::Cidr("0.0.0.0/0".parse().expect("a CIDR"))
    })
}

#[test]
fn route_tables_list_every_route_with_its_target_and_the_gateway_endpoint_its_prefix_list() {
    let l = lab("templates/seed2-gateway-endpoint.yaml");
    let sc = scene(&l, None);
    let e = &l.vpc_endpoints[0];
    let EndpointKind::Gateway { prefix_list, .. } = &e.kind else {
        panic!("seed 2's endpoint is a gateway endpoint")
    };
    for rt in &sc.vpcs[0].route_tables {
        let t = text_of(rt);
        assert!(t.contains("10.0.0.0/16 → local"), "{t}");
        assert!(t.contains(&format!("{prefix_list} → {}", e.id)), "{t}");
    }
    let gw = sc.vpcs[0]
        .band
        .iter()
        .find(|n| n.kind == NodeKind::GatewayEndpoint)
        .expect("the S3 endpoint is drawn");
    assert!(text_of(gw).contains(&format!("prefix list {prefix_list}")));
}

#[test]
fn private_link_is_drawn_from_the_endpoint_to_the_service_with_its_state() {
    let l = lab("templates/endpoint-service.yaml");
    let sc = scene(&l, None);
    let e = l
        .vpc_endpoints
        .iter()
        .find(|e| l.endpoint_service_of(e).is_some())
        .expect("the lab's endpoint");
    let svc = l.endpoint_service_of(e).expect("its service");
    let link = sc
        .links
        .iter()
        .find(|k| matches!(k.kind, LinkKind::PrivateLink(_)))
        .expect("a PrivateLink link");
    assert_eq!(
        (link.from.as_str(), link.to.as_str()),
        (e.id.as_str(), svc.id.as_str())
    );
    assert_eq!(link.kind, LinkKind::PrivateLink("available".into()));
    // The endpoint lives in the consumer VPC's band, the service in the provider's.
    let band_of = |key: &str| {
        sc.vpcs
            .iter()
            .position(|v| v.band.iter().any(|n| n.key == key))
    };
    assert!(band_of(e.id.as_str()).is_some());
    assert_ne!(band_of(e.id.as_str()), band_of(svc.id.as_str()));
    // Pending: the label and the state change.
    let mut pending = l.clone();
    for x in &mut pending.vpc_endpoints {
        x.state = "pendingAcceptance".into();
    }
    let sc = scene(&pending, None);
    assert!(sc
        .links
        .iter()
        .any(|k| k.label == "PrivateLink pendingAcceptance"));
}

#[test]
fn an_unhealthy_target_is_red_in_the_nlb_box_and_on_its_instance() {
    let l = lab("templates/endpoint-service.yaml");
    let g = &l.target_groups[0];
    let (bad, good) = (&g.targets[0].id, &g.targets[1].id);
    let mut h = Health::default();
    h.set(&g.arn, bad, "unhealthy");
    h.set(&g.arn, good, "healthy");
    let sc = scene(&l, Some(&h));
    let nodes = all_nodes(&sc);
    let instance = |id: &str| {
        nodes
            .iter()
            .find(|n| n.key == id)
            .copied()
            .expect("instance drawn")
    };
    assert!(instance(bad).alert);
    assert!(!instance(good).alert);
    let nlb = nodes
        .iter()
        .find(|n| n.kind == NodeKind::LoadBalancer)
        .expect("the NLB");
    assert!(nlb.alert);
    let red: Vec<&Line> = nlb
        .lines
        .iter()
        .filter(|x| x.weight == Weight::Alert)
        .collect();
    assert_eq!(red.len(), 1);
    assert!(red[0].text.ends_with("unhealthy"), "{}", red[0].text);
    // Without health, nothing is red.
    assert!(all_nodes(&scene(&l, None)).iter().all(|n| !n.alert));
}

#[test]
fn health_reads_the_daemons_descriptions() {
    let v = serde_json::json!({"TargetHealthDescriptions": [
        {"TargetGroupArn": "arn:tg", "Target": {"Id": "i-1", "Port": 80},
         "TargetHealth": {"State": "unhealthy", "Reason": "Target.FailedHealthChecks"}},
        {"Target": {"Id": "i-2"}, "TargetHealth": {"State": "healthy"}}
    ]});
    let h = Health::from_descriptions(&v);
    assert_eq!(h.state("arn:tg", "i-1"), Some("unhealthy"));
    assert_eq!(h.state("arn:tg", "i-2"), None);
}

#[test]
fn svg_escapes_names_and_is_well_formed_xml() {
    let mut l = lab("templates/default.yaml");
    l.instances[0].tags.set("Name", "<web & \"db\">'");
    let doc = svg(&l, None);
    let parsed = roxmltree::Document::parse(&doc).expect("well-formed XML");
    assert!(parsed
        .descendants()
        .any(|n| n.text() == Some("<web & \"db\">'")));
    assert!(parsed
        .descendants()
        .any(|n| n.has_tag_name("title") && n.text().is_some_and(|t| t.contains("vpclab"))));
}

#[test]
fn output_is_deterministic() {
    let l = lab("templates/default.yaml");
    assert_eq!(svg(&l, None), svg(&l, None));
    assert_eq!(mermaid(&l, None), mermaid(&l, None));
    assert_eq!(dot(&l, None), dot(&l, None));
}

#[test]
fn mermaid_and_dot_escape_quotes_and_name_every_instance() {
    let mut l = lab("templates/endpoint-service.yaml");
    l.instances[0].tags.set("Name", "say \"hi\" #1");
    let m = mermaid(&l, None);
    assert!(m.contains("say #quot;hi#quot; #35;1"), "{m}");
    let d = dot(&l, None);
    assert!(d.contains("say \\\"hi\\\" #1"), "{d}");
    for i in &l.instances[1..] {
        let name = i.tags.name().expect("named");
        assert!(m.contains(name) && d.contains(name), "{name}");
        assert!(m.contains(&i.private_ip.to_string()));
    }
    // Every subgraph opened is closed, and every brace.
    let opened = m
        .lines()
        .filter(|x| x.trim_start().starts_with("subgraph "))
        .count();
    let closed = m.lines().filter(|x| x.trim() == "end").count();
    assert_eq!(opened, closed);
    assert_eq!(d.matches('{').count(), d.matches('}').count());
}
