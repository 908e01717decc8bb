//! The region service catalog: what vpclab knows of each supported AWS region.
//!
//! Contract: for every supported region, the availability zones, the AWS-managed prefix
//! lists of the two gateway-endpoint services (S3 and DynamoDB: id, name
//! `com.amazonaws.<region>.<service>`, CIDRs), the public addresses that the services' DNS
//! names resolve to, the interface-endpoint services with their public addresses, the pool
//! from which instances get public IPv4 addresses, and the instance DNS suffixes.
//!
//! Sources and choices are in `docs/decisions/0003-region-catalog.md`: prefix-list ids and
//! CIDRs follow public AWS data where known; what AWS does not publish (the ap-northeast-2
//! DynamoDB prefix-list id, the addresses of interface services other than the seed's
//! CloudFormation address) is an emulator choice and marked so there.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// A gateway-endpoint service (S3 or DynamoDB) in one region.
#[derive(Debug)]
pub struct GatewayService {
    /// Short name: `s3` or `dynamodb`.
    pub short: &'static str,
    /// The AWS-managed prefix list id (`pl-…`).
    pub prefix_list_id: &'static str,
    /// The prefix list's CIDRs (the service's public address space in the region).
    pub cidrs: &'static [&'static str],
    /// What the service's regional DNS name resolves to (inside the CIDRs).
    pub addresses: &'static [&'static str],
}

/// An interface-endpoint (PrivateLink) AWS service in one region.
#[derive(Debug)]
pub struct InterfaceService {
    /// Short name, e.g. `cloudformation`.
    pub short: &'static str,
    /// What `<short>.<region>.amazonaws.com` resolves to without private DNS.
    pub addresses: &'static [&'static str],
}

/// Everything vpclab knows of one region.
#[derive(Debug)]
pub struct Region {
    /// `ap-northeast-2`, `us-east-1`, …
    pub name: &'static str,
    /// Availability zones, in alphabetical order (what `Fn::GetAZs` returns).
    pub azs: &'static [&'static str],
    /// Zone ids, index-aligned with `azs`.
    pub az_ids: &'static [&'static str],
    /// S3 and DynamoDB, the only gateway-endpoint services.
    pub gateway_services: &'static [GatewayService],
    /// AWS services reachable through interface endpoints.
    pub interface_services: &'static [InterfaceService],
    /// Where instance public IPv4 addresses come from.
    pub public_ip_pool: &'static [&'static str],
    /// `ap-northeast-2.compute.internal`, or `ec2.internal` in us-east-1.
    pub private_dns_suffix: &'static str,
    /// `ap-northeast-2.compute.amazonaws.com`, or `compute-1.amazonaws.com` in us-east-1.
    pub public_dns_suffix: &'static str,
}

/// The region used when none is given, as in the seed labs (Seoul).
pub const DEFAULT_REGION: &str = "ap-northeast-2";

/// The emulated internet host behind every internet gateway (TEST-NET-3, RFC 5737).
pub const INTERNET_HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

/// The emulated internet's gateway, and its DNS resolver (public names only).
pub const INTERNET_RESOLVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

/// The Amazon DNS link-local address, answered in every VPC.
pub const AMAZON_DNS_LINK_LOCAL: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 253);

/// The instance metadata service address.
pub const IMDS_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// The account id every lab runs as (the one AWS documents in examples).
pub const ACCOUNT_ID: &str = "123456789012";

const INTERFACE_SERVICES_APNE2: &[InterfaceService] = &[
    InterfaceService {
        short: "cloudformation",
        addresses: &["52.95.193.132"],
    },
    InterfaceService {
        short: "ec2",
        addresses: &["52.95.194.20"],
    },
    InterfaceService {
        short: "elasticloadbalancing",
        addresses: &["52.95.194.40"],
    },
    InterfaceService {
        short: "kms",
        addresses: &["52.95.194.60"],
    },
    InterfaceService {
        short: "logs",
        addresses: &["52.95.194.80"],
    },
    InterfaceService {
        short: "monitoring",
        addresses: &["52.95.194.100"],
    },
    InterfaceService {
        short: "secretsmanager",
        addresses: &["52.95.194.120"],
    },
    InterfaceService {
        short: "sns",
        addresses: &["52.95.194.140"],
    },
    InterfaceService {
        short: "sqs",
        addresses: &["52.95.194.160"],
    },
    InterfaceService {
        short: "ssm",
        addresses: &["52.95.194.180"],
    },
    InterfaceService {
        short: "sts",
        addresses: &["52.95.194.200"],
    },
];

