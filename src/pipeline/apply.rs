//! `terraform plan` and `terraform apply` for an environment, with its var file and the tag
//! variable, then the rollouts of the services Terraform owns watched to their end.

use std::collections::HashMap;
use std::time::Duration;

use crate::aws::ecs::{Described, Ecs};
use crate::error::{Error, Result};
use crate::pipeline::record::{self, Record};
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
        color: ctx.out.color,
    }
}

/// What a saved Terraform plan would leave behind: the outputs (parts known only after apply
/// are unresolved markers, which the checks skip and the diff shows) and those parts' paths.
pub struct PlannedStack {
    pub outputs: terraform::Outputs,
    pub known_after_apply: Vec<String>,
}

/// `terraform plan` for `env` with its var file and the tag variable, saved to a temporary
/// file and read back (`terraform show -json`) for the outputs it would leave. A failed plan
/// is exit 1 (Terraform's exit code decides).
pub async fn terraform_plan(
    ctx: &Settings,
    manifest: &Manifest,
    env: &str,
    tag: Option<&str>,
) -> Result<PlannedStack> {
    let project = stack::require(manifest, env)?;
    terraform::select_workspace(&project).await?;
    let scratch = tempfile::Builder::new()
        .prefix("wharf-plan-")
        .tempdir()
        .map_err(|e| Error::failed(format!("cannot create a folder for the saved plan: {e}")))?;
    let plan_file = scratch.path().join("wharf.tfplan");
    let mut args = vec![
        "plan".to_string(),
        "-input=false".to_string(),
        format!("-out={}", plan_file.display()),
    ];
    args.extend(project.plan_args(tag));
    ctx.out.verbose(format!("terraform {}", args.join(" ")));
    // Not interactive (TF_IN_AUTOMATION): Terraform would otherwise suggest applying the saved
    // plan, which is a temporary file removed when wharf is done with it.
    let plan_streams = Streams {
        interactive: false,
        ..streams(ctx, false)
    };
    let code = terraform::stream(&project.dir, &args, plan_streams).await?;
    if code != 0 {
        return Err(Error::failed(format!(
            "terraform plan failed for environment `{env}` (exit {code})"
        )));
    }
    let doc = terraform::show_plan(&project, &plan_file).await?;
    for (from, to) in terraform::service_switches(&doc) {
        ctx.out.status(format!(
            "{from} becomes {to} (wharf_deploys changed): `wharf apply` moves it in the state \
             first, so the service is kept and not destroyed and created as planned above"
        ));
    }
    let (outputs, known_after_apply) = terraform::planned_outputs(&doc, &|path| {
        serde_json::Value::String(crate::project::unresolved::marker(&format!("tf.{path}")))
    });
    Ok(PlannedStack {
        outputs,
        known_after_apply,
    })
}

