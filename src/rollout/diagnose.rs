//! Why a rollout failed, gathered into one report: the distinct stop codes and reasons of the new
//! revision's stopped tasks, each container's exit code and reason, the last log lines of the
//! crashed containers, and the service events that matter.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::aws::model::short_id;
use crate::rollout::state::is_important_event;
use crate::rollout::watch::Outcome;

/// Log lines shown per crashed container.
pub const LOG_LINES: i32 = 20;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Diagnosis {
    pub service: String,
    pub failure: String,
    /// (count, "stopCode: reason"), most frequent first.
    pub stop_reasons: Vec<(usize, String)>,
    /// (count, "container: exit code N / reason"), most frequent first.
    pub containers: Vec<(usize, String)>,
    pub logs: Vec<LogTail>,
    pub events: Vec<String>,
    /// For a rollout that ran out of time: what was still pending when it did (tasks not yet
    /// running and why, health checks not yet passed, old tasks still draining, targets not
    /// healthy).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LogTail {
    pub task: String,
    pub container: String,
    pub group: String,
    pub stream: String,
    pub lines: Vec<String>,
}

fn counted(items: impl IntoIterator<Item = String>) -> Vec<(usize, String)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for item in items {
        *counts.entry(item).or_default() += 1;
    }
    let mut out: Vec<(usize, String)> = counts.into_iter().map(|(k, v)| (v, k)).collect();
    out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    out
}

/// The capacity provider a task waited on in PROVISIONING until ECS gave up (it failed to start
/// on no instance at all): managed scaling found it no room in time.
fn provisioning_timed_out(t: &crate::aws::model::Task) -> Option<&str> {
    let cp = t.capacity_provider_name.as_deref()?;
    (t.container_instance_arn.is_none() && t.stop_code.as_deref() == Some("TaskFailedToStart"))
        .then_some(cp)
}

/// The part of a diagnosis that needs no AWS call.
pub fn summarize(outcome: &Outcome) -> Diagnosis {
    let failure = outcome.failure().map(|f| f.to_string()).unwrap_or_default();
    let stop_reasons = counted(outcome.stopped_tasks.iter().map(|t| {
        let reason = format!(
            "{}: {}",
            t.stop_code.as_deref().unwrap_or("stopped"),
            t.stopped_reason.as_deref().unwrap_or("no reason given")
        );
        match provisioning_timed_out(t) {
            Some(cp) => format!(
                "{reason} (the task waited in PROVISIONING for an instance of capacity provider \
                 {cp}, which did not come in time: is its Auto Scaling group at its maximum size, \
                 or do its instances not join the cluster?)"
            ),
            None => reason,
        }
    }));
    let containers = counted(outcome.stopped_tasks.iter().flat_map(|t| {
        t.containers
            .iter()
            .filter_map(|c| match (c.exit_code, c.reason.as_deref()) {
                (Some(code), Some(reason)) => {
                    Some(format!("{}: exit code {code} ({reason})", c.name))
                }
                (Some(code), None) => Some(format!("{}: exit code {code}", c.name)),
                (None, Some(reason)) => Some(format!("{}: {reason}", c.name)),
                (None, None) => None,
            })
    }));
    let events = outcome
        .events
        .iter()
        .filter(|e| is_important_event(&e.message))
        .map(|e| e.message.clone())
        .collect();
    Diagnosis {
        service: outcome.target.service.clone(),
        failure,
        stop_reasons,
        containers,
        logs: Vec::new(),
        events,
        pending: Vec::new(),
    }
}

