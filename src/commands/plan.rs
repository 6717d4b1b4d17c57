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
    let has_stack = crate::project::stack::of(&manifest, &env)?.is_some();
    if !has_stack && args.terraform_only {
        // The usage error naming what is missing.
        crate::project::stack::require(&manifest, &env)?;
    }
    let planned = if has_stack {
        Some(pipeline::apply::terraform_plan(ctx, &manifest, &env, args.tag.as_deref()).await?)
    } else {
        None
    };
    if args.terraform_only || manifest.doc.services.is_empty() {
        return Ok(0);
    }
    let keys = deploy::select_services(&manifest, &[])?;
    drop(manifest);
    let (outputs, known_after_apply) = match planned {
        Some(p) => (Some(p.outputs), p.known_after_apply),
        None => (None, Vec::new()),
    };
    let conn = Connected::open_with_outputs(ctx, args.tag.clone(), &Unit::services(&keys), outputs)
        .await?;
    // On an environment never applied, Terraform has yet to create the cluster.
    let cluster = conn.ecs.cluster.clone();
    let cluster_exists =
        !crate::project::unresolved::is_unresolved(&cluster) && conn.ecs.cluster_exists().await?;
    let plans = deploy::build_plan_with(&conn, &keys, cluster_exists).await?;
    // The outputs the services' templates use that Terraform knows only after apply.
    let pending: Vec<String> = known_after_apply
        .iter()
        .map(|p| format!("tf.{p}"))
        .filter(|name| plans.iter().any(|p| p.unresolved.iter().any(|u| u == name)))
        .collect();
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
                    "known_after_apply": p.unresolved,
                })
            })
            .collect();
        ctx.out.json(&serde_json::json!({
            "cluster": cluster,
            "cluster_exists": cluster_exists,
            "services": doc,
            "known_after_apply": pending,
        }));
        return Ok(0);
    }
    println!("\nservices (a deploy with this tag would):");
    if !cluster_exists {
        println!("  (cluster {cluster} does not exist yet: every service would be created)");
    }
    for p in &plans {
        println!("  {}", p.summary());
    }
    if !pending.is_empty() {
        println!(
            "\nknown only after apply (shown as {}…⟩ below): {}",
            crate::project::unresolved::MARKER_OPEN,
            pending.join(", ")
        );
    }
    for p in plans.iter() {
        print!("{}", p.task_definition_diff(ctx.out.color));
    }
    Ok(0)
}
