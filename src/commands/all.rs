//! `wharf all --env E --tag T`: build → push → apply (when the project has Terraform) → deploy
//! (→ smoke tests when services have them); stops at the first failing stage.

use std::time::Duration;

use crate::error::Result;
use crate::pipeline::{self, PipelineRun};
use crate::project::manifest::Manifest;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image tag to build, push, apply and deploy.
    #[arg(long, short = 't', env = "WHARF_TAG")]
    pub tag: String,
    /// Give up watching a rollout after this long (exit 4), e.g. 15m, 90s.
    #[arg(long, default_value = "15m", value_parser = crate::cli::duration)]
    pub timeout: Duration,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let env = ctx.env_name()?.to_string();
    manifest.environment(&env)?;
    crate::images::check_tag(&args.tag)?;
    let run = PipelineRun {
        stages: pipeline::all_stages(&manifest, &env)?,
        env: Some(env),
        tag: args.tag,
        timeout: args.timeout,
        force: false,
    };
    let (results, code) = pipeline::run_stages(ctx, &run).await;
    pipeline::report_stages(
        ctx,
        &results,
        serde_json::json!({ "env": run.env, "tag": run.tag }),
    );
    Ok(code)
}
