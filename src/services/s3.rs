//! S3 over HTTP/1.1 on port 80 of the S3 addresses.
//!
//! Contract: [`S3::handler`] gives the [`Handler`] that serves
//! one connection's requests ([`super::http::conn::StreamConn`] drives it), for requests
//! that arrived by `via` (through an internet gateway from a public address, or through a
//! gateway endpoint from a private address). Nothing panics; every failure is an S3 XML
//! error with the status S3 gives it (HEAD replies carry the status only). Object bytes
//! stream: a PUT body goes to a temporary file as it arrives and is renamed into place
//! when complete; a GET is a file range read as the socket has room ([`store`] keeps the
//! files). Memory per request is bounded whatever the object size: only XML and policy
//! bodies are buffered, up to [`MAX_BUFFERED_BODY`].
//!
//! Addressing: virtual-hosted style (`Host: <bucket>.s3.<region>.amazonaws.com`, and the
//! other S3 endpoint names of every catalog region) or path style (`/<bucket>/<key>`, with
//! any other host). Requests are taken with or without SigV4 (signatures and payload
//! hashes are never checked); bodies may be `Content-Length`, `Transfer-Encoding:
//! chunked`, and `aws-chunked` (`x-amz-decoded-content-length` is checked).
//!
//! Operations: ListBuckets; CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation;
//! ListObjects (v1) and ListObjectsV2 (prefix, delimiter, max-keys, markers, continuation
//! tokens, `encoding-type=url`); Get/Put/DeleteBucketPolicy; PutObject, GetObject (with
//! `Range`, `If-Match`, `If-None-Match`), HeadObject, DeleteObject, DeleteObjects,
//! CopyObject; CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
//! AbortMultipartUpload, ListParts, ListMultipartUploads. Other sub-resources (`?acl`,
//! `?versioning`, …) are `501 NotImplemented`.
//!
//! Authorization: every request is described as an [`Access`] (IAM action such as
//! `s3:GetObject`, resource ARN, how it came, who signed) and put to the caller's
//! [`Authorize`] with the bucket's policy; a refusal is `403 AccessDenied`. This module
//! decides no policy itself ([`AllowAll`] is what the services pass until endpoint and
//! bucket policies are evaluated).

pub mod store;
pub mod xml;

use std::net::Ipv4Addr;

use base64::Engine as _;
use md5::{Digest as _, Md5};

use self::store::{ObjectMeta, Part, Store, TempFile, Upload};
use self::xml::escape as xml_escape;
use super::authz::LAB_PRINCIPAL;
pub use super::authz::{Access, AllowAll, Authorize, Via};
use super::http::conn::{Handler, Plan};
pub use super::http::wire::{hex, http_date, iso8601, percent_decode};
use super::http::{self, FileBody, Framing, Head, Request, Response};
use crate::model::{catalog, Region};

/// The largest body buffered whole (XML documents, bucket policies).
pub const MAX_BUFFERED_BODY: usize = 1024 * 1024;

/// The largest object one PUT may create (S3: 5 GiB).
pub const MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// The smallest part of a multipart upload, except the last (S3: 5 MiB).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// The highest part number (S3: 10,000).
pub const MAX_PART_NUMBER: u32 = 10_000;

/// The longest key, in bytes (S3: 1024).
pub const MAX_KEY_LEN: usize = 1024;

/// The most keys one listing returns (S3: 1000).
pub const MAX_KEYS: usize = 1000;

const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Why a request failed, as S3 names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("The specified bucket does not exist")]
    NoSuchBucket(String),
    #[error("The specified key does not exist.")]
    NoSuchKey(String),
    #[error("The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")]
    NoSuchUpload(String),
    #[error("The bucket policy does not exist")]
    NoSuchBucketPolicy(String),
    #[error("The specified bucket is not valid.")]
    InvalidBucketName(String),
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou(String),
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty(String),
    #[error("Access Denied")]
    AccessDenied,
    #[error("The requested range is not satisfiable")]
    InvalidRange { requested: String, size: u64 },
    #[error("One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")]
    InvalidPart(u32),
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed size")]
    EntityTooSmall,
    #[error("Your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    #[error("Your key is too long")]
    KeyTooLong,
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema"
    )]
    MalformedXml,
    #[error("Policies must be valid JSON and the first byte must be '{{'")]
    MalformedPolicy,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("The Content-MD5 you specified is not valid.")]
    InvalidDigest,
    #[error("The Content-MD5 you specified did not match what we received.")]
    BadDigest,
    #[error(
        "You did not provide the number of bytes specified by the Content-Length HTTP header."
    )]
    IncompleteBody,
    #[error("You must provide the Content-Length HTTP header.")]
    MissingContentLength,
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    #[error("Not Modified")]
    NotModified,
    #[error("A header you provided implies functionality that is not implemented")]
    NotImplemented,
    #[error("The specified method is not allowed against this resource.")]
    MethodNotAllowed(String),
    #[error("Your request was too big.")]
    MaxMessageLengthExceeded,
    #[error("{0}")]
    InvalidRequest(String),
    #[error("We encountered an internal error. Please try again.")]
    Internal(String),
}

