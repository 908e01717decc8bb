//! Who may do what through which door: how a request reached S3 or DynamoDB ([`Via`]),
//! what it asks to do ([`Access`]), the one [`Authorize`] trait both services put every
//! request to, and the lab's answer to it: gateway endpoint policies and S3 bucket policies
//! ([`Policies`]).
//!
//! Contract:
//! - [`Policies::update`] takes each gateway endpoint's policy from the lab (the default,
//!   full access, when it has none). The lab verified them; one that does not parse anyway
//!   denies everything rather than allowing it.
//! - A request through a gateway endpoint ([`Via::Endpoint`]) is served only if the
//!   endpoint's policy **allows** it (explicit deny wins; no allow is a deny), as AWS
//!   evaluates endpoint policies. Requests through the internet gateway meet no endpoint
//!   policy.
//! - An S3 bucket policy can only take away: its explicit `Deny` refuses the request, on
//!   either path. Every request is the lab account's own (signatures are not checked; the
//!   bucket owner is that account), and AWS lets an account use its own buckets without a
//!   bucket-policy allow — so a missing allow there changes nothing. A bucket policy that
//!   does not parse is ignored here (S3 refused it at `PutBucketPolicy`). DynamoDB has no
//!   resource policy here: it passes none.
//! - The condition keys are the path's (`aws:SourceVpce`, `aws:SourceVpc`,
//!   `aws:VpcSourceIp` through an endpoint, `aws:SourceIp` through the internet gateway) and
//!   the request's own (`s3:prefix`, …). The principal is the lab account's root
//!   ([`LAB_PRINCIPAL`], from [`catalog::ACCOUNT_ID`]) for signed and unsigned requests
//!   alike.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::LazyLock;

use serde_json::Value;

use crate::model::catalog;
use crate::model::policy::{Decision, Policy, RequestContext};
use crate::model::{EndpointKind, Lab, VpcId, VpceId};

/// The principal every request runs as: the lab account's root,
/// `arn:aws:iam::<catalog::ACCOUNT_ID>:root`.
pub static LAB_PRINCIPAL: LazyLock<String> =
    LazyLock::new(|| format!("arn:aws:iam::{}:root", catalog::ACCOUNT_ID));

/// How a request reached S3 or DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Through an internet gateway: the source is a public address.
    Internet {
        /// The sender's public address (the `aws:SourceIp` condition key).
        src: Ipv4Addr,
    },
    /// Through a gateway endpoint: the source is the instance's private address.
    Endpoint {
        /// The gateway endpoint (`aws:SourceVpce`); its policy is asked too.
        vpce: VpceId,
        /// Its VPC (`aws:SourceVpc`).
        vpc: VpcId,
        /// The instance's private address (`aws:VpcSourceIp`).
        src: Ipv4Addr,
    },
}

/// One request as IAM sees it: what an endpoint policy or a bucket policy is asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// `s3:GetObject`, `s3:ListBucket`, `dynamodb:PutItem`, …
    pub action: &'static str,
    /// `arn:aws:s3:::bucket`, `arn:aws:s3:::bucket/key`, a DynamoDB table ARN, or `*`
    /// (ListAllMyBuckets, ListTables).
    pub resource: String,
    /// The path the request took.
    pub via: Via,
    /// [`LAB_PRINCIPAL`] when an S3 request is signed (any credentials are the lab
    /// account's: signatures are not checked), `None` when anonymous (and for DynamoDB).
    pub principal: Option<String>,
    /// Request-specific condition keys (`s3:prefix`, `s3:delimiter`, `s3:max-keys`).
    pub request_conditions: Vec<(&'static str, String)>,
}

impl Access {
    /// Every condition key this request has, for a policy's `Condition` block: the path's
    /// ([`path_conditions`]) and the request's own.
    pub fn conditions(&self) -> Vec<(&'static str, String)> {
        let mut v = path_conditions(&self.via);
        v.extend(self.request_conditions.iter().cloned());
        v
    }
}

/// Decides whether a request may proceed (endpoint policy, bucket policy, …). S3 and
/// DynamoDB ask the same trait; closures of the same shape implement it.
pub trait Authorize {
    /// `true` to serve `access`; `bucket_policy` is the target S3 bucket's policy, if any
    /// (always `None` for DynamoDB).
    fn authorize(&self, access: &Access, bucket_policy: Option<&Value>) -> bool;
}

