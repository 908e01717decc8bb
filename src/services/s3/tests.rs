//! S3 through its real connection driver ([`StreamConn`]): raw request bytes in, raw
//! response bytes out, bodies on disk in a temporary directory.
//!
//! Size: one test per S3 request shape and error; a catalogue, not logic.

use std::cell::RefCell;
use std::fs;
use std::path::PathBuf;

use super::*;
use crate::model::{VpcId, VpceId};
use crate::services::http::conn::StreamConn;

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
const HOST: &str = "s3.ap-northeast-2.amazonaws.com";

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, n: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn code(&self) -> Option<String> {
        xml::text(&self.text(), "Code")
    }
}

/// Splits a byte stream of responses (HEAD replies have no body; 1xx are skipped).
fn replies(mut out: &[u8], heads: &[bool]) -> Vec<Reply> {
    let mut v = Vec::new();
    let mut i = 0;
    while !out.is_empty() {
        let mut hs = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut hs);
        let httparse::Status::Complete(n) = r.parse(out).unwrap() else {
            panic!("partial response")
        };
        let status = r.code.unwrap();
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into()))
            .collect();
        out = &out[n..];
        if status == 100 {
            continue;
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        let len = if heads.get(i).copied().unwrap_or(false) {
            0
        } else {
            len
        };
        v.push(Reply {
            status,
            headers,
            body: out[..len].to_vec(),
        });
        out = &out[len..];
        i += 1;
    }
    v
}

/// Runs `raw` (one or more requests) through a fresh connection in `step`-byte pieces.
fn conn_with(
    s3: &mut S3,
    raw: &[u8],
    step: usize,
    auth: &dyn Authorize,
) -> (Vec<u8>, StreamConn<Incoming>) {
    let mut c = StreamConn::new();
    let mut h = s3.handler(&VIA, NOW, auth);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..10_000_000 {
        while c.has_output() {
            let n = c.fill(&mut buf);
            out.extend_from_slice(&buf[..n]);
        }
        if pos >= raw.len() || !c.wants_input() {
            break;
        }
        let end = (pos + step).min(raw.len());
        pos += c.feed(&raw[pos..end], &mut h);
    }
    (out, c)
}

fn send_auth(s3: &mut S3, raw: &[u8], auth: &dyn Authorize) -> Reply {
    let head = raw.starts_with(b"HEAD");
    let (out, _) = conn_with(s3, raw, 1000, auth);
    let mut r = replies(&out, &[head]);
    assert_eq!(r.len(), 1, "{}", String::from_utf8_lossy(&out));
    r.remove(0)
}

fn send(s3: &mut S3, raw: &[u8]) -> Reply {
    send_auth(s3, raw, &AllowAll)
}

