//! One HTTP/1.1 connection whose bodies stream: request bodies go to the service as they
//! arrive, response bodies come from files as the socket has room.
//!
//! Contract: the caller moves bytes between the TCP socket and a [`StreamConn`]: it hands
//! received bytes to [`StreamConn::feed`] while [`StreamConn::wants_input`] (feed may
//! consume fewer than given; the rest stays in the socket for later), and fills the
//! socket's free send space with [`StreamConn::fill`] while [`StreamConn::has_output`].
//! Once [`StreamConn::should_close`], it closes the socket. The service behind is a
//! [`Handler`]: it sees each request's head first and chooses a [`Plan`] (answer now,
//! take a small body whole, or stream the body into a sink of its own).
//!
//! Requests are served one at a time: the next head is not read until the previous
//! response is wholly in the socket, so a connection buffers at most one head
//! ([`super::MAX_HEAD`]), one small body (the plan's limit), the response head and the
//! error bodies; [`StreamConn::buffered`] says how much that is now. `Expect:
//! 100-continue` is answered with `100 Continue` when the body is wanted, and with the
//! final answer (then the connection closes) when it is not. A request that cannot be
//! parsed gets [`Handler::malformed`]'s answer and the connection closes. A sink whose
//! body never completes (the peer went away) is dropped: sinks clean up in `Drop`.

use std::fs::File;
use std::os::unix::fs::FileExt as _;

use super::body::BodyDecoder;
use super::{parse_head, Error, FileBody, Head, Response, MAX_HEAD};

/// What a service does with a request whose head has arrived.
pub enum Plan<K> {
    /// Answer with this; a body, if any, is read and dropped first.
    Respond(Response),
    /// Read the whole (decoded) body into memory, up to `limit` bytes (more: 413 and
    /// close), then call [`Handler::buffered`].
    Buffer {
        /// The most body bytes taken, decoded.
        limit: usize,
    },
    /// Hand the decoded body to this sink piece by piece ([`Handler::write`]), then
    /// [`Handler::finish`].
    Stream(K),
}

/// A service behind a [`StreamConn`].
pub trait Handler {
    /// Where a streamed body goes.
    type Sink;
    /// A request head arrived.
    fn head(&mut self, head: &Head) -> Plan<Self::Sink>;
    /// The whole body of a [`Plan::Buffer`] request.
    fn buffered(&mut self, head: &Head, body: &[u8]) -> Response;
    /// Decoded body bytes of a [`Plan::Stream`] request, in order.
    fn write(&mut self, sink: &mut Self::Sink, data: &[u8]);
    /// The body of a [`Plan::Stream`] request is complete (`body` says whether its
    /// framing ended properly; `Err` means the sink should be discarded).
    fn finish(&mut self, head: &Head, sink: Self::Sink, body: Result<u64, Error>) -> Response;
    /// The answer to bytes that are not a request this connection can take (the
    /// connection closes after it).
    fn malformed(&mut self, e: &Error) -> Response {
        Response::new(e.status())
            .with_header("Content-Type", "text/plain")
            .with_body(format!("{e}\n"))
    }
}

enum Dest<K> {
    Discard(Response),
    Buffer {
        buf: Vec<u8>,
        limit: usize,
        over: bool,
    },
    Stream(K),
}

/// A request whose body is being read.
struct Body<K> {
    head: Head,
    decoder: BodyDecoder,
    dest: Dest<K>,
}

enum Phase<K> {
    Head,
    Body(Box<Body<K>>),
}

/// The file range being sent.
struct Sending {
    body: FileBody,
    /// Index of the current range, and bytes of it already sent.
    range: usize,
    done: u64,
    file: Option<File>,
    left: u64,
}

/// One connection's HTTP state; see the module docs.
pub struct StreamConn<K> {
    head_buf: Vec<u8>,
    phase: Phase<K>,
    out: Vec<u8>,
    out_pos: usize,
    sending: Option<Sending>,
    close: bool,
    /// Requests answered so far.
    pub requests: u64,
    /// Requests refused as malformed.
    pub bad_requests: u64,
    /// File bodies that could not be read to their end (the connection was closed early).
    pub short_bodies: u64,
}

