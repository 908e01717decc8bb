//! DynamoDB's JSON 1.0 API on the DynamoDB addresses: enough for the real `aws dynamodb`.
//!
//! Contract: [`DynamoDb::handle`] answers one HTTP request that arrived by `via` (through
//! an internet gateway, or through a gateway endpoint: [`Via`], as for S3). A request is
//! `POST /` with `X-Amz-Target: DynamoDB_20120810.<Operation>` and a JSON body; it is taken
//! with or without a SigV4 signature (there are no credentials to check). The answer is
//! what DynamoDB answers: `200` with the JSON result, or `400` with
//! `{"__type": "<namespace>#<Error>", "message": "…"}` and DynamoDB's own wording
//! ([`Error`]); every response carries `x-amzn-RequestId` and `x-amz-crc32` (the CRC32 of
//! the body, which the AWS CLI verifies). `GET /` answers `healthy: dynamodb.<region>…` as
//! the real endpoint does. Nothing here panics on any input.
//!
//! Served: CreateTable, DescribeTable, ListTables, DeleteTable, PutItem, GetItem,
//! DeleteItem, UpdateItem (SET with `+`/`-`, `if_not_exists`, `list_append`; REMOVE; ADD;
//! DELETE), Query (partition key `=` plus one sort-key condition: `= < <= > >= BETWEEN
//! begins_with`), Scan (with parallel-scan segments), BatchWriteItem, BatchGetItem,
//! DescribeEndpoints. Condition, filter and projection expressions, ExpressionAttributeNames
//! and Values, ReturnValues, ReturnConsumedCapacity, Limit and
//! ExclusiveStartKey/LastEvaluatedKey pagination (and the 1 MB page) behave as DynamoDB's.
//! Not served: secondary indexes, streams, TTL, transactions, PartiQL, backups, tags and
//! the legacy (pre-expression) parameters; those are refused with a ValidationException
//! that names what is missing. Tables are ACTIVE as soon as they are created.
//!
//! Policy hook: before serving, each request's IAM action and resource ([`Access`]: e.g.
//! `dynamodb:PutItem` on `arn:aws:dynamodb:<region>:123456789012:table/<name>`) is given to
//! the authorizer ([`DynamoDb::set_authorizer`], or the one passed to
//! [`DynamoDb::handle_with`]); `false` answers `AccessDeniedException` as AWS words an
//! endpoint-policy deny. The default allows everything.
//!
//! State: tables and items live in memory, a `BTreeMap` per table ordered by partition
//! key then sort key (numbers numerically, strings and binary bytewise); they go with the
//! lab. Limits: request bodies [`MAX_BODY`] (else 413), items [`MAX_ITEM_SIZE`], [`MAX_TABLES`] tables.

mod expr;
mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::{json, Map, Value as Json};
use sha2::{Digest as _, Sha256};

use self::expr::{Cmp, Cond, Kind, Operand, Params, Path};
use self::value::{item_from_json, item_size, item_to_json, json_bool, json_str, not_expected};
pub use self::value::{Item, KeyVal, Number, ScalarType, Value};
pub use super::authz::{Access, AllowAll, Authorize, Via};
use super::http::wire::http_date;
use super::http::{Request, Response};
use crate::model::catalog;

/// The largest request body taken (DynamoDB's limit: 16 MB).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// The largest item (DynamoDB's limit: 400 KB).
pub const MAX_ITEM_SIZE: usize = 400 * 1024;

/// The most data one Query or Scan page reads (DynamoDB's 1 MB).
pub const MAX_PAGE: usize = 1024 * 1024;

/// The most tables one lab keeps.
pub const MAX_TABLES: usize = 256;

/// The X-Amz-Target prefix of DynamoDB's operations.
pub const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// Why a request failed, as DynamoDB names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceInUse(String),
    #[error("The conditional request failed")]
    ConditionalCheckFailed(Option<Item>),
    #[error("{0}")]
    Serialization(String),
    #[error("")]
    UnknownOperation,
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("Request entity too large")]
    RequestTooLarge,
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The `__type` of the error body.
    pub fn type_name(&self) -> &'static str {
        match self {
            Error::Validation(_) => "com.amazon.coral.validate#ValidationException",
            Error::ResourceNotFound(_) => {
                "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
            }
            Error::ResourceInUse(_) => "com.amazonaws.dynamodb.v20120810#ResourceInUseException",
            Error::ConditionalCheckFailed(_) => {
                "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
            }
            Error::Serialization(_) => "com.amazon.coral.service#SerializationException",
            Error::UnknownOperation => "com.amazon.coral.service#UnknownOperationException",
            Error::AccessDenied(_) => "com.amazon.coral.service#AccessDeniedException",
            Error::LimitExceeded(_) => "com.amazonaws.dynamodb.v20120810#LimitExceededException",
            Error::RequestTooLarge => "com.amazon.coral.service#RequestEntityTooLargeException",
            Error::Internal(_) => "com.amazonaws.dynamodb.v20120810#InternalServerError",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Error::RequestTooLarge => 413,
            Error::Internal(_) => 500,
            _ => 400,
        }
    }

    /// The JSON error body (coral's own errors spell `Message`, DynamoDB's `message`).
    pub fn body(&self) -> Json {
        let mut o = Map::new();
        o.insert("__type".into(), Json::String(self.type_name().into()));
        match self {
            Error::UnknownOperation => {}
            Error::Serialization(_) | Error::AccessDenied(_) | Error::RequestTooLarge => {
                o.insert("Message".into(), Json::String(self.to_string()));
            }
            _ => {
                o.insert("message".into(), Json::String(self.to_string()));
            }
        }
        if let Error::ConditionalCheckFailed(Some(item)) = self {
            o.insert("Item".into(), item_to_json(item));
        }
        Json::Object(o)
    }
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::Validation(format!("One or more parameter values were invalid: {msg}"))
}

/// `N validation error(s) detected: …` from constraint messages.
fn constraints(errs: Vec<String>) -> Error {
    let n = errs.len();
    Error::Validation(format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        errs.join("; ")
    ))
}

fn not_null(field: &str) -> Error {
    constraints(vec![format!(
        "Value null at '{field}' failed to satisfy constraint: Member must not be null"
    )])
}

/// Decides whether a request may be served: the services' one [`Authorize`] trait, shared.
pub type Authorizer = Arc<dyn Authorize + Send + Sync>;

/// Counts of DynamoDB requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamoCounters {
    pub requests: u64,
    pub via_internet: u64,
    pub via_endpoint: u64,
    /// Requests answered with an error (denials included).
    pub errors: u64,
    /// Requests the authorizer refused.
    pub denied: u64,
}

/// The operations served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    CreateTable,
    DescribeTable,
    ListTables,
    DeleteTable,
    PutItem,
    GetItem,
    DeleteItem,
    UpdateItem,
    Query,
    Scan,
    BatchWriteItem,
    BatchGetItem,
    DescribeEndpoints,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "CreateTable" => Op::CreateTable,
            "DescribeTable" => Op::DescribeTable,
            "ListTables" => Op::ListTables,
            "DeleteTable" => Op::DeleteTable,
            "PutItem" => Op::PutItem,
            "GetItem" => Op::GetItem,
            "DeleteItem" => Op::DeleteItem,
            "UpdateItem" => Op::UpdateItem,
            "Query" => Op::Query,
            "Scan" => Op::Scan,
            "BatchWriteItem" => Op::BatchWriteItem,
            "BatchGetItem" => Op::BatchGetItem,
            "DescribeEndpoints" => Op::DescribeEndpoints,
            _ => return None,
        })
    }

    /// The IAM action (`dynamodb:<Operation>`).
    fn action(self) -> &'static str {
        match self {
            Op::CreateTable => "dynamodb:CreateTable",
            Op::DescribeTable => "dynamodb:DescribeTable",
            Op::ListTables => "dynamodb:ListTables",
            Op::DeleteTable => "dynamodb:DeleteTable",
            Op::PutItem => "dynamodb:PutItem",
            Op::GetItem => "dynamodb:GetItem",
            Op::DeleteItem => "dynamodb:DeleteItem",
            Op::UpdateItem => "dynamodb:UpdateItem",
            Op::Query => "dynamodb:Query",
            Op::Scan => "dynamodb:Scan",
            Op::BatchWriteItem => "dynamodb:BatchWriteItem",
            Op::BatchGetItem => "dynamodb:BatchGetItem",
            Op::DescribeEndpoints => "dynamodb:DescribeEndpoints",
        }
    }
}