/// `METHOD target` with a Host and an optional body.
fn req(method: &str, target: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "{method} {target} HTTP/1.1\r\nHost: {HOST}\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

fn call(s3: &mut S3, method: &str, target: &str, body: &[u8]) -> Reply {
    send(s3, &req(method, target, "", body))
}

fn s3_in(d: &TempDir) -> S3 {
    S3::new(&d.0).unwrap()
}

fn md5_hex(b: &[u8]) -> String {
    hex(&Md5::digest(b))
}

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
    let s3 = s3_in(&d);
    let head = |raw: &[u8]| http::parse_head(raw).unwrap().unwrap().0;
    let t = s3.target(&head(
        b"GET /a/b%20c HTTP/1.1\r\nHost: my.bucket.s3.ap-northeast-2.amazonaws.com\r\n\r\n",
    ));
    assert_eq!(t.bucket.as_deref(), Some("my.bucket"));
    assert_eq!(t.key.as_deref(), Some("a/b c"));
    assert_eq!(t.region, Some("ap-northeast-2"));
    let t = s3.target(&head(
        b"GET /bkt/k/../x HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\n",
    ));
    assert_eq!(t.bucket.as_deref(), Some("bkt"));
    assert_eq!(t.key.as_deref(), Some("k/../x"));
    assert_eq!(t.region, Some("ap-northeast-2"));
    let t = s3.target(&head(b"GET / HTTP/1.1\r\nHost: 52.219.60.10:80\r\n\r\n"));
    assert_eq!(
        t,
        Target {
            bucket: None,
            key: None,
            region: None
        }
    );
    let t = s3.target(&head(
        b"GET /b HTTP/1.1\r\nHost: b.s3.amazonaws.com\r\n\r\n",
    ));
    assert_eq!(t.bucket.as_deref(), Some("b"));
    assert_eq!(t.key.as_deref(), Some("b"));
    assert_eq!(t.region, Some("us-east-1"));
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
    let mut s3 = s3_in(&d);
    let r = call(&mut s3, "PUT", "/lab-bucket", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Location"), Some("/lab-bucket"));
    assert_eq!(r.header("Server"), Some("AmazonS3"));
    assert!(r.header("x-amz-request-id").is_some());
    let r = call(&mut s3, "PUT", "/lab-bucket", b"");
    assert_eq!(
        (r.status, r.code().as_deref()),
        (409, Some("BucketAlreadyOwnedByYou"))
    );
    let r = send(
        &mut s3,
        b"PUT /dir/../hello.txt HTTP/1.1\r\nHost: lab-bucket.s3.ap-northeast-2.amazonaws.com\r\nContent-Type: text/plain\r\nx-amz-meta-Color: blue\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("ETag"),
        Some("\"5d41402abc4b2a76b9719d911017c592\"")
    );
    let r = call(&mut s3, "GET", "/lab-bucket/dir/../hello.txt", b"");
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert_eq!(r.header("x-amz-meta-color"), Some("blue"));
    assert_eq!(
        r.header("Last-Modified"),
        Some("Thu, 01 Jan 2026 00:00:00 GMT")
    );
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    let r = call(&mut s3, "HEAD", "/lab-bucket/dir/../hello.txt", b"");
    assert_eq!((r.status, r.header("Content-Length")), (200, Some("5")));
    assert!(r.body.is_empty());
    // Nothing escaped the bucket directory.
    assert!(!d.0.join("hello.txt").exists());
    let r = call(&mut s3, "GET", "/", b"");
    assert_eq!(r.status, 200);
    assert!(r.text().contains(
        "<Bucket><Name>lab-bucket</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>"
    ));
    assert_eq!(s3.counters.via_internet, 6);
    // A reopened store serves the same buckets and objects.
    drop(s3);
    let mut s3 = s3_in(&d);
    let r = call(&mut s3, "GET", "/lab-bucket/dir/../hello.txt", b"");
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
}

#[test]
fn whole_requests_can_be_handled_without_a_connection() {
    let d = temp("whole");
    let mut s3 = s3_in(&d);
    let r = |raw: &[u8]| http::parse(raw, 1 << 20).unwrap().unwrap().0;
    let resp = s3.handle(&VIA, &r(b"PUT /whole HTTP/1.1\r\n\r\n"), NOW, &AllowAll);
    assert_eq!(resp.status, 200);
    let resp = s3.handle(
        &VIA,
        &r(b"PUT /whole/k HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"),
        NOW,
        &AllowAll,
    );
    assert_eq!(
        resp.header("ETag"),
        Some("\"49f68a5c8493ec2c0bf489821c21fc3b\"")
    );
    let resp = s3.handle(&VIA, &r(b"GET /whole/k HTTP/1.1\r\n\r\n"), NOW, &AllowAll);
    let file = resp.file.expect("a file body");
    assert_eq!(file.len(), 2);
    let (path, offset, len) = &file.ranges[0];
    assert_eq!((*offset, *len), (0, 2));
    assert_eq!(fs::read(path).unwrap(), b"hi");
}

#[test]
fn errors_are_s3_xml() {
    let d = temp("errors");
    let mut s3 = s3_in(&d);
    let r = call(&mut s3, "GET", "/nope/k", b"");
    assert_eq!((r.status, r.code().as_deref()), (404, Some("NoSuchBucket")));
    assert!(r.text().contains("<BucketName>nope</BucketName>"));
    assert_eq!(r.header("Content-Type"), Some("application/xml"));
    call(&mut s3, "PUT", "/bkt", b"");
    let r = call(&mut s3, "GET", "/bkt/missing%3Ckey", b"");
    assert_eq!((r.status, r.code().as_deref()), (404, Some("NoSuchKey")));
    assert!(r.text().contains("<Key>missing&lt;key</Key>"));
    let r = call(&mut s3, "HEAD", "/bkt/missing", b"");
    assert_eq!(r.status, 404);
    assert!(r.body.is_empty());
    let r = call(&mut s3, "PUT", "/Bad_Name", b"");
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("InvalidBucketName"))
    );
    let r = call(&mut s3, "PATCH", "/bkt/k", b"");
    assert_eq!(
        (r.status, r.code().as_deref()),
        (405, Some("MethodNotAllowed"))
    );
    let r = call(&mut s3, "POST", "/bkt/k", b"");
    assert_eq!(
        (r.status, r.code().as_deref()),
        (405, Some("MethodNotAllowed"))
    );
    let r = call(&mut s3, "GET", "/bkt?acl", b"");
    assert_eq!(
        (r.status, r.code().as_deref()),
        (501, Some("NotImplemented"))
    );
    let r = call(&mut s3, "PUT", &format!("/bkt/{}", "k".repeat(1025)), b"");
    assert_eq!(r.code().as_deref(), Some("KeyTooLongError"));
    let r = send(&mut s3, b"PUT /bkt/k HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (r.status, r.code().as_deref()),
        (411, Some("MissingContentLength"))
    );
    assert!(s3.counters.errors >= 9);
}

#[test]
fn malformed_http_is_400_xml_and_closes() {
    let d = temp("malformed");
    let mut s3 = s3_in(&d);
    for raw in [
        &b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"[..],
        b"\x01\x02 nonsense\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        let (out, c) = conn_with(&mut s3, raw, 7, &AllowAll);
        let r = replies(&out, &[false]);
        assert_eq!(r[0].status, 400);
        assert_eq!(r[0].code().as_deref(), Some("InvalidRequest"));
        assert_eq!(r[0].header("Connection"), Some("close"));
        assert!(c.should_close());
    }
}

