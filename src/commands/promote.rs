//! `wharf promote --tag T --from E1 --to E2 [IMAGE...]`: give images already in ECR the tag the
//! target environment deploys, without rebuilding; the digest is checked to stay the same.

use super::build;
use crate::cli::Context;
use crate::error::Result;
use crate::images;
use crate::images::ecr::Ecr;
use crate::images::promote::{promote, Side};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Images to promote (all when none are named).
    pub images: Vec<String>,
    /// The tag of the image in the source environment.
    #[arg(long, short = 't', env = "WHARF_TAG")]
    pub tag: String,
    /// The environment whose registry holds the image.
    #[arg(long)]
    pub from: String,
    /// The environment that gets the image.
    #[arg(long)]
    pub to: String,
    /// The tag in the target environment (default: the same tag).
    #[arg(long)]
    pub to_tag: Option<String>,
}

pub async fn run(ctx: &Context, args: Args) -> Result<i32> {
    let manifest = ctx.manifest()?;
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
    let from_clients = crate::aws::Clients::connect(from_env, &ctx.global).await?;
    let to_clients = crate::aws::Clients::connect(to_env, &ctx.global).await?;
    let from_target = build::target_for(ctx, &manifest, &args.from).await?;
    let to_target = build::target_for(ctx, &manifest, &args.to).await?;
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
    if ctx.out.is_json() {
        ctx.out.json(&serde_json::json!({ "images": promoted }));
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
    Ok(0)
}
