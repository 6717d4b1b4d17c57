//! The edge to ECR's API: authorization tokens, repositories, and retagging an image in place
//! (BatchGetImage + PutImage, manifest only).

use aws_sdk_ecr::types::{ImageIdentifier, ImageScanningConfiguration, ImageTagMutability};

use crate::error::{Error, Result};
use crate::images::registry::{Registry, MANIFEST_TYPES};

/// ECR for one environment's account and region.
#[derive(Clone, Debug)]
pub struct Ecr {
    client: aws_sdk_ecr::Client,
    /// The registry (account) ID, when the environment names one.
    registry_id: Option<String>,
}

/// A registry login from GetAuthorizationToken; the password is never printed.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Login {
    pub username: String,
    pub password: String,
    /// `https://ACCOUNT.dkr.ecr.REGION.amazonaws.com` (the test bed: its registry).
    pub endpoint: String,
    /// When the token expires (seconds since the epoch), when ECR says.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

impl Login {
    /// A registry client for `host` with this login (through the login's endpoint when it is
    /// that host's: the test bed's registry answers on plain HTTP).
    pub fn registry(&self, host: &str) -> Registry {
        let endpoint_host = self
            .endpoint
            .split("://")
            .nth(1)
            .unwrap_or("")
            .trim_end_matches('/');
        let endpoint = (endpoint_host == host).then_some(self.endpoint.as_str());
        Registry::new(host, endpoint, &self.username, &self.password)
    }
}

/// Registry logins kept between runs, as the ECR credential helper keeps its tokens
/// (`~/.ecr/cache.json`): a re-push of unchanged images then needs no AWS call at all. One file
/// per registry and profile under `$XDG_CACHE_HOME/wharf/ecr-logins/` (default `~/.cache`), mode
/// 0600, used until five minutes before the token expires, forgotten when the registry refuses
/// it. `WHARF_ECR_LOGIN_CACHE=0` turns it off.
#[derive(Debug, Clone)]
pub struct LoginCache {
    path: std::path::PathBuf,
}

/// A cached token is not used in its last minutes.
const CACHE_MARGIN_SECS: i64 = 300;