#[test]
fn bucket_operations() {
    let d = temp("buckets");
    let mut s3 = s3_in(&d);
    let body = b"<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>";
    assert_eq!(call(&mut s3, "PUT", "/euro", body).status, 200);
    assert_eq!(call(&mut s3, "PUT", "/seoul", b"").status, 200);
    assert_eq!(
        call(&mut s3, "PUT", "/bad-xml", b"<Create")
            .code()
            .as_deref(),
        Some("MalformedXML")
    );
    let r = call(&mut s3, "GET", "/euro?location", b"");
    assert!(
        r.text().contains(">eu-west-1</LocationConstraint>"),
        "{}",
        r.text()
    );
    let r = call(&mut s3, "HEAD", "/seoul", b"");
    assert_eq!(
        (r.status, r.header("x-amz-bucket-region")),
        (200, Some("ap-northeast-2"))
    );
    assert_eq!(call(&mut s3, "HEAD", "/nothere", b"").status, 404);
    call(&mut s3, "PUT", "/seoul/k", b"x");
    let r = call(&mut s3, "DELETE", "/seoul", b"");
    assert_eq!(
        (r.status, r.code().as_deref()),
        (409, Some("BucketNotEmpty"))
    );
    // DeleteObject: 204, and again (idempotent).
    assert_eq!(call(&mut s3, "DELETE", "/seoul/k", b"").status, 204);
    assert_eq!(call(&mut s3, "DELETE", "/seoul/k", b"").status, 204);
    assert_eq!(call(&mut s3, "GET", "/seoul/k", b"").status, 404);
    assert_eq!(call(&mut s3, "DELETE", "/nothere/k", b"").status, 404);
    let r = call(&mut s3, "DELETE", "/seoul", b"");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty() && r.header("Content-Length").is_none());
    assert_eq!(
        call(&mut s3, "DELETE", "/seoul", b"").code().as_deref(),
        Some("NoSuchBucket")
    );
    assert!(!call(&mut s3, "GET", "/", b"").text().contains("seoul"));
}

#[test]
fn bucket_policies_are_stored_beside_the_bucket() {
    let d = temp("policy");
    let mut s3 = s3_in(&d);
    call(&mut s3, "PUT", "/pol", b"");
    let r = call(&mut s3, "GET", "/pol?policy", b"");
    assert_eq!(
        (r.status, r.code().as_deref()),
        (404, Some("NoSuchBucketPolicy"))
    );
    let r = call(&mut s3, "PUT", "/pol?policy", b"not json");
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("MalformedPolicy"))
    );
    let policy = br#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}"#;
    assert_eq!(call(&mut s3, "PUT", "/pol?policy", policy).status, 204);
    assert!(d.0.join("pol/.policy.json").is_file());
    let r = call(&mut s3, "GET", "/pol?policy", b"");
    assert_eq!(r.status, 200);
    let got: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        got,
        serde_json::from_slice::<serde_json::Value>(policy).unwrap()
    );
    // The authorizer sees it.
    let seen = RefCell::new(None);
    let auth = |_: &Access, p: Option<&serde_json::Value>| {
        *seen.borrow_mut() = p.cloned();
        true
    };
    send_auth(&mut s3, &req("GET", "/pol/x", "", b""), &auth);
    assert_eq!(seen.borrow().as_ref(), Some(&got));
    assert_eq!(call(&mut s3, "DELETE", "/pol?policy", b"").status, 204);
    assert_eq!(call(&mut s3, "GET", "/pol?policy", b"").status, 404);
    assert!(!d.0.join("pol/.policy.json").exists());
}

fn names(r: &Reply, tag: &str) -> Vec<String> {
    xml::elements(&r.text(), tag)
        .unwrap()
        .iter()
        .map(|e| {
            xml::text(e, "Key")
                .or_else(|| xml::text(e, "Prefix"))
                .unwrap()
        })
        .collect()
}

