//! The pipeline: stages run in order with their durations (`wharf all`, `wharf ci`), composed
//! from the core's entry points (build, push, promote, Terraform apply, deploy, smoke test).
//! [`apply`] runs Terraform for an environment and watches the services it owns, [`smoke`]
//! checks a deploy over HTTP and rolls it back when it fails, [`ci`] decides what a branch or
//! tag does. The decisions are pure and tested without a network ([`ci::detect_ci`],
//! [`ci::decide`], [`ci::glob_match`], [`crate::rollout::smoke_check::check_response`]).

pub mod apply;
pub mod ci;
pub mod record;
pub mod smoke;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::aws::ecs::Described;
use crate::error::{Error, Result};
use crate::images::{self, build::BuildOptions, promote::PromoteOptions, push::PushOptions};
use crate::pipeline::record::Record;
use crate::project::connect::Connected;
use crate::project::manifest::Manifest;
use crate::project::stack;
use crate::rollout::deploy::{self, DeployOptions};
use crate::settings::Settings;

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
pub struct PipelineRun {
    /// None for a build-only pipeline.
    pub env: Option<String>,
    pub tag: String,
    pub stages: Vec<Stage>,
    pub timeout: Duration,
    /// Promote even when the tag has not passed in the source environment (`--force`).
    pub force: bool,
}

/// How one stage ended (snake case in `--output json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageOutcome {
    Ok,
    Failed,
    /// An earlier stage failed.
    NotRun,
}

impl StageOutcome {
    /// As the summary prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            StageOutcome::Ok => "ok",
            StageOutcome::Failed => "failed",
            StageOutcome::NotRun => "not run",
        }
    }
}

/// How one stage ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageResult {
    pub stage: &'static str,
    pub outcome: StageOutcome,
    pub duration_secs: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub exit_code: i32,
}

/// The stages of `wharf all`: build → push → apply (when the project has Terraform) → deploy
/// (when it has services wharf deploys) → smoke (when services have smoke tests).
pub fn all_stages(manifest: &Manifest, env: &str) -> Result<Vec<Stage>> {
    let mut stages = image_stages(manifest)?;
    if stack::of(manifest, env)?.is_some() {
        stages.push(Stage::Apply);
    }
    stages.extend(deploy_stages(manifest));
    Ok(stages)
}

/// build → push, when the project builds images (`[images]` or a compose build file).
pub(crate) fn image_stages(manifest: &Manifest) -> Result<Vec<Stage>> {
    if manifest.doc.images.is_empty() && crate::images::compose_file(manifest)?.is_none() {
        Ok(Vec::new())
    } else {
        Ok(vec![Stage::Build, Stage::Push])
    }
}

