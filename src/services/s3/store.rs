//! S3's buckets, objects and multipart uploads on disk, with an in-memory index.
//!
//! Contract: this is where S3's file I/O happens, and only here. A [`Store`] is the disk:
//! files and directories under one root (one per lab), named by relative paths;
//! [`DiskStore`] is the implementation on the real file system. [`Buckets`] is the index
//! over a `Store` that the S3 operations use. Object bytes only ever live in files: bodies
//! are written to a [`TempFile`] as they arrive and renamed into place when complete, and
//! reads are file ranges ([`Buckets::segments`]) that the connection reads itself. The
//! index (bucket names, object metadata, upload parts) is in memory and mirrored to small
//! JSON files, so a restarted router finds the lab's buckets and objects again; multipart
//! uploads in progress are not kept across a restart (their parts are removed on open).
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
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::{hex, valid_bucket_name, Error};

/// The disk under S3: files and directories named by paths relative to one root.
///
/// Errors are the file system's (`NotFound` when a file or directory is missing);
/// [`Buckets`] turns them into S3's `InternalError` where they matter.
pub trait Store: Send + Sync {
    /// Creates directory `dir` and any missing parents.
    fn create_dir(&self, dir: &Path) -> io::Result<()>;
    /// The names of the entries of directory `dir`, in no particular order.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The whole content of `file`.
    fn read(&self, file: &Path) -> io::Result<Vec<u8>>;
    /// Replaces `file` with `bytes` atomically (a temporary file, then a rename).
    fn write(&self, file: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Creates (or truncates) `file`, to be written as bytes arrive.
    fn create(&self, file: &Path) -> io::Result<Box<dyn Write + Send>>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes `to` a second name of `from`'s data (a hard link).
    fn link(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Deletes `file`.
    fn delete(&self, file: &Path) -> io::Result<()>;
    /// Deletes directory `dir` and everything in it.
    fn delete_dir(&self, dir: &Path) -> io::Result<()>;
    /// Where `file` is for a reader outside the store: the connection reads GET ranges.
    fn locate(&self, file: &Path) -> PathBuf;
}

/// A [`Store`] on the real file system, under `root`.
#[derive(Debug, Clone)]
pub struct DiskStore {
    root: PathBuf,
}

impl DiskStore {
    /// The store under `root` (nothing is created until something is written).
    pub fn new(root: &Path) -> Self {
        DiskStore {
            root: root.to_path_buf(),
        }
    }
}

impl Store for DiskStore {
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(self.root.join(dir))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        Ok(fs::read_dir(self.root.join(dir))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect())
    }

    fn read(&self, file: &Path) -> io::Result<Vec<u8>> {
        fs::read(self.root.join(file))
    }

    fn write(&self, file: &Path, bytes: &[u8]) -> io::Result<()> {
        let path = self.root.join(file);
        let tmp = path.with_extension("new");
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, path)
    }

    fn create(&self, file: &Path) -> io::Result<Box<dyn Write + Send>> {
        Ok(Box::new(fs::File::create(self.root.join(file))?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(self.root.join(from), self.root.join(to))
    }

    fn link(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::hard_link(self.root.join(from), self.root.join(to))
    }

    fn delete(&self, file: &Path) -> io::Result<()> {
        fs::remove_file(self.root.join(file))
    }

    fn delete_dir(&self, dir: &Path) -> io::Result<()> {
        fs::remove_dir_all(self.root.join(dir))
    }

    fn locate(&self, file: &Path) -> PathBuf {
        self.root.join(file)
    }
}

/// One piece of an object's bytes: a file in the bucket directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Segment {
    /// The data file's name in the bucket's directory (`<h>.<gen>` or `<h>.<gen>.<n>`).
    pub file: String,
    /// Its length in bytes.
    pub size: u64,
}

/// What S3 knows of an object besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectMeta {
    /// The object's key.
    pub key: String,
    /// Its size in bytes (the sum of its segments').
    pub size: u64,
    /// With its quotes, as S3 sends it.
    pub etag: String,
    /// `Content-Type` as stored (`binary/octet-stream` when the PUT gave none).
    pub content_type: String,
    /// When it was last written, Unix milliseconds (`Last-Modified`).
    pub modified_unix_millis: u64,
    /// Stored headers sent back on GET (`Content-Encoding`, `Cache-Control`, `x-amz-meta-*`…).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Its bytes: one segment for a single PUT, one per part for a multipart upload.
    pub segments: Vec<Segment>,
}

