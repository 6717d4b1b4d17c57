//! Smoke tests: a GET of a service's URL until it answers as expected. Used after a deploy
//! (`wharf ci`, `wharf all`: [`smoke_checks`]) and, for blue/green, linear and canary services,
//! against the test listener while ECS holds the deployment before production traffic moves
//! ([`test_traffic_checks`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::project::connect::Connected;
use crate::project::manifest::{Manifest, Service, Smoke};

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
pub fn smoke_checks(conn: &Connected) -> Result<Vec<SmokeCheck>> {
    let mut checks = Vec::new();
    for (key, service) in &conn.manifest.doc.services {
        if let Some(smoke) = &service.smoke {
            checks.push(render_check(conn, key, smoke, &smoke.url)?);
        }
    }
    Ok(checks)
}

/// The smoke tests on test traffic of the services `keys` (wharf.toml keys) that have one: a
/// `smoke.test_url`, with a strategy that shifts traffic (checked offline). Keyed by service key.
pub fn test_traffic_checks(
    conn: &Connected,
    keys: &[String],
) -> Result<HashMap<String, SmokeCheck>> {
    let mut checks = HashMap::new();
    for key in keys {
        let Some(service) = conn.manifest.doc.services.get(key) else {
            continue;
        };
        if !runs_on_test_traffic(service) {
            continue;
        }
        let Some(smoke) = &service.smoke else {
            continue;
        };
        let Some(url) = &smoke.test_url else {
            continue;
        };
        checks.insert(key.clone(), render_check(conn, key, smoke, url)?);
    }
    Ok(checks)
}

/// Whether `service` has a smoke test wharf runs on test traffic: a `smoke.test_url` and a
/// strategy that moves traffic (the pause hook is added only then).
pub fn runs_on_test_traffic(service: &Service) -> bool {
    service.smoke.as_ref().is_some_and(|s| s.test_url.is_some())
        && service
            .deployment
            .as_ref()
            .is_some_and(|d| d.strategy().shifts_traffic())
}

/// The minutes ECS waits at the pause hook of a smoke test on test traffic before it rolls the
/// deployment back by itself (wharf gone, or killed): the smoke test's timeout, rounded up to
/// minutes, and 5 more for the watch to notice the stage. Also what `--no-wait` leaves behind.
pub fn pause_minutes(smoke: &Smoke) -> i64 {
    let secs = smoke_timeout(smoke)
        .unwrap_or(Duration::from_secs(60))
        .as_secs() as i64;
    (secs + 59) / 60 + 5
}

fn smoke_timeout(smoke: &Smoke) -> std::result::Result<Duration, humantime::DurationError> {
    match &smoke.timeout {
        Some(t) => humantime::parse_duration(t.get_ref()),
        None => Ok(Duration::from_secs(60)),
    }
}

fn render_check(
    conn: &Connected,
    key: &str,
    smoke: &Smoke,
    url: &toml::Spanned<String>,
) -> Result<SmokeCheck> {
    let manifest: &Manifest = &conn.manifest;
    let inputs = conn
        .resolved
        .inputs(manifest, &conn.env_name, conn.tag.as_deref());
    let rendered = crate::project::render::render_value_for(
        &inputs,
        Some(crate::project::render::Unit::Service(key)),
        "smoke url",
        url,
    )?
    .0;
    if !(rendered.starts_with("http://") || rendered.starts_with("https://")) {
        return Err(manifest.error_at(
            url.span(),
            &format!("smoke test url of service `{key}` renders to \"{rendered}\", which is not an http:// or https:// URL"),
        ));
    }
    let timeout = smoke_timeout(smoke).map_err(|e| {
        let t = smoke.timeout.as_ref().expect("only a given timeout fails to parse");
        manifest.error_at(
            t.span(),
            &format!("smoke test timeout \"{}\" is not a duration ({e}); write for example \"30s\" or \"2m\"", t.get_ref()),
        )
    })?;
    Ok(SmokeCheck {
        service: key.to_string(),
        url: rendered,
        status: smoke.status.unwrap_or(200),
        body: smoke.body.clone(),
        timeout,
    })
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
