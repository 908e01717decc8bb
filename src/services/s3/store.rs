//! S3's buckets, objects and multipart uploads on disk, with an in-memory index.
//!
//! Contract: a [`Store`] owns one directory (one per lab). Object bytes only ever live in
//! files: bodies are written to a [`TempFile`] as they arrive and renamed into place when
//! complete, and reads are file ranges ([`Store::segments`]). The index (bucket names,
//! object metadata, upload parts) is in memory and mirrored to small JSON files, so a
//! restarted router finds the lab's buckets and objects again; multipart uploads in
//! progress are not kept across a restart (their parts are removed on open).
//!
//! Layout under the root:
//! - `<bucket>/.bucket`: `{"created": ms, "region": "…"}`; `<bucket>/.policy.json`.
//! - `<bucket>/<h>.meta`: an object's [`ObjectMeta`], `h` = SHA-256 of the key in hex, so
//!   no key (`..`, slashes, 1024 bytes) can name a path outside the bucket.
//! - `<bucket>/<h>.<gen>` (single PUT) or `<bucket>/<h>.<gen>.<n>` (the parts of a
//!   completed multipart upload, renamed, not copied): the bytes. Data files are never
//!   modified; a new version gets new names, and copies are hard links.
//! - `<bucket>/.tmp/<n>`: bodies being received; `<bucket>/.uploads/<id>/<part>`: parts.
//!
//! Errors are S3's ([`Error`]); file-system failures are `InternalError`.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::{hex, valid_bucket_name, Error};

/// One piece of an object's bytes: a file in the bucket directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    pub file: String,
    pub size: u64,
}

/// What S3 knows of an object besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// With its quotes, as S3 sends it.
    pub etag: String,
    pub content_type: String,
    pub modified_unix_millis: u64,
    /// Stored headers sent back on GET (`Content-Encoding`, `Cache-Control`, `x-amz-meta-*`…).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    pub segments: Vec<Segment>,
}

/// One bucket.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bucket {
    pub created: u64,
    pub region: String,
    pub objects: BTreeMap<String, ObjectMeta>,
    pub policy: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct BucketFile {
    created: u64,
    region: String,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub etag: String,
    pub md5: [u8; 16],
    pub size: u64,
    pub modified_unix_millis: u64,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
    pub initiated: u64,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub parts: BTreeMap<u32, Part>,
}

/// A file being written that disappears unless committed (renamed away).
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    /// Appends bytes.
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.write_all(data),
            None => Err(std::io::Error::other("closed")),
        }
    }

    /// Closes the file and renames it to `to`.
    fn commit(mut self, to: &Path) -> std::io::Result<()> {
        self.file = None;
        fs::rename(&self.path, to)?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.file = None;
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// Writes `bytes` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("new");
    fs::write(&tmp, bytes).map_err(internal)?;
    fs::rename(&tmp, path).map_err(internal)
}

/// The ETag of a completed multipart upload: MD5 of the parts' MD5s, dash, count.
pub fn multipart_etag(md5s: &[[u8; 16]]) -> String {
    let mut h = Md5::new();
    for m in md5s {
        h.update(m);
    }
    format!("\"{}-{}\"", hex(&h.finalize()), md5s.len())
}

/// The buckets of one lab.
pub struct Store {
    root: PathBuf,
    buckets: BTreeMap<String, Bucket>,
    uploads: HashMap<String, Upload>,
    seq: u64,
}

