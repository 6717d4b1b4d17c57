//! `terraform plan` and `terraform apply` for an environment, with its var file and the tag
//! variable, then the rollouts of the services Terraform owns watched to their end.

use std::collections::HashMap;
use std::time::Duration;

use crate::aws::ecs::{Described, Ecs};
use crate::error::{Error, Result};
use crate::project::connect::Connected;
use crate::project::manifest::Manifest;
use crate::project::render::Resolved;
use crate::project::stack;
use crate::rollout::deploy::{self, WatchOptions};
use crate::rollout::state::Target;
use crate::rollout::view::View;
use crate::settings::Settings;
use crate::terraform::{self, Streams};

fn streams(ctx: &Settings, json_caller: bool) -> Streams {
    use std::io::IsTerminal;
    Streams {
        interactive: std::io::stdin().is_terminal(),
        stdout_to_stderr: json_caller || ctx.out.is_json(),
    }
}

/// `terraform plan` for `env` with its var file and the tag variable; exit code of Terraform
/// decides (a failed plan is exit 1).
pub async fn terraform_plan(
    ctx: &Settings,
    manifest: &Manifest,
    env: &str,
    tag: Option<&str>,
) -> Result<()> {
    let project = stack::require(manifest, env)?;
    terraform::select_workspace(&project).await?;
    let mut args = vec!["plan".to_string(), "-input=false".to_string()];
    args.extend(project.plan_args(tag));
    ctx.out.verbose(format!("terraform {}", args.join(" ")));
    let code = terraform::stream(&project.dir, &args, streams(ctx, false)).await?;
    if code != 0 {
        return Err(Error::failed(format!(
            "terraform plan failed for environment `{env}` (exit {code})"
        )));
    }
    Ok(())
}

/// How `apply` runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub tag: Option<String>,
    /// `-auto-approve` (`--yes`).
    pub auto_approve: bool,
    /// Do not watch the services Terraform owns after the apply.
    pub no_wait: bool,
    pub timeout: Duration,
    /// Terraform's stdout goes to stderr (the caller prints JSON on stdout).
    pub quiet_stdout: bool,
}

/// `terraform apply` for `env`, then the rollout of the services Terraform owns (those in its
/// `services` output that wharf.toml does not deploy) watched to their end. Returns the exit code.
pub async fn terraform_apply(ctx: &Settings, env: &str, opts: &ApplyOptions) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    manifest.environment(env)?;
    let project = stack::require(&manifest, env)?;
    let streams = streams(ctx, opts.quiet_stdout);
    if !opts.auto_approve && !streams.interactive {
        return Err(Error::usage(format!(
            "terraform apply for environment `{env}` asks for approval, and there is no terminal to ask on"
        ))
        .with_hint("pass --yes to apply without asking (terraform apply -auto-approve)"));
    }
    terraform::select_workspace(&project).await?;
    let mut args = vec!["apply".to_string()];
    if opts.auto_approve {
        args.push("-auto-approve".into());
        args.push("-input=false".into());
    }
    args.extend(project.plan_args(opts.tag.as_deref()));
    ctx.out.verbose(format!("terraform {}", args.join(" ")));
    let since = crate::rollout::watch::epoch_now();
    let code = terraform::stream(&project.dir, &args, streams).await?;
    if code != 0 {
        return Err(Error::failed(format!(
            "terraform apply failed for environment `{env}` (exit {code})"
        )));
    }
    if opts.no_wait {
        return Ok(0);
    }
    watch_terraform_services(ctx, &manifest, env, since, opts.timeout).await
}

/// Watches the rollouts of the services Terraform owns: the entries of its `services` output
/// that are not `[services]` of wharf.toml, in the cluster of its `cluster_name` output (or the
/// environment's `cluster`). Nothing to watch is success.
pub async fn watch_terraform_services(
    ctx: &Settings,
    manifest: &Manifest,
    env: &str,
    since: f64,
    timeout: Duration,
) -> Result<i32> {
    let ctx = ctx.for_env(env);
    let environment = manifest.environment(env)?;
    let clients = crate::aws::Clients::connect(&environment.aws(&ctx)).await?;
    let Some(outputs) = stack::outputs(manifest, env, &clients.config).await? else {
        return Ok(0);
    };
    let owned: Vec<String> = terraform::services_output(&outputs)?
        .into_iter()
        .filter(|(label, _)| !manifest.doc.services.contains_key(label))
        .map(|(_, name)| name)
        .collect();
    if owned.is_empty() {
        ctx.out.verbose("no Terraform-owned services to watch (no `services` output, or every one is deployed by wharf)");
        return Ok(0);
    }
    let resolved = Resolved {
        region: clients.region.clone(),
        account: match &environment.account {
            Some(a) => a.get_ref().clone(),
            None => clients.account().await?,
        },
        tf: Some(outputs.clone()),
        ssm: Default::default(),
    };
    let cluster = match (&environment.cluster, outputs.get("cluster_name").and_then(|v| v.as_str())) {
        (Some(c), _) => {
            let inputs = resolved.inputs(manifest, env, None);
            crate::project::render::render_value(&inputs, "cluster", c)?
        }
        (None, Some(name)) => name.to_string(),
        (None, None) => {
            return Err(Error::usage(
                "Terraform has a `services` output but no `cluster_name` output, and the environment has no `cluster`",
            )
            .with_hint("add output \"cluster_name\" to the Terraform configuration (see docs/terraform.md)"))
        }
    };
    let ecs = Ecs::new(clients.ecs.clone(), cluster);
    let mut targets = Vec::new();
    for d in ecs.describe_services(&owned).await? {
        match d {
            Described::Found(s, _) => {
                let primary = s.primary().cloned();
                targets.push(Target {
                    service: s.service_name.clone(),
                    task_definition: primary
                        .as_ref()
                        .map(|p| p.task_definition.clone())
                        .unwrap_or_else(|| s.task_definition.clone()),
                    deployment_id: primary.map(|p| p.id),
                });
            }
            Described::Missing(name) => {
                return Err(Error::failed(format!(
                "Terraform's `services` output names {name}, which does not exist in cluster {}",
                ecs.cluster
            )))
            }
        }
    }
    let conn = Connected {
        manifest: manifest.clone(),
        env_name: env.to_string(),
        clients,
        resolved,
        ecs,
        tag: None,
    };
    ctx.out.status(format!(
        "watching Terraform-owned services: {}",
        owned.join(", ")
    ));
    let signal = crate::interrupt::Interrupt::install();
    let mut view = View::new(ctx.out.interactive, ctx.out.verbosity > 0);
    let outcomes =
        deploy::watch_or_interrupt(&conn, targets, since, timeout, &mut view, &signal).await?;
    let opts = WatchOptions {
        timeout,
        no_wait: false,
        no_rollback: None,
        atomic: false,
    };
    let results = deploy::settle(
        &conn,
        &ctx,
        outcomes,
        &HashMap::new(),
        &HashMap::new(),
        &opts,
        &mut view,
        &signal,
    )
    .await?;
    deploy::report(&ctx, &results);
    Ok(deploy::exit_code(&results))
}
