//! `wharf env create|init|list`: one Terraform workspace per environment.

use crate::error::{Error, Result};
use crate::project::manifest::Manifest;
use crate::project::stack;
use crate::settings::Settings;
use crate::terraform::{self, Stack, Streams};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Create the environment's Terraform workspace and initialise the configuration.
    Create {
        /// Environment (a table under [environments] in wharf.toml).
        #[arg(value_name = "ENV")]
        name: String,
    },
    /// Select the environment's workspace and run `terraform init`.
    Init {
        #[arg(value_name = "ENV")]
        name: String,
    },
    /// Terraform workspaces, and the environments of wharf.toml that have none.
    List,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let streams = Streams {
        interactive: ctx.out.interactive,
        stdout_to_stderr: ctx.out.is_json(),
        color: ctx.out.color,
    };
    match args.action {
        Action::Create { name } => {
            manifest.environment(&name)?;
            let project = stack::require(&manifest, &name)?;
            if terraform::init_if_needed(&project.dir, streams).await? {
                ctx.out
                    .status("initialised the backend (terraform init) to create the workspace");
            }
            let (all, _) = terraform::workspaces(&project.dir).await?;
            if all.iter().any(|w| w == &name) {
                return Err(Error::usage(format!(
                    "Terraform workspace `{name}` already exists in {}",
                    project.dir.display()
                ))
                .with_hint(format!("initialise it with: wharf env init {name}")));
            }
            terraform::new_workspace(&project).await?;
            ctx.out.status(format!(
                "created Terraform workspace `{name}`; running terraform init"
            ));
            init(ctx, &project, streams).await
        }
        Action::Init { name } => {
            manifest.environment(&name)?;
            let project = stack::require(&manifest, &name)?;
            terraform::init_if_needed(&project.dir, streams).await?;
            terraform::select_workspace(&project).await?;
            init(ctx, &project, streams).await
        }
        Action::List => {
            let envs: Vec<&str> = manifest
                .doc
                .environments
                .keys()
                .map(String::as_str)
                .collect();
            let first = envs.first().copied().unwrap_or("default");
            let project = stack::require(&manifest, first)?;
            terraform::init_if_needed(&project.dir, streams).await?;
            let (all, current) = terraform::workspaces(&project.dir).await?;
            let missing: Vec<&str> = envs
                .iter()
                .copied()
                .filter(|e| !all.iter().any(|w| w == e))
                .collect();
            if ctx.out.is_json() {
                ctx.out.json(&serde_json::json!({
                    "workspaces": all,
                    "current": current,
                    "environments_without_workspace": missing,
                }));
                return Ok(0);
            }
            for w in &all {
                let mark = if Some(w) == current.as_ref() {
                    "*"
                } else {
                    " "
                };
                let note = if envs.contains(&w.as_str()) {
                    ""
                } else if w == "default" {
                    "  (Terraform's default workspace)"
                } else {
                    "  (no environment in wharf.toml)"
                };
                println!("{mark} {w}{note}");
            }
            if !missing.is_empty() {
                println!(
                    "environments without a workspace: {} (create with `wharf env create ENV`)",
                    missing.join(", ")
                );
            }
            Ok(0)
        }
    }
}

async fn init(ctx: &Settings, project: &Stack, streams: Streams) -> Result<i32> {
    let mut args = vec!["init".to_string()];
    if !streams.interactive {
        args.push("-input=false".into());
    }
    let code = terraform::stream(&project.dir, &args, streams).await?;
    if code != 0 {
        return Err(Error::failed(format!(
            "terraform init failed in {} (exit {code})",
            project.dir.display()
        )));
    }
    ctx.out
        .status(format!("workspace `{}` is ready", project.workspace));
    Ok(0)
}
