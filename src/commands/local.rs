//! `wharf local run SERVICE|JOB --env E`: the unit's containers on this machine with docker or
//! podman, with the environment's variables and secrets; Ctrl-C stops and removes them.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::operate::local::{self, LocalRequest};
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Run a service's or job's containers locally (ports published on 127.0.0.1).
    Run {
        /// A service or job of wharf.toml.
        name: String,
        /// Image tag for `{{ tag }}` and image().
        #[arg(long)]
        tag: Option<String>,
        /// A dotenv file whose entries override the containers' environment (repeatable).
        #[arg(long = "env-file")]
        env_files: Vec<PathBuf>,
        /// Override one environment variable in every container (repeatable): NAME=VALUE.
        #[arg(long = "set-env", value_name = "NAME=VALUE")]
        set_env: Vec<String>,
        /// Stop and remove everything after this long (exit 4).
        #[arg(long, value_parser = crate::cli::duration)]
        timeout: Option<Duration>,
        /// Container engine: docker or podman (default: `[build] engine`, else docker when a
        /// Docker engine answers, else podman).
        #[arg(long, env = "WHARF_ENGINE")]
        engine: Option<String>,
        /// Pull every image from its registry first, even one the engine has (after an ECR
        /// login), to run exactly what the registry holds under the tag.
        #[arg(long)]
        pull: bool,
    },
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    match args.action {
        Action::Run {
            name,
            tag,
            env_files,
            set_env,
            timeout,
            engine,
            pull,
        } => {
            let mut pairs = Vec::new();
            for p in &set_env {
                match p.split_once('=') {
                    Some((k, v)) if !k.is_empty() => pairs.push((k.to_string(), v.to_string())),
                    _ => return Err(Error::usage(format!("--set-env {p:?} is not NAME=VALUE"))),
                }
            }
            local::run(
                ctx,
                LocalRequest {
                    unit: name,
                    tag,
                    env_files,
                    set_env: pairs,
                    timeout,
                    engine,
                    pull,
                },
            )
            .await
        }
    }
}
