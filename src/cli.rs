//! The command line: global flags, the verbs, and the mapping of errors to exit codes.
//!
//! Each verb lives in `commands/<verb>.rs` with its own `Args`; this file only lists them. The
//! global flags become [`Settings`] once, here; nothing below the verbs sees clap's types.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::error::Result;
use crate::output::{Format, Output};
use crate::settings::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "wharf",
    version,
    about = "Ship containerized applications to AWS ECS",
    long_about = "Ship containerized applications to AWS ECS (Fargate and EC2) across an \
                  application's environments: render task definitions, deploy, watch, roll back.\n\n\
                  Exit codes: 0 success, 1 the operation failed, 2 usage or project-file error, \
                  3 AWS error, 4 timed out, 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// A `--timeout`-style duration: `90s`, `15m`, `1h30m` (humantime's syntax), with a message
/// that shows the syntax instead of the parser's.
pub fn duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|_| {
        format!("`{s}` is not a duration; write a number with a unit, such as 90s, 15m or 1h30m")
    })
}

/// Flags every verb understands.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Environment to act on (a table under [environments] in wharf.toml).
    #[arg(long, short = 'e', global = true, env = "WHARF_ENV")]
    pub env: Option<String>,
    /// Project file.
    #[arg(long, global = true, default_value = crate::project::manifest::FILE_NAME, env = "WHARF_FILE")]
    pub file: PathBuf,
    /// AWS profile (overrides the environment's `profile`).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// AWS region (overrides the environment's `region`).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// More detail; repeat for more (-vv).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Answer yes to confirmations (required to change a `confirm = true` environment without a terminal).
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// No colours (also: NO_COLOR=1).
    #[arg(long, global = true)]
    pub no_color: bool,
}

impl GlobalArgs {
    /// The settings every verb runs with, resolved once.
    pub fn settings(self) -> Settings {
        Settings {
            out: Output::new(self.output, self.no_color, self.verbose),
            env: self.env,
            file: self.file,
            profile: self.profile,
            region: self.region,
            yes: self.yes,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render, register what changed, update services, watch, roll back on failure.
    Deploy(commands::deploy::Args),
    /// Force a new deployment of services with the revision they run, and watch it.
    Redeploy(commands::redeploy::Args),
    /// Watch rollouts already in progress to their end.
    Wait(commands::wait::Args),
    /// Go back to the previous (or a given) task definition revision, and watch.
    Rollback(commands::rollback::Args),
    /// Diff rendered task definitions and service settings against what runs (exit 1 on differences).
    Diff(commands::diff::Args),
    /// Services, deployments, tasks, images, events and target health of an environment.
    Status(commands::status::Args),
    /// Break the deploy lock of an environment (after a deploy was killed).
    Unlock(commands::unlock::Args),
    /// EC2 capacity of an environment's cluster: `roll` replaces its container instances batch by batch.
    Cluster(commands::cluster::Args),
    /// Run a one-off task (a job, or a command in a service's task definition), stream its logs, exit with its exit code.
    Run(commands::run::Args),
    /// CloudWatch logs of a service or job, interleaved by time; -f follows.
    Logs(commands::logs::Args),
    /// A shell (or command) in a running container of a service through ECS Exec; checks the prerequisites first.
    Exec(commands::exec::Args),
    /// Secrets in SSM Parameter Store (SecureString under /<app>/<env>/): set, get, list, delete, import.
    Secrets(commands::secrets::Args),
    /// Run a service's or job's containers on this machine (docker/podman) with its environment and secrets.
    Local(commands::local::Args),
    /// Build images (the project's [images], or its compose build file with APP_TAG).
    Build(commands::build::Args),
    /// Push built images to ECR: native login, skip what the registry already holds.
    Push(commands::push::Args),
    /// Give an image already in ECR another environment's tag, without rebuilding.
    Promote(commands::promote::Args),
    /// Check the project file and every template for every environment, offline.
    Validate(commands::validate::Args),
    /// Print a service's or job's rendered task definition as JSON.
    Render(commands::render::Args),
    /// Write a starter project, adopt a running ECS service (--from-service), or import a Copilot or ecspresso project.
    Init(commands::init::Args),
    /// Print shell completions.
    Completions(commands::completions::Args),
    /// Print the JSON Schema of wharf.toml (for editors and validators).
    Schema(commands::schema::Args),
    /// Print the man page, or write one per verb into a folder (--dir).
    Man(commands::man::Args),
    /// Terraform workspaces per environment: create, init, list.
    Env(commands::env::Args),
    /// Terraform plan for an environment, then the service changes a deploy would make.
    Plan(commands::plan::Args),
    /// Terraform apply for an environment (with the tag variable), then watch the services it owns.
    Apply(commands::apply::Args),
    /// Build, push, apply (with Terraform), deploy; stops at the first failing stage.
    All(commands::all::Args),
    /// In CI: map the branch or tag to an environment and an action, run it, smoke-test.
    Ci(commands::ci::Args),
}

/// What a shell reports for a program that a closed pipe ended (128 + SIGPIPE).
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// Output piped into a program that stops reading early (`wharf logs web | head`) ends wharf
/// quietly, as it ends other Unix tools, instead of with a panic and a backtrace. Rust ignores
/// SIGPIPE, so a write to the closed pipe fails and `println!` panics. On the main flow that
/// panic exits with [`EXIT_BROKEN_PIPE`]. In a background task (a local run's log follower) only
/// that task ends, silently, and the run goes on to its clean-up. Any other panic is reported
/// as before.
fn end_quietly_on_broken_pipes() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("Broken pipe") || text.contains("BrokenPipe") {
            if std::thread::current().name() == Some("main") {
                std::process::exit(EXIT_BROKEN_PIPE);
            }
            return;
        }
        report(info);
    }));
}

