//! `wharf apply --env E [--tag T]`: `terraform apply` for the environment (with its var file and
//! the tag variable), then the rollout of the services Terraform owns, watched to its end.

use std::time::Duration;

use crate::error::Result;
use crate::pipeline::apply::{self, ApplyOptions};
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image tag, passed to Terraform as the tag variable (`[terraform] tag_var`, default app_tag).
    #[arg(long, short = 't', env = "WHARF_TAG")]
    pub tag: Option<String>,
    /// Return once Terraform is done, without watching the services it changed.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up watching after this long (exit 4), e.g. 15m, 90s.
    #[arg(long, default_value = "15m", value_parser = crate::cli::duration)]
    pub timeout: Duration,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let env = ctx.env_name()?.to_string();
    let opts = ApplyOptions {
        tag: args.tag,
        auto_approve: ctx.yes,
        no_wait: args.no_wait,
        timeout: args.timeout,
        quiet_stdout: ctx.out.is_json(),
        record: true,
        put_back: true,
    };
    apply::terraform_apply(ctx, &env, &opts).await
}
