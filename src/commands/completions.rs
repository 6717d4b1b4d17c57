//! `wharf completions SHELL`: prints a completion script for the shell.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Result;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(_ctx: &Settings, args: Args) -> Result<i32> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "wharf", &mut std::io::stdout());
    Ok(0)
}