impl Error {
    /// S3's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NoSuchBucket(_) => "NoSuchBucket",
            Error::NoSuchKey(_) => "NoSuchKey",
            Error::NoSuchUpload(_) => "NoSuchUpload",
            Error::NoSuchBucketPolicy(_) => "NoSuchBucketPolicy",
            Error::InvalidBucketName(_) => "InvalidBucketName",
            Error::BucketAlreadyOwnedByYou(_) => "BucketAlreadyOwnedByYou",
            Error::BucketNotEmpty(_) => "BucketNotEmpty",
            Error::AccessDenied => "AccessDenied",
            Error::InvalidRange { .. } => "InvalidRange",
            Error::InvalidPart(_) => "InvalidPart",
            Error::InvalidPartOrder => "InvalidPartOrder",
            Error::EntityTooSmall => "EntityTooSmall",
            Error::EntityTooLarge => "EntityTooLarge",
            Error::KeyTooLong => "KeyTooLongError",
            Error::MalformedXml => "MalformedXML",
            Error::MalformedPolicy => "MalformedPolicy",
            Error::InvalidArgument(_) => "InvalidArgument",
            Error::InvalidDigest => "InvalidDigest",
            Error::BadDigest => "BadDigest",
            Error::IncompleteBody => "IncompleteBody",
            Error::MissingContentLength => "MissingContentLength",
            Error::PreconditionFailed => "PreconditionFailed",
            Error::NotModified => "NotModified",
            Error::NotImplemented => "NotImplemented",
            Error::MethodNotAllowed(_) => "MethodNotAllowed",
            Error::MaxMessageLengthExceeded => "MaxMessageLengthExceeded",
            Error::InvalidRequest(_) => "InvalidRequest",
            Error::Internal(_) => "InternalError",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Error::NoSuchBucket(_)
            | Error::NoSuchKey(_)
            | Error::NoSuchUpload(_)
            | Error::NoSuchBucketPolicy(_) => 404,
            Error::BucketAlreadyOwnedByYou(_) | Error::BucketNotEmpty(_) => 409,
            Error::AccessDenied => 403,
            Error::InvalidRange { .. } => 416,
            Error::MissingContentLength => 411,
            Error::PreconditionFailed => 412,
            Error::NotModified => 304,
            Error::NotImplemented => 501,
            Error::MethodNotAllowed(_) => 405,
            Error::Internal(_) => 500,
            _ => 400,
        }
    }

    /// The extra elements S3 puts in this error's document.
    fn details(&self) -> String {
        let el = |n: &str, v: &str| format!("<{n}>{}</{n}>", xml_escape(v));
        match self {
            Error::NoSuchBucket(b)
            | Error::InvalidBucketName(b)
            | Error::BucketAlreadyOwnedByYou(b)
            | Error::BucketNotEmpty(b)
            | Error::NoSuchBucketPolicy(b) => el("BucketName", b),
            Error::NoSuchKey(k) => el("Key", k),
            Error::NoSuchUpload(u) => el("UploadId", u),
            Error::InvalidRange { requested, size } => {
                el("RangeRequested", requested) + &el("ActualObjectSize", &size.to_string())
            }
            Error::InvalidPart(n) => el("PartNumber", &n.to_string()),
            Error::MethodNotAllowed(m) => el("Method", m),
            _ => String::new(),
        }
    }
}

/// Counts of S3 requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Counters {
    pub requests: u64,
    pub via_internet: u64,
    pub via_endpoint: u64,
    /// Requests answered with an error (including access denied).
    pub errors: u64,
    /// Requests refused by the authorizer.
    pub denied: u64,
    /// Object bytes received (PUT and UploadPart bodies, decoded).
    pub bytes_in: u64,
    /// Object bytes announced in GET replies.
    pub bytes_out: u64,
}

/// Percent-encodes for `encoding-type=url` listings: all but unreserved characters and `/`.
pub fn url_encode(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// The S3 endpoint names of a region (`s3.<r>.amazonaws.com`, …); bucket names go in front.
pub fn endpoint_names(region: &Region) -> Vec<String> {
    let mut names = vec![
        format!("s3.{}.amazonaws.com", region.name),
        format!("s3-{}.amazonaws.com", region.name),
        format!("s3.dualstack.{}.amazonaws.com", region.name),
    ];
    if region.name == "us-east-1" {
        // The global endpoint and its legacy alias live in us-east-1.
        names.push("s3.amazonaws.com".into());
        names.push("s3-external-1.amazonaws.com".into());
    }
    names
}

/// Whether `name` follows S3's bucket naming rules (3–63 of `a-z0-9.-`, starting and
/// ending with a letter or digit, no `..`, not an IPv4 address).
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b.first().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.last().is_some_and(|c| c.is_ascii_alphanumeric())
        && !name.contains("..")
        && name.parse::<Ipv4Addr>().is_err()
}

/// A request's query parameters, decoded (`+` is a space, as S3 reads them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    /// Parses `a=1&b&c=x%20y`.
    pub fn parse(q: &str) -> Self {
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (
                        percent_decode(&k.replace('+', " ")),
                        percent_decode(&v.replace('+', " ")),
                    )
                })
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// Sub-resources S3 has that vpclab does not serve (answered 501).
const UNSERVED_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "attributes",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "tagging",
    "torrent",
    "versioning",
    "versions",
    "website",
];

/// What a request asks, once routed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    ListBuckets,
    CreateBucket(String),
    HeadBucket(String),
    DeleteBucket(String),
    GetBucketLocation(String),
    ListObjects {
        bucket: String,
        v2: bool,
    },
    GetBucketPolicy(String),
    PutBucketPolicy(String),
    DeleteBucketPolicy(String),
    DeleteObjects(String),
    ListUploads(String),
    PutObject {
        bucket: String,
        key: String,
    },
    CopyObject {
        bucket: String,
        key: String,
        src_bucket: String,
        src_key: String,
    },
    GetObject {
        bucket: String,
        key: String,
    },
    DeleteObject {
        bucket: String,
        key: String,
    },
    CreateUpload {
        bucket: String,
        key: String,
    },
    UploadPart {
        bucket: String,
        key: String,
        upload_id: String,
        part: u32,
    },
    CompleteUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    AbortUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    ListParts {
        bucket: String,
        key: String,
        upload_id: String,
    },
}

fn bucket_arn(b: &str) -> String {
    format!("arn:aws:s3:::{b}")
}

fn object_arn(b: &str, k: &str) -> String {
    format!("arn:aws:s3:::{b}/{k}")
}

impl Op {
    /// The IAM action and resource of the request (`None`: checked per key, DeleteObjects).
    fn access(&self) -> Option<(&'static str, String)> {
        Some(match self {
            Op::ListBuckets => ("s3:ListAllMyBuckets", "*".to_string()),
            Op::CreateBucket(b) => ("s3:CreateBucket", bucket_arn(b)),
            Op::HeadBucket(b) | Op::ListObjects { bucket: b, .. } => {
                ("s3:ListBucket", bucket_arn(b))
            }
            Op::DeleteBucket(b) => ("s3:DeleteBucket", bucket_arn(b)),
            Op::GetBucketLocation(b) => ("s3:GetBucketLocation", bucket_arn(b)),
            Op::GetBucketPolicy(b) => ("s3:GetBucketPolicy", bucket_arn(b)),
            Op::PutBucketPolicy(b) => ("s3:PutBucketPolicy", bucket_arn(b)),
            Op::DeleteBucketPolicy(b) => ("s3:DeleteBucketPolicy", bucket_arn(b)),
            Op::ListUploads(b) => ("s3:ListBucketMultipartUploads", bucket_arn(b)),
            Op::DeleteObjects(_) => return None,
            Op::PutObject { bucket, key }
            | Op::CopyObject { bucket, key, .. }
            | Op::CreateUpload { bucket, key }
            | Op::UploadPart { bucket, key, .. }
            | Op::CompleteUpload { bucket, key, .. } => ("s3:PutObject", object_arn(bucket, key)),
            Op::GetObject { bucket, key } => ("s3:GetObject", object_arn(bucket, key)),
            Op::DeleteObject { bucket, key } => ("s3:DeleteObject", object_arn(bucket, key)),
            Op::AbortUpload { bucket, key, .. } => {
                ("s3:AbortMultipartUpload", object_arn(bucket, key))
            }
            Op::ListParts { bucket, key, .. } => {
                ("s3:ListMultipartUploadParts", object_arn(bucket, key))
            }
        })
    }

