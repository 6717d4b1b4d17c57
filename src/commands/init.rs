//! `wharf init`: writes a starter project; `--from-service CLUSTER/SERVICE` adopts a running one.

use crate::cli::Context;
use crate::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Import a running ECS service (CLUSTER/SERVICE) with its task definition.
    #[arg(long, value_name = "CLUSTER/SERVICE")]
    pub from_service: Option<String>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(_ctx: &Context, _args: Args) -> Result<i32> {
    Ok(0)
}