#[test]
fn list_objects_v2_prefix_delimiter_and_pages() {
    let d = temp("list");
    let mut s3 = s3_in(&d);
    call(&mut s3, "PUT", "/lst", b"");
    for k in ["a/1", "a/2", "b/1", "c", "d/e/f", "sp ace+plus"] {
        assert_eq!(
            call(
                &mut s3,
                "PUT",
                &format!("/lst/{}", url_encode(k)),
                k.as_bytes()
            )
            .status,
            200
        );
    }
    let r = call(&mut s3, "GET", "/lst?list-type=2", b"");
    assert_eq!(
        names(&r, "Contents"),
        ["a/1", "a/2", "b/1", "c", "d/e/f", "sp ace+plus"]
    );
    assert!(
        r.text().contains(
            "<KeyCount>6</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
        ),
        "{}",
        r.text()
    );
    assert!(r.text().contains("<Size>3</Size>"));
    assert!(r
        .text()
        .contains(&format!("<ETag>&quot;{}&quot;</ETag>", md5_hex(b"a/1"))));
    assert!(!r.text().contains("<Owner>"));
    let r = call(&mut s3, "GET", "/lst?list-type=2&delimiter=/", b"");
    assert_eq!(names(&r, "Contents"), ["c", "sp ace+plus"]);
    assert_eq!(names(&r, "CommonPrefixes"), ["a/", "b/", "d/"]);
    assert!(r.text().contains("<KeyCount>5</KeyCount>"));
    let r = call(
        &mut s3,
        "GET",
        "/lst?list-type=2&delimiter=/&prefix=d/",
        b"",
    );
    assert_eq!(names(&r, "CommonPrefixes"), ["d/e/"]);
    let r = call(&mut s3, "GET", "/lst?list-type=2&prefix=a", b"");
    assert_eq!(names(&r, "Contents"), ["a/1", "a/2"]);
    let r = call(&mut s3, "GET", "/lst?list-type=2&start-after=b/1", b"");
    assert_eq!(names(&r, "Contents"), ["c", "d/e/f", "sp ace+plus"]);
    // Pages of two, with and without a delimiter, cover everything exactly once.
    for delim in ["", "&delimiter=/"] {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..10 {
            let t = token
                .as_ref()
                .map(|t| format!("&continuation-token={}", url_encode(t)))
                .unwrap_or_default();
            let r = call(
                &mut s3,
                "GET",
                &format!("/lst?list-type=2&max-keys=2{delim}{t}"),
                b"",
            );
            let text = r.text();
            let page: Vec<String> = names(&r, "Contents")
                .into_iter()
                .chain(names(&r, "CommonPrefixes"))
                .collect();
            assert!(page.len() <= 2);
            assert!(text.contains(&format!("<KeyCount>{}</KeyCount>", page.len())));
            all.extend(page);
            token = xml::text(&text, "NextContinuationToken");
            assert_eq!(
                text.contains("<IsTruncated>true</IsTruncated>"),
                token.is_some()
            );
            if token.is_none() {
                break;
            }
        }
        all.sort();
        let want: Vec<&str> = if delim.is_empty() {
            vec!["a/1", "a/2", "b/1", "c", "d/e/f", "sp ace+plus"]
        } else {
            vec!["a/", "b/", "c", "d/", "sp ace+plus"]
        };
        assert_eq!(all, want, "{delim}");
    }
    // encoding-type=url, as the SDKs ask.
    let r = call(
        &mut s3,
        "GET",
        "/lst?list-type=2&prefix=sp&encoding-type=url",
        b"",
    );
    assert!(
        r.text().contains("<Key>sp%20ace%2Bplus</Key>"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("<EncodingType>url</EncodingType>"));
    // Bad arguments.
    for q in [
        "max-keys=x",
        "max-keys=-1",
        "encoding-type=zip",
        "continuation-token=%21%21",
    ] {
        let r = call(&mut s3, "GET", &format!("/lst?list-type=2&{q}"), b"");
        assert_eq!(
            (r.status, r.code().as_deref()),
            (400, Some("InvalidArgument")),
            "{q}"
        );
    }
    let r = call(&mut s3, "GET", "/lst?list-type=2&max-keys=0", b"");
    assert!(r.text().contains("<KeyCount>0</KeyCount>"));
    assert_eq!(call(&mut s3, "GET", "/none?list-type=2", b"").status, 404);
}

#[test]
fn list_objects_v1_markers() {
    let d = temp("listv1");
    let mut s3 = s3_in(&d);
    call(&mut s3, "PUT", "/lv1", b"");
    for k in ["a/1", "a/2", "b", "c/1"] {
        call(&mut s3, "PUT", &format!("/lv1/{k}"), b"x");
    }
    let r = call(&mut s3, "GET", "/lv1?max-keys=2", b"");
    assert_eq!(names(&r, "Contents"), ["a/1", "a/2"]);
    assert!(r.text().contains("<Marker></Marker>"));
    assert!(r.text().contains("<IsTruncated>true</IsTruncated>"));
    assert!(r.text().contains("<Owner><ID>"));
    let r = call(&mut s3, "GET", "/lv1?marker=a/2", b"");
    assert_eq!(names(&r, "Contents"), ["b", "c/1"]);
    let r = call(&mut s3, "GET", "/lv1?delimiter=/&max-keys=1", b"");
    assert_eq!(names(&r, "CommonPrefixes"), ["a/"]);
    assert!(r.text().contains("<NextMarker>a/</NextMarker>"));
    let r = call(&mut s3, "GET", "/lv1?delimiter=/&marker=a/", b"");
    assert_eq!(names(&r, "Contents"), ["b"]);
    assert_eq!(names(&r, "CommonPrefixes"), ["c/"]);
}

#[test]
fn ranges() {
    assert_eq!(parse_range(None, 10), RangeSpec::Whole);
    assert_eq!(parse_range(Some("bytes=2-4"), 10), RangeSpec::Part(2, 4));
    assert_eq!(parse_range(Some("bytes=7-"), 10), RangeSpec::Part(7, 9));
    assert_eq!(parse_range(Some("bytes=-3"), 10), RangeSpec::Part(7, 9));
    assert_eq!(parse_range(Some("bytes=-30"), 10), RangeSpec::Part(0, 9));
    assert_eq!(parse_range(Some("bytes=9-100"), 10), RangeSpec::Part(9, 9));
    assert_eq!(parse_range(Some("bytes=10-"), 10), RangeSpec::Unsatisfiable);
    assert_eq!(
        parse_range(Some("bytes=10-20"), 10),
        RangeSpec::Unsatisfiable
    );
    assert_eq!(parse_range(Some("bytes=-0"), 10), RangeSpec::Unsatisfiable);
    assert_eq!(parse_range(Some("bytes=0-"), 0), RangeSpec::Unsatisfiable);
    assert_eq!(parse_range(Some("bytes=-1"), 0), RangeSpec::Unsatisfiable);
    for ignored in [
        "bytes=5-2",
        "bytes=abc",
        "bytes=1-2,4-5",
        "items=1-2",
        "bytes=",
        "bytes=-",
        "bytes=+1-2",
    ] {
        assert_eq!(
            parse_range(Some(ignored), 10),
            RangeSpec::Whole,
            "{ignored}"
        );
    }
    let d = temp("ranges");
    let mut s3 = s3_in(&d);
    call(&mut s3, "PUT", "/rng", b"");
    call(&mut s3, "PUT", "/rng/digits", b"0123456789");
    let get = |s3: &mut S3, range: &str| {
        send(
            s3,
            &req("GET", "/rng/digits", &format!("Range: {range}\r\n"), b""),
        )
    };
    let r = get(&mut s3, "bytes=2-4");
    assert_eq!((r.status, r.text().as_str()), (206, "234"));
    assert_eq!(r.header("Content-Range"), Some("bytes 2-4/10"));
    assert_eq!(r.header("Content-Length"), Some("3"));
    let r = get(&mut s3, "bytes=-3");
    assert_eq!((r.status, r.text().as_str()), (206, "789"));
    let r = get(&mut s3, "bytes=0-");
    assert_eq!((r.status, r.text().as_str()), (206, "0123456789"));
    let r = get(&mut s3, "bytes=10-");
    assert_eq!((r.status, r.code().as_deref()), (416, Some("InvalidRange")));
    assert_eq!(r.header("Content-Range"), Some("bytes */10"));
    assert!(r.text().contains("<ActualObjectSize>10</ActualObjectSize>"));
    let r = get(&mut s3, "bytes=5-2");
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789"));
    // Conditional GETs.
    let etag = format!("\"{}\"", md5_hex(b"0123456789"));
    let r = send(
        &mut s3,
        &req(
            "GET",
            "/rng/digits",
            &format!("If-None-Match: {etag}\r\n"),
            b"",
        ),
    );
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = send(
        &mut s3,
        &req("GET", "/rng/digits", "If-Match: \"other\"\r\n", b""),
    );
    assert_eq!(
        (r.status, r.code().as_deref()),
        (412, Some("PreconditionFailed"))
    );
    let r = send(
        &mut s3,
        &req("GET", "/rng/digits", &format!("If-Match: {etag}\r\n"), b""),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn chunked_and_aws_chunked_uploads() {
    let d = temp("chunked");
    let mut s3 = s3_in(&d);
    call(&mut s3, "PUT", "/chk", b"");
    let raw = b"PUT /chk/te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n";
    let r = send(&mut s3, raw);
    assert_eq!(
        (r.status, r.header("ETag").map(str::to_string)),
        (200, Some(format!("\"{}\"", md5_hex(b"wikipedia"))))
    );
    assert_eq!(call(&mut s3, "GET", "/chk/te", b"").text(), "wikipedia");
    let sig = "chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
    let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let mut body = format!("10000;{sig}\r\n").into_bytes();
    body.extend_from_slice(&data[..65_536]);
    body.extend_from_slice(format!("\r\n{:x};{sig}\r\n", data.len() - 65_536).as_bytes());
    body.extend_from_slice(&data[65_536..]);
    body.extend_from_slice(format!("\r\n0;{sig}\r\n\r\n").as_bytes());
    let headers = format!(
        "Content-Encoding: aws-chunked,gzip\r\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\nx-amz-decoded-content-length: {}\r\n",
        data.len()
    );
    for step in [1, 13, 4096] {
        let (out, _) = conn_with(
            &mut s3,
            &req("PUT", "/chk/aws", &headers, &body),
            step,
            &AllowAll,
        );
        let r = replies(&out, &[false]);
        assert_eq!(r[0].status, 200, "{}", r[0].text());
        assert_eq!(
            r[0].header("ETag").unwrap(),
            format!("\"{}\"", md5_hex(&data))
        );
    }
    let r = call(&mut s3, "GET", "/chk/aws", b"");
    assert!(r.body == data);
    assert_eq!(
        r.header("Content-Encoding"),
        Some("gzip"),
        "aws-chunked is not stored"
    );
    // The decoded length must match.
    let headers = headers.replace(&data.len().to_string(), "5");
    let r = send(&mut s3, &req("PUT", "/chk/aws2", &headers, &body));
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("IncompleteBody"))
    );
    assert_eq!(call(&mut s3, "GET", "/chk/aws2", b"").status, 404);
    // Nothing is left in the temporary directory.
    assert_eq!(fs::read_dir(d.0.join("chk/.tmp")).unwrap().count(), 0);
}

#[test]
fn content_md5_is_checked() {
    let d = temp("md5");
    let mut s3 = s3_in(&d);
    call(&mut s3, "PUT", "/mdd", b"");
    let good = base64::engine::general_purpose::STANDARD.encode(Md5::digest(b"hello"));
    let r = send(
        &mut s3,
        &req(
            "PUT",
            "/mdd/k",
            &format!("Content-MD5: {good}\r\n"),
            b"hello",
        ),
    );
    assert_eq!(r.status, 200);
    let r = send(
        &mut s3,
        &req(
            "PUT",
            "/mdd/k",
            &format!("Content-MD5: {good}\r\n"),
            b"hellO",
        ),
    );
    assert_eq!((r.status, r.code().as_deref()), (400, Some("BadDigest")));
    let r = send(
        &mut s3,
        &req("PUT", "/mdd/k", "Content-MD5: nope\r\n", b"hellO"),
    );
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("InvalidDigest"))
    );
    assert_eq!(call(&mut s3, "GET", "/mdd/k", b"").text(), "hello");
}

