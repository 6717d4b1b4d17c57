//! `wharf promote`'s work: give an image already in ECR the tag another environment deploys,
//! without rebuilding or pulling it through the engine. In one registry: BatchGetImage + PutImage
//! (the manifest only). Across accounts or regions: the manifest and the blobs the target lacks,
//! copied registry to registry. Either way the digest at the target is checked to be the source's.

use crate::error::{Error, Result};
use crate::images::ecr::{Ecr, PutOutcome};
use crate::images::registry::{self, Registry};
use crate::images::{self, ImageRef, Target};
use crate::manifest::Manifest;
use crate::output::Output;

/// One environment's side of a promotion.
pub struct Side<'a> {
    pub target: &'a Target,
    pub ecr: &'a Ecr,
}

/// One promoted image, for the final table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Promoted {
    pub image: String,
    pub from: String,
    pub to: String,
    pub digest: String,
    /// `tagged` (PutImage), `copied` (registry to registry), or `unchanged`.
    pub outcome: String,
    pub blobs_copied: usize,
    pub bytes_copied: u64,
}

#[allow(clippy::too_many_arguments)]
pub async fn promote(
    manifest: &Manifest,
    from: Side<'_>,
    to: Side<'_>,
    tag: &str,
    to_tag: &str,
    wanted: &[String],
    out: &Output,
) -> Result<Vec<Promoted>> {
    let names: Vec<String> = if wanted.is_empty() {
        manifest.doc.images.keys().cloned().collect()
    } else {
        for n in wanted {
            if !manifest.doc.images.contains_key(n) {
                return Err(images::unknown_image(manifest, n));
            }
        }
        wanted.to_vec()
    };
    if names.is_empty() {
        return Err(Error::usage(format!(
            "{} has no [images] to promote",
            manifest.path.display()
        )));
    }
    let mut results = Vec::new();
    let mut logins: Option<(Registry, Registry)> = None;
    for name in names {
        let src = images::image_ref(manifest, &name, from.target, tag)?;
        let dst = images::image_ref(manifest, &name, to.target, to_tag)?;
        let promoted = if src.host == dst.host {
            same_registry(&name, &src, &dst, &from, &to, out).await?
        } else {
            if logins.is_none() {
                logins = Some((
                    registry_for(from.ecr, &src.host).await?,
                    registry_for(to.ecr, &dst.host).await?,
                ));
            }
            let (a, b) = logins.as_ref().expect("set above");
            across_registries(&name, &src, &dst, a, b, out).await?
        };
        results.push(promoted);
    }
    Ok(results)
}

async fn registry_for(ecr: &Ecr, host: &str) -> Result<Registry> {
    Ok(Registry::with_login(host, &ecr.login().await?))
}

async fn same_registry(
    name: &str,
    src: &ImageRef,
    dst: &ImageRef,
    from: &Side<'_>,
    to: &Side<'_>,
    out: &Output,
) -> Result<Promoted> {
    let (body, media_type, digest) = from
        .ecr
        .get_manifest(&src.repository, &src.tag)
        .await?
        .ok_or_else(|| missing(name, src))?;
    let outcome = to
        .ecr
        .put_manifest(
            &dst.repository,
            &dst.tag,
            &body,
            media_type.as_deref(),
            &digest,
        )
        .await?;
    let outcome = match outcome {
        PutOutcome::Tagged(d) if d != digest => {
            return Err(Error::failed(format!(
                "{name}: ECR tagged {dst} with digest {d}, not the source's {digest}"
            )))
        }
        PutOutcome::Tagged(_) => "tagged",
        PutOutcome::AlreadyTagged => "unchanged",
    };
    let (_, _, held) = to
        .ecr
        .get_manifest(&dst.repository, &dst.tag)
        .await?
        .ok_or_else(|| Error::failed(format!("{name}: {dst} is missing right after PutImage")))?;
    if held != digest {
        return Err(Error::failed(format!(
            "{name}: {dst} has digest {held}, not the source's {digest}"
        )));
    }
    out.status(format!(
        "{name}: {src} -> {dst} ({outcome}, {})",
        images::short_digest(&digest)
    ));
    Ok(Promoted {
        image: name.to_string(),
        from: src.to_string(),
        to: dst.to_string(),
        digest,
        outcome: outcome.into(),
        blobs_copied: 0,
        bytes_copied: 0,
    })
}

async fn across_registries(
    name: &str,
    src: &ImageRef,
    dst: &ImageRef,
    from: &Registry,
    to: &Registry,
    out: &Output,
) -> Result<Promoted> {
    let digest = from
        .manifest_digest(&src.repository, &src.tag)
        .await?
        .ok_or_else(|| missing(name, src))?;
    if to
        .manifest_digest(&dst.repository, &dst.tag)
        .await?
        .as_deref()
        == Some(digest.as_str())
    {
        out.status(format!(
            "{name}: {dst} already holds {}",
            images::short_digest(&digest)
        ));
        return Ok(Promoted {
            image: name.to_string(),
            from: src.to_string(),
            to: dst.to_string(),
            digest,
            outcome: "unchanged".into(),
            blobs_copied: 0,
            bytes_copied: 0,
        });
    }
    let report = registry::copy_image(
        from,
        &src.repository,
        &digest,
        to,
        &dst.repository,
        &dst.tag,
    )
    .await?;
    let held = to.manifest_digest(&dst.repository, &dst.tag).await?;
    if held.as_deref() != Some(digest.as_str()) || report.digest != digest {
        return Err(Error::failed(format!(
            "{name}: after the copy {dst} has digest {}, not the source's {digest}",
            held.unwrap_or_else(|| "none".into())
        )));
    }
    out.status(format!(
        "{name}: {src} -> {dst} (copied {} blob(s), {}; {} already there; {})",
        report.blobs_copied,
        images::human_size(report.bytes_copied),
        report.blobs_present,
        images::short_digest(&digest)
    ));
    Ok(Promoted {
        image: name.to_string(),
        from: src.to_string(),
        to: dst.to_string(),
        digest,
        outcome: "copied".into(),
        blobs_copied: report.blobs_copied,
        bytes_copied: report.bytes_copied,
    })
}

fn missing(name: &str, src: &ImageRef) -> Error {
    Error::failed(format!("{name}: {src} does not exist"))
        .with_hint("push it first: wharf push --env <from> --tag <tag>")
}
