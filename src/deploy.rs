//! Executes rollouts: deploy (a plan), redeploy (force new deployments), rollback, and the
//! handling every one of them shares: watch, diagnose failures, roll back, report.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::aws::ecs::{Described, Ecs};
use crate::aws::Clients;
use crate::cli::Context;
use crate::diagnose;
use crate::ecs::{family_revision, Service};
use crate::error::{Error, Result};
use crate::manifest::{Environment, Manifest};
use crate::normalize;
use crate::plan::{self, Action, ServicePlan};
use crate::render::{Resolved, Unit};
use crate::rollout::{Failure, Target, Verdict};
use crate::view::View;
use crate::watch::{self, Outcome};

/// Services registered, created or updated in parallel at most.
const PARALLEL: usize = 8;

/// An environment wharf is connected to: the project, the SDK clients, the resolved template
/// inputs and the cluster.
pub struct Connected {
    pub manifest: Manifest,
    pub env_name: String,
    pub clients: Clients,
    pub resolved: Resolved,
    pub ecs: Ecs,
    pub tag: Option<String>,
}

impl Connected {
    /// Loads the project, connects to `--env`, checks the account guard, reads Terraform outputs
    /// and the SSM values `units` need, and renders the cluster name.
    pub async fn open(ctx: &Context, tag: Option<String>, units: &[String]) -> Result<Connected> {
        let manifest = ctx.manifest()?;
        let env_name = ctx.env_name()?.to_string();
        let environment = manifest.environment(&env_name)?;
        let clients = Clients::connect(environment, &ctx.global).await?;
        clients.check_account(&env_name, environment).await?;
        let unit_refs: Vec<Unit> = units.iter().map(|u| Unit::Service(u.as_str())).collect();
        let resolved =
            Resolved::fetch(&manifest, &env_name, tag.as_deref(), &clients, &unit_refs).await?;
        let cluster = match &environment.cluster {
            Some(c) => {
                let inputs = resolved.inputs(&manifest, &env_name, tag.as_deref());
                crate::render::render_value(&inputs, "cluster", c)?
            }
            None => "default".to_string(),
        };
        let ecs = Ecs::new(clients.ecs.clone(), cluster);
        Ok(Connected {
            manifest,
            env_name,
            clients,
            resolved,
            ecs,
            tag,
        })
    }

    pub fn environment(&self) -> &Environment {
        &self.manifest.doc.environments[&self.env_name]
    }

    /// ECS service names of `keys` (the `name` template, or the key).
    pub fn service_names(&self, keys: &[String]) -> Result<Vec<String>> {
        let inputs = self
            .resolved
            .inputs(&self.manifest, &self.env_name, self.tag.as_deref());
        keys.iter()
            .map(|k| match &self.manifest.doc.services[k].name {
                Some(n) => crate::render::render_value(&inputs, "service name", n),
                None => Ok(k.clone()),
            })
            .collect()
    }
}

/// The services a command acts on: the ones named (checked against wharf.toml), or all.
pub fn select_services(manifest: &Manifest, named: &[String]) -> Result<Vec<String>> {
    if named.is_empty() {
        if manifest.doc.services.is_empty() {
            return Err(Error::usage(format!(
                "{} defines no services",
                manifest.path.display()
            )));
        }
        return Ok(manifest
            .service_order()
            .into_iter()
            .map(str::to_string)
            .collect());
    }
    for name in named {
        if !manifest.doc.services.contains_key(name) {
            return Err(manifest.unknown_unit(name));
        }
    }
    Ok(manifest
        .service_order()
        .into_iter()
        .filter(|s| named.iter().any(|n| n == s))
        .map(str::to_string)
        .collect())
}

/// Asks before changing an environment with `confirm = true` (or requires `--yes`).
pub fn confirm(ctx: &Context, env_name: &str, env: &Environment, what: &str) -> Result<()> {
    if !env.confirm || ctx.global.yes {
        return Ok(());
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(format!(
            "environment `{env_name}` asks for confirmation before changes, and there is no terminal to ask on"
        ))
        .with_hint("pass --yes to confirm"));
    }
    let ok = dialoguer_like_confirm(&format!("{what} in environment `{env_name}`?"))?;
    if ok {
        Ok(())
    } else {
        Err(Error::failed("not confirmed; nothing was changed"))
    }
}

