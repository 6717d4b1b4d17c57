//! Config-file sync: a service's folder of config files kept in S3 under
//! `s3://BUCKET/<app>/<env>/<service>/`, and a hash over all of them (`WHARF_CONFIG_HASH`) in the
//! task definition, so that a change of files alone registers a new revision and rolls the service.
//!
//! [`scan`] and [`prepare`] are pure over the files (rendering uses them, offline too); [`diff`]
//! reads the bucket (deploy's plan, `--dry-run`); [`apply`] writes it (deploy, under the lock).
//! Files compare by content: S3's ETag is the MD5 of a single-part upload without KMS, and every
//! upload also carries the SHA-256 as metadata for buckets whose ETags are not MD5s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use md5::Md5;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::project::manifest::Manifest;
use crate::project::unresolved::is_unresolved;
use crate::text::hex;
use toml::Spanned;

/// The environment variable wharf adds to every container of a service with config files.
pub const HASH_VARIABLE: &str = "WHARF_CONFIG_HASH";
/// Object metadata holding the SHA-256 of the content (`x-amz-meta-wharf-sha256`).
const SHA_METADATA: &str = "wharf-sha256";
/// Uploads at once.
const PARALLEL: usize = 8;

/// One local file of a config folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Path relative to the folder, with `/` separators (the part of the S3 key after the prefix).
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub md5: String,
    pub size: u64,
}

/// The files of a config folder, sorted by name, and the hash over all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSet {
    pub dir: PathBuf,
    pub files: Vec<LocalFile>,
    /// SHA-256 over every file's name and content hash: changes when any file is added, removed,
    /// renamed or changed, and only then.
    pub hash: String,
}

/// Where a service's files go, and what they are.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub bucket: String,
    /// Key prefix without slashes at either end (keys are `prefix/name`).
    pub prefix: String,
    pub files: FileSet,
}

impl Prepared {
    /// `s3://bucket/prefix/`.
    pub fn uri(&self) -> String {
        format!("s3://{}/{}/", self.bucket, self.prefix)
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{}", self.prefix, name)
    }

    /// What templates see as `config`.
    pub fn template_value(&self) -> Value {
        json!({
            "bucket": self.bucket,
            "prefix": self.prefix,
            "uri": self.uri(),
            "hash": self.files.hash,
        })
    }
}

/// Reads every file under `dir` (recursively; symbolic links followed) and hashes it.
pub fn scan(dir: &Path) -> Result<FileSet> {
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut all = Sha256::new();
    for f in &files {
        all.update(f.name.as_bytes());
        all.update([0]);
        all.update(f.sha256.as_bytes());
        all.update([b'\n']);
    }
    Ok(FileSet {
        dir: dir.to_path_buf(),
        files,
        hash: hex(&all.finalize()),
    })
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<LocalFile>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::usage(format!("cannot read config folder {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| {
            Error::usage(format!("cannot read config folder {}: {e}", dir.display()))
        })?;
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(|e| {
            Error::usage(format!("cannot read config file {}: {e}", path.display()))
        })?;
        if meta.is_dir() {
            walk(root, &path, out)?;
            continue;
        }
        if !meta.is_file() {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let mut parts = Vec::new();
        for part in relative.components() {
            let s = part.as_os_str().to_str().ok_or_else(|| {
                Error::usage(format!(
                    "config file name {} is not UTF-8; S3 keys must be",
                    path.display()
                ))
            })?;
            parts.push(s.to_string());
        }
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::usage(format!("cannot read config file {}: {e}", path.display()))
        })?;
        out.push(LocalFile {
            name: parts.join("/"),
            sha256: hex(&Sha256::digest(&bytes)),
            md5: hex(&Md5::digest(&bytes)),
            size: bytes.len() as u64,
            path,
        });
    }
    Ok(())
}

/// The config files of service `key` in `env`, when it declares `[services.KEY.config]`: the
/// folder scanned, the bucket and prefix rendered by `render` (given what the value is and its
/// template; offline they may hold unresolved markers).
pub fn prepare(
    manifest: &Manifest,
    env: &str,
    key: &str,
    render: &dyn Fn(&str, &Spanned<String>) -> Result<String>,
) -> Result<Option<Prepared>> {
    let Some(config) = manifest
        .doc
        .services
        .get(key)
        .and_then(|s| s.config.as_ref())
    else {
        return Ok(None);
    };
    let dir = manifest.resolve_path(config.dir.get_ref());
    if !dir.is_dir() {
        return Err(manifest.error_at(
            config.dir.span(),
            &format!("config folder {} does not exist", dir.display()),
        ));
    }
    let files = scan(&dir)?;
    let bucket = render(&format!("config bucket of service {key}"), &config.bucket)?;
    let bucket = bucket.trim().to_string();
    if !is_unresolved(&bucket) && (bucket.contains('/') || bucket.starts_with("s3:")) {
        return Err(manifest
            .error_at(
                config.bucket.span(),
                &format!("config bucket `{bucket}` must be a bucket name, not a URI or path"),
            )
            .with_hint("put the key prefix in `prefix`"));
    }
    let prefix = match &config.prefix {
        Some(p) => render(&format!("config prefix of service {key}"), p)?,
        None => format!("{}/{}/{}", manifest.app(), env, key),
    };
    let prefix = prefix.trim().trim_matches('/').to_string();
    if prefix.is_empty() {
        if let Some(p) = &config.prefix {
            return Err(manifest.error_at(p.span(), "config prefix must not be empty"));
        }
    }
    Ok(Some(Prepared {
        bucket,
        prefix,
        files,
    }))
}

