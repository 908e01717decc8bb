//! HTTP/1.1, server side, for the emulated services.
//!
//! Contract: [`parse_head`] reads one request head from the front of a connection's input
//! (with `httparse`) and says how its body is framed ([`Framing`]: none, `Content-Length`,
//! or `Transfer-Encoding: chunked`). It never panics: a request it cannot take is an
//! [`Error`] that maps to a status code ([`Error::status`]); the connection answers it and
//! closes.
//!
//! Two ways to serve a connection:
//! - [`serve_stream`] (IMDS): whole requests, bodies buffered up to a small per-service
//!   limit, chunked bodies refused with 411. [`parse`] reads one such request.
//! - [`conn::StreamConn`] (S3): bodies are decoded as they arrive ([`body`]: chunked and
//!   `aws-chunked`) and handed to the service piece by piece; response bodies can be file
//!   ranges ([`FileBody`]) read as the socket has room. Memory per connection stays bounded
//!   whatever the sizes of bodies.
//!
//! [`wire`] holds the encodings S3 and DynamoDB share (hex, percent-decoding, dates).

use std::fmt::Write as _;
use std::path::PathBuf;

pub mod body;
pub mod conn;
pub mod wire;

/// The longest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 16 * 1024;

/// The most headers a request may carry.
pub const MAX_HEADERS: usize = 64;

/// Why a request could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The head is not HTTP/1.x.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The head is longer than [`MAX_HEAD`] or has more than [`MAX_HEADERS`] headers.
    #[error("request head too large")]
    HeadTooLarge,
    /// `Content-Length` is not a number, is given twice with different values, or comes
    /// with `Transfer-Encoding`.
    #[error("bad Content-Length")]
    BadLength,
    /// The body is longer than the service accepts.
    #[error("request body of {0} bytes is over the limit of {1}")]
    BodyTooLarge(u64, usize),
    /// `Transfer-Encoding` on a request to a service that takes only `Content-Length`.
    #[error("Transfer-Encoding on a request is not supported")]
    TransferEncoding,
    /// A transfer coding other than `chunked`.
    #[error("transfer coding '{0}' is not implemented")]
    UnknownCoding(String),
    /// A chunked or aws-chunked body that does not follow its grammar.
    #[error("malformed chunked body: {0}")]
    BadChunk(&'static str),
    /// A body that ended before its framing said it would.
    #[error("the request body ended early")]
    IncompleteBody,
}

impl Error {
    /// The status code that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::Malformed(_) | Error::BadLength | Error::BadChunk(_) | Error::IncompleteBody => {
                400
            }
            Error::HeadTooLarge => 431,
            Error::BodyTooLarge(..) => 413,
            Error::TransferEncoding => 411,
            Error::UnknownCoding(_) => 501,
        }
    }
}

/// How a request body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (no `Content-Length`, no `Transfer-Encoding`).
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

impl Framing {
    /// Whether body bytes follow the head.
    pub fn has_body(self) -> bool {
        !matches!(self, Framing::None | Framing::Length(0))
    }
}

/// One request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// `GET`, `PUT`, … (as sent).
    pub method: String,
    /// The request target (path and query), as sent.
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// How the body is delimited.
    pub framing: Framing,
}

