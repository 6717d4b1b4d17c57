//! `wharf push [--tag T] [IMAGE...]`: push built images to the environment's ECR registry,
//! logging in with ECR's authorization token and skipping what the registry already holds.

use super::build;
use crate::cli::Context;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::images::ecr::Ecr;
use crate::images::ecr::LoginCache;
use crate::images::push::{all_held, push_images, PushItem, PushOptions};
use crate::images::{self, ImageRef};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Images to push (all when none are named); with a compose build file, its services.
    pub images: Vec<String>,
    /// Image tag (default: the git short SHA, with -dirty when the tree has uncommitted changes).
    #[arg(long, short = 't', env = "WHARF_TAG")]
    pub tag: Option<String>,
    /// Create missing ECR repositories (scan on push; immutable tags where the image says so).
    #[arg(long)]
    pub create_repositories: bool,
    /// Container engine: docker or podman (default: docker when a Docker engine answers, else podman).
    #[arg(long, env = "WHARF_ENGINE")]
    pub engine: Option<String>,
}

pub async fn run(ctx: &Context, args: Args) -> Result<i32> {
    let manifest = ctx.manifest()?;
    let tag = images::resolve_tag(&manifest, args.tag.as_deref())?;
    let compose = images::compose_file(&manifest)?;
    if compose.is_none() {
        images::build_waves(&manifest, &args.images)?;
        if manifest.doc.images.is_empty() {
            return Err(Error::usage(format!(
                "{} has no [images] and no compose build file ({}) to push",
                manifest.path.display(),
                images::SEED_COMPOSE_FILE
            )));
        }
    }
    let env = images::choose_env(&manifest, ctx.global.env.as_deref())?;
    let engine =
        Engine::detect(images::preferred_engine(&manifest, args.engine.as_deref())?).await?;
    let target = match &env {
        Some(env) => Some(build::target_for(ctx, &manifest, env).await?),
        None => None,
    };
    let mut items = Vec::new();
    match &compose {
        Some(file) => {
            for (service, reference) in
                crate::images::build::compose_images(&engine, file, &tag).await?
            {
                if !args.images.is_empty() && !args.images.contains(&service) {
                    continue;
                }
                let r = ImageRef::parse(&reference).ok_or_else(|| {
                    Error::usage(format!(
                        "service `{service}` of {} names image `{reference}`, which has no registry host to push to",
                        file.display()
                    ))
                })?;
                let ecr = images::takes_ecr_login(target.as_ref(), &r.host);
                items.push(PushItem {
                    image: service,
                    reference: r,
                    ecr,
                    immutable_tags: false,
                });
            }
        }
        None => {
            let target = target
                .as_ref()
                .expect("[images] projects have an environment");
            let names: Vec<String> = if args.images.is_empty() {
                manifest.doc.images.keys().cloned().collect()
            } else {
                args.images.clone()
            };
            for name in names {
                let r = images::image_ref(&manifest, &name, target, &tag)?;
                items.push(PushItem {
                    ecr: images::takes_ecr_login(Some(target), &r.host),
                    immutable_tags: manifest.doc.images[&name].immutable_tags,
                    image: name,
                    reference: r,
                });
            }
        }
    }
    // Unchanged images with a cached ECR login: done without asking AWS anything.
    let login_cache = match (&env, &target) {
        (Some(env), Some(target)) => {
            let profile = crate::aws::profile_name(manifest.environment(env)?, &ctx.global)
                .or_else(|| std::env::var("AWS_PROFILE").ok());
            LoginCache::for_registry(&target.registry, profile.as_deref())
        }
        _ => None,
    };
    if let Some(cache) = &login_cache {
        if let Some(pushed) = all_held(&items, &engine, cache, &ctx.out).await {
            print_pushed(ctx, &tag, &pushed);
            return Ok(0);
        }
    }
    let clients = match &env {
        Some(env) => {
            let environment = manifest.environment(env)?;
            Some(crate::aws::Clients::connect(environment, &ctx.global).await?)
        }
        None => None,
    };
    let ecr = clients
        .as_ref()
        .map(|c| Ecr::new(&c.config, target.as_ref().and_then(|t| t.account.clone())));
    let pushed = push_images(
        items,
        PushOptions {
            engine: &engine,
            ecr: ecr.as_ref(),
            create_repositories: args.create_repositories,
            parallel: images::parallelism(&manifest),
            out: &ctx.out,
            login_cache: login_cache.as_ref(),
        },
    )
    .await?;
    print_pushed(ctx, &tag, &pushed);
    Ok(0)
}

/// The final table (or JSON document) of a push.
fn print_pushed(ctx: &Context, tag: &str, pushed: &[crate::images::push::Pushed]) {
    if ctx.out.is_json() {
        ctx.out
            .json(&serde_json::json!({ "tag": tag, "images": pushed }));
    } else {
        let rows: Vec<Vec<String>> = pushed
            .iter()
            .map(|p| {
                vec![
                    p.image.clone(),
                    p.tag.clone(),
                    images::short_digest(&p.digest),
                    images::human_size(p.size),
                    format!("{:.1}s", p.seconds),
                    p.outcome.clone(),
                ]
            })
            .collect();
        println!(
            "{}",
            images::table(
                &["IMAGE", "TAG", "DIGEST", "SIZE", "DURATION", "RESULT"],
                &rows
            )
        );
    }
}
