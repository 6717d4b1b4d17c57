//! A small client for the OCI distribution API (what ECR's registry endpoint speaks): read a
//! manifest's digest, and copy an image (manifest and missing blobs) from one registry to another.
//!
//! Authentication is HTTP Basic with the user and password of ECR's GetAuthorizationToken, which
//! ECR (and the test bed's registry) accept directly. Registries that require the bearer-token
//! handshake (Docker Hub, GHCR) are not spoken to here; wharf only copies between ECR registries.
//! Why not the `oci-client` crate: it brings 61 more crates into the build (measured with
//! `cargo tree`), while reqwest brings 9 and the four calls below are all wharf needs.

use sha2::{Digest as _, Sha256};

use crate::engine::is_loopback;
use crate::error::{Error, Result};

/// Media types wharf asks for, so the registry never converts to the old schema 1.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// Where a registry is and how to log in to it.
#[derive(Clone)]
pub struct Registry {
    /// `host[:port]` as in image references.
    pub host: String,
    /// `https://host` (or `http://` for a loopback test registry).
    pub base: String,
    pub username: String,
    password: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches output or logs.
        f.debug_struct("Registry")
            .field("base", &self.base)
            .finish()
    }
}

/// A manifest as the registry holds it.
#[derive(Debug, Clone)]
pub struct ImageManifest {
    pub media_type: String,
    pub digest: String,
    pub body: Vec<u8>,
}

impl Registry {
    /// `endpoint` is ECR's proxyEndpoint (`https://...`) or a bare host.
    pub fn new(host: &str, endpoint: Option<&str>, username: &str, password: &str) -> Registry {
        let base = match endpoint {
            Some(e) if e.starts_with("http://") || e.starts_with("https://") => {
                e.trim_end_matches('/').to_string()
            }
            _ if is_loopback(host) => format!("http://{host}"),
            _ => format!("https://{host}"),
        };
        let plain_http = base.starts_with("http://");
        Registry {
            host: host.to_string(),
            base,
            username: username.to_string(),
            password: password.to_string(),
            // A plain-HTTP registry (loopback) needs no trust roots: loading the system's takes
            // longer than the requests.
            http: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .tls_built_in_root_certs(!plain_http)
                .build()
                .unwrap_or_default(),
        }
    }

    fn url(&self, repository: &str, kind: &str, reference: &str) -> String {
        format!("{}/v2/{repository}/{kind}/{reference}", self.base)
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(&self.username, Some(&self.password))
    }

