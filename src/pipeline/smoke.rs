//! Smoke tests after a deploy: a GET per service until it answers as expected, and when one
//! fails, the services the deploy changed rolled back to what they ran before.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::aws::ecs::Described;
use crate::error::{Error, Result};
use crate::project::connect::Connected;
use crate::rollout::deploy::{self};
use crate::rollout::smoke_check::{run_smoke, smoke_checks};
use crate::rollout::state::Target;
use crate::rollout::view::View;
use crate::settings::Settings;

/// Runs the smoke tests; when one fails, rolls every service the deploy changed back to what it
/// ran before (`before`), watches that, and fails (exit 1).
pub async fn smoke_and_roll_back(
    ctx: &Settings,
    tag: &str,
    timeout: Duration,
    before: Option<&HashMap<String, String>>,
) -> Result<i32> {
    let conn = Connected::open(ctx, Some(tag.to_string()), &[]).await?;
    let checks = smoke_checks(&conn)?;
    let results = futures::future::join_all(
        checks
            .iter()
            .map(|c| async move { (c, run_smoke(c).await) }),
    )
    .await;
    let mut failures = Vec::new();
    for (check, result) in results {
        match result {
            Ok(took) => ctx.out.status(format!(
                "smoke {}: ok ({} in {:.1}s)",
                check.service,
                check.url,
                took.as_secs_f64()
            )),
            Err(reason) => {
                ctx.out
                    .status(format!("smoke {}: FAILED: {reason}", check.service));
                failures.push(format!("{}: {reason}", check.service));
            }
        }
    }
    if failures.is_empty() {
        return Ok(0);
    }
    let rolled = roll_back_to(ctx, &conn, before.cloned().unwrap_or_default(), timeout).await?;
    let mut e = Error::failed(format!("smoke test failed: {}", failures.join("; ")));
    e = if rolled.is_empty() {
        e.with_hint("nothing was rolled back: no service changed in this deploy")
    } else {
        e.with_hint(format!("rolled back: {}", rolled.join(", ")))
    };
    Err(e)
}

/// Puts services whose task definition differs from `before` back on it, and watches.
async fn roll_back_to(
    ctx: &Settings,
    conn: &Connected,
    before: HashMap<String, String>,
    timeout: Duration,
) -> Result<Vec<String>> {
    let names: Vec<String> = before.keys().cloned().collect();
    let since = crate::rollout::watch::epoch_now();
    let mut targets = Vec::new();
    let mut rolled = Vec::new();
    for d in conn.ecs.describe_services(&names).await? {
        let Described::Found(s, _) = d else { continue };
        let Some(previous) = before.get(&s.service_name) else {
            continue;
        };
        if &s.task_definition == previous {
            continue;
        }
        ctx.out.status(format!(
            "{}: rolling back {} -> {}",
            s.service_name,
            crate::aws::model::family_revision(&s.task_definition),
            crate::aws::model::family_revision(previous)
        ));
        let updated = conn
            .ecs
            .update_service(&json!({
                "cluster": conn.ecs.cluster,
                "service": s.service_name,
                "taskDefinition": previous,
            }))
            .await?;
        rolled.push(format!(
            "{} to {}",
            s.service_name,
            crate::aws::model::family_revision(previous)
        ));
        targets.push(Target {
            service: s.service_name.clone(),
            task_definition: previous.clone(),
            deployment_id: updated
                .deployments
                .iter()
                .find(|d| d.status == "PRIMARY" && &d.task_definition == previous)
                .map(|d| d.id.clone()),
        });
    }
    if targets.is_empty() {
        return Ok(rolled);
    }
    let signal = crate::interrupt::Interrupt::install();
    let mut view = View::new(ctx.out.interactive, ctx.out.verbosity > 0);
    let outcomes =
        deploy::watch_or_interrupt(conn, targets, since, timeout, &mut view, &signal).await?;
    for o in &outcomes {
        if let Some(f) = o.failure() {
            ctx.out.warn(format!(
                "{}: the rollback did not finish: {f}",
                o.target.service
            ));
        }
    }
    Ok(rolled)
}
