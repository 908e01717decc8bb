//! Policy parsing and evaluation: one test per rule, and properties against simple oracles.
//!
//! Size: one test per policy rule; a catalogue, not logic.

use proptest::prelude::*;
use serde_json::json;

use super::*;

const VPCE: &str = "vpce-0a1b2c3d4e5f60718";

fn policy(doc: Value) -> Policy {
    Policy::parse(&doc).unwrap_or_else(|e| panic!("{e}"))
}

fn err(doc: Value) -> String {
    Policy::parse(&doc)
        .expect_err("must be refused")
        .to_string()
}

fn allow(stmt: Value) -> Policy {
    let mut s = stmt;
    s["Effect"] = json!("Allow");
    policy(json!({"Version": "2012-10-17", "Statement": [s]}))
}

fn ctx<'a>(
    action: &'a str,
    resource: &'a str,
    conds: &'a [(&'a str, &'a str)],
) -> RequestContext<'a> {
    RequestContext {
        action,
        resource,
        principal: None,
        conditions: conds,
    }
}

fn get(p: &Policy, conds: &[(&str, &str)]) -> Decision {
    p.evaluate(&ctx("s3:GetObject", "arn:aws:s3:::lab-bucket/a.txt", conds))
}

/// A statement allowing s3:GetObject on everything to everyone, with `cond`.
fn with_condition(cond: Value) -> Policy {
    allow(json!({"Principal": "*", "Action": "s3:GetObject", "Resource": "*", "Condition": cond}))
}

// ---- parsing -------------------------------------------------------------------------

#[test]
fn full_access_allows_everything_and_parses_as_its_document() {
    let p = Policy::full_access();
    assert_eq!(get(&p, &[]), Decision::Allow);
    assert_eq!(
        p.evaluate(&ctx(
            "dynamodb:PutItem",
            "arn:aws:dynamodb:ap-northeast-2:123456789012:table/t",
            &[]
        )),
        Decision::Allow
    );
    let again = Policy::parse(p.document()).unwrap();
    assert_eq!(get(&again, &[]), Decision::Allow);
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]})
    );
}

#[test]
fn both_versions_and_no_version_are_accepted() {
    for v in ["2012-10-17", "2008-10-17"] {
        policy(
            json!({"Version": v, "Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}),
        );
    }
    policy(
        json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}),
    );
    let e = err(json!({"Version": "2012-10-18", "Statement": []}));
    assert!(e.contains("Version '2012-10-18' is not valid"), "{e}");
    let e = err(json!({"Version": 2012, "Statement": []}));
    assert!(e.contains("Version must be the string"), "{e}");
}

#[test]
fn statement_may_be_one_object_or_an_array() {
    let one = policy(
        json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}}),
    );
    assert_eq!(get(&one, &[]), Decision::Allow);
    let e = err(json!({"Statement": "Allow"}));
    assert!(e.contains("Statement must be an object or an array"), "{e}");
    let e = err(json!({"Statement": []}));
    assert!(e.contains("empty array"), "{e}");
    let e = err(json!({"Version": "2012-10-17"}));
    assert!(e.contains("missing Statement"), "{e}");
    let e = err(json!({"Statement": [1]}));
    assert!(
        e.contains("Statement 1: a statement must be an object, not a number"),
        "{e}"
    );
}

#[test]
fn errors_name_the_statement_as_aws_does() {
    let e = err(json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "allow", "Principal": "*", "Action": "*", "Resource": "*"}
    ]}));
    assert_eq!(
        e,
        "MalformedPolicyDocument: Statement 2: Effect must be \"Allow\" or \"Deny\""
    );
    let e = err(json!({"Statement": [{"Principal": "*", "Action": "*", "Resource": "*"}]}));
    assert!(e.contains("Statement 1: missing Effect"), "{e}");
}