/// One bucket.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bucket {
    /// When the bucket was created, Unix milliseconds (`CreationDate`).
    pub created: u64,
    /// The region it was created in (`GetBucketLocation`).
    pub region: String,
    /// Its objects by key, in key order (as listings return them).
    pub objects: BTreeMap<String, ObjectMeta>,
    /// Its bucket policy, if one was put.
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
    /// The part's ETag (the MD5 of its bytes in hex, quoted).
    pub etag: String,
    /// The MD5 of its bytes (for the completed object's multipart ETag).
    pub md5: [u8; 16],
    /// Its size in bytes.
    pub size: u64,
    /// When it was uploaded, Unix milliseconds.
    pub modified_unix_millis: u64,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The bucket the object will be in.
    pub bucket: String,
    /// The key it will have.
    pub key: String,
    /// When the upload was created, Unix milliseconds.
    pub initiated: u64,
    /// The object's `Content-Type`, given at CreateMultipartUpload.
    pub content_type: String,
    /// Headers to store with the object (`Cache-Control`, `x-amz-meta-*`, …).
    pub headers: Vec<(String, String)>,
    /// The parts uploaded so far, by part number (a part uploaded again replaces it).
    pub parts: BTreeMap<u32, Part>,
}

/// A file being written that disappears unless committed (renamed away).
pub struct TempFile {
    store: Arc<dyn Store>,
    path: PathBuf,
    file: Option<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for TempFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempFile")
            .field("path", &self.path)
            .field("open", &self.file.is_some())
            .finish()
    }
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
        self.store.rename(&self.path, to)?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.file = None;
        if !self.path.as_os_str().is_empty() {
            let _ = self.store.delete(&self.path);
        }
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

/// The ETag of a completed multipart upload: MD5 of the parts' MD5s, dash, count.
pub fn multipart_etag(md5s: &[[u8; 16]]) -> String {
    let mut h = Md5::new();
    for m in md5s {
        h.update(m);
    }
    format!("\"{}-{}\"", hex(&h.finalize()), md5s.len())
}

/// The buckets of one lab: the in-memory index over a [`Store`].
pub struct Buckets {
    disk: Arc<dyn Store>,
    buckets: BTreeMap<String, Bucket>,
    uploads: HashMap<String, Upload>,
    seq: u64,
}

impl Buckets {
    /// Opens (creating) the store at `root` on disk, loading what a previous router left.
    pub fn open(root: &Path) -> std::io::Result<Self> {
        Self::open_in(Arc::new(DiskStore::new(root)))
    }

