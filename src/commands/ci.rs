//! `wharf ci`: in a CI job, map the branch or tag to an environment and an action (the rules in
//! `[ci]` of wharf.toml), run its stages, and smoke-test after a deploy. Branch, tag and commit
//! come from GitHub Actions, CircleCI, GitLab CI or Jenkins variables, or from the flags.

use std::time::Duration;

use crate::error::Result;
use crate::pipeline::{self, PipelineRun};
use crate::project::manifest::Manifest;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Branch being built (overrides the CI system's variables).
    #[arg(long)]
    pub branch: Option<String>,
    /// Git tag being built (overrides the CI system's variables).
    #[arg(long)]
    pub git_tag: Option<String>,
    /// Commit being built (overrides the CI system's variables).
    #[arg(long)]
    pub commit: Option<String>,
    /// Print the decision (rule, environment, tag, stages) and do nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Promote a tag even when it has not passed (deploy and smoke test) in the source
    /// environment.
    #[arg(long)]
    pub force: bool,
    /// Give up watching a rollout after this long (exit 4), e.g. 15m, 90s.
    #[arg(long, default_value = "15m", value_parser = crate::cli::duration)]
    pub timeout: Duration,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let mut info = pipeline::ci::detect_ci(&|name| std::env::var(name).ok());
    if args.branch.is_some() || args.git_tag.is_some() {
        info.branch = args.branch.clone();
        info.tag = args.git_tag.clone();
    }
    if args.commit.is_some() {
        info.commit = args.commit.clone();
    }
    let what = match (&info.tag, &info.branch) {
        (Some(t), _) => format!("tag {t}"),
        (None, Some(b)) => format!("branch {b}"),
        (None, None) => "no branch or tag".to_string(),
    };
    let what = if info.pull_request {
        format!("pull request from {what}")
    } else {
        what
    };
    let Some(decision) = pipeline::ci::decide(&manifest, &info)? else {
        if ctx.out.is_json() {
            ctx.out
                .json(&serde_json::json!({ "ci": info, "decision": null }));
        } else {
            ctx.out.status(format!(
                "ci ({}): {what}: no rule matches{}; nothing to do",
                info.system,
                if info.pull_request {
                    " (a pull request matches only rules with pull_requests = true)"
                } else {
                    ""
                }
            ));
        }
        return Ok(0);
    };
    let line = format!(
        "ci ({}): {what} matches rule {} ({}): {}{} with tag {}: {}",
        info.system,
        decision.rule,
        decision.matched,
        decision.action,
        decision
            .env
            .as_deref()
            .map(|e| format!(" to {e}"))
            .unwrap_or_default(),
        decision.tag,
        decision.stages.join(" → ")
    );
    if args.dry_run {
        if ctx.out.is_json() {
            ctx.out
                .json(&serde_json::json!({ "ci": info, "decision": decision }));
        } else {
            println!("{line}");
        }
        return Ok(0);
    }
    ctx.out.status(&line);
    let run = PipelineRun {
        env: decision.env.clone(),
        tag: decision.tag.clone(),
        stages: decision.stage_list.clone(),
        timeout: args.timeout,
        force: args.force,
    };
    let (results, code) = pipeline::run_stages(ctx, &run).await;
    pipeline::report_stages(
        ctx,
        &results,
        serde_json::json!({ "ci": info, "decision": decision }),
    );
    Ok(code)
}