#[test]
fn copy_object_links_and_keeps_or_replaces_metadata() {
    let d = temp("copy");
    let mut s3 = s3_in(&d);
    call(&mut s3, "PUT", "/src", b"");
    call(&mut s3, "PUT", "/dst", b"");
    send(
        &mut s3,
        &req(
            "PUT",
            "/src/a%20b",
            "Content-Type: text/x\r\nx-amz-meta-k: v\r\n",
            b"payload",
        ),
    );
    let r = send(
        &mut s3,
        &req("PUT", "/dst/c", "x-amz-copy-source: /src/a%20b\r\n", b""),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .text()
        .contains(&format!("<ETag>&quot;{}&quot;</ETag>", md5_hex(b"payload"))));
    let r = call(&mut s3, "GET", "/dst/c", b"");
    assert_eq!(
        (
            r.text().as_str(),
            r.header("Content-Type"),
            r.header("x-amz-meta-k")
        ),
        ("payload", Some("text/x"), Some("v"))
    );
    let r = send(&mut s3, &req("PUT", "/dst/c", "x-amz-copy-source: dst/c\r\nx-amz-metadata-directive: REPLACE\r\nContent-Type: text/y\r\n", b""));
    assert_eq!(r.status, 200);
    assert_eq!(
        call(&mut s3, "GET", "/dst/c", b"").header("Content-Type"),
        Some("text/y")
    );
    let r = send(
        &mut s3,
        &req("PUT", "/dst/c", "x-amz-copy-source: dst/c\r\n", b""),
    );
    assert_eq!(
        (r.status, r.code().as_deref()),
        (400, Some("InvalidRequest"))
    );
    // Deleting the source leaves the copy whole.
    call(&mut s3, "DELETE", "/src/a%20b", b"");
    assert_eq!(call(&mut s3, "GET", "/dst/c", b"").text(), "payload");
    let r = send(
        &mut s3,
        &req("PUT", "/dst/d", "x-amz-copy-source: src/a%20b\r\n", b""),
    );
    assert_eq!(r.code().as_deref(), Some("NoSuchKey"));
}

