//! `wharf schema`: prints the JSON Schema of wharf.toml, for editors (taplo, Even Better TOML)
//! and validators (docs/project-file.md, "Editor support").

use crate::error::Result;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Settings, _args: Args) -> Result<i32> {
    ctx.out.json(&crate::project::schema::project_file_schema());
    Ok(0)
}
