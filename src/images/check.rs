//! Whether the images a deploy (or `wharf run`) is about to register exist, before anything is
//! registered: a tag that was never pushed otherwise shows up minutes later as
//! CannotPullContainerError.
//!
//! ECR images (`ACCOUNT.dkr.ecr.REGION.amazonaws.com`, and the environment's `registry` when ECR's
//! authorization names it as its registry, as the test bed's does) are asked with
//! ecr:DescribeImages through the environment's clients; other registries with an anonymous HEAD
//! of the manifest. A registry that wants credentials wharf does not have is reported as not
//! checked, not as missing. Every distinct reference is asked once, all at once.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::images::ecr::{Ecr, Presence};
use crate::images::registry::{self, Probe};
use crate::project::connect::Connected;
use crate::settings::Settings;

/// References checked at once at most.
const PARALLEL: usize = 8;

/// One container's image in a task definition about to be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    /// What uses it: `service web`, `job migrate`.
    pub owner: String,
    pub container: String,
    pub reference: String,
}

/// The images of `task_definition`'s containers, for `owner` (`service web`, `job migrate`).
pub fn uses_of(owner: &str, task_definition: &Value) -> Vec<ImageUse> {
    task_definition["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some(ImageUse {
                owner: owner.to_string(),
                container: c["name"].as_str().unwrap_or("?").to_string(),
                reference: c["image"].as_str()?.trim().to_string(),
            })
        })
        .collect()
}

/// An image reference taken apart: `host/repository[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io` when the reference names no registry.
    pub host: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// What to ask for: the digest when there is one (ECS pulls by it), else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

/// Parses an image reference as docker does; None when it is not one.
pub fn parse_reference(reference: &str) -> Option<Reference> {
    if reference.is_empty() || reference.contains(char::is_whitespace) {
        return None;
    }
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) if d.contains(':') => (n, Some(d.to_string())),
        Some(_) => return None,
        None => (reference, None),
    };
    let (host, path) = match name.split_once('/') {
        Some((h, p)) if h.contains('.') || h.contains(':') || h == "localhost" => {
            (h.to_string(), p.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    let (repository, tag) = match path.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t.to_string())),
        _ => (path, None),
    };
    if repository.is_empty() || tag.as_deref() == Some("") {
        return None;
    }
    let repository = if host == "docker.io" && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    Some(Reference {
        host,
        repository,
        tag,
        digest,
    })
}

/// The account and region of an ECR registry host (`ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com`).
pub fn ecr_host(host: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = host.split('.').collect();
    let ok = matches!(
        parts.as_slice(),
        [account, "dkr", "ecr" | "ecr-fips", _, "amazonaws", "com"]
        | [account, "dkr", "ecr" | "ecr-fips", _, "amazonaws", "com", "cn"]
        if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
    );
    ok.then(|| (parts[0].to_string(), parts[3].to_string()))
}

/// Where a reference is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// ECR: (registry id, region when not the environment's).
    Ecr(Option<String>, Option<String>),
    Registry,
    /// Not asked: the AWS endpoint is a local stand-in (the test bed) and the registry is not
    /// on this machine; its tasks never pull from there, and wharf sends nothing off the host.
    NotAsked,
}

/// What the check of one reference found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    Present,
    Missing,
    Unchecked(String),
    /// Deliberately not asked (said with `-v`).
    Skipped(String),
}

/// Whether `host` (a URL's host, or `host:port`) is this machine: `localhost` or a loopback
/// address.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let bare = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if host.matches(':').count() == 1 {
        host.split(':').next().unwrap_or(host)
    } else {
        host
    };
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `url` (`http://127.0.0.1:4566`) points at this machine.
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    is_loopback_host(host)
}

