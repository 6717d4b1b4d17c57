//! `wharf secrets set|get|list|delete|import --env E`: SecureString parameters under
//! `/<app>/<env>/`. Values are read from standard input or a hidden prompt and never printed,
//! except by `get --reveal`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use serde_json::json;

use crate::aws::Clients;
use crate::error::{Error, Result};
use crate::operate::secrets::{self, Store};
use crate::project::manifest::Manifest;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Store a secret; the value comes from standard input or a hidden prompt.
    Set {
        /// Secret name (the parameter is /<app>/<env>/NAME).
        name: String,
        /// The value on the command line (it lands in shell history; prefer stdin).
        #[arg(long)]
        value: Option<String>,
        /// KMS key id, ARN or alias to encrypt with (default: the account's aws/ssm key).
        #[arg(long)]
        kms_key: Option<String>,
    },
    /// Show a secret's version; its value only with --reveal.
    Get {
        name: String,
        /// Print the value on stdout.
        #[arg(long)]
        reveal: bool,
    },
    /// Names, versions and last changes of the environment's secrets (never values).
    List,
    /// Delete a secret.
    Delete { name: String },
    /// Store every entry of a dotenv file (NAME=value lines) as a secret.
    Import {
        /// The dotenv file (its own id: `file` is the global --file flag's).
        #[arg(value_name = "FILE")]
        dotenv: PathBuf,
        /// KMS key id, ARN or alias to encrypt with.
        #[arg(long)]
        kms_key: Option<String>,
    },
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let env_name = ctx.env_name()?.to_string();
    let environment = manifest.environment(&env_name)?;
    // Read the input before connecting: a bad file or empty stdin is a usage error either way.
    let pending_value = match &args.action {
        Action::Set { name, value, .. } => {
            secrets::check_name(name)?;
            Some(read_value(ctx, name, value.as_deref())?)
        }
        _ => None,
    };
    let entries = match &args.action {
        Action::Import { dotenv: file, .. } => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::usage(format!("cannot read {}: {e}", file.display())))?;
            let entries = secrets::parse_dotenv(file, &text)?;
            for e in &entries {
                secrets::check_name(&e.name).map_err(|err| {
                    Error::usage(format!("{}:{}: {}", file.display(), e.line, err.message))
                })?;
                if e.value.is_empty() {
                    return Err(Error::usage(format!(
                        "{}:{}: {} has an empty value; SSM does not store empty parameters",
                        file.display(),
                        e.line,
                        e.name
                    )));
                }
            }
            entries
        }
        _ => Vec::new(),
    };
    let clients = Clients::connect(&environment.aws(ctx)).await?;
    clients
        .check_account(&env_name, environment.account_guard())
        .await?;
    let store = Store::new(clients.ssm.clone(), manifest.app(), &env_name);
    match args.action {
        Action::Set { name, kms_key, .. } => {
            let value = pending_value.unwrap_or_default();
            let version = store.set(&name, &value, kms_key.as_deref()).await?;
            if ctx.out.is_json() {
                ctx.out.json(&json!({"name": name, "path": secrets::path(manifest.app(), &env_name, &name), "version": version}));
            } else {
                ctx.out.status(format!(
                    "set {name} ({}, version {version})",
                    secrets::path(manifest.app(), &env_name, &name)
                ));
            }
        }
        Action::Get { name, reveal } => {
            let (value, version) = store.get(&name).await?;
            let path = secrets::path(manifest.app(), &env_name, &name);
            match (reveal, ctx.out.is_json()) {
                (true, true) => ctx
                    .out
                    .json(&json!({"name": name, "path": path, "version": version, "value": value})),
                (true, false) => println!("{value}"),
                (false, true) => ctx
                    .out
                    .json(&json!({"name": name, "path": path, "version": version})),
                (false, false) => {
                    println!("{name}\t{path}\tversion {version}");
                    ctx.out
                        .status("the value is hidden; pass --reveal to print it");
                }
            }
        }
        Action::List => {
            let listed = store.list().await?;
            if ctx.out.is_json() {
                let items: Vec<_> = listed
                    .iter()
                    .map(|l| json!({
                        "name": l.name, "path": l.path, "version": l.version, "type": l.kind,
                        "lastModified": l.last_modified.map(|t| crate::operate::logs::format_millis((t * 1000.0) as i64)),
                    }))
                    .collect();
                ctx.out.json(&json!({"secrets": items}));
            } else if listed.is_empty() {
                ctx.out.status(format!("no secrets under {}", store.prefix));
            } else {
                let width = listed
                    .iter()
                    .map(|l| l.name.len())
                    .max()
                    .unwrap_or(4)
                    .max(4);
                println!(
                    "{:<width$}  {:>7}  {:<24}  TYPE",
                    "NAME", "VERSION", "LAST CHANGE"
                );
                for l in &listed {
                    let when = l
                        .last_modified
                        .map(|t| crate::operate::logs::format_millis((t * 1000.0) as i64))
                        .unwrap_or_default();
                    println!(
                        "{:<width$}  {:>7}  {:<24}  {}",
                        l.name, l.version, when, l.kind
                    );
                }
            }
        }
        Action::Delete { name } => {
            store.delete(&name).await?;
            ctx.out.status(format!("deleted {name}"));
        }
        Action::Import {
            kms_key,
            dotenv: file,
        } => {
            for e in &entries {
                let version = store.set(&e.name, &e.value, kms_key.as_deref()).await?;
                ctx.out
                    .status(format!("set {} (version {version})", e.name));
            }
            ctx.out.status(format!(
                "imported {} secrets from {} into {}",
                entries.len(),
                file.display(),
                store.prefix
            ));
        }
    }
    Ok(0)
}

/// The value of `set`: `--value` (with a warning), a hidden prompt on a terminal, or stdin.
fn read_value(ctx: &Settings, name: &str, flag: Option<&str>) -> Result<String> {
    if let Some(v) = flag {
        ctx.out.warn(
            "a value given with --value lands in your shell history and process list; pipe it on standard input instead",
        );
        return Ok(v.to_string());
    }
    let stdin = std::io::stdin();
    let value = if stdin.is_terminal() {
        eprint!("value for {name} (hidden): ");
        console::Term::stderr()
            .read_secure_line()
            .map_err(|e| Error::usage(format!("cannot read the value: {e}")))?
    } else {
        let mut v = String::new();
        stdin
            .lock()
            .read_to_string(&mut v)
            .map_err(|e| Error::usage(format!("cannot read the value from standard input: {e}")))?;
        // One trailing newline comes from `echo` or a file's last line, not from the value.
        if v.ends_with('\n') {
            v.pop();
            if v.ends_with('\r') {
                v.pop();
            }
        }
        v
    };
    if value.is_empty() {
        return Err(
            Error::usage(format!("no value for {name}: standard input was empty")).with_hint(
                format!("pipe it in: printf %s \"$VALUE\" | wharf secrets set {name} --env ENV"),
            ),
        );
    }
    Ok(value)
}
