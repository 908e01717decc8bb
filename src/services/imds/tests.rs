use super::*;
use crate::services::dns::tests::default_lab;
use crate::services::http::parse;

fn req(raw: &str) -> Request {
    parse(raw.as_bytes(), 1024).unwrap().unwrap().0
}

fn get(path: &str, token: Option<&str>) -> Request {
    match token {
        Some(t) => req(&format!(
            "GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n{TOKEN_HEADER}: {t}\r\n\r\n"
        )),
        None => req(&format!(
            "GET {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n"
        )),
    }
}

fn put_token(ttl: &str) -> Request {
    req(&format!(
        "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n{TTL_HEADER}: {ttl}\r\n\r\n"
    ))
}

struct Fixture {
    lab: Lab,
    imds: Imds,
    vpc: VpcId,
    ip: Ipv4Addr,
    id: InstanceId,
}

fn fixture() -> Fixture {
    let lab = default_lab();
    let imds = Imds::new(&lab, [7; 32]);
    let inst = lab
        .instances
        .iter()
        .find(|i| i.public_ip.is_some() && i.user_data.is_none())
        .or_else(|| lab.instances.first())
        .unwrap()
        .clone();
    Fixture {
        imds,
        vpc: inst.vpc.clone(),
        ip: inst.private_ip,
        id: inst.id.clone(),
        lab,
    }
}

fn body(r: &Response) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

const T0: Instant = Instant::from_secs(100);

#[test]
fn imdsv1_serves_the_common_paths() {
    let mut f = fixture();
    let inst = f.lab.instance(&f.id).unwrap().clone();
    let mut g = |p: &str| {
        let r = f.imds.handle(T0, &f.vpc, f.ip, &get(p, None));
        (r.status, body(&r))
    };
    assert_eq!(
        g("/latest/meta-data/instance-id"),
        (200, inst.id.to_string())
    );
    assert_eq!(
        g("/latest/meta-data/local-ipv4"),
        (200, inst.private_ip.to_string())
    );
    assert_eq!(
        g("/latest/meta-data/local-hostname"),
        (200, inst.private_dns_name.clone())
    );
    assert_eq!(
        g("/latest/meta-data/public-ipv4"),
        (200, inst.public_ip.unwrap().to_string())
    );
    assert_eq!(
        g("/latest/meta-data/public-hostname"),
        (200, inst.public_dns_name.clone())
    );
    assert_eq!(
        g("/latest/meta-data/placement/availability-zone"),
        (200, inst.availability_zone.clone())
    );
    assert_eq!(
        g("/latest/meta-data/placement/region"),
        (200, "ap-northeast-2".into())
    );
    assert_eq!(
        g("/latest/meta-data/instance-type"),
        (200, inst.instance_type.clone())
    );
    let eni = f.lab.eni(&inst.eni).unwrap().clone();
    let mac = eni.mac.to_string();
    assert_eq!(g("/latest/meta-data/mac"), (200, mac.clone()));
    let names: Vec<String> = inst
        .security_groups
        .iter()
        .map(|g| f.lab.security_group(g).unwrap().group_name.clone())
        .collect();
    assert_eq!(
        g("/latest/meta-data/security-groups"),
        (200, names.join("\n"))
    );
    let base = format!("/latest/meta-data/network/interfaces/macs/{mac}");
    assert_eq!(
        g(&format!("{base}/subnet-id")),
        (200, eni.subnet.to_string())
    );
    assert_eq!(g(&format!("{base}/vpc-id")), (200, eni.vpc.to_string()));
    assert_eq!(g(&format!("{base}/device-number")), (200, "0".into()));
    assert_eq!(
        g(&format!("{base}/local-ipv4s")),
        (200, eni.private_ip.to_string())
    );
    let vpc_cidr = f.lab.vpc(&eni.vpc).unwrap().cidr.to_string();
    assert_eq!(g(&format!("{base}/vpc-ipv4-cidr-block")), (200, vpc_cidr));
    assert_eq!(
        g("/latest/meta-data/network/interfaces/macs/"),
        (200, format!("{mac}/"))
    );
    if let Some(ami) = &inst.image_id {
        assert_eq!(g("/latest/meta-data/ami-id"), (200, ami.clone()));
    }
    assert_eq!(g("/latest/meta-data/nope").0, 404);
    assert_eq!(g("/latest/meta-data/instance-id/more").0, 404);
    assert_eq!(g("/2099-01-01/meta-data/instance-id").0, 404);
    assert_eq!(
        g("/2016-09-02/meta-data/instance-id"),
        (200, inst.id.to_string())
    );
}