    /// The digest of `repository:reference`, or None when the registry does not have it.
    pub async fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<String>> {
        let url = self.url(repository, "manifests", reference);
        let resp = self
            .request(reqwest::Method::HEAD, &url)
            .header("Accept", MANIFEST_TYPES)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        match resp.status().as_u16() {
            200 => Ok(resp
                .headers()
                .get("Docker-Content-Digest")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)),
            404 => Ok(None),
            401 | 403 => Err(self.rejected()),
            code => Err(Error::failed(format!(
                "registry {} answered HTTP {code} for the manifest of {repository}:{reference}",
                self.host
            ))
            .retryable()),
        }
    }

    /// The manifest `repository:reference`, with its digest checked against its bytes.
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<ImageManifest>> {
        let url = self.url(repository, "manifests", reference);
        let resp = self
            .request(reqwest::Method::GET, &url)
            .header("Accept", MANIFEST_TYPES)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            401 | 403 => return Err(self.rejected()),
            code => {
                return Err(Error::failed(format!(
                    "registry {} answered HTTP {code} for the manifest of {repository}:{reference}",
                    self.host
                )))
            }
        }
        let media_type = resp
            .headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.unreachable(e))?
            .to_vec();
        Ok(Some(ImageManifest {
            media_type,
            digest: sha256_digest(&body),
            body,
        }))
    }

    async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool> {
        let resp = self
            .request(
                reqwest::Method::HEAD,
                &self.url(repository, "blobs", digest),
            )
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            401 | 403 => Err(self.rejected()),
            code => Err(Error::failed(format!(
                "registry {} answered HTTP {code} for blob {digest}",
                self.host
            ))),
        }
    }

    /// Starts reading blob `digest`: its length and a stream of its bytes that ends with an error
    /// when the bytes do not hash to `digest`, so an upload fed from it fails instead of storing
    /// a corrupt blob. Nothing is held in memory beyond a chunk.
    async fn get_blob(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<(
        Option<u64>,
        impl futures::Stream<Item = std::io::Result<hyper::body::Bytes>> + Send + 'static,
    )> {
        use futures::StreamExt;
        let resp = self
            .request(reqwest::Method::GET, &self.url(repository, "blobs", digest))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(Error::failed(format!(
                "registry {} answered HTTP {} for blob {digest} of {repository}",
                self.host,
                resp.status().as_u16()
            )));
        }
        let length = resp.content_length();
        let hasher = std::sync::Arc::new(std::sync::Mutex::new(Sha256::new()));
        let seen = hasher.clone();
        let chunks = resp.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            if let Ok(mut h) = seen.lock() {
                h.update(&chunk);
            }
            Ok(chunk)
        });
        let (want, host, repo) = (
            digest.to_string(),
            self.host.clone(),
            repository.to_string(),
        );
        let check = futures::stream::once(async move {
            let hash = hasher
                .lock()
                .map(|h| h.clone().finalize())
                .map_err(|_| std::io::Error::other("blob hasher poisoned"))?;
            if hex_digest(&hash) == want {
                Ok(hyper::body::Bytes::new())
            } else {
                Err(std::io::Error::other(format!(
                    "blob {want} of {repo} from {host} does not match its digest"
                )))
            }
        });
        Ok((length, chunks.chain(check)))
    }

    async fn put_blob(
        &self,
        repository: &str,
        digest: &str,
        length: Option<u64>,
        body: reqwest::Body,
    ) -> Result<()> {
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let resp = self
            .request(reqwest::Method::POST, &start)
            .header("Content-Length", "0")
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(self.status_error(
                resp.status().as_u16(),
                "start a blob upload",
                repository,
            ));
        }
        let location = resp
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Error::failed(format!("registry {} gave no upload location", self.host))
            })?;
        let location = if location.starts_with("http") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = self
            .request(
                reqwest::Method::PUT,
                &format!("{location}{sep}digest={digest}"),
            )
            .header("Content-Type", "application/octet-stream");
        // Registries (ECR among them) want the length of a monolithic upload up front.
        let resp = match length {
            Some(n) => resp.header("Content-Length", n),
            None => resp,
        }
        .body(body)
        .send()
        .await
        .map_err(|e| self.unreachable(e))?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp.status().as_u16(), "upload a blob", repository));
        }
        Ok(())
    }

    /// Stores `manifest` as `repository:tag`; returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        repository: &str,
        tag: &str,
        manifest: &ImageManifest,
    ) -> Result<String> {
        let resp = self
            .request(
                reqwest::Method::PUT,
                &self.url(repository, "manifests", tag),
            )
            .header("Content-Type", &manifest.media_type)
            .body(manifest.body.clone())
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let text = resp.text().await.unwrap_or_default();
            let mut e = self.status_error(status, "store the manifest", repository);
            if text.contains("TAG_INVALID") || text.contains("immutable") {
                e = Error::failed(format!(
                    "registry {} refused tag {tag} of {repository}: the tag exists with another image and tags are immutable",
                    self.host
                ));
            }
            return Err(e);
        }
        Ok(resp
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| manifest.digest.clone()))
    }

    fn rejected(&self) -> Error {
        Error::aws(format!(
            "registry {} rejected the credentials from ecr:GetAuthorizationToken",
            self.host
        ))
        .with_hint("the token is wrong or expired, or belongs to another account; check the environment's account, region and registry")
    }

    fn unreachable(&self, e: reqwest::Error) -> Error {
        Error::failed(format!(
            "cannot reach registry {}: {}",
            self.host,
            crate::error::chain(&e)
        ))
        .retryable()
    }

    fn status_error(&self, code: u16, what: &str, repository: &str) -> Error {
        if code == 401 || code == 403 {
            return self.rejected();
        }
        Error::failed(format!(
            "registry {} answered HTTP {code} when asked to {what} in {repository}",
            self.host
        ))
    }
}