#[test]
fn delete_objects_reports_each_key() {
    let d = temp("multidel");
    let mut s3 = s3_in(&d);
    call(&mut s3, "PUT", "/mdd", b"");
    for k in ["keep/1", "tmp/1", "tmp/2"] {
        call(&mut s3, "PUT", &format!("/mdd/{k}"), b"x");
    }
    let auth = |a: &Access, _: Option<&serde_json::Value>| a.resource != "arn:aws:s3:::mdd/keep/1";
    let body = b"<Delete><Object><Key>tmp/1</Key></Object><Object><Key>keep/1</Key></Object><Object><Key>never</Key></Object></Delete>";
    let r = send_auth(&mut s3, &req("POST", "/mdd?delete", "", body), &auth);
    assert_eq!(r.status, 200);
    assert_eq!(names(&r, "Deleted"), ["tmp/1", "never"]);
    assert!(r
        .text()
        .contains("<Error><Key>keep/1</Key><Code>AccessDenied</Code>"));
    let r = call(
        &mut s3,
        "POST",
        "/mdd?delete",
        b"<Delete><Quiet>true</Quiet><Object><Key>tmp/2</Key></Object></Delete>",
    );
    assert!(!r.text().contains("<Deleted>"));
    let r = call(&mut s3, "GET", "/mdd?list-type=2", b"");
    assert_eq!(names(&r, "Contents"), ["keep/1"]);
    assert_eq!(
        call(&mut s3, "POST", "/mdd?delete", b"<Delete>")
            .code()
            .as_deref(),
        Some("MalformedXML")
    );
}

