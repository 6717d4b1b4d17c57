//! `wharf redeploy --env E [SERVICE...]`: force a new deployment of the named services (all when
//! none are named) with the revision they run, and watch it like a deploy.

use std::time::Duration;

use serde_json::json;

use crate::error::Result;
use crate::project::connect::Connected;
use crate::project::manifest::Manifest;
use crate::rollout::deploy;
use crate::rollout::state::Target;
use crate::rollout::view::View;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to redeploy (all when none are named).
    pub services: Vec<String>,
    /// Return once the deployments are started.
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
    deploy::confirm(ctx, &conn.env_name, conn.environment(), "Redeploy")?;
    let conn = &conn;
    deploy::under_lock(conn, ctx, "redeploy", args.timeout, |signal| async move {
        let since = crate::rollout::watch::epoch_now();
        let updates = futures::future::try_join_all(names.iter().map(|name| {
            let request =
                json!({"cluster": conn.ecs.cluster, "service": name, "forceNewDeployment": true});
            let ecs = &conn.ecs;
            async move { ecs.update_service(&request).await }
        }))
        .await?;
        let targets: Vec<Target> = updates
            .iter()
            .map(|s| {
                let primary = s.primary();
                Target {
                    service: s.service_name.clone(),
                    task_definition: primary
                        .map(|p| p.task_definition.clone())
                        .unwrap_or_else(|| s.task_definition.clone()),
                    deployment_id: primary.map(|p| p.id.clone()),
                }
            })
            .collect();
        let mut view = View::for_output(&ctx.out);
        for t in &targets {
            view.note(&format!(
                "{}: new deployment of {}",
                t.service,
                crate::aws::model::family_revision(&t.task_definition)
            ));
        }
        if args.no_wait {
            return Ok(Vec::new());
        }
        deploy::watch_started(
            conn,
            ctx,
            "redeploy",
            targets,
            Default::default(),
            since,
            args.timeout,
            &mut view,
            &signal,
        )
        .await
    })
    .await
}
