//! S3 over HTTP/1.1 on port 80 of the S3 addresses: the skeleton.
//!
//! Contract: [`S3::handle`] answers one HTTP request that arrived by `via` (through an
//! internet gateway from a public address, or through a gateway endpoint from a private
//! address: the service sees which, for endpoint and bucket policies later). It never
//! panics; every failure is an S3 XML error with the status S3 gives it. Buckets and
//! objects live on disk under the directory given at construction (one per lab):
//! `<root>/<bucket>/.bucket` (creation time) and, per object, `<root>/<bucket>/<sha256(key)>`
//! (the bytes) with `…​.meta` (key, size, ETag, content type, time) beside it, so any key,
//! including `..` and slashes, maps to a safe file name.
//!
//! Addressing: virtual-hosted style (`Host: <bucket>.s3.<region>.amazonaws.com`, and the
//! other S3 endpoint names of every catalog region) or path style (`/<bucket>/<key>`, with
//! any other host). Requests are taken with or without a SigV4 signature (there are no
//! credentials to check).
//!
//! Served so far: ListBuckets (`GET /`), CreateBucket (`PUT /<bucket>`), PutObject
//! (`PUT /<bucket>/<key>`), GetObject and HeadObject (`GET`/`HEAD /<bucket>/<key>`).
//! Anything else is `501 NotImplemented`. Bodies are buffered whole, up to [`MAX_BODY`];
//! streaming, Range, ListObjectsV2, DeleteObject, multipart and aws-chunked uploads are
//! not done yet.

use std::fs;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::http::{Request, Response};
use crate::model::{catalog, Region, VpcId, VpceId};

/// The largest request body taken (the skeleton buffers bodies whole).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Why a request failed, as S3 names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("The specified bucket does not exist")]
    NoSuchBucket(String),
    #[error("The specified key does not exist.")]
    NoSuchKey(String),
    #[error("The specified bucket is not valid.")]
    InvalidBucketName(String),
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou(String),
    #[error("A header you provided implies functionality that is not implemented")]
    NotImplemented,
    #[error("The specified method is not allowed against this resource.")]
    MethodNotAllowed,
    #[error("We encountered an internal error. Please try again.")]
    Internal(String),
}

impl Error {
    /// S3's error code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NoSuchBucket(_) => "NoSuchBucket",
            Error::NoSuchKey(_) => "NoSuchKey",
            Error::InvalidBucketName(_) => "InvalidBucketName",
            Error::BucketAlreadyOwnedByYou(_) => "BucketAlreadyOwnedByYou",
            Error::NotImplemented => "NotImplemented",
            Error::MethodNotAllowed => "MethodNotAllowed",
            Error::Internal(_) => "InternalError",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Error::NoSuchBucket(_) | Error::NoSuchKey(_) => 404,
            Error::InvalidBucketName(_) => 400,
            Error::BucketAlreadyOwnedByYou(_) => 409,
            Error::NotImplemented => 501,
            Error::MethodNotAllowed => 405,
            Error::Internal(_) => 500,
        }
    }
}

/// How a request reached S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Through an internet gateway: the source is a public address.
    Internet { src: Ipv4Addr },
    /// Through a gateway endpoint: the source is the instance's private address.
    Endpoint {
        vpce: VpceId,
        vpc: VpcId,
        src: Ipv4Addr,
    },
}

/// Counts of S3 requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Counters {
    pub requests: u64,
    pub via_internet: u64,
    pub via_endpoint: u64,
    pub errors: u64,
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

/// Decodes `%XX` escapes (invalid escapes are kept as written).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |x: u8| (x as char).to_digit(16);
        if c == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|x| hex(*x)),
                b.get(i + 2).and_then(|x| hex(*x)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `2026-01-01T00:00:00.000Z`
pub fn iso8601(unix_millis: u64) -> String {
    let secs = (unix_millis / 1000) as i64;
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        unix_millis % 1000
    )
}