impl Store {
    /// Opens (creating) the store at `root`, loading what a previous router left.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        fs::create_dir_all(root)?;
        let mut buckets = BTreeMap::new();
        for entry in fs::read_dir(root)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let dir = entry.path();
            if !valid_bucket_name(&name) {
                continue;
            }
            let Some(bf) = fs::read(dir.join(".bucket"))
                .ok()
                .and_then(|b| serde_json::from_slice::<BucketFile>(&b).ok())
            else {
                continue;
            };
            let _ = fs::remove_dir_all(dir.join(".tmp"));
            let _ = fs::remove_dir_all(dir.join(".uploads"));
            let policy = fs::read(dir.join(".policy.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let mut objects = BTreeMap::new();
            for f in fs::read_dir(&dir)?.flatten() {
                let p = f.path();
                if p.extension().is_some_and(|e| e == "meta") {
                    if let Some(m) = fs::read(&p)
                        .ok()
                        .and_then(|b| serde_json::from_slice::<ObjectMeta>(&b).ok())
                        .filter(|m| {
                            // Data files are plain names in the bucket directory.
                            m.segments.iter().all(|s| {
                                !s.file.is_empty()
                                    && !s.file.starts_with('.')
                                    && !s.file.contains('/')
                            })
                        })
                    {
                        objects.insert(m.key.clone(), m);
                    }
                }
            }
            buckets.insert(
                name,
                Bucket {
                    created: bf.created,
                    region: bf.region,
                    objects,
                    policy,
                },
            );
        }
        Ok(Store {
            root: root.to_path_buf(),
            buckets,
            uploads: HashMap::new(),
            seq: 0,
        })
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A name no other data file of this store has or had.
    fn fresh_name(&mut self, key: &str, now: u64) -> String {
        let n = self.next();
        format!("{}.{now:x}{n:x}", key_hash(key))
    }

    fn dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    /// Every bucket, by name.
    pub fn buckets(&self) -> &BTreeMap<String, Bucket> {
        &self.buckets
    }

    /// A bucket that exists.
    pub fn bucket(&self, name: &str) -> Result<&Bucket, Error> {
        if !valid_bucket_name(name) {
            return Err(Error::InvalidBucketName(name.to_string()));
        }
        self.buckets
            .get(name)
            .ok_or_else(|| Error::NoSuchBucket(name.to_string()))
    }

    /// Creates a bucket.
    pub fn create_bucket(&mut self, name: &str, region: &str, now: u64) -> Result<(), Error> {
        if !valid_bucket_name(name) {
            return Err(Error::InvalidBucketName(name.to_string()));
        }
        if self.buckets.contains_key(name) {
            return Err(Error::BucketAlreadyOwnedByYou(name.to_string()));
        }
        let dir = self.dir(name);
        fs::create_dir_all(&dir).map_err(internal)?;
        let bf = BucketFile {
            created: now,
            region: region.to_string(),
        };
        write_atomic(
            &dir.join(".bucket"),
            &serde_json::to_vec(&bf).map_err(internal)?,
        )?;
        self.buckets.insert(
            name.to_string(),
            Bucket {
                created: now,
                region: region.to_string(),
                ..Bucket::default()
            },
        );
        Ok(())
    }

    /// Deletes an empty bucket (and its uploads in progress).
    pub fn delete_bucket(&mut self, name: &str) -> Result<(), Error> {
        if !self.bucket(name)?.objects.is_empty() {
            return Err(Error::BucketNotEmpty(name.to_string()));
        }
        self.uploads.retain(|_, u| u.bucket != name);
        fs::remove_dir_all(self.dir(name)).map_err(internal)?;
        self.buckets.remove(name);
        Ok(())
    }

    /// Sets (`Some`) or removes a bucket's policy.
    pub fn set_policy(
        &mut self,
        bucket: &str,
        policy: Option<serde_json::Value>,
    ) -> Result<(), Error> {
        self.bucket(bucket)?;
        let path = self.dir(bucket).join(".policy.json");
        match &policy {
            Some(p) => write_atomic(&path, &serde_json::to_vec(p).map_err(internal)?)?,
            None => match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(internal(e)),
            },
        }
        if let Some(b) = self.buckets.get_mut(bucket) {
            b.policy = policy;
        }
        Ok(())
    }

    /// A bucket's policy, if the bucket exists and has one.
    pub fn policy(&self, bucket: &str) -> Option<&serde_json::Value> {
        self.buckets.get(bucket)?.policy.as_ref()
    }

    /// A new temporary file in `bucket` for a body on its way.
    pub fn temp_file(&mut self, bucket: &str) -> Result<TempFile, Error> {
        self.bucket(bucket)?;
        let dir = self.dir(bucket).join(".tmp");
        fs::create_dir_all(&dir).map_err(internal)?;
        let path = dir.join(self.next().to_string());
        let file = File::create(&path).map_err(internal)?;
        Ok(TempFile {
            path,
            file: Some(file),
        })
    }

