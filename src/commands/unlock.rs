//! `wharf unlock --env E`: break the deploy lock of an environment (after a killed deploy).

use crate::aws::Clients;
use crate::error::Result;
use crate::project::manifest::Manifest;
use crate::rollout::lock::DeployLock;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(ctx: &Settings, _args: Args) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let env_name = ctx.env_name()?;
    let clients = Clients::connect(&manifest.environment(env_name)?.aws(ctx)).await?;
    match DeployLock::break_lock(&clients.ssm, manifest.app(), env_name).await? {
        Some(holder) => ctx.out.status(format!("broke the lock held by {holder}")),
        None => ctx
            .out
            .status(format!("{}/{env_name} was not locked", manifest.app())),
    }
    Ok(0)
}