impl<K> Default for StreamConn<K> {
    fn default() -> Self {
        StreamConn {
            head_buf: Vec::new(),
            phase: Phase::Head,
            out: Vec::new(),
            out_pos: 0,
            sending: None,
            close: false,
            requests: 0,
            bad_requests: 0,
            short_bodies: 0,
        }
    }
}

impl<K> StreamConn<K> {
    /// A connection before its first request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether [`StreamConn::feed`] should be given bytes now: a body is being read, or
    /// the previous response is wholly handed out and the connection stays open.
    pub fn wants_input(&self) -> bool {
        !self.close
            && match self.phase {
                Phase::Body(_) => true,
                Phase::Head => !self.has_output(),
            }
    }

    /// Whether response bytes wait for [`StreamConn::fill`].
    pub fn has_output(&self) -> bool {
        self.out_pos < self.out.len() || self.sending.as_ref().is_some_and(|s| s.left > 0)
    }

    /// Whether the connection should close now (everything owed is handed out).
    pub fn should_close(&self) -> bool {
        self.close && !self.has_output()
    }

    /// Whether a request is in progress (head or body partly read, or a response unsent).
    pub fn busy(&self) -> bool {
        !self.head_buf.is_empty() || matches!(self.phase, Phase::Body(_)) || self.has_output()
    }

    /// Bytes this connection holds in memory now (heads, small bodies, response heads).
    pub fn buffered(&self) -> usize {
        let body = match &self.phase {
            Phase::Body(b) => match &b.dest {
                Dest::Buffer { buf, .. } => buf.capacity(),
                Dest::Discard(r) => r.body.capacity(),
                Dest::Stream(_) => 0,
            },
            Phase::Head => 0,
        };
        self.head_buf.capacity() + self.out.capacity() + body
    }

    /// Takes bytes received from the peer; returns how many were consumed.
    pub fn feed<H: Handler<Sink = K>>(&mut self, data: &[u8], h: &mut H) -> usize {
        let mut used = 0;
        while used < data.len() && self.wants_input() {
            let rest = data.get(used..).unwrap_or(&[]);
            let n = match self.phase {
                Phase::Head => self.feed_head(rest, h),
                Phase::Body(_) => self.feed_body(rest, h),
            };
            if n == 0 {
                break;
            }
            used += n;
        }
        used
    }

    fn feed_head<H: Handler<Sink = K>>(&mut self, data: &[u8], h: &mut H) -> usize {
        let before = self.head_buf.len();
        let take = data.len().min(MAX_HEAD + 1 - before.min(MAX_HEAD + 1));
        self.head_buf
            .extend_from_slice(data.get(..take).unwrap_or(&[]));
        match parse_head(&self.head_buf) {
            Ok(None) if self.head_buf.len() > MAX_HEAD => {
                self.refuse(&Error::HeadTooLarge, h);
                data.len()
            }
            Ok(None) => take,
            Ok(Some((head, len))) => {
                self.head_buf = Vec::new();
                self.begin(head, h);
                len.saturating_sub(before).max(1)
            }
            Err(e) => {
                self.refuse(&e, h);
                data.len()
            }
        }
    }

