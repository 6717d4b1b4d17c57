//! `wharf deploy --env E [--tag T] [SERVICE...]`: render, register only what changed, create or
//! update the services, watch, roll back on failure.

use std::time::Duration;

use crate::error::Result;
use crate::rollout::deploy::{deploy, DeployOptions};
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to deploy (all when none are named).
    pub services: Vec<String>,
    /// Image tag for `{{ tag }}` and image().
    #[arg(long, short = 't', env = "WHARF_TAG")]
    pub tag: Option<String>,
    /// Print the plan and the task-definition diffs; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Return once the services are updated, without watching the rollout.
    #[arg(long)]
    pub no_wait: bool,
    /// On failure, leave the service as it is (ECS's own circuit-breaker rollback still applies).
    #[arg(long)]
    pub no_rollback: bool,
    /// When one service fails, roll back the services this deploy already rolled out, so the
    /// environment ends as it began (default: they keep their new revision).
    #[arg(long)]
    pub atomic: bool,
    /// Give up watching after this long (exit 4), e.g. 15m, 90s.
    #[arg(long, default_value = "15m", value_parser = crate::cli::duration)]
    pub timeout: Duration,
    /// Register without checking first that every image exists in its registry.
    #[arg(long)]
    pub skip_image_check: bool,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let options = DeployOptions {
        services: args.services,
        tag: args.tag,
        dry_run: args.dry_run,
        no_wait: args.no_wait,
        no_rollback: args.no_rollback,
        timeout: args.timeout,
        atomic: args.atomic,
        skip_image_check: args.skip_image_check,
    };
    deploy(ctx, &options).await
}