const INTERFACE_SERVICES_USE1: &[InterfaceService] = &[
    InterfaceService {
        short: "cloudformation",
        addresses: &["52.94.224.50"],
    },
    InterfaceService {
        short: "ec2",
        addresses: &["52.94.224.60"],
    },
    InterfaceService {
        short: "elasticloadbalancing",
        addresses: &["52.94.224.70"],
    },
    InterfaceService {
        short: "kms",
        addresses: &["52.94.224.80"],
    },
    InterfaceService {
        short: "logs",
        addresses: &["52.94.224.90"],
    },
    InterfaceService {
        short: "monitoring",
        addresses: &["52.94.224.100"],
    },
    InterfaceService {
        short: "secretsmanager",
        addresses: &["52.94.224.110"],
    },
    InterfaceService {
        short: "sns",
        addresses: &["52.94.224.120"],
    },
    InterfaceService {
        short: "sqs",
        addresses: &["52.94.224.130"],
    },
    InterfaceService {
        short: "ssm",
        addresses: &["52.94.224.140"],
    },
    InterfaceService {
        short: "sts",
        addresses: &["52.94.224.150"],
    },
];

/// Every supported region.
pub static REGIONS: &[Region] = &[
    Region {
        name: "ap-northeast-2",
        azs: &[
            "ap-northeast-2a",
            "ap-northeast-2b",
            "ap-northeast-2c",
            "ap-northeast-2d",
        ],
        az_ids: &["apne2-az1", "apne2-az2", "apne2-az3", "apne2-az4"],
        gateway_services: &[
            GatewayService {
                short: "s3",
                prefix_list_id: "pl-78a54011",
                cidrs: &[
                    "52.92.0.0/20",
                    "52.219.56.0/22",
                    "52.219.60.0/23",
                    "52.219.144.0/22",
                    "52.219.148.0/23",
                    "52.219.202.0/23",
                    "52.219.204.0/22",
                    "3.5.140.0/22",
                    "3.5.144.0/23",
                    "3.5.184.0/21",
                ],
                addresses: &["52.219.60.10", "52.219.56.74"],
            },
            GatewayService {
                short: "dynamodb",
                prefix_list_id: "pl-01a5406a",
                cidrs: &["52.94.6.0/24", "35.71.109.0/24"],
                addresses: &["52.94.6.50"],
            },
        ],
        interface_services: INTERFACE_SERVICES_APNE2,
        public_ip_pool: &[
            "3.34.0.0/15",
            "13.124.0.0/15",
            "15.164.0.0/15",
            "52.78.0.0/15",
        ],
        private_dns_suffix: "ap-northeast-2.compute.internal",
        public_dns_suffix: "ap-northeast-2.compute.amazonaws.com",
    },
    Region {
        name: "us-east-1",
        azs: &[
            "us-east-1a",
            "us-east-1b",
            "us-east-1c",
            "us-east-1d",
            "us-east-1e",
            "us-east-1f",
        ],
        az_ids: &[
            "use1-az6", "use1-az1", "use1-az2", "use1-az4", "use1-az3", "use1-az5",
        ],
        gateway_services: &[
            GatewayService {
                short: "s3",
                prefix_list_id: "pl-63a5400a",
                cidrs: &[
                    "54.231.0.0/16",
                    "52.216.0.0/15",
                    "3.5.0.0/19",
                    "18.34.0.0/19",
                    "16.182.0.0/16",
                ],
                addresses: &["52.216.8.110", "54.231.131.24"],
            },
            GatewayService {
                short: "dynamodb",
                prefix_list_id: "pl-02cd2c6b",
                cidrs: &[
                    "3.218.180.0/23",
                    "3.218.182.0/24",
                    "52.94.0.0/22",
                    "52.119.224.0/20",
                ],
                addresses: &["3.218.182.10"],
            },
        ],
        interface_services: INTERFACE_SERVICES_USE1,
        public_ip_pool: &["3.80.0.0/12", "34.192.0.0/12", "54.144.0.0/14"],
        private_dns_suffix: "ec2.internal",
        public_dns_suffix: "compute-1.amazonaws.com",
    },
];

/// The region named `name`, if vpclab supports it.
pub fn region(name: &str) -> Option<&'static Region> {
    REGIONS.iter().find(|r| r.name == name)
}

/// The names of every supported region, for error messages.
pub fn region_names() -> Vec<&'static str> {
    REGIONS.iter().map(|r| r.name).collect()
}

fn parse_net(s: &str) -> Ipv4Net {
    s.parse()
        .expect("catalog CIDRs are valid (checked by a unit test)")
}

fn parse_addr(s: &str) -> Ipv4Addr {
    s.parse()
        .expect("catalog addresses are valid (checked by a unit test)")
}

impl GatewayService {
    /// The prefix list's CIDRs, parsed.
    pub fn nets(&self) -> Vec<Ipv4Net> {
        self.cidrs.iter().map(|c| parse_net(c)).collect()
    }

