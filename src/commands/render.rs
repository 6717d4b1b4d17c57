//! `wharf render SERVICE|JOB --env E`: prints the rendered task definition as JSON.
//!
//! Terraform outputs and SSM values are resolved through AWS; `--offline` leaves them as markers.
//! Secret values are never printed: `secret()` renders to the parameter's ARN.

use crate::error::Result;
use crate::project::manifest::Manifest;
use crate::project::render::{self, Resolved, Unit};
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The service or job to render.
    pub name: String,
    /// Image tag for `{{ tag }}` and image().
    #[arg(long)]
    pub tag: Option<String>,
    /// Do not contact AWS: values that need it are printed as ⟨unresolved:...⟩ markers.
    #[arg(long)]
    pub offline: bool,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let env_name = ctx.env_name()?;
    let environment = manifest.environment(env_name)?;
    let unit = Unit::find(&manifest, &args.name)?;
    let rendered = if args.offline {
        render::render_unit(
            &render::offline_inputs(&manifest, env_name, args.tag.as_deref()),
            unit,
        )?
    } else {
        let clients = crate::aws::Clients::connect(&environment.aws(ctx)).await?;
        let resolved =
            Resolved::fetch(&manifest, env_name, args.tag.as_deref(), &clients, &[unit]).await?;
        render::render_unit(
            &resolved.inputs(&manifest, env_name, args.tag.as_deref()),
            unit,
        )?
    };
    if !rendered.unresolved.is_empty() {
        ctx.out.warn(format!(
            "unresolved (offline): {}",
            rendered.unresolved.join(", ")
        ));
    }
    ctx.out.json(&rendered.task_definition);
    Ok(0)
}
