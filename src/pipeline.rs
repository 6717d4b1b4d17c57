//! The pipeline: Terraform plan/apply for an environment (and the watch of the services Terraform
//! owns), stages run in order with their durations (`wharf all`), the CI decision (`wharf ci`:
//! which branch or tag does what) and smoke tests after a deploy.
//!
//! The decisions are pure and tested without a network ([`detect_ci`], [`decide`],
//! [`glob_match`], [`check_response`]); running a stage calls the verbs' own code.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::aws::ecs::{Described, Ecs};
use crate::cli::Context;
use crate::deploy::{self, Connected, WatchOptions};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::output::Format;
use crate::render::Resolved;
use crate::rollout::Target;
use crate::terraform::{self, Project, Streams};
use crate::view::View;

/// A copy of `ctx` acting on `env`, printing text (the caller keeps stdout for its own JSON).
pub fn context_for(ctx: &Context, env: &str) -> Context {
    let mut global = ctx.global.clone();
    global.env = Some(env.to_string());
    let mut out = ctx.out.clone();
    out.format = Format::Text;
    Context { global, out }
}

fn streams(ctx: &Context, json_caller: bool) -> Streams {
    use std::io::IsTerminal;
    Streams {
        interactive: std::io::stdin().is_terminal(),
        stdout_to_stderr: json_caller || ctx.out.is_json(),
    }
}

/// `terraform plan` for `env` with its var file and the tag variable; exit code of Terraform
/// decides (a failed plan is exit 1).
pub async fn terraform_plan(
    ctx: &Context,
    manifest: &Manifest,
    env: &str,
    tag: Option<&str>,
) -> Result<()> {
    let project = Project::require(manifest, env)?;
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
pub async fn terraform_apply(ctx: &Context, env: &str, opts: &ApplyOptions) -> Result<i32> {
    let manifest = ctx.manifest()?;
    manifest.environment(env)?;
    let project = Project::require(&manifest, env)?;
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
    let since = deploy::epoch_now();
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
    ctx: &Context,
    manifest: &Manifest,
    env: &str,
    since: f64,
    timeout: Duration,
) -> Result<i32> {
    let ctx = context_for(ctx, env);
    let environment = manifest.environment(env)?;
    let clients = crate::aws::Clients::connect(environment, &ctx.global).await?;
    let Some(outputs) = terraform::outputs(manifest, env, &clients.config).await? else {
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
            crate::render::render_value(&inputs, "cluster", c)?
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
    let signal = deploy::interrupt_signal();
    let mut view = View::new(ctx.out.interactive, ctx.out.verbosity > 0);
    let outcomes =
        deploy::watch_or_interrupt(&conn, targets, since, timeout, &mut view, &signal).await?;
    let opts = WatchOptions {
        timeout,
        no_wait: false,
        no_rollback: false,
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

/// A step of `wharf all` / `wharf ci`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    Build,
    Push,
    /// Give the image built for another environment this environment's tag.
    Promote {
        from: String,
    },
    Apply,
    Deploy,
    Smoke,
}

impl Stage {
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Build => "build",
            Stage::Push => "push",
            Stage::Promote { .. } => "promote",
            Stage::Apply => "apply",
            Stage::Deploy => "deploy",
            Stage::Smoke => "smoke",
        }
    }
}

/// What a pipeline run acts on.
#[derive(Debug, Clone)]
pub struct Run {
    /// None for a build-only pipeline.
    pub env: Option<String>,
    pub tag: String,
    pub stages: Vec<Stage>,
    pub timeout: Duration,
}

/// How one stage ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageResult {
    pub stage: &'static str,
    /// ok, failed, not_run
    pub outcome: &'static str,
    pub duration_secs: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub exit_code: i32,
}

/// The stages of `wharf all`: build → push → apply (when the project has Terraform) → deploy
/// (when it has services wharf deploys) → smoke (when services have smoke tests).
pub fn all_stages(manifest: &Manifest, env: &str) -> Result<Vec<Stage>> {
    let mut stages = image_stages(manifest)?;
    if Project::of(manifest, env)?.is_some() {
        stages.push(Stage::Apply);
    }
    stages.extend(deploy_stages(manifest));
    Ok(stages)
}