/// Adds `WHARF_CONFIG_HASH` to the environment of every container of `task_definition`
/// (replacing a value the template set).
pub fn inject_hash(task_definition: &mut Value, hash: &str) {
    let Some(containers) = task_definition
        .get_mut("containerDefinitions")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for container in containers {
        let Some(obj) = container.as_object_mut() else {
            continue;
        };
        let env = obj.entry("environment").or_insert_with(|| json!([]));
        if let Some(list) = env.as_array_mut() {
            list.retain(|e| e["name"] != HASH_VARIABLE);
            list.push(json!({"name": HASH_VARIABLE, "value": hash}));
        }
    }
}

/// What a sync would change in the bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Names to upload (new or changed).
    pub upload: Vec<String>,
    /// Names to delete (in the bucket, not in the folder).
    pub delete: Vec<String>,
    pub unchanged: usize,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.upload.is_empty() && self.delete.is_empty()
    }

    /// "2 to upload (a.conf, b.conf), 1 to delete (old.conf), 3 unchanged".
    pub fn summary(&self, done: bool) -> String {
        let list = |v: &[String]| {
            if v.len() <= 5 {
                v.join(", ")
            } else {
                format!("{}, and {} more", v[..5].join(", "), v.len() - 5)
            }
        };
        let (up, del) = if done {
            ("uploaded", "deleted")
        } else {
            ("to upload", "to delete")
        };
        let mut parts = Vec::new();
        if !self.upload.is_empty() {
            parts.push(format!(
                "{} {up} ({})",
                self.upload.len(),
                list(&self.upload)
            ));
        }
        if !self.delete.is_empty() {
            parts.push(format!(
                "{} {del} ({})",
                self.delete.len(),
                list(&self.delete)
            ));
        }
        parts.push(format!("{} unchanged", self.unchanged));
        parts.join(", ")
    }
}

/// Compares the folder with the bucket (ListObjectsV2 under the prefix; HeadObject only for
/// objects whose ETag is not an MD5). Reads only.
pub async fn diff(s3: &aws_sdk_s3::Client, service: &str, p: &Prepared) -> Result<Changes> {
    let remote = list(s3, service, p).await?;
    let mut changes = Changes::default();
    for f in &p.files.files {
        match remote.get(&f.name) {
            None => changes.upload.push(f.name.clone()),
            Some(etag) if etag.eq_ignore_ascii_case(&f.md5) => changes.unchanged += 1,
            Some(etag) if is_md5(etag) => changes.upload.push(f.name.clone()),
            Some(_) => {
                if remote_sha256(s3, p, &f.name).await?.as_deref() == Some(f.sha256.as_str()) {
                    changes.unchanged += 1;
                } else {
                    changes.upload.push(f.name.clone());
                }
            }
        }
    }
    changes.delete = remote
        .keys()
        .filter(|name| p.files.files.iter().all(|f| &f.name != *name))
        .cloned()
        .collect();
    Ok(changes)
}

fn is_md5(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Name (after the prefix) -> ETag without quotes, for every object under the prefix.
async fn list(
    s3: &aws_sdk_s3::Client,
    service: &str,
    p: &Prepared,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(&p.bucket)
        .prefix(format!("{}/", p.prefix))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            crate::aws::error("s3:ListObjectsV2", e).with_hint(format!(
                "service {service} syncs its config files to {}; check that the bucket exists and the credentials may list it",
                p.uri()
            ))
        })?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let name = &key[p.prefix.len() + 1..];
            if name.is_empty() || name.ends_with('/') {
                continue;
            }
            let etag = object.e_tag().unwrap_or_default().trim_matches('"');
            out.insert(name.to_string(), etag.to_string());
        }
    }
    Ok(out)
}

async fn remote_sha256(
    s3: &aws_sdk_s3::Client,
    p: &Prepared,
    name: &str,
) -> Result<Option<String>> {
    let head = s3
        .head_object()
        .bucket(&p.bucket)
        .key(p.key(name))
        .send()
        .await
        .map_err(|e| crate::aws::error("s3:HeadObject", e))?;
    Ok(head
        .metadata()
        .and_then(|m| m.get(SHA_METADATA))
        .map(|s| s.to_string()))
}

