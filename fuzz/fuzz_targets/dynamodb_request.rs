//! Any bytes as DynamoDB requests: answers (200, 400 or 413 with a correct CRC32), never a
//! panic. The input is either an HTTP stream (starts with `POST ` or `GET `: pipelined
//! requests through `serve_stream`) or requests separated by 0xFF, each `<Operation> <JSON
//! body>`, applied in order to one fresh in-memory DynamoDB (so a CreateTable seeds the
//! PutItem and Query that follow).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpclab::services::dynamodb::{DynamoDb, Via, MAX_BODY};
use vpclab::services::http::{serve_stream, ConnState, Framing, Head, Request, Response};

const NOW: u64 = 1_767_225_600_000;

fn checked(r: Response) -> Response {
    assert!(matches!(r.status, 200 | 400 | 413), "status {}", r.status);
    if r.header("Content-Type") == Some("application/x-amz-json-1.0") {
        let crc = crc32fast::hash(&r.body).to_string();
        assert_eq!(r.header("x-amz-crc32"), Some(crc.as_str()));
        assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_ok());
    }
    r
}

fuzz_target!(|data: &[u8]| {
    let mut db = DynamoDb::new("ap-northeast-2");
    let via = Via::Internet {
        src: std::net::Ipv4Addr::new(15, 164, 0, 1),
    };
    if data.starts_with(b"POST ") || data.starts_with(b"GET ") {
        let mut input = data.to_vec();
        let mut out = Vec::new();
        let _ = serve_stream(&mut input, &mut out, MAX_BODY, &mut ConnState::default(), |req| {
            checked(db.handle(&via, req, NOW))
        });
        return;
    }
    for chunk in data.split(|b| *b == 0xff).take(64) {
        let (op, body) = match chunk.iter().position(|b| *b == b' ') {
            Some(i) => (&chunk[..i], &chunk[i + 1..]),
            None => (chunk, &[][..]),
        };
        let req = Request {
            head: Head {
                method: "POST".into(),
                target: "/".into(),
                minor_version: 1,
                headers: vec![
                    (
                        "X-Amz-Target".into(),
                        [b"DynamoDB_20120810.".as_slice(), op].concat(),
                    ),
                    ("Content-Type".into(), b"application/x-amz-json-1.0".to_vec()),
                ],
                framing: Framing::Length(body.len() as u64),
            },
            body: body.to_vec(),
        };
        checked(db.handle(&via, &req, NOW));
    }
});
