//! `wharf promote`'s work: give an image already in ECR the tag another environment deploys,
//! without rebuilding or pulling it through the engine. In one registry: BatchGetImage + PutImage
//! (the manifest only). Across accounts or regions: the manifest and the blobs the target lacks,
//! copied registry to registry. Either way the digest at the target is checked to be the source's.

use crate::error::{Error, Result};
use crate::images::ecr::{Ecr, PutOutcome};
use crate::images::registry::{self, Registry};
use crate::images::{self, ImageRef, RegistryTarget};
use crate::output::Output;
use crate::project::manifest::Manifest;
use crate::settings::Settings;

/// One environment's side of a promotion.
pub struct Side<'a> {
    pub target: &'a RegistryTarget,
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
    let transfers = images::progress::Transfers::new(out);
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
            across_registries(&name, &src, &dst, a, b, out, &transfers).await?
        };
        results.push(promoted);
    }
    Ok(results)
}

async fn registry_for(ecr: &Ecr, host: &str) -> Result<Registry> {
    Ok(ecr.login().await?.registry(host))
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
    transfers: &images::progress::Transfers,
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
    let transfer = transfers.start(name, 0, false);
    let copied = registry::copy_image(
        from,
        &src.repository,
        &digest,
        to,
        &dst.repository,
        &dst.tag,
        &transfer,
    )
    .await;
    let seconds = transfer.finish();
    let report = copied?;
    let held = to.manifest_digest(&dst.repository, &dst.tag).await?;
    if held.as_deref() != Some(digest.as_str()) || report.digest != digest {
        return Err(Error::failed(format!(
            "{name}: after the copy {dst} has digest {}, not the source's {digest}",
            held.unwrap_or_else(|| "none".into())
        )));
    }
    out.status(format!(
        "{name}: {src} -> {dst} (copied {} blob(s), {} in {seconds:.1}s, {}; {} already there; {})",
        report.blobs_copied,
        images::human_size(report.bytes_copied),
        images::progress::rate(report.bytes_copied, seconds),
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

/// What to promote: `wharf promote`'s flags, and the pipeline's promote stage.
#[derive(Debug, Clone, Default)]
pub struct PromoteOptions {
    /// Images to promote (all when empty).
    pub images: Vec<String>,
    /// The tag of the image in the source environment.
    pub tag: String,
    /// The environment whose registry holds the image.
    pub from: String,
    /// The environment that gets the image.
    pub to: String,
    /// The tag in the target environment (default: the same tag).
    pub to_tag: Option<String>,
}

/// Gives images already in `from`'s registry the tag `to` deploys, without rebuilding.
pub async fn run(ctx: &Settings, args: &PromoteOptions) -> Result<Vec<Promoted>> {
    let manifest = Manifest::load(&ctx.file)?;
    images::check_tag(&args.tag)?;
    let to_tag = args.to_tag.clone().unwrap_or_else(|| args.tag.clone());
    images::check_tag(&to_tag)?;
    for name in &args.images {
        if !manifest.doc.images.contains_key(name) {
            return Err(images::unknown_image(&manifest, name));
        }
    }
    let from_env = manifest.environment(&args.from)?;
    let to_env = manifest.environment(&args.to)?;
    let from_clients = crate::aws::Clients::connect(&from_env.aws(ctx)).await?;
    let to_clients = crate::aws::Clients::connect(&to_env.aws(ctx)).await?;
    let from_target = RegistryTarget::for_env(ctx, &manifest, &args.from).await?;
    let to_target = RegistryTarget::for_env(ctx, &manifest, &args.to).await?;
    let from_ecr = Ecr::new(&from_clients.config, from_target.account.clone());
    let to_ecr = Ecr::new(&to_clients.config, to_target.account.clone());
    let promoted = promote(
        &manifest,
        Side {
            target: &from_target,
            ecr: &from_ecr,
        },
        Side {
            target: &to_target,
            ecr: &to_ecr,
        },
        &args.tag,
        &to_tag,
        &args.images,
        &ctx.out,
    )
    .await?;
    Ok(promoted)
}

/// The table of image, target, digest and result (or the JSON document).
pub fn print(out: &Output, promoted: &[Promoted]) {
    if out.is_json() {
        out.json(&serde_json::json!({ "images": promoted }));
    } else {
        let rows: Vec<Vec<String>> = promoted
            .iter()
            .map(|p| {
                vec![
                    p.image.clone(),
                    p.to.clone(),
                    images::short_digest(&p.digest),
                    p.outcome.clone(),
                ]
            })
            .collect();
        println!(
            "{}",
            images::table(&["IMAGE", "TARGET", "DIGEST", "RESULT"], &rows)
        );
    }
}
