//! `wharf exec SERVICE --env E [--task ID] [--container NAME] [-- CMD...]`: a shell (or a command)
//! in a running container through ECS Exec, after checking every prerequisite.

use crate::error::Result;
use crate::operate::exec::{self, ExecRequest};
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The service (a table under [services] in wharf.toml).
    pub service: String,
    /// The task (id or ARN); default: a running task of the service.
    #[arg(long)]
    pub task: Option<String>,
    /// The container; default: the task definition's first essential container.
    #[arg(long)]
    pub container: Option<String>,
    /// The command to run (default: an interactive /bin/sh).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let command = if args.command.is_empty() {
        "/bin/sh".to_string()
    } else {
        args.command.join(" ")
    };
    exec::run(
        ctx,
        ExecRequest {
            service: args.service,
            task: args.task,
            container: args.container,
            command,
        },
    )
    .await
}
