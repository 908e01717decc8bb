//! Request bodies decoded as they arrive: `Content-Length`, `Transfer-Encoding: chunked`,
//! and AWS's `aws-chunked` content coding on top of either.
//!
//! Contract: a [`BodyDecoder`] is fed the connection's bytes in pieces of any size
//! ([`BodyDecoder::feed`]); it hands the decoded body to a callback as sub-slices of its
//! input (no copy, no buffering beyond a few bytes of state), consumes nothing past the end
//! of the body (the next request's bytes stay with the caller), and says when the body is
//! complete ([`BodyDecoder::is_done`]). The result never depends on how the input was split.
//! Malformed framing is an [`Error`]; nothing panics.
//!
//! Both chunked formats share one grammar ([`ChunkedDecoder`]): `hex-size[;ext]\r\n data
//! \r\n`, …, `0[;ext]\r\n`, trailer lines, `\r\n`. aws-chunked puts the chunk signature in
//! the extension (`;chunk-signature=…`) and checksums in trailers (`x-amz-checksum-crc32:…`);
//! neither is checked (vpclab checks no signature). A client that ends an aws-chunked body
//! right after the last chunk's line, without the final empty line, is accepted.

use super::{Error, Framing};

/// The longest chunk-size line (size and extensions) or trailer line taken.
pub const MAX_LINE: usize = 4096;

/// The most trailer bytes taken.
pub const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size (`digits` so far).
    Size {
        digits: u8,
    },
    /// Skipping a chunk extension up to CR.
    Ext,
    /// After the CR of the size line.
    SizeLf,
    /// Inside chunk data.
    Data {
        left: u64,
    },
    /// After chunk data: CR, then LF.
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    LineStart,
    /// Inside a trailer line.
    Trailer,
    TrailerLf,
    /// After the CR of the final empty line.
    FinalLf,
    Done,
}