impl Head {
    /// The first value of header `name` (case-insensitive), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Whether header `name` is present (any value).
    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The path part of the target (before `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query part of the target (after `?`; empty when none).
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// Whether the connection stays open after this request.
    pub fn keep_alive(&self) -> bool {
        let tokens = |v: &str, t: &str| v.split(',').any(|x| x.trim().eq_ignore_ascii_case(t));
        match self.header("connection") {
            Some(v) if tokens(v, "close") => false,
            Some(v) if tokens(v, "keep-alive") => true,
            _ => self.minor_version >= 1,
        }
    }

    /// Whether the client waits for `100 Continue` before sending the body.
    pub fn expects_continue(&self) -> bool {
        self.minor_version >= 1
            && self
                .header("expect")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
    }

    /// Whether the body carries AWS's `aws-chunked` content coding (signed chunks):
    /// `Content-Encoding` lists it, or `x-amz-content-sha256` is a `STREAMING-…` value.
    pub fn aws_chunked(&self) -> bool {
        self.header("content-encoding").is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("aws-chunked"))
        }) || self
            .header("x-amz-content-sha256")
            .is_some_and(|v| v.trim().starts_with("STREAMING-"))
    }

    /// Whether this is a HEAD request (the response carries no body).
    pub fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }
}

/// One request with its whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The head (method, target, headers).
    pub head: Head,
    /// The body.
    pub body: Vec<u8>,
}

impl std::ops::Deref for Request {
    type Target = Head;
    fn deref(&self) -> &Head {
        &self.head
    }
}

/// Reads one request head from the front of `buf`: `Ok(None)` = not complete yet;
/// `Ok(Some((head, head length)))`.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > MAX_HEAD {
                Err(Error::HeadTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(Error::HeadTooLarge),
        Err(e) => return Err(Error::Malformed(e.to_string())),
    };
    if head_len > MAX_HEAD {
        return Err(Error::HeadTooLarge);
    }
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(Error::Malformed("incomplete request line".into()));
    };
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut out_headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let v = String::from_utf8_lossy(h.value);
            for coding in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                if chunked || !coding.eq_ignore_ascii_case("chunked") {
                    // Only `chunked`, once, is understood.
                    return Err(Error::UnknownCoding(coding.chars().take(64).collect()));
                }
                chunked = true;
            }
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(Error::BadLength)?;
            if content_length.is_some_and(|c| c != v) {
                return Err(Error::BadLength);
            }
            content_length = Some(v);
        }
        out_headers.push((h.name.to_string(), h.value.to_vec()));
    }
    let framing = match (chunked, content_length) {
        // Both: a request-smuggling shape; refuse it (RFC 9112 §6.1 allows either).
        (true, Some(_)) => return Err(Error::BadLength),
        (true, None) => Framing::Chunked,
        (false, Some(n)) => Framing::Length(n),
        (false, None) => Framing::None,
    };
    Ok(Some((
        Head {
            method: method.to_string(),
            target: target.to_string(),
            minor_version,
            headers: out_headers,
            framing,
        },
        head_len,
    )))
}

/// Reads one whole request from the front of `buf`: `Ok(None)` = not complete yet;
/// `Ok(Some((request, consumed)))`. Bodies longer than `max_body` and chunked bodies are
/// refused.
pub fn parse(buf: &[u8], max_body: usize) -> Result<Option<(Request, usize)>, Error> {
    let Some((head, head_len)) = parse_head(buf)? else {
        return Ok(None);
    };
    let body_len = match head.framing {
        Framing::None => 0,
        Framing::Length(n) => n,
        Framing::Chunked => return Err(Error::TransferEncoding),
    };
    let body_len_usize = usize::try_from(body_len)
        .ok()
        .filter(|n| *n <= max_body)
        .ok_or(Error::BodyTooLarge(body_len, max_body))?;
    let Some(body) = buf.get(head_len..head_len + body_len_usize) else {
        return Ok(None);
    };
    Ok(Some((
        Request {
            head,
            body: body.to_vec(),
        },
        head_len + body_len_usize,
    )))
}

/// A response body that is a sequence of file ranges, read as the connection has room
/// (see [`conn::StreamConn`]). Files are opened when their turn comes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileBody {
    /// `(file, offset, length)`, sent in order.
    pub ranges: Vec<(PathBuf, u64, u64)>,
}

impl FileBody {
    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        self.ranges
            .iter()
            .fold(0u64, |a, (_, _, n)| a.saturating_add(*n))
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code (200, 404, …).
    pub status: u16,
    /// Headers other than `Content-Length` and `Connection` (added when written).
    pub headers: Vec<(String, String)>,
    /// The body, when it is in memory.
    pub body: Vec<u8>,
    /// The body, when it is read from files (then `body` is ignored).
    pub file: Option<FileBody>,
    /// The IP hop limit (TTL) the packets of this response should carry, if not the default.
    pub hop_limit: Option<u8>,
    /// Close the connection after this response, whatever the request asked.
    pub close: bool,
}

impl Response {
    /// A response with `status` and no headers or body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            file: None,
            hop_limit: None,
            close: false,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a body read from files.
    pub fn with_file(mut self, file: FileBody) -> Self {
        self.file = Some(file);
        self
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Content-Length` this response announces.
    pub fn content_length(&self) -> u64 {
        match &self.file {
            Some(f) => f.len(),
            None => self.body.len() as u64,
        }
    }

    /// Appends the serialized response to `out`; `head_only` for HEAD requests. A file body
    /// is not written: only its length is announced.
    pub fn write(&self, head_only: bool, close: bool, out: &mut Vec<u8>) {
        let mut head = String::with_capacity(128);
        let _ = write!(head, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (n, v) in &self.headers {
            // Never let a value break the framing.
            let v: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            let _ = write!(head, "{n}: {v}\r\n");
        }
        // 1xx, 204 and 304 carry no body and no length (RFC 9110 §8.6).
        if !matches!(self.status, 100..=199 | 204 | 304) {
            let _ = write!(head, "Content-Length: {}\r\n", self.content_length());
        }
        head.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        out.extend_from_slice(head.as_bytes());
        if !head_only && self.file.is_none() {
            out.extend_from_slice(&self.body);
        }
    }
}

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// What [`serve_stream`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// Requests answered.
    pub requests: u64,
    /// Requests refused as malformed (answered with 4xx, then the connection closes).
    pub bad_requests: u64,
    /// Close the connection once the output is sent.
    pub close: bool,
    /// The hop limit asked by the last response that asked one.
    pub hop_limit: Option<u8>,
}

/// Counts of requests over every connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpCounters {
    /// Requests read and handed to a service.
    pub requests: u64,
    /// Requests that could not be read (answered with an error, and the connection closed).
    pub bad_requests: u64,
    /// The most bytes one streaming connection held in memory at once (heads, small
    /// bodies, response heads; not the TCP buffers, which are fixed).
    pub peak_conn_buffered: usize,
}