#[test]
fn unknown_fields_are_refused() {
    let e = err(json!({"Version": "2012-10-17", "Statements": []}));
    assert!(e.contains("unknown field 'Statements'"), "{e}");
    let e = err(
        json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Actions": "*", "Resource": "*"}]}),
    );
    assert!(e.contains("Statement 1: unknown field 'Actions'"), "{e}");
    policy(
        json!({"Id": "p1", "Statement": [{"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}),
    );
    let e = err(json!({"Id": 3, "Statement": []}));
    assert!(e.contains("Id must be a string"), "{e}");
}

#[test]
fn the_document_must_be_an_object() {
    for doc in [json!(null), json!([]), json!("{}"), json!(7)] {
        let e = err(doc);
        assert!(e.contains("a policy document is a JSON object"), "{e}");
    }
}

#[test]
fn action_resource_and_principal_are_required_and_exclusive() {
    let base = json!({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"});
    for (field, missing) in [
        ("Action", "missing Action"),
        ("Resource", "missing Resource"),
        ("Principal", "missing Principal"),
    ] {
        let mut s = base.clone();
        s.as_object_mut().unwrap().remove(field);
        let e = err(json!({"Statement": [s]}));
        assert!(e.contains(missing), "{e}");
    }
    for (a, b) in [
        ("Action", "NotAction"),
        ("Resource", "NotResource"),
        ("Principal", "NotPrincipal"),
    ] {
        let mut s = base.clone();
        s[b] = s[a].clone();
        let e = err(json!({"Statement": [s]}));
        assert!(e.contains(&format!("either {a} or {b}, not both")), "{e}");
    }
}

#[test]
fn wrong_json_types_are_named() {
    let e = err(
        json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": 5, "Resource": "*"}]}),
    );
    assert!(
        e.contains("Action must be a string or an array of strings, not a number"),
        "{e}"
    );
    let e = err(
        json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", true], "Resource": "*"}]}),
    );
    assert!(
        e.contains("Action has a boolean where a string belongs"),
        "{e}"
    );
    let e = err(
        json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": [], "Resource": "*"}]}),
    );
    assert!(e.contains("Action is an empty array"), "{e}");
    let e = err(
        json!({"Statement": [{"Sid": 1, "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}),
    );
    assert!(e.contains("Sid must be a string"), "{e}");
    let e = err(
        json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": []}]}),
    );
    assert!(e.contains("Condition must be an object"), "{e}");
}

#[test]
fn actions_need_a_vendor_prefix() {
    let e = err(
        json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "GetObject", "Resource": "*"}]}),
    );
    assert!(
        e.contains("Actions/Conditions must be prefaced by a vendor"),
        "{e}"
    );
    let e = err(
        json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:", "Resource": "*"}]}),
    );
    assert!(e.contains("prefaced by a vendor"), "{e}");
}

#[test]
fn resources_must_be_arns_or_star() {
    let e = err(
        json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "lab-bucket"}]}),
    );
    assert!(
        e.contains("Resource 'lab-bucket' must be in ARN format or \"*\""),
        "{e}"
    );
    let e = err(
        json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "arn:aws:s3"}]}),
    );
    assert!(e.contains("must be in ARN format"), "{e}");
}

#[test]
fn principals_are_checked() {
    for bad in [
        json!("me"),
        json!({}),
        json!({"User": "x"}),
        json!({"AWS": "alice"}),
        json!(3),
    ] {
        let e = err(
            json!({"Statement": [{"Effect": "Allow", "Principal": bad, "Action": "*", "Resource": "*"}]}),
        );
        assert!(e.contains("Principal"), "{e}");
    }
    policy(
        json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "*", "Resource": "*"}]}),
    );
    policy(
        json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "123456789012", "Service": "ec2.amazonaws.com"}, "Action": "*", "Resource": "*"}]}),
    );
}