/// Before an apply: a service of wharf's `service` module whose `wharf_deploys` changed would be
/// destroyed and created again (two `count` resources; Terraform has no conditional `moved`
/// block). A quick plan without refresh finds such pairs, and `terraform state mv` moves each
/// to its new address, so the apply updates the service in place (no downtime). Only looked for
/// when the state has such a service at all.
async fn keep_switching_services(
    ctx: &Settings,
    project: &terraform::Stack,
    tag: Option<&str>,
) -> Result<()> {
    let needles = ["aws_ecs_service.terraform[0]", "aws_ecs_service.wharf[0]"];
    if !terraform::state_has(project, &needles).await? {
        return Ok(());
    }
    let scratch = tempfile::Builder::new()
        .prefix("wharf-switch-")
        .tempdir()
        .map_err(|e| Error::failed(format!("cannot create a folder for a plan: {e}")))?;
    let plan_file = scratch.path().join("switch.tfplan");
    if !terraform::quiet_plan(project, &plan_file, &project.plan_args(tag)).await? {
        // The apply itself plans again and reports what is wrong.
        return Ok(());
    }
    let doc = terraform::show_plan(project, &plan_file).await?;
    for (from, to) in terraform::service_switches(&doc) {
        ctx.out.status(format!(
            "moving {from} to {to} in the state (wharf_deploys changed; the service is kept)"
        ));
        terraform::state_mv(project, &from, &to).await?;
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
    /// Record the tag as the environment's last good one when the apply (and its watch)
    /// succeeds. `wharf all` and `wharf ci` record it only when every stage passed.
    pub record: bool,
    /// When the watch of the services fails (exit 1 or 4) after applying a tag, apply Terraform
    /// again with the environment's last good tag, so that its state does not keep a tag the
    /// services do not run (false for that second apply itself).
    pub put_back: bool,
}

/// What putting Terraform back on an earlier tag came to.
pub struct PutBack {
    pub exit_code: i32,
    pub duration_secs: f64,
    pub error: Option<String>,
}

/// The last good tag recorded for `env`, read before an apply that may have to be undone; a
/// failed read is said and taken as none.
pub async fn last_good_tag(ctx: &Settings, env: &str) -> Option<String> {
    match record::latest(ctx, env, Record::Applied).await {
        Ok(t) => t,
        Err(e) => {
            ctx.out.warn(format!(
                "cannot read the last applied tag, so a failure after the apply cannot put Terraform back: {}",
                e.message
            ));
            None
        }
    }
}

/// Terraform applied `applied` for `env`, and what followed failed (the watch of its services,
/// a deploy, a smoke test): its state holds a tag the services do not (or should not) run, and
/// the next apply would roll it out again. With the last good tag recorded (`previous`),
/// Terraform is applied again with it and its services watched; without one, the warning says
/// what the state holds and what to run. `None` when nothing was applied.
pub async fn put_back(
    ctx: &Settings,
    env: &str,
    applied: &str,
    previous: Option<String>,
    timeout: Duration,
    why: &str,
) -> Option<PutBack> {
    let inner = ctx.for_env(env);
    let Some(previous) = previous.filter(|p| p != applied) else {
        inner.out.warn(format!(
            "Terraform's state for `{env}` now holds tag {applied}, and wharf has no earlier tag \
             recorded for `{env}` to put back; run `wharf apply --env {env} --tag <the last good \
             tag>` so that the next apply does not roll {applied} out again"
        ));
        return None;
    };
    inner.out.status(format!(
        "==> putting Terraform back on tag {previous} (tag {applied} was applied, and {why})"
    ));
    let started = std::time::Instant::now();
    let outcome = Box::pin(terraform_apply(
        &inner,
        env,
        &ApplyOptions {
            tag: Some(previous.clone()),
            auto_approve: true,
            no_wait: false,
            timeout,
            quiet_stdout: ctx.out.is_json(),
            record: false,
            put_back: false,
        },
    ))
    .await;
    let duration_secs = started.elapsed().as_secs_f64();
    let (exit_code, error) = match outcome {
        Ok(0) => (0, None),
        Ok(c) => (
            c,
            Some(format!(
                "terraform apply with tag {previous} exited with {c}"
            )),
        ),
        Err(e) => {
            inner.out.error(&e);
            (e.exit_code(), Some(e.message.clone()))
        }
    };
    if exit_code == 0 {
        inner
            .out
            .status(format!("<== Terraform is back on tag {previous}"));
    } else {
        inner.out.warn(format!(
            "Terraform could not be put back on tag {previous}; its state may still hold \
             {applied}: run `wharf apply --env {env} --tag {previous}`"
        ));
    }
    Some(PutBack {
        exit_code,
        duration_secs,
        error,
    })
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
    keep_switching_services(ctx, &project, opts.tag.as_deref()).await?;
    let previous = match &opts.tag {
        Some(_) if opts.put_back && !opts.no_wait => last_good_tag(ctx, env).await,
        _ => None,
    };
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
    let code = if opts.no_wait {
        0
    } else {
        watch_terraform_services(ctx, &manifest, env, since, opts.timeout).await?
    };
    if code != 0 && opts.put_back {
        if let Some(tag) = &opts.tag {
            let why = if code == 4 {
                "its services did not finish rolling out in time"
            } else {
                "its services failed to roll out"
            };
            put_back(ctx, env, tag, previous, opts.timeout, why).await;
        }
    }
    if code == 0 && opts.record {
        if let Some(tag) = &opts.tag {
            record::put(ctx, env, Record::Applied, tag).await;
        }
    }
    Ok(code)
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
