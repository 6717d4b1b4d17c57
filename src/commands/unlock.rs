//! `wharf unlock --env E`: break the deploy lock of an environment (after a killed deploy).
//!
//! Like every verb that changes an environment, it checks the account guard first, and in an
//! environment with `confirm = true` it asks (or needs `--yes`) before breaking a lock that has
//! not expired. An expired lock is broken without asking: the next deploy would take it over.

use crate::aws::Clients;
use crate::error::Result;
use crate::project::manifest::Manifest;
use crate::rollout::deploy::confirm;
use crate::rollout::lock::DeployLock;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(ctx: &Settings, _args: Args) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let env_name = ctx.env_name()?;
    let environment = manifest.environment(env_name)?;
    let clients = Clients::connect(&environment.aws(ctx)).await?;
    clients
        .check_account(env_name, environment.account_guard())
        .await?;
    let app = manifest.app();
    let Some(lock) = DeployLock::read(&clients.ssm, app, env_name).await? else {
        ctx.out.status(format!("{app}/{env_name} was not locked"));
        return Ok(0);
    };
    let expired = lock.expired();
    if !expired {
        confirm(
            ctx,
            env_name,
            environment,
            &format!("Break the deploy lock held by {}", lock.describe()),
        )?;
    }
    DeployLock::break_lock(&clients.ssm, &lock).await?;
    ctx.out.status(format!(
        "broke the {}lock held by {}",
        if expired { "expired " } else { "" },
        lock.describe()
    ));
    Ok(0)
}