/// Real DynamoDB operations that vpclab does not emulate (refused by name, not as unknown).
const NOT_EMULATED: &[&str] = &[
    "UpdateTable",
    "TransactWriteItems",
    "TransactGetItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
    "DescribeTimeToLive",
    "UpdateTimeToLive",
    "TagResource",
    "UntagResource",
    "ListTagsOfResource",
    "CreateBackup",
    "DeleteBackup",
    "DescribeBackup",
    "ListBackups",
    "RestoreTableFromBackup",
    "RestoreTableToPointInTime",
    "DescribeContinuousBackups",
    "UpdateContinuousBackups",
    "CreateGlobalTable",
    "DescribeGlobalTable",
    "ListGlobalTables",
    "UpdateGlobalTable",
    "DescribeLimits",
    "DescribeKinesisStreamingDestination",
    "DescribeContributorInsights",
    "ListContributorInsights",
    "ExportTableToPointInTime",
    "ImportTable",
    "DescribeTableReplicaAutoScaling",
    "GetResourcePolicy",
    "PutResourcePolicy",
    "DeleteResourcePolicy",
];

/// A key attribute of a table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct KeyDef {
    name: String,
    ty: ScalarType,
}

/// The sort-key part of an item's position: `None` in tables without a sort key; `Max`
/// only as a range bound.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Sk {
    None,
    Val(KeyVal),
    Max,
}

type Key = (KeyVal, Sk);

/// One write of a BatchWriteItem: a put (with the item) or a delete.
type Write = (Key, Option<Item>);

/// One table.
#[derive(Debug, Clone)]
struct Table {
    name: String,
    hash: KeyDef,
    range: Option<KeyDef>,
    attr_defs: Vec<KeyDef>,
    pay_per_request: bool,
    rcu: u64,
    wcu: u64,
    created_millis: u64,
    deletion_protection: bool,
    table_id: String,
    items: BTreeMap<Key, Item>,
}

impl Table {
    fn arn(&self, region: &str) -> String {
        table_arn(region, &self.name)
    }

    fn key_defs(&self) -> Vec<&KeyDef> {
        std::iter::once(&self.hash)
            .chain(self.range.as_ref())
            .collect()
    }

    fn is_key(&self, attr: &str) -> bool {
        self.key_defs().iter().any(|k| k.name == attr)
    }

    /// Checks one key attribute's value: type, emptiness, size.
    fn key_value(def: &KeyDef, v: &Value, hash: bool) -> Result<KeyVal, Error> {
        let Some(kv) = KeyVal::of(v).filter(|k| k.scalar_type() == def.ty) else {
            return Err(invalid(format!(
                "Type mismatch for key {} expected: {} actual: {}",
                def.name,
                def.ty.name(),
                v.type_name()
            )));
        };
        let len = match &kv {
            KeyVal::S(s) if s.is_empty() => {
                return Err(Error::Validation(format!(
                    "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {}",
                    def.name
                )))
            }
            KeyVal::B(b) if b.is_empty() => {
                return Err(Error::Validation(format!(
                    "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty binary value. Key: {}",
                    def.name
                )))
            }
            KeyVal::S(s) => s.len(),
            KeyVal::B(b) => b.len(),
            KeyVal::N(_) => 0,
        };
        if hash && len > 2048 {
            return Err(invalid(
                "Size of hashkey has exceeded the maximum size limit of2048 bytes",
            ));
        }
        if !hash && len > 1024 {
            return Err(invalid(
                "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
            ));
        }
        Ok(kv)
    }

    /// The key of an item being written (PutItem).
    fn key_of_item(&self, item: &Item) -> Result<Key, Error> {
        let get = |d: &KeyDef| {
            item.get(&d.name)
                .ok_or_else(|| invalid(format!("Missing the key {} in the item", d.name)))
        };
        let pk = Self::key_value(&self.hash, get(&self.hash)?, true)?;
        let sk = match &self.range {
            Some(r) => Sk::Val(Self::key_value(r, get(r)?, false)?),
            None => Sk::None,
        };
        Ok((pk, sk))
    }

    /// The key a request names (GetItem, DeleteItem, …): exactly the key attributes.
    fn key_from_request(&self, key: &Item) -> Result<Key, Error> {
        let mismatch =
            || Error::Validation("The provided key element does not match the schema".into());
        let defs = self.key_defs();
        if key.len() != defs.len() {
            return Err(mismatch());
        }
        for d in &defs {
            match key.get(&d.name) {
                Some(v) if KeyVal::of(v).is_some_and(|k| k.scalar_type() == d.ty) => {}
                _ => return Err(mismatch()),
            }
        }
        self.key_of_item(key)
    }

    /// The key as an item (LastEvaluatedKey, UnprocessedKeys).
    fn key_item(&self, key: &Key) -> Item {
        let mut out = Item::new();
        out.insert(self.hash.name.clone(), key.0.to_value());
        if let (Some(r), Sk::Val(v)) = (&self.range, &key.1) {
            out.insert(r.name.clone(), v.to_value());
        }
        out
    }

    fn size_bytes(&self) -> usize {
        self.items.values().map(item_size).sum()
    }

    fn describe(&self, region: &str, status: &str) -> Json {
        let created = self.created_millis as f64 / 1000.0;
        let mut ks = vec![json!({"AttributeName": self.hash.name, "KeyType": "HASH"})];
        if let Some(r) = &self.range {
            ks.push(json!({"AttributeName": r.name, "KeyType": "RANGE"}));
        }
        let mut d = json!({
            "AttributeDefinitions": self.attr_defs.iter().map(|a| json!({
                "AttributeName": a.name, "AttributeType": a.ty.name()
            })).collect::<Vec<_>>(),
            "TableName": self.name,
            "KeySchema": ks,
            "TableStatus": status,
            "CreationDateTime": created,
            "ProvisionedThroughput": {
                "NumberOfDecreasesToday": 0,
                "ReadCapacityUnits": self.rcu,
                "WriteCapacityUnits": self.wcu
            },
            "TableSizeBytes": self.size_bytes(),
            "ItemCount": self.items.len(),
            "TableArn": self.arn(region),
            "TableId": self.table_id,
            "DeletionProtectionEnabled": self.deletion_protection,
        });
        if self.pay_per_request {
            if let Json::Object(o) = &mut d {
                o.insert(
                    "BillingModeSummary".into(),
                    json!({"BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime": created}),
                );
            }
        }
        d
    }
}

/// `arn:aws:dynamodb:<region>:123456789012:table/<name>`
pub fn table_arn(region: &str, name: &str) -> String {
    format!(
        "arn:aws:dynamodb:{region}:{}:table/{name}",
        catalog::ACCOUNT_ID
    )
}

/// The request's parameters, with JSON types checked as coral checks them.
struct Params0<'a>(&'a Map<String, Json>);

impl<'a> Params0<'a> {
    fn get(&self, k: &str) -> Option<&'a Json> {
        self.0.get(k).filter(|v| !v.is_null())
    }

    fn str(&self, k: &str) -> Result<Option<&'a str>, Error> {
        self.get(k).map(json_str).transpose()
    }

    fn bool(&self, k: &str) -> Result<Option<bool>, Error> {
        self.get(k).map(json_bool).transpose()
    }

    fn int(&self, k: &str) -> Result<Option<i64>, Error> {
        match self.get(k) {
            None => Ok(None),
            Some(Json::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                Error::Serialization(format!("NUMBER_VALUE {n} cannot be converted to Integer"))
            }),
            Some(Json::String(_)) => Err(Error::Serialization(
                "VALUE_STRING cannot be converted to Integer".into(),
            )),
            Some(other) => Err(not_expected(other, "integer")),
        }
    }

    fn obj(&self, k: &str) -> Result<Option<&'a Map<String, Json>>, Error> {
        match self.get(k) {
            None => Ok(None),
            Some(Json::Object(o)) => Ok(Some(o)),
            Some(other) => Err(not_expected(other, "map")),
        }
    }

    fn arr(&self, k: &str) -> Result<Option<&'a Vec<Json>>, Error> {
        match self.get(k) {
            None => Ok(None),
            Some(Json::Array(a)) => Ok(Some(a)),
            Some(other) => Err(not_expected(other, "list")),
        }
    }

    fn item(&self, k: &str) -> Result<Option<Item>, Error> {
        self.get(k).map(item_from_json).transpose()
    }

    /// Refuses the pre-expression parameters vpclab does not emulate.
    fn no_legacy(&self, names: &[&str]) -> Result<(), Error> {
        for n in names {
            if self.get(n).is_some() {
                return Err(Error::Validation(format!(
                    "vpclab does not emulate the legacy parameter {n}; use expressions (ConditionExpression, FilterExpression, KeyConditionExpression, UpdateExpression)"
                )));
            }
        }
        Ok(())
    }
}

