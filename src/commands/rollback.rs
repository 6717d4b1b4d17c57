//! `wharf rollback --env E [SERVICE...] [--to REVISION]`: put services back on the previous (or
//! given) revision of their task definition family, and watch.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::aws::ecs::Described;
use crate::aws::model::{family_of, family_revision, revision_of};
use crate::error::{Error, Result};
use crate::project::connect::Connected;
use crate::project::manifest::Manifest;
use crate::rollout::deploy;
use crate::rollout::stages::Goal;
use crate::rollout::state::Target;
use crate::rollout::view::View;
use crate::rollout::watch::StrategyOptions;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to roll back (all when none are named).
    pub services: Vec<String>,
    /// Revision number to go back to (default: the one before the current).
    #[arg(long)]
    pub to: Option<u64>,
    /// Return once the services are updated.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up watching after this long (exit 4).
    #[arg(long, default_value = "15m", value_parser = crate::cli::duration)]
    pub timeout: Duration,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    // Fails on a bad project file before any AWS call.
    Manifest::load(&ctx.file)?;
    let conn = Connected::open(ctx, None, &[]).await?;
    let names = conn.select_service_names(&args.services)?;
    let mut moves = Vec::new();
    for d in conn.ecs.describe_services(&names).await? {
        let Described::Found(s, _) = d else {
            let Described::Missing(name) = d else {
                unreachable!()
            };
            return Err(Error::usage(format!(
                "service {name} does not exist in cluster {}",
                conn.ecs.cluster
            )));
        };
        let current = s.task_definition.clone();
        let family = family_of(&current).to_string();
        // A blue/green, linear or canary deployment still under way (a bake, say) is stopped
        // with ROLLBACK: ECS moves the traffic back to the old revision, which still runs.
        let in_flight = if args.to.is_none() && s.shifts_traffic() {
            conn.ecs
                .list_service_deployments(&s.service_name)
                .await?
                .into_iter()
                .find(|b| b["status"].as_str().is_some_and(deploy::in_flight))
                .and_then(|b| b["serviceDeploymentArn"].as_str().map(str::to_string))
        } else {
            None
        };
        let to = match args.to {
            Some(n) => {
                let name = format!("{family}:{n}");
                conn.ecs
                    .describe_task_definition(&name)
                    .await?
                    .and_then(|td| td["taskDefinitionArn"].as_str().map(str::to_string))
                    .ok_or_else(|| Error::usage(format!("task definition {name} does not exist")))?
            }
            None => previous_revision(ctx, &conn, &s.service_name, &current, &family).await?,
        };
        moves.push((s.service_name.clone(), current, to, in_flight));
    }
    deploy::confirm(ctx, &conn.env_name, conn.environment(), "Roll back")?;
    let conn = &conn;
    deploy::under_lock(conn, ctx, "rollback", args.timeout, |signal| async move {
        let since = crate::rollout::watch::epoch_now();
        let mut view = View::for_output(&ctx.out);
        let mut targets = Vec::new();
        let mut strategies = HashMap::new();
        for (name, from, to, in_flight) in &moves {
            if let Some(arn) = in_flight {
                conn.ecs.roll_back_service_deployment(arn).await?;
                view.note(&format!(
                    "{name}: stopped service deployment {arn} with ROLLBACK; ECS returns traffic to {}",
                    family_revision(to)
                ));
                targets.push(Target {
                    service: name.clone(),
                    task_definition: to.clone(),
                    deployment_id: None,
                });
                strategies.insert(
                    name.clone(),
                    StrategyOptions {
                        service_deployment: Some(arn.clone()),
                        goal: Goal::RollBack,
                        test_smoke: None,
                    },
                );
                continue;
            }
            let s = conn
                .ecs
                .update_service(
                    &json!({"cluster": conn.ecs.cluster, "service": name, "taskDefinition": to}),
                )
                .await?;
            view.note(&format!(
                "{name}: {} -> {}",
                family_revision(from),
                family_revision(to)
            ));
            targets.push(Target {
                service: name.clone(),
                task_definition: to.clone(),
                deployment_id: s
                    .deployments
                    .iter()
                    .find(|d| d.status == "PRIMARY" && &d.task_definition == to)
                    .map(|d| d.id.clone()),
            });
        }
        if args.no_wait {
            return Ok(Vec::new());
        }
        deploy::watch_started(
            conn,
            ctx,
            "rollback",
            targets,
            strategies,
            since,
            args.timeout,
            &mut view,
            &signal,
        )
        .await
    })
    .await
}

/// "Previous": the revision the service ended on after its last successful deployment that
/// did not end on `current` (ECS's deployment history: a rollback ECS made ends on the good
/// revision, so the broken one it rolled back from is never chosen). Without any history, the
/// newest ACTIVE revision of the family older than `current`.
async fn previous_revision(
    ctx: &Settings,
    conn: &Connected,
    service: &str,
    current: &str,
    family: &str,
) -> Result<String> {
    let history = conn.ecs.succeeded_task_definitions(service, 50).await?;
    if let Some(to) = history.iter().find(|td| td.as_str() != current) {
        ctx.out.status(format!(
            "{service}: the last successful deployment before the current one ran {}",
            family_revision(to)
        ));
        return Ok(to.clone());
    }
    if !history.is_empty() {
        return Err(Error::failed(format!(
            "{service}: every successful deployment ECS remembers ran {}; nothing earlier to roll back to",
            family_revision(current)
        ))
        .with_hint("pass --to REVISION to choose one"));
    }
    let current_rev = revision_of(current).unwrap_or(0);
    let mut older: Vec<String> = conn
        .ecs
        .list_task_definitions(family)
        .await?
        .into_iter()
        .filter(|arn| revision_of(arn).is_some_and(|r| r < current_rev))
        .collect();
    older.sort_by_key(|arn| std::cmp::Reverse(revision_of(arn)));
    older.into_iter().next().ok_or_else(|| {
        Error::failed(format!(
            "{service}: no successful deployment in ECS's history and no revision of {family} older than {} to roll back to",
            family_revision(current)
        ))
    })
}
