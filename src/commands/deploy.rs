//! `wharf deploy --env E [--tag T] [SERVICE...]`: render, register only what changed, create or
//! update the services, watch, roll back on failure.

use std::time::Duration;

use crate::cli::Context;
use crate::deploy::{self, Connected, WatchOptions};
use crate::error::Result;
use crate::plan::Action;

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
    /// Give up watching after this long (exit 4), e.g. 15m, 90s.
    #[arg(long, default_value = "15m", value_parser = crate::cli::duration)]
    pub timeout: Duration,
}

pub async fn run(ctx: &Context, args: Args) -> Result<i32> {
    let manifest = ctx.manifest()?;
    let keys = deploy::select_services(&manifest, &args.services)?;
    drop(manifest);
    let conn = Connected::open(ctx, args.tag.clone(), &keys).await?;
    let plans = deploy::build_plan(&conn, &keys).await?;
    if args.dry_run {
        return print_plan(ctx, &plans);
    }
    let secrets: Vec<String> = plans
        .iter()
        .flat_map(|p| p.secrets.iter().cloned())
        .collect();
    deploy::check_secrets(&conn, &secrets).await?;
    if plans
        .iter()
        .all(|p| p.action() == Action::Unchanged && !p.config_pending())
    {
        ctx.out.status("nothing to deploy: every service already runs its rendered task definition; no revision registered");
        let results: Vec<deploy::ServiceResult> = plans
            .iter()
            .map(|p| deploy::ServiceResult {
                service: p.name.clone(),
                revision: p
                    .reuse
                    .as_deref()
                    .map(crate::ecs::family_revision)
                    .unwrap_or_default()
                    .to_string(),
                outcome: "unchanged".into(),
                duration_secs: 0.0,
                reason: None,
                rolled_back_to: None,
                diagnosis: None,
            })
            .collect();
        deploy::report(ctx, &results);
        return Ok(0);
    }
    deploy::confirm(ctx, &conn.env_name, conn.environment(), "Deploy")?;
    let opts = WatchOptions {
        timeout: args.timeout,
        no_wait: args.no_wait,
        no_rollback: args.no_rollback,
    };
    let conn = &conn;
    deploy::under_lock(conn, ctx, "deploy", args.timeout, |signal| async move {
        deploy::execute(conn, ctx, plans, &opts, &signal).await
    })
    .await
}

fn print_plan(ctx: &Context, plans: &[crate::plan::ServicePlan]) -> Result<i32> {
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
                    "task_definition": p.rendered,
                    "settings": p.settings,
                    "config": p.config.as_ref().map(|c| serde_json::json!({
                        "uri": c.prepared.uri(),
                        "hash": c.prepared.files.hash,
                        "upload": c.changes.upload,
                        "delete": c.changes.delete,
                        "unchanged": c.changes.unchanged,
                    })),
                })
            })
            .collect();
        ctx.out.json(&serde_json::json!({ "plan": doc }));
        return Ok(0);
    }
    println!("plan (dry run, nothing changed):");
    for p in plans {
        println!("  {}", p.summary());
    }
    for p in plans.iter() {
        print!("{}", p.task_definition_diff(ctx.out.color));
    }
    Ok(0)
}