/// What the rollout of `outcome` still waited for when it ran out of time: the target
/// deployment's counts, each of its tasks that is not running and healthy (with the reason ECS
/// gives), older deployments still holding tasks, and load-balancer targets not healthy. Reads
/// the tasks of the target deployment (ListTasks, DescribeTasks) and the target groups' health.
pub async fn add_pending(
    diagnosis: &mut Diagnosis,
    outcome: &Outcome,
    ecs: &crate::aws::ecs::Ecs,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
) {
    use crate::rollout::state::Failure;
    let never_started = matches!(outcome.failure(), Some(Failure::NeverStarted { .. }));
    if !matches!(outcome.failure(), Some(Failure::TimedOut { .. })) && !never_started {
        return;
    }
    let Some(service) = &outcome.last else {
        diagnosis
            .pending
            .push("ECS never showed the service".into());
        return;
    };
    let ours = crate::rollout::state::find_deployment(&outcome.target, service);
    let Some(ours) = ours else {
        diagnosis.pending.push(format!(
            "ECS never showed the deployment of {} (the service shows {})",
            crate::aws::model::family_revision(&outcome.target.task_definition),
            service
                .primary()
                .map(|p| crate::aws::model::family_revision(&p.task_definition).to_string())
                .unwrap_or_else(|| "no deployment".into())
        ));
        return;
    };
    diagnosis.pending.push(format!(
        "{}: {} of {} tasks running, {} pending, {} failed",
        crate::aws::model::family_revision(&ours.task_definition),
        ours.running_count,
        ours.desired_count,
        ours.pending_count,
        ours.failed_tasks
    ));
    for other in service.deployments.iter().filter(|d| d.id != ours.id) {
        if other.running_count > 0 || other.pending_count > 0 {
            diagnosis.pending.push(format!(
                "{} ({}) still has {} tasks running: old tasks are drained as new ones become healthy",
                crate::aws::model::family_revision(&other.task_definition),
                other.status.to_lowercase(),
                other.running_count
            ));
        }
    }
    if let Ok(arns) = ecs.list_tasks(None, Some(&ours.id), false).await {
        if let Ok(tasks) = ecs.describe_tasks(&arns).await {
            for t in tasks {
                let id = short_id(&t.task_arn);
                if t.last_status != "RUNNING" {
                    let waiting: Vec<String> = t
                        .containers
                        .iter()
                        .filter(|c| c.last_status.as_deref() != Some("RUNNING"))
                        .map(|c| match &c.reason {
                            Some(r) => format!(
                                "{} {} ({r})",
                                c.name,
                                c.last_status.as_deref().unwrap_or("PENDING")
                            ),
                            None => format!(
                                "{} {}",
                                c.name,
                                c.last_status.as_deref().unwrap_or("PENDING")
                            ),
                        })
                        .collect();
                    diagnosis.pending.push(format!(
                        "task {id} is {}{}",
                        t.last_status,
                        if waiting.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", waiting.join(", "))
                        }
                    ));
                    continue;
                }
                for c in &t.containers {
                    match c.health_status.as_deref() {
                        Some("UNKNOWN") => diagnosis.pending.push(format!(
                            "task {id}: container {} has not passed its health check yet (still in its start period, or its checks have not run)",
                            c.name
                        )),
                        Some("UNHEALTHY") => diagnosis.pending.push(format!(
                            "task {id}: container {} is UNHEALTHY",
                            c.name
                        )),
                        _ => {}
                    }
                }
            }
        }
    }
    for lb in &service.load_balancers {
        let Some(tg) = lb["targetGroupArn"].as_str() else {
            continue;
        };
        if let Ok(targets) = crate::aws::elb::target_health(elb, tg).await {
            for t in targets.iter().filter(|t| t["state"] != "healthy") {
                diagnosis.pending.push(format!(
                    "target {}:{} of {} is {}{}",
                    t["target"].as_str().unwrap_or("?"),
                    t["port"],
                    short_id(tg),
                    t["state"].as_str().unwrap_or("unknown"),
                    t["reason"]
                        .as_str()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ));
            }
        }
    }
}

/// Where the awslogs driver writes a container's output: (group, stream) for `task_id`.
pub fn log_stream(
    task_definition: &Value,
    container: &str,
    task_id: &str,
) -> Option<(String, String)> {
    let def = task_definition["containerDefinitions"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == container)?;
    let log = &def["logConfiguration"];
    if log["logDriver"] != "awslogs" {
        return None;
    }
    let group = log["options"]["awslogs-group"].as_str()?;
    let prefix = log["options"]["awslogs-stream-prefix"].as_str()?;
    Some((group.to_string(), format!("{prefix}/{container}/{task_id}")))
}

/// Adds the last log lines of the crashed containers (the latest stopped task's, per container).
pub async fn add_logs(
    diagnosis: &mut Diagnosis,
    outcome: &Outcome,
    task_definition: &Value,
    logs: &aws_sdk_cloudwatchlogs::Client,
) {
    let mut done = std::collections::HashSet::new();
    for task in outcome.stopped_tasks.iter().rev() {
        for c in &task.containers {
            let crashed = c.exit_code.is_some_and(|code| code != 0) || c.reason.is_some();
            if !crashed || !done.insert(c.name.clone()) {
                continue;
            }
            let Some((group, stream)) = log_stream(task_definition, &c.name, task.id()) else {
                continue;
            };
            let Ok(out) = logs
                .get_log_events()
                .log_group_name(&group)
                .log_stream_name(&stream)
                .limit(LOG_LINES)
                .start_from_head(false)
                .send()
                .await
            else {
                continue;
            };
            let lines: Vec<String> = out
                .events
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| e.message)
                .collect();
            if !lines.is_empty() {
                diagnosis.logs.push(LogTail {
                    task: short_id(&task.task_arn).to_string(),
                    container: c.name.clone(),
                    group,
                    stream,
                    lines,
                });
            }
        }
    }
}

impl Diagnosis {
    /// The report as shown to the user.
    pub fn render(&self) -> String {
        format!("{}: {}\n{}", self.service, self.failure, self.details())
    }

