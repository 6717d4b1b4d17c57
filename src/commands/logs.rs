//! `wharf logs SERVICE|JOB --env E [-f] [--since 1h] [--until T] [--filter P] [--task ID]
//! [--container NAME]`: CloudWatch logs of a service's or job's containers, interleaved by time.

use crate::error::Result;
use crate::interrupt::Interrupt;
use crate::operate::logs::{self, Printing};
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A service or job of wharf.toml.
    pub name: String,
    /// Keep printing new lines as they arrive (until Ctrl-C).
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Start this long ago (30s, 15m, 1h, 2d) or at this time (2024-05-01T10:00:00Z).
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// End this long ago or at this time (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// A CloudWatch Logs filter pattern (for example ERROR, or "\"exact phrase\"").
    #[arg(long)]
    pub filter: Option<String>,
    /// Only this task's streams (task id or ARN).
    #[arg(long)]
    pub task: Option<String>,
    /// Only this container's streams.
    #[arg(long)]
    pub container: Option<String>,
    /// Print lines without timestamps.
    #[arg(long)]
    pub no_timestamps: bool,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let now = crate::rollout::watch::epoch_now();
    let now_ms = (now * 1000.0) as i64;
    let start = logs::parse_time(&args.since, now_ms, "--since")?;
    let end = args
        .until
        .as_deref()
        .map(|u| logs::parse_time(u, now_ms, "--until"))
        .transpose()?;
    if args.follow && end.is_some() {
        return Err(crate::error::Error::usage(
            "--follow and --until cannot be used together",
        ));
    }
    let source = logs::locate(ctx, &args.name).await?;
    let task = args.task.as_deref().map(crate::aws::model::short_id);
    let mut queries = logs::queries(&source.sources, args.container.as_deref(), task)?;
    for q in &mut queries {
        q.start_ms = Some(start);
        q.end_ms = end;
        q.pattern = args.filter.clone();
    }
    let how = Printing {
        json: ctx.out.is_json(),
        timestamps: !args.no_timestamps,
    };
    let interrupt = Interrupt::install();
    let stop = async move { interrupt.wait().await };
    logs::print(&source.client, &queries, how, args.follow, stop).await?;
    Ok(0)
}
