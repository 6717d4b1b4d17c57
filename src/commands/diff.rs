//! `wharf diff --env E [SERVICE...]`: unified diff of the rendered task definitions and service
//! settings against what runs, after normalisation. Exit 0 when nothing differs, 1 when
//! something does.

use crate::aws::model::family_revision;
use crate::error::Result;
use crate::project::connect::Connected;
use crate::project::manifest::Manifest;
use crate::project::normalize;
use crate::project::render::Unit;
use crate::rollout::deploy;
use crate::settings::Settings;
use crate::text::{pretty, unified};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to compare (all when none are named).
    pub services: Vec<String>,
    /// Image tag for `{{ tag }}` and image().
    #[arg(long, short = 't', env = "WHARF_TAG")]
    pub tag: Option<String>,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let keys = deploy::select_services(&manifest, &args.services)?;
    drop(manifest);
    let conn = Connected::open(ctx, args.tag.clone(), &Unit::services(&keys)).await?;
    let plans = deploy::build_plan(&conn, &keys).await?;
    let mut differs = false;
    let mut json = Vec::new();
    for p in &plans {
        // Compare with what the service runs; without a service, with the family's newest revision.
        let live_td = match &p.live {
            Some(s) => {
                conn.ecs
                    .describe_task_definition(&s.task_definition)
                    .await?
            }
            None => p.latest.clone(),
        };
        let live_name = live_td
            .as_ref()
            .and_then(|l| l["taskDefinitionArn"].as_str())
            .map(|a| format!("live {}", family_revision(a)))
            .unwrap_or_else(|| "(not registered)".into());
        let old = live_td
            .as_ref()
            .map(|l| pretty(&normalize::task_definition(l)))
            .unwrap_or_default();
        let new = pretty(&normalize::task_definition(&p.rendered));
        let td_diff = unified(
            &old,
            &new,
            &live_name,
            &format!("rendered {}", p.key),
            ctx.out.color && !ctx.out.is_json(),
        );
        let mut settings_diff = String::new();
        if let Some(live) = &p.live_raw {
            if !p.setting_changes.is_empty() {
                let pick = |v: &serde_json::Value| {
                    serde_json::Value::Object(
                        p.setting_changes
                            .iter()
                            .map(|k| (k.clone(), v[k].clone()))
                            .collect(),
                    )
                };
                settings_diff = unified(
                    &pretty(&pick(live)),
                    &pretty(&pick(&p.settings)),
                    &format!("live service {}", p.name),
                    &format!("wharf.toml [services.{}]", p.key),
                    ctx.out.color && !ctx.out.is_json(),
                );
            }
        } else {
            settings_diff = format!("service {} does not exist yet; deploy creates it\n", p.name);
        }
        // Config files that differ from the bucket (`[services.NAME.config]`).
        let config_diff = p
            .config_sync_line()
            .map(|l| format!("{l}\n"))
            .unwrap_or_default();
        let changed = !td_diff.is_empty() || !settings_diff.is_empty() || !config_diff.is_empty();
        differs |= changed;
        if ctx.out.is_json() {
            json.push(serde_json::json!({
                "service": p.name, "differs": changed,
                "task_definition_diff": td_diff, "settings_diff": settings_diff,
                "config_diff": config_diff,
            }));
        } else if changed {
            print!("{td_diff}{settings_diff}{config_diff}");
        } else {
            eprintln!("{}: no differences", p.key);
        }
    }
    if ctx.out.is_json() {
        ctx.out
            .json(&serde_json::json!({ "services": json, "differs": differs }));
    }
    Ok(if differs { 1 } else { 0 })
}
