//! S3's multipart uploads, the operations that need more than one request's worth of
//! state: CompleteMultipartUpload, ListParts and ListMultipartUploads. Creating and
//! aborting an upload, and receiving a part, are dispatched in [`super::operations`].
//!
//! Contract: parts are checked as S3 checks them (ascending part numbers, ETags that
//! match, every part but the last at least [`MIN_PART_SIZE`]); the completed object's
//! ETag is the MD5 of the parts' MD5s with the part count.

use super::*;

impl S3Handler<'_> {
    /// CompleteMultipartUpload: the listed parts become the object.
    pub(super) fn complete_upload(
        &mut self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        head: &Head,
        body: &[u8],
    ) -> Result<Response, Error> {
        self.s3.store.upload(bucket, key, upload_id)?;
        let text = std::str::from_utf8(body).map_err(|_| Error::MalformedXml)?;
        let mut listed = Vec::new();
        for p in xml::elements(text, "Part").ok_or(Error::MalformedXml)? {
            let n = xml::text(p, "PartNumber")
                .and_then(|n| n.trim().parse::<u32>().ok())
                .ok_or(Error::MalformedXml)?;
            let etag = xml::text(p, "ETag").ok_or(Error::MalformedXml)?;
            listed.push((n, etag));
        }
        let meta = self.s3.store.complete_upload(
            bucket,
            key,
            upload_id,
            &listed,
            MIN_PART_SIZE,
            self.now,
        )?;
        let host = head.header("host").unwrap_or("s3.amazonaws.com");
        let location = format!("http://{host}/{bucket}/{}", url_encode(key));
        Ok(xml_response(
            200,
            format!(
                "<CompleteMultipartUploadResult xmlns=\"{XMLNS}\">{}{}{}{}</CompleteMultipartUploadResult>",
                el("Location", &location),
                el("Bucket", bucket),
                el("Key", key),
                el("ETag", &meta.etag)
            ),
        ))
    }

    /// ListParts of one upload in progress.
    pub(super) fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        q: &Query,
    ) -> Result<Response, Error> {
        let u = self.s3.store.upload(bucket, key, upload_id)?;
        let max = q
            .get("max-parts")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1000)
            .min(1000);
        let marker = q
            .get("part-number-marker")
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        let mut x = format!("<ListPartsResult xmlns=\"{XMLNS}\">");
        x += &el("Bucket", bucket);
        x += &el("Key", key);
        x += &el("UploadId", upload_id);
        x += &el("PartNumberMarker", &marker.to_string());
        let parts: Vec<_> = u.parts.range(marker.saturating_add(1)..).collect();
        let truncated = parts.len() > max;
        let shown = parts.get(..max.min(parts.len())).unwrap_or(&[]);
        if let Some((n, _)) = shown.last() {
            x += &el("NextPartNumberMarker", &n.to_string());
        }
        x += &el("MaxParts", &max.to_string());
        x += &el("IsTruncated", if truncated { "true" } else { "false" });
        for (n, p) in shown {
            x += &format!(
                "<Part>{}{}{}{}</Part>",
                el("PartNumber", &n.to_string()),
                el("LastModified", &iso8601(p.modified_unix_millis)),
                el("ETag", &p.etag),
                el("Size", &p.size.to_string())
            );
        }
        x += "<StorageClass>STANDARD</StorageClass></ListPartsResult>";
        Ok(xml_response(200, x))
    }

    /// ListMultipartUploads of `bucket`.
    pub(super) fn list_uploads(&self, bucket: &str) -> Result<Response, Error> {
        self.s3.store.bucket(bucket)?;
        let mut x = format!("<ListMultipartUploadsResult xmlns=\"{XMLNS}\">");
        x += &el("Bucket", bucket);
        x += "<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>";
        for (id, u) in self.s3.store.uploads_of(bucket) {
            x += &format!(
                "<Upload>{}{}{}<StorageClass>STANDARD</StorageClass></Upload>",
                el("Key", &u.key),
                el("UploadId", id),
                el("Initiated", &iso8601(u.initiated))
            );
        }
        x += "</ListMultipartUploadsResult>";
        Ok(xml_response(200, x))
    }
}
