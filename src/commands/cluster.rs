//! `wharf cluster roll --env E`: replace the cluster's EC2 container instances batch by batch
//! (see `operate::roll`).

use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::operate::roll::{self, Selection};
use crate::project::connect::Connected;
use crate::rollout::deploy::confirm;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Replace container instances one batch at a time (drain, wait for the services, terminate
    /// through the Auto Scaling group, wait for the replacements). By default, the instances not
    /// launched from their group's launch template version.
    Roll(RollArgs),
}

#[derive(Debug, clap::Args)]
pub struct RollArgs {
    /// Replace the instances whose AMI is not this one.
    #[arg(long, value_name = "AMI", conflicts_with_all = ["replace_with", "all"])]
    pub ami: Option<String>,
    /// Move the Auto Scaling groups to this launch template version, then replace the
    /// instances not launched from it.
    #[arg(long, value_name = "VERSION", conflicts_with = "all")]
    pub replace_with: Option<String>,
    /// Replace every instance.
    #[arg(long)]
    pub all: bool,
    /// Instances per batch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Show the batches and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Per batch: how long the drain, and then the replacements, may take.
    #[arg(long, default_value = "15m", value_parser = crate::cli::duration)]
    pub timeout: std::time::Duration,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    match args.action {
        Action::Roll(a) => roll_cluster(ctx, a).await,
    }
}

async fn roll_cluster(ctx: &Settings, args: RollArgs) -> Result<i32> {
    let selection = if let Some(ami) = args.ami {
        Selection::NotAmi(ami)
    } else if let Some(v) = args.replace_with {
        if v.trim().is_empty() {
            return Err(Error::usage(
                "--replace-with needs a launch template version",
            ));
        }
        Selection::NotVersion(v)
    } else if args.all {
        Selection::All
    } else {
        Selection::OutdatedTemplate
    };
    let conn = Connected::open(ctx, None, &[]).await?;
    let asg = conn.clients.autoscaling();
    let (members, groups) = roll::survey(&conn.ecs, &asg).await?;
    if members.is_empty() {
        return Err(Error::usage(format!(
            "cluster {} has no container instances: nothing to roll",
            conn.ecs.cluster
        )));
    }
    let plan = roll::plan(&members, &groups, &selection, args.batch_size as usize)?;
    if args.dry_run || plan.batches.is_empty() {
        if ctx.out.is_json() {
            ctx.out.json(&serde_json::json!({"cluster": conn.ecs.cluster, "dry_run": args.dry_run, "plan": plan.to_json()}));
        } else {
            println!(
                "cluster {} (environment {})",
                conn.ecs.cluster, conn.env_name
            );
            for line in plan.lines() {
                println!("  {line}");
            }
        }
        return Ok(0);
    }
    confirm(
        ctx,
        &conn.env_name,
        conn.environment(),
        &format!(
            "Replace {} container instances of cluster {}",
            plan.batches.iter().map(Vec::len).sum::<usize>(),
            conn.ecs.cluster
        ),
    )?;
    for line in plan.lines() {
        ctx.out.status(line);
    }
    let interrupt = Interrupt::install();
    let replaced = roll::execute(
        ctx,
        &conn.ecs,
        &asg,
        &groups,
        &plan,
        args.timeout,
        &interrupt,
    )
    .await?;
    if ctx.out.is_json() {
        ctx.out.json(&serde_json::json!({"cluster": conn.ecs.cluster, "replaced": replaced, "plan": plan.to_json()}));
    } else {
        ctx.out.status(format!(
            "replaced {} instances: {}",
            replaced.len(),
            replaced.join(", ")
        ));
    }
    Ok(0)
}