fn dialoguer_like_confirm(question: &str) -> Result<bool> {
    use std::io::Write;
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::usage(format!("cannot read the answer: {e}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Builds the plan for `keys`: renders, reads the latest revisions and the live services.
pub async fn build_plan(conn: &Connected, keys: &[String]) -> Result<Vec<ServicePlan>> {
    let inputs = conn
        .resolved
        .inputs(&conn.manifest, &conn.env_name, conn.tag.as_deref());
    let mut rendered = Vec::new();
    for key in keys {
        rendered.push(plan::render_service(&conn.manifest, &inputs, key)?);
    }
    let names: Vec<String> = rendered.iter().map(|(_, _, n)| n.clone()).collect();
    let described = conn.ecs.describe_services(&names).await?;
    let latest = futures::future::try_join_all(rendered.iter().map(|(r, _, _)| {
        let family = r.task_definition["family"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        async move { conn.ecs.describe_task_definition(&family).await }
    }))
    .await?;
    let mut plans = Vec::new();
    for (((key, (r, settings, name)), latest), live) in
        keys.iter().zip(rendered).zip(latest).zip(described)
    {
        let live = match live {
            Described::Found(s, raw) => Some((*s, raw)),
            Described::Missing(_) => None,
        };
        plans.push(plan::plan_service(
            &conn.manifest,
            key,
            name,
            r,
            settings,
            latest,
            live,
        ));
    }
    if plans.iter().any(|p| p.config.is_some()) {
        let s3 = conn.clients.s3();
        let changes = futures::future::try_join_all(plans.iter().map(|p| {
            let s3 = &s3;
            async move {
                match &p.config {
                    Some(c) => crate::config_files::diff(s3, &p.key, &c.prepared)
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            }
        }))
        .await?;
        for (plan, changes) in plans.iter_mut().zip(changes) {
            if let (Some(config), Some(changes)) = (plan.config.as_mut(), changes) {
                config.changes = changes;
            }
        }
    }
    Ok(plans)
}

/// Uploads and deletes the config files of `plans` that differ from their bucket, before any
/// of them registers a task definition that carries the new hash.
async fn sync_config(conn: &Connected, plans: &[ServicePlan], view: &mut View) -> Result<()> {
    let pending: Vec<&ServicePlan> = plans.iter().filter(|p| p.config_pending()).collect();
    if pending.is_empty() {
        return Ok(());
    }
    let s3 = conn.clients.s3();
    for plan in pending {
        let config = plan.config.as_ref().expect("pending config");
        crate::config_files::apply(&s3, &config.prepared, &config.changes).await?;
        view.note(&format!(
            "{}: config {}: {}",
            plan.key,
            config.prepared.uri(),
            config.changes.summary(true)
        ));
    }
    Ok(())
}

/// Checks that every parameter referenced with `secret()` (by name, under `/<app>/<env>/`)
/// exists; lists the missing ones.
pub async fn check_secrets(conn: &Connected, secrets: &[String]) -> Result<()> {
    let mut names: Vec<String> = secrets
        .iter()
        .map(|s| {
            format!(
                "/{}/{}/{}",
                conn.manifest.app(),
                conn.env_name,
                s.trim_start_matches('/')
            )
        })
        .collect();
    names.sort();
    names.dedup();
    let mut missing = Vec::new();
    for chunk in names.chunks(10) {
        let out = conn
            .clients
            .ssm
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| crate::aws::error("ssm:GetParameters", e))?;
        missing.extend(out.invalid_parameters().iter().cloned());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "secrets referenced by the task definitions do not exist in SSM: {}",
            missing.join(", ")
        ))
        .with_hint(format!(
            "create them with `wharf secrets set NAME --env {}`",
            conn.env_name
        )))
    }
}

/// Registers `document` unless its family's newest revision already equals it, and retries
/// transient failures without ever registering it twice: before sending again, it looks whether
/// the lost attempt landed.
pub async fn register(ecs: &Ecs, document: &Value) -> Result<String> {
    let family = document["family"].as_str().unwrap_or_default().to_string();
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match ecs.register_task_definition(document).await {
            Ok(td) => {
                return td["taskDefinitionArn"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Error::aws("ecs:RegisterTaskDefinition returned no ARN"))
            }
            Err(e) if e.retryable && attempt < 6 => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                let latest = loop {
                    match ecs.describe_task_definition(&family).await {
                        Ok(l) => break l,
                        Err(e) if e.retryable && attempt < 6 => {
                            attempt += 1;
                            tokio::time::sleep(delay).await;
                        }
                        Err(e) => return Err(e),
                    }
                };
                if let Some(latest) =
                    latest.filter(|l| normalize::same_task_definition(document, l))
                {
                    if let Some(arn) = latest["taskDefinitionArn"].as_str() {
                        return Ok(arn.to_string());
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// What applying one service's plan did.
#[derive(Debug, Clone)]
pub struct Applied {
    pub key: String,
    pub name: String,
    pub action: Action,
    pub task_definition: String,
    pub registered: bool,
    /// The revision the service ran before (what a rollback returns to).
    pub previous: Option<String>,
    pub target: Target,
}

async fn apply_one(ecs: &Ecs, plan: &ServicePlan) -> Result<Applied> {
    let (task_definition, registered) = match &plan.reuse {
        Some(arn) => (arn.clone(), false),
        None => (register(ecs, &plan.rendered).await?, true),
    };
    let action = plan.action();
    let previous = plan.live.as_ref().map(|s| s.task_definition.clone());
    let service: Option<Service> = match (&action, registered) {
        (Action::Create, _) => Some(
            ecs.create_service(&plan.create_request(&ecs.cluster, &task_definition))
                .await?,
        ),
        (Action::Update, _) | (Action::Unchanged, true) => Some(
            ecs.update_service(&plan.update_request(&ecs.cluster, &task_definition))
                .await?,
        ),
        (Action::Unchanged, false) => None,
    };
    let deployment_id = service.as_ref().and_then(|s| {
        s.deployments
            .iter()
            .find(|d| d.status == "PRIMARY" && d.task_definition == task_definition)
            .map(|d| d.id.clone())
    });
    Ok(Applied {
        key: plan.key.clone(),
        name: plan.name.clone(),
        action,
        task_definition: task_definition.clone(),
        registered,
        previous,
        target: Target {
            service: plan.name.clone(),
            task_definition,
            deployment_id,
        },
    })
}

/// How a service's rollout ended, for the report and `--output json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceResult {
    pub service: String,
    pub revision: String,
    /// deployed, unchanged, failed, timed_out, not_started, applied (with --no-wait)
    pub outcome: String,
    pub duration_secs: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<diagnose::Diagnosis>,
}

/// Options shared by every verb that watches a rollout.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub timeout: Duration,
    pub no_wait: bool,
    pub no_rollback: bool,
}

pub fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Resolves when Ctrl-C is pressed. Installing it also keeps SIGINT from killing wharf midway
/// through a call, so a lock is always released.
pub fn interrupt_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(true);
        }
    });
    rx
}

