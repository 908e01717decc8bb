//! The little XML S3 needs: escaping for replies, and reading the few request bodies S3
//! takes (`CreateBucketConfiguration`, `CompleteMultipartUpload`, `Delete`).
//!
//! Contract: [`elements`] returns the inner text of each `<name …>…</name>` (or `<name/>`)
//! in document order, without nesting of the same name (S3's request documents have
//! none); [`unescape`] resolves the five named entities and numeric character references.
//! Anything unreadable is `None`, which callers answer with `MalformedXML`. No panics.

/// Escapes text for an element or attribute value.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all, and CR (which parsers fold into LF).
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                o.push_str(&format!("&#x{:X};", c as u32));
            }
            c => o.push(c),
        }
    }
    o
}

/// Resolves entities and character references; `None` on a malformed one.
pub fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i)?);
        let after = rest.get(i + 1..)?;
        let end = after.find(';')?;
        let ent = after.get(..end)?;
        let c = match ent {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let num = ent.strip_prefix('#')?;
                let v = match num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
                    Some(h) => u32::from_str_radix(h, 16).ok()?,
                    None => num.parse::<u32>().ok()?,
                };
                char::from_u32(v)?
            }
        };
        out.push(c);
        rest = after.get(end + 1..)?;
    }
    out.push_str(rest);
    Some(out)
}

/// The raw inner text of every `name` element, in order; `None` if one is not closed.
pub fn elements<'a>(xml: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let mut out = Vec::new();
    let mut pos = 0;
    let close = format!("</{name}>");
    while let Some(found) = xml.get(pos..)?.find(&format!("<{name}")) {
        let start = pos + found + 1 + name.len();
        let after = xml.get(start..)?;
        // `<name>`, `<name attr…>`, `<name/>`; not `<nameOther>`.
        match after.chars().next()? {
            '>' => {
                let body_start = start + 1;
                let len = xml.get(body_start..)?.find(&close)?;
                out.push(xml.get(body_start..body_start + len)?);
                pos = body_start + len + close.len();
            }
            '/' if after.starts_with("/>") => {
                out.push("");
                pos = start + 2;
            }
            c if c.is_whitespace() => {
                let gt = after.find('>')?;
                if after.get(..gt)?.ends_with('/') {
                    out.push("");
                    pos = start + gt + 1;
                } else {
                    let body_start = start + gt + 1;
                    let len = xml.get(body_start..)?.find(&close)?;
                    out.push(xml.get(body_start..body_start + len)?);
                    pos = body_start + len + close.len();
                }
            }
            _ => pos = start,
        }
    }
    Some(out)
}

/// The unescaped text of the first `name` element, if there is one.
pub fn text(xml: &str, name: &str) -> Option<String> {
    elements(xml, name)?.first().and_then(|t| unescape(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_sdks_send() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"a"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part></CompleteMultipartUpload>"#;
        let parts = elements(doc, "Part").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(text(parts[1], "ETag").as_deref(), Some("\"b\""));
        assert_eq!(text(parts[0], "PartNumber").as_deref(), Some("1"));
        assert_eq!(elements(doc, "Missing").unwrap(), Vec::<&str>::new());
        let del = "<Delete><Object><Key>a &amp; b&#x41;&#65;</Key></Object><Object><Key/></Object><Quiet>true</Quiet></Delete>";
        let objs = elements(del, "Object").unwrap();
        assert_eq!(text(objs[0], "Key").as_deref(), Some("a & bAA"));
        assert_eq!(text(objs[1], "Key").as_deref(), Some(""));
        assert_eq!(text(del, "Quiet").as_deref(), Some("true"));
    }

    #[test]
    fn malformed_is_none_and_escape_round_trips() {
        assert!(elements("<Part><ETag>x</Part>", "ETag").is_none());
        assert!(unescape("&bogus;").is_none());
        assert!(unescape("&#xD800;").is_none());
        assert!(unescape("a & b").is_none());
        for s in ["<a&'\"b>", "tab\tline\r\n", "ü日本"] {
            assert_eq!(unescape(&escape(s)).as_deref(), Some(s));
        }
    }
}