#[test]
fn directory_listings_look_like_ec2s() {
    let mut f = fixture();
    let mut g = |p: &str| body(&f.imds.handle(T0, &f.vpc, f.ip, &get(p, None)));
    let root = g("/");
    assert!(root.starts_with("1.0\n2007-01-19\n"));
    assert!(root.ends_with("\nlatest"));
    assert_eq!(g("/latest/"), "dynamic\nmeta-data");
    let md = g("/latest/meta-data/");
    let lines: Vec<&str> = md.lines().collect();
    for want in [
        "instance-id",
        "local-ipv4",
        "local-hostname",
        "mac",
        "network/",
        "placement/",
        "public-ipv4",
        "public-hostname",
        "security-groups",
    ] {
        assert!(lines.contains(&want), "{want} missing from {md}");
    }
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "listings are sorted");
    assert!(!md.ends_with('\n'));
    // With or without the trailing slash.
    assert_eq!(
        g("/latest/meta-data/placement"),
        g("/latest/meta-data/placement/")
    );
    assert_eq!(
        g("/latest/meta-data/placement/"),
        "availability-zone\navailability-zone-id\nregion"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&g("/latest/dynamic/instance-identity/document")).unwrap();
    assert_eq!(doc["region"], "ap-northeast-2");
    assert_eq!(doc["privateIp"], f.ip.to_string());
}

#[test]
fn user_data_is_served_decoded_where_there_is_some() {
    let lab = default_lab();
    let mut imds = Imds::new(&lab, [7; 32]);
    let with = lab
        .instances
        .iter()
        .find(|i| i.user_data.is_some())
        .unwrap();
    let r = imds.handle(
        T0,
        &with.vpc,
        with.private_ip,
        &get("/latest/user-data", None),
    );
    assert_eq!(r.status, 200);
    assert_eq!(body(&r), *with.user_data.as_ref().unwrap());
    assert!(body(&r).starts_with("#!"));
    let l = imds.handle(T0, &with.vpc, with.private_ip, &get("/latest/", None));
    assert_eq!(body(&l), "dynamic\nmeta-data\nuser-data");
    if let Some(without) = lab.instances.iter().find(|i| i.user_data.is_none()) {
        let r = imds.handle(
            T0,
            &without.vpc,
            without.private_ip,
            &get("/latest/user-data", None),
        );
        assert_eq!(r.status, 404);
    }
}

