//! DynamoDB handler tests: request bodies exactly as `aws dynamodb` (CLI v1, botocore
//! 1.43) sends them, DynamoDB's error bodies, and properties (no panic on any body, put then
//! get, sort-key order).
//!
//! Size: one test per DynamoDB request shape and error; a catalogue, not logic.

use std::net::Ipv4Addr;

use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{json, Value as Json};

use super::*;
use crate::model::{VpcId, VpceId};
use crate::services::http::parse;

const NOW: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn internet() -> Via {
    Via::Internet {
        src: Ipv4Addr::new(15, 164, 0, 1),
    }
}

fn endpoint() -> Via {
    Via::Endpoint {
        vpce: VpceId::generate("ddb"),
        vpc: VpcId::generate("lab"),
        src: Ipv4Addr::new(10, 0, 1, 10),
    }
}

/// A request as the AWS CLI sends it (signed; the signature is never checked).
fn cli_request(op: &str, body: &str) -> Request {
    let raw = format!(
        "POST / HTTP/1.1\r\nHost: dynamodb.ap-northeast-2.amazonaws.com\r\nAccept-Encoding: identity\r\n\
X-Amz-Target: DynamoDB_20120810.{op}\r\nContent-Type: application/x-amz-json-1.0\r\n\
User-Agent: aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18 md/arch#x86_64 lang/python#3.11.7\r\n\
X-Amz-Date: 20260101T000000Z\r\n\
Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/ap-northeast-2/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=02e35690099a9c775a577a33950239c0d723c5ccdf8c8d577ae61523566fa40a\r\n\
amz-sdk-invocation-id: 0968e574-f570-4918-aff0-1c2b3017d207\r\namz-sdk-request: attempt=1\r\n\
Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    parse(raw.as_bytes(), MAX_BODY).unwrap().unwrap().0
}

/// Checks the headers every answer carries (the CRC32 the CLI verifies) and parses the body.
fn check(r: &Response) -> Json {
    let crc = crc32fast::hash(&r.body).to_string();
    assert_eq!(r.header("x-amz-crc32"), Some(crc.as_str()));
    let id = r.header("x-amzn-RequestId").unwrap();
    assert_eq!(id.len(), 52);
    assert!(id
        .bytes()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert_eq!(r.header("Content-Type"), Some("application/x-amz-json-1.0"));
    serde_json::from_slice(&r.body).unwrap()
}

fn call_via(db: &mut DynamoDb, via: &Via, op: &str, body: &str) -> (u16, Json) {
    let r = db.handle(via, &cli_request(op, body), NOW);
    let j = check(&r);
    (r.status, j)
}

fn call(db: &mut DynamoDb, op: &str, body: &str) -> (u16, Json) {
    call_via(db, &internet(), op, body)
}

fn ok(db: &mut DynamoDb, op: &str, body: &str) -> Json {
    let (s, j) = call(db, op, body);
    assert_eq!(s, 200, "{op} {body}: {j}");
    j
}

/// `(__type without namespace, message)` of an error answer.
fn err(db: &mut DynamoDb, op: &str, body: &str) -> (String, String) {
    let (s, j) = call(db, op, body);
    assert_ne!(s, 200, "{op} {body} succeeded: {j}");
    let t = j["__type"].as_str().unwrap();
    let short = t.rsplit('#').next().unwrap().to_string();
    let msg = j
        .get("message")
        .or_else(|| j.get("Message"))
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    (short, msg)
}

const MUSIC: &str = r#"{"AttributeDefinitions": [{"AttributeName": "Artist", "AttributeType": "S"}, {"AttributeName": "SongTitle", "AttributeType": "S"}], "TableName": "Music", "KeySchema": [{"AttributeName": "Artist", "KeyType": "HASH"}, {"AttributeName": "SongTitle", "KeyType": "RANGE"}], "BillingMode": "PAY_PER_REQUEST"}"#;

/// A table `Scores` keyed by `pk` (S) and a numeric sort key `n`.
const SCORES: &str = r#"{"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "n", "AttributeType": "N"}], "TableName": "Scores", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}], "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}"#;

fn db() -> DynamoDb {
    DynamoDb::new("ap-northeast-2")
}

fn music() -> DynamoDb {
    let mut d = db();
    ok(&mut d, "CreateTable", MUSIC);
    d
}

#[test]
fn create_describe_list_delete_a_table() {
    let mut d = db();
    let j = ok(&mut d, "CreateTable", MUSIC);
    let t = &j["TableDescription"];
    assert_eq!(t["TableStatus"], "ACTIVE");
    assert_eq!(
        t["TableArn"],
        "arn:aws:dynamodb:ap-northeast-2:123456789012:table/Music"
    );
    assert_eq!(t["ItemCount"], 0);
    assert_eq!(t["CreationDateTime"], json!(1_767_225_600.0));
    assert_eq!(t["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        t["KeySchema"][1],
        json!({"AttributeName": "SongTitle", "KeyType": "RANGE"})
    );
    assert_eq!(
        err(&mut d, "CreateTable", MUSIC),
        (
            "ResourceInUseException".into(),
            "Table already exists: Music".into()
        )
    );
    let j = ok(&mut d, "DescribeTable", r#"{"TableName": "Music"}"#);
    assert_eq!(j["Table"]["TableName"], "Music");
    // A table ARN names the table too.
    let j = ok(
        &mut d,
        "DescribeTable",
        r#"{"TableName": "arn:aws:dynamodb:ap-northeast-2:123456789012:table/Music"}"#,
    );
    assert_eq!(j["Table"]["TableStatus"], "ACTIVE");
    assert_eq!(
        ok(&mut d, "ListTables", "{}"),
        json!({"TableNames": ["Music"]})
    );
    let j = ok(&mut d, "DeleteTable", r#"{"TableName": "Music"}"#);
    assert_eq!(j["TableDescription"]["TableStatus"], "DELETING");
    assert_eq!(
        err(&mut d, "DescribeTable", r#"{"TableName": "Music"}"#),
        (
            "ResourceNotFoundException".into(),
            "Requested resource not found: Table: Music not found".into()
        )
    );
    assert_eq!(
        err(&mut d, "DeleteTable", r#"{"TableName": "Music"}"#).0,
        "ResourceNotFoundException"
    );
    assert_eq!(ok(&mut d, "ListTables", "{}"), json!({"TableNames": []}));
}

#[test]
fn create_table_is_validated_as_dynamodb_does() {
    let mut d = db();
    let e = |d: &mut DynamoDb, body: Json| err(d, "CreateTable", &body.to_string());
    let base = serde_json::from_str::<Json>(MUSIC).unwrap();
    let with = |k: &str, v: Json| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    assert_eq!(
        e(&mut d, without("AttributeDefinitions")),
        ("ValidationException".into(), "1 validation error detected: Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null".into())
    );
    assert_eq!(
        e(&mut d, with("TableName", json!("a$"))),
        ("ValidationException".into(), "2 validation errors detected: Value 'a$' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3; Value 'a$' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+".into())
    );
    assert_eq!(
        e(&mut d, with("AttributeDefinitions", json!([{"AttributeName": "Artist", "AttributeType": "S"}]))).1,
        "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [SongTitle], AttributeDefinitions: [Artist]"
    );
    assert_eq!(
        e(&mut d, with("AttributeDefinitions", json!([
            {"AttributeName": "Artist", "AttributeType": "S"},
            {"AttributeName": "SongTitle", "AttributeType": "S"},
            {"AttributeName": "Extra", "AttributeType": "N"}]))).1,
        "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions"
    );
    assert_eq!(
        e(&mut d, with("AttributeDefinitions", json!([
            {"AttributeName": "Artist", "AttributeType": "X"},
            {"AttributeName": "SongTitle", "AttributeType": "S"}]))).1,
        "1 validation error detected: Value 'X' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
    );
    assert_eq!(
        e(
            &mut d,
            with(
                "KeySchema",
                json!([
            {"AttributeName": "SongTitle", "KeyType": "RANGE"},
            {"AttributeName": "Artist", "KeyType": "HASH"}])
            )
        )
        .1,
        "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"
    );
    assert_eq!(
        e(&mut d, without("BillingMode")).1,
        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"
    );
    assert!(e(&mut d, with("GlobalSecondaryIndexes", json!([])))
        .1
        .contains("secondary indexes"));
    assert!(d.table_names().is_empty());
    // Provisioned with throughput is fine, and its capacity is described.
    let j = ok(&mut d, "CreateTable", SCORES);
    assert_eq!(
        j["TableDescription"]["ProvisionedThroughput"],
        json!({"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
    );
}

#[test]
fn list_tables_pages() {
    let mut d = db();
    for n in ["t-c", "t-a", "t-b"] {
        let body = MUSIC.replace("\"Music\"", &format!("\"{n}\""));
        ok(&mut d, "CreateTable", &body);
    }
    assert_eq!(
        ok(&mut d, "ListTables", r#"{"Limit": 2}"#),
        json!({"TableNames": ["t-a", "t-b"], "LastEvaluatedTableName": "t-b"})
    );
    assert_eq!(
        ok(
            &mut d,
            "ListTables",
            r#"{"ExclusiveStartTableName": "t-b", "Limit": 2}"#
        ),
        json!({"TableNames": ["t-c"]})
    );
    assert_eq!(
        err(&mut d, "ListTables", r#"{"Limit": 0}"#).1,
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
}

const PUT: &str = r#"{"TableName": "Music", "Item": {"Artist": {"S": "No One You Know"}, "SongTitle": {"S": "Call Me Today"}, "Year": {"N": "2015"}}, "ReturnValues": "ALL_OLD", "ConditionExpression": "attribute_not_exists(Artist)"}"#;
const KEY: &str =
    r#""Key": {"Artist": {"S": "No One You Know"}, "SongTitle": {"S": "Call Me Today"}}"#;

#[test]
fn put_get_delete_items() {
    let mut d = music();
    assert_eq!(ok(&mut d, "PutItem", PUT), json!({}));
    // The same put again fails its condition; ALL_OLD on failure returns the item.
    assert_eq!(
        err(&mut d, "PutItem", PUT),
        (
            "ConditionalCheckFailedException".into(),
            "The conditional request failed".into()
        )
    );
    let with_old = PUT.replace(
        "\"ReturnValues\"",
        "\"ReturnValuesOnConditionCheckFailure\": \"ALL_OLD\", \"ReturnValues\"",
    );
    let (_, j) = call(&mut d, "PutItem", &with_old);
    assert_eq!(j["Item"]["Year"], json!({"N": "2015"}));
    let j = ok(
        &mut d,
        "GetItem",
        &format!(
            r##"{{"TableName": "Music", {KEY}, "ConsistentRead": true, "ProjectionExpression": "SongTitle, #y", "ExpressionAttributeNames": {{"#y": "Year"}}}}"##
        ),
    );
    assert_eq!(
        j,
        json!({"Item": {"SongTitle": {"S": "Call Me Today"}, "Year": {"N": "2015"}}})
    );
    // An unconditional overwrite returns the old item.
    let j = ok(
        &mut d,
        "PutItem",
        r#"{"TableName": "Music", "Item": {"Artist": {"S": "No One You Know"}, "SongTitle": {"S": "Call Me Today"}, "Year": {"N": "2016.0"}}, "ReturnValues": "ALL_OLD", "ReturnConsumedCapacity": "TOTAL"}"#,
    );
    assert_eq!(j["Attributes"]["Year"], json!({"N": "2015"}));
    assert_eq!(
        j["ConsumedCapacity"],
        json!({"TableName": "Music", "CapacityUnits": 1.0})
    );
    let j = ok(
        &mut d,
        "GetItem",
        &format!(r#"{{"TableName": "Music", {KEY}}}"#),
    );
    assert_eq!(
        j["Item"]["Year"],
        json!({"N": "2016"}),
        "numbers come back canonical"
    );
    let j = ok(
        &mut d,
        "DeleteItem",
        &format!(r#"{{"TableName": "Music", {KEY}, "ReturnValues": "ALL_OLD"}}"#),
    );
    assert_eq!(j["Attributes"]["Artist"], json!({"S": "No One You Know"}));
    assert_eq!(
        ok(
            &mut d,
            "GetItem",
            &format!(r#"{{"TableName": "Music", {KEY}}}"#)
        ),
        json!({})
    );
    // A delete whose condition needs the item fails once it is gone.
    assert_eq!(
        err(
            &mut d,
            "DeleteItem",
            &format!(r#"{{"TableName": "Music", {KEY}, "ConditionExpression": "attribute_exists(Artist)"}}"#)
        )
        .0,
        "ConditionalCheckFailedException"
    );
}

#[test]
fn item_and_key_errors_are_dynamodb_errors() {
    let mut d = music();
    // Unknown table: the exact body DynamoDB sends.
    let (s, j) = call(
        &mut d,
        "GetItem",
        &format!(r#"{{"TableName": "Nope", {KEY}}}"#),
    );
    assert_eq!(s, 400);
    assert_eq!(
        j,
        json!({"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "message": "Requested resource not found"})
    );
    let put = |item: &str| format!(r#"{{"TableName": "Music", "Item": {item}}}"#);
    assert_eq!(
        err(&mut d, "PutItem", &put(r#"{"Artist": {"S": "a"}}"#)),
        (
            "ValidationException".into(),
            "One or more parameter values were invalid: Missing the key SongTitle in the item"
                .into()
        )
    );
    assert_eq!(
        err(&mut d, "PutItem", &put(r#"{"Artist": {"N": "1"}, "SongTitle": {"S": "x"}}"#)).1,
        "One or more parameter values were invalid: Type mismatch for key Artist expected: S actual: N"
    );
    assert_eq!(
        err(&mut d, "PutItem", &put(r#"{"Artist": {"S": ""}, "SongTitle": {"S": "x"}}"#)).1,
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: Artist"
    );
    assert_eq!(
        err(
            &mut d,
            "PutItem",
            &put(r#"{"Artist": {"S": "a"}, "SongTitle": {"S": "x"}, "n": {"N": "abc"}}"#)
        )
        .1,
        "The parameter cannot be converted to a numeric value: abc"
    );
    assert_eq!(
        err(
            &mut d,
            "PutItem",
            &put(r#"{"Artist": {"S": "a"}, "SongTitle": {"S": "x"}, "e": {}}"#)
        )
        .1,
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
    );
    for key in [
        r#"{"Artist": {"S": "a"}}"#,
        r#"{"Artist": {"S": "a"}, "SongTitle": {"N": "1"}}"#,
        r#"{"Artist": {"S": "a"}, "SongTitle": {"S": "b"}, "Year": {"N": "1"}}"#,
    ] {
        assert_eq!(
            err(
                &mut d,
                "GetItem",
                &format!(r#"{{"TableName": "Music", "Key": {key}}}"#)
            ),
            (
                "ValidationException".into(),
                "The provided key element does not match the schema".into()
            )
        );
    }
    assert_eq!(
        err(&mut d, "PutItem", r#"{"TableName": "Music"}"#).1,
        "1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        err(&mut d, "PutItem", &PUT.replace("ALL_OLD", "ALL_NEW")).1,
        "Return values set to invalid value"
    );
    let big = "x".repeat(MAX_ITEM_SIZE);
    assert_eq!(
        err(
            &mut d,
            "PutItem",
            &put(&format!(
                r#"{{"Artist": {{"S": "a"}}, "SongTitle": {{"S": "x"}}, "big": {{"S": "{big}"}}}}"#
            ))
        )
        .1,
        "Item size has exceeded the maximum allowed size"
    );
    // Expression parameters.
    assert_eq!(
        err(
            &mut d,
            "PutItem",
            r#"{"TableName": "Music", "Item": {"Artist": {"S": "a"}, "SongTitle": {"S": "x"}}, "ConditionExpression": "attribute_not_exists(Artist)", "ExpressionAttributeValues": {":unused": {"S": "v"}}}"#
        )
        .1,
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"
    );
    assert_eq!(
        err(
            &mut d,
            "PutItem",
            r#"{"TableName": "Music", "Item": {"Artist": {"S": "a"}, "SongTitle": {"S": "x"}}, "ConditionExpression": "attribute_not_exists(Name)"}"#
        )
        .1,
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: Name"
    );
    assert_eq!(
        err(
            &mut d,
            "GetItem",
            &format!(
                r##"{{"TableName": "Music", {KEY}, "ExpressionAttributeNames": {{"#y": "Year"}}}}"##
            )
        )
        .1,
        "ExpressionAttributeNames can only be specified when using expressions"
    );
    assert!(d.tables.get("Music").unwrap().items.is_empty());
}

#[test]
fn update_item_sets_adds_and_returns_values() {
    let mut d = music();
    let upd = |expr: &str, rv: &str| {
        format!(
            r#"{{"TableName": "Music", "Key": {{"Artist": {{"S": "a"}}, "SongTitle": {{"S": "b"}}}}, "ReturnValues": "{rv}", "UpdateExpression": "{expr}", "ExpressionAttributeValues": {{":one": {{"N": "1"}}, ":zero": {{"N": "0"}}}}}}"#
        )
    };
    // The CLI's own example shape: a missing attribute in `Plays + :one` is an error…
    let body = r#"{"TableName": "Music", "Key": {"Artist": {"S": "a"}, "SongTitle": {"S": "b"}}, "ReturnValues": "UPDATED_NEW", "UpdateExpression": "SET Plays = Plays + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}"#;
    assert_eq!(
        err(&mut d, "UpdateItem", body).1,
        "The provided expression refers to an attribute that does not exist in the item"
    );
    // …if_not_exists makes a counter (and the item, keys included).
    let j = ok(
        &mut d,
        "UpdateItem",
        &upd(
            "SET Plays = if_not_exists(Plays, :zero) + :one",
            "UPDATED_NEW",
        ),
    );
    assert_eq!(j, json!({"Attributes": {"Plays": {"N": "1"}}}));
    ok(&mut d, "UpdateItem", body);
    let j = ok(
        &mut d,
        "GetItem",
        r#"{"TableName": "Music", "Key": {"Artist": {"S": "a"}, "SongTitle": {"S": "b"}}}"#,
    );
    assert_eq!(
        j,
        json!({"Item": {"Artist": {"S": "a"}, "Plays": {"N": "2"}, "SongTitle": {"S": "b"}}})
    );
    let j = ok(
        &mut d,
        "UpdateItem",
        &upd("ADD Plays :one SET Flag = :zero", "ALL_NEW"),
    );
    assert_eq!(j["Attributes"]["Plays"], json!({"N": "3"}));
    assert_eq!(j["Attributes"]["Flag"], json!({"N": "0"}));
    let j = ok(
        &mut d,
        "UpdateItem",
        &upd(
            "REMOVE Flag SET Plays = Plays - :one, Zero = :zero",
            "UPDATED_OLD",
        ),
    );
    assert_eq!(
        j,
        json!({"Attributes": {"Flag": {"N": "0"}, "Plays": {"N": "3"}}})
    );
    assert_eq!(
        err(&mut d, "UpdateItem", &upd("SET Artist = :one, x = :zero", "NONE")).1,
        "One or more parameter values were invalid: Cannot update attribute Artist. This attribute is part of the key"
    );
    assert_eq!(
        err(
            &mut d,
            "UpdateItem",
            &upd("SET Plays = Plays + :one", "NONE")
        )
        .1,
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:zero}"
    );
    assert_eq!(
        err(&mut d, "UpdateItem", &upd("SET = :one, x = :zero", "NONE")).1,
        "Invalid UpdateExpression: Syntax error; token: \"=\", near: \"SET = :one\""
    );
}

fn put_score(d: &mut DynamoDb, pk: &str, n: &str) {
    ok(
        d,
        "PutItem",
        &format!(
            r#"{{"TableName": "Scores", "Item": {{"pk": {{"S": "{pk}"}}, "n": {{"N": "{n}"}}, "v": {{"S": "{pk}/{n}"}}}}}}"#
        ),
    );
}

fn sort_keys(j: &Json) -> Vec<String> {
    j["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["n"]["N"].as_str().unwrap().to_string())
        .collect()
}

fn query_body(kce: &str, values: Json, extra: &str) -> String {
    format!(
        r#"{{"TableName": "Scores", "KeyConditionExpression": "{kce}", "ExpressionAttributeValues": {values}{extra}}}"#
    )
}

#[test]
fn query_orders_numbers_numerically_and_pages() {
    let mut d = db();
    ok(&mut d, "CreateTable", SCORES);
    for n in ["10", "9", "100", "-1", "2.5", "1e1"] {
        put_score(&mut d, "p", n);
    }
    put_score(&mut d, "other", "5");
    let p = json!({":p": {"S": "p"}});
    let j = ok(&mut d, "Query", &query_body("pk = :p", p.clone(), ""));
    assert_eq!(
        sort_keys(&j),
        ["-1", "2.5", "9", "10", "100"],
        "1e1 overwrote 10"
    );
    assert_eq!(
        (j["Count"].clone(), j["ScannedCount"].clone()),
        (json!(5), json!(5))
    );
    let j = ok(
        &mut d,
        "Query",
        &query_body("pk = :p", p.clone(), r#", "ScanIndexForward": false"#),
    );
    assert_eq!(sort_keys(&j), ["100", "10", "9", "2.5", "-1"]);
    let v = json!({":p": {"S": "p"}, ":a": {"N": "0"}, ":b": {"N": "10"}});
    let j = ok(
        &mut d,
        "Query",
        &query_body("pk = :p AND n BETWEEN :a AND :b", v.clone(), ""),
    );
    assert_eq!(sort_keys(&j), ["2.5", "9", "10"]);
    let j = ok(
        &mut d,
        "Query",
        &query_body(
            "pk = :p AND n < :b",
            json!({":p": {"S": "p"}, ":b": {"N": "10"}}),
            "",
        ),
    );
    assert_eq!(sort_keys(&j), ["-1", "2.5", "9"]);
    let j = ok(
        &mut d,
        "Query",
        &query_body(
            ":b <= n AND pk = :p",
            json!({":p": {"S": "p"}, ":b": {"N": "10"}}),
            "",
        ),
    );
    assert_eq!(sort_keys(&j), ["10", "100"]);
    // Pages of 2, forward and backward, each following LastEvaluatedKey.
    for (forward, want) in [
        (true, vec!["-1", "2.5", "9", "10", "100"]),
        (false, vec!["100", "10", "9", "2.5", "-1"]),
    ] {
        let mut got = Vec::new();
        let mut start = String::new();
        let mut pages = 0;
        loop {
            let extra = format!(r#", "Limit": 2, "ScanIndexForward": {forward}{start}"#);
            let j = ok(&mut d, "Query", &query_body("pk = :p", p.clone(), &extra));
            got.extend(sort_keys(&j));
            pages += 1;
            match j.get("LastEvaluatedKey") {
                Some(k) => {
                    assert_eq!(k["pk"], json!({"S": "p"}));
                    start = format!(r#", "ExclusiveStartKey": {k}"#);
                }
                None => break,
            }
        }
        assert_eq!(got, want);
        assert_eq!(pages, 3);
    }
    // A filter counts what matches; ScannedCount what was read.
    let j = ok(
        &mut d,
        "Query",
        &query_body(
            "pk = :p",
            json!({":p": {"S": "p"}, ":v": {"S": "p/9"}}),
            r#", "FilterExpression": "v = :v""#,
        ),
    );
    assert_eq!(
        (sort_keys(&j), j["ScannedCount"].clone()),
        (vec!["9".to_string()], json!(5))
    );
    let j = ok(
        &mut d,
        "Query",
        &query_body("pk = :p", p.clone(), r#", "Select": "COUNT""#),
    );
    assert_eq!(j, json!({"Count": 5, "ScannedCount": 5}));
}

#[test]
fn query_with_begins_with_on_strings() {
    let mut d = music();
    for t in ["Call Me Today", "Call Me Tomorrow", "Calm", "A Song", "Cb"] {
        ok(
            &mut d,
            "PutItem",
            &format!(
                r#"{{"TableName": "Music", "Item": {{"Artist": {{"S": "No One You Know"}}, "SongTitle": {{"S": "{t}"}}}}}}"#
            ),
        );
    }
    let body = r#"{"TableName": "Music", "ScanIndexForward": false, "KeyConditionExpression": "Artist = :a AND begins_with(SongTitle, :t)", "ExpressionAttributeValues": {":a": {"S": "No One You Know"}, ":t": {"S": "Call"}}}"#;
    let j = ok(&mut d, "Query", body);
    let titles: Vec<&str> = j["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["SongTitle"]["S"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Call Me Tomorrow", "Call Me Today"]);
    let j = ok(
        &mut d,
        "Query",
        &body.replace("\"ScanIndexForward\": false, ", ""),
    );
    assert_eq!(j["Count"], 2);
    assert_eq!(j["Items"][0]["SongTitle"], json!({"S": "Call Me Today"}));
}

#[test]
fn query_errors() {
    let mut d = db();
    ok(&mut d, "CreateTable", SCORES);
    let p = json!({":p": {"S": "p"}, ":n": {"N": "1"}});
    let e = |d: &mut DynamoDb, kce: &str, v: Json| err(d, "Query", &query_body(kce, v, ""));
    assert_eq!(
        e(&mut d, "n = :n", json!({":n": {"N": "1"}})).1,
        "Query condition missed key schema element: pk"
    );
    assert_eq!(
        e(&mut d, "pk = :p OR n = :n", p.clone()).1,
        "Invalid operator used in KeyConditionExpression: OR"
    );
    assert_eq!(
        e(&mut d, "pk = :n", json!({":n": {"N": "1"}})).1,
        "One or more parameter values were invalid: Condition parameter type does not match schema type"
    );
    assert_eq!(
        e(&mut d, "pk = :p AND v = :n", p.clone()).1,
        "Query key condition not supported"
    );
    assert_eq!(
        e(&mut d, "pk = :p AND n > :n AND n < :n", p.clone()).1,
        "KeyConditionExpressions must only contain one condition per key"
    );
    assert_eq!(
        e(&mut d, "pk = :p AND begins_with(n, :p)", json!({":p": {"S": "p"}})).1,
        "One or more parameter values were invalid: Condition parameter type does not match schema type"
    );
    assert_eq!(
        e(&mut d, "pk = :p AND n BETWEEN :b AND :a", json!({":p": {"S": "p"}, ":a": {"N": "1"}, ":b": {"N": "2"}})).1,
        "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:2}, upper bound operand: AttributeValue: {N:1}"
    );
    assert_eq!(
        err(
            &mut d,
            "Query",
            &query_body(
                "pk = :p",
                json!({":p": {"S": "p"}, ":n": {"N": "1"}}),
                r#", "FilterExpression": "n > :n""#
            )
        )
        .1,
        "Filter Expression can only contain non-primary key attributes: Primary key attribute: n"
    );
    assert_eq!(
        err(&mut d, "Query", r#"{"TableName": "Scores"}"#).1,
        "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
    );
    assert_eq!(
        err(
            &mut d,
            "Query",
            &query_body(
                "pk = :p",
                json!({":p": {"S": "p"}}),
                r#", "ExclusiveStartKey": {"pk": {"S": "q"}, "n": {"N": "1"}}"#
            )
        )
        .1,
        "The provided starting key is outside query boundaries based on provided conditions"
    );
    assert_eq!(
        err(
            &mut d,
            "Query",
            &query_body(
                "pk = :p",
                json!({":p": {"S": "p"}}),
                r#", "IndexName": "gsi1""#
            )
        )
        .1,
        "The table does not have the specified index: gsi1"
    );
}

#[test]
fn scan_pages_filters_and_splits_into_segments() {
    let mut d = db();
    ok(&mut d, "CreateTable", SCORES);
    for i in 0..20 {
        put_score(&mut d, &format!("p{}", i % 7), &i.to_string());
    }
    let all = ok(&mut d, "Scan", r#"{"TableName": "Scores"}"#);
    assert_eq!(all["Count"], 20);
    let mut seen = 0;
    let mut start = String::new();
    loop {
        let j = ok(
            &mut d,
            "Scan",
            &format!(r#"{{"TableName": "Scores", "Limit": 6{start}}}"#),
        );
        seen += j["Count"].as_u64().unwrap();
        match j.get("LastEvaluatedKey") {
            Some(k) => start = format!(r#", "ExclusiveStartKey": {k}"#),
            None => break,
        }
    }
    assert_eq!(seen, 20);
    let j = ok(
        &mut d,
        "Scan",
        r#"{"TableName": "Scores", "FilterExpression": "n >= :ten AND begins_with(v, :p)", "ExpressionAttributeValues": {":ten": {"N": "10"}, ":p": {"S": "p3"}}, "ProjectionExpression": "n"}"#,
    );
    assert_eq!(j["Items"], json!([{"n": {"N": "10"}}, {"n": {"N": "17"}}]));
    let mut total = 0;
    for s in 0..3 {
        let j = ok(
            &mut d,
            "Scan",
            &format!(r#"{{"TableName": "Scores", "Segment": {s}, "TotalSegments": 3}}"#),
        );
        total += j["Count"].as_u64().unwrap();
    }
    assert_eq!(total, 20, "segments split the table");
    assert_eq!(
        err(&mut d, "Scan", r#"{"TableName": "Scores", "Segment": 3, "TotalSegments": 3}"#).1,
        "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 3 is not less than TotalSegments: 3"
    );
}

#[test]
fn batch_write_and_get() {
    let mut d = music();
    let j = ok(
        &mut d,
        "BatchWriteItem",
        r#"{"RequestItems": {"Music": [
            {"PutRequest": {"Item": {"Artist": {"S": "a"}, "SongTitle": {"S": "1"}}}},
            {"PutRequest": {"Item": {"Artist": {"S": "a"}, "SongTitle": {"S": "2"}}}},
            {"PutRequest": {"Item": {"Artist": {"S": "b"}, "SongTitle": {"S": "1"}}}}]}}"#,
    );
    assert_eq!(j, json!({"UnprocessedItems": {}}));
    ok(
        &mut d,
        "BatchWriteItem",
        r#"{"RequestItems": {"Music": [{"DeleteRequest": {"Key": {"Artist": {"S": "b"}, "SongTitle": {"S": "1"}}}}]}}"#,
    );
    let j = ok(
        &mut d,
        "BatchGetItem",
        r#"{"RequestItems": {"Music": {"Keys": [{"Artist": {"S": "a"}, "SongTitle": {"S": "2"}}, {"Artist": {"S": "b"}, "SongTitle": {"S": "1"}}], "ProjectionExpression": "SongTitle"}}}"#,
    );
    assert_eq!(
        j,
        json!({"Responses": {"Music": [{"SongTitle": {"S": "2"}}]}, "UnprocessedKeys": {}})
    );
    assert_eq!(
        err(
            &mut d,
            "BatchWriteItem",
            r#"{"RequestItems": {"Music": [
                {"PutRequest": {"Item": {"Artist": {"S": "a"}, "SongTitle": {"S": "1"}}}},
                {"DeleteRequest": {"Key": {"Artist": {"S": "a"}, "SongTitle": {"S": "1"}}}}]}}"#
        )
        .1,
        "Provided list of item keys contains duplicates"
    );
    assert_eq!(
        err(
            &mut d,
            "BatchWriteItem",
            r#"{"RequestItems": {"Nope": [{"DeleteRequest": {"Key": {"a": {"S": "b"}}}}]}}"#
        )
        .0,
        "ResourceNotFoundException"
    );
    assert_eq!(d.tables.get("Music").unwrap().items.len(), 2);
}

#[test]
fn protocol_errors() {
    let mut d = music();
    let raw = |d: &mut DynamoDb, req: &[u8]| {
        let r = d.handle(&internet(), &parse(req, MAX_BODY).unwrap().unwrap().0, NOW);
        (r.status, check(&r))
    };
    assert_eq!(
        raw(&mut d, b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.Frobnicate\r\nContent-Length: 2\r\n\r\n{}"),
        (400, json!({"__type": "com.amazon.coral.service#UnknownOperationException"}))
    );
    assert_eq!(
        raw(&mut d, b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}").1["__type"],
        "com.amazon.coral.service#UnknownOperationException"
    );
    let (s, j) = raw(&mut d, b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 5\r\n\r\n{\"a\":");
    assert_eq!(s, 400);
    assert_eq!(
        j["__type"],
        "com.amazon.coral.service#SerializationException"
    );
    assert!(j["Message"].is_string());
    let (_, j) = raw(&mut d, b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 2\r\n\r\n[]");
    assert_eq!(
        j["__type"],
        "com.amazon.coral.service#SerializationException"
    );
    assert_eq!(
        err(&mut d, "PutItem", r#"{"TableName": 5}"#),
        (
            "SerializationException".into(),
            "NUMBER_VALUE cannot be converted to String".into()
        )
    );
    assert_eq!(
        err(&mut d, "UpdateTable", r#"{"TableName": "Music"}"#),
        (
            "ValidationException".into(),
            "vpclab does not emulate the DynamoDB operation UpdateTable".into()
        )
    );
    // No signature at all is fine too.
    let (s, _) = raw(
        &mut d,
        b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n\r\n",
    );
    assert_eq!(s, 200);
    // The health check of the real endpoint.
    let r = d.handle(
        &internet(),
        &parse(b"GET / HTTP/1.1\r\n\r\n", 0).unwrap().unwrap().0,
        NOW,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"healthy: dynamodb.ap-northeast-2.amazonaws.com ");
    // A body over the limit (if the caller's HTTP limit lets it through).
    let mut big = cli_request("ListTables", "{}");
    big.body = vec![b' '; MAX_BODY + 1];
    let r = d.handle(&internet(), &big, NOW);
    assert_eq!(r.status, 413);
    assert_eq!(d.counters.requests, 10);
    assert_eq!(d.counters.errors, 7);
}

#[test]
fn the_authorizer_decides_and_a_deny_reads_like_an_endpoint_policy_deny() {
    use std::sync::Mutex;
    let mut d = music();
    let seen: Arc<Mutex<Vec<Access>>> = Arc::default();
    let log = seen.clone();
    d.set_authorizer(Some(Arc::new(move |a: &Access, _: Option<&Json>| {
        log.lock().unwrap().push(a.clone());
        a.action != "dynamodb:PutItem"
    })));
    let (s, j) = call_via(&mut d, &endpoint(), "PutItem", PUT);
    assert_eq!(s, 400);
    assert_eq!(
        j,
        json!({"__type": "com.amazon.coral.service#AccessDeniedException",
            "Message": "User: anonymous is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:ap-northeast-2:123456789012:table/Music because no VPC endpoint policy allows the dynamodb:PutItem action"})
    );
    assert!(
        d.tables.get("Music").unwrap().items.is_empty(),
        "nothing served"
    );
    let (s, _) = call_via(&mut d, &endpoint(), "ListTables", "{}");
    assert_eq!(s, 200);
    let seen = seen.lock().unwrap();
    assert_eq!(
        *seen,
        [
            Access {
                action: "dynamodb:PutItem",
                resource: "arn:aws:dynamodb:ap-northeast-2:123456789012:table/Music".into(),
                via: endpoint(),
                principal: None,
                request_conditions: vec![],
            },
            Access {
                action: "dynamodb:ListTables",
                resource: "*".into(),
                via: endpoint(),
                principal: None,
                request_conditions: vec![],
            }
        ]
    );
    assert_eq!((d.counters.denied, d.counters.via_endpoint), (1, 2));
}

// ---- properties ----

const OPS: [&str; 14] = [
    "CreateTable",
    "DescribeTable",
    "ListTables",
    "DeleteTable",
    "PutItem",
    "GetItem",
    "DeleteItem",
    "UpdateItem",
    "Query",
    "Scan",
    "BatchWriteItem",
    "BatchGetItem",
    "DescribeEndpoints",
    "Nope",
];

fn scalar() -> impl Strategy<Value = Json> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,12}".prop_map(|s| json!({"S": s})),
        (any::<i64>(), 0u32..6).prop_map(|(m, e)| json!({"N": format!("{m}e-{e}")})),
        any::<bool>().prop_map(|b| json!({"BOOL": b})),
        Just(json!({"NULL": true})),
        proptest::collection::vec(any::<u8>(), 0..8)
            .prop_map(|b| json!({"B": base64::engine::general_purpose::STANDARD.encode(b)})),
        proptest::collection::btree_set("[a-z]{1,4}", 1..4).prop_map(|s| json!({"SS": s})),
        proptest::collection::btree_set(-1000i32..1000, 1..4)
            .prop_map(|s| json!({"NS": s.iter().map(|n| n.to_string()).collect::<Vec<_>>()})),
    ]
}

fn attr_value() -> impl Strategy<Value = Json> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|l| json!({"L": l})),
            proptest::collection::btree_map("[a-z]{1,5}", inner, 0..4)
                .prop_map(|m| json!({"M": m})),
        ]
    })
}

/// Expression-like text: tokens DynamoDB's grammar knows, in any order.
fn expression() -> impl Strategy<Value = String> {
    let tok = prop_oneof![
        Just("pk"),
        Just("n"),
        Just("v"),
        Just("#a"),
        Just(":p"),
        Just(":n"),
        Just(":x"),
        Just("="),
        Just("<>"),
        Just("<"),
        Just(">="),
        Just("AND"),
        Just("OR"),
        Just("NOT"),
        Just("BETWEEN"),
        Just("IN"),
        Just("("),
        Just(")"),
        Just(","),
        Just("."),
        Just("["),
        Just("]"),
        Just("0"),
        Just("+"),
        Just("-"),
        Just("SET"),
        Just("REMOVE"),
        Just("ADD"),
        Just("DELETE"),
        Just("begins_with"),
        Just("size"),
        Just("attribute_exists"),
        Just("contains"),
        Just("if_not_exists"),
        Just("list_append"),
        Just("status"),
        Just("@"),
    ];
    proptest::collection::vec(tok, 0..14).prop_map(|v| v.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_body_gets_an_answer_never_a_panic(
        op in proptest::sample::select(OPS.to_vec()),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut d = music();
        let mut req = cli_request(op, "");
        req.body = body;
        let r = d.handle(&internet(), &req, NOW);
        prop_assert!(r.status == 200 || r.status == 400, "{}", r.status);
        check(&r);
    }

    #[test]
    fn any_expression_gets_an_answer_never_a_panic(
        kce in expression(),
        filter in expression(),
        update in expression(),
        proj in expression(),
    ) {
        let mut d = db();
        ok(&mut d, "CreateTable", SCORES);
        put_score(&mut d, "p", "1");
        let values = json!({":p": {"S": "p"}, ":n": {"N": "1"}, ":x": {"L": [{"S": "x"}]}});
        let names = json!({"#a": "v"});
        let q = json!({"TableName": "Scores", "KeyConditionExpression": kce, "FilterExpression": filter,
            "ProjectionExpression": proj, "ExpressionAttributeValues": values, "ExpressionAttributeNames": names});
        let (s, _) = call(&mut d, "Query", &q.to_string());
        prop_assert!(s == 200 || s == 400);
        let u = json!({"TableName": "Scores", "Key": {"pk": {"S": "p"}, "n": {"N": "1"}},
            "UpdateExpression": update, "ConditionExpression": filter,
            "ExpressionAttributeValues": values, "ExpressionAttributeNames": names, "ReturnValues": "ALL_NEW"});
        let (s, _) = call(&mut d, "UpdateItem", &u.to_string());
        prop_assert!(s == 200 || s == 400);
        let sc = json!({"TableName": "Scores", "FilterExpression": filter,
            "ExpressionAttributeValues": values, "ExpressionAttributeNames": names});
        let (s, _) = call(&mut d, "Scan", &sc.to_string());
        prop_assert!(s == 200 || s == 400);
    }

    #[test]
    fn put_then_get_returns_the_item(
        attrs in proptest::collection::btree_map("[a-z]{1,6}", attr_value(), 0..6),
        pk in "[a-zA-Z0-9]{1,10}",
        sk in "[a-z]{1,6}",
    ) {
        let mut d = music();
        let mut item = serde_json::Map::new();
        for (k, v) in attrs {
            item.insert(k, v);
        }
        item.insert("Artist".into(), json!({"S": pk}));
        item.insert("SongTitle".into(), json!({"S": sk}));
        let item = Json::Object(item);
        ok(&mut d, "PutItem", &json!({"TableName": "Music", "Item": item}).to_string());
        let key = json!({"Artist": {"S": pk}, "SongTitle": {"S": sk}});
        let j = ok(&mut d, "GetItem", &json!({"TableName": "Music", "Key": key}).to_string());
        let want = item_to_json(&item_from_json(&item).unwrap());
        prop_assert_eq!(&j["Item"], &want);
    }

    #[test]
    fn query_returns_items_in_numeric_sort_key_order(
        keys in proptest::collection::btree_set(-100_000i64..100_000, 1..40),
        scale in 0u32..4,
        limit in 1usize..7,
        forward in any::<bool>(),
    ) {
        let mut d = db();
        ok(&mut d, "CreateTable", SCORES);
        let div = 10f64.powi(scale as i32);
        for k in &keys {
            // The same number written in its plain and exponent forms.
            let text = if k % 2 == 0 { format!("{k}e-{scale}") } else { format!("{}", *k as f64 / div) };
            put_score(&mut d, "p", &text);
        }
        let mut want: Vec<f64> = keys.iter().map(|k| *k as f64 / div).collect();
        if !forward {
            want.reverse();
        }
        let mut got = Vec::new();
        let mut start = String::new();
        for _ in 0..100 {
            let extra = format!(r#", "Limit": {limit}, "ScanIndexForward": {forward}{start}"#);
            let j = ok(&mut d, "Query", &query_body("pk = :p", json!({":p": {"S": "p"}}), &extra));
            got.extend(sort_keys(&j).iter().map(|s| s.parse::<f64>().unwrap()));
            match j.get("LastEvaluatedKey") {
                Some(k) => start = format!(r#", "ExclusiveStartKey": {k}"#),
                None => break,
            }
        }
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert!((g - w).abs() < 1e-9, "{:?} vs {:?}", got, want);
        }
    }
}

/// The real AWS CLI (v1, as `netns-scripts/install-deps.sh` installs it) against the handler
/// behind a throwaway HTTP server on 127.0.0.1.
#[test]
fn the_aws_cli_works_against_the_handler() {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;
    use std::process::Command;
    use std::time::{Duration, Instant};

    let version = Command::new("aws").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "the AWS CLI is missing ({version:?}): run netns-scripts/install-deps.sh, which \
         installs it (pip install awscli)"
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let server = std::thread::spawn(move || {
        let mut d = db();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
            let Ok((mut conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            conn.set_nonblocking(false).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut input = Vec::new();
            let mut state = crate::services::http::ConnState::default();
            let mut buf = [0u8; 65536];
            loop {
                let n = match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                input.extend_from_slice(&buf[..n]);
                let mut out = Vec::new();
                let served = crate::services::http::serve_stream(
                    &mut input,
                    &mut out,
                    MAX_BODY,
                    &mut state,
                    |req| d.handle(&internet(), req, NOW),
                );
                if conn.write_all(&out).is_err() || served.close {
                    break;
                }
            }
        }
    });
    let aws = |args: &[&str]| -> (bool, String) {
        let out = Command::new("aws")
            .args([
                "dynamodb",
                "--endpoint-url",
                &format!("http://127.0.0.1:{port}"),
                "--output",
                "json",
            ])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_DEFAULT_REGION", "ap-northeast-2")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_PAGER", "")
            .output()
            .expect("the aws CLI runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let steps: Vec<(Vec<&str>, bool, &str)> = vec![
        (vec!["create-table", "--table-name", "Music", "--attribute-definitions",
            "AttributeName=Artist,AttributeType=S", "AttributeName=SongTitle,AttributeType=S",
            "--key-schema", "AttributeName=Artist,KeyType=HASH", "AttributeName=SongTitle,KeyType=RANGE",
            "--billing-mode", "PAY_PER_REQUEST"], true, "\"TableStatus\": \"ACTIVE\""),
        (vec!["wait", "table-exists", "--table-name", "Music"], true, ""),
        (vec!["put-item", "--table-name", "Music", "--item",
            r#"{"Artist":{"S":"No One You Know"},"SongTitle":{"S":"Call Me Today"},"Year":{"N":"2015"}}"#,
            "--condition-expression", "attribute_not_exists(Artist)"], true, ""),
        (vec!["put-item", "--table-name", "Music", "--item",
            r#"{"Artist":{"S":"No One You Know"},"SongTitle":{"S":"Call Me Today"}}"#,
            "--condition-expression", "attribute_not_exists(Artist)"], false,
            "An error occurred (ConditionalCheckFailedException) when calling the PutItem operation: The conditional request failed"),
        (vec!["put-item", "--table-name", "Music", "--item",
            r#"{"Artist":{"S":"No One You Know"},"SongTitle":{"S":"Somewhere"},"Year":{"N":"2019"}}"#], true, ""),
        (vec!["get-item", "--table-name", "Music", "--key",
            r#"{"Artist":{"S":"No One You Know"},"SongTitle":{"S":"Call Me Today"}}"#], true, "\"2015\""),
        (vec!["update-item", "--table-name", "Music", "--key",
            r#"{"Artist":{"S":"No One You Know"},"SongTitle":{"S":"Call Me Today"}}"#,
            "--update-expression", "SET Plays = if_not_exists(Plays, :z) + :one",
            "--expression-attribute-values", r#"{":one":{"N":"1"},":z":{"N":"0"}}"#,
            "--return-values", "UPDATED_NEW"], true, "\"Plays\""),
        (vec!["query", "--table-name", "Music", "--key-condition-expression", "Artist = :a",
            "--expression-attribute-values", r#"{":a":{"S":"No One You Know"}}"#, "--no-scan-index-forward"],
            true, "\"Count\": 2"),
        // The CLI paginates a Scan by itself through LastEvaluatedKey.
        (vec!["scan", "--table-name", "Music", "--page-size", "1"], true, "\"Count\": 2"),
        (vec!["get-item", "--table-name", "Nope", "--key", r#"{"a":{"S":"b"}}"#], false,
            "An error occurred (ResourceNotFoundException) when calling the GetItem operation: Requested resource not found"),
        (vec!["list-tables"], true, "\"Music\""),
        (vec!["delete-table", "--table-name", "Music"], true, "\"DELETING\""),
    ];
    let mut failures = Vec::new();
    for (args, success, want) in &steps {
        let (ok, text) = aws(args);
        eprintln!("$ aws dynamodb {}\n{text}", args.join(" "));
        if ok != *success || !text.contains(want) {
            failures.push(format!(
                "aws dynamodb {}: success={ok}\n{text}",
                args.join(" ")
            ));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.join().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}