impl<F: Fn(&Access, Option<&Value>) -> bool> Authorize for F {
    fn authorize(&self, access: &Access, bucket_policy: Option<&Value>) -> bool {
        self(access, bucket_policy)
    }
}

/// Allows every request (no endpoint or bucket policy is evaluated).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorize for AllowAll {
    fn authorize(&self, _: &Access, _: Option<&Value>) -> bool {
        true
    }
}

/// The gateway endpoints' policies of a lab.
#[derive(Debug, Default, Clone)]
pub struct Policies {
    endpoints: HashMap<VpceId, Option<Policy>>,
}

impl Policies {
    /// The policies of `lab`'s gateway endpoints.
    pub fn new(lab: &Lab) -> Self {
        let mut p = Policies::default();
        p.update(lab);
        p
    }

    /// Takes the endpoints' policies from a changed lab.
    pub fn update(&mut self, lab: &Lab) {
        self.endpoints = lab
            .vpc_endpoints
            .iter()
            .filter(|e| matches!(e.kind, EndpointKind::Gateway { .. }))
            .map(|e| {
                let policy = match &e.policy {
                    None => Some(Policy::full_access()),
                    Some(doc) => Policy::parse(doc).ok(),
                };
                (e.id.clone(), policy)
            })
            .collect();
    }

    /// Whether a request for `action` on `resource` that came by `via`, with the condition
    /// keys `conditions` (the path's and the request's: [`path_conditions`]), may be served;
    /// `bucket_policy` is the S3 bucket's, if any.
    pub fn allows(
        &self,
        via: &Via,
        action: &str,
        resource: &str,
        conditions: &[(&str, String)],
        bucket_policy: Option<&Value>,
    ) -> bool {
        let conditions: Vec<(&str, &str)> =
            conditions.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let ctx = RequestContext {
            action,
            resource,
            principal: Some(LAB_PRINCIPAL.as_str()),
            conditions: &conditions,
        };
        if let Via::Endpoint { vpce, .. } = via {
            let allowed = match self.endpoints.get(vpce) {
                Some(Some(policy)) => policy.evaluate(&ctx) == Decision::Allow,
                // An endpoint the lab no longer has, or a policy that does not parse.
                _ => false,
            };
            if !allowed {
                return false;
            }
        }
        match bucket_policy.and_then(|doc| Policy::parse(doc).ok()) {
            Some(policy) => policy.evaluate(&ctx) != Decision::ExplicitDeny,
            None => true,
        }
    }
}

/// The condition keys of a path: `aws:SourceVpce`, `aws:SourceVpc`, `aws:VpcSourceIp`
/// through an endpoint, `aws:SourceIp` through the internet gateway, and
/// `aws:SecureTransport` (false: port 80 only).
pub fn path_conditions(via: &Via) -> Vec<(&'static str, String)> {
    let mut v = match via {
        Via::Internet { src } => vec![("aws:SourceIp", src.to_string())],
        Via::Endpoint { vpce, vpc, src } => vec![
            ("aws:SourceVpce", vpce.to_string()),
            ("aws:SourceVpc", vpc.to_string()),
            ("aws:VpcSourceIp", src.to_string()),
        ],
    };
    v.push(("aws:SecureTransport", "false".to_string()));
    v
}

impl Authorize for Policies {
    fn authorize(&self, access: &Access, bucket_policy: Option<&Value>) -> bool {
        self.allows(
            &access.via,
            access.action,
            &access.resource,
            &access.conditions(),
            bucket_policy,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VpcId;
    use serde_json::json;

    fn lab_with_policy(policy: Option<Value>) -> (Lab, VpceId, VpcId) {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("templates/seed2-gateway-endpoint.yaml"),
        )
        .unwrap();
        let mut lab = crate::template::load(&text, &Default::default()).unwrap();
        let e = &mut lab.vpc_endpoints[0];
        e.policy = policy;
        let (vpce, vpc) = (e.id.clone(), e.vpc.clone());
        (lab, vpce, vpc)
    }

    fn via(vpce: &VpceId, vpc: &VpcId) -> Via {
        Via::Endpoint {
            vpce: vpce.clone(),
            vpc: vpc.clone(),
            src: "10.0.1.237".parse().unwrap(),
        }
    }

    #[test]
    fn the_default_endpoint_policy_allows_everything() {
        let (lab, vpce, vpc) = lab_with_policy(None);
        let p = Policies::new(&lab);
        assert!(p.allows(
            &via(&vpce, &vpc),
            "s3:PutObject",
            "arn:aws:s3:::b/k",
            &[],
            None
        ));
    }

    #[test]
    fn an_endpoint_policy_deny_wins_and_no_allow_is_a_deny() {
        let (lab, vpce, vpc) = lab_with_policy(Some(json!({
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"},
                {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}
            ]
        })));
        let p = Policies::new(&lab);
        let v = via(&vpce, &vpc);
        assert!(!p.allows(&v, "s3:PutObject", "arn:aws:s3:::b/k", &[], None));
        assert!(p.allows(&v, "s3:GetObject", "arn:aws:s3:::b/k", &[], None));
        // Nothing allows DynamoDB in this policy.
        assert!(!p.allows(&v, "dynamodb:GetItem", "arn:aws:dynamodb:x", &[], None));
        // The internet path meets no endpoint policy.
        let internet = Via::Internet {
            src: "15.164.56.94".parse().unwrap(),
        };
        assert!(p.allows(&internet, "s3:PutObject", "arn:aws:s3:::b/k", &[], None));
    }