/// Copies `from_repo@digest-or-tag` in `from` to `to_repo:tag` in `to`: blobs the target lacks,
/// child manifests of an index, then the manifest. Returns the manifest digest at the target.
pub async fn copy_image(
    from: &Registry,
    from_repo: &str,
    reference: &str,
    to: &Registry,
    to_repo: &str,
    tag: &str,
    transfer: &crate::images::progress::Transfer,
) -> Result<CopyReport> {
    let manifest = from.manifest(from_repo, reference).await?.ok_or_else(|| {
        Error::failed(format!(
            "{}/{from_repo}:{reference} does not exist",
            from.host
        ))
    })?;
    let mut report = CopyReport::default();
    copy_contents(
        from,
        from_repo,
        to,
        to_repo,
        &manifest,
        &mut report,
        transfer,
    )
    .await?;
    report.digest = to.put_manifest(to_repo, tag, &manifest).await?;
    Ok(report)
}

/// What a copy moved.
#[derive(Debug, Default)]
pub struct CopyReport {
    pub digest: String,
    pub blobs_copied: usize,
    pub blobs_present: usize,
    pub bytes_copied: u64,
}

async fn copy_contents(
    from: &Registry,
    from_repo: &str,
    to: &Registry,
    to_repo: &str,
    manifest: &ImageManifest,
    report: &mut CopyReport,
    transfer: &crate::images::progress::Transfer,
) -> Result<()> {
    let doc: serde_json::Value = serde_json::from_slice(&manifest.body)
        .map_err(|e| Error::failed(format!("the manifest {} is not JSON: {e}", manifest.digest)))?;
    if let Some(children) = doc["manifests"].as_array() {
        for child in children {
            let Some(digest) = child["digest"].as_str() else {
                continue;
            };
            let child_manifest = from.manifest(from_repo, digest).await?.ok_or_else(|| {
                Error::failed(format!(
                    "{}/{from_repo}@{digest} (in an index) does not exist",
                    from.host
                ))
            })?;
            Box::pin(copy_contents(
                from,
                from_repo,
                to,
                to_repo,
                &child_manifest,
                report,
                transfer,
            ))
            .await?;
            to.put_manifest(to_repo, digest, &child_manifest).await?;
        }
        return Ok(());
    }
    let blobs = doc["config"]["digest"].as_str().into_iter().chain(
        doc["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["digest"].as_str()),
    );
    for digest in blobs {
        if to.has_blob(to_repo, digest).await? {
            report.blobs_present += 1;
            continue;
        }
        // Streamed registry to registry: a layer of any size costs a chunk of memory.
        let (length, body) = from.get_blob(from_repo, digest).await?;
        transfer.grow(length.unwrap_or(0));
        let progress = transfer.clone();
        let body = futures::StreamExt::inspect(body, move |chunk| {
            if let Ok(c) = chunk {
                progress.advance(c.len() as u64);
            }
        });
        to.put_blob(to_repo, digest, length, reqwest::Body::wrap_stream(body))
            .await?;
        report.bytes_copied += length.unwrap_or(0);
        report.blobs_copied += 1;
    }
    Ok(())
}

/// What an anonymous look at a manifest found (see [`probe_manifest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Present,
    Missing,
    /// The registry wants credentials wharf does not have for it.
    NeedsAuth,
    /// No answer to go by (unreachable, an unexpected status); why.
    Failed(String),
}

/// The base URL of the registry API of `host` (Docker Hub's for `docker.io`).
fn api_base(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://registry-1.docker.io".to_string()
        }
        _ if is_loopback(host) => format!("http://{host}"),
        _ => format!("https://{host}"),
    }
}