/// A validated table name (a table ARN names its table too).
fn table_name(p: &Params0<'_>, field: &str, key: &str) -> Result<String, Error> {
    let raw = p.str(key)?.ok_or_else(|| not_null(field))?;
    validate_table_name(raw, field)
}

fn validate_table_name(raw: &str, field: &str) -> Result<String, Error> {
    let name = match raw.strip_prefix("arn:") {
        Some(_) => raw
            .split_once(":table/")
            .map(|(_, n)| n)
            .filter(|n| !n.contains('/'))
            .ok_or_else(|| {
                Error::Validation(format!("Invalid TableName: {raw} is not a table ARN"))
            })?,
        None => raw,
    };
    let mut errs = Vec::new();
    if name.len() < 3 {
        errs.push(format!("Value '{raw}' at '{field}' failed to satisfy constraint: Member must have length greater than or equal to 3"));
    }
    if name.len() > 255 {
        errs.push(format!("Value '{raw}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to 255"));
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
        || name.is_empty()
    {
        errs.push(format!("Value '{raw}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"));
    }
    if errs.is_empty() {
        Ok(name.to_string())
    } else {
        Err(constraints(errs))
    }
}

/// ExpressionAttributeNames and ExpressionAttributeValues of a request (or of one table of
/// a BatchGetItem).
fn expression_params(p: &Params0<'_>) -> Result<(Params, bool, bool), Error> {
    let mut out = Params::default();
    let names = p.obj("ExpressionAttributeNames")?;
    let values = p.obj("ExpressionAttributeValues")?;
    if let Some(n) = names {
        if n.is_empty() {
            return Err(Error::Validation(
                "ExpressionAttributeNames must not be empty".into(),
            ));
        }
        for (k, v) in n {
            if !k.starts_with('#') || k.len() < 2 {
                return Err(Error::Validation(format!(
                    "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{k}\""
                )));
            }
            out.names.insert(k.clone(), json_str(v)?.to_string());
        }
    }
    if let Some(vs) = values {
        if vs.is_empty() {
            return Err(Error::Validation(
                "ExpressionAttributeValues must not be empty".into(),
            ));
        }
        for (k, v) in vs {
            if !k.starts_with(':') || k.len() < 2 {
                return Err(Error::Validation(format!(
                    "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{k}\""
                )));
            }
            let val = Value::from_json(v).map_err(|e| match e {
                Error::Validation(m) => Error::Validation(format!(
                    "ExpressionAttributeValues contains invalid value: {m} for key {k}"
                )),
                other => other,
            })?;
            out.values.insert(k.clone(), val);
        }
    }
    Ok((out, names.is_some(), values.is_some()))
}

/// After every expression of a request is parsed: names or values given with no
/// expression to use them, or not used, are refused.
fn check_params(params: &Params, had: (bool, bool), any_expression: bool) -> Result<(), Error> {
    if !any_expression {
        if had.0 {
            return Err(Error::Validation(
                "ExpressionAttributeNames can only be specified when using expressions".into(),
            ));
        }
        if had.1 {
            return Err(Error::Validation(
                "ExpressionAttributeValues can only be specified when using expressions".into(),
            ));
        }
    }
    params.check_unused()
}

/// The projection asked by ProjectionExpression or AttributesToGet.
fn projection(p: &Params0<'_>, params: &mut Params) -> Result<Option<Vec<Path>>, Error> {
    let pe = p.str("ProjectionExpression")?;
    let atg = p.arr("AttributesToGet")?;
    match (pe, atg) {
        (Some(_), Some(_)) => Err(Error::Validation(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}".into(),
        )),
        (Some(src), None) => Ok(Some(expr::parse_projection(src, params)?)),
        (None, Some(names)) => {
            let mut paths = Vec::new();
            let mut seen = BTreeSet::new();
            for n in names {
                let n = json_str(n)?;
                if !seen.insert(n) {
                    return Err(Error::Validation(format!(
                        "One or more parameter values were invalid: Duplicate value in attribute name: {n}"
                    )));
                }
                paths.push(Path::attr(n));
            }
            Ok(Some(paths))
        }
        (None, None) => Ok(None),
    }
}

/// What PutItem and DeleteItem both read: the table, the item (or key), ReturnValues,
/// ReturnValuesOnConditionCheckFailure, ReturnConsumedCapacity and the condition.
struct WriteRequest<'a> {
    table: String,
    item: Item,
    rv: &'a str,
    on_fail: bool,
    cap: Option<bool>,
    cond: Option<Cond>,
}

fn write_request<'a>(
    p: &Params0<'a>,
    field: &str,
    null_name: &str,
) -> Result<WriteRequest<'a>, Error> {
    let table = table_name(p, "tableName", "TableName")?;
    p.no_legacy(&["Expected", "ConditionalOperator"])?;
    let item = p.item(field)?.ok_or_else(|| not_null(null_name))?;
    let rv = return_values(p, &["NONE", "ALL_OLD"])?;
    let on_fail = return_on_failure(p)?;
    let cap = consumed_asked(p)?;
    let (mut params, had_n, had_v) = expression_params(p)?;
    let cond = parse_cond(p, "ConditionExpression", Kind::Condition, &mut params)?;
    check_params(&params, (had_n, had_v), cond.is_some())?;
    Ok(WriteRequest {
        table,
        item,
        rv,
        on_fail,
        cap,
        cond,
    })
}

/// The answer of a PutItem or DeleteItem: the old item when ALL_OLD asked for it, the
/// consumed capacity when asked.
fn write_answer(table: &str, old: Option<&Item>, rv: &str, cap: Option<bool>, size: usize) -> Json {
    let mut out = Map::new();
    if let (Some(old), "ALL_OLD") = (old, rv) {
        out.insert("Attributes".into(), item_to_json(old));
    }
    if let Some(ix) = cap {
        out.insert(
            "ConsumedCapacity".into(),
            capacity_json(table, write_units(size), ix),
        );
    }
    Json::Object(out)
}

fn parse_cond(
    p: &Params0<'_>,
    key: &str,
    kind: Kind,
    params: &mut Params,
) -> Result<Option<Cond>, Error> {
    p.str(key)?
        .map(|src| expr::parse_condition(kind, src, params))
        .transpose()
}

fn return_values<'a>(p: &Params0<'a>, allowed: &[&str]) -> Result<&'a str, Error> {
    let rv = p.str("ReturnValues")?.unwrap_or("NONE");
    const ALL: [&str; 5] = ["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"];
    if !ALL.contains(&rv) {
        return Err(constraints(vec![format!(
            "Value '{rv}' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"
        )]));
    }
    if !allowed.contains(&rv) {
        return Err(Error::Validation(
            "Return values set to invalid value".into(),
        ));
    }
    Ok(rv)
}

fn return_on_failure(p: &Params0<'_>) -> Result<bool, Error> {
    match p.str("ReturnValuesOnConditionCheckFailure")? {
        None | Some("NONE") => Ok(false),
        Some("ALL_OLD") => Ok(true),
        Some(v) => Err(constraints(vec![format!(
            "Value '{v}' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"
        )])),
    }
}

/// ReturnConsumedCapacity: `None` when not asked, else whether per-table detail (INDEXES).
fn consumed_asked(p: &Params0<'_>) -> Result<Option<bool>, Error> {
    match p.str("ReturnConsumedCapacity")? {
        None | Some("NONE") => Ok(None),
        Some("TOTAL") => Ok(Some(false)),
        Some("INDEXES") => Ok(Some(true)),
        Some(v) => Err(constraints(vec![format!(
            "Value '{v}' at 'returnConsumedCapacity' failed to satisfy constraint: Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"
        )])),
    }
}

fn capacity_json(table: &str, units: f64, indexes: bool) -> Json {
    if indexes {
        json!({"TableName": table, "CapacityUnits": units, "Table": {"CapacityUnits": units}})
    } else {
        json!({"TableName": table, "CapacityUnits": units})
    }
}

fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

fn read_units(bytes: usize, consistent: bool) -> f64 {
    let u = bytes.div_ceil(4096).max(1) as f64;
    if consistent {
        u
    } else {
        u / 2.0
    }
}

fn check_item_size(item: &Item) -> Result<(), Error> {
    if item_size(item) > MAX_ITEM_SIZE {
        return Err(Error::Validation(
            "Item size has exceeded the maximum allowed size".into(),
        ));
    }
    Ok(())
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The tighter of two lower bounds.
fn max_lower(a: Bound<Sk>, b: Bound<Sk>) -> Bound<Sk> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            match x.cmp(y) {
                std::cmp::Ordering::Less => b,
                std::cmp::Ordering::Greater => a,
                std::cmp::Ordering::Equal if matches!(a, Bound::Excluded(_)) => a,
                std::cmp::Ordering::Equal => b,
            }
        }
    }
}