impl HttpCounters {
    /// Adds what one [`serve_stream`] call did.
    pub fn count(&mut self, s: &Served) {
        self.requests += s.requests;
        self.bad_requests += s.bad_requests;
    }
}

/// Whether `buf` starts with a complete head that asks `Expect: 100-continue`.
pub fn expects_continue(buf: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    matches!(req.parse(buf), Ok(httparse::Status::Complete(_)))
        && req.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("expect") && h.value.eq_ignore_ascii_case(b"100-continue")
        })
}

/// Per-connection state that outlives one [`serve_stream`] call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnState {
    /// `100 Continue` was sent for the request being received.
    pub continue_sent: bool,
}

/// Answers every complete request at the front of `input` with `handler`, appending the
/// responses to `output` and removing the requests from `input`. Stops at the first request
/// after which the connection must close. A request whose head asks `Expect: 100-continue`
/// gets `100 Continue` once, while its body is still coming.
pub fn serve_stream(
    input: &mut Vec<u8>,
    output: &mut Vec<u8>,
    max_body: usize,
    state: &mut ConnState,
    mut handler: impl FnMut(&Request) -> Response,
) -> Served {
    let mut served = Served::default();
    let mut pos = 0;
    loop {
        let rest = input.get(pos..).unwrap_or(&[]);
        if rest.is_empty() {
            break;
        }
        match parse(rest, max_body) {
            Ok(None) => {
                if !state.continue_sent && expects_continue(rest) {
                    output.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    state.continue_sent = true;
                }
                break;
            }
            Ok(Some((req, used))) => {
                pos += used;
                state.continue_sent = false;
                served.requests += 1;
                let resp = handler(&req);
                let close = !req.keep_alive();
                if resp.hop_limit.is_some() {
                    served.hop_limit = resp.hop_limit;
                }
                resp.write(req.method.eq_ignore_ascii_case("HEAD"), close, output);
                if close {
                    served.close = true;
                    pos = input.len();
                    break;
                }
            }
            Err(e) => {
                served.bad_requests += 1;
                let status = e.status();
                Response::new(status)
                    .with_header("Content-Type", "text/plain")
                    .with_body(format!("{e}\n"))
                    .write(false, true, output);
                served.close = true;
                pos = input.len();
                break;
            }
        }
    }
    input.drain(..pos.min(input.len()));
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request_with_a_body_and_waits_for_the_rest() {
        let raw = b"PUT /x?y=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(parse(&raw[..20], 100), Ok(None));
        assert_eq!(parse(&raw[..raw.len() - 1], 100), Ok(None));
        let (req, used) = parse(raw, 100).unwrap().unwrap();
        assert_eq!(used, raw.len());
        assert_eq!(req.method, "PUT");
        assert_eq!(req.path(), "/x");
        assert_eq!(req.header("HOST"), Some("h"));
        assert_eq!(req.body, b"hello");
        assert!(req.keep_alive());
    }

    #[test]
    fn refuses_what_it_cannot_take() {
        let e = |raw: &[u8]| parse(raw, 4).unwrap_err().status();
        assert_eq!(e(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
        assert_eq!(e(b"GET / HTTP/1.1\r\nContent-Length: 9\r\n\r\n"), 413);
        assert_eq!(
            e(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            411
        );
        assert_eq!(e(b"\x00\x01 garbage\r\n\r\n"), 400);
        let long = vec![b'a'; MAX_HEAD + 10];
        assert_eq!(parse(&long, 4).unwrap_err().status(), 431);
        let mut long_head = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long_head.extend(vec![b'a'; MAX_HEAD + 10]);
        assert_eq!(parse(&long_head, 4).unwrap_err().status(), 431);
    }

    #[test]
    fn pipelined_requests_are_answered_in_order_and_close_is_honoured() {
        let mut input =
            b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\nGET /c HTTP/1.1\r\n\r\n"
                .to_vec();
        let mut out = Vec::new();
        let s = serve_stream(&mut input, &mut out, 0, &mut ConnState::default(), |r| {
            Response::new(200).with_body(r.path().to_string())
        });
        assert_eq!(s.requests, 2);
        assert!(s.close);
        assert!(input.is_empty());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\r\n\r\n/a"));
        assert!(text.ends_with("Connection: close\r\n\r\n/b"));
    }

    #[test]
    fn http10_closes_and_head_has_no_body() {
        let mut input = b"HEAD /a HTTP/1.0\r\n\r\n".to_vec();
        let mut out = Vec::new();
        let s = serve_stream(&mut input, &mut out, 0, &mut ConnState::default(), |_| {
            Response::new(200).with_body("abc")
        });
        assert!(s.close);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn expect_continue_is_answered_once_before_the_body() {
        let mut st = ConnState::default();
        let mut input =
            b"PUT /k HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n".to_vec();
        let mut out = Vec::new();
        let s = serve_stream(&mut input, &mut out, 10, &mut st, |_| Response::new(200));
        assert_eq!(s.requests, 0);
        assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
        input.extend_from_slice(b"ab");
        serve_stream(&mut input, &mut out, 10, &mut st, |_| Response::new(200));
        assert_eq!(out.len(), 25, "no second 100");
        input.extend_from_slice(b"cd");
        let s = serve_stream(&mut input, &mut out, 10, &mut st, |r| {
            Response::new(200).with_body(r.body.clone())
        });
        assert_eq!(s.requests, 1);
        assert!(String::from_utf8(out).unwrap().ends_with("\r\n\r\nabcd"));
        assert!(!st.continue_sent);
    }
}