/// build → push, when the project builds images (`[images]` or a compose build file).
fn image_stages(manifest: &Manifest) -> Result<Vec<Stage>> {
    if manifest.doc.images.is_empty() && crate::images::compose_file(manifest)?.is_none() {
        Ok(Vec::new())
    } else {
        Ok(vec![Stage::Build, Stage::Push])
    }
}

fn deploy_stages(manifest: &Manifest) -> Vec<Stage> {
    let mut stages = Vec::new();
    if !manifest.doc.services.is_empty() {
        stages.push(Stage::Deploy);
    }
    if manifest.doc.services.values().any(|s| s.smoke.is_some()) {
        stages.push(Stage::Smoke);
    }
    stages
}

/// Runs the stages in order, printing each with its duration and outcome; stops at the first
/// failure. Returns the results of every stage (the ones not run included) and the exit code.
pub async fn run_stages(ctx: &Context, run: &Run) -> (Vec<StageResult>, i32) {
    let mut results = Vec::new();
    let mut code = 0;
    let mut before: Option<HashMap<String, String>> = None;
    let count = run.stages.len();
    for (i, stage) in run.stages.iter().enumerate() {
        if code != 0 {
            results.push(StageResult {
                stage: stage.name(),
                outcome: "not_run",
                duration_secs: 0.0,
                error: None,
                exit_code: 0,
            });
            continue;
        }
        ctx.out
            .status(format!("==> [{}/{count}] {}", i + 1, stage.name()));
        let started = Instant::now();
        if *stage == Stage::Deploy {
            // What runs before the deploy, for a rollback when the smoke test fails.
            before = match snapshot(ctx, run).await {
                Ok(s) => Some(s),
                Err(e) => {
                    ctx.out
                        .warn(format!("cannot read the services before deploying: {e}"));
                    None
                }
            };
        }
        let outcome = run_stage(ctx, run, stage, before.as_ref()).await;
        let duration_secs = started.elapsed().as_secs_f64();
        let (stage_code, error) = match outcome {
            Ok(0) => (0, None),
            Ok(c) => (c, Some(format!("{} exited with {c}", stage.name()))),
            Err(e) => {
                crate::cli::report(&context_for(ctx, run.env.as_deref().unwrap_or("")).out, &e);
                (e.exit_code(), Some(e.message.clone()))
            }
        };
        ctx.out.status(format!(
            "<== {} {} in {duration_secs:.1}s",
            stage.name(),
            if stage_code == 0 { "ok" } else { "FAILED" }
        ));
        code = stage_code;
        results.push(StageResult {
            stage: stage.name(),
            outcome: if stage_code == 0 { "ok" } else { "failed" },
            duration_secs,
            error,
            exit_code: stage_code,
        });
    }
    (results, code)
}

/// Prints the stage summary (text on stderr, or the JSON document on stdout).
pub fn report_stages(ctx: &Context, results: &[StageResult], extra: serde_json::Value) {
    if ctx.out.is_json() {
        let mut doc = json!({ "stages": results });
        if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        ctx.out.json(&doc);
        return;
    }
    ctx.out.status("stages:");
    for r in results {
        let time = if r.outcome == "not_run" {
            String::new()
        } else {
            format!("{:>6.1}s", r.duration_secs)
        };
        ctx.out.status(format!(
            "  {:<8} {:<8} {time}{}",
            r.stage,
            r.outcome.replace('_', " "),
            r.error
                .as_deref()
                .map(|e| format!("  {}", e.lines().next().unwrap_or_default()))
                .unwrap_or_default()
        ));
    }
}