/// The tighter of two upper bounds.
fn min_upper(a: Bound<Sk>, b: Bound<Sk>) -> Bound<Sk> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            match x.cmp(y) {
                std::cmp::Ordering::Less => a,
                std::cmp::Ordering::Greater => b,
                std::cmp::Ordering::Equal if matches!(a, Bound::Excluded(_)) => a,
                std::cmp::Ordering::Equal => b,
            }
        }
    }
}

/// The items of partition `pk` between two sort-key bounds (empty, never a panic, when the
/// bounds cross).
fn partition_range<'a>(
    items: &'a BTreeMap<Key, Item>,
    pk: &KeyVal,
    lo: Bound<Sk>,
    hi: Bound<Sk>,
) -> impl DoubleEndedIterator<Item = (&'a Key, &'a Item)> {
    let value = |b: &Bound<Sk>| match b {
        Bound::Included(v) | Bound::Excluded(v) => Some(v.clone()),
        Bound::Unbounded => None,
    };
    let ok = match (value(&lo), value(&hi)) {
        (Some(l), Some(h)) => {
            l < h || (l == h && matches!((&lo, &hi), (Bound::Included(_), Bound::Included(_))))
        }
        _ => true,
    };
    let key = |b: Bound<Sk>, unbounded: Sk| match b {
        Bound::Included(s) => Bound::Included((pk.clone(), s)),
        Bound::Excluded(s) => Bound::Excluded((pk.clone(), s)),
        Bound::Unbounded => Bound::Included((pk.clone(), unbounded)),
    };
    let range = ok.then(|| items.range((key(lo, Sk::None), key(hi, Sk::Max))));
    range.into_iter().flatten()
}

/// Whether a key's sort key starts with `prefix` (no prefix: every key does).
fn has_prefix(prefix: Option<&KeyVal>, k: &Key) -> bool {
    match (prefix, &k.1) {
        (None, _) => true,
        (Some(KeyVal::S(p)), Sk::Val(KeyVal::S(s))) => s.starts_with(p.as_str()),
        (Some(KeyVal::B(p)), Sk::Val(KeyVal::B(b))) => b.starts_with(p),
        _ => false,
    }
}

/// The sort-key condition of a Query.
#[derive(Debug, Clone)]
enum SkCond {
    Cmp(Cmp, KeyVal),
    Between(KeyVal, KeyVal),
    BeginsWith(KeyVal),
}

/// DynamoDB for one lab.
pub struct DynamoDb {
    region: String,
    tables: BTreeMap<String, Table>,
    next_request: u64,
    authorizer: Option<Authorizer>,
    pub counters: DynamoCounters,
}

impl std::fmt::Debug for DynamoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDb")
            .field("region", &self.region)
            .field("tables", &self.tables.keys().collect::<Vec<_>>())
            .field("counters", &self.counters)
            .finish()
    }
}

impl DynamoDb {
    /// DynamoDB of `region` (for ARNs), in memory: a lab's tables go with the lab.
    pub fn new(region: &str) -> Self {
        DynamoDb {
            region: region.to_string(),
            tables: BTreeMap::new(),
            next_request: 0,
            authorizer: None,
            counters: DynamoCounters::default(),
        }
    }

    /// Sets the authorizer consulted by [`DynamoDb::handle`] (endpoint policies).
    pub fn set_authorizer(&mut self, a: Option<Authorizer>) {
        self.authorizer = a;
    }

    /// The names of the tables, in order.
    pub fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    /// Answers one request with the authorizer set by [`DynamoDb::set_authorizer`] (none:
    /// everything allowed); `now_unix_millis` is the wall clock.
    pub fn handle(&mut self, via: &Via, req: &Request, now_unix_millis: u64) -> Response {
        match self.authorizer.clone() {
            Some(a) => self.handle_with(via, req, now_unix_millis, &*a),
            None => self.handle_with(via, req, now_unix_millis, &AllowAll),
        }
    }