    /// The bucket the request is about, if any.
    fn bucket(&self) -> Option<&str> {
        match self {
            Op::ListBuckets => None,
            Op::CreateBucket(b)
            | Op::HeadBucket(b)
            | Op::DeleteBucket(b)
            | Op::GetBucketLocation(b)
            | Op::GetBucketPolicy(b)
            | Op::PutBucketPolicy(b)
            | Op::DeleteBucketPolicy(b)
            | Op::DeleteObjects(b)
            | Op::ListUploads(b) => Some(b),
            Op::ListObjects { bucket, .. }
            | Op::PutObject { bucket, .. }
            | Op::CopyObject { bucket, .. }
            | Op::GetObject { bucket, .. }
            | Op::DeleteObject { bucket, .. }
            | Op::CreateUpload { bucket, .. }
            | Op::UploadPart { bucket, .. }
            | Op::CompleteUpload { bucket, .. }
            | Op::AbortUpload { bucket, .. }
            | Op::ListParts { bucket, .. } => Some(bucket),
        }
    }
}

/// What a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The region of the S3 endpoint name in `Host`, when it is one.
    pub region: Option<&'static str>,
}

/// Which part of an object a GET asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// No usable `Range`: the whole object (200).
    Whole,
    /// Bytes `first..=last` (206).
    Part(u64, u64),
    /// A range that starts past the end (416).
    Unsatisfiable,
}

/// Reads a `Range` header against an object of `size` bytes: `bytes=a-b`, `bytes=a-`,
/// `bytes=-n`. Other units, several ranges, and syntax errors are ignored (RFC 9110
/// §14.2: the whole object).
pub fn parse_range(header: Option<&str>, size: u64) -> RangeSpec {
    let Some(spec) = header.map(str::trim).and_then(|v| v.strip_prefix("bytes=")) else {
        return RangeSpec::Whole;
    };
    if spec.contains(',') {
        return RangeSpec::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeSpec::Whole;
    };
    let num = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    if a.trim().is_empty() {
        return match num(b) {
            None => RangeSpec::Whole,
            Some(0) => RangeSpec::Unsatisfiable,
            Some(_) if size == 0 => RangeSpec::Unsatisfiable,
            Some(n) => RangeSpec::Part(size.saturating_sub(n), size - 1),
        };
    }
    let Some(first) = num(a) else {
        return RangeSpec::Whole;
    };
    let last = if b.trim().is_empty() {
        u64::MAX
    } else {
        match num(b) {
            Some(l) if l >= first => l,
            _ => return RangeSpec::Whole,
        }
    };
    if first >= size {
        return RangeSpec::Unsatisfiable;
    }
    RangeSpec::Part(first, last.min(size - 1))
}

/// Whether an `If-Match`/`If-None-Match` list names `etag` (or is `*`).
fn etag_listed(list: &str, etag: &str) -> bool {
    let etag = etag.trim_matches('"');
    list.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/").trim_matches('"') == etag
    })
}

/// Headers stored with an object and sent back on GET.
fn stored_headers(head: &Head) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in &head.headers {
        let lname = name.to_ascii_lowercase();
        let keep = lname.starts_with("x-amz-meta-")
            || matches!(
                lname.as_str(),
                "cache-control" | "content-disposition" | "content-language" | "expires"
            );
        let value = String::from_utf8_lossy(value).trim().to_string();
        if keep {
            out.push((lname, value));
        } else if lname == "content-encoding" {
            // aws-chunked is how the body travelled, not what it is.
            let codings: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
                .collect();
            if !codings.is_empty() {
                out.push((lname, codings.join(",")));
            }
        }
    }
    out
}

fn content_type(head: &Head) -> String {
    head.header("content-type")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("binary/octet-stream")
        .to_string()
}

/// The principal of a signed request (header or query SigV4), `None` when anonymous.
fn principal(head: &Head, q: &Query) -> Option<String> {
    let signed = head
        .header("authorization")
        .is_some_and(|a| a.trim_start().starts_with("AWS"))
        || q.has("X-Amz-Credential")
        || q.has("AWSAccessKeyId");
    signed.then(|| LAB_PRINCIPAL.clone())
}

fn xml_response(status: u16, body: String) -> Response {
    Response::new(status)
        .with_header("Content-Type", "application/xml")
        .with_body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"
        ))
}

fn el(name: &str, v: &str) -> String {
    format!("<{name}>{}</{name}>", xml_escape(v))
}

/// An object body on its way in: PutObject or UploadPart.
pub struct Incoming {
    dest: Dest,
    file: TempFile,
    md5: Md5,
    size: u64,
    error: Option<Error>,
    content_md5: Option<[u8; 16]>,
    /// `x-amz-decoded-content-length` of an aws-chunked body.
    decoded_len: Option<u64>,
}

enum Dest {
    Object {
        bucket: String,
        key: String,
        content_type: String,
        headers: Vec<(String, String)>,
    },
    Part {
        bucket: String,
        key: String,
        upload_id: String,
        part: u32,
    },
}

/// S3 for one lab.
pub struct S3 {
    store: Store,
    /// `.<endpoint name>` and its region, longest first.
    endpoints: Vec<(String, &'static str)>,
    next_request: u64,
    pub counters: S3Counters,
}

impl S3 {
    /// S3 keeping its buckets under `root` (created if missing; buckets and objects a
    /// previous router left there are served again).
    pub fn new(root: &std::path::Path) -> Result<Self, std::io::Error> {
        let store = Store::open(root)?;
        let mut endpoints: Vec<(String, &'static str)> = catalog::REGIONS
            .iter()
            .flat_map(|r| {
                endpoint_names(r)
                    .into_iter()
                    .map(move |n| (format!(".{n}"), r.name))
            })
            .collect();
        endpoints.sort_by_key(|(e, _)| std::cmp::Reverse(e.len()));
        Ok(S3 {
            store,
            endpoints,
            next_request: 0,
            counters: S3Counters::default(),
        })
    }

    /// The handler of requests that came by `via`, at wall-clock `now_unix_millis`, asking
    /// `authorize` before serving each.
    pub fn handler<'a>(
        &'a mut self,
        via: &'a Via,
        now_unix_millis: u64,
        authorize: &'a dyn Authorize,
    ) -> S3Handler<'a> {
        S3Handler {
            s3: self,
            via,
            now: now_unix_millis,
            authorize,
        }
    }

