//! AWS services behind interface endpoints (PrivateLink) and their public addresses.
//!
//! Contract: vpclab does not emulate CloudFormation, EC2, SQS, … themselves. What a student
//! needs to see is *which path* a request took, so every such service answers any HTTP/1.1
//! request (any method, any path) on TCP 80 with one small JSON document:
//!
//! ```text
//! {"service": "cloudformation", "region": "ap-northeast-2", "endpoint": "vpce-…", "source": "10.0.0.94", "path": "interface-endpoint"}
//! ```
//!
//! - through an interface endpoint ([`Via::Endpoint`], the `InterfaceEndpoint` service port:
//!   the router hands over what an instance sends to one of the endpoint's ENI IPs, already
//!   past the endpoint's security groups): `endpoint` is the endpoint's id, `source` the
//!   instance's private IP, `path` `interface-endpoint`;
//! - through an internet gateway ([`Via::Internet`], the `Region` port, to a catalog
//!   interface service's public address): `endpoint` is `null`, `source` the public IP the
//!   service saw, `path` `internet`.
//!
//! [`InterfaceApp::handle`] builds the response and counts it; the HTTP framing (keep-alive,
//! malformed requests) is `http::serve_stream`'s, the TCP the port's smoltcp stack's.
//! Endpoints to endpoint *services* (`com.amazonaws.vpce.…`) never come here: the router
//! forwards them to the provider's load balancer.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::http::{Request, Response};
use crate::model::{catalog, VpceId};

/// The largest request body taken (the answer never depends on it).
pub const MAX_BODY: usize = 64 * 1024;

/// How a request reached an interface service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via<'a> {
    /// Through an interface endpoint, from an instance's private IP.
    Endpoint {
        /// The interface endpoint (`vpce-…`).
        vpce: &'a VpceId,
        /// The instance's private address.
        src: Ipv4Addr,
    },
    /// Through an internet gateway, from a public IP.
    Internet {
        /// The sender's public address.
        src: Ipv4Addr,
    },
}

/// A catalog interface service: its short name and region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRef {
    /// `cloudformation`, `sqs`, …
    pub short: &'static str,
    /// `ap-northeast-2`, …
    pub region: &'static str,
}

/// Requests answered, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    /// Requests answered.
    pub requests: u64,
    /// Requests that came through an interface endpoint.
    pub via_endpoint: u64,
    /// Requests that came through an internet gateway.
    pub via_internet: u64,
}

/// The interface services of every catalog region.
#[derive(Debug, Clone, Default)]
pub struct InterfaceApp {
    /// Public address → service.
    public: HashMap<Ipv4Addr, ServiceRef>,
    /// What the interface services have answered.
    pub counters: InterfaceCounters,
}

/// The catalog service an endpoint's `com.amazonaws.<region>.<short>` names, if any.
pub fn service_of(service_name: &str) -> Option<ServiceRef> {
    let rest = service_name.strip_prefix("com.amazonaws.")?;
    let (region, short) = rest.split_once('.')?;
    let r = catalog::region(region)?;
    let s = r.interface_services.iter().find(|s| s.short == short)?;
    Some(ServiceRef {
        short: s.short,
        region: r.name,
    })
}

impl InterfaceApp {
    /// Every catalog region's interface services at their public addresses.
    pub fn new() -> Self {
        let mut public = HashMap::new();
        for r in catalog::REGIONS {
            for s in r.interface_services {
                for ip in s.ips() {
                    public.insert(
                        ip,
                        ServiceRef {
                            short: s.short,
                            region: r.name,
                        },
                    );
                }
            }
        }
        InterfaceApp {
            public,
            counters: InterfaceCounters::default(),
        }
    }

    /// The service at a public address.
    pub fn public_service(&self, ip: Ipv4Addr) -> Option<ServiceRef> {
        self.public.get(&ip).copied()
    }

    /// Answers one request to `service` that came `via`.
    pub fn handle(&mut self, service: ServiceRef, via: Via<'_>, _req: &Request) -> Response {
        self.counters.requests += 1;
        let (endpoint, src, path) = match via {
            Via::Endpoint { vpce, src } => {
                self.counters.via_endpoint += 1;
                (json_str(vpce.as_str()), src, "interface-endpoint")
            }
            Via::Internet { src } => {
                self.counters.via_internet += 1;
                ("null".to_string(), src, "internet")
            }
        };
        let body = format!(
            "{{\"service\": {}, \"region\": {}, \"endpoint\": {endpoint}, \"source\": {}, \"path\": {}}}\n",
            json_str(service.short),
            json_str(service.region),
            json_str(&src.to_string()),
            json_str(path),
        );
        Response::new(200)
            .with_header("Content-Type", "application/json")
            .with_body(body)
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::http;

    fn get() -> Request {
        http::parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0)
            .unwrap()
            .unwrap()
            .0
    }

    #[test]
    fn names_the_service_the_path_and_the_source() {
        let mut app = InterfaceApp::new();
        let svc = service_of("com.amazonaws.ap-northeast-2.cloudformation").unwrap();
        assert_eq!(
            app.public_service("52.95.193.132".parse().unwrap()),
            Some(svc)
        );
        let vpce = VpceId::parse("vpce-0123456789abcdef0").unwrap();
        let r = app.handle(
            svc,
            Via::Endpoint {
                vpce: &vpce,
                src: Ipv4Addr::new(10, 0, 0, 94),
            },
            &get(),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            "{\"service\": \"cloudformation\", \"region\": \"ap-northeast-2\", \
             \"endpoint\": \"vpce-0123456789abcdef0\", \"source\": \"10.0.0.94\", \
             \"path\": \"interface-endpoint\"}\n"
        );
        let r = app.handle(
            svc,
            Via::Internet {
                src: Ipv4Addr::new(3, 34, 0, 5),
            },
            &get(),
        );
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["endpoint"], serde_json::Value::Null);
        assert_eq!(v["path"], "internet");
        assert_eq!(v["source"], "3.34.0.5");
        assert_eq!(
            app.counters,
            InterfaceCounters {
                requests: 2,
                via_endpoint: 1,
                via_internet: 1
            }
        );
    }

    #[test]
    fn only_catalog_services_are_known() {
        assert!(service_of("com.amazonaws.ap-northeast-2.s3x").is_none());
        assert!(service_of("com.amazonaws.vpce.ap-northeast-2.vpce-svc-0123").is_none());
        assert!(service_of("com.amazonaws.mars-1.sqs").is_none());
        assert_eq!(
            service_of("com.amazonaws.us-east-1.sqs").unwrap().region,
            "us-east-1"
        );
    }
}