    /// Answers one request, asking `authorize` about each action before serving it.
    pub fn handle_with(
        &mut self,
        via: &Via,
        req: &Request,
        now_unix_millis: u64,
        authorize: &dyn Authorize,
    ) -> Response {
        self.counters.requests += 1;
        match via {
            Via::Internet { .. } => self.counters.via_internet += 1,
            Via::Endpoint { .. } => self.counters.via_endpoint += 1,
        }
        self.next_request += 1;
        let request_id = request_id(self.next_request, now_unix_millis);
        let method = req.method.to_ascii_uppercase();
        if (method == "GET" || method == "HEAD") && req.path() == "/" {
            let body = format!("healthy: dynamodb.{}.amazonaws.com ", self.region);
            return finish(
                Response::new(200),
                "text/plain",
                body.into_bytes(),
                &request_id,
                now_unix_millis,
            );
        }
        let (status, body) = match self.dispatch(via, req, now_unix_millis, authorize) {
            Ok(j) => (200, j),
            Err(e) => {
                self.counters.errors += 1;
                if matches!(e, Error::AccessDenied(_)) {
                    self.counters.denied += 1;
                }
                (e.status(), e.body())
            }
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        finish(
            Response::new(status),
            "application/x-amz-json-1.0",
            bytes,
            &request_id,
            now_unix_millis,
        )
    }

    fn dispatch(
        &mut self,
        via: &Via,
        req: &Request,
        now: u64,
        authorize: &dyn Authorize,
    ) -> Result<Json, Error> {
        if req.body.len() > MAX_BODY {
            return Err(Error::RequestTooLarge);
        }
        if !req.method.eq_ignore_ascii_case("POST") {
            return Err(Error::UnknownOperation);
        }
        let target = req.header("x-amz-target").unwrap_or("");
        let op_name = target
            .strip_prefix(TARGET_PREFIX)
            .ok_or(Error::UnknownOperation)?;
        let op = match Op::parse(op_name) {
            Some(op) => op,
            None if NOT_EMULATED.contains(&op_name) => {
                return Err(Error::Validation(format!(
                    "vpclab does not emulate the DynamoDB operation {op_name}"
                )))
            }
            None => return Err(Error::UnknownOperation),
        };
        let body: Json = if req.body.iter().all(u8::is_ascii_whitespace) {
            Json::Object(Map::new())
        } else {
            serde_json::from_slice(&req.body)
                .map_err(|e| Error::Serialization(format!("Invalid JSON: {e}")))?
        };
        let Json::Object(obj) = &body else {
            return Err(not_expected(&body, "structure"));
        };
        let p = Params0(obj);
        // Authorize every table the request touches, before anything else is looked at.
        let mut resources = Vec::new();
        match op {
            Op::ListTables | Op::DescribeEndpoints => resources.push("*".to_string()),
            Op::BatchGetItem | Op::BatchWriteItem => {
                let items = p
                    .obj("RequestItems")?
                    .ok_or_else(|| not_null("requestItems"))?;
                for name in items.keys() {
                    let name = validate_table_name(name, "requestItems")?;
                    resources.push(table_arn(&self.region, &name));
                }
            }
            _ => {
                let name = table_name(&p, "tableName", "TableName")?;
                resources.push(table_arn(&self.region, &name));
            }
        }
        let action = op.action();
        for resource in resources {
            let access = Access {
                action,
                resource,
                via: via.clone(),
                principal: None,
                request_conditions: Vec::new(),
            };
            if !authorize.authorize(&access, None) {
                let because = match via {
                    Via::Endpoint { .. } => "no VPC endpoint policy allows",
                    Via::Internet { .. } => "no identity-based policy allows",
                };
                return Err(Error::AccessDenied(format!(
                    "User: anonymous is not authorized to perform: {action} on resource: {} because {because} the {action} action",
                    access.resource
                )));
            }
        }
        match op {
            Op::CreateTable => self.create_table(&p, now),
            Op::DescribeTable => self.describe_table(&p),
            Op::ListTables => self.list_tables(&p),
            Op::DeleteTable => self.delete_table(&p),
            Op::PutItem => self.put_item(&p),
            Op::GetItem => self.get_item(&p),
            Op::DeleteItem => self.delete_item(&p),
            Op::UpdateItem => self.update_item(&p),
            Op::Query => self.query(&p),
            Op::Scan => self.scan(&p),
            Op::BatchWriteItem => self.batch_write(&p),
            Op::BatchGetItem => self.batch_get(&p),
            Op::DescribeEndpoints => Ok(json!({"Endpoints": [{
                "Address": format!("dynamodb.{}.amazonaws.com", self.region),
                "CachePeriodInMinutes": 1440
            }]})),
        }
    }

    fn table(&self, name: &str) -> Result<&Table, Error> {
        self.tables
            .get(name)
            .ok_or_else(|| Error::ResourceNotFound("Requested resource not found".into()))
    }

    fn table_mut(&mut self, name: &str) -> Result<&mut Table, Error> {
        self.tables
            .get_mut(name)
            .ok_or_else(|| Error::ResourceNotFound("Requested resource not found".into()))
    }

    // ---- tables ----

    fn create_table(&mut self, p: &Params0<'_>, now: u64) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        p.no_legacy(&["GlobalSecondaryIndexes", "LocalSecondaryIndexes"])
            .map_err(|_| {
                Error::Validation("vpclab does not emulate secondary indexes (GlobalSecondaryIndexes, LocalSecondaryIndexes)".into())
            })?;
        let defs_json = p
            .arr("AttributeDefinitions")?
            .ok_or_else(|| not_null("attributeDefinitions"))?;
        let ks_json = p.arr("KeySchema")?.ok_or_else(|| not_null("keySchema"))?;
        let mut defs: Vec<KeyDef> = Vec::new();
        for (i, d) in defs_json.iter().enumerate() {
            let Json::Object(o) = d else {
                return Err(not_expected(d, "structure"));
            };
            let dp = Params0(o);
            let an = dp.str("AttributeName")?.ok_or_else(|| {
                not_null(&format!(
                    "attributeDefinitions.{}.member.attributeName",
                    i + 1
                ))
            })?;
            let at = dp.str("AttributeType")?.ok_or_else(|| {
                not_null(&format!(
                    "attributeDefinitions.{}.member.attributeType",
                    i + 1
                ))
            })?;
            let ty = ScalarType::parse(at).ok_or_else(|| {
                constraints(vec![format!(
                    "Value '{at}' at 'attributeDefinitions.{}.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]",
                    i + 1
                )])
            })?;
            if defs.iter().any(|d| d.name == an) {
                return Err(invalid("Cannot have two attributes with the same name"));
            }
            defs.push(KeyDef {
                name: an.to_string(),
                ty,
            });
        }
        let mut ks: Vec<(String, String)> = Vec::new();
        for (i, k) in ks_json.iter().enumerate() {
            let Json::Object(o) = k else {
                return Err(not_expected(k, "structure"));
            };
            let kp = Params0(o);
            let an = kp
                .str("AttributeName")?
                .ok_or_else(|| not_null(&format!("keySchema.{}.member.attributeName", i + 1)))?;
            let kt = kp
                .str("KeyType")?
                .ok_or_else(|| not_null(&format!("keySchema.{}.member.keyType", i + 1)))?;
            if kt != "HASH" && kt != "RANGE" {
                return Err(constraints(vec![format!(
                    "Value '{kt}' at 'keySchema.{}.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]",
                    i + 1
                )]));
            }
            ks.push((an.to_string(), kt.to_string()));
        }
        if ks.is_empty() || ks.len() > 2 {
            return Err(constraints(vec![format!(
                "Value '{}' at 'keySchema' failed to satisfy constraint: Member must have length {} 2",
                serde_json::to_string(ks_json).unwrap_or_default(),
                if ks.is_empty() { "greater than or equal to 1, less than or equal to" } else { "less than or equal to" }
            )]));
        }
        let mut it = ks.iter();
        let (hash_name, hash_type) = it.next().cloned().unwrap_or_default();
        if hash_type != "HASH" {
            return Err(Error::Validation(
                "Invalid KeySchema: The first KeySchemaElement is not a HASH key type".into(),
            ));
        }
        let range_name = match it.next() {
            Some((n, t)) => {
                if t != "RANGE" {
                    return Err(Error::Validation(
                        "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"
                            .into(),
                    ));
                }
                if *n == hash_name {
                    return Err(Error::Validation(
                        "Both the Hash Key and the Range Key element in the KeySchema have the same name".into(),
                    ));
                }
                Some(n.clone())
            }
            None => None,
        };
        let key_names: Vec<&String> = std::iter::once(&hash_name)
            .chain(range_name.as_ref())
            .collect();
        let undefined: Vec<&String> = key_names
            .iter()
            .copied()
            .filter(|n| !defs.iter().any(|d| &d.name == *n))
            .collect();
        if !undefined.is_empty() {
            return Err(invalid(format!(
                "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
                undefined.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                defs.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        if defs.len() != key_names.len() {
            return Err(invalid(
                "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
            ));
        }
        let def_of = |n: &str| defs.iter().find(|d| d.name == n).cloned();
        let (Some(hash), range) = (def_of(&hash_name), range_name.as_deref().and_then(def_of))
        else {
            return Err(invalid("Invalid KeySchema"));
        };
        let billing = p.str("BillingMode")?.unwrap_or("PROVISIONED");
        let pt = p.obj("ProvisionedThroughput")?;
        let (pay_per_request, rcu, wcu) = match billing {
            "PAY_PER_REQUEST" => {
                if pt.is_some() {
                    return Err(invalid("Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"));
                }
                (true, 0, 0)
            }
            "PROVISIONED" => {
                let missing = || invalid("ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED");
                let pt = Params0(pt.ok_or_else(missing)?);
                let (Some(r), Some(w)) = (pt.int("ReadCapacityUnits")?, pt.int("WriteCapacityUnits")?) else {
                    return Err(missing());
                };
                for (v, f) in [(r, "readCapacityUnits"), (w, "writeCapacityUnits")] {
                    if v < 1 {
                        return Err(constraints(vec![format!(
                            "Value '{v}' at 'provisionedThroughput.{f}' failed to satisfy constraint: Member must have value greater than or equal to 1"
                        )]));
                    }
                }
                (false, r as u64, w as u64)
            }
            other => {
                return Err(constraints(vec![format!(
                    "Value '{other}' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
                )]))
            }
        };
        let deletion_protection = p.bool("DeletionProtectionEnabled")?.unwrap_or(false);
        if self.tables.contains_key(&name) {
            return Err(Error::ResourceInUse(format!(
                "Table already exists: {name}"
            )));
        }
        if self.tables.len() >= MAX_TABLES {
            return Err(Error::LimitExceeded(format!(
                "Subscriber limit exceeded: vpclab keeps at most {MAX_TABLES} tables per lab"
            )));
        }
        let id = Sha256::digest(format!("{name}/{now}").as_bytes());
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let table_id = format!(
            "{}-{}-4{}-{}-{}",
            hex.get(0..8).unwrap_or(""),
            hex.get(8..12).unwrap_or(""),
            hex.get(13..16).unwrap_or(""),
            hex.get(16..20).unwrap_or(""),
            hex.get(20..32).unwrap_or("")
        );
        let t = Table {
            name: name.clone(),
            hash,
            range,
            attr_defs: defs,
            pay_per_request,
            rcu,
            wcu,
            created_millis: now,
            deletion_protection,
            table_id,
            items: BTreeMap::new(),
        };
        let desc = t.describe(&self.region, "ACTIVE");
        self.tables.insert(name.clone(), t);
        Ok(json!({ "TableDescription": desc }))
    }

    fn describe_table(&self, p: &Params0<'_>) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        let t = self.tables.get(&name).ok_or_else(|| {
            Error::ResourceNotFound(format!(
                "Requested resource not found: Table: {name} not found"
            ))
        })?;
        Ok(json!({ "Table": t.describe(&self.region, "ACTIVE") }))
    }

    fn list_tables(&self, p: &Params0<'_>) -> Result<Json, Error> {
        let limit = p.int("Limit")?.unwrap_or(100);
        if !(1..=100).contains(&limit) {
            let c = if limit < 1 {
                "greater than or equal to 1"
            } else {
                "less than or equal to 100"
            };
            return Err(constraints(vec![format!(
                "Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value {c}"
            )]));
        }
        let start = match p.str("ExclusiveStartTableName")? {
            Some(s) => Bound::Excluded(validate_table_name(s, "exclusiveStartTableName")?),
            None => Bound::Unbounded,
        };
        let mut names = self
            .tables
            .range::<String, _>((start, Bound::Unbounded))
            .map(|(n, _)| n.clone());
        let page: Vec<String> = names.by_ref().take(limit as usize).collect();
        let mut out = json!({ "TableNames": page });
        if names.next().is_some() {
            if let (Json::Object(o), Some(last)) = (&mut out, page.last()) {
                o.insert("LastEvaluatedTableName".into(), Json::String(last.clone()));
            }
        }
        Ok(out)
    }

    fn delete_table(&mut self, p: &Params0<'_>) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        let t = self.tables.get(&name).ok_or_else(|| {
            Error::ResourceNotFound(format!(
                "Requested resource not found: Table: {name} not found"
            ))
        })?;
        if t.deletion_protection {
            return Err(Error::Validation("Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.".into()));
        }
        let desc = t.describe(&self.region, "DELETING");
        self.tables.remove(&name);
        Ok(json!({ "TableDescription": desc }))
    }

    // ---- items ----

    fn put_item(&mut self, p: &Params0<'_>) -> Result<Json, Error> {
        let w = write_request(p, "Item", "item")?;
        let t = self.table_mut(&w.table)?;
        let key = t.key_of_item(&w.item)?;
        check_item_size(&w.item)?;
        check_condition(w.cond.as_ref(), t.items.get(&key), w.on_fail)?;
        let size = item_size(&w.item);
        let old = t.items.insert(key, w.item);
        Ok(write_answer(&w.table, old.as_ref(), w.rv, w.cap, size))
    }

    fn get_item(&self, p: &Params0<'_>) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        let key = p.item("Key")?.ok_or_else(|| not_null("key"))?;
        let consistent = p.bool("ConsistentRead")?.unwrap_or(false);
        let cap = consumed_asked(p)?;
        let (mut params, had_n, had_v) = expression_params(p)?;
        let proj = projection(p, &mut params)?;
        let used_expr = p.get("ProjectionExpression").is_some();
        check_params(&params, (had_n, had_v), used_expr)?;
        let t = self.table(&name)?;
        let key = t.key_from_request(&key)?;
        let mut out = Map::new();
        let found = t.items.get(&key);
        if let Some(item) = found {
            let shown = match &proj {
                Some(paths) => expr::project(item, paths),
                None => item.clone(),
            };
            out.insert("Item".into(), item_to_json(&shown));
        }
        if let Some(ix) = cap {
            let size = found.map_or(0, item_size);
            out.insert(
                "ConsumedCapacity".into(),
                capacity_json(&name, read_units(size, consistent), ix),
            );
        }
        Ok(Json::Object(out))
    }

    fn delete_item(&mut self, p: &Params0<'_>) -> Result<Json, Error> {
        let w = write_request(p, "Key", "key")?;
        let t = self.table_mut(&w.table)?;
        let key = t.key_from_request(&w.item)?;
        check_condition(w.cond.as_ref(), t.items.get(&key), w.on_fail)?;
        let old = t.items.remove(&key);
        let size = old.as_ref().map_or(0, item_size);
        Ok(write_answer(&w.table, old.as_ref(), w.rv, w.cap, size))
    }

    fn update_item(&mut self, p: &Params0<'_>) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        p.no_legacy(&["AttributeUpdates", "Expected", "ConditionalOperator"])?;
        let key_item = p.item("Key")?.ok_or_else(|| not_null("key"))?;
        let rv = return_values(
            p,
            &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        )?;
        let on_fail = return_on_failure(p)?;
        let cap = consumed_asked(p)?;
        let (mut params, had_n, had_v) = expression_params(p)?;
        let update = p
            .str("UpdateExpression")?
            .map(|s| expr::parse_update(s, &mut params))
            .transpose()?;
        let cond = parse_cond(p, "ConditionExpression", Kind::Condition, &mut params)?;
        check_params(&params, (had_n, had_v), update.is_some() || cond.is_some())?;
        let t = self.table_mut(&name)?;
        let key = t.key_from_request(&key_item)?;
        if let Some(u) = &update {
            for path in u.paths() {
                if let Some(top) = path.top().filter(|a| t.is_key(a)) {
                    return Err(invalid(format!(
                        "Cannot update attribute {top}. This attribute is part of the key"
                    )));
                }
            }
        }
        let old = t.items.get(&key).cloned();
        check_condition(cond.as_ref(), old.as_ref(), on_fail)?;
        let mut new = old.clone().unwrap_or_else(|| t.key_item(&key));
        if let Some(u) = &update {
            expr::apply_update(&mut new, u)?;
        }
        check_item_size(&new)?;
        let size = item_size(&new);
        t.items.insert(key, new.clone());
        let updated: Vec<Path> = update
            .as_ref()
            .map(|u| u.paths().into_iter().cloned().collect())
            .unwrap_or_default();
        let attrs = match rv {
            "ALL_OLD" => old,
            "ALL_NEW" => Some(new),
            "UPDATED_OLD" => old.map(|o| expr::project(&o, &updated)),
            "UPDATED_NEW" => Some(expr::project(&new, &updated)),
            _ => None,
        };
        let mut out = Map::new();
        if let Some(a) = attrs.filter(|a| !a.is_empty()) {
            out.insert("Attributes".into(), item_to_json(&a));
        }
        if let Some(ix) = cap {
            out.insert(
                "ConsumedCapacity".into(),
                capacity_json(&name, write_units(size), ix),
            );
        }
        Ok(Json::Object(out))
    }

    // ---- reads of many items ----

    fn query(&self, p: &Params0<'_>) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        p.no_legacy(&["KeyConditions", "QueryFilter", "ConditionalOperator"])?;
        let opts = ReadOpts::parse(p)?;
        let (mut params, had_n, had_v) = expression_params(p)?;
        let kce = p.str("KeyConditionExpression")?.ok_or_else(|| {
            Error::Validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.".into())
        })?;
        let kc = expr::parse_condition(Kind::KeyCondition, kce, &mut params)?;
        let filter = parse_cond(p, "FilterExpression", Kind::Filter, &mut params)?;
        let proj = projection(p, &mut params)?;
        check_params(&params, (had_n, had_v), true)?;
        opts.check_select(proj.is_some())?;
        let t = self.table(&name)?;
        if let Some(index) = p.str("IndexName")? {
            return Err(Error::Validation(format!(
                "The table does not have the specified index: {index}"
            )));
        }
        let (pk, sk) = key_conditions(t, &kc)?;
        if let Some(f) = &filter {
            let mut attrs = BTreeSet::new();
            expr::condition_attrs(f, &mut attrs);
            if let Some(k) = attrs.iter().find(|a| t.is_key(a)) {
                return Err(Error::Validation(format!(
                    "Filter Expression can only contain non-primary key attributes: Primary key attribute: {k}"
                )));
            }
        }
        let forward = p.bool("ScanIndexForward")?.unwrap_or(true);
        let (mut lo, mut hi) = (Bound::Included(Sk::None), Bound::Included(Sk::Max));
        let mut prefix: Option<KeyVal> = None;
        match sk {
            None => {}
            Some(SkCond::Cmp(op, v)) => {
                let v = Sk::Val(v);
                match op {
                    Cmp::Eq => {
                        lo = Bound::Included(v.clone());
                        hi = Bound::Included(v);
                    }
                    Cmp::Lt => hi = Bound::Excluded(v),
                    Cmp::Le => hi = Bound::Included(v),
                    Cmp::Gt => lo = Bound::Excluded(v),
                    _ => lo = Bound::Included(v),
                }
            }
            Some(SkCond::Between(a, b)) => {
                lo = Bound::Included(Sk::Val(a));
                hi = Bound::Included(Sk::Val(b));
            }
            Some(SkCond::BeginsWith(v)) => {
                lo = Bound::Included(Sk::Val(v.clone()));
                prefix = Some(v);
            }
        }
        if let Some(esk) = &opts.start {
            let k = t.key_from_request(esk).map_err(|_| {
                Error::Validation("The provided starting key is invalid: The provided key element does not match the schema".into())
            })?;
            if k.0 != pk {
                return Err(Error::Validation(
                    "The provided starting key is outside query boundaries based on provided conditions".into(),
                ));
            }
            if forward {
                lo = max_lower(lo, Bound::Excluded(k.1));
            } else {
                hi = min_upper(hi, Bound::Excluded(k.1));
            }
        }
        let range = partition_range(&t.items, &pk, lo, hi);
        let iter: Box<dyn Iterator<Item = (&Key, &Item)>> = if forward {
            Box::new(range.take_while(move |(k, _)| has_prefix(prefix.as_ref(), k)))
        } else {
            let p2 = prefix.clone();
            Box::new(
                range
                    .rev()
                    .skip_while(move |(k, _)| !has_prefix(prefix.as_ref(), k))
                    .take_while(move |(k, _)| has_prefix(p2.as_ref(), k)),
            )
        };
        Ok(page(t, iter, &opts, filter.as_ref(), proj.as_deref()))
    }

    fn scan(&self, p: &Params0<'_>) -> Result<Json, Error> {
        let name = table_name(p, "tableName", "TableName")?;
        p.no_legacy(&["ScanFilter", "ConditionalOperator"])?;
        let opts = ReadOpts::parse(p)?;
        let (mut params, had_n, had_v) = expression_params(p)?;
        let filter = parse_cond(p, "FilterExpression", Kind::Filter, &mut params)?;
        let proj = projection(p, &mut params)?;
        let used_expr = filter.is_some() || p.get("ProjectionExpression").is_some();
        check_params(&params, (had_n, had_v), used_expr)?;
        opts.check_select(proj.is_some())?;
        let segment = p.int("Segment")?;
        let total = p.int("TotalSegments")?;
        let seg = match (segment, total) {
            (None, None) => None,
            (Some(_), None) => return Err(Error::Validation("The TotalSegments parameter is required but was not present in the request when Segment parameter is present".into())),
            (None, Some(_)) => return Err(Error::Validation("The Segment parameter is required but was not present in the request when parameter TotalSegments is present".into())),
            (Some(s), Some(n)) => {
                if !(1..=1_000_000).contains(&n) {
                    return Err(constraints(vec![format!("Value '{n}' at 'totalSegments' failed to satisfy constraint: Member must have value {}", if n < 1 { "greater than or equal to 1" } else { "less than or equal to 1000000" })]));
                }
                if s < 0 {
                    return Err(constraints(vec![format!("Value '{s}' at 'segment' failed to satisfy constraint: Member must have value greater than or equal to 0")]));
                }
                if s >= n {
                    return Err(Error::Validation(format!("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {n}")));
                }
                Some((s as u64, n as u64))
            }
        };
        let t = self.table(&name)?;
        if let Some(index) = p.str("IndexName")? {
            return Err(Error::Validation(format!(
                "The table does not have the specified index: {index}"
            )));
        }
        let lo = match &opts.start {
            Some(esk) => Bound::Excluded(t.key_from_request(esk).map_err(|_| {
                Error::Validation("The provided starting key is invalid: The provided key element does not match the schema".into())
            })?),
            None => Bound::Unbounded,
        };
        let iter = t
            .items
            .range((lo, Bound::Unbounded))
            .filter(move |(k, _)| seg.is_none_or(|(s, n)| fnv(&k.0.hash_bytes()) % n == s));
        Ok(page(
            t,
            Box::new(iter),
            &opts,
            filter.as_ref(),
            proj.as_deref(),
        ))
    }

    // ---- batches ----

    fn batch_write(&mut self, p: &Params0<'_>) -> Result<Json, Error> {
        let req = p
            .obj("RequestItems")?
            .ok_or_else(|| not_null("requestItems"))?;
        let cap = consumed_asked(p)?;
        let total: usize = req.values().map(|v| v.as_array().map_or(0, Vec::len)).sum();
        if req.is_empty() || total == 0 || total > 25 {
            return Err(constraints(vec![
                "Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]".into(),
            ]));
        }
        // Validate everything before changing anything.
        let mut plan: Vec<(String, Vec<Write>)> = Vec::new();
        for (tname, list) in req {
            let tname = validate_table_name(tname, "requestItems")?;
            let Json::Array(list) = list else {
                return Err(not_expected(list, "list"));
            };
            let t = self.table(&tname)?;
            let mut writes = Vec::new();
            let mut keys = BTreeSet::new();
            for w in list {
                let Json::Object(o) = w else {
                    return Err(not_expected(w, "structure"));
                };
                let wp = Params0(o);
                let put = wp.obj("PutRequest")?;
                let del = wp.obj("DeleteRequest")?;
                let (key, item) = match (put, del) {
                    (Some(put), None) => {
                        let item = Params0(put).item("Item")?.ok_or_else(|| not_null("item"))?;
                        let key = t.key_of_item(&item)?;
                        check_item_size(&item)?;
                        (key, Some(item))
                    }
                    (None, Some(del)) => {
                        let key = Params0(del).item("Key")?.ok_or_else(|| not_null("key"))?;
                        (t.key_from_request(&key)?, None)
                    }
                    _ => {
                        return Err(Error::Validation(
                            "Supplied WriteRequest must contain exactly one of PutRequest or DeleteRequest".into(),
                        ))
                    }
                };
                if !keys.insert(key.clone()) {
                    return Err(Error::Validation(
                        "Provided list of item keys contains duplicates".into(),
                    ));
                }
                writes.push((key, item));
            }
            plan.push((tname, writes));
        }
        let mut consumed = Vec::new();
        for (tname, writes) in plan {
            let t = self.table_mut(&tname)?;
            let mut units = 0.0;
            for (key, item) in writes {
                match item {
                    Some(item) => {
                        units += write_units(item_size(&item));
                        t.items.insert(key, item);
                    }
                    None => {
                        let old = t.items.remove(&key);
                        units += write_units(old.as_ref().map_or(0, item_size));
                    }
                }
            }
            if let Some(ix) = cap {
                consumed.push(capacity_json(&tname, units, ix));
            }
        }
        let mut out = json!({ "UnprocessedItems": {} });
        if cap.is_some() {
            if let Json::Object(o) = &mut out {
                o.insert("ConsumedCapacity".into(), Json::Array(consumed));
            }
        }
        Ok(out)
    }

    fn batch_get(&self, p: &Params0<'_>) -> Result<Json, Error> {
        let req = p
            .obj("RequestItems")?
            .ok_or_else(|| not_null("requestItems"))?;
        let cap = consumed_asked(p)?;
        if req.is_empty() {
            return Err(constraints(vec![
                "Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
            ]));
        }
        let mut total = 0;
        let mut responses = Map::new();
        let mut consumed = Vec::new();
        for (tname, spec) in req {
            let tname = validate_table_name(tname, "requestItems")?;
            let Json::Object(o) = spec else {
                return Err(not_expected(spec, "structure"));
            };
            let sp = Params0(o);
            let keys = sp
                .arr("Keys")?
                .ok_or_else(|| not_null("requestItems.keys"))?;
            total += keys.len();
            if total > 100 {
                return Err(Error::Validation(
                    "Too many items requested for the BatchGetItem call".into(),
                ));
            }
            let consistent = sp.bool("ConsistentRead")?.unwrap_or(false);
            let (mut params, had_n, had_v) = expression_params(&sp)?;
            let proj = projection(&sp, &mut params)?;
            check_params(
                &params,
                (had_n, had_v),
                sp.get("ProjectionExpression").is_some(),
            )?;
            let t = self.table(&tname)?;
            let mut seen = BTreeSet::new();
            let mut items = Vec::new();
            let mut bytes = 0;
            for k in keys {
                let key = t.key_from_request(&item_from_json(k)?)?;
                if !seen.insert(key.clone()) {
                    return Err(Error::Validation(
                        "Provided list of item keys contains duplicates".into(),
                    ));
                }
                if let Some(item) = t.items.get(&key) {
                    bytes += item_size(item);
                    let shown = match &proj {
                        Some(paths) => expr::project(item, paths),
                        None => item.clone(),
                    };
                    items.push(item_to_json(&shown));
                }
            }
            if let Some(ix) = cap {
                consumed.push(capacity_json(&tname, read_units(bytes, consistent), ix));
            }
            responses.insert(tname, Json::Array(items));
        }
        let mut out = json!({ "Responses": responses, "UnprocessedKeys": {} });
        if cap.is_some() {
            if let Json::Object(o) = &mut out {
                o.insert("ConsumedCapacity".into(), Json::Array(consumed));
            }
        }
        Ok(out)
    }
}

/// The options Query and Scan share.
struct ReadOpts {
    limit: Option<usize>,
    start: Option<Item>,
    select: String,
    consistent: bool,
    capacity: Option<bool>,
}

impl ReadOpts {
    fn parse(p: &Params0<'_>) -> Result<Self, Error> {
        let limit = match p.int("Limit")? {
            Some(l) if l < 1 => {
                return Err(constraints(vec![format!(
                    "Value '{l}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
                )]))
            }
            Some(l) => Some(usize::try_from(l).unwrap_or(usize::MAX)),
            None => None,
        };
        let select = p.str("Select")?.unwrap_or("").to_string();
        if !matches!(
            select.as_str(),
            "" | "ALL_ATTRIBUTES" | "ALL_PROJECTED_ATTRIBUTES" | "SPECIFIC_ATTRIBUTES" | "COUNT"
        ) {
            return Err(constraints(vec![format!(
                "Value '{select}' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
            )]));
        }
        Ok(ReadOpts {
            limit,
            start: p.item("ExclusiveStartKey")?,
            select,
            consistent: p.bool("ConsistentRead")?.unwrap_or(false),
            capacity: consumed_asked(p)?,
        })
    }

