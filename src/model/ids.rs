//! Typed AWS resource ids, printed as AWS prints them (`vpc-` + 17 hex digits).
//!
//! Contract: ids are *deterministic*. The same seed (template logical id, resource kind and
//! the lab's region) always gives the same id, so docs and tests can name them, and two
//! loads of one template agree. An id is a string newtype per resource kind, so a `SubnetId`
//! can never be passed where a `VpcId` is expected.

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Hex digest of `seed`, used for every deterministic id, address and MAC.
pub fn digest(seed: &str) -> [u8; 32] {
    Sha256::digest(seed.as_bytes()).into()
}

/// `n` lowercase hex digits taken from the digest of `seed`.
pub fn hex_digits(seed: &str, n: usize) -> String {
    let d = digest(seed);
    let mut s = String::with_capacity(n);
    for b in d.iter() {
        s.push_str(&format!("{b:02x}"));
        if s.len() >= n {
            break;
        }
    }
    s.truncate(n);
    s
}

macro_rules! aws_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $digits:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id prefix, without the dash (`vpc`, `subnet`, …).
            pub const PREFIX: &'static str = $prefix;

            /// The deterministic id for `seed`: the prefix, `0`, then hex digits of its digest.
            pub fn generate(seed: &str) -> Self {
                let seed = format!("{}/{}", $prefix, seed);
                if $digits == 17 {
                    $name(format!("{}-0{}", $prefix, hex_digits(&seed, 16)))
                } else {
                    $name(format!("{}-{}", $prefix, hex_digits(&seed, $digits)))
                }
            }

            /// Parses an id written by a user: the right prefix and 8 or 17 hex digits.
            pub fn parse(s: &str) -> Option<Self> {
                let rest = s.strip_prefix(concat!($prefix, "-"))?;
                let ok = (rest.len() == 8 || rest.len() == 17)
                    && rest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
                ok.then(|| $name(s.to_string()))
            }

            /// Whether `s` looks like an id of this kind (prefix and dash).
            pub fn looks_like(s: &str) -> bool {
                s.starts_with(concat!($prefix, "-"))
            }

            /// The id as AWS prints it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

aws_id!(/// `vpc-…`
    VpcId, "vpc", 17);
aws_id!(/// `subnet-…`
    SubnetId, "subnet", 17);
aws_id!(/// `rtb-…`
    RouteTableId, "rtb", 17);
aws_id!(/// `rtbassoc-…`
    RouteTableAssociationId, "rtbassoc", 17);
aws_id!(/// `igw-…`
    IgwId, "igw", 17);
aws_id!(/// `sg-…`
    SgId, "sg", 17);
aws_id!(/// `sgr-…`: one security group rule.
    SgRuleId, "sgr", 17);
aws_id!(/// `acl-…`
    AclId, "acl", 17);
aws_id!(/// `aclassoc-…`
    AclAssociationId, "aclassoc", 17);
aws_id!(/// `eni-…`
    EniId, "eni", 17);
aws_id!(/// `i-…`
    InstanceId, "i", 17);
aws_id!(/// `vpce-…`
    VpceId, "vpce", 17);
aws_id!(/// `vpce-svc-…`
    VpceSvcId, "vpce-svc", 17);
aws_id!(/// `pl-…` (AWS-managed prefix lists have 8 hex digits).
    PrefixListId, "pl", 8);
aws_id!(/// `eipalloc-…`
    EipAllocId, "eipalloc", 17);
aws_id!(/// `nat-…` (a NAT gateway named by a route; not emulated yet).
    NatGatewayId, "nat", 17);
aws_id!(/// `fl-…`: a flow log.
    FlowLogId, "fl", 17);
aws_id!(/// `pcx-…` (a peering connection named by a route; not emulated yet).
    PeeringId, "pcx", 17);

impl PrefixListId {
    /// A prefix-list id from the region catalog (a literal such as `pl-78a54011`).
    pub fn from_catalog(s: &str) -> Self {
        PrefixListId(s.to_string())
    }
}

/// A locally administered unicast MAC address (`02:…`), as AWS gives ENIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The deterministic MAC for `seed`: locally administered, unicast.
    pub fn generate(seed: &str) -> Self {
        let d = digest(&format!("mac/{seed}"));
        let mut m = [0u8; 6];
        m.copy_from_slice(&d[..6]);
        m[0] = 0x02; // locally administered, unicast, like AWS's 02:… and 0a:… MACs
        Mac(m)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_shaped_like_aws() {
        let a = VpcId::generate("ap-northeast-2/CloudNetaVPC");
        let b = VpcId::generate("ap-northeast-2/CloudNetaVPC");
        assert_eq!(a, b);
        assert!(a.as_str().starts_with("vpc-0"));
        assert_eq!(a.as_str().len(), "vpc-".len() + 17);
        assert!(VpcId::parse(a.as_str()).is_some());
        assert_ne!(a, VpcId::generate("ap-northeast-2/OtherVPC"));
    }

    #[test]
    fn kinds_with_the_same_seed_differ() {
        assert_ne!(
            &SubnetId::generate("X").as_str()[7..],
            &VpcId::generate("X").as_str()[4..]
        );
    }

    #[test]
    fn parse_rejects_wrong_prefix_and_length() {
        assert!(VpcId::parse("subnet-0123456789abcdef0").is_none());
        assert!(VpcId::parse("vpc-123").is_none());
        assert!(VpcId::parse("vpc-0123456789ABCDEF0").is_none());
        assert!(VpcId::parse("vpc-12345678").is_some());
        assert!(PrefixListId::parse("pl-78a54011").is_some());
    }

    #[test]
    fn macs_are_locally_administered_unicast() {
        let m = Mac::generate("eni");
        assert_eq!(m.0[0], 0x02);
        assert_eq!(m.to_string().len(), 17);
    }
}
