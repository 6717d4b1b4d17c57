//! `wharf redeploy --env E [SERVICE...]`: force a new deployment of the named services (all when
//! none are named) with the revision they run, and watch it like a deploy.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::cli::Context;
use crate::deploy::{self, Connected, WatchOptions};
use crate::error::Result;
use crate::lock::DeployLock;
use crate::rollout::Target;
use crate::view::View;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to redeploy (all when none are named).
    pub services: Vec<String>,
    /// Return once the deployments are started.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up watching after this long (exit 4).
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

pub async fn run(ctx: &Context, args: Args) -> Result<i32> {
    let manifest = ctx.manifest()?;
    let keys = deploy::select_services(&manifest, &args.services)?;
    drop(manifest);
    let conn = Connected::open(ctx, None, &[]).await?;
    let names = conn.service_names(&keys)?;
    deploy::confirm(ctx, &conn.env_name, conn.environment(), "Redeploy")?;
    let signal = deploy::interrupt_signal();
    let lock = DeployLock::acquire(
        &conn.clients.ssm,
        conn.manifest.app(),
        &conn.env_name,
        "redeploy",
        args.timeout * 2 + Duration::from_secs(600),
    )
    .await?;
    let result = async {
        let since = deploy::epoch_now();
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
        let mut view = View::new(
            ctx.out.interactive && !ctx.out.is_json(),
            ctx.out.verbosity > 0,
        );
        for t in &targets {
            view.note(&format!(
                "{}: new deployment of {}",
                t.service,
                crate::ecs::family_revision(&t.task_definition)
            ));
        }
        if args.no_wait {
            return Ok(Vec::new());
        }
        let opts = WatchOptions {
            timeout: args.timeout,
            no_wait: false,
            no_rollback: true,
        };
        let outcomes =
            deploy::watch_or_interrupt(&conn, targets, since, args.timeout, &mut view, &signal)
                .await?;
        deploy::settle(
            &conn,
            ctx,
            outcomes,
            &HashMap::new(),
            &HashMap::new(),
            &opts,
            &mut view,
            &signal,
        )
        .await
    }
    .await;
    let released = lock.release().await;
    let results = result?;
    released?;
    deploy::report(ctx, &results);
    Ok(deploy::exit_code(&results))
}
