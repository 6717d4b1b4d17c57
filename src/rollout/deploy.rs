//! Executes rollouts: deploy (a plan), redeploy (force new deployments), rollback, and the
//! handling every one of them shares: watch, diagnose failures, roll back, report.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::aws::ecs::{Described, Ecs};
use crate::aws::model::{family_revision, Service};
use crate::error::{Error, Result};
use crate::images::check::{self, ImageUse};
use crate::project::connect::Connected;
use crate::project::manifest::{Environment, Manifest};
use crate::project::normalize;
use crate::project::render::Unit;
use crate::rollout::diagnose;
use crate::rollout::plan::{self, Action, ServicePlan};
use crate::rollout::stages::{Goal, Report};
use crate::rollout::state::{Failure, Target, Verdict};
use crate::rollout::view::View;
use crate::rollout::watch::{self, Outcome, StrategyOptions};
use crate::settings::Settings;

/// Services registered, created or updated in parallel at most.
const PARALLEL: usize = 8;

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
pub fn confirm(ctx: &Settings, env_name: &str, env: &Environment, what: &str) -> Result<()> {
    if !env.confirm || ctx.yes {
        return Ok(());
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(format!(
            "{what} in environment `{env_name}`: the environment asks for confirmation before changes, and there is no terminal to ask on"
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
    build_plan_with(conn, keys, true).await
}

/// Like [`build_plan`]; without a cluster (`cluster_exists` false: Terraform has yet to create
/// it) every service is planned as created and ECS is not asked about them.
pub async fn build_plan_with(
    conn: &Connected,
    keys: &[String],
    cluster_exists: bool,
) -> Result<Vec<ServicePlan>> {
    let inputs = conn
        .resolved
        .inputs(&conn.manifest, &conn.env_name, conn.tag.as_deref());
    let mut rendered = Vec::new();
    for key in keys {
        rendered.push(plan::render_service(&conn.manifest, &inputs, key)?);
    }
    let names: Vec<String> = rendered.iter().map(|(_, _, n)| n.clone()).collect();
    let described = if cluster_exists {
        conn.ecs.describe_services(&names).await?
    } else {
        names.iter().cloned().map(Described::Missing).collect()
    };
    let found =
        futures::future::try_join_all(rendered.iter().zip(&described).map(|((r, _, _), live)| {
            let running = match live {
                Described::Found(s, _) => Some(s.task_definition.clone()),
                Described::Missing(_) => None,
            };
            find_revisions(&conn.ecs, &r.task_definition, running)
        }))
        .await?;
    let mut plans = Vec::new();
    for (((key, (r, settings, name)), (latest, reuse)), live) in
        keys.iter().zip(rendered).zip(found).zip(described)
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
            reuse,
            live,
        ));
    }
    if plans.iter().any(|p| p.config.is_some()) {
        let s3 = conn.clients.s3();
        let changes = futures::future::try_join_all(plans.iter().map(|p| {
            let s3 = &s3;
            async move {
                match &p.config {
                    Some(c) => crate::project::config_files::diff(s3, &p.key, &c.prepared)
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

/// How many of a family's newest revisions are compared with a rendered task definition before
/// wharf registers a new one (beside the newest and the one the service runs).
const REUSE_DEPTH: usize = 5;

/// The family's newest revision, and an ACTIVE revision equal to `rendered` if there is one:
/// first the revision the service runs (`running`: reusing it changes nothing), then the newest,
/// then the few before it. After a failed deploy that ECS rolled back, the newest revision is
/// the failed one, and the good one the service runs again is found first.
async fn find_revisions(
    ecs: &Ecs,
    rendered: &Value,
    running: Option<String>,
) -> Result<(Option<Value>, Option<String>)> {
    let family = rendered["family"].as_str().unwrap_or_default();
    let registered = plan::registered_form(rendered);
    let latest = ecs.describe_task_definition(family).await?;
    let arn_of = |td: &Value| td["taskDefinitionArn"].as_str().map(str::to_string);
    let latest_arn = latest.as_ref().and_then(arn_of);
    let mut seen: Vec<String> = Vec::new();
    let running = running.filter(|r| crate::aws::model::family_of(r) == family);
    if let Some(arn) = &running {
        if Some(arn) != latest_arn.as_ref() {
            seen.push(arn.clone());
            if let Some(td) = ecs.describe_task_definition(arn).await? {
                if plan::reusable(&registered, &td) {
                    return Ok((latest, Some(arn.clone())));
                }
            }
        }
    }
    let Some(newest) = &latest else {
        return Ok((None, None));
    };
    if plan::reusable(&registered, newest) {
        return Ok((latest.clone(), latest_arn));
    }
    seen.extend(latest_arn);
    for arn in ecs.newest_task_definitions(family, REUSE_DEPTH + 1).await? {
        if seen.contains(&arn) {
            continue;
        }
        seen.push(arn.clone());
        if let Some(td) = ecs.describe_task_definition(&arn).await? {
            if plan::reusable(&registered, &td) {
                return Ok((latest, Some(arn)));
            }
        }
    }
    Ok((latest, None))
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
        crate::project::config_files::apply(&s3, &config.prepared, &config.changes).await?;
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

/// An ACTIVE revision of the family equal to `document` in canonical form (the newest, or one
/// of the few before it, as a deploy's plan finds them), else a newly [`register`]ed one; with
/// whether it registered. For `wharf run`, which has no plan.
pub async fn register_unless_reusable(ecs: &Ecs, document: &Value) -> Result<(String, bool)> {
    if let (_, Some(arn)) = find_revisions(ecs, document, None).await? {
        return Ok((arn, false));
    }
    Ok((register(ecs, &plan::registered_form(document)).await?, true))
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
    /// The desired count the service had, when this deploy changes it (a rollback restores it).
    pub previous_desired: Option<i64>,
    pub target: Target,
}

/// What a rollback returns a service to.
#[derive(Debug, Clone)]
pub struct Previous {
    pub revision: String,
    /// Set when the deploy changed the desired count.
    pub desired_count: Option<i64>,
}

/// The revision `service` is settled on: the one its last successful deployment ended on. That
/// is the one it runs when its primary deployment completed; while a rollout is still in
/// progress (or stuck), ECS's deployment history says where the last one that succeeded ended,
/// and a rollback goes there rather than to the stuck revision. Without a history (a service
/// that never completed a deployment, or an endpoint without it), the revision it runs.
pub async fn settled_revision(ecs: &Ecs, service: &Service) -> String {
    let completed = service
        .primary()
        .is_none_or(|p| p.rollout_state.as_deref().unwrap_or("COMPLETED") == "COMPLETED");
    if completed {
        return service.task_definition.clone();
    }
    match ecs
        .succeeded_task_definitions(&service.service_name, 10)
        .await
    {
        Ok(done) => done
            .into_iter()
            .next()
            .unwrap_or_else(|| service.task_definition.clone()),
        Err(_) => service.task_definition.clone(),
    }
}

async fn apply_one(ecs: &Ecs, plan: &ServicePlan) -> Result<Applied> {
    let (task_definition, registered) = match &plan.reuse {
        Some(arn) => (arn.clone(), false),
        None => (register(ecs, &plan.rendered).await?, true),
    };
    let action = plan.action();
    let previous = match &plan.live {
        Some(live) => Some(settled_revision(ecs, live).await),
        None => None,
    };
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
        previous_desired: plan
            .live
            .as_ref()
            .filter(|_| plan.setting_changes.iter().any(|c| c == "desiredCount"))
            .map(|live| live.desired_count),
        target: Target {
            service: plan.name.clone(),
            task_definition,
            deployment_id,
        },
    })
}

/// How a service's rollout ended (serialised in snake case for `--output json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceOutcome {
    /// The new deployment reached a steady state.
    Deployed,
    /// Nothing to change: the service already runs its rendered task definition.
    Unchanged,
    /// The service was updated and not watched (`--no-wait`).
    Applied,
    /// The rollout failed (and was rolled back unless `--no-rollback`).
    Failed,
    /// The rollout did not end within `--timeout`.
    TimedOut,
    /// Not attempted: an earlier service of the deploy failed.
    NotStarted,
    /// Rolled out, then put back on its previous revision because another service of the
    /// deploy failed (`--atomic`).
    RolledBack,
}

impl ServiceOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceOutcome::Deployed => "deployed",
            ServiceOutcome::Unchanged => "unchanged",
            ServiceOutcome::Applied => "applied",
            ServiceOutcome::Failed => "failed",
            ServiceOutcome::TimedOut => "timed_out",
            ServiceOutcome::NotStarted => "not_started",
            ServiceOutcome::RolledBack => "rolled_back",
        }
    }
}

impl std::fmt::Display for ServiceOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// How a service's rollout ended, for the report and `--output json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceResult {
    pub service: String,
    pub revision: String,
    pub outcome: ServiceOutcome,
    pub duration_secs: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<diagnose::Diagnosis>,
    /// blue/green, linear, canary: the service deployment's stages, hooks and traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_deployment: Option<Report>,
}

impl ServiceResult {
    /// `service` at `revision` ended with `outcome`, at once and with nothing to explain.
    pub fn new(
        service: impl Into<String>,
        revision: impl Into<String>,
        outcome: ServiceOutcome,
    ) -> Self {
        ServiceResult {
            service: service.into(),
            revision: revision.into(),
            outcome,
            duration_secs: 0.0,
            reason: None,
            rolled_back_to: None,
            diagnosis: None,
            service_deployment: None,
        }
    }

    /// The same, after `seconds`.
    pub fn took(mut self, seconds: f64) -> Self {
        self.duration_secs = seconds;
        self
    }

    /// The same, with the reason it ended so.
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// Options shared by every verb that watches a rollout.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub timeout: Duration,
    pub no_wait: bool,
    /// Why wharf leaves a failed rollout as it is (ECS's own rollback still applies), when it
    /// does: `--no-rollback`, or a verb that only watches.
    pub no_rollback: Option<String>,
    /// When a service fails, put the services this deploy already rolled out back on their
    /// previous revisions (`--atomic`).
    pub atomic: bool,
}

use crate::rollout::watch::epoch_now;

/// Watches `targets`, or returns `Err(Interrupted)` at Ctrl-C with the command that re-attaches.
pub async fn watch_or_interrupt(
    conn: &Connected,
    targets: Vec<Target>,
    since: f64,
    timeout: Duration,
    view: &mut View,
    signal: &crate::interrupt::Interrupt,
) -> Result<Vec<Outcome>> {
    watch_or_interrupt_with(conn, targets, HashMap::new(), since, timeout, view, signal).await
}

/// [`watch_or_interrupt`] with options for blue/green, linear and canary services.
pub async fn watch_or_interrupt_with(
    conn: &Connected,
    targets: Vec<Target>,
    strategies: HashMap<String, StrategyOptions>,
    since: f64,
    timeout: Duration,
    view: &mut View,
    signal: &crate::interrupt::Interrupt,
) -> Result<Vec<Outcome>> {
    let names: Vec<String> = targets.iter().map(|t| t.service.clone()).collect();
    tokio::select! {
        r = watch::watch_with(&conn.ecs, targets, strategies, since, timeout, view) => r,
        _ = signal.wait() => Err(Error::interrupted(format!(
            "interrupted; ECS keeps rolling out. Follow it with: wharf wait --env {} {}",
            conn.env_name,
            names.join(" ")
        ))),
    }
}

/// After a failed rollout: diagnose, roll back (unless ECS does or `--no-rollback`), watch the
/// rollback. `previous` is what to return to when wharf rolls back itself: the revision, and
/// the desired count where the deploy changed it (a deploy that changed only the count returns
/// to the count).
#[allow(clippy::too_many_arguments)]
pub async fn handle_failure(
    conn: &Connected,
    ctx: &Settings,
    outcome: &Outcome,
    task_definition_doc: Option<&Value>,
    previous: Option<&Previous>,
    opts: &WatchOptions,
    view: &mut View,
    signal: &crate::interrupt::Interrupt,
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
    diagnose::add_pending(&mut diagnosis, outcome, &conn.ecs, &conn.clients.elbv2).await;
    if !ctx.out.is_json() || ctx.out.verbosity > 0 {
        let details = diagnosis.details();
        if !details.trim().is_empty() {
            view.note(details.trim_end());
        }
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
        Some(Failure::ServiceDeployment { status, .. }) => {
            // ECS rolled back (or stopped) the deployment, and the watch followed it to its end.
            let to = outcome
                .last
                .as_ref()
                .map(|s| family_revision(&s.task_definition).to_string())
                .filter(|_| status == "ROLLBACK_SUCCESSFUL");
            return Ok((diagnosis, to));
        }
        Some(Failure::TimedOut { .. }) if outcome.service_deployment.is_some() => {
            let report = outcome.service_deployment.as_ref().expect("checked");
            if opts.no_rollback.is_some() || !in_flight(&report.status) {
                None
            } else {
                view.note(&format!(
                    "{}: stopping service deployment {} with ROLLBACK (StopServiceDeployment)",
                    outcome.target.service, report.arn
                ));
                if let Err(e) = conn.ecs.roll_back_service_deployment(&report.arn).await {
                    // A first deployment has nothing to roll back to; the result says timed out.
                    view.note(&format!(
                        "{}: the deployment could not be stopped: {}",
                        outcome.target.service, e.message
                    ));
                    return Ok((diagnosis, None));
                }
                let strategies = HashMap::from([(
                    outcome.target.service.clone(),
                    StrategyOptions {
                        service_deployment: Some(report.arn.clone()),
                        goal: Goal::RollBack,
                        test_smoke: None,
                    },
                )]);
                let outcomes = watch_or_interrupt_with(
                    conn,
                    vec![outcome.target.clone()],
                    strategies,
                    epoch_now(),
                    opts.timeout,
                    view,
                    signal,
                )
                .await?;
                let to = outcomes
                    .first()
                    .filter(|o| o.verdict == Verdict::Done)
                    .and_then(|o| o.last.as_ref())
                    .map(|s| family_revision(&s.task_definition).to_string());
                return Ok((diagnosis, to));
            }
        }
        Some(Failure::Replaced { .. })
        | Some(Failure::ServiceMissing)
        | Some(Failure::ServiceGone { .. }) => None,
        Some(_) if opts.no_rollback.is_some() => {
            view.note(&format!(
                "{}: not rolling back ({})",
                outcome.target.service,
                opts.no_rollback.as_deref().unwrap_or_default()
            ));
            None
        }
        Some(_) => match previous {
            Some(prev)
                if prev.revision != outcome.target.task_definition
                    || prev.desired_count.is_some() =>
            {
                let revision_changes = prev.revision != outcome.target.task_definition;
                let mut request = json!({
                    "cluster": conn.ecs.cluster,
                    "service": outcome.target.service,
                });
                let mut what = Vec::new();
                if revision_changes {
                    request["taskDefinition"] = json!(prev.revision);
                    what.push(family_revision(&prev.revision).to_string());
                }
                if let Some(count) = prev.desired_count {
                    request["desiredCount"] = json!(count);
                    what.push(format!("desired count {count}"));
                }
                view.note(&format!(
                    "{}: rolling back to {}",
                    outcome.target.service,
                    what.join(", ")
                ));
                let service = conn.ecs.update_service(&request).await?;
                let id = service
                    .deployments
                    .iter()
                    .find(|d| d.status == "PRIMARY" && d.task_definition == prev.revision)
                    .map(|d| d.id.clone());
                Some(Target {
                    service: outcome.target.service.clone(),
                    task_definition: prev.revision.clone(),
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

/// Whether a service deployment's status says ECS is still at it.
pub fn in_flight(status: &str) -> bool {
    matches!(status, "PENDING" | "IN_PROGRESS")
}

/// Runs `work` under the environment's deploy lock, which is released on every path (success,
/// failure, error, Ctrl-C), then reports the results and returns the exit code. `work` gets the
/// Ctrl-C signal, installed before the lock is taken.
pub async fn under_lock<F, Fut>(
    conn: &Connected,
    ctx: &Settings,
    action: &str,
    timeout: Duration,
    work: F,
) -> Result<i32>
where
    F: FnOnce(crate::interrupt::Interrupt) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<ServiceResult>>>,
{
    let signal = crate::interrupt::Interrupt::install();
    let lock = crate::rollout::lock::DeployLock::acquire(
        &conn.clients.ssm,
        conn.manifest.app(),
        &conn.env_name,
        action,
        timeout * 2 + Duration::from_secs(600),
    )
    .await?;
    let result = work(signal).await;
    let released = lock.release().await;
    // A lock that could not be released is said (how long it stays, how to clear it), and the
    // results are still reported: the deploy's own exit code wins; a deploy that succeeded but
    // left its lock behind exits 3, as an AWS error.
    let unreleased = released.err();
    if let Some(e) = &unreleased {
        ctx.out.warn(&e.message);
        if let Some(hint) = &e.hint {
            ctx.out.status(format!("  hint: {hint}"));
        }
    }
    let results = result?;
    report(ctx, &results);
    match (exit_code(&results), unreleased) {
        (0, Some(e)) => Ok(e.exit_code()),
        (code, _) => Ok(code),
    }
}

/// Watches rollouts wharf started outside a deploy plan (redeploy, rollback, wait) to their end
/// with the deploy's outcome rules; failures are diagnosed, and wharf leaves rolling back to ECS.
#[allow(clippy::too_many_arguments)]
pub async fn watch_started(
    conn: &Connected,
    ctx: &Settings,
    verb: &str,
    targets: Vec<Target>,
    strategies: HashMap<String, StrategyOptions>,
    since: f64,
    timeout: Duration,
    view: &mut View,
    signal: &crate::interrupt::Interrupt,
) -> Result<Vec<ServiceResult>> {
    let opts = WatchOptions {
        timeout,
        no_wait: false,
        no_rollback: Some(format!("`wharf {verb}` leaves rolling back to ECS")),
        atomic: false,
    };
    let outcomes =
        watch_or_interrupt_with(conn, targets, strategies, since, timeout, view, signal).await?;
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
    if results.iter().any(|r| {
        matches!(
            r.outcome,
            ServiceOutcome::Failed | ServiceOutcome::NotStarted
        )
    }) {
        1
    } else if results
        .iter()
        .any(|r| r.outcome == ServiceOutcome::TimedOut)
    {
        4
    } else {
        0
    }
}

/// Prints results: a summary on stderr, or the JSON document on stdout.
pub fn report(ctx: &Settings, results: &[ServiceResult]) {
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
    ctx: &Settings,
    outcomes: Vec<Outcome>,
    docs: &std::collections::HashMap<String, Value>,
    previous: &std::collections::HashMap<String, Previous>,
    opts: &WatchOptions,
    view: &mut View,
    signal: &crate::interrupt::Interrupt,
) -> Result<Vec<ServiceResult>> {
    let mut results = Vec::new();
    for outcome in outcomes {
        let revision = family_revision(&outcome.target.task_definition).to_string();
        let duration_secs = outcome.elapsed.as_secs_f64();
        match &outcome.verdict {
            Verdict::Done | Verdict::Progressing => results.push(ServiceResult {
                service_deployment: outcome.service_deployment.clone(),
                ..ServiceResult::new(&outcome.target.service, revision, ServiceOutcome::Deployed)
                    .took(duration_secs)
            }),
            Verdict::Failed(f) => {
                let (diagnosis, rolled_back_to) = handle_failure(
                    conn,
                    ctx,
                    &outcome,
                    docs.get(&outcome.target.service),
                    previous.get(&outcome.target.service),
                    opts,
                    view,
                    signal,
                )
                .await?;
                let ended = if matches!(f, Failure::TimedOut { .. } | Failure::NeverStarted { .. })
                {
                    ServiceOutcome::TimedOut
                } else {
                    ServiceOutcome::Failed
                };
                results.push(ServiceResult {
                    rolled_back_to,
                    diagnosis: Some(diagnosis),
                    service_deployment: outcome.service_deployment.clone(),
                    ..ServiceResult::new(&outcome.target.service, revision, ended)
                        .took(duration_secs)
                        .because(f.to_string())
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
    ctx: &Settings,
    plans: Vec<ServicePlan>,
    opts: &WatchOptions,
    signal: &crate::interrupt::Interrupt,
) -> Result<Vec<ServiceResult>> {
    let mut view = View::new(
        ctx.out.interactive && !ctx.out.is_json(),
        ctx.out.verbosity > 0,
    );
    let mut results: Vec<ServiceResult> = Vec::new();
    let mut remaining = plans;
    let mut finished: Vec<String> = Vec::new();
    // Every service this deploy changed, with the revision it ran before (for --atomic).
    let mut changed: Vec<(String, String)> = Vec::new();
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
                        results.push(ServiceResult::new(
                            &a.name,
                            family_revision(&a.task_definition),
                            ServiceOutcome::Unchanged,
                        ));
                        continue;
                    }
                    docs.insert(a.name.clone(), plan.rendered.clone());
                    if let Some(p) = &a.previous {
                        previous.insert(
                            a.name.clone(),
                            Previous {
                                revision: p.clone(),
                                desired_count: a.previous_desired,
                            },
                        );
                        changed.push((a.name.clone(), p.clone()));
                    }
                    targets.push(a.target);
                }
                Err(e) => {
                    // The first error is returned (and reported by the caller); report the others here.
                    if first_error.is_some() {
                        ctx.out.error(&e);
                    } else {
                        first_error = Some(e);
                    }
                }
            }
        }
        if opts.no_wait {
            for p in wave
                .iter()
                .filter(|p| targets.iter().any(|t| t.service == p.name))
            {
                let service = conn.manifest.doc.services.get(&p.key);
                if let Some(smoke) = service
                    .filter(|s| crate::rollout::smoke_check::runs_on_test_traffic(s))
                    .and_then(|s| s.smoke.as_ref())
                {
                    ctx.out.warn(format!(
                        "{}: its smoke test on test traffic runs only while wharf watches; without it ECS rolls the deployment back when the pause hook at POST_TEST_TRAFFIC_SHIFT times out ({} min). Follow it with `wharf wait --env {} {}`",
                        p.key,
                        crate::rollout::smoke_check::pause_minutes(smoke),
                        conn.env_name,
                        p.key
                    ));
                }
            }
            for t in &targets {
                results.push(
                    ServiceResult::new(
                        &t.service,
                        family_revision(&t.task_definition),
                        ServiceOutcome::Applied,
                    )
                    .took(started.elapsed().as_secs_f64()),
                );
            }
        } else if !targets.is_empty() {
            let strategies = test_traffic_options(conn, &wave, &targets)?;
            let outcomes = watch_or_interrupt_with(
                conn,
                targets,
                strategies,
                since,
                opts.timeout,
                &mut view,
                signal,
            )
            .await?;
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
            .any(|r| matches!(r.outcome, ServiceOutcome::Failed | ServiceOutcome::TimedOut))
        {
            for p in &remaining {
                results.push(
                    ServiceResult::new(&p.name, "", ServiceOutcome::NotStarted)
                        .because("an earlier service failed"),
                );
            }
            if opts.atomic {
                roll_back_the_rest(conn, &mut results, &changed, opts, &mut view, signal).await?;
            }
            break;
        }
        finished.extend(wave.iter().map(|p| p.key.clone()));
    }
    Ok(results)
}

/// The strategy options of the services of a wave that run a smoke test on test traffic, by
/// ECS service name (the other blue/green, linear and canary services are followed without).
fn test_traffic_options(
    conn: &Connected,
    wave: &[ServicePlan],
    targets: &[Target],
) -> Result<HashMap<String, StrategyOptions>> {
    let keys: Vec<String> = wave
        .iter()
        .filter(|p| targets.iter().any(|t| t.service == p.name))
        .map(|p| p.key.clone())
        .collect();
    let mut checks = crate::rollout::smoke_check::test_traffic_checks(conn, &keys)?;
    Ok(wave
        .iter()
        .filter_map(|p| {
            let check = checks.remove(&p.key)?;
            Some((
                p.name.clone(),
                StrategyOptions {
                    test_smoke: Some(check),
                    ..StrategyOptions::default()
                },
            ))
        })
        .collect())
}

/// `--atomic`: after a service of the deploy failed, puts every service the deploy rolled out
/// (`Deployed`) back on the revision it ran before (`changed`), watches that, and records it
/// in its result. A service the deploy created has nothing to go back to and is left, said so.
async fn roll_back_the_rest(
    conn: &Connected,
    results: &mut [ServiceResult],
    changed: &[(String, String)],
    opts: &WatchOptions,
    view: &mut View,
    signal: &crate::interrupt::Interrupt,
) -> Result<()> {
    let failed: Vec<String> = results
        .iter()
        .filter(|r| matches!(r.outcome, ServiceOutcome::Failed | ServiceOutcome::TimedOut))
        .map(|r| r.service.clone())
        .collect();
    let why = format!("{} failed (--atomic)", failed.join(", "));
    let mut targets = Vec::new();
    for r in results
        .iter_mut()
        .filter(|r| r.outcome == ServiceOutcome::Deployed)
    {
        let Some((_, previous)) = changed.iter().find(|(name, _)| *name == r.service) else {
            view.note(&format!(
                "{}: created by this deploy; left in place ({why})",
                r.service
            ));
            continue;
        };
        view.note(&format!(
            "{}: rolling back to {} because {why}",
            r.service,
            family_revision(previous)
        ));
        let service = conn
            .ecs
            .update_service(&json!({
                "cluster": conn.ecs.cluster,
                "service": r.service,
                "taskDefinition": previous,
            }))
            .await?;
        targets.push(Target {
            service: r.service.clone(),
            task_definition: previous.clone(),
            deployment_id: service
                .deployments
                .iter()
                .find(|d| d.status == "PRIMARY" && &d.task_definition == previous)
                .map(|d| d.id.clone()),
        });
    }
    if targets.is_empty() {
        return Ok(());
    }
    let outcomes =
        watch_or_interrupt(conn, targets, epoch_now(), opts.timeout, view, signal).await?;
    for o in outcomes {
        let Some(r) = results.iter_mut().find(|r| r.service == o.target.service) else {
            continue;
        };
        let to = family_revision(&o.target.task_definition).to_string();
        match &o.verdict {
            Verdict::Failed(f) => {
                r.outcome = ServiceOutcome::Failed;
                r.reason = Some(format!("the rollback to {to} ({why}) did not finish: {f}"));
            }
            _ => {
                r.outcome = ServiceOutcome::RolledBack;
                r.reason = Some(format!("rolled back because {why}"));
                r.rolled_back_to = Some(to);
            }
        }
    }
    Ok(())
}

/// What to deploy: `wharf deploy`'s flags, and the pipeline's deploy stage.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Services to deploy (all when empty).
    pub services: Vec<String>,
    /// Image tag for `{{ tag }}` and image().
    pub tag: Option<String>,
    /// Print the plan and the task-definition diffs; change nothing.
    pub dry_run: bool,
    /// Return once the services are updated, without watching the rollout.
    pub no_wait: bool,
    /// On failure, leave the services as they are (ECS's own rollback still applies).
    pub no_rollback: bool,
    /// Give up watching after this long (exit 4).
    pub timeout: Duration,
    /// When one service fails, roll back the others this deploy rolled out.
    pub atomic: bool,
    /// Register without checking that the images exist.
    pub skip_image_check: bool,
}

/// Renders, registers what changed, creates or updates the services, watches, rolls back on
/// failure. Returns the exit code.
pub async fn deploy(ctx: &Settings, args: &DeployOptions) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let keys = select_services(&manifest, &args.services)?;
    drop(manifest);
    let conn = Connected::open(ctx, args.tag.clone(), &Unit::services(&keys)).await?;
    let plans = build_plan(&conn, &keys).await?;
    if args.dry_run {
        return print_plan(ctx, &plans);
    }
    let secrets: Vec<String> = plans
        .iter()
        .flat_map(|p| p.secrets.iter().cloned())
        .collect();
    check_secrets(&conn, &secrets).await?;
    if plans
        .iter()
        .all(|p| p.action() == Action::Unchanged && !p.config_pending())
    {
        ctx.out.status("nothing to deploy: every service already runs its rendered task definition; no revision registered");
        let results: Vec<ServiceResult> = plans
            .iter()
            .map(|p| {
                let revision = p.reuse.as_deref().map(family_revision).unwrap_or_default();
                ServiceResult::new(&p.name, revision, ServiceOutcome::Unchanged)
            })
            .collect();
        report(ctx, &results);
        warn_held_lock(&conn, ctx).await;
        return Ok(0);
    }
    if !args.skip_image_check {
        let uses: Vec<ImageUse> = plans
            .iter()
            .flat_map(|p| check::uses_of(&format!("service {}", p.key), &p.rendered))
            .collect();
        check::check_images(ctx, &conn, &uses).await?;
    }
    if conn.environment().confirm && !ctx.yes {
        // What is asked about, before the question.
        ctx.out.status("plan:");
        for p in &plans {
            ctx.out.status(format!("  {}", p.summary()));
        }
    }
    confirm(ctx, &conn.env_name, conn.environment(), "Deploy")?;
    let opts = WatchOptions {
        timeout: args.timeout,
        no_wait: args.no_wait,
        no_rollback: args.no_rollback.then(|| "--no-rollback".to_string()),
        atomic: args.atomic,
    };
    let conn = &conn;
    under_lock(conn, ctx, "deploy", args.timeout, |signal| async move {
        execute(conn, ctx, plans, &opts, &signal).await
    })
    .await
}

/// A deploy with nothing to do takes no lock; it says when one is held all the same (a deploy
/// killed after it updated the services leaves its lock, and nothing else would say so until the
/// next deploy with a change is refused). Best effort: a lock that cannot be read is not said.
async fn warn_held_lock(conn: &Connected, ctx: &Settings) {
    let Ok(Some(current)) = crate::rollout::lock::DeployLock::read(
        &conn.clients.ssm,
        conn.manifest.app(),
        &conn.env_name,
    )
    .await
    else {
        return;
    };
    let dead = current
        .holder
        .as_ref()
        .is_some_and(|h| h.dead_on_this_host() && !h.expired());
    ctx.out.warn(if dead {
        format!(
            "the deploy lock {} is still held by {}, a process on this host that is no longer running (killed?); unless another checkout on this host is deploying, clear it with `wharf unlock --env {}`",
            current.name,
            current.describe(),
            conn.env_name
        )
    } else {
        format!(
            "the deploy lock {} is held by {}",
            current.name,
            current.describe()
        )
    });
}

fn print_plan(ctx: &Settings, plans: &[ServicePlan]) -> Result<i32> {
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
