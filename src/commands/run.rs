//! `wharf run JOB --env E [-- CMD...]` and `wharf run --service NAME --env E -- CMD...`: start a
//! one-off task, stream its logs, wait for it to stop and exit with its container's exit code.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::operate::jobs::{self, Overrides, RunRequest, Runnable};
use crate::project::manifest::Manifest;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The job to run (a table under [jobs] in wharf.toml). Without a job or --service: the
    /// newest revision of Terraform's `job_task_definition_family` output (ecs-app-utils'
    /// `bin/deploy fargate`).
    #[arg(conflicts_with = "service")]
    pub job: Option<String>,
    /// Run a service's task definition instead (the revision it runs, or the one rendered with --tag).
    #[arg(long)]
    pub service: Option<String>,
    /// Image tag: render and register the task definition for this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// The container to override and whose exit code counts (default: the first essential one).
    #[arg(long)]
    pub container: Option<String>,
    /// Set an environment variable in the container (repeatable): NAME=VALUE.
    #[arg(long = "set-env", value_name = "NAME=VALUE")]
    pub set_env: Vec<String>,
    /// Task CPU units for this run (for example 512).
    #[arg(long)]
    pub cpu: Option<String>,
    /// Task memory in MiB for this run (for example 1024).
    #[arg(long)]
    pub memory: Option<String>,
    /// Print the task id and return without waiting.
    #[arg(long)]
    pub detach: bool,
    /// Stop waiting after this long (exit 4); the task keeps running.
    #[arg(long, value_parser = crate::cli::duration)]
    pub timeout: Option<Duration>,
    /// At Ctrl-C, stop the task too (by default it keeps running).
    #[arg(long)]
    pub stop_on_interrupt: bool,
    /// Register without checking first that every image exists in its registry.
    #[arg(long)]
    pub skip_image_check: bool,
    /// The command to run instead of the job's or the task definition's.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let target = match (&args.job, &args.service) {
        (Some(job), None) => {
            if !manifest.doc.jobs.contains_key(job) {
                if manifest.doc.services.contains_key(job) {
                    return Err(Error::usage(format!("`{job}` is a service, not a job"))
                        .with_hint(format!("run a command in its task definition with: wharf run --service {job} --env ENV -- CMD")));
                }
                return Err(manifest.unknown_unit(job));
            }
            Runnable::Job(job.clone())
        }
        (None, Some(service)) => {
            // A service not in wharf.toml may be one Terraform owns: it is looked up in the
            // Terraform outputs once connected (and refused there if it is not one either).
            Runnable::Service(service.clone())
        }
        (None, None) => Runnable::TerraformJob,
        (Some(_), Some(_)) => {
            return Err(Error::usage(
                "name a job, or a service with --service, not both",
            ))
        }
    };
    let mut environment = Vec::new();
    for pair in &args.set_env {
        match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => environment.push((k.to_string(), v.to_string())),
            _ => {
                return Err(Error::usage(format!(
                    "--set-env {pair:?} is not NAME=VALUE"
                )))
            }
        }
    }
    let command = if !args.command.is_empty() {
        Some(args.command.clone())
    } else if let Runnable::Job(job) = &target {
        manifest.doc.jobs[job].command.clone()
    } else {
        None
    };
    drop(manifest);
    jobs::run(
        ctx,
        RunRequest {
            target,
            tag: args.tag,
            container: args.container,
            overrides: Overrides {
                command,
                environment,
                cpu: args.cpu,
                memory: args.memory,
            },
            detach: args.detach,
            timeout: args.timeout,
            stop_on_interrupt: args.stop_on_interrupt,
            skip_image_check: args.skip_image_check,
        },
    )
    .await
}