    fn begin<H: Handler<Sink = K>>(&mut self, head: Head, h: &mut H) {
        let has_body = head.framing.has_body();
        let plan = h.head(&head);
        let decoder = BodyDecoder::new(head.framing, head.aws_chunked());
        match plan {
            Plan::Respond(resp) if !has_body => self.respond(&head, resp),
            Plan::Respond(mut resp) if head.expects_continue() => {
                // The client waits: answer now instead of taking a body nobody wants.
                resp.close = true;
                self.respond(&head, resp)
            }
            Plan::Respond(resp) => {
                self.phase = Phase::Body(Box::new(Body {
                    head,
                    decoder,
                    dest: Dest::Discard(resp),
                }))
            }
            Plan::Buffer { limit } => {
                if let super::Framing::Length(n) = head.framing {
                    if !head.aws_chunked() && n > limit as u64 {
                        let e = Error::BodyTooLarge(n, limit);
                        self.refuse(&e, h);
                        return;
                    }
                }
                if !has_body {
                    let resp = h.buffered(&head, &[]);
                    self.respond(&head, resp);
                    return;
                }
                self.continue_if_asked(&head);
                self.phase = Phase::Body(Box::new(Body {
                    head,
                    decoder,
                    dest: Dest::Buffer {
                        buf: Vec::new(),
                        limit,
                        over: false,
                    },
                }));
            }
            Plan::Stream(sink) => {
                if !has_body {
                    let resp = h.finish(&head, sink, Ok(0));
                    self.respond(&head, resp);
                    return;
                }
                self.continue_if_asked(&head);
                self.phase = Phase::Body(Box::new(Body {
                    head,
                    decoder,
                    dest: Dest::Stream(sink),
                }));
            }
        }
    }

    fn continue_if_asked(&mut self, head: &Head) {
        if head.expects_continue() {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
    }

    fn feed_body<H: Handler<Sink = K>>(&mut self, data: &[u8], h: &mut H) -> usize {
        let Phase::Body(body) = &mut self.phase else {
            return 0;
        };
        let Body { decoder, dest, .. } = &mut **body;
        let r = match dest {
            Dest::Discard(_) => decoder.feed(data, &mut |_| {}),
            Dest::Buffer { buf, limit, over } => decoder.feed(data, &mut |d| {
                if buf.len() + d.len() > *limit {
                    *over = true;
                } else {
                    buf.extend_from_slice(d);
                }
            }),
            Dest::Stream(sink) => decoder.feed(data, &mut |d| h.write(sink, d)),
        };
        let used = match r {
            Ok(n) => n,
            Err(e) => {
                // The sink (if any) is dropped with the phase.
                self.refuse(&e, h);
                return data.len().max(1);
            }
        };
        if let Dest::Buffer {
            over: true, limit, ..
        } = dest
        {
            let e = Error::BodyTooLarge(decoder.decoded(), *limit);
            self.refuse(&e, h);
            return data.len().max(1);
        }
        if !decoder.is_done() {
            return used.max(1);
        }
        if let Phase::Body(body) = std::mem::replace(&mut self.phase, Phase::Head) {
            let Body {
                head,
                decoder,
                dest,
            } = *body;
            let end = decoder.check_end().map(|()| decoder.decoded());
            let resp = match (dest, end) {
                (Dest::Stream(sink), end) => h.finish(&head, sink, end),
                (_, Err(e)) => {
                    self.refuse(&e, h);
                    return used.max(1);
                }
                (Dest::Discard(resp), Ok(_)) => resp,
                (Dest::Buffer { buf, .. }, Ok(_)) => h.buffered(&head, &buf),
            };
            self.respond(&head, resp);
        }
        used.max(1)
    }

    /// Answers an unparseable request and closes.
    fn refuse<H: Handler<Sink = K>>(&mut self, e: &Error, h: &mut H) {
        self.bad_requests += 1;
        self.head_buf = Vec::new();
        self.phase = Phase::Head;
        let resp = h.malformed(e);
        resp.write(false, true, &mut self.out);
        self.sending = None;
        self.close = true;
    }

    fn respond(&mut self, head: &Head, resp: Response) {
        self.requests += 1;
        let close = resp.close || !head.keep_alive();
        let head_only = head.is_head();
        resp.write(head_only, close, &mut self.out);
        if let (Some(body), false) = (resp.file, head_only) {
            let left = body.len();
            self.sending = Some(Sending {
                body,
                range: 0,
                done: 0,
                file: None,
                left,
            });
            // Open the first file now, so the body is the one the response describes
            // even if the object is replaced while it is sent.
            if let Some(s) = &mut self.sending {
                open_current(s);
            }
        }
        self.close |= close;
    }

    /// Writes pending output into `buf`; returns the bytes written.
    pub fn fill(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        if let Some(pending) = self.out.get(self.out_pos..) {
            let k = pending.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..k), pending.get(..k)) {
                dst.copy_from_slice(src);
            }
            n += k;
            self.out_pos += k;
            if self.out_pos >= self.out.len() {
                self.out.clear();
                self.out_pos = 0;
                if self.out.capacity() > 64 * 1024 {
                    self.out = Vec::new();
                }
            }
        }
        if self.out_pos < self.out.len() {
            return n;
        }
        while n < buf.len() {
            let Some(s) = &mut self.sending else { break };
            if s.left == 0 {
                self.sending = None;
                break;
            }
            match read_some(s, buf.get_mut(n..).unwrap_or(&mut [])) {
                Some(k) if k > 0 => n += k,
                _ => {
                    // The file is gone or shorter than announced: the response cannot be
                    // completed, so the connection ends here.
                    self.short_bodies += 1;
                    self.sending = None;
                    self.close = true;
                    break;
                }
            }
        }
        n
    }
}

