//! `wharf wait --env E [SERVICE...]`: attach to the rollouts in progress and watch them to their
//! end, with the same outcome rules and exit codes as a deploy.

use std::collections::HashMap;
use std::time::Duration;

use crate::aws::ecs::Described;
use crate::error::Result;
use crate::project::connect::Connected;
use crate::project::manifest::Manifest;
use crate::rollout::deploy::{self, ServiceOutcome, ServiceResult};
use crate::rollout::state::Target;
use crate::rollout::view::View;
use crate::rollout::watch::StrategyOptions;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to watch (all when none are named).
    pub services: Vec<String>,
    /// Give up after this long (exit 4).
    #[arg(long, default_value = "15m", value_parser = crate::cli::duration)]
    pub timeout: Duration,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    // Fails on a bad project file before any AWS call.
    Manifest::load(&ctx.file)?;
    let conn = Connected::open(ctx, None, &[]).await?;
    let names = conn.select_service_names(&args.services)?;
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
            Described::Missing(name) => results.push(
                ServiceResult::new(name, "", ServiceOutcome::Failed)
                    .because("the service does not exist"),
            ),
        }
    }
    // wharf's smoke tests on test traffic: a blue/green deployment left at its pause hook (a
    // deploy with --no-wait) is answered here as the deploy would have.
    let keys: Vec<String> = conn
        .manifest
        .service_order()
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut checks = crate::rollout::smoke_check::test_traffic_checks(&conn, &keys)?;
    let mut strategies = HashMap::new();
    if !checks.is_empty() {
        for (key, name) in keys.iter().zip(conn.service_names(&keys)?) {
            if let Some(check) = checks.remove(key) {
                strategies.insert(
                    name,
                    StrategyOptions {
                        test_smoke: Some(check),
                        ..StrategyOptions::default()
                    },
                );
            }
        }
    }
    let signal = crate::interrupt::Interrupt::install();
    let mut view = View::for_output(&ctx.out);
    // Only what happens from now on: older events belong to rollouts that already ended (or
    // began before wharf attached) and would be shown as if new.
    let since = crate::rollout::watch::epoch_now();
    results.extend(
        deploy::watch_started(
            &conn,
            ctx,
            "wait",
            targets,
            strategies,
            since,
            args.timeout,
            &mut view,
            &signal,
        )
        .await?,
    );
    deploy::report(ctx, &results);
    Ok(deploy::exit_code(&results))
}