    /// The report without its first line (the failure, which the live view has just printed).
    pub fn details(&self) -> String {
        let mut out = String::new();
        if !self.stop_reasons.is_empty() {
            out.push_str("  stopped tasks:\n");
            for (n, reason) in &self.stop_reasons {
                out.push_str(&format!("    {n} × {reason}\n"));
            }
        }
        if !self.containers.is_empty() {
            out.push_str("  containers:\n");
            for (n, c) in &self.containers {
                out.push_str(&format!("    {n} × {c}\n"));
            }
        }
        for tail in &self.logs {
            out.push_str(&format!(
                "  last log lines of {} in task {} ({} {}):\n",
                tail.container, tail.task, tail.group, tail.stream
            ));
            for line in &tail.lines {
                out.push_str(&format!("    | {line}\n"));
            }
        }
        if !self.pending.is_empty() {
            out.push_str("  still pending:\n");
            for p in &self.pending {
                out.push_str(&format!("    {p}\n"));
            }
        }
        if !self.events.is_empty() {
            out.push_str("  service events:\n");
            for e in &self.events {
                out.push_str(&format!("    {e}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::{Container, ServiceEvent, Task};
    use crate::rollout::state::{Failure, Target, Verdict};
    use serde_json::json;
    use std::time::Duration;

    fn stopped(id: &str, code: Option<i64>, reason: &str) -> Task {
        Task {
            task_arn: format!("arn:aws:ecs:us-east-1:123456789012:task/hello/{id}"),
            last_status: "STOPPED".into(),
            stop_code: Some("EssentialContainerExited".into()),
            stopped_reason: Some(reason.into()),
            containers: vec![Container {
                name: "web".into(),
                exit_code: code,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn summary_counts_distinct_reasons() {
        let outcome = Outcome {
            target: Target {
                service: "web".into(),
                task_definition: "web:8".into(),
                deployment_id: None,
            },
            verdict: Verdict::Failed(Failure::RolloutFailed {
                reason: "tasks failed to start".into(),
                ecs_rolls_back: true,
            }),
            elapsed: Duration::from_secs(3),
            stopped_tasks: vec![
                stopped("a", Some(1), "Essential container in task exited"),
                stopped("b", Some(1), "Essential container in task exited"),
                stopped("c", Some(1), "Essential container in task exited"),
            ],
            events: vec![
                ServiceEvent { id: "1".into(), created_at: None, message: "(service web) has started 1 tasks: (task a).".into() },
                ServiceEvent { id: "2".into(), created_at: None, message: "(service web) (deployment ecs-svc/1) deployment failed: tasks failed to start.".into() },
            ],
            last: None,
            service_deployment: None,
        };
        let d = summarize(&outcome);
        assert_eq!(
            d.render(),
            "web: deployment failed: tasks failed to start (ECS is rolling back)\n  stopped tasks:\n    3 × EssentialContainerExited: Essential container in task exited\n  containers:\n    3 × web: exit code 1\n  service events:\n    (service web) (deployment ecs-svc/1) deployment failed: tasks failed to start.\n"
        );
    }

    #[test]
    fn a_provisioning_timeout_on_a_capacity_provider_says_what_it_waited_for() {
        let waited = Task {
            task_arn: "arn:aws:ecs:us-east-1:123456789012:task/hello/a".into(),
            last_status: "STOPPED".into(),
            stop_code: Some("TaskFailedToStart".into()),
            stopped_reason: Some("EMPTY CAPACITY PROVIDER".into()),
            capacity_provider_name: Some("hello-ec2".into()),
            ..Default::default()
        };
        // a task that failed on an instance is not about capacity
        let placed = Task {
            container_instance_arn: Some(
                "arn:aws:ecs:us-east-1:123456789012:container-instance/hello/1".into(),
            ),
            stopped_reason: Some("CannotPullContainerError: pull failed".into()),
            ..waited.clone()
        };
        let outcome = Outcome {
            target: Target {
                service: "web".into(),
                task_definition: "web:8".into(),
                deployment_id: None,
            },
            verdict: Verdict::Failed(Failure::RolloutFailed {
                reason: "tasks failed to start".into(),
                ecs_rolls_back: false,
            }),
            elapsed: Duration::from_secs(3),
            stopped_tasks: vec![waited.clone(), waited, placed],
            events: vec![],
            last: None,
            service_deployment: None,
        };
        assert_eq!(
            summarize(&outcome).stop_reasons,
            vec![
                (2, "TaskFailedToStart: EMPTY CAPACITY PROVIDER (the task waited in PROVISIONING for an instance of capacity provider hello-ec2, which did not come in time: is its Auto Scaling group at its maximum size, or do its instances not join the cluster?)".to_string()),
                (1, "TaskFailedToStart: CannotPullContainerError: pull failed".to_string()),
            ]
        );
    }

    #[test]
    fn awslogs_stream_names_follow_the_driver() {
        let td = json!({"containerDefinitions": [{"name": "web", "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": "/wharf/hello/local", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}}}]});
        assert_eq!(
            log_stream(&td, "web", "abc123"),
            Some(("/wharf/hello/local".into(), "web/web/abc123".into()))
        );
        assert_eq!(log_stream(&td, "other", "abc123"), None);
    }
}
