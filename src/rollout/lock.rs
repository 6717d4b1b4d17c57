//! The deploy lock: one change at a time per application and environment.
//!
//! The lock is an SSM parameter, `/wharf/locks/<app>/<env>`, created with `Overwrite=false`, which
//! SSM makes atomic: of two deploys, exactly one creates it. Its value says who holds it, since
//! when and until when. It is released on every exit path wharf controls (success, failure,
//! Ctrl-C); a lock left by a killed process expires, and `wharf unlock` breaks one explicitly.
//! A lock whose holder ran on this host and is no longer running is explained as such, not
//! broken: another checkout on the same host may belong to someone else.

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

impl Holder {
    /// The host part of `who` (`user@host`, then the CI job in parentheses).
    pub fn host(&self) -> Option<&str> {
        let base = self.who.split(" (").next().unwrap_or_default();
        base.rsplit_once('@').map(|(_, host)| host)
    }

    pub fn expired(&self) -> bool {
        self.expires <= now()
    }

    /// `who (action, pid N) since T, until T`.
    pub fn describe(&self) -> String {
        describe(self)
    }

    /// True when the holder ran on this host and its process is gone (no `/proc/<pid>`, or a
    /// zombie). False whenever that cannot be told.
    pub fn dead_on_this_host(&self) -> bool {
        self.host() == Some(host().as_str()) && pid_alive(self.pid) == Some(false)
    }
}

/// The lock as it stands in SSM: its raw value and, when it parses, its holder.
#[derive(Debug, Clone)]
pub struct Current {
    pub name: String,
    value: String,
    pub holder: Option<Holder>,
}

impl Current {
    /// An unreadable lock is never taken as expired.
    pub fn expired(&self) -> bool {
        self.holder.as_ref().is_some_and(Holder::expired)
    }

    pub fn describe(&self) -> String {
        match &self.holder {
            Some(h) => describe(h),
            None => format!("an unreadable holder ({})", self.value),
        }
    }
}

