//! `wharf build [--tag T] [IMAGE...]`: build the project's images (or its compose build file
//! with `APP_TAG`), then print a table of image, tag, digest, size and duration.

use crate::error::Result;
use crate::images::build::{build, BuildOptions};
use crate::settings::Settings;

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

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let options = BuildOptions {
        images: args.images,
        tag: args.tag,
        engine: args.engine,
    };
    build(ctx, &options).await?.print(&ctx.out);
    Ok(0)
}