/// The `chunked` grammar, incrementally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    line: usize,
    trailers: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            size: 0,
            line: 0,
            trailers: 0,
        }
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the whole body (last chunk, trailers, final CRLF) was read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether the last (zero-size) chunk's line was read: only trailers may follow.
    pub fn saw_last_chunk(&self) -> bool {
        matches!(
            self.state,
            State::LineStart | State::Trailer | State::TrailerLf | State::FinalLf | State::Done
        )
    }

    /// Decodes from `input`, handing data to `out`; returns the bytes consumed (all of
    /// `input` unless the body ended inside it).
    pub fn feed(&mut self, input: &[u8], out: &mut dyn FnMut(&[u8])) -> Result<usize, Error> {
        let mut i = 0;
        while i < input.len() {
            if let State::Data { left } = self.state {
                let n = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - i);
                if let Some(d) = input.get(i..i + n) {
                    out(d);
                }
                i += n;
                let left = left - n as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { left }
                };
                continue;
            }
            if self.state == State::Done {
                break;
            }
            let b = input.get(i).copied().unwrap_or(0);
            i += 1;
            self.state = self.step(b)?;
        }
        Ok(i)
    }

    fn step(&mut self, b: u8) -> Result<State, Error> {
        Ok(match self.state {
            State::Size { digits } => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    if digits >= 15 {
                        return Err(Error::BadChunk("chunk size too large"));
                    }
                    let v = (b as char).to_digit(16).unwrap_or(0);
                    self.size = self.size * 16 + u64::from(v);
                    State::Size { digits: digits + 1 }
                }
                _ if digits == 0 => return Err(Error::BadChunk("chunk size expected")),
                b';' | b' ' | b'\t' => {
                    self.line = 0;
                    State::Ext
                }
                b'\r' => State::SizeLf,
                _ => return Err(Error::BadChunk("bad chunk size")),
            },
            State::Ext => match b {
                b'\r' => State::SizeLf,
                b'\n' => return Err(Error::BadChunk("bare LF")),
                _ => {
                    self.line += 1;
                    if self.line > MAX_LINE {
                        return Err(Error::BadChunk("chunk extension too long"));
                    }
                    State::Ext
                }
            },
            State::SizeLf => {
                if b != b'\n' {
                    return Err(Error::BadChunk("CRLF expected after the chunk size"));
                }
                let size = std::mem::take(&mut self.size);
                if size == 0 {
                    State::LineStart
                } else {
                    State::Data { left: size }
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size { digits: 0 },
            State::DataCr | State::DataLf => {
                return Err(Error::BadChunk("CRLF expected after chunk data"))
            }
            State::LineStart => match b {
                b'\r' => State::FinalLf,
                b'\n' => return Err(Error::BadChunk("bare LF")),
                _ => {
                    self.line = 1;
                    self.count_trailer()?;
                    State::Trailer
                }
            },
            State::Trailer => match b {
                b'\r' => State::TrailerLf,
                b'\n' => return Err(Error::BadChunk("bare LF")),
                _ => {
                    self.line += 1;
                    if self.line > MAX_LINE {
                        return Err(Error::BadChunk("trailer line too long"));
                    }
                    self.count_trailer()?;
                    State::Trailer
                }
            },
            State::TrailerLf if b == b'\n' => State::LineStart,
            State::FinalLf if b == b'\n' => State::Done,
            State::TrailerLf | State::FinalLf => {
                return Err(Error::BadChunk("CRLF expected after a trailer"))
            }
            // Handled by `feed`; never reached with a byte.
            State::Data { .. } | State::Done => self.state,
        })
    }

    fn count_trailer(&mut self) -> Result<(), Error> {
        self.trailers += 1;
        if self.trailers > MAX_TRAILERS {
            return Err(Error::BadChunk("trailers too long"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outer {
    Length { left: u64 },
    Chunked(ChunkedDecoder),
}

/// A request body being decoded: the message framing, then `aws-chunked` if the head says
/// so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDecoder {
    outer: Outer,
    aws: Option<ChunkedDecoder>,
    decoded: u64,
}

impl BodyDecoder {
    /// A decoder for a body with `framing`; `aws_chunked` adds the aws-chunked layer.
    pub fn new(framing: Framing, aws_chunked: bool) -> Self {
        let outer = match framing {
            Framing::None => Outer::Length { left: 0 },
            Framing::Length(n) => Outer::Length { left: n },
            Framing::Chunked => Outer::Chunked(ChunkedDecoder::new()),
        };
        BodyDecoder {
            outer,
            aws: aws_chunked.then(ChunkedDecoder::new),
            decoded: 0,
        }
    }

    /// Whether the message body is complete (see [`BodyDecoder::check_end`] for whether
    /// the aws-chunked layer is).
    pub fn is_done(&self) -> bool {
        match &self.outer {
            Outer::Length { left } => *left == 0,
            Outer::Chunked(c) => c.is_done(),
        }
    }

    /// Decoded body bytes handed out so far.
    pub fn decoded(&self) -> u64 {
        self.decoded
    }

    /// Once [`BodyDecoder::is_done`]: whether the aws-chunked layer ended properly.
    pub fn check_end(&self) -> Result<(), Error> {
        match &self.aws {
            Some(a) if !a.saw_last_chunk() => Err(Error::IncompleteBody),
            _ => Ok(()),
        }
    }

    /// Decodes from `input`, handing body bytes to `out`; returns the bytes consumed.
    pub fn feed(&mut self, input: &[u8], out: &mut dyn FnMut(&[u8])) -> Result<usize, Error> {
        let decoded = &mut self.decoded;
        let mut inner_err = None;
        let mut deliver = |d: &[u8]| {
            *decoded += d.len() as u64;
            out(d)
        };
        let mut layer = |d: &[u8]| match &mut self.aws {
            None => deliver(d),
            Some(aws) => {
                if inner_err.is_some() || aws.is_done() {
                    // Bytes after the aws-chunked body's end are ignored.
                    return;
                }
                if let Err(e) = aws.feed(d, &mut deliver) {
                    inner_err = Some(e);
                }
            }
        };
        let used = match &mut self.outer {
            Outer::Length { left } => {
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                if let Some(d) = input.get(..n) {
                    if n > 0 {
                        layer(d);
                    }
                }
                *left -= n as u64;
                n
            }
            Outer::Chunked(c) => c.feed(input, &mut layer)?,
        };
        match inner_err {
            Some(e) => Err(e),
            None => Ok(used),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` split at `cuts`; returns (body, consumed).
    fn decode(
        d: &mut BodyDecoder,
        input: &[u8],
        cuts: &[usize],
    ) -> Result<(Vec<u8>, usize), Error> {
        let mut body = Vec::new();
        let mut pos = 0;
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        bounds.sort_unstable();
        bounds.push(input.len());
        for b in bounds {
            if b <= pos {
                continue;
            }
            while pos < b && !d.is_done() {
                let n = d.feed(&input[pos..b], &mut |x| body.extend_from_slice(x))?;
                pos += n;
                if n == 0 {
                    break;
                }
            }
        }
        Ok((body, pos))
    }

    fn chunked(body: &[u8], sizes: &[usize], ext: &str, trailers: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes.get(i).copied().unwrap_or(7).clamp(1, rest.len());
            i += 1;
            out.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        out.extend_from_slice(format!("0{ext}\r\n{trailers}\r\n").as_bytes());
        out
    }

    #[test]
    fn chunked_with_extensions_and_trailers_stops_at_its_end() {
        let mut raw = chunked(
            b"hello world",
            &[5, 6],
            ";a=b",
            "x-amz-checksum-crc32:AAAA\r\n",
        );
        let len = raw.len();
        raw.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let mut d = BodyDecoder::new(Framing::Chunked, false);
        let (body, used) = decode(&mut d, &raw, &[]).unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(used, len, "the next request is left alone");
        assert!(d.is_done());
        assert_eq!(d.decoded(), 11);
    }

    #[test]
    fn aws_chunked_inside_content_length() {
        let sig =
            ";chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
        let raw = chunked(&[7u8; 70_000], &[65_536], sig, "");
        let mut d = BodyDecoder::new(Framing::Length(raw.len() as u64), true);
        let (body, used) = decode(&mut d, &raw, &[1, 100, 65_600]).unwrap();
        assert_eq!(body, vec![7u8; 70_000]);
        assert_eq!(used, raw.len());
        assert!(d.is_done());
        assert_eq!(d.check_end(), Ok(()));
    }

    #[test]
    fn aws_chunked_with_unsigned_trailer_and_without_final_line() {
        // STREAMING-UNSIGNED-PAYLOAD-TRAILER, as the AWS SDKs send it.
        let raw = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n";
        let mut d = BodyDecoder::new(Framing::Length(raw.len() as u64), true);
        let (body, _) = decode(&mut d, raw, &[3]).unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(d.check_end(), Ok(()));
        // Some clients stop after the last chunk's line: accepted.
        let raw = b"5\r\nhello\r\n0\r\n";
        let mut d = BodyDecoder::new(Framing::Length(raw.len() as u64), true);
        decode(&mut d, raw, &[]).unwrap();
        assert!(d.is_done());
        assert_eq!(d.check_end(), Ok(()));
        // A body cut inside a chunk is not.
        let raw = b"5\r\nhel";
        let mut d = BodyDecoder::new(Framing::Length(raw.len() as u64), true);
        decode(&mut d, raw, &[]).unwrap();
        assert_eq!(d.check_end(), Err(Error::IncompleteBody));
    }

    #[test]
    fn aws_chunked_inside_transfer_chunked() {
        let inner = chunked(b"abcdefghij", &[4], ";chunk-signature=00", "");
        let outer = chunked(&inner, &[3, 9, 1], "", "");
        let mut d = BodyDecoder::new(Framing::Chunked, true);
        let (body, used) = decode(&mut d, &outer, &[2, 5, 8]).unwrap();
        assert_eq!((body.as_slice(), used), (&b"abcdefghij"[..], outer.len()));
    }

    #[test]
    fn malformed_chunks_are_errors() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\nhello",
            b"5\r\nhelloXX",
            b"1234567890abcdef0\r\n",
            b"0\r\nbad\nline",
            b"0\r\n\rX",
        ] {
            let mut d = BodyDecoder::new(Framing::Chunked, false);
            assert!(
                decode(&mut d, bad, &[]).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut long = b"5;".to_vec();
        long.extend(vec![b'a'; MAX_LINE + 1]);
        let mut d = BodyDecoder::new(Framing::Chunked, false);
        assert!(decode(&mut d, &long, &[]).is_err());
        // A broken aws-chunked layer inside a good Content-Length.
        let mut d = BodyDecoder::new(Framing::Length(4), true);
        assert!(decode(&mut d, b"zz\r\n", &[]).is_err());
    }

    #[test]
    fn length_framing_takes_exactly_its_bytes() {
        let mut d = BodyDecoder::new(Framing::Length(3), false);
        let (body, used) = decode(&mut d, b"abcdef", &[1]).unwrap();
        assert_eq!((body.as_slice(), used), (&b"abc"[..], 3));
        let d = BodyDecoder::new(Framing::None, false);
        assert!(d.is_done());
    }

    proptest! {
        #[test]
        fn chunked_decoding_does_not_depend_on_splits(
            body in proptest::collection::vec(any::<u8>(), 0..3000),
            sizes in proptest::collection::vec(1usize..700, 0..10),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            aws in any::<bool>(),
            te in any::<bool>(),
        ) {
            let sig = ";chunk-signature=0123456789abcdef";
            let (raw, framing) = match (aws, te) {
                (false, _) => (chunked(&body, &sizes, ";x=y", "t: v\r\n"), Framing::Chunked),
                (true, false) => {
                    let r = chunked(&body, &sizes, sig, "");
                    let n = r.len() as u64;
                    (r, Framing::Length(n))
                }
                (true, true) => {
                    let inner = chunked(&body, &sizes, sig, "x-amz-checksum-crc32:AAAA\r\n");
                    (chunked(&inner, &[5, 300, 2], "", ""), Framing::Chunked)
                }
            };
            let mut with_next = raw.clone();
            with_next.extend_from_slice(b"NEXT");
            let mut d = BodyDecoder::new(framing, aws);
            let (got, used) = decode(&mut d, &with_next, &cuts).unwrap();
            prop_assert_eq!(got, body);
            prop_assert_eq!(used, raw.len());
            prop_assert!(d.is_done());
            prop_assert_eq!(d.check_end(), Ok(()));
        }

        #[test]
        fn any_bytes_never_panic(
            raw in proptest::collection::vec(any::<u8>(), 0..400),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
            aws in any::<bool>(),
        ) {
            let mut d = BodyDecoder::new(Framing::Chunked, aws);
            let _ = decode(&mut d, &raw, &cuts);
        }
    }
}
