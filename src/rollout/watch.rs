//! The watch loop: polls ECS for every service of a rollout at once and feeds each snapshot to
//! [`crate::rollout::state`], printing only what changed.
//!
//! Pacing: DescribeServices for all watched services (10 per call) every 250 ms while something
//! changes, slowing to once a second when nothing does (so a steady state or a failure is seen
//! within a second), and backing off to 10 s while ECS throttles. DescribeTasks is called only
//! for tasks wharf has not seen stop yet, when a deployment's failed count rises. At 10 services
//! that is about one request a second, far under ECS's documented rate limits.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::aws::ecs::{Described, Ecs};
use crate::aws::model::{family_revision, Service, ServiceEvent, Task};
use crate::error::Result;
use crate::rollout::state::{assess, find_deployment, Failure, Target, Verdict};
use crate::rollout::view::{Row, View};

const FAST: Duration = Duration::from_millis(250);
const SLOW: Duration = Duration::from_secs(1);
const THROTTLED_MAX: Duration = Duration::from_secs(10);
/// Consecutive failed polls (network, throttling) tolerated before giving up.
const MAX_POLL_ERRORS: u32 = 20;

/// How one service's rollout ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub target: Target,
    pub verdict: Verdict,
    pub elapsed: Duration,
    /// Tasks of the target deployment that stopped while wharf watched.
    pub stopped_tasks: Vec<Task>,
    /// Service events seen while watching, oldest first.
    pub events: Vec<ServiceEvent>,
    /// The last snapshot of the service.
    pub last: Option<Service>,
}

impl Outcome {
    pub fn failure(&self) -> Option<&Failure> {
        match &self.verdict {
            Verdict::Failed(f) => Some(f),
            _ => None,
        }
    }
}

struct Tracked {
    target: Target,
    seen_events: HashSet<String>,
    events: Vec<ServiceEvent>,
    stopped: HashMap<String, Task>,
    last_failed: i64,
    last_row: Option<Row>,
    last: Option<Service>,
    done: Option<(Verdict, Duration)>,
}

