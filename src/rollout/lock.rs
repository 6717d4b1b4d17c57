//! The deploy lock: one change at a time per application and environment.
//!
//! The lock is an SSM parameter, `/wharf/locks/<app>/<env>`, created with `Overwrite=false`, which
//! SSM makes atomic: of two deploys, exactly one creates it. Its value says who holds it, since
//! when and until when. It is released on every exit path wharf controls (success, failure,
//! Ctrl-C); a lock left by a killed process expires, and `wharf unlock` breaks one explicitly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ssm::types::ParameterType;
use serde::{Deserialize, Serialize};

use crate::aws::error;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    /// `user@host`, plus the CI job when there is one.
    pub who: String,
    pub pid: u32,
    /// What the holder is doing (`deploy`, `rollback`, ...).
    pub action: String,
    /// Epoch seconds.
    pub since: u64,
    pub expires: u64,
}

/// A held lock. Call [`DeployLock::release`]; dropping it does not release (release is async).
#[derive(Debug)]
pub struct DeployLock {
    ssm: aws_sdk_ssm::Client,
    name: String,
    holder: Holder,
}

pub fn parameter_name(app: &str, env: &str) -> String {
    format!("/wharf/locks/{app}/{env}")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    let ci = std::env::var("GITHUB_RUN_ID")
        .map(|id| format!(" (GitHub Actions run {id})"))
        .or_else(|_| std::env::var("CIRCLE_BUILD_NUM").map(|n| format!(" (CircleCI build {n})")))
        .or_else(|_| std::env::var("CI_JOB_ID").map(|n| format!(" (GitLab job {n})")))
        .or_else(|_| std::env::var("BUILD_TAG").map(|n| format!(" (Jenkins {n})")))
        .unwrap_or_default();
    format!("{user}@{host}{ci}")
}

fn describe(holder: &Holder) -> String {
    let since = UNIX_EPOCH + Duration::from_secs(holder.since);
    let expires = UNIX_EPOCH + Duration::from_secs(holder.expires);
    format!(
        "{} ({}, pid {}) since {}, until {}",
        holder.who,
        holder.action,
        holder.pid,
        humantime::format_rfc3339_seconds(since),
        humantime::format_rfc3339_seconds(expires)
    )
}

impl DeployLock {
    /// Takes the lock for `ttl`, or says who holds it. An expired lock is taken over.
    pub async fn acquire(
        ssm: &aws_sdk_ssm::Client,
        app: &str,
        env: &str,
        action: &str,
        ttl: Duration,
    ) -> Result<DeployLock> {
        let name = parameter_name(app, env);
        let start = now();
        let holder = Holder {
            who: who(),
            pid: std::process::id(),
            action: action.to_string(),
            since: start,
            expires: start + ttl.as_secs(),
        };
        let value = serde_json::to_string(&holder).expect("the holder serializes");
        for _ in 0..2 {
            let put = ssm
                .put_parameter()
                .name(&name)
                .value(&value)
                .r#type(ParameterType::String)
                .overwrite(false)
                .description("wharf deploy lock")
                .send()
                .await;
            match put {
                Ok(_) => {
                    return Ok(DeployLock {
                        ssm: ssm.clone(),
                        name,
                        holder,
                    })
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_parameter_already_exists()) =>
                {
                    let current = Self::holder(ssm, &name).await?;
                    match current {
                        Some(h) if h.expires > now() => {
                            return Err(Error::failed(format!(
                                "{app}/{env} is locked by {}",
                                describe(&h)
                            ))
                            .with_hint(format!(
                                "wait for it to finish (`wharf wait --env {env}`), or break a stale lock with `wharf unlock --env {env}`"
                            )));
                        }
                        // Expired or unreadable: break it and try once more.
                        _ => Self::delete(ssm, &name).await?,
                    }
                }
                Err(e) => return Err(error("ssm:PutParameter", e)),
            }
        }
        Err(Error::failed(format!(
            "could not take the deploy lock {name}: another process keeps taking it"
        )))
    }

    /// Who holds the lock of `name`, if anyone.
    pub async fn holder(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Option<Holder>> {
        match ssm.get_parameter().name(name).send().await {
            Ok(out) => Ok(out
                .parameter
                .and_then(|p| p.value)
                .and_then(|v| serde_json::from_str(&v).ok())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                Ok(None)
            }
            Err(e) => Err(error("ssm:GetParameter", e)),
        }
    }

    async fn delete(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<()> {
        match ssm.delete_parameter().name(name).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                Ok(())
            }
            Err(e) => Err(error("ssm:DeleteParameter", e)),
        }
    }

    /// Releases the lock if it is still ours.
    pub async fn release(self) -> Result<()> {
        match Self::holder(&self.ssm, &self.name).await? {
            Some(h) if h == self.holder => Self::delete(&self.ssm, &self.name).await,
            _ => Ok(()),
        }
    }

    /// Breaks the lock of `app`/`env` whoever holds it; returns the holder it broke.
    pub async fn break_lock(
        ssm: &aws_sdk_ssm::Client,
        app: &str,
        env: &str,
    ) -> Result<Option<String>> {
        let name = parameter_name(app, env);
        let holder = Self::holder(ssm, &name).await?;
        Self::delete(ssm, &name).await?;
        Ok(holder.map(|h| describe(&h)))
    }
}