async fn run_stage(
    ctx: &Context,
    run: &Run,
    stage: &Stage,
    before: Option<&HashMap<String, String>>,
) -> Result<i32> {
    use crate::commands;
    let env = run.env.clone();
    let need_env = || {
        env.clone()
            .ok_or_else(|| Error::usage(format!("the {} stage needs an environment", stage.name())))
    };
    let inner = match &env {
        Some(e) => context_for(ctx, e),
        None => {
            let mut c = context_for(ctx, "");
            c.global.env = None;
            c
        }
    };
    match stage {
        Stage::Build => {
            commands::build::run(
                &inner,
                commands::build::Args {
                    images: Vec::new(),
                    tag: Some(run.tag.clone()),
                    engine: None,
                },
            )
            .await
        }
        Stage::Push => {
            commands::push::run(
                &inner,
                commands::push::Args {
                    images: Vec::new(),
                    tag: Some(run.tag.clone()),
                    create_repositories: false,
                    engine: None,
                },
            )
            .await
        }
        Stage::Promote { from } => {
            commands::promote::run(
                &inner,
                commands::promote::Args {
                    images: Vec::new(),
                    tag: run.tag.clone(),
                    from: from.clone(),
                    to: need_env()?,
                    to_tag: None,
                },
            )
            .await
        }
        Stage::Apply => {
            let env = need_env()?;
            terraform_apply(
                &inner,
                &env,
                &ApplyOptions {
                    tag: Some(run.tag.clone()),
                    auto_approve: ctx.global.yes,
                    no_wait: false,
                    timeout: run.timeout,
                    quiet_stdout: ctx.out.is_json(),
                },
            )
            .await
        }
        Stage::Deploy => {
            need_env()?;
            commands::deploy::run(
                &inner,
                commands::deploy::Args {
                    services: Vec::new(),
                    tag: Some(run.tag.clone()),
                    dry_run: false,
                    no_wait: false,
                    no_rollback: false,
                    timeout: run.timeout,
                },
            )
            .await
        }
        Stage::Smoke => {
            need_env()?;
            smoke_and_roll_back(&inner, run, before).await
        }
    }
}