    /// Answers one whole request (the body in memory): for tests and tools. Connections
    /// use [`S3::handler`] with a [`super::http::conn::StreamConn`].
    pub fn handle(
        &mut self,
        via: &Via,
        req: &Request,
        now_unix_millis: u64,
        authorize: &dyn Authorize,
    ) -> Response {
        let mut h = self.handler(via, now_unix_millis, authorize);
        match h.head(&req.head) {
            Plan::Respond(r) => r,
            Plan::Buffer { limit } if req.body.len() > limit => {
                h.malformed(&http::Error::BodyTooLarge(req.body.len() as u64, limit))
            }
            Plan::Buffer { .. } => h.buffered(&req.head, &req.body),
            Plan::Stream(mut sink) => {
                h.write(&mut sink, &req.body);
                h.finish(&req.head, sink, Ok(req.body.len() as u64))
            }
        }
    }

    /// The bucket and key a request addresses (virtual-hosted or path style).
    pub fn target(&self, head: &Head) -> Target {
        let host = head
            .header("host")
            .unwrap_or("")
            .split(':')
            .next()
            .unwrap_or("")
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let path = head.path().trim_start_matches('/');
        let nonempty = |s: String| (!s.is_empty()).then_some(s);
        let dotted = format!(".{host}");
        if let Some((e, region)) = self
            .endpoints
            .iter()
            .find(|(e, _)| dotted.ends_with(e.as_str()))
        {
            let bucket = host.strip_suffix(e.as_str()).unwrap_or("");
            if !bucket.is_empty() {
                return Target {
                    bucket: Some(bucket.to_string()),
                    key: nonempty(percent_decode(path)),
                    region: Some(region),
                };
            }
            let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
            return Target {
                bucket: nonempty(percent_decode(bucket)),
                key: nonempty(percent_decode(key)),
                region: Some(region),
            };
        }
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        Target {
            bucket: nonempty(percent_decode(bucket)),
            key: nonempty(percent_decode(key)),
            region: None,
        }
    }

    /// Which operation a request asks for.
    fn route(&self, head: &Head, q: &Query) -> Result<Op, Error> {
        let t = self.target(head);
        let method = head.method.to_ascii_uppercase();
        if !matches!(method.as_str(), "GET" | "HEAD" | "PUT" | "POST" | "DELETE") {
            return Err(Error::MethodNotAllowed(head.method.clone()));
        }
        if UNSERVED_SUBRESOURCES.iter().any(|s| q.has(s)) {
            return Err(Error::NotImplemented);
        }
        let (bucket, key) = match (t.bucket, t.key) {
            (None, _) => {
                return match method.as_str() {
                    "GET" | "HEAD" => Ok(Op::ListBuckets),
                    _ => Err(Error::MethodNotAllowed(head.method.clone())),
                }
            }
            (Some(b), None) => {
                return Ok(match (method.as_str(), q) {
                    ("GET", q) if q.has("policy") => Op::GetBucketPolicy(b),
                    ("PUT", q) if q.has("policy") => Op::PutBucketPolicy(b),
                    ("DELETE", q) if q.has("policy") => Op::DeleteBucketPolicy(b),
                    ("GET", q) if q.has("location") => Op::GetBucketLocation(b),
                    ("GET", q) if q.has("uploads") => Op::ListUploads(b),
                    ("GET", q) => Op::ListObjects {
                        bucket: b,
                        v2: q.get("list-type") == Some("2"),
                    },
                    ("HEAD", _) => Op::HeadBucket(b),
                    ("PUT", _) => Op::CreateBucket(b),
                    ("DELETE", _) => Op::DeleteBucket(b),
                    ("POST", q) if q.has("delete") => Op::DeleteObjects(b),
                    _ => return Err(Error::MethodNotAllowed(head.method.clone())),
                })
            }
            (Some(b), Some(k)) => (b, k),
        };
        if key.len() > MAX_KEY_LEN {
            return Err(Error::KeyTooLong);
        }
        let upload_id = q.get("uploadId").map(str::to_string);
        Ok(match (method.as_str(), upload_id) {
            ("GET", Some(upload_id)) => Op::ListParts {
                bucket,
                key,
                upload_id,
            },
            ("GET" | "HEAD", _) => Op::GetObject { bucket, key },
            ("PUT", Some(upload_id)) => {
                if head.has_header("x-amz-copy-source") {
                    return Err(Error::NotImplemented); // UploadPartCopy
                }
                let part = q
                    .get("partNumber")
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
                    .ok_or_else(|| {
                        Error::InvalidArgument(format!(
                            "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
                        ))
                    })?;
                Op::UploadPart {
                    bucket,
                    key,
                    upload_id,
                    part,
                }
            }
            ("PUT", None) => match head.header("x-amz-copy-source") {
                Some(src) => {
                    let src = percent_decode(src.trim());
                    let src = src.split('?').next().unwrap_or("");
                    let (sb, sk) = src
                        .trim_start_matches('/')
                        .split_once('/')
                        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
                        .ok_or_else(|| {
                            Error::InvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey".into())
                        })?;
                    Op::CopyObject {
                        bucket,
                        key,
                        src_bucket: sb.to_string(),
                        src_key: sk.to_string(),
                    }
                }
                None => Op::PutObject { bucket, key },
            },
            ("DELETE", Some(upload_id)) => Op::AbortUpload {
                bucket,
                key,
                upload_id,
            },
            ("DELETE", None) => Op::DeleteObject { bucket, key },
            ("POST", Some(upload_id)) => Op::CompleteUpload {
                bucket,
                key,
                upload_id,
            },
            ("POST", None) if q.has("uploads") => Op::CreateUpload { bucket, key },
            _ => return Err(Error::MethodNotAllowed(head.method.clone())),
        })
    }
}

/// S3 serving one connection's requests; see [`S3::handler`].
pub struct S3Handler<'a> {
    s3: &'a mut S3,
    via: &'a Via,
    now: u64,
    authorize: &'a dyn Authorize,
}