    /// Opens (creating) the buckets kept in `disk`, loading what a previous router left.
    pub fn open_in(disk: Arc<dyn Store>) -> std::io::Result<Self> {
        disk.create_dir(Path::new(""))?;
        let mut buckets = BTreeMap::new();
        for name in disk.list(Path::new(""))? {
            let dir = PathBuf::from(&name);
            if !valid_bucket_name(&name) {
                continue;
            }
            let Some(bf) = disk
                .read(&dir.join(".bucket"))
                .ok()
                .and_then(|b| serde_json::from_slice::<BucketFile>(&b).ok())
            else {
                continue;
            };
            let _ = disk.delete_dir(&dir.join(".tmp"));
            let _ = disk.delete_dir(&dir.join(".uploads"));
            let policy = disk
                .read(&dir.join(".policy.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let mut objects = BTreeMap::new();
            for f in disk.list(&dir)? {
                let p = dir.join(f);
                if p.extension().is_some_and(|e| e == "meta") {
                    if let Some(m) = disk
                        .read(&p)
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
        Ok(Buckets {
            disk,
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
        PathBuf::from(bucket)
    }

    /// Writes a small file of the index, as S3's error on failure.
    fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        self.disk.write(path, bytes).map_err(internal)
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
        self.disk.create_dir(&dir).map_err(internal)?;
        let bf = BucketFile {
            created: now,
            region: region.to_string(),
        };
        self.write(
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
        self.disk.delete_dir(&self.dir(name)).map_err(internal)?;
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
            Some(p) => self.write(&path, &serde_json::to_vec(p).map_err(internal)?)?,
            None => match self.disk.delete(&path) {
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
        self.disk.create_dir(&dir).map_err(internal)?;
        let path = dir.join(self.next().to_string());
        let file = self.disk.create(&path).map_err(internal)?;
        Ok(TempFile {
            store: self.disk.clone(),
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
            out.push((self.disk.locate(&dir.join(&s.file)), skip, n));
            left -= n;
            skip = 0;
        }
        out
    }

    /// Installs `meta` as the object's new version, removing the old one's files.
    fn install(&mut self, bucket: &str, meta: ObjectMeta) -> Result<(), Error> {
        let dir = self.dir(bucket);
        let meta_path = dir.join(format!("{}.meta", key_hash(&meta.key)));
        self.write(&meta_path, &serde_json::to_vec(&meta).map_err(internal)?)?;
        let b = self
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| Error::NoSuchBucket(bucket.to_string()))?;
        if let Some(old) = b.objects.insert(meta.key.clone(), meta) {
            for s in old.segments {
                let _ = self.disk.delete(&dir.join(s.file));
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
            self.disk
                .link(&from.join(&s.file), &to.join(&name))
                .map_err(internal)?;
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
                let _ = self
                    .disk
                    .delete(&dir.join(format!("{}.meta", key_hash(key))));
                for s in old.segments {
                    let _ = self.disk.delete(&dir.join(s.file));
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
        self.disk.create_dir(&dir).map_err(internal)?;
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
            self.disk
                .rename(&self.part_path(bucket, id, *n), &dir.join(&name))
                .map_err(internal)?;
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
        let _ = self
            .disk
            .delete_dir(&self.dir(bucket).join(".uploads").join(id));
        self.uploads.remove(id);
        Ok(())
    }
}

/// The file-name stem of a key: SHA-256 in hex.
pub fn key_hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory under the system's temporary directory, removed when dropped.
    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_disk_store_writes_reads_lists_and_deletes() {
        let dir =
            TempDir(std::env::temp_dir().join(format!("vpclab-store-{}", std::process::id())));
        let disk = DiskStore::new(&dir.0);
        let (bucket, file) = (Path::new("b"), Path::new("b/k.meta"));
        disk.create_dir(bucket).unwrap();
        disk.write(file, b"one").unwrap();
        disk.write(file, b"two").unwrap();
        assert_eq!(disk.read(file).unwrap(), b"two");
        assert_eq!(disk.locate(file), dir.0.join("b/k.meta"));
        assert_eq!(
            disk.list(bucket).unwrap(),
            ["k.meta"],
            "no temporary file left"
        );

        let mut streamed = disk.create(Path::new("b/t")).unwrap();
        streamed.write_all(b"body").unwrap();
        drop(streamed);
        disk.rename(Path::new("b/t"), Path::new("b/d")).unwrap();
        disk.link(Path::new("b/d"), Path::new("b/copy")).unwrap();
        assert_eq!(disk.read(Path::new("b/copy")).unwrap(), b"body");
        let mut names = disk.list(bucket).unwrap();
        names.sort();
        assert_eq!(names, ["copy", "d", "k.meta"]);

        disk.delete(file).unwrap();
        let gone = disk.read(file).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
        disk.delete_dir(bucket).unwrap();
        assert!(disk.list(Path::new("")).unwrap().is_empty());
    }

    #[test]
    fn a_temporary_file_is_removed_unless_committed() {
        let dir =
            TempDir(std::env::temp_dir().join(format!("vpclab-store-tmp-{}", std::process::id())));
        let mut b = Buckets::open(&dir.0).unwrap();
        b.create_bucket("tmpb", "ap-northeast-2", 0).unwrap();
        let mut t = b.temp_file("tmpb").unwrap();
        t.write(b"x").unwrap();
        assert_eq!(b.disk.list(Path::new("tmpb/.tmp")).unwrap().len(), 1);
        drop(t);
        assert!(b.disk.list(Path::new("tmpb/.tmp")).unwrap().is_empty());
    }
}