/// `Thu, 01 Jan 2026 00:00:00 GMT`
pub fn http_date(unix_millis: u64) -> String {
    let secs = (unix_millis / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let (y, mo, d) = civil(days);
    let s = secs.rem_euclid(86_400);
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        .get(days.rem_euclid(7) as usize)
        .copied()
        .unwrap_or("Thu");
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .get(mo.saturating_sub(1) as usize)
    .copied()
    .unwrap_or("Jan");
    format!(
        "{wd}, {d:02} {mon} {y:04} {:02}:{:02}:{:02} GMT",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct ObjectMeta {
    key: String,
    size: u64,
    etag: String,
    content_type: String,
    modified_unix_millis: u64,
}

/// S3 for one lab.
pub struct S3 {
    root: PathBuf,
    /// Host names whose left part is a bucket name.
    endpoints: Vec<String>,
    next_request: u64,
    pub counters: S3Counters,
}

/// What a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub bucket: Option<String>,
    pub key: Option<String>,
}

impl S3 {
    /// S3 keeping its buckets under `root` (created if missing).
    pub fn new(root: &Path) -> Result<Self, std::io::Error> {
        fs::create_dir_all(root)?;
        let mut endpoints: Vec<String> = catalog::REGIONS
            .iter()
            .flat_map(endpoint_names)
            .map(|n| format!(".{n}"))
            .collect();
        endpoints.sort_by_key(|e| std::cmp::Reverse(e.len()));
        Ok(S3 {
            root: root.to_path_buf(),
            endpoints,
            next_request: 0,
            counters: S3Counters::default(),
        })
    }

    /// The bucket and key a request addresses (virtual-hosted or path style).
    pub fn target(&self, req: &Request) -> Target {
        let host = req
            .header("host")
            .unwrap_or("")
            .split(':')
            .next()
            .unwrap_or("")
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let path = req.path().trim_start_matches('/');
        let nonempty = |s: String| (!s.is_empty()).then_some(s);
        if let Some(bucket) = self
            .endpoints
            .iter()
            .find_map(|e| host.strip_suffix(e.as_str()))
            .filter(|b| !b.is_empty())
        {
            return Target {
                bucket: Some(bucket.to_string()),
                key: nonempty(percent_decode(path)),
            };
        }
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        Target {
            bucket: nonempty(percent_decode(bucket)),
            key: nonempty(percent_decode(key)),
        }
    }

    fn bucket_dir(&self, bucket: &str) -> Result<PathBuf, Error> {
        if !valid_bucket_name(bucket) {
            return Err(Error::InvalidBucketName(bucket.to_string()));
        }
        Ok(self.root.join(bucket))
    }

    fn existing_bucket(&self, bucket: &str) -> Result<PathBuf, Error> {
        let dir = self.bucket_dir(bucket)?;
        if dir.join(".bucket").is_file() {
            Ok(dir)
        } else {
            Err(Error::NoSuchBucket(bucket.to_string()))
        }
    }

    fn object_path(dir: &Path, key: &str) -> PathBuf {
        let h = Sha256::digest(key.as_bytes());
        let name: String = h.iter().map(|b| format!("{b:02x}")).collect();
        dir.join(name)
    }

    /// Answers one request; `now_unix_millis` is the wall clock (for dates).
    pub fn handle(&mut self, via: &Via, req: &Request, now_unix_millis: u64) -> Response {
        self.counters.requests += 1;
        match via {
            Via::Internet { .. } => self.counters.via_internet += 1,
            Via::Endpoint { .. } => self.counters.via_endpoint += 1,
        }
        self.next_request += 1;
        let request_id = format!("{:016X}", self.next_request);
        let t = self.target(req);
        let result = match (req.method.as_str(), &t.bucket, &t.key) {
            ("GET" | "HEAD", None, None) => self.list_buckets(),
            ("PUT", Some(b), None) => self.create_bucket(b, now_unix_millis),
            ("PUT", Some(b), Some(k)) => self.put_object(b, k, req, now_unix_millis),
            ("GET" | "HEAD", Some(b), Some(k)) => self.get_object(b, k),
            ("GET" | "HEAD" | "PUT" | "DELETE" | "POST", _, _) => Err(Error::NotImplemented),
            _ => Err(Error::MethodNotAllowed),
        };
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                self.counters.errors += 1;
                let resource = match &e {
                    Error::NoSuchBucket(b)
                    | Error::InvalidBucketName(b)
                    | Error::BucketAlreadyOwnedByYou(b) => {
                        format!("<BucketName>{}</BucketName>", xml_escape(b))
                    }
                    Error::NoSuchKey(k) => format!("<Key>{}</Key>", xml_escape(k)),
                    _ => String::new(),
                };
                Response::new(e.status())
                    .with_header("Content-Type", "application/xml")
                    .with_body(format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message>{resource}<RequestId>{request_id}</RequestId></Error>",
                        e.code(),
                        xml_escape(&e.to_string())
                    ))
            }
        };
        resp.with_header("x-amz-request-id", request_id)
            .with_header("Date", http_date(now_unix_millis))
            .with_header("Server", "AmazonS3")
    }

    fn list_buckets(&self) -> Result<Response, Error> {
        let mut buckets: Vec<(String, u64)> = Vec::new();
        let entries = fs::read_dir(&self.root).map_err(|e| Error::Internal(e.to_string()))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let created = fs::read_to_string(e.path().join(".bucket"))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok());
            if let (true, Some(c)) = (valid_bucket_name(&name), created) {
                buckets.push((name, c));
            }
        }
        buckets.sort();
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
        );
        xml.push_str(&format!(
            "<Owner><ID>{0}</ID><DisplayName>vpclab</DisplayName></Owner><Buckets>",
            catalog::ACCOUNT_ID
        ));
        for (name, created) in buckets {
            xml.push_str(&format!(
                "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                xml_escape(&name),
                iso8601(created)
            ));
        }
        xml.push_str("</Buckets></ListAllMyBucketsResult>");
        Ok(Response::new(200)
            .with_header("Content-Type", "application/xml")
            .with_body(xml))
    }

    fn create_bucket(&self, bucket: &str, now: u64) -> Result<Response, Error> {
        let dir = self.bucket_dir(bucket)?;
        if dir.join(".bucket").is_file() {
            return Err(Error::BucketAlreadyOwnedByYou(bucket.to_string()));
        }
        fs::create_dir_all(&dir).map_err(|e| Error::Internal(e.to_string()))?;
        fs::write(dir.join(".bucket"), now.to_string())
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Response::new(200).with_header("Location", format!("/{bucket}")))
    }

    fn put_object(
        &self,
        bucket: &str,
        key: &str,
        req: &Request,
        now: u64,
    ) -> Result<Response, Error> {
        let dir = self.existing_bucket(bucket)?;
        let path = Self::object_path(&dir, key);
        let etag = format!(
            "\"{}\"",
            Md5::digest(&req.body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let meta = ObjectMeta {
            key: key.to_string(),
            size: req.body.len() as u64,
            etag: etag.clone(),
            content_type: req
                .header("content-type")
                .unwrap_or("binary/octet-stream")
                .to_string(),
            modified_unix_millis: now,
        };
        let internal = |e: std::io::Error| Error::Internal(e.to_string());
        let tmp = path.with_extension("tmp");
        let mut f = fs::File::create(&tmp).map_err(internal)?;
        f.write_all(&req.body).map_err(internal)?;
        drop(f);
        fs::rename(&tmp, &path).map_err(internal)?;
        let meta_json = serde_json::to_vec(&meta).map_err(|e| Error::Internal(e.to_string()))?;
        fs::write(path.with_extension("meta"), meta_json).map_err(internal)?;
        Ok(Response::new(200).with_header("ETag", etag))
    }

    fn get_object(&self, bucket: &str, key: &str) -> Result<Response, Error> {
        let dir = self.existing_bucket(bucket)?;
        let path = Self::object_path(&dir, key);
        let meta: ObjectMeta = fs::read(path.with_extension("meta"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|m: &ObjectMeta| m.key == key)
            .ok_or_else(|| Error::NoSuchKey(key.to_string()))?;
        let body = fs::read(&path).map_err(|_| Error::NoSuchKey(key.to_string()))?;
        Ok(Response::new(200)
            .with_header("Content-Type", meta.content_type)
            .with_header("ETag", meta.etag)
            .with_header("Last-Modified", http_date(meta.modified_unix_millis))
            .with_header("Accept-Ranges", "bytes")
            .with_body(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::http::parse;

    fn req(raw: &[u8]) -> Request {
        parse(raw, MAX_BODY).unwrap().unwrap().0
    }

    fn text(r: &Response) -> String {
        String::from_utf8_lossy(&r.body).into_owned()
    }

    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    fn temp(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("vpclab-s3-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        TempDir(d)
    }

    const NOW: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    const VIA: Via = Via::Internet {
        src: Ipv4Addr::new(15, 164, 0, 1),
    };

    #[test]
    fn dates() {
        assert_eq!(iso8601(NOW), "2026-01-01T00:00:00.000Z");
        assert_eq!(http_date(NOW), "Thu, 01 Jan 2026 00:00:00 GMT");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn addressing_styles() {
        let d = temp("addr");
        let s3 = S3::new(&d.0).unwrap();
        let t = s3.target(&req(
            b"GET /a/b%20c HTTP/1.1\r\nHost: my.bucket.s3.ap-northeast-2.amazonaws.com\r\n\r\n",
        ));
        assert_eq!(t.bucket.as_deref(), Some("my.bucket"));
        assert_eq!(t.key.as_deref(), Some("a/b c"));
        let t = s3.target(&req(
            b"GET /bkt/k/../x HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\n",
        ));
        assert_eq!(t.bucket.as_deref(), Some("bkt"));
        assert_eq!(t.key.as_deref(), Some("k/../x"));
        let t = s3.target(&req(b"GET / HTTP/1.1\r\nHost: 52.219.60.10:80\r\n\r\n"));
        assert_eq!(
            t,
            Target {
                bucket: None,
                key: None
            }
        );
        let t = s3.target(&req(b"GET /b HTTP/1.1\r\nHost: b.s3.amazonaws.com\r\n\r\n"));
        assert_eq!(t.bucket.as_deref(), Some("b"));
        assert_eq!(t.key.as_deref(), Some("b"));
    }

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket.logs", "a1b"] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Abc",
            "a..b",
            "-ab",
            "ab-",
            "10.0.0.1",
            "a_b",
            ".ab",
            &"a".repeat(64),
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn create_put_get_list_round_trip() {
        let d = temp("round");
        let mut s3 = S3::new(&d.0).unwrap();
        let h = |s3: &mut S3, raw: &[u8]| s3.handle(&VIA, &req(raw), NOW);
        let r = h(
            &mut s3,
            b"PUT /lab-bucket HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\n",
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Location"), Some("/lab-bucket"));
        let r = h(
            &mut s3,
            b"PUT /lab-bucket HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\n",
        );
        assert_eq!(r.status, 409);
        assert!(text(&r).contains("<Code>BucketAlreadyOwnedByYou</Code>"));
        let r = h(
            &mut s3,
            b"PUT /dir/../hello.txt HTTP/1.1\r\nHost: lab-bucket.s3.ap-northeast-2.amazonaws.com\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("ETag"),
            Some("\"5d41402abc4b2a76b9719d911017c592\"")
        );
        let r = h(&mut s3, b"GET /lab-bucket/dir/../hello.txt HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\n");
        assert_eq!((r.status, text(&r)), (200, "hello".to_string()));
        assert_eq!(r.header("Content-Type"), Some("text/plain"));
        assert_eq!(
            r.header("Last-Modified"),
            Some("Thu, 01 Jan 2026 00:00:00 GMT")
        );
        // Nothing escaped the bucket directory.
        assert!(!d.0.join("hello.txt").exists());
        let r = h(
            &mut s3,
            b"GET / HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\n",
        );
        assert_eq!(r.status, 200);
        assert!(text(&r).contains(
            "<Bucket><Name>lab-bucket</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>"
        ));
        assert_eq!(s3.counters.requests, 5);
        assert_eq!(s3.counters.via_internet, 5);
    }

    #[test]
    fn errors_are_s3_xml() {
        let d = temp("errors");
        let mut s3 = S3::new(&d.0).unwrap();
        let r = s3.handle(&VIA, &req(b"GET /nope/k HTTP/1.1\r\n\r\n"), NOW);
        assert_eq!(r.status, 404);
        assert!(text(&r).contains("<Code>NoSuchBucket</Code>"));
        assert!(text(&r).contains("<BucketName>nope</BucketName>"));
        assert_eq!(r.header("Content-Type"), Some("application/xml"));
        s3.handle(&VIA, &req(b"PUT /bkt HTTP/1.1\r\n\r\n"), NOW);
        let r = s3.handle(&VIA, &req(b"GET /bkt/missing%3Ckey HTTP/1.1\r\n\r\n"), NOW);
        assert_eq!(r.status, 404);
        assert!(text(&r).contains("<Key>missing&lt;key</Key>"));
        let r = s3.handle(&VIA, &req(b"PUT /Bad_Name HTTP/1.1\r\n\r\n"), NOW);
        assert_eq!(r.status, 400);
        let r = s3.handle(&VIA, &req(b"DELETE /bkt/k HTTP/1.1\r\n\r\n"), NOW);
        assert_eq!(r.status, 501);
        let r = s3.handle(&VIA, &req(b"PATCH /bkt/k HTTP/1.1\r\n\r\n"), NOW);
        assert_eq!(r.status, 405);
    }
}