impl S3Handler<'_> {
    fn request_id(&mut self) -> String {
        self.s3.next_request += 1;
        format!("{:016X}", self.s3.next_request)
    }

    /// Adds the headers every S3 reply has.
    fn finalize(&mut self, resp: Response) -> Response {
        let rid = self.request_id();
        resp.with_header("x-amz-request-id", rid.clone())
            .with_header("x-amz-id-2", rid)
            .with_header("Date", http_date(self.now))
            .with_header("Server", "AmazonS3")
    }

    fn error(&mut self, e: &Error) -> Response {
        self.s3.counters.errors += 1;
        let resp = match e {
            Error::NotModified => Response::new(304),
            _ => {
                let mut r = xml_response(
                    e.status(),
                    format!(
                        "<Error><Code>{}</Code><Message>{}</Message>{}<RequestId>{:016X}</RequestId></Error>",
                        e.code(),
                        xml_escape(&e.to_string()),
                        e.details(),
                        self.s3.next_request + 1,
                    ),
                );
                if let Error::InvalidRange { size, .. } = e {
                    r = r.with_header("Content-Range", format!("bytes */{size}"));
                }
                if let Error::MethodNotAllowed(_) = e {
                    r = r.with_header("Allow", "GET, HEAD, PUT, POST, DELETE");
                }
                r
            }
        };
        self.finalize(resp)
    }

    fn reply(&mut self, r: Result<Response, Error>) -> Response {
        match r {
            Ok(resp) => self.finalize(resp),
            Err(e) => self.error(&e),
        }
    }

    /// Asks the authorizer about one action on one resource.
    fn allowed(
        &mut self,
        action: &'static str,
        resource: String,
        bucket: Option<&str>,
        head: &Head,
        q: &Query,
    ) -> bool {
        let mut request_conditions = Vec::new();
        if action == "s3:ListBucket" {
            for (cond, param) in [
                ("s3:prefix", "prefix"),
                ("s3:delimiter", "delimiter"),
                ("s3:max-keys", "max-keys"),
            ] {
                if let Some(v) = q.get(param) {
                    request_conditions.push((cond, v.to_string()));
                }
            }
        }
        let access = Access {
            action,
            resource,
            via: self.via.clone(),
            principal: principal(head, q),
            request_conditions,
        };
        let policy = bucket.and_then(|b| self.s3.store.policy(b));
        let ok = self.authorize.authorize(&access, policy);
        if !ok {
            self.s3.counters.denied += 1;
        }
        ok
    }

    /// Routes and authorizes; the plan for the body.
    fn plan(&mut self, head: &Head) -> Result<Plan<Incoming>, Error> {
        let q = Query::parse(head.query());
        let op = self.s3.route(head, &q)?;
        if let Some((action, resource)) = op.access() {
            if !self.allowed(action, resource, op.bucket(), head, &q) {
                return Err(Error::AccessDenied);
            }
        }
        if let Op::CopyObject {
            src_bucket,
            src_key,
            ..
        } = &op
        {
            let (b, r) = (src_bucket.clone(), object_arn(src_bucket, src_key));
            if !self.allowed("s3:GetObject", r, Some(&b), head, &q) {
                return Err(Error::AccessDenied);
            }
        }
        match op {
            Op::PutObject { bucket, key } => {
                let content_type = content_type(head);
                let headers = stored_headers(head);
                self.incoming(
                    head,
                    Dest::Object {
                        bucket,
                        key,
                        content_type,
                        headers,
                    },
                )
                .map(Plan::Stream)
            }
            Op::UploadPart {
                bucket,
                key,
                upload_id,
                part,
            } => {
                self.s3.store.upload(&bucket, &key, &upload_id)?;
                self.incoming(
                    head,
                    Dest::Part {
                        bucket,
                        key,
                        upload_id,
                        part,
                    },
                )
                .map(Plan::Stream)
            }
            Op::CreateBucket(_)
            | Op::PutBucketPolicy(_)
            | Op::DeleteObjects(_)
            | Op::CompleteUpload { .. } => Ok(Plan::Buffer {
                limit: MAX_BUFFERED_BODY,
            }),
            op => {
                let r = self.execute(&op, head, &q, &[]);
                Ok(Plan::Respond(self.reply(r)))
            }
        }
    }

    /// Prepares to receive an object body.
    fn incoming(&mut self, head: &Head, dest: Dest) -> Result<Incoming, Error> {
        let decoded_len = match head.header("x-amz-decoded-content-length") {
            Some(v) => Some(
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| Error::InvalidArgument("x-amz-decoded-content-length".into()))?,
            ),
            None => None,
        };
        let length = match (head.framing, decoded_len) {
            (Framing::None, _) => return Err(Error::MissingContentLength),
            (_, Some(n)) => Some(n),
            (Framing::Length(n), None) if !head.aws_chunked() => Some(n),
            _ => None,
        };
        if length.is_some_and(|n| n > MAX_OBJECT_SIZE) {
            return Err(Error::EntityTooLarge);
        }
        let content_md5 = match head.header("content-md5") {
            Some(v) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .ok()
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    .ok_or(Error::InvalidDigest)?,
            ),
            None => None,
        };
        let bucket = match &dest {
            Dest::Object { bucket, .. } | Dest::Part { bucket, .. } => bucket.clone(),
        };
        let file = self.s3.store.temp_file(&bucket)?;
        Ok(Incoming {
            dest,
            file,
            md5: Md5::new(),
            size: 0,
            error: None,
            content_md5,
            decoded_len,
        })
    }

    /// Runs an operation whose body (if any) is in memory.
    fn execute(&mut self, op: &Op, head: &Head, q: &Query, body: &[u8]) -> Result<Response, Error> {
        let now = self.now;
        match op {
            Op::ListBuckets => self.list_buckets(),
            Op::CreateBucket(b) => {
                let text = std::str::from_utf8(body).map_err(|_| Error::MalformedXml)?;
                let region = if text.trim().is_empty() {
                    None
                } else {
                    let config = xml::elements(text, "CreateBucketConfiguration")
                        .filter(|c| c.len() == 1)
                        .ok_or(Error::MalformedXml)?;
                    let config = config.first().copied().unwrap_or("");
                    xml::elements(config, "LocationConstraint").ok_or(Error::MalformedXml)?;
                    xml::text(config, "LocationConstraint").filter(|r| !r.trim().is_empty())
                };
                let t = self.s3.target(head);
                let region = region
                    .or(t.region.map(str::to_string))
                    .unwrap_or_else(|| "us-east-1".to_string());
                self.s3.store.create_bucket(b, region.trim(), now)?;
                Ok(Response::new(200).with_header("Location", format!("/{b}")))
            }
            Op::HeadBucket(b) => {
                let region = self.s3.store.bucket(b)?.region.clone();
                Ok(Response::new(200).with_header("x-amz-bucket-region", region))
            }
            Op::DeleteBucket(b) => {
                self.s3.store.delete_bucket(b)?;
                Ok(Response::new(204))
            }
            Op::GetBucketLocation(b) => {
                let region = self.s3.store.bucket(b)?.region.clone();
                let inner = if region == "us-east-1" { "" } else { &region };
                Ok(xml_response(
                    200,
                    format!(
                        "<LocationConstraint xmlns=\"{XMLNS}\">{}</LocationConstraint>",
                        xml_escape(inner)
                    ),
                ))
            }
            Op::ListObjects { bucket, v2 } => self.list_objects(bucket, *v2, q),
            Op::GetBucketPolicy(b) => {
                let p = self
                    .s3
                    .store
                    .bucket(b)?
                    .policy
                    .as_ref()
                    .ok_or_else(|| Error::NoSuchBucketPolicy(b.clone()))?;
                Ok(Response::new(200)
                    .with_header("Content-Type", "application/json")
                    .with_body(serde_json::to_vec(p).map_err(|e| Error::Internal(e.to_string()))?))
            }
            Op::PutBucketPolicy(b) => {
                self.s3.store.bucket(b)?;
                let v: serde_json::Value =
                    serde_json::from_slice(body).map_err(|_| Error::MalformedPolicy)?;
                if !v.is_object() {
                    return Err(Error::MalformedPolicy);
                }
                self.s3.store.set_policy(b, Some(v))?;
                Ok(Response::new(204))
            }
            Op::DeleteBucketPolicy(b) => {
                self.s3.store.set_policy(b, None)?;
                Ok(Response::new(204))
            }
            Op::DeleteObjects(b) => self.delete_objects(b, head, q, body),
            Op::ListUploads(b) => self.list_uploads(b),
            Op::GetObject { bucket, key } => self.get_object(bucket, key, head),
            Op::DeleteObject { bucket, key } => {
                self.s3.store.delete_object(bucket, key)?;
                Ok(Response::new(204))
            }
            Op::CopyObject {
                bucket,
                key,
                src_bucket,
                src_key,
            } => self.copy_object(bucket, key, src_bucket, src_key, head),
            Op::CreateUpload { bucket, key } => {
                let id = self.s3.store.create_upload(Upload {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    initiated: now,
                    content_type: content_type(head),
                    headers: stored_headers(head),
                    parts: Default::default(),
                })?;
                Ok(xml_response(
                    200,
                    format!(
                        "<InitiateMultipartUploadResult xmlns=\"{XMLNS}\">{}{}{}</InitiateMultipartUploadResult>",
                        el("Bucket", bucket),
                        el("Key", key),
                        el("UploadId", &id)
                    ),
                ))
            }
            Op::CompleteUpload {
                bucket,
                key,
                upload_id,
            } => self.complete_upload(bucket, key, upload_id, head, body),
            Op::AbortUpload {
                bucket,
                key,
                upload_id,
            } => {
                self.s3.store.abort_upload(bucket, key, upload_id)?;
                Ok(Response::new(204))
            }
            Op::ListParts {
                bucket,
                key,
                upload_id,
            } => self.list_parts(bucket, key, upload_id, q),
            // Bodies that stream never get here.
            Op::PutObject { .. } | Op::UploadPart { .. } => Err(Error::NotImplemented),
        }
    }

    fn list_buckets(&self) -> Result<Response, Error> {
        let mut x = format!(
            "<ListAllMyBucketsResult xmlns=\"{XMLNS}\"><Owner><ID>{}</ID><DisplayName>vpclab</DisplayName></Owner><Buckets>",
            catalog::ACCOUNT_ID
        );
        for (name, b) in self.s3.store.buckets() {
            x.push_str(&format!(
                "<Bucket>{}{}</Bucket>",
                el("Name", name),
                el("CreationDate", &iso8601(b.created))
            ));
        }
        x.push_str("</Buckets></ListAllMyBucketsResult>");
        Ok(xml_response(200, x))
    }

    fn list_objects(&self, bucket: &str, v2: bool, q: &Query) -> Result<Response, Error> {
        let b = self.s3.store.bucket(bucket)?;
        let prefix = q.get("prefix").unwrap_or("");
        let delimiter = q.get("delimiter").filter(|d| !d.is_empty());
        let max_keys = match q.get("max-keys") {
            None => MAX_KEYS,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(|n| usize::try_from(n).unwrap_or(MAX_KEYS).min(MAX_KEYS))
                .ok_or_else(|| {
                    Error::InvalidArgument(
                        "Provided max-keys not an integer or within integer range".into(),
                    )
                })?,
        };
        let url = match q.get("encoding-type") {
            None => false,
            Some(e) if e.eq_ignore_ascii_case("url") => true,
            Some(_) => {
                return Err(Error::InvalidArgument(
                    "Invalid Encoding Method specified in Request".into(),
                ))
            }
        };
        let token = match (v2, q.get("continuation-token")) {
            (true, Some(t)) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(t.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        Error::InvalidArgument(
                            "The continuation token provided is incorrect".into(),
                        )
                    })?,
            ),
            _ => None,
        };
        let start_after = if v2 {
            q.get("start-after")
        } else {
            q.get("marker")
        };
        // Items strictly after `after` (the larger of the marker and the token).
        let after: Option<&str> = match (start_after.filter(|s| !s.is_empty()), token.as_deref()) {
            (Some(a), Some(t)) => Some(a.max(t)),
            (a, t) => t.or(a),
        };
        let enc = |s: &str| if url { url_encode(s) } else { s.to_string() };

        let mut contents: Vec<&ObjectMeta> = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        let mut truncated = false;
        let start = match after {
            Some(a) if a >= prefix => std::ops::Bound::Excluded(a.to_string()),
            _ => std::ops::Bound::Included(prefix.to_string()),
        };
        for (key, meta) in b.objects.range((start, std::ops::Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                break;
            }
            let item = match delimiter {
                Some(d) => match key.get(prefix.len()..).and_then(|rest| rest.find(d)) {
                    Some(i) => Some(key.get(..prefix.len() + i + d.len()).unwrap_or(key)),
                    None => None,
                },
                None => None,
            };
            if let Some(cp) = item {
                if last.as_deref() == Some(cp) || after.is_some_and(|a| cp <= a) {
                    continue;
                }
            }
            if contents.len() + prefixes.len() >= max_keys {
                truncated = true;
                break;
            }
            match item {
                Some(cp) => {
                    prefixes.push(cp.to_string());
                    last = Some(cp.to_string());
                }
                None => {
                    contents.push(meta);
                    last = Some(key.clone());
                }
            }
        }
        if max_keys == 0 {
            truncated = false;
        }
        let mut x = format!("<ListBucketResult xmlns=\"{XMLNS}\">");
        x += &el("Name", bucket);
        x += &el("Prefix", &enc(prefix));
        if v2 {
            if let Some(t) = q.get("continuation-token") {
                x += &el("ContinuationToken", t);
            }
            if let Some(s) = start_after {
                x += &el("StartAfter", &enc(s));
            }
            x += &el("KeyCount", &(contents.len() + prefixes.len()).to_string());
        } else {
            x += &el("Marker", &enc(start_after.unwrap_or("")));
        }
        x += &el("MaxKeys", &max_keys.to_string());
        if let Some(d) = delimiter {
            x += &el("Delimiter", &enc(d));
        }
        if url {
            x += &el("EncodingType", "url");
        }
        x += &el("IsTruncated", if truncated { "true" } else { "false" });
        if let (true, Some(l)) = (truncated, &last) {
            if v2 {
                x += &el(
                    "NextContinuationToken",
                    &base64::engine::general_purpose::STANDARD.encode(l.as_bytes()),
                );
            } else if delimiter.is_some() {
                x += &el("NextMarker", &enc(l));
            }
        }
        let owner = format!(
            "<Owner><ID>{}</ID><DisplayName>vpclab</DisplayName></Owner>",
            catalog::ACCOUNT_ID
        );
        let fetch_owner = !v2 || q.get("fetch-owner") == Some("true");
        for m in contents {
            x += "<Contents>";
            x += &el("Key", &enc(&m.key));
            x += &el("LastModified", &iso8601(m.modified_unix_millis));
            x += &el("ETag", &m.etag);
            x += &el("Size", &m.size.to_string());
            if fetch_owner {
                x += &owner;
            }
            x += "<StorageClass>STANDARD</StorageClass></Contents>";
        }
        for p in prefixes {
            x += &format!(
                "<CommonPrefixes>{}</CommonPrefixes>",
                el("Prefix", &enc(&p))
            );
        }
        x += "</ListBucketResult>";
        Ok(xml_response(200, x))
    }

    fn get_object(&mut self, bucket: &str, key: &str, head: &Head) -> Result<Response, Error> {
        let meta = self.s3.store.object(bucket, key)?;
        if let Some(list) = head.header("if-match") {
            if !etag_listed(list, &meta.etag) {
                return Err(Error::PreconditionFailed);
            }
        }
        if let Some(list) = head.header("if-none-match") {
            if etag_listed(list, &meta.etag) {
                return Err(Error::NotModified);
            }
        }
        let range = head.header("range");
        let (status, first, len) = match parse_range(range, meta.size) {
            RangeSpec::Whole => (200, 0, meta.size),
            RangeSpec::Part(a, b) => (206, a, b - a + 1),
            RangeSpec::Unsatisfiable => {
                return Err(Error::InvalidRange {
                    requested: range.unwrap_or("").to_string(),
                    size: meta.size,
                })
            }
        };
        let mut r = Response::new(status)
            .with_header("Content-Type", meta.content_type.clone())
            .with_header("ETag", meta.etag.clone())
            .with_header("Last-Modified", http_date(meta.modified_unix_millis))
            .with_header("Accept-Ranges", "bytes");
        for (n, v) in &meta.headers {
            r = r.with_header(n, v.clone());
        }
        if status == 206 {
            r = r.with_header(
                "Content-Range",
                format!("bytes {first}-{}/{}", first + len - 1, meta.size),
            );
        }
        let ranges = self.s3.store.segments(bucket, meta, first, len);
        if !head.is_head() {
            self.s3.counters.bytes_out += len;
        }
        Ok(r.with_file(FileBody { ranges }))
    }

    fn copy_object(
        &mut self,
        bucket: &str,
        key: &str,
        src_bucket: &str,
        src_key: &str,
        head: &Head,
    ) -> Result<Response, Error> {
        let src = self.s3.store.object(src_bucket, src_key)?.clone();
        let replace = head
            .header("x-amz-metadata-directive")
            .is_some_and(|d| d.trim().eq_ignore_ascii_case("REPLACE"));
        if !replace && bucket == src_bucket && key == src_key {
            return Err(Error::InvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.".into()));
        }
        let (content_type, headers) = if replace {
            (content_type(head), stored_headers(head))
        } else {
            (src.content_type.clone(), src.headers.clone())
        };
        let meta = ObjectMeta {
            key: key.to_string(),
            size: src.size,
            etag: src.etag.clone(),
            content_type,
            modified_unix_millis: self.now,
            headers,
            segments: Vec::new(),
        };
        let meta = self
            .s3
            .store
            .copy_object(src_bucket, src_key, bucket, meta)?;
        Ok(xml_response(
            200,
            format!(
                "<CopyObjectResult xmlns=\"{XMLNS}\">{}{}</CopyObjectResult>",
                el("LastModified", &iso8601(meta.modified_unix_millis)),
                el("ETag", &meta.etag)
            ),
        ))
    }

    fn delete_objects(
        &mut self,
        bucket: &str,
        head: &Head,
        q: &Query,
        body: &[u8],
    ) -> Result<Response, Error> {
        self.s3.store.bucket(bucket)?;
        let text = std::str::from_utf8(body).map_err(|_| Error::MalformedXml)?;
        let objects = xml::elements(text, "Object").ok_or(Error::MalformedXml)?;
        if objects.is_empty() || objects.len() > MAX_KEYS {
            return Err(Error::MalformedXml);
        }
        let quiet = xml::text(text, "Quiet").is_some_and(|v| v.trim() == "true");
        let mut keys = Vec::new();
        for o in objects {
            keys.push(xml::text(o, "Key").ok_or(Error::MalformedXml)?);
        }
        let mut x = format!("<DeleteResult xmlns=\"{XMLNS}\">");
        for key in keys {
            let allowed = self.allowed(
                "s3:DeleteObject",
                object_arn(bucket, &key),
                Some(bucket),
                head,
                q,
            );
            let r = if allowed {
                self.s3.store.delete_object(bucket, &key)
            } else {
                Err(Error::AccessDenied)
            };
            match r {
                Ok(()) if !quiet => x += &format!("<Deleted>{}</Deleted>", el("Key", &key)),
                Ok(()) => {}
                Err(e) => {
                    x += &format!(
                        "<Error>{}{}{}</Error>",
                        el("Key", &key),
                        el("Code", e.code()),
                        el("Message", &e.to_string())
                    )
                }
            }
        }
        x += "</DeleteResult>";
        Ok(xml_response(200, x))
    }

    fn complete_upload(
        &mut self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        head: &Head,
        body: &[u8],
    ) -> Result<Response, Error> {
        self.s3.store.upload(bucket, key, upload_id)?;
        let text = std::str::from_utf8(body).map_err(|_| Error::MalformedXml)?;
        let mut listed = Vec::new();
        for p in xml::elements(text, "Part").ok_or(Error::MalformedXml)? {
            let n = xml::text(p, "PartNumber")
                .and_then(|n| n.trim().parse::<u32>().ok())
                .ok_or(Error::MalformedXml)?;
            let etag = xml::text(p, "ETag").ok_or(Error::MalformedXml)?;
            listed.push((n, etag));
        }
        let meta = self.s3.store.complete_upload(
            bucket,
            key,
            upload_id,
            &listed,
            MIN_PART_SIZE,
            self.now,
        )?;
        let host = head.header("host").unwrap_or("s3.amazonaws.com");
        let location = format!("http://{host}/{bucket}/{}", url_encode(key));
        Ok(xml_response(
            200,
            format!(
                "<CompleteMultipartUploadResult xmlns=\"{XMLNS}\">{}{}{}{}</CompleteMultipartUploadResult>",
                el("Location", &location),
                el("Bucket", bucket),
                el("Key", key),
                el("ETag", &meta.etag)
            ),
        ))
    }

    fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        q: &Query,
    ) -> Result<Response, Error> {
        let u = self.s3.store.upload(bucket, key, upload_id)?;
        let max = q
            .get("max-parts")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1000)
            .min(1000);
        let marker = q
            .get("part-number-marker")
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        let mut x = format!("<ListPartsResult xmlns=\"{XMLNS}\">");
        x += &el("Bucket", bucket);
        x += &el("Key", key);
        x += &el("UploadId", upload_id);
        x += &el("PartNumberMarker", &marker.to_string());
        let parts: Vec<_> = u.parts.range(marker.saturating_add(1)..).collect();
        let truncated = parts.len() > max;
        let shown = parts.get(..max.min(parts.len())).unwrap_or(&[]);
        if let Some((n, _)) = shown.last() {
            x += &el("NextPartNumberMarker", &n.to_string());
        }
        x += &el("MaxParts", &max.to_string());
        x += &el("IsTruncated", if truncated { "true" } else { "false" });
        for (n, p) in shown {
            x += &format!(
                "<Part>{}{}{}{}</Part>",
                el("PartNumber", &n.to_string()),
                el("LastModified", &iso8601(p.modified_unix_millis)),
                el("ETag", &p.etag),
                el("Size", &p.size.to_string())
            );
        }
        x += "<StorageClass>STANDARD</StorageClass></ListPartsResult>";
        Ok(xml_response(200, x))
    }

    fn list_uploads(&self, bucket: &str) -> Result<Response, Error> {
        self.s3.store.bucket(bucket)?;
        let mut x = format!("<ListMultipartUploadsResult xmlns=\"{XMLNS}\">");
        x += &el("Bucket", bucket);
        x += "<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>";
        for (id, u) in self.s3.store.uploads_of(bucket) {
            x += &format!(
                "<Upload>{}{}{}<StorageClass>STANDARD</StorageClass></Upload>",
                el("Key", &u.key),
                el("UploadId", id),
                el("Initiated", &iso8601(u.initiated))
            );
        }
        x += "</ListMultipartUploadsResult>";
        Ok(xml_response(200, x))
    }

    fn finish_incoming(
        &mut self,
        sink: Incoming,
        end: Result<u64, http::Error>,
    ) -> Result<Response, Error> {
        if end.is_err() {
            return Err(Error::IncompleteBody);
        }
        if let Some(e) = sink.error {
            return Err(e);
        }
        if sink.decoded_len.is_some_and(|n| n != sink.size) {
            return Err(Error::IncompleteBody);
        }
        let md5: [u8; 16] = sink.md5.finalize().into();
        if sink.content_md5.is_some_and(|m| m != md5) {
            return Err(Error::BadDigest);
        }
        let etag = format!("\"{}\"", hex(&md5));
        self.s3.counters.bytes_in += sink.size;
        match sink.dest {
            Dest::Object {
                bucket,
                key,
                content_type,
                headers,
            } => {
                let meta = ObjectMeta {
                    key,
                    size: sink.size,
                    etag: etag.clone(),
                    content_type,
                    modified_unix_millis: self.now,
                    headers,
                    segments: Vec::new(),
                };
                self.s3.store.put_object(&bucket, meta, sink.file)?;
            }
            Dest::Part {
                bucket,
                key,
                upload_id,
                part,
            } => {
                let p = Part {
                    etag: etag.clone(),
                    md5,
                    size: sink.size,
                    modified_unix_millis: self.now,
                };
                self.s3
                    .store
                    .put_part(&bucket, &key, &upload_id, part, p, sink.file)?;
            }
        }
        Ok(Response::new(200).with_header("ETag", etag))
    }
}