async fn interrupted(mut rx: tokio::sync::watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Watches `targets`, or returns `Err(Interrupted)` at Ctrl-C with the command that re-attaches.
pub async fn watch_or_interrupt(
    conn: &Connected,
    targets: Vec<Target>,
    since: f64,
    timeout: Duration,
    view: &mut View,
    signal: &tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<Outcome>> {
    let names: Vec<String> = targets.iter().map(|t| t.service.clone()).collect();
    tokio::select! {
        r = watch::watch(&conn.ecs, targets, since, timeout, view) => r,
        _ = interrupted(signal.clone()) => Err(Error::interrupted(format!(
            "interrupted; ECS keeps rolling out. Follow it with: wharf wait --env {} {}",
            conn.env_name,
            names.join(" ")
        ))),
    }
}

/// After a failed rollout: diagnose, roll back (unless ECS does or `--no-rollback`), watch the
/// rollback. `previous` is the revision to return to when wharf rolls back itself.
#[allow(clippy::too_many_arguments)]
pub async fn handle_failure(
    conn: &Connected,
    ctx: &Context,
    outcome: &Outcome,
    task_definition_doc: Option<&Value>,
    previous: Option<&str>,
    opts: &WatchOptions,
    view: &mut View,
    signal: &tokio::sync::watch::Receiver<bool>,
) -> Result<(diagnose::Diagnosis, Option<String>)> {
    let mut diagnosis = diagnose::summarize(outcome);
    let described;
    let doc = match task_definition_doc {
        Some(d) => Some(d),
        None => {
            described = conn
                .ecs
                .describe_task_definition(&outcome.target.task_definition)
                .await
                .ok()
                .flatten();
            described.as_ref()
        }
    };
    if let Some(doc) = doc {
        diagnose::add_logs(&mut diagnosis, outcome, doc, &conn.clients.logs).await;
    }
    if !ctx.out.is_json() || ctx.out.verbosity > 0 {
        view.note(diagnosis.render().trim_end());
    }
    let failure = outcome.failure().cloned();
    let rollback_target = match &failure {
        Some(f) if f.ecs_rolls_back() => outcome.last.as_ref().and_then(|s| s.primary()).map(|p| {
            view.note(&format!(
                "{}: ECS is rolling back to {}; watching it",
                outcome.target.service,
                family_revision(&p.task_definition)
            ));
            Target {
                service: outcome.target.service.clone(),
                task_definition: p.task_definition.clone(),
                deployment_id: Some(p.id.clone()),
            }
        }),
        Some(Failure::Replaced { .. })
        | Some(Failure::ServiceMissing)
        | Some(Failure::ServiceGone { .. }) => None,
        Some(_) if opts.no_rollback => {
            view.note(&format!(
                "{}: not rolling back (--no-rollback)",
                outcome.target.service
            ));
            None
        }
        Some(_) => match previous {
            Some(prev) if prev != outcome.target.task_definition => {
                view.note(&format!(
                    "{}: rolling back to {}",
                    outcome.target.service,
                    family_revision(prev)
                ));
                let service = conn
                    .ecs
                    .update_service(&json!({
                        "cluster": conn.ecs.cluster,
                        "service": outcome.target.service,
                        "taskDefinition": prev,
                    }))
                    .await?;
                let id = service
                    .deployments
                    .iter()
                    .find(|d| d.status == "PRIMARY" && d.task_definition == prev)
                    .map(|d| d.id.clone());
                Some(Target {
                    service: outcome.target.service.clone(),
                    task_definition: prev.to_string(),
                    deployment_id: id,
                })
            }
            _ => {
                view.note(&format!(
                    "{}: no earlier revision to roll back to",
                    outcome.target.service
                ));
                None
            }
        },
        None => None,
    };
    let Some(target) = rollback_target else {
        return Ok((diagnosis, None));
    };
    let to = family_revision(&target.task_definition).to_string();
    let outcomes =
        watch_or_interrupt(conn, vec![target], epoch_now(), opts.timeout, view, signal).await?;
    match outcomes.first().map(|o| &o.verdict) {
        Some(Verdict::Done) => Ok((diagnosis, Some(to))),
        Some(Verdict::Failed(f)) => {
            view.note(&format!(
                "{}: the rollback did not finish: {f}",
                outcome.target.service
            ));
            Ok((diagnosis, None))
        }
        _ => Ok((diagnosis, None)),
    }
}

/// Runs `work` under the environment's deploy lock, which is released on every path (success,
/// failure, error, Ctrl-C), then reports the results and returns the exit code. `work` gets the
/// Ctrl-C signal, installed before the lock is taken.
pub async fn under_lock<F, Fut>(
    conn: &Connected,
    ctx: &Context,
    action: &str,
    timeout: Duration,
    work: F,
) -> Result<i32>
where
    F: FnOnce(tokio::sync::watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<ServiceResult>>>,
{
    let signal = interrupt_signal();
    let lock = crate::lock::DeployLock::acquire(
        &conn.clients.ssm,
        conn.manifest.app(),
        &conn.env_name,
        action,
        timeout * 2 + Duration::from_secs(600),
    )
    .await?;
    let result = work(signal).await;
    let released = lock.release().await;
    let results = result?;
    released?;
    report(ctx, &results);
    Ok(exit_code(&results))
}

/// Watches rollouts wharf started outside a deploy plan (redeploy, rollback, wait) to their end
/// with the deploy's outcome rules; failures are diagnosed, and wharf leaves rolling back to ECS.
pub async fn watch_started(
    conn: &Connected,
    ctx: &Context,
    targets: Vec<Target>,
    since: f64,
    timeout: Duration,
    view: &mut View,
    signal: &tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<ServiceResult>> {
    let opts = WatchOptions {
        timeout,
        no_wait: false,
        no_rollback: true,
    };
    let outcomes = watch_or_interrupt(conn, targets, since, timeout, view, signal).await?;
    let no_docs = std::collections::HashMap::new();
    let no_previous = std::collections::HashMap::new();
    settle(
        conn,
        ctx,
        outcomes,
        &no_docs,
        &no_previous,
        &opts,
        view,
        signal,
    )
    .await
}

/// Exit code for a set of results: 1 when anything failed, else 4 when anything timed out.
pub fn exit_code(results: &[ServiceResult]) -> i32 {
    if results
        .iter()
        .any(|r| r.outcome == "failed" || r.outcome == "not_started")
    {
        1
    } else if results.iter().any(|r| r.outcome == "timed_out") {
        4
    } else {
        0
    }
}

/// Prints results: a summary on stderr, or the JSON document on stdout.
pub fn report(ctx: &Context, results: &[ServiceResult]) {
    if ctx.out.is_json() {
        ctx.out.json(&json!({ "services": results }));
        return;
    }
    for r in results {
        let line = format!(
            "{:<24} {:<22} {:<11} {:>6.1}s{}{}",
            r.service,
            r.revision,
            r.outcome,
            r.duration_secs,
            r.reason
                .as_deref()
                .map(|s| format!("  {s}"))
                .unwrap_or_default(),
            r.rolled_back_to
                .as_deref()
                .map(|s| format!("  (rolled back to {s})"))
                .unwrap_or_default()
        );
        ctx.out.status(line);
    }
}

/// Turns watch outcomes into results, handling each failure (diagnosis, rollback).
#[allow(clippy::too_many_arguments)]
pub async fn settle(
    conn: &Connected,
    ctx: &Context,
    outcomes: Vec<Outcome>,
    docs: &std::collections::HashMap<String, Value>,
    previous: &std::collections::HashMap<String, String>,
    opts: &WatchOptions,
    view: &mut View,
    signal: &tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<ServiceResult>> {
    let mut results = Vec::new();
    for outcome in outcomes {
        let revision = family_revision(&outcome.target.task_definition).to_string();
        let duration_secs = outcome.elapsed.as_secs_f64();
        match &outcome.verdict {
            Verdict::Done | Verdict::Progressing => results.push(ServiceResult {
                service: outcome.target.service.clone(),
                revision,
                outcome: "deployed".into(),
                duration_secs,
                reason: None,
                rolled_back_to: None,
                diagnosis: None,
            }),
            Verdict::Failed(f) => {
                let (diagnosis, rolled_back_to) = handle_failure(
                    conn,
                    ctx,
                    &outcome,
                    docs.get(&outcome.target.service),
                    previous.get(&outcome.target.service).map(String::as_str),
                    opts,
                    view,
                    signal,
                )
                .await?;
                results.push(ServiceResult {
                    service: outcome.target.service.clone(),
                    revision,
                    outcome: if matches!(f, Failure::TimedOut { .. }) {
                        "timed_out"
                    } else {
                        "failed"
                    }
                    .into(),
                    duration_secs,
                    reason: Some(f.to_string()),
                    rolled_back_to,
                    diagnosis: Some(diagnosis),
                });
            }
        }
    }
    Ok(results)
}

/// Runs a deploy of `plans`: waves in `depends_on` order, services of a wave in parallel,
/// each wave watched to its end before the next starts.
pub async fn execute(
    conn: &Connected,
    ctx: &Context,
    plans: Vec<ServicePlan>,
    opts: &WatchOptions,
    signal: &tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<ServiceResult>> {
    let mut view = View::new(
        ctx.out.interactive && !ctx.out.is_json(),
        ctx.out.verbosity > 0,
    );
    let mut results: Vec<ServiceResult> = Vec::new();
    let mut remaining = plans;
    let mut finished: Vec<String> = Vec::new();
    while !remaining.is_empty() {
        let (wave, rest): (Vec<ServicePlan>, Vec<ServicePlan>) = remaining
            .into_iter()
            .partition(|p| p.depends_on.iter().all(|d| finished.contains(d)));
        remaining = rest;
        let wave = if wave.is_empty() {
            // Dependencies outside this deploy's selection: take them as satisfied.
            std::mem::take(&mut remaining)
        } else {
            wave
        };
        sync_config(conn, &wave, &mut view).await?;
        let since = epoch_now();
        let started = Instant::now();
        let applied: Vec<Result<Applied>> = {
            use futures::stream::StreamExt;
            futures::stream::iter(wave.iter().map(|p| apply_one(&conn.ecs, p)))
                .buffered(PARALLEL)
                .collect()
                .await
        };
        let mut targets = Vec::new();
        let mut docs = std::collections::HashMap::new();
        let mut previous = std::collections::HashMap::new();
        let mut first_error = None;
        for (plan, applied) in wave.iter().zip(applied) {
            match applied {
                Ok(a) => {
                    let verb = match (&a.action, a.registered) {
                        (Action::Create, _) => "creating service",
                        (Action::Update, _) => "updating service",
                        (Action::Unchanged, true) => "updating service",
                        (Action::Unchanged, false) => "unchanged",
                    };
                    view.note(&format!(
                        "{}: {}{} ({})",
                        a.key,
                        if a.registered { "registered " } else { "" },
                        family_revision(&a.task_definition),
                        verb
                    ));
                    if a.action == Action::Unchanged && !a.registered {
                        results.push(ServiceResult {
                            service: a.name.clone(),
                            revision: family_revision(&a.task_definition).to_string(),
                            outcome: "unchanged".into(),
                            duration_secs: 0.0,
                            reason: None,
                            rolled_back_to: None,
                            diagnosis: None,
                        });
                        continue;
                    }
                    docs.insert(a.name.clone(), plan.rendered.clone());
                    if let Some(p) = &a.previous {
                        previous.insert(a.name.clone(), p.clone());
                    }
                    targets.push(a.target);
                }
                Err(e) => {
                    // The first error is returned (and reported by the caller); report the others here.
                    if first_error.is_some() {
                        crate::cli::report(&ctx.out, &e);
                    } else {
                        first_error = Some(e);
                    }
                }
            }
        }
        if opts.no_wait {
            for t in &targets {
                results.push(ServiceResult {
                    service: t.service.clone(),
                    revision: family_revision(&t.task_definition).to_string(),
                    outcome: "applied".into(),
                    duration_secs: started.elapsed().as_secs_f64(),
                    reason: None,
                    rolled_back_to: None,
                    diagnosis: None,
                });
            }
        } else if !targets.is_empty() {
            let outcomes =
                watch_or_interrupt(conn, targets, since, opts.timeout, &mut view, signal).await?;
            let settled = settle(
                conn, ctx, outcomes, &docs, &previous, opts, &mut view, signal,
            )
            .await?;
            results.extend(settled);
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if results
            .iter()
            .any(|r| r.outcome == "failed" || r.outcome == "timed_out")
        {
            for p in &remaining {
                results.push(ServiceResult {
                    service: p.name.clone(),
                    revision: String::new(),
                    outcome: "not_started".into(),
                    duration_secs: 0.0,
                    reason: Some("an earlier service failed".into()),
                    rolled_back_to: None,
                    diagnosis: None,
                });
            }
            break;
        }
        finished.extend(wave.iter().map(|p| p.key.clone()));
    }
    Ok(results)
}