#[test]
fn multipart_upload_complete_abort_and_errors() {
    let d = temp("multipart");
    let mut s3 = s3_in(&d);
    call(&mut s3, "PUT", "/mpu", b"");
    let r = send(
        &mut s3,
        &req("POST", "/mpu/big?uploads", "Content-Type: video/x\r\n", b""),
    );
    assert_eq!(r.status, 200);
    let id = xml::text(&r.text(), "UploadId").unwrap();
    let part1: Vec<u8> = (0..MIN_PART_SIZE as u32).map(|i| (i % 253) as u8).collect();
    let part2 = b"tail".to_vec();
    let put = |s3: &mut S3, n: u32, body: &[u8]| {
        call(
            s3,
            "PUT",
            &format!("/mpu/big?partNumber={n}&uploadId={id}"),
            body,
        )
    };
    let r = put(&mut s3, 2, b"first try");
    assert_eq!(r.status, 200);
    let e1 = put(&mut s3, 1, &part1).header("ETag").unwrap().to_string();
    let e2 = put(&mut s3, 2, &part2).header("ETag").unwrap().to_string();
    assert_eq!(
        e2,
        format!("\"{}\"", md5_hex(b"tail")),
        "a part can be replaced"
    );
    assert_eq!(
        put(&mut s3, 0, b"x").code().as_deref(),
        Some("InvalidArgument")
    );
    assert_eq!(
        put(&mut s3, 10_001, b"x").code().as_deref(),
        Some("InvalidArgument")
    );
    let r = call(&mut s3, "PUT", "/mpu/big?partNumber=1&uploadId=bogus", b"x");
    assert_eq!((r.status, r.code().as_deref()), (404, Some("NoSuchUpload")));
    let r = call(&mut s3, "GET", &format!("/mpu/big?uploadId={id}"), b"");
    assert!(
        r.text().contains("<PartNumber>1</PartNumber>")
            && r.text().contains("<PartNumber>2</PartNumber>")
    );
    assert!(call(&mut s3, "GET", "/mpu?uploads", b"")
        .text()
        .contains(&format!("<UploadId>{id}</UploadId>")));
    let complete = |parts: &[(u32, &str)]| {
        let mut x = String::from("<CompleteMultipartUpload>");
        for (n, e) in parts {
            x += &format!("<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>");
        }
        x + "</CompleteMultipartUpload>"
    };
    let target = format!("/mpu/big?uploadId={id}");
    let r = call(
        &mut s3,
        "POST",
        &target,
        complete(&[(2, &e2), (1, &e1)]).as_bytes(),
    );
    assert_eq!(r.code().as_deref(), Some("InvalidPartOrder"));
    let r = call(
        &mut s3,
        "POST",
        &target,
        complete(&[(1, "\"00\""), (2, &e2)]).as_bytes(),
    );
    assert_eq!(r.code().as_deref(), Some("InvalidPart"));
    let r = call(
        &mut s3,
        "POST",
        &target,
        complete(&[(1, &e1), (3, &e2)]).as_bytes(),
    );
    assert_eq!(r.code().as_deref(), Some("InvalidPart"));
    let r = call(
        &mut s3,
        "POST",
        &target,
        complete(&[(2, &e2), (3, &e2)]).as_bytes(),
    );
    assert_eq!(r.code().as_deref(), Some("InvalidPart"));
    let r = call(&mut s3, "POST", &target, b"<Complete");
    assert_eq!(r.code().as_deref(), Some("MalformedXML"));
    let r = call(
        &mut s3,
        "POST",
        &target,
        complete(&[(1, &e1), (2, &e2)]).as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mut md5s = Md5::new();
    md5s.update(Md5::digest(&part1));
    md5s.update(Md5::digest(&part2));
    let want = format!("\"{}-2\"", hex(&md5s.finalize()));
    assert!(
        r.text()
            .contains(&format!("<ETag>{}</ETag>", xml::escape(&want))),
        "{}",
        r.text()
    );
    assert!(r
        .text()
        .contains("<Location>http://s3.ap-northeast-2.amazonaws.com/mpu/big</Location>"));
    let r = call(&mut s3, "GET", "/mpu/big", b"");
    assert_eq!(r.header("ETag"), Some(want.as_str()));
    assert_eq!(r.header("Content-Type"), Some("video/x"));
    assert_eq!(r.body.len(), part1.len() + 4);
    assert!(r.body[..part1.len()] == part1[..] && r.body.ends_with(b"tail"));
    // A range across the two parts' files.
    let first = part1.len() - 2;
    let r = send(
        &mut s3,
        &req(
            "GET",
            "/mpu/big",
            &format!("Range: bytes={first}-{}\r\n", first + 3),
            b"",
        ),
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, [&part1[first..], b"ta"].concat());
    // The upload is gone.
    let r = call(&mut s3, "POST", &target, complete(&[(1, &e1)]).as_bytes());
    assert_eq!(r.code().as_deref(), Some("NoSuchUpload"));
    // Too-small parts, and abort.
    let r = call(&mut s3, "POST", "/mpu/small?uploads", b"");
    let id = xml::text(&r.text(), "UploadId").unwrap();
    let ea = call(
        &mut s3,
        "PUT",
        &format!("/mpu/small?partNumber=1&uploadId={id}"),
        b"a",
    )
    .header("ETag")
    .unwrap()
    .to_string();
    let eb = call(
        &mut s3,
        "PUT",
        &format!("/mpu/small?partNumber=2&uploadId={id}"),
        b"b",
    )
    .header("ETag")
    .unwrap()
    .to_string();
    let r = call(
        &mut s3,
        "POST",
        &format!("/mpu/small?uploadId={id}"),
        complete(&[(1, &ea), (2, &eb)]).as_bytes(),
    );
    assert_eq!(r.code().as_deref(), Some("EntityTooSmall"));
    // One small part alone is fine: the last part may be any size.
    assert_eq!(
        call(&mut s3, "DELETE", &format!("/mpu/small?uploadId={id}"), b"").status,
        204
    );
    assert_eq!(
        call(&mut s3, "DELETE", &format!("/mpu/small?uploadId={id}"), b"").status,
        404
    );
    assert!(!d.0.join("mpu/.uploads").join(&id).exists());
    assert_eq!(call(&mut s3, "GET", "/mpu/small", b"").status, 404);
}

#[test]
fn every_request_is_authorized_with_its_action_and_resource() {
    let d = temp("authz");
    let mut s3 = s3_in(&d);
    let seen: RefCell<Vec<(String, String, Option<String>)>> = RefCell::new(Vec::new());
    let auth = |a: &Access, _: Option<&serde_json::Value>| {
        seen.borrow_mut().push((
            a.action.to_string(),
            a.resource.clone(),
            a.principal.clone(),
        ));
        !a.resource.starts_with("arn:aws:s3:::az/secret/")
    };
    let signed = "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/ap-northeast-2/s3/aws4_request, SignedHeaders=host, Signature=00\r\n";
    let mut go =
        |m: &str, t: &str, body: &[u8]| send_auth(&mut s3, &req(m, t, signed, body), &auth);
    go("GET", "/", b"");
    go("PUT", "/az", b"");
    go("HEAD", "/az", b"");
    go("GET", "/az?list-type=2&prefix=p", b"");
    go("PUT", "/az/k", b"v");
    go("GET", "/az/k", b"");
    go("DELETE", "/az/k", b"");
    go("POST", "/az/k?uploads", b"");
    go("GET", "/az?location", b"");
    go("PUT", "/az?policy", b"{}");
    go("GET", "/az?policy", b"");
    go("DELETE", "/az?policy", b"");
    let r = go("PUT", "/az/secret/x", b"v");
    assert_eq!((r.status, r.code().as_deref()), (403, Some("AccessDenied")));
    go("DELETE", "/az", b"");
    let got: Vec<(String, String)> = seen
        .borrow()
        .iter()
        .map(|(a, r, _)| (a.clone(), r.clone()))
        .collect();
    let want: Vec<(&str, &str)> = vec![
        ("s3:ListAllMyBuckets", "*"),
        ("s3:CreateBucket", "arn:aws:s3:::az"),
        ("s3:ListBucket", "arn:aws:s3:::az"),
        ("s3:ListBucket", "arn:aws:s3:::az"),
        ("s3:PutObject", "arn:aws:s3:::az/k"),
        ("s3:GetObject", "arn:aws:s3:::az/k"),
        ("s3:DeleteObject", "arn:aws:s3:::az/k"),
        ("s3:PutObject", "arn:aws:s3:::az/k"),
        ("s3:GetBucketLocation", "arn:aws:s3:::az"),
        ("s3:PutBucketPolicy", "arn:aws:s3:::az"),
        ("s3:GetBucketPolicy", "arn:aws:s3:::az"),
        ("s3:DeleteBucketPolicy", "arn:aws:s3:::az"),
        ("s3:PutObject", "arn:aws:s3:::az/secret/x"),
        ("s3:DeleteBucket", "arn:aws:s3:::az"),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(a, r)| (a.to_string(), r.to_string()))
            .collect::<Vec<_>>()
    );
    assert!(seen
        .borrow()
        .iter()
        .all(|(_, _, p)| p.as_deref() == Some("arn:aws:iam::123456789012:root")));
    assert_eq!(s3.counters.denied, 1);
    // Anonymous requests have no principal; conditions follow the path.
    let a = Access {
        action: "s3:ListBucket",
        resource: "arn:aws:s3:::b".into(),
        via: Via::Endpoint {
            vpce: VpceId::parse("vpce-0123456789abcdef0").unwrap(),
            vpc: VpcId::parse("vpc-0123456789abcdef0").unwrap(),
            src: Ipv4Addr::new(10, 0, 1, 5),
        },
        principal: None,
        request_conditions: vec![("s3:prefix", "p".into())],
    };
    let c = a.conditions();
    assert!(c.contains(&("aws:SourceVpce", "vpce-0123456789abcdef0".to_string())));
    assert!(c.contains(&("aws:VpcSourceIp", "10.0.1.5".to_string())));
    assert!(c.contains(&("s3:prefix", "p".to_string())));
    assert!(!c.iter().any(|(k, _)| *k == "aws:SourceIp"));
}

