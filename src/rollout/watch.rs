//! The watch loop: polls ECS for every service of a rollout at once and feeds each snapshot to
//! [`crate::rollout::state`], printing only what changed.
//!
//! Pacing: DescribeServices for all watched services (10 per call) every 250 ms while something
//! changes, slowing to once a second when nothing does (so a steady state or a failure is seen
//! within a second), and backing off to 10 s while ECS throttles. A poll of many services waits
//! at least 70 ms per call it makes (0.7 s at 100 services), which keeps DescribeServices at 14
//! calls a second at most, under ECS's sustained 20 a second. DescribeTasks is called only for
//! tasks wharf has not seen stop yet, when a deployment's failed count rises. At 10 services
//! that is about one request a second, far under ECS's documented rate limits.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::aws::ecs::{Described, Ecs};
use crate::aws::model::{family_revision, Service, ServiceEvent, Task};
use crate::error::Result;
use crate::rollout::capacity;
use crate::rollout::smoke_check::{run_smoke, SmokeCheck};
use crate::rollout::stages::{self, Goal, Judgment, Report, Snapshot};
use crate::rollout::state::{assess, find_deployment, Failure, Target, Verdict};
use crate::rollout::view::{Row, View};

const FAST: Duration = Duration::from_millis(250);
const SLOW: Duration = Duration::from_secs(1);
const THROTTLED_MAX: Duration = Duration::from_secs(10);
/// Time between polls per DescribeServices call a poll makes: 14 calls a second at most, under
/// ECS's sustained rate for DescribeServices (20 a second, shared with ListServices).
const PER_CALL: Duration = Duration::from_millis(70);

/// The shortest time between two polls of `pending` services.
fn poll_floor(pending: usize) -> Duration {
    PER_CALL * pending.div_ceil(crate::aws::ecs::DESCRIBE_SERVICES_BATCH) as u32
}
/// Consecutive failed polls (network, throttling) tolerated before giving up.
const MAX_POLL_ERRORS: u32 = 20;
/// DescribeServices is eventually consistent: right after CreateService or UpdateService it may
/// still show the service as it was (or not at all). A deployment wharf has not seen yet is
/// waited for, and only after this long may a newer deployment of someone else's count as
/// having replaced it; with no such deployment, wharf waits until its timeout and then says the
/// rollout never started.
pub const VISIBILITY_GRACE: Duration = Duration::from_secs(30);

/// Seconds since the epoch, as ECS stamps events and deployments.
pub fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

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
    /// For a blue/green, linear or canary service: its service deployment as the watch saw it.
    pub service_deployment: Option<Report>,
}

/// How to follow one service's blue/green, linear or canary deployment, beyond what the
/// service shows (every service whose strategy shifts traffic is followed stage by stage).
#[derive(Debug, Clone, Default)]
pub struct StrategyOptions {
    /// The service deployment to follow; by default the one created since the watch began, or
    /// the one still running.
    pub service_deployment: Option<String>,
    pub goal: Goal,
    /// wharf's smoke test on test traffic, answered at the pause hook of
    /// POST_TEST_TRAFFIC_SHIFT.
    pub test_smoke: Option<SmokeCheck>,
}

/// What the watch knows of one service deployment.
#[derive(Default)]
struct Followed {
    options: StrategyOptions,
    arn: Option<String>,
    last: Option<Snapshot>,
    /// Task definitions (`family:revision`) of the service revisions, for the traffic lines.
    names: HashMap<String, String>,
    failed_hook: Option<String>,
    wharf_reason: Option<String>,
    /// Pause hooks answered (or told about).
    answered: HashSet<String>,
    report: Report,
    bake_started: Option<Instant>,
    /// A failed call was told (once).
    told_error: bool,
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
    /// The target's deployment (or service) has shown in a snapshot.
    seen: bool,
    /// The user was told that ECS does not show the deployment yet.
    told_invisible: bool,
    /// A placement event was seen and the cluster's capacity not yet checked against it.
    placement_event: bool,
    /// The capacity check was made (once per watch).
    capacity_checked: bool,
    followed: Option<Followed>,
}

