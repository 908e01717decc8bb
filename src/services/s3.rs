//! S3 over HTTP/1.1 on port 80 of the S3 addresses.
//!
//! Contract: [`S3::handler`] gives the [`Handler`] that serves
//! one connection's requests ([`super::http::conn::StreamConn`] drives it), for requests
//! that arrived by `via` (through an internet gateway from a public address, or through a
//! gateway endpoint from a private address). Nothing panics; every failure is an S3 XML
//! error with the status S3 gives it (HEAD replies carry the status only). Object bytes
//! stream: a PUT body goes to a temporary file as it arrives and is renamed into place
//! when complete; a GET is a file range read as the socket has room. Memory per request
//! is bounded whatever the object size: only XML and policy bodies are buffered, up to
//! [`MAX_BUFFERED_BODY`].
//!
//! Files: S3's file I/O happens only in [`store`] (the [`store::Store`] trait and its
//! on-disk [`store::DiskStore`], under the index [`store::Buckets`]); the operations never
//! touch the file system, and the connection reads GET ranges from the paths the store
//! gives. The module's parts: `operations` (request dispatch and object operations),
//! `listing` (ListBuckets, ListObjects, ListObjectsV2), `multipart` (completing and
//! listing uploads), [`store`] and [`xml`].
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
//! [`Authorize`] (shared with DynamoDB, in [`super::authz`]) with the bucket's policy; a
//! refusal is `403 AccessDenied`. This module decides no policy itself: the services pass
//! [`super::authz::Policies`], tests and tools [`AllowAll`].

mod listing;
mod multipart;
mod operations;
pub mod store;
pub mod xml;

use std::net::Ipv4Addr;

use base64::Engine as _;
use md5::{Digest as _, Md5};

pub use self::listing::url_encode;
pub use self::operations::{parse_range, Incoming, RangeSpec};
use self::store::{Buckets, ObjectMeta, Part, TempFile, Upload};
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
    /// 404: no bucket of that name (the name).
    #[error("The specified bucket does not exist")]
    NoSuchBucket(String),
    /// 404: no object of that key in the bucket (the key).
    #[error("The specified key does not exist.")]
    NoSuchKey(String),
    /// 404: no multipart upload of that id (the upload id).
    #[error("The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")]
    NoSuchUpload(String),
    /// 404: the bucket has no policy (the bucket's name).
    #[error("The bucket policy does not exist")]
    NoSuchBucketPolicy(String),
    /// 400: the name breaks S3's bucket naming rules (the name).
    #[error("The specified bucket is not valid.")]
    InvalidBucketName(String),
    /// 409: CreateBucket of a bucket that already exists here (its name).
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou(String),
    /// 409: DeleteBucket of a bucket that still has objects (its name).
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty(String),
    /// 403: the authorizer refused the request (an endpoint or bucket policy).
    #[error("Access Denied")]
    AccessDenied,
    /// 416: a `Range` beyond the object.
    #[error("The requested range is not satisfiable")]
    InvalidRange {
        /// The `Range` header as sent.
        requested: String,
        /// The object's size in bytes.
        size: u64,
    },
    /// 400: CompleteMultipartUpload names a part that was not uploaded or whose ETag differs (the
    /// part number).
    #[error("One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")]
    InvalidPart(u32),
    /// 400: CompleteMultipartUpload lists parts out of ascending order.
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder,
    /// 400: a part other than the last is under [`MIN_PART_SIZE`].
    #[error("Your proposed upload is smaller than the minimum allowed size")]
    EntityTooSmall,
    /// 400: an object over [`MAX_OBJECT_SIZE`].
    #[error("Your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    /// 400 `KeyTooLongError`: a key over [`MAX_KEY_LEN`] bytes.
    #[error("Your key is too long")]
    KeyTooLong,
    /// 400 `MalformedXML`: a request document that does not parse.
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema"
    )]
    MalformedXml,
    /// 400: a bucket policy that is not a JSON object.
    #[error("Policies must be valid JSON and the first byte must be '{{'")]
    MalformedPolicy,
    /// 400: a bad argument, with what is wrong (a listing parameter, `x-amz-copy-source`, …).
    #[error("{0}")]
    InvalidArgument(String),
    /// 400: a `Content-MD5` that is not a base64 MD5.
    #[error("The Content-MD5 you specified is not valid.")]
    InvalidDigest,
    /// 400: the body's MD5 differs from `Content-MD5`.
    #[error("The Content-MD5 you specified did not match what we received.")]
    BadDigest,
    /// 400: the body ended before its `Content-Length` (or its chunks) said.
    #[error(
        "You did not provide the number of bytes specified by the Content-Length HTTP header."
    )]
    IncompleteBody,
    /// 411: a PUT without a length (`Content-Length`, chunked or aws-chunked).
    #[error("You must provide the Content-Length HTTP header.")]
    MissingContentLength,
    /// 412: `If-Match` names another ETag.
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    /// 304: `If-None-Match` names the object's ETag.
    #[error("Not Modified")]
    NotModified,
    /// 501: a sub-resource, header or operation vpclab's S3 does not implement.
    #[error("A header you provided implies functionality that is not implemented")]
    NotImplemented,
    /// 405: a method the resource does not take (the method).
    #[error("The specified method is not allowed against this resource.")]
    MethodNotAllowed(String),
    /// 400: a buffered body (XML, policy) over [`MAX_BUFFERED_BODY`].
    #[error("Your request was too big.")]
    MaxMessageLengthExceeded,
    /// 400: a request the HTTP layer could not read, with why.
    #[error("{0}")]
    InvalidRequest(String),
    /// 500 `InternalError`: a file-system failure, with the cause (not sent to the client).
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
    /// Requests received (every route).
    pub requests: u64,
    /// Requests that came through an internet gateway (from a public address).
    pub via_internet: u64,
    /// Requests that came through a gateway endpoint (from a private address).
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

/// What a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The bucket, from a virtual-hosted `Host` or the path's first segment (`None`: ListBuckets).
    pub bucket: Option<String>,
    /// The object key: the rest of the path, percent-decoded (`None`: a bucket operation).
    pub key: Option<String>,
    /// The region of the S3 endpoint name in `Host`, when it is one.
    pub region: Option<&'static str>,
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

/// S3 for one lab.
pub struct S3 {
    store: Buckets,
    /// `.<endpoint name>` and its region, longest first.
    endpoints: Vec<(String, &'static str)>,
    next_request: u64,
    /// What this S3 has served.
    pub counters: S3Counters,
}

impl S3 {
    /// S3 keeping its buckets under `root` (created if missing; buckets and objects a
    /// previous router left there are served again).
    pub fn new(root: &std::path::Path) -> Result<Self, std::io::Error> {
        let store = Buckets::open(root)?;
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
}

/// S3 serving one connection's requests; see [`S3::handler`].
pub struct S3Handler<'a> {
    s3: &'a mut S3,
    via: &'a Via,
    now: u64,
    authorize: &'a dyn Authorize,
}

#[cfg(test)]
mod tests;
