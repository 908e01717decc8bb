//! Who may do what through which door: gateway endpoint policies and S3 bucket policies,
//! evaluated for every S3 and DynamoDB request.
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
//!   does not parse is ignored here (S3 refused it at `PutBucketPolicy`).
//! - The condition keys are the path's (`aws:SourceVpce`, `aws:SourceVpc`,
//!   `aws:VpcSourceIp` through an endpoint, `aws:SourceIp` through the internet gateway) and
//!   the request's own (`s3:prefix`, …). The principal is the lab account's root
//!   (`arn:aws:iam::123456789012:root`) for signed and unsigned requests alike.

use std::collections::HashMap;

use serde_json::Value;

use super::s3::{self, Via};
use crate::model::policy::{Decision, Policy, RequestContext};
use crate::model::{EndpointKind, Lab, VpceId};

/// The principal every request runs as: the lab account.
pub const LAB_PRINCIPAL: &str = "arn:aws:iam::123456789012:root";

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
            principal: Some(LAB_PRINCIPAL),
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

impl s3::Authorize for Policies {
    fn authorize(&self, access: &s3::Access, bucket_policy: Option<&Value>) -> bool {
        self.allows(
            &access.via,
            access.action,
            &access.resource,
            &access.conditions(),
            bucket_policy,
        )
    }
}

impl Policies {
    /// The DynamoDB authorizer: the endpoint policy only (DynamoDB has no resource policy
    /// here).
    pub fn authorize_dynamodb(&self, access: &super::dynamodb::Access) -> bool {
        self.allows(
            &access.via,
            &access.action,
            &access.resource,
            &path_conditions(&access.via),
            None,
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
}