impl LoginCache {
    /// The cache entry of `host` for `profile`, or None when caching is off or there is no home.
    pub fn for_registry(host: &str, profile: Option<&str>) -> Option<LoginCache> {
        if std::env::var("WHARF_ECR_LOGIN_CACHE").is_ok_and(|v| v == "0") {
            return None;
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache"))
            })?;
        use sha2::Digest;
        let key = sha2::Sha256::digest(format!("{host}\n{}", profile.unwrap_or("")).as_bytes());
        let name = crate::text::hex(&key[..12]);
        Some(LoginCache {
            path: base
                .join("wharf")
                .join("ecr-logins")
                .join(format!("{name}.json")),
        })
    }

    /// The cached login, when there is one that is still good.
    pub fn load(&self) -> Option<Login> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let login: Login = serde_json::from_str(&text).ok()?;
        let expires = login.expires_at?;
        (expires - CACHE_MARGIN_SECS > now_secs()).then_some(login)
    }

    /// Keeps `login` (only when ECR said when it expires). Failing to write is not an error: the
    /// next run asks ECR again.
    pub fn store(&self, login: &Login) {
        if login.expires_at.is_none() {
            return;
        }
        let Some(dir) = self.path.parent() else {
            return;
        };
        let _ = std::fs::create_dir_all(dir);
        let Ok(text) = serde_json::to_string(login) else {
            return;
        };
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // Written under a temporary name, readable by the owner only, then renamed into place.
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if written.is_ok() {
            let _ = std::fs::rename(&tmp, &self.path);
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    pub fn forget(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Ecr {
    pub fn new(config: &aws_config::SdkConfig, registry_id: Option<String>) -> Ecr {
        Ecr {
            client: aws_sdk_ecr::Client::new(config),
            registry_id,
        }
    }

    /// A login for the registry, from ecr:GetAuthorizationToken (the token opens every registry
    /// the caller may use, so no registry ID is passed).
    pub async fn login(&self) -> Result<Login> {
        let out = self
            .client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| crate::aws::error("ecr:GetAuthorizationToken", e))?;
        let data = out.authorization_data().first().ok_or_else(|| {
            Error::aws("ecr:GetAuthorizationToken returned no authorization data")
        })?;
        if let Some(expires) = data.expires_at() {
            if expires.secs() <= now_secs() {
                return Err(Error::aws(
                    "ecr:GetAuthorizationToken returned a token that has already expired",
                )
                .with_hint("check the machine's clock and the credentials in use"));
            }
        }
        let token = data.authorization_token().unwrap_or_default();
        let decoded = aws_smithy_types::base64::decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Error::aws("ecr:GetAuthorizationToken returned a token that is not base64 text")
            })?;
        let (username, password) = decoded.split_once(':').ok_or_else(|| {
            Error::aws("ecr:GetAuthorizationToken returned a token without `user:password`")
        })?;
        Ok(Login {
            username: username.to_string(),
            password: password.to_string(),
            endpoint: data.proxy_endpoint().unwrap_or_default().to_string(),
            expires_at: data.expires_at().map(|e| e.secs()),
        })
    }

    /// Which of `names` exist.
    pub async fn existing_repositories(&self, names: &[String]) -> Result<Vec<String>> {
        // DescribeRepositories fails as a whole when one name is missing, so ask one by one
        // (all at once).
        let answers = futures::future::try_join_all(names.iter().map(|name| async move {
            let out = self
                .client
                .describe_repositories()
                .set_registry_id(self.registry_id.clone())
                .repository_names(name)
                .send()
                .await;
            match out {
                Ok(_) => Ok(Some(name.clone())),
                Err(e) => {
                    let missing = e
                        .as_service_error()
                        .is_some_and(|s| s.is_repository_not_found_exception());
                    if missing {
                        Ok(None)
                    } else {
                        Err(crate::aws::error("ecr:DescribeRepositories", e))
                    }
                }
            }
        }))
        .await?;
        Ok(answers.into_iter().flatten().collect())
    }

    /// Creates `name` with scan on push, and immutable tags when asked.
    pub async fn create_repository(&self, name: &str, immutable_tags: bool) -> Result<()> {
        let mutability = if immutable_tags {
            ImageTagMutability::Immutable
        } else {
            ImageTagMutability::Mutable
        };
        let out = self
            .client
            .create_repository()
            .set_registry_id(self.registry_id.clone())
            .repository_name(name)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(true)
                    .build(),
            )
            .image_tag_mutability(mutability)
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(crate::aws::error("ecr:CreateRepository", e)),
        }
    }

    /// The manifest of `repository:tag` (BatchGetImage): (body, media type, digest).
    pub async fn get_manifest(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<(String, Option<String>, String)>> {
        let out = self
            .client
            .batch_get_image()
            .set_registry_id(self.registry_id.clone())
            .repository_name(repository)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .set_accepted_media_types(Some(
                MANIFEST_TYPES.split(", ").map(str::to_string).collect(),
            ))
            .send()
            .await
            .map_err(|e| crate::aws::error("ecr:BatchGetImage", e))?;
        let Some(image) = out.images().first() else {
            return Ok(None);
        };
        let body = image.image_manifest().unwrap_or_default().to_string();
        let digest = image
            .image_id()
            .and_then(|i| i.image_digest())
            .map(str::to_string)
            .unwrap_or_else(|| crate::images::registry::sha256_digest(body.as_bytes()));
        Ok(Some((
            body,
            image.image_manifest_media_type().map(str::to_string),
            digest,
        )))
    }

    /// Tags the manifest `body` as `repository:tag` (PutImage); returns the digest ECR reports,
    /// or the known digest when ECR already holds this manifest under that tag.
    pub async fn put_manifest(
        &self,
        repository: &str,
        tag: &str,
        body: &str,
        media_type: Option<&str>,
        digest: &str,
    ) -> Result<PutOutcome> {
        let out = self
            .client
            .put_image()
            .set_registry_id(self.registry_id.clone())
            .repository_name(repository)
            .image_manifest(body)
            .set_image_manifest_media_type(media_type.map(str::to_string))
            .image_tag(tag)
            .image_digest(digest)
            .send()
            .await;
        match out {
            Ok(o) => Ok(PutOutcome::Tagged(
                o.image()
                    .and_then(|i| i.image_id())
                    .and_then(|i| i.image_digest())
                    .unwrap_or(digest)
                    .to_string(),
            )),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_image_already_exists_exception()) => {
                Ok(PutOutcome::AlreadyTagged)
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_image_tag_already_exists_exception()) => {
                Err(Error::failed(format!(
                    "{repository}:{tag} already exists with another image and the repository's tags are immutable"
                ))
                .with_hint("promote under a new tag (--to-tag), or make the repository's tags mutable"))
            }
            Err(e) => Err(crate::aws::error("ecr:PutImage", e)),
        }
    }
}

/// What PutImage did.
#[derive(Debug)]
pub enum PutOutcome {
    Tagged(String),
    AlreadyTagged,
}

/// Whether ECR holds an image (ecr:DescribeImages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Present,
    /// The image (or its whole repository) is not there.
    Missing,
    /// ECR would not say (no permission, or an error); why.
    Unknown(String),
}

impl Ecr {
    /// ECR in `region` (the config's own region when None), for images whose registry host names
    /// another region than the environment's.
    pub fn in_region(
        config: &aws_config::SdkConfig,
        region: Option<&str>,
        registry_id: Option<String>,
    ) -> Ecr {
        let mut builder = aws_sdk_ecr::config::Builder::from(config);
        if let Some(r) = region {
            builder = builder.region(aws_config::Region::new(r.to_string()));
        }
        Ecr {
            client: aws_sdk_ecr::Client::from_conf(builder.build()),
            registry_id,
        }
    }

    /// Whether `repository` holds the image at `digest` (when given) or `tag`. One
    /// DescribeImages call; unlike BatchGetImage it does not count as a pull.
    pub async fn image_presence(
        &self,
        repository: &str,
        tag: Option<&str>,
        digest: Option<&str>,
    ) -> Presence {
        let id = match digest {
            Some(d) => ImageIdentifier::builder().image_digest(d).build(),
            None => ImageIdentifier::builder()
                .image_tag(tag.unwrap_or("latest"))
                .build(),
        };
        let out = self
            .client
            .describe_images()
            .set_registry_id(self.registry_id.clone())
            .repository_name(repository)
            .image_ids(id)
            .send()
            .await;
        match out {
            Ok(o) if o.image_details().is_empty() => Presence::Missing,
            Ok(_) => Presence::Present,
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_image_not_found_exception() => Presence::Missing,
                Some(s) if s.is_repository_not_found_exception() => Presence::Missing,
                _ => Presence::Unknown(crate::aws::error("ecr:DescribeImages", e).message),
            },
        }
    }
}