/// The task definition each wharf-deployed service runs now (service name → ARN).
async fn snapshot(ctx: &Context, run: &Run) -> Result<HashMap<String, String>> {
    let Some(env) = &run.env else {
        return Ok(HashMap::new());
    };
    let inner = context_for(ctx, env);
    let manifest = inner.manifest()?;
    let keys = deploy::select_services(&manifest, &[])?;
    let conn = Connected::open(&inner, Some(run.tag.clone()), &[]).await?;
    let names = conn.service_names(&keys)?;
    let mut out = HashMap::new();
    for d in conn.ecs.describe_services(&names).await? {
        if let Described::Found(s, _) = d {
            out.insert(s.service_name.clone(), s.task_definition.clone());
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Smoke tests

/// A smoke test with its URL rendered.
#[derive(Debug, Clone)]
pub struct SmokeCheck {
    pub service: String,
    pub url: String,
    pub status: u16,
    pub body: Option<String>,
    pub timeout: Duration,
}

/// Whether a response passes: the expected status, and the body text when one is expected.
pub fn check_response(
    check: &SmokeCheck,
    status: u16,
    body: &str,
) -> std::result::Result<(), String> {
    if status != check.status {
        return Err(format!(
            "GET {} returned {status}, expected {}",
            check.url, check.status
        ));
    }
    if let Some(text) = &check.body {
        if !body.contains(text.as_str()) {
            let excerpt: String = body.chars().take(120).collect();
            return Err(format!(
                "GET {} returned {status} without {text:?} in the body (body starts: {excerpt:?})",
                check.url
            ));
        }
    }
    Ok(())
}

/// One GET: the status and up to 1 MiB of the body.
async fn smoke_get(
    client: &reqwest::Client,
    url: &str,
) -> std::result::Result<(u16, String), String> {
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url} failed: {}", crate::error::chain(&e)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= 1024 * 1024 {
            break;
        }
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// GETs the URL until it passes or the check's timeout runs out (new deployments behind a load
/// balancer may take a moment to receive traffic). Err carries the last reason.
pub async fn run_smoke(check: &SmokeCheck) -> std::result::Result<Duration, String> {
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10).min(check.timeout.max(Duration::from_secs(1))))
        .build()
        .map_err(|e| format!("cannot set up the smoke test's HTTP client: {e}"))?;
    loop {
        let attempt = smoke_get(&client, &check.url).await;
        let verdict = attempt.and_then(|(status, body)| check_response(check, status, &body));
        match verdict {
            Ok(()) => return Ok(started.elapsed()),
            Err(reason) if started.elapsed() + Duration::from_secs(1) >= check.timeout => {
                return Err(format!(
                    "{reason} (gave up after {:.0}s)",
                    started.elapsed().as_secs_f64()
                ))
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// The smoke tests of the environment's services, URLs rendered with the deploy's inputs.
fn smoke_checks(conn: &Connected) -> Result<Vec<SmokeCheck>> {
    let inputs = conn
        .resolved
        .inputs(&conn.manifest, &conn.env_name, conn.tag.as_deref());
    let mut checks = Vec::new();
    for (key, service) in &conn.manifest.doc.services {
        let Some(smoke) = &service.smoke else {
            continue;
        };
        let url = crate::render::render_value_for(
            &inputs,
            Some(crate::render::Unit::Service(key)),
            "smoke url",
            &smoke.url,
        )?
        .0;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(conn.manifest.error_at(
                smoke.url.span(),
                &format!("smoke test url of service `{key}` renders to \"{url}\", which is not an http:// or https:// URL"),
            ));
        }
        let timeout = match &smoke.timeout {
            Some(t) => humantime::parse_duration(t.get_ref()).map_err(|e| {
                conn.manifest.error_at(
                    t.span(),
                    &format!("smoke test timeout \"{}\" is not a duration ({e}); write for example \"30s\" or \"2m\"", t.get_ref()),
                )
            })?,
            None => Duration::from_secs(60),
        };
        checks.push(SmokeCheck {
            service: key.clone(),
            url,
            status: smoke.status.unwrap_or(200),
            body: smoke.body.clone(),
            timeout,
        });
    }
    Ok(checks)
}

/// Runs the smoke tests; when one fails, rolls every service the deploy changed back to what it
/// ran before (`before`), watches that, and fails (exit 1).
async fn smoke_and_roll_back(
    ctx: &Context,
    run: &Run,
    before: Option<&HashMap<String, String>>,
) -> Result<i32> {
    let conn = Connected::open(ctx, Some(run.tag.clone()), &[]).await?;
    let checks = smoke_checks(&conn)?;
    let results = futures::future::join_all(
        checks
            .iter()
            .map(|c| async move { (c, run_smoke(c).await) }),
    )
    .await;
    let mut failures = Vec::new();
    for (check, result) in results {
        match result {
            Ok(took) => ctx.out.status(format!(
                "smoke {}: ok ({} in {:.1}s)",
                check.service,
                check.url,
                took.as_secs_f64()
            )),
            Err(reason) => {
                ctx.out
                    .status(format!("smoke {}: FAILED: {reason}", check.service));
                failures.push(format!("{}: {reason}", check.service));
            }
        }
    }
    if failures.is_empty() {
        return Ok(0);
    }
    let rolled = roll_back_to(ctx, &conn, before.cloned().unwrap_or_default(), run.timeout).await?;
    let mut e = Error::failed(format!("smoke test failed: {}", failures.join("; ")));
    e = if rolled.is_empty() {
        e.with_hint("nothing was rolled back: no service changed in this deploy")
    } else {
        e.with_hint(format!("rolled back: {}", rolled.join(", ")))
    };
    Err(e)
}

/// Puts services whose task definition differs from `before` back on it, and watches.
async fn roll_back_to(
    ctx: &Context,
    conn: &Connected,
    before: HashMap<String, String>,
    timeout: Duration,
) -> Result<Vec<String>> {
    let names: Vec<String> = before.keys().cloned().collect();
    let since = deploy::epoch_now();
    let mut targets = Vec::new();
    let mut rolled = Vec::new();
    for d in conn.ecs.describe_services(&names).await? {
        let Described::Found(s, _) = d else { continue };
        let Some(previous) = before.get(&s.service_name) else {
            continue;
        };
        if &s.task_definition == previous {
            continue;
        }
        ctx.out.status(format!(
            "{}: rolling back {} -> {}",
            s.service_name,
            crate::ecs::family_revision(&s.task_definition),
            crate::ecs::family_revision(previous)
        ));
        let updated = conn
            .ecs
            .update_service(&json!({
                "cluster": conn.ecs.cluster,
                "service": s.service_name,
                "taskDefinition": previous,
            }))
            .await?;
        rolled.push(format!(
            "{} to {}",
            s.service_name,
            crate::ecs::family_revision(previous)
        ));
        targets.push(Target {
            service: s.service_name.clone(),
            task_definition: previous.clone(),
            deployment_id: updated
                .deployments
                .iter()
                .find(|d| d.status == "PRIMARY" && &d.task_definition == previous)
                .map(|d| d.id.clone()),
        });
    }
    if targets.is_empty() {
        return Ok(rolled);
    }
    let signal = deploy::interrupt_signal();
    let mut view = View::new(ctx.out.interactive, ctx.out.verbosity > 0);
    let outcomes =
        deploy::watch_or_interrupt(conn, targets, since, timeout, &mut view, &signal).await?;
    for o in &outcomes {
        if let Some(f) = o.failure() {
            ctx.out.warn(format!(
                "{}: the rollback did not finish: {f}",
                o.target.service
            ));
        }
    }
    Ok(rolled)
}

// ---------------------------------------------------------------------------------------------
// CI

/// What the CI system says about the build.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CiInfo {
    /// github-actions, circleci, gitlab-ci, jenkins, or none (flags only).
    pub system: String,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub commit: Option<String>,
}

/// Reads branch, tag and commit from the variables of GitHub Actions, CircleCI, GitLab CI or
/// Jenkins (`var` looks a variable up; empty values count as unset).
pub fn detect_ci(var: &dyn Fn(&str) -> Option<String>) -> CiInfo {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if get("GITHUB_ACTIONS").as_deref() == Some("true") {
        let reference = get("GITHUB_REF").unwrap_or_default();
        let ref_type = get("GITHUB_REF_TYPE");
        let name = get("GITHUB_REF_NAME");
        let (mut branch, mut tag) = (None, None);
        if let Some(t) = reference.strip_prefix("refs/tags/") {
            tag = Some(t.to_string());
        } else if let Some(b) = reference.strip_prefix("refs/heads/") {
            branch = Some(b.to_string());
        } else if ref_type.as_deref() == Some("tag") {
            tag = name;
        } else {
            // Pull requests: the head branch.
            branch = get("GITHUB_HEAD_REF").or(name);
        }
        return CiInfo {
            system: "github-actions".into(),
            branch,
            tag,
            commit: get("GITHUB_SHA"),
        };
    }
    if get("CIRCLECI").as_deref() == Some("true") {
        return CiInfo {
            system: "circleci".into(),
            branch: get("CIRCLE_BRANCH"),
            tag: get("CIRCLE_TAG"),
            commit: get("CIRCLE_SHA1"),
        };
    }
    if get("GITLAB_CI").as_deref() == Some("true") {
        let tag = get("CI_COMMIT_TAG");
        return CiInfo {
            system: "gitlab-ci".into(),
            branch: if tag.is_some() {
                None
            } else {
                get("CI_COMMIT_BRANCH").or(get("CI_COMMIT_REF_NAME"))
            },
            tag,
            commit: get("CI_COMMIT_SHA"),
        };
    }
    if get("JENKINS_URL").is_some() || get("JENKINS_HOME").is_some() {
        let tag = get("TAG_NAME");
        let branch = if tag.is_some() {
            None
        } else {
            get("BRANCH_NAME").or_else(|| {
                get("GIT_BRANCH").map(|b| {
                    b.strip_prefix("origin/")
                        .or_else(|| b.strip_prefix("refs/heads/"))
                        .unwrap_or(&b)
                        .to_string()
                })
            })
        };
        return CiInfo {
            system: "jenkins".into(),
            branch,
            tag,
            commit: get("GIT_COMMIT"),
        };
    }
    CiInfo {
        system: "none".into(),
        ..CiInfo::default()
    }
}

/// `*` (any run of characters) and `?` (one character) glob match of the whole text.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The actions a CI rule may name.
pub const CI_ACTIONS: &[&str] = &["build", "deploy", "all", "promote", "apply"];

/// What `wharf ci` will do.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    /// Index of the matching rule in `[[ci.rules]]` (1-based), and its pattern.
    pub rule: usize,
    pub matched: String,
    pub action: String,
    pub env: Option<String>,
    pub tag: String,
    pub stages: Vec<&'static str>,
    #[serde(skip)]
    pub stage_list: Vec<Stage>,
}

/// Checks the `[ci]` rules against the project (actions, environments); errors are located.
pub fn check_rules(manifest: &Manifest) -> Result<()> {
    let Some(ci) = &manifest.doc.ci else {
        return Ok(());
    };
    for rule in &ci.rules {
        let action = rule.action.get_ref();
        if !CI_ACTIONS.contains(&action.as_str()) {
            let mut m = format!(
                "ci rule action \"{action}\" is not one of {}",
                CI_ACTIONS.join(", ")
            );
            if let Some(s) = crate::manifest::did_you_mean(action, CI_ACTIONS.iter().copied()) {
                m.push_str(&format!("; did you mean \"{s}\"?"));
            }
            return Err(manifest.error_at(rule.action.span(), &m));
        }
        if rule.branch.is_some() == rule.tag.is_some() {
            return Err(manifest.error_at(
                rule.action.span(),
                "a ci rule needs exactly one of `branch` or `tag` (a pattern such as \"main\" or \"*-prod\")",
            ));
        }
        match (&rule.env, action.as_str()) {
            (None, "build") => {}
            (None, _) => {
                return Err(manifest.error_at(
                    rule.action.span(),
                    &format!("ci rule with action \"{action}\" needs `env`"),
                ))
            }
            (Some(env), _) => {
                if !manifest.doc.environments.contains_key(env.get_ref()) {
                    return Err(manifest.error_at(
                        env.span(),
                        &format!(
                            "ci rule names environment `{}`, which is not in [environments]",
                            env.get_ref()
                        ),
                    ));
                }
            }
        }
        match (&rule.from, action.as_str()) {
            (None, "promote") => {
                return Err(manifest.error_at(
                    rule.action.span(),
                    "ci rule with action \"promote\" needs `from` (the environment whose image is promoted)",
                ))
            }
            (Some(from), _) if !manifest.doc.environments.contains_key(from.get_ref()) => {
                return Err(manifest.error_at(
                    from.span(),
                    &format!("ci rule names environment `{}`, which is not in [environments]", from.get_ref()),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The first rule matching the CI info, and the stages it runs. None when no rule matches.
pub fn decide(manifest: &Manifest, info: &CiInfo) -> Result<Option<Decision>> {
    check_rules(manifest)?;
    let Some(ci) = &manifest.doc.ci else {
        return Err(Error::usage(format!(
            "{} has no [ci] rules",
            manifest.path.display()
        ))
        .with_hint("add [[ci.rules]] entries, for example branch = \"main\", env = \"dev\", action = \"deploy\" (see docs/ci.md)"));
    };
    let found = ci.rules.iter().enumerate().find_map(|(i, rule)| {
        match (&rule.branch, &rule.tag, &info.branch, &info.tag) {
            (Some(p), None, Some(b), _) if glob_match(p.get_ref(), b) => {
                Some((i, rule, format!("branch {b} ~ \"{}\"", p.get_ref())))
            }
            (None, Some(p), _, Some(t)) if glob_match(p.get_ref(), t) => {
                Some((i, rule, format!("tag {t} ~ \"{}\"", p.get_ref())))
            }
            _ => None,
        }
    });
    let Some((index, rule, matched)) = found else {
        return Ok(None);
    };
    let commit = info.commit.clone().unwrap_or_default();
    let image_tag = match &ci.image_tag {
        Some(t) => {
            let mut jinja = minijinja::Environment::new();
            jinja.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
            jinja
                .render_str(
                    t.get_ref(),
                    minijinja::context! {
                        commit => commit,
                        short_commit => commit.chars().take(7).collect::<String>(),
                        branch => info.branch.clone().unwrap_or_default(),
                        git_tag => info.tag.clone().unwrap_or_default(),
                    },
                )
                .map_err(|e| {
                    manifest.error_at(t.span(), &format!("cannot render image_tag: {e} (it may use commit, short_commit, branch, git_tag)"))
                })?
        }
        None => commit.chars().take(7).collect(),
    };
    if image_tag.is_empty() {
        return Err(Error::usage(
            "no image tag: the CI variables give no commit; pass --commit SHA (or set [ci] image_tag)",
        ));
    }
    let env = rule.env.as_ref().map(|e| e.get_ref().clone());
    let stage_list = match rule.action.get_ref().as_str() {
        "build" => vec![Stage::Build, Stage::Push],
        "deploy" => {
            let mut s = image_stages(manifest)?;
            s.extend(deploy_stages(manifest));
            s
        }
        "all" => all_stages(manifest, env.as_deref().unwrap_or_default())?,
        "promote" => {
            let mut s = vec![Stage::Promote {
                from: rule
                    .from
                    .as_ref()
                    .map(|f| f.get_ref().clone())
                    .unwrap_or_default(),
            }];
            s.extend(deploy_stages(manifest));
            s
        }
        _ => vec![Stage::Apply],
    };
    Ok(Some(Decision {
        rule: index + 1,
        matched,
        action: rule.action.get_ref().clone(),
        env,
        tag: image_tag,
        stages: stage_list.iter().map(Stage::name).collect(),
        stage_list,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> CiInfo {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        detect_ci(&|k| map.get(k).cloned())
    }

    #[test]
    fn globs() {
        assert!(glob_match("*-staging", "1.2.0-staging"));
        assert!(!glob_match("*-staging", "1.2.0-prod"));
        assert!(glob_match("main", "main"));
        assert!(!glob_match("main", "maint"));
        assert!(glob_match("release/*", "release/2024.1"));
        assert!(glob_match("v?.*", "v1.0"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn ci_systems_are_read() {
        let gh = vars(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/tags/1.0-prod"),
            ("GITHUB_SHA", "abc"),
        ]);
        assert_eq!(
            (gh.system.as_str(), gh.tag.as_deref(), gh.branch),
            ("github-actions", Some("1.0-prod"), None)
        );
        let circle = vars(&[
            ("CIRCLECI", "true"),
            ("CIRCLE_BRANCH", "main"),
            ("CIRCLE_SHA1", "def"),
        ]);
        assert_eq!(
            (circle.branch.as_deref(), circle.commit.as_deref()),
            (Some("main"), Some("def"))
        );
        let gl = vars(&[
            ("GITLAB_CI", "true"),
            ("CI_COMMIT_TAG", "2-staging"),
            ("CI_COMMIT_REF_NAME", "2-staging"),
            ("CI_COMMIT_SHA", "1"),
        ]);
        assert_eq!((gl.tag.as_deref(), gl.branch), (Some("2-staging"), None));
        let j = vars(&[
            ("JENKINS_URL", "http://j"),
            ("GIT_BRANCH", "origin/main"),
            ("GIT_COMMIT", "9"),
        ]);
        assert_eq!(
            (j.system.as_str(), j.branch.as_deref()),
            ("jenkins", Some("main"))
        );
        assert_eq!(vars(&[]).system, "none");
    }

    #[test]
    fn responses_are_checked() {
        let c = SmokeCheck {
            service: "web".into(),
            url: "http://x/health".into(),
            status: 200,
            body: Some("ok".into()),
            timeout: Duration::from_secs(1),
        };
        assert!(check_response(&c, 200, "all ok").is_ok());
        assert_eq!(
            check_response(&c, 500, "ok").unwrap_err(),
            "GET http://x/health returned 500, expected 200"
        );
        assert!(check_response(&c, 200, "down")
            .unwrap_err()
            .contains("without \"ok\""));
    }
}