#[test]
fn sids_are_unique() {
    let e = err(json!({"Statement": [
        {"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Sid": "A", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}
    ]}));
    assert!(
        e.contains("Statement 2: Statement IDs (SID) in a single policy must be unique"),
        "{e}"
    );
    // The API's own default policy carries an empty Sid; empty ones do not collide.
    policy(json!({"Statement": [
        {"Sid": "", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Sid": "", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
    ]}));
}

#[test]
fn unknown_condition_operators_and_bad_values_are_refused() {
    let cond = |c: Value| {
        err(
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*", "Condition": c}]}),
        )
    };
    let e = cond(json!({"StringEqualz": {"aws:SourceVpce": VPCE}}));
    assert!(
        e.contains("Condition operator 'StringEqualz' is not known"),
        "{e}"
    );
    let e = cond(json!({"NullIfExists": {"aws:SourceVpce": "true"}}));
    assert!(e.contains("is not known"), "{e}");
    let e = cond(json!({"IpAddress": {"aws:SourceIp": "10.0.0.300/24"}}));
    assert!(e.contains("is not an IP address or CIDR block"), "{e}");
    let e = cond(json!({"NumericLessThan": {"s3:max-keys": "ten"}}));
    assert!(e.contains("is not a number"), "{e}");
    let e = cond(json!({"Bool": {"aws:SecureTransport": "yes"}}));
    assert!(e.contains("is not true or false"), "{e}");
    let e = cond(json!({"DateLessThan": {"aws:CurrentTime": "tomorrow"}}));
    assert!(e.contains("is not a date"), "{e}");
    let e = cond(json!({"StringEquals": {"SourceVpce": VPCE}}));
    assert!(e.contains("Condition key 'SourceVpce'"), "{e}");
    let e = cond(json!({"StringEquals": "aws:SourceVpce"}));
    assert!(
        e.contains("Condition StringEquals must be an object"),
        "{e}"
    );
    let e = cond(json!({"StringEquals": {}}));
    assert!(e.contains("has no condition key"), "{e}");
    let e = cond(json!({"StringEquals": {"aws:SourceVpce": [null]}}));
    assert!(
        e.contains("null where a string, number or boolean belongs"),
        "{e}"
    );
    let e = cond(json!({"StringEquals": {"aws:SourceVpce": []}}));
    assert!(e.contains("empty array"), "{e}");
}

#[test]
fn size_is_limited_to_20480_characters() {
    let big = "x".repeat(MAX_POLICY_CHARS);
    let doc = json!({"Statement": [{"Sid": big, "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]});
    let e = Policy::parse(&doc).unwrap_err();
    assert!(matches!(e, PolicyError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("at most 20480"), "{e}");
    let text = format!(
        "{{\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"*\",\"Resource\":\"*\"}}]}}{}",
        " ".repeat(MAX_POLICY_CHARS)
    );
    assert!(matches!(
        Policy::parse_str(&text),
        Err(PolicyError::TooLarge { .. })
    ));
}

#[test]
fn parse_str_reports_bad_json() {
    let e = Policy::parse_str("{\"Statement\": [").unwrap_err();
    assert!(matches!(e, PolicyError::NotJson(_)));
    assert!(e
        .to_string()
        .starts_with("MalformedPolicyDocument: the policy is not valid JSON"));
    let p = Policy::parse_str(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::lab-bucket/*"}]}"#,
    )
    .unwrap();
    assert_eq!(get(&p, &[]), Decision::Allow);
}

// ---- evaluation ----------------------------------------------------------------------

#[test]
fn explicit_deny_wins_and_no_allow_is_an_implicit_deny() {
    let p = policy(json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lab-bucket/secret/*"}
    ]}));
    assert_eq!(get(&p, &[]), Decision::Allow);
    assert_eq!(
        p.evaluate(&ctx(
            "s3:GetObject",
            "arn:aws:s3:::lab-bucket/secret/k",
            &[]
        )),
        Decision::ExplicitDeny
    );
    assert_eq!(
        p.evaluate(&ctx("dynamodb:GetItem", "*", &[])),
        Decision::ImplicitDeny
    );
}

#[test]
fn actions_match_case_insensitively_with_wildcards() {
    let p =
        allow(json!({"Principal": "*", "Action": ["S3:get*", "s3:List?ucket"], "Resource": "*"}));
    assert_eq!(get(&p, &[]), Decision::Allow);
    for (a, d) in [
        ("s3:GETOBJECTACL", Decision::Allow),
        ("s3:ListBucket", Decision::Allow),
        ("s3:ListBuckets", Decision::ImplicitDeny),
        ("s3:PutObject", Decision::ImplicitDeny),
        ("dynamodb:GetItem", Decision::ImplicitDeny),
    ] {
        assert_eq!(p.evaluate(&ctx(a, "arn:aws:s3:::b", &[])), d, "{a}");
    }
}

#[test]
fn not_action_matches_every_other_action() {
    let p = policy(json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "NotAction": ["s3:Get*", "s3:List*"], "Resource": "*"}
    ]}));
    assert_eq!(get(&p, &[]), Decision::Allow);
    assert_eq!(
        p.evaluate(&ctx("s3:PutObject", "arn:aws:s3:::b/k", &[])),
        Decision::ExplicitDeny
    );
}

#[test]
fn resources_match_per_arn_component_case_sensitively() {
    let p = allow(
        json!({"Principal": "*", "Action": "*", "Resource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"]}),
    );
    for (r, d) in [
        ("arn:aws:s3:::lab-bucket", Decision::Allow),
        ("arn:aws:s3:::lab-bucket/a/b:c", Decision::Allow),
        ("arn:aws:s3:::Lab-bucket/a", Decision::ImplicitDeny),
        ("arn:aws:s3:::lab-bucket-2/a", Decision::ImplicitDeny),
    ] {
        assert_eq!(p.evaluate(&ctx("s3:GetObject", r, &[])), d, "{r}");
    }
    let region = allow(
        json!({"Principal": "*", "Action": "*", "Resource": "arn:aws:dynamodb:*:123456789012:table/*"}),
    );
    assert_eq!(
        region.evaluate(&ctx(
            "dynamodb:GetItem",
            "arn:aws:dynamodb:ap-northeast-2:123456789012:table/t",
            &[]
        )),
        Decision::Allow
    );
    // A wildcard in one component does not swallow the next colon.
    let svc = allow(json!({"Principal": "*", "Action": "*", "Resource": "arn:aws:s*:::b"}));
    assert_eq!(
        svc.evaluate(&ctx("s3:GetObject", "arn:aws:s3:x::b", &[])),
        Decision::ImplicitDeny
    );
}

#[test]
fn not_resource_matches_every_other_resource() {
    let p = policy(json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "NotResource": ["arn:aws:s3:::lab-bucket", "arn:aws:s3:::lab-bucket/*"]}
    ]}));
    assert_eq!(get(&p, &[]), Decision::Allow);
    assert_eq!(
        p.evaluate(&ctx("s3:GetObject", "arn:aws:s3:::other/k", &[])),
        Decision::ExplicitDeny
    );
}

#[test]
fn principals_match_the_caller() {
    let alice = "arn:aws:iam::123456789012:user/alice";
    let ask = |p: &Policy, who: Option<&str>| {
        p.evaluate(&RequestContext {
            action: "s3:GetObject",
            resource: "arn:aws:s3:::b/k",
            principal: who,
            conditions: &[],
        })
    };
    let star = allow(json!({"Principal": {"AWS": "*"}, "Action": "*", "Resource": "*"}));
    assert_eq!(ask(&star, None), Decision::Allow);
    let user = allow(json!({"Principal": {"AWS": [alice]}, "Action": "*", "Resource": "*"}));
    assert_eq!(ask(&user, Some(alice)), Decision::Allow);
    assert_eq!(ask(&user, None), Decision::ImplicitDeny);
    assert_eq!(
        ask(&user, Some("arn:aws:iam::123456789012:user/bob")),
        Decision::ImplicitDeny
    );
    let account =
        allow(json!({"Principal": {"AWS": "123456789012"}, "Action": "*", "Resource": "*"}));
    assert_eq!(
        ask(&account, Some("arn:aws:iam::123456789012:root")),
        Decision::Allow
    );
    assert_eq!(ask(&account, Some(alice)), Decision::ImplicitDeny);
    let not = policy(json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "NotPrincipal": {"AWS": alice}, "Action": "*", "Resource": "*"}
    ]}));
    assert_eq!(ask(&not, Some(alice)), Decision::Allow);
    assert_eq!(ask(&not, None), Decision::ExplicitDeny);
}

#[test]
fn string_equals_and_not_equals() {
    let p = with_condition(json!({"StringEquals": {"aws:SourceVpce": [VPCE, "vpce-11111111"]}}));
    assert_eq!(get(&p, &[("aws:SourceVpce", VPCE)]), Decision::Allow);
    assert_eq!(
        get(&p, &[("aws:sourcevpce", "vpce-11111111")]),
        Decision::Allow,
        "keys are case-insensitive"
    );
    assert_eq!(
        get(&p, &[("aws:SourceVpce", "VPCE-11111111")]),
        Decision::ImplicitDeny,
        "values are case-sensitive"
    );
    assert_eq!(
        get(&p, &[("aws:SourceVpce", "vpce-2")]),
        Decision::ImplicitDeny
    );
    assert_eq!(get(&p, &[]), Decision::ImplicitDeny, "a missing key fails");

    let deny = policy(json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:SourceVpce": [VPCE, "vpce-11111111"]}}}
    ]}));
    assert_eq!(get(&deny, &[("aws:SourceVpce", VPCE)]), Decision::Allow);
    assert_eq!(
        get(&deny, &[("aws:SourceVpce", "vpce-22222222")]),
        Decision::ExplicitDeny
    );
    assert_eq!(
        get(&deny, &[]),
        Decision::ExplicitDeny,
        "a missing key passes a negated operator"
    );
}

#[test]
fn string_equals_ignore_case() {
    let p = with_condition(json!({"StringEqualsIgnoreCase": {"aws:SourceVpc": "VPC-0ABC"}}));
    assert_eq!(get(&p, &[("aws:SourceVpc", "vpc-0abc")]), Decision::Allow);
    assert_eq!(
        get(&p, &[("aws:SourceVpc", "vpc-0abd")]),
        Decision::ImplicitDeny
    );
    let not = with_condition(json!({"StringNotEqualsIgnoreCase": {"aws:SourceVpc": "VPC-0ABC"}}));
    assert_eq!(
        get(&not, &[("aws:SourceVpc", "vpc-0abc")]),
        Decision::ImplicitDeny
    );
    assert_eq!(get(&not, &[("aws:SourceVpc", "vpc-1")]), Decision::Allow);
}

#[test]
fn string_like_and_not_like() {
    let p = with_condition(json!({"StringLike": {"s3:prefix": ["home/*", "tmp/???"]}}));
    assert_eq!(get(&p, &[("s3:prefix", "home/alice/x")]), Decision::Allow);
    assert_eq!(get(&p, &[("s3:prefix", "tmp/abc")]), Decision::Allow);
    assert_eq!(
        get(&p, &[("s3:prefix", "tmp/abcd")]),
        Decision::ImplicitDeny
    );
    assert_eq!(
        get(&p, &[("s3:prefix", "Home/alice")]),
        Decision::ImplicitDeny
    );
    let not = with_condition(json!({"StringNotLike": {"s3:prefix": "secret/*"}}));
    assert_eq!(get(&not, &[("s3:prefix", "public/a")]), Decision::Allow);
    assert_eq!(
        get(&not, &[("s3:prefix", "secret/a")]),
        Decision::ImplicitDeny
    );
    assert_eq!(get(&not, &[]), Decision::Allow);
}

#[test]
fn arn_equals_and_like() {
    for op in ["ArnEquals", "ArnLike"] {
        let p = with_condition(
            json!({(op): {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/lab-*"}}),
        );
        assert_eq!(
            get(
                &p,
                &[(
                    "aws:PrincipalArn",
                    "arn:aws:iam::123456789012:role/lab-admin"
                )]
            ),
            Decision::Allow,
            "{op}"
        );
        assert_eq!(
            get(
                &p,
                &[(
                    "aws:PrincipalArn",
                    "arn:aws:iam::999999999999:role/lab-admin"
                )]
            ),
            Decision::ImplicitDeny,
            "{op}"
        );
    }
    let not =
        with_condition(json!({"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/admin"}}));
    assert_eq!(
        get(&not, &[("aws:PrincipalArn", "arn:aws:iam::1:role/admin")]),
        Decision::ImplicitDeny
    );
    assert_eq!(
        get(&not, &[("aws:PrincipalArn", "arn:aws:iam::1:role/user")]),
        Decision::Allow
    );
}

#[test]
fn ip_address_and_not_ip_address() {
    let p =
        with_condition(json!({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "198.51.100.7"]}}));
    assert_eq!(
        get(&p, &[("aws:SourceIp", "203.0.113.77")]),
        Decision::Allow
    );
    assert_eq!(
        get(&p, &[("aws:SourceIp", "198.51.100.7")]),
        Decision::Allow
    );
    assert_eq!(
        get(&p, &[("aws:SourceIp", "198.51.100.8")]),
        Decision::ImplicitDeny
    );
    assert_eq!(
        get(&p, &[("aws:SourceIp", "not-an-ip")]),
        Decision::ImplicitDeny
    );
    assert_eq!(
        get(&p, &[]),
        Decision::ImplicitDeny,
        "aws:SourceIp is absent through an endpoint"
    );
    let v6 = with_condition(json!({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}));
    assert_eq!(
        get(&v6, &[("aws:SourceIp", "2001:db8::1")]),
        Decision::Allow
    );
    let not = with_condition(json!({"NotIpAddress": {"aws:VpcSourceIp": "10.0.1.0/24"}}));
    assert_eq!(
        get(&not, &[("aws:VpcSourceIp", "10.0.1.9")]),
        Decision::ImplicitDeny
    );
    assert_eq!(
        get(&not, &[("aws:VpcSourceIp", "10.0.0.9")]),
        Decision::Allow
    );
    assert_eq!(get(&not, &[]), Decision::Allow);
}

#[test]
fn bool_conditions_take_json_booleans_or_strings() {
    let p = with_condition(json!({"Bool": {"aws:SecureTransport": false}}));
    assert_eq!(
        get(&p, &[("aws:SecureTransport", "false")]),
        Decision::Allow
    );
    assert_eq!(
        get(&p, &[("aws:SecureTransport", "true")]),
        Decision::ImplicitDeny
    );
    assert_eq!(get(&p, &[]), Decision::ImplicitDeny);
    let s = with_condition(json!({"Bool": {"aws:SecureTransport": "TRUE"}}));
    assert_eq!(get(&s, &[("aws:SecureTransport", "true")]), Decision::Allow);
}

#[test]
fn null_tests_presence() {
    let absent = with_condition(json!({"Null": {"aws:SourceVpce": "true"}}));
    assert_eq!(get(&absent, &[]), Decision::Allow);
    assert_eq!(
        get(&absent, &[("aws:SourceVpce", VPCE)]),
        Decision::ImplicitDeny
    );
    let present = with_condition(json!({"Null": {"aws:SourceVpce": false}}));
    assert_eq!(get(&present, &[]), Decision::ImplicitDeny);
    assert_eq!(get(&present, &[("aws:SourceVpce", VPCE)]), Decision::Allow);
}

#[test]
fn if_exists_passes_on_a_missing_key_only() {
    let p = with_condition(json!({"StringEqualsIfExists": {"aws:SourceVpce": VPCE}}));
    assert_eq!(get(&p, &[]), Decision::Allow);
    assert_eq!(get(&p, &[("aws:SourceVpce", VPCE)]), Decision::Allow);
    assert_eq!(
        get(&p, &[("aws:SourceVpce", "vpce-99999999")]),
        Decision::ImplicitDeny
    );
    let ip = with_condition(json!({"IpAddressIfExists": {"aws:SourceIp": "203.0.113.0/24"}}));
    assert_eq!(get(&ip, &[]), Decision::Allow);
    assert_eq!(
        get(&ip, &[("aws:SourceIp", "192.0.2.1")]),
        Decision::ImplicitDeny
    );
}

#[test]
fn numeric_and_date_operators() {
    let p = with_condition(json!({"NumericLessThanEquals": {"s3:max-keys": 10}}));
    assert_eq!(get(&p, &[("s3:max-keys", "10")]), Decision::Allow);
    assert_eq!(get(&p, &[("s3:max-keys", "11")]), Decision::ImplicitDeny);
    assert_eq!(get(&p, &[("s3:max-keys", "ten")]), Decision::ImplicitDeny);
    let ne = with_condition(json!({"NumericNotEquals": {"s3:max-keys": "5"}}));
    assert_eq!(get(&ne, &[("s3:max-keys", "5.0")]), Decision::ImplicitDeny);
    assert_eq!(get(&ne, &[("s3:max-keys", "6")]), Decision::Allow);
    let d = with_condition(json!({"DateLessThan": {"aws:CurrentTime": "2026-06-01T00:00:00Z"}}));
    assert_eq!(
        get(&d, &[("aws:CurrentTime", "2026-05-31T23:59:59Z")]),
        Decision::Allow
    );
    assert_eq!(
        get(&d, &[("aws:CurrentTime", "2026-06-01T09:00:00+09:00")]),
        Decision::ImplicitDeny
    );
    assert_eq!(
        get(&d, &[("aws:CurrentTime", "2026-06-01T08:59:59+09:00")]),
        Decision::Allow
    );
    assert_eq!(get(&d, &[("aws:EpochTime", "0")]), Decision::ImplicitDeny);
    let epoch = with_condition(json!({"DateGreaterThanEquals": {"aws:EpochTime": "2026-01-01"}}));
    assert_eq!(
        get(&epoch, &[("aws:EpochTime", "1767225600")]),
        Decision::Allow
    );
    assert_eq!(
        get(&epoch, &[("aws:EpochTime", "1767225599")]),
        Decision::ImplicitDeny
    );
}

#[test]
fn keys_and_operators_are_anded_values_are_ored() {
    let p = with_condition(json!({
        "StringEquals": {"aws:SourceVpce": [VPCE, "vpce-11111111"], "aws:SourceVpc": "vpc-0abc"},
        "IpAddress": {"aws:VpcSourceIp": "10.0.1.0/24"}
    }));
    let all = [
        ("aws:SourceVpce", VPCE),
        ("aws:SourceVpc", "vpc-0abc"),
        ("aws:VpcSourceIp", "10.0.1.5"),
    ];
    assert_eq!(get(&p, &all), Decision::Allow);
    for skip in 0..all.len() {
        let some: Vec<(&str, &str)> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, c)| *c)
            .collect();
        assert_eq!(
            get(&p, &some),
            Decision::ImplicitDeny,
            "without {:?}",
            all[skip]
        );
    }
}

#[test]
fn set_qualifiers() {
    let any = with_condition(json!({"ForAnyValue:StringEquals": {"aws:TagKeys": ["env", "team"]}}));
    assert_eq!(
        get(&any, &[("aws:TagKeys", "owner"), ("aws:TagKeys", "team")]),
        Decision::Allow
    );
    assert_eq!(
        get(&any, &[("aws:TagKeys", "owner")]),
        Decision::ImplicitDeny
    );
    assert_eq!(get(&any, &[]), Decision::ImplicitDeny);
    let all =
        with_condition(json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}));
    assert_eq!(
        get(&all, &[("aws:TagKeys", "env"), ("aws:TagKeys", "team")]),
        Decision::Allow
    );
    assert_eq!(
        get(&all, &[("aws:TagKeys", "env"), ("aws:TagKeys", "owner")]),
        Decision::ImplicitDeny
    );
    assert_eq!(
        get(&all, &[]),
        Decision::Allow,
        "ForAllValues holds on an empty set"
    );
    let none = with_condition(json!({"ForAllValues:StringNotEquals": {"aws:TagKeys": "secret"}}));
    assert_eq!(get(&none, &[("aws:TagKeys", "env")]), Decision::Allow);
    assert_eq!(
        get(&none, &[("aws:TagKeys", "env"), ("aws:TagKeys", "secret")]),
        Decision::ImplicitDeny
    );
}

#[test]
fn operator_names_ignore_case() {
    let p = with_condition(json!({"stringequals": {"aws:SourceVpce": VPCE}}));
    assert_eq!(get(&p, &[("aws:SourceVpce", VPCE)]), Decision::Allow);
}

#[test]
fn policy_variables_in_2012_documents_only() {
    let doc = |version: &str| {
        policy(
            json!({"Version": version, "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*",
            "Resource": "arn:aws:s3:::lab-bucket/${aws:SourceVpce}/*"}]}),
        )
    };
    let key = format!("arn:aws:s3:::lab-bucket/{VPCE}/a");
    let c = [("aws:SourceVpce", VPCE)];
    assert_eq!(
        doc("2012-10-17").evaluate(&ctx("s3:GetObject", &key, &c)),
        Decision::Allow
    );
    assert_eq!(
        doc("2012-10-17").evaluate(&ctx("s3:GetObject", &key, &[])),
        Decision::ImplicitDeny
    );
    assert_eq!(
        doc("2008-10-17").evaluate(&ctx("s3:GetObject", &key, &c)),
        Decision::ImplicitDeny
    );
    let literal = policy(
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*",
        "Resource": "arn:aws:s3:::b/${*}${aws:username, 'guest'}"}]}),
    );
    assert_eq!(
        literal.evaluate(&ctx("s3:GetObject", "arn:aws:s3:::b/*guest", &[])),
        Decision::Allow
    );
    assert_eq!(
        literal.evaluate(&ctx("s3:GetObject", "arn:aws:s3:::b/xguest", &[])),
        Decision::ImplicitDeny
    );
    let cond = policy(
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
        "Condition": {"StringLike": {"s3:prefix": "home/${aws:userid}/*"}}}]}),
    );
    assert_eq!(
        get(
            &cond,
            &[("s3:prefix", "home/AIDA1/x"), ("aws:userid", "AIDA1")]
        ),
        Decision::Allow
    );
    assert_eq!(
        get(
            &cond,
            &[("s3:prefix", "home/AIDA2/x"), ("aws:userid", "AIDA1")]
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn a_typical_endpoint_policy() {
    let p = Policy::parse_str(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"OnlyLabBucket","Effect":"Allow","Principal":"*",
              "Action":["s3:GetObject","s3:PutObject","s3:ListBucket"],
              "Resource":["arn:aws:s3:::lab-bucket","arn:aws:s3:::lab-bucket/*"]}},
            {{"Sid":"NoDeletes","Effect":"Deny","Principal":"*","Action":"s3:Delete*","Resource":"*",
              "Condition":{{"StringEquals":{{"aws:SourceVpce":"{VPCE}"}}}}}}]}}"#
    ))
    .unwrap();
    let c = [("aws:SourceVpce", VPCE), ("aws:SourceVpc", "vpc-0abc")];
    assert_eq!(
        p.evaluate(&ctx("s3:GetObject", "arn:aws:s3:::lab-bucket/k", &c)),
        Decision::Allow
    );
    assert_eq!(
        p.evaluate(&ctx("s3:ListBucket", "arn:aws:s3:::lab-bucket", &c)),
        Decision::Allow
    );
    assert_eq!(
        p.evaluate(&ctx("s3:GetObject", "arn:aws:s3:::other/k", &c)),
        Decision::ImplicitDeny
    );
    assert_eq!(
        p.evaluate(&ctx("s3:DeleteObject", "arn:aws:s3:::lab-bucket/k", &c)),
        Decision::ExplicitDeny
    );
}

// ---- properties ----------------------------------------------------------------------

/// The reference: wildcard matching by plain recursion on the definition.
fn reference(p: &[char], t: &[char]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
        Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
        Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "*",
            "Allow",
            "Deny",
            "2012-10-17",
            "2008-10-17",
            "s3:GetObject",
            "arn:aws:s3:::b/*",
            "StringEquals",
            "IpAddress",
            "10.0.0.0/8",
            "${aws:SourceVpce}",
            "aws:SourceVpce",
            "true",
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    let keys = prop::sample::select(vec![
        "Version",
        "Statement",
        "Id",
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "AWS",
        "Service",
        "StringEquals",
        "ForAnyValue:StringLike",
        "NullIfExists",
        "Null",
        "IpAddress",
        "aws:SourceVpce",
        "x",
    ]);
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #[test]
    fn wildcard_matches_the_reference(p in "[ab*?]{0,8}", t in "[ab]{0,10}") {
        let pc: Vec<char> = p.chars().collect();
        let tc: Vec<char> = t.chars().collect();
        prop_assert_eq!(wildcard_match(&p, &t), reference(&pc, &tc));
    }

    #[test]
    fn wildcard_matches_any_text_literally(t in "\\PC{0,16}") {
        let literal: String = t.chars().filter(|c| *c != '*' && *c != '?').collect();
        prop_assert!(wildcard_match(&literal, &literal));
        prop_assert!(wildcard_match("*", &t));
    }

    #[test]
    fn parse_never_panics(doc in json_value()) {
        if let Ok(p) = Policy::parse(&doc) {
            let conds = [("aws:SourceVpce", VPCE), ("aws:SourceIp", "10.0.0.1")];
            let _ = p.evaluate(&ctx("s3:GetObject", "arn:aws:s3:::b/k", &conds));
        }
        let _ = Policy::parse(&json!({"Version": "2012-10-17", "Statement": [doc]}));
    }

    #[test]
    fn parse_str_never_panics(text in "\\PC{0,64}") {
        let _ = Policy::parse_str(&text);
    }

    #[test]
    fn a_deny_everything_statement_always_wins(action in "[a-z0-9]{1,6}:[A-Za-z*]{1,8}", key in "[a-z/]{0,12}") {
        let p = policy(json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}
        ]}));
        let resource = format!("arn:aws:s3:::b/{key}");
        prop_assert_eq!(p.evaluate(&ctx(&action, &resource, &[])), Decision::ExplicitDeny);
    }
}
