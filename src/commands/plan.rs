//! `wharf plan --env E [--tag T]`: `terraform plan` for the environment, then the task-definition
//! and service changes a deploy would make (nothing is changed).

use crate::error::Result;
use crate::pipeline;
use crate::project::connect::Connected;
use crate::project::manifest::Manifest;
use crate::project::render::Unit;
use crate::rollout::deploy;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image tag: passed to Terraform as the tag variable, and used for `{{ tag }}` and image().
    #[arg(long, short = 't', env = "WHARF_TAG")]
    pub tag: Option<String>,
    /// Only the Terraform plan; skip the services.
    #[arg(long)]
    pub terraform_only: bool,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let env = ctx.env_name()?.to_string();
    manifest.environment(&env)?;
    pipeline::apply::terraform_plan(ctx, &manifest, &env, args.tag.as_deref()).await?;
    if args.terraform_only || manifest.doc.services.is_empty() {
        return Ok(0);
    }
    let keys = deploy::select_services(&manifest, &[])?;
    drop(manifest);
    let conn = Connected::open(ctx, args.tag.clone(), &Unit::services(&keys)).await?;
    let plans = deploy::build_plan(&conn, &keys).await?;
    if ctx.out.is_json() {
        let doc: Vec<serde_json::Value> = plans
            .iter()
            .map(|p| {
                serde_json::json!({
                    "service": p.name,
                    "action": p.action(),
                    "register": p.registers(),
                    "reuse": p.reuse,
                    "setting_changes": p.setting_changes,
                })
            })
            .collect();
        ctx.out.json(&serde_json::json!({ "services": doc }));
        return Ok(0);
    }
    println!("\nservices (a deploy with this tag would):");
    for p in &plans {
        println!("  {}", p.summary());
    }
    for p in plans.iter() {
        print!("{}", p.task_definition_diff(ctx.out.color));
    }
    Ok(0)
}