impl Tracked {
    /// Says once, after a few seconds, that ECS does not show the deployment yet.
    fn tell_invisible(&mut self, view: &mut View, elapsed: Duration) {
        if !self.told_invisible && elapsed >= Duration::from_secs(5) {
            self.told_invisible = true;
            view.note(&format!(
                "{}: ECS does not show the new deployment yet (DescribeServices is eventually consistent); still waiting",
                self.target.service
            ));
        }
    }

    /// Whether a snapshot that lacks the target's deployment (or the service) may be ECS's
    /// eventual consistency rather than the end: the deployment was never seen, and no newer
    /// deployment of someone else has shown after the grace period.
    fn maybe_not_visible_yet(
        &self,
        verdict: &Verdict,
        service: Option<&Service>,
        elapsed: Duration,
        started_at: f64,
    ) -> bool {
        if self.seen {
            return false;
        }
        match verdict {
            Verdict::Failed(Failure::ServiceMissing) => true,
            Verdict::Failed(Failure::Replaced { .. }) => {
                let newer = service
                    .and_then(|s| s.primary())
                    .and_then(|p| p.created_at)
                    .is_some_and(|created| created >= started_at);
                !(newer && elapsed >= VISIBILITY_GRACE)
            }
            _ => false,
        }
    }
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
    watch_with(ecs, targets, HashMap::new(), since, timeout, view).await
}