#[test]
fn imdsv2_token_flow() {
    let mut f = fixture();
    let r = f.imds.handle(T0, &f.vpc, f.ip, &put_token("21600"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"),
        Some("21600")
    );
    assert_eq!(r.hop_limit, Some(1));
    let token = body(&r);
    assert_eq!(token.len(), 56);
    let ok = f.imds.handle(
        T0,
        &f.vpc,
        f.ip,
        &get("/latest/meta-data/instance-id", Some(&token)),
    );
    assert_eq!((ok.status, body(&ok)), (200, f.id.to_string()));
    assert_eq!(
        ok.header("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"),
        Some("21600")
    );
    // A wrong token is refused even when tokens are optional.
    let bad = f.imds.handle(
        T0,
        &f.vpc,
        f.ip,
        &get("/latest/meta-data/instance-id", Some("nope")),
    );
    assert_eq!(bad.status, 401);
    // Another instance cannot use it.
    let other = f.lab.instances.iter().find(|i| i.id != f.id).unwrap();
    let stolen = f.imds.handle(
        T0,
        &other.vpc,
        other.private_ip,
        &get("/latest/meta-data/instance-id", Some(&token)),
    );
    assert_eq!(stolen.status, 401);
}

#[test]
fn tokens_expire() {
    let mut f = fixture();
    let token = body(&f.imds.handle(T0, &f.vpc, f.ip, &put_token("2")));
    let at = |s| Instant::from_millis(T0.total_millis() + s);
    let r = f.imds.handle(
        at(1_999),
        &f.vpc,
        f.ip,
        &get("/latest/meta-data/mac", Some(&token)),
    );
    assert_eq!(r.status, 200);
    let r = f.imds.handle(
        at(2_000),
        &f.vpc,
        f.ip,
        &get("/latest/meta-data/mac", Some(&token)),
    );
    assert_eq!(r.status, 401);
    assert_eq!(f.imds.token_count(), 0);
}

#[test]
fn required_tokens_refuse_imdsv1() {
    let mut f = fixture();
    f.imds.set_options(
        &f.id,
        MetadataOptions {
            http_tokens: HttpTokens::Required,
            put_response_hop_limit: 2,
            endpoint_enabled: true,
        },
    );
    let r = f
        .imds
        .handle(T0, &f.vpc, f.ip, &get("/latest/meta-data/", None));
    assert_eq!(r.status, 401);
    let t = f.imds.handle(T0, &f.vpc, f.ip, &put_token("60"));
    assert_eq!(t.hop_limit, Some(2));
    let r = f.imds.handle(
        T0,
        &f.vpc,
        f.ip,
        &get("/latest/meta-data/", Some(&body(&t))),
    );
    assert_eq!(r.status, 200);
    assert_eq!(f.imds.counters.unauthorized, 1);
    // The model's MetadataOptions are the truth: an update takes them.
    let mut lab = f.lab.clone();
    f.imds.update(&lab);
    assert_eq!(f.imds.options(&f.id).http_tokens, HttpTokens::Optional);
    let inst = lab.instances.iter_mut().find(|i| i.id == f.id).unwrap();
    inst.metadata_options.http_tokens_required = true;
    inst.metadata_options.http_put_response_hop_limit = 3;
    f.imds.update(&lab);
    assert_eq!(f.imds.options(&f.id).http_tokens, HttpTokens::Required);
    assert_eq!(f.imds.options(&f.id).put_response_hop_limit, 3);
}

#[test]
fn token_requests_are_checked() {
    let mut f = fixture();
    for ttl in ["0", "21601", "-1", "abc", ""] {
        let r = f.imds.handle(T0, &f.vpc, f.ip, &put_token(ttl));
        assert_eq!(r.status, 400, "ttl {ttl:?}");
    }
    let none = req("PUT /latest/api/token HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(f.imds.handle(T0, &f.vpc, f.ip, &none).status, 400);
    let fwd = req(&format!(
        "PUT /latest/api/token HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\n{TTL_HEADER}: 60\r\n\r\n"
    ));
    assert_eq!(f.imds.handle(T0, &f.vpc, f.ip, &fwd).status, 403);
    let versioned = req(&format!(
        "PUT /2016-09-02/api/token HTTP/1.1\r\n{TTL_HEADER}: 60\r\n\r\n"
    ));
    assert_eq!(f.imds.handle(T0, &f.vpc, f.ip, &versioned).status, 403);
    let post = req("POST /latest/meta-data/ HTTP/1.1\r\n\r\n");
    assert_eq!(f.imds.handle(T0, &f.vpc, f.ip, &post).status, 405);
    let get_token = get("/latest/api/token", None);
    assert_eq!(f.imds.handle(T0, &f.vpc, f.ip, &get_token).status, 405);
    assert_eq!(f.imds.token_count(), 0);
}

#[test]
fn unknown_sources_are_refused() {
    let mut f = fixture();
    let r = f.imds.handle(
        T0,
        &f.vpc,
        Ipv4Addr::new(10, 0, 250, 250),
        &get("/latest/meta-data/", None),
    );
    assert_eq!(r.status, 403);
    // The same address in another VPC is another instance, or none.
    let other_vpc = f
        .lab
        .vpcs
        .iter()
        .find(|v| v.id != f.vpc)
        .unwrap()
        .id
        .clone();
    let found = f.imds.instance_at(&other_vpc, f.ip).cloned();
    assert_ne!(found.as_ref(), Some(&f.id));
}

#[test]
fn a_disabled_endpoint_refuses_everything_with_403() {
    let mut f = fixture();
    f.imds.set_options(
        &f.id,
        MetadataOptions {
            endpoint_enabled: false,
            ..MetadataOptions::default()
        },
    );
    let r = f
        .imds
        .handle(T0, &f.vpc, f.ip, &get("/latest/meta-data/", None));
    assert_eq!(r.status, 403);
}