impl Handler for S3Handler<'_> {
    type Sink = Incoming;

    fn head(&mut self, head: &Head) -> Plan<Incoming> {
        self.s3.counters.requests += 1;
        match self.via {
            Via::Internet { .. } => self.s3.counters.via_internet += 1,
            Via::Endpoint { .. } => self.s3.counters.via_endpoint += 1,
        }
        match self.plan(head) {
            Ok(p) => p,
            Err(e) => Plan::Respond(self.error(&e)),
        }
    }

    fn buffered(&mut self, head: &Head, body: &[u8]) -> Response {
        let q = Query::parse(head.query());
        let r = self
            .s3
            .route(head, &q)
            .and_then(|op| self.execute(&op, head, &q, body));
        self.reply(r)
    }

    fn write(&mut self, sink: &mut Incoming, data: &[u8]) {
        if sink.error.is_some() {
            return;
        }
        sink.size += data.len() as u64;
        if sink.size > MAX_OBJECT_SIZE {
            sink.error = Some(Error::EntityTooLarge);
            return;
        }
        if let Err(e) = sink.file.write(data) {
            sink.error = Some(Error::Internal(e.to_string()));
            return;
        }
        sink.md5.update(data);
    }

    fn finish(&mut self, _head: &Head, sink: Incoming, end: Result<u64, http::Error>) -> Response {
        let r = self.finish_incoming(sink, end);
        self.reply(r)
    }

    fn malformed(&mut self, e: &http::Error) -> Response {
        let s3e = match e {
            http::Error::BodyTooLarge(..) => Error::MaxMessageLengthExceeded,
            http::Error::UnknownCoding(_) => Error::NotImplemented,
            http::Error::IncompleteBody => Error::IncompleteBody,
            other => Error::InvalidRequest(other.to_string()),
        };
        let mut r = self.error(&s3e);
        r.close = true;
        r
    }
}

#[cfg(test)]
mod tests;
