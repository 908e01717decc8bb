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
//! [`DynamoDb::handle_with`]: S3's [`Authorize`] trait, from [`super::authz`], with no
//! resource policy); `false` answers `AccessDeniedException` as AWS words an
//! endpoint-policy deny. The default allows everything.
//!
//! State: tables and items live in memory, a `BTreeMap` per table ordered by partition
//! key then sort key (numbers numerically, strings and binary bytewise); they go with the
//! lab. Limits: request bodies [`MAX_BODY`] (else 413), items [`MAX_ITEM_SIZE`], [`MAX_TABLES`] tables.
//!
//! Parts: this file dispatches and holds the tables' model; `tables`, `items`, `queries`
//! (Query, Scan) and `batches` hold the operations, `errors` DynamoDB's error shapes,
//! `expr` the expressions and `value` the attribute values.

mod batches;
mod errors;
mod expr;
mod items;
mod queries;
mod tables;
mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::{json, Map, Value as Json};
use sha2::{Digest as _, Sha256};

pub use self::errors::Error;
use self::errors::{constraints, invalid, not_null};
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

/// Decides whether a request may be served: the services' one [`Authorize`] trait, shared.
pub type Authorizer = Arc<dyn Authorize + Send + Sync>;

/// Counts of DynamoDB requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamoCounters {
    /// Requests received.
    pub requests: u64,
    /// Requests that came through an internet gateway (from a public address).
    pub via_internet: u64,
    /// Requests that came through a gateway endpoint (from a private address).
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

/// A JSON object of the request (the body, or a mapping inside it), its fields read with
/// their JSON types checked as coral checks them.
struct Fields<'a>(&'a Map<String, Json>);

impl<'a> Fields<'a> {
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
fn table_name(p: &Fields<'_>, field: &str, key: &str) -> Result<String, Error> {
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
fn expression_params(p: &Fields<'_>) -> Result<(Params, bool, bool), Error> {
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
fn projection(p: &Fields<'_>, params: &mut Params) -> Result<Option<Vec<Path>>, Error> {
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

fn return_on_failure(p: &Fields<'_>) -> Result<bool, Error> {
    match p.str("ReturnValuesOnConditionCheckFailure")? {
        None | Some("NONE") => Ok(false),
        Some("ALL_OLD") => Ok(true),
        Some(v) => Err(constraints(vec![format!(
            "Value '{v}' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]"
        )])),
    }
}

/// ReturnConsumedCapacity: `None` when not asked, else whether per-table detail (INDEXES).
fn consumed_asked(p: &Fields<'_>) -> Result<Option<bool>, Error> {
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

fn parse_cond(
    p: &Fields<'_>,
    key: &str,
    kind: Kind,
    params: &mut Params,
) -> Result<Option<Cond>, Error> {
    p.str(key)?
        .map(|src| expr::parse_condition(kind, src, params))
        .transpose()
}

fn check_item_size(item: &Item) -> Result<(), Error> {
    if item_size(item) > MAX_ITEM_SIZE {
        return Err(Error::Validation(
            "Item size has exceeded the maximum allowed size".into(),
        ));
    }
    Ok(())
}

/// DynamoDB for one lab.
pub struct DynamoDb {
    region: String,
    tables: BTreeMap<String, Table>,
    next_request: u64,
    authorizer: Option<Authorizer>,
    /// What this DynamoDB has served.
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
        let p = Fields(obj);
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
