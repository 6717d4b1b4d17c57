//! Smoke tests after a deploy: a GET per service until it answers as expected, and when one
//! fails, the services the deploy changed rolled back to what they ran before.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::aws::ecs::Described;
use crate::error::{Error, Result};
use crate::project::connect::Connected;
use crate::rollout::deploy::{self};
use crate::rollout::state::Target;
use crate::rollout::view::View;
use crate::settings::Settings;

/// A smoke test with its URL rendered.
#[derive(Debug, Clone)]
pub struct SmokeCheck {
    pub service: String,
    pub url: String,
    pub status: u16,
    pub body: Option<String>,
    pub timeout: Duration,
}

/// Whether a response passes: the expected status, and the body text when one is expected.
pub fn check_response(
    check: &SmokeCheck,
    status: u16,
    body: &str,
) -> std::result::Result<(), String> {
    if status != check.status {
        return Err(format!(
            "GET {} returned {status}, expected {}",
            check.url, check.status
        ));
    }
    if let Some(text) = &check.body {
        if !body.contains(text.as_str()) {
            let excerpt: String = body.chars().take(120).collect();
            return Err(format!(
                "GET {} returned {status} without {text:?} in the body (body starts: {excerpt:?})",
                check.url
            ));
        }
    }
    Ok(())
}

/// One GET: the status and up to 1 MiB of the body.
async fn smoke_get(
    client: &reqwest::Client,
    url: &str,
) -> std::result::Result<(u16, String), String> {
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url} failed: {}", crate::error::chain(&e)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= 1024 * 1024 {
            break;
        }
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// GETs the URL until it passes or the check's timeout runs out (new deployments behind a load
/// balancer may take a moment to receive traffic). Err carries the last reason.
pub async fn run_smoke(check: &SmokeCheck) -> std::result::Result<Duration, String> {
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10).min(check.timeout.max(Duration::from_secs(1))))
        .build()
        .map_err(|e| format!("cannot set up the smoke test's HTTP client: {e}"))?;
    loop {
        let attempt = smoke_get(&client, &check.url).await;
        let verdict = attempt.and_then(|(status, body)| check_response(check, status, &body));
        match verdict {
            Ok(()) => return Ok(started.elapsed()),
            Err(reason) if started.elapsed() + Duration::from_secs(1) >= check.timeout => {
                return Err(format!(
                    "{reason} (gave up after {:.0}s)",
                    started.elapsed().as_secs_f64()
                ))
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// The smoke tests of the environment's services, URLs rendered with the deploy's inputs.
fn smoke_checks(conn: &Connected) -> Result<Vec<SmokeCheck>> {
    let inputs = conn
        .resolved
        .inputs(&conn.manifest, &conn.env_name, conn.tag.as_deref());
    let mut checks = Vec::new();
    for (key, service) in &conn.manifest.doc.services {
        let Some(smoke) = &service.smoke else {
            continue;
        };
        let url = crate::project::render::render_value_for(
            &inputs,
            Some(crate::project::render::Unit::Service(key)),
            "smoke url",
            &smoke.url,
        )?
        .0;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(conn.manifest.error_at(
                smoke.url.span(),
                &format!("smoke test url of service `{key}` renders to \"{url}\", which is not an http:// or https:// URL"),
            ));
        }
        let timeout = match &smoke.timeout {
            Some(t) => humantime::parse_duration(t.get_ref()).map_err(|e| {
                conn.manifest.error_at(
                    t.span(),
                    &format!("smoke test timeout \"{}\" is not a duration ({e}); write for example \"30s\" or \"2m\"", t.get_ref()),
                )
            })?,
            None => Duration::from_secs(60),
        };
        checks.push(SmokeCheck {
            service: key.clone(),
            url,
            status: smoke.status.unwrap_or(200),
            body: smoke.body.clone(),
            timeout,
        });
    }
    Ok(checks)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_checked() {
        let c = SmokeCheck {
            service: "web".into(),
            url: "http://x/health".into(),
            status: 200,
            body: Some("ok".into()),
            timeout: Duration::from_secs(1),
        };
        assert!(check_response(&c, 200, "all ok").is_ok());
        assert_eq!(
            check_response(&c, 500, "ok").unwrap_err(),
            "GET http://x/health returned 500, expected 200"
        );
        assert!(check_response(&c, 200, "down")
            .unwrap_err()
            .contains("without \"ok\""));
    }
}
