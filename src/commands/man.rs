//! `wharf man`: man pages from the clap definitions (`clap_mangen`): `wharf.1` on standard
//! output, or with `--dir DIR` one page per verb (`wharf-deploy.1`, `wharf-secrets-set.1`, ...)
//! written into DIR, which is how they are installed (README, "Install").

use std::path::PathBuf;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write every page into this folder (e.g. ~/.local/share/man/man1) instead of printing wharf.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let command = Cli::command();
    match args.dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|e| Error::failed(format!("cannot render the man page: {e}")))?;
            use std::io::Write;
            std::io::stdout()
                .write_all(&page)
                .map_err(|e| Error::failed(format!("cannot write the man page: {e}")))?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::failed(format!("cannot create {}: {e}", dir.display())))?;
            clap_mangen::generate_to(command, &dir).map_err(|e| {
                Error::failed(format!(
                    "cannot write man pages into {}: {e}",
                    dir.display()
                ))
            })?;
            let mut pages: Vec<String> = std::fs::read_dir(&dir)
                .map_err(|e| Error::failed(format!("cannot read {}: {e}", dir.display())))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with("wharf") && n.ends_with(".1"))
                .collect();
            pages.sort();
            ctx.out.status(format!(
                "wrote {} man pages into {} (wharf.1, wharf-deploy.1, ...); `man wharf-deploy` finds them when the folder's parent is on the manual path",
                pages.len(),
                dir.display()
            ));
        }
    }
    Ok(0)
}