/// Whether `host` has the manifest `repository:reference` (a tag or a digest), asked without
/// credentials: a HEAD of the manifest, and when the registry answers with a Bearer challenge
/// (Docker Hub, GHCR, public ECR), the anonymous pull token it hands out and the HEAD again.
pub async fn probe_manifest(host: &str, repository: &str, reference: &str) -> Probe {
    let base = api_base(host);
    let http = match reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .tls_built_in_root_certs(!base.starts_with("http://"))
        .build()
    {
        Ok(c) => c,
        Err(e) => return Probe::Failed(crate::error::chain(&e)),
    };
    let url = format!("{base}/v2/{repository}/manifests/{reference}");
    let head = |token: Option<String>| {
        let mut req = http.head(&url).header("Accept", MANIFEST_TYPES);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let resp = match head(None).await {
        Ok(r) => r,
        Err(e) => {
            return Probe::Failed(format!("cannot reach {host}: {}", crate::error::chain(&e)))
        }
    };
    let resp = match resp.status().as_u16() {
        401 => {
            let challenge = resp
                .headers()
                .get("WWW-Authenticate")
                .and_then(|v| v.to_str().ok())
                .and_then(bearer_challenge);
            let Some((realm, service)) = challenge else {
                return Probe::NeedsAuth;
            };
            let scope = format!("repository:{repository}:pull");
            let mut token_url = format!("{realm}?scope={scope}");
            if let Some(service) = service {
                token_url.push_str(&format!("&service={service}"));
            }
            let token = match http.get(&token_url).send().await {
                Ok(r) if r.status().is_success() => r
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()),
                _ => None,
            };
            let Some(token) = token.and_then(|t| {
                t["token"]
                    .as_str()
                    .or(t["access_token"].as_str())
                    .map(str::to_string)
            }) else {
                return Probe::NeedsAuth;
            };
            match head(Some(token)).await {
                Ok(r) => r,
                Err(e) => {
                    return Probe::Failed(format!(
                        "cannot reach {host}: {}",
                        crate::error::chain(&e)
                    ))
                }
            }
        }
        _ => resp,
    };
    match resp.status().as_u16() {
        200 => Probe::Present,
        404 => Probe::Missing,
        401 | 403 => Probe::NeedsAuth,
        code => Probe::Failed(format!("{host} answered HTTP {code}")),
    }
}

/// The realm and service of a `Bearer realm="…",service="…",scope="…"` challenge.
fn bearer_challenge(header: &str) -> Option<(String, Option<String>)> {
    let rest = header.trim().strip_prefix("Bearer ")?;
    let mut realm = None;
    let mut service = None;
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .skip_while(|c| *c == ',' || c.is_whitespace())
            .take_while(|c| *c != '=')
            .collect();
        if key.is_empty() {
            break;
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            let v = chars.by_ref().take_while(|c| *c != '"').collect();
            v
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect()
        };
        match key.trim() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            _ => {}
        }
    }
    Some((realm?, service))
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    hex_digest(&Sha256::digest(bytes))
}

/// `sha256:<hex>` of a finished SHA-256.
fn hex_digest(hash: &[u8]) -> String {
    format!("sha256:{}", crate::text::hex(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_of_the_bytes() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn bearer_challenges_give_realm_and_service() {
        assert_eq!(
            bearer_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#
            ),
            Some((
                "https://auth.docker.io/token".to_string(),
                Some("registry.docker.io".to_string())
            ))
        );
        assert_eq!(
            bearer_challenge(r#"Bearer realm="https://ghcr.io/token""#),
            Some(("https://ghcr.io/token".to_string(), None))
        );
        assert_eq!(bearer_challenge(r#"Basic realm="registry""#), None);
        assert_eq!(api_base("docker.io"), "https://registry-1.docker.io");
        assert_eq!(api_base("127.0.0.1:5000"), "http://127.0.0.1:5000");
    }

    #[test]
    fn loopback_registries_speak_http_and_others_https() {
        assert_eq!(
            Registry::new("127.0.0.1:5000", None, "AWS", "x").base,
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            Registry::new("1.dkr.ecr.us-east-1.amazonaws.com", None, "AWS", "x").base,
            "https://1.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert!(!format!("{:?}", Registry::new("h", None, "AWS", "secret")).contains("secret"));
        for local in [
            "127.0.0.1:5000",
            "127.0.0.2",
            "localhost:5000",
            "[::1]:5000",
        ] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in [
            "1.dkr.ecr.us-east-1.amazonaws.com",
            "10.0.0.1:5000",
            "[2001:db8::1]:443",
        ] {
            assert!(!is_loopback(remote), "{remote}");
        }
    }
}