    /// What the service's DNS name resolves to, parsed.
    pub fn ips(&self) -> Vec<Ipv4Addr> {
        self.addresses.iter().map(|a| parse_addr(a)).collect()
    }

    /// Whether `ip` is one of this service's public addresses.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.nets().iter().any(|n| n.contains(&ip))
    }
}

impl InterfaceService {
    /// The service's public addresses, parsed.
    pub fn ips(&self) -> Vec<Ipv4Addr> {
        self.addresses.iter().map(|a| parse_addr(a)).collect()
    }
}

impl Region {
    /// The gateway service named `short` (`s3`, `dynamodb`).
    pub fn gateway_service(&self, short: &str) -> Option<&GatewayService> {
        self.gateway_services.iter().find(|s| s.short == short)
    }

    /// The gateway service whose prefix list has this id.
    pub fn gateway_service_by_prefix_list(&self, pl: &str) -> Option<&GatewayService> {
        self.gateway_services
            .iter()
            .find(|s| s.prefix_list_id == pl)
    }

    /// The interface service named `short`.
    pub fn interface_service(&self, short: &str) -> Option<&InterfaceService> {
        self.interface_services.iter().find(|s| s.short == short)
    }

    /// The prefix-list name of a gateway service: `com.amazonaws.<region>.<short>`.
    pub fn prefix_list_name(&self, short: &str) -> String {
        format!("com.amazonaws.{}.{}", self.name, short)
    }

    /// The public IPv4 pool, parsed.
    pub fn public_pool(&self) -> Vec<Ipv4Net> {
        self.public_ip_pool.iter().map(|c| parse_net(c)).collect()
    }

    /// The zone id of an AZ name.
    pub fn az_id(&self, az: &str) -> Option<&'static str> {
        self.azs
            .iter()
            .position(|a| *a == az)
            .map(|i| self.az_ids[i])
    }
}

/// What a `com.amazonaws.…` service name refers to.
#[derive(Debug, PartialEq, Eq)]
pub enum ServiceName<'a> {
    /// An AWS service in `region` (`com.amazonaws.<region>.<short>`).
    Aws {
        /// The region part (`ap-northeast-2`).
        region: &'a str,
        /// The service's short name (`s3`, `dynamodb`, `sqs`, …).
        short: &'a str,
    },
    /// An endpoint service (`com.amazonaws.vpce.<region>.vpce-svc-…`).
    EndpointService {
        /// The region part (`ap-northeast-2`).
        region: &'a str,
        /// The endpoint service's id (`vpce-svc-…`).
        service_id: &'a str,
    },
}

/// Splits a VPC endpoint service name; `None` when it is not of either form.
pub fn parse_service_name(name: &str) -> Option<ServiceName<'_>> {
    if let Some(rest) = name.strip_prefix("com.amazonaws.vpce.") {
        let (region, id) = rest.split_once('.')?;
        return id
            .starts_with("vpce-svc-")
            .then_some(ServiceName::EndpointService {
                region,
                service_id: id,
            });
    }
    let rest = name.strip_prefix("com.amazonaws.")?;
    let (region, short) = rest.split_once('.')?;
    (!region.is_empty() && !short.is_empty() && !short.contains('.'))
        .then_some(ServiceName::Aws { region, short })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_entry_parses_and_service_addresses_lie_in_their_prefix_lists() {
        for r in REGIONS {
            assert_eq!(r.azs.len(), r.az_ids.len(), "{}", r.name);
            for s in r.gateway_services {
                for ip in s.ips() {
                    assert!(s.contains(ip), "{} {} {ip}", r.name, s.short);
                }
            }
            for s in r.interface_services {
                assert!(!s.ips().is_empty());
            }
            assert!(!r.public_pool().is_empty());
        }
    }

    #[test]
    fn public_pools_do_not_overlap_any_service_range() {
        for r in REGIONS {
            for pool in r.public_pool() {
                for other in REGIONS {
                    for s in other.gateway_services {
                        for n in s.nets() {
                            assert!(
                                !pool.contains(&n.network()) && !n.contains(&pool.network()),
                                "{pool} overlaps {} {} {n}",
                                other.name,
                                s.short
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn service_names_split() {
        assert_eq!(
            parse_service_name("com.amazonaws.ap-northeast-2.s3"),
            Some(ServiceName::Aws {
                region: "ap-northeast-2",
                short: "s3"
            })
        );
        assert_eq!(
            parse_service_name("com.amazonaws.vpce.us-east-1.vpce-svc-03d5ebb7d9579a2b3"),
            Some(ServiceName::EndpointService {
                region: "us-east-1",
                service_id: "vpce-svc-03d5ebb7d9579a2b3"
            })
        );
        assert_eq!(parse_service_name("s3"), None);
    }
}