/// [`watch`], with options for the services (by name) whose strategy shifts traffic.
pub async fn watch_with(
    ecs: &Ecs,
    targets: Vec<Target>,
    mut strategies: HashMap<String, StrategyOptions>,
    since: f64,
    timeout: Duration,
    view: &mut View,
) -> Result<Vec<Outcome>> {
    let start = Instant::now();
    // Epoch seconds when the watch began, less a little for clock skew (deployments created
    // from then on are newer than wharf's own).
    let started_at = epoch_now() - 5.0;
    let mut tracked: Vec<Tracked> = targets
        .into_iter()
        .map(|target| Tracked {
            seen_events: HashSet::new(),
            events: Vec::new(),
            stopped: HashMap::new(),
            last_failed: 0,
            last_row: None,
            last: None,
            done: None,
            seen: false,
            told_invisible: false,
            placement_event: false,
            capacity_checked: false,
            followed: strategies.remove(&target.service).map(|options| Followed {
                arn: options.service_deployment.clone(),
                options,
                ..Followed::default()
            }),
            target,
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
                let verdict = Verdict::Failed(if t.seen {
                    Failure::TimedOut {
                        after_secs: timeout.as_secs(),
                    }
                } else {
                    Failure::NeverStarted {
                        after_secs: timeout.as_secs(),
                    }
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
                if t.maybe_not_visible_yet(&verdict, None, elapsed, started_at) {
                    t.tell_invisible(view, elapsed);
                    continue;
                }
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
                    t.placement_event |= capacity::is_placement_event(&event.message);
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
            let mut verdict = assess(&t.target, &service);
            if service.shifts_traffic() && t.followed.is_none() {
                t.followed = Some(Followed::default());
            }
            if let Some(f) = t.followed.as_mut() {
                let (judged, told) = match follow(
                    ecs,
                    &name,
                    f,
                    &service,
                    since,
                    start.elapsed(),
                    view,
                )
                .await
                {
                    Ok(followed) => followed,
                    Err(e) => {
                        // Throttled, or no permission for the service deployment calls:
                        // this poll is judged by the service alone.
                        if !std::mem::replace(&mut f.told_error, true) {
                            view.note(&format!(
                                    "{name}: cannot follow the service deployment ({}); judging by DescribeServices until it answers",
                                    first_line(&e.message)
                                ));
                        }
                        (None, false)
                    }
                };
                changed |= told;
                verdict = match (verdict, judged) {
                    // Gone is gone, whatever the deployment says.
                    (
                        v @ Verdict::Failed(Failure::ServiceMissing | Failure::ServiceGone { .. }),
                        _,
                    ) => v,
                    (_, Some(Judgment::Done)) => Verdict::Done,
                    (_, Some(Judgment::Failed(f))) => Verdict::Failed(f),
                    (_, Some(Judgment::Progressing)) => Verdict::Progressing,
                    // No service deployment seen yet: the service alone, except what a
                    // blue/green rollback looks like from there (the old deployment PRIMARY
                    // again), which the service deployment will say.
                    (
                        Verdict::Failed(Failure::Replaced { .. } | Failure::RolloutFailed { .. }),
                        None,
                    ) => Verdict::Progressing,
                    (v, None) => v,
                };
            }
            if ours.is_some() {
                let mut row = Row::of(&t.target, &service, ours.as_ref(), elapsed);
                if let Some(snapshot) = t.followed.as_ref().and_then(|f| f.last.as_ref()) {
                    row.state = match (&snapshot.stage, snapshot.status.as_str()) {
                        (Some(stage), "IN_PROGRESS") => stage.clone(),
                        (_, status) => status.to_string(),
                    };
                    row.detail = t
                        .followed
                        .as_ref()
                        .and_then(|f| bake_left(f, snapshot))
                        .map(|left| format!(" (bake {} left)", humantime::format_duration(left)));
                }
                if t.last_row.as_ref().map(Row::key) != Some(row.key()) {
                    view.progress(&row);
                    changed = true;
                } else {
                    view.refresh(&row);
                }
                t.last_row = Some(row);
            }
            if verdict == Verdict::Progressing && t.placement_event && !t.capacity_checked {
                t.capacity_checked = true;
                // A service on capacity providers may get instances (managed scaling), so a
                // port shortage may pass; a size no instance has never does.
                let desired = ours
                    .as_ref()
                    .filter(|_| service.capacity_provider_strategy.is_empty())
                    .map_or(0, |d| d.desired_count);
                if let Some(reason) = unplaceable(ecs, &t.target.task_definition, desired).await? {
                    verdict = Verdict::Failed(Failure::Unplaceable { reason });
                }
            }
            if t.maybe_not_visible_yet(&verdict, Some(&service), elapsed, started_at) {
                t.tell_invisible(view, elapsed);
                t.last = Some(service);
                continue;
            }
            t.seen = true;
            t.last = Some(service);
            if verdict != Verdict::Progressing {
                if let (Verdict::Failed(_), Some(id)) = (&verdict, t.target.deployment_id.clone()) {
                    // Collect the stopped tasks the failure is about (ECS may already have
                    // dropped the deployment itself), giving tasks still stopping a moment.
                    // As many as the deployment counts as failed (the circuit breaker's
                    // count), when they show within a few seconds.
                    let failed = t
                        .last
                        .as_ref()
                        .and_then(|s| s.deployment(&id))
                        .map_or(0, |d| d.failed_tasks)
                        .max(t.last_failed)
                        .max(1);
                    for attempt in 0..12 {
                        for task in newly_stopped(ecs, &id, &t.stopped).await? {
                            t.stopped.insert(task.task_arn.clone(), task);
                        }
                        if t.stopped.len() as i64 >= failed || attempt == 11 {
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
        }
        .max(poll_floor(pending.len()));
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
                service_deployment: t.followed.map(|f| f.report).filter(|r| !r.arn.is_empty()),
            }
        })
        .collect())
}

/// One poll of a followed service deployment: finds it (ListServiceDeployments) until known,
/// describes it, tells what changed, answers wharf's pause hook with its smoke test on test
/// traffic, and judges it. `None` while no deployment is known. Also says whether anything was
/// told (the poll stays fast while things change).
async fn follow(
    ecs: &Ecs,
    name: &str,
    f: &mut Followed,
    service: &Service,
    since: f64,
    elapsed: Duration,
    view: &mut View,
) -> Result<(Option<Judgment>, bool)> {
    if f.arn.is_none() {
        let briefs = ecs.list_service_deployments(&service.service_name).await?;
        f.arn = stages::pick(&briefs, since - 2.0);
    }
    let Some(arn) = f.arn.clone() else {
        return Ok((None, false));
    };
    let Some(raw) = ecs
        .describe_service_deployments(std::slice::from_ref(&arn))
        .await?
        .into_iter()
        .next()
    else {
        // Eventually consistent: not described yet.
        return Ok((None, false));
    };
    let snapshot = Snapshot::read(&raw);
    if f.names.is_empty() {
        let mut revisions = vec![snapshot.target_revision.clone()];
        revisions.extend(
            raw["sourceServiceRevisions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["arn"].as_str().map(str::to_string)),
        );
        revisions.retain(|r| !r.is_empty());
        if let Ok(tds) = ecs.revision_task_definitions(&revisions).await {
            f.names = tds
                .into_iter()
                .map(|(rev, td)| (rev, family_revision(&td).to_string()))
                .collect();
        }
    }
    let lines = stages::changes(f.last.as_ref(), &snapshot, &f.names);
    let told = !lines.is_empty();
    for line in &lines {
        view.note(&format!("{name}: {line}"));
    }
    if snapshot.stage.as_deref() == Some("BAKE_TIME") {
        f.bake_started.get_or_insert_with(Instant::now);
    }
    if let Some(hook) = snapshot.failed_hook() {
        f.failed_hook = Some(hook);
    }
    f.report.record(&snapshot, elapsed.as_secs_f64(), &f.names);
    if let Some(pause) = snapshot.awaiting_pause().cloned() {
        if f.answered.insert(pause.id.clone()) {
            let at_test_traffic = snapshot.stage.as_deref() == Some("POST_TEST_TRAFFIC_SHIFT");
            match f.options.test_smoke.as_ref().filter(|_| at_test_traffic) {
                Some(check) => {
                    view.note(&format!(
                        "{name}: smoke test on test traffic: GET {} (production traffic has not moved)",
                        check.url
                    ));
                    let result = run_smoke(check).await;
                    match &result {
                        Ok(took) => view.note(&format!(
                            "{name}: smoke test on test traffic passed in {:.1}s; letting ECS go on",
                            took.as_secs_f64()
                        )),
                        Err(reason) => {
                            view.note(&format!(
                                "{name}: smoke test on test traffic FAILED: {reason}; asking ECS to roll back"
                            ));
                            f.wharf_reason =
                                Some(format!("the smoke test on test traffic failed: {reason}"));
                        }
                    }
                    ecs.continue_service_deployment(&arn, &pause.id, result.is_err())
                        .await?;
                    f.report
                        .answered("POST_TEST_TRAFFIC_SHIFT", result.is_ok());
                }
                None => view.note(&format!(
                    "{name}: ECS holds the deployment at a pause hook at {} until it is answered: aws ecs continue-service-deployment --service-deployment-arn {arn} --hook-id {}",
                    snapshot.stage.as_deref().unwrap_or("?"),
                    pause.id
                )),
            }
        }
    }
    let judged = stages::judge(
        &snapshot,
        f.options.goal,
        f.failed_hook.as_deref(),
        f.wharf_reason.as_deref(),
    );
    f.last = Some(snapshot);
    Ok((Some(judged), told))
}

/// The bake time left, while the deployment is in BAKE_TIME: its minutes since wharf first saw
/// the stage (ECS does not say when the stage began).
fn bake_left(f: &Followed, snapshot: &Snapshot) -> Option<Duration> {
    if snapshot.stage.as_deref() != Some("BAKE_TIME") || snapshot.status != "IN_PROGRESS" {
        return None;
    }
    let total = Duration::from_secs(snapshot.bake_minutes? as u64 * 60);
    Some(total.saturating_sub(f.bake_started?.elapsed())).map(|d| Duration::from_secs(d.as_secs()))
}

/// Why the tasks of `task_definition` can never be placed on the cluster's container
/// instances, if so: too big for every instance ([`capacity::never_fits`]), or `desired` of
/// them on a fixed host port outnumber the instances ([`capacity::ports_never_fit`]; 0 skips
/// that check).
async fn unplaceable(ecs: &Ecs, task_definition: &str, desired: i64) -> Result<Option<String>> {
    let Some(td) = ecs.describe_task_definition(task_definition).await? else {
        return Ok(None);
    };
    let instances = ecs.container_instances().await?;
    let revision = family_revision(task_definition);
    Ok(
        capacity::never_fits(revision, capacity::reservation(&td), &instances).or_else(|| {
            capacity::ports_never_fit(
                revision,
                &capacity::fixed_host_ports(&td),
                desired,
                &instances,
            )
        }),
    )
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