/// Parses the command line, runs the verb, prints any error and returns the exit code.
pub fn main() -> i32 {
    end_quietly_on_broken_pipes();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let ctx = cli.global.settings();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(&ctx, cli.command)) {
        Ok(code) => code,
        Err(e) => {
            ctx.out.error(&e);
            e.exit_code()
        }
    }
}

async fn run(ctx: &Settings, command: Command) -> Result<i32> {
    match command {
        Command::Deploy(args) => commands::deploy::run(ctx, args).await,
        Command::Redeploy(args) => commands::redeploy::run(ctx, args).await,
        Command::Wait(args) => commands::wait::run(ctx, args).await,
        Command::Rollback(args) => commands::rollback::run(ctx, args).await,
        Command::Diff(args) => commands::diff::run(ctx, args).await,
        Command::Status(args) => commands::status::run(ctx, args).await,
        Command::Unlock(args) => commands::unlock::run(ctx, args).await,
        Command::Cluster(args) => commands::cluster::run(ctx, args).await,
        Command::Run(args) => commands::run::run(ctx, args).await,
        Command::Logs(args) => commands::logs::run(ctx, args).await,
        Command::Exec(args) => commands::exec::run(ctx, args).await,
        Command::Secrets(args) => commands::secrets::run(ctx, args).await,
        Command::Local(args) => commands::local::run(ctx, args).await,
        Command::Build(args) => commands::build::run(ctx, args).await,
        Command::Push(args) => commands::push::run(ctx, args).await,
        Command::Promote(args) => commands::promote::run(ctx, args).await,
        Command::Validate(args) => commands::validate::run(ctx, args).await,
        Command::Render(args) => commands::render::run(ctx, args).await,
        Command::Init(args) => commands::init::run(ctx, args).await,
        Command::Completions(args) => commands::completions::run(ctx, args),
        Command::Schema(args) => commands::schema::run(ctx, args),
        Command::Man(args) => commands::man::run(ctx, args),
        Command::Env(args) => commands::env::run(ctx, args).await,
        Command::Plan(args) => commands::plan::run(ctx, args).await,
        Command::Apply(args) => commands::apply::run(ctx, args).await,
        Command::All(args) => commands::all::run(ctx, args).await,
        Command::Ci(args) => commands::ci::run(ctx, args).await,
    }
}