fn open_current(s: &mut Sending) -> bool {
    if s.file.is_some() {
        return true;
    }
    match s.body.ranges.get(s.range) {
        Some((path, _, _)) => {
            s.file = File::open(path).ok();
            s.file.is_some()
        }
        None => false,
    }
}

/// Reads the next bytes of the body into `buf`; `None` when it cannot.
fn read_some(s: &mut Sending, buf: &mut [u8]) -> Option<usize> {
    loop {
        let (_, offset, len) = s.body.ranges.get(s.range)?;
        let (offset, len) = (*offset, *len);
        if s.done >= len {
            s.range += 1;
            s.done = 0;
            s.file = None;
            continue;
        }
        if !open_current(s) {
            return None;
        }
        let want = usize::try_from(len - s.done)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let dst = buf.get_mut(..want)?;
        let k = s
            .file
            .as_ref()?
            .read_at(dst, offset.checked_add(s.done)?)
            .ok()?;
        s.done += k as u64;
        s.left = s.left.saturating_sub(k as u64);
        return Some(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes buffered bodies; streams into a Vec; answers GET /file with a file body.
    struct Echo {
        file: std::path::PathBuf,
        written: Vec<u8>,
    }

    impl Handler for Echo {
        type Sink = Vec<u8>;
        fn head(&mut self, head: &Head) -> Plan<Vec<u8>> {
            match (head.method.as_str(), head.path()) {
                ("PUT", "/stream") => Plan::Stream(Vec::new()),
                ("PUT", "/buffer") => Plan::Buffer { limit: 8 },
                ("GET" | "HEAD", "/file") => {
                    Plan::Respond(Response::new(200).with_file(FileBody {
                        ranges: vec![(self.file.clone(), 2, 3), (self.file.clone(), 0, 2)],
                    }))
                }
                _ => Plan::Respond(Response::new(404).with_body("no")),
            }
        }
        fn buffered(&mut self, _: &Head, body: &[u8]) -> Response {
            Response::new(200).with_body(body.to_vec())
        }
        fn write(&mut self, sink: &mut Vec<u8>, data: &[u8]) {
            sink.extend_from_slice(data);
        }
        fn finish(&mut self, _: &Head, sink: Vec<u8>, end: Result<u64, Error>) -> Response {
            assert_eq!(end, Ok(sink.len() as u64));
            self.written = sink;
            Response::new(200).with_body("stored")
        }
    }

    fn echo(name: &str) -> Echo {
        let file = std::env::temp_dir().join(format!("vpclab-conn-{}-{name}", std::process::id()));
        std::fs::write(&file, b"abcdef").unwrap();
        Echo {
            file,
            written: Vec::new(),
        }
    }

    /// Feeds `input` in pieces of `step` bytes, draining output through a `out_step` window.
    fn run(c: &mut StreamConn<Vec<u8>>, h: &mut Echo, input: &[u8], step: usize) -> String {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut buf = [0u8; 3];
        for _ in 0..100_000 {
            while c.has_output() {
                let n = c.fill(&mut buf);
                out.extend_from_slice(&buf[..n]);
            }
            if pos >= input.len() || !c.wants_input() {
                break;
            }
            let end = (pos + step).min(input.len());
            pos += c.feed(&input[pos..end], h);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn streams_buffers_and_sends_file_ranges_in_order() {
        let mut h = echo("order");
        for step in [1, 2, 7, 1000] {
            let mut c = StreamConn::new();
            let input = b"PUT /stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nPUT /buffer HTTP/1.1\r\nContent-Length: 4\r\n\r\nwxyzGET /file HTTP/1.1\r\n\r\nHEAD /file HTTP/1.1\r\n\r\n";
            let out = run(&mut c, &mut h, input, step);
            assert_eq!(h.written, b"abcde");
            let want =
                "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nstored\
                        HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nwxyz\
                        HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\ncdeab\
                        HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n";
            assert_eq!(out, want, "step {step}");
            assert_eq!(c.requests, 4);
            assert!(!c.should_close());
        }
        let _ = std::fs::remove_file(&h.file);
    }

    #[test]
    fn expect_continue_gets_100_only_when_the_body_is_wanted() {
        let mut h = echo("expect");
        let mut c = StreamConn::new();
        let out = run(
            &mut c,
            &mut h,
            b"PUT /stream HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
            5,
        );
        assert!(
            out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"),
            "{out}"
        );
        let mut c = StreamConn::new();
        let out = run(
            &mut c,
            &mut h,
            b"PUT /nowhere HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
            5,
        );
        assert!(out.starts_with("HTTP/1.1 404"), "{out}");
        assert!(out.contains("Connection: close"));
        assert!(c.should_close());
        // Without Expect, an unwanted body is read and dropped and the connection lives.
        let mut c = StreamConn::new();
        let out = run(
            &mut c,
            &mut h,
            b"PUT /nowhere HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /x HTTP/1.1\r\n\r\n",
            1,
        );
        assert_eq!(out.matches("HTTP/1.1 404").count(), 2, "{out}");
        let _ = std::fs::remove_file(&h.file);
    }

    #[test]
    fn malformed_and_oversized_requests_close_the_connection() {
        let mut h = echo("bad");
        for input in [
            &b"\x00garbage\r\n\r\n"[..],
            b"PUT /buffer HTTP/1.1\r\nContent-Length: 9\r\n\r\n123456789",
            b"PUT /buffer HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n123456789\r\n0\r\n\r\n",
            b"PUT /stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"PUT /stream HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"PUT /stream HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            let mut c = StreamConn::new();
            let out = run(&mut c, &mut h, input, 3);
            assert!(out.starts_with("HTTP/1.1 4") || out.starts_with("HTTP/1.1 5"), "{out}");
            assert!(out.contains("Connection: close"), "{out}");
            assert!(c.should_close());
            assert_eq!(c.bad_requests, 1);
        }
        let mut c = StreamConn::new();
        let long = vec![b'a'; MAX_HEAD + 100];
        let out = run(&mut c, &mut h, &long, 4096);
        assert!(out.starts_with("HTTP/1.1 431"), "{out}");
        assert!(c.buffered() <= 2 * MAX_HEAD + 4096);
        let _ = std::fs::remove_file(&h.file);
    }

    #[test]
    fn a_missing_file_closes_the_connection_mid_body() {
        let mut h = echo("gone");
        std::fs::remove_file(&h.file).unwrap();
        h.file = h.file.with_extension("none");
        let mut c = StreamConn::new();
        let out = run(&mut c, &mut h, b"GET /file HTTP/1.1\r\n\r\n", 100);
        assert!(out.starts_with("HTTP/1.1 200"));
        assert!(c.should_close());
        assert_eq!(c.short_bodies, 1);
    }
}