    /// An object.
    pub fn object(&self, bucket: &str, key: &str) -> Result<&ObjectMeta, Error> {
        self.bucket(bucket)?
            .objects
            .get(key)
            .ok_or_else(|| Error::NoSuchKey(key.to_string()))
    }

    /// The files holding `size` bytes of `meta` from `offset`, as `(path, offset, len)`.
    pub fn segments(
        &self,
        bucket: &str,
        meta: &ObjectMeta,
        offset: u64,
        len: u64,
    ) -> Vec<(PathBuf, u64, u64)> {
        let dir = self.dir(bucket);
        let mut out = Vec::new();
        let (mut skip, mut left) = (offset, len);
        for s in &meta.segments {
            if left == 0 {
                break;
            }
            if skip >= s.size {
                skip -= s.size;
                continue;
            }
            let n = (s.size - skip).min(left);
            out.push((dir.join(&s.file), skip, n));
            left -= n;
            skip = 0;
        }
        out
    }

    /// Installs `meta` as the object's new version, removing the old one's files.
    fn install(&mut self, bucket: &str, meta: ObjectMeta) -> Result<(), Error> {
        let dir = self.dir(bucket);
        let meta_path = dir.join(format!("{}.meta", key_hash(&meta.key)));
        write_atomic(&meta_path, &serde_json::to_vec(&meta).map_err(internal)?)?;
        let b = self
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| Error::NoSuchBucket(bucket.to_string()))?;
        if let Some(old) = b.objects.insert(meta.key.clone(), meta) {
            for s in old.segments {
                let _ = fs::remove_file(dir.join(s.file));
            }
        }
        Ok(())
    }

    /// Stores a received body as object `meta.key` (`meta.segments` is filled here).
    pub fn put_object(
        &mut self,
        bucket: &str,
        mut meta: ObjectMeta,
        body: TempFile,
    ) -> Result<(), Error> {
        self.bucket(bucket)?;
        let name = self.fresh_name(&meta.key, meta.modified_unix_millis);
        body.commit(&self.dir(bucket).join(&name))
            .map_err(internal)?;
        meta.segments = vec![Segment {
            file: name,
            size: meta.size,
        }];
        self.install(bucket, meta)
    }

    /// Copies an object (hard links: data files are never modified). `meta` describes the
    /// copy; its size and segments are the source's.
    pub fn copy_object(
        &mut self,
        src_bucket: &str,
        src_key: &str,
        bucket: &str,
        mut meta: ObjectMeta,
    ) -> Result<ObjectMeta, Error> {
        let src = self.object(src_bucket, src_key)?.clone();
        self.bucket(bucket)?;
        let (from, to) = (self.dir(src_bucket), self.dir(bucket));
        let mut segments = Vec::new();
        for s in &src.segments {
            let name = self.fresh_name(&meta.key, meta.modified_unix_millis);
            fs::hard_link(from.join(&s.file), to.join(&name)).map_err(internal)?;
            segments.push(Segment {
                file: name,
                size: s.size,
            });
        }
        meta.size = src.size;
        meta.segments = segments;
        self.install(bucket, meta.clone())?;
        Ok(meta)
    }

    /// Deletes an object; deleting a key that does not exist succeeds.
    pub fn delete_object(&mut self, bucket: &str, key: &str) -> Result<(), Error> {
        self.bucket(bucket)?;
        let dir = self.dir(bucket);
        if let Some(b) = self.buckets.get_mut(bucket) {
            if let Some(old) = b.objects.remove(key) {
                let _ = fs::remove_file(dir.join(format!("{}.meta", key_hash(key))));
                for s in old.segments {
                    let _ = fs::remove_file(dir.join(s.file));
                }
            }
        }
        Ok(())
    }

    // ---- multipart uploads ------------------------------------------------------------

    /// Starts a multipart upload; returns its id.
    pub fn create_upload(&mut self, mut upload: Upload) -> Result<String, Error> {
        self.bucket(&upload.bucket)?;
        let n = self.next();
        let id = {
            let mut h = Sha256::new();
            h.update(format!(
                "{}\0{}\0{}\0{n}",
                upload.bucket, upload.key, upload.initiated
            ));
            hex(&h.finalize())
        };
        let dir = self.dir(&upload.bucket).join(".uploads").join(&id);
        fs::create_dir_all(&dir).map_err(internal)?;
        upload.parts.clear();
        self.uploads.insert(id.clone(), upload);
        Ok(id)
    }

    /// An upload in progress for `bucket`/`key`.
    pub fn upload(&self, bucket: &str, key: &str, id: &str) -> Result<&Upload, Error> {
        self.bucket(bucket)?;
        self.uploads
            .get(id)
            .filter(|u| u.bucket == bucket && u.key == key)
            .ok_or_else(|| Error::NoSuchUpload(id.to_string()))
    }

    /// The uploads in progress in `bucket`, by key then id.
    pub fn uploads_of(&self, bucket: &str) -> Vec<(&String, &Upload)> {
        let mut v: Vec<_> = self
            .uploads
            .iter()
            .filter(|(_, u)| u.bucket == bucket)
            .collect();
        v.sort_by(|a, b| (&a.1.key, a.0).cmp(&(&b.1.key, b.0)));
        v
    }

    fn part_path(&self, bucket: &str, id: &str, n: u32) -> PathBuf {
        self.dir(bucket)
            .join(".uploads")
            .join(id)
            .join(n.to_string())
    }

    /// Stores a received part (replacing a part with the same number).
    pub fn put_part(
        &mut self,
        bucket: &str,
        key: &str,
        id: &str,
        n: u32,
        part: Part,
        body: TempFile,
    ) -> Result<(), Error> {
        self.upload(bucket, key, id)?;
        body.commit(&self.part_path(bucket, id, n))
            .map_err(internal)?;
        if let Some(u) = self.uploads.get_mut(id) {
            u.parts.insert(n, part);
        }
        Ok(())
    }

    /// Completes an upload from the listed `(part number, ETag)`s: the parts become the
    /// object's segments (renamed, not copied). Returns the new object.
    pub fn complete_upload(
        &mut self,
        bucket: &str,
        key: &str,
        id: &str,
        listed: &[(u32, String)],
        min_part: u64,
        now: u64,
    ) -> Result<ObjectMeta, Error> {
        let upload = self.upload(bucket, key, id)?.clone();
        if listed.is_empty() {
            return Err(Error::MalformedXml);
        }
        let mut md5s = Vec::new();
        let mut size = 0u64;
        if listed
            .windows(2)
            .any(|w| w.first().map(|p| p.0) >= w.get(1).map(|p| p.0))
        {
            return Err(Error::InvalidPartOrder);
        }
        let mut parts = Vec::new();
        for (n, etag) in listed {
            let part = upload.parts.get(n).ok_or(Error::InvalidPart(*n))?;
            if etag.trim().trim_matches('"').to_ascii_lowercase() != part.etag.trim_matches('"') {
                return Err(Error::InvalidPart(*n));
            }
            parts.push(part);
        }
        for (i, part) in parts.iter().enumerate() {
            if i + 1 < parts.len() && part.size < min_part {
                return Err(Error::EntityTooSmall);
            }
            md5s.push(part.md5);
            size += part.size;
        }
        let dir = self.dir(bucket);
        let mut segments = Vec::new();
        for (n, _) in listed {
            let name = self.fresh_name(key, now);
            fs::rename(self.part_path(bucket, id, *n), dir.join(&name)).map_err(internal)?;
            let size = upload.parts.get(n).map_or(0, |p| p.size);
            segments.push(Segment { file: name, size });
        }
        let meta = ObjectMeta {
            key: key.to_string(),
            size,
            etag: multipart_etag(&md5s),
            content_type: upload.content_type.clone(),
            modified_unix_millis: now,
            headers: upload.headers.clone(),
            segments,
        };
        self.install(bucket, meta.clone())?;
        self.abort_upload(bucket, key, id)?;
        Ok(meta)
    }

    /// Abandons an upload and its parts.
    pub fn abort_upload(&mut self, bucket: &str, key: &str, id: &str) -> Result<(), Error> {
        self.upload(bucket, key, id)?;
        let _ = fs::remove_dir_all(self.dir(bucket).join(".uploads").join(id));
        self.uploads.remove(id);
        Ok(())
    }
}

/// The file-name stem of a key: SHA-256 in hex.
pub fn key_hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}
