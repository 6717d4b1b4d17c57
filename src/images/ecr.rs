//! The edge to ECR's API: authorization tokens, repositories, and retagging an image in place
//! (BatchGetImage + PutImage, manifest only).

use aws_sdk_ecr::types::{ImageIdentifier, ImageScanningConfiguration, ImageTagMutability};

use crate::error::{Error, Result};
use crate::images::registry::MANIFEST_TYPES;

/// ECR for one environment's account and region.
#[derive(Clone, Debug)]
pub struct Ecr {
    client: aws_sdk_ecr::Client,
    /// The registry (account) ID, when the environment names one.
    registry_id: Option<String>,
}

/// A registry login from GetAuthorizationToken; the password is never printed.
#[derive(Clone)]
pub struct Login {
    pub username: String,
    pub password: String,
    /// `https://ACCOUNT.dkr.ecr.REGION.amazonaws.com` (the test bed: its registry).
    pub endpoint: String,
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
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            if expires.secs() <= now {
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
        })
    }

    /// Which of `names` exist.
    pub async fn existing_repositories(&self, names: &[String]) -> Result<Vec<String>> {
        let mut found = Vec::new();
        // DescribeRepositories fails as a whole when one name is missing, so ask one by one.
        for name in names {
            let out = self
                .client
                .describe_repositories()
                .set_registry_id(self.registry_id.clone())
                .repository_names(name)
                .send()
                .await;
            match out {
                Ok(_) => found.push(name.clone()),
                Err(e) => {
                    let missing = e
                        .as_service_error()
                        .is_some_and(|s| s.is_repository_not_found_exception());
                    if !missing {
                        return Err(crate::aws::error("ecr:DescribeRepositories", e));
                    }
                }
            }
        }
        Ok(found)
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
