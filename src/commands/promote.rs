//! `wharf promote --tag T --from E1 --to E2 [IMAGE...]`: give images already in ECR the tag the
//! target environment deploys, without rebuilding; the digest is checked to stay the same.

use crate::error::Result;
use crate::images::promote::{self, PromoteOptions};
use crate::settings::Settings;

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

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let options = PromoteOptions {
        images: args.images,
        tag: args.tag,
        from: args.from,
        to: args.to,
        to_tag: args.to_tag,
    };
    let promoted = promote::run(ctx, &options).await?;
    promote::print(&ctx.out, &promoted);
    Ok(0)
}