#[test]
fn denied_upload_with_expect_continue_is_refused_before_the_body() {
    let d = temp("deny100");
    let mut s3 = s3_in(&d);
    call(&mut s3, "PUT", "/dny", b"");
    let deny = |_: &Access, _: Option<&serde_json::Value>| false;
    let raw = b"PUT /dny/k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n";
    let (out, c) = conn_with(&mut s3, raw, 1000, &deny);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 403 Forbidden"), "{text}");
    assert!(text.contains("Connection: close"));
    assert!(c.should_close());
    // With the body wanted, 100 comes first.
    let raw =
        b"PUT /dny/k HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok";
    let (out, _) = conn_with(&mut s3, raw, 1000, &AllowAll);
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")
    );
}

#[test]
fn a_large_put_and_get_stream_through_bounded_memory() {
    let d = temp("stream");
    let mut s3 = s3_in(&d);
    call(&mut s3, "PUT", "/big", b"");
    let data: Vec<u8> = (0..(6 * 1024 * 1024u32))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let raw = req("PUT", "/big/obj", "", &data);
    let mut c: StreamConn<Incoming> = StreamConn::new();
    let mut peak = 0;
    {
        let mut h = s3.handler(&VIA, NOW, &AllowAll);
        let mut pos = 0;
        while pos < raw.len() {
            let end = (pos + 65_536).min(raw.len());
            pos += c.feed(&raw[pos..end], &mut h);
            peak = peak.max(c.buffered());
        }
    }
    let mut out = vec![0u8; 4096];
    let n = c.fill(&mut out);
    assert!(String::from_utf8_lossy(&out[..n]).starts_with("HTTP/1.1 200"));
    // GET, drained through a 64 KiB window.
    {
        let mut h = s3.handler(&VIA, NOW, &AllowAll);
        c.feed(&req("GET", "/big/obj", "", b""), &mut h);
    }
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while c.has_output() {
        let n = c.fill(&mut buf);
        got.extend_from_slice(&buf[..n]);
        peak = peak.max(c.buffered());
    }
    let body_at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(got[body_at..] == data[..]);
    assert!(peak <= 64 * 1024, "peak {peak}");
}

mod no_panics {
    use proptest::prelude::*;

    use super::*;

    const SESSION: &[u8] = b"PUT /fz HTTP/1.1\r\nHost: s3.ap-northeast-2.amazonaws.com\r\n\r\nPUT /fz/k HTTP/1.1\r\nHost: fz.s3.ap-northeast-2.amazonaws.com\r\nTransfer-Encoding: chunked\r\nx-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n\r\n1c\r\n3;chunk-signature=00\r\nabc\r\n0;chunk-signature=00\r\n\r\n\r\n0\r\n\r\nGET /fz/k HTTP/1.1\r\nRange: bytes=-2\r\n\r\nPOST /fz/m?uploads HTTP/1.1\r\n\r\nGET /fz?list-type=2&delimiter=/&max-keys=1&start-after=a HTTP/1.1\r\n\r\nPOST /fz?delete HTTP/1.1\r\nContent-Length: 45\r\n\r\n<Delete><Object><Key>k</Key></Object></Delete>DELETE /fz HTTP/1.1\r\n\r\n";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn mutated_sessions_never_panic(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            cut in any::<usize>(),
            step in 1usize..200,
        ) {
            let d = temp("prop");
            let mut s3 = s3_in(&d);
            let mut raw = SESSION.to_vec();
            for (i, b) in flips {
                let n = raw.len();
                raw[i % n] = b;
            }
            raw.truncate(cut % (raw.len() + 1));
            let (out, _) = conn_with(&mut s3, &raw, step, &AllowAll);
            prop_assert!(out.is_empty() || out.starts_with(b"HTTP/1.1 "));
        }

        #[test]
        fn random_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..600), step in 1usize..64) {
            let d = temp("propraw");
            let mut s3 = s3_in(&d);
            let _ = conn_with(&mut s3, &raw, step, &AllowAll);
        }
    }
}
