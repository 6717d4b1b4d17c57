//! `wharf push [--tag T] [IMAGE...]`: push built images to the environment's ECR registry,
//! logging in with ECR's authorization token and skipping what the registry already holds.

use crate::error::Result;
use crate::images::push::{push, PushOptions};
use crate::settings::Settings;

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

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let options = PushOptions {
        images: args.images,
        tag: args.tag,
        create_repositories: args.create_repositories,
        engine: args.engine,
    };
    push(ctx, &options).await?.print(&ctx.out);
    Ok(0)
}