/// Watches `targets` until each is done or failed, or `timeout` passes. Events older than
/// `since` (epoch seconds) are not shown.
pub async fn watch(
    ecs: &Ecs,
    targets: Vec<Target>,
    since: f64,
    timeout: Duration,
    view: &mut View,
) -> Result<Vec<Outcome>> {
    let start = Instant::now();
    let mut tracked: Vec<Tracked> = targets
        .into_iter()
        .map(|target| Tracked {
            target,
            seen_events: HashSet::new(),
            events: Vec::new(),
            stopped: HashMap::new(),
            last_failed: 0,
            last_row: None,
            last: None,
            done: None,
        })
        .collect();
    let mut interval = FAST;
    let mut errors = 0u32;
    loop {
        let pending: Vec<String> = tracked
            .iter()
            .filter(|t| t.done.is_none())
            .map(|t| t.target.service.clone())
            .collect();
        if pending.is_empty() {
            break;
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            for t in tracked.iter_mut().filter(|t| t.done.is_none()) {
                let verdict = Verdict::Failed(Failure::TimedOut {
                    after_secs: timeout.as_secs(),
                });
                view.finished(&t.target.service, &verdict, elapsed);
                t.done = Some((verdict, elapsed));
            }
            break;
        }
        let described = match ecs.describe_services(&pending).await {
            Ok(d) => {
                errors = 0;
                d
            }
            Err(e) if e.retryable && errors < MAX_POLL_ERRORS => {
                errors += 1;
                interval = (interval * 2).min(THROTTLED_MAX);
                view.note(&format!(
                    "ECS did not answer ({}); retrying in {:.1}s",
                    first_line(&e.message),
                    interval.as_secs_f64()
                ));
                tokio::time::sleep(interval.min(timeout.saturating_sub(elapsed))).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut changed = false;
        for d in described {
            let (name, service) = match d {
                Described::Found(s, _) => (s.service_name.clone(), Some(*s)),
                Described::Missing(name) => (name, None),
            };
            let Some(t) = tracked
                .iter_mut()
                .find(|t| t.done.is_none() && t.target.service == name)
            else {
                continue;
            };
            let elapsed = start.elapsed();
            let Some(service) = service else {
                let verdict = Verdict::Failed(Failure::ServiceMissing);
                view.finished(&name, &verdict, elapsed);
                t.done = Some((verdict, elapsed));
                changed = true;
                continue;
            };
            if t.target.deployment_id.is_none() {
                if let Some(d) = find_deployment(&t.target, &service) {
                    t.target.deployment_id = Some(d.id.clone());
                }
            }
            // Events: newest first from ECS; show the new ones oldest first.
            for event in service.events.iter().rev() {
                if t.seen_events.insert(event.id.clone())
                    && event.created_at.unwrap_or(f64::MAX) >= since
                {
                    view.event(&name, event);
                    t.events.push(event.clone());
                    changed = true;
                }
            }
            let ours = find_deployment(&t.target, &service).cloned();
            if let Some(d) = &ours {
                // Until every failed task is seen stopped (a task counts as failed while it is
                // still stopping), look again.
                if d.failed_tasks > t.last_failed || (t.stopped.len() as i64) < d.failed_tasks {
                    t.last_failed = d.failed_tasks;
                    for task in newly_stopped(ecs, &d.id, &t.stopped).await? {
                        view.task_stopped(&name, &task);
                        t.stopped.insert(task.task_arn.clone(), task);
                        changed = true;
                    }
                }
            }
            if ours.is_some() {
                let row = Row::of(&t.target, &service, ours.as_ref(), elapsed);
                if t.last_row.as_ref().map(Row::key) != Some(row.key()) {
                    view.progress(&row);
                    changed = true;
                }
                t.last_row = Some(row);
            }
            let verdict = assess(&t.target, &service);
            t.last = Some(service);
            if verdict != Verdict::Progressing {
                if let (Verdict::Failed(_), Some(id)) = (&verdict, t.target.deployment_id.clone()) {
                    // Collect the stopped tasks the failure is about (ECS may already have
                    // dropped the deployment itself), giving tasks still stopping a moment.
                    for attempt in 0..4 {
                        let found = newly_stopped(ecs, &id, &t.stopped).await?;
                        let any = !found.is_empty();
                        for task in found {
                            t.stopped.insert(task.task_arn.clone(), task);
                        }
                        if any || !t.stopped.is_empty() || attempt == 3 {
                            break;
                        }
                        tokio::time::sleep(FAST).await;
                    }
                }
                view.finished(&name, &verdict, elapsed);
                t.done = Some((verdict, elapsed));
                changed = true;
            }
        }
        interval = if changed {
            FAST
        } else {
            (interval + interval / 2).min(SLOW)
        };
        if tracked.iter().any(|t| t.done.is_none()) {
            let left = timeout.saturating_sub(start.elapsed());
            tokio::time::sleep(interval.min(left)).await;
        }
    }
    Ok(tracked
        .into_iter()
        .map(|t| {
            let (verdict, elapsed) = t.done.expect("every watched service ends with a verdict");
            let mut stopped: Vec<Task> = t.stopped.into_values().collect();
            stopped.sort_by(|a, b| {
                a.stopped_at
                    .partial_cmp(&b.stopped_at)
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            Outcome {
                target: t.target,
                verdict,
                elapsed,
                stopped_tasks: stopped,
                events: t.events,
                last: t.last,
            }
        })
        .collect())
}

/// Stopped tasks of deployment `deployment_id` not in `known`.
async fn newly_stopped(
    ecs: &Ecs,
    deployment_id: &str,
    known: &HashMap<String, Task>,
) -> Result<Vec<Task>> {
    let arns: Vec<String> = ecs
        .list_tasks(None, Some(deployment_id), true)
        .await?
        .into_iter()
        .filter(|a| !known.contains_key(a))
        .collect();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let mut tasks = ecs.describe_tasks(&arns).await?;
    tasks.retain(|t| t.last_status == "STOPPED");
    Ok(tasks)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Shown in progress rows: `family:revision`.
pub fn revision_label(task_definition: &str) -> String {
    family_revision(task_definition).to_string()
}
