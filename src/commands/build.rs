//! `wharf build [--tag T] [IMAGE...]`: build the project's images (or its compose build file
//! with `APP_TAG`), then print a table of image, tag, digest, size and duration.

use crate::cli::Context;
use crate::engine::Engine;
use crate::error::Result;
use crate::images::{self, build, Target};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Images to build (all when none are named); with a compose build file, its services.
    pub images: Vec<String>,
    /// Image tag (default: the git short SHA, with -dirty when the tree has uncommitted changes).
    #[arg(long, short = 't', env = "WHARF_TAG")]
    pub tag: Option<String>,
    /// Container engine: docker or podman (default: docker when a Docker engine answers, else podman).
    #[arg(long, env = "WHARF_ENGINE")]
    pub engine: Option<String>,
}

pub async fn run(ctx: &Context, args: Args) -> Result<i32> {
    let manifest = ctx.manifest()?;
    let tag = images::resolve_tag(&manifest, args.tag.as_deref())?;
    let compose = images::compose_file(&manifest)?;
    let env = match &compose {
        Some(_) => None,
        None => Some(
            images::choose_env(&manifest, ctx.global.env.as_deref())?.ok_or_else(|| {
                crate::error::Error::usage(format!(
                    "{} has no [images] and no compose build file ({}) to build",
                    manifest.path.display(),
                    images::SEED_COMPOSE_FILE
                ))
            })?,
        ),
    };
    if compose.is_none() && manifest.doc.images.is_empty() {
        return Err(crate::error::Error::usage(format!(
            "{} has no [images] and no compose build file ({}) to build",
            manifest.path.display(),
            images::SEED_COMPOSE_FILE
        )));
    }
    // Project mistakes come before looking for an engine.
    if compose.is_none() {
        images::build_waves(&manifest, &args.images)?;
    }
    let engine =
        Engine::detect_for_build(images::preferred_engine(&manifest, args.engine.as_deref())?)
            .await?;
    ctx.out.verbose(format!(
        "engine: {}{}",
        engine.program(),
        if engine.buildx { " (buildx)" } else { "" }
    ));
    let built = match (&compose, env) {
        (Some(file), _) => {
            build::compose_build(&engine, file, &tag, &args.images, &ctx.out).await?
        }
        (None, Some(env)) => {
            let target = target_for(ctx, &manifest, &env).await?;
            build::build_images(
                &manifest,
                &target,
                &tag,
                &args.images,
                &engine,
                images::parallelism(&manifest),
                &ctx.out,
            )
            .await?
        }
        (None, None) => unreachable!("an environment was chosen above"),
    };
    if ctx.out.is_json() {
        ctx.out
            .json(&serde_json::json!({ "tag": tag, "images": built }));
    } else {
        let rows: Vec<Vec<String>> = built
            .iter()
            .map(|b| {
                vec![
                    b.image.clone(),
                    b.tag.clone(),
                    images::short_digest(&b.digest),
                    images::human_size(b.size),
                    format!("{:.1}s", b.seconds),
                ]
            })
            .collect();
        println!(
            "{}",
            images::table(&["IMAGE", "TAG", "DIGEST", "SIZE", "DURATION"], &rows)
        );
    }
    Ok(0)
}

/// The registry of `env`; asks STS for the account only when wharf.toml does not give one.
pub async fn target_for(
    ctx: &Context,
    manifest: &crate::manifest::Manifest,
    env: &str,
) -> Result<Target> {
    let environment = manifest.environment(env)?;
    let region = ctx
        .global
        .region
        .clone()
        .or_else(|| environment.region.as_ref().map(|r| r.get_ref().clone()));
    if environment.registry.is_some() || (environment.account.is_some() && region.is_some()) {
        return Target::new(manifest, env, None, region);
    }
    let clients = crate::aws::Clients::connect(environment, &ctx.global).await?;
    let account = clients.account().await?;
    Target::new(manifest, env, Some(account), Some(clients.region.clone()))
}