    fn check_select(&self, projected: bool) -> Result<(), Error> {
        match (self.select.as_str(), projected) {
            ("ALL_PROJECTED_ATTRIBUTES", _) => Err(Error::Validation(
                "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName".into(),
            )),
            ("ALL_ATTRIBUTES", true) => Err(Error::Validation(
                "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES"
                    .into(),
            )),
            ("COUNT", true) => Err(Error::Validation(
                "Cannot specify the ProjectionExpression when choosing to get only the COUNT"
                    .into(),
            )),
            ("SPECIFIC_ATTRIBUTES", false) => Err(Error::Validation(
                "SPECIFIC_ATTRIBUTES requires a ProjectionExpression or AttributesToGet".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// Reads one page of a Query or Scan: stops at Limit items evaluated or 1 MB read, and
/// then says where to go on (LastEvaluatedKey).
fn page<'a>(
    t: &Table,
    iter: Box<dyn Iterator<Item = (&'a Key, &'a Item)> + 'a>,
    opts: &ReadOpts,
    filter: Option<&Cond>,
    proj: Option<&[Path]>,
) -> Json {
    let mut items = Vec::new();
    let (mut count, mut scanned, mut bytes) = (0usize, 0usize, 0usize);
    let mut last: Option<&Key> = None;
    let mut stopped = false;
    for (k, item) in iter {
        scanned += 1;
        bytes += item_size(item);
        last = Some(k);
        if filter.is_none_or(|f| expr::eval(f, item)) {
            count += 1;
            if opts.select != "COUNT" {
                let shown = match proj {
                    Some(paths) => expr::project(item, paths),
                    None => item.clone(),
                };
                items.push(item_to_json(&shown));
            }
        }
        if opts.limit.is_some_and(|l| scanned >= l) || bytes >= MAX_PAGE {
            stopped = true;
            break;
        }
    }
    let mut out = Map::new();
    if opts.select != "COUNT" {
        out.insert("Items".into(), Json::Array(items));
    }
    out.insert("Count".into(), json!(count));
    out.insert("ScannedCount".into(), json!(scanned));
    if let (true, Some(k)) = (stopped, last) {
        out.insert("LastEvaluatedKey".into(), item_to_json(&t.key_item(k)));
    }
    if let Some(ix) = opts.capacity {
        out.insert(
            "ConsumedCapacity".into(),
            capacity_json(&t.name, read_units(bytes, opts.consistent), ix),
        );
    }
    Json::Object(out)
}

/// Checks a condition against the current item (none: an empty item).
fn check_condition(cond: Option<&Cond>, old: Option<&Item>, return_old: bool) -> Result<(), Error> {
    let Some(c) = cond else { return Ok(()) };
    let empty = Item::new();
    if expr::eval(c, old.unwrap_or(&empty)) {
        Ok(())
    } else {
        Err(Error::ConditionalCheckFailed(
            old.filter(|_| return_old).cloned(),
        ))
    }
}

/// The partition key value and the sort-key condition of a KeyConditionExpression.
fn key_conditions(t: &Table, kc: &Cond) -> Result<(KeyVal, Option<SkCond>), Error> {
    fn leaves<'c>(c: &'c Cond, out: &mut Vec<&'c Cond>) {
        if let Cond::And(a, b) = c {
            leaves(a, out);
            leaves(b, out);
        } else {
            out.push(c);
        }
    }
    let unsupported = || Error::Validation("Query key condition not supported".into());
    let bad_op = |op: &str| {
        Error::Validation(format!(
            "Invalid operator used in KeyConditionExpression: {op}"
        ))
    };
    let mut ls = Vec::new();
    leaves(kc, &mut ls);
    let mut pk: Option<KeyVal> = None;
    let mut sk: Option<SkCond> = None;
    let key_path = |o: &Operand| -> Option<String> {
        match o {
            Operand::Path(p) if p.0.len() == 1 => p.top().map(str::to_string),
            _ => None,
        }
    };
    let typed = |attr: &str, v: &Value| -> Result<KeyVal, Error> {
        let def = t
            .key_defs()
            .into_iter()
            .find(|d| d.name == attr)
            .cloned()
            .ok_or_else(unsupported)?;
        KeyVal::of(v)
            .filter(|k| k.scalar_type() == def.ty)
            .ok_or_else(|| invalid("Condition parameter type does not match schema type"))
    };
    if ls.len() > 2 {
        return Err(Error::Validation(
            "KeyConditionExpressions must only contain one condition per key".into(),
        ));
    }
    for leaf in ls {
        let (attr, cond) = match leaf {
            Cond::Or(..) => return Err(bad_op("OR")),
            Cond::Not(..) => return Err(bad_op("NOT")),
            Cond::In(..) => return Err(bad_op("IN")),
            Cond::Exists(_) => return Err(bad_op("attribute_exists")),
            Cond::NotExists(_) => return Err(bad_op("attribute_not_exists")),
            Cond::Type(..) => return Err(bad_op("attribute_type")),
            Cond::Contains(..) => return Err(bad_op("contains")),
            Cond::Cmp(_, Cmp::Ne, _) => return Err(bad_op("<>")),
            Cond::Cmp(a, op, b) => {
                let (attr, v, op) = match (key_path(a), key_path(b), a, b) {
                    (Some(attr), None, _, Operand::Value(v)) => (attr, v, *op),
                    (None, Some(attr), Operand::Value(v), _) => {
                        let flipped = match op {
                            Cmp::Lt => Cmp::Gt,
                            Cmp::Le => Cmp::Ge,
                            Cmp::Gt => Cmp::Lt,
                            Cmp::Ge => Cmp::Le,
                            o => *o,
                        };
                        (attr, v, flipped)
                    }
                    _ => return Err(unsupported()),
                };
                let kv = typed(&attr, v)?;
                (attr, SkCond::Cmp(op, kv))
            }
            Cond::Between(a, lo, hi) => {
                let (Some(attr), Operand::Value(lo), Operand::Value(hi)) = (key_path(a), lo, hi)
                else {
                    return Err(unsupported());
                };
                let (lo, hi) = (typed(&attr, lo)?, typed(&attr, hi)?);
                (attr, SkCond::Between(lo, hi))
            }
            Cond::BeginsWith(a, b) => {
                let (Some(attr), Operand::Value(v)) = (key_path(a), b) else {
                    return Err(unsupported());
                };
                let kv = typed(&attr, v)?;
                if kv.scalar_type() == ScalarType::N {
                    return Err(Error::Validation(
                        "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N".into(),
                    ));
                }
                (attr, SkCond::BeginsWith(kv))
            }
            Cond::And(..) => return Err(unsupported()),
        };
        if attr == t.hash.name {
            if pk.is_some() {
                return Err(Error::Validation(
                    "KeyConditionExpressions must only contain one condition per key".into(),
                ));
            }
            match cond {
                SkCond::Cmp(Cmp::Eq, v) => pk = Some(v),
                _ => return Err(unsupported()),
            }
        } else if t.range.as_ref().is_some_and(|r| r.name == attr) {
            if sk.is_some() {
                return Err(Error::Validation(
                    "KeyConditionExpressions must only contain one condition per key".into(),
                ));
            }
            sk = Some(cond);
        } else {
            return Err(unsupported());
        }
    }
    let pk = pk.ok_or_else(|| {
        Error::Validation(format!(
            "Query condition missed key schema element: {}",
            t.hash.name
        ))
    })?;
    Ok((pk, sk))
}

/// A request id shaped like DynamoDB's (52 upper-case letters and digits).
fn request_id(n: u64, now: u64) -> String {
    const ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let a = Sha256::digest([n.to_be_bytes(), now.to_be_bytes()].concat());
    let b = Sha256::digest(a);
    a.iter()
        .chain(b.iter())
        .take(52)
        .map(|x| char::from(ALPHABET[usize::from(*x) % 36]))
        .collect()
}

fn finish(
    resp: Response,
    content_type: &str,
    body: Vec<u8>,
    request_id: &str,
    now: u64,
) -> Response {
    let crc = crc32fast::hash(&body);
    resp.with_header("Content-Type", content_type)
        .with_header("x-amzn-RequestId", request_id)
        .with_header("x-amz-crc32", crc.to_string())
        .with_header("Date", http_date(now))
        .with_header("Server", "Server")
        .with_body(body)
}

#[cfg(test)]
mod tests;
