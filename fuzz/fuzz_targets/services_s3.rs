//! Any bytes as an HTTP stream to S3 (heads, chunked and aws-chunked bodies, ranges,
//! multipart XML): S3 replies or a 4xx, never a panic. The first byte sets the size of
//! the pieces the stream arrives in.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use vpclab::services::http::conn::StreamConn;
use vpclab::services::s3::{AllowAll, Incoming, Via, S3};

fuzz_target!(|data: &[u8]| {
    static S3_: OnceLock<Mutex<S3>> = OnceLock::new();
    let s3 = S3_.get_or_init(|| {
        // Under the fuzz crate's (ignored) target directory, not /tmp: libFuzzer exits
        // without running destructors, so the store outlives the run.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(format!("s3-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Mutex::new(S3::new(&dir).expect("S3 directory"))
    });
    let mut s3 = s3.lock().unwrap_or_else(|e| e.into_inner());
    let Some((&step, input)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let via = Via::Internet {
        src: Ipv4Addr::new(15, 164, 0, 1),
    };
    let mut h = s3.handler(&via, 0, &AllowAll);
    let mut c: StreamConn<Incoming> = StreamConn::new();
    let mut buf = [0u8; 4096];
    let mut pos = 0;
    for _ in 0..100_000 {
        while c.has_output() {
            if c.fill(&mut buf) == 0 {
                break;
            }
        }
        if pos >= input.len() || !c.wants_input() {
            break;
        }
        let end = (pos + step).min(input.len());
        pos += c.feed(&input[pos..end], &mut h).max(1);
    }
});
