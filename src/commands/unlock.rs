//! `wharf unlock --env E`: break the deploy lock of an environment (after a killed deploy).

use crate::aws::Clients;
use crate::cli::Context;
use crate::error::Result;
use crate::lock::DeployLock;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(ctx: &Context, _args: Args) -> Result<i32> {
    let manifest = ctx.manifest()?;
    let env_name = ctx.env_name()?;
    let clients = Clients::connect(manifest.environment(env_name)?, &ctx.global).await?;
    match DeployLock::break_lock(&clients.ssm, manifest.app(), env_name).await? {
        Some(holder) => ctx.out.status(format!("broke the lock held by {holder}")),
        None => ctx
            .out
            .status(format!("{}/{env_name} was not locked", manifest.app())),
    }
    Ok(0)
}