    #[test]
    fn a_bucket_policy_denies_by_source_vpce() {
        let (lab, vpce, vpc) = lab_with_policy(None);
        let p = Policies::new(&lab);
        let only_this_endpoint = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
                "Condition": {"StringNotEquals": {"aws:SourceVpce": vpce.to_string()}}
            }]
        });
        let v = via(&vpce, &vpc);
        assert!(p.allows(
            &v,
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            &path_conditions(&v),
            Some(&only_this_endpoint)
        ));
        let internet = Via::Internet {
            src: "15.164.56.94".parse().unwrap(),
        };
        assert!(!p.allows(
            &internet,
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            &path_conditions(&internet),
            Some(&only_this_endpoint)
        ));
    }

    #[test]
    fn an_unknown_endpoint_is_refused() {
        let (lab, _, vpc) = lab_with_policy(None);
        let p = Policies::new(&lab);
        let gone = VpceId::generate("gone");
        assert!(!p.allows(
            &via(&gone, &vpc),
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            &[],
            None
        ));
    }

    #[test]
    fn s3_and_dynamodb_are_refused_through_the_same_authorizer() {
        use crate::services::dynamodb::DynamoDb;
        use crate::services::http::parse;
        use crate::services::s3::S3;

        let (lab, vpce, vpc) = lab_with_policy(Some(json!({
            "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Principal": "*",
                 "Action": ["s3:PutObject", "dynamodb:PutItem"], "Resource": "*"}
            ]
        })));
        let policies = Policies::new(&lab);
        let authorize: &dyn Authorize = &policies;
        let v = via(&vpce, &vpc);
        let now = 1_767_225_600_000;
        let request = |raw: &str| parse(raw.as_bytes(), 1 << 20).unwrap().unwrap().0;

        let dir = std::env::temp_dir().join(format!("vpclab-authz-{}", std::process::id()));
        let mut s3 = S3::new(&dir).unwrap();
        let put = |target: &str, body: &str| {
            request(&format!(
                "PUT {target} HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ))
        };
        let bucket = s3.handle(&v, &put("/authz", ""), now, authorize);
        let object = s3.handle(&v, &put("/authz/k", "x"), now, authorize);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(bucket.status, 200);
        assert_eq!(object.status, 403);
        assert_eq!(s3.counters.denied, 1);

        let mut ddb = DynamoDb::new("ap-northeast-2");
        let call = |op: &str| {
            let body = r#"{"TableName": "Music"}"#;
            request(&format!(
                "POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.{op}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ))
        };
        let r = ddb.handle_with(&v, &call("DescribeTable"), now, authorize);
        assert_eq!(r.status, 400, "allowed, but there is no such table");
        assert!(String::from_utf8_lossy(&r.body).contains("ResourceNotFoundException"));
        let r = ddb.handle_with(&v, &call("PutItem"), now, authorize);
        assert_eq!(r.status, 400);
        assert!(String::from_utf8_lossy(&r.body).contains("AccessDeniedException"));
        assert_eq!(ddb.counters.denied, 1);
    }

    #[test]
    fn the_lab_principal_is_the_catalog_account() {
        assert_eq!(
            LAB_PRINCIPAL.as_str(),
            format!("arn:aws:iam::{}:root", catalog::ACCOUNT_ID)
        );
    }
}