/// A held lock. Call [`DeployLock::release`]; dropping it does not release (release is async).
#[derive(Debug)]
pub struct DeployLock {
    ssm: aws_sdk_ssm::Client,
    name: String,
    env: String,
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

/// This host's name, as the lock records it.
fn host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// The user: `USER` (or `USERNAME`), else the name of the process's uid in /etc/passwd, else
/// `uid N`.
fn user() -> String {
    let from_env = ["USER", "USERNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|u| !u.is_empty());
    if let Some(user) = from_env {
        return user;
    }
    user_of(
        std::fs::read_to_string("/proc/self/status").ok().as_deref(),
        std::fs::read_to_string("/etc/passwd").ok().as_deref(),
    )
}

/// The name of the real uid in `status` (`/proc/self/status`), from `passwd`, or `uid N`.
fn user_of(status: Option<&str>, passwd: Option<&str>) -> String {
    let Some(uid) = status.and_then(uid_of_status) else {
        return "unknown".into();
    };
    passwd
        .and_then(|p| name_of_uid(p, uid))
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The real uid in a `/proc/<pid>/status` document.
fn uid_of_status(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

/// The first user name with `uid` in an /etc/passwd document (`name:x:uid:gid:...`).
fn name_of_uid(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let _password = fields.next()?;
        let id: u32 = fields.next()?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// Whether process `pid` of this host runs: `None` without /proc to tell, `Some(false)` when
/// `/proc/<pid>` is absent or the process is a zombie.
fn pid_alive(pid: u32) -> Option<bool> {
    if !std::path::Path::new("/proc/self/stat").exists() {
        return None;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => Some(!matches!(state_of_stat(&stat), Some('Z' | 'X'))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

/// The state letter of a `/proc/<pid>/stat` line (`pid (comm) S ...`; comm may hold spaces and
/// parentheses, so it is read after the last `)`).
fn state_of_stat(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn who() -> String {
    let user = user();
    let host = host();
    let ci = std::env::var("GITHUB_RUN_ID")
        .map(|id| format!(" (GitHub Actions run {id})"))
        .or_else(|_| std::env::var("CIRCLE_BUILD_NUM").map(|n| format!(" (CircleCI build {n})")))
        .or_else(|_| std::env::var("CI_JOB_ID").map(|n| format!(" (GitLab job {n})")))
        .or_else(|_| std::env::var("BUILD_TAG").map(|n| format!(" (Jenkins {n})")))
        .unwrap_or_default();
    format!("{user}@{host}{ci}")
}

/// `attempt`, and on throttling and 5xx four more rounds 0.5 s to 4 s apart. For the lock's own
/// calls, where giving up early leaves a lock behind or unaccounted for.
async fn patiently<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut pause = Duration::from_millis(500);
    let mut outcome = attempt().await;
    for _ in 0..4 {
        match &outcome {
            Err(e) if e.retryable => {
                tokio::time::sleep(pause).await;
                pause *= 2;
                outcome = attempt().await;
            }
            _ => break,
        }
    }
    outcome
}

fn rfc3339(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(epoch)).to_string()
}

fn describe(holder: &Holder) -> String {
    format!(
        "{} ({}, pid {}) since {}, until {}",
        holder.who,
        holder.action,
        holder.pid,
        rfc3339(holder.since),
        rfc3339(holder.expires)
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
                Ok(_) => return Ok(Self::held(ssm, name, env, holder)),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_parameter_already_exists()) =>
                {
                    let current = Self::holder(ssm, &name).await?;
                    match current {
                        // Our own PutParameter, carried out but its answer lost, then retried
                        // by the SDK: the lock is ours.
                        Some(h) if h == holder => return Ok(Self::held(ssm, name, env, holder)),
                        Some(h) if h.dead_on_this_host() && !h.expired() => {
                            return Err(Error::failed(format!(
                                "{app}/{env} is locked by {}: held by pid {} on this host, which is no longer running (killed?)",
                                describe(&h),
                                h.pid
                            ))
                            .with_hint(format!(
                                "unless another checkout on this host is deploying {app}/{env}, take the lock over with `wharf unlock --env {env}`; otherwise it expires at {}",
                                rfc3339(h.expires)
                            )));
                        }
                        Some(h) if !h.expired() => {
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
                Err(e) => {
                    let failed = error("ssm:PutParameter", e);
                    if !failed.retryable {
                        return Err(failed);
                    }
                    // A dropped connection or a 5xx leaves the outcome unknown: SSM may have
                    // created the parameter. Read it back, so that a lock this run took is
                    // used (and released at the end) rather than left behind.
                    return match patiently(|| Self::holder(ssm, &name)).await {
                        Ok(Some(h)) if h == holder => Ok(Self::held(ssm, name, env, holder)),
                        Ok(_) => Err(failed),
                        Err(read) => Err(Error::aws(format!(
                            "{}; whether SSM took the lock is unknown ({})",
                            failed.message, read.message
                        ))
                        .with_hint(format!(
                            "if the next deploy finds {name} held by this host's pid {}, clear it with `wharf unlock --env {env}`",
                            holder.pid
                        ))),
                    };
                }
            }
        }
        Err(Error::failed(format!(
            "could not take the deploy lock {name}: another process keeps taking it"
        )))
    }

    /// The lock `name`, taken by this run as `holder`.
    fn held(ssm: &aws_sdk_ssm::Client, name: String, env: &str, holder: Holder) -> DeployLock {
        DeployLock {
            ssm: ssm.clone(),
            name,
            env: env.to_string(),
            holder,
        }
    }

    /// Who holds the lock of `name`, if anyone (`None` also when its value does not parse).
    pub async fn holder(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Option<Holder>> {
        Ok(Self::read_named(ssm, name).await?.and_then(|c| c.holder))
    }

    /// The lock of `app`/`env` as it stands, if it exists.
    pub async fn read(ssm: &aws_sdk_ssm::Client, app: &str, env: &str) -> Result<Option<Current>> {
        Self::read_named(ssm, &parameter_name(app, env)).await
    }

    async fn read_named(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Option<Current>> {
        match ssm.get_parameter().name(name).send().await {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value).map(|value| Current {
                name: name.to_string(),
                holder: serde_json::from_str(&value).ok(),
                value,
            })),
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

    /// Releases the lock if it is still ours. When that fails, the error says that the lock
    /// remains, until when, and the command that clears it.
    pub async fn release(self) -> Result<()> {
        // A lock left behind blocks the next deploy, so it gets more rounds than the SDK's own
        // retries (whose retry budget a long deploy under errors may have spent).
        let released = patiently(|| self.try_release()).await;
        released.map_err(|e| {
            Error::aws(format!(
                "the deploy lock {} remains: {}; it expires at {}",
                self.name,
                e.message,
                rfc3339(self.holder.expires)
            ))
            .with_hint(format!(
                "clear it with `wharf unlock --env {}` before the next deploy",
                self.env
            ))
        })
    }

    async fn try_release(&self) -> Result<()> {
        match Self::holder(&self.ssm, &self.name).await {
            Ok(Some(h)) if h == self.holder => Self::delete(&self.ssm, &self.name).await,
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Breaks the lock `seen` (as [`DeployLock::read`] returned it), unless it changed hands
    /// since it was read.
    pub async fn break_lock(ssm: &aws_sdk_ssm::Client, seen: &Current) -> Result<()> {
        match Self::read_named(ssm, &seen.name).await? {
            None => Ok(()),
            Some(now) if now.value == seen.value => Self::delete(ssm, &seen.name).await,
            Some(now) => Err(Error::failed(format!(
                "the lock {} changed hands while wharf asked: it is now held by {}; nothing was broken",
                seen.name,
                now.describe()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uid_is_named_from_passwd_or_by_number() {
        let status = "Name:\twharf\nUmask:\t0022\nUid:\t1000\t1001\t1001\t1001\nGid:\t1000\n";
        assert_eq!(uid_of_status(status), Some(1000));
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\n# note\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(user_of(Some(status), Some(passwd)), "alice");
        assert_eq!(user_of(Some("Uid:\t0\t0\t0\t0\n"), Some(passwd)), "root");
        assert_eq!(
            user_of(Some("Uid:\t4242\t4242\n"), Some(passwd)),
            "uid 4242"
        );
        assert_eq!(user_of(Some("Uid:\t4242\t4242\n"), None), "uid 4242");
        assert_eq!(user_of(None, Some(passwd)), "unknown");
    }

    #[test]
    fn the_host_is_read_from_who() {
        let holder = |who: &str| Holder {
            who: who.into(),
            pid: 1,
            action: "deploy".into(),
            since: 0,
            expires: 0,
        };
        assert_eq!(holder("alice@laptop").host(), Some("laptop"));
        assert_eq!(
            holder("runner@ci-7 (GitHub Actions run 12)").host(),
            Some("ci-7")
        );
        assert_eq!(holder("nobody").host(), None);
    }

    #[test]
    fn a_process_is_alive_until_it_is_gone_or_a_zombie() {
        assert_eq!(state_of_stat("42 (a (b) c) S 1 2"), Some('S'));
        assert_eq!(pid_alive(std::process::id()), Some(true));
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert_eq!(pid_alive(pid), Some(true));
        child.kill().unwrap();
        // Killed and not yet waited for: a zombie.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while pid_alive(pid) != Some(false) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(pid_alive(pid), Some(false), "a zombie is not running");
        child.wait().unwrap();
        assert_eq!(pid_alive(pid), Some(false), "a reaped process is gone");
    }
}
