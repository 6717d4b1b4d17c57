//! `wharf wait --env E [SERVICE...]`: attach to the rollouts in progress and watch them to their
//! end, with the same outcome rules and exit codes as a deploy.

use std::time::Duration;

use crate::aws::ecs::Described;
use crate::cli::Context;
use crate::deploy::{self, Connected, ServiceResult};
use crate::error::Result;
use crate::rollout::Target;
use crate::view::View;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to watch (all when none are named).
    pub services: Vec<String>,
    /// Give up after this long (exit 4).
    #[arg(long, default_value = "15m", value_parser = crate::cli::duration)]
    pub timeout: Duration,
}

pub async fn run(ctx: &Context, args: Args) -> Result<i32> {
    let manifest = ctx.manifest()?;
    let keys = deploy::select_services(&manifest, &args.services)?;
    drop(manifest);
    let conn = Connected::open(ctx, None, &[]).await?;
    let names = conn.service_names(&keys)?;
    let mut targets = Vec::new();
    let mut results = Vec::new();
    for d in conn.ecs.describe_services(&names).await? {
        match d {
            Described::Found(s, _) => {
                let primary = s.primary();
                targets.push(Target {
                    service: s.service_name.clone(),
                    task_definition: primary
                        .map(|p| p.task_definition.clone())
                        .unwrap_or_else(|| s.task_definition.clone()),
                    deployment_id: primary.map(|p| p.id.clone()),
                });
            }
            Described::Missing(name) => results.push(ServiceResult {
                service: name,
                revision: String::new(),
                outcome: "failed".into(),
                duration_secs: 0.0,
                reason: Some("the service does not exist".into()),
                rolled_back_to: None,
                diagnosis: None,
            }),
        }
    }
    let signal = deploy::interrupt_signal();
    let mut view = View::for_output(&ctx.out);
    // Events from the last 10 minutes give context for a rollout already under way.
    let since = deploy::epoch_now() - 600.0;
    results.extend(
        deploy::watch_started(&conn, ctx, targets, since, args.timeout, &mut view, &signal).await?,
    );
    deploy::report(ctx, &results);
    Ok(deploy::exit_code(&results))
}
