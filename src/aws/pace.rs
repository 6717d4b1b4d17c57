//! Client-side pacing of ECS requests, so that one wharf process stays under ECS's request
//! limits on its own ("Request throttling for the Amazon ECS API": a token bucket per action
//! category, per account and Region). wharf keeps a bucket per category with 80 % of AWS's
//! capacity and 90 % of its refill rate, which leaves room for the network's jitter and for other
//! clients of the account; a request waits for a token before it is sent. A deploy of 100
//! services thus registers its task definitions at about one a second after the first 16 (AWS
//! allows 20 at once, then 1 a second) instead of being throttled and failing.
//!
//! The buckets are per process (one account and Region per command in practice). Throttling
//! that still happens (other clients of the account) is retried as before.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Share of AWS's bucket capacity and of its refill rate wharf allows itself.
const CAPACITY_SHARE: f64 = 0.8;
const REFILL_SHARE: f64 = 0.9;

/// AWS's bucket (maximum capacity, refill per second) of an ECS action, by category; `None` for
/// actions wharf does not pace.
pub fn ecs_bucket(action: &str) -> Option<(&'static str, f64, f64)> {
    Some(match action {
        "RegisterTaskDefinition" | "DeregisterTaskDefinition" => {
            ("task-definition-modify", 20.0, 1.0)
        }
        "DescribeTaskDefinition" | "ListTaskDefinitions" | "ListTaskDefinitionFamilies" => {
            ("task-definition-read", 50.0, 20.0)
        }
        "CreateService" | "DeleteService" | "UpdateService" => ("service-modify", 50.0, 5.0),
        "DescribeServices" | "ListServices" => ("service-read", 100.0, 20.0),
        "DescribeTasks" | "ListTasks" | "DescribeContainerInstances" | "ListContainerInstances" => {
            ("cluster-resource-read", 100.0, 20.0)
        }
        "RunTask" | "StartTask" | "StopTask" | "ExecuteCommand" => {
            ("cluster-resource-modify", 100.0, 40.0)
        }
        "DescribeClusters" | "ListClusters" => ("cluster-read", 50.0, 20.0),
        "ListServiceDeployments" | "DescribeServiceDeployments" => {
            ("service-deployment", 50.0, 20.0)
        }
        "DescribeServiceRevisions" => ("service-revision", 50.0, 20.0),
        "TagResource" | "UntagResource" => ("tag-modify", 20.0, 10.0),
        "ListTagsForResource" => ("tag-read", 50.0, 20.0),
        _ => return None,
    })
}

/// Token buckets: tokens (negative when requests are queued for tokens not yet refilled) and
/// when they were last counted.
#[derive(Debug, Default)]
pub struct Pacer {
    buckets: Mutex<HashMap<&'static str, (f64, Instant)>>,
}

impl Pacer {
    /// How long a request of `category` (AWS's `capacity` and `refill`) must wait before it is
    /// sent, its token taken at `now`.
    pub fn reserve(
        &self,
        category: &'static str,
        capacity: f64,
        refill: f64,
        now: Instant,
    ) -> Duration {
        let capacity = (capacity * CAPACITY_SHARE).floor().max(1.0);
        let rate = refill * REFILL_SHARE;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets.entry(category).or_insert((capacity, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * rate).min(capacity) - 1.0;
        *last = now.max(*last);
        if *tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-*tokens / rate)
        }
    }
}

static ECS: std::sync::OnceLock<Pacer> = std::sync::OnceLock::new();

/// Waits until ECS action `op` (`ecs:Action`) may be sent.
pub async fn ecs(op: &str) {
    let action = op.strip_prefix("ecs:").unwrap_or(op);
    if let Some((category, capacity, refill)) = ecs_bucket(action) {
        let wait =
            ECS.get_or_init(Pacer::default)
                .reserve(category, capacity, refill, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_free_then_requests_are_spaced_at_the_refill_rate() {
        let p = Pacer::default();
        let t = Instant::now();
        // RegisterTaskDefinition: AWS 20 at once then 1/s; wharf 16 then 0.9/s.
        for _ in 0..16 {
            assert_eq!(p.reserve("tdm", 20.0, 1.0, t), Duration::ZERO);
        }
        let waits: Vec<f64> = (0..3)
            .map(|_| p.reserve("tdm", 20.0, 1.0, t).as_secs_f64())
            .collect();
        for (i, w) in waits.iter().enumerate() {
            assert!((w - (i as f64 + 1.0) / 0.9).abs() < 1e-6, "{waits:?}");
        }
        // Another category has its own bucket.
        assert_eq!(p.reserve("sr", 100.0, 20.0, t), Duration::ZERO);
        // Refilled after a while, never above capacity.
        let later = t + Duration::from_secs(3600);
        for _ in 0..16 {
            assert_eq!(p.reserve("tdm", 20.0, 1.0, later), Duration::ZERO);
        }
        assert!(p.reserve("tdm", 20.0, 1.0, later) > Duration::ZERO);
    }

    #[test]
    fn every_ecs_action_wharf_sends_is_paced() {
        for action in [
            "RegisterTaskDefinition",
            "DescribeTaskDefinition",
            "ListTaskDefinitions",
            "CreateService",
            "UpdateService",
            "DescribeServices",
            "DescribeTasks",
            "ListTasks",
            "RunTask",
            "StopTask",
            "ListServiceDeployments",
            "DescribeServiceDeployments",
            "DescribeServiceRevisions",
        ] {
            assert!(ecs_bucket(action).is_some(), "{action}");
        }
    }
}