/// Carries out `changes`: uploads (in parallel, with retries by the SDK) then deletes.
pub async fn apply(s3: &aws_sdk_s3::Client, p: &Prepared, changes: &Changes) -> Result<()> {
    use futures::stream::{StreamExt, TryStreamExt};
    let uploads = changes.upload.iter().map(|name| async move {
        let file = p
            .files
            .files
            .iter()
            .find(|f| &f.name == name)
            .expect("uploads come from the folder's files");
        let bytes = std::fs::read(&file.path).map_err(|e| {
            Error::usage(format!(
                "cannot read config file {}: {e}",
                file.path.display()
            ))
        })?;
        // The file changed since it was hashed: the hash in the task definition would be wrong.
        if hex(&Sha256::digest(&bytes)) != file.sha256 {
            return Err(Error::failed(format!(
                "config file {} changed while deploying; run the deploy again",
                file.path.display()
            )));
        }
        s3.put_object()
            .bucket(&p.bucket)
            .key(p.key(name))
            .metadata(SHA_METADATA, &file.sha256)
            .content_type(content_type(name))
            .body(bytes.into())
            .send()
            .await
            .map_err(|e| {
                crate::aws::error("s3:PutObject", e).with_hint(format!(
                    "uploading {} to {}",
                    file.path.display(),
                    p.uri()
                ))
            })?;
        Ok::<(), Error>(())
    });
    futures::stream::iter(uploads)
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    for chunk in changes.delete.chunks(1000) {
        let objects = chunk
            .iter()
            .map(|name| {
                aws_sdk_s3::types::ObjectIdentifier::builder()
                    .key(p.key(name))
                    .build()
                    .map_err(|e| Error::failed(format!("s3:DeleteObjects: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let delete = aws_sdk_s3::types::Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| Error::failed(format!("s3:DeleteObjects: {e}")))?;
        let out = s3
            .delete_objects()
            .bucket(&p.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| crate::aws::error("s3:DeleteObjects", e))?;
        if let Some(e) = out.errors().first() {
            return Err(Error::aws(format!(
                "s3:DeleteObjects could not delete {} from {}: {}: {}",
                e.key().unwrap_or("?"),
                p.bucket,
                e.code().unwrap_or("Error"),
                e.message().unwrap_or("no message")
            )));
        }
    }
    Ok(())
}

/// A Content-Type from the file name, so that files served from S3 directly look right.
fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "json" => "application/json",
        "yaml" | "yml" => "application/yaml",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" => "text/javascript",
        "xml" => "application/xml",
        "txt" | "conf" | "cfg" | "ini" | "toml" | "properties" | "env" => "text/plain",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    #[test]
    fn scan_names_files_with_slashes_and_hashes_content() {
        let dir = folder(&[
            ("conf.d/default.conf", "server {}"),
            ("html/index.html", "hi"),
        ]);
        let set = scan(dir.path()).unwrap();
        let names: Vec<&str> = set.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["conf.d/default.conf", "html/index.html"]);
        // md5("hi") and sha256("hi"), as S3 and sha256sum print them.
        assert_eq!(set.files[1].md5, "49f68a5c8493ec2c0bf489821c21fc3b");
        assert_eq!(
            set.files[1].sha256,
            "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"
        );
        assert_eq!(set.files[1].size, 2);
    }

    #[test]
    fn hash_changes_with_content_names_and_membership_only() {
        let a = scan(folder(&[("a", "1"), ("b", "2")]).path()).unwrap().hash;
        let same = scan(folder(&[("b", "2"), ("a", "1")]).path()).unwrap().hash;
        let changed = scan(folder(&[("a", "1"), ("b", "3")]).path()).unwrap().hash;
        let renamed = scan(folder(&[("a", "1"), ("c", "2")]).path()).unwrap().hash;
        let removed = scan(folder(&[("a", "1")]).path()).unwrap().hash;
        assert_eq!(a, same);
        assert_eq!(a.len(), 64);
        for other in [changed, renamed, removed] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn hash_goes_into_every_container_once() {
        let mut td = json!({"containerDefinitions": [
            {"name": "app", "environment": [{"name": "A", "value": "1"}, {"name": HASH_VARIABLE, "value": "old"}]},
            {"name": "init"}
        ]});
        inject_hash(&mut td, "abc");
        assert_eq!(
            td["containerDefinitions"][0]["environment"],
            json!([{"name": "A", "value": "1"}, {"name": HASH_VARIABLE, "value": "abc"}])
        );
        assert_eq!(
            td["containerDefinitions"][1]["environment"],
            json!([{"name": HASH_VARIABLE, "value": "abc"}])
        );
    }

    #[test]
    fn summary_lists_what_changes() {
        let c = Changes {
            upload: vec!["a.conf".into()],
            delete: vec!["old.conf".into()],
            unchanged: 2,
        };
        assert_eq!(
            c.summary(false),
            "1 to upload (a.conf), 1 to delete (old.conf), 2 unchanged"
        );
        assert_eq!(
            c.summary(true),
            "1 uploaded (a.conf), 1 deleted (old.conf), 2 unchanged"
        );
        assert!(Changes::default().is_empty());
    }
}