/// Checks that every image of `uses` exists; an error listing the missing ones (container, owner,
/// reference) otherwise. References that cannot be checked are warned about and let through.
pub async fn check_images(ctx: &Settings, conn: &Connected, uses: &[ImageUse]) -> Result<()> {
    let mut distinct: BTreeMap<&str, Option<Reference>> = BTreeMap::new();
    for u in uses {
        distinct
            .entry(u.reference.as_str())
            .or_insert_with(|| parse_reference(&u.reference));
    }
    if distinct.is_empty() {
        return Ok(());
    }
    let environment = conn.environment();
    let own_registry = environment
        .registry
        .as_ref()
        .map(|r| r.get_ref().trim_end_matches('/').to_string());
    let own_account = environment.account.as_ref().map(|a| a.get_ref().clone());
    // The environment's registry is ECR's when ECR's authorization names it (the test bed's).
    let own_is_ecr = match &own_registry {
        Some(host)
            if ecr_host(host).is_none()
                && distinct
                    .values()
                    .flatten()
                    .any(|r| Some(&r.host) == own_registry.as_ref()) =>
        {
            match Ecr::new(&conn.clients.config, None).login().await {
                Ok(login) => login
                    .endpoint
                    .split("://")
                    .nth(1)
                    .is_some_and(|e| e.trim_end_matches('/') == host),
                Err(e) => {
                    ctx.out
                        .verbose(format!("ecr:GetAuthorizationToken: {}", e.message));
                    false
                }
            }
        }
        _ => false,
    };
    // On a local stand-in for AWS (the test bed), only registries on this machine are asked.
    let local_aws = conn
        .clients
        .config
        .endpoint_url()
        .is_some_and(is_loopback_url);
    let source = |r: &Reference| -> Source {
        if local_aws && !is_loopback_host(&r.host) {
            return Source::NotAsked;
        }
        if let Some((account, region)) = ecr_host(&r.host) {
            let region = (region != conn.clients.region).then_some(region);
            return Source::Ecr(Some(account), region);
        }
        if own_is_ecr && Some(&r.host) == own_registry.as_ref() {
            return Source::Ecr(own_account.clone(), None);
        }
        Source::Registry
    };
    let checks = distinct.iter().map(|(text, parsed)| {
        let text = text.to_string();
        let work = parsed.clone().map(|r| (source(&r), r));
        async move {
            let found = match work {
                None => Found::Unchecked("not an image reference wharf can parse".into()),
                Some((Source::NotAsked, r)) => Found::Skipped(format!(
                    "not checked: the AWS endpoint is on this machine, registry {} is not",
                    r.host
                )),
                Some((Source::Ecr(registry_id, region), r)) => {
                    let ecr = Ecr::in_region(&conn.clients.config, region.as_deref(), registry_id);
                    match ecr
                        .image_presence(&r.repository, r.tag.as_deref(), r.digest.as_deref())
                        .await
                    {
                        Presence::Present => Found::Present,
                        Presence::Missing => Found::Missing,
                        Presence::Unknown(why) => Found::Unchecked(why),
                    }
                }
                Some((Source::Registry, r)) => {
                    match registry::probe_manifest(&r.host, &r.repository, r.manifest_reference())
                        .await
                    {
                        Probe::Present => Found::Present,
                        Probe::Missing => Found::Missing,
                        Probe::NeedsAuth => Found::Unchecked(format!(
                            "registry {} wants credentials wharf does not have",
                            r.host
                        )),
                        Probe::Failed(why) => Found::Unchecked(why),
                    }
                }
            };
            (text, found)
        }
    });
    let found: BTreeMap<String, Found> = {
        use futures::stream::StreamExt;
        futures::stream::iter(checks)
            .buffer_unordered(PARALLEL)
            .collect()
            .await
    };
    for (reference, f) in &found {
        match f {
            Found::Unchecked(why) => ctx.out.warn(format!(
                "cannot check image {reference}: {why}; going on without checking it"
            )),
            Found::Present => ctx.out.verbose(format!("image {reference}: found")),
            Found::Skipped(why) => ctx.out.verbose(format!("image {reference}: {why}")),
            Found::Missing => {}
        }
    }
    let missing: Vec<String> = uses
        .iter()
        .filter(|u| found.get(&u.reference) == Some(&Found::Missing))
        .map(|u| format!("  {} ({}): {}", u.container, u.owner, u.reference))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::failed(format!(
        "{} not in {} registry; nothing was registered:\n{}",
        if missing.len() == 1 {
            "an image is"
        } else {
            "images are"
        },
        if missing.len() == 1 { "its" } else { "their" },
        missing.join("\n")
    ))
    .with_hint(
        "push the image (wharf push), fix the tag, or pass --skip-image-check to register anyway",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_and_urls() {
        for host in [
            "127.0.0.1:5000",
            "localhost",
            "LOCALHOST:80",
            "[::1]:5000",
            "::1",
            "127.3.4.5",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "docker.io",
            "10.0.0.1:5000",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "[2001:db8::1]:443",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
        assert!(is_loopback_url("http://127.0.0.1:4566"));
        assert!(is_loopback_url("http://user@localhost:4566/path"));
        assert!(!is_loopback_url("https://ecs.us-east-1.amazonaws.com"));
        assert!(!is_loopback_url("http://127.0.0.1.example.com/"));
    }

    fn r(host: &str, repository: &str, tag: Option<&str>, digest: Option<&str>) -> Reference {
        Reference {
            host: host.into(),
            repository: repository.into(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        }
    }

    #[test]
    fn references_parse_as_docker_reads_them() {
        assert_eq!(
            parse_reference("123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/api:v42"),
            Some(r(
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                "shop/api",
                Some("v42"),
                None
            ))
        );
        assert_eq!(
            parse_reference("127.0.0.1:5000/a/b@sha256:abc"),
            Some(r("127.0.0.1:5000", "a/b", None, Some("sha256:abc")))
        );
        let both = parse_reference("localhost/a:1@sha256:abc").unwrap();
        assert_eq!(both.manifest_reference(), "sha256:abc");
        assert_eq!(
            parse_reference("busybox"),
            Some(r("docker.io", "library/busybox", None, None))
        );
        assert_eq!(
            parse_reference("busybox").unwrap().manifest_reference(),
            "latest"
        );
        assert_eq!(
            parse_reference("org/app:1"),
            Some(r("docker.io", "org/app", Some("1"), None))
        );
        assert_eq!(parse_reference(""), None);
        assert_eq!(parse_reference("a b"), None);
        assert_eq!(parse_reference("x:"), None);
    }

    #[test]
    fn ecr_hosts_name_account_and_region() {
        assert_eq!(
            ecr_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            Some(("123456789012".into(), "eu-west-1".into()))
        );
        assert_eq!(
            ecr_host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
            Some(("123456789012".into(), "cn-north-1".into()))
        );
        assert_eq!(ecr_host("public.ecr.aws"), None);
        assert_eq!(ecr_host("12345.dkr.ecr.eu-west-1.amazonaws.com"), None);
        assert_eq!(ecr_host("127.0.0.1:5000"), None);
    }

    #[test]
    fn uses_name_container_and_owner() {
        let td = serde_json::json!({"containerDefinitions": [
            {"name": "app", "image": "a:1"}, {"name": "side", "image": " b:2 "}, {"name": "x"}
        ]});
        let uses = uses_of("service web", &td);
        assert_eq!(uses.len(), 2);
        assert_eq!(uses[1].container, "side");
        assert_eq!(uses[1].reference, "b:2");
        assert_eq!(uses[0].owner, "service web");
    }
}
