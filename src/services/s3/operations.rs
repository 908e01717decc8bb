//! S3's request dispatch and object operations: a request head is routed to an [`Op`]
//! (path or virtual-hosted style, sub-resources), authorized, and either answered at once,
//! given a small body to buffer (XML, policies), or given an [`Incoming`] sink that streams
//! the body into a [`super::store`] temporary file (PutObject, UploadPart). Object reads
//! (GetObject, HeadObject) answer with file ranges the connection reads as the socket has
//! room. Listings live in [`super::listing`], multipart uploads in [`super::multipart`].
//!
//! Contract: nothing here touches the file system; bytes go through the bucket store.
//!
//! Size: one function per S3 operation on objects and buckets (about 990 lines).

use super::*;

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

impl S3 {
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