pub(crate) fn deploy_stages(manifest: &Manifest) -> Vec<Stage> {
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
pub async fn run_stages(ctx: &Settings, run: &PipelineRun) -> (Vec<StageResult>, i32) {
    let mut results = Vec::new();
    let mut code = 0;
    let mut before: Option<HashMap<String, String>> = None;
    // The tag Terraform had before this run's apply stage, and whether that stage applied.
    let mut terraform_before: Option<Option<String>> = None;
    let mut applied = false;
    let count = run.stages.len();
    for (i, stage) in run.stages.iter().enumerate() {
        if code != 0 {
            results.push(StageResult {
                stage: stage.name(),
                outcome: StageOutcome::NotRun,
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
        if *stage == Stage::Apply {
            if let Some(env) = &run.env {
                terraform_before = Some(apply::last_good_tag(ctx, env).await);
            }
        }
        let outcome = run_stage(ctx, run, stage, before.as_ref()).await;
        let duration_secs = started.elapsed().as_secs_f64();
        let (stage_code, error) = match outcome {
            Ok(0) => (0, None),
            Ok(c) => (c, Some(format!("{} exited with {c}", stage.name()))),
            Err(e) => {
                ctx.for_env(run.env.as_deref().unwrap_or("")).out.error(&e);
                (e.exit_code(), Some(e.message.clone()))
            }
        };
        ctx.out.status(format!(
            "<== {} {} in {duration_secs:.1}s",
            stage.name(),
            if stage_code == 0 { "ok" } else { "FAILED" }
        ));
        code = stage_code;
        applied |= *stage == Stage::Apply && stage_code == 0;
        results.push(StageResult {
            stage: stage.name(),
            outcome: if stage_code == 0 {
                StageOutcome::Ok
            } else {
                StageOutcome::Failed
            },
            duration_secs,
            error,
            exit_code: stage_code,
        });
    }
    if let (0, Some(env)) = (code, &run.env) {
        if run.stages.contains(&Stage::Deploy) {
            let inner = ctx.for_env(env);
            record::put(&inner, env, Record::Passed, &run.tag).await;
        }
    }
    if let (true, Some(env)) = (applied, &run.env) {
        if code == 0 {
            let inner = ctx.for_env(env);
            record::put(&inner, env, Record::Applied, &run.tag).await;
        } else if let Some(result) =
            put_terraform_back(ctx, run, env, terraform_before.flatten()).await
        {
            results.push(result);
        }
    }
    (results, code)
}

/// After a stage that failed once Terraform had applied this run's tag (the deploy, or the smoke
/// test and its rollback), Terraform is put back on the last good tag (`apply::put_back`).
async fn put_terraform_back(
    ctx: &Settings,
    run: &PipelineRun,
    env: &str,
    previous: Option<String>,
) -> Option<StageResult> {
    let done = apply::put_back(
        ctx,
        env,
        &run.tag,
        previous,
        run.timeout,
        "a later stage failed",
    )
    .await?;
    Some(StageResult {
        stage: "restore",
        outcome: if done.exit_code == 0 {
            StageOutcome::Ok
        } else {
            StageOutcome::Failed
        },
        duration_secs: done.duration_secs,
        error: done.error,
        exit_code: done.exit_code,
    })
}

/// Prints the stage summary (text on stderr, or the JSON document on stdout).
pub fn report_stages(ctx: &Settings, results: &[StageResult], extra: serde_json::Value) {
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
        let time = if r.outcome == StageOutcome::NotRun {
            String::new()
        } else {
            format!("{:>6.1}s", r.duration_secs)
        };
        ctx.out.status(format!(
            "  {:<8} {:<8} {time}{}",
            r.stage,
            r.outcome.as_str(),
            r.error
                .as_deref()
                .map(|e| format!("  {}", e.lines().next().unwrap_or_default()))
                .unwrap_or_default()
        ));
    }
}

async fn run_stage(
    ctx: &Settings,
    run: &PipelineRun,
    stage: &Stage,
    before: Option<&HashMap<String, String>>,
) -> Result<i32> {
    let env = run.env.clone();
    let need_env = || {
        env.clone()
            .ok_or_else(|| Error::usage(format!("the {} stage needs an environment", stage.name())))
    };
    let inner = match &env {
        Some(e) => ctx.for_env(e),
        None => {
            let mut c = ctx.for_env("");
            c.env = None;
            c
        }
    };
    match stage {
        Stage::Build => {
            let options = BuildOptions {
                tag: Some(run.tag.clone()),
                ..BuildOptions::default()
            };
            images::build::build(&inner, &options)
                .await?
                .print(&inner.out);
            Ok(0)
        }
        Stage::Push => {
            let options = PushOptions {
                tag: Some(run.tag.clone()),
                ..PushOptions::default()
            };
            images::push::push(&inner, &options)
                .await?
                .print(&inner.out);
            Ok(0)
        }
        Stage::Promote { from } => {
            promotable(&inner, run, from).await?;
            let options = PromoteOptions {
                tag: run.tag.clone(),
                from: from.clone(),
                to: need_env()?,
                ..PromoteOptions::default()
            };
            let promoted = images::promote::run(&inner, &options).await?;
            images::promote::print(&inner.out, &promoted);
            Ok(0)
        }
        Stage::Apply => {
            let env = need_env()?;
            apply::terraform_apply(
                &inner,
                &env,
                &apply::ApplyOptions {
                    tag: Some(run.tag.clone()),
                    auto_approve: ctx.yes,
                    no_wait: false,
                    timeout: run.timeout,
                    quiet_stdout: ctx.out.is_json(),
                    record: false,
                    put_back: true,
                },
            )
            .await
        }
        Stage::Deploy => {
            need_env()?;
            let options = DeployOptions {
                services: Vec::new(),
                tag: Some(run.tag.clone()),
                dry_run: false,
                no_wait: false,
                no_rollback: false,
                timeout: run.timeout,
                atomic: false,
                skip_image_check: false,
            };
            deploy::deploy(&inner, &options).await
        }
        Stage::Smoke => {
            need_env()?;
            smoke::smoke_and_roll_back(&inner, &run.tag, run.timeout, before).await
        }
    }
}

/// A promote from `from` needs the tag to have passed there (deploy and smoke test in an
/// `all`/`ci` run), unless `--force`.
async fn promotable(ctx: &Settings, run: &PipelineRun, from: &str) -> Result<()> {
    if run.force {
        ctx.out.warn(format!(
            "--force: promoting {} from `{from}` without checking that it passed there",
            run.tag
        ));
        return Ok(());
    }
    if record::ever(ctx, from, Record::Passed, &run.tag).await? {
        ctx.out.verbose(format!("{} passed in `{from}`", run.tag));
        return Ok(());
    }
    let manifest = Manifest::load(&ctx.file)?;
    Err(Error::failed(format!(
        "tag {} has not passed in `{from}`: no `wharf all` or `wharf ci` run there deployed it and passed its smoke test ({} does not list it)",
        run.tag,
        record::parameter(Record::Passed, manifest.doc.app.get_ref(), from)
    ))
    .with_hint(format!(
        "deploy it to `{from}` with `wharf ci`/`wharf all` first, or pass --force to promote it anyway"
    )))
}

/// The task definition each wharf-deployed service runs now (service name → ARN).
async fn snapshot(ctx: &Settings, run: &PipelineRun) -> Result<HashMap<String, String>> {
    let Some(env) = &run.env else {
        return Ok(HashMap::new());
    };
    let inner = ctx.for_env(env);
    let manifest = Manifest::load(&inner.file)?;
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
