//! S3's listings: ListBuckets, ListObjects (v1) and ListObjectsV2 (prefix, delimiter and
//! common prefixes, max-keys, markers and continuation tokens, `encoding-type=url`).
//!
//! Contract: listings read the bucket store's in-memory index only; keys come back in
//! byte order, at most [`MAX_KEYS`] per page, as S3 pages them.

use super::*;

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

impl S3Handler<'_> {
    /// ListBuckets: every bucket of the lab, by name.
    pub(super) fn list_buckets(&self) -> Result<Response, Error> {
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

    /// ListObjects (`v2` false) or ListObjectsV2 of `bucket`, as `q` asks.
    pub(super) fn list_objects(
        &self,
        bucket: &str,
        v2: bool,
        q: &Query,
    ) -> Result<Response, Error> {
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
}
